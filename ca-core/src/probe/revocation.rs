//! Whether the certificate was revoked, asked where it tells clients to ask: the CRL
//! distribution points (RFC 5280 §4.2.1.13) and the OCSP responders of its AIA (RFC 6960),
//! each fetched over HTTP within the check's budget and judged: reachable, signed by the
//! issuer (or its delegated responder), current, and saying "good". An OCSP answer the server
//! staples is judged the same way.

use std::time::Duration;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::chain::{SignatureCheck, verify_signed};
use super::{Budget, Finding, Topic, Verdict};
use crate::certificate::RevocationPointers;
use crate::ocsp::{self, CertStatus};

/// The most bytes of a CRL read (large public CRLs run to a few MiB).
const MAX_CRL: usize = 16 * 1024 * 1024;
/// The most bytes of an OCSP response read.
const MAX_OCSP: usize = 64 * 1024;
/// The most URLs of each kind asked.
const MAX_URLS: usize = 4;
/// id-kp-OCSPSigning (RFC 5280 §4.2.1.12).
const OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

/// The findings on the revocation of `leaf`, issued by `issuer` when known. What the leaf
/// points to is fetched only when its chain is `trusted`: a certificate anyone can make
/// would otherwise choose the addresses this machine asks (its own services, a cloud's
/// metadata address).
pub(super) async fn judge(
    leaf: &[u8],
    issuer: Option<&[u8]>,
    trusted: bool,
    stapled: Option<&[u8]>,
    budget: &Budget,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return Vec::new();
    };
    let issuer = issuer.and_then(|der| {
        x509_parser::parse_x509_certificate(der)
            .ok()
            .map(|(_, c)| c)
    });
    let pointers = RevocationPointers::of(leaf);
    let mut out = Vec::new();
    if let Some(stapled) = stapled {
        match &issuer {
            Some(issuer) => {
                let (finding, _) = ocsp_answer("the OCSP answer the server staples", stapled, &cert, issuer, now);
                out.push(finding);
            }
            None => out.push(Finding::new(
                Topic::Revocation,
                Verdict::Note,
                "stapled",
                "The server staples an OCSP answer; it was not judged, since the issuer's certificate is unknown.".to_owned(),
            )),
        }
    }
    if pointers.is_empty() {
        out.push(Finding::new(
            Topic::Revocation,
            Verdict::Note,
            "no-revocation-info",
            "The certificate names no CRL and no OCSP responder, so clients cannot check whether it was revoked.".to_owned(),
        ));
        return out;
    }
    if !trusted {
        out.push(Finding::new(
            Topic::Revocation,
            Verdict::Note,
            "revocation-not-asked",
            "The CRL and OCSP responder the certificate names were not asked: its chain leads to no trusted root, and what an untrusted certificate names is not fetched from this machine.".to_owned(),
        ));
        return out;
    }
    let client = match http_client(budget) {
        Some(client) => client,
        None => {
            out.push(super::connect::out_of_time());
            return out;
        }
    };
    let mut asked = 0usize;
    let mut answered = 0usize;
    for url in pointers.crl.iter().take(MAX_URLS) {
        asked += 1;
        let (finding, answer) = crl(&client, url, &cert, issuer.as_ref(), budget, now).await;
        answered += usize::from(answer);
        out.push(finding);
    }
    for url in pointers.ocsp.iter().take(MAX_URLS) {
        let Some(issuer) = &issuer else {
            out.push(Finding::new(
                Topic::Revocation,
                Verdict::Note,
                "ocsp-not-asked",
                format!("The OCSP responder {url} was not asked: the issuer's certificate, which the question names, is unknown."),
            ));
            continue;
        };
        asked += 1;
        let (finding, answer) = ocsp_fetch(&client, url, &cert, issuer, budget, now).await;
        answered += usize::from(answer);
        out.push(finding);
    }
    if asked > 0 && answered == 0 {
        let urls: Vec<&str> = pointers
            .crl
            .iter()
            .chain(&pointers.ocsp)
            .map(String::as_str)
            .collect();
        out.push(
            Finding::new(
                Topic::Revocation,
                Verdict::Fail,
                "revocation-unreachable",
                "No CRL or OCSP responder the certificate names gave an answer: Windows programs that insist on a revocation check (Outlook Anywhere among them) refuse the connection.".to_owned(),
            )
            .fix(format!(
                "Make {} reachable from where clients are, with current answers.",
                urls.join(" and ")
            )),
        );
    }
    out
}

