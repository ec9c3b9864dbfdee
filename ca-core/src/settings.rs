//! The CA's settings, kept in the log so that every process sees the same ones at once.

use std::fmt;
use std::net::SocketAddr;

pub use crate::acme::{ACME_DEFAULT_DAYS, AcmeSettings};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::name::{DnsName, PermittedSubtree, SubjectName};
use crate::store::{Audit, Store};

/// Days from a CRL's thisUpdate to its nextUpdate unless configured otherwise.
pub const DEFAULT_CRL_DAYS: u32 = 7;
/// The longest CRL lifetime that can be configured.
const MAX_CRL_DAYS: u32 = 365;
/// The setting that holds the names of the CA's own web server.
pub(crate) const SERVER_NAMES: &str = "server_names";

/// True when `name` is reserved for the CA's own web server, whose names are `reserved`
/// ([`Settings::server_names`]): a certificate for it would also be good for one of them (the
/// same name, or a wildcard that covers it, as `*.example.com` covers `ca.example.com`).
/// Only an administrator may issue such a certificate: a requester holding one could
/// impersonate the CA's pages. Every check of requested names against the server's names
/// goes through here.
pub fn is_reserved(reserved: &[SubjectName], name: &SubjectName) -> bool {
    reserved.iter().any(|server| server.overlaps(name))
}

/// What happens to requests that arrive over the web.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RequestPolicy {
    /// Issued at once.
    Auto,
    /// Left pending until an admin approves or denies them.
    #[default]
    Pending,
}

impl Choice for RequestPolicy {
    const WHAT: &'static str = "request policy";
    const ALL: &'static [Self] = &[RequestPolicy::Auto, RequestPolicy::Pending];

    fn name(self) -> &'static str {
        match self {
            RequestPolicy::Auto => "auto",
            RequestPolicy::Pending => "pending",
        }
    }
}

impl fmt::Display for RequestPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A setting people may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Setting {
    /// The public base URL of the CA's pages, for the links certificates carry.
    Url,
    /// What happens to requests that arrive over the web.
    Policy,
    /// Days from a CRL's thisUpdate to its nextUpdate.
    CrlDays,
    /// ACME on or off.
    Acme,
    /// Whether ACME accounts need an external account binding (a user's key).
    AcmeEab,
    /// The domains and IP ranges ACME accounts may ask for (comma-separated; empty for any the
    /// rules allow).
    AcmeDomains,
    /// How long ACME certificates are valid, in days.
    AcmeDays,
    /// The port the http-01 validator connects to.
    AcmeHttpPort,
    /// The port the tls-alpn-01 validator connects to.
    AcmeTlsPort,
    /// The DNS server the validators ask (host:port), or `system`.
    AcmeDns,
    /// New ACME accounts without an external account binding one client address may make in
    /// an hour (0: no limit).
    AcmeAccountsPerHour,
    /// New ACME orders one client address may make in an hour (0: no limit).
    AcmeOrdersPerHour,
    /// Days before expiry at which a certificate is warned about (`30,7,1`, or `off`).
    NotifyDays,
    /// Minutes between two rounds of the server's notices.
    NotifyInterval,
    /// The SMTP relay's host name or address (empty: no e-mail).
    SmtpHost,
    /// The SMTP relay's port.
    SmtpPort,
    /// How the connection to the relay is protected: starttls, tls or none.
    SmtpTls,
    /// The user to log in to the relay as (empty: no login).
    SmtpUser,
    /// The relay's password (read from a file by the command line).
    SmtpPassword,
    /// The sender of e-mail notices.
    SmtpFrom,
    /// The recipients of e-mail notices (comma-separated).
    SmtpTo,
    /// The URL notices are POSTed to as JSON (empty: none).
    Webhook,
    /// The servers checked daily, as the check of a live server takes them (comma-separated).
    Watch,
    /// The file holding the bearer token that may read the metrics (`-` for standard input;
    /// empty to remove the token). Only the token's SHA-256 is kept.
    MetricsTokenFile,
}

