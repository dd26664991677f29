import Foundation

/// What `cloud-init status --long` says, parsed.
public struct CloudInitStatus: Sendable, Hashable {
    /// `done`, `error`, `running`, `disabled`, `not run`, `degraded done` ...
    public var status: String
    /// The datasource it used (`DataSourceNoCloud [seed=/dev/vdb][dsmode=net]`).
    public var detail: String
    /// Error lines cloud-init lists itself (`errors:` in newer versions).
    public var errors: [String]

    /// Parses `cloud-init status --long` (and `--wait`, whose progress dots come first).
    public static func parse(_ output: String) -> CloudInitStatus? {
        // Top-level lines are `key: value`; lines that are not (indented, or without a
        // `word:` start, such as 22.4's `detail:` body on the next line) continue the
        // key before them.
        var sections: [(key: String, lines: [String])] = []
        for raw in output.split(separator: "\n") {
            // `--wait` prints progress dots, on the line `status:` then starts.
            let line = raw.replacingOccurrences(of: "\r", with: "").drop { $0 == "." }
            let key = line.prefix { $0.isLetter || $0 == "_" }
            if !key.isEmpty, line.dropFirst(key.count).hasPrefix(":") {
                let value = line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
                sections.append((String(key), value.isEmpty ? [] : [value]))
            } else if !sections.isEmpty {
                var text = line.trimmingCharacters(in: .whitespaces)
                if text.hasPrefix("- ") { text.removeFirst(2) }
                if !text.isEmpty { sections[sections.count - 1].lines.append(text) }
            }
        }
        func value(_ key: String) -> [String] { sections.first { $0.key == key }?.lines ?? [] }
        guard let status = sections.first(where: { $0.key == "status" }) else { return nil }
        return CloudInitStatus(
            status: status.lines.joined(separator: " "),
            detail: value("detail").joined(separator: " "),
            errors: value("errors").filter { $0 != "[]" })
    }

    /// cloud-init finished and nothing failed.
    public var isDone: Bool { status == "done" }

    /// cloud-init found no seed and fell back to its `None` datasource: no key, no
    /// network config, nothing of the run's reached the guest.
    public var usedNoDatasource: Bool { detail.contains("DataSourceNone") }
}

/// Waiting for cloud-init in a guest, over its console (which works before any network).
public enum CloudInitReadiness {
    /// Waits until cloud-init has finished all its stages; throws a
    /// ``ProvisioningError`` carrying the relevant part of `/var/log/cloud-init.log`
    /// when it failed, or when it ran without the run's seed.
    @discardableResult
    public static func wait(
        on shell: GuestShell, timeout: Duration, logFile: String = "/var/log/cloud-init.log"
    ) async throws -> CloudInitStatus {
        // `--wait` polls every quarter second inside the guest; the console carries only dots.
        let result = try await shell.run("cloud-init status --wait --long", timeout: timeout)
        guard let status = CloudInitStatus.parse(result.standardOutput) else {
            throw ProvisioningError(
                "`cloud-init status --wait --long` gave no status (exit status \(result.exitStatus))",
                detail: (result.standardOutput + result.standardError).split(separator: "\n").suffix(20).map(String.init),
                fix: "check that the image has cloud-init installed and enabled")
        }
        if status.isDone, !status.usedNoDatasource { return status }
        let log = try? await shell.run(
            // Warnings and errors with a little context, and the stage summary.
            "grep -n -E -B2 -A8 'WARNING|ERROR|Traceback|Failed' \(logFile) | tail -n 60; "
                + "echo '--- /run/cloud-init/result.json'; cat /run/cloud-init/result.json 2>/dev/null",
            timeout: .seconds(60))
        let lines = (status.errors + (log?.standardOutput.split(separator: "\n").map(String.init) ?? [])).suffix(80)
        if status.usedNoDatasource {
            throw ProvisioningError(
                "cloud-init did not find the run's NoCloud seed (it used \(status.detail)), so root has no key",
                detail: Array(lines),
                fix: "the seed disk must be attached with the volume label 'cidata'; check `blkid` in the guest")
        }
        throw ProvisioningError(
            "cloud-init finished with status '\(status.status)' (\(status.detail)); from \(logFile)",
            detail: Array(lines))
    }
}
