//! `ca config`: the CA's settings.

use std::path::Path;

use ca_core::Setting;

use crate::cmd::Refused;

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Show the settings.
    Show,
    /// Change a setting: url (public base URL, for CRL and AIA links), policy (auto|pending),
    /// crl-days (1 to 365), acme (on|off), acme-eab (required|optional), acme-domains
    /// (domains and IP ranges, comma-separated, empty for any), acme-days (1 to 825),
    /// acme-http-port, acme-tls-port, acme-dns (IP:PORT or system), acme-accounts-per-hour and acme-orders-per-hour (per
    /// client address, 0 for no limit); notices: notify-days (30,7,1 or off), notify-interval
    /// (minutes between rounds, 1 to 1440), smtp-host, smtp-port, smtp-tls
    /// (starttls|tls|none), smtp-user, smtp-password (a FILE holding it on its first line,
    /// or `-` for standard input: never the password itself), smtp-from, smtp-to
    /// (comma-separated), webhook (https:// URL), watch (servers as `ca check` takes them,
    /// comma-separated); metrics-token-file (a file holding the bearer token that may read
    /// /metrics, `-` for standard input, empty to remove it). An empty value turns a setting
    /// off (not url: certificates would lose their revocation links).
    Set {
        #[arg(value_parser = crate::cmd::choice::<Setting>())]
        key: Setting,
        /// The value (one that starts with '-', as -1, is taken as a value and checked).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    // The URL before a change: certificates issued under it keep its links.
    let mut before = None;
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
            // The password comes from a file: a command line is visible to every user.
            let value = if *key == Setting::SmtpPassword {
                if value.is_empty() {
                    String::new()
                } else {
                    let password = crate::cmd::read_password(Path::new(value), "SMTP password")?;
                    // An empty file is a mistake more often than a wish: removing the password
                    // takes an empty value, said as such.
                    if password.is_empty() {
                        return Err(Refused(format!(
                            "{value} holds no SMTP password, so the one stored is kept: put the password on its first line, or remove it with `{} config set smtp-password ''`",
                            crate::invocation::ca()
                        ))
                        .into());
                    }
                    password
                }
            } else {
                value.clone()
            };
            let mut authority = crate::cmd::open(data).await?;
            before = authority.settings().url.clone();
            if *key == Setting::SmtpPassword && value.is_empty() {
                authority.clear_setting(*key, &crate::cmd::actor()).await?;
            } else if key.is_notice() {
                authority
                    .set_notice_setting(*key, &value, &crate::cmd::actor())
                    .await?;
            } else {
                authority
                    .set_setting(*key, &value, &crate::cmd::actor())
                    .await?;
            }
            authority
        }
    };
    let mut lines = Vec::new();
    let settings = authority.settings();
    lines.push(format!(
        "url       {}",
        settings
            .url
            .as_deref()
            .unwrap_or("(none: certificates carry no CRL or AIA links)")
    ));
    // Notes after the settings, each with the keys it is about: shown with every setting, or
    // after a change of one of its keys.
    let mut notes: Vec<(&[&str], String)> = Vec::new();
    if let Some(url) = settings.url.as_deref()
        && let Some(note) = crate::cmd::init::revocation_links_note(Some(url))
    {
        notes.push((&["url"], note));
    }
    if matches!(
        command,
        Command::Set {
            key: Setting::Url,
            ..
        }
    ) && before != settings.url
        && let Some(note) = links_left_behind(&authority, settings.url.as_deref()).await?
    {
        notes.push((&["url"], note));
    }
    if settings.policy == ca_core::settings::RequestPolicy::Auto {
        notes.push((&["policy"], crate::cmd::init::policy_auto()));
    }
    if settings.acme_skips_approval() {
        notes.push((
            &["policy", "acme", "acme-eab"],
            crate::cmd::init::acme_skips_approval(),
        ));
    }
    lines.push(format!("policy    {}", settings.policy));
    lines.push(format!("crl-days  {}", settings.crl_days));
    let acme = &settings.acme;
    lines.push(format!(
        "acme            {}",
        if acme.enabled { "on" } else { "off" }
    ));
    lines.push(format!(
        "acme-eab        {}",
        if acme.eab_required {
            "required"
        } else {
            "optional"
        }
    ));
    let domains = acme.domain_texts();
    lines.push(format!(
        "acme-domains    {}",
        if domains.is_empty() {
            "(any)".to_owned()
        } else {
            domains.join(",")
        }
    ));
    lines.push(format!("acme-days       {}", acme.days));
    lines.push(format!("acme-http-port  {}", acme.http_port));
    lines.push(format!("acme-tls-port   {}", acme.tls_port));
    lines.push(format!(
        "acme-dns        {}",
        acme.dns
            .map_or_else(|| "system".to_owned(), |d| d.to_string())
    ));
    lines.push(format!(
        "acme-accounts-per-hour  {}",
        per_hour(acme.accounts_per_hour)
    ));
    lines.push(format!(
        "acme-orders-per-hour    {}",
        per_hour(acme.orders_per_hour)
    ));
    // The token is set from a file (`metrics-token-file`), and kept only as its hash: what
    // is shown is whether there is one.
    lines.push(format!(
        "metrics-token    {}",
        if authority.has_metrics_token().await? {
            "set (only its SHA-256 is kept; metrics-token-file sets another)".to_owned()
        } else {
            format!(
                "(none: /metrics answers administrators only; `{} config set metrics-token-file FILE` sets one)",
                crate::invocation::ca()
            )
        }
    ));
    show_notices(&authority, &mut lines).await?;
    let changed = match &command {
        Command::Show => None,
        Command::Set {
            key: Setting::MetricsTokenFile,
            ..
        } => Some("metrics-token"),
        Command::Set { key, .. } => Some(ca_core::Choice::name(*key)),
    };
    // After a change, only the setting changed (and, for e-mail, what it still lacks).
    let shown = |line: &&String| {
        changed.is_none_or(|name| {
            line.split_whitespace().next() == Some(name)
                || (name.starts_with("smtp-") && line.trim_start().starts_with("(e-mail"))
        })
    };
    for line in lines.iter().filter(shown) {
        say!("{line}");
    }
    for (keys, note) in &notes {
        if changed.is_none_or(|name| keys.contains(&name)) {
            say!("Note: {note}.");
        }
    }
    authority.close().await;
    Ok(())
}

