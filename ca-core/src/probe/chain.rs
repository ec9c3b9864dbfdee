//! The chain a server sends, followed as a client follows it: from the leaf, each certificate
//! to the one whose subject is its issuer and whose key verifies its signature, up to a root
//! the client trusts. Whether the chain is complete (a missing root is fine: clients hold
//! their own; a missing intermediate is not), in order (RFC 5246 §7.4.2), every signature
//! good, and where it ends.
//!
//! Signatures are checked with aws-lc-rs, RSA keys of 1024 bits and SHA-1 included, so that
//! a weak chain is followed to its end and then judged, rather than refused without a reason.

use std::borrow::Cow;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use super::{Finding, Report, Target, Topic, Trust, Verdict};
use crate::name::SubjectName;

/// What following the chain found.
pub(super) struct Analysis {
    pub findings: Vec<Finding>,
    /// The certificate of the leaf's issuer, when known (sent, or a trusted root).
    pub issuer: Option<Vec<u8>>,
    /// The certificates of the path the leaf was followed along, leaf first, without a root
    /// that is self-signed: those whose signatures clients judge.
    pub path: Vec<Vec<u8>>,
    /// The trusted root the path ends at.
    pub anchor: Option<Vec<u8>>,
}

/// Whether a signature verifies with a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SignatureCheck {
    Verified,
    Bad,
    /// An algorithm no current client verifies (MD5, MD2), or one aws-lc-rs lacks.
    Unsupported(String),
}

