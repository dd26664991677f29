import Foundation
import Subprocess
import SystemPackage

/// A host tool vmtest drives (qemu-img, mmdebstrap, xorriso, ssh ...).
///
/// Tools are looked up on `PATH` before they run so a missing one is reported with the
/// Debian package that provides it, instead of a bare "No such file or directory".
public struct ExternalTool: Sendable, Hashable {
    public let name: String
    /// The Debian package that installs it, named in the error when it is missing.
    public let debianPackage: String

    public init(_ name: String, debianPackage: String) {
        self.name = name
        self.debianPackage = debianPackage
    }

    /// The tool's absolute path, or `nil` when it is not installed. A name that is an
    /// absolute path (a helper outside `PATH`) is that path.
    public var path: String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = searchPath.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The tool's path; throws a ``ToolError/missing(_:)`` naming the package to install.
    public func resolved() throws(ToolError) -> String {
        guard let path else { throw .missing(self) }
        return path
    }

    /// Runs the tool to completion and returns its standard output.
    ///
    /// A non-zero exit is an error here: these are infrastructure steps, and their
    /// standard error (the last lines of it) is what a person needs to see.
    @discardableResult
    public func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        outputLimit: Int = 16 << 20
    ) async throws -> String {
        let finished = try await finish(
            arguments, environment: environment, workingDirectory: workingDirectory, outputLimit: outputLimit)
        guard finished.succeeded else {
            throw ToolError.failed(tool: name, arguments: arguments, status: finished.status, standardError: finished.standardError)
        }
        return finished.standardOutput
    }
}

/// An external tool was missing or failed.
public enum ToolError: Error, CustomStringConvertible, Equatable {
    case missing(ExternalTool)
    case failed(tool: String, arguments: [String], status: String, standardError: String)

    public var description: String {
        switch self {
        case .missing(let tool):
            return "\(tool.name) is not installed; install it with `apt-get install \(tool.debianPackage)` (or run script/setup)"
        case .failed(let tool, let arguments, let status, let standardError):
            let tail = standardError.split(separator: "\n").suffix(15).joined(separator: "\n")
            return "\(tool) \(arguments.joined(separator: " ")) failed (\(status)):\n\(tail)"
        }
    }
}
