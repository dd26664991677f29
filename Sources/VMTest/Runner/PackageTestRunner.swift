import Foundation

/// Boots a guest, installs packages, runs their tests and writes the results.
///
/// Only bad input throws (from ``prepare(_:)``, before anything boots). From then on
/// every outcome, including a machinery failure, is a ``RunReport`` written to the
/// results directory, so a CI job always has a JUnit file to read.
public struct PackageTestRunner: Sendable {
    public var launcher: GuestLauncher

    public init(launcher: GuestLauncher) {
        self.launcher = launcher
    }

    /// Checks the request's inputs and decides, for the hypervisor it names, everything
    /// the run will do. Bad input throws before anything boots.
    public func prepare(_ request: RunRequest) async throws -> PreparedRun {
        try await prepare(try await check(request), connectURI: request.connectURI)
    }

    /// Checks what does not depend on a hypervisor: packages, tests, channel, results folder.
    public func check(_ request: RunRequest) async throws -> RunInputs {
        let profile = request.profile
        var packages: [RPMPackage] = []
        for path in request.rpmPaths {
            let package = try await checkRPM(path, request)
            if let clash = packages.first(where: { $0.name == package.name }) {
                throw RunInputError(
                    subject: path, problem: "is package \(package.name) again (also \(clash.file.lastPathComponent))",
                    fix: "give each package once")
            }
            packages.append(package)
        }
        let debs = try await checkDebs(request)
        let repositories = try checkRepositories(request)
        let updates = try await checkUpdates(request)
        var scripts: [URL] = []
        if let directory = request.testsDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw RunInputError(
                    subject: directory, problem: "is not a directory", fix: "give --tests-dir a directory of executable tests")
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            scripts = names.map { URL(fileURLWithPath: directory).appendingPathComponent($0) }
                .filter { FileManager.default.isExecutableFile(atPath: $0.path) && !$0.hasDirectoryPath }
            guard !scripts.isEmpty else {
                throw RunInputError(subject: directory, problem: "has no executable files", fix: "chmod +x the tests in it")
            }
        }
        let channel = request.channel ?? profile.channel
        if channel == .ssh {
            guard profile.provisioning == .cloudInit else {
                throw RunInputError(
                    subject: "--channel ssh",
                    problem: "profile \(profile.name) is not provisioned with cloud-init, so no SSH key of ours reaches it",
                    fix: "use --channel serial")
            }
            _ = try ExternalTool.ssh.resolved()
            _ = try ExternalTool.scp.resolved()
        }
        if profile.provisioning == .cloudInit {
            _ = try ISOImage.writer()
        }
        let runID = GuestLauncher.newRunID()
        let results = URL(fileURLWithPath: request.resultsDirectory ?? "vmtest-results/\(runID)")
        do {
            try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        } catch {
            throw RunInputError(
                subject: results.path, problem: "cannot be created (\(error.localizedDescription))",
                fix: "give --results a writable directory")
        }
        var inputs = RunInputs(
            request: request, runID: runID, packages: packages, debs: debs, testScripts: scripts, channel: channel,
            results: results,
            workarounds: (profile.workarounds ?? .none).overriding(request.workarounds))
        inputs.repositories = repositories
        inputs.updates = updates
        inputs.suite = try await discoverSuite(request, debs: debs, results: results)
        return inputs
    }

    /// `--tests-from`: the packager's tests, found and checked before anything boots. A
    /// `.dsc` is unpacked into the results folder, so what ran stays beside its results.
    private func discoverSuite(_ request: RunRequest, debs: [DebianPackageFile], results: URL) async throws -> TestSource? {
        guard let path = request.testsFrom else { return nil }
        let profile = request.profile
        let scratch = results.appendingPathComponent("tests-source")
        try? FileManager.default.removeItem(at: scratch)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let suite = try await TestSource.discover(
            URL(fileURLWithPath: path), scratch: scratch, prefer: profile.debianArchitecture != nil ? .dep8 : .tmt,
            architecture: profile.dpkgArchitecture, packagesUnderTest: debs.map(\.package),
            filter: try request.testFilter.map { try TMTFilter($0) })
        guard !suite.testNames.isEmpty else {
            throw RunInputError(
                subject: path, problem: "\(suite.summary): nothing would run",
                fix: request.testFilter == nil ? "enable a test, or leave --tests-from out" : "loosen --filter \(request.testFilter!)")
        }
        launcher.reporter.note(suite.summary)
        return suite
    }

    /// An RPM the guest can install: its architecture the guest's, its executables what
    /// its label says (a warning, or with `--strict` an error).
    private func checkRPM(_ path: String, _ request: RunRequest) async throws -> RPMPackage {
        let profile = request.profile
        let package = try await RPMPackage.inspect(path)
        guard profile.arch.rpmArchitectures.contains(package.arch) else {
            throw RunInputError(
                subject: path, problem: "is built for \(package.arch), which an \(profile.arch.rawValue) guest cannot run",
                fix: "build it for one of \(profile.arch.rpmArchitectures.sorted().joined(separator: ", "))")
        }
        if !package.mislabelled.isEmpty {
            let files = package.mislabelled.prefix(5).map { "\($0.path) is \($0.machine.name)" }.joined(separator: ", ")
            let problem = "is labelled \(package.arch) but contains executables for another machine: \(files)"
            if request.strict {
                throw RunInputError(subject: path, problem: problem, fix: "rebuild it with the \(package.arch) cross compiler")
            }
            launcher.reporter.note("warning: \(path) \(problem) (--strict makes this an error)")
        }
        return package
    }

    /// A .deb a Debian guest can install: a Debian package for its architecture (or all).
    private func checkDeb(_ path: String, _ profile: Profile, option: String) async throws -> DebianPackageFile {
        guard let architecture = profile.debianArchitecture else {
            throw RunInputError(
                subject: option, problem: "profile \(profile.name) is not a Debian guest vmtest builds, so it installs no .deb",
                fix: "use a Debian profile (debian12-armhf, debian12-arm64), or RPMs")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw RunInputError(subject: path, problem: "does not exist", fix: "give the path of a .deb file")
        }
        let deb = try await DebianPackageFile.read(URL(fileURLWithPath: path))
        guard deb.installs(on: architecture) else {
            throw RunInputError(
                subject: path, problem: "is built for \(deb.architecture), which an \(architecture) guest cannot install",
                fix: "build it for \(architecture) (or all)")
        }
        return deb
    }

    /// `--update` paths: RPMs and .debs, or folders of them, each checked as `--rpm` and
    /// `--deb` are; RPM updates need the profile's `update` command.
    private func checkUpdates(_ request: RunRequest) async throws -> PackageUpdates {
        var updates = PackageUpdates()
        for path in request.updatePaths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw RunInputError(subject: path, problem: "does not exist", fix: "give --update an RPM, a .deb or a folder of them")
            }
            let files = isDirectory.boolValue ? ServedRepository.packages(in: URL(fileURLWithPath: path)).map(\.path) : [path]
            guard !files.isEmpty, files.allSatisfy(ServedRepository.isPackage) else {
                throw RunInputError(
                    subject: path, problem: isDirectory.boolValue ? "holds no .rpm or .deb file" : "is neither an .rpm nor a .deb file",
                    fix: "give --update an RPM, a .deb or a folder of them")
            }
            for file in files {
                if file.hasSuffix(".deb") {
                    updates.debs.append(try await checkDeb(file, request.profile, option: "--update"))
                } else {
                    updates.rpms.append(try await checkRPM(file, request))
                }
            }
        }
        if !updates.rpms.isEmpty, request.profile.update == nil {
            throw RunInputError(
                subject: "--update", problem: "profile \(request.profile.name) has no `update` command for RPMs",
                fix: "add one to the profile, e.g. `update: dnf -y upgrade`")
        }
        return updates
    }

    /// `--deb` files: Debian packages, for a Debian guest's architecture, each once.
    private func checkDebs(_ request: RunRequest) async throws -> [DebianPackageFile] {
        var debs: [DebianPackageFile] = []
        for path in request.debPaths {
            let deb = try await checkDeb(path, request.profile, option: "--deb")
            if let clash = debs.first(where: { $0.package == deb.package }) {
                throw RunInputError(
                    subject: path, problem: "is package \(deb.package) again (also \(clash.url.lastPathComponent))",
                    fix: "give each package once")
            }
            debs.append(deb)
        }
        return debs
    }

    /// `--repo` folders: each a directory with packages the guest can install; their files.
    private func checkRepositories(_ request: RunRequest) throws -> [URL] {
        try request.repositoryPaths.flatMap { path in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw RunInputError(
                    subject: path, problem: "is not a directory", fix: "give --repo a directory of the RPMs or .debs the packages need")
            }
            let packages = ServedRepository.packages(in: URL(fileURLWithPath: path))
            guard !packages.isEmpty else {
                throw RunInputError(subject: path, problem: "holds no .rpm or .deb file", fix: "put the packages directly in it")
            }
            return packages
        }
    }

    /// Decides, once, how the checked run goes on the hypervisor at `connectURI`: where and
    /// how the guest runs, its image (built or fetched now when not cached), what the
    /// workarounds change, the time limits.
    public func prepare(_ inputs: RunInputs, connectURI: String?) async throws -> PreparedRun {
        let profile = inputs.request.profile
        var inputs = inputs
        // QEMU forwards the guest's SSH port on its hypervisor's loopback: this machine's,
        // or one reached through the hypervisor's SSH login; the console comes over
        // libvirt's connection whatever the URI.
        if inputs.channel == .ssh, let uri = connectURI, SSHRoute(connectURI: uri) == .unreachable {
            guard inputs.request.channel == nil else {
                throw RunInputError(
                    subject: "--channel ssh",
                    problem:
                        "the guest's SSH port would be forwarded on \(uri)'s own loopback, which this machine reaches only through an SSH login there",
                    fix:
                        "use --channel serial (the console reaches the guest through libvirt's connection), or connect with qemu+ssh://[USER@]HOST/system"
                )
            }
            launcher.reporter.note("using the serial channel: profile \(profile.name)'s SSH channel cannot reach a guest on \(uri)")
            inputs.channel = .serial
        }
        let placement = try await launcher.place(profile, connectURI: connectURI, request: inputs.request.accelerator)
        launcher.reporter.note("running as \(placement.mode.label): \(placement.mode.reason)")
        let guest = try await launcher.plan(
            profile, on: placement, runID: inputs.runID, workarounds: inputs.workarounds,
            packages: inputs.packages.map { InstalledPackage(name: $0.name, requires: $0.requires) }
                + inputs.debs.map { InstalledPackage(name: $0.package, requires: $0.dependencyNames) })
        for workaround in guest.appliedWorkarounds { launcher.reporter.note("workaround \(workaround.name): \(workaround.reason)") }
        return PreparedRun(inputs: inputs, guest: guest)
    }

    /// Makes sure the saved state that runs of `profile` restore exists, by one run of
    /// `true` that restores it (saving it first when there is none). The run's results
    /// go to a temporary folder, deleted afterwards; the report says what happened.
    public func warmUp(_ profile: Profile, connectURI: String?, accelerator: AcceleratorRequest = .automatic) async throws -> RunReport {
        let results = try ScratchFolder.make(in: FileManager.default.temporaryDirectory, prefix: "vmtest-warm")
        defer { try? FileManager.default.removeItem(at: results) }
        var request = RunRequest(profile: profile, commands: ["true"], resultsDirectory: results.path, connectURI: connectURI)
        request.accelerator = accelerator
        await launcher.reapLeftovers()
        return await run(try await prepare(request))
    }

    /// Decides the checked run for the hypervisor at `connectURI` and runs it. A request
    /// the hypervisor cannot honour throws (bad input, exit 2); a hypervisor that cannot be
    /// reached is a report like any other infrastructure failure, written to the results.
    public func run(_ inputs: RunInputs, connectURI: String?) async throws -> RunReport {
        let prepared: PreparedRun
        do {
            prepared = try await prepare(inputs, connectURI: connectURI)
        } catch let error where ExitStatus.for(error) == ExitStatus.infrastructure {
            let report = RunReport.notStarted(inputs, connection: connectURI ?? "embedded qemu:///embed", problem: "\(error)")
            RunResultsWriter.write(report, to: inputs.results)
            return report
        }
        return await run(prepared)
    }

    /// Runs everything and writes junit.xml, summary.json, console.log and per-test logs.
    public func run(_ prepared: PreparedRun) async -> RunReport {
        let reporter = launcher.reporter
        let started = Date()
        let clock = ContinuousClock.now
        var report = RunReport(
            runID: prepared.runID, profile: prepared.profile.name, imageSHA256: nil,
            host: .init(
                hostname: ProcessInfo.processInfo.hostName, architecture: prepared.placement.host.architecture,
                connection: prepared.connection),
            accelerator: prepared.accelerator.accelerator, guestKernel: prepared.accelerator.guestKernel,
            acceleratorReason: prepared.accelerator.reason,
            channel: prepared.channel.rawValue, workarounds: prepared.appliedWorkarounds,
            packages: prepared.packages.map { .init(file: $0.file.path, name: $0.name) }
                + prepared.debs.map { .init(file: $0.url.path, name: $0.package) },
            phases: [], tests: [], infrastructureError: nil, startedAt: started, seconds: 0)
        let session = RunSession(prepared: prepared, reporter: reporter)
        do {
            try await withTimeLimit(prepared.timeout) {
                try await prepared.placement.hypervisor.endingIfLost { try await self.boot(prepared, session: session) }
            }
        } catch let interrupted as Interrupted {
            report.infrastructureError = "\(interrupted)"
        } catch is CancellationError {
            report.infrastructureError = "interrupted"
        } catch is TimeLimitExceeded {
            report.infrastructureError = "the run exceeded its time limit of \(Int(prepared.timeout.seconds)) s (--timeout)"
        } catch {
            report.infrastructureError = "\(error)"
        }
        // A hypervisor that refused a 32-bit vCPU made the guest boot another way.
        let booted = session.guestPlan
        report.accelerator = booted.mode.accelerator
        report.guestKernel = booted.mode.guestKernel
        report.acceleratorReason = booted.mode.reason
        report.workarounds = booted.appliedWorkarounds
        report.tests = session.tests
        report.phases = session.phases.phases
        report.imageSHA256 = session.imageSHA256
        report.warmState = session.warmState
        report.seconds = (ContinuousClock.now - clock).seconds
        RunResultsWriter.write(report, to: prepared.results)
        return report
    }

    private func boot(_ prepared: PreparedRun, session: RunSession) async throws {
        let reporter = launcher.reporter
        let scratch = try ScratchFolder.make(in: FileManager.default.temporaryDirectory, prefix: "vmtest-payload")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var options = LaunchOptions(readyTimeout: prepared.readyTimeout)
        options.cold = prepared.inputs.request.cold
        options.consoleLog = prepared.results.appendingPathComponent("console.log")

        // .deb files and `--repo` folders reach the guest as a repository, with what the
        // guest lacks for them and for the packager's tests.
        let content = scratch.appendingPathComponent("content")
        let packagerTests = prepared.inputs.suite.map { PackagerTests(suite: $0, guestDirectory: Self.guestDirectory) }
        if !prepared.debs.isEmpty || !prepared.inputs.repositories.isEmpty || !prepared.inputs.updates.isEmpty
            || packagerTests.map({ !$0.dependencies.isEmpty || !$0.recommendations.isEmpty }) == true
        {
            try await serve(
                prepared, tests: packagerTests, at: content.appendingPathComponent("repo"), scratch: scratch, session: session)
        }
        try await packagerTests?.pack(into: content)
        // Files reach a console-only guest on a read-only disk of their own.
        let files =
            prepared.packages.map(\.file) + prepared.testScripts + prepared.debs.map(\.url)
            + (packagerTests == nil ? [] : [content.appendingPathComponent(PackagerTests.archiveName)])
            + [content.appendingPathComponent("repo")].filter { FileManager.default.fileExists(atPath: $0.path) }
        let filesOnPayloadDisk = prepared.channel == .serial && !files.isEmpty
        if filesOnPayloadDisk {
            let tests = content.appendingPathComponent("tests")
            try FileManager.default.createDirectory(at: tests, withIntermediateDirectories: true)
            for package in prepared.packages {
                try FileManager.default.copyItem(at: package.file, to: content.appendingPathComponent(package.file.lastPathComponent))
            }
            for script in prepared.testScripts {
                try FileManager.default.copyItem(at: script, to: tests.appendingPathComponent(script.lastPathComponent))
            }
            let image = scratch.appendingPathComponent("payload.tar")
            try await PayloadDisk.write(from: content, runID: prepared.runID, to: image)
            options.payload = image
            // Unpacked with the guest's first command, and the repository's dnf file put in place.
            options.setUp.always =
                [PayloadDisk.unpackCommand(into: Self.guestDirectory, runID: prepared.runID)]
                + (Self.hasDNFRepository(content) ? [Self.dnfRepositoryInstall] : [])
        }

        // Cloud-init guests get a seed (with a fresh SSH key) and a forwarded port.
        var provisioned: PreparedGuest?
        if prepared.provisionsWithCloudInit {
            let provisioner = Provisioner(
                templatesDirectory: CloudInitTemplates.standardDirectory(), directories: launcher.directories, reporter: reporter)
            let guestFiles = try await provisioner.prepare(
                profile: prepared.profile, runID: prepared.runID, runDirectory: prepared.guest.runDirectory)
            options = guestFiles.launchOptions(options)
            provisioned = guestFiles
        }
        // The launcher removes the run directory when the guest goes; this covers a run
        // stopped (Ctrl-C, time limit) after provisioning wrote the key and seed into it
        // but before the launcher took it over.
        let runDirectory = prepared.guest.runDirectory
        defer {
            provisioned?.release()
            if !FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent(LeftoverReaper.keptFile).path) {
                try? FileManager.default.removeItem(at: runDirectory)
            }
        }

        try await launcher.withGuest(prepared.guest, options: options) { guest in
            session.record(guest)
            var ssh: SSHChannel?
            if let provisioned {
                if !guest.start.isWarm {
                    try await session.phases.timed(provisioned.readinessPhase) { try await provisioned.provision(guest: guest) }
                }
                if prepared.channel == .ssh {
                    ssh = try await session.phases.timed("ssh") { try await provisioned.connect(guest: guest) }
                }
            }
            do {
                let channel: any GuestChannel = ssh ?? guest.shell
                // A reboot opens a new console, and the SSH channel connects again once the
                // guest's sshd answers (its host key, on its disk, is the one pinned).
                let reboot: @Sendable () async throws -> any GuestChannel
                if let ssh {
                    reboot = {
                        await ssh.close()
                        _ = try await guest.reboot()
                        try await session.phases.timed("ssh", "connecting again after the reboot") {
                            try await ssh.connect(timeout: prepared.readyTimeout)
                        }
                        return ssh
                    }
                } else {
                    reboot = { try await guest.reboot() as GuestShell }
                }
                let reboots = TestReboots(guestDirectory: Self.guestDirectory, reboot: reboot)
                if let ssh, !files.isEmpty {
                    try await session.phases.timed("copy", "\(files.count) file(s) into the guest over ssh") {
                        try await copy(prepared, over: ssh, content: content)
                    }
                }
                try await runTests(prepared, channel: channel, session: session, packagerTests: packagerTests, reboots: reboots)
            } catch {
                await ssh?.close()
                if prepared.inputs.request.keepOnFailure, !(error is CancellationError), !(error is Interrupted) { guest.keepRunning() }
                throw error
            }
            await ssh?.close()
            if prepared.inputs.request.keepOnFailure, session.tests.contains(where: { $0.verdict.failsTheRun }) {
                guest.keepRunning()
            }
        }
    }

    /// The run's .deb files, the `--repo` folders' packages and, on Debian guests, what
    /// the guest lacks for them (resolved here by the host's apt against the image's dpkg
    /// status, downloaded from Debian's mirror) as one repository at `repository`. When
    /// they cannot be resolved here (a dependency nobody provides, or no mirror), the
    /// guest's package manager says so in the install test case.
    private func serve(
        _ prepared: PreparedRun, tests: PackagerTests?, at repository: URL, scratch: URL, session: RunSession
    ) async throws {
        let downloads = scratch.appendingPathComponent("downloads")
        let served = prepared.inputs.repositories
        let updates = prepared.inputs.updates
        let needed = (prepared.debs + updates.debs).map(\.exactDependency) + (tests?.dependencies ?? [])
        let recommended = tests?.recommendations ?? []
        if let architecture = prepared.profile.debianArchitecture, !needed.isEmpty || !recommended.isEmpty {
            let local =
                (prepared.debs + updates.debs).map(\.url)
                + served.filter { $0.pathExtension == "deb" }
            try await session.phases.timed("dependencies", "resolving the packages' and tests' dependencies for \(architecture)") {
                let status = try await GuestDpkgStatus.file(for: prepared.guest.image, cache: launcher.directories.cache)
                let resolver = DebianDependencyResolver(architecture: architecture, guestStatus: status)
                let resolution = try await resolver.resolve(needed, localPackages: local, into: downloads)
                if case .unsatisfiable(let explanation) = resolution {
                    launcher.reporter.note("the dependencies cannot all be resolved here:\n  \(explanation)")
                }
                // Recommendations the mirror lacks are left out, one by one.
                for recommendation in recommended {
                    _ = try await resolver.resolve([recommendation], localPackages: local, into: downloads)
                }
            }
        }
        _ = try await ServedRepository.make(
            at: repository, guestPath: "\(Self.guestDirectory)/repo", debs: prepared.debs + updates.debs,
            rpms: updates.rpms.map(\.file),
            extraPackages: served + ServedRepository.packages(in: downloads))
    }

    /// Copies the run's files into the guest over SSH: RPMs to the guest directory, tests
    /// to its `tests/`, the repository to its `repo/` (a console-only guest has them on its
    /// payload disk instead: ``PayloadDisk``).
    private func copy(_ prepared: PreparedRun, over ssh: SSHChannel, content: URL) async throws {
        let directory = Self.guestDirectory
        let made = try await ssh.run("mkdir -p \(directory)/tests", timeout: prepared.testTimeout)
        guard made.succeeded else { throw GuestStepError(step: "making \(directory)", result: made) }
        for package in prepared.packages {
            try await ssh.copy(
                local: package.file, toGuest: "\(directory)/\(package.file.lastPathComponent)", timeout: prepared.testTimeout)
        }
        for script in prepared.testScripts {
            try await ssh.copy(local: script, toGuest: "\(directory)/tests/\(script.lastPathComponent)", timeout: prepared.testTimeout)
        }
        let suite = content.appendingPathComponent(PackagerTests.archiveName)
        if FileManager.default.fileExists(atPath: suite.path) {
            try await ssh.copy(local: suite, toGuest: "\(directory)/\(PackagerTests.archiveName)", timeout: prepared.testTimeout)
        }
        let repository = content.appendingPathComponent("repo")
        if FileManager.default.fileExists(atPath: repository.path) {
            try await ssh.copy(local: repository, toGuest: "\(directory)/repo", timeout: prepared.testTimeout)
        }
        if Self.hasDNFRepository(content) {
            let installed = try await ssh.run(Self.dnfRepositoryInstall, timeout: prepared.testTimeout)
            guard installed.succeeded else { throw GuestStepError(step: "adding the run's dnf repository", result: installed) }
        }
    }

    /// dnf and yum both read /etc/yum.repos.d.
    static let dnfRepositoryInstall =
        "mkdir -p /etc/yum.repos.d && cp \(guestDirectory)/repo/\(ServedRepository.dnfRepositoryFile) /etc/yum.repos.d/"

    static func hasDNFRepository(_ content: URL) -> Bool {
        FileManager.default.fileExists(atPath: content.appendingPathComponent("repo/\(ServedRepository.dnfRepositoryFile)").path)
    }

    static let guestDirectory = "/var/tmp/vmtest"

    private func runTests(
        _ prepared: PreparedRun, channel: any GuestChannel, session: RunSession, packagerTests: PackagerTests?, reboots: TestReboots
    ) async throws {
        let profile = prepared.profile
        var channel = channel
        /// A test of vmtest's own kinds: judged by its exit status, run again after each
        /// reboot it asks for (`vmtest-reboot`) with `VMTEST_REBOOT_COUNT` set.
        func test(_ kind: TestCaseResult.Kind, _ name: String, _ command: String) async throws {
            try await reboots.run(name, kind: kind, on: &channel, session: session) { _, count in
                "export VMTEST_REBOOT_COUNT=\(count)\n" + command
            }
        }
        // The run's own packages first, at the versions given (an update may serve newer
        // ones beside them), then the update; a step that fails skips the rest.
        var debs = prepared.debs
        var rpms = prepared.packages
        if !debs.isEmpty {
            let names = debs.map { ShellWords.quote("\($0.package)=\($0.version)") }.joined(separator: " ")
            let installed = try await session.test(kind: .install, name: "install-deb", command: Self.apt("install " + names), on: channel)
            guard installed.verdict == .passed else {
                session.skipRemaining(because: "the .deb packages did not install")
                return
            }
        }
        if !rpms.isEmpty {
            let paths = rpms.map { "\(Self.guestDirectory)/\(ShellWords.quote($0.file.lastPathComponent))" }
            let install = profile.install.replacingOccurrences(of: "{packages}", with: paths.joined(separator: " "))
            let installed = try await session.test(kind: .install, name: "install", command: install, on: channel)
            guard installed.verdict == .passed else {
                session.skipRemaining(because: "the packages did not install")
                return
            }
        }
        if !prepared.inputs.updates.isEmpty {
            guard let changed = try await SystemUpdate(prepared: prepared, session: session, reboots: reboots).run(on: &channel) else {
                return
            }
            // The updated packages are tested too, once each.
            let updates = prepared.inputs.updates
            for deb in updates.debs where changed.contains(deb.package) && !debs.contains(where: { $0.package == deb.package }) {
                debs.append(deb)
            }
            for rpm in updates.rpms where changed.contains(rpm.name) && !rpms.contains(where: { $0.name == rpm.name }) {
                rpms.append(rpm)
            }
        }
        for deb in debs {
            _ = try await session.test(
                kind: .smoke, name: "dpkg-verify \(deb.package)", command: "dpkg --verify \(ShellWords.quote(deb.package))", on: channel)
            for (name, command) in try await installedTests(of: deb.package, prepared, channel: channel) {
                try await test(.installedTests, name, command)
            }
        }
        for package in rpms {
            for smoke in profile.smokeTests {
                let command = smoke.run.replacingOccurrences(of: "{package}", with: ShellWords.quote(package.name))
                _ = try await session.test(kind: .smoke, name: TestName.smoke(smoke, package), command: command, on: channel)
            }
            for (name, command) in try await installedTests(of: package.name, prepared, channel: channel) {
                try await test(.installedTests, name, command)
            }
        }
        if let packagerTests {
            let installer: (([String]) -> String)? =
                profile.debianArchitecture == nil ? nil : { Self.apt("satisfy " + $0.map(ShellWords.quote).joined(separator: " ")) }
            channel = try await packagerTests.run(
                on: channel, session: session, results: prepared.results, installer: installer, reboots: reboots)
        }
        for (index, command) in prepared.commands.enumerated() {
            try await test(.command, TestName.command(index, command), command)
        }
        for script in prepared.testScripts {
            try await test(
                .testsDir, script.lastPathComponent, "\(Self.guestDirectory)/tests/\(ShellWords.quote(script.lastPathComponent))")
        }
    }

    /// The installed tests `package` ships (``InstalledTests``), as (name, command).
    private func installedTests(of package: String, _ prepared: PreparedRun, channel: any GuestChannel) async throws -> [(
        name: String, command: String
    )] {
        let listing = try await channel.run(InstalledTests.listCommand(package: package), timeout: prepared.testTimeout)
        return InstalledTests.parse(listing.standardOutput, package: package)
    }

    /// apt in the guest (`install NAMES`, `satisfy DEPENDENCIES`), reading only the run's
    /// repository: the packages and what the host found they lack are all there, so the
    /// guest needs no network.
    static func apt(_ request: String) -> String {
        let list = "\(guestDirectory)/repo.list"
        let options = [
            "-o Dir::Etc::SourceList=\(list)", "-o Dir::Etc::SourceParts=-", "-o APT::Get::List-Cleanup=0",
            "-o Acquire::Languages=none", "-o APT::Sandbox::User=root",
        ].joined(separator: " ")
        return [
            "set -e",
            "echo '\(ServedRepository.aptSource(at: "\(guestDirectory)/repo"))' > \(list)",
            "apt-get -q \(options) update",
            "DEBIAN_FRONTEND=noninteractive apt-get -q -y \(options) --no-install-recommends \(request)",
        ].joined(separator: "\n")
    }
}
