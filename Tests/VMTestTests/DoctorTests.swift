import Foundation
import Testing

@testable import VMTest

/// `vmtest doctor`'s judgements over made-up hosts: no KVM, QEMU or libvirt needed.
@Suite struct DoctorTests {
    static let everyTool: [String: HostFacts.InstalledTool] = Dictionary(
        uniqueKeysWithValues: Doctor.tools.map {
            (
                $0.name,
                HostFacts.InstalledTool(
                    path: "/usr/bin/\($0.name)", version: Doctor.versionedTools.contains($0.name) ? "QEMU emulator version 7.2.22" : nil)
            )
        })

    static func facts(
        _ machine: HostMachine, kvmDevicePresent: Bool? = nil, without missing: Set<String> = [],
        connection: HostFacts.LibvirtFacts.Connection = .connected(uri: "qemu:///embed?root=/state/libvirt/1", hypervisorVersion: "7.2.22"),
        freeBytes: Int64? = 100 << 30
    ) -> HostFacts {
        HostFacts(
            machine: machine, kvmDevicePresent: kvmDevicePresent ?? machine.kvmUsable,
            tools: everyTool.filter { !missing.contains($0.key) },
            files: Set(Doctor.firmware.map(\.path)),
            libvirt: .init(libraryVersion: "9.0.0", requestedURI: nil, connection: connection),
            cacheDirectory: "/home/ci/.cache/vmtest", cacheFreeBytes: freeBytes)
    }

    static let cortexA72 = AcceleratorTests.cortexA72
    static let neoverseN1 = AcceleratorTests.neoverseN1
    static let x86 = HostMachine(architecture: "x86_64", kvmUsable: true, kvmRunsAArch32: nil)
    static let armWithoutKVM = AcceleratorTests.armWithoutKVM

    struct HostCase: Sendable, CustomTestStringConvertible {
        var name: String
        var facts: HostFacts
        var accelerator: Accelerator
        var guestKernel: GuestArchitecture
        var emulator: String
        /// The "runs will use" row's detail mentions this.
        var reasonMentions: String
        /// yes/no for KVM with the 32-bit kernel, KVM with the 64-bit kernel, TCG.
        var ways: [DoctorCheck.Status]
        var testDescription: String { name }
    }

    static let hosts: [HostCase] = [
        .init(
            name: "Cortex-A72: armv7l under KVM with its own kernel", facts: facts(cortexA72), accelerator: .kvm, guestKernel: .armv7l,
            emulator: "qemu-system-aarch64", reasonMentions: "aarch64=off", ways: [.ok, .ok, .ok]),
        .init(
            name: "Neoverse N1: KVM with the 64-bit kernel", facts: facts(neoverseN1), accelerator: .kvm, guestKernel: .aarch64,
            emulator: "qemu-system-aarch64", reasonMentions: "no AArch32 at EL1", ways: [.warn, .ok, .ok]),
        .init(
            name: "x86_64: TCG", facts: facts(x86), accelerator: .tcg, guestKernel: .armv7l,
            emulator: "qemu-system-arm", reasonMentions: "the host is x86_64", ways: [.warn, .warn, .ok]),
        .init(
            name: "aarch64 without /dev/kvm: TCG", facts: facts(armWithoutKVM), accelerator: .tcg, guestKernel: .armv7l,
            emulator: "qemu-system-arm", reasonMentions: "/dev/kvm is missing", ways: [.warn, .warn, .ok]),
    ]

