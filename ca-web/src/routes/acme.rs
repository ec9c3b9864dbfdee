//! ACME over HTTPS (RFC 8555, RFC 9773): URLs, headers and JSON around the authority's ACME
//! calls. URLs are built from the `Host` the client used, so the directory works under every
//! name the server's certificate carries; every answer carries a fresh `Replay-Nonce`, a
//! `Link` to the directory, and `Cache-Control: no-store`; every refusal is a problem
//! document (`application/problem+json`).

use std::future::Future;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use ca_core::RequestId;
use ca_core::acme::{
    Account, Authz, Challenge, ChallengeStatus, Order, OrderStatus, Problem, ProblemType,
    RENEWAL_INFO_RETRY, Signer, Verified,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::MAX_BODY;
use crate::auth::Peer;
use crate::state::AppState;

/// The media type of ACME request bodies (RFC 8555 §6.2).
const JOSE: &str = "application/jose+json";
/// The media type of problem documents (RFC 7807).
const PROBLEM: &str = "application/problem+json";
/// Seconds a client waits before polling an object that is being worked on.
const RETRY_AFTER: u64 = 1;

/// The ACME paths, all under `/acme`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/acme/directory", get(directory).fallback(not_allowed))
        .route(
            "/acme/new-nonce",
            get(new_nonce).head(new_nonce).fallback(not_allowed),
        )
        .route("/acme/new-account", signed(new_account))
        .route("/acme/new-order", signed(new_order))
        .route("/acme/revoke-cert", signed(revoke))
        .route("/acme/key-change", signed(key_change))
        .route("/acme/account/{id}", signed(account))
        .route("/acme/account/{id}/orders", signed(orders))
        .route("/acme/order/{id}", signed(order))
        .route("/acme/order/{id}/finalize", signed(finalize))
        .route("/acme/authz/{id}", signed(authz))
        .route("/acme/chall/{id}", signed(challenge))
        .route("/acme/cert/{id}", signed(certificate))
        .route("/acme/cert/{id}/leaf", signed(certificate_leaf))
        .route(
            "/acme/renewal-info/{id}",
            get(renewal_info).fallback(not_allowed),
        )
        .route("/acme", any(unknown))
        .route("/acme/{*rest}", any(unknown))
}

/// A path that takes signed POSTs only.
fn signed<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    post(handler).fallback(not_allowed)
}

/// Where the client reached the ACME server: `https://HOST/acme`, and the URL of this request.
#[derive(Clone, Debug)]
struct Endpoint {
    base: String,
    url: String,
}

impl Endpoint {
    /// The endpoint of a request: HTTPS only, with a `Host` that is a host name or address and
    /// perhaps a port.
    fn of(parts: &Parts) -> Result<Endpoint, Problem> {
        let tls = parts.extensions.get::<Peer>().is_some_and(|peer| peer.tls);
        if !tls {
            return Err(Problem::new(
                ProblemType::Malformed,
                "ACME is served over HTTPS only: use the https:// address of this server",
            )
            .with_status(403));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| is_host(h))
            .ok_or_else(|| {
                Problem::new(ProblemType::Malformed, "the request names no valid Host")
            })?;
        let base = format!("https://{host}/acme");
        let url = format!("https://{host}{}", parts.uri.path());
        Ok(Endpoint { base, url })
    }

    /// The id of an account from its URL (a `kid`), whichever host name the client used.
    fn account_id(kid: &str) -> Option<String> {
        let (_, id) = kid.rsplit_once("/acme/account/")?;
        (!id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| id.to_owned())
    }

    fn account_url(&self, id: &str) -> String {
        format!("{}/account/{id}", self.base)
    }

    fn order_url(&self, id: &str) -> String {
        format!("{}/order/{id}", self.base)
    }
}

/// Where ACME clients find this CA, when ACME is on: the `Host` of a request that came over
/// HTTPS, else the server's HTTPS origin.
pub(crate) async fn info(state: &AppState, parts: &Parts) -> Option<crate::pages::AcmeInfo> {
    let settings = state.authority.acme_settings().await.ok()?;
    let directory = match Endpoint::of(parts) {
        Ok(endpoint) => format!("{}/directory", endpoint.base),
        Err(_) => format!("{}/acme/directory", state.https_origin()?),
    };
    Some(crate::pages::AcmeInfo {
        directory,
        eab_required: settings.eab_required,
    })
}