fn http_client(budget: &Budget) -> Option<reqwest::Client> {
    let step = budget.step()?;
    reqwest::Client::builder()
        .timeout(step)
        .connect_timeout(step)
        // A redirect to the same host and port only (a moved path), or from http:// to
        // https:// on their default ports: never to an address the certificate did not name.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let url = attempt.url();
            let same_place = attempt.previous().first().is_some_and(|first| {
                first.host_str() == url.host_str()
                    && (first.port_or_known_default() == url.port_or_known_default()
                        || (first.scheme() == "http"
                            && url.scheme() == "https"
                            && first.port().is_none()
                            && url.port().is_none()))
            });
            if attempt.previous().len() > 3 || !same_place {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .no_proxy()
        .user_agent("ca check")
        .build()
        .ok()
}

/// Fetches `url` (GET, or POST with `body`), reading at most `limit` bytes.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    body: Option<Vec<u8>>,
    limit: usize,
    budget: &Budget,
) -> Result<Vec<u8>, String> {
    let step = budget.step().ok_or("the check ran out of time")?;
    let request = match body {
        Some(body) => client
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .body(body),
        None => client.get(url),
    };
    let work = async {
        let mut response = request.send().await.map_err(|err| error_chain(&err))?;
        if !response.status().is_success() {
            return Err(format!("it answered HTTP {}", response.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| error_chain(&err))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > limit {
                return Err(format!("its answer is larger than {} KiB", limit / 1024));
            }
        }
        Ok(bytes)
    };
    tokio::time::timeout(step + Duration::from_millis(100), work)
        .await
        .map_err(|_| format!("no answer within {} s", step.as_secs()))?
}

/// The CRL at `url`, judged for `cert`; the flag says whether it gave an answer.
async fn crl(
    client: &reqwest::Client,
    url: &str,
    cert: &X509Certificate<'_>,
    issuer: Option<&X509Certificate<'_>>,
    budget: &Budget,
    now: OffsetDateTime,
) -> (Finding, bool) {
    let unusable = |why: String| {
        (
            Finding::new(
                Topic::Revocation,
                Verdict::Warn,
                "crl-unusable",
                format!("The CRL {url} cannot be used: {why}."),
            )
            .fix(format!(
                "Make {url} reachable from clients, serving the issuer's current CRL."
            )),
            false,
        )
    };
    let bytes = match fetch(client, url, None, MAX_CRL, budget).await {
        Ok(bytes) => bytes,
        Err(why) => return unusable(why),
    };
    let der = match x509_parser::pem::parse_x509_pem(&bytes) {
        Ok((_, pem)) if pem.label.contains("CRL") => pem.contents,
        _ => bytes,
    };
    let Ok((_, list)) = x509_parser::parse_x509_crl(&der) else {
        return unusable("it is not a CRL".to_owned());
    };
    if list.issuer().as_raw() != cert.issuer().as_raw() {
        return unusable(format!(
            "it is the CRL of {}, not of the certificate's issuer",
            list.issuer()
        ));
    }
    if let Some(issuer) = issuer {
        let check = verify_signed(
            issuer.public_key(),
            &list.signature_algorithm,
            &list.signature_value.data,
            list.tbs_cert_list.as_ref(),
        );
        if check != SignatureCheck::Verified {
            return unusable("its signature does not verify with the issuer's key".to_owned());
        }
    }
    let next = list.next_update().map(|t| t.to_datetime());
    if let Some(entry) = list
        .iter_revoked_certificates()
        .find(|entry| entry.raw_serial() == cert.raw_serial())
    {
        let reason = entry
            .reason_code()
            .map(|(_, code)| format!(" ({})", reason_name(code.0)))
            .unwrap_or_default();
        return (
            Finding::new(
                Topic::Revocation,
                Verdict::Fail,
                "revoked",
                format!(
                    "The CRL {url} lists the certificate as revoked on {}{reason}: clients that check refuse it.",
                    crate::display::time(entry.revocation_date.to_datetime())
                ),
            )
            .fix("Install a new certificate: a revocation cannot be undone."),
            true,
        );
    }
    match next {
        Some(next) if next < now => (
            Finding::new(
                Topic::Revocation,
                Verdict::Warn,
                "crl-expired",
                format!(
                    "The CRL {url} does not list the certificate, but it is out of date (next update was {}): clients treat the certificate's status as unknown.",
                    crate::display::time(next)
                ),
            )
            .fix("Have the CA publish a current CRL there."),
            false,
        ),
        _ => (
            Finding::new(
                Topic::Revocation,
                Verdict::Ok,
                "crl-good",
                format!(
                    "The CRL {url} does not list the certificate{}{}.",
                    if issuer.is_some() { " and is signed by its issuer" } else { "" },
                    next.map(|n| format!("; next update {}", crate::display::time(n)))
                        .unwrap_or_default()
                ),
            ),
            true,
        ),
    }
}

/// Asks the OCSP responder at `url` about `cert`; the flag says whether it gave an answer.
async fn ocsp_fetch(
    client: &reqwest::Client,
    url: &str,
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    budget: &Budget,
    now: OffsetDateTime,
) -> (Finding, bool) {
    let what = format!("the OCSP responder {url}");
    let request = match ocsp::client_request(
        issuer.subject().as_raw(),
        &issuer.public_key().subject_public_key.data,
        cert.raw_serial(),
    ) {
        Ok(request) => request,
        Err(err) => return (unanswered(&what, &err.to_string()), false),
    };
    match fetch(client, url, Some(request), MAX_OCSP, budget).await {
        Ok(bytes) => ocsp_answer(&what, &bytes, cert, issuer, now),
        Err(why) => (unanswered(&what, &why), false),
    }
}

fn unanswered(what: &str, why: &str) -> Finding {
    Finding::new(
        Topic::Revocation,
        Verdict::Warn,
        "ocsp-unusable",
        format!("{} gave no usable answer: {why}.", capitalised(what)),
    )
    .fix("Make the responder reachable from clients; it must answer for this issuer.")
}

/// An OCSP response judged for `cert`: signed by the issuer or by a responder certificate
/// the issuer signed for OCSP (RFC 6960 §4.2.2.2), about this certificate, current.
fn ocsp_answer(
    what: &str,
    der: &[u8],
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    now: OffsetDateTime,
) -> (Finding, bool) {
    let read = match ocsp::read_response(der) {
        Ok(read) => read,
        Err(why) => return (unanswered(what, why), false),
    };
    let Some(basic) = read.basic else {
        return (
            unanswered(what, &format!("it answered {}", read.status)),
            false,
        );
    };
    let Ok((_, algorithm)) =
        <x509_parser::x509::AlgorithmIdentifier<'_> as x509_parser::prelude::FromDer<
            '_,
            x509_parser::error::X509Error,
        >>::from_der(&basic.signature_algorithm)
    else {
        return (
            unanswered(what, "its signature algorithm does not parse"),
            false,
        );
    };
    let signed_by_issuer = verify_signed(
        issuer.public_key(),
        &algorithm,
        &basic.signature,
        &basic.signed_data,
    ) == SignatureCheck::Verified;
    let signed_by_responder = !signed_by_issuer
        && basic.certs.iter().any(|der| {
            x509_parser::parse_x509_certificate(der).is_ok_and(|(_, responder)| {
                let delegated = responder
                    .extended_key_usage()
                    .ok()
                    .flatten()
                    .is_some_and(|eku| {
                        eku.value.ocsp_signing
                            || eku
                                .value
                                .other
                                .iter()
                                .any(|oid| oid.to_id_string() == OCSP_SIGNING)
                    });
                delegated
                    && responder.issuer().as_raw() == issuer.subject().as_raw()
                    && super::chain::verify_certificate(&responder, issuer.public_key())
                        == SignatureCheck::Verified
                    && verify_signed(
                        responder.public_key(),
                        &algorithm,
                        &basic.signature,
                        &basic.signed_data,
                    ) == SignatureCheck::Verified
            })
        });
    if !signed_by_issuer && !signed_by_responder {
        return (
            Finding::new(
                Topic::Revocation,
                Verdict::Warn,
                "ocsp-unusable",
                format!(
                    "{} answered, but its answer is signed neither by the issuer nor by a responder certificate the issuer made for OCSP: clients ignore it.",
                    capitalised(what)
                ),
            )
            .fix("Configure the responder with a signing certificate from the issuer."),
            false,
        );
    }
    let subject = issuer.subject().as_raw();
    let key = &issuer.public_key().subject_public_key.data;
    let Some(single) = basic
        .singles
        .iter()
        .find(|single| single.is_about(subject, key, cert.raw_serial()))
    else {
        return (
            unanswered(what, "its answer is about another certificate"),
            false,
        );
    };
    if single.next_update.is_some_and(|next| next < now) {
        return (
            Finding::new(
                Topic::Revocation,
                Verdict::Warn,
                "ocsp-stale",
                format!(
                    "{} answered with an out-of-date answer (valid until {}): clients treat the certificate's status as unknown.",
                    capitalised(what),
                    crate::display::time(single.next_update.unwrap_or(now))
                ),
            )
            .fix("Have the responder sign current answers."),
            false,
        );
    }
    match &single.status {
        CertStatus::Good => (
            Finding::new(
                Topic::Revocation,
                Verdict::Ok,
                "ocsp-good",
                format!(
                    "{} says good{}.",
                    capitalised(what),
                    single
                        .next_update
                        .map(|n| format!(", valid until {}", crate::display::time(n)))
                        .unwrap_or_default()
                ),
            ),
            true,
        ),
        CertStatus::Revoked { at, reason } => (
            Finding::new(
                Topic::Revocation,
                Verdict::Fail,
                "revoked",
                format!(
                    "{} says revoked on {} ({reason}): clients that check refuse it.",
                    capitalised(what),
                    crate::display::time(*at)
                ),
            )
            .fix("Install a new certificate: a revocation cannot be undone."),
            true,
        ),
        CertStatus::Unknown => (
            Finding::new(
                Topic::Revocation,
                Verdict::Warn,
                "ocsp-unknown",
                format!(
                    "{} does not know the certificate (unknown): Windows and Firefox treat that as a failed check.",
                    capitalised(what)
                ),
            )
            .fix("Check that the responder serves the CA that issued this certificate."),
            true,
        ),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A CRLReason's RFC 5280 name (§5.3.1), as OpenSSL and OCSP answers write it; a code RFC
/// 5280 does not name, by its number.
fn reason_name(code: u8) -> String {
    const NAMES: [&str; 11] = [
        "unspecified",
        "keyCompromise",
        "cACompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
        "certificateHold",
        "",
        "removeFromCRL",
        "privilegeWithdrawn",
        "aACompromise",
    ];
    match NAMES.get(usize::from(code)) {
        Some(name) if !name.is_empty() => (*name).to_owned(),
        _ => format!("reason code {code}"),
    }
}
