import Foundation

/// What a night does once however many cells need it: reaping what dead runs left, and
/// making each profile's base image. The first cell of a profile makes its image; the
/// others wait for that same work instead of queueing on the image's lock one by one.
actor NightPreparation {
    private var reaped = false
    private var images: [String: Task<BaseImage, any Error>] = [:]

    func prepare(_ profile: Profile, with launcher: GuestLauncher) async throws {
        if !reaped {
            reaped = true
            await launcher.reapLeftovers()
        }
        let making = images[profile.name] ?? Task { try await launcher.image(for: profile) }
        images[profile.name] = making
        _ = try await making.value
    }
}
