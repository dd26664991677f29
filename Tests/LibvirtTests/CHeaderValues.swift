import Foundation
import Testing

/// The values a C compiler reads in a Linux header, for tests that check the numbers Swift
/// sees through `CLibvirt` are the header's own.
enum CHeaderValues {
    /// Compiles and runs a program that includes `header` and prints each of `names`.
    static func read(_ names: [String], from header: String) throws -> [String: UInt] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-c-header-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("values.c")
        let prints = names.map { "    printf(\"\($0) %lu\\n\", (unsigned long)(\($0)));" }.joined(separator: "\n")
        try """
        #include <stdio.h>
        #include <\(header)>
        int main(void) {
        \(prints)
            return 0;
        }
        """.write(to: source, atomically: true, encoding: .utf8)
        let binary = directory.appendingPathComponent("values")
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compile.arguments = ["cc", "-o", binary.path, source.path]
        try compile.run()
        compile.waitUntilExit()
        try #require(compile.terminationStatus == 0, "cc could not build a program that includes <\(header)>")
        let run = Process()
        run.executableURL = binary
        let output = Pipe()
        run.standardOutput = output
        try run.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        var values: [String: UInt] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { values[String(parts[0])] = UInt(parts[1]) }
        }
        return values
    }
}
