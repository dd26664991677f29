import Foundation
import Libvirt
import Synchronization

/// The libvirt connection guests are created through, shared by every run in a process
/// (``connect(uri:directories:)``).
///
/// One connection from create to destroy matters: a second connection that destroys a
/// domain right away races libvirt re-attaching to it ("Domain not found"). And the
/// embedded driver keeps global state, so a process has one embedded root, under the
/// state directory and named after the process: leftovers of a dead process are
/// recognisable by that PID alone.
public final class Hypervisor: Sendable {
    public let connection: Connection
    public let uri: String
    /// What `--connect` said; nil for the embedded driver.
    public let requestedURI: String?
    /// The embedded driver's root, when that is what this is.
    let embeddedRoot: URL?
    /// Whether it opens this machine's files, asked once when connecting.
    public let fileSharing: FileSharing
    /// How an SSH channel reaches its guests' forwarded ports.
    public var sshRoute: SSHRoute { SSHRoute(connectURI: requestedURI) }
    /// What its host can do, judged once (``host(directories:)``).
    private let judgedHost = Mutex<HostMachine?>(nil)
    /// vmtest's pool there, opened on first use by a hypervisor that does not share files.
    private let openedStorage = Mutex<HypervisorStorage?>(nil)

    init(connection: Connection, uri: String, requestedURI: String?, embeddedRoot: URL?, fileSharing: FileSharing) {
        self.connection = connection
        self.uri = uri
        self.requestedURI = requestedURI
        self.embeddedRoot = embeddedRoot
        self.fileSharing = fileSharing
    }

    /// vmtest's storage pool on this hypervisor (made when missing, at
    /// `$VMTEST_HYPERVISOR_POOL` or ``HypervisorStorage/defaultPath``): where runs keep
    /// their disks on a hypervisor that does not share this machine's files.
    func storage() async throws -> HypervisorStorage {
        if let opened = openedStorage.withLock({ $0 }) { return opened }
        let path = ProcessInfo.processInfo.environment["VMTEST_HYPERVISOR_POOL"].flatMap { $0.isEmpty ? nil : $0 }
        let storage: HypervisorStorage
        do {
            storage = try await HypervisorStorage.open(on: connection, path: path ?? HypervisorStorage.defaultPath)
        } catch {
            throw HypervisorStorageError(uri: uri, cause: error)
        }
        openedStorage.withLock { $0 = storage }
        return storage
    }

    /// The machine this hypervisor runs guests on, judged by itself (``HypervisorJudge``)
    /// the first time it is asked.
    public func host(directories: Directories) async throws -> HostMachine {
        if let known = judgedHost.withLock({ $0 }) { return known }
        let host = try await HypervisorJudge.judge(self, directories: directories)
        judgedHost.withLock { $0 = host }
        return host
    }

    /// Readies this process to start guests under `accelerator`. On the embedded driver
    /// QEMU is this process's child, and under TCG it starts without transparent huge
    /// pages. QEMU asks for them for guest RAM, and the kernel zeroes a whole 2 MiB page
    /// wherever one 4 KiB page lands in it: a restore writes a booted guest's 170 MB spread
    /// over its 1 GiB, and the guest's first writes after it land in fresh pages too, so
    /// the kernel zeroed nearly all of it, and compacted memory for it once the host's was
    /// fragmented (zeroing alone was a quarter of a 4-set night's CPU time). Under TCG the
    /// huge pages buy little: every guest access goes through QEMU's own TLB. Measured on
    /// this 2-core machine, in turn: four warm runs at `--parallel 4` 7.2-8.2 s against
    /// 9.7-12.6 s (five nights each), a lone warm run 2.57-2.72 s against 3.34-4.25 s (the
    /// restore 0.49-0.58 against 0.73-1.61 s, the guest's commands 1.39-1.46 against
    /// 1.80-2.06 s; five runs each). Under KVM, huge pages keep the guest's stage-2 tables
    /// small: left as they are.
    func prepareForGuests(under accelerator: Accelerator) {
        guard embeddedRoot != nil, accelerator == .tcg else { return }
        TransparentHugePages.disableForThisProcessAndWhatItStarts()
    }

    /// Records what a guest start found out: the cores refused a 32-bit vCPU after all.
    func learnNoAArch32EL1(evidence: String) {
        judgedHost.withLock {
            $0?.kvmRunsAArch32 = false
            $0?.aarch32Evidence = evidence
        }
    }

