import Foundation

/// A declarative description of one kind of guest: what to boot and how to talk to it.
///
/// Profiles are YAML files in `profiles/`; the file name (without `.yaml`) is the
/// profile's name. Decoding only checks shape; ``ProfileValidator`` checks meaning.
public struct Profile: Sendable, Hashable {
    public var name: String
    public var summary: String?
    public var arch: GuestArchitecture
    /// QEMU machine type; vmtest drives `virt`, the board-less machine QEMU recommends for Arm guests.
    public var machine: String
    public var cpus: Int
    /// Guest memory in MiB.
    public var memory: Int
    public var image: ImageSource
    public var boot: BootSpec
    public var console: ConsoleSpec
    public var provisioning: Provisioning
    /// More cloud-config keys for this profile's guests, appended to the user-data that
    /// vmtest renders from `cloud-init/user-data`.
    public var cloudInitUserData: String?
    /// Workarounds this profile forces or disables (`workarounds: {force: [...], disable: [...]}`).
    public var workarounds: WorkaroundSelection?
    /// The command channel `vmtest run` uses unless `--channel` says otherwise.
    public var channel: ChannelKind
    /// Shell command that installs packages; `{packages}` becomes the guest paths of the RPMs.
    public var install: String
    /// Shell command that upgrades the installed RPMs from the run's served repository
    /// (`vmtest run --update`); .deb updates go through apt on Debian guests.
    public var update: String?
    /// Checks run after every install; `{package}` becomes each installed package's name.
    public var smokeTests: [SmokeTest]
    /// Shell command a guest runs once before it is saved for warm starts: what every
    /// run's first install reads and makes (the package manager's modules, databases and
    /// caches) is then in the saved memory and on the frozen disk, not paid again by each
    /// restored run.
    public var warmUp: String?

    /// The Debian architecture of a guest vmtest builds from Debian's packages: such a
    /// guest installs `.deb` files with apt, and its dpkg status is known before it boots
    /// (the image holds it), so their dependencies can be resolved here. `nil` for other
    /// guests.
    public var debianArchitecture: String? { image.build?.debian?.architecture }

    /// The guest's architecture as dpkg names it, which DEP-8 metadata is written in
    /// (`Architecture:` fields, `[armhf]` qualifiers), whether or not the guest runs dpkg.
    public var dpkgArchitecture: String {
        debianArchitecture ?? (arch == .aarch64 ? "arm64" : "armhf")
    }
}

extension Profile: Decodable {
    enum CodingKeys: String, CodingKey {
        case summary, arch, machine, cpus, memory, image, boot, console, provisioning, cloudInitUserData, workarounds, channel, install,
            update, smokeTests, warmUp
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = ""
        summary = try container.decodeIfPresent(String.self, forKey: .summary)
        arch = try container.decode(GuestArchitecture.self, forKey: .arch)
        machine = try container.decodeIfPresent(String.self, forKey: .machine) ?? "virt"
        cpus = try container.decode(Int.self, forKey: .cpus)
        memory = try container.decode(Int.self, forKey: .memory)
        image = try container.decode(ImageSource.self, forKey: .image)
        boot = try container.decode(BootSpec.self, forKey: .boot)
        console = try container.decode(ConsoleSpec.self, forKey: .console)
        provisioning = try container.decode(Provisioning.self, forKey: .provisioning)
        channel = try container.decodeIfPresent(ChannelKind.self, forKey: .channel) ?? .serial
        cloudInitUserData = try container.decodeIfPresent(String.self, forKey: .cloudInitUserData)
        workarounds = try container.decodeIfPresent(WorkaroundSelection.self, forKey: .workarounds)
        install = try container.decode(String.self, forKey: .install)
        update = try container.decodeIfPresent(String.self, forKey: .update)
        smokeTests = try container.decodeIfPresent([SmokeTest].self, forKey: .smokeTests) ?? []
        warmUp = try container.decodeIfPresent(String.self, forKey: .warmUp)
    }
}

/// Encoded for keys: a saved guest state is only reused by the profile that made it.
/// Workarounds are left out: what they change shows in the domain itself.
extension Profile: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(summary, forKey: .summary)
        try container.encode(arch, forKey: .arch)
        try container.encode(machine, forKey: .machine)
        try container.encode(cpus, forKey: .cpus)
        try container.encode(memory, forKey: .memory)
        try container.encode(image, forKey: .image)
        try container.encode(boot, forKey: .boot)
        try container.encode(console, forKey: .console)
        try container.encode(provisioning, forKey: .provisioning)
        try container.encodeIfPresent(cloudInitUserData, forKey: .cloudInitUserData)
        try container.encode(channel, forKey: .channel)
        try container.encode(install, forKey: .install)
        try container.encodeIfPresent(update, forKey: .update)
        try container.encode(smokeTests, forKey: .smokeTests)
        try container.encodeIfPresent(warmUp, forKey: .warmUp)
    }
}

