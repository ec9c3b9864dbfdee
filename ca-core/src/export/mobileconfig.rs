//! Apple configuration profiles (`.mobileconfig`) that install the root on iOS, iPadOS and
//! macOS, as a `com.apple.security.root` payload.

use base64::Engine;

use crate::certificate::Fingerprint;
use crate::root::Root;

/// The profile holding `root`. Its identifiers are derived from the root, so installing it
/// twice replaces the first rather than adding a second.
pub fn profile(root: &Root) -> String {
    let fingerprint = root.fingerprint().hex();
    let uuid = |salt: &str| {
        let digest = Fingerprint::of(format!("{salt}{fingerprint}").as_bytes()).hex();
        format!(
            "{}-{}-4{}-8{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[13..16],
            &digest[17..20],
            &digest[20..32]
        )
        .to_ascii_uppercase()
    };
    let name = xml_escape(root.common_name());
    let certificate = base64::engine::general_purpose::STANDARD.encode(root.der());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>PayloadCertificateFileName</key><string>root.cer</string>
      <key>PayloadContent</key><data>{certificate}</data>
      <key>PayloadDescription</key><string>Adds the root certificate {name}</string>
      <key>PayloadDisplayName</key><string>{name}</string>
      <key>PayloadIdentifier</key><string>ca.root.{fingerprint}</string>
      <key>PayloadType</key><string>com.apple.security.root</string>
      <key>PayloadUUID</key><string>{cert_uuid}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDescription</key><string>Trust certificates issued by {name}. After installing, turn on full trust in Settings, General, About, Certificate Trust Settings.</string>
  <key>PayloadDisplayName</key><string>{name}</string>
  <key>PayloadIdentifier</key><string>ca.profile.{fingerprint}</string>
  <key>PayloadRemovalDisallowed</key><false/>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{profile_uuid}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        cert_uuid = uuid("certificate"),
        profile_uuid = uuid("profile"),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_names() {
        assert_eq!(
            xml_escape("A & <B> \"C\""),
            "A &amp; &lt;B&gt; &quot;C&quot;"
        );
    }
}
