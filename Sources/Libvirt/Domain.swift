internal import CLibvirt
import Foundation

/// A handle on a libvirt domain (a virtual machine), defined or running.
///
/// The handle stays valid after the domain stops; calls on a domain that no longer exists
/// throw ``LibvirtError`` with code ``LibvirtError/Code/noDomain``. Like connections,
/// domain handles may be used from any thread; calls that may block are `async` and run
/// on ``LibvirtWorkers``, while name, UUID and ID are read from the handle itself.
///
/// The corresponding libvirt type is `virDomainPtr`.
public final class Domain: Sendable {
    /// Immutable after init, and libvirt serialises access to what it points to.
    nonisolated(unsafe) let pointer: OpaquePointer
    /// The connection this domain came from, kept alive as long as the domain is.
    public let connection: Connection

    /// Takes ownership of one reference to `pointer`.
    init(pointer: OpaquePointer, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virDomainFree(pointer)
    }

    /// The domain's name, unique on its connection.
    ///
    /// The corresponding libvirt function is `virDomainGetName`.
    public var name: String {
        // Only fails for an invalid pointer, which this class never holds.
        virDomainGetName(pointer).map { String(cString: $0) } ?? ""
    }

    /// The domain's UUID, stable across restarts of a persistent domain.
    ///
    /// The corresponding libvirt function is `virDomainGetUUID`.
    public var uuid: UUID {
        Self.uuid(of: pointer)
    }

    /// The UUID behind any domain pointer, including ones libvirt lends to callbacks.
    /// Only fails for an invalid pointer.
    static func uuid(of pointer: OpaquePointer) -> UUID {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        _ = withUnsafeMutableBytes(of: &bytes) { buffer in
            virDomainGetUUID(pointer, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        return UUID(uuid: bytes)
    }

    /// The hypervisor's numeric ID for a running domain, or `nil` when it is not running.
    ///
    /// The corresponding libvirt function is `virDomainGetID`.
    public var id: UInt32? {
        let id = virDomainGetID(pointer)
        guard id != UInt32.max else {
            virResetLastError()
            return nil
        }
        return id
    }

    /// The coarse state of a domain. libvirt may add states, so this is an open set.
    ///
    /// The corresponding libvirt type is `virDomainState`.
    public struct State: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ state: virDomainState) { self.rawValue = Int32(bitPattern: state.rawValue) }

        public static let noState = State(VIR_DOMAIN_NOSTATE)
        public static let running = State(VIR_DOMAIN_RUNNING)
        public static let blocked = State(VIR_DOMAIN_BLOCKED)
        public static let paused = State(VIR_DOMAIN_PAUSED)
        public static let shuttingDown = State(VIR_DOMAIN_SHUTDOWN)
        public static let shutoff = State(VIR_DOMAIN_SHUTOFF)
        public static let crashed = State(VIR_DOMAIN_CRASHED)
        public static let pmSuspended = State(VIR_DOMAIN_PMSUSPENDED)

        public var description: String {
            switch self {
            case .noState: "no state"
            case .running: "running"
            case .blocked: "blocked"
            case .paused: "paused"
            case .shuttingDown: "shutting down"
            case .shutoff: "shut off"
            case .crashed: "crashed"
            case .pmSuspended: "suspended by guest power management"
            default: "state \(rawValue)"
            }
        }
    }

    /// A state plus libvirt's reason for it. The reason's meaning depends on the state
    /// (`virDomainRunningReason`, `virDomainShutoffReason`, ...), so it stays a number.
    public struct StateInfo: Hashable, Sendable, CustomStringConvertible {
        public var state: State
        public var reason: Int32

        public init(state: State, reason: Int32) {
            self.state = state
            self.reason = reason
        }

        public var description: String { "\(state) (reason \(reason))" }
    }

