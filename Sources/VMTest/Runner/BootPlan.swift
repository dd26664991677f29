import Foundation

/// What `vmtest boot --dry-run` shows: the decisions and the domain, nothing booted.
public enum BootPlan {
    public static func dryRun(profile: Profile, launcher: GuestLauncher) -> String {
        let store = ImageStore(root: launcher.directories.images)
        let image = store.cached(profile)
        let runDirectory = launcher.directories.runs.appendingPathComponent("DRY-RUN")
        let definition = launcher.definition(for: profile, image: image, runID: "DRY-RUN", runDirectory: runDirectory)
        var lines = [
            "# profile: \(profile.name) (\(profile.arch.rawValue), \(profile.cpus) vCPU, \(profile.memory) MiB)",
            "# accelerator: \(definition.accelerator.accelerator.rawValue): \(definition.accelerator.reason)",
        ]
        if let url = profile.image.url {
            lines.append("# image: downloaded from \(url)")
        } else if let image {
            lines.append("# image: \(image.disk) (sha256 \(image.diskSHA256))")
        } else {
            lines.append("# image: not built yet; `vmtest image build \(profile.name)` builds it into \(store.directory(for: profile).path)")
        }
        lines.append("# command channel: \(profile.console.device.rawValue) (libvirt console \(definition.commandConsoleAlias)), login: \(profile.console.login.rawValue)")
        return lines.joined(separator: "\n") + "\n" + DomainXML.render(definition)
    }
}
