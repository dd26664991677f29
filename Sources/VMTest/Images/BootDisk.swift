import Foundation

/// A built image's disk, laid out as a board's SD card: an MBR with one bootable partition
/// holding the root file system, /boot included. A kernel booted directly finds root by its
/// label either way; U-Boot's distro boot needs the partition: it scans the bootable
/// partitions of a disk for `/boot/extlinux/extlinux.conf` and cannot read a file system
/// that fills the whole disk.
struct BootDisk {
    /// The file system's label (`root=LABEL=...`).
    let label: String
    /// The file system's size as `mkfs.ext4` takes it (`4G`).
    let size: String

    /// Where the partition starts: 1 MiB, as partitioning tools align it.
    static let partitionOffset: UInt64 = 1 << 20
    /// MBR partition type: Linux.
    static let linuxType: UInt8 = 0x83

    /// Writes the raw disk: `mkfs.ext4 -d` fills the file system from `root` at the
    /// partition's offset (no loop mount), then the MBR goes into the first sector.
    func make(_ raw: URL, from root: URL) async throws {
        try await ExternalTool.mkfsExt4.run([
            "-q", "-F", "-t", "ext4", "-L", label, "-d", root.path,
            "-E", "root_owner=0:0,offset=\(Self.partitionOffset)", raw.path, size,
        ])
        let handle = try FileHandle(forUpdating: raw)
        defer { try? handle.close() }
        let end = try handle.seekToEnd()
        let sectors = (end - Self.partitionOffset) / PartitionTable.sectorSize
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: Self.masterBootRecord(sectors: UInt32(sectors)))
    }

    /// A 512-byte MBR with one active Linux partition from ``partitionOffset``, `sectors`
    /// long. No boot code: U-Boot reads the table, nothing executes the sector. The CHS
    /// fields say "use the LBA ones", as tools write them for disks this size.
    static func masterBootRecord(sectors: UInt32) -> Data {
        var sector = [UInt8](repeating: 0, count: 512)
        let entry = 446
        let start = UInt32(partitionOffset / PartitionTable.sectorSize)
        sector[entry] = 0x80
        sector.replaceSubrange(entry + 1..<entry + 4, with: [0xFE, 0xFF, 0xFF])
        sector[entry + 4] = linuxType
        sector.replaceSubrange(entry + 5..<entry + 8, with: [0xFE, 0xFF, 0xFF])
        sector.replaceSubrange(entry + 8..<entry + 12, with: withUnsafeBytes(of: start.littleEndian, Array.init))
        sector.replaceSubrange(entry + 12..<entry + 16, with: withUnsafeBytes(of: sectors.littleEndian, Array.init))
        sector[510] = 0x55
        sector[511] = 0xAA
        return Data(sector)
    }
}
