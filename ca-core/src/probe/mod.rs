//! A live TLS server seen as its clients see it: connect (directly, or after STARTTLS), take
//! the chain it sends, and judge what makes a client drop the connection without telling
//! anyone (DESIGN §1: the root not trusted, the name not matching, the dates wrong), and what
//! else refuses it (weak keys, SHA-1, the wrong key usage, a revoked certificate, protocol
//! versions).
//!
//! [`check`] returns a [`Report`]: one [`Finding`] per fact, each with a [`Verdict`] and, when
//! something is to be done, the fix. It never fails: a server that cannot be reached is a
//! finding too, so a scheduler can run it and compare verdicts. Every step is bounded by
//! [`Options`]: a server that never answers costs one step's timeout, the whole check at most
//! its deadline.
//!
//! The handshake that takes the chain is rustls's, with a verifier that accepts every chain and
//! records it, so that the analysis (x509-parser, aws-lc-rs, rustls-webpki) can judge the weak
//! keys and SHA-1 signatures that rustls would refuse without saying why. rustls speaks only
//! TLS 1.2 and 1.3; whether the server still accepts TLS 1.0 and 1.1 is asked with a
//! ClientHello built by hand ([`hello`]), which also reads the chain of a server rustls cannot
//! agree with.

mod chain;
mod connect;
mod handshake;
mod hello;
mod leaf;
mod revocation;
mod target;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::authority::Authority;
use crate::certificate::Fingerprint;
use crate::choice::Choice;
use crate::name::SubjectName;
use crate::store::{CertificateRef, OwnCertificate, RequestId};

pub use target::{MAX_URL, Protocol, Target};

/// How a finding bears on clients, from harmless to fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// As it should be.
    Ok,
    /// A fact worth knowing that stops no client (TLS 1.0 still on, an internal name).
    Note,
    /// Usual clients connect, but something needs attention: it expires soon, older or
    /// stricter clients trip on it, or one of several revocation sources is down.
    Warn,
    /// Some clients will not connect.
    Fail,
}

impl Choice for Verdict {
    const WHAT: &'static str = "verdict";
    const ALL: &'static [Self] = &[Verdict::Ok, Verdict::Note, Verdict::Warn, Verdict::Fail];

    fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Note => "note",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Reaching the server: the name's address, the port, STARTTLS.
    Connection,
    /// Protocol versions and cipher suites.
    Tls,
    /// The certificates the server sends: complete, in order, each signature.
    Chain,
    /// Where the chain ends: this CA's root, a given root, or another CA.
    Trust,
    /// The host in the URL against the certificate's names.
    Name,
    /// Valid now, days left, the validity period.
    Dates,
    /// The leaf's key.
    Key,
    /// The signature algorithm of the leaf and intermediates.
    Signature,
    /// What the certificate may be used for: EKU, key usage, CA flag.
    Usage,
    /// The CRL and OCSP responder the certificate names.
    Revocation,
    /// Outlook Anywhere's principal name (`msstd:`).
    Outlook,
}

impl Choice for Topic {
    const WHAT: &'static str = "topic";
    const ALL: &'static [Self] = &[
        Topic::Connection,
        Topic::Tls,
        Topic::Chain,
        Topic::Trust,
        Topic::Name,
        Topic::Dates,
        Topic::Key,
        Topic::Signature,
        Topic::Usage,
        Topic::Revocation,
        Topic::Outlook,
    ];

    fn name(self) -> &'static str {
        match self {
            Topic::Connection => "connection",
            Topic::Tls => "tls",
            Topic::Chain => "chain",
            Topic::Trust => "trust",
            Topic::Name => "name",
            Topic::Dates => "dates",
            Topic::Key => "key",
            Topic::Signature => "signature",
            Topic::Usage => "usage",
            Topic::Revocation => "revocation",
            Topic::Outlook => "outlook",
        }
    }
}

/// One fact about the server, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub topic: Topic,
    pub verdict: Verdict,
    /// What was found, as a stable identifier for scripts and for the advice a front end
    /// adds (`name-mismatch`, `chain-incomplete`, `expired`, ...).
    pub code: &'static str,
    /// What was found, in a sentence.
    pub fact: String,
    /// What to do about it, when anything is to be done.
    pub fix: Option<String>,
}

