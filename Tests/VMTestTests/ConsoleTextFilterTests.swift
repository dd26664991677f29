import Testing

@testable import VMTest

@Suite struct ConsoleTextFilterTests {
    @Test func dropsCarriageReturnsAndColours() {
        var filter = ConsoleTextFilter()
        let output = filter.feed(Array("\u{1B}[1;32mOK\u{1B}[0m done\r\n".utf8))
        #expect(output.text == "OK done\n")
    }

    @Test func dropsBracketedPasteAndTitleSequences() {
        var filter = ConsoleTextFilter()
        let output = filter.feed(Array("\u{1B}[?2004hroot@vmtest:~# \u{1B}]0;title\u{07}x\u{1B}[?2004l".utf8))
        #expect(output.text == "root@vmtest:~# x")
    }

    @Test func keepsAnEscapeSplitAcrossChunks() {
        var filter = ConsoleTextFilter()
        let first = filter.feed(Array("a\u{1B}[3".utf8))
        let second = filter.feed(Array("1mb".utf8))
        #expect(first.text + second.text == "ab")
    }

    @Test func countsCursorPositionQueries() {
        var filter = ConsoleTextFilter()
        let output = filter.feed(Array("x\u{1B}[6ny\u{1B}[6n".utf8))
        #expect(output.cursorQueries == 2)
        #expect(output.text == "xy")
    }

    @Test func keepsTheFrameByte() {
        var filter = ConsoleTextFilter()
        #expect(filter.feed([0x1E, 0x41, 0x1E]).text == "\u{1E}A\u{1E}")
    }
}