/// True for `name`, `name:port`, `1.2.3.4:port` or `[v6]:port`.
pub(crate) fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 261
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The JSON answer `value` with `status`.
fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        value.to_string(),
    )
        .into_response()
}

/// A problem document.
fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::to_string(problem).unwrap_or_default();
    let mut response = (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM))],
        body,
    )
        .into_response();
    if let Some(seconds) = problem.retry_after {
        retry_after(response.headers_mut(), seconds);
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_after(
            response.headers_mut(),
            crate::error::UNAVAILABLE_RETRY.as_secs(),
        );
    }
    response
}

/// A request not received within the server's deadline: 408, as a problem document.
pub(crate) fn timed_out() -> Response {
    problem_response(
        &Problem::new(
            ProblemType::Malformed,
            format!(
                "the request was not received within {} seconds: send it again",
                super::REQUEST_TIMEOUT.as_secs()
            ),
        )
        .with_status(408),
    )
}

/// The address a request came from, for its rates.
fn client_of(request: &Request) -> std::net::IpAddr {
    Peer::address(request.extensions().get::<Peer>().copied())
}

/// The refusal of more `what` from an address that made `per_hour` in the last hour, the
/// limit `setting` sets, to be tried again after `wait`.
fn rate_limited(what: &str, per_hour: u32, setting: &str, wait: std::time::Duration) -> Problem {
    let seconds = wait.as_secs() + 1;
    Problem::new(
        ProblemType::RateLimited,
        format!(
            "this address made {per_hour} {what} in the last hour, the most this CA allows (its {setting} setting): try again in {seconds} seconds"
        ),
    )
    .with_retry_after(seconds)
}

/// What every ACME answer gets: a fresh nonce, the index link, and no caching.
async fn finish(
    state: &AppState,
    endpoint: Option<&Endpoint>,
    result: Result<Response, Problem>,
) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(problem) => problem_response(&problem),
    };
    let nonce = state.authority.new_nonce().await;
    let headers = response.headers_mut();
    match nonce.ok().and_then(|n| HeaderValue::from_str(&n).ok()) {
        Some(nonce) => {
            headers.insert("replay-nonce", nonce);
        }
        None => tracing::error!("no ACME nonce could be made"),
    }
    if let Some(endpoint) = endpoint {
        link(headers, &format!("{}/directory", endpoint.base), "index");
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn link(headers: &mut HeaderMap, url: &str, rel: &str) {
    if let Ok(value) = HeaderValue::from_str(&format!("<{url}>;rel=\"{rel}\"")) {
        headers.append(header::LINK, value);
    }
}

fn retry_after(headers: &mut HeaderMap, seconds: u64) {
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

/// Reads and verifies a signed POST, runs `work` on it, and finishes the answer.
async fn handle_post<F, Fut>(state: AppState, request: Request, signer: Signer, work: F) -> Response
where
    F: FnOnce(AppState, Endpoint, Verified) -> Fut,
    Fut: Future<Output = Result<Response, Problem>>,
{
    let (parts, body) = request.into_parts();
    let endpoint = match Endpoint::of(&parts) {
        Ok(endpoint) => endpoint,
        Err(problem) => return finish(&state, None, Err(problem)).await,
    };
    let result = async {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case(JOSE) {
            return Err(Problem::new(
                ProblemType::Malformed,
                format!("ACME requests are {JOSE}, not '{media}'"),
            )
            .with_status(415));
        }
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
            Problem::new(
                ProblemType::Malformed,
                format!("the request body is over {} KiB", MAX_BODY / 1024),
            )
            .with_status(413)
        })?;
        let verified = state
            .authority
            .verify_acme(&body, &endpoint.url, signer, &Endpoint::account_id)
            .await?;
        work(state.clone(), endpoint.clone(), verified).await
    }
    .await;
    finish(&state, Some(&endpoint), result).await
}

/// An ACME time: RFC 3339.
fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn account_json(endpoint: &Endpoint, account: &Account) -> Value {
    json!({
        "status": account.status.name(),
        "contact": account.contact,
        "orders": format!("{}/orders", endpoint.account_url(&account.id)),
    })
}

