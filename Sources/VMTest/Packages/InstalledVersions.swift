/// Every package installed in the guest, by dpkg and by rpm, with its version: read before
/// and after an update, their difference is what the update changed, which decides whether
/// the guest must boot again.
struct InstalledVersions: Sendable, Equatable {
    /// Version by package name.
    var versions: [String: String]

    /// Lists both databases; a guest without one of the tools lists the other.
    static let query =
        "{ dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n' 2>/dev/null | sed -n 's/^ii  *//p'; "
        + "rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' 2>/dev/null; } | sort; true"

    /// Reads what ``query`` printed: a name and a version a line. Other lines are left
    /// out: on a console the kernel shares (ttyAMA0 under U-Boot), what systemd and
    /// cloud-init write to it during a boot lands among the output.
    init(listing: String) {
        // A dpkg or rpm package name, a space, a version (it starts with a digit: an epoch
        // or the upstream version).
        let entry = /([A-Za-z0-9][A-Za-z0-9+._-]*) ([0-9][A-Za-z0-9.+~:_-]*)/
        var versions: [String: String] = [:]
        for line in listing.split(separator: "\n") {
            guard let match = line.wholeMatch(of: entry) else { continue }
            versions[String(match.1)] = String(match.2)
        }
        self.versions = versions
    }

    /// Packages installed now that were not before, or now at another version, by name.
    func changed(since earlier: InstalledVersions) -> [String] {
        versions.keys.filter { earlier.versions[$0] != versions[$0] }.sorted()
    }
}
