import Foundation

/// An ELF file found in a package's payload.
public struct PackagedELF: Sendable, Hashable, CustomStringConvertible {
    /// The installed path, e.g. `/usr/bin/vmtest-hello`.
    public var path: String
    public var machine: ELFMachine
    /// `ELFCLASS32` (as opposed to `ELFCLASS64`).
    public var is32Bit: Bool
    /// `ELFDATA2LSB` (as opposed to `ELFDATA2MSB`).
    public var isLittleEndian: Bool

    public init(path: String, machine: ELFMachine, is32Bit: Bool, isLittleEndian: Bool) {
        self.path = path
        self.machine = machine
        self.is32Bit = is32Bit
        self.isLittleEndian = isLittleEndian
    }

    public var description: String {
        "\(path): ELF \(is32Bit ? 32 : 64)-bit \(isLittleEndian ? "LSB" : "MSB") \(machine)"
    }
}

/// An ELF header's `e_machine`. Open: any value can be represented, the common ones
/// are named.
public struct ELFMachine: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let i386 = ELFMachine(rawValue: 3)
    public static let mips = ELFMachine(rawValue: 8)
    public static let powerPC = ELFMachine(rawValue: 20)
    public static let powerPC64 = ELFMachine(rawValue: 21)
    public static let s390 = ELFMachine(rawValue: 22)
    public static let arm = ELFMachine(rawValue: 40)
    public static let x86_64 = ELFMachine(rawValue: 62)
    public static let aarch64 = ELFMachine(rawValue: 183)
    public static let riscV = ELFMachine(rawValue: 243)

    /// "ARM", "AArch64", "x86-64" ..., or "machine 0x…" for one without a name here.
    public var name: String {
        switch self {
        case .i386: "Intel 80386"
        case .mips: "MIPS"
        case .powerPC: "PowerPC"
        case .powerPC64: "PowerPC64"
        case .s390: "IBM S/390"
        case .arm: "ARM"
        case .x86_64: "x86-64"
        case .aarch64: "AArch64"
        case .riscV: "RISC-V"
        default: "machine 0x" + String(rawValue, radix: 16)
        }
    }

    public var description: String { name }
}

extension RPMFile {
    /// The ELF files in the payload, in archive order.
    ///
    /// Decompresses the payload with the host tool for ``payloadCompressor`` and reads
    /// the cpio stream as it arrives, keeping only the first bytes of each regular file,
    /// so memory stays small whatever the package's size. This blocks while the tool
    /// runs; call it off the cooperative thread pool for large packages.
    ///
    /// Throws ``RPMError`` for a damaged or unsupported payload and ``ToolError`` when
    /// the decompressor is not installed.
    public func executables() throws -> [PackagedELF] {
        guard payloadFormat == "cpio" else {
            throw RPMError(file: url.path, kind: .unsupported("payload format '\(payloadFormat)'; only cpio payloads are read"))
        }
        let decompressor: (tool: ExternalTool, arguments: [String])
        switch payloadCompressor {
        case "gzip": decompressor = (.gzip, ["-dc"])
        case "bzip2": decompressor = (.bzip2, ["-dc"])
        case "xz", "lzma": decompressor = (.xz, ["-dc"])
        case "zstd": decompressor = (.zstd, ["-dcq"])
        default:
            throw RPMError(file: url.path, kind: .unsupported("payload compressor '\(payloadCompressor)'"))
        }
        let executable = try decompressor.tool.resolved()

        let input = try FileHandle(forReadingFrom: url)
        defer { try? input.close() }
        try input.seek(toOffset: payloadOffset)
        let output = Pipe()
        let errors = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = decompressor.arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()

        // The stream is read to its end even when the archive is bad, so that the
        // decompressor exits by itself and its complaint, when it has one, is the
        // error reported: it names the cause (a bad CRC, say) better than cpio can.
        let stream = PipeStream(output.fileHandleForReading)
        let result = Result { () throws -> [PackagedELF] in
            var reader = CPIOReader(stream: stream, file: url.path)
            return try reader.elfFiles()
        }
        try? stream.drain()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let detail = message.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw RPMError(file: url.path, kind: .corrupt(.payload, "\(decompressor.tool.name) -d failed: \(detail)"))
        }
        return try result.get()
    }
}

