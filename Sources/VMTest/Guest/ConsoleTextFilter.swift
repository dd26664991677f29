/// Turns raw console bytes into the text a parser can trust.
///
/// Serial consoles add carriage returns, colour codes, bracketed-paste switches and
/// terminal queries around what commands print. This drops them, keeping state across
/// chunk boundaries so an escape sequence split between two reads is still removed.
struct ConsoleTextFilter {
    /// Bytes held back because they may be the start of an escape sequence.
    private var pending: [UInt8] = []

    struct Output: Equatable {
        var text: String
        /// Cursor-position reports the guest asked for (`ESC [ 6 n`); unanswered, some
        /// programs wait for them forever.
        var cursorQueries: Int
    }

    mutating func feed(_ bytes: [UInt8]) -> Output {
        var input = pending + bytes
        pending = []
        var kept: [UInt8] = []
        kept.reserveCapacity(input.count)
        var queries = 0
        var index = 0
        while index < input.count {
            let byte = input[index]
            switch byte {
            case 0x0D, 0x07, 0x00:  // CR, BEL, NUL
                index += 1
            case 0x1B:  // ESC
                guard let end = Self.escapeSequenceEnd(in: input, from: index) else {
                    // Incomplete: wait for the rest, unless it is implausibly long.
                    if input.count - index < 64 {
                        pending = Array(input[index...])
                        input.removeAll()
                    } else {
                        index += 1
                    }
                    continue
                }
                if Array(input[index..<end]) == [0x1B, 0x5B, 0x36, 0x6E] { queries += 1 }  // ESC [ 6 n
                index = end
            default:
                kept.append(byte)
                index += 1
            }
        }
        return Output(text: String(decoding: kept, as: UTF8.self), cursorQueries: queries)
    }

    /// One past the last byte of the escape sequence starting at `start`, or nil if the
    /// input ends inside it.
    private static func escapeSequenceEnd(in input: [UInt8], from start: Int) -> Int? {
        let next = start + 1
        guard next < input.count else { return nil }
        switch input[next] {
        case 0x5B:  // CSI: parameters and intermediates, then a final byte 0x40...0x7E
            var index = next + 1
            while index < input.count {
                if (0x40...0x7E).contains(input[index]) { return index + 1 }
                index += 1
            }
            return nil
        case 0x5D:  // OSC: up to BEL or ESC backslash
            var index = next + 1
            while index < input.count {
                if input[index] == 0x07 { return index + 1 }
                if input[index] == 0x1B, index + 1 < input.count, input[index + 1] == 0x5C { return index + 2 }
                index += 1
            }
            return nil
        case 0x28, 0x29:  // character set selection: ESC ( B
            return next + 1 < input.count ? next + 2 : nil
        default:
            return next + 1
        }
    }
}
