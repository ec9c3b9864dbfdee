//! The handshake of a modern client (rustls: TLS 1.3 and 1.2, AEAD suites with forward
//! secrecy) with a verifier that accepts every chain and records it, with the OCSP answer the
//! server staples and whether the server proved it holds the certificate's key. The analysis
//! judges the chain afterwards; nothing is sent over the connection.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use super::hello::{self, Accepted};
use super::{Budget, Finding, Target, TlsFacts, Topic, Verdict};

/// What a completed handshake settled on, and what the server sent.
pub(super) struct Handshake {
    /// The version, as written on the wire (0x0304 for TLS 1.3).
    pub version: u16,
    pub cipher_suite: String,
    pub chain: Vec<Vec<u8>>,
    pub stapled: Option<Vec<u8>>,
    pub proof: Proof,
    /// Whether the server asked for a client certificate (the check sends none).
    pub client_certificate_asked: bool,
}

/// Whether the server's handshake signature verifies with the key of the certificate it sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Proof {
    Verified,
    Failed,
    /// The key or scheme is one aws-lc-rs does not verify (an RSA key under 2048 bits with
    /// RSA-PSS): the key finding says why clients refuse it anyway.
    Unverifiable,
}

/// Why the handshake did not complete.
pub(super) enum Failure {
    /// The time ran out.
    TimedOut(u64),
    /// The server answered with something else than TLS.
    NotTls(String),
    /// The server refused: no version or cipher suite in common, or an alert.
    Refused(String),
    /// The connection broke.
    Broken(String),
    /// The server asked for a client certificate and ended the handshake without one.
    ClientCertificateRequired(String),
    /// A handshake message of the server's is over the 64 KiB the check (rustls) reads.
    TooLarge,
}

impl Failure {
    /// The finding when no handshake of any kind worked.
    pub(super) fn finding(&self, target: &Target) -> Finding {
        let (code, fact, fix) = match self {
            Failure::TimedOut(seconds) => (
                "no-answer",
                format!("The server accepted the connection but did not complete a TLS handshake within {seconds} s."),
                "Check that this port serves TLS, and that the server is not overloaded.".to_owned(),
            ),
            Failure::NotTls(why) => (
                "not-tls",
                format!("The server does not answer in TLS on this port: {why}."),
                match target.protocol.starttls() {
                    None => "If it expects a plain-text start (SMTP on 25 or 587, IMAP on 143, POP3 on 110), check it as smtp://, imap:// or pop3://; otherwise check the port.".to_owned(),
                    Some(_) => "Check the port, and the server's TLS configuration.".to_owned(),
                },
            ),
            Failure::Refused(why) => (
                "handshake-refused",
                format!("No TLS handshake succeeded with TLS 1.0, 1.1, 1.2 or 1.3: {why}."),
                "Configure the server with a certificate and TLS 1.2 or 1.3.".to_owned(),
            ),
            Failure::Broken(why) => (
                "handshake-broken",
                format!("The connection broke during the TLS handshake: {why}."),
                "Check the server's log, and any firewall or proxy in between.".to_owned(),
            ),
            Failure::ClientCertificateRequired(_) => return self.finding_of_required_certificate(),
            Failure::TooLarge => return Failure::finding_of_too_large(),
        };
        Finding::new(Topic::Tls, Verdict::Fail, code, fact).fix(fix)
    }

    fn finding_of_required_certificate(&self) -> Finding {
        Finding::new(
            Topic::Tls,
            Verdict::Fail,
            "client-certificate-required",
            format!(
                "The server requires a client certificate and ended the handshake without one ({}): clients without one (browsers, Outlook, phones) cannot connect.",
                self.reason()
            ),
        )
        .fix(CLIENT_CERTIFICATE_FIX)
    }

    fn finding_of_too_large() -> Finding {
        Finding::new(
            Topic::Tls,
            Verdict::Fail,
            "handshake-too-large",
            "The check's handshake failed: the server's certificate message is larger than 64 KiB (its chain, or the certificate's list of names, is too long). Clients with that limit (rustls, as this check uses) refuse it; OpenSSL's stops at 100 KiB; every client downloads it on every new connection.".to_owned(),
        )
        .fix("Send the leaf certificate and its intermediates only (not the root, nor unrelated certificates), and split a long list of names over several certificates.")
    }

    fn reason(&self) -> String {
        match self {
            Failure::TooLarge => "a handshake message over 64 KiB".to_owned(),
            Failure::TimedOut(seconds) => format!("no answer within {seconds} s"),
            Failure::NotTls(why)
            | Failure::Refused(why)
            | Failure::Broken(why)
            | Failure::ClientCertificateRequired(why) => why.clone(),
        }
    }
}

