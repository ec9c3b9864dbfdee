//! `ca init`: create the root.

use std::path::{Path, PathBuf};

use ca_core::{
    Authority, InitOptions, KeyAlgorithm, Passphrase, PermittedSubtree, RequestPolicy, RootSpec,
};

use crate::cmd::{PASSPHRASE_CREDENTIAL, Refused, open_options};
use crate::output::{Printed, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The root's name (its subject CN) [default: "<domain or host name> Root CA"]
    #[arg(long)]
    name: Option<String>,
    /// The root's key.
    #[arg(long, value_parser = crate::cmd::choice::<KeyAlgorithm>(), value_name = "ALG", default_value_t = KeyAlgorithm::ROOT_DEFAULT)]
    key: KeyAlgorithm,
    /// How long the root is valid, in days from an hour before it is made [default: 3650]
    #[arg(long, value_name = "N", value_parser = crate::cmd::days, allow_negative_numbers = true)]
    days: Option<u32>,
    /// Restrict the root to names under DOMAIN (or an IP range ADDR/PREFIX); repeatable.
    #[arg(long, value_name = "DOMAIN")]
    permit: Vec<PermittedSubtree>,
    /// Public base URL of this CA's pages, as in http://mail.example.com, for CRL and AIA links.
    #[arg(long, value_name = "BASE_URL")]
    url: Option<String>,
    /// What happens to requests that arrive over the web: issued at once, or left pending.
    #[arg(long, value_parser = crate::cmd::choice::<RequestPolicy>(), default_value_t = RequestPolicy::default())]
    policy: RequestPolicy,
    /// Encrypt root.key (PBES2, AES-256) with the passphrase in FILE (`-` for standard input,
    /// asked twice at a terminal); the commands that sign then need it.
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let init = InitOptions {
        root: RootSpec {
            name: args.name,
            key: args.key,
            days: args.days,
            permitted: args.permit,
        },
        url: args.url,
        policy: args.policy,
        actor: crate::cmd::actor(),
    };
    let mut options = open_options(1)?;
    if let Some(path) = &args.key_passphrase_file {
        if options.passphrase.is_some() {
            return Err(Refused(format!(
                "two passphrases for the new root key: --key-passphrase-file and $CA_PASSPHRASE (or the credential {PASSPHRASE_CREDENTIAL}); give one of them"
            ))
            .into());
        }
        let typed = crate::cmd::read_password(path, "passphrase of the new root key")?;
        options.passphrase = Some(Passphrase::new(typed)?);
    }
    let authority = Authority::init(data, init, options).await?;
    describe_new_root(&authority)?;
    authority.close().await;
    // A CA made on a disk it nearly fills stops at its first issuances, with nothing said
    // before (its log grows with each, and each write needs room for the write-ahead log).
    if let Some(free) = crate::invocation::log_disk_free()
        && free < LOW_DISK
    {
        let shown = if free < 1 << 20 {
            format!("{} KiB", free >> 10)
        } else {
            format!("{} MiB", free >> 20)
        };
        say!(
            "Note: the disk that holds {} has {shown} free: the log grows with every certificate, and each write needs room beside it; make room before the CA is used (`df -h` shows the disk).",
            std::path::absolute(data)?.printed()
        );
    }
    Ok(())
}

/// Free room under a new SQLite log below which `ca init` says so: a few thousand
/// certificates, and their write-ahead log.
const LOW_DISK: u64 = 64 << 20;

