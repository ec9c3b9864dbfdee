//! `ca config`: the CA's settings.

use std::path::Path;

use ca_core::Setting;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Show the settings.
    Show,
    /// Change a setting: url (public base URL, for CRL and AIA links), policy (auto|pending),
    /// crl-days (1 to 365).
    Set {
        #[arg(value_parser = crate::cmd::choice::<Setting>())]
        key: Setting,
        value: String,
    },
}

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    let authority = match &command {
        Command::Show => crate::cmd::open_read(data).await?,
        Command::Set { key, value } => {
            let mut authority = crate::cmd::open(data).await?;
            authority
                .set_setting(*key, value, &crate::cmd::actor())
                .await?;
            authority
        }
    };
    let settings = authority.settings();
    say!(
        "url       {}",
        settings
            .url
            .as_deref()
            .unwrap_or("(none: certificates carry no CRL or AIA links)")
    );
    say!("policy    {}", settings.policy);
    say!("crl-days  {}", settings.crl_days);
    Ok(())
}
