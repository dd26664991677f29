import Foundation
import Libvirt
import Testing

/// Saving and restoring through the test driver, and copying QEMU state files under
/// another name (the real QEMU restore is covered by the end-to-end warm-start tests).
@Suite struct SaveRestoreTests {
    @Test func aSavedDomainStopsAndComesBackFromItsFile() async throws {
        let connection = try await Connection.open(uri: "test:///default")
        let name = uniqueDomainName("saved")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).save")
        defer { try? FileManager.default.removeItem(at: file) }

        try await domain.save(to: file)
        #expect(try await connection.domain(named: name) == nil, "a saved transient domain is gone")
        #expect(FileManager.default.fileExists(atPath: file.path))

        try await connection.restoreDomain(from: file)
        let restored = try #require(try await connection.domain(named: name))
        #expect(restored.uuid == domain.uuid)
        #expect(try await restored.state().state == .running)
        try await restored.destroy()
    }

    @Test func restoringAMissingFileNamesTheCall() async throws {
        let connection = try await Connection.open(uri: "test:///default")
        let error = try await #require(throws: LibvirtError.self) {
            try await connection.restoreDomain(from: URL(fileURLWithPath: "/nonexistent/state.save"))
        }
        #expect(error.function == "virDomainRestoreFlags")
    }

    /// A file laid out as libvirt's QEMU driver writes it: header, padded XML and cookie, stream.
    static func qemuStateFile(xml: String, cookie: String, stream: [UInt8], padding: Int = 4096) -> [UInt8] {
        let xmlBytes = Array(xml.utf8) + [0]
        var data = xmlBytes + Array(cookie.utf8) + [0]
        data += [UInt8](repeating: 0, count: padding)
        func word(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        var header = Array("LibvirtQemudSave".utf8) + word(2) + word(data.count) + word(1) + word(0) + word(xmlBytes.count)
        header += [UInt8](repeating: 0, count: 92 - header.count)
        return header + data + stream
    }

    @Test func aCopyNamesAnotherDomainAndKeepsCookieAndStream() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stream = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let original = Self.qemuStateFile(
            xml: "<domain type='qemu'>\n  <name>vmtest-a</name>\n  <uuid>1a827782-c7b2-4617-8953-35cbeeb9b4b0</uuid>\n</domain>\n",
            cookie: "<cookie>\n  <slirpHelper/>\n</cookie>\n", stream: stream)
        let source = directory.appendingPathComponent("state.save")
        let copy = directory.appendingPathComponent("copy.save")
        try Data(original).write(to: source)

        let uuid = UUID()
        try await SavedStateFile.copy(source, to: copy, name: "vmtest-a-much-longer-name-than-before", uuid: uuid)
        let copied = [UInt8](try Data(contentsOf: copy))
        #expect(copied.count == original.count, "the data area keeps its size")
        #expect(Array(copied[0..<32]) == Array(original[0..<32]), "magic, version and data length are unchanged")
        #expect(Array(copied.suffix(stream.count)) == stream, "the migration stream is copied byte for byte")
        let area = copied[92..<(copied.count - stream.count)]
        let xml = String(decoding: area.prefix { $0 != 0 }, as: UTF8.self)
        #expect(xml.contains("<name>vmtest-a-much-longer-name-than-before</name>"))
        #expect(xml.contains("<uuid>\(uuid.uuidString.lowercased())</uuid>"))
        let cookieOffset = copied[32..<36].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(cookieOffset == xml.utf8.count + 1)
        let cookie = String(decoding: area.dropFirst(cookieOffset).prefix { $0 != 0 }, as: UTF8.self)
        #expect(cookie == "<cookie>\n  <slirpHelper/>\n</cookie>\n")
        let mode = try FileManager.default.attributesOfItem(atPath: copy.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func notAStateFileIsRefusedAndNothingIsLeft() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("state.save")
        let copy = directory.appendingPathComponent("copy.save")
        try Data("LibvirtQemudPart, an interrupted save".utf8).write(to: source)
        let error = try await #require(throws: SavedStateFileError.self) {
            try await SavedStateFile.copy(source, to: copy, name: "x", uuid: UUID())
        }
        #expect(error.description.contains(source.path))
        #expect(error.description.contains("not a complete libvirt QEMU state file"))
        #expect(!FileManager.default.fileExists(atPath: copy.path))
    }
}
