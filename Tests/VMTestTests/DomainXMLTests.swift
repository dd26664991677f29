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

    static let compatKernel = CompatKernel(
        directory: "/cache/kernels/debian12-arm64/k", kernel: "/cache/kernels/debian12-arm64/k/vmlinuz",
        initrd: "/cache/kernels/debian12-arm64/k/initrd.img", kernelRelease: "6.1.0-50-arm64",
        kernelPackage: .init(package: "linux-image-6.1.0-50-arm64:arm64", version: "6.1.158-1"),
        busyboxPackage: .init(package: "busybox-static:arm64", version: "1:1.35.0-4+b3"), kernelCommandLineAdditions: [],
        rootModules: [], runtimeModules: [], buildSeconds: 0, builtAt: Date(timeIntervalSince1970: 0))

    /// The domain `profile` boots as on `host`, run the way `request` asks.
    static func definition(
        _ profileName: String, on host: HostMachine, request: AcceleratorRequest = .automatic, image: BaseImage? = image, seed: Bool = false
    ) throws -> DomainDefinition {
        let profile = try ProfileLoaderTests.catalog.load(profileName)
        let launcher = GuestLauncher(directories: Directories(cache: URL(fileURLWithPath: "/cache"), state: URL(fileURLWithPath: "/state")))
        var definition = launcher.definition(
            for: profile, mode: try AcceleratorChoice.choose(for: profile.arch, on: host, request: request), image: image,
            compatKernel: compatKernel, runID: "RUN", runDirectory: URL(fileURLWithPath: "/state/runs/RUN"),
            seed: seed ? URL(fileURLWithPath: "/state/runs/RUN/seed.iso") : nil)
        definition.run.ownerPID = 4242
        definition.run.host = "builder"
        return definition
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var golden: String
        var profile: String
        var host: HostMachine
        var request = AcceleratorRequest.automatic
        var seed: Bool
        var testDescription: String { golden }
    }

    static let cases: [Case] = [
        .init(golden: "debian12-armhf-tcg-x86_64.xml", profile: "debian12-armhf", host: x86, seed: false),
        .init(golden: "debian12-armhf-kvm-cortex-a72.xml", profile: "debian12-armhf", host: cortexA72, seed: true),
        .init(golden: "debian12-armhf-kvm64-neoverse-n1.xml", profile: "debian12-armhf", host: neoverseN1, seed: false),
        .init(
            golden: "debian12-armhf-tcg64-x86_64.xml", profile: "debian12-armhf", host: x86,
            request: .init(guestKernel: .bits64), seed: false),
        .init(golden: "centos7-armhfp-u-boot-tcg-x86_64.xml", profile: "centos7-armhfp", host: x86, seed: false),
    ]

    @Test(arguments: cases)
    func matchesGoldenFile(_ test: Case) throws {
        let definition = try Self.definition(test.profile, on: test.host, request: test.request, seed: test.seed)
        let xml = DomainXML.render(definition)
        let file = Self.golden.appendingPathComponent(test.golden)
        if ProcessInfo.processInfo.environment["VMTEST_UPDATE_GOLDEN"] != nil {
            try xml.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(xml == expected)
    }

    @Test func kvmOnArmUsesHostPassthroughAndTheAarch64Emulator() throws {
        let xml = DomainXML.render(try Self.definition("debian12-armhf", on: Self.cortexA72))
        #expect(xml.contains("<domain type='kvm'>"))
        #expect(xml.contains("<type arch='armv7l' machine='virt'>hvm</type>"))
        #expect(xml.contains("<cpu mode='host-passthrough'/>"))
        #expect(xml.contains("<emulator>/usr/bin/qemu-system-aarch64</emulator>"))
    }

    @Test func escapesTextAndAttributes() {
        #expect(XMLWriter.escape("a<b & 'c' \"d\">") == "a&lt;b &amp; &apos;c&apos; &quot;d&quot;&gt;")
    }

    @Test func renderingIsDeterministic() throws {
        let make = { DomainXML.render(try Self.definition("centos7-armhfp", on: Self.x86, image: nil)) }
        #expect(try make() == make())
    }

    /// Neoverse N1: the armhf root boots under the 64-bit kernel, even for a U-Boot profile.
    @Test func aHostWithoutAArch32EL1BootsTheCompatKernelUnderKVM() throws {
        for profile in ["debian12-armhf", "centos7-armhfp"] {
            let definition = try Self.definition(profile, on: Self.neoverseN1)
            #expect(definition.arch == .aarch64)
            #expect(definition.accelerator.accelerator == .kvm)
            #expect(
                definition.boot
                    == .directKernel(
                        kernel: Self.compatKernel.kernel, initrd: Self.compatKernel.initrd,
                        commandLine: Self.image.kernelCommandLine! + " oops=panic panic=-1"))
        }
    }
}
