//! The AD CS Web Enrollment pages: downloads, request forms, submission and status.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ca_core::certificate::sha1_thumbprint;
use ca_core::csr::CertificateRequest;
use ca_core::display;
use ca_core::enroll::{RequestAttributes, Submission};
use ca_core::export::CertificateFormat;
use ca_core::revoke::RevocationReason;
use ca_core::{Choice, Issuance, RequestId, Status};

use super::{Form, Params};
use crate::auth::Caller;
use crate::error::{WebError, explain};
use crate::pages::{self, RequestRow, render};
use crate::state::AppState;

pub(crate) async fn welcome(State(state): State<AppState>, caller: Caller) -> Response {
    render(&pages::Welcome {
        chrome: caller.chrome(&state),
        sha256: state.authority.root().fingerprint().colons(),
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

/// `Enc=bin` or `Enc=b64`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Binary,
    Base64,
}

fn encoding(params: &Params) -> Result<Encoding, WebError> {
    match params.get("Enc") {
        Some(enc) if enc.eq_ignore_ascii_case("bin") => Ok(Encoding::Binary),
        Some(enc) if enc.eq_ignore_ascii_case("b64") => Ok(Encoding::Base64),
        // The install link asks for the certificate itself.
        None if params
            .get("Mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("inst")) =>
        {
            Ok(Encoding::Binary)
        }
        Some(other) => Err(WebError::BadRequest(format!(
            "Enc={other} is not an encoding: use Enc=bin (DER) or Enc=b64 (Base 64)."
        ))),
        None => Err(WebError::BadRequest(
            "The encoding is missing: add Enc=bin (DER) or Enc=b64 (Base 64).".into(),
        )),
    }
}

/// Checks `Renewal=N` against the CA's renewals: absent, -1 (the current one) or the
/// current number.
fn check_renewal(state: &AppState, params: &Params) -> Result<(), WebError> {
    let renewals = state.authority.settings().renewals;
    match params.get("Renewal") {
        None => Ok(()),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(-1) => Ok(()),
            Ok(n) if n == i64::from(renewals) => Ok(()),
            Ok(n) => Err(WebError::NotFound(format!(
                "This CA has no certificate for Renewal={n}: it has had {renewals} renewals, so use Renewal={renewals} or Renewal=-1."
            ))),
            Err(_) => Err(WebError::BadRequest(format!(
                "Renewal={text} is not a number."
            ))),
        },
    }
}

/// What `ReqID` names.
enum Target {
    CaCert,
    Request(RequestId),
}

fn target(params: &Params) -> Result<Target, WebError> {
    let id = params.get("ReqID").ok_or_else(|| {
        WebError::BadRequest("ReqID is missing: use ReqID=CACert or the id of your request.".into())
    })?;
    if id.eq_ignore_ascii_case("CACert") {
        return Ok(Target::CaCert);
    }
    id.parse().map(Target::Request).map_err(|_| {
        WebError::BadRequest(format!(
            "ReqID={id} is neither CACert nor a request id (a positive number)."
        ))
    })
}

/// A file download: `disposition` is the whole Content-Disposition value.
fn download(bytes: Vec<u8>, content_type: &'static str, disposition: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(disposition),
    );
    response
}

/// The issued certificate of request `id`, if the caller may see it; a disposition page
/// (4xx) for a pending, denied, unknown or someone else's request.
async fn issued_certificate(
    state: &AppState,
    caller: &Caller,
    id: RequestId,
) -> Result<Result<Issuance, Response>, WebError> {
    let user = caller.user()?;
    let row = match state.authority.request_seen_by(id, user).await {
        Ok(row) => row,
        Err(ca_core::Error::NotFound(_)) => {
            return Ok(Err(Disposition::page(
                state,
                caller,
                StatusCode::NOT_FOUND,
                "Request Not Found",
                id,
                "The request id was not found.",
            )));
        }
        Err(err) => return Err(err.into()),
    };
    match row.status {
        Status::Pending => Ok(Err(Disposition::page(
            state,
            caller,
            StatusCode::CONFLICT,
            "Certificate Pending",
            id,
            "Taken Under Submission: an administrator has not yet issued this certificate.",
        ))),
        Status::Denied => Ok(Err(Disposition::page(
            state,
            caller,
            StatusCode::CONFLICT,
            "Certificate Request Denied",
            id,
            &format!("Denied by Policy Module: {}", row.disposition),
        ))),
        _ => Ok(Ok(row)),
    }
}

struct Disposition;

impl Disposition {
    fn page(
        state: &AppState,
        caller: &Caller,
        status: StatusCode,
        heading: &'static str,
        id: RequestId,
        reason: &str,
    ) -> Response {
        let mut response = render(&pages::Disposition {
            chrome: caller.chrome(state),
            heading,
            id: id.to_string(),
            reason: reason.to_owned(),
        });
        *response.status_mut() = status;
        response
    }
}

pub(crate) async fn certnew_cer(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let params = Params::new(query);
    let target = target(&params)?;
    let enc = encoding(&params)?;
    let format = if enc == Encoding::Binary {
        CertificateFormat::Der
    } else {
        CertificateFormat::Pem
    };
    match target {
        Target::CaCert => {
            check_renewal(&state, &params)?;
            let install = params
                .get("Mode")
                .is_some_and(|m| m.eq_ignore_ascii_case("inst"));
            let content_type = if install {
                "application/x-x509-ca-cert"
            } else {
                "application/pkix-cert"
            };
            let bytes = format.render(state.authority.root().der(), &[])?;
            Ok(download(
                bytes,
                content_type,
                "attachment; filename=\"certnew.cer\"",
            ))
        }
        Target::Request(id) => match issued_certificate(&state, &caller, id).await? {
            Err(page) => Ok(page),
            Ok(row) => {
                let der = row.certificate.map(|c| c.der).unwrap_or_default();
                Ok(download(
                    format.render(&der, &[])?,
                    "application/pkix-cert",
                    "attachment; filename=\"certnew.cer\"",
                ))
            }
        },
    }
}

pub(crate) async fn certnew_p7b(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let params = Params::new(query);
    let target = target(&params)?;
    let enc = encoding(&params)?;
    let format = if enc == Encoding::Binary {
        CertificateFormat::P7b
    } else {
        CertificateFormat::P7bPem
    };
    let root = state.authority.root().der();
    let bytes = match target {
        Target::CaCert => {
            check_renewal(&state, &params)?;
            format.render(root, &[])?
        }
        Target::Request(id) => match issued_certificate(&state, &caller, id).await? {
            Err(page) => return Ok(page),
            Ok(row) => {
                let der = row.certificate.map(|c| c.der).unwrap_or_default();
                format.render(&der, &[root])?
            }
        },
    };
    Ok(download(
        bytes,
        "application/x-pkcs7-certificates",
        "attachment; filename=\"certnew.p7b\"",
    ))
}

pub(crate) async fn certcrl(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let params = Params::new(query);
    match params.get("Type") {
        None => {}
        Some(t) if t.eq_ignore_ascii_case("base") => {}
        Some(t) if t.eq_ignore_ascii_case("delta") => {
            return Err(WebError::NotFound(
                "This CA publishes no delta CRLs: fetch the base CRL (Type=base), which is always complete.".into(),
            ));
        }
        Some(other) => {
            return Err(WebError::BadRequest(format!(
                "Type={other} is not a CRL type: use Type=base."
            )));
        }
    }
    check_renewal(&state, &params)?;
    let enc = encoding(&params)?;
    let crl = state.authority.current_crl().await?;
    let bytes = match enc {
        Encoding::Binary => crl.der,
        Encoding::Base64 => crl.pem().into_bytes(),
    };
    Ok(download(
        bytes,
        "application/pkix-crl",
        "attachment; filename=\"certcrl.crl\"",
    ))
}

/// The CRL distribution point named in certificates (DER, as RFC 5280 §4.2.1.13 requires).
pub(crate) async fn crl_distribution_point(
    State(state): State<AppState>,
) -> Result<Response, WebError> {
    let crl = state.authority.current_crl().await?;
    Ok(download(
        crl.der,
        "application/pkix-crl",
        "attachment; filename=\"ca.crl\"",
    ))
}

/// The caIssuers location named in certificates: the root, DER (RFC 5280 §4.2.2.1).
pub(crate) async fn ca_issuers(State(state): State<AppState>) -> Response {
    download(
        state.authority.root().der().to_vec(),
        "application/pkix-cert",
        "attachment; filename=\"ca.cer\"",
    )
}

/// Reads the fields of a `certfnsh.asp` post: `Mode=newreq`, the `CertRequest`, and the
/// `CertAttrib` lines (with the form's `CertificateTemplate` choice added as one).
pub(crate) fn enrollment(
    params: &Params,
) -> ca_core::Result<(CertificateRequest, RequestAttributes)> {
    match params.get("Mode") {
        Some(mode) if mode.eq_ignore_ascii_case("newreq") => {}
        Some(mode) => {
            return Err(ca_core::Error::InvalidInput(format!(
                "Mode={mode} is not supported: use Mode=newreq."
            )));
        }
        None => {
            return Err(ca_core::Error::InvalidInput(
                "Mode is missing: use Mode=newreq.".into(),
            ));
        }
    }
    let text = params
        .get("CertRequest")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            ca_core::Error::InvalidInput(
                "CertRequest is empty: paste a base-64-encoded PKCS #10 request.".into(),
            )
        })?;
    let mut attributes = params.get("CertAttrib").unwrap_or_default().to_owned();
    if let Some(template) = params.get("CertificateTemplate")
        && !attributes
            .to_ascii_lowercase()
            .contains("certificatetemplate:")
    {
        attributes.push_str(&format!("\nCertificateTemplate:{template}"));
    }
    let request = CertificateRequest::parse(text.as_bytes())?;
    let attributes = RequestAttributes::parse(&attributes)?;
    Ok((request, attributes))
}

