import Foundation

/// An RPM package's lead, signature and header, read in Swift without running `rpm`.
///
/// The layout follows rpm.org's "RPM file format" (the LSB's "Package File Format"):
/// a 96-byte lead, a signature header padded to 8 bytes, the main header, then the
/// compressed payload up to the end of the file. ``read(_:)`` reads the three headers
/// and seeks no further, so a package of any size is checked in well under a second.
public struct RPMFile: Sendable, Hashable {
    public var url: URL
    public var name: String
    public var version: String
    public var release: String
    /// `nil` when the package has no epoch (rpm prints `(none)`).
    public var epoch: UInt32?
    public var arch: String
    /// A source package: the lead says so, or the header has `SOURCEPACKAGE`, or it
    /// lacks `SOURCERPM` (which is how rpm itself tells them apart).
    public var isSource: Bool
    /// `REQUIRENAME`, in header order, `rpmlib(...)` capabilities included.
    public var requires: [String]
    /// `PROVIDENAME`, in header order.
    public var provides: [String]
    /// Absolute paths of the packaged files, in header order.
    public var files: [String]
    /// `PAYLOADFORMAT`; "cpio" when the header does not say.
    public var payloadFormat: String
    /// `PAYLOADCOMPRESSOR`; "gzip" when the header does not say.
    public var payloadCompressor: String
    /// Where the compressed payload starts in the file.
    public var payloadOffset: UInt64

    /// `name-version-release.arch`, with `epoch:` before the version when there is one.
    public var nevra: String {
        let evr = epoch.map { "\($0):\(version)-\(release)" } ?? "\(version)-\(release)"
        return "\(name)-\(evr).\(arch)"
    }

    /// Reads the package's lead, signature and header, and checks that the file is long
    /// enough to hold the payload the signature announces.
    public static func read(_ url: URL) throws(RPMError) -> RPMFile {
        let file = try RPMFileReader(url: url)
        defer { file.close() }

        let lead = try file.bytes(at: 0, count: RPMLead.size, part: .lead, allowShort: true)
        guard lead.count >= 4, Array(lead.prefix(4)) == RPMLead.magic else {
            throw file.error(.notAnRPM)
        }
        guard lead.count == RPMLead.size else { throw file.error(.truncated(.lead)) }
        guard lead[4] >= 3 else {
            throw file.error(.unsupported("RPM format version \(lead[4]).\(lead[5]); only version 3 and later are read"))
        }
        let leadType = UInt16(lead[6]) << 8 | UInt16(lead[7])

        let signature = try RPMHeaderStructure.read(from: file, at: UInt64(RPMLead.size), part: .signature)
        let headerStart = (signature.end + 7) & ~7
        // The signature's SIZE (or LONGSIZE) is the header and the payload together: a
        // header claiming more than that is corrupt, a file shorter than that truncated.
        var announced = try signature.integers(RPMTag.signatureLongSize, type: .int64)?.first
        if announced == nil { announced = try signature.integers(RPMTag.signatureSize, type: .int32)?.first }
        let header = try RPMHeaderStructure.read(
            from: file, at: headerStart, part: .header, limit: announced.map { headerStart + $0 })
        if let announced, headerStart + announced > file.size {
            throw file.error(.truncated(.payload))
        }
        guard header.end < file.size else { throw file.error(.truncated(.payload)) }

        func required(_ tag: RPMTag) throws(RPMError) -> String {
            guard let value = try header.string(tag) else { throw file.error(.missingTag(tag.description)) }
            return value
        }
        let sourcePackage = header.has(RPMTag.sourcePackage) || !header.has(RPMTag.sourceRPM)
        return RPMFile(
            url: url,
            name: try required(.name),
            version: try required(.version),
            release: try required(.release),
            epoch: try header.integers(.epoch, type: .int32)?.first.map { UInt32(truncatingIfNeeded: $0) },
            arch: try required(.arch),
            isSource: leadType == RPMLead.sourceType || sourcePackage,
            requires: try header.strings(.requireName) ?? [],
            provides: try header.strings(.provideName) ?? [],
            files: try header.fileList(),
            payloadFormat: try header.string(.payloadFormat) ?? "cpio",
            payloadCompressor: try header.string(.payloadCompressor) ?? "gzip",
            payloadOffset: header.end
        )
    }
}

