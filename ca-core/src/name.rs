//! Names a certificate may carry, and the policy that decides which ones the CA issues for.
//!
//! Every name, whether typed on the command line or found in a request, is parsed here once
//! (DESIGN §3, "Name rules"); nothing downstream re-checks it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::error::{Error, Result};

/// Top-level domains and suffixes that never resolve on the public internet (RFC 6762 `.local`,
/// RFC 8375 `home.arpa`, ICANN's `.internal`, and the de-facto `.lan`, `.corp`, `.home`, ...).
const INTERNAL_SUFFIXES: &[&str] = &[
    "local",
    "lan",
    "internal",
    "home.arpa",
    "localdomain",
    "localhost",
    "corp",
    "home",
    "intranet",
    "private",
];

/// A DNS name as it goes into a certificate: lowercase, IDNA A-labels, no trailing dot,
/// letters/digits/hyphens only (RFC 1123 §2.1), labels of 1–63 and names of at most 253
/// octets (RFC 1035 §2.3.4), and `*` only as the whole leftmost label of a name with at least
/// two labels after it (CA/B Forum BR 7.1.4.2, RFC 6125 §6.4.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// The name as written into certificates (A-labels).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as shown to people: IDNA U-labels where the name has any.
    pub fn unicode(&self) -> String {
        let (shown, result) = idna::domain_to_unicode(&self.0);
        if result.is_ok() {
            shown
        } else {
            self.0.clone()
        }
    }

    /// True for `*.example.com`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// True for names that resolve only inside a private network: single labels (`MAIL`) and
    /// names under a suffix such as `.local`, `.lan`, `.internal` or `home.arpa`.
    pub fn is_internal(&self) -> bool {
        !self.0.contains('.')
            || INTERNAL_SUFFIXES
                .iter()
                .any(|suffix| self.0 == *suffix || self.0.ends_with(&format!(".{suffix}")))
    }

    /// True when this name equals `domain` or lies below it (RFC 5280 §4.2.1.10 dNSName rule).
    pub fn is_within(&self, domain: &DnsName) -> bool {
        let name = self.0.strip_prefix("*.").unwrap_or(&self.0);
        name == domain.0 || name.ends_with(&format!(".{}", domain.0))
    }

    /// A file name stem for this name: `*.example.com` becomes `_wildcard.example.com`.
    pub fn file_stem(&self) -> String {
        match self.0.strip_prefix("*.") {
            Some(rest) => format!("_wildcard.{rest}"),
            None => self.0.clone(),
        }
    }
}

impl FromStr for DnsName {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let refuse = |reason: &str| Err(Error::invalid_name(input, reason));
        let trimmed = input.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return refuse("a name cannot be empty");
        }
        if name.contains(char::is_whitespace) {
            return refuse("a DNS name cannot contain spaces");
        }
        if name.split('.').any(str::is_empty) {
            return refuse(
                "a DNS name cannot have an empty label (two dots in a row, or a leading dot)",
            );
        }
        let (wildcard, rest) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        if rest.contains('*') {
            return refuse(
                "'*' is allowed only as the whole leftmost label, as in *.example.com (CA/Browser Forum BR 7.1.4.2)",
            );
        }
        if wildcard && rest.split('.').count() < 2 {
            return refuse(
                "a wildcard needs at least two labels after '*.', as in *.example.com: clients refuse *.com",
            );
        }
        let ascii = match Uts46::new().to_ascii(
            rest.as_bytes(),
            AsciiDenyList::EMPTY,
            Hyphens::Allow,
            DnsLength::Ignore,
        ) {
            Ok(ascii) => ascii.into_owned(),
            Err(_) => {
                return refuse("it is not a valid internationalised domain name (IDNA, RFC 5891)");
            }
        };
        for label in ascii.split('.') {
            if label.is_empty() {
                return refuse("a DNS name cannot have an empty label");
            }
            if label.len() > 63 {
                return refuse("a label is longer than 63 octets (RFC 1035 §2.3.4)");
            }
            if let Some(bad) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(Error::invalid_name(
                    input,
                    format!(
                        "'{bad}' is not allowed in a host name: only letters, digits and hyphens are (RFC 1123 §2.1)"
                    ),
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return refuse("a label cannot start or end with a hyphen (RFC 1123 §2.1)");
            }
        }
        let full = if wildcard {
            format!("*.{ascii}")
        } else {
            ascii
        };
        if full.len() > 253 {
            return refuse("the name is longer than 253 octets (RFC 1035 §2.3.4)");
        }
        if full
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return refuse(
                "the last label is all digits, so it is neither a host name nor a valid IP address",
            );
        }
        Ok(DnsName(full))
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a certificate's subjectAltName: a DNS name, or an IP address (never written
/// as a dNSName: RFC 5280 §4.2.1.6 and CA/B Forum BR 7.1.4.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SubjectName {
    Dns(DnsName),
    Ip(IpAddr),
}