/// `POST certfnsh.asp`: a request submitted by a form or a script.
pub(crate) async fn certfnsh(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let user = caller.user()?.clone();
    let params = Params::new(form);
    let denied = |reason: String| {
        let mut response = render(&pages::Denied {
            chrome: caller.chrome(&state),
            reason,
        });
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    };
    let (request, attributes) = match enrollment(&params) {
        Ok(parsed) => parsed,
        Err(err) if err.is_refusal() => return Ok(denied(explain(&err))),
        Err(err) => return Err(err.into()),
    };
    match state
        .authority
        .submit(&request, &attributes, &user.name)
        .await
    {
        Ok(Submission::Issued(issued)) => Ok(render(&pages::Issued {
            chrome: caller.chrome(&state),
            id: issued.issuance.id,
        })),
        Ok(Submission::Pending(row)) => Ok(render(&pages::Pending {
            chrome: caller.chrome(&state),
            id: row.id,
        })),
        Err(err) if err.is_refusal() => Ok(denied(explain(&err))),
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
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: RequestId = id
        .parse()
        .map_err(|_| WebError::BadRequest(format!("'{id}' is not a request id.")))?;
    let row = match issued_certificate(&state, &caller, id).await? {
        Err(page) => return Ok(page),
        Ok(row) => row,
    };
    let Some(cert) = &row.certificate else {
        return Err(WebError::NotFound(
            "This request has no certificate.".into(),
        ));
    };
    Ok(render(&pages::CertPage {
        chrome: caller.chrome(&state),
        id: row.id,
        revoked: cert.revocation.is_some(),
        reasons: RevocationReason::ALL.iter().map(|r| r.name()).collect(),
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
        status: row.status.name(),
        not_before: display::time(cert.not_before),
        not_after: display::time(cert.not_after),
        key_algorithm: cert.key_algorithm.name().to_owned(),
        serial: cert.serial.hex(),
        sha256: cert.sha256.colons(),
        sha1: sha1_thumbprint(&cert.der),
    }))
}
