//! `ca-web`: the `/certsrv` pages, compatible with AD CS Web Enrollment, over HTTP and HTTPS.
//!
//! Handlers translate HTTP into calls on `ca_core::Authority`; no certificate rule lives here.

mod auth;
mod error;
mod pages;
mod routes;
mod server;
mod state;

pub use auth::Peer;
pub use routes::router;
pub use server::{Listeners, TlsConfig, serve, tls_config};
pub use state::AppState;