impl Finding {
    pub(crate) fn new(topic: Topic, verdict: Verdict, code: &'static str, fact: String) -> Self {
        Finding {
            topic,
            verdict,
            code,
            fact: inert(&fact),
            fix: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(inert(&fix.into()));
        self
    }
}

/// The longest fact or fix kept, in characters: a certificate's names and URLs are the
/// server's to choose.
const MAX_FINDING_TEXT: usize = 4000;

/// `text` as it may travel to a terminal, a page, an e-mail or a webhook: control characters
/// (a line break that would forge a finding in a notice) and the marks that reorder text
/// (U+202E) written as escapes, and cut at [`MAX_FINDING_TEXT`] characters. What a server
/// sends (its names, the URLs its certificate names) goes into findings.
fn inert(text: &str) -> String {
    match text.char_indices().nth(MAX_FINDING_TEXT) {
        Some((cut, _)) => format!("{}…", crate::display::inert(&text[..cut])),
        None => crate::display::inert(text),
    }
}

/// The roots a chain is judged against.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Roots (DER) the chain should end at: this CA's, or roots given by the caller.
    pub roots: Vec<Vec<u8>>,
    /// What those roots are, for sentences: "this CA's root", "the root in /etc/root.pem".
    pub described_as: String,
    /// True when they are this CA's own root (then a chain ending elsewhere is "another CA").
    pub this_ca: bool,
    /// Also accept the roots of this machine's trust store (public CAs), as its clients do.
    pub system: bool,
}

impl Trust {
    /// Roots the caller gives (a file's certificates, say), and nothing else.
    pub fn given(roots: Vec<Vec<u8>>, described_as: impl Into<String>) -> Trust {
        Trust {
            roots,
            described_as: described_as.into(),
            this_ca: false,
            system: false,
        }
    }

    /// Only this machine's trust store: where there is no CA to judge by.
    pub fn system_only() -> Trust {
        Trust {
            roots: Vec::new(),
            described_as: "this machine's trust store".to_owned(),
            this_ca: false,
            system: true,
        }
    }

    /// This CA's root, and this machine's trust store for servers with public certificates.
    pub fn of_ca(authority: &Authority) -> Trust {
        Trust {
            roots: vec![authority.root().der().to_vec()],
            described_as: format!("this CA's root '{}'", authority.root().common_name()),
            this_ca: true,
            system: true,
        }
    }
}

/// How long a check may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The longest one step may take: a name lookup, a connection with its STARTTLS, a
    /// handshake, one CRL or OCSP fetch.
    pub step_timeout: Duration,
    /// The longest the whole check may take; steps left when it has passed are not taken,
    /// and say so.
    pub deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            step_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
        }
    }
}

/// What a TLS handshake with the server settled on, and which versions it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFacts {
    /// "TLSv1.3", as OpenSSL and the IANA registry write versions.
    pub version: String,
    /// The IANA name of the cipher suite ("TLS_AES_128_GCM_SHA256").
    pub cipher_suite: String,
    /// Each version asked about, and whether the server accepts it; `None` when the question
    /// could not be asked (time ran out).
    pub versions: Vec<(&'static str, Option<bool>)>,
}

/// One certificate the server sent, for people and scripts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCertificate {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub sha256: Fingerprint,
    pub der: Vec<u8>,
}

/// The check of one server.
#[derive(Clone, Debug)]
pub struct Report {
    pub target: Target,
    /// The address connected to, once a connection was made.
    pub address: Option<SocketAddr>,
    pub checked_at: OffsetDateTime,
    pub tls: Option<TlsFacts>,
    /// The certificates the server sent, in its order.
    pub chain: Vec<SentCertificate>,
    /// The leaf's row in this CA's log, when it was issued here.
    pub issued_here: Option<RequestId>,
    /// The newest certificate of the leaf's renewals (the renewal of its renewal, and so
    /// on), when this CA renewed it: the one to install rather than renewing it again.
    pub renewed_as: Option<Renewal>,
    /// Which of the CA's own certificates the leaf is, when it is one (the web server's).
    pub own: Option<OwnCertificate>,
    pub findings: Vec<Finding>,
}

