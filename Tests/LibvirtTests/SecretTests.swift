import Foundation
import Libvirt
import Testing

extension LibvirtTests {
    @Suite("Secret")
    struct SecretTests {
        static func vtpmSecretXML(usage: String, isPrivate: Bool) -> String {
            """
            <secret ephemeral='no' private='\(isPrivate ? "yes" : "no")'>
              <description>lcm test secret</description>
              <usage type='vtpm'><name>\(usage)</name></usage>
            </secret>
            """
        }

        @Test("a vTPM secret's value is stored, read back and removed")
        func valueRoundTrip() throws {
            let connection = try Fixtures.system()
            let usage = Fixtures.uniqueName("vtpm")
            let secret = try connection.defineSecret(xml: Self.vtpmSecretXML(usage: usage, isPrivate: false))
            defer { try? secret.undefine() }

            let uuid = try secret.uuidString
            #expect(secret.usageID == usage)
            #expect(try secret.usageType == .vtpm)
            #expect(try secret.xmlDescription().contains(usage))
            #expect(try connection.lookupSecret(uuid: uuid)?.usageID == usage)
            #expect(try connection.lookupSecret(usageType: .vtpm, usageID: usage)?.uuidString == uuid)
            #expect(try connection.listAllSecrets().contains { try $0.uuidString == uuid })

            let value = Fixtures.randomBytes(32)
            try secret.setValue(value)
            #expect(try secret.value() == value)

            try secret.undefine()
            #expect(try connection.lookupSecret(uuid: uuid) == nil)
            #expect(try connection.lookupSecret(usageType: .vtpm, usageID: usage) == nil)
        }

        @Test("a private secret accepts a value but never reveals it")
        func privateSecret() throws {
            let connection = try Fixtures.system()
            let usage = Fixtures.uniqueName("vtpm")
            let secret = try connection.defineSecret(xml: Self.vtpmSecretXML(usage: usage, isPrivate: true))
            defer { try? secret.undefine() }
            let uuid = try secret.uuidString

            try secret.setValue(Fixtures.randomBytes(32))
            let error = try #require(throws: LibvirtError.self) { try secret.value() }
            #expect(!error.isNotFound)

            try secret.undefine()
            #expect(try connection.lookupSecret(uuid: uuid) == nil)
        }

        @Test("a volume secret is found by its volume path")
        func volumeUsage() throws {
            let connection = try Fixtures.system()
            let path = "/var/lib/libvirt/images/\(Fixtures.uniqueName("vol")).qcow2"
            let secret = try connection.defineSecret(xml: """
                <secret ephemeral='no' private='yes'>
                  <usage type='volume'><volume>\(path)</volume></usage>
                </secret>
                """)
            defer { try? secret.undefine() }
            #expect(secret.usageID == path)
            #expect(try connection.lookupSecret(usageType: .volume, usageID: path)?.uuidString == secret.uuidString)
        }
    }
}
