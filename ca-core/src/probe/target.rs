//! What to check: a URL such as `https://mail.example.com`, `smtp://mail.example.com:25` or
//! `mail.example.com:993`, read into a host (under the name rules of [`crate::name`]), a port
//! and the way a client starts TLS there.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::name::SubjectName;

/// The longest URL read: far more than any host name and port need.
pub const MAX_URL: usize = 2048;

/// How a client starts TLS with the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TLS from the first byte: HTTPS, IMAPS, POP3S, SMTPS (submissions), LDAPS, or any port.
    Tls,
    /// SMTP, then `STARTTLS` (RFC 3207).
    Smtp,
    /// IMAP, then `STARTTLS` (RFC 3501 §6.2.1).
    Imap,
    /// POP3, then `STLS` (RFC 2595 §4).
    Pop3,
}

impl Protocol {
    /// The command that switches to TLS, for protocols that start in plain text.
    pub fn starttls(self) -> Option<&'static str> {
        match self {
            Protocol::Tls => None,
            Protocol::Smtp | Protocol::Imap => Some("STARTTLS"),
            Protocol::Pop3 => Some("STLS"),
        }
    }
}

/// A server to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL's scheme as given (`https`, `smtp`, ...), or `tls` for `host:port`.
    pub scheme: String,
    /// The host, as a certificate must name it.
    pub host: SubjectName,
    pub port: u16,
    pub protocol: Protocol,
    /// The address to connect to in place of the host's own: a server that DNS does not point
    /// at yet. `None`: the host is looked up, as clients look it up.
    pub address: Option<std::net::IpAddr>,
}

/// The schemes read, each with its default port and how TLS starts.
const SCHEMES: &[(&str, u16, Protocol)] = &[
    ("https", 443, Protocol::Tls),
    ("smtp", 25, Protocol::Smtp),
    ("submission", 587, Protocol::Smtp),
    ("smtps", 465, Protocol::Tls),
    ("imap", 143, Protocol::Imap),
    ("imaps", 993, Protocol::Tls),
    ("pop3", 110, Protocol::Pop3),
    ("pop3s", 995, Protocol::Tls),
    ("ldaps", 636, Protocol::Tls),
];

impl Target {
    /// The `https://` URL of a host, for the certificate issued for it.
    pub fn https(host: SubjectName) -> Target {
        Target {
            scheme: "https".to_owned(),
            host,
            port: 443,
            protocol: Protocol::Tls,
            address: None,
        }
    }

    /// The target reached at `address` (an IP address, IPv6 in brackets or not) in place of
    /// the host's own: refused for a target that names an address already, and for
    /// addresses no server is reached at (unspecified, multicast, broadcast).
    pub fn at_address(mut self, address: &str) -> Result<Target> {
        let Some(literal) = crate::name::address_literal(address)? else {
            return Err(Error::InvalidInput(format!(
                "{} is not an IP address: give the address clients will reach the server at, as in 192.0.2.10 or 2001:db8::10 (the port is the URL's)",
                crate::display::quoted(address)
            )));
        };
        // Unspecified, multicast or broadcast: refused as no server is reached there.
        let ip = match literal.to_string().parse::<SubjectName>()? {
            SubjectName::Ip(ip) => ip,
            SubjectName::Dns(_) => literal,
        };
        if let SubjectName::Ip(named) = &self.host {
            return Err(Error::InvalidInput(format!(
                "the URL names the address {named} already: an address to connect to is given for a host name"
            )));
        }
        self.address = Some(ip);
        Ok(self)
    }

    /// True for `https`: what Outlook Anywhere and browsers connect to.
    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// The name sent in the handshake's server_name extension: DNS names only (RFC 6066 §3).
    pub(crate) fn sni(&self) -> Option<String> {
        self.host.dns().map(|name| name.as_str().to_owned())
    }

    /// The host as written in a URL: IPv6 addresses in brackets.
    pub fn host_in_url(&self) -> String {
        match &self.host {
            SubjectName::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme == "tls" {
            write!(f, "{}:{}", self.host_in_url(), self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host_in_url(), self.port)
        }
    }
}

impl FromStr for Target {
    type Err = Error;

