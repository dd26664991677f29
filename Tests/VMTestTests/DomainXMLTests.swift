import Foundation
import Testing

@testable import VMTest

/// Domain XML against golden files. `VMTEST_UPDATE_GOLDEN=1 swift test` rewrites them;
/// review the diff before committing it.
@Suite struct DomainXMLTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static let x86 = HostMachine(architecture: "x86_64", kvmUsable: true, kvmRunsAArch32: nil)
    static let cortexA72 = HostMachine(architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: true)
    static let neoverseN1 = HostMachine(architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: false)

    static let image = BaseImage(
        directory: "/cache/images/debian12-armhf/k", disk: "/cache/images/debian12-armhf/k/disk.qcow2",
        kernel: "/cache/images/debian12-armhf/k/vmlinuz", initrd: "/cache/images/debian12-armhf/k/initrd.img",
        kernelCommandLine: "console=ttyAMA0 root=LABEL=vmtest-root rw", diskSHA256: "0", buildSeconds: nil,
        builtAt: Date(timeIntervalSince1970: 0))

    struct Case: Sendable, CustomTestStringConvertible {
        var golden: String
        var profile: String
        var host: HostMachine
        var seed: Bool
        var testDescription: String { golden }
    }

    static let cases: [Case] = [
        .init(golden: "debian12-armhf-tcg-x86_64.xml", profile: "debian12-armhf", host: x86, seed: false),
        .init(golden: "debian12-armhf-kvm-cortex-a72.xml", profile: "debian12-armhf", host: cortexA72, seed: true),
        .init(golden: "debian12-armhf-tcg-neoverse-n1.xml", profile: "debian12-armhf", host: neoverseN1, seed: false),
        .init(golden: "centos7-armhfp-u-boot-tcg-x86_64.xml", profile: "centos7-armhfp", host: x86, seed: false),
    ]

    @Test(arguments: cases)
    func matchesGoldenFile(_ test: Case) throws {
        let profile = try ProfileLoaderTests.catalog.load(test.profile)
        var launcher = GuestLauncher(directories: Directories(cache: URL(fileURLWithPath: "/cache"), state: URL(fileURLWithPath: "/state")), host: test.host)
        launcher.reporter = SilentReporter()
        var definition = launcher.definition(
            for: profile, image: Self.image, runID: "RUN", runDirectory: URL(fileURLWithPath: "/state/runs/RUN"),
            seed: test.seed ? URL(fileURLWithPath: "/state/runs/RUN/seed.iso") : nil)
        definition.run.ownerPID = 4242
        definition.run.host = "builder"
        let xml = DomainXML.render(definition)
        let file = Self.golden.appendingPathComponent(test.golden)
        if ProcessInfo.processInfo.environment["VMTEST_UPDATE_GOLDEN"] != nil {
            try xml.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(xml == expected)
    }

    @Test func kvmOnArmUsesHostPassthroughAndTheAarch64Emulator() throws {
        let profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        let launcher = GuestLauncher(host: Self.cortexA72)
        let xml = DomainXML.render(launcher.definition(for: profile, image: Self.image, runID: "R", runDirectory: URL(fileURLWithPath: "/r")))
        #expect(xml.contains("<domain type='kvm'>"))
        #expect(xml.contains("<cpu mode='host-passthrough'/>"))
        #expect(xml.contains("<emulator>/usr/bin/qemu-system-aarch64</emulator>"))
    }

    @Test func escapesTextAndAttributes() {
        #expect(XMLWriter.escape("a<b & 'c' \"d\">") == "a&lt;b &amp; &apos;c&apos; &quot;d&quot;&gt;")
    }

    @Test func renderingIsDeterministic() throws {
        let profile = try ProfileLoaderTests.catalog.load("centos7-armhfp")
        let launcher = GuestLauncher(host: Self.x86)
        let make = { DomainXML.render(launcher.definition(for: profile, image: nil, runID: "R", runDirectory: URL(fileURLWithPath: "/r"))) }
        #expect(make() == make())
    }
}
