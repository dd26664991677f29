import Foundation

/// Reads the YAML files people write (profiles, plans), saying in their words why one
/// cannot be read.
enum TextFile {
    static func read(_ file: URL) throws(UnreadableTextFile) -> String {
        do {
            return try String(contentsOf: file, encoding: .utf8)
        } catch {
            guard FileManager.default.fileExists(atPath: file.path) else { throw UnreadableTextFile(problem: "no such file", fix: nil) }
            throw UnreadableTextFile(
                problem: "cannot read the file (\(error.localizedDescription))", fix: "check its permissions and that it is UTF-8 text")
        }
    }
}

/// Why a text file cannot be read, for the caller's own error type to carry.
struct UnreadableTextFile: Error {
    var problem: String
    /// Nil when there is no such file: the caller knows where such files belong.
    var fix: String?
}
