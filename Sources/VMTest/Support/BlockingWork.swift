import Foundation

/// Runs blocking work that is not libvirt's (decompressing an RPM's payload, say) on a
/// thread of its own, so it never holds one of the cooperative pool's few threads while
/// it waits. libvirt's calls have their own: the Libvirt layer's async API runs them on
/// its workers, which also keeps libvirt's per-thread error with the call.
func onThreadOfItsOwn<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
