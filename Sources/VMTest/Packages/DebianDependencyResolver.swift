import Foundation

/// Finds, on this machine, what a Debian guest lacks to install the run's packages and
/// their tests' dependencies, and downloads it from the Debian mirror, so the guest
/// installs everything from the run's served repository without a network of its own.
///
/// The host's apt does the resolving (its lists already hold the guest's architecture:
/// script/setup adds armhf and arm64) against the guest's own dpkg status, recorded when
/// the image was built, with that architecture as apt's native one. The run's .deb files
/// take part through `--with-source`, so their `Depends` are resolved too.
public struct DebianDependencyResolver: Sendable {
    public var architecture: String
    /// The guest image's `/var/lib/dpkg/status`.
    public var guestStatus: URL

    public init(architecture: String, guestStatus: URL) {
        self.architecture = architecture
        self.guestStatus = guestStatus
    }

    public enum Resolution: Sendable, Equatable {
        /// The .deb files the guest lacks, downloaded; empty when it has everything.
        case downloaded([URL])
        /// apt cannot satisfy the dependencies; its explanation names what is missing.
        case unsatisfiable(String)
    }

    /// - Parameters:
    ///   - dependencies: dpkg dependency strings (`hello`, `python3 (>= 3.9) | python3-minimal`).
    ///   - localPackages: the run's own .deb files.
    ///   - directory: where the downloads go (apt's archive folder for this call).
    public func resolve(_ dependencies: [String], localPackages: [URL], into directory: URL) async throws -> Resolution {
        let wanted = dependencies.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !wanted.isEmpty else { return .downloaded([]) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("partial"), withIntermediateDirectories: true)
        var arguments = [
            "-q", "-o", "APT::Architecture=\(architecture)", "-o", "APT::Architectures=\(architecture)",
            "-o", "Dir::State::status=\(guestStatus.path)", "-o", "Dir::Cache::archives=\(directory.path)",
            // Nothing is installed here: no lock on the host's dpkg, and root's folder is writable by root only.
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
            "-o", "APT::Install-Recommends=false", "--download-only", "--yes",
        ]
        for package in localPackages { arguments += ["--with-source", package.path] }
        arguments += ["satisfy", wanted.joined(separator: ", ")]
        let finished = try await ExternalTool.aptGet.finish(arguments)
        guard finished.succeeded else {
            // apt explains on standard output ("x : Depends: y but it is not installable"), and errs on standard error.
            let lines = (finished.standardOutput + "\n" + finished.standardError).split(separator: "\n")
            let explanation =
                lines
                .filter { $0.contains("Depends:") || $0.contains("Conflicts:") || $0.contains("Breaks:") || $0.hasPrefix("E:") }
                .map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "satisfy:command-line : ", with: "") }
            return .unsatisfiable(explanation.isEmpty ? finished.standardError : explanation.joined(separator: "\n"))
        }
        let downloaded = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".deb") }.sorted()
            .map { directory.appendingPathComponent($0) }
        return .downloaded(downloaded)
    }
}
