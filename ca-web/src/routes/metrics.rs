//! `GET /metrics`: Prometheus' text format, for an administrator (HTTP Basic) or a scraper
//! holding the metrics token (`Authorization: Bearer`, set with `ca config set
//! metrics-token-file`). Like passwords, a token is taken only over HTTPS or from this machine,
//! and never from the address: one in a query string is refused, since addresses end up in
//! logs and histories.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Peer};
use crate::error::WebError;
use crate::state::AppState;

pub(crate) async fn get(State(state): State<AppState>, mut parts: Parts) -> Response {
    match authorise(&state, &mut parts).await {
        Ok(()) => expose(&state)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(err) => err.into_response(),
    }
}

/// Any other method than GET or HEAD.
pub(crate) async fn other_method() -> WebError {
    WebError::MethodNotAllowed("GET, HEAD".into())
}

/// Lets an administrator or the token's holder through.
async fn authorise(state: &AppState, parts: &mut Parts) -> Result<(), WebError> {
    if parts.uri.query().is_some() {
        return Err(WebError::BadRequest(
            "/metrics takes no parameters: a token in the address would be kept in logs and \
             histories. Send it in the header Authorization: Bearer TOKEN."
                .into(),
        ));
    }
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let Some(token) = bearer else {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.admin()?;
        return Ok(());
    };
    let peer = parts.extensions.get::<Peer>().copied();
    if !peer.is_some_and(|p| p.tls || p.addr.ip().is_loopback()) {
        return Err(WebError::InsecureCredentials);
    }
    let addr = Peer::address(peer);
    if let Some(wait) = state.throttle.wait_from(addr) {
        return Err(WebError::TooManyAttempts(wait));
    }
    if state.authority.is_metrics_token(&token).await? {
        Ok(())
    } else {
        state.throttle.failed_from(addr);
        tracing::warn!(%addr, "wrong metrics token");
        Err(WebError::Unauthorized)
    }
}

async fn expose(state: &AppState) -> Result<Response, WebError> {
    let snapshot = state.authority.metrics().await?;
    let text = state
        .metrics
        .render(&snapshot, state.authority.log_location())
        .map_err(|err| WebError::Internal(format!("the metrics could not be written: {err}")))?;
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
