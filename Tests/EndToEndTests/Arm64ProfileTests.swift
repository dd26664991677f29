import Foundation
import Testing

@testable import VMTest

/// The debian12-arm64 profile: a 64-bit Debian guest built from the same recipe data as
/// debian12-armhf (Debian's arm64 packages, installed under qemu-aarch64 user emulation).
@Suite(.serialized, .timeLimit(.minutes(45))) struct Arm64ProfileTests {
    @Test func theArm64GuestBootsAndRunsCommandsAsAarch64() async throws {
        let profile = try EndToEnd.catalog.load("debian12-arm64")
        #expect(profile.arch == .aarch64)
        let image = try await ImageStore(root: EndToEnd.directories.images).image(for: profile, reporter: LineReporter(isTerminal: false))
        #expect(image.kernelCommandLine == DebianImageBuilder.kernelCommandLine)

        // A 64-bit kernel under TCG boots slowest of all the profiles, and the batch runs it beside
        // six other guests on two cores: CI once took over 300 s (TCG's default limit) to its shell.
        let result = try await EndToEnd.vmtest([
            "boot", "debian12-arm64", "--cold", "--timeout", "900",
            "--", "uname -m; getconf LONG_BIT; dpkg --print-architecture",
        ])
        #expect(result.status == 0, "stderr: \(result.error)")
        #expect(result.output == "aarch64\n64\narm64\n")
        #expect(result.error.contains("emulating the aarch64 guest with TCG"))
        #expect(result.error.contains("teardown: guest destroyed"))
    }
}
