import Foundation
import Libvirt
import Testing

/// The wrapper's shape, checked against libvirt's in-process `test:///default` driver,
/// which starts with one running domain called "test".
@Suite("test:///default driver")
struct TestDriverTests {
    let connection: Connection

    init() throws {
        connection = try Connection(uri: "test:///default")
    }

    @Test func connectionReportsItsProperties() throws {
        #expect(try connection.uri() == "test:///default")
        #expect(try !connection.hostname().isEmpty)
        #expect(try Connection.libraryVersion() >= Version(major: 9, minor: 0, release: 0))
        #expect(try connection.hypervisorVersion() > Version(major: 0, minor: 0, release: 0))
        #expect(try connection.capabilities().contains("<capabilities>"))
        #expect(connection.isAlive)
    }

    @Test func opensAnyNumberOfConnections() throws {
        let connections = try (0..<4).map { _ in try Connection(uri: "test:///default") }
        #expect(connections.allSatisfy { $0.isAlive })
    }

    @Test func findsThePredefinedDomain() throws {
        let domain = try #require(try connection.domain(named: "test"))
        #expect(domain.name == "test")
        #expect(domain.id != nil)
        #expect(try domain.state().state == .running)
        #expect(try domain.xmlDescription().contains("<name>test</name>"))

        let byUUID = try #require(try connection.domain(uuid: domain.uuid))
        #expect(byUUID.name == "test")
        #expect(try connection.domains().contains { $0.name == "test" })
    }

    @Test func lookupMissesReturnNil() throws {
        #expect(try connection.domain(named: "no-such-domain") == nil)
        #expect(try connection.domain(uuid: UUID()) == nil)
    }

    @Test func failedCallsReportCodeAndFunction() throws {
        let error = try #require(throws: LibvirtError.self) {
            try Connection(uri: "no-such-driver:///nowhere")
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
    func badDomainXMLIsRejected(xml: String) throws {
        let error = try #require(throws: LibvirtError.self) {
            try connection.createDomain(xml: xml)
        }
        #expect(error.function == "virDomainCreateXML")
        #expect(error.code != .ok)
        #expect(!error.message.isEmpty)
    }

    @Test func offloadedCallsReturnResultsAndErrors() async throws {
        let connection = try await Connection.open(uri: "test:///default")
        let name = try await offloadLibvirtCall { try connection.domain(named: "test")?.name }
        #expect(name == "test")
        do {
            _ = try await offloadLibvirtCall { try connection.createDomain(xml: "<domain") }
            Issue.record("bad XML was accepted")
        } catch let error as LibvirtError {
            // Read on the thread that failed, not the one that awaited.
            #expect(error.function == "virDomainCreateXML")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func createdDomainRunsUntilDestroyed() throws {
        let name = uniqueDomainName("create")
        let domain = try connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { _ = try? domain.destroyIfRunning() }

        #expect(domain.name == name)
        #expect(try domain.state().state == .running)
        #expect(try connection.domain(named: name)?.uuid == domain.uuid)
        #expect(try connection.domains().contains { $0.name == name })

        try domain.destroy()
        #expect(try connection.domain(named: name) == nil)
        #expect(domain.id == nil)

        let error = try #require(throws: LibvirtError.self) { try domain.destroy() }
        #expect(error.code == .noDomain)
        #expect(error.function == "virDomainDestroy")
        #expect(try domain.destroyIfRunning() == false)
    }

    @Test func duplicateNameIsAnError() throws {
        let name = uniqueDomainName("duplicate")
        let domain = try connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { _ = try? domain.destroyIfRunning() }
        let error = try #require(throws: LibvirtError.self) {
            try connection.createDomain(xml: testDriverDomainXML(name: name))
        }
        #expect(error.code == .operationFailed || error.code == .domainExists)
    }

    @Test func metadataRoundTrips() throws {
        let name = uniqueDomainName("metadata")
        let domain = try connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { _ = try? domain.destroyIfRunning() }
        let namespace = "https://example.org/vmtest/\(name)"

        #expect(try domain.metadata(namespaceURI: namespace) == nil)
        try domain.setMetadata(#"<run id="42"/>"#, key: "vmtest", namespaceURI: namespace)
        let stored = try #require(try domain.metadata(namespaceURI: namespace))
        #expect(stored.contains(#"id="42""#))
        #expect(try domain.xmlDescription().contains(namespace))

        try domain.setMetadata(nil, key: "vmtest", namespaceURI: namespace)
        #expect(try domain.metadata(namespaceURI: namespace) == nil)
    }

    @Test func malformedMetadataIsRejected() throws {
        let domain = try #require(try connection.domain(named: "test"))
        let error = try #require(throws: LibvirtError.self) {
            try domain.setMetadata("<unclosed", key: "v", namespaceURI: "https://example.org/bad")
        }
        #expect(error.function == "virDomainSetMetadata")
    }

    @Test func lifecycleEventsArriveForCreateAndDestroy() async throws {
        let events = try connection.lifecycleEvents()
        let name = uniqueDomainName("events")
        let domain = try connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { _ = try? domain.destroyIfRunning() }

        let started = try await firstEvent(.started, for: name, in: events)
        #expect(started.domainUUID == domain.uuid)
        try domain.destroy()
        let stopped = try await firstEvent(.stopped, for: name, in: events)
        #expect(stopped.domainUUID == domain.uuid)
    }

    @Test func droppedSubscriptionsDoNotBreakLaterOnes() async throws {
        for _ in 0..<20 {
            _ = try connection.lifecycleEvents()
        }
        // A consumer cancelled while waiting deregisters from a pool thread.
        let waiting = Task { [connection] in
            for await _ in try connection.lifecycleEvents() {}
        }
        waiting.cancel()
        _ = await waiting.result

        let events = try connection.lifecycleEvents()
        let name = uniqueDomainName("resubscribe")
        let domain = try connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { _ = try? domain.destroyIfRunning() }
        _ = try await firstEvent(.started, for: name, in: events)
    }

    @Test func waitUntilStoppedReturnsOnDestroy() async throws {
        let name = uniqueDomainName("wait")
        let domain = try connection.createDomain(xml: testDriverDomainXML(name: name))
        defer { _ = try? domain.destroyIfRunning() }

        let waiter = Task { try await domain.waitUntilStopped() }
        try await Task.sleep(for: .milliseconds(100))
        try domain.destroy()
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
