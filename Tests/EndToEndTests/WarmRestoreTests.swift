import Foundation
import Synchronization
import Testing

@testable import VMTest

/// Guests restored from a saved state: each run on its own disk, the base untouched.
@Suite(.serialized, .timeLimit(.minutes(30))) struct WarmRestoreTests {
    /// The Debian profile with other memory, so this suite saves (and deletes) a state of
    /// its own, whatever states other tests or earlier runs saved.
    static func profile() async throws -> Profile {
        var profile = try await EndToEnd.debianProfile()
        profile.memory = 768
        return profile
    }

    static func launcher() -> GuestLauncher {
        GuestLauncher(directories: EndToEnd.directories, reporter: LineReporter(isTerminal: false))
    }

    struct Seen: Sendable {
        var start: GuestStart
        var phases: [String]
        var otherRunsFile: Int32
        var clockSkew: Double
        var randomUUID: String
        /// `systemctl list-jobs` as soon as the guest answers.
        var startJobs: String
    }

    /// One guest's life: leaves a file of its own, looks for `other`'s, reads the clock
    /// and a random number. `meanwhile` runs while the guest is up.
    static func visit(_ profile: Profile, writes own: String, looksFor other: String, meanwhile: @Sendable () async -> Void = {})
        async throws -> Seen
    {
        // As long as `vmtest run` allows a TCG guest to get ready (half its 1800 s limit):
        // in the main batch this first boot shares two cores with the other suites' guests,
        // and the boot default of 300 s ran out.
        try await launcher().withGuest(profile, options: LaunchOptions(readyTimeout: .seconds(900))) { guest in
            let jobs = try await guest.shell.run("systemctl list-jobs --no-pager", timeout: .seconds(120))
            let wrote = try await guest.shell.run("echo \(own) > /root/\(own) && sync", timeout: .seconds(120))
            #expect(wrote.exitStatus == 0)
            await meanwhile()
            let found = try await guest.shell.run("test -e /root/\(other)", timeout: .seconds(120))
            let clock = try await guest.shell.run("date +%s.%N", timeout: .seconds(60))
            let skew = abs(
                (Double(clock.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) - Date().timeIntervalSince1970)
            let random = try await guest.shell.run("cat /proc/sys/kernel/random/uuid", timeout: .seconds(60))
            return Seen(
                start: guest.start, phases: guest.phases.map(\.name), otherRunsFile: found.exitStatus, clockSkew: skew,
                randomUUID: random.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines),
                startJobs: jobs.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test func savedOnceThenRestoredInARowAndSideBySideOnIndependentDisks() async throws {
        let profile = try await Self.profile()
        let image = try #require(ImageStore(root: EndToEnd.directories.images).cached(profile))
        let store = WarmStateStore(image: image)
        let before = Set(store.list().map(\.key))
        let baseChecksum = try await SHA256Sum.of(file: URL(fileURLWithPath: image.disk))

        // First use: booted cold, saved, then restored for the run itself.
        let first = try await Self.visit(profile, writes: "first", looksFor: "none")
        guard case .warm(let key) = first.start else {
            Issue.record("the first run did not start warm: \(first.phases)")
            return
        }
        defer { store.remove(key) }
        #expect(!before.contains(key), "the suite's profile must save a state of its own")
        #expect(first.phases.contains("save") && first.phases.contains("restore"))
        #expect(first.phases.contains("warm-up"), "the profile's warmUp ran before the save: \(first.phases)")
        #expect(first.phases.contains("settle"), "the guest was saved before its boot finished: \(first.phases)")
        let state = try #require(store.state(for: key))
        let frozenChecksum = try await SHA256Sum.of(file: state.frozenDisk)

        // Second run: restored without booting, and the first run's file is not there.
        let second = try await Self.visit(profile, writes: "second", looksFor: "first")
        #expect(second.start == .warm(key: key))
        #expect(!second.phases.contains("save") && !second.phases.contains("boot"), "phases: \(second.phases)")
        #expect(second.otherRunsFile == 1, "a file the first run wrote is visible to the second")
        #expect(second.clockSkew < 10, "the restored guest's clock is \(second.clockSkew) s off")
        #expect(second.startJobs == "No jobs running.", "the restored guest is still booting: \(second.startJobs)")

        // Two at once from the same state, each waiting until the other has written.
        let written = Mutex(0)
        let bothWrote: @Sendable () async -> Void = {
            written.withLock { $0 += 1 }
            let deadline = ContinuousClock.now + .seconds(300)
            while written.withLock({ $0 }) < 2, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        }
        async let left = Self.visit(profile, writes: "left", looksFor: "right", meanwhile: bothWrote)
        async let right = Self.visit(profile, writes: "right", looksFor: "left", meanwhile: bothWrote)
        let (a, b) = try await (left, right)
        #expect(a.start == .warm(key: key) && b.start == .warm(key: key))
        #expect(written.withLock { $0 } == 2)
        #expect(a.otherRunsFile == 1 && b.otherRunsFile == 1, "the parallel guests share a disk")
        #expect(a.randomUUID != b.randomUUID, "both restored guests drew the same random numbers")

        #expect(try await SHA256Sum.of(file: state.frozenDisk) == frozenChecksum, "a run wrote to the frozen layer")
        #expect(try await SHA256Sum.of(file: URL(fileURLWithPath: image.disk)) == baseChecksum, "the base image changed")
        #expect(image.diskSHA256 == baseChecksum)
    }

    @Test func aStateThatCannotBeRestoredIsDeletedAndTheRunBootsCold() async throws {
        let profile = try await Self.profile()
        // Saves the state (or finds the one a crashed earlier run left).
        let saved = try await Self.visit(profile, writes: "a", looksFor: "none")
        guard case .warm(let key) = saved.start else {
            Issue.record("did not start warm: \(saved.phases)")
            return
        }
        let image = try #require(ImageStore(root: EndToEnd.directories.images).cached(profile))
        let store = WarmStateStore(image: image)
        defer { store.remove(key) }
        let state = try #require(store.state(for: key))
        // Cut the state file short: the header is fine, QEMU's stream ends early.
        let handle = try FileHandle(forWritingTo: state.stateFile)
        try handle.truncate(atOffset: 200_000)
        try handle.close()

        let fallback = try await Self.visit(profile, writes: "b", looksFor: "a")
        #expect(fallback.start == .cold)
        #expect(fallback.phases.contains("boot") && !fallback.phases.contains("restore"), "phases: \(fallback.phases)")
        #expect(fallback.otherRunsFile == 1)
        #expect(store.state(for: key) == nil, "the broken state was kept")
    }

    @Test func theCommandLineRestoresAndColdBootsOnRequest() async throws {
        _ = try await EndToEnd.debianProfile()
        let warm = try await EndToEnd.vmtest(["image", "warm", "debian12-armhf"])
        #expect(warm.status == 0, "stderr: \(warm.error)")
        let key = try #require(warm.error.firstMatch(of: /saved state ([0-9a-f]+) (already )?saved/)?.1)
        let listed = try await EndToEnd.vmtest(["image", "list"])
        #expect(listed.output.contains("saved state \(key)"))

        // A run over the profile's channel (serial) restores what `image warm` saved.
        let serialResults = RunTests.results("warm-serial")
        let serial = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--test", "test \"$(date +%Y)\" -ge 2026", "--results", serialResults.path,
        ])
        #expect(serial.status == 0, "stderr: \(serial.error)")
        #expect(try RunTests.summary(in: serialResults).warmState == String(key))
        #expect(serial.error.contains("restored from saved state \(key)"))

        // An SSH run needs cloud-init's seed: it restores a seeded state of its own (saved
        // by the first such run) and installs the run's key after the restore.
        let results = RunTests.results("warm-ssh")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--channel", "ssh", "--test", "test \"$(date +%Y)\" -ge 2026", "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: results)
        let sshKey = try #require(summary.warmState)
        #expect(sshKey != String(key), "a seeded guest is another saved state")
        // The run's keys went in with the set-up: the SSH channel connected with them, and
        // pinned the host key made for the run without reading it back.
        #expect(summary.phases.map(\.name).contains("set-up") && !summary.phases.map(\.name).contains("keys"))
        #expect(run.error.contains("restored from saved state \(sshKey)"))

        let coldResults = RunTests.results("cold")
        let cold = try await EndToEnd.vmtest(["run", "debian12-armhf", "--cold", "--test", "true", "--results", coldResults.path])
        #expect(cold.status == 0, "stderr: \(cold.error)")
        let coldSummary = try RunTests.summary(in: coldResults)
        #expect(coldSummary.warmState == nil)
        #expect(!coldSummary.phases.map(\.name).contains("cloud-init"), "a serial run waits for nothing cloud-init does")
    }
}