/// The newest renewal of a certificate, and whether it can take the certificate's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Renewal {
    pub id: RequestId,
    /// Valid now: not revoked, not expired.
    pub valid: bool,
    /// It holds every name of the certificate it renews (an ACME replacement may hold fewer).
    pub holds_every_name: bool,
}

impl Report {
    /// The worst verdict among the findings.
    pub fn verdict(&self) -> Verdict {
        self.findings
            .iter()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::Ok)
    }

    /// True when no finding stops a client from connecting.
    pub fn clients_connect(&self) -> bool {
        self.verdict() < Verdict::Fail
    }

    /// The findings with `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == verdict)
            .count()
    }
}

/// Checks the server at `target`, judging its chain against `trust`.
pub async fn check(target: &Target, trust: &Trust, options: Options) -> Report {
    let budget = Budget::new(options);
    let mut report = Report {
        target: target.clone(),
        address: None,
        checked_at: OffsetDateTime::now_utc(),
        tls: None,
        chain: Vec::new(),
        issued_here: None,
        renewed_as: None,
        own: None,
        findings: Vec::new(),
    };
    let Some(seen) = connect_and_shake(target, &budget, &mut report).await else {
        return report;
    };
    report.chain = seen.chain.iter().map(|der| sent(der)).collect();
    let now = OffsetDateTime::now_utc();
    let analysis = chain::analyse(&seen.chain, trust, now);
    report.findings.extend(analysis.findings.iter().cloned());
    if let Some(leaf) = seen.chain.first() {
        report
            .findings
            .extend(leaf::judge(leaf, target, &analysis, now));
        report.findings.extend(
            revocation::judge(
                leaf,
                analysis.issuer.as_deref(),
                analysis.anchor.is_some(),
                seen.stapled.as_deref(),
                &budget,
                now,
            )
            .await,
        );
        if let Some(finding) = chain::strict_client(&seen.chain, target, &analysis, &report) {
            report.findings.push(finding);
        }
    }
    report
}