/// Follows `chain` (as sent, leaf first) to a root of `trust`.
pub(super) fn analyse(chain: &[Vec<u8>], trust: &Trust, now: OffsetDateTime) -> Analysis {
    let mut analysis = Analysis {
        findings: Vec::new(),
        issuer: None,
        path: Vec::new(),
        anchor: None,
    };
    let parsed: Vec<Option<X509Certificate<'_>>> = chain
        .iter()
        .map(|der| {
            x509_parser::parse_x509_certificate(der)
                .ok()
                .map(|(_, c)| c)
        })
        .collect();
    let Some(Some(leaf)) = parsed.first() else {
        analysis.findings.push(
            Finding::new(
                Topic::Chain,
                Verdict::Fail,
                "unreadable",
                "The server's certificate is not a readable X.509 certificate.".to_owned(),
            )
            .fix("Install a certificate in PEM or DER form as the server's documentation says."),
        );
        return analysis;
    };
    for (index, _) in parsed.iter().enumerate().filter(|(_, c)| c.is_none()) {
        analysis.findings.push(
            Finding::new(
                Topic::Chain,
                Verdict::Fail,
                "unreadable",
                format!(
                    "Certificate {} the server sends is not a readable X.509 certificate.",
                    index + 1
                ),
            )
            .fix("Rebuild the server's chain file from the issuer's certificates."),
        );
    }
    let roots = Roots::load(trust);
    let mut path = vec![0usize];
    let mut in_order = true;
    let end = loop {
        let Some(Some(current)) = path.last().map(|i| &parsed[*i]) else {
            break End::Missing;
        };
        let issuer_name = current.issuer().as_raw();
        if current.subject().as_raw() == issuer_name
            && verify_certificate(current, current.public_key()) == SignatureCheck::Verified
        {
            break End::SelfSigned;
        }
        if let Some(root) = roots.issuer_of(current) {
            break End::Root(root);
        }
        let candidates: Vec<usize> = parsed
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                !path.contains(i)
                    && c.as_ref()
                        .is_some_and(|c| c.subject().as_raw() == issuer_name)
            })
            .map(|(i, _)| i)
            .collect();
        let mut found = None;
        let mut refused = None;
        for i in candidates {
            let Some(candidate) = &parsed[i] else {
                continue;
            };
            match verify_certificate(current, candidate.public_key()) {
                SignatureCheck::Verified => {
                    found = Some(i);
                    break;
                }
                other => refused = Some((i, other)),
            }
        }
        match (found, refused) {
            (Some(i), _) => {
                if i != path.len() {
                    in_order = false;
                }
                path.push(i);
            }
            (None, Some((i, check))) => break End::BadSignature(i, check),
            (None, None) => break End::Missing,
        }
        if path.len() > chain.len() {
            break End::Missing;
        }
    };
    let last = path.last().copied().unwrap_or(0);
    let last_cert = parsed[last].as_ref().unwrap_or(leaf);
    let subject = |c: &X509Certificate<'_>| name_of(c);
    // The leaf's issuer, for revocation checks.
    analysis.issuer = match (path.get(1), &end) {
        (Some(i), _) => Some(chain[*i].clone()),
        (None, End::Root(root)) => Some(root.der.clone()),
        _ => None,
    };
    analysis.path = path
        .iter()
        .filter(|i| !(matches!(end, End::SelfSigned) && **i == last && path.len() > 1))
        .map(|i| chain[*i].clone())
        .collect();
    // A trusted root the server sends as well is part of the chain (harmless), not a stranger.
    let sent_root = match &end {
        End::Root(root) => (0..chain.len()).find(|i| {
            !path.contains(i)
                && (chain[*i] == root.der
                    || parsed[*i].as_ref().is_some_and(|c| {
                        c.subject().as_raw() == root.subject.as_slice()
                            && c.public_key().raw == root.key.as_slice()
                    }))
        }),
        _ => None,
    };
    if sent_root.is_some_and(|i| i != path.len()) {
        in_order = false;
    }
    let extra: Vec<String> = (0..chain.len())
        .filter(|i| !path.contains(i) && Some(*i) != sent_root)
        .filter(|i| !matches!(end, End::BadSignature(bad, _) if bad == *i))
        .map(|i| {
            parsed[i]
                .as_ref()
                .map(name_of)
                .unwrap_or_else(|| format!("certificate {}", i + 1))
        })
        .collect();

    // What was sent, and whether it is whole.
    let sent: Vec<String> = path
        .iter()
        .chain(sent_root.iter())
        .map(|i| parsed[*i].as_ref().map(name_of).unwrap_or_default())
        .collect();
    let root_sent = (matches!(end, End::SelfSigned) && path.len() > 1) || sent_root.is_some();
    match &end {
        End::Root(_) | End::SelfSigned => analysis.findings.push(Finding::new(
            Topic::Chain,
            Verdict::Ok,
            "chain-complete",
            format!(
                "The server sends {} certificate{}: {}{}; every signature verifies.",
                chain.len(),
                if chain.len() == 1 { "" } else { "s" },
                sent.join(" → "),
                if root_sent {
                    " (the root too, which clients ignore: they use their own copy)"
                } else {
                    ""
                }
            ),
        )),
        End::Missing => analysis.findings.push(
            Finding::new(
                Topic::Chain,
                Verdict::Fail,
                "chain-incomplete",
                format!(
                    "The chain stops at {}: the server does not send the certificate of its issuer {}, and that issuer is not {} {}.",
                    subject(last_cert),
                    quoted(last_cert.issuer().to_string()),
                    trust.described_as,
                    if trust.system && !trust.roots.is_empty() { "nor a root of this machine's trust store" } else { "" }
                ).replace(" .", "."),
            )
            .fix(format!(
                "If {} is an intermediate CA, add its certificate to the server's chain file, after the leaf: clients that do not fetch it themselves (Android, Firefox, curl, Java) refuse the chain otherwise.",
                quoted(last_cert.issuer().to_string())
            )),
        ),
        End::BadSignature(i, check) => {
            let by = parsed[*i].as_ref().map(name_of).unwrap_or_default();
            let fact = match check {
                SignatureCheck::Unsupported(alg) => format!(
                    "The signature on {} uses {alg}, which no current client verifies, so the chain ends there.",
                    subject(last_cert)
                ),
                _ => format!(
                    "The signature on {} does not verify with the key of {by}, the certificate sent as its issuer: it is another certificate of that name (an older CA certificate, or another CA's).",
                    subject(last_cert)
                ),
            };
            analysis.findings.push(
                Finding::new(Topic::Chain, Verdict::Fail, "chain-signature", fact)
                    .fix("Replace the CA certificate in the server's chain file by the one that issued the leaf."),
            );
        }
    }
    if !in_order {
        analysis.findings.push(
            Finding::new(
                Topic::Chain,
                Verdict::Warn,
                "chain-order",
                "The server sends the chain out of order: each certificate should be followed by the one that issued it (RFC 5246 §7.4.2); older clients refuse another order.".to_owned(),
            )
            .fix("Put the certificates in the server's chain file in order: leaf, then its issuer, then that one's."),
        );
    }
    if !extra.is_empty() {
        analysis.findings.push(
            Finding::new(
                Topic::Chain,
                Verdict::Warn,
                "chain-extra",
                format!(
                    "The server also sends {} that {} no part of the chain: {}.",
                    if extra.len() == 1 { "a certificate" } else { "certificates" },
                    if extra.len() == 1 { "is" } else { "are" },
                    extra.join(", ")
                ),
            )
            .fix("Remove them from the server's chain file: some clients stop at the first certificate that does not fit."),
        );
    }

    // Where the chain ends.
    let issuer_text = quoted(last_cert.issuer().to_string());
    match end {
        End::Root(root) => {
            analysis.findings.push(Finding::new(
                Topic::Trust,
                Verdict::Ok,
                "trusted",
                match root.source {
                    Source::Given => format!("The chain ends at {}.", trust.described_as),
                    Source::System if trust.this_ca => format!(
                        "The chain ends at {}, a root of this machine's trust store (a public CA), not at {}: clients that trust public CAs connect.",
                        root.name, trust.described_as
                    ),
                    Source::System => format!(
                        "The chain ends at {}, a root of this machine's trust store.",
                        root.name
                    ),
                },
            ));
            let not_after = root.not_after;
            if not_after.is_some_and(|at| at < now) {
                analysis.findings.push(
                    Finding::new(
                        Topic::Trust,
                        Verdict::Fail,
                        "root-expired",
                        format!("The root {} has expired, so nothing under it is trusted.", root.name),
                    )
                    .fix("Make a new root, install it on every client, and reissue the server's certificate under it."),
                );
            }
            analysis.anchor = Some(root.der);
        }
        End::SelfSigned if path.len() == 1 && roots.contains(&chain[0]) => {
            analysis.findings.push(Finding::new(
                Topic::Trust,
                Verdict::Ok,
                "trusted",
                format!(
                    "The certificate is self-signed, and is itself {}.",
                    trust.described_as
                ),
            ));
            analysis.anchor = Some(chain[0].clone());
        }
        End::SelfSigned if path.len() == 1 => analysis.findings.push(
            Finding::new(
                Topic::Trust,
                Verdict::Fail,
                "self-signed",
                format!(
                    "The certificate is self-signed ({}): no client trusts it unless it is installed on that client.",
                    subject(leaf)
                ),
            )
            .fix(format!("Install a certificate issued by {} instead.", issuer_of_trust(trust))),
        ),
        End::SelfSigned => {
            if roots.contains(&chain[last]) {
                analysis.findings.push(Finding::new(
                    Topic::Trust,
                    Verdict::Ok,
                    "trusted",
                    format!("The chain ends at {}.", trust.described_as),
                ));
                analysis.anchor = Some(chain[last].clone());
            } else {
                analysis.findings.push(
                    Finding::new(
                        Topic::Trust,
                        Verdict::Fail,
                        "untrusted-root",
                        format!(
                            "The chain ends at the root {}, which is not {}{}: clients that do not hold that root refuse it.",
                            subject(last_cert),
                            trust.described_as,
                            if trust.system && !trust.roots.is_empty() { " and not in this machine's trust store" } else { "" }
                        ),
                    )
                    .fix(format!("Install a certificate issued by {} instead, or install that root on every client.", issuer_of_trust(trust))),
                );
            }
        }
        End::Missing | End::BadSignature(..) => analysis.findings.push(
            Finding::new(
                Topic::Trust,
                Verdict::Fail,
                "unknown-issuer",
                format!(
                    "The chain does not lead to {}{}: the last certificate followed was issued by {issuer_text}.",
                    trust.described_as,
                    if trust.system { " nor to a root this machine trusts" } else { "" }
                ),
            )
            .fix(format!(
                "Install a certificate issued by {}, or install the root above {issuer_text} on every client.",
                issuer_of_trust(trust)
            )),
        ),
    }
    analysis
}

