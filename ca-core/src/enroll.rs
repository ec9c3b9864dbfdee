//! Requests that arrive over the web: submitted, then issued at once or left pending for an
//! admin per the CA's policy (DESIGN §6), and the `CertAttrib` lines that come with them.

use tracing::instrument;

use crate::authority::Authority;
use crate::csr::{CertificateRequest, SignOptions};
use crate::display::quoted;
use crate::error::{Error, NameRule, Result};
use crate::issue::Issued;
use crate::name::SubjectName;
use crate::profile::Profile;
use crate::settings::RequestPolicy;
use crate::store::{Issuance, Refusal, RequestId, RequestSource};
use crate::users::{Role, User};

/// The longest `CertAttrib` accepted.
const MAX_ATTRIBUTES: usize = 8 * 1024;
/// The certificate templates offered, as AD CS names them.
pub const TEMPLATES: &[&str] = &["WebServer"];

/// What a submission came to.
#[derive(Debug)]
pub enum Submission {
    /// Issued at once: the certificate is in the log.
    Issued(Box<Issued>),
    /// Waiting for an admin.
    Pending(Box<Issuance>),
}

/// The `CertAttrib` of an AD CS request: lines of `Name:Value`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    /// `CertificateTemplate:WebServer`.
    pub template: Option<String>,
    /// `san:dns=a.example.com&dns=b.example.com&ipaddress=192.0.2.1`.
    pub san: Vec<SubjectName>,
    /// The text as submitted, kept with a pending request.
    pub raw: String,
}

impl RequestAttributes {
    /// Parses `CertAttrib`. Lines may end in CRLF, LF or CR; unknown attribute names are
    /// ignored, as AD CS does; a template other than those offered, a `san` entry of a type
    /// a server certificate cannot carry, or a line without a colon is refused.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_ATTRIBUTES {
            return Err(Error::InvalidInput(format!(
                "CertAttrib is longer than {MAX_ATTRIBUTES} bytes"
            )));
        }
        let mut attributes = RequestAttributes {
            raw: text.to_owned(),
            ..RequestAttributes::default()
        };
        for line in text
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let (name, value) = line.split_once(':').ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the CertAttrib line {} is not of the form Name:Value (as in CertificateTemplate:WebServer)",
                    quoted(line)
                ))
            })?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "certificatetemplate" => {
                    let template = TEMPLATES
                        .iter()
                        .find(|t| t.eq_ignore_ascii_case(value))
                        .ok_or_else(|| Error::UnsupportedTemplate {
                            template: value.chars().take(64).collect(),
                            offered: TEMPLATES.join(" or "),
                        })?;
                    attributes.template = Some((*template).to_owned());
                }
                "san" => {
                    for entry in value.split('&').map(str::trim).filter(|e| !e.is_empty()) {
                        let (kind, name) = entry.split_once('=').ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "the san entry {} is not of the form dns=NAME or ipaddress=ADDRESS",
                                quoted(entry)
                            ))
                        })?;
                        match kind.trim().to_ascii_lowercase().as_str() {
                            "dns" | "ipaddress" => attributes.san.push(name.trim().parse()?),
                            other => {
                                return Err(Error::InvalidInput(format!(
                                    "the san entry type {} cannot go into a server certificate: use dns= or ipaddress=",
                                    quoted(other)
                                )));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(attributes)
    }
}

impl Authority {
    /// Takes a request submitted over the web by `requester`, an administrator when
    /// `administrator` is set: checks it fully (names included) so that a request that can
    /// never be issued is refused now, then issues it or leaves it pending.
    #[instrument(skip_all)]
    pub async fn submit(
        &self,
        request: &CertificateRequest,
        attributes: &RequestAttributes,
        requester: &str,
        administrator: bool,
    ) -> Result<Submission> {
        let mut names = request.names().to_vec();
        names.extend(attributes.san.iter().cloned());
        let names = self.check_names(&names, false)?;
        let settings = self.current_settings().await?;
        // A requester with a certificate for the CA's own server could impersonate its pages:
        // its names are refused, and so is any wildcard that covers one of them. An
        // administrator may ask for them, as on the command line.
        if !administrator && let Some(reserved) = names.iter().find(|n| settings.is_reserved(n)) {
            return Err(Error::name(reserved.to_string(), NameRule::Reserved));
        }
        match settings.policy {
            RequestPolicy::Auto => {
                let issued = self
                    .sign_request(request, web_options(attributes, requester))
                    .await?;
                Ok(Submission::Issued(Box::new(issued)))
            }
            RequestPolicy::Pending => {
                // What can never be signed is refused now, not left for an administrator
                // to find at approval.
                self.refuse_the_roots_key(request)?;
                self.store()
                    .refuse_compromised_key(request.public_key_bits())
                    .await?;
                let row = self
                    .store()
                    .record_pending(
                        requester,
                        RequestSource::Web,
                        &names,
                        request.der(),
                        &attributes.raw,
                    )
                    .await?;
                Ok(Submission::Pending(Box::new(row)))
            }
        }
    }

