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

    /// Reads what ``query`` printed: a name and a version a line.
    init(listing: String) {
        var versions: [String: String] = [:]
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard fields.count == 2 else { continue }
            versions[fields[0]] = fields[1]
        }
        self.versions = versions
    }

    /// Packages installed now that were not before, or now at another version, by name.
    func changed(since earlier: InstalledVersions) -> [String] {
        versions.keys.filter { earlier.versions[$0] != versions[$0] }.sorted()
    }
}
