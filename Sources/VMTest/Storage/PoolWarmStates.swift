import Foundation
import Libvirt

/// Saved guests in vmtest's pool on a hypervisor that cannot open this machine's files:
/// what ``WarmStateStore`` keeps in a folder here, kept there as volumes, so a run there
/// restores without anything but its own small files crossing the connection.
///
/// A pool holds no folders, so a state's files are volumes named `warm-KEY-TOKEN-FILE`,
/// where the token is the run that saved it: two runs saving the same state at once
/// (a night's parallel sets) never write into each other's volumes. A state counts only
/// once its manifest, the volume `warm-KEY-TOKEN.manifest`, exists: it is uploaded last,
/// so a save cut short never passes for a state. While a run saves, the volumes are its
/// own, deleted with it if the save fails, and by `vmtest clean --connect` if its process
/// dies (``unpublished(runID:among:)``).
struct PoolWarmStates: Sendable {
    let storage: HypervisorStorage

    /// What the files of the state `key` saved by run `token` are named after.
    static func volumePrefix(key: String, token: String) -> String { "warm-\(key)-\(token)-" }
    static func manifestName(key: String, token: String) -> String { "warm-\(key)-\(token).manifest" }

    /// The published state `key`, when the hypervisor has one whose manifest reads.
    func state(for key: String) async -> WarmState? {
        guard let names = try? await storage.pool.volumeNames() else { return nil }
        for name in names.sorted() where name.hasPrefix("warm-\(key)-") && name.hasSuffix(".manifest") {
            guard let manifest = try? await storage.pool.volume(named: name),
                let data = try? await manifest.read(),
                var state = try? ManifestJSON.decoder.decode(WarmState.self, from: data),
                let path = try? await manifest.path()
            else { continue }
            // Where the pool is now, whatever it was when the state was saved.
            state.directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            return state
        }
        return nil
    }

    /// Publishes a state whose files (named with its ``WarmState/volumePrefix``) are all
    /// in the pool: its manifest goes last.
    func publish(_ state: WarmState, token: String) async throws {
        let manifest = try await storage.pool.createVolume(
            xml: BaseVolumes.volumeXML(name: Self.manifestName(key: state.key, token: token), bytes: 0, format: "raw"))
        do {
            try await manifest.write([UInt8](try ManifestJSON.encoder.encode(state)), at: 0)
        } catch {
            try? await manifest.delete()
            throw error
        }
    }

    /// Deletes a state that failed to restore, manifest first: the next run saves a new one.
    func remove(_ state: WarmState) async {
        guard let prefix = state.volumePrefix, let names = try? await storage.pool.volumeNames() else { return }
        let manifest = String(prefix.dropLast()) + ".manifest"
        for name in [manifest] + names.filter({ $0.hasPrefix(prefix) }) {
            try? await storage.pool.volume(named: name)?.delete()
        }
    }

    /// The volumes among `names` of a state the run `runID` was saving and never
    /// published: what its dead process left.
    static func unpublished(runID: String, among names: [String]) -> [String] {
        let published = Set(
            names.compactMap { name -> String? in
                guard name.hasPrefix("warm-"), name.hasSuffix("-\(runID).manifest") else { return nil }
                return String(name.dropLast(".manifest".count)) + "-"
            })
        return names.filter { name in
            name.hasPrefix("warm-") && name.contains("-\(runID)-") && !name.hasSuffix(".manifest")
                && !published.contains(where: { name.hasPrefix($0) })
        }
    }
}
