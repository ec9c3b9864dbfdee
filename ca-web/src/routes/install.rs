//! How to install and verify the root, per platform, and the Apple configuration profile.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ca_core::certificate::sha1_thumbprint;
use ca_core::display;
use ca_core::export::mobileconfig;
use ca_core::name::file_stem;

use crate::auth::Caller;
use crate::error::WebError;
use crate::pages::{self, render};
use crate::state::AppState;

pub(crate) async fn page(
    State(state): State<AppState>,
    caller: Caller,
    request: axum::http::request::Parts,
) -> Result<Response, WebError> {
    let root = state.authority.root();
    let url = state.authority.current_settings().await?.url;
    let install_url = install_url(url.as_deref(), &request);
    Ok(render(&pages::Install {
        qr_svg: install_url.as_deref().and_then(qr_svg),
        install_url,
        chrome: caller.chrome(&state),
        sha256: root.fingerprint().colons(),
        sha1: sha1_thumbprint(root.der()),
        not_after: display::time(root.not_after()),
        file_stem: file_stem(root.common_name()),
        acme: super::acme::info(&state, &request).await,
        ocsp_url: url.as_deref().map(crate::LINKS.ocsp),
        crl_url: url.as_deref().map(crate::LINKS.crl),
    }))
}

/// This page's address for a phone: under the CA's public URL when one is set (the address
/// every client is given), else the address this request was sent to (`Host`, checked to be a
/// host name or address and a port); `None` when the request names no usable host.
fn install_url(public_url: Option<&str>, request: &axum::http::request::Parts) -> Option<String> {
    if let Some(url) = public_url {
        return Some(format!("{}{PATH}", url.trim_end_matches('/')));
    }
    let tls = request
        .extensions
        .get::<crate::auth::Peer>()
        .is_some_and(|peer| peer.tls);
    let host = request
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri.authority().map(|a| a.as_str()))
        .filter(|h| super::acme::is_host(h))?;
    let scheme = if tls { "https" } else { "http" };
    Some(format!("{scheme}://{host}{PATH}"))
}

/// The path of this page.
pub(crate) const PATH: &str = "/certsrv/install";

/// `text` as a QR code (error correction M), an SVG element to put in the page as it is:
/// made here, so the page needs no script and no other request. Four units a module, with
/// the quiet zone of four modules that readers need around it.
fn qr_svg(text: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .module_dimensions(4, 4)
        .build();
    // Inline SVG is HTML's, without the XML declaration the renderer starts with.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of this page's address\" ",
        1,
    ))
}

/// A configuration profile (`.mobileconfig`) holding the root, for iOS, iPadOS and macOS.
pub(crate) async fn mobileconfig(State(state): State<AppState>) -> Response {
    let mut response = mobileconfig::profile(state.authority.root()).into_response();
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_qr_code_is_an_inline_svg_of_dark_modules_only() {
        let svg = qr_svg("http://ca.example.com/certsrv/install").unwrap();
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<?xml") && !svg.contains("<script"), "{svg}");
    }

    #[test]
    fn the_address_is_the_public_url_or_the_host_asked() {
        let parts = |host: &str| {
            axum::http::Request::get("/certsrv/install")
                .header(header::HOST, host)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(
            install_url(Some("http://ca.example.com/"), &parts("x")).as_deref(),
            Some("http://ca.example.com/certsrv/install")
        );
        assert_eq!(
            install_url(None, &parts("ca.lan:8080")).as_deref(),
            Some("http://ca.lan:8080/certsrv/install")
        );
        assert_eq!(install_url(None, &parts("evil\"><script>")), None);
    }
}
