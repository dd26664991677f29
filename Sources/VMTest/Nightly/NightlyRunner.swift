import Foundation
import Libvirt

/// Runs a plan's matrix, several guests at once, spread over the plan's hypervisors.
///
/// Each run is exactly a `vmtest run` (``PackageTestRunner``) with the hypervisor's URI.
/// A test failure is a result and is never retried. An infrastructure failure (boot
/// time-out, lost console, libvirt error, a hypervisor that does not answer) is tried
/// again, on another hypervisor when there is one, up to the plan's `retries`; a
/// hypervisor that does not answer is given up on for the rest of the night, and the
/// night goes on without it. libvirt's remote protocol does the spreading: there is no
/// scheduler service, only this process holding connections.
public struct NightlyRunner: Sendable {
    /// Runs one checked cell on one hypervisor, deciding it for that hypervisor
    /// (``PackageTestRunner/prepare(_:connectURI:)``); its own progress goes to `reporter`.
    public typealias Execute = @Sendable (_ run: RunInputs, _ hypervisor: HypervisorSpec, _ reporter: any Reporter) async -> RunReport
    /// Why a hypervisor cannot take guests, or nil when it answers.
    public typealias Probe = @Sendable (_ hypervisor: HypervisorSpec) async -> String?

    public var plan: Plan
    public var packageSets: [PackageSet]
    public var catalog: ProfileCatalog
    public var parallel: Int
    public var results: URL
    public var cold = false
    public var progress: NightlyProgress
    var execute: Execute
    var probe: Probe
    /// Where runs keep their files: the same for checking and running.
    let directories: Directories
    /// Guests this host's memory holds at once; nil leaves the bound to `parallel` and capacities.
    var memoryLimit: Int?

    public init(
        plan: Plan, packageSets: [PackageSet], catalog: ProfileCatalog, parallel: Int, results: URL, progress: NightlyProgress,
        directories: Directories = .standard()
    ) {
        self.plan = plan
        self.packageSets = packageSets
        self.catalog = catalog
        self.parallel = parallel
        self.results = results
        self.progress = progress
        self.directories = directories
        let shared = NightPreparation()
        execute = { run, hypervisor, reporter in
            let launcher = GuestLauncher(directories: directories, reporter: reporter)
            do {
                try await shared.prepare(run.request.profile, with: launcher)
                return try await PackageTestRunner(launcher: launcher).run(run, connectURI: hypervisor.connectURI)
            } catch {
                // The hypervisor cannot run it the way the plan forces: another one may.
                let report = RunReport.notStarted(run, connection: hypervisor.uri, problem: "\(error)")
                RunResultsWriter.write(report, to: run.results)
                return report
            }
        }
        probe = { hypervisor in
            do {
                let connected = try await Hypervisor.connect(uri: hypervisor.connectURI, directories: directories)
                return connected.connection.isAlive ? nil : "the connection to \(hypervisor.uri) is closed"
            } catch let error as HypervisorConnectionError {
                return "\(error)"
            } catch {
                return "cannot connect to \(hypervisor.uri): \(error)"
            }
        }
        memoryLimit = nil
    }

    /// One cell of the matrix, checked and ready to run.
    struct Cell: Sendable {
        var profile: Profile
        var set: PackageSet
        var inputs: RunInputs
        var folder: String { "runs/\(profile.name)/\(set.name)" }
    }

    /// Checks every cell's input (profiles, RPMs) before anything boots: bad input
    /// throws here, with exit status 2 and nothing started.
    func cells() async throws -> [Cell] {
        var cells: [Cell] = []
        let runner = PackageTestRunner(launcher: GuestLauncher(directories: directories, reporter: SilentReporter()))
        for name in plan.profiles {
            let profile = try catalog.load(name)
            for set in packageSets {
                var request = RunRequest(
                    profile: profile, rpmPaths: set.rpms, commands: plan.tests, testsDirectory: plan.testsDir,
                    resultsDirectory: results.appendingPathComponent("runs/\(profile.name)/\(set.name)/attempt-1").path,
                    timeout: plan.timeout.map { .seconds($0) }, testTimeout: plan.testTimeout.map { .seconds($0) })
                request.debPaths = set.debs
                request.repositoryPaths = plan.repositories
                request.testsFrom = set.testsFrom
                request.cold = cold
                request.accelerator = plan.accelerator
                cells.append(Cell(profile: profile, set: set, inputs: try await runner.check(request)))
            }
        }
        return cells
    }

