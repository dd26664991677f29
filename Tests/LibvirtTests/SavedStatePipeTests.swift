import Foundation
import Libvirt
import Testing

/// Serving a QEMU state file under another name through a named pipe, as a restore reads
/// it: the bytes must be those of a renamed copy, and the pipe must be gone afterwards
/// however its reader ended (the real restore is covered by the end-to-end warm starts).
@Suite struct SavedStatePipeTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("state-pipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A state file whose stream is larger than a pipe holds, so the pump must wait for its reader.
    func stateFile() throws -> URL {
        let stream = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 11) }
        let original = SaveRestoreTests.qemuStateFile(
            xml: "<domain type='qemu'>\n  <name>vmtest-a</name>\n  <uuid>1a827782-c7b2-4617-8953-35cbeeb9b4b0</uuid>\n</domain>\n",
            cookie: "<cookie>\n  <slirpHelper/>\n</cookie>\n", stream: stream)
        let source = directory.appendingPathComponent("state.save")
        try Data(original).write(to: source)
        return source
    }

    @Test(.timeLimit(.minutes(1))) func theReaderGetsWhatARenamedCopyHolds() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try stateFile()
        let uuid = UUID()
        let copy = directory.appendingPathComponent("copy.save")
        try await SavedStateFile.copy(source, to: copy, name: "vmtest-b", uuid: uuid)
        let pipe = directory.appendingPathComponent("pipe.save")

        let read = try await SavedStatePipe.serving(source, at: pipe, name: "vmtest-b", uuid: uuid) {
            #expect(isNamedPipe(pipe))
            #expect(try FileManager.default.attributesOfItem(atPath: pipe.path)[.posixPermissions] as? Int == 0o600)
            // Read slowly at first, as QEMU does while it starts.
            let handle = try FileHandle(forReadingFrom: pipe)
            defer { try? handle.close() }
            try await Task.sleep(for: .milliseconds(100))
            return try handle.readToEnd() ?? Data()
        }
        #expect(read == (try Data(contentsOf: copy)), "the pipe carries the renamed copy, byte for byte, and ends")
        #expect(!FileManager.default.fileExists(atPath: pipe.path))
    }

    @Test(.timeLimit(.minutes(1))) func aReaderThatStopsEarlyOrNeverOpensDoesNotHoldThePumpUp() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try stateFile()
        let pipe = directory.appendingPathComponent("pipe.save")

        let header = try await SavedStatePipe.serving(source, at: pipe, name: "vmtest-b", uuid: UUID()) {
            let handle = try FileHandle(forReadingFrom: pipe)
            defer { try? handle.close() }
            return try handle.read(upToCount: 16) ?? Data()
        }
        #expect(header == Data("LibvirtQemudSave".utf8))
        #expect(!FileManager.default.fileExists(atPath: pipe.path))

        struct RestoreFailed: Error {}
        await #expect(throws: RestoreFailed.self) {
            try await SavedStatePipe.serving(source, at: pipe, name: "vmtest-b", uuid: UUID()) { throw RestoreFailed() }
        }
        #expect(!FileManager.default.fileExists(atPath: pipe.path))
    }

    @Test func notAStateFileIsRefusedBeforeAnyPipeIsMade() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("state.save")
        try Data("LibvirtQemudPart, an interrupted save".utf8).write(to: source)
        let pipe = directory.appendingPathComponent("pipe.save")
        var ran = false
        let error = try await #require(throws: SavedStateFileError.self) {
            try await SavedStatePipe.serving(source, at: pipe, name: "x", uuid: UUID()) { ran = true }
        }
        #expect(!ran)
        #expect(error.description.contains("not a complete libvirt QEMU state file"))
        #expect(!FileManager.default.fileExists(atPath: pipe.path))
    }

    func isNamedPipe(_ url: URL) -> Bool {
        var status = stat()
        return lstat(url.path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO
    }
}
