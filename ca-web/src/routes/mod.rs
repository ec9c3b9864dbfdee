//! The URL map of DESIGN §6, and what every response gets: security headers, no caching of
//! authenticated pages, refusal of cross-site form posts, a 64 KiB body limit, a deadline, a
//! page instead of a dropped connection when a handler panics, and a line in the log.

mod acme;
mod admin;
mod assets;
mod audit;
pub(crate) mod certsrv;
mod install;
mod inventory;
mod metrics;
pub(crate) mod ocsp;
mod users;

use std::collections::HashMap;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::WebError;
use crate::state::AppState;

/// Largest request body accepted (DESIGN §8: uploads are size-limited).
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// The largest body declared over `MAX_BODY` that is still read (and dropped) before the
/// refusal, so that its client, still sending, gets to read the answer.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// How long such a body is read before the answer goes anyway: a client sending it at any
/// usable speed is done by then, one that declared it and sends nothing is not waited for.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Pages use one stylesheet from this origin, no scripts, and cannot be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long a request may take, its body included; a client that sends its body too slowly
/// gets 408.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The application: every path of DESIGN §6 and the pages beyond AD CS. Paths under
/// `/certsrv` are case-insensitive, as on IIS (`/CertSrv/CertNew.cer` works).
pub fn router(state: AppState) -> Router {
    app(routes(), state)
}

/// The request with its path lowercased when it lies under `/certsrv` (every path there is
/// lowercase, and ids are digits); other paths, and every query, are left as they are.
fn certsrv_in_lowercase(mut request: Request) -> Request {
    let path = request.uri().path();
    let under_certsrv = path
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("/certsrv"));
    if !under_certsrv || !path.bytes().any(|b| b.is_ascii_uppercase()) {
        return request;
    }
    let mut lowered = path.to_ascii_lowercase();
    if let Some(query) = request.uri().query() {
        lowered.push('?');
        lowered.push_str(query);
    }
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = lowered.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The paths and their handlers.
fn routes() -> Router<AppState> {
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
        .route("/certsrv/admin", get(inventory::overview))
        .route("/certsrv/admin/users", get(users::page))
        .route("/certsrv/admin/users/add", post(users::add))
        .route("/certsrv/admin/users/password", post(users::reset_password))
        .route("/certsrv/admin/users/role", post(users::set_role))
        .route("/certsrv/admin/users/state", post(users::set_state))
        .route(
            "/certsrv/admin/users/remove",
            get(users::remove_page).post(users::remove),
        )
        .route(
            "/certsrv/password",
            get(users::own_password_page).post(users::change_own_password),
        )
        .route("/certsrv/admin/audit", get(audit::page))
        .route("/certsrv/admin/approve", post(admin::approve))
        .route("/certsrv/admin/deny", post(admin::deny))
        .route("/certsrv/admin/revoke", post(admin::revoke))
        .route("/certsrv/admin/renew", post(admin::renew))
        .route(
            "/certsrv/admin/check",
            get(admin::check_form).post(admin::check),
        )
        .route("/certsrv/install", get(install::page))
        .route("/certsrv/ca.mobileconfig", get(install::mobileconfig))
        .route("/certsrv/static/style.css", get(assets::stylesheet))
        .merge(acme::routes())
        .route(
            ocsp::PATH,
            get(ocsp::get).post(ocsp::post).fallback(ocsp::other_method),
        )
        .route(
            "/ocsp/",
            get(ocsp::get).post(ocsp::post).fallback(ocsp::other_method),
        )
        .route(
            "/ocsp/{*request}",
            get(ocsp::get).post(ocsp::post).fallback(ocsp::other_method),
        )
        .route(
            "/metrics",
            get(metrics::get).fallback(metrics::other_method),
        )
        .fallback(not_found)
}