impl Authority {
    /// Checks the server at `target` against this CA's root (and this machine's trust store,
    /// for servers with public certificates), and finds its certificate in the log.
    pub async fn check_server(&self, target: &Target, options: Options) -> Report {
        let mut report = check(target, &Trust::of_ca(self), options).await;
        let Some(leaf) = report.chain.first() else {
            return report;
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(&leaf.der) else {
            return report;
        };
        if cert.issuer().as_raw() != self.root().subject_der() {
            return report;
        }
        let row = match crate::certificate::SerialNumber::from_bytes(cert.raw_serial()) {
            Ok(serial) => self.find(&CertificateRef::Serial(serial)).await.ok(),
            Err(_) => None,
        };
        let Some(row) = row.filter(|row| {
            row.certificate
                .as_ref()
                .is_some_and(|c| c.sha256 == leaf.sha256)
        }) else {
            // Made with the root's key, but not by this CA: whoever holds the key issued it
            // outside the log, which no revocation, list or notice of this CA knows of.
            let signed = x509_parser::parse_x509_certificate(self.root().der())
                .is_ok_and(|(_, root)| cert.verify_signature(Some(root.public_key())).is_ok());
            if signed {
                report.findings.push(
                    Finding::new(
                        Topic::Trust,
                        Verdict::Warn,
                        "not-in-log",
                        "The certificate is signed by this CA's root key but is not in its log: it was made outside this CA (with a copy of the root key), so the CA cannot list, renew or revoke it.".to_owned(),
                    )
                    .fix("Find out who made it and how they had the root key; replace it with one this CA issues, and if the key may have leaked, make a new root."),
                );
            }
            return report;
        };
        report.issued_here = Some(row.id);
        report.own = row.own();
        if let Some(first) = row.certificate.as_ref().and_then(|cert| cert.renewed_by)
            && let Some(newest) = self.newest_renewal(first).await
        {
            let now = OffsetDateTime::now_utc();
            report.renewed_as = Some(Renewal {
                id: newest.id,
                valid: newest
                    .certificate
                    .as_ref()
                    .is_some_and(|cert| cert.revocation.is_none() && cert.not_after > now),
                holds_every_name: row.names.iter().all(|name| newest.names.contains(name)),
            });
        }
        let names = row.names_shown();
        report.findings.push(Finding::new(
            Topic::Trust,
            Verdict::Note,
            "issued-here",
            format!(
                "The certificate is number {} in this CA's log, issued for {names}.",
                row.id
            ),
        ));
        // Clients learn of a revocation only where the certificate points them (and only
        // when they look): the log's own word is reported when no answer said revoked.
        if let Some(revocation) = row.certificate.as_ref().and_then(|c| c.revocation.as_ref())
            && !report.findings.iter().any(|f| f.code == "revoked")
        {
            report.findings.push(
                Finding::new(
                    Topic::Revocation,
                    Verdict::Warn,
                    "revoked-in-log",
                    format!(
                        "This CA's log records the certificate as revoked on {} ({}), but no CRL or OCSP answer the check could read says so: clients that cannot learn of it still accept the certificate.",
                        crate::display::time(revocation.revoked_at),
                        revocation.reason
                    ),
                )
                .fix("Install a new certificate: a revocation cannot be undone."),
            );
        }
        report
    }
}

/// What this CA can do about a server's findings. Each front end phrases it its own way (a
/// command on the command line, a page on the web); the decisions are made once, here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// Issue a certificate for `names`: those the server's certificate holds now (which its
    /// other clients use, the first its CN), then the host; `internal` when only an
    /// internal-name issuance may.
    Issue {
        names: Vec<SubjectName>,
        internal: bool,
    },
    /// Renew certificate `id`, which this CA issued, and install the new one.
    Renew(RequestId),
    /// Certificate `id` was renewed already, `renewal` the newest of its renewals: install
    /// that one (or renew it, when its key is lost).
    InstallRenewal { id: RequestId, renewal: RequestId },
    /// Certificate `id` was renewed already, and `renewal`, the newest of its renewals, is
    /// revoked or expired too: renew that one, and install the new one.
    RenewRenewal { id: RequestId, renewal: RequestId },
    /// The certificate is the CA's own web server's: a reload or restart makes a new one.
    ReloadServer(RequestId),
    /// The CA's own web server's certificate lacks the host: add it to the server's names, then reload.
    AddServerName(RequestId),
}

impl Authority {
    /// What this CA can do about `finding` of `report`: `None` when it can do nothing (a name
    /// its policy or name constraints refuse, a certificate another CA issued).
    pub fn remedy(&self, report: &Report, finding: &Finding) -> Option<Remedy> {
        let own_server = report.own == Some(OwnCertificate::Server);
        let host = std::slice::from_ref(&report.target.host);
        let internal = if self.check_names(host, false).is_ok() {
            Some(false)
        } else if self.check_names(host, true).is_ok() {
            Some(true)
        } else {
            None
        };
        match (finding.code, report.issued_here) {
            ("name-mismatch" | "no-san", Some(id)) if own_server => {
                internal.map(|_| Remedy::AddServerName(id))
            }
            ("name-mismatch" | "no-san", _) => {
                internal?;
                self.reissue(report)
            }
            (
                "expired" | "expires-soon" | "revoked" | "revoked-in-log" | "validity-too-long"
                | "weak-key" | "sha1",
                Some(id),
            ) => {
                if own_server {
                    return Some(Remedy::ReloadServer(id));
                }
                // Renewed already, a second renewal of it is refused: its newest renewal is
                // installed if it can take its place, renewed if it expired or was revoked,
                // and a certificate for its names is issued if the renewal dropped some.
                Some(match report.renewed_as {
                    None => Remedy::Renew(id),
                    Some(renewal) if !renewal.holds_every_name => {
                        internal?;
                        return self.reissue(report);
                    }
                    Some(renewal) if renewal.valid => Remedy::InstallRenewal {
                        id,
                        renewal: renewal.id,
                    },
                    Some(renewal) => Remedy::RenewRenewal {
                        id,
                        renewal: renewal.id,
                    },
                })
            }
            _ => None,
        }
    }

