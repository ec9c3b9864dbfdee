//! What notices go out and where: the windows before expiry, the SMTP relay, the webhook and
//! the watched servers, each a setting in the log (so every server on it sends the same), each
//! read and checked here.

use std::fmt;

use lettre::Address;
use lettre::message::Mailbox;

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::name::SubjectName;
use crate::probe::Target;
use crate::store::Store;

/// The keys the log keeps these settings under.
pub const NOTIFY_DAYS: &str = "notify_days";
pub const SMTP_HOST: &str = "smtp_host";
pub const SMTP_PORT: &str = "smtp_port";
pub const SMTP_TLS: &str = "smtp_tls";
pub const SMTP_USER: &str = "smtp_user";
pub const SMTP_PASSWORD: &str = "smtp_password";
pub const SMTP_FROM: &str = "smtp_from";
pub const SMTP_TO: &str = "smtp_to";
pub const WEBHOOK: &str = "webhook";
pub const WATCH: &str = "watch";
pub const NOTIFY_INTERVAL: &str = "notify_interval";

/// Minutes between two rounds of the server (expiry warnings, notices due again) unless
/// configured; each round also checks the watched servers not checked for a day.
pub const DEFAULT_INTERVAL: u32 = 60;
/// The shortest and longest interval between rounds, in minutes.
const MIN_INTERVAL: u32 = 1;
const MAX_INTERVAL: u32 = 1440;

/// The days before notAfter at which a certificate is warned about, unless configured.
pub const DEFAULT_DAYS: &[u32] = &[30, 7, 1];
/// The most windows, recipients and watched servers a setting holds.
const MAX_DAYS: usize = 10;
const MAX_RECIPIENTS: usize = 20;
const MAX_WATCHED: usize = 50;
/// The longest text a setting of this module holds (a URL list, a password).
const MAX_VALUE: usize = 4096;

/// How the connection to the SMTP relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// Plain text, then STARTTLS, which must succeed (RFC 3207); port 587 by default.
    #[default]
    StartTls,
    /// TLS from the first byte ("implicit TLS", RFC 8314); port 465 by default.
    Tls,
    /// No TLS at all: only for a relay on this machine (loopback), port 25 by default.
    None,
}

impl Choice for SmtpSecurity {
    const WHAT: &'static str = "SMTP connection security";
    const ALL: &'static [Self] = &[
        SmtpSecurity::StartTls,
        SmtpSecurity::Tls,
        SmtpSecurity::None,
    ];

    fn name(self) -> &'static str {
        match self {
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }
}

impl SmtpSecurity {
    /// The port relays listen on for this kind of connection (RFC 8314 §7.3, RFC 6409).
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }
}

impl fmt::Display for SmtpSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The SMTP relay's password: never shown, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(pub(super) String);

impl SmtpPassword {
    pub(crate) fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpPassword(<redacted>)")
    }
}

/// Where e-mail notices go: the relay and the addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The relay; `None`: no e-mail.
    pub host: Option<SubjectName>,
    /// The port set, if one was; else [`SmtpSecurity::default_port`].
    pub port: Option<u16>,
    pub security: SmtpSecurity,
    /// The user to log in as; `None`: no login.
    pub user: Option<String>,
    pub password: Option<SmtpPassword>,
    /// The sender, as a mailbox (`CA <ca@example.com>` or `ca@example.com`).
    pub from: Option<String>,
    /// The recipients' addresses.
    pub to: Vec<String>,
}

impl SmtpSettings {
    /// The port connected to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }

    /// The settings e-mail still needs (by their names), when a relay is set.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.from.is_none() {
            missing.push("smtp-from");
        }
        if self.to.is_empty() {
            missing.push("smtp-to");
        }
        if self.user.is_some() && self.password.is_none() {
            missing.push("smtp-password");
        }
        missing
    }
}

