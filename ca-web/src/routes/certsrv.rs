//! The AD CS Web Enrollment pages: downloads, request forms, submission and status.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ca_core::certificate::{RevocationPointers, sha1_thumbprint};
use ca_core::csr::CertificateRequest;
use ca_core::display;
use ca_core::enroll::{RequestAttributes, Submission};
use ca_core::export::CertificateFormat;
use ca_core::revoke::RevocationReason;
use ca_core::status::StatusCode;
use ca_core::users::Role;
use ca_core::{Choice, Issuance, RequestId, Status};

use super::{Form, Params};
use crate::auth::Caller;
use crate::error::{WebError, explain};
use crate::pages::{self, RequestRow, render};
use crate::state::AppState;

pub(crate) async fn welcome(
    State(state): State<AppState>,
    caller: Caller,
    request: axum::http::request::Parts,
) -> Response {
    render(&pages::Welcome {
        chrome: caller.chrome(&state),
        sha256: state.authority.root().fingerprint().colons(),
        acme: super::acme::info(&state, &request).await,
    })
}

pub(crate) async fn certcarc(State(state): State<AppState>, caller: Caller) -> Response {
    render(&pages::CertCarc {
        chrome: caller.chrome(&state),
        renewals: state.authority.settings().renewals,
        sha256: state.authority.root().fingerprint().colons(),
    })
}

pub(crate) async fn certrqus(State(state): State<AppState>, caller: Caller) -> Response {
    render(&pages::CertRqUs {
        chrome: caller.chrome(&state),
    })
}

pub(crate) async fn certrqad(State(state): State<AppState>, caller: Caller) -> Response {
    render(&pages::CertRqAd {
        chrome: caller.chrome(&state),
    })
}

pub(crate) async fn certrqxt(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    caller.user()?;
    Ok(render(&pages::CertRqXt {
        chrome: caller.chrome(&state),
    }))
}

/// The stem of the root's files, as the install page names them.
const ROOT_STEM: &str = "root";

/// `Enc=bin` or `Enc=b64`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Binary,
    Base64,
}

impl Encoding {
    /// How a certificate is written in this encoding.
    fn certificate(self) -> CertificateFormat {
        match self {
            Encoding::Binary => CertificateFormat::Der,
            Encoding::Base64 => CertificateFormat::Pem,
        }
    }
}

/// A parameter that cannot be read: answered, as AD CS does, with a 200 page that says so.
struct BadParameter(String);

/// `Enc`: `bin` or `b64`; Base 64 when absent (as AD CS answers), DER for the browser install
/// link (`Mode=inst`).
fn encoding(params: &Params) -> Result<Encoding, BadParameter> {
    match params.get("Enc") {
        Some(enc) if enc.eq_ignore_ascii_case("bin") => Ok(Encoding::Binary),
        Some(enc) if enc.eq_ignore_ascii_case("b64") => Ok(Encoding::Base64),
        None if params
            .get("Mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("inst")) =>
        {
            Ok(Encoding::Binary)
        }
        None => Ok(Encoding::Base64),
        Some(other) => Err(BadParameter(format!(
            "Enc={} is not an encoding: use Enc=bin (DER) or Enc=b64 (Base 64).",
            super::echoed(other)
        ))),
    }
}

/// Checks `Renewal=N` against the CA's renewals: absent, -1 (the current one) or the
/// current number.
fn check_renewal(state: &AppState, params: &Params) -> Result<(), BadParameter> {
    let renewals = state.authority.settings().renewals;
    match params.get("Renewal") {
        None => Ok(()),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(-1) => Ok(()),
            Ok(n) if n == i64::from(renewals) => Ok(()),
            Ok(n) => Err(BadParameter(format!(
                "This CA has no certificate for Renewal={n}: it has had {renewals} renewals, so use Renewal={renewals} or Renewal=-1."
            ))),
            Err(_) => Err(BadParameter(format!(
                "Renewal={} is not a number.",
                super::echoed(text)
            ))),
        },
    }
}

/// What `ReqID` names.
enum Target {
    CaCert,
    Request(RequestId),
}

fn target(params: &Params) -> Result<Target, BadParameter> {
    let id = params.get("ReqID").ok_or_else(|| {
        BadParameter("ReqID is missing: use ReqID=CACert or the id of your request.".into())
    })?;
    if id.eq_ignore_ascii_case("CACert") {
        return Ok(Target::CaCert);
    }
    id.parse().map(Target::Request).map_err(|_| {
        BadParameter(format!(
            "ReqID={} is neither CACert nor a request id (a positive number).",
            super::echoed(id)
        ))
    })
}

