//! The pages: askama templates under `ca-web/templates/`, rendered to HTML responses.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ca_core::RequestId;
use ca_core::display;

use ca_core::users::{Role, User};

/// What the frame of every page shows.
pub(crate) struct Chrome {
    pub ca_name: String,
    pub user: Option<String>,
    pub admin: bool,
    /// Credentials came with the request but could not be checked (the log is away): the
    /// frame then says so, rather than "Not signed in".
    pub unchecked: bool,
}

impl Chrome {
    /// The frame for the CA `ca_name`, seen by `user` (anonymous when `None`).
    pub(crate) fn new(ca_name: &str, user: Option<&User>) -> Self {
        Chrome {
            ca_name: ca_name.to_owned(),
            user: user.map(|u| u.name.clone()),
            admin: user.is_some_and(|u| u.role == Role::Admin),
            unchecked: false,
        }
    }

    /// The frame of a page answered before credentials that came with the request could be
    /// checked.
    pub(crate) fn sign_in_unchecked(mut self) -> Self {
        self.unchecked = true;
        self
    }

    /// For error pages, which do not know the caller.
    pub(crate) fn plain() -> Self {
        Chrome {
            ca_name: "Certificate authority".to_owned(),
            user: None,
            admin: false,
            unchecked: false,
        }
    }
}

/// Renders a page as an HTML response.
pub(crate) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = html.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(err) => {
            tracing::error!(%err, "a page failed to render");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub chrome: Chrome,
    pub heading: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "welcome.html")]
pub(crate) struct Welcome {
    pub chrome: Chrome,
    pub sha256: String,
    pub acme: Option<AcmeInfo>,
}

/// Where ACME clients find this CA, for the pages that tell people.
pub(crate) struct AcmeInfo {
    pub directory: String,
    pub eab_required: bool,
}

#[derive(Template)]
#[template(path = "certcarc.html")]
pub(crate) struct CertCarc {
    pub chrome: Chrome,
    pub renewals: u32,
    pub sha256: String,
}

#[derive(Template)]
#[template(path = "certrqus.html")]
pub(crate) struct CertRqUs {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "certrqad.html")]
pub(crate) struct CertRqAd {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "certrqxt.html")]
pub(crate) struct CertRqXt {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "certrqma.html")]
pub(crate) struct CertRqMa {
    pub chrome: Chrome,
    /// Key choices: name, description, selected.
    pub keys: Vec<(&'static str, &'static str, bool)>,
    /// PFX profile choices: name, description, selected.
    pub profiles: Vec<(&'static str, &'static str, bool)>,
    pub max_days: u32,
    /// What was typed, when the form comes back refused (never the password).
    pub names: String,
    pub days: String,
    pub allow_internal: bool,
    /// Why the form came back.
    pub refusal: Option<String>,
}

impl CertRqMa {
    pub(crate) fn new(chrome: Chrome) -> Self {
        use ca_core::export::pkcs12::PfxProfile;
        use ca_core::{Choice, KeyAlgorithm};
        CertRqMa {
            chrome,
            keys: KeyAlgorithm::ALL
                .iter()
                .map(|k| (k.name(), k.description(), *k == KeyAlgorithm::LEAF_DEFAULT))
                .collect(),
            profiles: PfxProfile::ALL
                .iter()
                .map(|p| (p.name(), p.description(), *p == PfxProfile::default()))
                .collect(),
            max_days: ca_core::profile::LEAF_MAX_DAYS,
            names: String::new(),
            days: ca_core::profile::LEAF_DEFAULT_DAYS.to_string(),
            allow_internal: false,
            refusal: None,
        }
    }

    /// The form again, refused for `why`, with what was typed in it: the names, the key, the
    /// days, the PFX protection and the box (the password is typed again).
    pub(crate) fn refused(chrome: Chrome, typed: Typed<'_>, why: String) -> Self {
        let mut page = CertRqMa::new(chrome);
        if !typed.key.trim().is_empty() {
            for key in &mut page.keys {
                key.2 = key.0 == typed.key.trim();
            }
        }
        if !typed.profile.trim().is_empty() {
            for profile in &mut page.profiles {
                profile.2 = profile.0 == typed.profile.trim();
            }
        }
        page.names = typed.names.to_owned();
        page.days = typed.days.to_owned();
        page.allow_internal = typed.allow_internal;
        page.refusal = Some(full_stop(why));
        page
    }
}

/// `why` ended as a sentence, for a page that says more after it ("Correct the form ...").
pub(crate) fn full_stop(mut why: String) -> String {
    if !why.ends_with(['.', '!', '?']) {
        why.push('.');
    }
    why
}

