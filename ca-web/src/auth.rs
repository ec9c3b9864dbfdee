//! Who is calling: HTTP Basic against the store's users (DESIGN §6).

use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;
use ca_core::users::{Role, User};

use crate::error::{ErrorText, WebError};
use crate::pages::Chrome;
use crate::state::AppState;

/// What a client whose address has too many attempts waiting for the check is told to wait.
const QUEUE_FULL_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The connection a request came over, set by the server for every connection.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
}

impl Peer {
    /// The client address of `peer`, as throttles and rates count clients: without the
    /// server's word on the connection (a test's router), every such request is one client.
    pub(crate) fn address(peer: Option<Peer>) -> IpAddr {
        peer.map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |p| p.addr.ip())
    }
}

/// The caller: a user when valid credentials came with the request, else anonymous.
/// Wrong credentials are answered 401 at once, as AD CS does (scripts test them this way).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub user: Option<User>,
}

impl Caller {
    /// The user, or 401 so the browser asks for credentials.
    pub(crate) fn user(&self) -> Result<&User, WebError> {
        self.user.as_ref().ok_or(WebError::Unauthorized)
    }

    /// The user if an admin, 401 when anonymous, 403 for a requester.
    pub(crate) fn admin(&self) -> Result<&User, WebError> {
        let user = self.user()?;
        if user.role == Role::Admin {
            Ok(user)
        } else {
            Err(WebError::Forbidden(format!(
                "{} is a requester; only an administrator of this CA may do this.",
                user.name
            )))
        }
    }

    /// The frame of a page this caller sees.
    pub(crate) fn chrome(&self, state: &AppState) -> Chrome {
        Chrome::new(state.authority.root().common_name(), self.user.as_ref())
    }
}

/// Where a request's handler leaves the user it identified, for the error pages drawn after
/// it (see [`sign_error_pages`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct SignedIn(std::sync::Arc<std::sync::OnceLock<User>>);

impl SignedIn {
    pub(crate) fn user(&self) -> Option<User> {
        self.0.get().cloned()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = identify(parts, state).await?;
        if let (Some(user), Some(signed_in)) = (&caller.user, parts.extensions.get::<SignedIn>()) {
            let _ = signed_in.0.set(user.clone());
        }
        Ok(caller)
    }
}

/// A caller who is an administrator, for handlers that read a form: taken before the form,
/// so that a requester is told the action is not theirs (403) rather than what their form
/// lacks.
pub(crate) struct AdminCaller(pub Caller);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.admin()?;
        Ok(AdminCaller(caller))
    }
}

/// The caller of a request, from its credentials (see [`Caller`]).
async fn identify(parts: &mut Parts, state: &AppState) -> Result<Caller, WebError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(Caller { user: None });
    };
    // Without the server's word on where a request came from, it came from afar.
    let peer = parts.extensions.get::<Peer>().copied();
    let secure = peer.is_some_and(|p| p.tls || p.addr.ip().is_loopback());
    if !secure {
        return Err(WebError::InsecureCredentials);
    }
    let addr = Peer::address(peer);
    let (name, password) = basic_credentials(value.as_bytes()).ok_or(WebError::Unauthorized)?;
    let authority = &state.authority;
    if let Some(user) = state.credentials.get(&name, &password) {
        if authority.is_current(&user).await? {
            return Ok(Caller { user: Some(user) });
        }
        state.credentials.forget(&name, &password);
    }
    let _turn = take_turn(state, &name, addr).await?;
    // Another request may have checked the same credentials while this one waited.
    if let Some(user) = state.credentials.get(&name, &password)
        && authority.is_current(&user).await?
    {
        return Ok(Caller { user: Some(user) });
    }
    // Attempts that arrived together passed the first look together: the failures of
    // those checked meanwhile count now.
    if let Some(wait) = state.throttle.wait(&name, addr) {
        return Err(WebError::TooManyAttempts(wait));
    }
    match authority.authenticate(&name, &password).await? {
        Some(user) => {
            state.credentials.put(&name, &password, &user);
            state.throttle.succeeded(&name, addr);
            Ok(Caller { user: Some(user) })
        }
        None => {
            state.throttle.failed(&name, addr);
            // A name is written to the log only when it is a user's: what was typed into
            // the name field may be a password.
            let who = if authority.user_exists(&name).await? {
                crate::log::clean(&name)
            } else {
                format!("unknown user {}", state.credentials.tag_of(&name))
            };
            tracing::warn!(user = %who, %addr, "wrong credentials");
            Err(WebError::Unauthorized)
        }
    }
}