/// Which part of an RPM file a problem was found in.
public enum RPMPart: String, Sendable, Hashable, CustomStringConvertible {
    case lead, signature, header, payload
    public var description: String { rawValue }
}

/// An RPM file that cannot be used: not an RPM, cut short, or damaged.
public struct RPMError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The file does not start with the RPM lead's magic.
        case notAnRPM
        /// The file ends inside this part.
        case truncated(RPMPart)
        /// This part does not follow the format; the string says how.
        case corrupt(RPMPart, String)
        /// The header lacks a tag every package has.
        case missingTag(String)
        /// A valid package vmtest cannot inspect (old format, unknown compressor ...).
        case unsupported(String)
        /// The file cannot be opened or read.
        case unreadable(String)
    }

    public var file: String
    public var kind: Kind

    public init(file: String, kind: Kind) {
        self.file = file
        self.kind = kind
    }

    public var description: String {
        switch kind {
        case .notAnRPM:
            return "\(file): is not an RPM package (it does not start with the RPM lead's magic ED AB EE DB)"
        case .truncated(let part):
            return "\(file): is truncated: the file ends inside its \(part); download or build it again"
        case .corrupt(let part, let problem):
            return "\(file): has a corrupt \(part): \(problem)"
        case .missingTag(let tag):
            return "\(file): its header has no \(tag) tag, which every package has"
        case .unsupported(let problem):
            return "\(file): cannot be inspected: \(problem)"
        case .unreadable(let problem):
            return "\(file): cannot be read: \(problem)"
        }
    }
}

/// The 96-byte lead: magic, format version, type (0 binary, 1 source), then fields
/// nothing reads any more (archnum, name, osnum, signature type).
enum RPMLead {
    static let size = 96
    static let magic: [UInt8] = [0xED, 0xAB, 0xEE, 0xDB]
    static let sourceType: UInt16 = 1
}

/// A header tag number (rpmtag.h). Signature headers reuse the numbers with their own
/// meanings, hence the `signature` names.
struct RPMTag: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    var rawValue: Int32
    var name: String

    init(rawValue: Int32) {
        self.rawValue = rawValue
        self.name = "tag \(rawValue)"
    }

    init(_ rawValue: Int32, _ name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    static func == (a: RPMTag, b: RPMTag) -> Bool { a.rawValue == b.rawValue }
    func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    var description: String { "\(name) (\(rawValue))" }

    static let signatureLongSize = RPMTag(270, "LONGSIZE")
    static let signatureSize = RPMTag(1000, "SIZE")
    static let name = RPMTag(1000, "NAME")
    static let version = RPMTag(1001, "VERSION")
    static let release = RPMTag(1002, "RELEASE")
    static let epoch = RPMTag(1003, "EPOCH")
    static let arch = RPMTag(1022, "ARCH")
    static let fileNames = RPMTag(1027, "FILENAMES")
    static let sourceRPM = RPMTag(1044, "SOURCERPM")
    static let provideName = RPMTag(1047, "PROVIDENAME")
    static let requireName = RPMTag(1049, "REQUIRENAME")
    static let sourcePackage = RPMTag(1106, "SOURCEPACKAGE")
    static let dirIndexes = RPMTag(1116, "DIRINDEXES")
    static let baseNames = RPMTag(1117, "BASENAMES")
    static let dirNames = RPMTag(1118, "DIRNAMES")
    static let payloadFormat = RPMTag(1124, "PAYLOADFORMAT")
    static let payloadCompressor = RPMTag(1125, "PAYLOADCOMPRESSOR")
}

/// The type of a header entry's data (rpmTagType in rpmtag.h).
enum RPMTagType: UInt32, Sendable, CustomStringConvertible {
    case null = 0
    case char, int8, int16, int32, int64, string, bin, stringArray, i18nString

    /// Bytes per element for fixed-size types; `nil` for strings.
    var width: UInt64? {
        switch self {
        case .null: 0
        case .char, .int8, .bin: 1
        case .int16: 2
        case .int32: 4
        case .int64: 8
        case .string, .stringArray, .i18nString: nil
        }
    }