/// What a change of the public URL leaves behind: valid certificates that name another OCSP
/// responder than the URL `now` gives (or none), read from each certificate, since clients
/// follow those, not the setting. Counted among the newest [`COUNTED`].
async fn links_left_behind(
    authority: &ca_core::Authority,
    now: Option<&str>,
) -> anyhow::Result<Option<String>> {
    const COUNTED: u32 = 1000;
    let filter = ca_core::ListFilter {
        status: Some(ca_core::Status::Valid),
        order: ca_core::ListOrder::IdDesc,
        limit: Some(COUNTED),
        ..Default::default()
    };
    let wanted = now.map(|base| (ca_web::LINKS.ocsp)(base));
    // What each names instead (its first OCSP address, else its first CRL), how many.
    let mut elsewhere: std::collections::BTreeMap<Option<String>, usize> = Default::default();
    // The CA's own certificates are made anew by `ca serve`.
    for listed in authority
        .list(&filter)
        .await?
        .iter()
        .filter(|row| row.own().is_none())
    {
        let Some(cert) = authority.request(listed.id).await?.certificate else {
            continue;
        };
        let named = ca_core::certificate::RevocationPointers::of(&cert.der);
        if wanted
            .as_ref()
            .is_some_and(|wanted| named.ocsp.contains(wanted))
        {
            continue;
        }
        let shown = named.ocsp.first().or(named.crl.first()).cloned();
        *elsewhere.entry(shown).or_default() += 1;
    }
    if elsewhere.is_empty() {
        return Ok(None);
    }
    let total: usize = elsewhere.values().sum();
    let parts: Vec<String> = elsewhere
        .iter()
        .map(|(named, count)| {
            let (verb, carry) = if *count == 1 {
                ("names", "carries")
            } else {
                ("name", "carry")
            };
            match named {
                Some(url) => format!("{count} {verb} {url}"),
                None => format!("{count} {carry} no address"),
            }
        })
        .collect();
    let (them, their) = if total == 1 {
        ("it", "its")
    } else {
        ("them", "their")
    };
    Ok(Some(format!(
        "valid certificates issued before do not name the OCSP responder of this URL ({}): {their} clients ask where each names, or, where none is named, cannot learn of a revocation; keep those addresses answering, or renew {them} (`{ca} list --status valid`, then `{ca} renew ID`)",
        parts.join("; "),
        ca = crate::invocation::ca()
    )))
}

/// The notice settings; the password only as set or not.
async fn show_notices(
    authority: &ca_core::Authority,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    let notify = authority.notify_settings().await?;
    let none = |what: &str| format!("({what})");
    lines.push(format!(
        "notify-days      {}",
        if notify.days.is_empty() {
            "off".to_owned()
        } else {
            notify
                .days
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    ));
    lines.push(format!("notify-interval  {} minutes", notify.interval));
    let smtp = &notify.smtp;
    lines.push(format!(
        "smtp-host        {}",
        smtp.host
            .as_ref()
            .map_or_else(|| none("none: no e-mail"), ToString::to_string)
    ));
    lines.push(format!("smtp-port        {}", smtp.port()));
    lines.push(format!("smtp-tls         {}", smtp.security));
    lines.push(format!(
        "smtp-user        {}",
        smtp.user.clone().unwrap_or_else(|| none("none: no login"))
    ));
    lines.push(format!(
        "smtp-password    {}",
        if smtp.password.is_some() {
            "(set)"
        } else {
            "(not set)"
        }
    ));
    lines.push(format!(
        "smtp-from        {}",
        smtp.from.clone().unwrap_or_else(|| none("not set"))
    ));
    lines.push(format!(
        "smtp-to          {}",
        if smtp.to.is_empty() {
            none("not set")
        } else {
            smtp.to.join(",")
        }
    ));
    lines.push(format!(
        "webhook          {}",
        notify
            .webhook
            .as_ref()
            .map_or_else(|| none("none"), ToString::to_string)
    ));
    lines.push(format!(
        "watch            {}",
        if notify.watch.is_empty() {
            none("none")
        } else {
            notify
                .watch
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    ));
    if smtp.host.is_some() {
        let missing = smtp.missing();
        if !missing.is_empty() {
            lines.push(format!(
                "  (e-mail notices wait until {} {} set)",
                missing.join(" and "),
                if missing.len() == 1 { "is" } else { "are" }
            ));
        }
    }
    Ok(())
}

/// An ACME rate as the settings show it: per client address, or no limit.
pub(crate) fn per_hour(limit: u32) -> String {
    if limit == 0 {
        "0 (no limit)".to_owned()
    } else {
        format!("{limit} (per client address)")
    }
}
