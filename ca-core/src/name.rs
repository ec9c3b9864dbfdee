//! Names a certificate may carry, and the policy that decides which ones the CA issues for.
//!
//! Every name, whether typed on the command line or found in a request, is parsed here once
//! (DESIGN §3, "Name rules"); nothing downstream re-checks it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::error::{Error, NameRule, Result};

/// The longest label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// The longest name in its text form (RFC 1035 §2.3.4, less the root label's length octets).
const MAX_NAME: usize = 253;

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
                .any(|suffix| is_at_or_below(&self.0, suffix))
    }

    /// True for `invalid` and the names under it, which never resolve (RFC 6761 §6.4).
    pub fn never_resolves(&self) -> bool {
        is_at_or_below(&self.0, "invalid")
    }

    /// True for domains every name under which is internal (see [`DnsName::is_internal`]):
    /// at or below `.local`, `.lan`, `home.arpa`, ... (a single label such as `com` is a
    /// domain of public names).
    pub fn holds_only_internal_names(&self) -> bool {
        INTERNAL_SUFFIXES
            .iter()
            .any(|suffix| is_at_or_below(&self.0, suffix))
    }

    /// True when some host name is matched by both this name and `other`: they are equal, or
    /// one is a wildcard whose `*` stands for the leftmost label of the other (RFC 6125
    /// §6.4.3: `*` matches exactly one whole label, so `*.example.com` covers
    /// `ca.example.com` but neither `example.com` nor `a.b.example.com`).
    pub fn overlaps(&self, other: &DnsName) -> bool {
        fn covers(wildcard: &DnsName, name: &DnsName) -> bool {
            match (wildcard.0.strip_prefix("*."), name.0.split_once('.')) {
                (Some(base), Some((first, rest))) => first != "*" && rest == base,
                _ => false,
            }
        }
        self == other || covers(self, other) || covers(other, self)
    }

    /// True when this name equals `domain` or lies below it (RFC 5280 §4.2.1.10 dNSName rule).
    pub fn is_within(&self, domain: &DnsName) -> bool {
        let name = self.0.strip_prefix("*.").unwrap_or(&self.0);
        is_at_or_below(name, &domain.0)
    }

    /// A file name stem for this name: `*.example.com` becomes `_wildcard.example.com`.
    pub fn file_stem(&self) -> String {
        file_stem(&self.0)
    }
}

impl FromStr for DnsName {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        DnsName::parse(input, true)
    }
}

impl DnsName {
    /// [`DnsName::from_str`]; `plain_as_is` takes a name already in the form certificates carry
    /// as it is, which UTS #46 would hand back unchanged (false only in the test that checks so).
    fn parse(input: &str, plain_as_is: bool) -> Result<Self> {
        let refuse = |rule: NameRule| Err(Error::name(input, rule));
        let trimmed = input.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return refuse(NameRule::Empty);
        }
        // The form of every name the log holds and of most names requests bring, taken as it
        // is when every rule below would take it so; any other name goes the whole way.
        if plain_as_is && is_plain_and_whole(name) {
            return Ok(DnsName(name.to_owned()));
        }
        if name.contains(char::is_whitespace) {
            return refuse(NameRule::Whitespace);
        }
        // What people paste where a host name goes: a URL, a host and port, an address.
        if name.contains("://") {
            return refuse(NameRule::Url);
        }
        if name.contains('@') {
            return refuse(NameRule::Email);
        }
        // A host and port, or an IPv6 address in brackets and a port (`[2001:db8::1]:443`).
        if let Some((host, port)) = name.rsplit_once(':')
            && !host.is_empty()
            && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
            && (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            return refuse(NameRule::Port);
        }
        if name.split('.').any(str::is_empty) {
            return refuse(NameRule::EmptyLabel);
        }
        let (wildcard, rest) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        if rest.contains('*') {
            return refuse(NameRule::WildcardPosition);
        }
        if wildcard && rest.split('.').count() < 2 {
            return refuse(NameRule::WildcardTooBroad);
        }
        let ascii = match Uts46::new().to_ascii(
            rest.as_bytes(),
            AsciiDenyList::EMPTY,
            Hyphens::Allow,
            DnsLength::Ignore,
        ) {
            Ok(ascii) => ascii.into_owned(),
            Err(_) => return refuse(NameRule::Idna),
        };
        if mixes_scripts(&ascii) {
            return refuse(NameRule::MixedScript);
        }
        for label in ascii.split('.') {
            if label.is_empty() {
                return refuse(NameRule::EmptyLabel);
            }
            if label.len() > MAX_LABEL {
                return refuse(NameRule::LabelTooLong);
            }
            if let Some(bad) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return refuse(NameRule::Character(bad));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return refuse(NameRule::Hyphen);
            }
        }
        if wildcard && is_public_suffix(&ascii) {
            // Named as people write it (U-labels).
            return refuse(NameRule::WildcardOverPublicSuffix(DnsName(ascii).unicode()));
        }
        let full = if wildcard {
            format!("*.{ascii}")
        } else {
            ascii
        };
        if full.len() > MAX_NAME {
            return refuse(NameRule::NameTooLong);
        }
        if full
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return refuse(NameRule::NumericTld);
        }
        Ok(DnsName(full))
    }
}

