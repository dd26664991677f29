import Foundation
import Testing

@testable import VMTest

/// What the guest's own printf makes of the formats: every byte back as it was.
struct PrintfFormatTests {
    @Test(arguments: ["dash", "bash"])
    func everyByteComesBackThroughTheShellsPrintf(_ shell: String) async throws {
        // Dashes at every chunk's start: `printf '-V'` is an option to bash and dash.
        let bytes = (0...255).map(UInt8.init) + Array("'\\%0123 \\101".utf8) + Array(repeating: UInt8(ascii: "-"), count: 300)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("printf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("out").path
        let chunks = PrintfFormat.chunks(bytes, limit: 100)
        let script = chunks.enumerated().map { "printf '\($1)' \($0 == 0 ? ">" : ">>") \(file)" }.joined(separator: "\n")
        try await ExternalTool(shell, debianPackage: shell).run(["-c", script])
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(bytes))
    }

    @Test func chunksNeverSplitAnEscapeNorPassTheirLimit() {
        let chunks = PrintfFormat.chunks(Array(repeating: UInt8(0x1E), count: 10) + Array("abc".utf8), limit: 12)
        #expect(chunks == [#"\036\036\036"#, #"\036\036\036"#, #"\036\036\036"#, #"\036abc"#])
        #expect(PrintfFormat.chunks([], limit: 9) == [""])
        #expect(PrintfFormat.format(Array("it's 100%".utf8)) == #"it\047s 100\045"#)
        #expect(PrintfFormat.chunks(Array("--V -".utf8), limit: 6) == [#"\055-V"#, #" -"#])
        #expect(PrintfFormat.format(Array("-n".utf8)) == #"\055n"#)
    }
}
