import Foundation

/// Provisioning a guest failed: the seed could not be made, cloud-init failed in the
/// guest, or the guest's SSH server could not be reached or trusted.
///
/// These are infrastructure failures (the run cannot test anything), never a test's
/// outcome. `detail` carries what a person needs to see: a tool's error output, or the
/// relevant lines of the guest's `/var/log/cloud-init.log`.
public struct ProvisioningError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var detail: [String]
    /// What to do about it, when there is something to do.
    public var fix: String?

    public init(_ message: String, detail: [String] = [], fix: String? = nil) {
        self.message = message
        self.detail = detail
        self.fix = fix
    }

    public var description: String {
        var text = message
        if !detail.isEmpty { text += ":\n" + detail.map { "  | \($0)" }.joined(separator: "\n") }
        if let fix { text += "\n  fix: \(fix)" }
        return text
    }
}
