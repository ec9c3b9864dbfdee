//! The administrator's pages: pending requests, certificates, and issuing with a key the CA
//! makes (downloaded once as a PFX, never kept).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use ca_core::export::pkcs12::{PfxPassword, PfxProfile};
use ca_core::{IssueRequest, KeyAlgorithm, ListFilter, Profile, Status, SubjectName};
use serde::Deserialize;

use super::Form;
use crate::auth::Caller;
use crate::error::WebError;
use crate::pages::{self, Chrome, RequestRow, render};
use crate::state::AppState;

/// Rows shown in the certificate list.
const RECENT: usize = 200;

pub(crate) async fn overview(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    caller.admin()?;
    let store = state.authority.store();
    let pending = store
        .list(&ListFilter {
            status: Some(Status::Pending),
            expiring_within_days: None,
        })
        .await?;
    let all = store.list(&ListFilter::default()).await?;
    let issued: Vec<RequestRow> = all
        .iter()
        .rev()
        .filter(|row| row.certificate.is_some())
        .take(RECENT)
        .map(RequestRow::from)
        .collect();
    Ok(render(&pages::Admin {
        chrome: Chrome::new(&state, &caller),
        pending: pending.iter().map(RequestRow::from).collect(),
        issued,
    }))
}

#[derive(Deserialize)]
pub(crate) struct Decision {
    id: String,
    #[serde(default)]
    reason: String,
}

fn request_id(text: &str) -> Result<i64, WebError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| WebError::BadRequest(format!("'{text}' is not a request id.")))
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Form(decision): Form<Decision>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&decision.id)?;
    let issued = state.authority.approve(id, &admin.name).await?;
    Ok(Redirect::to(&format!("/certsrv/cert/{}", issued.issuance.id)).into_response())
}

pub(crate) async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    Form(decision): Form<Decision>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&decision.id)?;
    state
        .authority
        .deny(id, &decision.reason, &admin.name)
        .await?;
    Ok(Redirect::to("/certsrv/admin").into_response())
}

pub(crate) async fn issue_form(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    caller.admin()?;
    Ok(render(&pages::CertRqMa {
        chrome: Chrome::new(&state, &caller),
    }))
}

#[derive(Deserialize)]
pub(crate) struct IssueForm {
    names: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    profile: String,
    password: String,
}

/// Issues a certificate with a key the CA makes, and answers with the PFX. The key exists
/// only in this response.
pub(crate) async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<IssueForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let names = form
        .names
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(str::parse::<SubjectName>)
        .collect::<Result<Vec<_>, _>>()?;
    let key: KeyAlgorithm = if form.key.is_empty() {
        KeyAlgorithm::Rsa2048
    } else {
        form.key.parse()?
    };
    let days = match form.days.trim() {
        "" => None,
        text => Some(
            text.parse::<u32>()
                .map_err(|_| WebError::BadRequest(format!("'{text}' is not a number of days.")))?,
        ),
    };
    let profile: PfxProfile = if form.profile.is_empty() {
        PfxProfile::Compat
    } else {
        form.profile.parse()?
    };
    let password = PfxPassword::new(form.password)?;
    let issued = state
        .authority
        .issue(IssueRequest {
            names,
            key,
            days,
            profile: Profile::Server,
            allow_internal: false,
            requester: admin.name.clone(),
        })
        .await?;
    let first = issued.issuance.names.first().cloned().unwrap_or_default();
    let bytes = issued.pfx(&password, profile)?;
    Ok(pfx_download(bytes, &first))
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    id: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&form.id)?;
    let reason: ca_core::revoke::RevocationReason = if form.reason.is_empty() {
        ca_core::revoke::RevocationReason::Unspecified
    } else {
        form.reason.parse()?
    };
    state.authority.revoke(id, reason, &admin.name).await?;
    Ok(Redirect::to(&format!("/certsrv/cert/{id}")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RenewForm {
    id: String,
    #[serde(default)]
    profile: String,
    password: String,
}

/// Renews a certificate with a new key the CA makes, answered with the PFX.
pub(crate) async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<RenewForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&form.id)?;
    let profile: PfxProfile = if form.profile.is_empty() {
        PfxProfile::Compat
    } else {
        form.profile.parse()?
    };
    let password = PfxPassword::new(form.password)?;
    let issued = state.authority.renew(id, &admin.name).await?;
    let first = issued.issuance.names.first().cloned().unwrap_or_default();
    let bytes = issued.pfx(&password, profile)?;
    Ok(pfx_download(bytes, &first))
}

/// A PFX as a download that no cache keeps.
fn pfx_download(bytes: Vec<u8>, first_name: &str) -> Response {
    let file_name = format!(
        "{}.pfx",
        first_name.replace('*', "_wildcard").replace(':', "_")
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pkcs12"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
