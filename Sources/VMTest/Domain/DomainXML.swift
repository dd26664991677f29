/// Renders a ``DomainDefinition`` as libvirt domain XML.
///
/// Deterministic (same input, same bytes) so golden files can pin it down.
public enum DomainXML {
    public static func render(_ domain: DomainDefinition) -> String {
        var xml = XMLWriter()
        if domain.sshForwardPort != nil {
            xml.open(
                "domain", ["type": domain.accelerator.accelerator.domainType, "xmlns:qemu": "http://libvirt.org/schemas/domain/qemu/1.0"])
        } else {
            xml.open("domain", ["type": domain.accelerator.accelerator.domainType])
        }
        xml.element("name", text: domain.name)
        if let uuid = domain.uuid { xml.element("uuid", text: uuid.uuidString.lowercased()) }
        xml.open("metadata")
        xml.element(
            "vmtest:run",
            [
                "xmlns:vmtest": DomainDefinition.RunTag.namespaceURI,
                "id": domain.run.id,
                "profile": domain.run.profile,
                "owner-pid": String(domain.run.ownerPID),
                "host": domain.run.host,
            ])
        xml.close("metadata")
        xml.element("memory", ["unit": "MiB"], text: String(domain.memoryMiB))
        xml.element("vcpu", text: String(domain.cpus))
        if let tune = domain.cpuTune {
            xml.open("cputune")
            for pin in tune.vcpuPins {
                xml.element("vcpupin", ["vcpu": String(pin.vcpu), "cpuset": pin.cpuset])
            }
            if let cpuset = tune.emulatorPin { xml.element("emulatorpin", ["cpuset": cpuset]) }
            xml.close("cputune")
        }

        xml.open("os")
        xml.element("type", ["arch": domain.arch.rawValue, "machine": domain.machine], text: "hvm")
        switch domain.boot {
        case .directKernel(let kernel, let initrd, let commandLine):
            xml.element("kernel", text: kernel)
            if let initrd { xml.element("initrd", text: initrd) }
            xml.element("cmdline", text: commandLine)
        case .firmware(let path):
            xml.element("loader", ["type": "rom", "readonly": "yes"], text: path)
        }
        xml.close("os")

        if let model = domain.accelerator.cpuModel {
            xml.open("cpu", ["mode": "custom", "match": "exact", "check": "none"])
            xml.element("model", ["fallback": "forbid"], text: model)
            xml.close("cpu")
        } else {
            xml.element("cpu", ["mode": "host-passthrough"])
        }
        xml.element("clock", ["offset": "utc"])
        // A test guest that stops for any reason is finished: never restart it behind
        // the runner's back.
        xml.element("on_poweroff", text: "destroy")
        xml.element("on_reboot", text: "destroy")
        xml.element("on_crash", text: "destroy")

        xml.open("devices")
        xml.element("emulator", text: domain.accelerator.emulator)
        for (index, disk) in domain.disksInBusOrder.enumerated() {
            switch disk.kind {
            case .qcow2Overlay:
                xml.open("disk", ["type": "file", "device": "disk"])
                // The overlay is thrown away after the run: no flushes needed.
                xml.element("driver", ["name": "qemu", "type": "qcow2", "cache": "unsafe", "discard": "unmap"])
                xml.element("source", ["file": disk.path])
                xml.element("target", ["dev": "vd" + String(UnicodeScalar(UInt8(97 + index))), "bus": "virtio"])
                xml.element("address", ["type": "virtio-mmio"])
                xml.close("disk")
            case .readOnlyImage, .payload:
                // The virt machine has no IDE or AHCI; a read-only virtio disk carries
                // the cloud-init seed just as well (blkid finds its `cidata` label), and
                // the payload, which the guest finds by its serial number.
                xml.open("disk", ["type": "file", "device": "disk"])
                xml.element("driver", ["name": "qemu", "type": "raw"])
                xml.element("source", ["file": disk.path])
                xml.element("target", ["dev": "vd" + String(UnicodeScalar(UInt8(97 + index))), "bus": "virtio"])
                if disk.kind == .payload { xml.element("serial", text: PayloadDisk.serial) }
                xml.element("readonly")
                xml.element("address", ["type": "virtio-mmio"])
                xml.close("disk")
            }
        }
        // Every virtio device sits on virtio-mmio: the guest's initramfs then needs no
        // PCI drivers, and the virt machine has the slots for it.
        xml.open("controller", ["type": "virtio-serial", "index": "0"])
        xml.element("address", ["type": "virtio-mmio"])
        xml.close("controller")
        xml.element("controller", ["type": "usb", "model": "none"])
        xml.open("serial", ["type": "pty"])
        xml.element("log", ["file": domain.consoleLog, "append": domain.appendsToConsoleLog ? "on" : "off"])
        xml.element("target", ["port": "0"])
        xml.close("serial")
        if domain.commandConsole == .hvc0 {
            xml.open("console", ["type": "pty"])
            xml.element("target", ["type": "virtio", "port": "1"])
            xml.close("console")
        }
        // Without an entropy source, sshd and cloud-init wait for the kernel's pool.
        xml.open("rng", ["model": "virtio"])
        xml.element("backend", ["model": "random"], text: "/dev/urandom")
        xml.element("address", ["type": "virtio-mmio"])
        xml.close("rng")
        xml.element("memballoon", ["model": "none"])
        xml.close("devices")
        if let port = domain.sshForwardPort {
            // User-mode networking needs no root, bridge or daemon. Debian's libvirt 9.0
            // has passt patched out (`<backend type='passt'/>` is rejected), and a passt
            // process of our own would be one more thing to start, watch and kill; QEMU's
            // own slirp with a hostfwd does the same job inside the QEMU process, at the
            // price of libvirt marking the domain "tainted: custom-argv".
            xml.open("qemu:commandline")
            for argument in [
                "-netdev", "user,id=vmtestnet,hostfwd=tcp:127.0.0.1:\(port)-:22",
                "-device", "virtio-net-device,netdev=vmtestnet",
            ] {
                xml.element("qemu:arg", ["value": argument])
            }
            xml.close("qemu:commandline")
        }
        xml.close("domain")
        return xml.text
    }
}

/// A minimal indenting XML writer with attributes in a fixed (insertion) order.
struct XMLWriter {
    private(set) var text = ""
    private var depth = 0

    mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String> = [:]) {
        text += indent + "<\(name)\(Self.render(attributes))>\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        text += indent + "</\(name)>\n"
    }

    mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], text content: String? = nil) {
        if let content {
            text += indent + "<\(name)\(Self.render(attributes))>\(Self.escape(content))</\(name)>\n"
        } else {
            text += indent + "<\(name)\(Self.render(attributes))/>\n"
        }
    }

    private var indent: String { String(repeating: "  ", count: depth) }

    private static func render(_ attributes: KeyValuePairs<String, String>) -> String {
        attributes.map { " \($0.key)='\(escape($0.value))'" }.joined()
    }

    static func escape(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "'": escaped += "&apos;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