/// `routes` with what every answer passes through, outermost first. The layers wrap the
/// router, not each of its routes: a layer given to a router is given to every route, in a
/// box, and each request then clones the boxes of its route's layers, one inside the other.
fn app(routes: Router<AppState>, state: AppState) -> Router {
    let app = tower::ServiceBuilder::new()
        .map_request(certsrv_in_lowercase)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    // Method and path only: never a header (credentials), a query or a body.
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %crate::log::clean(request.uri().path()),
                    )
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                )
                .on_failure(()),
        )
        .layer(middleware::from_fn_with_state(state.clone(), measure))
        // One layer for the headers every answer gets: each layer costs every request a
        // future. Outside the deadline and the panic page, whose answers get them too.
        .layer(middleware::from_fn(answer_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::sign_error_pages,
        ))
        .layer(CatchPanicLayer::custom(panic_page))
        .layer(middleware::from_fn(deadline))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(guard))
        .service(routes.with_state(state));
    Router::new().fallback_service(app)
}

/// The answers given before the router, as the router and its layers would give them: the
/// responder's GETs (`GET /ocsp/{request}`) and the root's downloads, most of what a busy
/// server answers, where an answer kept in memory costs less than the layers around it. What
/// the layers do to such a GET is done here: the response's own headers and the security
/// headers, the timing for `/metrics`, the log line, a panic answered as a 500 page. (The body
/// limit, the cross-site check and the sign-in have nothing to do for a GET without
/// credentials; the connection's own deadline bounds its time.) `None`: the router answers.
pub(crate) async fn before_routing<B>(
    state: &AppState,
    prepared: &ocsp::PreparedGets,
    request: &axum::http::Request<B>,
) -> Option<Response> {
    use futures_util::FutureExt as _;
    let started = std::time::Instant::now();
    let path = request.uri().path();
    let (group, answered) = if ocsp::answered_before_routing(request) {
        let answer = ocsp::answer_get(state, Some(prepared), path, request.headers(), started);
        (
            "ocsp",
            std::panic::AssertUnwindSafe(answer).catch_unwind().await,
        )
    } else {
        let answer = || certsrv::root_before_routing(state, request);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(answer)) {
            Ok(None) => return None,
            Ok(Some(response)) => ("downloads", Ok(response)),
            Err(err) => ("downloads", Err(err)),
        }
    };
    let response = answered.unwrap_or_else(panic_page);
    let response = security_headers(response).await;
    let latency = started.elapsed();
    state.metrics.observe(group, latency);
    // The line TraceLayer writes for every other request.
    tracing::info!(
        method = "GET",
        path = %crate::log::clean(path),
        latency = format_args!("{} μs", latency.as_micros()),
        status = response.status().as_u16(),
        "finished processing request"
    );
    Some(response)
}

/// Times every request, by route group, for `/metrics`: from its arrival to its answer's
/// headers, panics and timeouts included.
async fn measure(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let group = crate::metrics::group(request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(group, started.elapsed());
    response
}

/// The headers every answer carries, unless its handler set them: no sniffing, no framing,
/// no referrer, and the content security policy.
async fn security_headers(mut response: Response) -> Response {
    add_security_headers(response.headers_mut());
    response
}

/// Adds to `headers` those of [`security_headers`] they do not set.
pub(crate) fn add_security_headers(headers: &mut axum::http::HeaderMap) {
    let values = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in values {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

async fn not_found() -> WebError {
    WebError::NotFound("There is no page at this address.".into())
}

/// A handler that panicked: a 500 page and a line in the log, never a dropped connection.
fn panic_page(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    WebError::Internal(format!("a handler panicked: {}", crate::log::clean(what))).into_response()
}

/// Refuses cross-site form posts (a page elsewhere making an admin's browser approve or
/// issue) and bodies declared larger than the limit (before any handler, sign-in or
/// parsing).
///
/// A body declared over the limit but under `DRAIN_LIMIT` is read and dropped first, for at
/// most `DRAIN_TIME`: a client still sending it when the connection closed would see a broken
/// pipe instead of the answer. One declared larger still, or by a client that waits for
/// `100 Continue`, is answered at once, and the connection closes.
///
/// ACME and OCSP are protocols, not forms: their requests carry their own signatures or
/// change nothing, come without browser headers, and are refused in the protocol's own terms
/// (a problem document, an OCSP status) by their handlers, which read bodies to the same
/// limit. One declared over it is drained here all the same, then handed to its handler as a
/// body that fails as an oversized one does.
async fn guard(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let protocol = path.starts_with("/acme/") || ocsp::is_responder_path(path);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let oversized = declared.filter(|l| *l > MAX_BODY as u64);
    if let Some(length) = oversized {
        // A client that waits for 100 Continue has sent nothing: answered at once. Another
        // gets what it sends within DRAIN_TIME read first, never its whole 30 seconds.
        let waits = request
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let (parts, body) = request.into_parts();
        if length <= DRAIN_LIMIT as u64 && !waits {
            let _ = tokio::time::timeout(DRAIN_TIME, discard(body, DRAIN_LIMIT)).await;
        }
        if protocol {
            let over = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::other("over the limit"))
            });
            next.run(Request::from_parts(
                parts,
                axum::body::Body::from_stream(over),
            ))
            .await
        } else {
            WebError::TooLarge.into_response()
        }
    } else if request.method() == Method::POST && !protocol && is_cross_site(&request) {
        WebError::Forbidden(
            "This form was posted from another site, so it was refused. Use the form on this site."
                .into(),
        )
        .into_response()
    } else {
        next.run(request).await
    }
}