impl Choice for Setting {
    const WHAT: &'static str = "setting";
    const ALL: &'static [Self] = &[
        Setting::Url,
        Setting::Policy,
        Setting::CrlDays,
        Setting::Acme,
        Setting::AcmeEab,
        Setting::AcmeDomains,
        Setting::AcmeDays,
        Setting::AcmeHttpPort,
        Setting::AcmeTlsPort,
        Setting::AcmeDns,
        Setting::AcmeAccountsPerHour,
        Setting::AcmeOrdersPerHour,
        Setting::NotifyDays,
        Setting::NotifyInterval,
        Setting::SmtpHost,
        Setting::SmtpPort,
        Setting::SmtpTls,
        Setting::SmtpUser,
        Setting::SmtpPassword,
        Setting::SmtpFrom,
        Setting::SmtpTo,
        Setting::Webhook,
        Setting::Watch,
        Setting::MetricsTokenFile,
    ];

    fn name(self) -> &'static str {
        match self {
            Setting::Url => "url",
            Setting::Policy => "policy",
            Setting::CrlDays => "crl-days",
            Setting::Acme => "acme",
            Setting::AcmeEab => "acme-eab",
            Setting::AcmeDomains => "acme-domains",
            Setting::AcmeDays => "acme-days",
            Setting::AcmeHttpPort => "acme-http-port",
            Setting::AcmeTlsPort => "acme-tls-port",
            Setting::AcmeDns => "acme-dns",
            Setting::AcmeAccountsPerHour => "acme-accounts-per-hour",
            Setting::AcmeOrdersPerHour => "acme-orders-per-hour",
            Setting::NotifyDays => "notify-days",
            Setting::NotifyInterval => "notify-interval",
            Setting::SmtpHost => "smtp-host",
            Setting::SmtpPort => "smtp-port",
            Setting::SmtpTls => "smtp-tls",
            Setting::SmtpUser => "smtp-user",
            Setting::SmtpPassword => "smtp-password",
            Setting::SmtpFrom => "smtp-from",
            Setting::SmtpTo => "smtp-to",
            Setting::Webhook => "webhook",
            Setting::Watch => "watch",
            Setting::MetricsTokenFile => "metrics-token-file",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Setting {
    /// The key the log keeps the setting under.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Setting::Url => "url",
            Setting::Policy => "policy",
            Setting::CrlDays => "crl_days",
            Setting::Acme => "acme",
            Setting::AcmeEab => "acme_eab",
            Setting::AcmeDomains => "acme_domains",
            Setting::AcmeDays => "acme_days",
            Setting::AcmeHttpPort => "acme_http_port",
            Setting::AcmeTlsPort => "acme_tls_port",
            Setting::AcmeDns => "acme_dns",
            Setting::AcmeAccountsPerHour => "acme_accounts_per_hour",
            Setting::AcmeOrdersPerHour => "acme_orders_per_hour",
            Setting::NotifyDays => "notify_days",
            Setting::NotifyInterval => "notify_interval",
            Setting::SmtpHost => "smtp_host",
            Setting::SmtpPort => "smtp_port",
            Setting::SmtpTls => "smtp_tls",
            Setting::SmtpUser => "smtp_user",
            Setting::SmtpPassword => "smtp_password",
            Setting::SmtpFrom => "smtp_from",
            Setting::SmtpTo => "smtp_to",
            Setting::Webhook => "webhook",
            Setting::Watch => "watch",
            Setting::MetricsTokenFile => "metrics_token_sha256",
        }
    }

    /// How a change of the setting is written into the audit trail.
    pub fn audit(self) -> Audit {
        match self {
            Setting::SmtpPassword | Setting::MetricsTokenFile => Audit::Hidden,
            Setting::Webhook => Audit::Origin,
            _ => Audit::Value,
        }
    }

    /// True for a setting of the notices: `Authority::set_notice_setting` checks and sets
    /// those (notify/config.rs reads them).
    pub fn is_notice(self) -> bool {
        matches!(
            self,
            Setting::NotifyDays
                | Setting::NotifyInterval
                | Setting::SmtpHost
                | Setting::SmtpPort
                | Setting::SmtpTls
                | Setting::SmtpUser
                | Setting::SmtpPassword
                | Setting::SmtpFrom
                | Setting::SmtpTo
                | Setting::Webhook
                | Setting::Watch
        )
    }

    /// Checks `value` and returns it as the log keeps it.
    pub(crate) fn normalise(self, value: &str) -> Result<(&'static str, String)> {
        let value = value.trim();
        let stored = match self {
            Setting::Url => {
                // A scheme is read in any case (RFC 3986 §3.1); certificates carry it lowercase.
                let value = match value.split_once("://") {
                    Some((scheme, rest))
                        if scheme.eq_ignore_ascii_case("http")
                            || scheme.eq_ignore_ascii_case("https") =>
                    {
                        format!("{}://{rest}", scheme.to_ascii_lowercase())
                    }
                    _ => value.to_owned(),
                };
                check_url(&value)?;
                value.trim_end_matches('/').to_owned()
            }
            Setting::Policy => RequestPolicy::from_name(value)?.name().to_owned(),
            Setting::CrlDays => parse_crl_days(value)?.to_string(),
            Setting::Acme => on_off(value)?.to_owned(),
            Setting::AcmeEab => match value.to_ascii_lowercase().as_str() {
                "required" | "on" | "yes" => "required".to_owned(),
                "optional" | "off" | "no" => "optional".to_owned(),
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "'{value}' is not an external account binding choice: use required or optional"
                    )));
                }
            },
            Setting::AcmeDomains => parse_domains(value, true)?
                .iter()
                .map(PermittedSubtree::address_or_range)
                .collect::<Vec<_>>()
                .join(","),
            Setting::AcmeDays => parse_acme_days(value)?.to_string(),
            Setting::AcmeHttpPort | Setting::AcmeTlsPort => parse_port(value)?.to_string(),
            Setting::AcmeAccountsPerHour | Setting::AcmeOrdersPerHour => {
                parse_per_hour(value)?.to_string()
            }
            Setting::MetricsTokenFile => {
                return Err(Error::InvalidInput(
                    "metrics-token-file takes the path of a file that holds the token, which is read from it".into(),
                ));
            }
            Setting::AcmeDns => match value {
                "system" | "" => "system".to_owned(),
                address => address
                    .parse::<SocketAddr>()
                    .ok()
                    .filter(|server| server.port() != 0)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "'{address}' is not a DNS server address: give IP:PORT with a port of 1 to 65535, as in 192.0.2.53:53, or system"
                        ))
                    })?
                    .to_string(),
            },
            // The notice settings (`is_notice`).
            _ => {
                return Err(Error::InvalidInput(format!(
                    "{self} is a notice setting, set with the notices' own checks"
                )));
            }
        };
        Ok((self.key(), stored))
    }
}

