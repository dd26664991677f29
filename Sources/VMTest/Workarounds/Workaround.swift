import Foundation

/// A named change vmtest makes to a guest because of a known QEMU, KVM or guest-software
/// problem, with the reason it exists.
///
/// Workarounds are declared once, in ``Workaround/registry``; whether one applies is a pure
/// function of a ``WorkaroundContext``, so the decisions are testable and every applied
/// workaround is reported with its reason (``RunReport/AppliedWorkaround``).
public struct Workaround: Sendable, Identifiable {
    /// What `--workaround` and `--no-workaround` take, and what reports show.
    public var name: String
    /// One line: what it does.
    public var summary: String
    /// Why it exists.
    public var reason: String
    /// Where the problem is described: a URL or a QEMU / Launchpad bug title.
    public var reference: String
    /// What vmtest's own measurements showed, which decides whether it applies on its own.
    public var evidence: Evidence
    /// When its problem would arise; it then applies unasked if the problem was reproduced.
    public var condition: @Sendable (WorkaroundContext) -> Bool
    /// Changes the domain; returns what it changed, in words, for the report.
    public var domainChange: (@Sendable (inout DomainDefinition, WorkaroundSettings) -> String)?
    /// Variables added to the environment of test commands in the guest.
    public var environment: [String: String]

    public var id: String { name }

    public init(
        name: String, summary: String, reason: String, reference: String, evidence: Evidence,
        condition: @escaping @Sendable (WorkaroundContext) -> Bool,
        domainChange: (@Sendable (inout DomainDefinition, WorkaroundSettings) -> String)? = nil,
        environment: [String: String] = [:]
    ) {
        self.name = name
        self.summary = summary
        self.reason = reason
        self.reference = reference
        self.evidence = evidence
        self.condition = condition
        self.domainChange = domainChange
        self.environment = environment
    }
}

extension Workaround {
    /// What was seen of a workaround's problem here. A workaround for a problem seen
    /// applies by itself whenever its condition holds; one for a problem tried for and
    /// not seen is kept, with its reference, for whoever meets it (`--workaround NAME`),
    /// rather than slowing every run on a report nobody here could reproduce.
    public enum Evidence: Sendable, Hashable {
        /// Seen: how, with which versions.
        case reproduced(String)
        /// Tried for and not seen: what was tried, with which versions.
        case notReproduced(String)

        public var appliesByItself: Bool {
            if case .reproduced = self { return true }
            return false
        }

        public var text: String {
            switch self {
            case .reproduced(let text), .notReproduced(let text): text
            }
        }
    }
}

/// What a workaround's condition looks at: the guest, how it runs, and what gets installed.
public struct WorkaroundContext: Sendable, Hashable {
    public var profile: String
    public var arch: GuestArchitecture
    public var accelerator: Accelerator
    /// `uname -m` of the host.
    public var hostArchitecture: String
    /// QEMU machine type (`virt`, `virt-7.2`, ...).
    public var machine: String
    public var memoryMiB: Int
    public var packages: [InstalledPackage]

    public init(
        profile: String, arch: GuestArchitecture, accelerator: Accelerator, hostArchitecture: String,
        machine: String = "virt", memoryMiB: Int = 1024, packages: [InstalledPackage] = []
    ) {
        self.profile = profile
        self.arch = arch
        self.accelerator = accelerator
        self.hostArchitecture = hostArchitecture
        self.machine = machine
        self.memoryMiB = memoryMiB
        self.packages = packages
    }

    /// The context of a domain about to be created on `host`.
    public init(definition: DomainDefinition, host: HostMachine, packages: [InstalledPackage]) {
        self.init(
            profile: definition.run.profile, arch: definition.arch, accelerator: definition.accelerator.accelerator,
            hostArchitecture: host.architecture, machine: definition.machine, memoryMiB: definition.memoryMiB,
            packages: packages)
    }

    /// Some package to be installed is Java, or needs it.
    public var installsJava: Bool {
        packages.contains { $0.isJava }
    }
}

/// A package a run installs: its name and the names in its `Requires` (`rpm -qpR`,
/// without versions).
public struct InstalledPackage: Sendable, Hashable {
    public var name: String
    public var requires: [String]

    public init(name: String, requires: [String] = []) {
        self.name = name
        self.requires = requires
    }

    /// The package is a JVM or needs one: its name or a requirement has a word `java`,
    /// `jre`, `jdk`, `openjdk` or `javapackages` (`java-17-openjdk-headless`,
    /// `jre-headless`, `java >= 1:11`), but not `javascript-common`.
    public var isJava: Bool {
        ([name] + requires).contains(where: Self.namesJava)
    }

    static let javaWords: Set<Substring> = ["java", "jre", "jdk", "openjdk", "javapackages"]

    static func namesJava(_ name: String) -> Bool {
        name.lowercased().split { !($0.isLetter || $0.isNumber) }.contains { javaWords.contains($0) }
    }
}

/// Values some workarounds take.
public struct WorkaroundSettings: Sendable, Hashable {
    /// The host CPU `java-single-cpu` pins the guest's vCPU and emulator thread to.
    public var pinnedHostCPU: Int

    public init(pinnedHostCPU: Int = 0) {
        self.pinnedHostCPU = pinnedHostCPU
    }
}
