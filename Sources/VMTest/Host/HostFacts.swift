import Foundation
import Libvirt

/// What `vmtest doctor` found out about this host: plain values, gathered once by
/// ``gather(connectURI:directories:probe:)`` and judged by ``Doctor``, so every judgement
/// can be tested with made-up hosts.
public struct HostFacts: Sendable, Hashable {
    public var machine: HostMachine
    /// `/dev/kvm` exists (whether or not this process may open it: `machine.kvmUsable`).
    public var kvmDevicePresent: Bool
    /// The tools found on `PATH`, by name; a tool not here is not installed.
    public var tools: [String: InstalledTool]
    /// Which of ``Doctor/firmware``'s files exist.
    public var files: Set<String>
    public var libvirt: LibvirtFacts
    /// Where base images go, and the bytes free for this user there (nil: unknown).
    public var cacheDirectory: String
    public var cacheFreeBytes: Int64?

    public init(
        machine: HostMachine, kvmDevicePresent: Bool, tools: [String: InstalledTool], files: Set<String>,
        libvirt: LibvirtFacts, cacheDirectory: String, cacheFreeBytes: Int64?
    ) {
        self.machine = machine
        self.kvmDevicePresent = kvmDevicePresent
        self.tools = tools
        self.files = files
        self.libvirt = libvirt
        self.cacheDirectory = cacheDirectory
        self.cacheFreeBytes = cacheFreeBytes
    }

    public struct InstalledTool: Sendable, Hashable {
        public var path: String
        /// The first line of `--version`, for the tools that have one worth showing.
        public var version: String?

        public init(path: String, version: String? = nil) {
            self.path = path
            self.version = version
        }
    }

    public struct LibvirtFacts: Sendable, Hashable {
        /// The libvirt library vmtest is linked with (`virGetVersion`); nil if it would not say.
        public var libraryVersion: String?
        /// The URI asked for; nil means the embedded QEMU driver.
        public var requestedURI: String?
        public var connection: Connection

        public enum Connection: Sendable, Hashable {
            case connected(uri: String, hypervisorVersion: String?)
            case failed(String)
        }

        public init(libraryVersion: String?, requestedURI: String?, connection: Connection) {
            self.libraryVersion = libraryVersion
            self.requestedURI = requestedURI
            self.connection = connection
        }
    }
}

extension HostFacts {
    /// Looks at this host: KVM, the tools ``Doctor`` checks and their versions, firmware,
    /// libvirt (opening the connection, which takes seconds the first time the embedded
    /// driver probes QEMU), and free space in the cache directory.
    public static func gather(
        connectURI: String?, directories: Directories
    ) async -> HostFacts {
        var tools: [String: InstalledTool] = [:]
        for tool in Doctor.tools {
            guard let path = tool.path else { continue }
            var version: String?
            if Doctor.versionedTools.contains(tool.name) {
                let output = try? await tool.run(["--version"], outputLimit: 64 << 10)
                version = output.flatMap { $0.split(separator: "\n").first.map(String.init) }
            }
            tools[tool.name] = InstalledTool(path: path, version: version)
        }
        let connected: Result<Hypervisor, any Error>
        do {
            connected = .success(try await Hypervisor.connect(uri: connectURI, directories: directories))
        } catch {
            connected = .failure(error)
        }
        let connection: LibvirtFacts.Connection
        var machine = HostMachine.current()
        switch connected {
        case .success(let hypervisor):
            let version = try? await hypervisor.connection.hypervisorVersion()
            connection = .connected(uri: hypervisor.uri, hypervisorVersion: version.map(\.description))
            // The hypervisor's host, judged by itself: for a remote one, not this machine.
            if let judged = try? await hypervisor.host(directories: directories) { machine = judged }
        case .failure(let error):
            connection = .failed("\(error)")
        }
        return HostFacts(
            machine: machine,
            kvmDevicePresent: FileManager.default.fileExists(atPath: "/dev/kvm"),
            tools: tools,
            files: Set(Doctor.firmware.map(\.path).filter { FileManager.default.fileExists(atPath: $0) }),
            libvirt: LibvirtFacts(
                libraryVersion: (try? Libvirt.Connection.libraryVersion())?.description,
                requestedURI: connectURI, connection: connection),
            cacheDirectory: directories.cache.path,
            cacheFreeBytes: freeBytes(at: directories.cache))
    }

    /// Bytes an unprivileged user may still write on the file system holding `directory`,
    /// or its nearest existing parent (the cache may not exist yet).
    static func freeBytes(at directory: URL) -> Int64? {
        var candidate = directory.standardizedFileURL
        while !FileManager.default.fileExists(atPath: candidate.path), candidate.path != "/" {
            candidate.deleteLastPathComponent()
        }
        var stats = statvfs()
        guard statvfs(candidate.path, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}
