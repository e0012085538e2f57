import Foundation
import LCMTestSupport
import Testing

@Suite struct RegistryHiveWriterSmokeTests {
    @Test func minimalHiveHasTheRegfSignature() {
        let hive = RegistryHive.minimal()
        #expect(Array(hive.prefix(4)) == Array("regf".utf8))
        #expect(hive.count % 4096 == 0)
    }
}
