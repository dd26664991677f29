import Foundation
import Testing

@testable import VMTest

@Suite struct ProfileLoaderTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let catalog = ProfileCatalog(directory: repository.appendingPathComponent("profiles"))

    @Test(arguments: ["debian12-armhf", "debian12-armhf-uboot", "centos7-armhfp"])
    func shippedProfilesAreValid(name: String) throws {
        let profile = try Self.catalog.load(name)
        #expect(profile.name == name)
        #expect(profile.arch == .armv7l)
        #expect(profile.install.contains("{packages}"))
    }

    /// Only where U-Boot shares the command console is typing held until the kernel starts.
    @Test func typingWaitsForTheKernelOnlyWhereUBootReadsTheCommandConsole() throws {
        var centos = try Self.catalog.load("centos7-armhfp")
        #expect(centos.consoleTypingSafeAfter == "Starting kernel")
        centos.console.device = .hvc0
        #expect(centos.consoleTypingSafeAfter == nil)
        #expect(try Self.catalog.load("debian12-armhf").consoleTypingSafeAfter == nil)
    }

    /// debian12-armhf-uboot boots debian12-armhf's very image (one build for both) through
    /// U-Boot, on the serial console U-Boot shares with the kernel.
    @Test func theUBootProfileSharesTheDirectProfilesImage() throws {
        let uBoot = try Self.catalog.load("debian12-armhf-uboot")
        let direct = try Self.catalog.load("debian12-armhf")
        #expect(uBoot.image == direct.image)
        let store = ImageStore(root: URL(fileURLWithPath: "/cache/images"))
        #expect(store.directory(for: uBoot) == store.directory(for: direct))
        #expect(store.directory(for: direct).deletingLastPathComponent().lastPathComponent == "debian-bookworm-armhf")
        let centos = try Self.catalog.load("centos7-armhfp")
        #expect(store.directory(for: centos).deletingLastPathComponent().lastPathComponent == "centos7-armhfp")
        #expect(uBoot.boot.method == .uBoot && uBoot.console.device == .ttyAMA0 && uBoot.console.login == .autologin)
        #expect(uBoot.consoleTypingSafeAfter == "Starting kernel")
    }

    /// The 64-bit profile shares debian12-armhf's recipe data and differs only where the
    /// architecture does.
    @Test func arm64ProfileIsTheArmhfRecipeForArm64() throws {
        let arm64 = try Self.catalog.load("debian12-arm64")
        let armhf = try Self.catalog.load("debian12-armhf")
        #expect(arm64.arch == .aarch64)
        #expect(arm64.arch.tcgEmulator == "qemu-system-aarch64")
        let recipe = try #require(arm64.image.build?.debian)
        #expect(recipe.architecture == "arm64")
        #expect(recipe.kernelPackage == "linux-image-arm64")
        var same = try #require(armhf.image.build?.debian)
        same.architecture = recipe.architecture
        same.kernelPackage = recipe.kernelPackage
        #expect(same == recipe)
        #expect(arm64.console == armhf.console && arm64.boot == armhf.boot && arm64.install == armhf.install)
        #expect(ImageStore.recipeKey(arm64.image) != ImageStore.recipeKey(armhf.image))
    }

    @Test func debianProfileDecodesItsRecipe() throws {
        let profile = try Self.catalog.load("debian12-armhf")
        #expect(profile.cpus == 2)
        #expect(profile.memory == 1024)
        #expect(profile.image.build?.debian?.kernelPackage == "linux-image-armmp-lpae")
        #expect(profile.boot.method == .directKernel)
        #expect(profile.console.device == .hvc0)
        #expect(profile.smokeTests.map(\.name) == ["rpm-verify"])
    }

    @Test func swappedLettersAreOneTypo() {
        #expect(editDistance("armfh", "armhf") == 1)
        #expect(editDistance("armfh", "arm64") == 2)
        #expect(editDistance("memroy", "memory") == 1)
        #expect(editDistance("kitten", "sitting") == 3)
        #expect(editDistance("", "abc") == 3)
    }

    @Test func unknownProfileNameSuggestsTheClosest() {
        #expect {
            try Self.catalog.load("debian12-armfh")
        } throws: { error in
            "\(error)".contains("did you mean 'debian12-armhf'")
        }
    }

    /// A valid profile to break one line at a time.
    static let valid = """
        arch: armv7l
        machine: virt
        cpus: 2
        memory: 1024
        image:
          build:
            debian:
              suite: bookworm
              mirror: http://deb.debian.org/debian
              architecture: armhf
              kernelPackage: linux-image-armmp-lpae
              diskSize: 4G
              packages: [rpm]
        boot:
          method: direct-kernel
        console:
          device: hvc0
          login: autologin
        provisioning: cloud-init
        install: rpm -Uvh {packages}
        smokeTests:
          - name: verify
            run: rpm -V {package}
        """

    @Test func theBaseOfTheBadTableIsValid() throws {
        _ = try ProfileLoader.parse(yaml: Self.valid, name: "t", file: "t.yaml")
    }

    struct BadProfile: CustomTestStringConvertible, Sendable {
        var label: String
        var replace: String
        var with: String
        var line: Int?
        var message: String
        var testDescription: String { label }
    }

    static let badProfiles: [BadProfile] = [
        .init(label: "syntax error", replace: "cpus: 2", with: "cpus: [2", line: 4, message: "YAML syntax error"),
        .init(
            label: "bad indentation", replace: "  method: direct-kernel", with: "    method: direct-kernel\n  x", line: 16,
            message: "YAML syntax error"),
        .init(
            label: "unknown key with suggestion", replace: "memory: 1024", with: "memroy: 1024", line: 4,
            message: "unknown key 'memroy'; did you mean 'memory'?"),
        .init(
            label: "unknown nested key", replace: "  login: autologin", with: "  login: autologin\n  colour: blue", line: 19,
            message: "unknown key 'colour' in 'console'"),
        .init(label: "wrong type", replace: "cpus: 2", with: "cpus: two", line: 3, message: "expected a whole number, found 'two'"),
        .init(
            label: "list where a number goes", replace: "memory: 1024", with: "memory: [1024]", line: 4, message: "expected a whole number"),
        .init(label: "missing field", replace: "install: rpm -Uvh {packages}\n", with: "", line: nil, message: "missing key 'install'"),
        .init(
            label: "missing nested field", replace: "  method: direct-kernel\n", with: "  kernelCommandLine: quiet\n", line: 15,
            message: "missing key 'method' in 'boot'"),
        .init(label: "zero CPUs", replace: "cpus: 2", with: "cpus: 0", line: 3, message: "cpus must be between 1 and 8"),
        .init(label: "too many CPUs", replace: "cpus: 2", with: "cpus: 64", line: 3, message: "cpus must be between 1 and 8"),
        .init(label: "too little memory", replace: "memory: 1024", with: "memory: 16", line: 4, message: "memory is in MiB"),
        .init(
            label: "arch QEMU lacks", replace: "arch: armv7l", with: "arch: mips64", line: 1,
            message: "'mips64' is not one of armv7l, aarch64"),
        .init(label: "arch typo", replace: "arch: armv7l", with: "arch: armv7", line: 1, message: "did you mean 'armv7l'?"),
        .init(
            label: "unknown machine", replace: "machine: virt", with: "machine: raspi2b", line: 2,
            message: "machine 'raspi2b' is not supported"),
        .init(
            label: "unknown boot method", replace: "method: direct-kernel", with: "method: grub", line: 15,
            message: "'grub' is not one of direct-kernel, u-boot"),
        .init(
            label: "unknown console device", replace: "device: hvc0", with: "device: ttyS0", line: 17,
            message: "'ttyS0' is not one of hvc0, ttyAMA0"),
        .init(
            label: "password login without password", replace: "login: autologin", with: "login: password", line: 17,
            message: "password login needs"),
        .init(
            label: "install without {packages}", replace: "install: rpm -Uvh {packages}", with: "install: rpm -Uvh", line: 20,
            message: "does not mention {packages}"),
        .init(
            label: "image with both build and url", replace: "image:\n",
            with: "image:\n  url: https://example.org/x.raw.xz\n  sha256: \(String(repeating: "a", count: 64))\n", line: 6,
            message: "both `build` and `url`"),
        .init(
            label: "download without checksum",
            replace:
                "  build:\n    debian:\n      suite: bookworm\n      mirror: http://deb.debian.org/debian\n      architecture: armhf\n      kernelPackage: linux-image-armmp-lpae\n      diskSize: 4G\n      packages: [rpm]\n",
            with: "  url: https://example.org/x.raw.xz\n", line: 6, message: "needs a checksum"),
        .init(
            label: "short sha256",
            replace:
                "  build:\n    debian:\n      suite: bookworm\n      mirror: http://deb.debian.org/debian\n      architecture: armhf\n      kernelPackage: linux-image-armmp-lpae\n      diskSize: 4G\n      packages: [rpm]\n",
            with: "  url: https://example.org/x.raw.xz\n  sha256: abc\n", line: 7, message: "64 hexadecimal digits"),
        .init(
            label: "duplicate smoke test", replace: "    run: rpm -V {package}",
            with: "    run: rpm -V {package}\n  - name: verify\n    run: true", line: 24, message: "listed twice"),
        .init(label: "duplicate key", replace: "cpus: 2", with: "cpus: 2\ncpus: 3", line: nil, message: "more than once"),
        .init(
            label: "empty warm-up", replace: "install: rpm -Uvh {packages}", with: "install: rpm -Uvh {packages}\nwarmUp: \" \"", line: 21,
            message: "warmUp is empty"),
        .init(label: "empty file", replace: Self.valid, with: "", line: nil, message: "the file is empty"),
    ]

    @Test(arguments: badProfiles)
    func badProfileIsRejectedWithLineAndFix(_ bad: BadProfile) throws {
        let yaml = Self.valid.replacingOccurrences(of: bad.replace, with: bad.with)
        #expect(yaml != Self.valid || bad.replace == bad.with, "the table row did not change the profile")
        do {
            _ = try ProfileLoader.parse(yaml: yaml, name: "bad", file: "profiles/bad.yaml")
            Issue.record("accepted a bad profile: \(bad.label)")
        } catch {
            #expect(error.message.contains(bad.message), "message was: \(error.message)")
            #expect(error.file == "profiles/bad.yaml")
            if let line = bad.line { #expect(error.location?.line == line, "\(error)") }
            #expect(error.description.hasPrefix("profiles/bad.yaml"))
        }
    }

    @Test func aMissingFileSaysSo() {
        #expect {
            try ProfileLoader.load(file: URL(fileURLWithPath: "/nonexistent/p.yaml"))
        } throws: { error in
            "\(error)".contains("no such file")
        }
    }
}
