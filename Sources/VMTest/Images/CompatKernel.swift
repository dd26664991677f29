import Foundation

/// PLACEHOLDER until the compat-kernel kit lands (helper branch issue-kernel64).
public struct CompatKernel: Sendable, Hashable {
    public var kernel: String
    public var initrd: String
}

struct CompatKernelStore {
    var directories: Directories
    func kernel(reporter: any Reporter) async throws -> CompatKernel {
        throw ImageError.notBuildable(profile: "compat kernel")
    }
}