/// A file download: `disposition` is the whole Content-Disposition value.
/// A file to save as `file_name` (the name the pages give it: `root.cer`, `root.crt`,
/// `mail.example.com.cer`).
fn download(bytes: Vec<u8>, content_type: &'static str, file_name: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // File names are made by `file_stem` (letters, digits, `.-_`): always a valid header.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    response
}

/// The name a downloaded certificate is saved as: `root` or the certificate's first name,
/// `.cer` for DER (what Windows opens) and `.crt` for PEM (what Linux's trust stores read).
fn certificate_file(stem: &str, enc: Encoding) -> String {
    match enc {
        Encoding::Binary => format!("{stem}.cer"),
        Encoding::Base64 => format!("{stem}.crt"),
    }
}

/// The stem of a request's files, as `ca issue` names its files.
fn stem_of(row: &Issuance) -> String {
    ca_core::name::files_stem(&row.names)
}

/// A message as a disposition line carries it: plain text on one line, no quotes that a
/// page would have to escape (clients read it with a regular expression). Double quotes go;
/// an apostrophe becomes a typographic one, an opening one after a space or a bracket
/// ("the CA’s", "‘name’"); a mark that would reorder, hide or break the line is written as an
/// escape (`\u{202e}`), as [`display::inert`] writes it.
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_word = false;
    for c in text.chars().filter(|c| *c != '"') {
        out.push(match c {
            '\'' if after_word => '\u{2019}',
            '\'' => '\u{2018}',
            c if c.is_control() => ' ',
            c if display::misleads(c) => {
                out.extend(c.escape_unicode());
                continue;
            }
            c => c,
        });
        after_word = !c.is_whitespace() && !c.is_control() && !matches!(c, '(' | '[');
    }
    out
}

/// The disposition of a request as AD CS words it: `Taken Under Submission` while pending,
/// `Denied by Policy Module  0x..., why` when refused or denied.
fn disposition_of(row: &Issuance) -> String {
    match row.status {
        Status::Pending => "Taken Under Submission".to_owned(),
        Status::Denied => format!(
            "Denied by Policy Module  {}, {}",
            row.status_code,
            plain(&row.disposition)
        ),
        _ => plain(&row.disposition),
    }
}

/// The page AD CS answers (with 200) when a certificate cannot be handed out: the request's
/// id, its disposition and its last status, in the layout clients parse.
fn disposition_page(
    state: &AppState,
    caller: &Caller,
    heading: &'static str,
    id: String,
    disposition: String,
    last_status: StatusCode,
) -> Response {
    render(&pages::Disposition {
        chrome: caller.chrome(state),
        heading,
        id,
        disposition,
        last_status: last_status.last_status(),
    })
}

fn bad_parameter(state: &AppState, caller: &Caller, BadParameter(why): BadParameter) -> Response {
    disposition_page(
        state,
        caller,
        "Error",
        String::new(),
        plain(&why),
        StatusCode::INVALID_ARGUMENT,
    )
}

/// The disposition page answered instead of a certificate, and whether the request is one the
/// caller may see at all (pending or denied) or unknown to them.
struct Unissued {
    page: Response,
    known: bool,
}

/// The issued certificate of request `id`, if the caller may see it; else the disposition
/// page for a pending, denied, unknown or someone else's request.
async fn issued_certificate(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
) -> Result<Result<Issuance, Unissued>, WebError> {
    let user = caller.user()?;
    let row = match state.authority.request_seen_by(id, user).await {
        Ok(row) => row,
        Err(ca_core::Error::NotFound(_)) => {
            let empty = StatusCode::PROPERTY_EMPTY;
            let page = disposition_page(
                state,
                caller,
                "Certificate Not Found",
                id.to_string(),
                format!("{} {empty} ({})", empty.text, empty.name),
                empty,
            );
            return Ok(Err(Unissued { page, known: false }));
        }
        Err(err) => return Err(err.into()),
    };
    let heading = match row.status {
        Status::Pending => "Certificate Pending",
        Status::Denied => "Certificate Request Denied",
        _ => return Ok(Ok(row)),
    };
    let code = if row.status == Status::Pending {
        StatusCode::SUCCESS
    } else {
        row.status_code
    };
    let page = disposition_page(
        state,
        caller,
        heading,
        id.to_string(),
        disposition_of(&row),
        code,
    );
    Ok(Err(Unissued { page, known: true }))
}

