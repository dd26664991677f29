import Foundation

extension FileHandle {
    /// Writes `data`, and says whether it could. The non-throwing `write(_:)` ends the
    /// process when the stream is gone (a closed pipe, a full disk), before any guest is
    /// torn down; whoever reads a message that cannot be written may as well go on.
    @discardableResult
    public func writeIfOpen(_ data: Data) -> Bool {
        do {
            try write(contentsOf: data)
            return true
        } catch {
            return false
        }
    }

    @discardableResult
    public func writeIfOpen(_ text: String) -> Bool {
        writeIfOpen(Data(text.utf8))
    }
}
