/// Bytes as the format of the shell's own `printf`, for a console to carry.
///
/// Printable ASCII stands for itself; every other byte, and the quote, backslash and
/// percent sign, is a three-digit octal escape (dash's printf has no `\x`; three digits
/// always, so a digit after an escape is never read into it). So is a dash that would
/// start a format: bash's and dash's printf take `printf '-V'` for an option. The line the
/// terminal carries is therefore plain ASCII whatever the bytes are, and writing them
/// needs no process in the guest: under TCG each one (a `base64 -d`) cost tens of
/// milliseconds.
enum PrintfFormat {
    /// `bytes` as one format, to go between single quotes: `printf '<format>'`.
    static func format(_ bytes: some Sequence<UInt8>) -> String {
        chunks(bytes, limit: .max)[0]
    }

    /// `bytes` as formats of at most `limit` characters each (at least 4, an escape's
    /// length), never splitting an escape: one per console line, far below a Linux tty's
    /// 4095-byte canonical line limit. Always at least one (an empty one for no bytes).
    static func chunks(_ bytes: some Sequence<UInt8>, limit: Int) -> [String] {
        precondition(limit >= 4, "a chunk must hold an escape")
        var chunks: [String] = []
        var current = ""
        for byte in bytes {
            var piece = escape(byte, first: current.isEmpty)
            if current.utf8.count + piece.utf8.count > limit {
                chunks.append(current)
                current = ""
                piece = escape(byte, first: true)
            }
            current += piece
        }
        chunks.append(current)
        return chunks
    }

    private static func escape(_ byte: UInt8, first: Bool) -> String {
        switch byte {
        case UInt8(ascii: "-") where first, UInt8(ascii: "'"), UInt8(ascii: "\\"), UInt8(ascii: "%"), ..<0x20, 0x7F...:
            "\\" + String(byte >> 6) + String(byte >> 3 & 7) + String(byte & 7)
        default:
            String(UnicodeScalar(byte))
        }
    }
}