extension Sequence<PackagedELF> {
    /// The files that do not belong in a package for `arch`: for armv7hl (armv7l,
    /// armhfp) anything but 32-bit little-endian ARM; for aarch64 anything but AArch64;
    /// for x86_64 anything but x86-64; for i386–i686 anything but 32-bit Intel; for
    /// noarch every ELF file. Empty for an architecture not listed here.
    public func mislabelledFiles(forArch arch: String) -> [PackagedELF] {
        let fits: (PackagedELF) -> Bool
        switch arch {
        case "armv7hl", "armv7l", "armv7hnl", "armhfp":
            fits = { $0.machine == .arm && $0.is32Bit && $0.isLittleEndian }
        case "aarch64":
            fits = { $0.machine == .aarch64 && !$0.is32Bit }
        case "x86_64":
            fits = { $0.machine == .x86_64 && !$0.is32Bit }
        case "i386", "i486", "i586", "i686":
            fits = { $0.machine == .i386 && $0.is32Bit }
        case "noarch":
            fits = { _ in false }
        default:
            fits = { _ in true }
        }
        return filter { !fits($0) }
    }
}

/// Buffered reads from a pipe, for a stream that cannot seek.
final class PipeStream {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private(set) var atEnd = false
    static let chunk = 64 << 10

    init(_ handle: FileHandle) { self.handle = handle }

    /// Fills the buffer until it holds `count` bytes or the stream ends.
    private func fill(_ count: Int) throws {
        while buffer.count - position < count, !atEnd {
            if position > 0 {
                buffer.removeFirst(position)
                position = 0
            }
            guard let data = try handle.read(upToCount: Self.chunk), !data.isEmpty else {
                atEnd = true
                return
            }
            buffer.append(contentsOf: data)
        }
    }

    /// Up to `count` bytes; fewer only at the end of the stream.
    func read(_ count: Int) throws -> [UInt8] {
        try fill(count)
        let taken = Swift.min(count, buffer.count - position)
        defer { position += taken }
        return Array(buffer[position..<position + taken])
    }

    /// Skips `count` bytes; returns how many there were.
    @discardableResult
    func skip(_ count: UInt64) throws -> UInt64 {
        var left = count
        while left > 0 {
            try fill(1)
            let available = buffer.count - position
            if available == 0 { break }
            let taken = Int(Swift.min(UInt64(available), left))
            position += taken
            left -= UInt64(taken)
        }
        return count - left
    }

    /// Reads to the end, so the writer finishes and exits.
    func drain() throws {
        while !atEnd {
            position = buffer.count
            try fill(1)
        }
    }
}

/// The "new ASCII" (newc, magic 070701) cpio format rpm writes its payloads in: a
/// 110-byte header of hexadecimal fields, the NUL-terminated name, padding to 4 bytes,
/// the file's data, padding to 4 bytes; the last entry is named `TRAILER!!!`.
struct CPIOReader {
    let stream: PipeStream
    let file: String
    private var offset: UInt64 = 0

    init(stream: PipeStream, file: String) {
        self.stream = stream
        self.file = file
    }

    static let headerSize = 110
    static let newcMagic = Array("070701".utf8)
    static let crcMagic = Array("070702".utf8)
    static let strippedMagic = Array("07070X".utf8)
    static let regularFile: UInt32 = 0o100000
    static let fileTypeMask: UInt32 = 0o170000
    static let elfMagic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
    /// Enough of an ELF header for e_ident and e_machine.
    static let elfPrefix = 20

    private func corrupt(_ problem: String) -> RPMError {
        RPMError(file: file, kind: .corrupt(.payload, "cpio archive, byte \(offset): \(problem)"))
    }

