internal import CLibvirt
import Foundation

/// A handle on a libvirt storage pool: a place on the hypervisor's machine where volumes
/// (disk images, kernels, saved states) live, reached through libvirt alone, so a remote
/// hypervisor needs no file shared with the machine vmtest runs on.
///
/// The corresponding libvirt type is `virStoragePoolPtr`.
public final class StoragePool: Sendable {
    /// Immutable after init, and libvirt serialises access to what it points to.
    nonisolated(unsafe) let pointer: OpaquePointer
    /// The connection this pool came from, kept alive as long as the pool is.
    public let connection: Connection

    /// Takes ownership of one reference to `pointer`.
    init(pointer: OpaquePointer, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virStoragePoolFree(pointer)
    }

    /// The pool's name, unique on its connection.
    ///
    /// The corresponding libvirt function is `virStoragePoolGetName`.
    public var name: String {
        virStoragePoolGetName(pointer).map { String(cString: $0) } ?? ""
    }

    /// Whether the pool is started (its volumes can be used).
    ///
    /// The corresponding libvirt function is `virStoragePoolIsActive`.
    public func isActive() async throws(LibvirtError) -> Bool {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            let active = virStoragePoolIsActive(pointer)
            guard active >= 0 else { throw LibvirtError.last(from: "virStoragePoolIsActive") }
            return active == 1
        }
    }

    /// Bytes the pool's storage holds in all, has given to volumes, and has free.
    public struct Space: Sendable, Hashable {
        public var capacity: UInt64
        public var allocation: UInt64
        public var available: UInt64
    }

    /// The corresponding libvirt function is `virStoragePoolGetInfo`.
    public func space() async throws(LibvirtError) -> Space {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var info = virStoragePoolInfo()
            guard virStoragePoolGetInfo(pointer, &info) == 0 else { throw LibvirtError.last(from: "virStoragePoolGetInfo") }
            return Space(capacity: UInt64(info.capacity), allocation: UInt64(info.allocation), available: UInt64(info.available))
        }
    }

    /// Starts a defined pool.
    ///
    /// The corresponding libvirt function is `virStoragePoolCreate`.
    public func start() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virStoragePoolCreate(pointer, 0) == 0 else { throw LibvirtError.last(from: "virStoragePoolCreate") }
        }
    }

    /// Makes the pool's storage (for a directory pool, its directory) if it is missing.
    ///
    /// The corresponding libvirt function is `virStoragePoolBuild`.
    public func build() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virStoragePoolBuild(pointer, 0) == 0 else { throw LibvirtError.last(from: "virStoragePoolBuild") }
        }
    }

    /// Reads the pool's volumes again from its storage (files another program added or
    /// removed).
    ///
    /// The corresponding libvirt function is `virStoragePoolRefresh`.
    public func refresh() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virStoragePoolRefresh(pointer, 0) == 0 else { throw LibvirtError.last(from: "virStoragePoolRefresh") }
        }
    }

    /// Stops the pool; a transient one (``Connection/startTransientPool(xml:)``) is gone
    /// with it. Its storage stays.
    ///
    /// The corresponding libvirt function is `virStoragePoolDestroy`.
    public func stop() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard virStoragePoolDestroy(pointer) == 0 else { throw LibvirtError.last(from: "virStoragePoolDestroy") }
        }
    }

    /// Stops the pool and forgets its definition; its storage (the directory and the
    /// volumes in it) stays.
    ///
    /// The corresponding libvirt functions are `virStoragePoolDestroy` and `virStoragePoolUndefine`.
    public func stopAndUndefine() async throws(LibvirtError) {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            if virStoragePoolIsActive(pointer) == 1, virStoragePoolDestroy(pointer) != 0 {
                throw LibvirtError.last(from: "virStoragePoolDestroy")
            }
            guard virStoragePoolUndefine(pointer) == 0 else { throw LibvirtError.last(from: "virStoragePoolUndefine") }
        }
    }

    /// The volume named `name` in this pool, or `nil` when there is none.
    ///
    /// The corresponding libvirt function is `virStorageVolLookupByName`.
    public func volume(named name: String) async throws(LibvirtError) -> StorageVolume? {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            try LibvirtError.lookup("virStorageVolLookupByName", notFound: .noStorageVolume, virStorageVolLookupByName(pointer, name))
                .map { StorageVolume(pointer: $0, connection: connection) }
        }
    }

    /// The names of the pool's volumes.
    ///
    /// The corresponding libvirt function is `virStoragePoolListAllVolumes`.
    public func volumeNames() async throws(LibvirtError) -> [String] {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virStoragePoolListAllVolumes(pointer, &list, 0)
            guard count >= 0 else { throw LibvirtError.last(from: "virStoragePoolListAllVolumes") }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index in
                list?[index].map { volume in
                    defer { virStorageVolFree(volume) }
                    return virStorageVolGetName(volume).map { String(cString: $0) } ?? ""
                }
            }
        }
    }

    /// Creates a volume from its XML (`<volume>`: name, capacity, format, and for a
    /// copy-on-write overlay the `<backingStore>`).
    ///
    /// The corresponding libvirt function is `virStorageVolCreateXML`.
    public func createVolume(xml: String) async throws(LibvirtError) -> StorageVolume {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let volume = virStorageVolCreateXML(pointer, xml, 0) else {
                throw LibvirtError.last(from: "virStorageVolCreateXML")
            }
            return StorageVolume(pointer: volume, connection: connection)
        }
    }
    /// Creates a volume from its XML holding a copy of `source`, made by the hypervisor
    /// itself: nothing travels over the connection.
    ///
    /// The corresponding libvirt function is `virStorageVolCreateXMLFrom`.
    public func cloneVolume(xml: String, from source: StorageVolume) async throws(LibvirtError) -> StorageVolume {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let volume = virStorageVolCreateXMLFrom(pointer, xml, source.pointer, 0) else {
                throw LibvirtError.last(from: "virStorageVolCreateXMLFrom")
            }
            return StorageVolume(pointer: volume, connection: connection)
        }
    }
}

