import Foundation
import Libvirt
import Testing

/// The wrapper's shape, checked against libvirt's in-process `test:///default` driver,
/// which starts with one running domain called "test".
@Suite("test:///default driver")
struct TestDriverTests {
    let connection: Connection

    init() async throws {
        connection = try await Connection.open(uri: "test:///default")
    }

    @Test func connectionReportsItsProperties() async throws {
        #expect(try await connection.uri() == "test:///default")
        #expect(try await !connection.hostname().isEmpty)
        #expect(try Connection.libraryVersion() >= Version(major: 9, minor: 0, release: 0))
        #expect(try await connection.hypervisorVersion() > Version(major: 0, minor: 0, release: 0))
        #expect(try await connection.capabilities().contains("<capabilities>"))
        #expect(connection.isAlive)
    }

    @Test func opensAnyNumberOfConnections() async throws {
        let connections = try await withThrowingTaskGroup { group in
            for _ in 0..<4 { group.addTask { try await Connection.open(uri: "test:///default") } }
            return try await group.reduce(into: [Connection]()) { $0.append($1) }
        }
        #expect(connections.allSatisfy { $0.isAlive })
    }

    @Test func findsThePredefinedDomain() async throws {
        let domain = try #require(try await connection.domain(named: "test"))
        #expect(domain.name == "test")
        #expect(domain.id != nil)
        #expect(try await domain.state().state == .running)
        #expect(try await domain.xmlDescription().contains("<name>test</name>"))

        let byUUID = try #require(try await connection.domain(uuid: domain.uuid))
        #expect(byUUID.name == "test")
        #expect(try await connection.domains().contains { $0.name == "test" })
    }

    @Test func lookupMissesReturnNil() async throws {
        #expect(try await connection.domain(named: "no-such-domain") == nil)
        #expect(try await connection.domain(uuid: UUID()) == nil)
    }

