import Foundation
import Testing

@testable import VMTest

/// How a run's volumes on a hypervisor are named and known again (#12).
struct RunVolumesTests {
    @Test func theOwnerMarkNamesTheRunItsPIDAndHostAndIsReadBack() throws {
        let mark = RunVolumes.ownerMark(runID: "20261201-204601-12h10ne", pid: 4242, host: "builder1.example.org")
        #expect(mark == "run-20261201-204601-12h10ne-owner-4242@builder1.example.org")
        #expect(mark.hasPrefix(RunVolumes.prefix(runID: "20261201-204601-12h10ne")))
        let owner = try #require(RunVolumes.owner(inMark: mark))
        #expect(owner.runID == "20261201-204601-12h10ne" && owner.pid == 4242 && owner.host == "builder1.example.org")
    }

    @Test func aHostNameIsKeptToWhatAVolumeNameMayHold() {
        #expect(RunVolumes.markedHost("my host/with:odd") == "my_host_with_odd")
        let owner = RunVolumes.owner(inMark: RunVolumes.ownerMark(runID: "r", pid: 1, host: "my host/with:odd"))
        #expect(owner?.host == RunVolumes.markedHost("my host/with:odd"))
    }

    @Test func volumesThatAreNoOwnerMarkAreNotTakenForOne() {
        #expect(RunVolumes.owner(inMark: "run-20261201-204601-12h10ne-overlay.qcow2") == nil)
        #expect(RunVolumes.owner(inMark: "run-20261201-204601-12h10ne-console.log") == nil)
        #expect(RunVolumes.owner(inMark: "base-d4beb4b4.qcow2") == nil)
    }

    /// When the hypervisor cannot be asked, its URI decides.
    @Test func withoutAnAnswerAHypervisorOnThisMachineSharesItsFiles() {
        #expect(FileSharing.fromURI("qemu:///system") == .shared)
        #expect(FileSharing.fromURI("qemu+tcp://127.0.0.1:16510/system") == .shared)
        #expect(FileSharing.fromURI("qemu+ssh://builder1/system") == .separate)
    }

    /// A run that died while saving a guest leaves volumes no manifest published: those
    /// are its leftovers; a state it published, and other runs' states, stay.
    @Test func aDeadRunsUnpublishedSaveIsItsLeftoverAndPublishedStatesStay() {
        let dying = "20261202-001028-1gk0loh"
        let other = "20261202-001127-1v0s2f4"
        let unpublished = PoolWarmStates.volumePrefix(key: "418a5b839d854413", token: dying)
        let published = PoolWarmStates.volumePrefix(key: "5de826fe56d0771b", token: dying)
        let theirs = PoolWarmStates.volumePrefix(key: "418a5b839d854413", token: other)
        let names = [
            unpublished + "frozen.qcow2", unpublished + "state.save",
            published + "frozen.qcow2", published + "state.save", PoolWarmStates.manifestName(key: "5de826fe56d0771b", token: dying),
            theirs + "frozen.qcow2", "run-\(dying)-overlay.qcow2", "base-d4beb4b4.qcow2",
        ]
        #expect(PoolWarmStates.unpublished(runID: dying, among: names) == [unpublished + "frozen.qcow2", unpublished + "state.save"])
        #expect(PoolWarmStates.unpublished(runID: other, among: names) == [theirs + "frozen.qcow2"])
    }
}
