import Foundation
import LCMKit

/// The Windows Setup answer file (unattend.xml) a `leftoverAnswerFile` disk carries: the kind an
/// image build leaves in `\Windows\Panther` when nothing cleans up after sysprep, with the local
/// administrator password, an auto-logon account and the product key in plain text.
///
/// The structure follows Microsoft's unattend schema (passes windowsPE, specialize, oobeSystem;
/// components Microsoft-Windows-Setup and Microsoft-Windows-Shell-Setup). Every value comes from
/// the spec: the secrets from `WindowsDiskSpec.answerFileSecrets`, the computer name and the
/// processor architecture from the spec's own fields.
public enum UnattendAnswerFile {
    /// The answer file for `spec`, with Windows line endings.
    public static func xml(for spec: WindowsDiskSpec) -> String {
        let secrets = spec.answerFileSecrets
        let arch = spec.architecture == .x86_64 ? "amd64" : "x86"
        func component(_ name: String) -> String {
            "<component name=\"\(name)\" processorArchitecture=\"\(arch)\" publicKeyToken=\"31bf3856ad364e35\" "
                + "language=\"neutral\" versionScope=\"nonSxS\" "
                + "xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" "
                + "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
        }
        let lines = [
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">",
            "    <settings pass=\"windowsPE\">",
            "        " + component("Microsoft-Windows-Setup"),
            "            <UserData>",
            "                <ProductKey>",
            "                    <Key>\(XMLTree.escapedAttribute(secrets.productKey))</Key>",
            "                    <WillShowUI>OnError</WillShowUI>",
            "                </ProductKey>",
            "                <AcceptEula>true</AcceptEula>",
            "                <FullName>\(XMLTree.escapedAttribute(spec.registeredOwner))</FullName>",
            "                <Organization></Organization>",
            "            </UserData>",
            "        </component>",
            "    </settings>",
            "    <settings pass=\"specialize\">",
            "        " + component("Microsoft-Windows-Shell-Setup"),
            "            <ComputerName>\(XMLTree.escapedAttribute(spec.computerName))</ComputerName>",
            "            <ProductKey>\(XMLTree.escapedAttribute(secrets.productKey))</ProductKey>",
            "            <RegisteredOwner>\(XMLTree.escapedAttribute(spec.registeredOwner))</RegisteredOwner>",
            "            <TimeZone>UTC</TimeZone>",
            "        </component>",
            "    </settings>",
            "    <settings pass=\"oobeSystem\">",
            "        " + component("Microsoft-Windows-Shell-Setup"),
            "            <UserAccounts>",
            "                <AdministratorPassword>",
            "                    <Value>\(XMLTree.escapedAttribute(secrets.administratorPassword))</Value>",
            "                    <PlainText>true</PlainText>",
            "                </AdministratorPassword>",
            "                <LocalAccounts>",
            "                    <LocalAccount wcm:action=\"add\">",
            "                        <Password>",
            "                            <Value>\(XMLTree.escapedAttribute(secrets.autoLogonPassword))</Value>",
            "                            <PlainText>true</PlainText>",
            "                        </Password>",
            "                        <Group>Administrators</Group>",
            "                        <Name>\(XMLTree.escapedAttribute(secrets.autoLogonUsername))</Name>",
            "                    </LocalAccount>",
            "                </LocalAccounts>",
            "            </UserAccounts>",
            "            <AutoLogon>",
            "                <Password>",
            "                    <Value>\(XMLTree.escapedAttribute(secrets.autoLogonPassword))</Value>",
            "                    <PlainText>true</PlainText>",
            "                </Password>",
            "                <Enabled>true</Enabled>",
            "                <LogonCount>1</LogonCount>",
            "                <Username>\(XMLTree.escapedAttribute(secrets.autoLogonUsername))</Username>",
            "            </AutoLogon>",
            "            <OOBE>",
            "                <HideEULAPage>true</HideEULAPage>",
            "                <HideOnlineAccountScreens>true</HideOnlineAccountScreens>",
            "                <HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>",
            "                <ProtectYourPC>3</ProtectYourPC>",
            "            </OOBE>",
            "            <FirstLogonCommands>",
            "                <SynchronousCommand wcm:action=\"add\">",
            "                    <Order>1</Order>",
            "                    <CommandLine>cmd /c reg add HKLM\\SOFTWARE\\lcm /v Provisioned /t REG_DWORD /d 1 /f</CommandLine>",
            "                    <Description>Mark the image as provisioned</Description>",
            "                </SynchronousCommand>",
            "            </FirstLogonCommands>",
            "        </component>",
            "    </settings>",
            "</unattend>",
        ]
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

extension UnattendAnswerFile {
    /// The host file the `entityAnswerFile` fault's external entity names.
    public static let entityTarget = "/etc/hostname"

    /// An answer file that declares an external entity naming `entityTarget` and puts it in the
    /// specialize pass's RegisteredOwner: a parser that expands it copies the host file there.
    public static func entityXML(for spec: WindowsDiskSpec) -> String {
        let arch = spec.architecture == .x86_64 ? "amd64" : "x86"
        return [
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<!DOCTYPE unattend [ <!ENTITY leak SYSTEM \"file://\(entityTarget)\"> ]>",
            "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">",
            "    <settings pass=\"specialize\">",
            "        <component name=\"Microsoft-Windows-Shell-Setup\" processorArchitecture=\"\(arch)\" "
                + "publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\">",
            "            <RegisteredOwner>&leak;</RegisteredOwner>",
            "        </component>",
            "    </settings>",
            "</unattend>",
        ].joined(separator: "\r\n") + "\r\n"
    }
}
