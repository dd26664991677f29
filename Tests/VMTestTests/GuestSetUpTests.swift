import Foundation
import Testing

@testable import VMTest

/// The run's set-up: one command, in order, stopping at the first failure, and a
/// restored guest's keys only where a restored guest runs it.
@Suite struct GuestSetUpTests {
    static let dash = ExternalTool("dash", debianPackage: "dash")

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-setup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// vmtest's own files are in a saved guest already; a restored one gets its keys.
    @Test func aBootedGuestGetsVmtestsOwnFilesFirstAndARestoredOneItsKeysAfterTheRunsSnippets() {
        var setUp = GuestSetUp()
        setUp.always = ["payload"]
        setUp.whenRestored = ["keys"]
        #expect(setUp.snippets(for: .cold) == GuestSetUp.common + ["payload"])
        #expect(setUp.snippets(for: .warm(key: "k")) == ["payload", "keys"])
        #expect(WarmStarter.preparation.starts(with: GuestSetUp.common), "what a restored guest skips, its save ran")
    }

    @Test func theScriptRunsInOrderAndWaitsForWhatItLeftInTheBackground() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = GuestSetUp.script([
            "{ sleep 0.3; echo late > \(folder.path)/late; } &", "echo first > \(folder.path)/order", "echo second >> \(folder.path)/order",
        ])
        _ = try await Self.dash.run(["-c", script])
        #expect(try String(contentsOf: folder.appendingPathComponent("order"), encoding: .utf8) == "first\nsecond\n")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("late").path), "the script waited for it")
    }

    @Test func theScriptStopsAtTheFirstSnippetThatFails() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = GuestSetUp.script(["false", "touch \(folder.path)/after"])
        await #expect(throws: (any Error).self) { _ = try await Self.dash.run(["-c", script]) }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("after").path))
    }

    @Test func whatARunSendsIsValidPOSIXShell() async throws {
        let keys = RestoredKeys(
            authorizedKey: "ssh-ed25519 AAAA vmtest-run", hostPublicKey: "ssh-ed25519 BBBB root@guest",
            hostPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc'def\n-----END OPENSSH PRIVATE KEY-----\n")
        let snippets =
            [
                WarmStarter.refreshCommand(now: Date(), entropy: [1, 2]),
                keys.installCommand,
                PayloadDisk.unpackCommand(into: PackageTestRunner.guestDirectory, runID: "R"), PackageTestRunner.dnfRepositoryInstall,
            ] + WarmStarter.preparation
        // -n parses without running: nothing on this machine is touched.
        #expect(try await Self.dash.run(["-n", "-c", GuestSetUp.script(snippets)]).isEmpty)
    }

    @Test func aRestoredGuestsKeysReplaceItsOwnWithTheirModes() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let ssh = folder.appendingPathComponent("etc/ssh")
        try FileManager.default.createDirectory(at: ssh, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("root"), withIntermediateDirectories: true)
        try "saved".write(to: ssh.appendingPathComponent("ssh_host_rsa_key"), atomically: true, encoding: .utf8)
        let keys = RestoredKeys(
            authorizedKey: "ssh-ed25519 AAAA vmtest-run", hostPublicKey: "ssh-ed25519 BBBB root@guest",
            hostPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc'def\n-----END OPENSSH PRIVATE KEY-----\n")
        // The guest's /etc/ssh and /root, moved under the test's folder.
        let script =
            "umask 002\n"
            + keys.installCommand.replacingOccurrences(of: "/etc/ssh/", with: "\(ssh.path)/")
            .replacingOccurrences(of: "/root/", with: "\(folder.path)/root/")
        _ = try await Self.dash.run(["-c", script])
        func mode(_ path: String) throws -> Int? {
            try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(path).path)[.posixPermissions] as? Int
        }
        #expect(try mode("etc/ssh/ssh_host_ed25519_key") == 0o600)
        #expect(try mode("etc/ssh/ssh_host_ed25519_key.pub") == 0o644)
        #expect(try mode("root/.ssh") == 0o700)
        #expect(try mode("root/.ssh/authorized_keys") == 0o600)
        #expect(!FileManager.default.fileExists(atPath: ssh.appendingPathComponent("ssh_host_rsa_key").path))
        let key = try String(contentsOf: ssh.appendingPathComponent("ssh_host_ed25519_key"), encoding: .utf8)
        #expect(key == keys.hostPrivateKey)
        let authorized = try String(contentsOf: folder.appendingPathComponent("root/.ssh/authorized_keys"), encoding: .utf8)
        #expect(authorized == keys.authorizedKey + "\n")
    }

    @Test func theRebootHelpersAreWrittenByTheShellItself() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // The helpers' places, moved under the test's folder.
        let script = TestReboots.installHelpers(in: folder.path)
            .replacingOccurrences(of: "/usr/local/bin/", with: "\(folder.path)/")
            .replacingOccurrences(of: "/tmp/autopkgtest-reboot", with: "\(folder.path)/autopkgtest-reboot")
        _ = try await Self.dash.run(["-c", script])
        for helper in ["vmtest-reboot", "tmt-reboot", "autopkgtest-reboot"] {
            let path = folder.appendingPathComponent(helper).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("#!/bin/sh\n") && text.contains("kill -KILL 0"))
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o755)
        }
        let reboot = folder.appendingPathComponent("reboot").path
        #expect((try FileManager.default.attributesOfItem(atPath: reboot)[.posixPermissions] as? Int) == 0o1777)
    }
}
