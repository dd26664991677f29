import Foundation
import Synchronization
import Testing

@testable import VMTest

@Suite struct ImageStoreTests {
    /// A builder that takes a while and writes what the Debian builder writes, counting
    /// how many builds run and how many at once.
    final class SlowBuilder: Sendable {
        struct Counts { var started = 0, running = 0, peak = 0 }
        let counts = Mutex(Counts())

        func build(_ recipe: DebianImageRecipe, into folder: URL, progress: @escaping @Sendable (String) -> Void) async throws -> BuiltImage
        {
            counts.withLock {
                $0.started += 1
                $0.running += 1
                $0.peak = max($0.peak, $0.running)
            }
            defer { counts.withLock { $0.running -= 1 } }
            for name in ["disk.qcow2", "vmlinuz", "initrd.img"] {
                try Data("\(name) of \(recipe.suite)".utf8).write(to: folder.appendingPathComponent(name))
            }
            progress("building")
            // Long enough for the other cell to reach the store while this one builds.
            try await Task.sleep(for: .milliseconds(800))
            return BuiltImage(
                disk: folder.appendingPathComponent("disk.qcow2").path, kernel: folder.appendingPathComponent("vmlinuz").path,
                initrd: folder.appendingPathComponent("initrd.img").path, kernelCommandLine: "console=ttyAMA0", kernelVersion: "6.1")
        }
    }

    /// What two cells of one night needing the same uncached profile do: both ask the store
    /// at once, through its real lock. Each used to build in the same `.building-PID`
    /// folder and delete the other's work.
    @Test func twoCellsBuildingTheSameUncachedProfileBothSucceed() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("images-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let builder = SlowBuilder()
        let store = ImageStore(root: root, builder: builder.build)
        let profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        #expect(store.cached(profile) == nil)

        async let first = store.image(for: profile, reporter: SilentReporter())
        async let second = store.image(for: profile, reporter: SilentReporter())
        let (a, b) = try await (first, second)

        // (One value is the builder's, the other read back from the manifest: compare what a run uses.)
        #expect(a.disk == b.disk && a.diskSHA256 == b.diskSHA256, "both cells boot the same image")
        #expect(builder.counts.withLock { $0.started } == 1, "the second cell waited and found the first one's image")
        #expect(builder.counts.withLock { $0.peak } == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.disk)) == Data("disk.qcow2 of bookworm".utf8))
        #expect(store.cached(profile)?.diskSHA256 == a.diskSHA256)
        let left = try FileManager.default.contentsOfDirectory(atPath: store.directory(for: profile).deletingLastPathComponent().path)
        #expect(left == [store.directory(for: profile).lastPathComponent], "no lock file or scratch folder is left: \(left)")
    }

    /// `image build --force` in two tasks at once: each build runs alone, one after the other.
    @Test func forcedBuildsTakeTurns() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("images-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let builder = SlowBuilder()
        let store = ImageStore(root: root, builder: builder.build)
        let profile = try ProfileLoaderTests.catalog.load("debian12-armhf")

        async let first = store.build(profile, reporter: SilentReporter())
        async let second = store.build(profile, reporter: SilentReporter())
        _ = try await (first, second)

        #expect(builder.counts.withLock { $0.started } == 2)
        #expect(builder.counts.withLock { $0.peak } == 1, "never two builds of one image at once")
        #expect(store.cached(profile) != nil)
    }

    @Test func scratchFoldersAreOwnedAndSweptWhenTheirOwnerIsGoneOrTheyAreOld() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("scratch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let first = try ScratchFolder.make(in: parent, prefix: ".building")
        let second = try ScratchFolder.make(in: parent, prefix: ".building")
        #expect(first != second, "two steps of one process never share a folder")
        #expect(first.lastPathComponent.hasPrefix(".building-\(getpid())-"))
        let dead = parent.appendingPathComponent(".building-999999-x")
        let old = parent.appendingPathComponent(".building-1-x")
        let other = parent.appendingPathComponent(".preparing-999999-x")
        for folder in [dead, old, other] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3 * 24 * 3600)], ofItemAtPath: old.path)
        ScratchFolder.sweep(in: parent, prefix: ".building")
        #expect(!FileManager.default.fileExists(atPath: dead.path), "its process is gone")
        #expect(!FileManager.default.fileExists(atPath: old.path), "PID 1 lives, but the folder is days old")
        #expect(FileManager.default.fileExists(atPath: first.path) && FileManager.default.fileExists(atPath: second.path))
        #expect(FileManager.default.fileExists(atPath: other.path), "another prefix is another step's")
    }

    /// The built disk's MBR, read back as U-Boot and Linux read it: one active Linux
    /// partition from 1 MiB to the end.
    @Test func theBuiltDiskHasOneBootablePartitionFromOneMiB() throws {
        let sectors: UInt32 = 8 * 1024 * 1024 * 2
        let mbr = [UInt8](BootDisk.masterBootRecord(sectors: sectors))
        let table = try #require(try PartitionTable.read { offset, count in offset == 0 ? Array(mbr.prefix(count)) : [] })
        #expect(table.scheme == .mbr)
        #expect(
            table.partitions == [
                .init(number: 1, offset: 1 << 20, size: UInt64(sectors) * 512, bootable: true, type: "0x83")
            ])
    }

    @Test func badRecipesAndBuildingWithoutRootAreBadInput() {
        #expect(ExitStatus.for(DebianImageBuildError.requiresRoot) == ExitStatus.badInput)
        #expect(ExitStatus.for(DebianImageBuildError.invalidRecipe("suite")) == ExitStatus.badInput)
        #expect(ExitStatus.for(DebianImageBuildError.kernelNotFound("x")) == ExitStatus.infrastructure)
        #expect(ExitStatus.for(CancellationError()) == 130)
        #expect(ExitStatus.for(Interrupted(signal: SIGTERM)) == 128 + SIGTERM)
        struct Unforeseen: Error {}
        #expect(ExitStatus.for(Unforeseen()) == ExitStatus.infrastructure)
    }
}
