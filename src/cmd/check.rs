//! `ca check`: is the data folder sound? With a URL: will clients connect to that server?

use std::path::{Path, PathBuf};
use std::time::Duration;

use ca_core::probe::{self, Finding, Remedy, Report, Target, Trust, Verdict};
use ca_core::{Authority, Choice, SubjectName};
use serde_json::{Value, json};

use crate::explain::{Refused, printable};
use crate::output::{Printed, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A server to check as its clients see it: https://HOST[:PORT], smtp://HOST[:PORT]
    /// (STARTTLS; also imap://, pop3://), imaps://, pop3s://, smtps://, ldaps://, or HOST:PORT
    /// for any service that speaks TLS from the first byte. Without it, the data folder is
    /// checked.
    #[arg(value_name = "URL")]
    url: Option<String>,
    /// Judge the chain against the root certificate(s) in FILE (PEM or DER) instead of this
    /// CA's root and this machine's trust store.
    #[arg(long, value_name = "FILE", requires = "url")]
    root: Option<PathBuf>,
    /// Connect to IP instead of the address DNS gives the URL's host (a new server before DNS
    /// points at it); the certificate is still judged against the host.
    #[arg(long, value_name = "IP", requires = "url")]
    address: Option<String>,
    /// Print the findings as a JSON object.
    #[arg(long, requires = "url")]
    json: bool,
    /// The longest one step may take (a lookup, a connection, a handshake, a CRL or OCSP
    /// fetch), in seconds; the whole check takes at most six times as long.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=300)
    )]
    timeout: u64,
}

impl Args {
    /// True for `ca check URL`, which looks at a live server rather than the data folder.
    pub(crate) fn checks_a_server(&self) -> bool {
        self.url.is_some()
    }
}

/// `data_given`: the folder was named (`--data`, `$CA_DATA`), not taken by default.
pub(crate) async fn run(data: &Path, data_given: bool, args: Args) -> anyhow::Result<()> {
    match &args.url {
        // Read here rather than by clap, whose refusal would repeat the URL whole, a password
        // in it included.
        Some(url) => {
            let mut target: Target = url.parse()?;
            if let Some(address) = &args.address {
                target = target.at_address(address)?;
            }
            // A folder named that holds no CA is a mistake, not a request to judge against
            // this machine's trust store only.
            if data_given && args.root.is_none() && !Authority::exists(data) {
                return Err(Refused(format!(
                    "{} holds no CA to judge the server against: give the data folder `ca init` made (--data DIR), --root FILE with the root your clients trust, or neither to judge against this machine's trust store",
                    data.display()
                ))
                .into());
            }
            server(data, &target, &args).await
        }
        None => folder(data).await,
    }
}

/// Checks the server at `target`: against `--root`, else against the CA in the data folder
/// (when there is one) and this machine's trust store, else against the trust store alone.
async fn server(data: &Path, target: &Target, args: &Args) -> anyhow::Result<()> {
    let step = Duration::from_secs(args.timeout);
    let options = probe::Options {
        step_timeout: step,
        deadline: step * 6,
    };
    let mut advice = Advice::default();
    let (report, trust) = if let Some(file) = &args.root {
        let trust = Trust::given(roots_in(file)?, format!("the root in {}", file.display()));
        (probe::check(target, &trust, options).await, trust)
    } else if Authority::exists(data) {
        let authority = crate::cmd::open_read(data).await?;
        let trust = Trust::of_ca(&authority);
        let report = authority.check_server(target, options).await;
        advice = Advice::of_ca(&authority, &report);
        (report, trust)
    } else {
        let trust = Trust::system_only();
        (probe::check(target, &trust, options).await, trust)
    };
    advice.trust_store_only = trust.roots.is_empty();
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report_json(&report, &trust, &advice))?
        );
    } else {
        say!(
            "Checked {target}{} on {}, against {}:",
            match (report.address, target.address) {
                (Some(connected), None) => format!(" ({connected})"),
                (Some(connected), Some(_)) => format!(" ({connected}, the address given)"),
                (None, Some(given)) => format!(" (at {given}, the address given)"),
                (None, None) => String::new(),
            },
            when(report.checked_at),
            trust.described_as
        );
        for (index, finding) in report.findings.iter().enumerate() {
            say!(
                "{:<5} {:<11} {}",
                label(finding.verdict),
                finding.topic.name(),
                printable(&line(index, finding, &advice))
            );
        }
    }
    let warnings = report.count(Verdict::Warn);
    if report.clients_connect() {
        if !args.json {
            say!(
                "Clients will connect to {target}{}{}.",
                match (target.address, &target.host) {
                    (Some(given), SubjectName::Dns(name)) =>
                        format!(" once {name} leads them to {given}"),
                    _ => String::new(),
                },
                match warnings {
                    0 => String::new(),
                    1 => "; 1 warning above".to_owned(),
                    n => format!("; {n} warnings above"),
                }
            );
        }
        return Ok(());
    }
    anyhow::bail!(
        "some clients will not connect to {target}: {} finding(s) marked FAIL{}",
        report.count(Verdict::Fail),
        if args.json {
            ""
        } else {
            " above say why and what to do"
        }
    )
}