fn order_json(endpoint: &Endpoint, order: &Order) -> Value {
    let mut value = json!({
        "status": order.status.name(),
        "expires": rfc3339(order.expires_at),
        "identifiers": order.identifiers,
        "authorizations": order
            .authorizations
            .iter()
            .map(|id| format!("{}/authz/{id}", endpoint.base))
            .collect::<Vec<_>>(),
        "finalize": format!("{}/finalize", endpoint.order_url(&order.id)),
    });
    if let (OrderStatus::Valid, Some(certificate)) = (order.status, order.certificate) {
        value["certificate"] = json!(format!("{}/cert/{certificate}", endpoint.base));
    }
    if let Some(error) = &order.error {
        value["error"] = json!(error);
    }
    value
}

fn challenge_json(endpoint: &Endpoint, challenge: &Challenge) -> Value {
    let mut value = json!({
        "type": challenge.kind.name(),
        "url": format!("{}/chall/{}", endpoint.base, challenge.id),
        "status": challenge.status.name(),
        "token": challenge.token,
    });
    if let Some(at) = challenge.validated_at {
        value["validated"] = json!(rfc3339(at));
    }
    if let Some(error) = &challenge.error {
        value["error"] = json!(error);
    }
    value
}

fn authz_json(endpoint: &Endpoint, authz: &Authz) -> Value {
    let mut value = json!({
        "identifier": authz.identifier,
        "status": authz.status.name(),
        "expires": rfc3339(authz.expires_at),
        "challenges": authz
            .challenges
            .iter()
            .map(|c| challenge_json(endpoint, c))
            .collect::<Vec<_>>(),
    });
    if authz.wildcard {
        value["wildcard"] = json!(true);
    }
    value
}

/// An answer with the object's URL in `Location`.
fn located(status: StatusCode, location: &str, value: &Value) -> Response {
    let mut response = json_response(status, value);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// An order answer: `Retry-After` while it is being finalized.
fn order_response(endpoint: &Endpoint, order: &Order, location: bool) -> Response {
    let value = order_json(endpoint, order);
    let mut response = if location {
        located(StatusCode::OK, &endpoint.order_url(&order.id), &value)
    } else {
        json_response(StatusCode::OK, &value)
    };
    if order.status == OrderStatus::Processing {
        retry_after(response.headers_mut(), RETRY_AFTER);
    }
    response
}

/// `GET /acme/directory` (RFC 8555 §7.1.1).
async fn directory(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let endpoint = match Endpoint::of(&parts) {
        Ok(endpoint) => endpoint,
        Err(problem) => return finish(&state, None, Err(problem)).await,
    };
    let result = async {
        let settings = state.authority.acme_settings().await?;
        let base = &endpoint.base;
        let origin = base.trim_end_matches("/acme");
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "newNonce": format!("{base}/new-nonce"),
                "newAccount": format!("{base}/new-account"),
                "newOrder": format!("{base}/new-order"),
                "revokeCert": format!("{base}/revoke-cert"),
                "keyChange": format!("{base}/key-change"),
                "renewalInfo": format!("{base}/renewal-info"),
                "meta": {
                    "website": format!("{origin}/certsrv/"),
                    "externalAccountRequired": settings.eab_required,
                },
            }),
        ))
    }
    .await;
    finish(&state, Some(&endpoint), result).await
}

/// `HEAD` and `GET /acme/new-nonce` (RFC 8555 §7.2): 200 to HEAD, 204 to GET.
async fn new_nonce(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let endpoint = match Endpoint::of(&parts) {
        Ok(endpoint) => endpoint,
        Err(problem) => return finish(&state, None, Err(problem)).await,
    };
    let result = async {
        state.authority.acme_settings().await?;
        let status = if parts.method == Method::HEAD {
            StatusCode::OK
        } else {
            StatusCode::NO_CONTENT
        };
        Ok(status.into_response())
    }
    .await;
    finish(&state, Some(&endpoint), result).await
}

/// `newAccount` (RFC 8555 §7.3): 201 for a new account, 200 for this key's existing one.
async fn new_account(State(state): State<AppState>, request: Request) -> Response {
    let client = client_of(&request);
    handle_post(
        state,
        request,
        Signer::Key,
        |state, endpoint, verified| async move {
            let new_account_url = format!("{}/new-account", endpoint.base);
            let rates = state.acme_rates.clone();
            let (account, created) = state
                .authority
                .acme_new_account(&verified, &new_account_url, |settings| {
                    rates
                        .accounts
                        .take(client, settings.accounts_per_hour)
                        .map_err(|wait| {
                            rate_limited(
                                "new accounts",
                                settings.accounts_per_hour,
                                "acme-accounts-per-hour",
                                wait,
                            )
                        })
                })
                .await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(located(
                status,
                &endpoint.account_url(&account.id),
                &account_json(&endpoint, &account),
            ))
        },
    )
    .await
}

