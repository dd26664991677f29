/// Command words as one shell command line.
public enum ShellWords {
    /// nil for no words; a single word is taken as a whole command line (so
    /// `vmtest boot p -- 'ls | wc -l'` works); several words are quoted where needed.
    public static func join(_ words: [String]) -> String? {
        switch words.count {
        case 0: return nil
        case 1: return words[0]
        default: return words.map(quote).joined(separator: " ")
        }
    }

    public static func quote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty, word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
