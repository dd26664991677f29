import Foundation
import Libvirt

/// What `vmtest --version` prints: vmtest's own version and the libvirt library and
/// QEMU emulator a run on this host would use, so a bug report names all three.
public struct VersionReport: Sendable, Hashable {
    /// vmtest's version; `script/install` and `script/package` take the packages' version from it.
    public static let vmtest = "0.9.0"

    /// The libvirt library loaded into this process (`virGetVersion`); nil if it would not say.
    public var libvirt: String?
    /// The emulator a debian12-armhf guest would run in on this host.
    public var emulator: String
    /// The first line of its `--version`; nil when it is not installed or failed.
    public var qemu: String?

    public init(libvirt: String?, emulator: String, qemu: String?) {
        self.libvirt = libvirt
        self.emulator = emulator
        self.qemu = qemu
    }

    /// Asks libvirt and the emulator the accelerator choice picks for an armv7l guest here.
    /// Does not open a libvirt connection (the embedded driver's first probe takes seconds).
    public static func gather(host: HostMachine = .current()) async -> VersionReport {
        // The automatic choice cannot be refused: only forced requests are.
        let emulator = (try? AcceleratorChoice.choose(for: Doctor.defaultProfile.arch, on: host).emulator) ?? "/usr/bin/qemu-system-arm"
        let output = try? await ExternalTool.emulator(emulator).run(["--version"], outputLimit: 64 << 10)
        return VersionReport(
            libvirt: (try? Connection.libraryVersion())?.description,
            emulator: emulator,
            qemu: output.flatMap { $0.split(separator: "\n").first.map(String.init) })
    }

    public var text: String {
        """
        vmtest \(Self.vmtest)
        libvirt \(libvirt ?? "unknown (the library would not give its version)")
        \(qemu.map { "\($0) (\(emulator))" } ?? "QEMU: \(emulator) is not installed (apt-get install qemu-system-arm)")

        """
    }
}
