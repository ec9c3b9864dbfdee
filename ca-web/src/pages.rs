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
}

impl Chrome {
    /// The frame for the CA `ca_name`, seen by `user` (anonymous when `None`).
    pub(crate) fn new(ca_name: &str, user: Option<&User>) -> Self {
        Chrome {
            ca_name: ca_name.to_owned(),
            user: user.map(|u| u.name.clone()),
            admin: user.is_some_and(|u| u.role == Role::Admin),
        }
    }

    /// For error pages, which do not know the caller.
    pub(crate) fn plain() -> Self {
        Chrome {
            ca_name: "Certificate authority".to_owned(),
            user: None,
            admin: false,
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
        page.refusal = Some(why);
        page
    }
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
}

#[derive(Template)]
#[template(path = "pending.html")]
pub(crate) struct Pending {
    pub chrome: Chrome,
    pub id: RequestId,
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
    pub not_after: String,
    pub issued: bool,
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
    pub pending: Vec<RequestRow>,
    /// Refused and denied requests, newest first.
    pub denied: Vec<RequestRow>,
    pub issued: Vec<RequestRow>,
}

#[derive(Template)]
#[template(path = "cert.html")]
pub(crate) struct CertPage {
    pub chrome: Chrome,
    pub id: RequestId,
    pub revoked: bool,
    pub reasons: Vec<&'static str>,
    /// PFX profiles, the default first.
    pub profiles: Vec<&'static str>,
    pub first_name: String,
    pub names: String,
    pub status: &'static str,
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
}

#[derive(Template)]
#[template(path = "check.html")]
pub(crate) struct Check {
    pub chrome: Chrome,
    /// The address as typed, to check again.
    pub url: String,
    pub max_url: usize,
    /// The longest a check takes, in seconds.
    pub deadline: u64,
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
            not_after: row
                .certificate
                .as_ref()
                .map(|c| display::time(c.not_after))
                .unwrap_or_default(),
            issued: row.certificate.is_some(),
        }
    }
}