/// An account: read (POST-as-GET), contact changed, or deactivated.
async fn account(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let account = state.authority.acme_update_account(&verified, &id).await?;
            Ok(json_response(
                StatusCode::OK,
                &account_json(&endpoint, &account),
            ))
        },
    )
    .await
}

/// An account's orders (RFC 8555 §7.1.2.1).
async fn orders(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let account = verified.account()?;
            if account.id != id {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    "an account can only list its own orders",
                ));
            }
            let orders = state.authority.acme_orders(account).await?;
            let urls: Vec<String> = orders.iter().map(|o| endpoint.order_url(o)).collect();
            Ok(json_response(StatusCode::OK, &json!({ "orders": urls })))
        },
    )
    .await
}

/// `newOrder` (RFC 8555 §7.4).
async fn new_order(State(state): State<AppState>, request: Request) -> Response {
    let client = client_of(&request);
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let rates = state.acme_rates.clone();
            let order = state
                .authority
                .acme_new_order(&verified, |settings| {
                    let per_hour = settings.orders_per_hour;
                    rates.orders.take(client, per_hour).map_err(|wait| {
                        rate_limited("new orders", per_hour, "acme-orders-per-hour", wait)
                    })
                })
                .await?;
            Ok(located(
                StatusCode::CREATED,
                &endpoint.order_url(&order.id),
                &order_json(&endpoint, &order),
            ))
        },
    )
    .await
}

/// An order, as it stands now.
async fn order(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let order = state.authority.acme_order(verified.account()?, &id).await?;
            Ok(order_response(&endpoint, &order, false))
        },
    )
    .await
}

/// `finalize` (RFC 8555 §7.4).
async fn finalize(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let order = state.authority.acme_finalize(&verified, &id).await?;
            Ok(order_response(&endpoint, &order, true))
        },
    )
    .await
}

/// An authorization: read, or deactivated.
async fn authz(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let authz = state.authority.acme_authz(&verified, &id).await?;
            let mut response = json_response(StatusCode::OK, &authz_json(&endpoint, &authz));
            if authz
                .challenges
                .iter()
                .any(|c| c.status == ChallengeStatus::Processing)
            {
                retry_after(response.headers_mut(), RETRY_AFTER);
            }
            Ok(response)
        },
    )
    .await
}

/// A challenge: read, or (with `{}`) answered, so that the server validates it.
async fn challenge(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let (challenge, authz) = state.authority.acme_challenge(&verified, &id).await?;
            let mut response =
                json_response(StatusCode::OK, &challenge_json(&endpoint, &challenge));
            let headers = response.headers_mut();
            link(
                headers,
                &format!("{}/authz/{}", endpoint.base, authz.id),
                "up",
            );
            if challenge.status == ChallengeStatus::Processing {
                retry_after(headers, RETRY_AFTER);
            }
            Ok(response)
        },
    )
    .await
}

/// The certificate with the root after it (RFC 8555 §7.4.2), and an alternate link to the
/// leaf alone.
async fn certificate(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let (leaf, root) = certificate_parts(&state, &verified, &id).await?;
            let mut response = pem_chain(format!("{leaf}{root}"));
            link(
                response.headers_mut(),
                &format!("{}/cert/{id}/leaf", endpoint.base),
                "alternate",
            );
            Ok(response)
        },
    )
    .await
}

/// The certificate alone, for servers that should not send the root.
async fn certificate_leaf(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let (leaf, _) = certificate_parts(&state, &verified, &id).await?;
            let mut response = pem_chain(leaf);
            link(
                response.headers_mut(),
                &format!("{}/cert/{id}", endpoint.base),
                "alternate",
            );
            Ok(response)
        },
    )
    .await
}