pub(crate) async fn certnew_cer(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let params = Params::new(query)?;
    let (target, enc) = match target(&params).and_then(|t| Ok((t, encoding(&params)?))) {
        Ok(parsed) => parsed,
        Err(bad) => return Ok(bad_parameter(&state, &caller, bad)),
    };
    match target {
        Target::CaCert => match root_download(&state, &params, enc)? {
            Ok(file) => Ok(file),
            Err(bad) => Ok(bad_parameter(&state, &caller, bad)),
        },
        Target::Request(id) => match issued_certificate(&state, &caller, id).await? {
            Err(unissued) => Ok(unissued.page),
            Ok(row) => {
                let name = certificate_file(&stem_of(&row), enc);
                let der = row.certificate.map(|c| c.der).unwrap_or_default();
                Ok(download(
                    enc.certificate().render(&der, &[])?,
                    "application/pkix-cert",
                    &name,
                ))
            }
        },
    }
}

/// The root as `certnew.cer?ReqID=CACert` gives it with `params`, read in `enc`.
fn root_download(
    state: &AppState,
    params: &Params,
    enc: Encoding,
) -> Result<Result<Response, BadParameter>, WebError> {
    if let Err(bad) = check_renewal(state, params) {
        return Ok(Err(bad));
    }
    let install = params
        .get("Mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("inst"));
    let content_type = if install {
        "application/x-x509-ca-cert"
    } else {
        "application/pkix-cert"
    };
    let bytes = enc
        .certificate()
        .render(state.authority.root().der(), &[])?;
    let name = certificate_file(ROOT_STEM, enc);
    let mut response = download(bytes, content_type, &name);
    if install {
        // The install link is for the browser to offer the root for its trust store, which
        // Firefox does only for a CA certificate it opens, not one it is told to save.
        let inline = HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("inline"));
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, inline);
    }
    Ok(Ok(response))
}

/// The root's downloads, answered before the router (see `super::before_routing`): a GET
/// without credentials of `ca.cer`, or of `certnew.cer` with parameters that ask for the
/// root and can be read. Whatever else, or whatever would be refused, is left to the router
/// (`None`), which answers it as before.
pub(crate) fn root_before_routing<B>(
    state: &AppState,
    request: &axum::http::Request<B>,
) -> Option<Response> {
    if request.method() != axum::http::Method::GET
        || request.headers().contains_key(header::AUTHORIZATION)
    {
        return None;
    }
    let path = request.uri().path();
    if path.eq_ignore_ascii_case("/certsrv/ca.cer") {
        return Some(ca_issuers_file(state));
    }
    if !path.eq_ignore_ascii_case("/certsrv/certnew.cer") {
        return None;
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()).ok()?;
    let params = Params::new(pairs).ok()?;
    let enc = encoding(&params).ok()?;
    match target(&params).ok()? {
        Target::CaCert => root_download(state, &params, enc).ok()?.ok(),
        Target::Request(_) => None,
    }
}

pub(crate) async fn certnew_p7b(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let params = Params::new(query)?;
    let (target, enc) = match target(&params).and_then(|t| Ok((t, encoding(&params)?))) {
        Ok(parsed) => parsed,
        Err(bad) => return Ok(bad_parameter(&state, &caller, bad)),
    };
    let format = if enc == Encoding::Binary {
        CertificateFormat::P7b
    } else {
        CertificateFormat::P7bPem
    };
    let root = state.authority.root().der();
    let (bytes, stem) = match target {
        Target::CaCert => {
            if let Err(bad) = check_renewal(&state, &params) {
                return Ok(bad_parameter(&state, &caller, bad));
            }
            (format.render(root, &[])?, ROOT_STEM.to_owned())
        }
        Target::Request(id) => match issued_certificate(&state, &caller, id).await? {
            Err(unissued) => return Ok(unissued.page),
            Ok(row) => {
                let stem = stem_of(&row);
                let der = row.certificate.map(|c| c.der).unwrap_or_default();
                (format.render(&der, &[root])?, stem)
            }
        },
    };
    Ok(download(
        bytes,
        "application/x-pkcs7-certificates",
        &format!("{stem}.p7b"),
    ))
}