/// The CA's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The public base URL of the pages, for CRL distribution points and AIA.
    pub url: Option<String>,
    pub policy: RequestPolicy,
    /// Days from a CRL's thisUpdate to its nextUpdate.
    pub crl_days: u32,
    /// How many times the CA certificate was renewed (AD CS `nRenewals`): 0 for a new CA.
    pub renewals: u32,
    /// The names on the CA's own web server's certificate: only an admin may issue for them.
    pub server_names: Vec<SubjectName>,
    pub acme: AcmeSettings,
}

impl Settings {
    /// True when ACME issues at once what a request over the web pages would wait for: the
    /// policy is `pending`, ACME is on, and its accounts are bound to no user (anyone who
    /// proves control of a name gets a certificate for it, unseen by an administrator).
    pub fn acme_skips_approval(&self) -> bool {
        self.policy == RequestPolicy::Pending && self.acme.enabled && !self.acme.eab_required
    }

    /// True when `name` is reserved for the CA's own web server (see [`is_reserved`]).
    pub fn is_reserved(&self, name: &SubjectName) -> bool {
        is_reserved(&self.server_names, name)
    }

    /// The settings as the log holds them now, in one query (a server reads them for every
    /// issuance, so a change by another process takes effect at once).
    pub(crate) async fn read(store: &Store) -> Result<Settings> {
        let values = store
            .settings(&[
                "url",
                "policy",
                "crl_days",
                "renewals",
                SERVER_NAMES,
                "acme",
                "acme_eab",
                "acme_domains",
                "acme_days",
                "acme_http_port",
                "acme_tls_port",
                "acme_dns",
                "acme_accounts_per_hour",
                "acme_orders_per_hour",
            ])
            .await?;
        let get = |key: &str| {
            values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        Ok(Settings {
            url: get("url").map(str::to_owned),
            policy: match get("policy") {
                Some(policy) => RequestPolicy::from_name(policy)?,
                None => RequestPolicy::default(),
            },
            crl_days: match get("crl_days") {
                Some(days) => parse_crl_days(days)?,
                None => DEFAULT_CRL_DAYS,
            },
            renewals: get("renewals")
                .and_then(|n| n.parse().ok())
                .unwrap_or_default(),
            server_names: get(SERVER_NAMES)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect(),
            acme: AcmeSettings {
                enabled: get("acme") != Some("off"),
                eab_required: get("acme_eab") == Some("required"),
                domains: parse_domains(get("acme_domains").unwrap_or_default(), false)?,
                days: match get("acme_days") {
                    Some(days) => parse_acme_days(days)?,
                    None => ACME_DEFAULT_DAYS,
                },
                http_port: get("acme_http_port")
                    .map(parse_port)
                    .transpose()?
                    .unwrap_or(80),
                tls_port: get("acme_tls_port")
                    .map(parse_port)
                    .transpose()?
                    .unwrap_or(443),
                dns: get("acme_dns").and_then(|d| d.parse().ok()),
                accounts_per_hour: get("acme_accounts_per_hour")
                    .map(parse_per_hour)
                    .transpose()?
                    .unwrap_or(crate::acme::ACCOUNTS_PER_HOUR),
                orders_per_hour: get("acme_orders_per_hour")
                    .map(parse_per_hour)
                    .transpose()?
                    .unwrap_or(crate::acme::ORDERS_PER_HOUR),
            },
        })
    }

    /// The rows a new CA starts with.
    pub(crate) fn initial(
        url: Option<&str>,
        policy: RequestPolicy,
    ) -> Result<Vec<(&'static str, String)>> {
        let mut rows = vec![
            ("policy", policy.name().to_owned()),
            ("renewals", "0".to_owned()),
        ];
        if let Some(url) = url {
            rows.push(Setting::Url.normalise(url)?);
        }
        Ok(rows)
    }
}

fn on_off(text: &str) -> Result<&'static str> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok("on"),
        "off" | "no" | "false" => Ok("off"),
        _ => Err(Error::InvalidInput(format!(
            "'{text}' is neither on nor off"
        ))),
    }
}