/// Guest CPU architectures vmtest can boot.
public enum GuestArchitecture: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    /// 32-bit Arm (armhf / armhfp / armv7hl userlands).
    case armv7l
    case aarch64

    /// The QEMU system emulator for this guest under TCG.
    public var tcgEmulator: String {
        switch self {
        case .armv7l: return "qemu-system-arm"
        case .aarch64: return "qemu-system-aarch64"
        }
    }

    /// The CPU model QEMU emulates when KVM cannot run the guest.
    public var tcgCPUModel: String {
        switch self {
        case .armv7l: return "cortex-a15"
        // Has AArch32 at EL0, so the same model runs an armhf userland under a 64-bit kernel.
        case .aarch64: return "cortex-a72"
        }
    }

    /// RPM architectures whose packages this guest can install.
    public var rpmArchitectures: Set<String> {
        switch self {
        case .armv7l: return ["armv7hl", "armv7l", "armhfp", "noarch"]
        case .aarch64: return ["aarch64", "noarch"]
        }
    }
}

/// Where the base disk comes from: built locally from a recipe, or downloaded.
public struct ImageSource: Sendable, Hashable, Codable {
    /// Build the image from Debian packages.
    public var build: ImageBuild?
    /// Download a disk image (`http(s)://` or `file://`), optionally compressed.
    public var url: String?
    /// Expected SHA-256 of the downloaded file.
    public var sha256: String?
    /// A checksum file published beside the image (the mirrors' `sha256sum.txt` style).
    public var checksumURL: String?
}

/// Recipes vmtest knows how to build.
public struct ImageBuild: Sendable, Hashable, Codable {
    public var debian: DebianImageRecipe?
}

public struct BootSpec: Sendable, Hashable, Codable {
    public var method: BootMethod
    /// Kernel command line for direct kernel boot; the built image supplies one when absent.
    public var kernelCommandLine: String?
    /// U-Boot binary for `u-boot` boot.
    public var firmware: String?

    /// Debian's U-Boot for QEMU's 32-bit virt machine (package u-boot-qemu).
    public static let armUBoot = "/usr/lib/u-boot/qemu_arm/u-boot.bin"
}

public enum BootMethod: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    /// QEMU loads the kernel and initrd itself: fastest, needs them outside the disk.
    case directKernel = "direct-kernel"
    /// U-Boot runs first and boots the disk's own extlinux.conf, as a board does.
    case uBoot = "u-boot"
}

public struct ConsoleSpec: Sendable, Hashable, Codable {
    /// The guest device vmtest's command channel talks to.
    public var device: ConsoleDevice
    public var login: LoginMethod
    public var user: String?
    public var password: String?
}

public enum ConsoleDevice: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    /// The virtio console: no kernel messages and no boot noise, so the cleanest channel.
    case hvc0
    /// The PL011 UART of the virt machine, where the kernel console also lives.
    case ttyAMA0
}

public enum LoginMethod: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    /// The image runs a root shell on the console without a login prompt.
    case autologin
    /// A `login:` prompt answered with the profile's user and password.
    case password
}

public enum Provisioning: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    /// A NoCloud seed (ISO labelled `cidata`) configures the guest at first boot.
    case cloudInit = "cloud-init"
    /// The image is booted as it is: nothing configures it, no seed is attached, and
    /// vmtest only logs in on its console, so only `--channel serial` reaches it.
    case serial
}

public struct SmokeTest: Sendable, Hashable, Codable {
    public var name: String
    public var run: String
}

/// A closed set of YAML words, decoded with a located "must be one of" error and a
/// did-you-mean suggestion.
public protocol YAMLChoice: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension YAMLChoice {
    public init(from decoder: any Decoder) throws {
        let word = try decoder.singleValueContainer().decode(String.self)
        if let value = Self(rawValue: word) {
            self = value
            return
        }
        let choices = Self.allCases.map(\.rawValue)
        let suggestion = closestMatch(to: word, among: choices)
        throw decoder.invalidValue(
            "'\(word)' is not one of \(choices.joined(separator: ", "))" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
            fix: "use one of: \(choices.joined(separator: ", "))")
    }
}
