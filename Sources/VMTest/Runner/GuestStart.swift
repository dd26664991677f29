import Foundation

/// How a guest came to be ready.
public enum GuestStart: Sendable, Hashable {
    /// Booted from its kernel.
    case cold
    /// Restored from the saved state with this key.
    case warm(key: String)

    public var isWarm: Bool { if case .warm = self { true } else { false } }
}