    @Test func failedCallsReportCodeAndFunction() async throws {
        let error = try await #require(throws: LibvirtError.self) {
            try await Connection.open(uri: "no-such-driver:///nowhere")
        }
        #expect(error.function == "virConnectOpen")
        #expect(!error.message.isEmpty)
        #expect(error.description.hasPrefix("virConnectOpen failed: "))
    }

    @Test(arguments: [
        "",
        "<domain",
        "<domain type='test'></domain>",
        "<domain type='test'><name>x</name><memory>oops</memory><os><type>hvm</type></os></domain>",
        "<network><name>not-a-domain</name></network>",
    ])
    func badDomainXMLIsRejected(xml: String) async throws {
        let error = try await #require(throws: LibvirtError.self) {
            try await connection.createDomain(xml: xml)
        }
        #expect(error.function == "virDomainCreateXML")
        #expect(error.code != .ok)
        #expect(!error.message.isEmpty)
    }

    @Test func asyncCallsReturnResultsAndErrors() async throws {
        let connection = try await Connection.open(uri: "test:///default")
        let name = try await connection.domain(named: "test")?.name
        #expect(name == "test")
        do {
            _ = try await connection.createDomain(xml: "<domain")
            Issue.record("bad XML was accepted")
        } catch {
            // Read on the thread that failed, not the one that awaited.
            #expect(error.function == "virDomainCreateXML")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func createdDomainRunsUntilDestroyed() async throws {
        let name = uniqueDomainName("create")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }

        #expect(domain.name == name)
        #expect(try await domain.state().state == .running)
        #expect(try await connection.domain(named: name)?.uuid == domain.uuid)
        #expect(try await connection.domains().contains { $0.name == name })

        try await domain.destroy()
        #expect(try await connection.domain(named: name) == nil)
        #expect(domain.id == nil)

        let error = try await #require(throws: LibvirtError.self) { try await domain.destroy() }
        #expect(error.code == .noDomain)
        #expect(error.function == "virDomainDestroy")
        #expect(try await domain.destroyIfRunning() == false)
    }

    @Test func aDefinedDomainStartsStopsAndIsUndefined() async throws {
        let name = uniqueDomainName("defined")
        let domain = try await connection.defineDomain(xml: testDriverDomainXML(name: name))
        #expect(try await domain.state().state == .shutoff)
        #expect(domain.id == nil)

        try await domain.start()
        #expect(try await domain.state().state == .running)
        try await domain.destroy()
        #expect(try await connection.domain(named: name) != nil, "a defined domain outlives its stop")

        try await domain.undefine()
        #expect(try await connection.domain(named: name) == nil)
        let error = try await #require(throws: LibvirtError.self) { try await domain.start() }
        #expect(error.function == "virDomainCreate")
    }

    @Test func duplicateNameIsAnError() async throws {
        let name = uniqueDomainName("duplicate")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }
        let error = try await #require(throws: LibvirtError.self) {
            try await connection.createDomain(xml: testDriverDomainXML(name: name))
        }
        #expect(error.code == .operationFailed || error.code == .domainExists)
    }

    @Test func metadataRoundTrips() async throws {
        let name = uniqueDomainName("metadata")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }
        let namespace = "https://example.org/vmtest/\(name)"

        #expect(try await domain.metadata(namespaceURI: namespace) == nil)
        try await domain.setMetadata(#"<run id="42"/>"#, key: "vmtest", namespaceURI: namespace)
        let stored = try #require(try await domain.metadata(namespaceURI: namespace))
        #expect(stored.contains(#"id="42""#))
        #expect(try await domain.xmlDescription().contains(namespace))

        try await domain.setMetadata(nil, key: "vmtest", namespaceURI: namespace)
        #expect(try await domain.metadata(namespaceURI: namespace) == nil)
    }

    @Test func malformedMetadataIsRejected() async throws {
        let domain = try #require(try await connection.domain(named: "test"))
        let error = try await #require(throws: LibvirtError.self) {
            try await domain.setMetadata("<unclosed", key: "v", namespaceURI: "https://example.org/bad")
        }
        #expect(error.function == "virDomainSetMetadata")
    }

    @Test func lifecycleEventsArriveForCreateAndDestroy() async throws {
        let events = try await connection.lifecycleEvents()
        let name = uniqueDomainName("events")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }

        let started = try await firstEvent(.started, for: name, in: events)
        #expect(started.domainUUID == domain.uuid)
        try await domain.destroy()
        let stopped = try await firstEvent(.stopped, for: name, in: events)
        #expect(stopped.domainUUID == domain.uuid)
    }

    @Test func droppedSubscriptionsDoNotBreakLaterOnes() async throws {
        for _ in 0..<20 {
            _ = try await connection.lifecycleEvents()
        }
        // A consumer cancelled while waiting deregisters from a pool thread.
        let waiting = Task { [connection] in
            for await _ in try await connection.lifecycleEvents() {}
        }
        waiting.cancel()
        _ = await waiting.result

        let events = try await connection.lifecycleEvents()
        let name = uniqueDomainName("resubscribe")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }
        _ = try await firstEvent(.started, for: name, in: events)
    }

    @Test func waitUntilStoppedReturnsOnDestroy() async throws {
        let name = uniqueDomainName("wait")
        let domain = try await connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { Task { [domain] in _ = try? await domain.destroyIfRunning() } }

        let waiter = Task { try await domain.waitUntilStopped() }
        try await Task.sleep(for: .milliseconds(100))
        try await domain.destroy()
        try await withTimeout(seconds: 10) { try await waiter.value }
        // Already stopped: returns at once.
        try await withTimeout(seconds: 10) { try await domain.waitUntilStopped() }
    }

    @Test func versionDecodesLibvirtsPackedForm() {
        #expect(Version(packed: 9_000_000) == Version(major: 9, minor: 0, release: 0))
        #expect(Version(packed: 7_002_011).description == "7.2.11")
        #expect(Version(packed: 1_002_003) < Version(packed: 1_010_000))
    }
}