impl SubjectName {
    /// The DNS name, if this is one.
    pub fn dns(&self) -> Option<&DnsName> {
        match self {
            SubjectName::Dns(name) => Some(name),
            SubjectName::Ip(_) => None,
        }
    }
}

impl FromStr for SubjectName {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        let literal = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(Error::invalid_name(
                    input,
                    "an unspecified or multicast address cannot identify a server",
                ));
            }
            return Ok(SubjectName::Ip(ip));
        }
        DnsName::from_str(input).map(SubjectName::Dns)
    }
}

impl fmt::Display for SubjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectName::Dns(name) => name.fmt(f),
            SubjectName::Ip(ip) => ip.fmt(f),
        }
    }
}

/// A subtree the root may vouch for: a domain and everything below it, or an IP range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermittedSubtree {
    Dns(DnsName),
    Ip { network: IpAddr, prefix: u8 },
}

impl PermittedSubtree {
    fn permits(&self, name: &SubjectName) -> bool {
        match (self, name) {
            (PermittedSubtree::Dns(domain), SubjectName::Dns(name)) => name.is_within(domain),
            (PermittedSubtree::Ip { network, prefix }, SubjectName::Ip(ip)) => {
                in_network(*ip, *network, *prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for PermittedSubtree {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        if let Some((addr, prefix)) = input.trim().split_once('/') {
            let network: IpAddr = addr.parse().map_err(|_| {
                Error::invalid_name(
                    input,
                    "a permitted IP range is written as ADDRESS/PREFIX, as in 192.168.0.0/16",
                )
            })?;
            let max = if network.is_ipv4() { 32 } else { 128 };
            let prefix = prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| {
                    Error::invalid_name(input, format!("the prefix length must be 0 to {max}"))
                })?;
            return Ok(PermittedSubtree::Ip { network, prefix });
        }
        let domain = DnsName::from_str(input)?;
        if domain.is_wildcard() {
            return Err(Error::invalid_name(
                input,
                "a permitted subtree is a domain such as example.com; it already covers every name below it",
            ));
        }
        Ok(PermittedSubtree::Dns(domain))
    }
}

impl fmt::Display for PermittedSubtree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PermittedSubtree::Dns(domain) => domain.fmt(f),
            PermittedSubtree::Ip { network, prefix } => write!(f, "{network}/{prefix}"),
        }
    }
}

/// What the CA may issue for: every name a certificate carries passes [`NamePolicy::check`].
#[derive(Clone, Debug, Default)]
pub struct NamePolicy {
    /// Names that resolve only on a private network are accepted (`--allow-internal`).
    pub allow_internal: bool,
    /// The root's permitted subtrees; empty when the root has no name constraints.
    pub permitted: Vec<PermittedSubtree>,
}

impl NamePolicy {
    /// Checks every name and returns them with duplicates removed, in the order given.
    pub fn check(&self, names: &[SubjectName]) -> Result<Vec<SubjectName>> {
        let mut unique: Vec<SubjectName> = Vec::with_capacity(names.len());
        for name in names {
            if unique.contains(name) {
                continue;
            }
            self.check_one(name)?;
            unique.push(name.clone());
        }
        if unique.is_empty() {
            return Err(Error::NoNames);
        }
        Ok(unique)
    }

