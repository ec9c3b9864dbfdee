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
    Ok(render(&pages::Install {
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