/// A webhook's URL. It may carry a token in its path or query (as chat services' incoming
/// webhooks do), so it is shown and logged as scheme, host and port only.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl WebhookUrl {
    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    /// `https://hooks.example.com:8443/...`: what may be shown of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        write!(
            f,
            "{}://{}",
            url.scheme(),
            url.host_str().unwrap_or_default()
        )?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        let hidden = url.path() != "/" || url.query().is_some() || !url.username().is_empty();
        f.write_str(if hidden { "/..." } else { "/" })
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self})")
    }
}

/// A way notices reach people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Webhook,
}

impl Choice for Channel {
    const WHAT: &'static str = "channel";
    const ALL: &'static [Self] = &[Channel::Email, Channel::Webhook];

    fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Everything about notices, as the log holds it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySettings {
    /// Days before notAfter at which a certificate is warned about, widest first; empty for
    /// no expiry warnings.
    pub days: Vec<u32>,
    pub smtp: SmtpSettings,
    pub webhook: Option<WebhookUrl>,
    /// The servers checked daily.
    pub watch: Vec<Target>,
    /// Minutes between two rounds of the server.
    pub interval: u32,
}

impl NotifySettings {
    /// The channels set up (e-mail once a relay is named, whatever else it lacks: its notices
    /// wait until it is complete).
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.smtp.host.is_some() {
            channels.push(Channel::Email);
        }
        if self.webhook.is_some() {
            channels.push(Channel::Webhook);
        }
        channels
    }

    /// The settings as the log holds them now, in one query.
    pub(crate) async fn read(store: &Store) -> Result<NotifySettings> {
        let values = store
            .settings(&[
                NOTIFY_DAYS,
                SMTP_HOST,
                SMTP_PORT,
                SMTP_TLS,
                SMTP_USER,
                SMTP_PASSWORD,
                SMTP_FROM,
                SMTP_TO,
                WEBHOOK,
                WATCH,
                NOTIFY_INTERVAL,
            ])
            .await?;
        let get = |key: &str| {
            values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        Ok(NotifySettings {
            days: match values.iter().find(|(k, _)| k == NOTIFY_DAYS) {
                Some((_, days)) => parse_days(days)?,
                None => DEFAULT_DAYS.to_vec(),
            },
            smtp: SmtpSettings {
                host: get(SMTP_HOST).map(parse_host).transpose()?,
                port: get(SMTP_PORT).map(parse_port).transpose()?,
                security: get(SMTP_TLS)
                    .map(SmtpSecurity::from_name)
                    .transpose()?
                    .unwrap_or_default(),
                user: get(SMTP_USER).map(str::to_owned),
                password: get(SMTP_PASSWORD).map(|p| SmtpPassword(p.to_owned())),
                from: get(SMTP_FROM).map(parse_from).transpose()?,
                to: get(SMTP_TO).map(parse_to).transpose()?.unwrap_or_default(),
            },
            webhook: get(WEBHOOK).map(parse_webhook).transpose()?,
            watch: get(WATCH).map(parse_watch).transpose()?.unwrap_or_default(),
            interval: get(NOTIFY_INTERVAL)
                .map(parse_interval)
                .transpose()?
                .unwrap_or(DEFAULT_INTERVAL),
        })
    }
}

/// Checks a value of one of this module's settings (`key`), and returns it as the log keeps
/// it. An empty value turns the setting off (or back to its default).
pub(crate) fn normalise(key: &str, value: &str) -> Result<String> {
    if value.len() > MAX_VALUE {
        return Err(Error::InvalidInput(format!(
            "the value is {} bytes long; this setting holds at most {MAX_VALUE}",
            value.len()
        )));
    }
    if key == SMTP_PASSWORD {
        // Taken as given (spaces included); only line ends and control characters are refused.
        return check_password(value).map(|()| value.to_owned());
    }
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    Ok(match key {
        NOTIFY_DAYS => join_days(&parse_days(value)?),
        SMTP_HOST => parse_host(value)?.to_string(),
        SMTP_PORT => parse_port(value)?.to_string(),
        NOTIFY_INTERVAL => parse_interval(value)?.to_string(),
        SMTP_TLS => SmtpSecurity::from_name(value)?.name().to_owned(),
        SMTP_USER => {
            if value.chars().any(char::is_control) || value.chars().count() > 256 {
                return Err(Error::InvalidInput(
                    "an SMTP user name is at most 256 characters, without control characters"
                        .to_owned(),
                ));
            }
            value.to_owned()
        }
        SMTP_FROM => parse_from(value)?,
        SMTP_TO => parse_to(value)?.join(","),
        WEBHOOK => parse_webhook(value)?.0.to_string(),
        WATCH => parse_watch(value)?
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        other => {
            return Err(Error::InvalidInput(format!(
                "'{other}' is not a notice setting"
            )));
        }
    })
}

/// Refuses a relay without TLS that is not on this machine: the password and the notices
/// would cross the network in the clear. `host` and `security` are the values the settings
/// will hold once the change is made.
pub(crate) fn check_security(host: Option<&str>, security: Option<&str>) -> Result<()> {
    let security = security
        .filter(|s| !s.is_empty())
        .map(SmtpSecurity::from_name)
        .transpose()?
        .unwrap_or_default();
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let host = parse_host(host)?;
    if security == SmtpSecurity::None && !is_loopback(&host) {
        return Err(Error::InvalidInput(format!(
            "an SMTP relay without TLS must be on this machine (localhost, 127.0.0.1 or ::1), not {host}: \
             the password and the notices would cross the network in the clear; use smtp-tls starttls or tls"
        )));
    }
    Ok(())
}

/// True for `localhost` and loopback addresses.
pub(crate) fn is_loopback(host: &SubjectName) -> bool {
    match host {
        SubjectName::Ip(ip) => ip.is_loopback(),
        SubjectName::Dns(name) => name.as_str() == "localhost",
    }
}

fn check_password(value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::InvalidInput(
            "the SMTP password is empty: put it on the first line of the file".to_owned(),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "the SMTP password holds a control character: put the password alone on the first line of the file"
                .to_owned(),
        ));
    }
    Ok(())
}

