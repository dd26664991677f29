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

    /// The status for an error that ended a command.
    public static func `for`(_ error: any Error) -> Int32 {
        switch error {
        case let interrupted as Interrupted: return interrupted.exitStatus
        case is ProfileError, is PlanError, is RunInputError, is AcceleratorRequestError: return badInput
        case let tool as ToolError:
            if case .missing = tool { return badInput }
            return infrastructure
        case let image as ImageError:
            switch image {
            case .notBuildable: return badInput
            case .checksumMismatch, .checksumNotListed, .downloadFailed, .noBootConfiguration, .unusableBootConfiguration:
                return infrastructure
            }
        case is CancellationError: return 130
        default: return infrastructure
        }
    }
}
