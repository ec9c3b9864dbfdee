//! The administrator's forms: approving, denying, revoking and renewing (from the inventory,
//! `inventory.rs`, or a certificate's page), issuing with a key the CA makes (downloaded once
//! as a PFX, never kept), and checking a server.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ca_core::export::pkcs12::{PfxPassword, PfxProfile};
use ca_core::probe;
use ca_core::revoke::RevocationReason;
use ca_core::{
    Authority, Choice, IssueRequest, Issued, KeyAlgorithm, Profile, RequestId, RequestSource,
    SubjectName,
};
use serde::Deserialize;

use super::Form;
use super::inventory::{Done, back_to_list};
use crate::auth::{AdminCaller, Caller};
use crate::error::WebError;
use crate::pages::{self, render};
use crate::state::AppState;

#[derive(Deserialize)]
pub(crate) struct Decision {
    id: String,
    #[serde(default)]
    reason: String,
    /// The filter of the list the form was posted from, to go back to.
    #[serde(default)]
    back: Option<String>,
}

fn request_id(text: &str) -> Result<RequestId, WebError> {
    Ok(text.parse()?)
}

/// A choice from a form field: the default when the field is empty.
fn choice<T: Choice + Default>(text: &str) -> Result<T, WebError> {
    if text.trim().is_empty() {
        Ok(T::default())
    } else {
        Ok(T::from_name(text)?)
    }
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(decision): Form<Decision>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&decision.id)?;
    let issued = state.authority.approve(id, &admin.name).await?;
    Ok(Redirect::to(&format!("/certsrv/cert/{}", issued.issuance.id)).into_response())
}

pub(crate) async fn deny(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(decision): Form<Decision>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&decision.id)?;
    state
        .authority
        .deny(id, &decision.reason, &admin.name)
        .await?;
    let back = back_to_list(decision.back.as_deref()).unwrap_or_else(|| "/certsrv/admin".into());
    Ok(Redirect::to(&super::inventory::with_done(&back, Done::Denied, id)).into_response())
}

pub(crate) async fn issue_form(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    caller.admin()?;
    Ok(render(&pages::CertRqMa::new(caller.chrome(&state))))
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
    /// A checkbox: present when ticked.
    #[serde(default)]
    allow_internal: Option<String>,
    password: String,
    /// The password typed again, on the page (a script may leave it out): the PFX is
    /// downloaded once, so a mistyped password would lock its key away.
    #[serde(default)]
    password_again: Option<String>,
}

/// Refuses two passwords typed that differ; none typed again is a script's form.
fn same_password(password: &str, again: Option<&str>) -> Result<(), WebError> {
    match again {
        Some(again) if again != password => Err(WebError::BadRequest(
            "The two PFX passwords typed differ: nothing was issued.".into(),
        )),
        _ => Ok(()),
    }
}

/// Issues a certificate with a key the CA makes, and answers with the PFX. The key exists
/// only in this response.
pub(crate) async fn issue(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<IssueForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    match issue_pfx(&state, &admin.name, &form).await {
        Err(WebError::BadRequest(why)) => {
            let typed = pages::Typed {
                names: &form.names,
                key: &form.key,
                days: &form.days,
                profile: &form.profile,
                allow_internal: form.allow_internal.is_some(),
            };
            Ok(pages::CertRqMa::refused(caller.chrome(&state), typed, why).into_refusal())
        }
        answer => answer,
    }
}

/// Issues what `form` asks for, requested by `admin`, answered with the PFX.
async fn issue_pfx(state: &AppState, admin: &str, form: &IssueForm) -> Result<Response, WebError> {
    let names = form
        .names
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(str::parse::<SubjectName>)
        .collect::<Result<Vec<_>, _>>()?;
    let key = if form.key.trim().is_empty() {
        KeyAlgorithm::LEAF_DEFAULT
    } else {
        KeyAlgorithm::from_name(&form.key)?
    };
    let days = match form.days.trim() {
        "" => None,
        text => Some(text.parse::<u32>().map_err(|_| {
            WebError::BadRequest(format!(
                "{} is not a number of days.",
                ca_core::display::quoted(text)
            ))
        })?),
    };
    let profile: PfxProfile = choice(&form.profile)?;
    same_password(&form.password, form.password_again.as_deref())?;
    let password = PfxPassword::new(form.password.clone())?;
    let issued = state
        .authority
        .issue(IssueRequest {
            names,
            key,
            days,
            profile: Profile::Server,
            allow_internal: form.allow_internal.is_some(),
            requester: admin.to_owned(),
            source: RequestSource::Web,
        })
        .await?;
    pfx_download(&issued, &password, profile)
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    id: String,
    #[serde(default)]
    reason: String,
    /// The filter of the list the form was posted from, to go back to.
    #[serde(default)]
    back: Option<String>,
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&form.id)?;
    let reason = if form.reason.trim().is_empty() {
        RevocationReason::Unspecified
    } else {
        RevocationReason::for_a_leaf(&form.reason)?
    };
    state.authority.revoke(id, reason, &admin.name).await?;
    // Back to the list it was revoked from, which says so above the rows (the row itself may
    // have left the list); else to its page, whose status says when and why.
    let back = match back_to_list(form.back.as_deref()) {
        Some(list) => super::inventory::with_done(&list, Done::Revoked, id),
        None => format!("/certsrv/cert/{id}"),
    };
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
pub(crate) struct RenewForm {
    id: String,
    #[serde(default)]
    profile: String,
    password: String,
    /// As on the issue form.
    #[serde(default)]
    password_again: Option<String>,
}