/// `30,7,1` (commas or spaces): each 1 to 825 days, widest first, each once; `off` for none.
fn parse_days(text: &str) -> Result<Vec<u32>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let max = crate::profile::LEAF_MAX_DAYS;
    let mut days = text
        .split([',', ' '])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "'{d}' is not a number of days before expiry: give numbers from 1 to {max}, as in 30,7,1 (or off)"
                    ))
                })
        })
        .collect::<Result<Vec<u32>>>()?;
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    if days.len() > MAX_DAYS {
        return Err(Error::InvalidInput(format!(
            "{} warning windows are too many: give at most {MAX_DAYS}",
            days.len()
        )));
    }
    Ok(days)
}

/// Minutes between rounds: 1 to 1440.
fn parse_interval(text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|m| (MIN_INTERVAL..=MAX_INTERVAL).contains(m))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{}' is not an interval: give {MIN_INTERVAL} to {MAX_INTERVAL} minutes between rounds",
                shorten(text)
            ))
        })
}

pub(crate) fn join_days(days: &[u32]) -> String {
    if days.is_empty() {
        return "off".to_owned();
    }
    days.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_host(text: &str) -> Result<SubjectName> {
    // `user:password@relay`: the login goes in smtp-user and smtp-password, and is never
    // repeated.
    if text.contains('@') {
        return Err(Error::InvalidInput(
            "the SMTP relay is a host name or address alone: put a login in smtp-user and smtp-password, not before an '@'".to_owned(),
        ));
    }
    let host: SubjectName = text.trim().parse().map_err(|_| {
        Error::InvalidInput(format!(
            "'{}' is not a host name or IP address for the SMTP relay, as in mail.example.com",
            shorten(text)
        ))
    })?;
    if host.dns().is_some_and(|d| d.is_wildcard()) {
        return Err(Error::InvalidInput(format!(
            "'{host}' is a wildcard, not a host: give the SMTP relay's name"
        )));
    }
    Ok(host)
}

fn parse_port(text: &str) -> Result<u16> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{}' is not a port: give 1 to 65535 (587 for STARTTLS, 465 for TLS)",
                shorten(text)
            ))
        })
}