    /// What request `id` asked for that its certificate does not carry, in a sentence (see
    /// [`CertificateRequest::left_out_note`]): for an administrator deciding a pending request,
    /// or reading an issued one. `None` for a request without a CSR, or one asking nothing
    /// more.
    #[instrument(skip_all)]
    pub async fn left_out_of(&self, id: RequestId) -> Result<Option<String>> {
        Ok(self
            .store()
            .csr_of(id)
            .await?
            .and_then(|der| CertificateRequest::parse(&der).ok())
            .and_then(|request| request.left_out_note()))
    }

    /// The names request `row` holds beyond those its CSR asks for: added by its requester
    /// in the request's attributes (CertAttrib `san:`) on the pages, or as extra names at signing,
    /// and so not signed with the CSR's key. Said before an administrator decides: such
    /// names are how a requester asks for more than the server it holds the key of.
    pub async fn names_beyond_the_csr(&self, row: &Issuance) -> Result<Vec<SubjectName>> {
        let Some(der) = self.store().csr_of(row.id).await? else {
            return Ok(Vec::new());
        };
        let Ok(request) = CertificateRequest::parse(&der) else {
            return Ok(Vec::new());
        };
        Ok(row
            .names
            .iter()
            .filter(|name| !request.names().contains(name))
            .cloned()
            .collect())
    }

    /// Issues a pending request, as an admin decided.
    #[instrument(skip_all)]
    pub async fn approve(&self, id: RequestId, actor: &str) -> Result<Issued> {
        let pending = self.store().pending_request(id).await?;
        let request = CertificateRequest::parse(&pending.csr_der)?;
        let attributes = RequestAttributes::parse(&pending.attributes)?;
        let options = web_options(&attributes, &pending.requester);
        self.sign_request_for(&request, &options, Some(id), actor)
            .await
    }

    /// Denies a pending request, as an admin decided.
    #[instrument(skip_all)]
    pub async fn deny(&self, id: RequestId, reason: &str, actor: &str) -> Result<Issuance> {
        let reason = reason.trim();
        let reason = if reason.is_empty() {
            "Denied by the CA administrator"
        } else {
            reason
        };
        if reason.chars().count() > 500 {
            return Err(Error::InvalidInput(
                "the reason is longer than 500 characters".into(),
            ));
        }
        // The reason is shown on pages, in terminals and in logs: no control character (an
        // escape sequence, a bell, a line break) may come with it.
        if reason
            .chars()
            .any(|c| c.is_control() || crate::display::misleads(c))
        {
            return Err(Error::InvalidInput(
                "the reason may not contain control characters (line breaks, tabs, escapes) or marks that reorder, hide or break text (U+202E, U+200B, U+2028...): write it on one line".into(),
            ));
        }
        self.store().deny(id, reason, actor).await
    }
}

impl Authority {
    /// Records a submission refused for `err` as a denied request, with `disposition` (the
    /// refusal as the requester reads it) and the status code of the refusal; `typed` is the
    /// request as given, read for the names it asks for when `request` could not be read.
    #[instrument(skip_all)]
    pub async fn record_refusal(
        &self,
        requester: &str,
        request: Option<&CertificateRequest>,
        typed: &str,
        attributes: &str,
        err: &Error,
        disposition: &str,
    ) -> Result<Issuance> {
        // A request refused as it was read (a weak key, a bad signature) still shows the
        // names it asked for, and so do the names CertAttrib's san line added (the refused
        // one often among them).
        let mut asked = match request {
            Some(request) => request.names().to_vec(),
            None => CertificateRequest::names_asked(typed.as_bytes()),
        };
        if let Ok(parsed) = RequestAttributes::parse(attributes) {
            asked.extend(parsed.san);
        }
        let asked = crate::name::distinct(asked);
        self.store()
            .record_refusal(Refusal {
                requester,
                source: RequestSource::Web,
                names: &asked,
                csr_der: request.map(CertificateRequest::der),
                attributes,
                disposition,
                status_code: err.status_code(),
            })
            .await
    }