/// A strict client's verdict (rustls-webpki, as rustls-based programs verify), reported only
/// when it refuses a chain that no other finding fails: a rule the analysis does not judge
/// (name constraints, an unknown critical extension, path length).
pub(super) fn strict_client(
    chain: &[Vec<u8>],
    target: &Target,
    analysis: &Analysis,
    report: &Report,
) -> Option<Finding> {
    if report.findings.iter().any(|f| f.verdict == Verdict::Fail) {
        return None;
    }
    let anchor_der = CertificateDer::from(analysis.anchor.as_deref()?);
    let anchor = webpki::anchor_from_trusted_cert(&anchor_der)
        .ok()?
        .to_owned();
    let leaf = CertificateDer::from(chain.first()?.as_slice());
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let name = match &target.host {
        SubjectName::Dns(name) => ServerName::try_from(name.as_str().to_owned()).ok()?,
        SubjectName::Ip(ip) => ServerName::IpAddress((*ip).into()),
    };
    let refusal = webpki::EndEntityCert::try_from(&leaf)
        .and_then(|cert| {
            cert.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &[anchor],
                &intermediates,
                UnixTime::now(),
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )?;
            cert.verify_is_valid_for_subject_name(&name)
        })
        .err()?;
    Some(
        Finding::new(
            Topic::Chain,
            Verdict::Fail,
            "strict-client",
            format!(
                "A strict client (rustls-webpki, which rustls-based programs use) refuses the chain: {refusal:?}."
            ),
        )
        .fix("Compare the certificate with what clients require (name constraints of the root, critical extensions); reissuing it from this CA gives one that passes."),
    )
}