/// `acme-domains` as given (`strict`: each entry must let ACME issue for some name), or as
/// the log keeps it (what an earlier version took stays readable).
pub(crate) fn parse_domains(text: &str, strict: bool) -> Result<Vec<PermittedSubtree>> {
    let mut domains: Vec<PermittedSubtree> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
    {
        let domain = if strict {
            let domain = parse_domain(d)?;
            refuse_a_domain_acme_never_issues_under(d, &domain)?;
            domain
        } else {
            parse_domain(&as_kept(d))?
        };
        if seen.insert(domain.clone()) {
            domains.push(domain);
        }
    }
    Ok(domains)
}

/// An entry as the log keeps it, in the form read now: earlier versions took a range's
/// prefix with leading zeros or a plus sign (`/024`, `/+24`).
fn as_kept(d: &str) -> String {
    match d.split_once('/') {
        Some((network, prefix)) if !d.contains("://") => match prefix.parse::<u8>() {
            Ok(prefix) => format!("{network}/{prefix}"),
            Err(_) => d.to_owned(),
        },
        _ => d.to_owned(),
    }
}

/// One entry of `acme-domains`: a domain, an address (the range of that one address), or a
/// range.
fn parse_domain(d: &str) -> Result<PermittedSubtree> {
    let domain = if let Some(ip) = crate::name::address_literal(d)? {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        PermittedSubtree::Ip {
            network: ip,
            prefix,
        }
    } else if d.contains('/') && !d.contains("://") {
        d.parse()?
    } else {
        let domain: DnsName = d.parse()?;
        if domain.is_wildcard() {
            return Err(Error::InvalidInput(format!(
                "'{d}' is not a domain: give example.com, which covers every name below it"
            )));
        }
        PermittedSubtree::Dns(domain)
    };
    Ok(domain)
}

/// Refuses an entry of `acme-domains` under which ACME could issue for no name.
fn refuse_a_domain_acme_never_issues_under(d: &str, domain: &PermittedSubtree) -> Result<()> {
    let internal = match domain {
        PermittedSubtree::Dns(name) => name.holds_only_internal_names() || name.never_resolves(),
        PermittedSubtree::Ip { .. } => domain.holds_only_internal_addresses(),
    };
    if internal {
        return Err(Error::InvalidInput(format!(
            "'{d}' holds only internal names or addresses (private, loopback or link-local ranges, .local and the like): ACME issues for none of them, so no order for it could be issued"
        )));
    }
    if let PermittedSubtree::Ip {
        network: std::net::IpAddr::V6(ip),
        prefix,
    } = &domain
        && let Some(v4) = ip.to_ipv4_mapped()
        && *prefix >= 96
    {
        return Err(Error::InvalidInput(format!(
            "'{d}' is IPv4 written in IPv6 form, which ACME identifiers never are: give {}",
            PermittedSubtree::Ip {
                network: v4.into(),
                prefix: prefix - 96
            }
            .address_or_range()
        )));
    }
    Ok(())
}

