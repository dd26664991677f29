import Foundation

/// The partitions of a raw disk image, read in Swift from its MBR (with logical partitions
/// in an extended one) or GPT: what U-Boot sees when it scans a board's SD card.
public struct PartitionTable: Sendable, Hashable {
    public enum Scheme: String, Sendable, Hashable { case mbr, gpt }

    public struct Partition: Sendable, Hashable {
        /// 1-based, numbered as Linux and U-Boot number them (logical MBR partitions from 5).
        public var number: Int
        public var offset: UInt64
        public var size: UInt64
        /// MBR active flag, or GPT's "legacy BIOS bootable" attribute: U-Boot's distro boot
        /// scans these partitions first (only these, when any is marked).
        public var bootable: Bool
        /// MBR type byte (`0x83`) or GPT type GUID.
        public var type: String
    }

    public var scheme: Scheme
    public var partitions: [Partition]

    public static let sectorSize: UInt64 = 512

    /// Reads `count` bytes at `offset` (fewer at the end of the disk).
    public typealias Reader = (_ offset: UInt64, _ count: Int) throws -> [UInt8]

    /// The partition table, or nil when the disk has none (a bare file system, say).
    public static func read(_ reader: Reader) throws -> PartitionTable? {
        let mbr = try reader(0, 512)
        guard mbr.count == 512, mbr[510] == 0x55, mbr[511] == 0xAA else { return nil }
        let entries = (0..<4).map { mbrEntry(mbr, at: 446 + 16 * $0) }
        if entries.contains(where: { $0.type == 0xEE }), let gpt = try readGPT(reader) {
            return gpt
        }
        // A FAT or NTFS boot sector also ends in 55 AA; its "partition entries" are code.
        guard entries.allSatisfy({ $0.status == 0x00 || $0.status == 0x80 }),
            entries.contains(where: { $0.type != 0 && $0.sectors != 0 })
        else { return nil }
        var partitions: [Partition] = []
        var extended: (start: UInt64, sectors: UInt64)?
        for (index, entry) in entries.enumerated() where entry.type != 0 && entry.sectors != 0 {
            if [0x05, 0x0F, 0x85].contains(entry.type) {
                extended = (UInt64(entry.start), UInt64(entry.sectors))
                continue
            }
            partitions.append(
                Partition(
                    number: index + 1, offset: UInt64(entry.start) * sectorSize, size: UInt64(entry.sectors) * sectorSize,
                    bootable: entry.status == 0x80, type: hexByte(entry.type)))
        }
        if let extended {
            // Logical partitions: a chain of EBRs, each relative to the extended partition.
            var ebr = extended.start
            var number = 5
            var seen = Set<UInt64>()
            while seen.insert(ebr).inserted, number < 64 {
                let sector = try reader(ebr * sectorSize, 512)
                guard sector.count == 512, sector[510] == 0x55, sector[511] == 0xAA else { break }
                let logical = mbrEntry(sector, at: 446)
                if logical.type != 0 && logical.sectors != 0 {
                    partitions.append(
                        Partition(
                            number: number, offset: (ebr + UInt64(logical.start)) * sectorSize,
                            size: UInt64(logical.sectors) * sectorSize, bootable: logical.status == 0x80,
                            type: hexByte(logical.type)))
                    number += 1
                }
                let next = mbrEntry(sector, at: 462)
                guard next.sectors != 0 else { break }
                ebr = extended.start + UInt64(next.start)
            }
        }
        return PartitionTable(scheme: .mbr, partitions: partitions)
    }

    /// Reads from a file.
    public static func read(file: URL) throws -> PartitionTable? {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        return try read { offset, count in
            try handle.seek(toOffset: offset)
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        }
    }

    private struct MBREntry {
        var status: UInt8
        var type: UInt8
        var start: UInt32
        var sectors: UInt32
    }

    private static func mbrEntry(_ bytes: [UInt8], at offset: Int) -> MBREntry {
        MBREntry(
            status: bytes[offset], type: bytes[offset + 4],
            start: UInt32(littleEndian: bytes, at: offset + 8), sectors: UInt32(littleEndian: bytes, at: offset + 12))
    }

    private static func readGPT(_ reader: Reader) throws -> PartitionTable? {
        let header = try reader(sectorSize, 92)
        guard header.count == 92, header[0..<8].elementsEqual(Array("EFI PART".utf8)) else { return nil }
        let entriesLBA = UInt64(littleEndian: header, at: 72)
        let count = Int(UInt32(littleEndian: header, at: 80))
        let entrySize = Int(UInt32(littleEndian: header, at: 84))
        guard entrySize >= 128, count <= 1024 else { return nil }
        let table = try reader(entriesLBA * sectorSize, count * entrySize)
        var partitions: [Partition] = []
        for index in 0..<count where (index + 1) * entrySize <= table.count {
            let base = index * entrySize
            let typeGUID = Array(table[base..<base + 16])
            guard typeGUID.contains(where: { $0 != 0 }) else { continue }
            let first = UInt64(littleEndian: table, at: base + 32)
            let last = UInt64(littleEndian: table, at: base + 40)
            let attributes = UInt64(littleEndian: table, at: base + 48)
            guard last >= first else { continue }
            partitions.append(
                Partition(
                    number: index + 1, offset: first * sectorSize, size: (last - first + 1) * sectorSize,
                    bootable: attributes & (1 << 2) != 0, type: guidString(typeGUID)))
        }
        return PartitionTable(scheme: .gpt, partitions: partitions)
    }

    private static func hexByte(_ byte: UInt8) -> String {
        "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
    }

    /// Mixed-endian GUID text, as `sfdisk` and `blkid` print it.
    static func guidString(_ bytes: [UInt8]) -> String {
        func hex(_ slice: [UInt8]) -> String { slice.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        return [
            hex(bytes[0..<4].reversed()), hex(bytes[4..<6].reversed()), hex(bytes[6..<8].reversed()),
            hex(Array(bytes[8..<10])), hex(Array(bytes[10..<16])),
        ].joined(separator: "-").uppercased()
    }
}

extension FixedWidthInteger {
    init(littleEndian bytes: [UInt8], at offset: Int) {
        var value: Self = 0
        for index in 0..<(Self.bitWidth / 8) {
            value |= Self(bytes[offset + index]) << (8 * index)
        }
        self = value
    }
}
