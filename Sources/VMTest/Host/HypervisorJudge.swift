import Foundation
import Libvirt

/// Finds out what a hypervisor's host can do for Arm guests, through libvirt alone.
///
/// A hypervisor on this machine (the embedded driver, `qemu:///system`) is this machine,
/// asked directly. Any URI naming a host, even 127.0.0.1, may be another machine (an
/// emulated Arm host forwards its daemon to a loopback port), so it is judged by what its
/// libvirt says: the capabilities give architecture, CPU and whether KVM is offered, and
/// whether its cores run AArch32 at EL1 is found by starting a paused throw-away KVM
/// armv7l domain. QEMU creates the vCPUs at start and refuses precisely ("'aarch64'
/// feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported"), and
/// nothing of the guest ever runs. The answer is remembered per hypervisor, in the
/// process and in the state directory, keyed by the capabilities it was found with.
enum HypervisorJudge {
    /// QEMU's words when the cores cannot run a 32-bit vCPU under KVM.
    static let noAArch32EL1Message = "32-bit EL1 is supported"

    static func judge(_ hypervisor: Hypervisor, directories: Directories) async throws -> HostMachine {
        if isThisMachine(uri: hypervisor.requestedURI) { return HostMachine.current() }
        let connection = hypervisor.connection
        let capabilities = try await connection.capabilities()
        var host = HypervisorCapabilities(xml: capabilities).host
        guard host.architecture == "aarch64", host.kvmUsable else { return host }

        let memory = JudgementFile(directories: directories, uri: hypervisor.uri, capabilities: capabilities)
        if let remembered = memory.load() { return remembered }
        let (supported, evidence) = await probeAArch32EL1(connection)
        host.kvmRunsAArch32 = supported
        host.aarch32Evidence = evidence
        if supported != nil { memory.save(host) }
        return host
    }

    /// No host in the URI: the embedded driver or a daemon on this machine's socket.
    static func isThisMachine(uri: String?) -> Bool {
        guard let uri else { return true }
        guard let components = URLComponents(string: uri) else { return false }
        return (components.host ?? "").isEmpty
    }

    /// Starts and destroys a paused KVM armv7l domain with a host-passthrough vCPU.
    static func probeAArch32EL1(_ connection: Connection) async -> (Bool?, String) {
        let name = "vmtest-probe-aarch32-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        let xml = """
            <domain type='kvm'>
              <name>\(name)</name>
              <memory unit='MiB'>32</memory>
              <vcpu>1</vcpu>
              <os><type arch='armv7l' machine='virt'>hvm</type></os>
              <cpu mode='host-passthrough'/>
              <on_poweroff>destroy</on_poweroff>
              <devices><emulator>/usr/bin/qemu-system-aarch64</emulator><memballoon model='none'/></devices>
            </domain>
            """
        let started: Result<Void, LibvirtError>
        do {
            let domain = try await connection.createDomain(xml: xml, flags: [.startPaused, .autodestroy])
            _ = try? await domain.destroyIfRunning()
            started = .success(())
        } catch {
            started = .failure(error)
        }
        switch started {
        case .success:
            return (true, "a paused KVM armv7l vCPU (host-passthrough, aarch64=off) started on the hypervisor")
        case .failure(let error) where error.message.contains(noAArch32EL1Message):
            return (false, "QEMU on the hypervisor refused a KVM armv7l vCPU: \(Self.quoted(error.message))")
        case .failure(let error):
            return (nil, "the AArch32 probe domain failed for another reason: \(Self.quoted(error.message))")
        }
    }

    /// QEMU's own words from libvirt's error, which wraps them in context and a timestamp
    /// ("internal error: qemu unexpectedly closed the monitor: 2026-...Z qemu-system-aarch64: ...").
    static func quoted(_ message: String) -> String {
        let line = message.split(separator: "\n").last.map(String.init) ?? message
        let own = line.range(of: "qemu-system-", options: .backwards).map { String(line[$0.lowerBound...]) } ?? line
        return own.count > 300 ? String(own.prefix(300)) + "..." : own
    }
}

/// The parts of libvirt's capabilities XML that say how Arm guests can run.
struct HypervisorCapabilities {
    var host: HostMachine

    init(xml: String) {
        let hostSection = Self.section("host", in: xml) ?? ""
        let cpuSection = Self.section("cpu", in: hostSection) ?? ""
        let architecture = Self.text(of: "arch", in: cpuSection) ?? "unknown"
        // A guest section for the host's own architecture offering domain type kvm.
        var kvm = false
        var rest = Substring(xml)
        while let range = rest.range(of: "<guest>") {
            let after = rest[range.upperBound...]
            let end = after.range(of: "</guest>")?.lowerBound ?? after.endIndex
            let guest = after[..<end]
            if guest.contains("<arch name='\(architecture)'>"), guest.contains("<domain type='kvm'") { kvm = true }
            rest = after[end...]
        }
        // "cortex-a57, ARM": what a saved guest's restore depends on, and what doctor shows.
        let cpu = ["model", "vendor"].compactMap { Self.text(of: $0, in: cpuSection) }.joined(separator: ", ")
        host = HostMachine(architecture: architecture, kvmUsable: kvm, kvmRunsAArch32: nil, cpu: cpu)
    }

    static func section(_ tag: String, in text: some StringProtocol) -> String? {
        guard let start = text.range(of: "<\(tag)>"), let end = text[start.upperBound...].range(of: "</\(tag)>") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    static func text(of tag: String, in text: String) -> String? {
        section(tag, in: text)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A hypervisor's judged host, remembered in the state directory for as long as its
/// capabilities stay the same (a new QEMU, libvirt or host changes them).
struct JudgementFile {
    let url: URL
    let capabilitiesHash: String

    init(directories: Directories, uri: String, capabilities: String) {
        url = directories.state.appendingPathComponent("hypervisors").appendingPathComponent(StableHash.fnv1a(Data(uri.utf8)) + ".json")
        capabilitiesHash = StableHash.fnv1a(Data(capabilities.utf8))
    }

    private struct Record: Codable {
        var capabilities: String
        var host: HostMachine
    }

    func load() -> HostMachine? {
        guard let data = try? Data(contentsOf: url), let record = try? ManifestJSON.decoder.decode(Record.self, from: data),
            record.capabilities == capabilitiesHash
        else { return nil }
        return record.host
    }

    func save(_ host: HostMachine) {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard let data = try? ManifestJSON.encoder.encode(Record(capabilities: capabilitiesHash, host: host)) else { return }
        let scratch = url.appendingPathExtension("\(getpid()).tmp")
        guard (try? data.write(to: scratch)) != nil else { return }
        _ = rename(scratch.path, url.path)
    }
}
