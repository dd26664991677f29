internal import CLibvirt
import Foundation
import Synchronization

/// A version number as libvirt reports it: `major * 1_000_000 + minor * 1_000 + release`.
public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var release: Int

    public init(major: Int, minor: Int, release: Int) {
        self.major = major
        self.minor = minor
        self.release = release
    }

    /// Decodes libvirt's packed form, e.g. 9000000 is 9.0.0.
    public init(packed: UInt) {
        self.init(
            major: Int(packed / 1_000_000), minor: Int(packed / 1_000 % 1_000),
            release: Int(packed % 1_000))
    }

    public static func < (lhs: Version, rhs: Version) -> Bool {
        (lhs.major, lhs.minor, lhs.release) < (rhs.major, rhs.minor, rhs.release)
    }

    public var description: String { "\(major).\(minor).\(release)" }
}

/// An open, read-write connection to a libvirt driver.
///
/// libvirt connections are internally locked and may be used from any thread, so this
/// class is `Sendable`. Every call that may block (a round trip to a daemon, QEMU
/// starting or stopping) is `async` and runs on ``LibvirtWorkers``, never on a thread of
/// Swift's cooperative pool. The connection closes when the last reference goes away;
/// objects obtained from it (domains, streams) keep it alive.
///
/// The corresponding libvirt type is `virConnectPtr`.
public final class Connection: Sendable {
    /// Immutable after init, and libvirt serialises access to what it points to.
    nonisolated(unsafe) let pointer: OpaquePointer
    /// Lifecycle callbacks whose subscriptions ended, not yet removed from libvirt
    /// (``lifecycleEvents()``); the lock also orders their removal before a new one.
    let endedSubscriptions = Mutex<[Int32]>([])
    /// Who waits for the connection to close (``closed()``).
    let closeWatch = CloseWatch()
    /// The folder of libvirt's embedded QEMU driver, whose QEMUs this process reaps.
    let embeddedRoot: URL?

    private init(pointer: OpaquePointer, embeddedRoot: URL?) {
        self.pointer = pointer
        self.embeddedRoot = embeddedRoot
    }

    /// Opens a read-write connection to any libvirt URI: `test:///default`,
    /// `qemu:///system`, `qemu:///embed?root=/some/dir`, ...
    ///
    /// The event loop is started first, because the embedded QEMU driver requires it at
    /// open time and streams and events need it later. Opening the QEMU driver probes the
    /// emulator, which takes seconds the first time, so it runs on ``LibvirtWorkers``.
    ///
    /// The corresponding libvirt function is `virConnectOpen`.
    public static func open(uri: String) async throws(LibvirtError) -> Connection {
        // The embedded driver's QEMUs are this process's to reap (``AdoptedDaemons``),
        // from the capabilities probe that opening may start.
        let embedded = uri.hasPrefix("qemu:///embed")
        if embedded { _ = AdoptedDaemons.areReaped }
        let embeddedRoot =
            embedded ? URLComponents(string: uri)?.queryItems?.first { $0.name == "root" }?.value.map { URL(fileURLWithPath: $0) } : nil
        return try await LibvirtWorkers.shared.run { () throws(LibvirtError) in
            try EventLoop.ensureRunning()
            guard let pointer = virConnectOpen(uri) else {
                throw LibvirtError.last(from: "virConnectOpen")
            }
            // libvirt loads its driver modules to connect; the loader is done with their tables.
            LoaderData.release()
            let connection = Connection(pointer: pointer, embeddedRoot: embeddedRoot)
            connection.watchForClose()
            return connection
        }
    }

    deinit {
        stopWatchingForClose()
        virConnectClose(pointer)
    }

    /// The version of the libvirt library loaded into this process.
    ///
    /// The corresponding libvirt function is `virGetVersion`.
    public static func libraryVersion() throws(LibvirtError) -> Version {
        try LibvirtLibrary.initialize()
        var version: UInt = 0
        guard virGetVersion(&version, nil, nil) == 0 else {
            throw LibvirtError.last(from: "virGetVersion")
        }
        return Version(packed: version)
    }

