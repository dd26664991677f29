import Foundation

/// `update-ca-certificates`, done on the host: links each certificate enabled in
/// `/etc/ca-certificates.conf` into `/etc/ssl/certs`, writes the bundle
/// `ca-certificates.crt`, and makes the OpenSSL hash links with the host's `openssl rehash`
/// (run on copies, since the guest's links point at guest paths).
struct NativeCertificates {
    var root: URL

    func update() async throws {
        let fm = FileManager.default
        let conf = root.appendingPathComponent("etc/ca-certificates.conf")
        guard fm.fileExists(atPath: conf.path) else { return }
        let hooks = root.appendingPathComponent("etc/ca-certificates/update.d")
        if let entries = try? fm.contentsOfDirectory(atPath: hooks.path), !entries.isEmpty {
            // Hooks (ca-certificates-java ...) are guest programs: let the real tool run them.
            try await ExternalTool.chroot.run([root.path, "/usr/sbin/update-ca-certificates", "--fresh"])
            return
        }
        let etcCerts = root.appendingPathComponent("etc/ssl/certs")
        try fm.createDirectory(at: etcCerts, withIntermediateDirectories: true)
        var certificates: [String] = []  // guest paths
        for line in try String(contentsOf: conf, encoding: .utf8).split(separator: "\n") {
            let entry = line.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") || entry.hasPrefix("!") { continue }
            let path = "/usr/share/ca-certificates/" + entry
            if fm.fileExists(atPath: root.path + path) { certificates.append(path) }
        }
        let local = root.appendingPathComponent("usr/local/share/ca-certificates")
        if let enumerator = fm.enumerator(atPath: local.path) {
            let found = enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".crt") }.sorted()
            certificates += found.map { "/usr/local/share/ca-certificates/" + $0 }
        }

        let scratch = root.appendingPathComponent("tmp/vmtest-rehash")
        try? fm.removeItem(at: scratch)
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: scratch) }
        var bundle = Data()
        for certificate in certificates {
            var name = (certificate as NSString).lastPathComponent
            if name.hasSuffix(".crt") { name.removeLast(4) }
            name =
                name.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "(", with: "=")
                .replacingOccurrences(of: ")", with: "=").replacingOccurrences(of: ",", with: "_") + ".pem"
            let link = etcCerts.appendingPathComponent(name)
            try? fm.removeItem(at: link)
            try fm.createSymbolicLink(atPath: link.path, withDestinationPath: certificate)
            var contents = try Data(contentsOf: URL(fileURLWithPath: root.path + certificate))
            try contents.write(to: scratch.appendingPathComponent(name))
            if let last = contents.last, last != UInt8(ascii: "\n") { contents.append(UInt8(ascii: "\n")) }
            bundle.append(contents)
        }
        try bundle.write(to: etcCerts.appendingPathComponent("ca-certificates.crt"))
        try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: etcCerts.appendingPathComponent("ca-certificates.crt").path)

        try await ExternalTool.openssl.run(["rehash", scratch.path])
        for name in try fm.contentsOfDirectory(atPath: scratch.path) {
            guard let target = try? fm.destinationOfSymbolicLink(atPath: scratch.appendingPathComponent(name).path) else { continue }
            let link = etcCerts.appendingPathComponent(name)
            try? fm.removeItem(at: link)
            try fm.createSymbolicLink(atPath: link.path, withDestinationPath: target)
        }
    }
}