/// True for a name that is already what [`DnsName::parse`] would make of it and that no rule
/// refuses: no wildcard, at most 253 octets, labels of 1 to 63 lowercase letters, digits and
/// hyphens, none at a label's ends, no A-label (`xn--`, which UTS #46 decodes and checks),
/// and a last label that is not all digits. One pass over the bytes, where the rules one by
/// one read the name a dozen times.
fn is_plain_and_whole(name: &str) -> bool {
    if name.len() > MAX_NAME {
        return false;
    }
    let mut numeric = false;
    for label in name.as_bytes().split(|&b| b == b'.') {
        let (Some(&first), Some(&last)) = (label.first(), label.last()) else {
            return false;
        };
        if label.len() > MAX_LABEL
            || first == b'-'
            || last == b'-'
            || label.starts_with(b"xn--")
            || !label
                .iter()
                .all(|&b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        {
            return false;
        }
        numeric = label.iter().all(u8::is_ascii_digit);
    }
    !numeric
}

/// Whether `name` (A-labels) is itself a public suffix of the Public Suffix List's ICANN
/// section (`co.uk`, or `b.ck` by the rule `*.ck`), as Chromium decides whether a wildcard
/// over it may match: the list's private section (`github.io`) and names under no rule of
/// the list (`corp`) are no public suffix to it.
fn is_public_suffix(name: &str) -> bool {
    psl::suffix(name.as_bytes()).is_some_and(|suffix| {
        suffix.is_known() && suffix.typ() == Some(psl::Type::Icann) && suffix == name.as_bytes()
    })
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
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

    /// The name as shown to people: U-labels for DNS names (DESIGN §3), IP addresses as usual.
    pub fn shown(&self) -> String {
        match self {
            SubjectName::Dns(name) => name.unicode(),
            SubjectName::Ip(ip) => ip.to_string(),
        }
    }

    /// The name as shown to people and, when it differs, as certificates carry it in brackets
    /// (`bücher.example` with its A-labels), so that a name in a script that passes for
    /// another (an all-Cyrillic `аррӏе.com`) is seen for what it is where it is weighed.
    pub fn shown_with_a_labels(&self) -> String {
        let (shown, written) = (self.shown(), self.to_string());
        if shown == written {
            shown
        } else {
            format!("{shown} ({written})")
        }
    }

    /// A file name stem for this name (see [`file_stem`]).
    pub fn file_stem(&self) -> String {
        file_stem(&self.to_string())
    }

    /// True when a certificate for this name would also be good for `other`, or the reverse:
    /// DNS names that overlap (see [`DnsName::overlaps`]), or addresses that reach the same
    /// host: the same, or an IPv6 form that carries the other's IPv4 address (see
    /// [`embedded_v4`]; Java and Go take `::ffff:203.0.113.9` for `203.0.113.9`).
    pub fn overlaps(&self, other: &SubjectName) -> bool {
        let reached = |ip: &IpAddr| match ip {
            IpAddr::V6(v6) => embedded_v4(*v6).map_or(*ip, IpAddr::V4),
            IpAddr::V4(_) => *ip,
        };
        match (self, other) {
            (SubjectName::Dns(a), SubjectName::Dns(b)) => a.overlaps(b),
            (SubjectName::Ip(a), SubjectName::Ip(b)) => reached(a) == reached(b),
            _ => false,
        }
    }

    /// True for names that resolve only inside a private network (see
    /// [`DnsName::is_internal`]), and IP addresses that only a private network reaches (see
    /// [`is_internal_v4`] and [`is_internal_v6`]).
    pub fn is_internal(&self) -> bool {
        match self {
            SubjectName::Dns(name) => name.is_internal(),
            SubjectName::Ip(IpAddr::V4(ip)) => is_internal_v4(*ip),
            SubjectName::Ip(IpAddr::V6(ip)) => is_internal_v6(*ip),
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
            if is_unusable(ip) {
                return Err(Error::name(input, NameRule::UnusableAddress));
            }
            return Ok(SubjectName::Ip(ip));
        }
        if literal
            .split_once('%')
            .is_some_and(|(address, _)| address.parse::<IpAddr>().is_ok())
        {
            return Err(Error::name(input, NameRule::ZoneIndex));
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

/// True when `name` is `domain` or ends in `.` and `domain`.
fn is_at_or_below(name: &str, domain: &str) -> bool {
    name.strip_suffix(domain)
        .is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

/// True for addresses no client can connect to a server at: unspecified ("this network",
/// 0.0.0.0/8 and ::), multicast (224.0.0.0/4, ff00::/8), and IPv4's reserved 240.0.0.0/4 with
/// the limited broadcast address, directly or inside an IPv6 address (see [`embedded_v4`]).
fn is_unusable(ip: IpAddr) -> bool {
    let v4 = |ip: Ipv4Addr| ip.octets()[0] == 0 || ip.is_multicast() || ip.octets()[0] >= 240;
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            ip.is_unspecified() || ip.is_multicast() || embedded_v4(ip).is_some_and(v4)
        }
    }
}

/// True for IPv4 addresses only a private network reaches: RFC 1918 ranges, loopback
/// (127.0.0.0/8), link-local (169.254.0.0/16), and the shared address space of carrier-grade
/// NAT (100.64.0.0/10, RFC 6598).
pub fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let shared = ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64;
    ip.is_private() || ip.is_loopback() || ip.is_link_local() || shared
}

/// True for IPv6 addresses only a private network reaches: loopback, unique-local
/// (fc00::/7, RFC 4193), link-local (fe80::/10), the deprecated site-local (fec0::/10,
/// RFC 3879), the local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215), and every form that
/// carries an internal IPv4 address inside it (see [`embedded_v4`]).
pub fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let first = segments[0];
    ip.is_loopback()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || segments[..3] == [0x64, 0xff9b, 1]
        || embedded_v4(ip).is_some_and(is_internal_v4)
}

/// The IPv4 address an IPv6 address carries, in the forms that reach it: IPv4-mapped
/// (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d, RFC 4291 §2.5.5), SIIT's IPv4-translated
/// (::ffff:0:a.b.c.d, RFC 2765), NAT64's well-known prefix (64:ff9b::/96, RFC 6052) and 6to4
/// (2002:AABB:CCDD::/48, RFC 3056).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last),
        // :: and ::1 are the unspecified and loopback addresses, not IPv4-compatible ones.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(last),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last),
        [0x2002, high, low, ..] => Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))),
        _ => None,
    }
}

/// True when a label of `ascii` (a name in A-labels) mixes Latin letters with Cyrillic or
/// Greek ones, or Cyrillic with Greek: look-alike names such as `cа.example.com` with a
/// Cyrillic `а`, which people cannot tell from the real one (Unicode TS #39 §5.1, the
/// "single script" restriction browsers apply before they show a U-label).
fn mixes_scripts(ascii: &str) -> bool {
    if !ascii.contains("xn--") {
        return false;
    }
    let (unicode, result) = idna::domain_to_unicode(ascii);
    if result.is_err() {
        return false;
    }
    unicode.split('.').any(|label| {
        let mut scripts = label.chars().filter_map(script);
        let Some(first) = scripts.next() else {
            return false;
        };
        scripts.any(|other| other != first)
    })
}