    /// The version of libvirt on the other end: the daemon's, which writes and reads the
    /// state files of its guests.
    ///
    /// The corresponding libvirt function is `virConnectGetLibVersion`.
    public func daemonLibraryVersion() async throws(LibvirtError) -> Version {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var version: UInt = 0
            guard virConnectGetLibVersion(pointer, &version) == 0 else { throw LibvirtError.last(from: "virConnectGetLibVersion") }
            return Version(packed: version)
        }
    }

    /// The canonical URI of this connection, which may differ from the one passed to
    /// ``open(uri:)`` (for example when libvirt picked a default).
    ///
    /// The corresponding libvirt function is `virConnectGetURI`.
    public func uri() async throws(LibvirtError) -> String {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let uri = takeString(virConnectGetURI(pointer)) else {
                throw LibvirtError.last(from: "virConnectGetURI")
            }
            return uri
        }
    }

    /// The host name of the machine the hypervisor runs on.
    ///
    /// The corresponding libvirt function is `virConnectGetHostname`.
    public func hostname() async throws(LibvirtError) -> String {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let name = takeString(virConnectGetHostname(pointer)) else {
                throw LibvirtError.last(from: "virConnectGetHostname")
            }
            return name
        }
    }

    /// The version of the hypervisor behind the driver (for QEMU, the QEMU version).
    ///
    /// The corresponding libvirt function is `virConnectGetVersion`.
    public func hypervisorVersion() async throws(LibvirtError) -> Version {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var version: UInt = 0
            guard virConnectGetVersion(pointer, &version) == 0 else {
                throw LibvirtError.last(from: "virConnectGetVersion")
            }
            return Version(packed: version)
        }
    }

    /// The driver's capabilities XML: host CPU, guest architectures, machine types.
    ///
    /// The corresponding libvirt function is `virConnectGetCapabilities`.
    public func capabilities() async throws(LibvirtError) -> String {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let xml = takeString(virConnectGetCapabilities(pointer)) else {
                throw LibvirtError.last(from: "virConnectGetCapabilities")
            }
            return xml
        }
    }

    /// Whether the connection still works. Remote connections die when the daemon goes
    /// away; local ones stay alive until closed.
    ///
    /// The corresponding libvirt function is `virConnectIsAlive`.
    public var isAlive: Bool {
        virConnectIsAlive(pointer) == 1
    }

    /// Options for ``createDomain(xml:flags:)``.
    ///
    /// The corresponding libvirt type is `virDomainCreateFlags`.
    public struct CreateFlags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// Start with the CPUs paused.
        public static let startPaused = CreateFlags(rawValue: VIR_DOMAIN_START_PAUSED.rawValue)
        /// Destroy the domain when this connection closes, so a crashed test leaves
        /// nothing behind.
        public static let autodestroy = CreateFlags(rawValue: VIR_DOMAIN_START_AUTODESTROY.rawValue)
        /// Avoid polluting the host's file system cache.
        public static let bypassCache = CreateFlags(
            rawValue: VIR_DOMAIN_START_BYPASS_CACHE.rawValue)
        /// Boot, discarding any managed save image.
        public static let forceBoot = CreateFlags(rawValue: VIR_DOMAIN_START_FORCE_BOOT.rawValue)
        /// Validate the XML against libvirt's schema first, for clearer errors.
        public static let validate = CreateFlags(rawValue: VIR_DOMAIN_START_VALIDATE.rawValue)
    }

    /// Creates and starts a transient domain: it disappears once it stops, so nothing
    /// needs undefining afterwards.
    ///
    /// The corresponding libvirt function is `virDomainCreateXML`.
    public func createDomain(xml: String, flags: CreateFlags = []) async throws(LibvirtError) -> Domain {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let domain = virDomainCreateXML(pointer, xml, flags.rawValue) else {
                throw LibvirtError.last(from: "virDomainCreateXML")
            }
            return Domain(pointer: domain, connection: self)
        }
    }

    /// Defines a persistent domain without starting it (``Domain/start()`` does), or
    /// replaces the definition of one with the same name and UUID. It stays until
    /// ``Domain/undefine()``.
    ///
    /// The corresponding libvirt function is `virDomainDefineXML`.
    public func defineDomain(xml: String) async throws(LibvirtError) -> Domain {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let domain = virDomainDefineXML(pointer, xml) else {
                throw LibvirtError.last(from: "virDomainDefineXML")
            }
            return Domain(pointer: domain, connection: self)
        }
    }

    /// Starts a domain from a state file written by ``Domain/save(to:xml:flags:)``.
    ///
    /// - Parameter xml: the domain XML to restore with instead of the one stored in the
    ///   file: other disk paths, say. libvirt refuses XML whose virtual hardware (or
    ///   name, or UUID) differs from the saved domain's.
    ///
    /// The corresponding libvirt function is `virDomainRestoreFlags`.
    public func restoreDomain(from file: URL, xml: String? = nil, flags: Domain.SaveRestoreFlags = []) async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virDomainRestoreFlags(pointer, file.path, xml, flags.rawValue) == 0 else {
                throw LibvirtError.last(from: "virDomainRestoreFlags")
            }
        }
    }

    /// The domain XML stored in a state file written by ``Domain/save(to:xml:flags:)``.
    ///
    /// The corresponding libvirt function is `virDomainSaveImageGetXMLDesc`.
    public func savedDomainXML(in file: URL) async throws(LibvirtError) -> String {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let xml = takeString(virDomainSaveImageGetXMLDesc(pointer, file.path, 0)) else {
                throw LibvirtError.last(from: "virDomainSaveImageGetXMLDesc")
            }
            return xml
        }
    }

    /// The domain with this name, or `nil` if there is none. Other failures throw.
    ///
    /// The corresponding libvirt function is `virDomainLookupByName`.
    public func domain(named name: String) async throws(LibvirtError) -> Domain? {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            try LibvirtError.lookup("virDomainLookupByName", notFound: .noDomain, virDomainLookupByName(pointer, name))
                .map { Domain(pointer: $0, connection: self) }
        }
    }

    /// The domain with this UUID, or `nil` if there is none. Other failures throw.
    ///
    /// The corresponding libvirt function is `virDomainLookupByUUIDString`.
    public func domain(uuid: UUID) async throws(LibvirtError) -> Domain? {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            try LibvirtError.lookup(
                "virDomainLookupByUUIDString", notFound: .noDomain, virDomainLookupByUUIDString(pointer, uuid.uuidString.lowercased())
            ).map { Domain(pointer: $0, connection: self) }
        }
    }

    /// The running (and paused) domains.
    ///
    /// The corresponding libvirt function is `virConnectListAllDomains`.
    public func domains() async throws(LibvirtError) -> [Domain] {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virConnectListAllDomains(
                pointer, &list, VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue)
            guard count >= 0 else {
                throw LibvirtError.last(from: "virConnectListAllDomains")
            }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index in
                list?[index].map { Domain(pointer: $0, connection: self) }
            }
        }
    }
}
