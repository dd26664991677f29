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
        try process.run()
        // Standard output drains on a thread of its own, so neither pipe can fill and stall
        // the child while the other is read.
        let outputText = LockedText()
        let outputDrained = DispatchSemaphore(value: 0)
        Thread {
            outputText.append(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
            outputDrained.signal()
        }.start()
        // Decoded whole each time: a chunk may end inside a character.
        var errorData = Data()
        var acted = false
        readUntilEnd(error.fileHandleForReading) { chunk in
            errorData.append(chunk)
            let errorText = String(decoding: errorData, as: UTF8.self)
            if let marker, errorText.contains(marker), process.isRunning { kill(process.processIdentifier, SIGINT) }
            if let whenPrinted, !acted, errorText.contains(whenPrinted.marker) {
                acted = true
                whenPrinted.action()
            }
        }
        outputDrained.wait()
        process.waitUntilExit()
        return (process.terminationStatus, outputText.value, String(decoding: errorData, as: UTF8.self))
    }

    /// Reads `handle` with blocking reads until end of file, passing on each chunk as it comes.
    ///
    /// Not `FileHandle.readabilityHandler`: tearing its dispatch read source down while other
    /// threads do the same corrupts libdispatch's epoll bookkeeping on Linux
    /// (swift-corelibs-libdispatch#949), which crashed a whole CI test run while the
    /// bad-input cases ran side by side. A blocking read never involves libdispatch.
    private static func readUntilEnd(_ handle: FileHandle, _ chunk: (Data) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                chunk(Data(buffer[..<count]))
            } else if count < 0, errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

final class LockedText: Sendable {
    private let text = Mutex("")
    func append(_ more: String) { text.withLock { $0 += more } }
    func contains(_ part: String) -> Bool { text.withLock { $0.contains(part) } }
    var value: String { text.withLock { $0 } }
}
