import Foundation

/// A cloud-init seed a saved guest can boot with: the same for every run, so it holds
/// no run's key (each run's key is installed after restore, over the console).
public struct WarmSeed: Sendable {
    /// The seed's content without per-run values: part of the saved state's key.
    public var identity: String
    /// Writes the seed into the directory and returns its path.
    public var write: @Sendable (URL) async throws -> URL

    public init(identity: String, write: @escaping @Sendable (URL) async throws -> URL) {
        self.identity = identity
        self.write = write
    }
}