/// Renews a certificate with a new key the CA makes, answered with the PFX.
pub(crate) async fn renew(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<RenewForm>,
) -> Result<Response, WebError> {
    let admin = caller.admin()?;
    let id = request_id(&form.id)?;
    let profile: PfxProfile = choice(&form.profile)?;
    same_password(&form.password, form.password_again.as_deref())?;
    let password = PfxPassword::new(form.password)?;
    let issued = state.authority.renew(id, &admin.name).await?;
    pfx_download(&issued, &password, profile)
}

/// How many checks of live servers the pages run at once.
const CHECKS_AT_ONCE_LIMIT: usize = 4;
static CHECKS_AT_ONCE: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(CHECKS_AT_ONCE_LIMIT);

/// How long a check from the page may take: each step, and the whole, well within the
/// request's own deadline.
const CHECK_OPTIONS: probe::Options = probe::Options {
    step_timeout: std::time::Duration::from_secs(5),
    deadline: std::time::Duration::from_secs(20),
};

pub(crate) async fn check_form(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    caller.admin()?;
    Ok(render(&check_page(
        caller.chrome(&state),
        String::new(),
        String::new(),
        None,
    )))
}

#[derive(Deserialize)]
pub(crate) struct CheckForm {
    #[serde(default)]
    url: String,
    /// An IP address to connect to in place of the host's own (a server DNS does not point
    /// at yet); empty to look the host up.
    #[serde(default)]
    address: String,
}

/// Checks a server as its clients see it, against this CA's root, and shows the findings.
pub(crate) async fn check(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Form(form): Form<CheckForm>,
) -> Result<Response, WebError> {
    caller.admin()?;
    let parsed = form.url.parse::<probe::Target>().and_then(|target| {
        if form.address.trim().is_empty() {
            Ok(target)
        } else {
            target.at_address(&form.address)
        }
    });
    let target = match parsed {
        Ok(target) => target,
        // Said on the form, with what was typed kept to be mended.
        Err(err) if err.is_refusal() => {
            let mut page = check_page(
                caller.chrome(&state),
                kept_url(&form.url),
                kept_address(&form.address),
                None,
            );
            page.refused = Some(crate::error::explain(&err));
            let mut response = render(&page);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
        Err(err) => return Err(err.into()),
    };
    // Each check may hold a CRL of up to 16 MiB in memory while it runs: a few at once.
    let Ok(_permit) = CHECKS_AT_ONCE.try_acquire() else {
        return Err(WebError::Busy(format!(
            "{} checks of live servers are running already: try again in a few seconds.",
            CHECKS_AT_ONCE_LIMIT
        )));
    };
    let report = state.authority.check_server(&target, CHECK_OPTIONS).await;
    let trust = probe::Trust::of_ca(&state.authority);
    let view = check_report(&state.authority, &report, &trust);
    Ok(render(&check_page(
        caller.chrome(&state),
        kept_url(&form.url),
        kept_address(&form.address),
        Some(view),
    )))
}

/// The URL as the form gives it back to be checked again or mended: no user name or
/// password (a URL with them is refused, and the page repeats no secret), no query or
/// fragment (ignored, and a token may ride in them), no longer than a URL may be; control
/// characters and marks that reorder text as escapes.
fn kept_url(url: &str) -> String {
    // A password may hold `/`, `?` or `#`: everything before the last `@` goes.
    let url = match url.rsplit_once('@') {
        Some((before, host)) => match before.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://{host}"),
            None => host.to_owned(),
        },
        None => url.to_owned(),
    };
    let url = url.split(['?', '#']).next().unwrap_or_default();
    ca_core::display::inert(&url.chars().take(probe::MAX_URL).collect::<String>())
}

