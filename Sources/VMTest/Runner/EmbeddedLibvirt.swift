import Foundation

/// A private root for libvirt's embedded QEMU driver (`qemu:///embed?root=DIR`).
///
/// The embedded driver runs inside this process, so no libvirtd is needed. libvirt
/// allows one embedded root per process, so each vmtest process gets its own, named
/// after its PID (``Hypervisor``), and every run of that process shares it: two vmtest
/// processes never trip over each other's driver state, the process removes its root
/// when it ends with no guest left in it, and `vmtest clean` removes the roots of dead
/// processes.
struct EmbeddedLibvirtRoot {
    let root: URL

    var uri: String { "qemu:///embed?root=\(root.path)" }

    /// libvirt's cache of what each QEMU binary can do, one file per binary.
    var capabilities: URL { root.appendingPathComponent("cache/qemu/capabilities") }

    /// Creates the root with vmtest's `qemu.conf`, seeding the QEMU capability cache
    /// from earlier runs so the driver need not probe QEMU again (2.4 s measured here).
    static func prepare(at root: URL, sharedCapabilities: URL) throws -> EmbeddedLibvirtRoot {
        guard root.path.utf8.count <= longestRoot else { throw EmbeddedRootTooLong(root: root) }
        let fileManager = FileManager.default
        for directory in ["etc/qemu", "cache/qemu"] {
            try fileManager.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        let config = qemuConfiguration(runningAsRoot: getuid() == 0)
        // libvirt reads etc/qemu.conf for the driver and etc/qemu/qemu.conf for some paths.
        try config.write(to: root.appendingPathComponent("etc/qemu.conf"), atomically: true, encoding: .utf8)
        try config.write(to: root.appendingPathComponent("etc/qemu/qemu.conf"), atomically: true, encoding: .utf8)
        let prepared = EmbeddedLibvirtRoot(root: root)
        if fileManager.fileExists(atPath: sharedCapabilities.path) {
            try? fileManager.copyItem(at: sharedCapabilities, to: prepared.capabilities)
        }
        return prepared
    }

    /// The longest root whose guests' QEMU monitor sockets,
    /// `ROOT/lib/qemu/domain-ID-NAME/monitor.sock` (libvirt cuts NAME to 20 characters;
    /// IDs of up to 4 digits), fit the 107 bytes of a UNIX socket's path. A longer one
    /// failed every guest start, with libvirt naming only the socket.
    static let longestRoot = 107 - "/lib/qemu/domain-9999-".utf8.count - 20 - "/monitor.sock".utf8.count

    /// Keeps this root's capability cache for later processes wherever it differs from
    /// the kept one. Called once libvirt has read or probed it, before any guest starts.
    ///
    /// libvirt takes a cache as current only if it was probed under the same libvirt, which
    /// it dates by the newest of the libvirt modules loaded so far. A guest's start loads
    /// the file storage module, installed a second after the QEMU driver here, and the
    /// next guest start then probes QEMU again: the cache before any guest starts is the
    /// one every process reads first. vmtest used to keep the first cache a process ended
    /// with, after its guests, for good; once a run had saved a guest, every warm run after
    /// it probed QEMU again (0.35 s of each here).
    func shareCapabilities(to shared: URL) {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: capabilities.path) else { return }
        try? fileManager.createDirectory(at: shared, withIntermediateDirectories: true)
        // One file per QEMU binary, each replaced at once (an atomic write), so a process
        // copying the folder meanwhile reads either cache whole.
        for name in names where name.hasSuffix(".xml") {
            guard let cache = try? Data(contentsOf: capabilities.appendingPathComponent(name)) else { continue }
            let kept = shared.appendingPathComponent(name)
            if (try? Data(contentsOf: kept)) != cache { try? cache.write(to: kept, options: .atomic) }
        }
    }

    /// - `stdio_handler = "file"`: QEMU writes its own logs; there is no virtlogd.
    /// - `remember_owner = 0`: no XATTRs on images (silences warnings, and the base is read-only).
    /// - `security_driver = "none"`, `namespaces = []`: throw-away test guests on
    ///   files this user owns need no labelling and no private /dev.
    static func qemuConfiguration(runningAsRoot: Bool) -> String {
        var lines = [
            "# Written by vmtest for libvirt's embedded QEMU driver.",
            "stdio_handler = \"file\"",
            "remember_owner = 0",
            "security_driver = \"none\"",
            "namespaces = []",
        ]
        if runningAsRoot {
            // Otherwise libvirt would run QEMU as libvirt-qemu, which cannot read
            // images under root's home.
            lines += ["user = \"root\"", "group = \"root\"", "dynamic_ownership = 0"]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The state folder is too deep for the embedded driver's sockets (bad input: the
/// folder is the person's choice, through `VMTEST_STATE_DIR` or `XDG_STATE_HOME`).
struct EmbeddedRootTooLong: BadInputError, CustomStringConvertible {
    var root: URL

    var description: String {
        let over = root.path.utf8.count - EmbeddedLibvirtRoot.longestRoot
        return """
            the embedded libvirt driver's folder \(root.path) is \(over) character(s) too long: QEMU's monitor socket inside \
            it would pass the 107 bytes a UNIX socket's path may have
              fix: set VMTEST_STATE_DIR to a shorter folder (\(over) fewer characters at least), e.g. /var/tmp/vmtest
            """
    }
}