/// Checks the signature of `cert` with `key`.
pub(super) fn verify_certificate(
    cert: &X509Certificate<'_>,
    key: &SubjectPublicKeyInfo<'_>,
) -> SignatureCheck {
    verify_signed(
        key,
        &cert.signature_algorithm,
        &cert.signature_value.data,
        cert.tbs_certificate.as_ref(),
    )
}

/// Checks a signature of `message` made with `algorithm` by the holder of `key`: RSA with
/// PKCS#1 v1.5 from 1024 bits up (SHA-1 included, through aws-lc-rs's legacy algorithms), and
/// otherwise what x509-parser verifies (ECDSA, RSA-PSS, Ed25519).
pub(super) fn verify_signed(
    key: &SubjectPublicKeyInfo<'_>,
    algorithm: &AlgorithmIdentifier<'_>,
    signature: &[u8],
    message: &[u8],
) -> SignatureCheck {
    use aws_lc_rs::signature as sig;
    let oid = algorithm.algorithm.to_id_string();
    let legacy: Option<&'static dyn sig::VerificationAlgorithm> = match oid.as_str() {
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => {
            Some(&sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY)
        }
        "1.2.840.113549.1.1.11" => Some(&sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
        "1.2.840.113549.1.1.12" => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
        "1.2.840.113549.1.1.13" => Some(&sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
        "1.2.840.113549.1.1.4" | "1.2.840.113549.1.1.2" => {
            return SignatureCheck::Unsupported(algorithm_name(algorithm));
        }
        _ => None,
    };
    if let Some(alg) = legacy {
        let public = sig::UnparsedPublicKey::new(alg, &key.subject_public_key.data);
        return if public.verify(message, signature).is_ok() {
            SignatureCheck::Verified
        } else {
            SignatureCheck::Bad
        };
    }
    let bits = x509_parser::der_parser::asn1_rs::BitString::new(0, signature);
    match x509_parser::verify::verify_signature(key, algorithm, &bits, message) {
        Ok(()) => SignatureCheck::Verified,
        Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => {
            SignatureCheck::Unsupported(algorithm_name(algorithm))
        }
        Err(_) => SignatureCheck::Bad,
    }
}

/// The name of a signature algorithm as OpenSSL prints it.
pub(super) fn algorithm_name(algorithm: &AlgorithmIdentifier<'_>) -> String {
    let oid = algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "1.3.101.112" => "ED25519",
        _ => return oid,
    }
    .to_owned()
}

