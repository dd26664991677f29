import Libvirt

/// The process's open hypervisors, one per URI (and one for the embedded driver).
///
/// An actor rather than a lock, because opening a connection takes seconds (the QEMU
/// driver probes the emulator) and must not hold a lock, nor a thread of the cooperative
/// pool: it runs on the Libvirt layer's own threads while callers await. Callers asking
/// for the same URI meanwhile await the same open, so a process never opens two
/// connections to one hypervisor, nor two embedded roots. A failed open is forgotten,
/// so the next caller tries again.
actor HypervisorCache {
    static let shared = HypervisorCache()

    private var hypervisors: [String: Task<Hypervisor, any Error>] = [:]

    func hypervisor(for uri: String?, directories: Directories) async throws -> Hypervisor {
        let key = uri ?? "embedded"
        if let opening = hypervisors[key] { return try await opening.value }
        let opening = Task { try await Hypervisor.open(uri: uri, directories: directories) }
        hypervisors[key] = opening
        do {
            return try await opening.value
        } catch {
            if hypervisors[key] == opening { hypervisors[key] = nil }
            throw error
        }
    }

    /// Empties the cache, returning the hypervisors that opened.
    func removeAll() async -> [Hypervisor] {
        let all = hypervisors.values
        hypervisors.removeAll()
        var opened: [Hypervisor] = []
        for opening in all {
            if let hypervisor = try? await opening.value { opened.append(hypervisor) }
        }
        return opened
    }
}