pub(crate) async fn certcrl(
    State(state): State<AppState>,
    caller: Caller,
    request: axum::http::HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let params = Params::new(query)?;
    let checked = match params.get("Type") {
        None => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("base") => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("delta") => Err(BadParameter(
            "This CA publishes no delta CRLs: fetch the base CRL (Type=base), which is always complete.".into(),
        )),
        Some(other) => Err(BadParameter(format!(
            "Type={} is not a CRL type: use Type=base.",
            super::echoed(other)
        ))),
    };
    let enc = match checked
        .and_then(|()| check_renewal(&state, &params))
        .and_then(|()| encoding(&params))
    {
        Ok(enc) => enc,
        Err(bad) => return Ok(bad_parameter(&state, &caller, bad)),
    };
    let crl = state.authority.current_crl().await?;
    Ok(crl_download(crl, enc, "certcrl.crl", &request))
}

/// The CRL distribution point named in certificates (DER, as RFC 5280 §4.2.1.13 requires).
pub(crate) async fn crl_distribution_point(
    State(state): State<AppState>,
    request: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    let crl = state.authority.current_crl().await?;
    Ok(crl_download(crl, Encoding::Binary, "ca.crl", &request))
}

/// The current CRL as a download a cache may keep but must ask about again before each use
/// (`no-cache`): a revocation publishes a new CRL at once, which a cache holding the old one
/// until its nextUpdate would hide. Dated (Last-Modified: its thisUpdate) and tagged, so the
/// asking costs a 304 and no bytes while it is current, as IIS serves AD CS's CRL file.
fn crl_download(
    crl: ca_core::crl::Crl,
    enc: Encoding,
    file_name: &str,
    request: &axum::http::HeaderMap,
) -> Response {
    let etag = crl_etag(&crl, enc);
    let modified = super::ocsp::http_date(crl.this_update);
    // If-Modified-Since counts only without If-None-Match (RFC 9110 §13.2.2), and only as
    // the very date this CRL was handed out with (as nginx compares by default): each CRL's
    // thisUpdate is a second or more after the last one's, so no other CRL carries it.
    let fresh = if request.contains_key(header::IF_NONE_MATCH) {
        super::ocsp::matches_etag(request, &etag)
    } else {
        request
            .get(header::IF_MODIFIED_SINCE)
            .is_some_and(|since| since.as_bytes() == modified.as_bytes())
    };
    let bytes = match enc {
        Encoding::Binary => crl.der,
        Encoding::Base64 => crl.pem().into_bytes(),
    };
    let mut response = if fresh {
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = axum::http::StatusCode::NOT_MODIFIED;
        // What a 200 would have carried (RFC 9110 §8.6), not the empty body's 0 that HTTP/2
        // would send.
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, bytes.len().into());
        response
    } else {
        download(bytes, "application/pkix-crl", file_name)
    };
    let headers = response.headers_mut();
    let dated = [
        (header::ETAG, etag),
        (header::LAST_MODIFIED, modified),
        (header::CACHE_CONTROL, "public, no-cache".to_owned()),
    ];
    for (name, value) in dated {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// A strong entity tag for one CRL in one encoding: its cRLNumber (strictly greater for each
/// newer CRL) and the last 16 octets of its signature (so another root's CRL of the same
/// number, after the CA was made anew at the same address, is told apart), without hashing
/// what may be megabytes.
fn crl_etag(crl: &ca_core::crl::Crl, enc: Encoding) -> String {
    let tail = &crl.der[crl.der.len().saturating_sub(16)..];
    let enc = match enc {
        Encoding::Binary => "der",
        Encoding::Base64 => "pem",
    };
    format!("\"{}-{enc}-{}\"", crl.number, display::hex(tail))
}

/// The caIssuers location named in certificates: the root, DER (RFC 5280 §4.2.2.1).
pub(crate) async fn ca_issuers(State(state): State<AppState>) -> Response {
    ca_issuers_file(&state)
}

fn ca_issuers_file(state: &AppState) -> Response {
    download(
        state.authority.root().der().to_vec(),
        "application/pkix-cert",
        "ca.cer",
    )
}

/// The `CertAttrib` of a `certfnsh.asp` post, with the form's `CertificateTemplate` choice
/// added as one of its lines.
fn attributes_text(params: &Params) -> String {
    let mut attributes = params.get("CertAttrib").unwrap_or_default().to_owned();
    if let Some(template) = params.get("CertificateTemplate")
        && !attributes
            .to_ascii_lowercase()
            .contains("certificatetemplate:")
    {
        attributes.push_str(&format!("\nCertificateTemplate:{template}"));
    }
    attributes
}

/// Reads the fields of a `certfnsh.asp` post: `Mode=newreq`, the `CertRequest`, and the
/// `CertAttrib` lines. The request is returned when it could be read, even if the rest is
/// refused, so the refusal can be recorded with it.
pub(crate) fn enrollment(
    params: &Params,
) -> (
    Option<CertificateRequest>,
    ca_core::Result<(CertificateRequest, RequestAttributes)>,
) {
    let mode = match params.get("Mode") {
        Some(mode) if mode.eq_ignore_ascii_case("newreq") => Ok(()),
        Some(mode) => Err(ca_core::Error::InvalidInput(format!(
            "Mode={mode} is not supported: use Mode=newreq."
        ))),
        None => Err(ca_core::Error::InvalidInput(
            "Mode is missing: use Mode=newreq.".into(),
        )),
    };
    let text = params
        .get("CertRequest")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            ca_core::Error::InvalidInput(
                "CertRequest is empty: paste a base-64-encoded PKCS #10 request.".into(),
            )
        });
    let request = text.and_then(|t| CertificateRequest::parse(t.as_bytes()));
    let readable = request.as_ref().ok().cloned();
    let parsed = mode.and(request).and_then(|request| {
        let attributes = RequestAttributes::parse(&attributes_text(params))?;
        Ok((request, attributes))
    });
    (readable, parsed)
}