/// What was typed into the form that issues a certificate with a PFX.
pub(crate) struct Typed<'a> {
    pub names: &'a str,
    pub key: &'a str,
    pub days: &'a str,
    pub profile: &'a str,
    pub allow_internal: bool,
}

impl CertRqMa {
    /// Renders the refused form with status 400.
    pub(crate) fn into_refusal(self) -> Response {
        let mut response = render(&self);
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        response
    }
}

#[derive(Template)]
#[template(path = "issued.html")]
pub(crate) struct Issued {
    pub chrome: Chrome,
    pub id: RequestId,
    /// What the request asked for that the certificate does not carry, in a sentence.
    pub left_out: Option<String>,
}

#[derive(Template)]
#[template(path = "pending.html")]
pub(crate) struct Pending {
    pub chrome: Chrome,
    pub id: RequestId,
    /// What the request asked for that its certificate will not carry, in a sentence.
    pub left_out: Option<String>,
}

#[derive(Template)]
#[template(path = "denied.html")]
pub(crate) struct Denied {
    pub chrome: Chrome,
    pub id: RequestId,
    pub disposition: String,
    pub last_status: String,
    /// The request and attributes as they were sent, to correct and send again.
    pub typed_request: String,
    pub typed_attributes: String,
}

#[derive(Template)]
#[template(path = "disposition.html")]
pub(crate) struct Disposition {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub id: String,
    pub disposition: String,
    pub last_status: String,
}

/// One row of a list of requests.
pub(crate) struct RequestRow {
    pub id: RequestId,
    pub requested: String,
    pub requester: String,
    pub names: String,
    pub status: &'static str,
    pub disposition: String,
    pub issued: bool,
    /// The names its requester added to those its CSR's key signed, for an administrator to
    /// weigh before deciding; empty when none (or not looked up).
    pub added: String,
}