/// The roots in FILE: PEM certificates, or one DER certificate.
fn roots_in(file: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = crate::cmd::read_input(file, "root certificate")?;
    let roots = match ca_core::certificate::pem_certificates(&bytes) {
        Some(certs) if !certs.is_empty() => certs,
        _ if ca_core::certificate::is_certificate(&bytes) => vec![bytes],
        _ => {
            return Err(Refused(format!(
                "{} holds no certificate: give the root as PEM (-----BEGIN CERTIFICATE-----) or DER, as `ca root --out FILE` writes it",
                file.display()
            ))
            .into());
        }
    };
    Ok(roots)
}

/// How a verdict is printed: failures stand out.
fn label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "ok",
        Verdict::Note => "note",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
    }
}

/// The finding's line: the fact, then the fix with the command that carries it out here.
fn line(index: usize, finding: &Finding, advice: &Advice) -> String {
    let mut text = finding.fact.clone();
    if let Some(fix) = &finding.fix {
        text.push_str(" Fix: ");
        text.push_str(fix);
    }
    if let Some(extra) = advice.for_finding(index, finding) {
        text.push(' ');
        text.push_str(&extra);
    }
    text
}

/// What the command line adds to a fix: the `ca` command that does it, when it would work.
#[derive(Default)]
struct Advice {
    /// What this CA can do about each finding, by finding (the report's order).
    remedies: Vec<Option<Remedy>>,
    /// The host checked, as the commands name it.
    host: String,
    /// Whether the chain was judged against this CA's root (so `ca serve` is the fix for
    /// revocation that cannot be fetched).
    this_ca: bool,
    trust_store_only: bool,
}

impl Advice {
    /// The advice of the CA in the data folder (see [`Authority::remedy`]).
    fn of_ca(authority: &Authority, report: &Report) -> Self {
        Advice {
            remedies: report
                .findings
                .iter()
                .map(|finding| authority.remedy(report, finding))
                .collect(),
            host: report.target.host.to_string(),
            this_ca: true,
            trust_store_only: false,
        }
    }

    fn for_finding(&self, index: usize, finding: &Finding) -> Option<String> {
        let host = &self.host;
        if let Some(remedy) = self.remedies.get(index).cloned().flatten() {
            return Some(match remedy {
                Remedy::Issue { names, internal } => {
                    let notes: Vec<&str> = [
                        (names.len() > 1).then_some(
                            "it keeps the names the certificate holds now, for the clients that use them",
                        ),
                        internal.then_some("internal names need --allow-internal"),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    // A wildcard quoted, so that a shell pasting it expands no file names.
                    let names: Vec<String> = names
                        .iter()
                        .map(ToString::to_string)
                        .map(|name| {
                            if name.contains('*') {
                                format!("'{name}'")
                            } else {
                                name
                            }
                        })
                        .collect();
                    format!(
                        "With this CA: `{} issue {}{}`{}.",
                        crate::invocation::ca(),
                        names.join(" "),
                        if internal { " --allow-internal" } else { "" },
                        if notes.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", notes.join("; "))
                        }
                    )
                }
                Remedy::Renew(id) => format!(
                    "This CA issued it: `{ca} renew {id}` writes a new certificate and key into the current folder (or --out DIR); install both on the server.",
                    ca = crate::invocation::ca()
                ),
                Remedy::InstallRenewal { id, renewal } => format!(
                    "This CA renewed it already, as certificate {renewal}: install that one on the server, with the key written when it was made (`{ca} export {renewal} --format pem --out FILE` writes the certificate and its chain again); if that key is lost, `{ca} renew {renewal}` makes another. Certificate {id} cannot be renewed a second time.",
                    ca = crate::invocation::ca()
                ),
                Remedy::RenewRenewal { id, renewal } => format!(
                    "This CA renewed it already, as certificate {renewal}, which is revoked or expired too: `{ca} renew {renewal}` writes a new certificate and key into the current folder (or --out DIR); install both on the server. Certificate {id} cannot be renewed a second time.",
                    ca = crate::invocation::ca()
                ),
                Remedy::ReloadServer(id) => format!(
                    "This is `ca serve`'s own certificate (number {id}): restart the server, or reload it (`systemctl reload ca` or SIGHUP), and it makes and presents a new one."
                ),
                Remedy::AddServerName(id) => format!(
                    "This is `ca serve`'s own certificate (number {id}), made for the server's names: add {host} to them (`hostname` in ca.toml, or --hostname), then reload the server (`systemctl reload ca` or SIGHUP) and it presents a certificate that names it."
                ),
            });
        }
        match finding.code {
            "unknown-issuer" | "untrusted-root" | "self-signed" | "chain-incomplete"
                if self.trust_store_only =>
            {
                Some(
                    "Judged against this machine's trust store only: pass --root FILE with the root your clients trust, or run the check where the CA's data folder is (--data DIR)."
                        .to_owned(),
                )
            }
            "revocation-unreachable" if self.this_ca => Some(format!(
                "`ca serve` answers the CRL and OCSP at the CA's public URL (`{} config show`): it must run, and be reachable there.",
                crate::invocation::ca()
            )),
            _ => None,
        }
    }
}

