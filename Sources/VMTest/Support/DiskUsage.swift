import Foundation

/// The disk space files take, as `du` counts it: their apparent sizes overstate sparse
/// files (a saved guest's 4 GiB payload slot holds nothing).
enum DiskUsage {
    /// The space allocated to `folder` and everything under it; 0 for what cannot be read.
    static func allocatedBytes(under folder: URL) -> UInt64 {
        var total = allocatedBytes(of: folder.path)
        let entries = FileManager.default.enumerator(atPath: folder.path)
        while let entry = entries?.nextObject() as? String {
            total += allocatedBytes(of: folder.appendingPathComponent(entry).path)
        }
        return total
    }

    private static func allocatedBytes(of path: String) -> UInt64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return UInt64(info.st_blocks) * UInt64(S_BLKSIZE)
    }
}