    /// Reads `SCHEME://HOST[:PORT][/...]`, `HOST:PORT` or `HOST`. A bare `HOST` is HTTPS on
    /// 443; `HOST:PORT` is TLS from the first byte, except on the ports where mail starts in
    /// plain text (25 and 587 SMTP, 143 IMAP, 110 POP3), where a client uses STARTTLS. A path,
    /// query or fragment is ignored; a user name or password is refused, so that it is never
    /// repeated.
    fn from_str(input: &str) -> Result<Target> {
        let refuse = |why: String| Err(Error::InvalidInput(why));
        let text = input.trim();
        if text.is_empty() {
            return refuse("no URL given: give one such as https://mail.example.com".to_owned());
        }
        if text.len() > MAX_URL {
            return refuse(format!(
                "the URL is {} characters long; a server's URL is at most {MAX_URL}",
                text.len()
            ));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return refuse("a URL cannot contain spaces or control characters".to_owned());
        }
        let shown = shorten(text);
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, text),
        };
        // The scheme first: `file:///etc/passwd` is refused for its scheme, not its host.
        let known = match &scheme {
            Some(scheme) => Some(known_scheme(scheme)?),
            None => {
                // `file:/x`: a scheme and a path, not HOST:PORT.
                if let Some((name, after)) = text.split_once(':')
                    && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
                    && after.starts_with('/')
                {
                    return refuse(format!(
                        "'{}:' is no server address: give https://HOST[:PORT], or HOST:PORT",
                        shorten(name)
                    ));
                }
                None
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return refuse(format!(
                "'{}' holds a user name or password: leave them out, the check sends none",
                // Nor its query, where a token may ride.
                shorten(
                    text.replace(authority, "...")
                        .split(['?', '#'])
                        .next()
                        .unwrap_or_default()
                )
            ));
        }
        // A password may hold `/`, `?` or `#`, which would end the authority early: a URL
        // with `@` anywhere is never repeated (the check needs none).
        if text.contains('@') {
            return refuse(
                "the URL holds '@', as a user name or password would: leave them out, the check sends none".to_owned(),
            );
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{shown}' has no host, or a port that is not 1 to 65535"
            ))
        })?;
        let host: SubjectName = host.parse().map_err(|err| match err {
            Error::NameRefused { rule, .. } => {
                Error::InvalidInput(format!("'{shown}' does not name a host: {rule}"))
            }
            other => other,
        })?;
        if host.dns().is_some_and(|name| name.is_wildcard()) {
            return refuse(format!(
                "'{shown}' names a wildcard, which is no host to connect to: give one of the names it covers"
            ));
        }
        let (scheme, default_port, protocol) = match known {
            Some(known) => known,
            None => match port {
                None => ("https".to_owned(), 443, Protocol::Tls),
                Some(25 | 587) => ("smtp".to_owned(), 25, Protocol::Smtp),
                Some(143) => ("imap".to_owned(), 143, Protocol::Imap),
                Some(110) => ("pop3".to_owned(), 110, Protocol::Pop3),
                Some(_) => ("tls".to_owned(), 443, Protocol::Tls),
            },
        };
        Ok(Target {
            scheme,
            host,
            port: port.unwrap_or(default_port),
            protocol,
            address: None,
        })
    }
}