/// A certificate as sentences name it: its subject's CN in quotes, or its whole subject.
pub(super) fn name_of(cert: &X509Certificate<'_>) -> String {
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    quoted(cn.unwrap_or_else(|| cert.subject().to_string()))
}

fn quoted(text: String) -> String {
    let shown: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("'{shown}'")
}

/// Who should have issued the certificate, for fixes.
fn issuer_of_trust(trust: &Trust) -> Cow<'_, str> {
    if trust.roots.is_empty() {
        Cow::Borrowed("a CA your clients trust")
    } else {
        Cow::Owned(format!("the CA of {}", trust.described_as))
    }
}

/// How the chain ends.
enum End {
    /// At a trusted root the server did not send (as it should be).
    Root(Root),
    /// At a self-signed certificate the server sent.
    SelfSigned,
    /// At a certificate whose issuer is neither sent nor trusted.
    Missing,
    /// At a certificate whose issuer (sent, by name) does not verify its signature.
    BadSignature(usize, SignatureCheck),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Given,
    System,
}

/// A trusted root, as found.
struct Root {
    der: Vec<u8>,
    /// Its subject and subjectPublicKeyInfo (DER), to recognise another copy of it.
    subject: Vec<u8>,
    key: Vec<u8>,
    name: String,
    not_after: Option<OffsetDateTime>,
    source: Source,
}

/// The roots a chain may end at: those of the trust, then this machine's.
struct Roots {
    roots: Vec<(Vec<u8>, Source)>,
}

impl Roots {
    fn load(trust: &Trust) -> Roots {
        let mut roots: Vec<(Vec<u8>, Source)> = trust
            .roots
            .iter()
            .map(|der| (der.clone(), Source::Given))
            .collect();
        if trust.system {
            let found = rustls_native_certs::load_native_certs();
            roots.extend(
                found
                    .certs
                    .into_iter()
                    .map(|der| (der.as_ref().to_vec(), Source::System)),
            );
        }
        Roots { roots }
    }

    fn contains(&self, der: &[u8]) -> bool {
        self.roots.iter().any(|(root, _)| root == der)
    }

    /// The root that issued `cert`: its subject is the issuer's name, and its key verifies
    /// the signature.
    fn issuer_of(&self, cert: &X509Certificate<'_>) -> Option<Root> {
        self.roots.iter().find_map(|(der, source)| {
            let (_, root) = x509_parser::parse_x509_certificate(der).ok()?;
            (root.subject().as_raw() == cert.issuer().as_raw()
                && verify_certificate(cert, root.public_key()) == SignatureCheck::Verified)
                .then(|| Root {
                    subject: root.subject().as_raw().to_vec(),
                    key: root.public_key().raw.to_vec(),
                    der: der.clone(),
                    name: name_of(&root),
                    not_after: Some(root.validity().not_after.to_datetime()),
                    source: *source,
                })
        })
    }
}
