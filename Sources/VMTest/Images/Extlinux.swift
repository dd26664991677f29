import Foundation

/// An `extlinux.conf` as U-Boot's distro boot (`sysboot`) reads it.
///
/// Keywords are case-insensitive; `KERNEL` and `LINUX` are the same; `DEFAULT` names a
/// label (or, as in syslinux, `MENU DEFAULT` inside a label marks it); without either, the
/// first label boots. Paths are kept as written: ``BootEntry/path(_:)`` resolves them.
public struct ExtlinuxConfig: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var label: String
        public var kernel: String?
        /// The first initrd (`INITRD a,b` loads several; QEMU takes one).
        public var initrd: String?
        public var append: String?
        /// `FDT` file, or `FDTDIR` directory; U-Boot falls back to the board's (QEMU's) DTB.
        public var fdt: String?
        public var fdtDirectory: String?
        var menuDefault = false
    }

    public var entries: [Entry]
    public var defaultLabel: String?
    /// Tenths of a second U-Boot's menu waits before booting the default.
    public var timeout: Int?

    public init(parsing text: String) {
        var entries: [Entry] = []
        var defaultLabel: String?
        var timeout: Int?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let keyword = line.prefix { !$0.isWhitespace }.lowercased()
            let value = line.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)
            switch keyword {
            case "label":
                entries.append(Entry(label: value))
            case "default":
                defaultLabel = value
            case "timeout":
                timeout = Int(value)
            default:
                guard !entries.isEmpty else { continue }
                let last = entries.count - 1
                switch keyword {
                case "kernel", "linux": entries[last].kernel = value
                case "initrd": entries[last].initrd = value.split(separator: ",").first.map(String.init)
                case "append": entries[last].append = value
                case "fdt", "devicetree": entries[last].fdt = value
                case "fdtdir": entries[last].fdtDirectory = value
                case "menu" where value.lowercased() == "default": entries[last].menuDefault = true
                default: continue
                }
            }
        }
        self.entries = entries
        self.defaultLabel = defaultLabel
        self.timeout = timeout
    }

    /// The entry U-Boot boots without a key press.
    public var defaultEntry: Entry? {
        if let defaultLabel {
            if let exact = entries.first(where: { $0.label == defaultLabel }) { return exact }
            if let folded = entries.first(where: { $0.label.lowercased() == defaultLabel.lowercased() }) { return folded }
        }
        return entries.first(where: \.menuDefault) ?? entries.first
    }

    /// Where distro boot looks, in its order, on every partition it scans.
    public static let searchPaths = ["/extlinux/extlinux.conf", "/boot/extlinux/extlinux.conf"]

    /// A path of the conf resolved against the root of the partition it was found on, as
    /// `sysboot` does: `vmlinuz-x` and `/vmlinuz-x` are the same file.
    public static func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : "/" + path
    }
}