/// Tells people what was created and what to do next.
pub(crate) fn describe_new_root(authority: &Authority) -> anyhow::Result<()> {
    let root = authority.root();
    say!(
        "Created the CA \"{}\" in {}",
        root.common_name(),
        std::path::absolute(authority.dir())?.printed()
    );
    say!("  key          {}", root.key_algorithm());
    say!("  valid until  {}", when(root.not_after()));
    if !root.permitted().is_empty() {
        let permitted: Vec<String> = root.permitted().iter().map(ToString::to_string).collect();
        say!("  permits only {}", permitted.join(", "));
    }
    say!("  SHA-256      {}", root.fingerprint().colons());
    // Where the certificates it issues send clients to check revocation (`ca serve` answers
    // there), so that an administrator can try them before a client does.
    if let Some(url) = authority.settings().url.as_deref() {
        say!("  CRL          {}", (ca_web::LINKS.crl)(url));
        say!("  OCSP         {}", (ca_web::LINKS.ocsp)(url));
    }
    say!(
        "Install {} on every client as a trusted root (`{} root --out root.crt` writes a copy).",
        std::path::absolute(authority.dir().join("root.crt"))?.printed(),
        crate::invocation::ca()
    );
    // A root shorter than a server's certificate cuts every certificate it signs short.
    // Counted as --days counts them (the root starts an hour back).
    let days = ((root.not_after() - time::OffsetDateTime::now_utc()).whole_hours() + 23) / 24;
    if days < i64::from(ca_core::profile::LEAF_DEFAULT_DAYS) {
        say!(
            "Note: the root is valid for {} only: every certificate it signs ends by then (a server's lasts {} days otherwise), \
             and after it every client must be given a new root; a root usually lasts years ({} days unless --days says otherwise).",
            if days == 1 {
                "1 day".to_owned()
            } else {
                format!("{days} days")
            },
            ca_core::profile::LEAF_DEFAULT_DAYS,
            ca_core::profile::ROOT_DEFAULT_DAYS
        );
    }
    if let Some(note) = revocation_links_note(authority.settings().url.as_deref()) {
        say!("Note: {note}.");
    }
    if authority.settings().policy == RequestPolicy::Auto {
        say!("Note: {}.", policy_auto());
    }
    if authority.settings().acme_skips_approval() {
        say!("Note: {}.", acme_skips_approval());
    }
    Ok(())
}

/// What the policy auto means, for the administrator who chose it.
pub(crate) fn policy_auto() -> String {
    let ca = crate::invocation::ca();
    format!(
        "requests over the web pages are issued at once, for any name the rules allow, to every signed-in user \
         (a request may name any host, and a CertAttrib line such as san:dns=NAME adds more, as AD CS's EDITF_ATTRIBUTESUBJECTALTNAME2 does): \
         keep it for requesters trusted with every name, else `{ca} config set policy pending`"
    )
}

/// What `acme_skips_approval` means, for the administrator who set the policy.
pub(crate) fn acme_skips_approval() -> String {
    let ca = crate::invocation::ca();
    format!(
        "requests over the web pages wait for an administrator (policy pending), but ACME issues at once \
         to any client that proves control of a name, with no account bound to a user: `{ca} config set acme-eab required` binds each ACME account \
         to a user (keys from `{ca} user eab NAME`), `{ca} config set acme off` turns ACME off"
    )
}

/// What the CA's URL means for revocation, when clients would not learn of one: no URL (no
/// CRL or OCSP address in certificates), or one over https (which a client must validate
/// before it can fetch from it, and which the CA/Browser Forum's certificate profiles do not
/// allow there). `None` for an http:// URL.
pub(crate) fn revocation_links_note(url: Option<&str>) -> Option<String> {
    let Some(url) = url else {
        return Some(format!(
            "certificates carry no CRL or OCSP address while the CA has no URL, so clients cannot learn that one was revoked: \
             `{} config set url http://HOST` (where clients reach this CA's pages over plain HTTP) adds them to every certificate issued after",
            crate::invocation::ca()
        ));
    };
    let mut notes = Vec::new();
    if url.to_ascii_lowercase().starts_with("https://") {
        notes.push(format!(
            "certificates will send clients to {url} for the CRL and OCSP: over https a client must first validate that server's certificate, \
             and the CA/Browser Forum's certificate profiles require http:// there; `{ca} config set url http://HOST` is the usual choice",
            ca = crate::invocation::ca()
        ));
    }
    // `ca serve` answers at the root of its address: a path is for a reverse proxy in front.
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| path.trim_end_matches('/'))
        .filter(|path| !path.is_empty());
    if let Some(path) = path {
        notes.push(format!(
            "certificates will send clients to {} and {}, and `ca serve` answers at {} and {} on its own address: \
             those links work only through a reverse proxy that takes /{path} off before passing requests on",
            (ca_web::LINKS.crl)(url),
            (ca_web::LINKS.ocsp)(url),
            (ca_web::LINKS.crl)(""),
            (ca_web::LINKS.ocsp)(""),
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}