    @Test(arguments: hosts)
    func showsEachWayOfRunningAndTheOneRunsUse(_ test: HostCase) throws {
        let report = Doctor.examine(test.facts)
        #expect(report.accelerator.accelerator == test.accelerator)
        #expect(report.accelerator.guestKernel == test.guestKernel)
        #expect(report.accelerator.emulator == "/usr/bin/\(test.emulator)")
        let used = try #require(report.checks.first { $0.name == "runs will use" })
        #expect(used.status == (test.accelerator == .kvm ? .ok : .warn))
        #expect(used.detail.contains(test.reasonMentions), "\(used.detail)")
        let ways = report.checks.filter { ["KVM, 32-bit guest kernel", "KVM, 64-bit guest kernel", "TCG (emulation)"].contains($0.name) }
        #expect(ways.map(\.status) == test.ways)
        for way in ways { #expect(way.detail.hasPrefix(way.status == .ok ? "yes: " : "no: ")) }
        #expect(report.canRunTarget)
        #expect(report.exitStatus == ExitStatus.success)
        #expect(report.verdict.contains("under \(test.accelerator.rawValue.uppercased()), \(test.guestKernel.rawValue) guest kernel"))
    }

    @Test func missingQEMUSystemArmFailsAndNamesThePackage() throws {
        let report = Doctor.examine(Self.facts(Self.x86, without: ["qemu-system-arm"]))
        let row = try #require(report.checks.first { $0.name == "qemu-system-arm" })
        #expect(row.status == .missing)
        #expect(row.blocking)
        #expect(row.fix == "apt-get install qemu-system-arm")
        #expect(!report.canRunTarget)
        #expect(report.exitStatus == ExitStatus.infrastructure)
        #expect(report.verdict == "debian12-armhf cannot run here: missing qemu-system-arm")
    }

    /// Under KVM on an Arm host the guest runs in qemu-system-aarch64, so that one is needed
    /// and qemu-system-arm is not.
    @Test func theEmulatorNeededFollowsTheAccelerator() {
        let kvm = Doctor.examine(Self.facts(Self.cortexA72, without: ["qemu-system-arm"]))
        #expect(kvm.canRunTarget)
        #expect(kvm.checks.first { $0.name == "qemu-system-arm" }?.status == .warn)
        let missingAarch64 = Doctor.examine(Self.facts(Self.cortexA72, without: ["qemu-system-aarch64"]))
        #expect(missingAarch64.blocking.map(\.name) == ["qemu-system-aarch64"])
    }

    struct MissingCase: Sendable, CustomTestStringConvertible {
        var missing: Set<String>
        var blocking: [String]
        var testDescription: String { missing.sorted().joined(separator: "+") }
    }

    static let missing: [MissingCase] = [
        .init(missing: ["qemu-img"], blocking: ["qemu-img"]),
        .init(missing: ["xorriso"], blocking: []),
        .init(missing: ["genisoimage"], blocking: []),
        .init(missing: ["xorriso", "genisoimage"], blocking: ["xorriso or genisoimage"]),
        .init(missing: ["mmdebstrap"], blocking: []),
        .init(missing: ["passt", "ssh", "scp", "rpm"], blocking: []),
        .init(missing: ["qemu-system-aarch64"], blocking: []),
    ]

    @Test(arguments: missing)
    func onlyWhatTheDefaultProfileNeedsBlocks(_ test: MissingCase) {
        let report = Doctor.examine(Self.facts(Self.x86, without: test.missing))
        #expect(report.blocking.map(\.name) == test.blocking)
        #expect(report.exitStatus == (test.blocking.isEmpty ? 0 : 3))
        for name in test.missing where report.checks.contains(where: { $0.name == name }) {
            let row = report.checks.first { $0.name == name }
            #expect(row?.status != .ok)
            #expect(row?.fix?.hasPrefix("apt-get install ") == true)
        }
    }

    @Test func aLibvirtThatDoesNotConnectBlocks() throws {
        let report = Doctor.examine(Self.facts(Self.x86, connection: .failed("internal error: Failed to load module\nmore")))
        let row = try #require(report.checks.first { $0.name == "libvirt connection" })
        #expect(row.status == .missing)
        #expect(row.detail == "embedded QEMU driver does not connect: internal error: Failed to load module")
        #expect(row.fix?.contains("libvirt-daemon-driver-qemu") == true)
        #expect(report.exitStatus == ExitStatus.infrastructure)
    }

    @Test(arguments: [(Int64(4) << 30, DoctorCheck.Status.warn), (Int64(5) << 30, .ok), (Int64(200) << 30, .ok)])
    func warnsUnderFiveGiBInTheCache(free: Int64, status: DoctorCheck.Status) throws {
        let report = Doctor.examine(Self.facts(Self.x86, freeBytes: free))
        let row = try #require(report.checks.first { $0.name == "free space in cache" })
        #expect(row.status == status)
        #expect(row.detail.hasPrefix(Doctor.formatGiB(free) + " free in /home/ci/.cache/vmtest"))
        #expect(report.canRunTarget, "little disk space is a warning, not a blocker")
    }

    struct KVMDeviceCase: Sendable, CustomTestStringConvertible {
        var machine: HostMachine
        var present: Bool
        var status: DoctorCheck.Status
        var hasFix: Bool
        var testDescription: String { "\(machine.architecture) present=\(present) usable=\(machine.kvmUsable)" }
    }

    static let kvmDevices: [KVMDeviceCase] = [
        .init(machine: cortexA72, present: true, status: .ok, hasFix: false),
        .init(machine: armWithoutKVM, present: true, status: .warn, hasFix: true),
        .init(machine: armWithoutKVM, present: false, status: .warn, hasFix: true),
        .init(
            machine: HostMachine(architecture: "x86_64", kvmUsable: false, kvmRunsAArch32: nil), present: false, status: .ok, hasFix: false),
    ]

    @Test(arguments: kvmDevices)
    func judgesDevKVM(_ test: KVMDeviceCase) throws {
        let report = Doctor.examine(Self.facts(test.machine, kvmDevicePresent: test.present))
        let row = try #require(report.checks.first { $0.name == "/dev/kvm" })
        #expect(row.status == test.status)
        #expect((row.fix != nil) == test.hasFix)
    }

    @Test func missingFirmwareWarnsWithItsPackage() {
        var facts = Self.facts(Self.x86)
        facts.files = []
        let report = Doctor.examine(facts)
        let rows = report.checks.filter { $0.name.hasPrefix("U-Boot") || $0.name.hasPrefix("AAVMF32") }
        #expect(rows.map(\.status) == [.warn, .warn])
        #expect(rows.compactMap(\.fix) == ["apt-get install u-boot-qemu", "apt-get install qemu-efi-arm"])
        #expect(report.canRunTarget)
    }

    @Test func tableAlignsColumnsAndEndsWithTheVerdict() {
        let report = Doctor.examine(Self.facts(Self.neoverseN1, without: ["passt"]))
        let lines = report.table(detailWidth: 40, fixWidth: 30).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("check"))
        let statusColumn = lines[0].range(of: "status")!.lowerBound.utf16Offset(in: lines[0])
        let passt = lines.first { $0.hasPrefix("passt ") }!
        #expect(passt.dropFirst(statusColumn).hasPrefix("warn"))
        #expect(lines.allSatisfy { !$0.hasSuffix(" ") })
        #expect(lines.dropLast().last == "debian12-armhf can run here (armv7l under KVM, aarch64 guest kernel)")
    }

    @Test(arguments: [
        ("one two three", 7, ["one two", "three"]),
        ("a-very-long-word x", 4, ["a-very-long-word", "x"]),
        ("", 10, [""]),
    ])
    func wrapsWords(text: String, width: Int, lines: [String]) {
        let report = Doctor.examine(Self.facts(Self.x86))
        #expect(report.wrap(text, width) == lines)
    }
}
