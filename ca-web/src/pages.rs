//! The pages: askama templates under `ca-web/templates/`, rendered to HTML responses.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::state::AppState;

/// What the frame of every page shows.
pub(crate) struct Chrome {
    pub ca_name: String,
    pub user: Option<String>,
    pub admin: bool,
}

impl Chrome {
    pub(crate) fn new(state: &AppState, caller: &Caller) -> Self {
        Chrome {
            ca_name: state.authority.root().common_name().to_owned(),
            user: caller.user.as_ref().map(|u| u.name.clone()),
            admin: caller.is_admin(),
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
}

#[derive(Template)]
#[template(path = "issued.html")]
pub(crate) struct Issued {
    pub chrome: Chrome,
    pub id: i64,
}

#[derive(Template)]
#[template(path = "pending.html")]
pub(crate) struct Pending {
    pub chrome: Chrome,
    pub id: i64,
}

#[derive(Template)]
#[template(path = "denied.html")]
pub(crate) struct Denied {
    pub chrome: Chrome,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "disposition.html")]
pub(crate) struct Disposition {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub id: String,
    pub reason: String,
}

/// One row of a list of requests.
pub(crate) struct RequestRow {
    pub id: i64,
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
    pub issued: Vec<RequestRow>,
}

#[derive(Template)]
#[template(path = "cert.html")]
pub(crate) struct CertPage {
    pub chrome: Chrome,
    pub id: i64,
    pub revoked: bool,
    pub reasons: Vec<&'static str>,
    pub first_name: String,
    pub names: String,
    pub status: &'static str,
    pub not_before: String,
    pub not_after: String,
    pub key_algorithm: String,
    pub serial: String,
    pub sha256: String,
    pub sha1: String,
}

#[derive(Template)]
#[template(path = "install.html")]
pub(crate) struct Install {
    pub chrome: Chrome,
    pub sha256: String,
    pub sha1: String,
    pub not_after: String,
    pub file_stem: String,
}

/// `2027-12-27 10:04 UTC`.
pub(crate) fn when(time: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time.format(&format).unwrap_or_default()
}

impl RequestRow {
    pub(crate) fn from(row: &ca_core::Issuance) -> Self {
        RequestRow {
            id: row.id,
            requested: when(row.requested_at),
            requester: row.requester.clone(),
            names: row.names.join(", "),
            status: row.status.name(),
            disposition: row.disposition.clone(),
            not_after: row
                .certificate
                .as_ref()
                .map(|c| when(c.not_after))
                .unwrap_or_default(),
            issued: row.certificate.is_some(),
        }
    }
}