/// The report as JSON: the same findings, each with its topic, verdict, code, fact and fix.
fn report_json(report: &Report, trust: &Trust, advice: &Advice) -> Value {
    use ca_core::display::rfc3339;
    let target = &report.target;
    json!({
        "url": target.to_string(),
        "scheme": target.scheme,
        "host": target.host.to_string(),
        "port": target.port,
        "address": report.address.map(|a| a.to_string()),
        "address_given": target.address.map(|a| a.to_string()),
        "checked_at": rfc3339(report.checked_at),
        "trust": trust.described_as,
        "verdict": report.verdict().name(),
        "clients_connect": report.clients_connect(),
        "issued_here": report.issued_here.map(|id| id.get()),
        "tls": report.tls.as_ref().map(|tls| json!({
            "version": tls.version,
            "cipher_suite": tls.cipher_suite,
            "versions": tls.versions.iter().map(|(name, on)| ((*name).to_owned(), json!(on))).collect::<serde_json::Map<_, _>>(),
        })),
        "chain": report.chain.iter().map(|cert| json!({
            "subject": cert.subject,
            "issuer": cert.issuer,
            "serial": cert.serial,
            "not_before": cert.not_before.map(rfc3339),
            "not_after": cert.not_after.map(rfc3339),
            "sha256": cert.sha256.hex(),
        })).collect::<Vec<_>>(),
        "findings": report.findings.iter().enumerate().map(|(index, finding)| json!({
            "topic": finding.topic.name(),
            "verdict": finding.verdict.name(),
            "code": finding.code,
            "fact": finding.fact,
            "fix": match (&finding.fix, advice.for_finding(index, finding)) {
                (Some(fix), Some(extra)) => Some(format!("{fix} {extra}")),
                (Some(fix), None) => Some(fix.clone()),
                (None, extra) => extra,
            },
        })).collect::<Vec<_>>(),
    })
}

/// The data folder: the log's integrity, every certificate, the root key.
async fn folder(data: &Path) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let problems = authority.check_folder().await?;
    let folder = std::path::absolute(data)?;
    if let Some(role) = authority.audit_exposed_to().await? {
        tell!("ca: warning: {}", crate::cmd::audit_exposed(&role));
    }
    if problems.is_empty() {
        let key = if authority.key_is_readable() {
            "and the key is the root's"
        } else {
            "and the key is encrypted (set $CA_PASSPHRASE to check it against the root too)"
        };
        let log = match authority.log_location() {
            ca_core::LogLocation::File(_) => {
                "the log passes SQLite's integrity and foreign-key checks".to_owned()
            }
            ca_core::LogLocation::Postgres(url) => format!("the log in {url} is readable"),
        };
        say!(
            "The data folder {} is sound: {log}, every certificate matches its fingerprint and was signed by the root, {key}.",
            folder.printed()
        );
        return Ok(());
    }
    for problem in &problems {
        tell!("ca: problem: {}", printable(&problem.text));
    }
    if problems.iter().any(|problem| problem.damage) {
        anyhow::bail!(
            "{} problem(s) found in {}: restore the folder from a backup (`ca restore`) if the log or the key is damaged",
            problems.len(),
            folder.display()
        )
    }
    // Nothing damaged: each line says the command that mends it.
    anyhow::bail!(
        "{} problem(s) found in {}, each mended in place as its line says: nothing in the log or the key is damaged",
        problems.len(),
        folder.display()
    )
}
