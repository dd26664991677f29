import Foundation
import Testing

@testable import VMTest

/// `debian/tests/control` read as autopkgtest's testdesc.py reads it (README.package-tests).
@Suite struct DEP8ControlTests {
    let source = try! DebianControlFile.parse(
        """
        Source: hello
        Build-Depends: debhelper-compat (= 13), libfoo-dev [amd64] | libbar-dev, ${misc:Pre-Depends}

        Package: hello
        Architecture: any
        Recommends: hello-doc

        Package: hello-data
        Architecture: all

        Package: hello-x86
        Architecture: amd64 i386

        Package: hello-udeb
        Package-Type: udeb
        Architecture: any
        """, file: "debian/control")

    @Test func testsCommandsNamesAndDependencies() throws {
        let tests = try DEP8Control.parse(
            """
            # leading comment
            Tests: smoke, upgrade
              second-line
            Depends: @, python3 (>= 3.9) [armhf arm64] | python3-minimal, gcc [amd64]
            Restrictions: needs-root, # the test writes /etc
             allow-stderr

            Test-Command: hello --version
            Features: test-name=version
            Restrictions: superficial

            Test-Command: true
            Depends: hello-data

            Test-Command: false
            Restrictions: flaky skippable
            Tests-Directory: ignored/for/commands

            Tests: in-tree
            Tests-Directory: tests/dep8
            """, file: "debian/tests/control", source: source, architecture: "armhf")
        #expect(tests.map(\.name) == ["smoke", "upgrade", "second-line", "version", "command1", "command2", "in-tree"])
        #expect(tests[0].program == .script(path: "debian/tests/smoke"))
        #expect(tests[0].restrictions == [.needsRoot, .allowStderr])
        #expect(tests[0].line == 2)
        // `@` is each binary package built for armhf (not the amd64-only one, not the udeb).
        #expect(tests[0].depends.description == "hello, hello-data, python3 (>= 3.9) | python3-minimal")
        #expect(tests[3].program == .command("hello --version"))
        #expect(tests[3].restrictions == [.superficial])
        #expect(tests[3].depends.description == "hello, hello-data", "no Depends means `Depends: @`")
        #expect(tests[4].depends.description == "hello-data")
        #expect(tests[5].restrictions == [.flaky, .skippable])
        #expect(tests[6].program == .script(path: "tests/dep8/in-tree"))
        #expect(tests.allSatisfy { $0.skipReason == nil })
    }

    @Test func substitutionsForBuildDependenciesAndRecommends() throws {
        let tests = try DEP8Control.parse(
            "Test-Command: make check\nDepends: @builddeps@, @recommends@\n", file: "control", source: source,
            architecture: "armhf")
        #expect(tests[0].depends.description == "debhelper-compat (= 13), libbar-dev, build-essential, hello-doc")
        let needsRecommends = try DEP8Control.parse(
            "Tests: t\nRestrictions: needs-recommends\n", file: "control", source: source, architecture: "armhf")
        #expect(needsRecommends[0].depends.description == "hello, hello-data, hello-doc")
    }

    @Test func withoutDebianControlTheAtIsThePackagesUnderTest() throws {
        let tests = try DEP8Control.parse(
            "Tests: t\n", file: "control", source: nil, packagesUnderTest: ["foo", "foo-tools"], architecture: "armhf")
        #expect(tests[0].depends.description == "foo, foo-tools")
    }

    @Test func whatAutopkgtestSkipsIsSkippedWithItsReason() throws {
        let tests = try DEP8Control.parse(
            """
            Tests: b
            X-Custom: 1

            Tests: c
            Architecture: amd64 !i386

            Tests: d
            Architecture: !amd64

            Tests: e
            Restrictions: build-needed

            Tests: f
            Architecture: linux-any any-arm
            """, file: "control", source: source, architecture: "armhf")
        #expect(
            tests.map(\.skipReason) == [
                nil, "not for armhf (Architecture: amd64 !i386)", nil,
                "needs a built source tree; vmtest tests installed packages and builds nothing", nil,
            ])
    }

    @Test(arguments: [
        ("Tests: a\nTest-Command: b\n", 1, "both `Tests` and `Test-Command`"),
        ("Depends: foo\n", 1, "neither `Tests` nor `Test-Command`"),
        ("\n\nTests: a\n\nTests:\nDepends: x\n", 5, "`Tests` is empty"),
        ("Test-Command: a\nFeatures: test-name\n", 2, "`test-name` needs a value"),
        ("Tests: a\nFeatures: test-name=b\n", 1, "`test-name` only names a `Test-Command`"),
        ("Tests: a\nDepends: foo (>= 1\n", 2, "`(` is never closed"),
        ("Tests: a\nDepends: foo (1.0)\n", 2, "has no relation"),
        (" Tests: a\n", 1, "a continuation line with no field before it"),
        ("Tests: a\nnot a field\n", 2, "`not a field` is not a field"),
        ("Tests: a\nDepends: x\ndepends: y\n", 3, "field `depends` appears twice"),
        ("Tests: a\n\nTest-Command: true\nFeatures: test-name=a\n", 3, "two tests are named `a`"),
        ("Tests: a\nTests-Directory: ../elsewhere\n", 2, "leaves the source tree"),
        ("Tests: a\nRestrictions: needs-root, needs-magic\n", 2, "unknown restriction `needs-magic`"),
        ("Tests: a\n\nTests: b\nDepends: x\nFrobnicate: yes\n", 5, "unknown field `Frobnicate`"),
    ])
    func mistakesNameTheirLine(control: String, line: Int, message: String) {
        #expect {
            try DEP8Control.parse(control, file: "debian/tests/control", source: nil, architecture: "armhf")
        } throws: { error in
            guard let error = error as? TestMetadataError else { return false }
            return error.file == "debian/tests/control" && error.line == line && error.message.contains(message)
        }
    }

    @Test func dependencyFieldsNarrowToTheArchitecture() throws {
        let dependency = try DebianDependency.parse(
            "a:any, b [!armhf] | c <!nocheck>, d <nocheck>, e [any-arm] (<< 2), f [arm64]", architecture: "armhf")
        #expect(dependency.description == "a:any, c, e (<< 2)")
        #expect(throws: DependencySyntaxError.self) { try DebianDependency.parse("a, (>= 1)", architecture: "armhf") }
    }
}