extension Connection {
    /// The storage pool named `name`, or `nil` when there is none.
    ///
    /// The corresponding libvirt function is `virStoragePoolLookupByName`.
    public func storagePool(named name: String) async throws(LibvirtError) -> StoragePool? {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            try LibvirtError.lookup("virStoragePoolLookupByName", notFound: .noStoragePool, virStoragePoolLookupByName(pointer, name))
                .map { StoragePool(pointer: $0, connection: self) }
        }
    }

    /// Starts a pool that lives only until it is stopped (or the daemon restarts),
    /// without building its storage: a directory pool over a directory that is not
    /// there fails to start.
    ///
    /// The corresponding libvirt function is `virStoragePoolCreateXML`.
    public func startTransientPool(xml: String) async throws(LibvirtError) -> StoragePool {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let pool = virStoragePoolCreateXML(pointer, xml, 0) else {
                throw LibvirtError.last(from: "virStoragePoolCreateXML")
            }
            return StoragePool(pointer: pool, connection: self)
        }
    }

    /// Defines a persistent pool from its XML, builds its storage (for a directory pool,
    /// makes the directory), starts it and marks it to start with the daemon.
    ///
    /// The corresponding libvirt functions are `virStoragePoolDefineXML`,
    /// `virStoragePoolBuild`, `virStoragePoolCreate` and `virStoragePoolSetAutostart`.
    public func definePool(xml: String) async throws(LibvirtError) -> StoragePool {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            guard let pointer = virStoragePoolDefineXML(pointer, xml, 0) else {
                throw LibvirtError.last(from: "virStoragePoolDefineXML")
            }
            let pool = StoragePool(pointer: pointer, connection: self)
            guard virStoragePoolBuild(pointer, 0) == 0 else { throw LibvirtError.last(from: "virStoragePoolBuild") }
            guard virStoragePoolCreate(pointer, 0) == 0 else { throw LibvirtError.last(from: "virStoragePoolCreate") }
            guard virStoragePoolSetAutostart(pointer, 1) == 0 else { throw LibvirtError.last(from: "virStoragePoolSetAutostart") }
            return pool
        }
    }
}