    var description: String {
        switch self {
        case .null: "NULL"
        case .char: "CHAR"
        case .int8: "INT8"
        case .int16: "INT16"
        case .int32: "INT32"
        case .int64: "INT64"
        case .string: "STRING"
        case .bin: "BIN"
        case .stringArray: "STRING_ARRAY"
        case .i18nString: "I18NSTRING"
        }
    }
}

/// The file, opened for reading at offsets; every read past its end is a typed error.
final class RPMFileReader {
    let url: URL
    let size: UInt64
    private let handle: FileHandle

    init(url: URL) throws(RPMError) {
        self.url = url
        do {
            handle = try FileHandle(forReadingFrom: url)
            size = try handle.seekToEnd()
        } catch {
            throw RPMError(file: url.path, kind: .unreadable(Self.reason(error)))
        }
    }

    func close() { try? handle.close() }

    func error(_ kind: RPMError.Kind) -> RPMError { RPMError(file: url.path, kind: kind) }

    /// `count` bytes at `offset`; fewer than that is "truncated in `part`" unless
    /// `allowShort`.
    func bytes(at offset: UInt64, count: Int, part: RPMPart, allowShort: Bool = false) throws(RPMError) -> [UInt8] {
        guard offset <= size else { throw error(.truncated(part)) }
        let data: Data?
        do {
            try handle.seek(toOffset: offset)
            data = try handle.read(upToCount: count)
        } catch {
            throw self.error(.unreadable(Self.reason(error)))
        }
        let bytes = data.map { [UInt8]($0) } ?? []
        guard bytes.count == count || allowShort else { throw error(.truncated(part)) }
        return bytes
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? error.localizedDescription
    }
}

/// One header structure (used for both the signature and the main header): magic
/// 8E AD E8 01, four reserved bytes, the index entry count and data size (big-endian),
/// the index entries (tag, type, offset, count), then the data store.
struct RPMHeaderStructure {
    struct Entry {
        var tag: Int32
        var type: RPMTagType
        var offset: Int
        var count: Int
    }

    static let magic: [UInt8] = [0x8E, 0xAD, 0xE8, 0x01]
    /// Beyond these a header is not plausible (rpm itself refuses far smaller ones).
    static let maxEntries: UInt32 = 0xFFFF
    static let maxDataSize: UInt32 = 256 << 20

    let part: RPMPart
    let file: RPMFileReader
    /// Where the structure ends in the file (before any padding).
    let end: UInt64
    private let entries: [Int32: Entry]
    private let data: [UInt8]

    /// Reads the structure at `start`; `limit`, when known, is where it must end by.
    static func read(
        from file: RPMFileReader, at start: UInt64, part: RPMPart, limit: UInt64? = nil
    ) throws(RPMError) -> RPMHeaderStructure {
        let intro = try file.bytes(at: start, count: 16, part: part)
        guard Array(intro.prefix(4)) == magic else {
            let found = intro.prefix(4).map { String(format: "%02X", $0) }.joined(separator: " ")
            throw file.error(.corrupt(part, "bad header magic at byte \(start): \(found) instead of 8E AD E8 01"))
        }
        let entryCount = intro.bigEndianUInt32(at: 8)
        let dataSize = intro.bigEndianUInt32(at: 12)
        guard entryCount <= maxEntries, dataSize <= maxDataSize else {
            throw file.error(.corrupt(part, "implausible size: \(entryCount) index entries and \(dataSize) bytes of data"))
        }
        let indexSize = Int(entryCount) * 16
        let end = start + 16 + UInt64(indexSize) + UInt64(dataSize)
        if let limit, end > limit {
            throw file.error(
                .corrupt(
                    part,
                    "\(entryCount) index entries and \(dataSize) bytes of data run past byte \(limit), where the signature says the package ends"
                ))
        }
        guard end <= file.size else { throw file.error(.truncated(part)) }

        let body = try file.bytes(at: start + 16, count: indexSize + Int(dataSize), part: part)
        var entries: [Int32: Entry] = [:]
        entries.reserveCapacity(Int(entryCount))
        for index in 0..<Int(entryCount) {
            let base = index * 16
            let tag = Int32(bitPattern: body.bigEndianUInt32(at: base))
            let rawType = body.bigEndianUInt32(at: base + 4)
            let offset = Int32(bitPattern: body.bigEndianUInt32(at: base + 8))
            let count = body.bigEndianUInt32(at: base + 12)
            guard let type = RPMTagType(rawValue: rawType) else {
                throw file.error(.corrupt(part, "tag \(tag) has unknown type \(rawType)"))
            }
            guard offset >= 0, UInt32(offset) <= dataSize else {
                throw file.error(.corrupt(part, "tag \(tag) points at data offset \(offset), outside its \(dataSize) bytes of data"))
            }
            if let width = type.width, UInt64(offset) + UInt64(count) * width > UInt64(dataSize) {
                throw file.error(.corrupt(part, "tag \(tag) (\(count) × \(type)) runs past the end of its data"))
            }
            if entries[tag] == nil {
                entries[tag] = Entry(tag: tag, type: type, offset: Int(offset), count: Int(count))
            }
        }
        return RPMHeaderStructure(part: part, file: file, end: end, entries: entries, data: Array(body[indexSize...]))
    }

