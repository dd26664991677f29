import Foundation

extension DomainDefinition {
    /// This domain with a saved guest's disks: its own disk, the seed it booted with,
    /// and the payload slot.
    func withWarmDisks(disk: String, seed: String?, payload: String) -> DomainDefinition {
        var definition = self
        definition.disks =
            [Disk(kind: .qcow2Overlay, path: disk)]
            + (seed.map { [Disk(kind: .readOnlyImage, path: $0)] } ?? [])
            + [Disk(kind: .payload, path: payload)]
        return definition
    }
}
