import Foundation
import Yams

/// The three NoCloud templates (`meta-data`, `user-data`, `network-config`), with
/// `{{name}}` placeholders filled in per run.
public struct CloudInitTemplates: Sendable, Hashable {
    public static let fileNames = ["meta-data", "user-data", "network-config"]

    public var metaData: String
    public var userData: String
    public var networkConfig: String

    public init(metaData: String, userData: String, networkConfig: String) {
        self.metaData = metaData
        self.userData = userData
        self.networkConfig = networkConfig
    }

    /// Reads the templates from a directory.
    public static func load(from directory: URL) throws -> CloudInitTemplates {
        func read(_ name: String) throws -> String {
            let file = directory.appendingPathComponent(name)
            do {
                return try String(contentsOf: file, encoding: .utf8)
            } catch {
                throw ProvisioningError(
                    "cannot read the cloud-init template \(file.path)",
                    fix:
                        "put them in ~/.config/vmtest/cloud-init or set VMTEST_CLOUD_INIT to a directory holding \(fileNames.joined(separator: ", "))"
                )
            }
        }
        return CloudInitTemplates(
            metaData: try read("meta-data"), userData: try read("user-data"), networkConfig: try read("network-config"))
    }

    /// The first folder of templates in the ``DataSearchPath`` order (`$VMTEST_CLOUD_INIT`,
    /// `./cloud-init`, `~/.config/vmtest/cloud-init`, `/etc/vmtest/cloud-init`, the installed
    /// `share/vmtest/cloud-init`, the source tree's); `./cloud-init` when there is none, so the
    /// error names a path.
    public static func standardDirectory(search: DataSearchPath = .standard()) -> URL {
        search.cloudInitTemplates() ?? search.workingDirectory.appendingPathComponent("cloud-init")
    }

    /// Fills `{{name}}` placeholders; a placeholder without a value is an error, so a
    /// typo in a template fails the run before boot instead of reaching the guest.
    static func fill(_ template: String, named name: String, with values: [String: String]) throws -> String {
        var output = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw ProvisioningError("cloud-init template \(name): '{{' without a closing '}}'")
            }
            let key = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let value = values[key] else {
                throw ProvisioningError(
                    "cloud-init template \(name): unknown placeholder {{\(key)}}",
                    fix: "use one of: \(values.keys.sorted().map { "{{\($0)}}" }.joined(separator: ", "))")
            }
            output += value
            rest = rest[close.upperBound...]
        }
        return output + rest
    }
}

/// A NoCloud seed for one run: who the guest is and the key root accepts.
///
/// The renderers are pure; ``write(to:)`` packs their output into `seed.iso`, a volume
/// labelled `cidata`, which cloud-init's NoCloud datasource finds on any block device.
public struct CloudInitSeed: Sendable, Hashable {
    /// A new one per run: cloud-init runs its per-instance modules (keys, host keys)
    /// only for an instance id it has not seen.
    public var instanceID: String
    public var hostname: String
    /// The run's public key line (`ssh-ed25519 AAAA... comment`), root's only key.
    public var authorizedKey: String
    /// The guest's Ethernet interface. The virt machine's virtio-mmio NIC has no PCI
    /// path for udev to name it after, so the kernel's `eth0` stays.
    public var interface: String
    public var templates: CloudInitTemplates
    /// The profile's own cloud-config keys, appended to the template's.
    public var additionalUserData: String?

    public init(
        instanceID: String, hostname: String, authorizedKey: String, interface: String = "eth0",
        templates: CloudInitTemplates, additionalUserData: String? = nil
    ) {
        self.additionalUserData = additionalUserData
        self.instanceID = instanceID
        self.hostname = Self.hostname(from: hostname)
        self.authorizedKey = authorizedKey
        self.interface = interface
        self.templates = templates
    }

    /// A valid host name (RFC 1123 label) made from any text: lower case, letters,
    /// digits and `-`, at most 63 characters.
    public static func hostname(from text: String) -> String {
        var label = String(text.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "-" })
        while label.hasPrefix("-") { label.removeFirst() }
        label = String(label.prefix(63))
        while label.hasSuffix("-") { label.removeLast() }
        return label.isEmpty ? "vmtest" : label
    }

    /// Values go in as YAML double-quoted scalars (JSON strings are valid YAML), so no
    /// character in a key comment or run id can change the document's structure.
    private var values: [String: String] {
        [
            "instance_id": Self.yamlQuoted(instanceID),
            "hostname": Self.yamlQuoted(hostname),
            "ssh_authorized_key": Self.yamlQuoted(authorizedKey),
            "interface": Self.yamlQuoted(interface),
        ]
    }

    public func renderMetaData() throws -> String {
        try CloudInitTemplates.fill(templates.metaData, named: "meta-data", with: values)
    }

    public func renderUserData() throws -> String {
        let text = try CloudInitTemplates.fill(templates.userData, named: "user-data", with: values)
        guard text.hasPrefix("#cloud-config\n") else {
            throw ProvisioningError(
                "cloud-init template user-data must start with the line '#cloud-config'; cloud-init ignores it otherwise")
        }
        guard let additional = additionalUserData, !additional.isEmpty else { return text }
        // YAML keeps the last of two equal keys without a word, so a profile could
        // silently undo what vmtest relies on (the SSH key, the locale): refuse instead.
        let own = Set((try? Yams.compose(yaml: text))?.mapping?.keys.compactMap(\.string) ?? [])
        let added = (try? Yams.compose(yaml: additional))?.mapping?.keys.compactMap(\.string) ?? []
        if let clash = added.first(where: own.contains) {
            throw ProvisioningError(
                "the profile's cloudInitUserData sets '\(clash)', which vmtest's cloud-init/user-data sets too",
                fix: "remove '\(clash)' from the profile, or change it in cloud-init/user-data")
        }
        return text + (text.hasSuffix("\n") ? "" : "\n") + "\n# From the profile's cloudInitUserData:\n" + additional
            + (additional.hasSuffix("\n") ? "" : "\n")
    }

    public func renderNetworkConfig() throws -> String {
        try CloudInitTemplates.fill(templates.networkConfig, named: "network-config", with: values)
    }

    /// The three files, by name.
    public func render() throws -> [String: String] {
        ["meta-data": try renderMetaData(), "user-data": try renderUserData(), "network-config": try renderNetworkConfig()]
    }

    static func yamlQuoted(_ value: String) -> String {
        var quoted = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                quoted += String(format: "\\x%02x", scalar.value)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }

    /// Renders the files into `directory/seed/` and packs them into `directory/seed.iso`
    /// (ISO 9660 with Joliet and Rock Ridge, volume label `cidata`).
    ///
    /// Uses `xorriso -as mkisofs`, or `genisoimage` where xorriso is missing.
    @discardableResult
    public func write(to directory: URL) async throws -> URL {
        let files = try render()
        let staging = directory.appendingPathComponent("seed")
        let image = directory.appendingPathComponent("seed.iso")
        let fileManager = FileManager.default
        try? fileManager.removeItem(at: staging)
        try? fileManager.removeItem(at: image)
        try fileManager.createDirectory(at: staging, withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(to: staging.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try await ISOImage.write(from: staging, label: "cidata", to: image)
        try? fileManager.removeItem(at: staging)
        return image
    }
}
