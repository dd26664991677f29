import Foundation

/// Where vmtest keeps things between runs (images) and during them (run state).
public struct Directories: Sendable, Hashable {
    /// Base images and their kernels: expensive to make, safe to delete.
    public var cache: URL
    /// Per-run state: overlays, embedded libvirt roots, console logs of live runs.
    public var state: URL

    public init(cache: URL, state: URL) {
        self.cache = cache
        self.state = state
    }

    /// `$VMTEST_CACHE_DIR` / `$VMTEST_STATE_DIR`, else the XDG locations
    /// (`~/.cache/vmtest`, `~/.local/state/vmtest`).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> Directories {
        let home = URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory())
        func pick(_ own: String, _ xdg: String, _ fallback: String) -> URL {
            if let path = environment[own], !path.isEmpty { return URL(fileURLWithPath: path) }
            if let path = environment[xdg], !path.isEmpty { return URL(fileURLWithPath: path).appendingPathComponent("vmtest") }
            return home.appendingPathComponent(fallback).appendingPathComponent("vmtest")
        }
        return Directories(
            cache: pick("VMTEST_CACHE_DIR", "XDG_CACHE_HOME", ".cache"),
            state: pick("VMTEST_STATE_DIR", "XDG_STATE_HOME", ".local/state"))
    }

    public var images: URL { cache.appendingPathComponent("images") }
    public var runs: URL { state.appendingPathComponent("runs") }
}
