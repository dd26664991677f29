import Foundation

/// A state file of libvirt's QEMU driver (what ``Domain/save(to:xml:flags:)`` writes),
/// copied under another domain name and UUID.
///
/// libvirt restores a state file only as the domain that was saved: its
/// `virDomainRestoreFlags` refuses XML with another name or UUID, so one file can back
/// just one running domain per hypervisor. A copy whose stored XML names another domain
/// can run beside the original. The file is libvirt's `virQEMUSaveHeader` (a 92-byte
/// header whose layout libvirt keeps stable on disk), the domain XML and a migration
/// cookie in a padded data area, then QEMU's migration stream, which is copied untouched.
/// On the hypervisor's own machine ``SavedStatePipe`` serves such a copy without writing it.
public enum SavedStateFile {
    static let magic = Array("LibvirtQemudSave".utf8)
    static let headerSize = 92

    /// Copies `source` to `destination` (created with mode 0600), storing the domain
    /// XML with `name` and `uuid` in place of the saved domain's. Hundreds of MiB go
    /// through blocking file calls, so the copy runs on ``LibvirtWorkers``, like the
    /// restore that follows it.
    public static func copy(_ source: URL, to destination: URL, name: String, uuid: UUID) async throws(SavedStateFileError) {
        try await LibvirtWorkers.shared.run { () throws(SavedStateFileError) in
            try copyNow(source, to: destination, name: name, uuid: uuid)
        }
    }