/// The address as the form gives it back: as long as an address may be written (the field
/// takes 64 characters), control characters and marks that reorder text as escapes.
fn kept_address(address: &str) -> String {
    ca_core::display::inert(&address.chars().take(64).collect::<String>())
}

fn check_page(
    chrome: pages::Chrome,
    url: String,
    address: String,
    report: Option<pages::CheckReport>,
) -> pages::Check {
    pages::Check {
        chrome,
        url,
        address,
        max_url: probe::MAX_URL,
        deadline: CHECK_OPTIONS.deadline.as_secs(),
        refused: None,
        report,
    }
}

/// A report as the page shows it, with what an admin of this CA can do on its pages.
fn check_report(
    authority: &Authority,
    report: &probe::Report,
    trust: &probe::Trust,
) -> pages::CheckReport {
    let fails = report.count(probe::Verdict::Fail);
    let warnings = report.count(probe::Verdict::Warn);
    let summary = if fails > 0 {
        format!(
            "Some clients will not connect: {fails} finding{} marked fail.",
            if fails == 1 { "" } else { "s" }
        )
    } else {
        // At an address given in place of the host's own: once DNS leads clients there.
        let once = match (report.target.address, &report.target.host) {
            (Some(given), SubjectName::Dns(name)) => {
                format!(" once {} leads them to {given}", name.unicode())
            }
            _ => String::new(),
        };
        match warnings {
            0 => format!("Clients will connect{once}."),
            1 => format!("Clients will connect{once}; 1 warning."),
            n => format!("Clients will connect{once}; {n} warnings."),
        }
    };
    let host = report.target.host.shown();
    let findings = report
        .findings
        .iter()
        .map(|finding| {
            let advice = authority.remedy(report, finding).map(|remedy| match remedy {
                probe::Remedy::Issue { names, internal } => format!(
                    "An administrator issues one for {} under Manage, \"Issue a server certificate\"{}.",
                    names.iter().map(SubjectName::shown).collect::<Vec<_>>().join(", "),
                    if internal { ", with internal names allowed" } else { "" }
                ),
                probe::Remedy::Renew(id) => format!(
                    "Renew it on its certificate page (certificate {id}) and install the new one on the server."
                ),
                probe::Remedy::InstallRenewal { id, renewal } => format!(
                    "It was renewed already, as certificate {renewal}: install that one on the server, with the key downloaded when it was made; if that key is lost, renew certificate {renewal} on its page. Certificate {id} cannot be renewed a second time."
                ),
                probe::Remedy::RenewRenewal { id, renewal } => format!(
                    "It was renewed already, as certificate {renewal}, which is revoked or expired too: renew certificate {renewal} on its page and install the new one on the server. Certificate {id} cannot be renewed a second time."
                ),
                probe::Remedy::ReloadServer(id) => format!(
                    "This is this CA's own web server's certificate (number {id}): reload the server (systemctl reload ca) or restart it, and it makes and presents a new one."
                ),
                probe::Remedy::AddServerName(id) => format!(
                    "This is this CA's own web server's certificate (number {id}), made for the server's names: add {host} to them (hostname in ca.toml), then reload the server (systemctl reload ca) and it presents a certificate that names it."
                ),
            });
            let fix = [finding.fix.as_deref(), advice.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            pages::FindingRow {
                verdict: finding.verdict.name(),
                topic: finding.topic.name(),
                fact: finding.fact.clone(),
                fix,
            }
        })
        .collect();
    pages::CheckReport {
        summary,
        target: report.target.to_string(),
        address: match (report.address, report.target.address) {
            (Some(connected), None) => Some(connected.to_string()),
            (Some(connected), Some(_)) => Some(format!("{connected}, the address given")),
            (None, Some(given)) => Some(format!("at {given}, the address given")),
            (None, None) => None,
        },
        checked_at: ca_core::display::time(report.checked_at),
        trust: trust.described_as.clone(),
        issued_here: report.issued_here,
        findings,
    }
}

/// The PFX of `issued` as a download that no cache keeps.
fn pfx_download(
    issued: &Issued,
    password: &PfxPassword,
    profile: PfxProfile,
) -> Result<Response, WebError> {
    let bytes = issued.pfx(password, profile)?;
    let file_name = format!("{}.pfx", issued.file_stem());
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
    Ok(response)
}