    public func run() async throws -> NightlyReport {
        let started = Date()
        let clock = ContinuousClock.now
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        let cells = try await cells()
        let (limit, reason) = concurrency(profiles: cells.map(\.profile))
        let pool = HypervisorPool(plan.hypervisors, limit: limit)
        progress.start(plan: plan.name, runs: cells.count, hypervisors: plan.hypervisors.map(\.uri), concurrency: limit, reason: reason)

        let outcomes = await withTaskGroup(of: (Int, NightlyReport.MatrixRun, RunReport?).self) { group in
            for (index, cell) in cells.enumerated() {
                group.addTask {
                    let (run, report) = await self.runCell(cell, pool: pool)
                    return (index, run, report)
                }
            }
            var outcomes: [(Int, NightlyReport.MatrixRun, RunReport?)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }
        }
        let runs = outcomes.map(\.1)
        let report = NightlyReport(
            plan: plan.name, startedAt: started, seconds: (ContinuousClock.now - clock).seconds, concurrency: limit,
            concurrencyReason: reason, hypervisors: await pool.summaries(runs: runs), runs: runs)
        try NightlyReportWriter.write(report, finalRuns: outcomes.compactMap(\.2), to: results)
        progress.finish(report, results: results)
        return report
    }

    /// Runs one cell until it has a verdict or no try is left.
    func runCell(_ cell: Cell, pool: HypervisorPool) async -> (NightlyReport.MatrixRun, RunReport?) {
        var attempts: [NightlyReport.Attempt] = []
        var tried: Set<String> = []
        var last: RunReport?
        let clock = ContinuousClock.now
        while attempts.count <= plan.retries {
            guard let hypervisor = await pool.acquire(avoiding: tried) else {
                attempts.append(
                    .init(
                        hypervisor: "-", runID: "-", verdict: .infrastructure,
                        infrastructureError: "no hypervisor is left to run it: " + (await pool.unavailableReasons()), seconds: 0,
                        results: cell.folder))
                break
            }
            tried.insert(hypervisor.uri)
            let number = attempts.count + 1
            var inputs = cell.inputs
            if number > 1 {
                inputs.runID = GuestLauncher.newRunID()
                inputs.results = results.appendingPathComponent("\(cell.folder)/attempt-\(number)")
            }
            let folder = "\(cell.folder)/attempt-\(number)"
            progress.started(profile: cell.profile.name, packageSet: cell.set.name, hypervisor: hypervisor.uri, attempt: number)
            let start = ContinuousClock.now
            var report: RunReport
            if let problem = await pool.check(hypervisor, with: probe) {
                report = RunReport.notStarted(inputs, connection: hypervisor.uri, problem: problem)
                RunResultsWriter.write(report, to: inputs.results)
            } else {
                try? FileManager.default.createDirectory(at: inputs.results, withIntermediateDirectories: true)
                let log = (try? LineReporter(logFile: inputs.results.appendingPathComponent("vmtest.log"))) as (any Reporter)?
                report = await execute(inputs, hypervisor, log ?? SilentReporter())
                if report.infrastructureError != nil, let problem = await probe(hypervisor) {
                    // The run failed because the hypervisor went away: no later run goes there.
                    await pool.giveUp(hypervisor, because: problem)
                }
            }
            await pool.release(hypervisor)
            let verdict = Self.verdict(of: report)
            attempts.append(
                .init(
                    hypervisor: hypervisor.uri, runID: report.runID, verdict: verdict, infrastructureError: report.infrastructureError,
                    seconds: (ContinuousClock.now - start).seconds, results: folder, warmState: report.warmState))
            last = report
            let retrying = verdict == .infrastructure && attempts.count <= plan.retries
            progress.finished(
                profile: cell.profile.name, packageSet: cell.set.name, hypervisor: hypervisor.uri,
                verdict: verdict, seconds: (ContinuousClock.now - start).seconds, retrying: retrying,
                detail: report.infrastructureError)
            if !retrying { break }
        }
        var counts = NightlyReport.TestCounts()
        for test in last?.tests ?? [] { counts.count(test.verdict) }
        let run = NightlyReport.MatrixRun(
            profile: cell.profile.name, packageSet: cell.set.name,
            packages: cell.set.rpms.map { URL(fileURLWithPath: $0).lastPathComponent },
            verdict: attempts.last?.verdict ?? .infrastructure, attempts: attempts, tests: counts,
            seconds: (ContinuousClock.now - clock).seconds)
        return (run, last)
    }