/// `POST certfnsh.asp`: a request submitted by a form or a script. Whatever becomes of it,
/// the answer is a 200 page: issued, pending, or denied with a request id and the reason.
pub(crate) async fn certfnsh(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let user = caller.user()?.clone();
    let params = Params::new(form)?;
    let (readable, parsed) = enrollment(&params);
    let outcome = match parsed {
        Ok((request, attributes)) => {
            state
                .authority
                .submit(&request, &attributes, &user.name, user.role == Role::Admin)
                .await
        }
        Err(err) => Err(err),
    };
    match outcome {
        Ok(Submission::Issued(issued)) => Ok(render(&pages::Issued {
            chrome: caller.chrome(&state),
            id: issued.issuance.id,
            left_out: issued.left_out,
        })),
        Ok(Submission::Pending(row)) => Ok(render(&pages::Pending {
            chrome: caller.chrome(&state),
            id: row.id,
            left_out: readable
                .as_ref()
                .and_then(CertificateRequest::left_out_note),
        })),
        Err(err) if err.is_refusal() => {
            let why = plain(&explain(&err));
            let row = state
                .authority
                .record_refusal(
                    &user.name,
                    readable.as_ref(),
                    params.get("CertRequest").unwrap_or_default(),
                    &attributes_text(&params),
                    &err,
                    &why,
                )
                .await?;
            Ok(render(&pages::Denied {
                chrome: caller.chrome(&state),
                id: row.id,
                disposition: disposition_of(&row),
                last_status: row.status_code.last_status(),
                typed_request: params.get("CertRequest").unwrap_or_default().to_owned(),
                typed_attributes: params.get("CertAttrib").unwrap_or_default().to_owned(),
            }))
        }
        Err(err) => Err(err.into()),
    }
}

