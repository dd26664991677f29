/// Whether what an update changed takes effect only after a reboot: a new kernel is not
/// running until the guest boots it, and a new C library or init is not used by the
/// processes already running (the same rule as `needs-restarting -r` on RPM systems).
enum UpdateReboot {
    /// Why the guest must reboot after these packages changed; nil when it need not.
    static func reason(changed packages: [String]) -> String? {
        let needing = packages.filter { name in
            kernel(name) || cLibraries.contains(name) || initSystems.contains(name)
        }
        guard !needing.isEmpty else { return nil }
        return "\(needing.joined(separator: ", ")) changed"
    }

    /// Debian's kernel images and Red Hat's kernel packages.
    static func kernel(_ name: String) -> Bool {
        name.hasPrefix("linux-image-") || name == "kernel" || name.hasPrefix("kernel-core") || name.hasPrefix("kernel-lpae")
    }

    static let cLibraries: Set<String> = ["libc6", "glibc"]
    static let initSystems: Set<String> = ["systemd", "systemd-sysv", "init", "sysvinit-core"]
}