#[derive(Template)]
#[template(path = "certckpn.html")]
pub(crate) struct CertCkPn {
    pub chrome: Chrome,
    pub rows: Vec<RequestRow>,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub(crate) struct Admin {
    pub chrome: Chrome,
    /// What was just done from the list ("Certificate 7 was revoked.").
    pub done: Option<String>,
    /// The newest pending requests, and the list of all of them when there are more.
    pub pending: Vec<RequestRow>,
    pub more_pending: Option<String>,
    pub heading: String,
    /// The filter's fields as the form shows them.
    pub name: String,
    /// Status choices: value, label, selected.
    pub statuses: Vec<(&'static str, &'static str, bool)>,
    pub days: u32,
    pub requester: String,
    /// Source choices: value, selected.
    pub sources: Vec<(&'static str, bool)>,
    /// Orders: value, label, selected.
    pub sorts: Vec<(&'static str, &'static str, bool)>,
    pub limit: u32,
    /// True when anything but the defaults is asked for.
    pub filtered: bool,
    pub rows: Vec<InventoryRow>,
    /// The list sorted by request id, and by expiry (the other direction when already so).
    pub by_id: String,
    pub by_expiry: String,
    /// The first page, when this is not it, and the next, when there is one.
    pub first: Option<String>,
    pub next: Option<String>,
    /// This list's query, for the forms to come back to.
    pub back: String,
    pub reasons: Vec<&'static str>,
    /// PFX profiles, the default first.
    pub profiles: Vec<&'static str>,
}

/// One row of the inventory.
pub(crate) struct InventoryRow {
    pub id: RequestId,
    pub names: String,
    pub requester: String,
    pub source: &'static str,
    pub status: &'static str,
    /// For valid certificates expiring soon: "12 days left".
    pub days_left: Option<String>,
    /// For the CA's own certificates: which.
    pub own: Option<&'static str>,
    /// The certificate that renews this one, if one does.
    pub renewed_by: Option<RequestId>,
    pub not_after: String,
    /// Why, for a denied request.
    pub disposition: String,
    pub issued: bool,
    pub revocable: bool,
    /// Not for the CA's own certificates, which the server renews itself.
    pub renewable: bool,
    pub pending: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
pub(crate) struct Users {
    pub chrome: Chrome,
    pub roles: Vec<&'static str>,
    pub users: Vec<UserRow>,
    /// Why the add form was refused, shown above it.
    pub refusal: Option<String>,
    /// What the refused add form held (never its password).
    pub typed_name: String,
    pub typed_role: String,
}

/// One user, as the users page shows it.
pub(crate) struct UserRow {
    pub name: String,
    pub role: &'static str,
    pub disabled: bool,
    pub created: String,
    /// The administrator looking at the page.
    pub yourself: bool,
}

#[derive(Template)]
#[template(path = "user_done.html")]
pub(crate) struct UserDone {
    pub chrome: Chrome,
    pub name: String,
    pub done: String,
    /// A password made for the user, shown only on this page.
    pub password: Option<String>,
}

#[derive(Template)]
#[template(path = "user_remove.html")]
pub(crate) struct UserRemove {
    pub chrome: Chrome,
    pub name: String,
    /// The administrator asking to remove themselves.
    pub yourself: bool,
}

/// The page where a signed-in user changes their own password: its form (with why the last
/// one was refused), or that it is done.
#[derive(Template)]
#[template(path = "password.html")]
pub(crate) struct OwnPassword {
    pub chrome: Chrome,
    pub refusal: Option<String>,
    pub done: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub(crate) struct Audit {
    pub chrome: Chrome,
    pub actor: String,
    pub action: String,
    pub events: Vec<AuditRow>,
    pub first: Option<String>,
    pub next: Option<String>,
}

/// One event of the audit trail.
pub(crate) struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    /// The trail of this actor, and of this action.
    pub actor_link: String,
    pub action_link: String,
}

#[derive(Template)]
#[template(path = "cert.html")]
pub(crate) struct CertPage {
    pub chrome: Chrome,
    pub id: RequestId,
    pub revoked: bool,
    /// The reason it was revoked for, when it may still be raised to keyCompromise.
    pub raisable: Option<&'static str>,
    /// The certificate that renewed this one: it is renewed once, and its renewal carries on.
    pub renewed_by: Option<RequestId>,
    pub reasons: Vec<&'static str>,
    /// PFX profiles, the default first.
    pub profiles: Vec<&'static str>,
    pub first_name: String,
    pub names: String,
    /// The names its requester added to those its CSR's key signed (CertAttrib `san:`).
    pub added: Option<String>,
    /// Its status; when revoked, when and why.
    pub status: String,
    /// When it was requested, and by whom.
    pub requested: String,
    pub not_before: String,
    pub not_after: String,
    pub key_algorithm: String,
    pub serial: String,
    pub sha256: String,
    pub sha1: String,
    /// The OCSP responders and CRLs the certificate names, where clients check it.
    pub ocsp_urls: Vec<String>,
    pub crl_urls: Vec<String>,
    /// The server to check for this certificate (`https://` and its first name that is not
    /// a wildcard), for admins.
    pub check_url: Option<String>,
    pub max_url: usize,
    /// What revoking it does to the CA itself, for the CA's own certificates.
    pub revoke_note: Option<&'static str>,
    /// What its request asked for that it does not carry.
    pub left_out: Option<String>,
}

#[derive(Template)]
#[template(path = "check.html")]
pub(crate) struct Check {
    pub chrome: Chrome,
    /// The address as typed, to check again.
    pub url: String,
    /// The IP address to connect to as typed, empty for the host's own.
    pub address: String,
    pub max_url: usize,
    /// The longest a check takes, in seconds.
    pub deadline: u64,
    /// Why what was typed was refused, when it was.
    pub refused: Option<String>,
    pub report: Option<CheckReport>,
}

/// A server's check as the page shows it.
pub(crate) struct CheckReport {
    pub summary: String,
    pub target: String,
    pub address: Option<String>,
    pub checked_at: String,
    pub trust: String,
    pub issued_here: Option<RequestId>,
    pub findings: Vec<FindingRow>,
}

/// One finding of a check.
pub(crate) struct FindingRow {
    pub verdict: &'static str,
    pub topic: &'static str,
    pub fact: String,
    pub fix: String,
}

#[derive(Template)]
#[template(path = "install.html")]
pub(crate) struct Install {
    pub chrome: Chrome,
    pub sha256: String,
    pub sha1: String,
    pub not_after: String,
    pub file_stem: String,
    pub acme: Option<AcmeInfo>,
    /// Where new certificates send clients to check revocation, when a public URL is set.
    pub ocsp_url: Option<String>,
    pub crl_url: Option<String>,
    /// This page's address for phones, and the same as a QR code (an SVG element).
    pub install_url: Option<String>,
    pub qr_svg: Option<String>,
}

impl RequestRow {
    pub(crate) fn from(row: &ca_core::Issuance) -> Self {
        RequestRow {
            id: row.id,
            requested: display::time(row.requested_at),
            requester: row.requester.clone(),
            names: row.names_shown(),
            status: row.status.name(),
            disposition: row.disposition.clone(),
            issued: row.certificate.is_some(),
            added: String::new(),
        }
    }
}