    /// Records a request given as a file to sign (`input`, read as `request` when it could be)
    /// that was refused for `err`, as a denied request of `requester` from a CSR file, with
    /// the names it asked for (`extra`: those its signer added): the log holds every request,
    /// refused ones included, as it does those refused on the pages.
    #[instrument(skip_all)]
    pub async fn record_refused_csr(
        &self,
        requester: &str,
        request: Option<&CertificateRequest>,
        input: &[u8],
        extra: &[SubjectName],
        err: &Error,
    ) -> Result<Issuance> {
        let mut asked = match request {
            Some(request) => request.names().to_vec(),
            None => CertificateRequest::names_asked(input),
        };
        asked.extend(extra.iter().cloned());
        let asked = crate::name::distinct(asked);
        self.store()
            .record_refusal(Refusal {
                requester,
                source: RequestSource::Csr,
                names: &asked,
                csr_der: request.map(CertificateRequest::der),
                attributes: "",
                disposition: &err.to_string(),
                status_code: err.status_code(),
            })
            .await
    }

    /// Request `id` as `user` may see it: an admin sees every request, a requester only their
    /// own. Someone else's request is reported as not found, so ids reveal nothing; so is a
    /// request made under the same name before this user was added (a user removed and
    /// added again is someone else, as for ACME).
    #[instrument(skip_all)]
    pub async fn request_seen_by(&self, id: RequestId, user: &User) -> Result<Issuance> {
        let row = self.store().issuance(id).await?;
        if user.role == Role::Admin
            || (row.requester == user.name
                && (self.user_since(user).await?).is_some_and(|since| since <= row.requested_at))
        {
            Ok(row)
        } else {
            Err(Error::NotFound(format!("request {id}")))
        }
    }

    /// The requests of `user` since they were added, newest first (at most 200).
    #[instrument(skip_all)]
    pub async fn requests_of(&self, user: &User) -> Result<Vec<Issuance>> {
        let Some(since) = self.user_since(user).await? else {
            return Ok(Vec::new());
        };
        let mut rows = self.store().list_by_requester(&user.name).await?;
        rows.retain(|row| row.requested_at >= since);
        Ok(rows)
    }

    /// When `user` was added; none for a user removed meanwhile.
    async fn user_since(&self, user: &User) -> Result<Option<time::OffsetDateTime>> {
        Ok(self
            .store()
            .user(&user.name)
            .await?
            .map(|record| record.created_at))
    }
}

fn web_options(attributes: &RequestAttributes, requester: &str) -> SignOptions {
    SignOptions {
        days: None,
        allow_internal: false,
        profile: Profile::Server,
        extra_names: attributes.san.clone(),
        requester: requester.to_owned(),
        source: RequestSource::Web,
        renewed_from: None,
        acme_order: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_long_refused_line_or_entry_is_quoted_by_its_start() {
        for (text, count) in [
            ("x".repeat(5000), 5000),
            (format!("san:{}", "y".repeat(5000)), 5000),
            (format!("san:{}=a.example.com", "z".repeat(5000)), 5000),
        ] {
            let said = RequestAttributes::parse(&text).unwrap_err().to_string();
            assert!(
                said.len() < 300 && said.contains(&format!("...' ({count} characters)")),
                "{said}"
            );
        }
    }

    #[test]
    fn parses_template_and_san_with_any_line_ends() {
        let parsed = RequestAttributes::parse(
            "CertificateTemplate:WebServer\r\nsan:dns=a.example.com&dns=b.example.com&ipaddress=192.0.2.1\nUserAgent:x",
        )
        .unwrap();
        assert_eq!(parsed.template.as_deref(), Some("WebServer"));
        let shown: Vec<String> = parsed.san.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a.example.com", "b.example.com", "192.0.2.1"]);
    }

    #[test]
    fn refuses_unknown_templates_and_san_types_and_malformed_lines() {
        assert!(RequestAttributes::parse("CertificateTemplate:SubCA").is_err());
        assert!(RequestAttributes::parse("san:upn=admin@example.com").is_err());
        assert!(RequestAttributes::parse("san:dns=*.com").is_err());
        assert!(RequestAttributes::parse("no colon here").is_err());
        assert!(RequestAttributes::parse(&"a:b\n".repeat(5000)).is_err());
        assert_eq!(RequestAttributes::parse("").unwrap().template, None);
    }
}
