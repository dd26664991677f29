internal import CLibvirt
import Foundation

/// A handle on a volume in a ``StoragePool``: a file (or device) on the hypervisor's
/// machine whose contents travel over the libvirt connection itself (``upload(from:progress:)``,
/// ``download(to:)``).
///
/// The corresponding libvirt type is `virStorageVolPtr`.
public final class StorageVolume: Sendable {
    /// Immutable after init, and libvirt serialises access to what it points to.
    nonisolated(unsafe) let pointer: OpaquePointer
    /// The connection this volume came from, kept alive as long as the volume is.
    public let connection: Connection

    /// Takes ownership of one reference to `pointer`.
    init(pointer: OpaquePointer, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virStorageVolFree(pointer)
    }

    /// The volume's name, unique in its pool.
    ///
    /// The corresponding libvirt function is `virStorageVolGetName`.
    public var name: String {
        virStorageVolGetName(pointer).map { String(cString: $0) } ?? ""
    }

    /// Where the volume is on the hypervisor's machine: what a domain's `<disk>` names.
    ///
    /// The corresponding libvirt function is `virStorageVolGetPath`.
    public func path() async throws(LibvirtError) -> String {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let path = takeString(virStorageVolGetPath(pointer)) else { throw LibvirtError.last(from: "virStorageVolGetPath") }
            return path
        }
    }

    /// Sizes in bytes: what the volume holds for its user, and what it takes on disk.
    public struct Sizes: Sendable, Hashable {
        public var capacity: UInt64
        public var allocation: UInt64
    }

    /// The corresponding libvirt function is `virStorageVolGetInfo`.
    public func sizes() async throws(LibvirtError) -> Sizes {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var info = virStorageVolInfo()
            guard virStorageVolGetInfo(pointer, &info) == 0 else { throw LibvirtError.last(from: "virStorageVolGetInfo") }
            return Sizes(capacity: UInt64(info.capacity), allocation: UInt64(info.allocation))
        }
    }

    /// Deletes the volume and its storage.
    ///
    /// The corresponding libvirt function is `virStorageVolDelete`.
    public func delete() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virStorageVolDelete(pointer, 0) == 0 else { throw LibvirtError.last(from: "virStorageVolDelete") }
        }
    }

    /// How much is read from the file and sent at a time.
    public static let chunkSize = 1 << 20

    /// Replaces the volume's contents with the file's, sent over the connection.
    /// `progress` gets the bytes sent so far after every chunk. An upload that fails is
    /// aborted, so libvirt does not take a part for the whole; the volume then holds an
    /// unknown part of the file, and deleting it is the caller's call. A volume larger
    /// than the file keeps its size: the rest is left as it was.
    ///
    /// It runs on a thread of its own (``LibvirtWorkers/runAlone(_:)``): an upload of a
    /// base image takes minutes.
    ///
    /// The corresponding libvirt functions are `virStorageVolUpload`, `virStreamSend`,
    /// `virStreamFinish` and `virStreamAbort`.
    public func upload(from file: URL, progress: @escaping @Sendable (Int64) -> Void = { _ in }) async throws -> Int64 {
        try await LibvirtWorkers.runAlone { [self] in
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            let length = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            return try send(at: 0, length: length, progress: progress) { try handle.read(upToCount: Self.chunkSize) }
        }
    }

    /// Writes `bytes` into the volume at `offset` and leaves the rest of it as it is: a
    /// few KiB rewritten in place of a file of hundreds of MiB that never leaves the
    /// hypervisor.
    public func write(_ bytes: [UInt8], at offset: UInt64) async throws {
        try await LibvirtWorkers.shared.run { [self] in
            var pending: Data? = Data(bytes)
            _ = try send(at: offset, length: UInt64(bytes.count), progress: { _ in }) {
                defer { pending = nil }
                return pending
            }
        }
    }

    /// Sends the chunks `next` gives, until it gives nil or an empty one, into the
    /// volume's `length` bytes from `offset`; returns the bytes sent.
    private func send(
        at offset: UInt64, length: UInt64, progress: (Int64) -> Void, next: () throws -> Data?
    ) throws -> Int64 {
        let stream = try Self.newStream(connection)
        defer { virStreamFree(stream) }
        guard virStorageVolUpload(pointer, stream, offset, length, 0) == 0 else {
            throw LibvirtError.last(from: "virStorageVolUpload")
        }
        var sent: Int64 = 0
        do {
            while let chunk = try next(), !chunk.isEmpty {
                let sentWhole = chunk.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> Bool in
                    var offset = 0
                    while offset < buffer.count {
                        let base = buffer.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self)
                        let wrote = virStreamSend(stream, base, buffer.count - offset)
                        if wrote <= 0 { return false }
                        offset += Int(wrote)
                    }
                    return true
                }
                // Same thread, nothing in between: libvirt's error is still the send's.
                guard sentWhole else { throw LibvirtError.last(from: "virStreamSend") }
                sent += Int64(chunk.count)
                progress(sent)
            }
            guard virStreamFinish(stream) == 0 else { throw LibvirtError.last(from: "virStreamFinish") }
        } catch {
            virStreamAbort(stream)
            throw error
        }
        return sent
    }

    /// Writes the volume's contents into `file` (created or replaced), received over the
    /// connection; returns the bytes written.
    ///
    /// The corresponding libvirt functions are `virStorageVolDownload`, `virStreamRecv`
    /// and `virStreamFinish`.
    public func download(to file: URL) async throws -> Int64 {
        try await LibvirtWorkers.runAlone { [self] in
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            defer { try? handle.close() }
            return try receive(at: 0, length: 0) { try handle.write(contentsOf: $0) }
        }
    }

    /// `length` bytes of the volume from `offset` (all of the rest with `length` 0): a
    /// state file's header, a console log.
    public func read(at offset: UInt64 = 0, length: UInt64 = 0) async throws -> Data {
        try await LibvirtWorkers.shared.run { [self] in
            var data = Data()
            _ = try receive(at: offset, length: length) { data.append($0) }
            return data
        }
    }

    /// Receives the volume's `length` bytes from `offset` (0: to its end), handing each
    /// chunk to `take`; returns the bytes received.
    private func receive(at offset: UInt64, length: UInt64, take: (Data) throws -> Void) throws -> Int64 {
        let stream = try Self.newStream(connection)
        defer { virStreamFree(stream) }
        guard virStorageVolDownload(pointer, stream, offset, length, 0) == 0 else {
            throw LibvirtError.last(from: "virStorageVolDownload")
        }
        var received: Int64 = 0
        var buffer = [CChar](repeating: 0, count: Self.chunkSize)
        do {
            while true {
                let count = buffer.withUnsafeMutableBufferPointer { virStreamRecv(stream, $0.baseAddress, $0.count) }
                guard count >= 0 else { throw LibvirtError.last(from: "virStreamRecv") }
                if count == 0 { break }
                try take(buffer.withUnsafeBytes { Data($0[0..<Int(count)]) })
                received += Int64(count)
            }
            guard virStreamFinish(stream) == 0 else { throw LibvirtError.last(from: "virStreamFinish") }
        } catch {
            virStreamAbort(stream)
            throw error
        }
        return received
    }

    /// A blocking stream on `connection`: transfers wait on the threads they run on.
    private static func newStream(_ connection: Connection) throws(LibvirtError) -> OpaquePointer {
        guard let stream = virStreamNew(connection.pointer, 0) else { throw LibvirtError.last(from: "virStreamNew") }
        return stream
    }
}
