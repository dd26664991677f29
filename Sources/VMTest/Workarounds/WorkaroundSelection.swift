import Foundation

/// Which workarounds a run forces or turns off, beyond their own conditions.
///
/// A forced workaround applies whatever its condition says; a disabled one never applies;
/// the rest apply when their problem was reproduced and their condition holds. A profile's
/// `workarounds:` key decodes into one of these, and `vmtest run --workaround NAME` /
/// `--no-workaround NAME` make another that overrides it (``overriding(_:)``).
public struct WorkaroundSelection: Sendable, Hashable {
    public private(set) var forced: Set<String>
    public private(set) var disabled: Set<String>
    public var settings: WorkaroundSettings

    /// Every workaround as its condition decides: nothing forced, nothing disabled.
    public static let none = WorkaroundSelection(unchecked: [], disabled: [], settings: .init())

    private init(unchecked forced: Set<String>, disabled: Set<String>, settings: WorkaroundSettings) {
        self.forced = forced
        self.disabled = disabled
        self.settings = settings
    }

    /// Throws a ``RunInputError`` (exit status 2) for an unknown name, with a
    /// did-you-mean suggestion, or for a name both forced and disabled.
    public init(forced: [String] = [], disabled: [String] = [], settings: WorkaroundSettings = .init()) throws(RunInputError) {
        for (flag, names) in [("--workaround", forced), ("--no-workaround", disabled)] {
            for name in names where Workaround.named(name) == nil {
                throw Self.unknown(name, flag: flag)
            }
        }
        if let both = Set(forced).intersection(disabled).sorted().first {
            throw RunInputError(
                subject: "workaround '\(both)'", problem: "is both forced and disabled",
                fix: "give it to --workaround or to --no-workaround, not both")
        }
        self.forced = Set(forced)
        self.disabled = Set(disabled)
        self.settings = settings
    }

    static func unknown(_ name: String, flag: String) -> RunInputError {
        let suggestion = closestMatch(to: name, among: Workaround.names)
        return RunInputError(
            subject: "\(flag) \(name)",
            problem: "no such workaround" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
            fix: "use one of: \(Workaround.names.joined(separator: ", "))")
    }

    /// This selection (a profile's) with `other` (the command line's) laid over it: what
    /// `other` forces or disables wins.
    public func overriding(_ other: WorkaroundSelection) -> WorkaroundSelection {
        var merged = self
        merged.forced = forced.subtracting(other.disabled).union(other.forced)
        merged.disabled = disabled.subtracting(other.forced).union(other.disabled)
        if other.settings != WorkaroundSettings() { merged.settings = other.settings }
        return merged
    }

    /// The workarounds that apply in `context`, in registry order.
    public func active(in context: WorkaroundContext) -> [Workaround] {
        Workaround.registry.filter { workaround in
            if disabled.contains(workaround.name) { return false }
            if forced.contains(workaround.name) { return true }
            return workaround.evidence.appliesByItself && workaround.condition(context)
        }
    }

    /// The domain with every active workaround's change made, and what was applied, with
    /// reasons, for the run report.
    public func apply(
        to definition: DomainDefinition, context: WorkaroundContext
    ) -> (DomainDefinition, [RunReport.AppliedWorkaround]) {
        var definition = definition
        var applied: [RunReport.AppliedWorkaround] = []
        for workaround in active(in: context) {
            var effects: [String] = []
            if let change = workaround.domainChange { effects.append(change(&definition, settings)) }
            if !workaround.environment.isEmpty {
                effects.append(workaround.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            let forcedNote = forced.contains(workaround.name) ? " (forced)" : ""
            applied.append(
                RunReport.AppliedWorkaround(
                    name: workaround.name,
                    reason: "\(effects.joined(separator: "; "))\(forcedNote): \(workaround.reason) [\(workaround.reference)]"))
        }
        return (definition, applied)
    }

    /// Variables the active workarounds add to the environment of test commands.
    public func environment(in context: WorkaroundContext) -> [String: String] {
        active(in: context).reduce(into: [:]) { environment, workaround in
            environment.merge(workaround.environment) { _, new in new }
        }
    }
}

extension WorkaroundSelection: Decodable {
    enum CodingKeys: String, CodingKey {
        /// Names to apply whatever their conditions say.
        case force
        /// Names never to apply.
        case disable
        /// The host CPU `java-single-cpu` pins to (default 0).
        case hostCPU
    }

    /// A profile's `workarounds: {force: [...], disable: [...], hostCPU: N}`; an unknown
    /// name is a located error with a did-you-mean suggestion.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let forced = try container.decodeIfPresent([String].self, forKey: .force) ?? []
        let disabled = try container.decodeIfPresent([String].self, forKey: .disable) ?? []
        let hostCPU = try container.decodeIfPresent(Int.self, forKey: .hostCPU) ?? 0
        for name in forced + disabled where Workaround.named(name) == nil {
            let suggestion = closestMatch(to: name, among: Workaround.names)
            throw decoder.invalidValue(
                "unknown workaround '\(name)'" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                fix: "use one of: \(Workaround.names.joined(separator: ", "))")
        }
        guard hostCPU >= 0 else {
            throw decoder.invalidValue("hostCPU \(hostCPU) is negative", fix: "give a host CPU number, as `nproc` counts from 0")
        }
        do {
            try self.init(forced: forced, disabled: disabled, settings: .init(pinnedHostCPU: hostCPU))
        } catch {
            throw decoder.invalidValue(error.problem, fix: error.fix)
        }
    }
}
