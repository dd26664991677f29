import Testing

@testable import VMTest

/// The console matcher finds markers however the console splits them, looks at new text
/// only, and keeps no more than a tail of text nobody needs.
@Suite struct ConsoleMatcherTests {
    static let marker = Array("\u{1E}vmtest-1234abcd-7:end\u{1E}".utf8)

    @Test(arguments: [1, 2, 3, 7, 64])
    func findsAMarkerSplitAcrossChunks(chunkSize: Int) throws {
        var matcher = ConsoleMatcher()
        let text = String(repeating: "noise ", count: 100) + String(decoding: Self.marker, as: UTF8.self) + "0\u{1E}\nafter"
        var found: Range<Int>?
        var chunks = Array(text.utf8)[...]
        while found == nil, !chunks.isEmpty {
            matcher.append(String(decoding: chunks.prefix(chunkSize), as: UTF8.self))
            chunks = chunks.dropFirst(chunkSize)
            found = matcher.firstRange(of: Self.marker)
        }
        let range = try #require(found)
        #expect(Array(matcher.text[range]) == Self.marker)
    }

    @Test func dropsSearchedTextNobodyNeedsDownToATail() {
        var matcher = ConsoleMatcher()
        for _ in 0..<1000 {
            matcher.append(String(repeating: "kernel chatter\n", count: 10))
            #expect(matcher.firstRange(of: Self.marker) == nil)
        }
        #expect(matcher.text.count <= ConsoleMatcher.tailLimit)
        matcher.append("login: ")
        #expect(matcher.endsWithIgnoringSpace("login:"))
    }

    @Test func keepsACommandsOutputWholeAndParsesItsEndFrame() throws {
        var matcher = ConsoleMatcher()
        matcher.keepsText = true
        let output = String(repeating: "line of output\n", count: 10_000)
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            matcher.append(line + "\n")
            #expect(matcher.endFrame(Self.marker) == nil)
        }
        matcher.append(String(decoding: Self.marker, as: UTF8.self) + "4")
        #expect(matcher.endFrame(Self.marker) == nil, "the status is not closed yet")
        matcher.append("2\u{1E}\nnext")
        let found = matcher.endFrame(Self.marker)
        let frame = try #require(found)
        #expect(frame.status == 42)
        let body = matcher.consume(upTo: frame.body.upperBound)
        #expect(body.hasPrefix(output))
        matcher.consume(upTo: frame.end - frame.body.upperBound)
        #expect(String(decoding: matcher.text, as: UTF8.self) == "\nnext")
    }
}
