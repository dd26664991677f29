import Foundation
import Testing

@testable import VMTest

/// fmf trees read as the fmf library grows them, and tmt tests made from their nodes.
@Suite struct FMFTreeTests {
    /// Writes `files` (path: text) under a new directory with `.fmf/version`.
    static func tree(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-fmf-\(UUID().uuidString)")
        for (path, text) in files.merging([".fmf/version": "1\n"], uniquingKeysWith: { a, _ in a }) {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func inheritanceMergesAndChildren() throws {
        let root = try Self.tree([
            "main.fmf": "require: [coreutils]\nduration: 10m\ntag: [all]\nenvironment: {LANG: C}\n",
            "tests/main.fmf": "tag+: [fast]\nrequire+: [hello]\nenvironment+: {MODE: quick}\n",
            "tests/smoke.fmf": "summary: smoke\ntest: ./smoke.sh\ntag-: [all]\n",
            "tests/more.fmf": """
            test: ./more.sh
            /one:
                result: xfail
            /two:
                test: ./two.sh
                duration: 1h 30m
                tag+<: [first]
                /deep:
                    order: 10
            """,
            "tests/sub/main.fmf": "test: ./sub.sh\npath: /scripts\nenabled: false\nframework: beakerlib\n",
            "tests/alone/main.fmf": "/:\n  inherit: false\ntest: ./alone.sh\n",
            "not-metadata/readme.txt": "a directory without .fmf files is no node",
            ".hidden/main.fmf": "test: never\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let tree = try FMFTree.read(root: root)
        let tests = try tree.nodes.compactMap(TMTTest.from)
        // fmf's order: children sorted by name at each level.
        #expect(
            tests.map(\.name) == [
                "/tests/alone", "/tests/more/one", "/tests/more/two/deep", "/tests/smoke", "/tests/sub",
            ])
        let byName = Dictionary(uniqueKeysWithValues: tests.map { ($0.name, $0) })

        let smoke = try #require(byName["/tests/smoke"])
        #expect(smoke.command == "./smoke.sh")
        #expect(smoke.directory == "tests")
        #expect(smoke.require == ["coreutils", "hello"])
        #expect(smoke.tags == ["fast"])
        #expect(smoke.environment == ["LANG": "C", "MODE": "quick"])
        #expect(smoke.duration == .seconds(600))
        #expect(smoke.result == .respect && smoke.framework == .shell && smoke.enabled && smoke.order == 50)

        let one = try #require(byName["/tests/more/one"])
        #expect(one.command == "./more.sh" && one.result == .xfail)
        let deep = try #require(byName["/tests/more/two/deep"])
        #expect(deep.command == "./two.sh")
        #expect(deep.duration == .seconds(5400))
        #expect(deep.tags == ["first", "all", "fast"])
        #expect(deep.order == 10)

        let sub = try #require(byName["/tests/sub"])
        #expect(sub.directory == "scripts" && !sub.enabled && sub.framework == .beakerlib)

        let alone = try #require(byName["/tests/alone"])
        #expect(alone.require.isEmpty && alone.duration == .seconds(300), "inherit: false starts from nothing")
        #expect(alone.directory == "tests/alone")
    }

    @Test(arguments: [
        ("tests.fmf", "/t:\n  test: x\n  duration: soon\n", 3, "`duration` must be"),
        ("tests.fmf", "/t:\n  test: x\n  result: maybe\n", 3, "`result` must be one of"),
        ("tests.fmf", "/t:\n  test: x\n  require: {a: b}\n", 3, "`require` must be"),
        ("tests.fmf", "/t:\n  test: x\n  enabled: sometimes\n", 3, "`enabled` must be true or false"),
        ("tests.fmf", "/t:\n  test: x\n  environment: {1X: y}\n", 3, "environment `1X`"),
        ("tests.fmf", "/t:\n  test: x\n  path: relative/dir\n", 3, "`path` must be"),
        ("tests.fmf", "/t:\n  test: [a]\n", 2, "`test` must be a non-empty shell command"),
        ("tests.fmf", "/t:\n  test: x\n   bad: indentation\n", 3, "YAML syntax error"),
        ("tests.fmf", "/t:\n  test: x\n  test: y\n", 2, "appears more than once"),
        ("tests.fmf", "/t:\n  /:\n    inherit: maybe\n  test: x\n", 3, "unknown fmf directive"),
        ("tests.fmf", "/t:\n  test: x\n  tag+: 3\n", 3, "cannot extend the inherited"),
        ("tests.fmf", "- a list\n", 1, "must hold a mapping"),
    ])
    func mistakesNameFileAndLine(file: String, text: String, line: Int, message: String) throws {
        let root = try Self.tree(["main.fmf": "tag: [x]\n", file: text])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect {
            try FMFTree.read(root: root).nodes.compactMap(TMTTest.from)
        } throws: { error in
            guard let error = error as? TestMetadataError else { return false }
            return error.file == file && error.line == line && error.message.contains(message)
        }
    }

    @Test func aDirectoryWithoutFmfVersionIsNoTree() {
        #expect(throws: TestMetadataError.self) {
            try FMFTree.read(root: FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-no-such-tree"))
        }
    }

    @Test(arguments: [
        ("5m", 300.0), ("90", 90), ("1h 30m", 5400), ("2h*2", 14400), ("1d", 86400), ("15s", 15), ("0.5h", 1800),
    ])
    func durations(text: String, seconds: Double) {
        #expect(TMTDuration.parse(text) == .milliseconds(Int(seconds * 1000)))
    }

    @Test func badDurations() {
        for text in ["", "soon", "5x", "-1m", "0", "5m*0"] { #expect(TMTDuration.parse(text) == nil, "\(text)") }
    }
}

@Suite struct TMTFilterTests {
    let data: FMFMap = {
        var map = FMFMap()
        for (key, value) in [
            ("tag", FMFValue.list([.string("slow"), .string("network")])), ("tier", .int(1)),
            ("component", .string("hello")),
        ] {
            map.entries.append(.init(key: key, value: value, file: "t.fmf", line: 1))
        }
        return map
    }()

    @Test(arguments: [
        ("tag: slow", true), ("tag:slow", true), ("tag: -slow", false), ("tag: fast", false), ("tag: -fast", true),
        ("tag: fast, slow", true), ("tag: slow & tier: 1", true), ("tag: slow & tier: 2", false),
        ("tier: 2 | component: hello", true), ("tag: sl.*", true), ("tag: s", false),
        ("missing: x", false), ("missing: -x", false), ("/tests/sm", true), ("/tests/other", false),
        ("/tests/smoke & tag: network", true), ("", true),
    ])
    func filters(text: String, expected: Bool) throws {
        #expect(try TMTFilter(text).matches(name: "/tests/smoke", data: data) == expected)
    }

    @Test func escapedOperatorsAreLiteral() throws {
        var data = FMFMap()
        data.entries = [.init(key: "summary", value: .string("Q&A"), file: "t.fmf", line: 1)]
        #expect(try TMTFilter(#"summary: Q\&A"#).matches(name: "/t", data: data))
        #expect(throws: TestMetadataError.self) { try TMTFilter("tag: (unclosed") }
    }
}

/// `--tests-from`: the format found by itself, and tmt's selection.
@Suite struct TestSourceTests {
    @Test func fmfTreeWithAPlanFilterAndDisabledTests() async throws {
        let root = try FMFTreeTests.tree([
            "plans/smoke.fmf": "discover:\n  how: fmf\n  filter: 'tag: -slow'\nexecute:\n  how: tmt\n",
            "tests/main.fmf": "tag: [fast]\n",
            "tests/a.fmf": "test: 'true'\norder: 60\n",
            "tests/b.fmf": "test: 'true'\n",
            "tests/slow.fmf": "test: 'true'\ntag+: [slow]\n",
            "tests/off.fmf": "test: 'true'\nenabled: false\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let source = try await TestSource.discover(
            root, scratch: root, prefer: .tmt, architecture: "armhf", packagesUnderTest: [])
        guard case .tmt(let tests) = source.tests else {
            Issue.record("not tmt")
            return
        }
        #expect(tests.map(\.name) == ["/tests/b", "/tests/a"], "order 50 before 60; slow filtered by the plan; off disabled")
        #expect(source.leftOut == 2)
        #expect(source.summary.contains("2 selected, 2 left out"))
        let filtered = try await TestSource.discover(
            root, scratch: root, prefer: .tmt, architecture: "armhf", packagesUnderTest: [], filter: try TMTFilter("/tests/a"))
        guard case .tmt(let only) = filtered.tests else { return }
        #expect(only.map(\.name) == ["/tests/a"])
    }

    @Test func sourceTreeWithDEP8() async throws {
        let root = try FMFTreeTests.tree([
            "debian/tests/control": "Tests: smoke\n\nTest-Command: true\n",
            "debian/tests/smoke": "#!/bin/sh\ntrue\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let source = try await TestSource.discover(root, scratch: root, prefer: .dep8, architecture: "armhf", packagesUnderTest: ["hello"])
        #expect(source.format == .dep8)
        guard case .dep8(let tests) = source.tests else { return }
        #expect(tests.map(\.name) == ["smoke", "command1"])
        #expect(tests[0].depends.description == "hello")
        // Both present: the profile's format decides.
        let tmt = try await TestSource.discover(root, scratch: root, prefer: .tmt, architecture: "armhf", packagesUnderTest: [])
        #expect(tmt.format == .tmt)
    }

    @Test func missingScriptsAndEmptyTreesAreBadInput() async throws {
        let root = try FMFTreeTests.tree(["debian/tests/control": "Tests: smoke\n"])
        defer { try? FileManager.default.removeItem(at: root) }
        await #expect(throws: TestMetadataError.self) {
            try await TestSource.discover(root, scratch: root, prefer: .dep8, architecture: "armhf", packagesUnderTest: [])
        }
        let empty = try SuiteExecutionTests.folder()
        defer { try? FileManager.default.removeItem(at: empty) }
        await #expect(throws: TestMetadataError.self) {
            try await TestSource.discover(empty, scratch: empty, prefer: .dep8, architecture: "armhf", packagesUnderTest: [])
        }
    }
}