/// The scheme's name, default port and protocol, or why it cannot be checked.
fn known_scheme(scheme: &str) -> Result<(String, u16, Protocol)> {
    if let Some((name, port, protocol)) = SCHEMES.iter().find(|(name, _, _)| *name == scheme) {
        return Ok(((*name).to_owned(), *port, *protocol));
    }
    let advice = match scheme {
        "http" => "http:// carries no TLS; check https:// instead".to_owned(),
        "ldap" => "check LDAP over TLS as ldaps://HOST (port 636)".to_owned(),
        _ => format!(
            "use {}, or HOST:PORT for any other service that speaks TLS from the first byte",
            SCHEMES
                .iter()
                .map(|(name, _, _)| format!("{name}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(Error::InvalidInput(format!(
        "'{}://' cannot be checked: {advice}",
        shorten(scheme)
    )))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` when the host is empty or the port is
/// not 1 to 65535. A bare IPv6 address (`2001:db8::1`) is read as a host without a port.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port = |text: &str| text.parse::<u16>().ok().filter(|p| *p != 0);
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(port(after.strip_prefix(':')?)?)),
        }
    } else if authority.matches(':').count() > 1 {
        (authority, None)
    } else {
        match authority.split_once(':') {
            Some((host, text)) => (host, Some(port(text)?)),
            None => (authority, None),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

/// What is repeated of the input in a refusal: its first 100 characters.
fn shorten(text: &str) -> String {
    let mut shown: String = text.chars().take(100).collect();
    if shown.len() < text.len() {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(text: &str) -> (String, String, u16, Protocol) {
        let target: Target = text.parse().unwrap();
        (
            target.scheme.clone(),
            target.host.to_string(),
            target.port,
            target.protocol,
        )
    }

    #[test]
    fn reads_urls_and_host_port_as_clients_mean_them() {
        let https = |host: &str, port| ("https".to_owned(), host.to_owned(), port, Protocol::Tls);
        assert_eq!(
            read("https://Mail.Example.COM"),
            https("mail.example.com", 443)
        );
        assert_eq!(
            read("https://mail.example.com:8443/owa?x#y"),
            https("mail.example.com", 8443)
        );
        assert_eq!(read("mail.example.com"), https("mail.example.com", 443));
        assert_eq!(
            read("HTTPS://[2001:db8::1]:8443/"),
            https("2001:db8::1", 8443)
        );
        assert_eq!(
            read("https://bücher.example"),
            https("xn--bcher-kva.example", 443)
        );
        assert_eq!(
            read("smtp://mail.example.com"),
            ("smtp".into(), "mail.example.com".into(), 25, Protocol::Smtp)
        );
        assert_eq!(
            read("mail.example.com:587"),
            (
                "smtp".into(),
                "mail.example.com".into(),
                587,
                Protocol::Smtp
            )
        );
        assert_eq!(
            read("imap://192.0.2.7"),
            ("imap".into(), "192.0.2.7".into(), 143, Protocol::Imap)
        );
        assert_eq!(
            read("mail.example.com:993"),
            ("tls".into(), "mail.example.com".into(), 993, Protocol::Tls)
        );
        assert_eq!(
            read("ldaps://dc1.corp.local"),
            ("ldaps".into(), "dc1.corp.local".into(), 636, Protocol::Tls)
        );
        let target: Target = "[2001:db8::1]:993".parse().unwrap();
        assert_eq!(target.to_string(), "[2001:db8::1]:993");
        assert_eq!(target.sni(), None);
        let target: Target = "smtp://MAIL.example.com.".parse().unwrap();
        assert_eq!(target.to_string(), "smtp://mail.example.com:25");
        assert_eq!(target.sni().as_deref(), Some("mail.example.com"));
    }

    #[test]
    fn refuses_what_is_no_server_to_check() {
        for bad in [
            "",
            "   ",
            "https://",
            "https://:443",
            "https://mail.example.com:0",
            "https://mail.example.com:65536",
            "https://mail.example.com:https",
            "https://mail example.com",
            "https://mail_1.example.com",
            "https://*.example.com",
            "https://a..b.example.com",
            "http://mail.example.com",
            "ldap://dc1.example.com",
            "gopher://mail.example.com",
            "https://user:secret@mail.example.com",
            "https://[2001:db8::1",
            "https://0.0.0.0",
            "https://mail.exa\u{7}mple.com",
            "mail.example.com:\u{1b}[2J",
        ] {
            let err = bad.parse::<Target>().unwrap_err();
            assert!(err.is_refusal(), "{bad:?}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        // What is no server at all is refused for its scheme, before its host is read.
        for (bad, said) in [
            (
                "file:///etc/passwd",
                "'file://' cannot be checked: use https://",
            ),
            ("FILE:/etc/passwd", "'FILE:' is no server address"),
            ("ftp://user:secret@", "'ftp://' cannot be checked"),
            (
                "https://admin:S3cret/x@mail.example.com",
                "the URL holds '@'",
            ),
            (
                "https://admin:S3c?ret@mail.example.com",
                "the URL holds '@'",
            ),
        ] {
            let err = bad.parse::<Target>().unwrap_err().to_string();
            assert!(err.starts_with(said), "{bad}: {err}");
        }
        let err = "mail.example.com:abc"
            .parse::<Target>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("a port that is not 1 to 65535"), "{err}");
        let huge = format!("https://{}.example.com", "a".repeat(5000));
        let err = huge.parse::<Target>().unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
    }
}
