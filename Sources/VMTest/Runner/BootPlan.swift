import Foundation

/// What `vmtest boot --dry-run` shows: the decisions and the domain, nothing booted.
public enum BootPlan {
    /// Judges the hypervisor (connecting to it) to decide how the guest would run.
    public static func dryRun(profile: Profile, launcher: GuestLauncher, connectURI: String?, request: AcceleratorRequest) async throws
        -> String
    {
        let store = ImageStore(root: launcher.directories.images)
        let image = store.cached(profile)
        let runDirectory = launcher.directories.runs.appendingPathComponent("DRY-RUN")
        let mode = try await launcher.place(profile, connectURI: connectURI, request: request).mode
        let definition = launcher.definition(for: profile, mode: mode, image: image, runID: "DRY-RUN", runDirectory: runDirectory)
        var lines = [
            "# profile: \(profile.name) (\(profile.arch.rawValue), \(profile.cpus) vCPU, \(profile.memory) MiB)",
            "# accelerator: \(mode.accelerator.rawValue), \(mode.guestKernel.rawValue) guest kernel: \(mode.reason)",
        ]
        if let url = profile.image.url {
            lines.append("# image: downloaded from \(url)")
        } else if let image {
            lines.append("# image: \(image.disk) (sha256 \(image.diskSHA256))")
        } else {
            lines.append(
                "# image: not built yet; `vmtest image build \(profile.name)` builds it into \(store.directory(for: profile).path)")
        }
        lines.append(
            "# command channel: \(profile.console.device.rawValue) (libvirt console \(definition.commandConsoleAlias)), login: \(profile.console.login.rawValue)"
        )
        return lines.joined(separator: "\n") + "\n" + DomainXML.render(definition)
    }
}
