import Foundation
import Yams

/// Checks that a well-formed profile describes a guest vmtest can actually boot.
enum ProfileValidator {
    struct Issue: Equatable {
        /// Dotted key path, used to find the line in the file.
        var path: String
        var message: String
        var fix: String
    }

    /// The virt machine's interrupt controller for 32-bit guests (GICv2) serves 8 CPUs.
    static let cpuRange = 1...8
    /// Below 256 MiB a Debian or CentOS userland with cloud-init runs out of memory.
    static let memoryRange = 256...65536

    static func firstIssue(in profile: Profile) -> Issue? {
        issues(in: profile).first
    }

    static func issues(in profile: Profile) -> [Issue] {
        var issues: [Issue] = []
        func check(_ condition: Bool, _ path: String, _ message: String, fix: String) {
            if !condition { issues.append(Issue(path: path, message: message, fix: fix)) }
        }

        check(
            profile.machine == "virt" || profile.machine.hasPrefix("virt-"), "machine",
            "machine '\(profile.machine)' is not supported; vmtest boots QEMU's 'virt' machine",
            fix: "use `machine: virt`")
        check(
            cpuRange.contains(profile.cpus), "cpus",
            "cpus must be between \(cpuRange.lowerBound) and \(cpuRange.upperBound), not \(profile.cpus)",
            fix: "use `cpus: 2` (the virt machine's GICv2 serves at most 8)")
        check(
            memoryRange.contains(profile.memory), "memory",
            "memory is in MiB and must be between \(memoryRange.lowerBound) and \(memoryRange.upperBound), not \(profile.memory)",
            fix: "use `memory: 1024`")

        let image = profile.image
        switch (image.build, image.url) {
        case (nil, nil):
            issues.append(
                Issue(
                    path: "image", message: "the image has neither `build` nor `url`",
                    fix: "add `build: {debian: ...}` to build it, or `url:` and `sha256:` to download it"))
        case (.some, .some):
            issues.append(
                Issue(
                    path: "image", message: "the image has both `build` and `url`",
                    fix: "keep one of them"))
        case (.some(let build), nil):
            check(build.debian != nil, "image.build", "`build` names no recipe", fix: "add a `debian:` recipe")
        case (nil, .some(let url)):
            let scheme = URL(string: url)?.scheme ?? ""
            check(
                ["http", "https", "file"].contains(scheme), "image.url",
                "image URL '\(url)' is not http(s):// or file://", fix: "give a full URL such as https://host/path/image.raw.xz")
            check(
                image.sha256 != nil || image.checksumURL != nil, "image",
                "a downloaded image needs a checksum to be trusted",
                fix: "add `sha256:` or `checksumURL:` (the mirror's sha256sum.txt)")
        }
        if let sha256 = image.sha256 {
            check(
                sha256.count == 64 && sha256.allSatisfy(\.isHexDigit), "image.sha256",
                "sha256 must be 64 hexadecimal digits", fix: "copy it from the mirror's checksum file")
        }

        switch profile.boot.method {
        case .uBoot:
            check(
                profile.arch == .armv7l || profile.boot.firmware != nil, "boot.firmware",
                "u-boot boot of \(profile.arch.rawValue) guests needs `firmware:`",
                fix: "add `firmware:` with the path of a U-Boot binary for QEMU's virt machine")
        case .directKernel:
            // Built images bring their kernel; fetched ones have it copied out of their
            // extlinux.conf when they are prepared (an image without one fails there).
            break
        }

        if let extra = profile.cloudInitUserData {
            check(
                profile.provisioning == .cloudInit, "cloudInitUserData",
                "cloudInitUserData is set but the profile is not provisioned with cloud-init",
                fix: "remove it, or use `provisioning: cloud-init`")
            let isMapping: Bool
            if case .mapping? = try? Yams.compose(yaml: extra) { isMapping = true } else { isMapping = false }
            check(
                isMapping, "cloudInitUserData",
                "cloudInitUserData is not a mapping of cloud-config keys",
                fix: "write it as a block of keys, e.g. `cloudInitUserData: |` followed by indented `runcmd: [...]`")
        }
        if profile.console.login == .password {
            check(
                profile.console.user != nil && profile.console.password != nil, "console",
                "password login needs `user:` and `password:`", fix: "add both, e.g. `user: root` and `password: centos`")
        }
        check(
            profile.install.contains("{packages}"), "install",
            "the install command does not mention {packages}",
            fix: "write where the RPM paths go, e.g. `rpm -Uvh {packages}`")

        if let warmUp = profile.warmUp {
            check(
                !warmUp.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "warmUp", "warmUp is empty",
                fix: "give the command a saved guest runs once before the save, or leave the key out")
        }

        var seen = Set<String>()
        for (index, test) in profile.smokeTests.enumerated() {
            check(!test.name.isEmpty, "smokeTests.\(index).name", "a smoke test has an empty name", fix: "name it")
            check(
                seen.insert(test.name).inserted, "smokeTests.\(index).name",
                "smoke test '\(test.name)' is listed twice", fix: "give each smoke test its own name")
        }
        return issues
    }
}
