import Foundation

/// The tests a packager already wrote, found under `--tests-from PATH`: a source tree or a
/// Debian `.dsc` with `debian/tests/control` (DEP-8), or a directory holding an fmf tree
/// (tmt). vmtest finds the metadata itself and says what it found.
public struct TestSource: Sendable {
    public enum Format: String, Sendable {
        case dep8 = "DEP-8"
        case tmt = "tmt/fmf"
    }

    public enum Tests: Sendable {
        case dep8([DEP8Test])
        case tmt([TMTTest])
    }

    /// The directory copied into the guest: the unpacked source tree or the fmf tree.
    public var root: URL
    public var tests: Tests
    /// Found but not selected: disabled (`enabled: false`) or left out by a filter.
    public var leftOut: Int

    public var format: Format {
        if case .dep8 = tests { return .dep8 }
        return .tmt
    }

    /// Each test's name, as its metadata writes it: what results call it.
    public var testNames: [String] {
        switch tests {
        case .dep8(let tests): tests.map(\.name)
        case .tmt(let tests): tests.map(\.name)
        }
    }

    /// What a person reads before the run starts: the format, where, how many tests.
    public var summary: String {
        switch tests {
        case .dep8(let tests):
            let skipped = tests.filter { $0.skipReason != nil }.count
            return "DEP-8 tests from \(root.path)/debian/tests/control: \(tests.count) test(s)"
                + (skipped > 0 ? ", \(skipped) to be skipped" : "")
        case .tmt(let tests):
            return "tmt tests from the fmf tree at \(root.path): \(tests.count) selected"
                + (leftOut > 0 ? ", \(leftOut) left out (disabled or filtered)" : "")
        }
    }

    /// - Parameters:
    ///   - scratch: an empty folder of the run's, where a `.dsc` is unpacked.
    ///   - prefer: the format to use when a tree has both (the profile's: DEP-8 for Debian
    ///     guests, tmt for RPM guests).
    ///   - filter: `--filter`, in tmt's syntax; for tmt tests only.
    public static func discover(
        _ path: URL, scratch: URL, prefer: Format, architecture: String, packagesUnderTest: [String],
        filter: TMTFilter? = nil
    ) async throws -> TestSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw TestMetadataError(file: path.path, message: "does not exist", fix: "give a source tree, a .dsc or an fmf tree")
        }
        var root = path
        if !isDirectory.boolValue {
            guard path.pathExtension == "dsc" else {
                throw TestMetadataError(
                    file: path.path, message: "is neither a directory nor a Debian source package (.dsc)",
                    fix: "give a source tree, a .dsc or a directory holding an fmf tree")
            }
            root = scratch.appendingPathComponent("source")
            _ = try await ExternalTool.dpkgSource.run(["--no-check", "-x", path.path, root.path], workingDirectory: scratch.path)
        }
        let control = root.appendingPathComponent("debian/tests/control")
        let hasDEP8 = FileManager.default.fileExists(atPath: control.path)
        let hasFMF = FMFTree.isTree(root)
        switch (hasDEP8, hasFMF) {
        case (true, false),
            (true, true) where prefer == .dep8:
            return try dep8(root: root, control: control, architecture: architecture, packagesUnderTest: packagesUnderTest)
        case (_, true):
            return try tmt(root: root, filter: filter)
        case (false, false):
            throw TestMetadataError(
                file: root.path, message: "holds no tests vmtest knows: neither debian/tests/control (DEP-8) nor .fmf/version (fmf)",
                fix: "point --tests-from at the source tree's root, or at the directory holding .fmf/")
        }
    }

    static func dep8(root: URL, control: URL, architecture: String, packagesUnderTest: [String]) throws -> TestSource {
        let text = try String(contentsOf: control, encoding: .utf8)
        let sourceControlURL = root.appendingPathComponent("debian/control")
        let sourceControl = try (try? String(contentsOf: sourceControlURL, encoding: .utf8)).map {
            try DebianControlFile.parse($0, file: "debian/control")
        }
        let tests = try DEP8Control.parse(
            text, file: "debian/tests/control", source: sourceControl, packagesUnderTest: packagesUnderTest,
            architecture: architecture)
        for test in tests where test.skipReason == nil {
            if case .script(let path) = test.program, !FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path) {
                throw TestMetadataError(
                    file: "debian/tests/control", line: test.line, message: "test `\(test.name)` has no file \(path)",
                    fix: "add the script, or correct `Tests` / `Tests-Directory`")
            }
        }
        return TestSource(root: root, tests: .dep8(tests), leftOut: 0)
    }

    /// tmt's selection: enabled tests, each plan's `discover` filter (`how: fmf`) when the
    /// tree has plans, then `--filter`; ordered by `order`, then as fmf lists them.
    static func tmt(root: URL, filter: TMTFilter?) throws -> TestSource {
        let tree = try FMFTree.read(root: root)
        var all: [TMTTest] = []
        for node in tree.nodes { if let test = try TMTTest.from(node) { all.append(test) } }
        // Each plan selects the tests matching all of its filters (as fmf's prune does);
        // a test runs once if any plan selects it.
        var plans: [[TMTFilter]] = []
        var hasPlans = false
        for node in tree.nodes {
            guard case .map(let discover)? = node.data["discover"] else { continue }
            hasPlans = true
            guard discover["how"]?.text == "fmf" else { continue }
            var filters: [TMTFilter] = []
            for text in discover["filter"]?.strings ?? [] { filters.append(try TMTFilter(text)) }
            plans.append(filters)
        }
        let selected = all.enumerated().filter { _, test in
            test.enabled
                && (!hasPlans || plans.contains { $0.allSatisfy { $0.matches(name: test.name, data: test.data) } })
                && (filter?.matches(name: test.name, data: test.data) ?? true)
        }
        .sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }
        .map(\.element)
        return TestSource(root: root, tests: .tmt(selected), leftOut: all.count - selected.count)
    }
}
