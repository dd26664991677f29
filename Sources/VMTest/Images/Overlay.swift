import Foundation

/// A copy-on-write disk over a base image: all of a run's writes land here.
public enum Overlay {
    public static func create(at path: URL, over base: String) async throws {
        try await ExternalTool.qemuImg.run(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, path.path])
    }
}