/// What to do about a server that asks for client certificates.
const CLIENT_CERTIFICATE_FIX: &str = "If the server is for everyone, make the client certificate optional or turn the request off (nginx ssl_verify_client off, IIS \"Client certificates: Ignore\"); if it is meant, install a client certificate on each client.";

/// Shakes hands on `stream` as a current client does, taking whatever chain is sent.
pub(super) async fn shake(
    stream: TcpStream,
    target: &Target,
    budget: &Budget,
) -> Result<Handshake, Failure> {
    let recorder = Arc::new(Recorder::default());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Failure::Refused(err.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_client_cert_resolver(recorder.clone());
    let server_name = match target.sni() {
        Some(name) => ServerName::try_from(name).ok(),
        None => None,
    }
    .or_else(|| {
        stream
            .peer_addr()
            .ok()
            .map(|a| ServerName::IpAddress(a.ip().into()))
    })
    .ok_or_else(|| Failure::Broken("the connection has no peer".to_owned()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let step = budget.step().ok_or(Failure::TimedOut(0))?;
    let tls = tokio::time::timeout(step, connector.connect(server_name, stream))
        .await
        .map_err(|_| Failure::TimedOut(step.as_secs()))?
        .map_err(|err| {
            // Asked for a client certificate, then refused: that request is the reason.
            if recorder.client_certificate_asked() {
                Failure::ClientCertificateRequired(classify(err).reason())
            } else {
                classify(err)
            }
        })?;
    let mut tls = tls;
    let tls13 = tls.get_ref().1.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
    if tls13 && recorder.client_certificate_asked() {
        // Over TLS 1.3 a server that requires the certificate refuses only after the client's
        // Finished, with an alert (certificate_required) read after the handshake: waited for
        // briefly. A server that takes the client without one waits for its request instead.
        use tokio::io::AsyncReadExt;
        let mut first = [0u8; 1];
        let wait = step.min(std::time::Duration::from_secs(1));
        match tokio::time::timeout(wait, tls.read(&mut first)).await {
            Ok(Err(err)) => {
                let alert = err
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>())
                    .and_then(|e| match e {
                        rustls::Error::AlertReceived(alert) => Some(format!("{alert:?}")),
                        _ => None,
                    });
                return Err(Failure::ClientCertificateRequired(match alert {
                    Some(alert) => format!("the alert {alert}, after the handshake"),
                    None => classify(err).reason(),
                }));
            }
            Ok(Ok(0)) => {
                return Err(Failure::ClientCertificateRequired(
                    "the connection closed after the handshake".to_owned(),
                ));
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    let (_, session) = tls.get_ref();
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => hello::TLS13,
        _ => hello::TLS12,
    };
    let cipher_suite = session
        .negotiated_cipher_suite()
        .map(|suite| hello::suite_name(u16::from(suite.suite())))
        .unwrap_or_default();
    let recorded = recorder.take();
    let chain = match session.peer_certificates() {
        Some(chain) if !chain.is_empty() => chain.iter().map(|c| c.as_ref().to_vec()).collect(),
        _ => recorded.chain,
    };
    Ok(Handshake {
        version,
        cipher_suite,
        chain,
        stapled: recorded.stapled,
        proof: recorded.proof.unwrap_or(Proof::Unverifiable),
        client_certificate_asked: recorded.client_certificate_asked,
    })
}

/// The findings of a completed handshake: versions, the suite, the key's proof.
pub(super) fn findings(handshake: &Handshake, facts: &TlsFacts, target: &Target) -> Vec<Finding> {
    let mut out = vec![Finding::new(
        Topic::Tls,
        Verdict::Ok,
        "negotiated",
        format!(
            "A current client gets {} with {}.",
            facts.version, facts.cipher_suite
        ),
    )];
    out.extend(version_findings(facts));
    if handshake.client_certificate_asked {
        out.push(
            Finding::new(
                Topic::Tls,
                Verdict::Warn,
                "client-certificate-asked",
                "The server asks clients for a certificate of their own (TLS client authentication); the check sent none. A server that requires one refuses every client without it (browsers, Outlook, phones), often only after the handshake.".to_owned(),
            )
            .fix(CLIENT_CERTIFICATE_FIX),
        );
    }
    match handshake.proof {
        Proof::Verified => {}
        Proof::Unverifiable => {}
        Proof::Failed => out.push(
            Finding::new(
                Topic::Tls,
                Verdict::Fail,
                "key-mismatch",
                format!(
                    "The server's handshake signature does not verify with the key of the certificate it sent for {}: it does not hold that certificate's key, or something in between answers in its place.",
                    target.host
                ),
            )
            .fix("Install the certificate together with its own key; look for a proxy that intercepts TLS."),
        ),
    }
    out
}

/// The findings when rustls could not agree with the server but a hand-built hello could.
pub(super) fn fallback_findings(
    failure: &Failure,
    accepted: &Accepted,
    facts: &TlsFacts,
) -> Vec<Finding> {
    let suite = accepted.cipher_suite;
    // TLS 1.2 with ECDHE and AES-GCM or ChaCha20: what a current client offers. A server that
    // picks one of those for a hand-built hello but fails the current client's handshake does
    // not complete the handshakes it starts (and never proved it holds the key).
    let current = accepted.version == hello::TLS12
        && matches!(suite, 0xc02b | 0xc02c | 0xc02f | 0xc030 | 0xcca8 | 0xcca9);
    if let Failure::ClientCertificateRequired(_) = failure {
        let mut out = vec![failure.finding_of_required_certificate()];
        out.extend(version_findings(facts));
        return out;
    }
    if let Failure::TooLarge = failure {
        let mut out = vec![Failure::finding_of_too_large()];
        out.extend(version_findings(facts));
        return out;
    }
    if current {
        let mut out = vec![
            Finding::new(
                Topic::Tls,
                Verdict::Fail,
                "handshake-failed",
                format!(
                    "A current client's handshake failed ({}), although the server answers a hello with {} and {}, which current clients offer: it starts handshakes it does not complete, and never proved it holds the certificate's key.",
                    failure.reason(),
                    facts.version,
                    facts.cipher_suite
                ),
            )
            .fix("Check that the server's key matches its certificate, and the server's log; look for a proxy that intercepts TLS."),
        ];
        out.extend(version_findings(facts));
        return out;
    }
    let broken = matches!(suite, 0x0004 | 0x0005 | 0x000a);
    // Current clients cannot connect (rustls, Go, Apple's App Transport Security refuse
    // anything else), so some clients will not: a failure, whatever older ones do. The
    // hand-built hello also never proves the server holds the certificate's key.
    let mut out = vec![
        Finding::new(
            Topic::Tls,
            Verdict::Fail,
            "legacy-only",
            format!(
                "A current client (TLS 1.2 or 1.3 with forward secrecy and AES-GCM or ChaCha20) cannot connect ({}); an older one gets {} with {}.",
                failure.reason(),
                facts.version,
                facts.cipher_suite
            ),
        )
        .fix(if broken {
            "Turn off RC4 and 3DES and turn on TLS 1.2 with ECDHE and AES-GCM: current browsers and Windows refuse these suites."
        } else {
            "Turn on TLS 1.2 with ECDHE and AES-GCM (and TLS 1.3 where the server has it): clients that offer only those cannot connect."
        }),
    ];
    out.extend(version_findings(facts));
    out
}

/// The protocol versions the server accepts, as facts: TLS 1.0 and 1.1 still on is what old
/// clients need and current ones refuse; only TLS 1.0/1.1 on stops current clients.
fn version_findings(facts: &TlsFacts) -> Vec<Finding> {
    let on: Vec<&str> = facts
        .versions
        .iter()
        .filter(|(_, on)| *on == Some(true))
        .map(|(name, _)| *name)
        .collect();
    let off: Vec<&str> = facts
        .versions
        .iter()
        .filter(|(_, on)| *on == Some(false))
        .map(|(name, _)| *name)
        .collect();
    let unknown: Vec<&str> = facts
        .versions
        .iter()
        .filter(|(_, on)| on.is_none())
        .map(|(name, _)| *name)
        .collect();
    let list = |names: &[&str]| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let mut text = format!("Versions on: {}; off: {}", list(&on), list(&off));
    if !unknown.is_empty() {
        text.push_str(&format!(
            "; not settled (no answer in time, or the handshake broke): {}",
            unknown.join(", ")
        ));
    }
    text.push('.');
    let mut out = vec![Finding::new(Topic::Tls, Verdict::Ok, "versions", text)];
    let legacy: Vec<&str> = on
        .iter()
        .copied()
        .filter(|v| *v == "TLSv1.0" || *v == "TLSv1.1")
        .collect();
    let modern = on.iter().any(|v| *v == "TLSv1.2" || *v == "TLSv1.3");
    if !legacy.is_empty() && modern {
        out.push(Finding::new(
            Topic::Tls,
            Verdict::Note,
            "legacy-versions",
            format!(
                "{} still on: clients from before 2014 (Windows 7 and Outlook 2010 without updates, Android 4) need them; current browsers and systems refuse them and use TLS 1.2 or 1.3.",
                legacy.join(" and ")
            ),
        ));
    }
    if !legacy.is_empty() && !modern {
        out.push(
            Finding::new(
                Topic::Tls,
                Verdict::Fail,
                "only-legacy-versions",
                format!(
                    "Only {} on: current browsers, macOS, iOS, Android and Windows 11 refuse them.",
                    legacy.join(" and ")
                ),
            )
            .fix("Turn on TLS 1.2 (and TLS 1.3 where the server has it)."),
        );
    }
    if on == ["TLSv1.3"] {
        out.push(
            Finding::new(
                Topic::Tls,
                Verdict::Warn,
                "only-tls13",
                "Only TLS 1.3 on: clients without it (Windows 10, Server 2019 and older, and Outlook on them; Java 8 before update 261) cannot connect.".to_owned(),
            )
            .fix("Turn on TLS 1.2 too, unless every client is known to have TLS 1.3."),
        );
    }
    out
}

/// A rustls error as the reason a handshake failed.
fn classify(err: std::io::Error) -> Failure {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Failure::Refused("the server closed the connection".to_owned())
            }
            _ => Failure::Broken(err.to_string()),
        };
    };
    match tls {
        // A Certificate message over the 64 KiB rustls reads (a long chain, or thousands of
        // names): the server does speak TLS, but clients with that limit cannot connect.
        rustls::Error::InvalidMessage(
            rustls::InvalidMessage::HandshakePayloadTooLarge
            | rustls::InvalidMessage::MessageTooLarge,
        ) => Failure::TooLarge,
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            Failure::NotTls("its answer is not a TLS handshake".to_owned())
        }
        rustls::Error::AlertReceived(alert) => Failure::Refused(format!(
            "the server sent the alert {alert:?}, which says it has no version or cipher suite in common with the client"
        )),
        rustls::Error::PeerIncompatible(why) => Failure::Refused(format!("{why:?}")),
        other => Failure::Refused(other.to_string()),
    }
}