/// One address, checked as an SMTP server will take it (RFC 5321 §4.1.2).
fn parse_address(text: &str) -> Result<Address> {
    let text = text.trim();
    let refused = || {
        Error::InvalidInput(format!(
            "'{}' is not an e-mail address: give one such as ca@example.com",
            shorten(text)
        ))
    };
    if text.is_empty() || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refused());
    }
    text.parse::<Address>().map_err(|_| refused())
}

/// `ca@example.com` or `Example CA <ca@example.com>`, as the log keeps it.
fn parse_from(text: &str) -> Result<String> {
    let text = text.trim();
    let mailbox = match text.strip_suffix('>').and_then(|t| t.split_once('<')) {
        Some((name, address)) => {
            let name = name.trim().trim_matches('"').trim();
            if name.chars().any(|c| c.is_control() || "<>\"\\".contains(c)) {
                return Err(Error::InvalidInput(format!(
                    "'{}' is not a sender's name: leave out quotes, angle brackets and control characters",
                    shorten(name)
                )));
            }
            Mailbox::new(
                (!name.is_empty()).then(|| name.to_owned()),
                parse_address(address)?,
            )
        }
        None => Mailbox::new(None, parse_address(text)?),
    };
    Ok(mailbox.to_string())
}

/// Comma-separated addresses: at least one, at most [`MAX_RECIPIENTS`].
fn parse_to(text: &str) -> Result<Vec<String>> {
    let addresses = text
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| parse_address(a).map(|a| a.to_string()))
        .collect::<Result<Vec<String>>>()?;
    if addresses.len() > MAX_RECIPIENTS {
        return Err(Error::InvalidInput(format!(
            "{} recipients are too many: give at most {MAX_RECIPIENTS} (a mailing list's address counts as one)",
            addresses.len()
        )));
    }
    Ok(addresses)
}

/// An `https://` URL (any host), or `http://` to this machine only: the notices say which
/// certificates expire and which servers fail, which is nobody else's business.
fn parse_webhook(text: &str) -> Result<WebhookUrl> {
    let text = text.trim();
    let url = reqwest::Url::parse(text).map_err(|err| {
        Error::InvalidInput(format!(
            "'{}' is not a URL ({err}): give the webhook's https:// URL",
            shorten_url(text)
        ))
    })?;
    let host: Option<SubjectName> = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse().ok());
    let Some(host) = host else {
        return Err(Error::InvalidInput(format!(
            "'{}' names no host a webhook can be at: give the webhook's https:// URL",
            shorten_url(text)
        )));
    };
    // `localhost.` is a name in the DNS, which may answer anything: only `localhost` (from
    // /etc/hosts) and loopback addresses are this machine.
    let fully_qualified = url.host_str().is_some_and(|h| h.ends_with('.'));
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) && !fully_qualified => {}
        "http" => {
            return Err(Error::InvalidInput(format!(
                "a webhook over plain http:// must be on this machine, not {host}: notices would cross the network in the clear; give its https:// URL"
            )));
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "'{other}:' is not a webhook's scheme: give its https:// URL"
            )));
        }
    }
    if url.fragment().is_some() {
        return Err(Error::InvalidInput(
            "a webhook's URL has no #fragment: leave it out".to_owned(),
        ));
    }
    Ok(WebhookUrl(url))
}

/// Comma-separated servers, as the check of a live server reads them; each once, at most [`MAX_WATCHED`].
fn parse_watch(text: &str) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for part in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let target: Target = part.parse()?;
        // `https://host:443`, `host` and `host:443` are one server, checked once.
        let same = |t: &Target| {
            t.host == target.host && t.port == target.port && t.protocol == target.protocol
        };
        if !targets.iter().any(same) {
            targets.push(target);
        }
    }
    if targets.len() > MAX_WATCHED {
        return Err(Error::InvalidInput(format!(
            "{} servers are too many to watch: give at most {MAX_WATCHED}",
            targets.len()
        )));
    }
    Ok(targets)
}

