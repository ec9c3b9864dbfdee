//! The URL map of DESIGN §6, and what every response gets: security headers, no caching of
//! authenticated pages, refusal of cross-site form posts, and a 64 KiB body limit.

mod admin;
mod assets;
pub(crate) mod certsrv;
mod install;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::error::WebError;
use crate::state::AppState;

/// Largest request body accepted (DESIGN §8: uploads are size-limited).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Pages use one stylesheet from this origin, no scripts, and cannot be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The application: every path of DESIGN §6 and the pages beyond AD CS.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/certsrv/") }))
        .route("/certsrv", get(|| async { Redirect::to("/certsrv/") }))
        .route("/certsrv/", get(certsrv::welcome))
        .route("/certsrv/default.asp", get(certsrv::welcome))
        .route("/certsrv/certcarc.asp", get(certsrv::certcarc))
        .route("/certsrv/certnew.cer", get(certsrv::certnew_cer))
        .route("/certsrv/certnew.p7b", get(certsrv::certnew_p7b))
        .route("/certsrv/certcrl.crl", get(certsrv::certcrl))
        .route("/certsrv/ca.crl", get(certsrv::crl_distribution_point))
        .route("/certsrv/ca.cer", get(certsrv::ca_issuers))
        .route("/certsrv/certrqus.asp", get(certsrv::certrqus))
        .route("/certsrv/certrqad.asp", get(certsrv::certrqad))
        .route("/certsrv/certrqxt.asp", get(certsrv::certrqxt))
        .route("/certsrv/certfnsh.asp", post(certsrv::certfnsh))
        .route("/certsrv/certckpn.asp", get(certsrv::certckpn))
        .route("/certsrv/cert/{id}", get(certsrv::certificate))
        .route(
            "/certsrv/certrqma.asp",
            get(admin::issue_form).post(admin::issue),
        )
        .route("/certsrv/admin", get(admin::overview))
        .route("/certsrv/admin/approve", post(admin::approve))
        .route("/certsrv/admin/deny", post(admin::deny))
        .route("/certsrv/admin/revoke", post(admin::revoke))
        .route("/certsrv/admin/renew", post(admin::renew))
        .route("/certsrv/install", get(install::page))
        .route("/certsrv/ca.mobileconfig", get(install::mobileconfig))
        .route("/certsrv/static/style.css", get(assets::stylesheet))
        .fallback(not_found)
        .layer(middleware::from_fn(guard))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn not_found() -> WebError {
    WebError::NotFound("There is no page at this address.".into())
}

/// Logs every request, sets the security headers every answer carries; refuses cross-site form posts (a page elsewhere making the admin's browser approve or
/// issue), while scripts that send neither `Origin` nor `Sec-Fetch-Site` keep working; and
/// marks every answer to a request with credentials as not to be cached.
async fn guard(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    // The request log: method, path and status, never a header (credentials) or a body.
    let logged = tracing::enabled!(tracing::Level::INFO)
        .then(|| (request.method().clone(), request.uri().path().to_owned()));
    let authenticated = request.headers().contains_key(header::AUTHORIZATION);
    let mut response = if request.method() == Method::POST && is_cross_site(&request) {
        WebError::Forbidden(
            "This form was posted from another site, so it was refused. Use the form on this site."
                .into(),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if authenticated {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, private"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    if let Some((method, path)) = logged {
        tracing::info!(%method, %path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    }
    response
}

fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get(HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin = origin.to_str().unwrap_or_default();
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        return origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host);
    }
    false
}

/// A form body, whose rejections become readable pages (413 over the limit).
pub(crate) struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(Form(value)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(WebError::TooLarge)
            }
            Err(rejection) => Err(WebError::BadRequest(format!(
                "The form could not be read: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Query or form parameters by name, case-insensitively as ASP reads them.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn new(map: HashMap<String, String>) -> Self {
        Params(
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use ca_core::users::{Password, Role};
    use ca_core::{Authority, InitOptions, KeyAlgorithm, OpenOptions, RootSpec};
    use tower::ServiceExt;

    use super::*;
    use crate::auth::Peer;

    async fn app(dir: &std::path::Path) -> Router {
        let options = InitOptions {
            root: RootSpec {
                key: KeyAlgorithm::EcdsaP256,
                ..RootSpec::default()
            },
            ..InitOptions::default()
        };
        let authority = Authority::init(dir, options, OpenOptions::default())
            .await
            .unwrap();
        let password = Password::new("alice password".into()).unwrap();
        authority
            .put_user("alice", Role::Requester, &password, "test")
            .await
            .unwrap();
        router(AppState::new(Arc::new(authority)))
    }

    fn get(path: &str, peer: Peer, credentials: bool) -> Request<Body> {
        let mut request = Request::get(path);
        if credentials {
            // alice:alice password
            request = request.header(header::AUTHORIZATION, "Basic YWxpY2U6YWxpY2UgcGFzc3dvcmQ=");
        }
        let mut request = request.body(Body::empty()).unwrap();
        request.extensions_mut().insert(peer);
        request
    }

    #[tokio::test]
    async fn credentials_over_plain_http_are_accepted_only_from_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let remote_plain = Peer {
            addr: "192.0.2.7:50000".parse().unwrap(),
            tls: false,
        };
        let remote_tls = Peer {
            tls: true,
            ..remote_plain
        };
        let local_plain = Peer {
            addr: "127.0.0.1:50000".parse().unwrap(),
            tls: false,
        };
        let status = |response: Response| response.status();
        let refused = app
            .clone()
            .oneshot(get("/certsrv/certckpn.asp", remote_plain, true))
            .await
            .unwrap();
        assert_eq!(status(refused), StatusCode::FORBIDDEN);
        let over_tls = app
            .clone()
            .oneshot(get("/certsrv/certckpn.asp", remote_tls, true))
            .await
            .unwrap();
        assert_eq!(status(over_tls), StatusCode::OK);
        let local = app
            .clone()
            .oneshot(get("/certsrv/certckpn.asp", local_plain, true))
            .await
            .unwrap();
        assert_eq!(status(local), StatusCode::OK);
        // Anonymous downloads of the root work from anywhere.
        let root = app
            .clone()
            .oneshot(get(
                "/certsrv/certnew.cer?ReqID=CACert&Enc=bin",
                remote_plain,
                false,
            ))
            .await
            .unwrap();
        assert_eq!(status(root), StatusCode::OK);
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let peer = Peer {
            addr: "127.0.0.1:1".parse().unwrap(),
            tls: true,
        };
        for path in [
            "/certsrv/",
            "/certsrv/nope",
            "/certsrv/certnew.cer?ReqID=CACert&Enc=bin",
        ] {
            let response = app.clone().oneshot(get(path, peer, false)).await.unwrap();
            let headers = response.headers();
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert!(
                headers.contains_key(header::CONTENT_SECURITY_POLICY),
                "{path}"
            );
        }
        let authenticated = app
            .clone()
            .oneshot(get("/certsrv/", peer, true))
            .await
            .unwrap();
        assert_eq!(
            authenticated.headers()[header::CACHE_CONTROL],
            "no-store, private"
        );
    }
}