    static func verdict(of report: RunReport) -> NightlyReport.Verdict {
        switch report.verdict {
        case .error: .infrastructure
        case let verdict where verdict.failsTheRun: .failed
        default: .passed
        }
    }

    /// How many guests may run at once: `--parallel`, the hypervisors' capacity and
    /// what this host's memory holds (each guest's memory plus QEMU's own).
    func concurrency(profiles: [Profile]) -> (Int, String) {
        let capacity = plan.hypervisors.map(\.capacity).reduce(0, +)
        let perGuest = (profiles.map(\.memory).max() ?? 1024) + 256
        let memory = memoryLimit ?? max(1, HostMemory.availableMiB() / perGuest)
        let limit = max(1, min(parallel, capacity, memory))
        return (limit, "--parallel \(parallel), capacity \(capacity), memory for \(memory) guests of \(perGuest) MiB")
    }
}

/// The hypervisors' free places, shared by the runs of a night.
actor HypervisorPool {
    private struct Place {
        var spec: HypervisorSpec
        var running = 0
        var checked = false
        var unavailable: String?
    }

    private var places: [Place]
    private let limit: Int

    init(_ hypervisors: [HypervisorSpec], limit: Int) {
        places = hypervisors.map { Place(spec: $0) }
        self.limit = limit
    }

    /// A hypervisor with a free place, preferring ones not in `avoiding` (where this
    /// run failed before) and then the least loaded; waits while all are busy. Nil when
    /// no hypervisor is left.
    func acquire(avoiding tried: Set<String>) async -> HypervisorSpec? {
        while true {
            let live = places.indices.filter { places[$0].unavailable == nil }
            if live.isEmpty { return nil }
            let untried = live.filter { !tried.contains(places[$0].spec.uri) }
            let candidates = (untried.isEmpty ? live : untried).filter { places[$0].running < places[$0].spec.capacity }
            if places.map(\.running).reduce(0, +) < limit,
                let best = candidates.min(by: {
                    Double(places[$0].running) / Double(places[$0].spec.capacity) < Double(places[$1].running)
                        / Double(places[$1].spec.capacity)
                })
            {
                places[best].running += 1
                return places[best].spec
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func release(_ hypervisor: HypervisorSpec) {
        guard let index = places.firstIndex(where: { $0.spec.uri == hypervisor.uri }) else { return }
        places[index].running -= 1
    }

    /// Asks a hypervisor once whether it answers; one that does not is given up on.
    func check(_ hypervisor: HypervisorSpec, with probe: NightlyRunner.Probe) async -> String? {
        guard let index = places.firstIndex(where: { $0.spec.uri == hypervisor.uri }) else { return nil }
        if let reason = places[index].unavailable { return reason }
        if places[index].checked { return nil }
        places[index].checked = true
        let problem = await probe(hypervisor)
        if let problem { places[index].unavailable = problem }
        return problem
    }

    func giveUp(_ hypervisor: HypervisorSpec, because reason: String) {
        guard let index = places.firstIndex(where: { $0.spec.uri == hypervisor.uri }) else { return }
        places[index].unavailable = reason
    }

    func unavailableReasons() -> String {
        places.compactMap { place in place.unavailable.map { "\(place.spec.uri): \($0)" } }.joined(separator: "; ")
    }

    func summaries(runs: [NightlyReport.MatrixRun]) -> [NightlyReport.HypervisorSummary] {
        places.map { place in
            let attempts = runs.flatMap(\.attempts).filter { $0.hypervisor == place.spec.uri }
            return .init(
                uri: place.spec.uri, capacity: place.spec.capacity, attempts: attempts.count,
                passed: attempts.filter { $0.verdict == .passed }.count, failed: attempts.filter { $0.verdict == .failed }.count,
                infrastructure: attempts.filter { $0.verdict == .infrastructure }.count, unavailable: place.unavailable)
        }
    }
}

/// This host's memory available for new guests, from /proc/meminfo.
enum HostMemory {
    static func availableMiB(meminfo: String? = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) -> Int {
        for line in (meminfo ?? "").split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let kib = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kib / 1024
        }
        return 1024
    }
}
