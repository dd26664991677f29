import Foundation
import Libvirt

/// The hypervisor a run was on went away mid-run (its daemon exited, the network to it
/// was cut): an infrastructure failure, and the run's guest and volumes may still be
/// there.
public struct HypervisorLostError: Error, Sendable, CustomStringConvertible {
    public var uri: String
    public var reason: ConnectionCloseReason

    public var description: String {
        """
        lost the hypervisor at \(uri) mid-run: \(reason)
          fix: check that libvirtd runs there and this machine reaches it; once it is back, `vmtest clean --connect '\(uri)'` removes the guest and volumes this run left there
        """
    }
}

extension Hypervisor {
    /// Runs `work`, cancelling it (so its teardown runs) when libvirt closes the
    /// connection to this hypervisor, and then throws ``HypervisorLostError``. Without
    /// this a run whose daemon died went on with the guest QEMU left behind, or waited
    /// out its time limits.
    func endingIfLost<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask { [connection, uri] in
                guard let reason = await connection.closed() else { return nil }
                throw HypervisorLostError(uri: uri, reason: reason)
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let value = result { return value }
            }
            throw CancellationError()
        }
    }
}