    /// The domain's current state and the reason it got there.
    ///
    /// The corresponding libvirt function is `virDomainGetState`.
    public func state() async throws(LibvirtError) -> StateInfo {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var state: Int32 = 0
            var reason: Int32 = 0
            guard virDomainGetState(pointer, &state, &reason, 0) == 0 else {
                throw LibvirtError.last(from: "virDomainGetState")
            }
            return StateInfo(state: State(rawValue: state), reason: reason)
        }
    }

    /// Starts a defined domain (``Connection/defineDomain(xml:)``) that is not running.
    ///
    /// The corresponding libvirt function is `virDomainCreate`.
    public func start() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virDomainCreate(pointer) == 0 else {
                throw LibvirtError.last(from: "virDomainCreate")
            }
        }
    }

    /// Removes a persistent domain's definition. A running domain keeps running, as a
    /// transient one, until it stops.
    ///
    /// The corresponding libvirt function is `virDomainUndefine`.
    public func undefine() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virDomainUndefine(pointer) == 0 else {
                throw LibvirtError.last(from: "virDomainUndefine")
            }
        }
    }

    /// Stops the domain immediately, like pulling the plug. A transient domain is gone
    /// afterwards. Throws if the domain is not running; see ``destroyIfRunning()``.
    ///
    /// On the embedded driver this process ends the QEMU itself first (``EndingQEMU``),
    /// which spares every teardown the 200 ms libvirt's own kill sleeps.
    ///
    /// The corresponding libvirt function is `virDomainDestroy`.
    public func destroy() async throws(LibvirtError) {
        let root = connection.embeddedRoot
        let name = self.name
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            // Ended ahead of libvirt, an adopted QEMU is gone before libvirt looks for it.
            let ending = root.flatMap { EndingQEMU(domainNamed: name, embeddedRoot: $0) }
            defer { ending?.closeSockets() }
            let ended = ending?.end(within: .seconds(2)) ?? false
            guard virDomainDestroy(pointer) == 0 else {
                let error = LibvirtError.last(from: "virDomainDestroy")
                // It was running until this call ended it, whoever libvirt heard that from first.
                if ended, error.code == .noDomain || error.code == .operationInvalid { return }
                throw error
            }
        }
    }

    /// Stops the domain if it still runs, for cleanup paths that must not fail because the
    /// domain already stopped on its own. Only "no such domain" and "not running" are
    /// swallowed; anything else (say, QEMU refusing to die) still throws.
    ///
    /// Returns whether this call stopped the domain.
    ///
    /// The corresponding libvirt function is `virDomainDestroy`.
    @discardableResult
    public func destroyIfRunning() async throws(LibvirtError) -> Bool {
        do {
            try await destroy()
            return true
        } catch {
            guard error.code == .noDomain || error.code == .operationInvalid else { throw error }
            return false
        }
    }

    /// Pauses the domain's CPUs; memory and devices stay as they are.
    ///
    /// The corresponding libvirt function is `virDomainSuspend`.
    public func suspend() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virDomainSuspend(pointer) == 0 else {
                throw LibvirtError.last(from: "virDomainSuspend")
            }
        }
    }

    /// Resumes a paused domain, e.g. one created with
    /// ``Connection/CreateFlags/startPaused`` so that a console could be attached before
    /// the guest printed anything.
    ///
    /// The corresponding libvirt function is `virDomainResume`.
    public func resume() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virDomainResume(pointer) == 0 else {
                throw LibvirtError.last(from: "virDomainResume")
            }
        }
    }

    /// Options for ``save(to:xml:flags:)`` and ``Connection/restoreDomain(from:xml:flags:)``.
    ///
    /// The corresponding libvirt type is `virDomainSaveRestoreFlags`.
    public struct SaveRestoreFlags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// Read or write the state file without filling the host's page cache.
        public static let bypassCache = SaveRestoreFlags(rawValue: VIR_DOMAIN_SAVE_BYPASS_CACHE.rawValue)
        /// Restore the domain running, whatever state it was saved in.
        public static let running = SaveRestoreFlags(rawValue: VIR_DOMAIN_SAVE_RUNNING.rawValue)
        /// Restore the domain paused, whatever state it was saved in.
        public static let paused = SaveRestoreFlags(rawValue: VIR_DOMAIN_SAVE_PAUSED.rawValue)
    }

    /// Writes the running domain's memory and device state to `file` and stops it; a
    /// transient domain is gone afterwards. ``Connection/restoreDomain(from:xml:flags:)``
    /// brings it back exactly where it was.
    ///
    /// - Parameter xml: the domain XML to store with the state instead of the current
    ///   one; it must describe the same virtual hardware.
    ///
    /// The corresponding libvirt function is `virDomainSaveFlags`.
    public func save(to file: URL, xml: String? = nil, flags: SaveRestoreFlags = []) async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virDomainSaveFlags(pointer, file.path, xml, flags.rawValue) == 0 else {
                throw LibvirtError.last(from: "virDomainSaveFlags")
            }
        }
    }

    /// The domain's XML description as libvirt currently sees it (for a running domain,
    /// including what libvirt filled in: pty paths, addresses, ...).
    ///
    /// The corresponding libvirt function is `virDomainGetXMLDesc`.
    public func xmlDescription() async throws(LibvirtError) -> String {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let xml = takeString(virDomainGetXMLDesc(pointer, 0)) else {
                throw LibvirtError.last(from: "virDomainGetXMLDesc")
            }
            return xml
        }
    }

    /// Which copy of a domain's configuration a change applies to.
    ///
    /// The corresponding libvirt type is `virDomainModificationImpact`.
    public struct Impact: OptionSet, Hashable, Sendable {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// The running domain if it runs, otherwise its persistent configuration.
        public static let current: Impact = []
        /// The running domain only. The one to use on a transient domain.
        public static let live = Impact(rawValue: VIR_DOMAIN_AFFECT_LIVE.rawValue)
        /// The persistent configuration only.
        public static let config = Impact(rawValue: VIR_DOMAIN_AFFECT_CONFIG.rawValue)
    }

    /// Stores an XML element of our own in the domain's `<metadata>`, under a namespace
    /// only we use, so that a later process can recognise domains it created.
    ///
    /// - Parameters:
    ///   - xml: one well-formed element, e.g. `<run id="42"/>`; `nil` removes ours.
    ///   - key: the namespace prefix libvirt writes in the domain XML.
    ///   - namespaceURI: identifies our metadata among other applications'.
    ///   - impact: `.live` for a transient running domain.
    ///
    /// The corresponding libvirt function is `virDomainSetMetadata`.
    public func setMetadata(
        _ xml: String?, key: String, namespaceURI: String, impact: Impact = .live
    ) async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            let result = virDomainSetMetadata(
                pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), xml, key, namespaceURI,
                impact.rawValue)
            guard result == 0 else {
                throw LibvirtError.last(from: "virDomainSetMetadata")
            }
        }
    }

    /// The element stored with ``setMetadata(_:key:namespaceURI:impact:)`` under this
    /// namespace, or `nil` if there is none.
    ///
    /// The corresponding libvirt function is `virDomainGetMetadata`.
    public func metadata(namespaceURI: String, impact: Impact = .live) async throws(LibvirtError)
        -> String?
    {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            let xml = virDomainGetMetadata(
                pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), namespaceURI, impact.rawValue)
            guard let xml = takeString(xml) else {
                let error = LibvirtError.last(from: "virDomainGetMetadata")
                if error.code == .noDomainMetadata { return nil }
                throw error
            }
            return xml
        }
    }
}