/// The security headers (see [`security_headers`]) on every answer, and on the answer to a
/// request with credentials, no caching by anyone but for that caller: its page, its error
/// page, its timeout or the page of a handler's panic alike.
async fn answer_headers(request: Request, next: Next) -> Response {
    let authenticated = request.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    add_security_headers(headers);
    if authenticated {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, private"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    response
}

/// A value from the address or a form, as a refusal quotes it back: its first 64
/// characters, with controls and the marks that reorder, hide or break text escaped
/// (`display::inert`), so that a link made to mislead an administrator reads as it is.
pub(crate) fn echoed(text: &str) -> String {
    ca_core::display::inert(&text.chars().take(64).collect::<String>())
}

/// Answers a request not received and answered within [`REQUEST_TIMEOUT`] (a body sent too
/// slowly, a handler stuck) with a 408 that says so, not an empty answer: a page, or for ACME
/// and OCSP the protocol's own form (a problem document, a line of plain text).
async fn deadline(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let answer: fn() -> Response = if path.starts_with("/acme/") {
        acme::timed_out
    } else if ocsp::is_responder_path(path) {
        ocsp::timed_out
    } else {
        || WebError::Timeout(REQUEST_TIMEOUT).into_response()
    };
    tokio::time::timeout(REQUEST_TIMEOUT, next.run(request))
        .await
        .unwrap_or_else(|_| answer())
}

/// Reads `body` to its end, or until `limit` bytes or an error, keeping nothing.
async fn discard(mut body: axum::body::Body, limit: usize) {
    use http_body::Body as _;
    let mut read = 0usize;
    while read < limit {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |data| data.len()),
            Some(Err(_)) | None => break,
        }
    }
}

/// True for a POST another site made a browser send: `Sec-Fetch-Site` says so, or `Origin`,
/// or (when a browser sent neither) `Referer` names another origin than the one the request
/// was sent to: another scheme than the connection's (a page served over plain HTTP, which
/// anyone on the path can write, is not this site's HTTPS pages, though a browser sends both
/// the same Basic credentials), or another host (its `Host` header, or on HTTP/2, which has
/// none, its `:authority`). A POST with none of the three is a script's, decided on its
/// merits: without credentials its handler answers 401 and the challenge that .NET's
/// `HttpClient`, PowerShell's `-Credential` and `curl --anyauth` wait for before they send
/// theirs. Browsers send `Origin` with every cross-site POST (Firefox since 70, 2019), and
/// `Sec-Fetch-Site` since 2023 in all of them: only Internet Explorer and such sent none,
/// and refusing every POST without credentials to guard those kept the scripts out.
fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get(HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|a| a.as_str().rsplit('@').next().unwrap_or_default())
        })
        .unwrap_or_default();
    let scheme = request
        .extensions()
        .get::<crate::auth::Peer>()
        .map(|peer| if peer.tls { "https://" } else { "http://" });
    let other_host = |url: &str| {
        let rest = match scheme {
            Some(scheme) => url.strip_prefix(scheme),
            None => url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://")),
        }
        .unwrap_or("");
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority.is_empty() || !authority.eq_ignore_ascii_case(host)
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        return other_host(origin.to_str().unwrap_or_default());
    }
    if let Some(referer) = headers.get(header::REFERER) {
        return other_host(referer.to_str().unwrap_or_default());
    }
    false
}

