//! `ca config`: the CA's settings.

use std::path::Path;

use ca_core::Setting;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Show the settings.
    Show,
    /// Change a setting: url (public base URL, for CRL and AIA links), policy (auto|pending),
    /// crl-days (1 to 365), acme (on|off), acme-eab (required|optional), acme-domains
    /// (comma-separated, empty for any), acme-days (1 to 825), acme-http-port, acme-tls-port,
    /// acme-dns (IP:PORT or system), metrics-token-file (a file holding the bearer token
    /// that may read /metrics, `-` for standard input, empty to remove it).
    Set {
        #[arg(value_parser = crate::cmd::choice::<Setting>())]
        key: Setting,
        value: String,
    },
}

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    let authority = match &command {
        Command::Show => crate::cmd::open_read(data).await?,
        Command::Set {
            key: Setting::MetricsTokenFile,
            value,
        } => {
            let authority = crate::cmd::open(data).await?;
            let token = if value.trim().is_empty() {
                None
            } else {
                let text = crate::cmd::read_password(Path::new(value), "metrics token")?;
                Some(ca_core::metrics::MetricsToken::from_text(&text)?)
            };
            authority
                .set_metrics_token(token.as_ref(), &crate::cmd::actor())
                .await?;
            authority
        }
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
    let acme = &settings.acme;
    say!(
        "acme            {}",
        if acme.enabled { "on" } else { "off" }
    );
    say!(
        "acme-eab        {}",
        if acme.eab_required {
            "required"
        } else {
            "optional"
        }
    );
    let domains: Vec<&str> = acme.domains.iter().map(|d| d.as_str()).collect();
    say!(
        "acme-domains    {}",
        if domains.is_empty() {
            "(any)".to_owned()
        } else {
            domains.join(",")
        }
    );
    say!("acme-days       {}", acme.days);
    say!("acme-http-port  {}", acme.http_port);
    say!("acme-tls-port   {}", acme.tls_port);
    say!(
        "acme-dns        {}",
        acme.dns
            .map_or_else(|| "system".to_owned(), |d| d.to_string())
    );
    say!(
        "metrics-token   {}",
        if authority.has_metrics_token().await? {
            "set (only its SHA-256 is kept)"
        } else {
            "(none: /metrics answers administrators only)"
        }
    );
    Ok(())
}
