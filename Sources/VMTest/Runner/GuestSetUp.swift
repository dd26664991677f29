/// What a run puts in its guest before the first test (its files, its keys, its helpers),
/// sent as one command as soon as the guest answers. A restored guest gets it in the same
/// console round trip as its refresh: under TCG each round trip costs a few tenths of a
/// second, and each process the command starts about 50 ms.
public struct GuestSetUp: Sendable, Hashable {
    /// vmtest's own files and folders, the same for every run: the reboot helpers, in the
    /// run folder they make. A saved guest was given them before its save
    /// (``WarmStarter/preparation``), so only a booted guest runs them, before the rest.
    static let common = [TestReboots.installHelpers(in: PackageTestRunner.guestDirectory)]

    /// Shell snippets every guest of the run runs, in order.
    public var always: [String] = []
    /// Shell snippets only a guest restored from a saved state runs, after ``always``: a
    /// booted guest has them from its own first boot (cloud-init's keys).
    public var whenRestored: [String] = []

    public init() {}

    /// The snippets `start` needs, or none.
    public func snippets(for start: GuestStart) -> [String] {
        start.isWarm ? always + whenRestored : Self.common + always
    }

    /// `snippets` as one script: it stops at the first snippet that fails, and waits for
    /// what the snippets left running in the background (the refresh's reseed).
    static func script(_ snippets: [String]) -> String {
        (["set -e"] + snippets + ["wait"]).joined(separator: "\n")
    }
}