/// A form body, whose rejections become readable pages (413 over the limit). A name given
/// twice, in any case, with different values is refused as on the AD CS pages ([`Params`]):
/// otherwise one of them would count by chance (`id=1&ID=2` acted on 1, the other dropped).
pub(crate) struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let unreadable =
            |why: String| WebError::BadRequest(format!("The form could not be read: {why}"));
        let pairs = match axum::Form::<Vec<(String, String)>>::from_request(request, state).await {
            Ok(axum::Form(pairs)) => pairs,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(WebError::TooLarge);
            }
            Err(rejection) => return Err(unreadable(rejection.body_text())),
        };
        let encoded =
            serde_urlencoded::to_string(&pairs).map_err(|err| unreadable(err.to_string()))?;
        Params::new(pairs)?;
        serde_urlencoded::from_str(&encoded)
            .map(Form)
            .map_err(|err| unreadable(err.to_string()))
    }
}

/// Query or form parameters by name, case-insensitively as ASP reads them.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// The parameters, in the order they came. A name given twice (in any case) with
    /// different values is refused: which one counts would otherwise be a matter of chance.
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Result<Self, WebError> {
        use std::collections::hash_map::Entry;
        let mut map = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            match map.entry(name.to_ascii_lowercase()) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(seen) if *seen.get() == value => {}
                Entry::Occupied(_) => {
                    let shown: String = name.chars().take(64).collect();
                    return Err(WebError::BadRequest(format!(
                        "The parameter {shown} is given more than once, with different values: give it once."
                    )));
                }
            }
        }
        Ok(Params(map))
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
        router(state(dir).await)
    }

    async fn state(dir: &std::path::Path) -> AppState {
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
            .add_user("alice", Role::Requester, &password, "test")
            .await
            .unwrap();
        AppState::new(Arc::new(authority)).unwrap()
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
    async fn the_roots_downloads_given_before_the_router_are_the_routers_own() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        let app = router(state.clone());
        let prepared = ocsp::PreparedGets::default();
        let peer = Peer {
            addr: "192.0.2.7:50000".parse().unwrap(),
            tls: true,
        };
        let early = [
            "/certsrv/ca.cer",
            "/CertSrv/CA.cer?x=1",
            "/certsrv/certnew.cer?ReqID=CACert&Enc=bin",
            "/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Mode=inst&Enc=b64",
            "/certsrv/certnew.cer?reqid=cacert&mode=inst",
            "/CERTSRV/CERTNEW.CER?ReqID=CACert&Renewal=-1",
        ];
        for path in early {
            let request = get(path, peer, false);
            let answer = before_routing(&state, &prepared, &request).await;
            let answer = answer.unwrap_or_else(|| panic!("{path}: left to the router"));
            let mut routed = app.clone().oneshot(get(path, peer, false)).await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{path}");
            assert_eq!(answer.status(), routed.status(), "{path}");
            // The router states the length; the server states it for either from the body.
            let length = routed.headers_mut().remove(header::CONTENT_LENGTH);
            assert_eq!(answer.headers(), routed.headers(), "{path}");
            let body = |response: Response| axum::body::to_bytes(response.into_body(), 1 << 20);
            let (ours, theirs) = (body(answer).await.unwrap(), body(routed).await.unwrap());
            assert!(!ours.is_empty(), "{path}");
            assert_eq!(ours, theirs, "{path}");
            assert_eq!(length.unwrap(), ours.len().to_string().as_str(), "{path}");
        }
        // Whatever asks for more than the root, or is refused, goes to the router.
        let routed = [
            "/certsrv/certnew.cer",
            "/certsrv/certnew.cer?ReqID=1&Enc=bin",
            "/certsrv/certnew.cer?ReqID=CACert&Enc=der",
            "/certsrv/certnew.cer?ReqID=CACert&Renewal=3",
            "/certsrv/certnew.cer?ReqID=CACert&Enc=bin&enc=b64",
            "/certsrv/certnew.cer?ReqID=CACert&Enc=%ZZ",
            "/certsrv/certnew.p7b?ReqID=CACert",
            "/certsrv/ca.crl",
            "/certsrv/",
        ];
        for path in routed {
            let request = get(path, peer, false);
            assert!(
                before_routing(&state, &prepared, &request).await.is_none(),
                "{path}"
            );
        }
        let signed_in = get("/certsrv/ca.cer", peer, true);
        assert!(
            before_routing(&state, &prepared, &signed_in)
                .await
                .is_none()
        );
        let mut head = get("/certsrv/ca.cer", peer, false);
        *head.method_mut() = Method::HEAD;
        assert!(before_routing(&state, &prepared, &head).await.is_none());
    }

    #[tokio::test]
    async fn a_request_the_server_did_not_place_is_remote() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        // No Peer: the router used without the server. Credentials are not taken over it.
        let request = Request::get("/certsrv/certckpn.asp")
            .header(header::AUTHORIZATION, "Basic YWxpY2U6YWxpY2UgcGFzc3dvcmQ=")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_handler_that_panics_gives_a_page_not_a_dropped_connection() {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            root: RootSpec {
                key: KeyAlgorithm::EcdsaP256,
                ..RootSpec::default()
            },
            ..InitOptions::default()
        };
        let authority = Authority::init(dir.path(), options, OpenOptions::default())
            .await
            .unwrap();
        let state = AppState::new(Arc::new(authority)).unwrap();
        let routes = routes().route(
            "/certsrv/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                "never"
            }),
        );
        let peer = Peer {
            addr: "127.0.0.1:1".parse().unwrap(),
            tls: true,
        };
        let app = super::app(routes, state);
        let response = app
            .clone()
            .oneshot(get("/certsrv/boom", peer, false))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
        // Asked with credentials, the page is the caller's alone, as every other answer.
        let theirs = app.oneshot(get("/certsrv/boom", peer, true)).await.unwrap();
        assert_eq!(theirs.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(theirs.headers()[header::CACHE_CONTROL], "no-store, private");
        assert_eq!(theirs.headers()[header::VARY], "Authorization");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("Something went wrong"), "{text}");
        assert!(
            !text.contains("boom"),
            "internal text stays in the log: {text}"
        );
    }

    #[test]
    fn a_parameter_given_twice_with_different_values_is_refused_whatever_its_case() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        for list in [
            &[("reqid", "3"), ("REQID", "4")][..],
            &[("ReqID", "3"), ("Enc", "bin"), ("reqID", "4")][..],
            &[("ReqID", "4"), ("ReqID", "3")][..],
        ] {
            match Params::new(pairs(list)) {
                Err(WebError::BadRequest(why)) => {
                    assert!(why.to_ascii_lowercase().contains("reqid"), "{why}")
                }
                _ => panic!("{list:?} was accepted"),
            }
        }
        // The same value twice is no contradiction.
        let params = Params::new(pairs(&[("ReqID", "3"), ("reqid", "3")])).unwrap();
        assert_eq!(params.get("REQID"), Some("3"));
    }

    #[tokio::test]
    async fn ocsp_clients_get_an_ocsp_status_for_anything_they_send() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path()).await;
        let peer = Peer {
            addr: "192.0.2.7:50000".parse().unwrap(),
            tls: false,
        };
        // A client's POST: no Origin, Referer or credentials, and a body that is no request,
        // one that is empty, and one over the size limit.
        for body in [b"garbage".to_vec(), Vec::new(), vec![0x30; MAX_BODY + 1]] {
            let mut request = Request::post("/ocsp")
                .header(header::CONTENT_TYPE, "application/ocsp-request")
                .body(Body::from(body))
                .unwrap();
            request.extensions_mut().insert(peer);
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/ocsp-response"
            );
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            // OCSPResponse { responseStatus malformedRequest (1) }
            assert_eq!(bytes.as_ref(), [0x30, 0x03, 0x0a, 0x01, 0x01]);
        }
        for path in ["/ocsp", "/ocsp/", "/ocsp/not%20base64", "/ocsp/MAA%3D"] {
            let response = app.clone().oneshot(get(path, peer, false)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            assert_eq!(bytes.as_ref(), [0x30, 0x03, 0x0a, 0x01, 0x01], "{path}");
        }
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
