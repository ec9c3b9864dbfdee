//! `ca config`: the CA's settings.

use std::path::Path;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Show the settings.
    Show,
    /// Change a setting: url (public base URL, for CRL and AIA links), policy (auto|pending),
    /// crl-days (1 to 365).
    Set {
        /// url, policy or crl-days.
        key: String,
        value: String,
    },
}

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    let mut authority = crate::cmd::open(data).await?;
    if let Command::Set { key, value } = &command {
        authority.set_setting(key, value, "cli").await?;
    }
    let settings = authority.settings();
    println!(
        "url       {}",
        settings
            .url
            .as_deref()
            .unwrap_or("(none: certificates carry no CRL or AIA links)")
    );
    println!("policy    {}", settings.policy.name());
    println!("crl-days  {}", settings.crl_days);
    Ok(())
}
