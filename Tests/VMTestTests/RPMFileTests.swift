import Foundation
import Testing

@testable import VMTest

/// RPMs built for these tests with rpmbuild, gcc and arm-linux-gnueabihf-gcc, once per
/// test process, in a temporary directory. `rpm -qp` is the oracle they are read against.
struct RPMFixtures: Sendable {
    /// armv7hl with a cross-compiled ARM binary, a hard link and a symbolic link to it,
    /// an epoch, requirements and provides; gzip payload.
    var arm: URL
    /// The same package with its payload compressed by each other compressor rpm offers.
    var armByCompressor: [String: URL]
    /// Says armv7hl, holds an x86-64 binary.
    var mislabelled: URL
    /// noarch, a text file only.
    var noarch: URL
    /// The source package of `arm`.
    var source: URL
    /// noarch, 1 MiB of random bytes in its payload.
    var large: URL
    /// The host binary, an ELF file that is not an RPM.
    var hostBinary: URL

    /// Built once, on a thread of its own: rpmbuild and gcc take seconds, which must not
    /// hold one of the test process's two cooperative threads (every suite waits then).
    static let shared = Task { try await onThreadOfItsOwn { try RPMFixtures.build() } }

    static func build() throws -> RPMFixtures {
        // Fixtures outlive their test process (nothing tears a static down); each run
        // removes those of runs that have finished.
        let temporary = FileManager.default.temporaryDirectory
        for old in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        where old.hasPrefix("vmtest-rpmfile-") {
            if let pid = Int32(old.dropFirst("vmtest-rpmfile-".count)), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(old))
            }
        }
        let root = temporary.appendingPathComponent("vmtest-rpmfile-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: root)
        let sources = root.appendingPathComponent("SOURCES")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)

        let program = sources.appendingPathComponent("prog.c")
        try "int main(void) { return 0; }\n".write(to: program, atomically: true, encoding: .utf8)
        try run("arm-linux-gnueabihf-gcc", ["-O2", "-o", sources.appendingPathComponent("prog-arm").path, program.path])
        try run("gcc", ["-O2", "-o", sources.appendingPathComponent("prog-x86").path, program.path])
        let random = FileHandle(forReadingAtPath: "/dev/urandom")!
        try random.read(upToCount: 1 << 20)!.write(to: sources.appendingPathComponent("random.bin"))
        try random.close()

        func build(_ name: String, source: String?, noarch: Bool = false, payload: String = "w6.gzdio", mode: String = "-bb") throws -> URL
        {
            let spec = root.appendingPathComponent("\(name).spec")
            try specText(name: name, source: source, noarch: noarch).write(to: spec, atomically: true, encoding: .utf8)
            let topdir = root.appendingPathComponent("top-\(name)-\(payload)")
            try run(
                "rpmbuild",
                [
                    mode, "--quiet", "--target", "armv7hl",
                    "--define", "_topdir \(topdir.path)",
                    "--define", "_sourcedir \(sources.path)",
                    "--define", "_binary_payload \(payload)",
                    "--define", "_build_id_links none",
                    "--define", "__os_install_post %{nil}",
                    spec.path,
                ])
            let output = topdir.appendingPathComponent(mode == "-bs" ? "SRPMS" : "RPMS")
            let found =
                FileManager.default.enumerator(at: output, includingPropertiesForKeys: nil)?
                .compactMap { $0 as? URL }.filter { $0.pathExtension == "rpm" } ?? []
            guard let rpm = found.first else { throw FixtureError("rpmbuild made no RPM for \(name) in \(output.path)") }
            return rpm
        }

        var byCompressor: [String: URL] = [:]
        for (compressor, payload) in [("xz", "w6.xzdio"), ("zstd", "w3.zstdio"), ("bzip2", "w9.bzdio")] {
            byCompressor[compressor] = try build("fixture-arm", source: "prog-arm", payload: payload)
        }
        return RPMFixtures(
            arm: try build("fixture-arm", source: "prog-arm"),
            armByCompressor: byCompressor,
            mislabelled: try build("fixture-mislabelled", source: "prog-x86"),
            noarch: try build("fixture-noarch", source: nil, noarch: true),
            source: try build("fixture-arm", source: "prog-arm", mode: "-bs"),
            large: try build("fixture-large", source: "random.bin", noarch: true, payload: "w1.gzdio"),
            hostBinary: sources.appendingPathComponent("prog-x86")
        )
    }

    static func specText(name: String, source: String?, noarch: Bool) -> String {
        var spec = """
            %global debug_package %{nil}
            %define __strip /bin/true
            Name: \(name)
            Version: 1.2.3
            Release: 4.test
            Epoch: 7
            Summary: vmtest RPMFile fixture
            License: MIT
            AutoReqProv: no
            Requires: bash >= 4.0
            Requires: libfixture.so.1
            Provides: fixture-capability = 2.0

            """
        if noarch { spec += "BuildArch: noarch\n" }
        if let source { spec += "Source0: \(source)\n" }
        spec += """

            %description
            A package the RPMFile tests read.

            %install
            mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/\(name)
            echo 'just text' > %{buildroot}/usr/share/\(name)/readme.txt

            """
        if source != nil {
            spec += """
                install -m 0755 %{SOURCE0} %{buildroot}/usr/bin/prog
                ln %{buildroot}/usr/bin/prog %{buildroot}/usr/bin/prog-hardlink
                ln -s prog %{buildroot}/usr/bin/prog-symlink

                """
        }
        spec += """

            %files
            %dir /usr/share/\(name)
            /usr/share/\(name)/readme.txt

            """
        if source != nil { spec += "/usr/bin/prog\n/usr/bin/prog-hardlink\n/usr/bin/prog-symlink\n" }
        return spec
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read both pipes before waiting, so a chatty tool cannot block on a full pipe.
        let error = Result { try errors.fileHandleForReading.readToEnd() }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? error.get()).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            throw FixtureError("\(tool) \(arguments.joined(separator: " ")) failed: \(message)")
        }
        return text
    }

    /// What `rpm -qp` says about the package, in RPMFile's terms.
    static func oracle(_ url: URL) throws -> RPMFile {
        func query(_ format: String) throws -> [String] {
            try run("rpm", ["-qp", "--nosignature", "--nodigest", "--qf", format, url.path])
                .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
        let fields = try query("%{NAME}\n%{VERSION}\n%{RELEASE}\n%{EPOCH}\n%{ARCH}\n%{PAYLOADFORMAT}\n%{PAYLOADCOMPRESSOR}\n%{SOURCERPM}\n")
        return RPMFile(
            url: url,
            name: fields[0],
            version: fields[1],
            release: fields[2],
            epoch: fields[3] == "(none)" ? nil : UInt32(fields[3]),
            arch: fields[4],
            isSource: fields[7] == "(none)",
            requires: try query("[%{REQUIRENAME}\n]"),
            provides: try query("[%{PROVIDENAME}\n]"),
            files: try query("[%{FILENAMES}\n]"),
            payloadFormat: fields[5],
            payloadCompressor: fields[6],
            payloadOffset: 0
        )
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Compares everything but the payload offset, which rpm does not print. rpm runs on a
/// thread of its own: a test's queries take seconds on a busy machine, which must not hold
/// one of the test process's two cooperative threads (a console test's reader starved).
func expectMatchesOracle(_ url: URL, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
    var parsed = try RPMFile.read(url)
    #expect(parsed.payloadOffset > 96, sourceLocation: sourceLocation)
    parsed.payloadOffset = 0
    let oracle = try await onThreadOfItsOwn { try RPMFixtures.oracle(url) }
    #expect(parsed == oracle, sourceLocation: sourceLocation)
}

@Suite("RPMFile")
struct RPMFileTests {
    var fixtures: RPMFixtures { get async throws { try await RPMFixtures.shared.value } }

    @Test func readsTheArmPackageLikeRpm() async throws {
        let arm = try await fixtures.arm
        try await expectMatchesOracle(arm)
        let rpm = try RPMFile.read(arm)
        #expect(rpm.nevra == "fixture-arm-7:1.2.3-4.test.armv7hl")
        #expect(rpm.requires.contains("bash") && rpm.requires.contains("libfixture.so.1"))
        #expect(rpm.provides.contains("fixture-capability"))
        #expect(rpm.files.contains("/usr/bin/prog-hardlink"))
        #expect(!rpm.isSource)
    }

    @Test func readsMislabelledNoarchAndSourcePackagesLikeRpm() async throws {
        let fixtures = try await fixtures
        for url in [fixtures.mislabelled, fixtures.noarch, fixtures.source, fixtures.large] + fixtures.armByCompressor.values {
            try await expectMatchesOracle(url)
        }
        #expect(try RPMFile.read(fixtures.source).isSource)
        #expect(try RPMFile.read(fixtures.noarch).arch == "noarch")
    }

    @Test func findsTheArmBinaryAndItsHardLink() async throws {
        let elves = try RPMFile.read(try await fixtures.arm).executables()
        #expect(Set(elves.map(\.path)) == ["/usr/bin/prog", "/usr/bin/prog-hardlink"])
        #expect(elves.allSatisfy { $0.machine == .arm && $0.is32Bit && $0.isLittleEndian })
        #expect(elves.mislabelledFiles(forArch: "armv7hl").isEmpty)
        #expect(elves.mislabelledFiles(forArch: "aarch64").count == 2)
        #expect(elves.mislabelledFiles(forArch: "noarch").count == 2)
    }

    @Test(arguments: ["xz", "zstd", "bzip2"])
    func decompressesEachPayloadCompressor(_ compressor: String) async throws {
        let rpm = try RPMFile.read(try #require(try await fixtures.armByCompressor[compressor]))
        #expect(rpm.payloadCompressor == compressor)
        let elves = try rpm.executables()
        #expect(elves.map(\.machine) == [.arm, .arm])
    }

    @Test func flagsAnX86BinaryInAnArmPackage() async throws {
        let rpm = try RPMFile.read(try await fixtures.mislabelled)
        #expect(rpm.arch == "armv7hl")
        let wrong = try rpm.executables().mislabelledFiles(forArch: rpm.arch)
        #expect(wrong.map(\.path).sorted() == ["/usr/bin/prog", "/usr/bin/prog-hardlink"])
        #expect(wrong.allSatisfy { $0.machine == .x86_64 && !$0.is32Bit && $0.machine.name == "x86-64" })
        #expect(wrong.mislabelledFiles(forArch: "x86_64").isEmpty)
    }

    @Test func noarchWithTextOnlyHasNoELF() async throws {
        #expect(try RPMFile.read(try await fixtures.noarch).executables().isEmpty)
        #expect(try RPMFile.read(try await fixtures.large).executables().isEmpty)
    }

    @Test func readsALargePackagesHeaderWithoutItsPayload() async throws {
        let large = try await fixtures.large
        let size = try #require(try FileManager.default.attributesOfItem(atPath: large.path)[.size] as? Int)
        #expect(size > 1 << 20)
        // Zeroing the payload leaves the header readable: read() does not look at it.
        var bytes = try [UInt8](Data(contentsOf: large))
        let offset = Int(try RPMFile.read(large).payloadOffset)
        for index in offset..<bytes.count { bytes[index] = 0 }
        let zeroed = try await write(bytes, "zeroed-payload")
        #expect(try RPMFile.read(zeroed).name == "fixture-large")
        #expect(throws: RPMError.self) { try RPMFile.read(zeroed).executables() }
    }

    @Test func readsTheExamplePackagesLikeRpm() async throws {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("script/build-examples")
        let out = try await fixtures.arm.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")
        let paths = try await onThreadOfItsOwn { try RPMFixtures.run(script.path, [out.path]) }.split(separator: "\n").map(String.init)
        #expect(paths.count == 5)
        for path in paths {
            let url = URL(fileURLWithPath: path)
            try await expectMatchesOracle(url)
            let rpm = try RPMFile.read(url)
            let elves = try rpm.executables()
            #expect(elves.count == 1 && elves.first?.path.hasPrefix("/usr/bin/vmtest-") == true)
            // Only the variant built with the host's compiler is mislabelled.
            let mislabelled = elves.mislabelledFiles(forArch: rpm.arch)
            if rpm.name == "vmtest-hello-mislabelled" {
                #expect(mislabelled.map(\.machine) == [.x86_64])
            } else {
                #expect(mislabelled.isEmpty, "\(rpm.name)")
            }
        }
    }

    // MARK: Damaged files

    /// A way to damage the good ARM package, and what reading it must report.
    struct Damage: Sendable, CustomStringConvertible {
        var description: String
        var apply: @Sendable (inout [UInt8], Layout) -> Void
        var expected: RPMError.Kind
    }

    /// Where the parts of the good package are, found independently of RPMFile.
    struct Layout {
        var headerStart: Int
        var payloadOffset: Int
        var headerEntries: [(tag: UInt32, at: Int)]

        init(_ bytes: [UInt8]) {
            func be32(_ at: Int) -> Int { Int(bytes.bigEndianUInt32(at: at)) }
            let signatureEnd = 96 + 16 + 16 * be32(96 + 8) + be32(96 + 12)
            headerStart = (signatureEnd + 7) / 8 * 8
            let count = be32(headerStart + 8)
            payloadOffset = headerStart + 16 + 16 * count + be32(headerStart + 12)
            let start = headerStart
            headerEntries = (0..<count).map { (UInt32(be32(start + 16 + 16 * $0)), start + 16 + 16 * $0) }
        }

        func entry(_ tag: UInt32) -> Int { headerEntries.first { $0.tag == tag }!.at }
    }

    static func cut(_ description: String, _ expected: RPMError.Kind, at end: @escaping @Sendable (Layout) -> Int) -> Damage {
        Damage(description: description, apply: { bytes, layout in bytes = Array(bytes.prefix(end(layout))) }, expected: expected)
    }

    static func set(_ description: String, _ expected: RPMError.Kind, _ value: UInt32, at position: @escaping @Sendable (Layout) -> Int)
        -> Damage
    {
        Damage(
            description: description,
            apply: { bytes, layout in
                let at = position(layout)
                for index in 0..<4 { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * index)) }
            }, expected: expected)
    }

    static let damages: [Damage] = [
        cut("empty file", .notAnRPM) { _ in 0 },
        Damage(description: "text file", apply: { bytes, _ in bytes = Array("not an rpm at all\n".utf8) }, expected: .notAnRPM),
        set("bad lead magic", .notAnRPM, 0x7F45_4C46) { _ in 0 },
        cut("truncated in the lead", .truncated(.lead)) { _ in 50 },
        cut("truncated in the signature's intro", .truncated(.signature)) { _ in 96 + 10 },
        cut("truncated in the signature's data", .truncated(.signature)) { $0.headerStart - 12 },
        cut("truncated in the header's intro", .truncated(.header)) { $0.headerStart + 8 },
        cut("truncated in the header's data", .truncated(.header)) { $0.payloadOffset - 100 },
        cut("truncated at the payload", .truncated(.payload)) { $0.payloadOffset },
        cut("truncated in the payload", .truncated(.payload)) { $0.payloadOffset + 100 },
        set("bad signature magic", .corrupt(.signature, ""), 0x8EAD_E802) { _ in 96 },
        set("bad header magic", .corrupt(.header, ""), 0x8EAD_0000) { $0.headerStart },
        set("huge signature index count", .corrupt(.signature, ""), 0xFFFF_FFF0) { _ in 96 + 8 },
        set("header data beyond the file", .corrupt(.header, ""), 0x00FF_FFFF) { $0.headerStart + 12 },
        set("header offset out of range", .corrupt(.header, ""), 0x7FFF_FFF0) { $0.headerStart + 16 + 8 },
        set("header entry of unknown type", .corrupt(.header, ""), 77) { $0.headerStart + 16 + 4 },
        set("NAME of type INT32", .corrupt(.header, ""), 4) { $0.entry(1000) + 4 },
        set("no NAME tag", .missingTag("NAME (1000)"), 999) { $0.entry(1000) },
        set("no ARCH tag", .missingTag("ARCH (1022)"), 1021) { $0.entry(1022) },
    ]

    @Test(arguments: damages)
    func rejectsDamagedFiles(_ damage: Damage) async throws {
        var bytes = try [UInt8](Data(contentsOf: try await fixtures.arm))
        damage.apply(&bytes, Layout(bytes))
        let url = try await write(bytes, damage.description.replacingOccurrences(of: " ", with: "-"))
        let error = try #require(throws: RPMError.self) { try RPMFile.read(url) }
        #expect(error.file == url.path)
        #expect(error.description.hasPrefix(url.path + ": "))
        switch (error.kind, damage.expected) {
        case (.corrupt(let part, let problem), .corrupt(let expectedPart, _)):
            #expect(part == expectedPart)
            #expect(!problem.isEmpty)
        default:
            #expect(error.kind == damage.expected, "\(error)")
        }
    }

    @Test func rejectsAnELFFileThatIsNotAnRPM() async throws {
        let hostBinary = try await fixtures.hostBinary
        let error = try #require(throws: RPMError.self) { try RPMFile.read(hostBinary) }
        #expect(error.kind == .notAnRPM)
        #expect(error.description.contains("is not an RPM package"))
    }

    @Test func reportsAMissingFile() async throws {
        let error = try #require(throws: RPMError.self) { try RPMFile.read(URL(fileURLWithPath: "/nonexistent/x.rpm")) }
        guard case .unreadable = error.kind else {
            Issue.record("expected unreadable, got \(error)")
            return
        }
    }

    @Test func reportsACorruptCompressedPayload() async throws {
        var bytes = try [UInt8](Data(contentsOf: try await fixtures.arm))
        let layout = Layout(bytes)
        for index in layout.payloadOffset + 200..<layout.payloadOffset + 400 { bytes[index] ^= 0x55 }
        let url = try await write(bytes, "corrupt-payload")
        #expect(try RPMFile.read(url).name == "fixture-arm")
        let error = try #require(throws: RPMError.self) { try RPMFile.read(url).executables() }
        guard case .corrupt(.payload, _) = error.kind else {
            Issue.record("expected a corrupt payload, got \(error)")
            return
        }
    }

    func write(_ bytes: [UInt8], _ name: String) async throws -> URL {
        let url = try await fixtures.arm.deletingLastPathComponent().appendingPathComponent("damaged-\(name).rpm")
        try Data(bytes).write(to: url)
        return url
    }
}
