import Foundation

/// A guest-side step the runner itself needed (not a test) failed.
struct GuestStepError: Error, CustomStringConvertible {
    var step: String
    var result: CommandResult
    var description: String {
        "\(step) failed (exit \(result.exitStatus)): \(result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}
