import Foundation
import Synchronization
import Testing

@testable import Libvirt

/// The real thing: QEMU started by libvirt's embedded driver (`qemu:///embed`), which
/// needs no daemon and keeps all its state under a directory of our own.
///
/// libvirt allows one embedded root per process and keeps it open once opened, so
/// everything here runs in one test, in one root that is removed afterwards.
@Suite("embedded QEMU driver", .enabled(if: EmbeddedQEMU.isAvailable))
struct EmbeddedQEMUTests {
    @Test(.timeLimit(.minutes(3)))
    func realGuests() async throws {
        try await EmbeddedQEMU.withConnection { connection, root in
            // Not hypervisorVersion(): the embedded driver answers it with the emulator for
            // the host's architecture, and only qemu-system-arm is installed here.
            #expect(try await connection.capabilities().contains("armv7l"))
            try await consoleRoundTripAndLifecycle(connection, root: root)
            try await closingTheConsoleEndsItsByteStream(connection, root: root)
            try await aQEMUEndedAheadOfItsDestroyIsReapedBeforeLibvirtSeesItGo(connection, root: root)
        }
    }

    /// Boots the echo guest, talks to it over the console, destroys it, and checks that
    /// the console ends, the stop event arrives and QEMU is gone.
    func consoleRoundTripAndLifecycle(_ connection: Connection, root: URL) async throws {
        let events = try await connection.lifecycleEvents()
        let name = uniqueDomainName("vmtest-libvirt")
        let xml = EmbeddedQEMU.domainXML(name: name, root: root)
        let domain = try await connection.createDomain(xml: xml, flags: .startPaused)
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }

        let started = try await firstEvent(.started, for: name, in: events)
        #expect(started.domainUUID == domain.uuid)
        #expect(try await domain.state().state == .paused)
        #expect(domain.id != nil)
        #expect(try await connection.domains().contains { $0.name == name })
        #expect(try await domain.xmlDescription().contains("<console type='pty'"))

        let pid = try #require(try EmbeddedQEMU.pid(of: name, root: root))
        #expect(EmbeddedQEMU.isRunning(pid))

        let namespace = "https://example.org/vmtest/test"
        try await domain.setMetadata(#"<run id="1"/>"#, key: "vmtest", namespaceURI: namespace)
        #expect(try await domain.metadata(namespaceURI: namespace)?.contains(#"id="1""#) == true)

        let console = try await domain.openConsole()
        defer { Task { await console.close() } }
        let transcript = Transcript()
        let reader = Task { try await transcript.record(console.bytes) }

        // Attached before the guest ran a single instruction, so its greeting can't be
        // missed.
        try await domain.resume()
        _ = try await firstEvent(.resumed, for: name, in: events)
        #expect(try await domain.state().state == .running)
        try await transcript.waitFor("OK\n")
        try await console.write("ping 1\r")
        try await transcript.waitFor("ping 1")
        try await console.write(Array("ping 2\r".utf8))
        try await transcript.waitFor("ping 2")

        try await domain.destroy()
        // The console hangs up when QEMU exits, which ends the byte stream cleanly.
        try await withTimeout(seconds: 10) { try await reader.value }
        let stopped = try await firstEvent(.stopped, for: name, in: events)
        #expect(stopped.domainUUID == domain.uuid)
        #expect(try await connection.domain(named: name) == nil)
        #expect(try await domain.destroyIfRunning() == false)

        try await withTimeout(seconds: 10) {
            while EmbeddedQEMU.isRunning(pid) {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // Writing to a console whose guest is gone fails instead of hanging.
        await #expect(throws: LibvirtError.self) {
            try await console.write("anyone there?")
        }
    }

    /// Closing our side ends the byte stream, is idempotent, and lets the console be
    /// opened again.
    func closingTheConsoleEndsItsByteStream(_ connection: Connection, root: URL) async throws {
        let name = uniqueDomainName("vmtest-libvirt-close")
        let domain = try await connection.createDomain(
            xml: EmbeddedQEMU.domainXML(name: name, root: root))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }

        let console = try await domain.openConsole(device: "serial0")
        let reader = Task { for try await _ in console.bytes {} }
        await console.close()
        await console.close()
        try await withTimeout(seconds: 10) { try await reader.value }
        await #expect(throws: LibvirtError.self) { try await console.write("x") }

        // VIR_DOMAIN_CONSOLE_FORCE: taking the console over from another stream works.
        let first = try await domain.openConsole()
        let second = try await domain.openConsole()
        let transcript = Transcript()
        let secondReader = Task { try await transcript.record(second.bytes) }
        try await second.write("again\r")
        try await transcript.waitFor("again")
        await first.close()
        await second.close()
        try await withTimeout(seconds: 10) { try await secondReader.value }

        #expect(try await domain.state().state == .running)
        try await domain.destroy()
    }
}

