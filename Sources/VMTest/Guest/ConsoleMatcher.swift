/// Console text not yet consumed, searched for frame markers as it arrives.
///
/// A command's output can be megabytes, arriving in chunks of a few bytes to 64 KiB;
/// searching all of it again for every chunk made a long output quadratic. So a search
/// remembers how far it got and looks only at new text, less the few bytes a marker
/// split across two chunks may have started in. Text nobody needs (console chatter while
/// a shell starts, a person's session) is dropped as soon as it has been searched, down
/// to a tail long enough for a marker or a prompt; only a running command's output is
/// kept whole (``keepsText``), as it is the command's result.
struct ConsoleMatcher {
    /// Bytes kept after a search when the text is not kept: more than any marker or
    /// prompt is long.
    static let tailLimit = 256

    /// The unconsumed text, UTF-8.
    private(set) var text: [UInt8] = []
    /// Whether text before a match must stay until consumed (a command's output).
    var keepsText = false
    /// The literal searched for last, and the first offset a match of it may begin at.
    private var search: (literal: [UInt8], from: Int)?

    mutating func append(_ new: String) {
        text.append(contentsOf: new.utf8)
    }

    /// Where `literal` first occurs in the unconsumed text, looking only at what no
    /// earlier search for it has seen.
    mutating func firstRange(of literal: [UInt8]) -> Range<Int>? {
        precondition(!literal.isEmpty)
        var start = search.flatMap { $0.literal == literal ? $0.from : nil } ?? 0
        while start + literal.count <= text.count {
            guard let first = text[start...].firstIndex(of: literal[0]), first + literal.count <= text.count else { break }
            if text[first..<(first + literal.count)].elementsEqual(literal) {
                search = (literal, first)
                return first..<(first + literal.count)
            }
            start = first + 1
        }
        let from = max(0, text.count - literal.count + 1)
        search = (literal, from)
        if !keepsText { dropSearched(upTo: from) }
        return nil
    }

    /// A command's end marker, its exit status and the closing 0x1E: the output before
    /// the marker, and the offset just past the frame.
    mutating func endFrame(_ literal: [UInt8]) -> (body: Range<Int>, status: Int32, end: Int)? {
        guard let marker = firstRange(of: literal),
            let close = text[marker.upperBound...].firstIndex(of: 0x1E),
            let status = Int32(String(decoding: text[marker.upperBound..<close], as: UTF8.self))
        else { return nil }
        return (0..<marker.lowerBound, status, close + 1)
    }

    /// Removes and returns the text up to `end`.
    @discardableResult
    mutating func consume(upTo end: Int) -> String {
        let consumed = String(decoding: text[..<end], as: UTF8.self)
        text.removeFirst(end)
        search = search.map { ($0.literal, max(0, $0.from - end)) }
        return consumed
    }

    mutating func consumeAll() {
        consume(upTo: text.count)
    }

    /// Whether the text ends with `suffix`, ignoring trailing spaces, tabs and newlines:
    /// a prompt waiting for an answer.
    func endsWithIgnoringSpace(_ suffix: String) -> Bool {
        var end = text.count
        while end > 0, [0x20, 0x0A, 0x09].contains(text[end - 1]) { end -= 1 }
        let wanted = Array(suffix.utf8)
        return end >= wanted.count && text[(end - wanted.count)..<end].elementsEqual(wanted)
    }

    /// Drops searched text before `offset`, keeping a tail for prompts.
    private mutating func dropSearched(upTo offset: Int) {
        let dropped = min(offset, text.count - Self.tailLimit)
        if dropped > 0 { consume(upTo: dropped) }
    }
}