    fn check_one(&self, name: &SubjectName) -> Result<()> {
        if let SubjectName::Dns(dns) = name
            && dns.is_internal()
            && !self.allow_internal
        {
            return Err(Error::invalid_name(
                dns.as_str(),
                "it is an internal name (a single label, or under .local, .lan, .internal, home.arpa or similar); \
                 clients outside the LAN cannot reach it, so use the public name clients connect to, \
                 or pass --allow-internal if this certificate is only for the LAN",
            ));
        }
        if !self.permitted.is_empty() && !self.permitted.iter().any(|p| p.permits(name)) {
            let permitted = self
                .permitted
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::NameNotPermitted {
                name: name.to_string(),
                permitted,
            });
        }
        Ok(())
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    fn masked(bytes: &[u8], prefix: u8) -> Vec<u8> {
        bytes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let bits = (prefix as usize).saturating_sub(i * 8).min(8);
                if bits == 0 {
                    0
                } else {
                    b & (0xffu8 << (8 - bits))
                }
            })
            .collect()
    }
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            masked(&a.octets(), prefix) == masked(&n.octets(), prefix)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            masked(&a.octets(), prefix) == masked(&n.octets(), prefix)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dns(s: &str) -> Result<String> {
        s.parse::<DnsName>().map(|n| n.as_str().to_owned())
    }

    fn reason(s: &str) -> String {
        match s.parse::<SubjectName>() {
            Err(Error::InvalidName { name, reason }) => {
                assert_eq!(name, s);
                reason
            }
            other => panic!("{s} should be refused, got {other:?}"),
        }
    }

    fn policy_reason(s: &str, policy: &NamePolicy) -> Error {
        policy.check(&[s.parse().unwrap()]).unwrap_err()
    }

    #[test]
    fn lowercases_and_drops_trailing_dot() {
        assert_eq!(dns("Mail.Example.COM.").unwrap(), "mail.example.com");
    }

    #[test]
    fn writes_idna_a_label_and_shows_u_label() {
        let name: DnsName = "bücher.example".parse().unwrap();
        assert_eq!(name.as_str(), "xn--bcher-kva.example");
        assert_eq!(name.unicode(), "bücher.example");
    }

    #[test]
    fn allows_wildcard_as_whole_leftmost_label() {
        let name: DnsName = "*.Example.com".parse().unwrap();
        assert_eq!(name.as_str(), "*.example.com");
        assert!(name.is_wildcard());
        assert_eq!(name.file_stem(), "_wildcard.example.com");
    }

    #[test]
    fn refuses_wildcard_over_a_public_suffix() {
        assert!(reason("*.com").contains("at least two labels"));
    }

    #[test]
    fn refuses_wildcard_in_middle_label() {
        assert!(reason("mail.*.example.com").contains("leftmost label"));
    }

    #[test]
    fn refuses_partial_wildcard_label() {
        assert!(reason("m*.example.com").contains("leftmost label"));
    }

    #[test]
    fn refuses_underscore() {
        assert!(reason("mail_1.example.com").contains("'_' is not allowed"));
    }

    #[test]
    fn refuses_empty_label() {
        assert!(reason("a..b.com").contains("empty label"));
    }

    #[test]
    fn refuses_leading_hyphen() {
        assert!(reason("-a.example.com").contains("hyphen"));
    }

    #[test]
    fn refuses_label_over_63_octets() {
        let name = format!("{}.example.com", "a".repeat(64));
        assert!(reason(&name).contains("63 octets"));
        assert!(dns(&format!("{}.example.com", "a".repeat(63))).is_ok());
    }

    #[test]
    fn refuses_name_over_253_octets() {
        let label = "a".repeat(60);
        let name = format!("{label}.{label}.{label}.{label}.example.com");
        assert!(name.len() > 253);
        assert!(reason(&name).contains("253 octets"));
    }

    #[test]
    fn ipv4_literal_is_an_ip_address() {
        assert_eq!(
            "192.0.2.10".parse::<SubjectName>().unwrap(),
            SubjectName::Ip("192.0.2.10".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_literal_is_an_ip_address() {
        assert_eq!(
            "2001:db8::1".parse::<SubjectName>().unwrap(),
            SubjectName::Ip("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn internal_names_need_allow_internal() {
        let strict = NamePolicy::default();
        let lan = NamePolicy {
            allow_internal: true,
            ..NamePolicy::default()
        };
        for name in [
            "MAIL",
            "srv01.corp.local",
            "nas.lan",
            "host.internal",
            "printer.home.arpa",
        ] {
            match policy_reason(name, &strict) {
                Error::InvalidName { reason, .. } => {
                    assert!(
                        reason.contains("clients outside the LAN cannot reach it"),
                        "{name}: {reason}"
                    );
                    assert!(reason.contains("--allow-internal"));
                }
                other => panic!("{name}: {other:?}"),
            }
            assert!(lan.check(&[name.parse().unwrap()]).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_name_outside_permitted_subtrees() {
        let policy = NamePolicy {
            allow_internal: false,
            permitted: vec!["example.com".parse().unwrap()],
        };
        assert!(policy.check(&["mail.example.com".parse().unwrap()]).is_ok());
        assert!(policy.check(&["*.example.com".parse().unwrap()]).is_ok());
        assert!(policy.check(&["example.com".parse().unwrap()]).is_ok());
        match policy_reason("mail.example.org", &policy) {
            Error::NameNotPermitted { name, permitted } => {
                assert_eq!(name, "mail.example.org");
                assert_eq!(permitted, "example.com");
            }
            other => panic!("{other:?}"),
        }
        // A suffix match must fall on a label boundary.
        assert!(matches!(
            policy_reason("badexample.com", &policy),
            Error::NameNotPermitted { .. }
        ));
        // IP addresses need a permitted IP range of their own.
        assert!(matches!(
            policy_reason("192.0.2.10", &policy),
            Error::NameNotPermitted { .. }
        ));
    }

    #[test]
    fn permits_ip_inside_permitted_range() {
        let policy = NamePolicy {
            allow_internal: false,
            permitted: vec!["192.0.2.0/24".parse().unwrap()],
        };
        assert!(policy.check(&["192.0.2.10".parse().unwrap()]).is_ok());
        assert!(policy.check(&["198.51.100.1".parse().unwrap()]).is_err());
    }

    #[test]
    fn removes_duplicates_keeping_order() {
        let names: Vec<SubjectName> = [
            "b.example.com",
            "A.example.com",
            "b.example.com.",
            "a.example.com",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let unique = NamePolicy::default().check(&names).unwrap();
        let shown: Vec<String> = unique.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["b.example.com", "a.example.com"]);
    }
}
