internal import CLibvirt
import Foundation

/// An error reported by libvirt, captured on the thread that made the failing call.
///
/// libvirt keeps its last error in thread-local storage, so it must be read right after
/// the failing call and before anything else can run on that thread (in particular, never
/// after an `await`). Every throwing API in this module does exactly that, and records
/// which libvirt function failed so that a log line names the culprit.
///
/// The corresponding libvirt function is `virCopyLastError`.
public struct LibvirtError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. libvirt adds codes over time, so this is an open set.
    ///
    /// The corresponding libvirt type is `virErrorNumber`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ number: virErrorNumber) { self.rawValue = Int32(bitPattern: number.rawValue) }

        public static let ok = Code(VIR_ERR_OK)
        public static let internalError = Code(VIR_ERR_INTERNAL_ERROR)
        public static let noMemory = Code(VIR_ERR_NO_MEMORY)
        public static let noSupport = Code(VIR_ERR_NO_SUPPORT)
        public static let noConnect = Code(VIR_ERR_NO_CONNECT)
        public static let invalidConnection = Code(VIR_ERR_INVALID_CONN)
        public static let invalidDomain = Code(VIR_ERR_INVALID_DOMAIN)
        public static let invalidArgument = Code(VIR_ERR_INVALID_ARG)
        public static let operationFailed = Code(VIR_ERR_OPERATION_FAILED)
        public static let xmlError = Code(VIR_ERR_XML_ERROR)
        public static let xmlDetail = Code(VIR_ERR_XML_DETAIL)
        public static let operationInvalid = Code(VIR_ERR_OPERATION_INVALID)
        public static let operationDenied = Code(VIR_ERR_OPERATION_DENIED)
        public static let operationTimeout = Code(VIR_ERR_OPERATION_TIMEOUT)
        public static let operationAborted = Code(VIR_ERR_OPERATION_ABORTED)
        public static let operationUnsupported = Code(VIR_ERR_OPERATION_UNSUPPORTED)
        public static let noDomain = Code(VIR_ERR_NO_DOMAIN)
        public static let noDomainMetadata = Code(VIR_ERR_NO_DOMAIN_METADATA)
        public static let domainExists = Code(VIR_ERR_DOM_EXIST)
        public static let configUnsupported = Code(VIR_ERR_CONFIG_UNSUPPORTED)
        public static let systemError = Code(VIR_ERR_SYSTEM_ERROR)
        public static let rpcError = Code(VIR_ERR_RPC)
        public static let agentUnresponsive = Code(VIR_ERR_AGENT_UNRESPONSIVE)
        public static let resourceBusy = Code(VIR_ERR_RESOURCE_BUSY)
        public static let authFailed = Code(VIR_ERR_AUTH_FAILED)
        public static let noSecret = Code(VIR_ERR_NO_SECRET)
        public static let noStoragePool = Code(VIR_ERR_NO_STORAGE_POOL)
        public static let noStorageVolume = Code(VIR_ERR_NO_STORAGE_VOL)

        public var description: String {
            switch self {
            case .ok: "ok"
            case .internalError: "internalError"
            case .noMemory: "noMemory"
            case .noSupport: "noSupport"
            case .noConnect: "noConnect"
            case .invalidConnection: "invalidConnection"
            case .invalidDomain: "invalidDomain"
            case .invalidArgument: "invalidArgument"
            case .operationFailed: "operationFailed"
            case .xmlError: "xmlError"
            case .xmlDetail: "xmlDetail"
            case .operationInvalid: "operationInvalid"
            case .operationDenied: "operationDenied"
            case .operationTimeout: "operationTimeout"
            case .operationAborted: "operationAborted"
            case .operationUnsupported: "operationUnsupported"
            case .noDomain: "noDomain"
            case .noDomainMetadata: "noDomainMetadata"
            case .domainExists: "domainExists"
            case .configUnsupported: "configUnsupported"
            case .systemError: "systemError"
            case .rpcError: "rpcError"
            case .agentUnresponsive: "agentUnresponsive"
            case .resourceBusy: "resourceBusy"
            case .authFailed: "authFailed"
            case .noSecret: "noSecret"
            case .noStoragePool: "noStoragePool"
            case .noStorageVolume: "noStorageVolume"
            default: "code \(rawValue)"
            }
        }
    }

    /// Which part of libvirt raised the error (a driver, the RPC layer, streams, ...).
    /// Open for the same reason as ``Code``.
    ///
    /// The corresponding libvirt type is `virErrorDomain`.
    public struct Origin: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ domain: virErrorDomain) { self.rawValue = Int32(bitPattern: domain.rawValue) }

        public static let none = Origin(VIR_FROM_NONE)
        public static let xen = Origin(VIR_FROM_XEN)
        public static let xml = Origin(VIR_FROM_XML)
        public static let domain = Origin(VIR_FROM_DOM)
        public static let rpc = Origin(VIR_FROM_RPC)
        public static let remote = Origin(VIR_FROM_REMOTE)
        public static let qemu = Origin(VIR_FROM_QEMU)
        public static let test = Origin(VIR_FROM_TEST)
        public static let network = Origin(VIR_FROM_NETWORK)
        public static let storage = Origin(VIR_FROM_STORAGE)
        public static let security = Origin(VIR_FROM_SECURITY)
        public static let streams = Origin(VIR_FROM_STREAMS)
        public static let event = Origin(VIR_FROM_EVENT)
        public static let capabilities = Origin(VIR_FROM_CAPABILITIES)
        public static let config = Origin(VIR_FROM_CONF)

        public var description: String {
            switch self {
            case .none: "none"
            case .xen: "xen"
            case .xml: "xml"
            case .domain: "domain"
            case .rpc: "rpc"
            case .remote: "remote"
            case .qemu: "qemu"
            case .test: "test"
            case .network: "network"
            case .storage: "storage"
            case .security: "security"
            case .streams: "streams"
            case .event: "event"
            case .capabilities: "capabilities"
            case .config: "config"
            default: "origin \(rawValue)"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// Which part of libvirt noticed.
    public var origin: Origin
    /// libvirt's own human-readable message, e.g. "Domain not found: no domain with matching name 'x'".
    public var message: String
    /// The libvirt function whose failure produced this error, e.g. `virDomainCreateXML`.
    public var function: String

    public init(code: Code, origin: Origin, message: String, function: String) {
        self.code = code
        self.origin = origin
        self.message = message
        self.function = function
    }

    public var description: String {
        "\(function) failed: \(message) (\(code), from \(origin))"
    }

    /// Reads and clears the calling thread's last libvirt error.
    ///
    /// Call this synchronously, right after the failing call. If libvirt set no error
    /// (some functions fail without one), the result says so instead of inventing one.
    ///
    /// The corresponding libvirt function is `virGetLastError`.
    static func last(from function: String) -> LibvirtError {
        guard let error = virGetLastError() else {
            return LibvirtError(
                code: .internalError, origin: .none,
                message: "libvirt reported failure without setting an error", function: function)
        }
        let result = LibvirtError(
            code: Code(rawValue: error.pointee.code),
            origin: Origin(rawValue: error.pointee.domain),
            message: error.pointee.message.map { String(cString: $0) } ?? "no message",
            function: function)
        virResetLastError()
        return result
    }
}

extension LibvirtError {
    /// What a lookup found: the pointer, `nil` when libvirt says there is no such object
    /// (`notFound`), or its error. Called with the lookup's result as it returns, so
    /// libvirt's error is still the lookup's.
    static func lookup(_ function: String, notFound: Code, _ result: OpaquePointer?) throws(LibvirtError) -> OpaquePointer? {
        if let result { return result }
        let error = LibvirtError.last(from: function)
        if error.code == notFound { return nil }
        throw error
    }
}

/// Process-wide libvirt setup that must happen exactly once, before the first call.
enum LibvirtLibrary {
    /// Initialises libvirt and replaces its default error handler, which would otherwise
    /// print every error (including expected ones, like a lookup miss) to stderr.
    /// Errors are still recorded per thread and reach callers as ``LibvirtError``.
    ///
    /// The corresponding libvirt functions are `virInitialize` and `virSetErrorFunc`.
    static func initialize() throws(LibvirtError) {
        try initialized.get()
    }

    private static let initialized: Result<Void, LibvirtError> = {
        quietenLogging()
        guard virInitialize() == 0 else {
            return .failure(LibvirtError.last(from: "virInitialize"))
        }
        virSetErrorFunc(nil) { _, _ in }
        return .success(())
    }()

    /// In-process drivers (`qemu:///embed`, `test:///`) log warnings to stderr, and every
    /// guest started as root logs "tainted: high-privileges". Unless the user configured
    /// libvirt's logging, raise the threshold to errors. (Not via LIBVIRT_LOG_OUTPUTS:
    /// naming an output explicitly makes libvirt also log every reported error, even
    /// those callers expect, like a lookup miss.) libvirt reads these variables once, in
    /// `virInitialize`.
    private static func quietenLogging() {
        let variables = ["LIBVIRT_DEBUG", "LIBVIRT_LOG_FILTERS", "LIBVIRT_LOG_OUTPUTS"]
        guard variables.allSatisfy({ getenv($0) == nil }) else { return }
        setenv("LIBVIRT_LOG_FILTERS", "4:*", 0)
    }
}

/// Converts a C string that the caller must free into a Swift string, freeing it.
func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
}