#[derive(Default)]
struct Recorded {
    chain: Vec<Vec<u8>>,
    stapled: Option<Vec<u8>>,
    proof: Option<Proof>,
    client_certificate_asked: bool,
}

/// Accepts every chain, and records it with the stapled OCSP answer and the signature check.
#[derive(Default)]
struct Recorder(Mutex<Recorded>);

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    fn client_certificate_asked(&self) -> bool {
        match self.0.lock() {
            Ok(recorded) => recorded.client_certificate_asked,
            Err(poisoned) => poisoned.into_inner().client_certificate_asked,
        }
    }

    fn take(&self) -> Recorded {
        match self.0.lock() {
            Ok(mut recorded) => std::mem::take(&mut *recorded),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn with(&self, change: impl FnOnce(&mut Recorded)) {
        match self.0.lock() {
            Ok(mut recorded) => change(&mut recorded),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    fn prove(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) {
        let proof = proof(message, cert, dss);
        self.with(|recorded| recorded.proof = Some(proof));
    }
}

/// Records that the server asked for a client certificate, and offers none.
impl rustls::client::ResolvesClientCert for Recorder {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.with(|recorded| recorded.client_certificate_asked = true);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.with(|recorded| {
            recorded.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.as_ref().to_vec())
                .collect();
            recorded.stapled = (!ocsp_response.is_empty()).then(|| ocsp_response.to_vec());
        });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.prove(message, cert, dss);
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.prove(message, cert, dss);
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Checks a handshake signature with the public key of the certificate sent, read without
/// judging the certificate; RSA keys under 2048 bits with PKCS#1 v1.5 through aws-lc-rs's
/// legacy algorithms, which rustls-webpki leaves out.
fn proof(message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Proof {
    use aws_lc_rs::signature as sig;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Proof::Unverifiable;
    };
    let spki = rustls_pki_types::SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
    let algorithms =
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    let verified = webpki::RawPublicKeyEntity::try_from(&spki).is_ok_and(|key| {
        algorithms
            .mapping
            .iter()
            .filter(|(scheme, _)| *scheme == dss.scheme)
            .flat_map(|(_, candidates)| candidates.iter())
            .any(|alg| key.verify_signature(*alg, message, dss.signature()).is_ok())
    });
    if verified {
        return Proof::Verified;
    }
    let legacy: Option<&'static sig::RsaParameters> = match dss.scheme {
        SignatureScheme::RSA_PKCS1_SHA1 => Some(&sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY),
        SignatureScheme::RSA_PKCS1_SHA256 => {
            Some(&sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY)
        }
        SignatureScheme::RSA_PKCS1_SHA512 => {
            Some(&sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY)
        }
        _ => None,
    };
    let weak_rsa = super::leaf::rsa_bits(&parsed).is_some_and(|bits| bits < 2048);
    match legacy {
        Some(alg) if weak_rsa => {
            let key =
                sig::UnparsedPublicKey::new(alg, &parsed.public_key().subject_public_key.data);
            if key.verify(message, dss.signature()).is_ok() {
                Proof::Verified
            } else {
                Proof::Failed
            }
        }
        None if weak_rsa => Proof::Unverifiable,
        _ => Proof::Failed,
    }
}
