import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// The one XML layer: how it writes (libvirt's own quoting, text kept exactly), how it reads
/// (through SafeXML), and that a hostile document never reaches a definition.
@Suite struct XMLTreeTests {
    @Test func writesAttributesInSingleQuotesAndLeafOnlyElementsOnOneLine() {
        let serial = XMLTree("serial", [("type", "pty")], children: [XMLTree("target", [("port", "0")])])
        let tree = XMLTree("devices", children: [serial, XMLTree("memballoon", [("model", "virtio"), ("absent", nil)])])
        #expect(tree.xmlString == """
            <devices>
              <serial type='pty'><target port='0'/></serial>
              <memballoon model='virtio'/>
            </devices>

            """)
    }

    @Test func hostileTextAndAttributesComeBackExactly() throws {
        let texts = [#"O'Brien "the boss" <admin> & co"#, "</name><devices><hostdev/></devices>", "tab\tline\nreturn\r end",
                     "]]> <!-- x --> <![CDATA[ y ]]> &amp; &#x41;", "Zoë – 山田 – 🧑‍💻", "  spaces  "]
        for text in texts {
            let tree = XMLTree("domain", [("note", text)], children: [XMLTree("description", text: text)])
            let back = try XMLTree.parse(tree.xmlString, what: "a test document")
            #expect(back.attribute("note") == text, "\(tree.xmlString)")
            #expect(back.child("description")?.text == text, "\(tree.xmlString)")
        }
        // Characters XML 1.0 cannot carry become U+FFFD instead of breaking the document.
        let control = XMLTree("title", text: "bell\u{07}nul\u{0}")
        #expect(try XMLTree.parse(control.xmlString, what: "a test document").text == "bell\u{FFFD}nul\u{FFFD}")
    }

    /// An element libvirt returned keeps what lcm does not model, namespaces included, when the
    /// tree is written back (patching edits definitions this way).
    @Test func unknownContentAndNamespacesSurviveAParseAndWrite() throws {
        let xml = """
            <domain type="kvm" id="4">
              <name>d</name>
              <metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0"><libosinfo:os id="http://microsoft.com/win/11"/></libosinfo:libosinfo></metadata>
              <devices><controller type='usb' index='0' model='qemu-xhci'><address type='pci' bus='0x02'/></controller></devices>
            </domain>
            """
        let tree = try XMLTree.parse(xml, what: "a test document")
        let again = try XMLTree.parse(tree.xmlString, what: "the written document")
        #expect(again == tree)
        #expect(tree.xmlString.contains("xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'"), "\(tree.xmlString)")
        #expect(again.child("devices")?.child("controller")?.child("address")?.attribute("bus") == "0x02")
    }

    /// A libvirt document with a DOCTYPE and an external entity naming a host file is refused by
    /// every definition lcm reads, before libxml2 could load the file.
    @Test func aHostileDocumentIsRefusedByEveryDefinition() throws {
        let secret = "lcm-xxe-\(UUID().uuidString)"
        let scratch = ScratchDirectory(prefix: "lcm-xxe")
        let hostFile = scratch.file("host-file")
        try secret.write(to: hostFile, atomically: true, encoding: .utf8)
        func hostile(_ root: String, _ inside: String) -> String {
            """
            <?xml version="1.0"?>
            <!DOCTYPE \(root) [<!ENTITY leak SYSTEM "file://\(hostFile.path)">]>
            <\(root) type='qemu'>\(inside)</\(root)>
            """
        }
        let attempts: [(String, () throws -> Any)] = [
            ("domain", { try DomainDefinition(xml: hostile("domain", "<name>&leak;</name><devices/>")) }),
            ("pool", { try StoragePoolDefinition(xml: hostile("pool", "<name>&leak;</name>")) }),
            ("volume", { try StorageVolumeDefinition(xml: hostile("volume", "<name>&leak;</name>")) }),
            ("secret", { try SecretDefinition(xml: hostile("secret", "<description>&leak;</description>")) }),
            ("domainsnapshot", { try DomainSnapshotDefinition(xml: hostile("domainsnapshot", "<name>&leak;</name>")) }),
            ("capabilities", { try HostCapabilities(xml: hostile("capabilities", "<host><cpu><model>&leak;</model></cpu></host>")) }),
            ("domainCapabilities", { try DomainCapabilities(xml: hostile("domainCapabilities", "<os supported='yes'>&leak;</os>")) }),
            ("tree", { try XMLTree.parse(hostile("domain", "&leak;"), what: "a test document") }),
        ]
        for (what, attempt) in attempts {
            let error = try #require(throws: LCMError.self, "\(what)") { _ = try attempt() }
            #expect(error.message.contains("DOCTYPE") && !error.message.contains(secret), "\(what): \(error.message)")
        }
        // An internal entity (the billion-laughs shape) is refused the same way.
        let laughs = "<!DOCTYPE domain [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]><domain><name>&b;</name></domain>"
        #expect(throws: LCMError.self) { try DomainDefinition(xml: laughs) }
        // The Secure Boot check answers no rather than reading such a document.
        #expect(!DeviceCheck.offersSecureBoot(domainCapabilities: hostile("domainCapabilities", "")))
    }
}

/// libvirt's own schema check (virt-xml-validate, libvirt-clients) for a document lcm writes.
enum LibvirtSchema {
    static func validate(_ xml: String, as schema: String) throws {
        let scratch = ScratchDirectory(prefix: "lcm-xmlvalidate")
        let file = scratch.file("\(schema).xml")
        try xml.write(to: file, atomically: true, encoding: .utf8)
        let run = try ProgramRun.run("/usr/bin/virt-xml-validate", [file.path, schema])
        #expect(run.status == 0, "virt-xml-validate \(schema): \(run.stderr)\n\(xml)")
    }
}