pub(crate) async fn certckpn(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, WebError> {
    let user = caller.user()?;
    let rows = state.authority.requests_of(user).await?;
    Ok(render(&pages::CertCkPn {
        chrome: caller.chrome(&state),
        rows: rows.iter().map(RequestRow::from).collect(),
    }))
}

/// What clients need to connect with a certificate.
pub(crate) async fn certificate(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, WebError> {
    // An id that is not UTF-8 once decoded (`%ff`): refused as any other that is no number.
    let Ok(Path(id)) = id else {
        return Err(WebError::BadRequest(
            "the address names no request id: a request id is a positive number".into(),
        ));
    };
    let id: RequestId = id.parse()?;
    let row = match issued_certificate(&state, &caller, id).await? {
        // This page is ca's own, not one AD CS clients parse: a request the caller cannot
        // see is a missing page, as any other unknown address is.
        Err(Unissued { mut page, known }) => {
            if !known {
                *page.status_mut() = axum::http::StatusCode::NOT_FOUND;
            }
            return Ok(page);
        }
        Ok(row) => row,
    };
    let Some(cert) = &row.certificate else {
        return Err(WebError::NotFound(
            "This request has no certificate.".into(),
        ));
    };
    let pointers = RevocationPointers::of(&cert.der);
    let left_out = state.authority.left_out_of(row.id).await?;
    let added = state.authority.names_beyond_the_csr(&row).await?;
    Ok(render(&pages::CertPage {
        left_out,
        added: (!added.is_empty()).then(|| {
            added
                .iter()
                .map(ca_core::SubjectName::shown_with_a_labels)
                .collect::<Vec<_>>()
                .join(", ")
        }),
        chrome: caller.chrome(&state),
        id: row.id,
        revoked: cert.revocation.is_some(),
        raisable: cert
            .revocation
            .as_ref()
            .filter(|r| r.reason != RevocationReason::KeyCompromise)
            .map(|r| r.reason.name()),
        renewed_by: cert.renewed_by,
        reasons: RevocationReason::FOR_LEAVES
            .iter()
            .map(|r| r.name())
            .collect(),
        profiles: {
            use ca_core::export::pkcs12::PfxProfile;
            let default = PfxProfile::default();
            std::iter::once(default)
                .chain(PfxProfile::ALL.iter().copied().filter(|p| *p != default))
                .map(PfxProfile::name)
                .collect()
        },
        first_name: row
            .names
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        names: row.names_shown(),
        status: match &cert.revocation {
            Some(revocation) => format!(
                "revoked {} ({})",
                display::time(revocation.revoked_at),
                revocation.reason.name()
            ),
            None => row.status.name().to_owned(),
        },
        requested: format!("{} by {}", display::time(row.requested_at), row.requester),
        not_before: display::time(cert.not_before),
        not_after: display::time(cert.not_after),
        key_algorithm: cert.key_algorithm.name().to_owned(),
        serial: cert.serial.hex(),
        sha256: cert.sha256.colons(),
        sha1: sha1_thumbprint(&cert.der),
        ocsp_urls: pointers.ocsp,
        crl_urls: pointers.crl,
        max_url: ca_core::probe::MAX_URL,
        revoke_note: match row.own() {
            Some(ca_core::OwnCertificate::Server) => Some(
                "This is a certificate of this CA's own web server. If it is the one the server presents now, clients that check revocation refuse these pages, ACME and the downloads until the server presents a new one: it makes one at its next start or reload (systemctl reload ca), or within 6 hours.",
            ),
            Some(ca_core::OwnCertificate::OcspResponder) => Some(
                "This is a certificate of this CA's OCSP responder: revoked, it is replaced when the responder next signs.",
            ),
            None => None,
        },
        check_url: row
            .names
            .iter()
            .find(|name| name.dns().is_none_or(|dns| !dns.is_wildcard()))
            .map(|name| {
                let target = ca_core::probe::Target::https(name.clone());
                format!("https://{}", target.host_in_url())
            }),
    }))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, StatusCode, header};

    use super::{Encoding, crl_download, plain};

    /// A 304 to a CRL download carries the length its 200 carries, in either encoding (RFC
    /// 9110 §8.6): HTTP/2 would otherwise send the empty body's 0, which HTTP/1.1 leaves out
    /// and the end-to-end test cannot see.
    #[test]
    fn a_crl_not_modified_carries_the_length_of_the_crl() {
        let at = time::macros::datetime!(2026-12-06 12:00 UTC);
        let crl = ca_core::crl::Crl {
            der: vec![0x30, 0x03, 0x02, 0x01, 0x07],
            number: 7,
            this_update: at,
            next_update: at + time::Duration::days(7),
        };
        for (enc, length) in [
            (Encoding::Binary, crl.der.len()),
            (Encoding::Base64, crl.pem().len()),
        ] {
            let full = crl_download(crl.clone(), enc, "ca.crl", &HeaderMap::new());
            assert_eq!(full.status(), StatusCode::OK);
            let mut asked = HeaderMap::new();
            asked.insert(header::IF_NONE_MATCH, full.headers()[header::ETAG].clone());
            let again = crl_download(crl.clone(), enc, "ca.crl", &asked);
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(
                again.headers()[header::CONTENT_LENGTH],
                length.to_string().as_str()
            );
            assert_eq!(again.headers()[header::ETAG], full.headers()[header::ETAG]);
        }
    }

    #[test]
    fn a_disposition_keeps_its_apostrophes_readable_and_loses_its_quotes() {
        assert_eq!(
            plain("'mail.example.com' names the CA's \"own\" server\r\n(it's reserved)"),
            "\u{2018}mail.example.com\u{2019} names the CA\u{2019}s own server  (it\u{2019}s reserved)"
        );
        assert_eq!(plain("('x')"), "(\u{2018}x\u{2019})");
        assert_eq!(
            plain("x.example.com\u{202e}moc\u{2028}\u{200b}"),
            "x.example.com\\u{202e}moc\\u{2028}\\u{200b}"
        );
    }
}
