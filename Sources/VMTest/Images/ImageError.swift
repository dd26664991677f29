import Foundation

public enum ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    case notBuildable(profile: String)
    /// The download is not the file the profile (or the mirror's checksum file) describes.
    case checksumMismatch(url: String, expected: String, actual: String, checksumSource: String)
    /// The checksum file has no line for the image.
    case checksumNotListed(checksumURL: String, file: String, listed: [String])
    case downloadFailed(url: String, reason: String)
    /// Direct kernel boot needs the image's kernel, and no extlinux.conf names one.
    case noBootConfiguration(image: String, searched: [String])
    case unusableBootConfiguration(file: String, reason: String)

    public var description: String {
        switch self {
        case .notBuildable(let profile):
            return "profile \(profile) has no build recipe; its image is downloaded, not built"
        case .checksumMismatch(let url, let expected, let actual, let source):
            let claim = source == "profile" ? "the profile's sha256" : source
            return "the download of \(url) has SHA-256 \(actual), but \(claim) says \(expected); "
                + "it was deleted and nothing was cached. Fetch again (a mirror may have served a damaged or changed file); "
                + "if it happens again, check the profile's url and checksum"
        case .checksumNotListed(let checksumURL, let file, let listed):
            return "the checksum file \(checksumURL) lists no SHA-256 for \(file)"
                + (listed.isEmpty ? " (it lists none at all)" : " (it lists \(listed.sorted().prefix(5).joined(separator: ", ")))")
                + "; check the profile's url and checksumURL, or give `sha256:` in the profile"
        case .downloadFailed(let url, let reason):
            return "cannot fetch \(url): \(reason). Check the URL and the network; an interrupted download resumes on the next attempt"
        case .noBootConfiguration(let image, let searched):
            return "\(image) has no extlinux.conf (searched \(searched.joined(separator: " and ")) on its boot partitions), "
                + "so there is no kernel for direct kernel boot; use `boot: {method: u-boot}`"
        case .unusableBootConfiguration(let file, let reason):
            return "the image's \(file) cannot be used for direct kernel boot: \(reason); use `boot: {method: u-boot}`"
        }
    }
}
