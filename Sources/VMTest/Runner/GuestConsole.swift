import Foundation
import Libvirt

/// A started domain's command console and the shell on it: opened the same way for a
/// run's guest and for a guest booted to be saved.
struct GuestConsole: Sendable {
    let stream: ConsoleStream
    let shell: GuestShell

    /// Opens the console `definition` names; `record` receives every byte it carries.
    static func open(on domain: Domain, _ definition: DomainDefinition, record: (@Sendable ([UInt8]) -> Void)? = nil) async throws
        -> GuestConsole
    {
        let stream = try await domain.openConsole(device: definition.commandConsoleAlias)
        let transport = LibvirtConsoleTransport(stream: stream)
        return GuestConsole(stream: stream, shell: GuestShell(transport: transport, record: record))
    }

    func close() async {
        await shell.stop()
        await stream.close()
    }
}

extension GuestLauncher {
    /// Creates (starts) the domain on the Libvirt layer's workers, timed as `phase`: the one
    /// place a guest is booted from its kernel, for runs and saves alike.
    static func create(
        _ definition: DomainDefinition, on hypervisor: Hypervisor, phases: PhaseRecorder, phase: String = "boot", detail: String
    ) async throws -> Domain {
        let xml = DomainXML.render(definition)
        return try await phases.timed(phase, detail) {
            try await hypervisor.connection.createDomain(xml: xml)
        }
    }
}