    private mutating func read(_ count: Int) throws -> [UInt8] {
        let bytes = try stream.read(count)
        offset += UInt64(bytes.count)
        guard bytes.count == count else { throw RPMError(file: file, kind: .truncated(.payload)) }
        return bytes
    }

    private mutating func skip(_ count: UInt64) throws {
        let skipped = try stream.skip(count)
        offset += skipped
        guard skipped == count else { throw RPMError(file: file, kind: .truncated(.payload)) }
    }

    private mutating func align4() throws {
        try skip((4 - offset % 4) % 4)
    }

    mutating func elfFiles() throws -> [PackagedELF] {
        var found: [PackagedELF] = []
        // newc stores a hard-linked file's data with its last link only; the earlier
        // names wait here, by inode, for it.
        var pendingLinks: [UInt32: [String]] = [:]
        while true {
            let magic = try read(6)
            if magic == Self.strippedMagic {
                throw RPMError(
                    file: file,
                    kind: .unsupported(
                        "its payload is a stripped cpio archive (07070X, written by rpm 4.12 and later for files over 4 GiB); unpack it with rpm2cpio"
                    ))
            }
            guard magic == Self.newcMagic || magic == Self.crcMagic else {
                throw corrupt("bad cpio magic '\(String(decoding: magic, as: UTF8.self))', expected 070701")
            }
            let fields = try read(Self.headerSize - 6)
            func field(_ index: Int) throws -> UInt32 {
                let text = String(decoding: fields[index * 8..<index * 8 + 8], as: UTF8.self)
                guard let value = UInt32(text, radix: 16) else { throw corrupt("bad header field '\(text)'") }
                return value
            }
            let inode = try field(0)
            let mode = try field(1)
            let links = try field(4)
            let size = UInt64(try field(6))
            let nameSize = Int(try field(11))
            guard nameSize > 0, nameSize <= 4096 else { throw corrupt("name size \(nameSize)") }
            let nameBytes = try read(nameSize)
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            try align4()
            if name == "TRAILER!!!" { return found }

            let path = name.hasPrefix("./") ? String(name.dropFirst()) : (name.hasPrefix("/") ? name : "/" + name)
            guard mode & Self.fileTypeMask == Self.regularFile else {
                try skip(size)
                try align4()
                continue
            }
            if size == 0 {
                if links > 1 { pendingLinks[inode, default: []].append(path) }
                continue
            }
            let head = try read(Int(Swift.min(size, UInt64(Self.elfPrefix))))
            try skip(size - UInt64(head.count))
            try align4()
            guard let elf = Self.elf(head) else { continue }
            for linked in pendingLinks.removeValue(forKey: inode) ?? [] {
                found.append(PackagedELF(path: linked, machine: elf.machine, is32Bit: elf.is32Bit, isLittleEndian: elf.isLittleEndian))
            }
            found.append(PackagedELF(path: path, machine: elf.machine, is32Bit: elf.is32Bit, isLittleEndian: elf.isLittleEndian))
        }
    }

    /// e_ident's class and data encoding and e_machine, when `head` starts an ELF file.
    static func elf(_ head: [UInt8]) -> (machine: ELFMachine, is32Bit: Bool, isLittleEndian: Bool)? {
        guard head.count >= elfPrefix, Array(head.prefix(4)) == elfMagic else { return nil }
        let is32Bit = head[4] == 1  // EI_CLASS: ELFCLASS32 1, ELFCLASS64 2
        let isLittleEndian = head[5] == 1  // EI_DATA: ELFDATA2LSB 1, ELFDATA2MSB 2
        let machine =
            isLittleEndian
            ? UInt16(head[19]) << 8 | UInt16(head[18])
            : UInt16(head[18]) << 8 | UInt16(head[19])
        return (ELFMachine(rawValue: machine), is32Bit, isLittleEndian)
    }
}
