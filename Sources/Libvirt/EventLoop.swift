internal import CLibvirt
import Foundation

/// The process-wide libvirt event loop, run on one dedicated thread.
///
/// libvirt delivers stream data, domain events and keep-alives only while someone runs
/// its event loop, and the embedded QEMU driver (`qemu:///embed`) even refuses to open
/// unless a loop was registered first. `virEventRunDefaultImpl` blocks, so it gets a
/// thread of its own rather than a slot in Swift's cooperative pool. The loop starts on
/// first use and then runs for the rest of the process, as libvirt offers no way to
/// unregister it.
///
/// The corresponding libvirt functions are `virEventRegisterDefaultImpl` and
/// `virEventRunDefaultImpl`.
enum EventLoop {
    /// Makes sure libvirt is initialised and the event loop thread is running.
    /// Cheap after the first call.
    static func ensureRunning() throws(LibvirtError) {
        try started.get()
    }

    /// Whether the caller is the event loop thread, where callbacks run. Work that may
    /// wait for the loop itself must not run there.
    static var isCurrentThread: Bool {
        Thread.current.threadDictionary[threadMarker] != nil
    }

    private static let threadMarker = "vmtest.libvirt.event-loop"

    private static let started: Result<Void, LibvirtError> = {
        do throws(LibvirtError) {
            try LibvirtLibrary.initialize()
        } catch {
            return .failure(error)
        }
        guard virEventRegisterDefaultImpl() == 0 else {
            return .failure(LibvirtError.last(from: "virEventRegisterDefaultImpl"))
        }
        let thread = Thread {
            Thread.current.threadDictionary[threadMarker] = true
            while true {
                // A failed iteration (e.g. an interrupted poll) is not fatal: libvirt's
                // own daemons simply run the loop again.
                if virEventRunDefaultImpl() < 0 {
                    virResetLastError()
                }
            }
        }
        thread.name = "libvirt-event-loop"
        thread.start()
        return .success(())
    }()
}

/// Runs slow libvirt calls on a thread of their own, so they don't hold one of the few
/// threads of Swift's cooperative pool while they block: opening the QEMU driver probes
/// the emulator (seconds, the first time), starting and destroying QEMU take about as long.
///
///     let domain = try await offloadLibvirtCall { try connection.createDomain(xml: xml) }
///
/// The whole body, including reading libvirt's thread-local error, runs on that thread,
/// so errors are captured correctly. libvirt calls can't be interrupted, so the await does
/// not end early on cancellation.
public func offloadLibvirtCall<T: Sendable, E: Error>(
    _ body: @escaping @Sendable () throws(E) -> T
) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: Result { () throws(E) in try body() })
        }
        thread.name = "libvirt-call"
        thread.start()
    }
    return try result.get()
}
