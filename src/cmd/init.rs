//! `ca init`: create the root.

use std::path::Path;

use ca_core::{Authority, InitOptions, KeyAlgorithm, PermittedSubtree, RequestPolicy};

use crate::cmd::{CLI_CONNECTIONS, passphrase};
use crate::output::human;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The root's name (its subject CN) [default: "<domain or host name> Root CA"]
    #[arg(long)]
    name: Option<String>,
    /// The root's key: rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384.
    #[arg(long, default_value = "rsa3072", value_name = "ALG")]
    key: String,
    /// How long the root is valid, in days [default: 3650]
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// Restrict the root to names under DOMAIN (or an IP range ADDR/PREFIX); repeatable.
    #[arg(long, value_name = "DOMAIN")]
    permit: Vec<String>,
    /// Public base URL of this CA's pages, as in http://mail.example.com, for CRL and AIA links.
    #[arg(long, value_name = "BASE_URL")]
    url: Option<String>,
    /// What happens to requests that arrive over the web: auto (issued at once) or pending.
    #[arg(long, default_value = "pending")]
    policy: String,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let options = InitOptions {
        name: args.name,
        key: args.key.parse::<KeyAlgorithm>()?,
        days: args.days,
        permitted: args
            .permit
            .iter()
            .map(|p| p.parse::<PermittedSubtree>())
            .collect::<Result<_, _>>()?,
        url: args.url,
        policy: args.policy.parse::<RequestPolicy>()?,
        passphrase: passphrase()?,
        actor: "cli".into(),
    };
    let authority = Authority::init(data, options, CLI_CONNECTIONS).await?;
    describe_new_root(&authority);
    Ok(())
}

/// Tells people what was created and what to do next.
pub(crate) fn describe_new_root(authority: &Authority) {
    let root = authority.root();
    println!(
        "Created the CA \"{}\" in {}",
        root.common_name(),
        authority.dir().display()
    );
    println!("  key          {}", root.key_algorithm());
    println!("  valid until  {}", human(root.not_after()));
    if !root.permitted().is_empty() {
        let permitted: Vec<String> = root.permitted().iter().map(ToString::to_string).collect();
        println!("  permits only {}", permitted.join(", "));
    }
    println!("  SHA-256      {}", root.fingerprint().colons());
    println!(
        "Install {} on every client as a trusted root (`ca root --out root.crt` writes a copy).",
        authority.dir().join("root.crt").display()
    );
}
