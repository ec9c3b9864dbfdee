//! `ca-web`: the `/certsrv` pages, compatible with AD CS Web Enrollment, over HTTP and HTTPS.
//!
//! Handlers translate HTTP into calls on `ca_core::Authority`; no certificate rule lives here.
