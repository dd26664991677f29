import Foundation
import Subprocess
import SystemPackage

/// A tool's run that ended, whatever its exit status: for tools whose failure is an
/// answer to read (apt saying which dependency is missing), not a malfunction.
public struct FinishedTool: Sendable {
    public var succeeded: Bool
    public var status: String
    /// The exit code, or 128 + the signal that ended it, as a shell reports it.
    public var exitStatus: Int32
    public var standardOutput: String
    public var standardError: String
}

extension ExternalTool {
    /// Runs the tool to completion; a non-zero exit is returned, not thrown.
    public func finish(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil, outputLimit: Int = 16 << 20
    ) async throws -> FinishedTool {
        var env: Environment = .inherit
        if !environment.isEmpty {
            env = .inherit.updating(
                Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(rawValue: $0.key)!, Optional($0.value)) }))
        }
        let result = try await Subprocess.run(
            .path(FilePath(try resolved())), arguments: Arguments(arguments), environment: env,
            workingDirectory: workingDirectory.map { FilePath($0) },
            output: .string(limit: outputLimit), error: .string(limit: outputLimit))
        let exitStatus: Int32
        switch result.terminationStatus {
        case .exited(let code): exitStatus = code
        case .signaled(let signal): exitStatus = 128 + signal
        }
        return FinishedTool(
            succeeded: exitStatus == 0, status: "\(result.terminationStatus)", exitStatus: exitStatus,
            standardOutput: result.standardOutput, standardError: result.standardError)
    }
}
