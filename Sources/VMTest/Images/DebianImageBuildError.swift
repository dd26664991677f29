import Foundation

public enum DebianImageBuildError: Error, CustomStringConvertible, Equatable {
    /// apt saw a mirror in the middle of a sync (size or hash mismatches) on every attempt.
    case mirrorOutOfSync(mirror: String, attempts: Int, detail: String)
    case requiresRoot
    case dataDirectoryMissing(searched: [String])
    case invalidRecipe(String)
    case bootPackageMissing(String, directory: String)
    case kernelNotFound(String)

    public var description: String {
        switch self {
        case .mirrorOutOfSync(let mirror, let attempts, let detail):
            return """
                the Debian mirror \(mirror) looks like it is in the middle of a sync (\(attempts) attempts failed: \(detail)). \
                Wait a few minutes and build again, or set image.build.mirror in the profile to another Debian mirror.
                """
        case .requiresRoot:
            return "building a Debian image needs root (mmdebstrap --mode=root, ownership of the guest's files); run vmtest as root"
        case .dataDirectoryMissing(let searched):
            return
                "the image data directory (images/debian12) was not found; set VMTEST_IMAGES_DIR. Searched: \(searched.joined(separator: ", "))"
        case .invalidRecipe(let reason):
            return "invalid image build recipe: \(reason)"
        case .bootPackageMissing(let package, let directory):
            return "the \(package) package was not downloaded into \(directory)"
        case .kernelNotFound(let detail):
            return "no kernel found in the kernel package: \(detail)"
        }
    }
}