async fn certificate_parts(
    state: &AppState,
    verified: &Verified,
    id: &str,
) -> Result<(String, String), Problem> {
    if !verified.jws.is_post_as_get() {
        return Err(Problem::new(
            ProblemType::Malformed,
            "a certificate is fetched with POST-as-GET (an empty payload)",
        ));
    }
    let id: RequestId = id.parse().map_err(|_| Problem::not_found("certificate"))?;
    state
        .authority
        .acme_certificate(verified.account()?, id)
        .await
}

fn pem_chain(pem: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pem-certificate-chain"),
        )],
        pem,
    )
        .into_response()
}

/// `revokeCert` (RFC 8555 §7.6), signed by an account or by the certificate's own key.
async fn revoke(State(state): State<AppState>, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Either,
        |state, _, verified| async move {
            state.authority.acme_revoke(&verified).await?;
            Ok(StatusCode::OK.into_response())
        },
    )
    .await
}

/// `keyChange` (RFC 8555 §7.3.5).
async fn key_change(State(state): State<AppState>, request: Request) -> Response {
    handle_post(
        state,
        request,
        Signer::Account,
        |state, endpoint, verified| async move {
            let kid = verified.jws.header.kid.clone().unwrap_or_default();
            let url = format!("{}/key-change", endpoint.base);
            let account = state
                .authority
                .acme_key_change(&verified, &url, &kid)
                .await?;
            Ok(json_response(
                StatusCode::OK,
                &account_json(&endpoint, &account),
            ))
        },
    )
    .await
}

/// `GET /acme/renewal-info/{id}` (RFC 9773 §4.2): the suggested renewal window.
async fn renewal_info(State(state): State<AppState>, Id(id): Id, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let endpoint = match Endpoint::of(&parts) {
        Ok(endpoint) => endpoint,
        Err(problem) => return finish(&state, None, Err(problem)).await,
    };
    let result = async {
        state.authority.acme_settings().await?;
        let window = state.authority.renewal_info(&id).await?;
        let mut response = json_response(
            StatusCode::OK,
            &json!({
                "suggestedWindow": {
                    "start": rfc3339(window.start),
                    "end": rfc3339(window.end),
                }
            }),
        );
        retry_after(response.headers_mut(), RENEWAL_INFO_RETRY.as_secs());
        Ok(response)
    }
    .await;
    finish(&state, Some(&endpoint), result).await
}

/// A method the path does not take: 405 with the problem said.
async fn not_allowed(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let endpoint = Endpoint::of(&parts).ok();
    let problem = Problem::new(
        ProblemType::Malformed,
        format!(
            "{} is not how {} is used: ACME resources take signed POSTs, the directory, nonces and renewal information GET",
            parts.method,
            parts.uri.path()
        ),
    )
    .with_status(405);
    finish(&state, endpoint.as_ref(), Err(problem)).await
}

/// A path under `/acme` that is not an ACME resource.
async fn unknown(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    no_resource(&state, &parts).await
}

/// The answer to an address under /acme that names nothing: 404, as a problem document.
async fn no_resource(state: &AppState, parts: &Parts) -> Response {
    let endpoint = Endpoint::of(parts).ok();
    let problem = Problem::new(
        ProblemType::Malformed,
        "there is no ACME resource at this address: start from /acme/directory",
    )
    .with_status(404);
    finish(state, endpoint.as_ref(), Err(problem)).await
}

/// The id of the object an ACME address names. One that is not UTF-8 once decoded (`%ff`)
/// names no object: the answer is [`no_resource`]'s, not the router's plain-text refusal.
struct Id(String);

impl axum::extract::FromRequestParts<AppState> for Id {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(_) => Err(no_resource(state, parts).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_come_from_account_urls_only() {
        assert_eq!(
            Endpoint::account_id("https://ca.example.com:8443/acme/account/abc-_9").as_deref(),
            Some("abc-_9")
        );
        assert_eq!(Endpoint::account_id("https://x/acme/order/abc"), None);
        assert_eq!(Endpoint::account_id("https://x/acme/account/"), None);
        assert_eq!(Endpoint::account_id("https://x/acme/account/a/../b"), None);
    }

    #[test]
    fn hosts_are_names_addresses_and_ports() {
        for good in [
            "ca.example.com",
            "ca.example.com:8443",
            "127.0.0.1:1",
            "[::1]:8443",
        ] {
            assert!(is_host(good), "{good}");
        }
        for bad in ["", "a b", "evil.com/x", "a\"b", "x@y"] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
