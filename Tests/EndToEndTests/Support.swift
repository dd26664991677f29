import Foundation
import Synchronization

@testable import VMTest

/// Shared set-up for tests that boot real guests under QEMU.
enum EndToEnd {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let catalog = ProfileCatalog(directory: repository.appendingPathComponent("profiles"))
    static let directories = Directories.standard()

    /// The debian12-armhf profile with its image built (a few minutes the first time,
    /// then cached for every later test and run).
    static func debianProfile() async throws -> Profile {
        let profile = try catalog.load("debian12-armhf")
        _ = try await ImageStore(root: directories.images).image(for: profile, reporter: LineReporter(isTerminal: false))
        return profile
    }

    /// The vmtest executable `swift build` made beside the tests.
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["VMTEST_EXECUTABLE"] { return URL(fileURLWithPath: path) }
        return Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("vmtest")
    }

    /// PIDs of QEMU processes running a guest with this domain name.
    static func qemuProcesses(forDomain name: String) -> [Int32] {
        LeftoverReaper.qemuProcesses(runningGuest: name)
    }

    /// Runs the vmtest executable; returns its exit status, standard output and error.
    ///
    /// Waiting for a process blocks a thread for minutes, which must not be one of the
    /// few threads of Swift's cooperative pool (two on this machine): other tests'
    /// tasks would starve. So the waiting happens on a thread of its own.
    /// `environment` adds to (or overrides) the test process's own.
    /// `whenPrinted` runs once, on the reading thread, when standard error first holds its
    /// marker (a run reaching a step).
    static func vmtest(
        _ arguments: [String], environment: [String: String] = [:], interruptAfter marker: String? = nil,
        whenPrinted: (marker: String, action: @Sendable () -> Void)? = nil
    ) async throws -> (status: Int32, output: String, error: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        try runBlocking(arguments, environment: environment, interruptAfter: marker, whenPrinted: whenPrinted)
                    })
            }.start()
        }
    }

    /// Runs any program on a thread of its own (see ``vmtest(_:interruptAfter:)``); its
    /// exit status and standard output.
    static func command(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        let process = Process()
                        process.executableURL = executable
                        process.arguments = arguments
                        let output = Pipe()
                        process.standardOutput = output
                        process.standardError = FileHandle.nullDevice
                        try process.run()
                        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                        process.waitUntilExit()
                        return (process.terminationStatus, text)
                    })
            }.start()
        }
    }

    private static func runBlocking(
        _ arguments: [String], environment: [String: String], interruptAfter marker: String?,
        whenPrinted: (marker: String, action: @Sendable () -> Void)?
    ) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.currentDirectoryURL = repository
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let errorText = LockedText()
        let acted = Mutex(false)
        error.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            errorText.append(String(decoding: data, as: UTF8.self))
            if let marker, errorText.contains(marker), process.isRunning { kill(process.processIdentifier, SIGINT) }
            if let whenPrinted, errorText.contains(whenPrinted.marker), !acted.withLock({ $0 }) {
                acted.withLock { $0 = true }
                whenPrinted.action()
            }
        }
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        error.fileHandleForReading.readabilityHandler = nil
        errorText.append(String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), errorText.value)
    }
}

final class LockedText: Sendable {
    private let text = Mutex("")
    func append(_ more: String) { text.withLock { $0 += more } }
    func contains(_ part: String) -> Bool { text.withLock { $0.contains(part) } }
    var value: String { text.withLock { $0 } }
}
