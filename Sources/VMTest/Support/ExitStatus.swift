import Libvirt

/// The exit statuses vmtest promises, so a CI job can act on them.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// A test (or the guest command) failed: a result, not a malfunction.
    public static let testFailed: Int32 = 1
    /// Bad input found before anything booted: profile, file, option, missing tool.
    public static let badInput: Int32 = 2
    /// The machinery failed: boot time-out, libvirt error, lost console, image build.
    public static let infrastructure: Int32 = 3

    /// The status for an error that ended a command: its own, when it says one; an
    /// error that does not is the machinery's (nobody foresaw it, so it is no input's fault).
    public static func `for`(_ error: any Error) -> Int32 {
        (error as? any ExitStatusProviding)?.exitStatus ?? infrastructure
    }
}

/// An error that says which of ``ExitStatus``'s promises it ends a command with. Each
/// error type decides for itself, next to the cases it knows, so a new case cannot
/// silently fall into another class.
public protocol ExitStatusProviding: Error {
    var exitStatus: Int32 { get }
}

/// An error that is always the person's input to fix (exit 2).
public protocol BadInputError: ExitStatusProviding {}

extension BadInputError {
    public var exitStatus: Int32 { ExitStatus.badInput }
}

/// An error that is always the machinery's (exit 3): found once something started.
public protocol InfrastructureError: ExitStatusProviding {}

extension InfrastructureError {
    public var exitStatus: Int32 { ExitStatus.infrastructure }
}

extension Interrupted: ExitStatusProviding {}

extension CancellationError: ExitStatusProviding {
    /// As if SIGINT had ended the process.
    public var exitStatus: Int32 { 130 }
}

extension ProfileError: BadInputError {}

extension PlanError: BadInputError {}

extension RunInputError: BadInputError {}

extension AcceleratorRequestError: BadInputError {}

extension TestMetadataError: BadInputError {}

extension ToolError: ExitStatusProviding {
    /// A missing tool is the host's setup, fixed by installing it; a tool that fails is the machinery.
    public var exitStatus: Int32 {
        switch self {
        case .missing: ExitStatus.badInput
        case .failed: ExitStatus.infrastructure
        }
    }
}

extension ImageError: ExitStatusProviding {
    public var exitStatus: Int32 {
        switch self {
        case .notBuildable: ExitStatus.badInput
        case .checksumMismatch, .checksumNotListed, .downloadFailed, .noBootConfiguration, .unusableBootConfiguration:
            ExitStatus.infrastructure
        }
    }
}

extension DebianImageBuildError: ExitStatusProviding {
    /// Not root, a recipe that is no Debian recipe, a data folder not installed: all fixed
    /// by the person running vmtest, before anything is built.
    public var exitStatus: Int32 {
        switch self {
        case .requiresRoot, .invalidRecipe, .dataDirectoryMissing: ExitStatus.badInput
        case .mirrorOutOfSync, .bootPackageMissing, .kernelNotFound: ExitStatus.infrastructure
        }
    }
}

/// Found only once a run has chosen the 64-bit kernel on this host: the run's machinery.
extension CompatKernelError: InfrastructureError {}

extension HypervisorConnectionError: InfrastructureError {}

extension HypervisorStorageError: InfrastructureError {}

extension HypervisorLostError: InfrastructureError {}

extension HypervisorPoolFullError: InfrastructureError {}

extension LibvirtError: InfrastructureError {}

/// Errors of a guest or its channel: found only once something booted.
extension GuestChannelError: InfrastructureError {}

extension SSHChannelError: InfrastructureError {}

extension ProvisioningError: InfrastructureError {}

extension GuestStepError: InfrastructureError {}

extension WarmStartError: InfrastructureError {}

extension TimeLimitExceeded: InfrastructureError {}
extension ImageLockError: InfrastructureError {}
