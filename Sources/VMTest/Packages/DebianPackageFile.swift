import Foundation

/// A Debian binary package's control data, read before anything boots: the `ar` archive
/// is walked in Swift (so a damaged or truncated file is named as such), and only the
/// control member is unpacked, with `tar`.
///
/// The layout is deb(5): `!<arch>\n`, then `debian-binary` ("2.0"), `control.tar[.gz|.xz|.zst]`
/// and `data.tar[...]`, each behind a 60-byte member header and padded to an even length.
public struct DebianPackageFile: Sendable, Equatable {
    public var url: URL
    public var package: String
    public var version: String
    public var architecture: String
    /// The control file's paragraph, every field as written (Depends, Pre-Depends ...).
    public var control: DebianControlFile.Paragraph
    /// The control file's text, as an apt `Packages` index repeats it.
    public var controlText: String

    /// `package_version_architecture`, as apt and dpkg name the package.
    public var identifier: String { "\(package)_\(version)_\(architecture)" }

    /// This very version as a dependency: what the guest will install, so what apt must
    /// find the dependencies of, even where an older version is installed already (an
    /// update's new kernel meta package needs the new ABI's package).
    public var exactDependency: String { "\(package) (= \(version))" }

    /// Whether a guest of this Debian architecture can install the package.
    public func installs(on guestArchitecture: String) -> Bool {
        architecture == "all" || architecture == guestArchitecture
    }

    public static func read(_ url: URL) async throws -> DebianPackageFile {
        let members = try ARArchive.members(of: url)
        func damaged(_ problem: String) -> DebianPackageError { DebianPackageError(file: url.path, kind: .damaged(problem)) }
        guard let first = members.first, first.name == "debian-binary" else {
            throw damaged("its first member is not debian-binary")
        }
        let format = String(decoding: try ARArchive.bytes(of: first, in: url), as: UTF8.self)
        guard format.hasPrefix("2.") else { throw damaged("format \(format.trimmingCharacters(in: .whitespacesAndNewlines)), not 2.x") }
        guard let control = members.first(where: { $0.name.hasPrefix("control.tar") }) else {
            throw damaged("it has no control.tar member")
        }
        guard members.contains(where: { $0.name.hasPrefix("data.tar") }) else { throw damaged("it has no data.tar member") }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-deb-\(UUID().uuidString)-\(control.name)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try ARArchive.bytes(of: control, in: url).write(to: scratch)
        let text: String
        do {
            // GNU tar recognises gzip, xz and zstd from the member's own magic.
            text = try await ExternalTool.tar.run(["-xOf", scratch.path, "./control"])
        } catch let error as ToolError {
            if case .missing = error { throw error }
            throw damaged("its \(control.name) cannot be unpacked (\(error))")
        }
        let paragraph: DebianControlFile.Paragraph
        do {
            guard let parsed = try DebianControlFile.parse(text, file: "control").paragraphs.first else {
                throw damaged("its control file is empty")
            }
            paragraph = parsed
        } catch let error as TestMetadataError {
            throw damaged("its control file does not parse: \(error)")
        }
        func field(_ name: String) throws(DebianPackageError) -> String {
            guard let value = paragraph[name], !value.isEmpty else { throw damaged("its control file has no \(name)") }
            return value
        }
        return DebianPackageFile(
            url: url, package: try field("Package"), version: try field("Version"),
            architecture: try field("Architecture"), control: paragraph,
            controlText: text.trimmingCharacters(in: .newlines))
    }
}

/// A `.deb` that is not one, or is damaged. Bad input: exit status 2.
public struct DebianPackageError: BadInputError, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notADebianPackage
        case damaged(String)
        case unreadable(String)
    }

    public var file: String
    public var kind: Kind

    public var description: String {
        switch kind {
        case .notADebianPackage:
            "\(file): is not a Debian package (it does not start with `!<arch>`, the ar archive every .deb is)"
        case .damaged(let problem):
            "\(file): is a damaged Debian package: \(problem); build or download it again"
        case .unreadable(let problem):
            "\(file): cannot be read: \(problem)"
        }
    }
}

/// The `ar` archive format (as GNU ar and dpkg-deb write it), members only: no symbol
/// table or long-name table, which .deb files never have.
enum ARArchive {
    struct Member: Equatable {
        var name: String
        var offset: UInt64
        var size: UInt64
    }

    static let magic = Array("!<arch>\n".utf8)
    static let headerSize: UInt64 = 60

    static func members(of url: URL) throws(DebianPackageError) -> [Member] {
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw DebianPackageError(file: url.path, kind: .unreadable(error.localizedDescription))
        }
        defer { try? handle.close() }
        func read(_ count: Int, at offset: UInt64) throws(DebianPackageError) -> [UInt8] {
            do {
                try handle.seek(toOffset: offset)
                return Array(try handle.read(upToCount: count) ?? Data())
            } catch {
                throw DebianPackageError(file: url.path, kind: .unreadable(error.localizedDescription))
            }
        }
        let size: UInt64
        do { size = try handle.seekToEnd() } catch {
            throw DebianPackageError(file: url.path, kind: .unreadable(error.localizedDescription))
        }
        guard try read(magic.count, at: 0) == magic else { throw DebianPackageError(file: url.path, kind: .notADebianPackage) }
        var members: [Member] = []
        var offset = UInt64(magic.count)
        while offset < size {
            let header = try read(Int(headerSize), at: offset)
            guard header.count == Int(headerSize) else {
                throw DebianPackageError(file: url.path, kind: .damaged("it ends inside a member header (truncated)"))
            }
            guard header[58] == 0x60, header[59] == 0x0A else {
                throw DebianPackageError(file: url.path, kind: .damaged("a member header at byte \(offset) is corrupt"))
            }
            let field = { (range: Range<Int>) in
                String(decoding: header[range], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            }
            var name = field(0..<16)
            if name.hasSuffix("/") { name.removeLast() }
            guard let length = UInt64(field(48..<58)) else {
                throw DebianPackageError(file: url.path, kind: .damaged("member \(name) has no valid size"))
            }
            let start = offset + headerSize
            guard start + length <= size else {
                throw DebianPackageError(file: url.path, kind: .damaged("it ends inside member \(name) (truncated)"))
            }
            members.append(Member(name: name, offset: start, size: length))
            offset = start + length + (length % 2)
        }
        return members
    }

    static func bytes(of member: Member, in url: URL) throws(DebianPackageError) -> Data {
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            try handle.seek(toOffset: member.offset)
            return try handle.read(upToCount: Int(member.size)) ?? Data()
        } catch {
            throw DebianPackageError(file: url.path, kind: .unreadable(error.localizedDescription))
        }
    }
}

extension DebianPackageFile {
    /// The package names its `Depends` and `Pre-Depends` mention (every alternative that
    /// applies to its architecture), as the workarounds read an RPM's requirements.
    public var dependencyNames: [String] {
        let field = [control["Pre-Depends"], control["Depends"]].compactMap { $0 }.joined(separator: ", ")
        let dependency = (try? DebianDependency.parse(field, architecture: architecture)) ?? DebianDependency(clauses: [])
        return dependency.clauses.flatMap { $0.map { String($0.package.prefix { $0 != ":" }) } }
    }
}