    func has(_ tag: RPMTag) -> Bool { entries[tag.rawValue] != nil }

    private func entry(_ tag: RPMTag, _ types: [RPMTagType]) throws(RPMError) -> Entry? {
        guard let entry = entries[tag.rawValue] else { return nil }
        guard types.contains(entry.type) else {
            let expected = types.map(\.description).joined(separator: " or ")
            throw file.error(.corrupt(part, "\(tag) has type \(entry.type), expected \(expected)"))
        }
        return entry
    }

    /// `count` NUL-terminated strings from `offset`.
    private func cStrings(_ tag: RPMTag, at offset: Int, count: Int) throws(RPMError) -> [String] {
        var strings: [String] = []
        strings.reserveCapacity(min(count, data.count))
        var start = offset
        for _ in 0..<count {
            guard let nul = data[start...].firstIndex(of: 0) else {
                throw file.error(.corrupt(part, "\(tag) has a string that runs past the end of the data"))
            }
            strings.append(String(decoding: data[start..<nul], as: UTF8.self))
            start = nul + 1
        }
        return strings
    }

    func string(_ tag: RPMTag) throws(RPMError) -> String? {
        guard let entry = try entry(tag, [.string, .i18nString]) else { return nil }
        return try cStrings(tag, at: entry.offset, count: 1).first
    }

    func strings(_ tag: RPMTag) throws(RPMError) -> [String]? {
        guard let entry = try entry(tag, [.stringArray]) else { return nil }
        return try cStrings(tag, at: entry.offset, count: entry.count)
    }

    /// An INT32 or INT64 tag's values, widened to 64 bits.
    func integers(_ tag: RPMTag, type: RPMTagType) throws(RPMError) -> [UInt64]? {
        guard let entry = try entry(tag, [type]), let width = type.width else { return nil }
        return (0..<entry.count).map { index in
            let at = entry.offset + index * Int(width)
            return width == 8
                ? UInt64(data.bigEndianUInt32(at: at)) << 32 | UInt64(data.bigEndianUInt32(at: at + 4))
                : UInt64(data.bigEndianUInt32(at: at))
        }
    }

    /// BASENAMES, DIRNAMES and DIRINDEXES joined, or the old FILENAMES; empty when
    /// the package has no files.
    func fileList() throws(RPMError) -> [String] {
        guard let baseNames = try strings(.baseNames) else { return try strings(.fileNames) ?? [] }
        guard let dirNames = try strings(.dirNames), let dirIndexes = try integers(.dirIndexes, type: .int32) else {
            throw file.error(.corrupt(part, "\(RPMTag.baseNames) without \(RPMTag.dirNames) and \(RPMTag.dirIndexes)"))
        }
        guard dirIndexes.count == baseNames.count else {
            throw file.error(.corrupt(part, "\(baseNames.count) base names but \(dirIndexes.count) directory indexes"))
        }
        var files: [String] = []
        files.reserveCapacity(baseNames.count)
        for (baseName, dirIndex) in zip(baseNames, dirIndexes) {
            guard dirIndex < dirNames.count else {
                throw file.error(.corrupt(part, "directory index \(dirIndex) for \(baseName), but only \(dirNames.count) directories"))
            }
            files.append(dirNames[Int(dirIndex)] + baseName)
        }
        return files
    }
}

extension [UInt8] {
    func bigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}