/// A credential check's turn, held while it runs: its place in its address's line, the line's
/// turn, and the one argon2 check at a time (dropped in that order, last taken first).
struct Turn<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
    _queued: crate::throttle::Queued<'a>,
}

/// Waits for a turn to check a password of `name` from `addr`, unless either is held back.
/// The attempts of one address wait in a line of their own (a bounded one), so that only one
/// of them at a time waits for the check with everyone else's.
async fn take_turn<'a>(
    state: &'a AppState,
    name: &str,
    addr: IpAddr,
) -> Result<Turn<'a>, WebError> {
    if let Some(wait) = state.throttle.wait(name, addr) {
        return Err(WebError::TooManyAttempts(wait));
    }
    let queued = state
        .throttle
        .queue(addr)
        .ok_or(WebError::TooManyAttempts(QUEUE_FULL_RETRY))?;
    let turn = queued.turn().await;
    let permit = state
        .credentials
        .checking
        .acquire()
        .await
        .map_err(|_| WebError::Internal("the credential check is closed".into()))?;
    Ok(Turn {
        _permit: permit,
        _turn: turn,
        _queued: queued,
    })
}

/// Checks `password` as `name`'s where a page asks for it again (a password change), as a
/// sign-in is checked: refused while the name or the address is held back, in the address's
/// line and behind the one argon2 check at a time, a failure counted and logged; the user
/// when it is right.
pub(crate) async fn check_password(
    state: &AppState,
    peer: Option<Peer>,
    name: &str,
    password: &str,
) -> Result<Option<User>, WebError> {
    let addr = Peer::address(peer);
    let _turn = take_turn(state, name, addr).await?;
    if let Some(wait) = state.throttle.wait(name, addr) {
        return Err(WebError::TooManyAttempts(wait));
    }
    let user = state.authority.authenticate(name, password).await?;
    if user.is_some() {
        state.throttle.succeeded(name, addr);
    } else {
        state.throttle.failed(name, addr);
        tracing::warn!(user = %crate::log::clean(name), %addr, "wrong present password");
    }
    Ok(user)
}

fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// Draws error pages again with the signed-in caller in their frame: an error (a page that
/// is not there, a refused form, a panic) can come before or without the handler's sign-in
/// check, and its page should still say who is signed in, as every page does. The caller is
/// the one the handler identified; failing that, the request's credentials are checked here,
/// unless the error was about them (401, 429) or the log is away (503).
pub(crate) async fn sign_error_pages(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let signed_in = SignedIn::default();
    request.extensions_mut().insert(signed_in.clone());
    let credentials = request.headers().get(header::AUTHORIZATION).cloned();
    let sent_credentials = credentials.is_some();
    let peer = request.extensions().get::<Peer>().copied();
    let mut response = next.run(request).await;
    // A method a page does not take gets the router's bare 405: a page like every other
    // refusal, saying which methods it takes (the protocols' own 405s carry their bodies).
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && http_body::Body::size_hint(response.body()).exact() == Some(0)
    {
        let allow = response
            .headers()
            .get(header::ALLOW)
            .and_then(|allow| allow.to_str().ok())
            .unwrap_or_default()
            .replace(',', ", ");
        response =
            axum::response::IntoResponse::into_response(WebError::MethodNotAllowed(allow.into()));
    }
    let Some(text) = response.extensions_mut().remove::<ErrorText>() else {
        return response;
    };
    let mut user = signed_in.user();
    let about_credentials = matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    );
    if user.is_none()
        && !about_credentials
        && let Some(credentials) = credentials
    {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        parts.headers.insert(header::AUTHORIZATION, credentials);
        if let Some(peer) = peer {
            parts.extensions.insert(peer);
        }
        user = Caller::from_request_parts(&mut parts, &state)
            .await
            .ok()
            .and_then(|caller| caller.user);
    }
    let mut chrome = Chrome::new(state.authority.root().common_name(), user.as_ref());
    if user.is_none() && response.status() == StatusCode::SERVICE_UNAVAILABLE && sent_credentials {
        chrome = chrome.sign_in_unchecked();
    }
    text.redraw(chrome, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_credentials() {
        assert_eq!(
            basic_credentials(b"Basic YWxpY2U6cGE6c3M="),
            Some(("alice".to_owned(), "pa:ss".to_owned()))
        );
        assert_eq!(basic_credentials(b"Bearer x"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
    }
}
