//! How to install and verify the root, per platform, and the Apple configuration profile.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ca_core::certificate::sha1_thumbprint;

use crate::auth::Caller;
use crate::pages::{self, Chrome, render, when};
use crate::state::AppState;

pub(crate) async fn page(State(state): State<AppState>, caller: Caller) -> Response {
    let root = state.authority.root();
    let file_stem: String = root
        .common_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    render(&pages::Install {
        chrome: Chrome::new(&state, &caller),
        sha256: root.fingerprint().colons(),
        sha1: sha1_thumbprint(root.der()),
        not_after: when(root.not_after()),
        file_stem,
    })
}

/// A configuration profile (`.mobileconfig`) holding the root as a
/// `com.apple.security.root` payload, for iOS, iPadOS and macOS.
pub(crate) async fn mobileconfig(State(state): State<AppState>) -> Response {
    let root = state.authority.root();
    let fingerprint = root.fingerprint().hex();
    // Stable identifiers derived from the root, so installing twice replaces, not duplicates.
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
    let profile = format!(
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
    );
    let mut response = profile.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-apple-aspen-config"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"root.mobileconfig\""),
    );
    response
}

use ca_core::Fingerprint;

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