/// What is repeated of an input in a refusal: its first 100 characters.
fn shorten(text: &str) -> String {
    let mut shown: String = text.chars().take(100).collect();
    if shown.len() < text.len() {
        shown.push_str("...");
    }
    shown
}

/// What is repeated of a URL that may hold a token: up to its path, without a user and
/// password.
fn shorten_url(text: &str) -> String {
    // Without `//` there is no host to show, and what follows the scheme may be a password
    // (`user:secret`).
    let Some(start) = text.find("://").map(|at| at + 3) else {
        return "(the value given)".to_owned();
    };
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |p| start + p);
    let host = match text[start..end].rfind('@') {
        Some(at) => format!("{}...@{}", &text[..start], &text[start + at + 1..end]),
        None => text[..end].to_owned(),
    };
    let shown = shorten(&host);
    if end < text.len() {
        format!("{shown}/...")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    #[test]
    fn a_relay_given_with_a_login_is_refused_without_repeating_it() {
        let refusal = parse_host("user:s3cret@relay.example.com")
            .unwrap_err()
            .to_string();
        assert!(
            !refusal.contains("s3cret") && !refusal.contains("user:"),
            "{refusal}"
        );
    }

    #[test]
    fn a_refused_webhook_url_is_repeated_without_its_user_password_or_path() {
        for bad in [
            "https://user:s3cret@ho st/hook?token=t0ken",
            "https://user:s3cret@/",
            "ht tps://user:s3cret@example.com/t0ken",
        ] {
            let refusal = parse_webhook(bad).unwrap_err().to_string();
            assert!(
                !refusal.contains("s3cret")
                    && !refusal.contains("t0ken")
                    && !refusal.contains("user"),
                "{refusal}"
            );
        }
        for bad in ["user:S3CRET", "admin:S3CRET/x"] {
            let refusal = parse_webhook(bad).unwrap_err().to_string();
            assert!(!refusal.contains("S3CRET"), "{refusal}");
        }
        let refusal = parse_webhook("https://u:p@ho st/x")
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("https://...@ho st/..."), "{refusal}");
    }

    #[test]
    fn reads_warning_windows_widest_first_each_once() {
        assert_eq!(parse_days("30,7,1").unwrap(), vec![30, 7, 1]);
        assert_eq!(parse_days(" 1 7,30, 7 ").unwrap(), vec![30, 7, 1]);
        assert_eq!(parse_days("off").unwrap(), Vec::<u32>::new());
        assert_eq!(normalise(NOTIFY_DAYS, "14, 3").unwrap(), "14,3");
        assert_eq!(normalise(NOTIFY_DAYS, "off").unwrap(), "off");
        for bad in ["0", "826", "-1", "seven", "1,,x", "1,2,3,4,5,6,7,8,9,10,11"] {
            assert!(parse_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_keys_are_those_of_the_settings() {
        use crate::settings::Setting;
        for (setting, key) in [
            (Setting::NotifyDays, NOTIFY_DAYS),
            (Setting::NotifyInterval, NOTIFY_INTERVAL),
            (Setting::SmtpHost, SMTP_HOST),
            (Setting::SmtpPort, SMTP_PORT),
            (Setting::SmtpTls, SMTP_TLS),
            (Setting::SmtpUser, SMTP_USER),
            (Setting::SmtpPassword, SMTP_PASSWORD),
            (Setting::SmtpFrom, SMTP_FROM),
            (Setting::SmtpTo, SMTP_TO),
            (Setting::Webhook, WEBHOOK),
            (Setting::Watch, WATCH),
        ] {
            assert_eq!(setting.key(), key);
            assert!(setting.is_notice());
        }
        assert!(!Setting::Url.is_notice());
        assert!(Setting::SmtpHost.normalise("mail.example.com").is_err());
    }

    #[test]
    fn rounds_are_one_minute_to_one_day_apart() {
        assert_eq!(normalise(NOTIFY_INTERVAL, " 15 ").unwrap(), "15");
        assert_eq!(normalise(NOTIFY_INTERVAL, "1440").unwrap(), "1440");
        for bad in ["0", "1441", "-5", "hourly", "1.5"] {
            assert!(normalise(NOTIFY_INTERVAL, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_addresses_strictly() {
        assert_eq!(
            normalise(SMTP_FROM, "Example CA <ca@example.com>").unwrap(),
            "Example CA <ca@example.com>"
        );
        assert_eq!(
            normalise(SMTP_FROM, "ca@example.com").unwrap(),
            "ca@example.com"
        );
        assert_eq!(
            normalise(SMTP_TO, "a@example.com, b@example.net").unwrap(),
            "a@example.com,b@example.net"
        );
        for bad in [
            "not an address",
            "a@",
            "@example.com",
            "a@example.com\r\nBcc: victim@example.com",
            "a@example.com b@example.com",
            "a@exa mple.com",
            "<a@example.com",
        ] {
            assert!(normalise(SMTP_TO, bad).is_err(), "{bad:?}");
            assert!(normalise(SMTP_FROM, bad).is_err(), "{bad:?}");
        }
        assert!(normalise(SMTP_FROM, "Evil\r\nBcc: x <a@example.com>").is_err());
    }

    #[test]
    fn refuses_a_relay_in_the_clear_beyond_this_machine() {
        assert!(check_security(Some("127.0.0.1"), Some("none")).is_ok());
        assert!(check_security(Some("localhost"), Some("none")).is_ok());
        assert!(check_security(Some("::1"), Some("none")).is_ok());
        assert!(check_security(Some("mail.example.com"), Some("starttls")).is_ok());
        assert!(check_security(None, Some("none")).is_ok());
        assert!(check_security(Some("mail.example.com"), Some("none")).is_err());
        assert!(check_security(Some("192.0.2.25"), Some("none")).is_err());
        assert_eq!(SmtpSecurity::StartTls.default_port(), 587);
        assert_eq!(SmtpSecurity::Tls.default_port(), 465);
    }

    #[test]
    fn a_webhook_is_https_or_on_this_machine_and_never_shown_whole() {
        let url = parse_webhook("https://hooks.example.com/services/T0/B0/secret-token").unwrap();
        assert_eq!(url.to_string(), "https://hooks.example.com/...");
        assert!(!format!("{url:?}").contains("secret"));
        assert_eq!(
            parse_webhook("http://127.0.0.1:9000/").unwrap().to_string(),
            "http://127.0.0.1:9000/"
        );
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/",
            "hooks.example.com",
            "https://",
            "https://hooks.example.com/#x",
        ] {
            assert!(parse_webhook(bad).is_err(), "{bad}");
        }
        let refused = parse_webhook("ftp//hooks.example.com/token-123").unwrap_err();
        assert!(!refused.to_string().contains("token-123"), "{refused}");
    }

    #[test]
    fn a_password_is_kept_as_given_but_never_shown() {
        assert_eq!(normalise(SMTP_PASSWORD, " s3cret ").unwrap(), " s3cret ");
        assert!(normalise(SMTP_PASSWORD, "").is_err());
        assert!(normalise(SMTP_PASSWORD, "a\nb").is_err());
        let password = SmtpPassword("s3cret".to_owned());
        assert!(!format!("{password:?}").contains("s3cret"));
    }

    #[test]
    fn watched_servers_are_read_as_the_check_reads_them() {
        assert_eq!(
            normalise(WATCH, "https://Mail.Example.com, smtp://mail.example.com").unwrap(),
            "https://mail.example.com:443,smtp://mail.example.com:25"
        );
        assert!(normalise(WATCH, "ftp://mail.example.com").is_err());
        assert!(normalise(WATCH, "https://user:pw@mail.example.com").is_err());
        assert_eq!(normalise(WATCH, "").unwrap(), "");
        // One server, however it is written, is watched once.
        assert_eq!(
            normalise(
                WATCH,
                "https://mail.example.com:443,mail.example.com,mail.example.com:443"
            )
            .unwrap(),
            "https://mail.example.com:443"
        );
    }
}