/// The script among Latin, Greek and Cyrillic that a letter belongs to, if any.
fn script(c: char) -> Option<Script> {
    match c {
        'a'..='z'
        | 'A'..='Z'
        | '\u{00c0}'..='\u{024f}'
        | '\u{1e00}'..='\u{1eff}'
        | '\u{2c60}'..='\u{2c7f}'
        | '\u{a720}'..='\u{a7ff}'
        | '\u{ab30}'..='\u{ab6f}' => (c != '\u{00d7}' && c != '\u{00f7}').then_some(Script::Latin),
        '\u{0370}'..='\u{03ff}' | '\u{1f00}'..='\u{1fff}' => Some(Script::Greek),
        '\u{0400}'..='\u{052f}'
        | '\u{1c80}'..='\u{1c8f}'
        | '\u{2de0}'..='\u{2dff}'
        | '\u{a640}'..='\u{a69f}' => Some(Script::Cyrillic),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

/// The IP address of a subjectAltName iPAddress entry (4 or 16 octets, RFC 5280 §4.2.1.6).
pub fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

/// The DNS names and IP addresses among subjectAltName entries, as text (IP addresses in their
/// usual notation), in order; entries of other types are skipped. `None` when an iPAddress
/// entry has a length that is neither IPv4 nor IPv6.
pub fn san_texts(names: &[x509_parser::extensions::GeneralName<'_>]) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match name {
            GeneralName::DNSName(dns) => out.push((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => out.push(ip_from_bytes(bytes)?.to_string()),
            _ => {}
        }
    }
    Some(out)
}

/// The file name stem of a certificate's files: its first DNS name's (its CN), else its first
/// name's (see [`file_stem`]). Every place that writes or offers a certificate's files names
/// them so: a renewal's files replace the ones the server uses.
pub fn files_stem(names: &[SubjectName]) -> String {
    names
        .iter()
        .find(|name| name.dns().is_some())
        .or(names.first())
        .map_or_else(|| file_stem(""), SubjectName::file_stem)
}

/// A file name stem for `text`: `*.example.com` becomes `_wildcard.example.com`, `:` (IPv6)
/// becomes `_`, and anything but letters, digits, `.`, `-` and `_` becomes `-`, so that no
/// name can climb out of the folder it is written to.
pub fn file_stem(text: &str) -> String {
    let (prefix, rest) = match text.strip_prefix("*.") {
        Some(rest) => ("_wildcard.", rest),
        None => ("", text),
    };
    let mut stem: String = prefix.to_owned();
    stem.extend(rest.chars().map(|c| match c {
        ':' => '_',
        c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => c,
        _ => '-',
    }));
    if stem.is_empty() || stem.chars().all(|c| c == '.') {
        stem = "certificate".to_owned();
    }
    stem
}

/// The IP address `text` writes (IPv6 in brackets or not), or `None` when it writes none;
/// refused when it carries a zone index (`fe80::1%eth0`), which names a link of one machine
/// and no certificate or client elsewhere can use.
pub fn address_literal(text: &str) -> Result<Option<IpAddr>> {
    let trimmed = text.trim();
    let literal = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(trimmed);
    if literal.contains('%') {
        return Err(Error::name(text, NameRule::ZoneIndex));
    }
    Ok(literal.parse().ok())
}

/// This machine's host name, or `localhost` when it has none that is a valid DNS name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| h.trim().parse::<DnsName>().ok())
        .filter(|h| !h.is_wildcard())
        .map(|h| h.as_str().to_owned())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A subtree the root may vouch for: a domain and everything below it, or an IP range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PermittedSubtree {
    Dns(DnsName),
    Ip { network: IpAddr, prefix: u8 },
}

impl PermittedSubtree {
    /// True when `name` lies in this subtree: a DNS name equal to or below the domain, an IP
    /// address inside the range (RFC 5280 §4.2.1.10).
    pub fn permits(&self, name: &SubjectName) -> bool {
        match (self, name) {
            (PermittedSubtree::Dns(domain), SubjectName::Dns(name)) => name.is_within(domain),
            (PermittedSubtree::Ip { network, prefix }, SubjectName::Ip(ip)) => {
                in_network(*ip, *network, *prefix)
            }
            _ => false,
        }
    }

    /// The subtree as written, but for a range of one address, which is the address alone.
    pub fn address_or_range(&self) -> String {
        match self {
            PermittedSubtree::Ip { network, prefix }
                if *prefix == if network.is_ipv4() { 32 } else { 128 } =>
            {
                network.to_string()
            }
            other => other.to_string(),
        }
    }

    /// True for a range of addresses every one of which is internal or unusable (see
    /// [`is_internal_v4`], [`is_internal_v6`]): the range lies within one such block.
    pub fn holds_only_internal_addresses(&self) -> bool {
        match self {
            PermittedSubtree::Dns(_) => false,
            PermittedSubtree::Ip { network, prefix } => range_is_internal(*network, *prefix),
        }
    }

    /// True when ACME issues for no name in this subtree: every name or address in it is
    /// internal or unusable, or it is IPv4 written as IPv6 (which no ACME identifier is).
    pub fn acme_never_issues_under(&self) -> bool {
        match self {
            PermittedSubtree::Dns(name) => {
                name.holds_only_internal_names() || name.never_resolves()
            }
            PermittedSubtree::Ip { network, prefix } => {
                self.holds_only_internal_addresses()
                    || matches!(network, IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some() && *prefix >= 96)
            }
        }
    }

    /// True when some name lies in both subtrees: one domain within the other, or two ranges
    /// of one family that share their shorter prefix.
    pub fn overlaps(&self, other: &PermittedSubtree) -> bool {
        match (self, other) {
            (PermittedSubtree::Dns(a), PermittedSubtree::Dns(b)) => {
                a.is_within(b) || b.is_within(a)
            }
            (
                PermittedSubtree::Ip {
                    network: a,
                    prefix: pa,
                },
                PermittedSubtree::Ip {
                    network: b,
                    prefix: pb,
                },
            ) => in_network(*a, *b, (*pa).min(*pb)),
            _ => false,
        }
    }
}

impl FromStr for PermittedSubtree {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        // A URL's slashes are no range's: said as a URL, as wherever a name is asked for.
        if input.contains("://") {
            return Err(Error::name(input, NameRule::Url));
        }
        if let Some((addr, prefix)) = input.trim().split_once('/') {
            let network: IpAddr = addr.parse().map_err(|_| {
                Error::name(
                    input,
                    NameRule::Subtree(
                        "a permitted IP range is written as ADDRESS/PREFIX, as in 192.168.0.0/16"
                            .into(),
                    ),
                )
            })?;
            let max = if network.is_ipv4() { 32 } else { 128 };
            // Digits only, without leading zeros, as an address's octets are written.
            let prefix = Some(prefix)
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .filter(|p| *p == "0" || !p.starts_with('0'))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p <= max)
                .ok_or_else(|| {
                    Error::name(
                        input,
                        NameRule::Subtree(format!(
                            "the prefix length must be a number of 0 to {max}, without leading zeros"
                        )),
                    )
                })?;
            // A range written with bits past its prefix (192.0.2.1/24) is a typo for a host
            // or for a range: which one, only its writer knows.
            let masked = match network {
                IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(
                    u32::from(ip) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
                )),
                IpAddr::V6(ip) => IpAddr::V6(Ipv6Addr::from(
                    u128::from(ip) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0),
                )),
            };
            if masked != network {
                return Err(Error::name(
                    input,
                    NameRule::Subtree(format!(
                        "{network} has bits set past the first {prefix}: the range is {masked}/{prefix}, or for one address give /{max}"
                    )),
                ));
            }
            return Ok(PermittedSubtree::Ip { network, prefix });
        }
        let domain = DnsName::from_str(input)?;
        if domain.is_wildcard() {
            return Err(Error::name(
                input,
                NameRule::Subtree(
                    "a permitted subtree is a domain such as example.com; it already covers every name below it"
                        .into(),
                ),
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

/// The most names (DNS names and IP addresses, after duplicates are dropped) one certificate
/// holds, as Let's Encrypt allows: a certificate of a few thousand names outgrows what TLS
/// clients take in one handshake message (Java's default limit is 32 KB), and the server
/// sends it, root and all, at every handshake. An ACME order is held to the same number.
pub const MAX_NAMES: usize = 100;

/// `names` without repeats, in the order each first appears (one pass: a request may carry
/// thousands).
pub(crate) fn distinct(names: impl IntoIterator<Item = SubjectName>) -> Vec<SubjectName> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .filter(|name| seen.insert(name.clone()))
        .collect()
}

/// What the CA may issue for: every name a certificate carries passes [`NamePolicy::check`].
#[derive(Clone, Debug, Default)]
pub struct NamePolicy {
    /// Names and addresses that only a private network reaches are accepted.
    pub allow_internal: bool,
    /// The root's permitted subtrees; empty when the root has no name constraints.
    pub permitted: Vec<PermittedSubtree>,
}

impl NamePolicy {
    /// Checks every name and returns them with duplicates removed, in the order given; more
    /// than [`MAX_NAMES`] different ones are refused before any is checked.
    pub fn check(&self, names: &[SubjectName]) -> Result<Vec<SubjectName>> {
        let unique = distinct(names.iter().cloned());
        if unique.len() > MAX_NAMES {
            return Err(Error::TooManyNames {
                given: unique.len(),
                max: MAX_NAMES,
            });
        }
        if unique.is_empty() {
            return Err(Error::NoNames);
        }
        for name in &unique {
            self.check_one(name)?;
        }
        Ok(unique)
    }

    fn check_one(&self, name: &SubjectName) -> Result<()> {
        if let SubjectName::Dns(dns) = name
            && dns.never_resolves()
        {
            return Err(Error::name(name.to_string(), NameRule::NeverResolves));
        }
        if !self.allow_internal && name.is_internal() {
            let rule = match name {
                SubjectName::Dns(_) => NameRule::Internal,
                SubjectName::Ip(_) => NameRule::InternalAddress,
            };
            return Err(Error::name(name.to_string(), rule));
        }
        // An IPv4 address in IPv6 form would be written as 16 octets no IPv4 client matches.
        if let SubjectName::Ip(IpAddr::V6(v6)) = name {
            let s = v6.segments();
            if matches!(
                s,
                [0, 0, 0, 0, 0, 0xffff | 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _]
            ) && let Some(v4) = embedded_v4(*v6)
            {
                return Err(Error::name(name.to_string(), NameRule::Ipv4InIpv6(v4)));
            }
        }
        if !self.permitted.is_empty() && !self.permitted.iter().any(|p| p.permits(name)) {
            let permitted: Vec<String> = self.permitted.iter().map(ToString::to_string).collect();
            return Err(Error::NameNotPermitted {
                name: name.to_string(),
                permitted: permitted.join(", "),
            });
        }
        Ok(())
    }
}

/// True when every address of the range `network/prefix` is internal or unusable: the
/// range is covered by the blocks of such addresses (one, or several side by side, as
/// 224.0.0.0/3 by multicast and the reserved 240.0.0.0/4). IPv6 forms that carry an IPv4
/// address are blocks too, one for each IPv4 block.
fn range_is_internal(network: IpAddr, prefix: u8) -> bool {
    /// IPv4 blocks of internal or unusable addresses (see [`is_internal_v4`] and
    /// [`is_unusable`]), as (address, prefix).
    const V4: &[(u32, u8)] = &[
        (0x0000_0000, 8),
        (0x0a00_0000, 8),
        (0x6440_0000, 10),
        (0x7f00_0000, 8),
        (0xa9fe_0000, 16),
        (0xac10_0000, 12),
        (0xc0a8_0000, 16),
        (0xe000_0000, 4),
        (0xf000_0000, 4),
    ];
    /// IPv6 blocks of their own (see [`is_internal_v6`]).
    const V6: &[(u128, u8)] = &[
        (0, 128),
        (1, 128),
        (0xfc00 << 112, 7),
        (0xfe80 << 112, 10),
        (0xfec0 << 112, 10),
        (0xff00 << 112, 8),
        (0x0064_ff9b_0001 << 80, 48),
    ];
    match network {
        IpAddr::V4(ip) => {
            let blocks: Vec<(u128, u8)> = V4.iter().map(|(a, l)| (u128::from(*a), *l)).collect();
            covered(u128::from(u32::from(ip)), prefix, 32, &blocks)
        }
        IpAddr::V6(ip) => {
            let mut blocks = V6.to_vec();
            for (v4, length) in V4 {
                let v4 = u128::from(*v4);
                // Mapped, compatible, translated and NAT64's well-known prefix: the last 32
                // bits; 6to4: the 32 bits after 2002::/16.
                for form in [
                    0xffff_u128 << 32,
                    0,
                    0xffff_u128 << 48,
                    0x0064_ff9b_u128 << 96,
                ] {
                    blocks.push((form | v4, 96 + length));
                }
                blocks.push(((0x2002_u128 << 112) | (v4 << 80), 16 + length));
            }
            covered(u128::from(ip), prefix, 128, &blocks)
        }
    }
}

/// True when `blocks` (CIDR blocks of a `width`-bit family) cover the range `net/prefix`:
/// one holds it, or it is split in halves that are each covered.
fn covered(net: u128, prefix: u8, width: u8, blocks: &[(u128, u8)]) -> bool {
    let agree = |a: u128, b: u128, length: u8| {
        length == 0 || (a >> (width - length)) == (b >> (width - length))
    };
    if blocks
        .iter()
        .any(|(block, length)| *length <= prefix && agree(net, *block, *length))
    {
        return true;
    }
    // Only a block inside the range can cover part of it; with none, nothing does.
    let inside = blocks
        .iter()
        .any(|(block, length)| *length > prefix && agree(net, *block, prefix));
    if !inside || prefix >= width {
        return false;
    }
    let half = 1u128 << (width - prefix - 1);
    covered(net, prefix + 1, width, blocks) && covered(net | half, prefix + 1, width, blocks)
}

/// True when the first `prefix` bits of `ip` and `network` agree (both of one family).
fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
        let prefix = usize::from(prefix);
        let whole = prefix / 8;
        let bits = prefix % 8;
        if a[..whole] != b[..whole] {
            return false;
        }
        if bits == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - bits);
        (a[whole] & mask) == (b[whole] & mask)
    }
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) if prefix <= 32 => {
            same_prefix(&a.octets(), &n.octets(), prefix)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if prefix <= 128 => {
            same_prefix(&a.octets(), &n.octets(), prefix)
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

    fn rule(s: &str) -> NameRule {
        match s.parse::<SubjectName>() {
            Err(Error::NameRefused { name, rule }) => {
                assert_eq!(name, s);
                rule
            }
            other => panic!("{s} should be refused, got {other:?}"),
        }
    }

    fn name(s: &str) -> SubjectName {
        s.parse().unwrap()
    }

    fn policy_rule(s: &str, policy: &NamePolicy) -> NameRule {
        match policy.check(&[name(s)]) {
            Err(Error::NameRefused { rule, .. }) => rule,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn constrained(subtrees: &[&str]) -> NamePolicy {
        NamePolicy {
            allow_internal: true,
            permitted: subtrees.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn lowercases_and_drops_trailing_dot() {
        assert_eq!(dns("Mail.Example.COM.").unwrap(), "mail.example.com");
    }

    /// A plain name taken as it is reads exactly as through UTS #46: the same name or the same
    /// refusal, for names built from the plain alphabet's pieces (labels empty, long, numeric,
    /// hyphenated at either end or in the third and fourth places, `xn--` ones valid and not,
    /// wildcards in and out of place, names past 253 octets).
    #[test]
    fn a_plain_name_reads_as_through_uts46() {
        const PIECES: &[&str] = &[
            "a",
            "mail",
            "example",
            "com",
            "0",
            "42",
            "-",
            "a-b",
            "ab--cd",
            "xn--",
            "xn--bcher-kva",
            "xn--zz",
            "xn--a",
            "*",
            ".",
            "..",
            "co",
            "uk",
            "local",
            "x",
            "Mail",
            "a_b",
            ":443",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).unwrap()
        };
        let mut plain = 0;
        for round in 0..20_000 {
            let mut name = String::new();
            for _ in 0..1 + next(6) {
                if !name.is_empty() && next(3) > 0 {
                    name.push('.');
                }
                name.push_str(PIECES[next(PIECES.len())]);
            }
            if round % 50 == 0 {
                name = format!("{}.{name}", "l".repeat(60 + next(8)));
            }
            if round % 97 == 0 {
                name = std::iter::repeat_n("abcdefghi", 26)
                    .collect::<Vec<_>>()
                    .join(".")
                    + &name;
            }
            let fast = DnsName::parse(&name, true).map_err(|err| err.to_string());
            let slow = DnsName::parse(&name, false).map_err(|err| err.to_string());
            assert_eq!(fast, slow, "{name}");
            plain += usize::from(fast.is_ok());
        }
        // The draw reaches both sides.
        assert!(plain > 2_000, "{plain} names read");
    }

    #[test]
    fn writes_idna_a_label_and_shows_u_label() {
        let parsed: DnsName = "bücher.example".parse().unwrap();
        assert_eq!(parsed.as_str(), "xn--bcher-kva.example");
        assert_eq!(parsed.unicode(), "bücher.example");
        assert_eq!(name("bücher.example").shown(), "bücher.example");
        assert_eq!(name("192.0.2.1").shown(), "192.0.2.1");
    }

    #[test]
    fn allows_wildcard_as_whole_leftmost_label() {
        let parsed: DnsName = "*.Example.com".parse().unwrap();
        assert_eq!(parsed.as_str(), "*.example.com");
        assert!(parsed.is_wildcard());
        assert_eq!(parsed.file_stem(), "_wildcard.example.com");
    }

    #[test]
    fn refuses_wildcard_over_a_public_suffix() {
        assert_eq!(rule("*.com"), NameRule::WildcardTooBroad);
        assert!(dns("*.example.com").is_ok());
    }

    #[test]
    fn refuses_wildcard_directly_under_a_public_suffix_of_the_list() {
        for (name, suffix) in [
            ("*.co.uk", "co.uk"),
            ("*.CO.UK.", "co.uk"),
            ("*.com.au", "com.au"),
            // The list's rule `*.ck` makes every name under ck a public suffix.
            ("*.b.ck", "b.ck"),
            ("*.k12.ca.us", "k12.ca.us"),
            // Checked in A-labels (公司.cn is xn--55qx5d.cn), named in U-labels.
            ("*.xn--55qx5d.cn", "公司.cn"),
        ] {
            match rule(name) {
                NameRule::WildcardOverPublicSuffix(found) if found == suffix => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        // A domain under the suffix, the list's private section (Chromium matches those),
        // the exception `!www.ck`, and a name under no rule of the list.
        for name in [
            "*.example.co.uk",
            "*.github.io",
            "*.www.ck",
            "*.example.corp",
        ] {
            assert_eq!(dns(name).unwrap(), name);
        }
    }

    #[test]
    fn refuses_wildcard_in_middle_label() {
        assert_eq!(rule("mail.*.example.com"), NameRule::WildcardPosition);
    }

    #[test]
    fn refuses_partial_wildcard_label() {
        assert_eq!(rule("m*.example.com"), NameRule::WildcardPosition);
    }

    /// A name weighed by an administrator shows both forms when they differ.
    #[test]
    fn shown_with_a_labels_gives_both_forms_of_an_idn() {
        let idn: SubjectName = "bücher.example".parse().unwrap();
        assert_eq!(
            idn.shown_with_a_labels(),
            "bücher.example (xn--bcher-kva.example)"
        );
        let cyrillic: SubjectName = "xn--80ak6aa92e.com".parse().unwrap();
        assert_eq!(
            cyrillic.shown_with_a_labels(),
            "аррӏе.com (xn--80ak6aa92e.com)"
        );
        let plain: SubjectName = "mail.example.com".parse().unwrap();
        assert_eq!(plain.shown_with_a_labels(), "mail.example.com");
        let ip: SubjectName = "2001:db8::1".parse().unwrap();
        assert_eq!(ip.shown_with_a_labels(), "2001:db8::1");
    }

    #[test]
    fn refuses_underscore() {
        assert_eq!(rule("mail_1.example.com"), NameRule::Character('_'));
        assert_eq!(rule("https://mail.example.com/owa"), NameRule::Url);
        assert_eq!(rule("mail.example.com:443"), NameRule::Port);
        assert_eq!(rule("[2001:db8::1]:443"), NameRule::Port);
        assert_eq!(rule("admin@example.com"), NameRule::Email);
        assert_eq!(rule("mail.example.com:http"), NameRule::Character(':'));
    }

    #[test]
    fn refuses_empty_label() {
        assert_eq!(rule("a..b.com"), NameRule::EmptyLabel);
        assert_eq!(rule(".a.com"), NameRule::EmptyLabel);
    }

    #[test]
    fn refuses_empty_names_and_spaces() {
        assert_eq!(rule(""), NameRule::Empty);
        assert_eq!(rule("."), NameRule::Empty);
        assert_eq!(rule("a b.example.com"), NameRule::Whitespace);
    }

    #[test]
    fn refuses_leading_and_trailing_hyphen() {
        assert_eq!(rule("-a.example.com"), NameRule::Hyphen);
        assert_eq!(rule("a-.example.com"), NameRule::Hyphen);
        assert!(dns("a-b.example.com").is_ok());
    }

    #[test]
    fn refuses_label_over_63_octets() {
        let name = format!("{}.example.com", "a".repeat(64));
        assert_eq!(rule(&name), NameRule::LabelTooLong);
        assert!(dns(&format!("{}.example.com", "a".repeat(63))).is_ok());
    }

    #[test]
    fn refuses_name_over_253_octets_and_accepts_253() {
        // 61 + 1 + 61 + 1 + 61 + 1 + 63 + 1 + 3 = 253
        let at_limit = format!(
            "{a}.{a}.{a}.{b}.com",
            a = "a".repeat(61),
            b = "b".repeat(63)
        );
        assert_eq!(at_limit.len(), 253);
        assert!(dns(&at_limit).is_ok());
        let over = format!("c{at_limit}");
        assert_eq!(over.len(), 254);
        assert_eq!(rule(&over), NameRule::NameTooLong);
        // A wildcard counts its "*." too.
        let wildcard = format!("*.{}", &at_limit[2..]);
        assert_eq!(wildcard.len(), 253);
        assert!(dns(&wildcard).is_ok());
        let wildcard_over = format!("*.{}", &at_limit[1..]);
        assert_eq!(rule(&wildcard_over), NameRule::NameTooLong);
    }

    #[test]
    fn refuses_an_all_digit_last_label() {
        assert_eq!(rule("host.123"), NameRule::NumericTld);
        // An address with a leading zero is told how addresses are written.
        assert_eq!(rule("01.2.3.4"), NameRule::NumericTld);
        let said = "01.2.3.4".parse::<SubjectName>().unwrap_err().to_string();
        assert!(said.contains("without leading zeros"), "{said}");
        assert!(dns("host.a123").is_ok());
    }

    #[test]
    fn refuses_invalid_idna() {
        assert_eq!(rule("xn--a.example.com"), NameRule::Idna);
    }

    #[test]
    fn ipv4_literal_is_an_ip_address() {
        assert_eq!(
            name("192.0.2.10"),
            SubjectName::Ip("192.0.2.10".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_literal_is_an_ip_address() {
        assert_eq!(
            name("2001:db8::1"),
            SubjectName::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            name("[2001:db8::1]"),
            SubjectName::Ip("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn refuses_addresses_no_server_is_reached_at() {
        for s in [
            "1.2.3.4",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "2001:db8::1",
            "fd00::1",
        ] {
            assert!(s.parse::<SubjectName>().is_ok(), "{s}");
        }
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "240.0.0.1",
            "255.255.255.255",
            "::ffff:255.255.255.255",
            "64:ff9b::e000:1",
        ] {
            assert_eq!(rule(s), NameRule::UnusableAddress, "{s}");
        }
        for s in ["fe80::1%eth0", "[fe80::1%25eth0]", "2001:db8::5%1"] {
            assert_eq!(rule(s), NameRule::ZoneIndex, "{s}");
        }
    }

    /// Asserts that `lan` (internal names allowed) takes `s`, unless `s` is an IPv4 address in
    /// one of IPv6's forms for it, which no IPv4 client would match.
    fn allowed_unless_in_ipv6_form(lan: &NamePolicy, s: &str) {
        let in_v6_form = s.starts_with("::") && s.contains('.');
        match lan.check(&[name(s)]) {
            Err(Error::NameRefused {
                rule: NameRule::Ipv4InIpv6(_),
                ..
            }) if in_v6_form => {}
            other => assert!(other.is_ok() && !in_v6_form, "{s}: {other:?}"),
        }
    }

    #[test]
    fn ipv4_addresses_in_ipv6_form_are_refused_naming_the_ipv4_address() {
        let policy = NamePolicy {
            allow_internal: true,
            ..NamePolicy::default()
        };
        for s in [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "[::ffff:808:808]",
        ] {
            let name: SubjectName = s.parse().unwrap();
            let err = policy.check(&[name]).unwrap_err();
            assert!(
                matches!(&err, Error::NameRefused { rule: NameRule::Ipv4InIpv6(v4), .. } if v4.to_string() == "8.8.8.8"),
                "{s}: {err:?}"
            );
            assert!(err.to_string().contains("give 8.8.8.8"), "{err}");
        }
        assert!(policy.check(&["::1".parse().unwrap()]).is_ok());
        assert!(policy.check(&["64:ff9b::808:808".parse().unwrap()]).is_ok());
    }

    #[test]
    fn names_under_invalid_are_refused_even_on_a_lan() {
        let lan = NamePolicy {
            allow_internal: true,
            ..NamePolicy::default()
        };
        for s in ["mail.invalid", "a.b.INVALID.", "invalid"] {
            assert_eq!(policy_rule(s, &lan), NameRule::NeverResolves, "{s}");
            assert_eq!(
                policy_rule(s, &NamePolicy::default()),
                NameRule::NeverResolves,
                "{s}"
            );
        }
        assert!(lan.check(&[name("invalid.example.com")]).is_ok());
        assert!(lan.check(&[name("notinvalid")]).is_ok());
    }

    #[test]
    fn internal_names_need_allow_internal() {
        let strict = NamePolicy::default();
        let lan = NamePolicy {
            allow_internal: true,
            ..NamePolicy::default()
        };
        for s in [
            "MAIL",
            "srv01.corp.local",
            "nas.lan",
            "host.internal",
            "printer.home.arpa",
            "local",
        ] {
            assert_eq!(policy_rule(s, &strict), NameRule::Internal, "{s}");
            assert!(lan.check(&[name(s)]).is_ok(), "{s}");
        }
        // A suffix counts only on a label boundary.
        assert!(strict.check(&[name("mail.global")]).is_ok());
        assert!(strict.check(&[name("mail.example.com")]).is_ok());
    }

    #[test]
    fn private_loopback_and_link_local_addresses_need_allow_internal() {
        let strict = NamePolicy::default();
        let lan = NamePolicy {
            allow_internal: true,
            ..NamePolicy::default()
        };
        for s in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "fc00::1",
            "fdff::1",
            "fe80::1",
            "febf::1",
            "::1",
            "::ffff:192.168.1.1",
        ] {
            assert_eq!(policy_rule(s, &strict), NameRule::InternalAddress, "{s}");
            allowed_unless_in_ipv6_form(&lan, s);
        }
        for s in [
            "192.0.2.10",
            "172.32.0.1",
            "172.15.255.255",
            "2001:db8::1",
            "fbff::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(!name(s).is_internal(), "{s}");
        }
    }

    #[test]
    fn the_shared_address_space_of_carrier_grade_nat_is_internal() {
        let strict = NamePolicy::default();
        for s in ["100.64.0.1", "100.100.100.100", "100.127.255.254"] {
            assert_eq!(policy_rule(s, &strict), NameRule::InternalAddress, "{s}");
        }
        for s in ["100.63.255.255", "100.128.0.1"] {
            assert!(strict.check(&[name(s)]).is_ok(), "{s}");
        }
    }

    #[test]
    fn the_deprecated_site_local_range_is_internal() {
        let strict = NamePolicy::default();
        for s in ["fec0::1", "feff:ffff::1"] {
            assert_eq!(policy_rule(s, &strict), NameRule::InternalAddress, "{s}");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_an_internal_ipv4_address_are_internal() {
        let strict = NamePolicy::default();
        let lan = NamePolicy {
            allow_internal: true,
            ..NamePolicy::default()
        };
        for s in [
            // IPv4-compatible
            "::10.1.2.3",
            "::127.0.0.1",
            // NAT64, well-known prefix
            "64:ff9b::192.168.1.1",
            "64:ff9b::a01:203",
            // NAT64, local-use prefix: local whatever it carries
            "64:ff9b:1::192.0.2.1",
            "64:ff9b:1:ffff::1",
            // 6to4 of a private address
            "2002:c0a8:101::1",
            "2002:a00:1::",
            "2002:7f00:1::1",
            // SIIT IPv4-translated
            "::ffff:0:192.168.1.1",
            "::ffff:0:100.64.0.1",
        ] {
            assert_eq!(policy_rule(s, &strict), NameRule::InternalAddress, "{s}");
            allowed_unless_in_ipv6_form(&lan, s);
        }
        // The same forms around public addresses are public.
        for s in [
            "::192.0.2.1",
            "64:ff9b::192.0.2.1",
            "2002:c000:201::1",
            "::ffff:0:192.0.2.1",
            "64:ff9c::192.168.1.1",
        ] {
            assert!(!name(s).is_internal(), "{s}");
        }
    }

    #[test]
    fn refuses_labels_that_mix_latin_with_cyrillic_or_greek() {
        // "cа" with a Cyrillic а, "pаypal" likewise, Latin o beside Greek letters.
        for s in [
            "c\u{0430}.example.com",
            "p\u{0430}ypal.com",
            "\u{03b1}\u{03b2}o.example",
            "\u{0430}\u{03b1}.example",
            "*.c\u{0430}.example.com",
        ] {
            assert_eq!(rule(s), NameRule::MixedScript, "{s}");
        }
        // One script per label is fine, and labels may differ from each other.
        for s in [
            "\u{0431}\u{044e}\u{0440}\u{043e}.example",
            "\u{03b1}\u{03b2}\u{03b3}.example",
            "bücher.example",
            "\u{0431}\u{044e}\u{0440}\u{043e}-24.example.com",
            "xn--80aswg.xn--p1ai",
        ] {
            assert!(dns(s).is_ok(), "{s}");
        }
        assert!(
            NameRule::MixedScript.to_string().contains("look"),
            "{}",
            NameRule::MixedScript
        );
    }

    #[test]
    fn refuses_name_outside_permitted_subtrees() {
        let policy = NamePolicy {
            allow_internal: false,
            permitted: vec!["example.com".parse().unwrap()],
        };
        assert!(policy.check(&[name("mail.example.com")]).is_ok());
        assert!(policy.check(&[name("*.example.com")]).is_ok());
        assert!(policy.check(&[name("example.com")]).is_ok());
        match policy.check(&[name("mail.example.org")]) {
            Err(Error::NameNotPermitted { name, permitted }) => {
                assert_eq!(name, "mail.example.org");
                assert_eq!(permitted, "example.com");
            }
            other => panic!("{other:?}"),
        }
        // A suffix match must fall on a label boundary.
        assert!(matches!(
            policy.check(&[name("badexample.com")]),
            Err(Error::NameNotPermitted { .. })
        ));
        // IP addresses need a permitted IP range of their own.
        assert!(matches!(
            policy.check(&[name("192.0.2.10")]),
            Err(Error::NameNotPermitted { .. })
        ));
    }

    #[test]
    fn permits_ipv4_inside_permitted_range_only() {
        let policy = constrained(&["192.0.2.0/24"]);
        assert!(policy.check(&[name("192.0.2.0")]).is_ok());
        assert!(policy.check(&[name("192.0.2.255")]).is_ok());
        assert!(policy.check(&[name("192.0.3.0")]).is_err());
        assert!(policy.check(&[name("198.51.100.1")]).is_err());
        // A prefix that is not a multiple of eight.
        let policy = constrained(&["192.0.2.64/26"]);
        assert!(policy.check(&[name("192.0.2.64")]).is_ok());
        assert!(policy.check(&[name("192.0.2.127")]).is_ok());
        assert!(policy.check(&[name("192.0.2.63")]).is_err());
        assert!(policy.check(&[name("192.0.2.128")]).is_err());
        // /32 is one address, /0 all of them, and never an address of the other family.
        let one = constrained(&["192.0.2.7/32"]);
        assert!(one.check(&[name("192.0.2.7")]).is_ok());
        assert!(one.check(&[name("192.0.2.6")]).is_err());
        let all = constrained(&["0.0.0.0/0"]);
        assert!(all.check(&[name("203.0.113.9")]).is_ok());
        assert!(all.check(&[name("2001:db8::1")]).is_err());
    }

    #[test]
    fn permits_ipv6_inside_permitted_range_only() {
        let policy = constrained(&["2001:db8::/32"]);
        assert!(policy.check(&[name("2001:db8::1")]).is_ok());
        assert!(policy.check(&[name("2001:db8:ffff:ffff::1")]).is_ok());
        assert!(policy.check(&[name("2001:db9::1")]).is_err());
        assert!(policy.check(&[name("2001:d00::1")]).is_err());
        assert!(policy.check(&[name("192.0.2.1")]).is_err());
        let narrow = constrained(&["2001:db8:0:100::/57"]);
        assert!(narrow.check(&[name("2001:db8:0:17f::1")]).is_ok());
        assert!(narrow.check(&[name("2001:db8:0:180::1")]).is_err());
        assert!(narrow.check(&[name("2001:db8:0:ff::1")]).is_err());
        let one = constrained(&["2001:db8::7/128"]);
        assert!(one.check(&[name("2001:db8::7")]).is_ok());
        assert!(one.check(&[name("2001:db8::6")]).is_err());
    }

    #[test]
    fn parses_permitted_subtrees_and_refuses_bad_ones() {
        assert_eq!(
            "192.0.2.0/24".parse::<PermittedSubtree>().unwrap(),
            PermittedSubtree::Ip {
                network: "192.0.2.0".parse().unwrap(),
                prefix: 24
            }
        );
        assert!("2001:db8::/128".parse::<PermittedSubtree>().is_ok());
        assert!("192.0.2.0/32".parse::<PermittedSubtree>().is_ok());
        for bad in [
            "192.0.2.0/33",
            "2001:db8::/129",
            "nonsense/8",
            "192.0.2.0/x",
            "*.example.com",
        ] {
            assert!(
                matches!(
                    bad.parse::<PermittedSubtree>(),
                    Err(Error::NameRefused {
                        rule: NameRule::Subtree(_),
                        ..
                    })
                ),
                "{bad}"
            );
        }
        // A URL is named as one, not as a range with a bad address.
        for url in ["https://example.com", "https://example.com/"] {
            assert!(
                matches!(
                    url.parse::<PermittedSubtree>(),
                    Err(Error::NameRefused {
                        rule: NameRule::Url,
                        ..
                    })
                ),
                "{url}"
            );
        }
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
        .map(|s| name(s))
        .collect();
        let unique = NamePolicy::default().check(&names).unwrap();
        let shown: Vec<String> = unique.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["b.example.com", "a.example.com"]);
        assert!(matches!(
            NamePolicy::default().check(&[]),
            Err(Error::NoNames)
        ));
    }

    #[test]
    fn a_certificate_holds_at_most_a_hundred_different_names() {
        let numbered = |n: usize| -> Vec<SubjectName> {
            (0..n).map(|i| name(&format!("h{i}.example.com"))).collect()
        };
        let policy = NamePolicy::default();
        assert_eq!(policy.check(&numbered(MAX_NAMES)).unwrap().len(), MAX_NAMES);
        // Repeats do not count: a hundred names each given twice is a hundred.
        let twice: Vec<SubjectName> = [numbered(MAX_NAMES), numbered(MAX_NAMES)].concat();
        assert_eq!(policy.check(&twice).unwrap().len(), MAX_NAMES);
        for given in [MAX_NAMES + 1, 5_000] {
            // Each given twice: the message counts the different ones.
            match policy.check(&[numbered(given), numbered(given)].concat()) {
                Err(err @ Error::TooManyNames { .. }) => {
                    assert!(err.is_refusal());
                    let text = err.to_string();
                    assert!(
                        text.starts_with(&format!(
                            "{given} different names: a certificate holds at most 100 "
                        )),
                        "{text}"
                    );
                }
                other => panic!("{given} names: {other:?}"),
            }
        }
        // A name refused for itself past the hundredth is not what is reported: the count is.
        let mut names = numbered(MAX_NAMES);
        names.push(name("nas.lan"));
        assert!(matches!(
            policy.check(&names),
            Err(Error::TooManyNames { given: 101, .. })
        ));
    }

    #[test]
    fn file_stems_cannot_leave_their_folder() {
        assert_eq!(file_stem("*.example.com"), "_wildcard.example.com");
        assert_eq!(file_stem("2001:db8::1"), "2001_db8__1");
        assert_eq!(file_stem("Example Root CA"), "Example-Root-CA");
        assert_eq!(file_stem("../../etc/passwd"), "..-..-etc-passwd");
        assert_eq!(file_stem(".."), "certificate");
        assert_eq!(file_stem(""), "certificate");
    }

    #[test]
    fn a_certificates_files_are_named_after_its_first_dns_name_else_its_first_name() {
        let names = |text: &[&str]| -> Vec<SubjectName> {
            text.iter().map(|name| name.parse().unwrap()).collect()
        };
        assert_eq!(
            files_stem(&names(&["192.0.2.7", "mixed.example.com", "b.example.com"])),
            "mixed.example.com"
        );
        assert_eq!(
            files_stem(&names(&["*.example.com", "example.com"])),
            "_wildcard.example.com"
        );
        assert_eq!(
            files_stem(&names(&["2001:db8::1", "192.0.2.7"])),
            "2001_db8__1"
        );
        assert_eq!(files_stem(&[]), "certificate");
    }

    #[test]
    fn reads_ip_addresses_of_both_lengths_only() {
        assert_eq!(
            ip_from_bytes(&[192, 0, 2, 1]),
            Some("192.0.2.1".parse().unwrap())
        );
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_from_bytes(&v6), Some("::1".parse().unwrap()));
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
        assert_eq!(ip_from_bytes(&[0; 8]), None);
    }
}
