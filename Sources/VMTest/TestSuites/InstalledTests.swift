/// GNOME-style installed tests a package ships (`/usr/share/installed-tests/NAME/*.test`,
/// each a key file whose `Exec=` line runs it): one test case each.
struct InstalledTests {
    static let standardFolder = "/usr/share/installed-tests"

    /// Lists `package`'s tests as `FILE<tab>EXEC` lines. Shell builtins only: under TCG each
    /// process costs a restored guest some 50 ms, and a `basename`, `sed` and `head` per
    /// test file cost more than the small tests they found.
    static func listCommand(package: String, folder: String = standardFolder) -> String {
        """
        for f in \(ShellWords.quote("\(folder)/\(package)"))/*.test; do
        [ -f "$f" ] || continue; run=
        while IFS= read -r line || [ -n "$line" ]; do case $line in Exec=*) run=${line#Exec=}; break ;; esac; done <"$f"
        printf '%s\\t%s\\n' "${f##*/}" "$run"; done; true
        """
    }

    /// The tests `listCommand`'s output names, as (test name, command); a file without an
    /// `Exec=` line runs nothing, so it is no test.
    static func parse(_ listing: String, package: String) -> [(name: String, command: String)] {
        listing.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { return nil }
            return ("\(package)/\(parts[0])", parts[1])
        }
    }
}