fn parse_acme_days(text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=crate::profile::LEAF_MAX_DAYS).contains(d))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{text}' is not a certificate lifetime: give 1 to {} days",
                crate::profile::LEAF_MAX_DAYS
            ))
        })
}

/// The most an ACME rate may be set to: past it, a limit limits nothing.
const MAX_PER_HOUR: u32 = 1_000_000;

fn parse_per_hour(text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_PER_HOUR)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{text}' is not a number per hour: give 0 (no limit) to {MAX_PER_HOUR}"
            ))
        })
}

fn parse_port(text: &str) -> Result<u16> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::InvalidInput(format!("'{text}' is not a port: give 1 to 65535")))
}

fn parse_crl_days(text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_CRL_DAYS).contains(d))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{text}' is not a CRL lifetime: give 1 to {MAX_CRL_DAYS} days"
            ))
        })
}

/// Checks a public base URL: http or https, with a host, without spaces.
fn check_url(url: &str) -> Result<()> {
    if url.trim().is_empty() {
        return Err(Error::InvalidInput(
            "the URL is not taken away: certificates issued without one carry no CRL or OCSP address, so their clients never learn of a revocation; give the public base URL, as in http://mail.example.com".into(),
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{url}' is not an http:// or https:// URL; give the public base URL, as in http://mail.example.com"
            ))
        })?;
    let (authority, _) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // Every certificate carries this URL for anyone to read: never a password (not repeated).
    if authority.contains('@') {
        return Err(Error::InvalidInput(
            "the URL holds a user name or password (before @), which every certificate would show to anyone who reads it: give it without them, as in http://mail.example.com".into(),
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((address, after)) => (address, after.strip_prefix(':')),
            None => ("", None),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#']) {
        return Err(Error::InvalidInput(format!(
            "'{url}' is not a base URL: give scheme and host (and a path if any), as in http://mail.example.com"
        )));
    }
    // Clients resolve `.` and `..` before they ask (RFC 3986 §5.2.4): the address a
    // certificate carries would not be the one asked.
    let path = rest.get(authority.len()..).unwrap_or_default();
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(Error::InvalidInput(format!(
            "'{}' has . or .. in its path, which clients resolve before they ask: give the path as it is, without them",
            crate::display::inert(url)
        )));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|port| port > 0)
    {
        return Err(Error::InvalidInput(format!(
            "'{url}' has no usable port ('{port}'): give 1 to 65535, or none for the scheme's own"
        )));
    }
    // A control character would go into every certificate's addresses, and be printed raw
    // wherever the URL is shown.
    if url.contains(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "'{}' holds a control character, which no URL may: give the public base URL as clients type it",
            crate::display::inert(url)
        )));
    }
    // Certificates carry the URL as an IA5String: ASCII only, or nothing could be issued.
    if !url.is_ascii() {
        let how = match host.parse::<DnsName>() {
            Ok(name) if !host.is_ascii() => format!("write the host as {}", name.as_str()),
            _ => "percent-encode what is not ASCII (%C3%A9 for é)".to_owned(),
        };
        return Err(Error::InvalidInput(format!(
            "'{url}' holds characters other than ASCII, which a certificate's CRL and OCSP addresses cannot: {how}"
        )));
    }
    if host.parse::<std::net::IpAddr>().is_err()
        && let Err(err) = host.parse::<DnsName>()
    {
        return Err(Error::InvalidInput(format!(
            "'{url}' does not name a host clients can look up: {err}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn acme_domains_refuse_ranges_of_internal_addresses_only() {
        let refused = |d: &str| parse_domains(d, true).is_err();
        // Wholly inside one internal or unusable block, also as IPv6 forms carrying IPv4.
        for d in [
            "10.1.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "240.0.0.0/5",
            "0.0.0.0/8",
            "fc00::/7",
            "ff02::1",
            "64:ff9b::a00:0/104",
            "64:ff9b:1::/48",
            "2002:a00::/24",
            "::a00:1",
            // Covered by two blocks side by side, not by one.
            "224.0.0.0/3",
            "fe80::/9",
            "2002:e000::/19",
            "64:ff9b::e000:0/99",
            "::ffff:0:e000:0/99",
            // A mapped internal range: internal, not told a form that is refused in turn.
            "::ffff:10.0.0.0/104",
        ] {
            assert!(refused(d), "{d}");
        }
        // Holding some address a client outside reaches.
        for d in [
            "0.0.0.0/0",
            "8.0.0.0/7",
            "192.0.2.0/24",
            "::/0",
            "2002:c000:200::/40",
            "64:ff9b::/96",
            "2001:db8::/32",
        ] {
            assert!(!refused(d), "{d}");
        }
        // What the log holds is read whatever it is.
        assert_eq!(
            parse_domains("10.0.0.0/8,corp.local", false).unwrap().len(),
            2
        );
    }

    #[test]
    fn acme_domains_in_words_name_a_few_of_each_kind() {
        struct Words(Vec<PermittedSubtree>);
        impl Words {
            fn domains_in_words(&self, shown: usize) -> String {
                crate::acme::domains_in_words(&self.0, shown)
            }
        }
        let settings = |text: &str| Words(parse_domains(text, true).unwrap());
        assert_eq!(
            settings("a.example, 192.0.2.0/24").domains_in_words(5),
            "names under a.example and addresses in 192.0.2.0/24"
        );
        let many: Vec<String> = (1..=9).map(|i| format!("192.0.2.{i}")).collect();
        assert_eq!(
            settings(&many.join(",")).domains_in_words(2),
            "addresses in 192.0.2.1, 192.0.2.2 (and 7 more); no DNS name"
        );
        assert_eq!(
            settings("bücher.example, a.example, b.example").domains_in_words(2),
            "names under bücher.example, a.example (and 1 more); no IP address"
        );
    }

    #[test]
    fn the_audit_trail_holds_no_secret() {
        use crate::store::audited;
        assert_eq!(
            audited(Setting::SmtpPassword.audit(), Some("pw s3cret")),
            "(changed)"
        );
        assert_eq!(
            audited(Setting::MetricsTokenFile.audit(), Some("ab12")),
            "(changed)"
        );
        assert_eq!(
            audited(
                Setting::Webhook.audit(),
                Some("https://u:pw@hooks.example.com:8443/T0/token?k=v")
            ),
            "https://hooks.example.com:8443 (the rest not shown)"
        );
        assert_eq!(audited(Setting::Webhook.audit(), Some("")), "");
        assert_eq!(audited(Setting::Policy.audit(), Some("auto")), "auto");
        assert_eq!(audited(Audit::Hidden, None), "removed");
    }

    fn names(texts: &[&str]) -> Vec<SubjectName> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn an_address_is_reserved_in_every_form_that_carries_it() {
        let server: Vec<SubjectName> = vec!["203.0.113.9".parse().unwrap()];
        for reserved in [
            "203.0.113.9",
            "::ffff:203.0.113.9",
            "::203.0.113.9",
            "64:ff9b::cb00:7109",
            "2002:cb00:7109::1",
        ] {
            assert!(
                is_reserved(&server, &reserved.parse().unwrap()),
                "{reserved}"
            );
        }
        assert!(!is_reserved(&server, &"203.0.113.10".parse().unwrap()));
        assert!(!is_reserved(
            &server,
            &"2001:db8::cb00:7109".parse().unwrap()
        ));
    }

    #[test]
    fn a_name_is_reserved_when_a_certificate_for_it_would_serve_the_cas_own_server() {
        let server = names(&["ca.example.com", "192.0.2.10"]);
        for reserved in [
            "ca.example.com",
            "CA.Example.COM.",
            "*.example.com",
            "192.0.2.10",
        ] {
            assert!(
                is_reserved(&server, &reserved.parse().unwrap()),
                "{reserved}"
            );
        }
        for free in [
            "example.com",
            "mail.example.com",
            "*.ca.example.com",
            "*.mail.example.com",
            "ca.example.org",
            "*.com.example.com",
            "192.0.2.11",
        ] {
            assert!(!is_reserved(&server, &free.parse().unwrap()), "{free}");
        }
        // A server known by a wildcard reserves every name it covers.
        let wildcard = names(&["*.example.net"]);
        assert!(is_reserved(&wildcard, &"ca.example.net".parse().unwrap()));
        assert!(is_reserved(&wildcard, &"*.example.net".parse().unwrap()));
        assert!(!is_reserved(&wildcard, &"a.b.example.net".parse().unwrap()));
    }

    #[test]
    fn a_dns_server_needs_a_port() {
        assert!(Setting::AcmeDns.normalise("1.2.3.4:0").is_err());
        for bad in ["-1", "ten", "", "1000001", "1.5"] {
            assert!(
                Setting::AcmeAccountsPerHour.normalise(bad).is_err(),
                "{bad}"
            );
            assert!(Setting::AcmeOrdersPerHour.normalise(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Setting::AcmeOrdersPerHour.normalise(" 0 ").unwrap(),
            ("acme_orders_per_hour", "0".to_owned())
        );
        assert!(Setting::AcmeDns.normalise("1.2.3.4:53").is_ok());
        assert!(Setting::AcmeDns.normalise("[2001:db8::53]:53").is_ok());
    }

    #[test]
    fn refuses_urls_that_are_not_http() {
        assert!(check_url("http://mail.example.com").is_ok());
        assert!(check_url("https://mail.example.com:8443/ca").is_ok());
        for bad in [
            "ftp://mail.example.com",
            "http://",
            "mail.example.com",
            "http://a b",
            "http://a/?x",
            "http://ca.example.com:99999",
            "http://ca.example.com:0",
            "http://ca.example.com:http",
            "http://[2001:db8::1",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        // Emptied, it would leave certificates without revocation links: said so.
        let emptied = check_url(" ").unwrap_err().to_string();
        assert!(emptied.contains("no CRL or OCSP address"), "{emptied}");
        assert!(check_url("http://[2001:db8::1]:8080/pki").is_ok());
        assert!(check_url("http://192.0.2.1:80").is_ok());
        for dotted in [
            "http://ca.example.com/pki/../x",
            "http://ca.example.com/./pki",
        ] {
            assert!(check_url(dotted).is_err(), "{dotted}");
        }
        assert!(check_url("http://ca.example.com/pki..x/a.b").is_ok());
        assert_eq!(
            Setting::Url
                .normalise("HTTP://ca.example.com/pki/")
                .unwrap()
                .1,
            "http://ca.example.com/pki"
        );
        // A password is refused and not repeated.
        let refused = check_url("http://admin:s3cret@ca.example.com").unwrap_err();
        assert!(!refused.to_string().contains("s3cret"), "{refused}");
        // What no certificate can carry, or no client look up, is refused with the fix.
        let idn = check_url("http://bücher.example/pki")
            .unwrap_err()
            .to_string();
        assert!(idn.contains("xn--bcher-kva.example"), "{idn}");
        let path = check_url("http://ca.example.com/pkí")
            .unwrap_err()
            .to_string();
        assert!(path.contains("percent-encode"), "{path}");
        for bad in [
            "http://ca_x.example.com",
            "http://-bad.example.com/ca",
            "http://a..b",
        ] {
            let said = check_url(bad).unwrap_err().to_string();
            assert!(said.contains("does not name a host"), "{bad}: {said}");
        }
        assert!(check_url("http://ca:8080").is_ok());
        let control = check_url("http://ca.example.com/\u{1b}[31m\u{7}x").unwrap_err();
        assert!(
            control.to_string().contains("control character")
                && !control.to_string().contains('\u{1b}'),
            "{control}"
        );
        assert!(check_url("http://xn--bcher-kva.example/pki").is_ok());
    }

    #[test]
    fn normalises_each_setting() {
        assert_eq!(
            Setting::Url
                .normalise(" http://mail.example.com/ ")
                .unwrap(),
            ("url", "http://mail.example.com".to_owned())
        );
        assert_eq!(
            Setting::Policy.normalise("AUTO").unwrap(),
            ("policy", "auto".to_owned())
        );
        assert_eq!(
            Setting::CrlDays.normalise("365").unwrap(),
            ("crl_days", "365".to_owned())
        );
        assert!(Setting::CrlDays.normalise("366").is_err());
        assert!(Setting::CrlDays.normalise("0").is_err());
        assert!(Setting::Policy.normalise("sometimes").is_err());
    }
}