    static func copyNow(_ source: URL, to destination: URL, name: String, uuid: UUID) throws(SavedStateFileError) {
        let (input, renamed) = try openRenamed(source, name: name, uuid: uuid)
        defer { try? input.close() }
        do {
            guard FileManager.default.createFile(atPath: destination.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw SavedStateFileError(file: destination, problem: "cannot be created")
            }
            let output = try FileHandle(forWritingTo: destination)
            defer { try? output.close() }
            try output.write(contentsOf: renamed)
            // QEMU's migration stream, as it is: hundreds of MiB, copied by the kernel
            // (sendfile), four times faster here than through user-space buffers.
            var offset = off_t(renamed.count)
            while true {
                let copied = sendfile(output.fileDescriptor, input.fileDescriptor, &offset, 1 << 30)
                if copied == 0 { break }
                if copied < 0 {
                    if errno == EINTR { continue }
                    throw SavedStateFileError(file: destination, problem: "could not be written (\(String(cString: strerror(errno))))")
                }
            }
        } catch let error as SavedStateFileError {
            try? FileManager.default.removeItem(at: destination)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: destination)
            throw SavedStateFileError(file: destination, problem: "could not be written (\(error.localizedDescription))")
        }
    }

    /// Opens the state file `source` and reads its header and XML area: the open file, at
    /// the start of QEMU's migration stream, and that area with the domain XML naming
    /// `name` and `uuid` (``renamedPrefix(_:name:uuid:file:)``), as long as before.
    static func openRenamed(_ source: URL, name: String, uuid: UUID) throws(SavedStateFileError) -> (FileHandle, [UInt8]) {
        let input: FileHandle
        do { input = try FileHandle(forReadingFrom: source) } catch {
            throw SavedStateFileError(file: source, problem: "cannot be opened (\(error.localizedDescription))")
        }
        do {
            let header = [UInt8](try input.read(upToCount: headerSize) ?? Data())
            let length = try prefixLength(header: header, file: source)
            let prefix = header + [UInt8](try input.read(upToCount: length - headerSize) ?? Data())
            return (input, try renamedPrefix(prefix, name: name, uuid: uuid, file: source))
        } catch {
            try? input.close()
            if let error = error as? SavedStateFileError { throw error }
            throw SavedStateFileError(file: source, problem: "cannot be read (\(error.localizedDescription))")
        }
    }

    /// Copies the state file in `source`, a volume of `pool`, into a new volume made from
    /// `volumeXML`, storing the domain XML with `name` and `uuid`, as ``copy(_:to:name:uuid:)``
    /// does with files. The hypervisor copies QEMU's migration stream itself
    /// (`virStorageVolCreateXMLFrom`); only the header and the XML area, tens of KiB,
    /// travel over the connection, read and then rewritten in place.
    public static func clone(
        _ source: StorageVolume, in pool: StoragePool, volumeXML: String, name: String, uuid: UUID
    ) async throws -> StorageVolume {
        let file = URL(fileURLWithPath: try await source.path())
        let length = try prefixLength(header: [UInt8](try await source.read(length: UInt64(headerSize))), file: file)
        let prefix = [UInt8](try await source.read(length: UInt64(length)))
        guard prefix.count == length else { throw SavedStateFileError(file: file, problem: "ends inside its XML area") }
        let renamed = try renamedPrefix(prefix, name: name, uuid: uuid, file: file)
        let copy = try await pool.cloneVolume(xml: volumeXML, from: source)
        do {
            try await copy.write(renamed, at: 0)
        } catch {
            try? await copy.delete()
            throw error
        }
        return copy
    }

    /// How many bytes the header `header` says come before QEMU's migration stream: the
    /// header itself and the padded XML area.
    static func prefixLength(header: [UInt8], file: URL) throws(SavedStateFileError) -> Int {
        headerSize + Int(try Header(header, file: file).dataLength)
    }

    /// The header and XML area `prefix` (``prefixLength(header:file:)`` bytes) with the
    /// domain XML naming `name` and `uuid`, as long as before.
    static func renamedPrefix(_ prefix: [UInt8], name: String, uuid: UUID, file: URL) throws(SavedStateFileError) -> [UInt8] {
        let header = Array(prefix.prefix(headerSize))
        var parsed = try Header(header, file: file)
        let data = Array(prefix.dropFirst(headerSize))
        guard data.count == Int(parsed.dataLength) else {
            throw SavedStateFileError(file: file, problem: "ends inside its XML area")
        }
        let xmlEnd = data.firstIndex(of: 0) ?? data.count
        let cookieStart = Int(parsed.cookieOffset)
        let cookie =
            cookieStart > 0 && cookieStart < data.count
            ? Array(data[cookieStart..<(data[cookieStart...].firstIndex(of: 0) ?? data.count)]) : []
        let xml = try renamed(String(decoding: data[..<xmlEnd], as: UTF8.self), name: name, uuid: uuid, file: file)
        var area = Array(xml.utf8) + [0]
        if !cookie.isEmpty {
            parsed.cookieOffset = UInt32(area.count)
            area += cookie + [0]
        }
        guard area.count <= data.count else {
            throw SavedStateFileError(file: file, problem: "has no room for the renamed XML in its padded area")
        }
        area += [UInt8](repeating: 0, count: data.count - area.count)
        return parsed.bytes(replacing: header) + area
    }

    /// `xml` with its first `<name>` and `<uuid>` elements replaced.
    static func renamed(_ xml: String, name: String, uuid: UUID, file: URL) throws(SavedStateFileError) -> String {
        func replacing(_ element: String, with value: String, in text: String) throws(SavedStateFileError) -> String {
            guard let open = text.range(of: "<\(element)>"),
                let close = text.range(of: "</\(element)>", range: open.upperBound..<text.endIndex)
            else { throw SavedStateFileError(file: file, problem: "stores domain XML without a <\(element)> element") }
            return text.replacingCharacters(in: open.upperBound..<close.lowerBound, with: value)
        }
        let escaped = name.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return try replacing("uuid", with: uuid.uuidString.lowercased(), in: replacing("name", with: escaped, in: xml))
    }

    struct Header {
        var dataLength: UInt32
        var cookieOffset: UInt32

        init(_ bytes: [UInt8], file: URL) throws(SavedStateFileError) {
            guard bytes.count == SavedStateFile.headerSize, Array(bytes[0..<16]) == SavedStateFile.magic else {
                throw SavedStateFileError(file: file, problem: "is not a complete libvirt QEMU state file (no LibvirtQemudSave header)")
            }
            func word(_ index: Int) -> UInt32 {
                bytes[(16 + 4 * index)..<(20 + 4 * index)].reversed().reduce(0) { $0 << 8 | UInt32($1) }
            }
            guard word(0) == 2 else {
                throw SavedStateFileError(file: file, problem: "has state file version \(word(0)); only version 2 is understood")
            }
            dataLength = word(1)
            cookieOffset = word(4)
        }

        /// `original` with this header's cookie offset.
        func bytes(replacing original: [UInt8]) -> [UInt8] {
            var bytes = original
            for index in 0..<4 { bytes[32 + index] = UInt8(truncatingIfNeeded: cookieOffset >> (8 * UInt32(index))) }
            return bytes
        }
    }
}

/// A state file could not be read or copied.
public struct SavedStateFileError: Error, CustomStringConvertible, Sendable {
    public var file: URL
    public var problem: String
    public var description: String { "\(file.path) \(problem)" }
}