    /// The connection for `uri`, or for this process's embedded root when `uri` is nil:
    /// opened on first use, then shared (``HypervisorCache``).
    public static func connect(uri: String?, directories: Directories) async throws -> Hypervisor {
        try await HypervisorCache.shared.hypervisor(for: uri, directories: directories)
    }

    /// Opens a new connection; ``connect(uri:directories:)`` makes sure it happens once.
    static func open(uri: String?, directories: Directories) async throws -> Hypervisor {
        if let uri {
            let connection = try await openDaemon(uri: uri)
            let sharing = await FileSharing.probe(connection, uri: uri, directories: directories)
            return Hypervisor(connection: connection, uri: uri, requestedURI: uri, embeddedRoot: nil, fileSharing: sharing)
        }
        let root = embeddedRoot(for: getpid(), in: directories)
        let prepared = try EmbeddedLibvirtRoot.prepare(at: root, sharedCapabilities: sharedCapabilities(in: directories))
        let connection = try await Connection.open(uri: prepared.uri)
        // The host's capabilities name the guests each QEMU can run, so libvirt reads (or
        // probes) its QEMU capability cache to answer: the cache is then as every process
        // first reads it, the one to keep (``EmbeddedLibvirtRoot/shareCapabilities(to:)``).
        _ = try? await connection.capabilities()
        prepared.shareCapabilities(to: sharedCapabilities(in: directories))
        return Hypervisor(connection: connection, uri: prepared.uri, requestedURI: nil, embeddedRoot: root, fileSharing: .shared)
    }

    /// Opens a connection to the libvirt named by `--connect`, saying which URI failed:
    /// libvirt's own message names at most a host and port.
    static func openDaemon(uri: String) async throws(HypervisorConnectionError) -> Connection {
        do {
            return try await Connection.open(uri: uri)
        } catch {
            throw HypervisorConnectionError(uri: uri, cause: error)
        }
    }

    /// Whether the hypervisor at `uri` runs on this machine, so sees its files and its
    /// loopback: a URI without a host, or naming localhost.
    static func isOnThisMachine(_ uri: String) -> Bool {
        guard let parsed = URLComponents(string: uri) else { return false }
        return (parsed.host ?? "").isEmpty || parsed.host == "localhost" || parsed.host == "127.0.0.1"
    }

    static func embeddedRoot(for pid: Int32, in directories: Directories) -> URL {
        directories.state.appendingPathComponent("libvirt").appendingPathComponent(String(pid))
    }

    static func sharedCapabilities(in directories: Directories) -> URL {
        directories.state.appendingPathComponent("libvirt-capabilities")
    }

    /// Removes this process's embedded root if no guest is left in it. Called when the
    /// command ends; a root left by a crashed process is removed by `vmtest clean`.
    public static func closeAll(directories: Directories) async {
        for hypervisor in await HypervisorCache.shared.removeAll() {
            if let root = hypervisor.embeddedRoot, (try? await hypervisor.connection.domains().isEmpty) ?? false {
                try? FileManager.default.removeItem(at: root)
            }
        }
    }
}

/// vmtest's storage pool on a hypervisor that does not share this machine's files could
/// not be made or started: an infrastructure failure.
public struct HypervisorStorageError: Error, Sendable, CustomStringConvertible {
    public var uri: String
    public var cause: LibvirtError

    public var description: String {
        """
        cannot use vmtest's storage pool '\(HypervisorStorage.name)' on \(uri): \(cause.message)
          fix: the hypervisor keeps a run's disks there; give it a directory QEMU may read and write (VMTEST_HYPERVISOR_POOL=/path, default \(HypervisorStorage.defaultPath)), or check `virsh -c '\(uri)' pool-info \(HypervisorStorage.name)`
        """
    }
}

/// The libvirt given with `--connect` could not be reached: an infrastructure failure.
public struct HypervisorConnectionError: Error, Sendable, CustomStringConvertible {
    public var uri: String
    public var cause: LibvirtError

    public var description: String {
        """
        cannot connect to libvirt at \(uri): \(cause.message)
          fix: start the libvirt daemon there, or correct --connect (`virsh -c '\(uri)' list` tries the same connection)
        """
    }
}
