import Foundation
import Testing

@testable import VMTest

/// What a process's embedded libvirt root takes from earlier processes and leaves to later ones.
@Suite struct EmbeddedLibvirtRootTests {
    /// A process whose libvirt probed QEMU again (the kept cache was another kind of
    /// process's) leaves its own cache for the next one; the next process starts with it.
    @Test func theLastProcessesCapabilityCacheIsKeptForTheNext() throws {
        // A short folder: a root must leave room for QEMU's socket paths inside it.
        let folder = URL(fileURLWithPath: "/tmp/vmtest-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let shared = folder.appendingPathComponent("libvirt-capabilities")
        let arm = "87ec9299.xml"
        let aarch64 = "5d1e6f07.xml"

        // The first process keeps what it probed.
        let first = try EmbeddedLibvirtRoot.prepare(at: folder.appendingPathComponent("1"), sharedCapabilities: shared)
        try write(["selfctime 609": arm], in: first)
        first.shareCapabilities(to: shared)
        #expect(try read(shared, arm) == "selfctime 609")

        // The second starts with it, probes again, and its cache replaces the kept one.
        let second = try EmbeddedLibvirtRoot.prepare(at: folder.appendingPathComponent("2"), sharedCapabilities: shared)
        #expect(try read(second.capabilities, arm) == "selfctime 609")
        try write(["selfctime 608": arm, "aarch64": aarch64], in: second)
        second.shareCapabilities(to: shared)
        #expect(try read(shared, arm) == "selfctime 608")
        #expect(try read(shared, aarch64) == "aarch64")

        // The third finds it current: the kept file is left as it was.
        let third = try EmbeddedLibvirtRoot.prepare(at: folder.appendingPathComponent("3"), sharedCapabilities: shared)
        #expect(try read(third.capabilities, arm) == "selfctime 608")
        let longAgo = Date(timeIntervalSince1970: 1_000_000)
        try FileManager.default.setAttributes([.modificationDate: longAgo], ofItemAtPath: shared.appendingPathComponent(arm).path)
        third.shareCapabilities(to: shared)
        #expect(try modified(shared.appendingPathComponent(arm)) == longAgo)
    }

    private func write(_ files: [String: String], in root: EmbeddedLibvirtRoot) throws {
        try FileManager.default.createDirectory(at: root.capabilities, withIntermediateDirectories: true)
        for (content, name) in files {
            try content.write(to: root.capabilities.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    private func read(_ folder: URL, _ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    private func modified(_ file: URL) throws -> Date? {
        try FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date
    }
}