    /// A certificate for the names the server's certificate holds now (those this CA may
    /// issue), first as they were, so that the subject's CN (Outlook's msstd: principal)
    /// stays too, then the host checked: a certificate for the host alone would break the
    /// clients that use the others. `None` past [`crate::name::MAX_NAMES`] names (more than
    /// one certificate holds them: no single one can replace it).
    fn reissue(&self, report: &Report) -> Option<Remedy> {
        let mut names: Vec<SubjectName> = Vec::new();
        for held in held_names(report) {
            if !names.contains(&held) && self.check_names(std::slice::from_ref(&held), true).is_ok()
            {
                names.push(held);
            }
        }
        if !names.contains(&report.target.host) {
            names.push(report.target.host.clone());
        }
        if names.len() > crate::name::MAX_NAMES {
            return None;
        }
        let internal = self.check_names(&names, false).is_err();
        Some(Remedy::Issue { names, internal })
    }
}

/// The DNS names and IP addresses of the server's certificate, as names this CA reads.
fn held_names(report: &Report) -> Vec<SubjectName> {
    let Some(leaf) = report.chain.first() else {
        return Vec::new();
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&leaf.der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    crate::name::san_texts(&san.value.general_names)
        .unwrap_or_default()
        .iter()
        .filter_map(|text| text.parse().ok())
        .collect()
}

/// What the server sent in the handshake that took its chain.
struct Seen {
    chain: Vec<Vec<u8>>,
    stapled: Option<Vec<u8>>,
}

/// Connects, takes the chain (rustls first, the hand-built hello when rustls cannot agree
/// with the server), asks about each protocol version, and records the findings of the
/// connection and of TLS. `None` when no chain was had.
async fn connect_and_shake(target: &Target, budget: &Budget, report: &mut Report) -> Option<Seen> {
    let addresses = match connect::resolve(target, budget).await {
        Ok(addresses) => addresses,
        Err(failure) => {
            report.findings.push(failure);
            return None;
        }
    };
    let (stream, address) = match connect::open(target, &addresses, budget).await {
        Ok(opened) => opened,
        Err(failure) => {
            report.findings.push(failure);
            return None;
        }
    };
    report.address = Some(address);
    report.findings.push(Finding::new(
        Topic::Connection,
        Verdict::Ok,
        "connected",
        format!(
            "Connected to {address}{}{}.",
            match (target.address, &target.host) {
                (Some(_), SubjectName::Dns(name)) => format!(
                    ", the address given in place of {name}'s own (DNS was not asked: whether clients reach this server under the name is not checked)"
                ),
                _ => String::new(),
            },
            match target.protocol.starttls() {
                Some(command) => format!(" and switched to TLS with {command}"),
                None => String::new(),
            }
        ),
    ));
    let modern = handshake::shake(stream, target, budget).await;
    let mut versions: Vec<(&'static str, Option<bool>)> = Vec::new();
    let mut fallback: Option<hello::Accepted> = None;
    // TLS 1.2 with every suite a client of the last fifteen years may offer: whether it is
    // on when rustls settled on 1.3, and the chain when rustls could not agree at all.
    let modern_version = modern.as_ref().ok().map(|h| h.version);
    // Every TLS 1.3 server has the suites rustls offers: a refusal says 1.3 is off.
    let tls13 = match &modern {
        Ok(h) => Some(h.version == hello::TLS13),
        Err(handshake::Failure::Refused(_)) => Some(false),
        Err(_) => None,
    };
    // A server that let the modern handshake time out is not answering TLS: asking it three
    // more times would only take three more timeouts.
    let silent = matches!(modern, Err(handshake::Failure::TimedOut(_)));
    for version in [hello::TLS12, hello::TLS11, hello::TLS10] {
        let answer = if modern_version == Some(version) {
            Some(true)
        } else if silent {
            None
        } else {
            match ask_legacy(target, address, version, budget).await {
                Some(hello::Answer::Accepted(accepted)) => {
                    let on = accepted.version == version;
                    if fallback.is_none() && !accepted.chain.is_empty() {
                        fallback = Some(accepted);
                    }
                    Some(on)
                }
                Some(hello::Answer::Refused) => Some(false),
                None => None,
            }
        };
        versions.push((hello::version_name(version), answer));
    }
    versions.reverse();
    versions.push(("TLSv1.3", tls13));
    let (seen, facts) = match (modern, fallback) {
        (Ok(h), _) => {
            let facts = TlsFacts {
                version: hello::version_name(h.version).to_owned(),
                cipher_suite: h.cipher_suite.clone(),
                versions,
            };
            report
                .findings
                .extend(handshake::findings(&h, &facts, target));
            (
                Seen {
                    chain: h.chain,
                    stapled: h.stapled,
                },
                facts,
            )
        }
        (Err(failure), Some(accepted)) => {
            let facts = TlsFacts {
                version: hello::version_name(accepted.version).to_owned(),
                cipher_suite: hello::suite_name(accepted.cipher_suite),
                versions,
            };
            report
                .findings
                .extend(handshake::fallback_findings(&failure, &accepted, &facts));
            (
                Seen {
                    chain: accepted.chain,
                    stapled: None,
                },
                facts,
            )
        }
        (Err(failure), None) => {
            report.findings.push(failure.finding(target));
            return None;
        }
    };
    report.tls = Some(facts);
    if seen.chain.is_empty() {
        report.findings.push(
            Finding::new(
                Topic::Chain,
                Verdict::Fail,
                "no-certificate",
                "The server sent no certificate.".to_owned(),
            )
            .fix("Configure a certificate and its key on the server."),
        );
        return None;
    }
    Some(seen)
}

/// Asks whether the server accepts `version` with a hand-built ClientHello, on a connection
/// of its own. `None` when the question could not be asked.
async fn ask_legacy(
    target: &Target,
    address: SocketAddr,
    version: u16,
    budget: &Budget,
) -> Option<hello::Answer> {
    let (mut stream, _) = connect::open(target, &[address], budget).await.ok()?;
    let step = budget.step()?;
    let server_name = target.sni();
    tokio::time::timeout(
        step,
        hello::exchange(&mut stream, version, server_name.as_deref()),
    )
    .await
    .ok()?
    .ok()
}

/// A certificate as listed in a report.
fn sent(der: &[u8]) -> SentCertificate {
    let parsed = x509_parser::parse_x509_certificate(der).ok();
    let cert = parsed.as_ref().map(|(_, c)| c);
    SentCertificate {
        subject: cert
            .map(|c| inert(&c.subject().to_string()))
            .unwrap_or_default(),
        issuer: cert
            .map(|c| inert(&c.issuer().to_string()))
            .unwrap_or_default(),
        serial: cert
            .map(|c| crate::display::hex(c.raw_serial()))
            .unwrap_or_default(),
        not_before: cert.map(|c| c.validity().not_before.to_datetime()),
        not_after: cert.map(|c| c.validity().not_after.to_datetime()),
        sha256: Fingerprint::of(der),
        der: der.to_vec(),
    }
}

/// What is left of a check's time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    until: Instant,
    step: Duration,
}

impl Budget {
    fn new(options: Options) -> Self {
        Budget {
            until: Instant::now() + options.deadline,
            step: options.step_timeout,
        }
    }

    /// How long the next step may take: a full step, or what is left; `None` once the
    /// deadline has passed.
    pub(crate) fn step(&self) -> Option<Duration> {
        let left = self.until.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then(|| left.min(self.step))
    }
}

/// Days (rounded down) between two times, for sentences.
pub(crate) fn days(from: OffsetDateTime, to: OffsetDateTime) -> i64 {
    (to - from).whole_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_carry_no_line_breaks_or_reordering_marks() {
        let finding = Finding::new(
            Topic::Name,
            Verdict::Fail,
            "name-mismatch",
            "names x\nok    trust  forged, \u{202e}moc.elpmaxe".to_owned(),
        )
        .fix("a\r\nb");
        assert_eq!(
            finding.fact,
            "names x\\nok    trust  forged, \\u{202e}moc.elpmaxe"
        );
        assert_eq!(finding.fix.as_deref(), Some("a\\r\\nb"));
        let long = inert(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_FINDING_TEXT + 1);
    }
}