extension EmbeddedQEMUTests {
    /// ``EndingQEMU``: with its sockets held, QEMU ends and is reaped while libvirt still
    /// counts the domain as active, so the destroy after it finds no process to wait for;
    /// once the copies close, nothing of the domain is left.
    func aQEMUEndedAheadOfItsDestroyIsReapedBeforeLibvirtSeesItGo(_ connection: Connection, root: URL) async throws {
        let name = uniqueDomainName("vmtest-libvirt-ending")
        let domain = try await connection.createDomain(xml: EmbeddedQEMU.domainXML(name: name, root: root))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }
        let pidFile = EndingQEMU.pidFile(domainNamed: name, embeddedRoot: root)
        let pid = try #require(try EmbeddedQEMU.pid(of: name, root: root))

        let ending = try #require(EndingQEMU(domainNamed: name, embeddedRoot: root), "an adopted QEMU whose sockets this process may copy")
        ending.end(within: .seconds(30))
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)"), "ended and reaped")
        // QEMU said on its monitor that a signal shuts it down; its monitor has not closed.
        let state = try await domain.state().state
        #expect(state == .shuttingDown, "libvirt has not seen QEMU's monitor close: \(state)")
        #expect(EndingQEMU(domainNamed: name, embeddedRoot: root) == nil, "nothing left to end")

        try await domain.destroy()
        ending.closeSockets()
        #expect(try await connection.domain(named: name) == nil)
        #expect(!FileManager.default.fileExists(atPath: pidFile.path))
    }
}

/// Everything a console printed, for tests that wait for a string to appear.
final class Transcript: Sendable {
    private let bytes = Mutex<[UInt8]>([])

    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }

    func record(_ stream: AsyncThrowingStream<[UInt8], any Error>) async throws {
        for try await chunk in stream {
            bytes.withLock { $0 += chunk }
        }
    }

    func waitFor(_ needle: String, seconds: Double = 10) async throws {
        try await withTimeout(seconds: seconds) {
            while !self.text.contains(needle) {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}

enum EmbeddedQEMU {
    static let emulator = "/usr/bin/qemu-system-arm"

    static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: emulator)
    }

    /// Opens `qemu:///embed` in a fresh root configured to run QEMU as the current
    /// (root) user, runs `body`, then closes the connection and removes the root.
    static func withConnection(
        _ body: (Connection, URL) async throws -> Void
    ) async throws {
        let root = FileManager.default.temporaryDirectory
            .appending(path: "vmtest-libvirt-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let config = """
            user = "root"
            group = "root"
            stdio_handler = "file"
            remember_owner = 0

            """
        for directory in ["etc", "etc/qemu"] {
            let url = root.appending(path: directory)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try config.write(
                to: url.appending(path: "qemu.conf"), atomically: true, encoding: .utf8)
        }
        try Data(
            echoGuest.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) }
            }
        )
        .write(to: root.appending(path: "echo.bin"))
        try await body(try await Connection.open(uri: "qemu:///embed?root=\(root.path)"), root)
    }

    /// A bare-metal ARM program, loaded as the "kernel": it prints "OK\n" on the virt
    /// machine's PL011 UART (0x09000000), then echoes every byte it receives. No disk,
    /// no firmware, and it boots in milliseconds.
    static let echoGuest: [UInt32] = [
        0xE3A0_1409,  //        mov   r1, #0x09000000   UART base
        0xE3A0_004F,  //        mov   r0, #'O'
        0xE581_0000,  //        str   r0, [r1]          UARTDR
        0xE3A0_004B,  //        mov   r0, #'K'
        0xE581_0000,  //        str   r0, [r1]
        0xE3A0_000A,  //        mov   r0, #'\n'
        0xE581_0000,  //        str   r0, [r1]
        0xE591_2018,  // wait:  ldr   r2, [r1, #0x18]   UARTFR
        0xE312_0010,  //        tst   r2, #0x10         RXFE: receive FIFO empty
        0x1AFF_FFFC,  //        bne   wait
        0xE591_0000,  //        ldr   r0, [r1]
        0xE581_0000,  //        str   r0, [r1]
        0xEAFF_FFF9,  //        b     wait
    ]

    static func domainXML(name: String, root: URL) -> String {
        """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='armv7l' machine='virt'>hvm</type>
            <kernel>\(root.appending(path: "echo.bin").path)</kernel>
          </os>
          <cpu mode='custom' match='exact'><model>cortex-a15</model></cpu>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <emulator>\(emulator)</emulator>
            <serial type='pty'><target port='0'/></serial>
            <console type='pty'><target type='serial' port='0'/></console>
          </devices>
        </domain>
        """
    }

    /// The PID of domain `name`'s QEMU, from the driver's pid file.
    static func pid(of name: String, root: URL) throws -> Int32? {
        Int32(
            try String(contentsOf: EndingQEMU.pidFile(domainNamed: name, embeddedRoot: root), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Whether `pid` is a live (not zombie) process.
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ")
        else { return false }
        return !stat[afterName.upperBound...].hasPrefix("Z")
    }
}
