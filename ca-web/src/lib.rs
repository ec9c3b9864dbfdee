//! `ca-web`: the `/certsrv` pages, compatible with AD CS Web Enrollment, over HTTP and HTTPS.
//!
//! Handlers translate HTTP into calls on `ca_core::Authority`; no certificate rule lives here.

mod auth;
mod error;
mod log;
mod metrics;
mod pages;
mod rates;
mod routes;
mod server;
mod state;
mod throttle;

pub use auth::Peer;

/// Parses a `certfnsh.asp` form body as the page does (URL-encoded fields, then the request
/// and its attributes), for the fuzz targets: any input gives a result or a refusal, never a
/// panic.
pub fn parse_certfnsh_form(body: &[u8]) -> ca_core::Result<()> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|err| {
        ca_core::Error::InvalidInput(format!("the form could not be read: {err}"))
    })?;
    let params = routes::Params::new(fields).map_err(|_| {
        ca_core::Error::InvalidInput("a field is given twice with different values".into())
    })?;
    routes::certsrv::enrollment(&params).1.map(|_| ())
}
/// The DER OCSP request a `GET /ocsp/{request}` path carries (after `/ocsp/`), for the fuzz
/// targets: any text gives a request's bytes or `None`, never a panic.
pub fn ocsp_request_from_path(path: &str) -> Option<Vec<u8>> {
    routes::ocsp::request_from_path(path)
}

pub use routes::router;

/// Where certificates point clients for the CRL, the root and the OCSP responder: the pages
/// that serve them, below the CA's public base URL.
pub const LINKS: ca_core::Links = ca_core::Links {
    crl: |base| format!("{base}/certsrv/ca.crl"),
    ca_issuers: |base| format!("{base}/certsrv/ca.cer"),
    ocsp: |base| format!("{base}/ocsp"),
};
pub use server::{Listeners, TlsConfig, serve, tls_config};
pub use state::AppState;
