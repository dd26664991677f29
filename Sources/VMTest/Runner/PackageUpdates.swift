/// What `vmtest run --update` upgrades the installed system to, checked before boot.
public struct PackageUpdates: Sendable {
    public var rpms: [RPMPackage] = []
    public var debs: [DebianPackageFile] = []

    public var isEmpty: Bool { rpms.isEmpty && debs.isEmpty }
}
