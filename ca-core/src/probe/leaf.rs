//! The server's certificate judged as clients judge it: its names against the host (RFC 6125
//! §6.4: subjectAltName only, `*` for one whole leftmost label, IP addresses only against
//! iPAddress entries), its dates (Apple: 825 days at most since 1 July 2019), its key (RSA
//! under 2048 bits refused), the signatures along the chain (SHA-1 and MD5 refused), what it
//! may be used for (serverAuth, not a CA), and Outlook Anywhere's principal name.

use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::public_key::PublicKey;

use super::chain::{Analysis, algorithm_name, name_of};
use super::{Finding, Target, Topic, Verdict, days};
use crate::name::{SubjectName, ip_from_bytes, is_internal_v4, is_internal_v6};
use crate::profile::LEAF_MAX_DAYS;

/// Days before expiry from which a certificate is flagged.
const EXPIRES_SOON_DAYS: i64 = 30;

/// The findings on `leaf` (DER) for `target`.
pub(super) fn judge(
    leaf: &[u8],
    target: &Target,
    analysis: &Analysis,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(name(&cert, &target.host));
    out.extend(dates(&cert, now));
    out.extend(key(&cert));
    out.extend(signatures(analysis));
    out.extend(usage(&cert));
    if target.is_https() {
        out.push(outlook(&cert));
    }
    out
}

/// The bits of an RSA key, `None` for other keys.
pub(super) fn rsa_bits(cert: &X509Certificate<'_>) -> Option<usize> {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(rsa.key_size()),
        _ => None,
    }
}

/// The DNS names and IP addresses of the subjectAltName; `None` when there is none.
fn alt_names(cert: &X509Certificate<'_>) -> Option<(Vec<String>, Vec<IpAddr>)> {
    let san = cert.subject_alternative_name().ok()??;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(text) => dns.push(text.trim_end_matches('.').to_ascii_lowercase()),
            GeneralName::IPAddress(bytes) => ips.extend(ip_from_bytes(bytes)),
            _ => {}
        }
    }
    Some((dns, ips))
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// True when `pattern` (a dNSName) matches `host` as RFC 6125 §6.4.3 and the CA/B Forum let
/// clients match: equal, or `*.` followed by everything after the host's first label, with at
/// least two labels after the `*`.
fn matches(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    match (pattern.strip_prefix("*."), host.split_once('.')) {
        (Some(base), Some((first, rest))) => {
            !first.is_empty() && base == rest && base.contains('.') && !base.contains('*')
        }
        _ => false,
    }
}

fn name(cert: &X509Certificate<'_>, host: &SubjectName) -> Vec<Finding> {
    let mut out = Vec::new();
    let shown_host = host.to_string();
    let Some((dns, ips)) = alt_names(cert) else {
        let cn = common_name(cert).unwrap_or_default();
        out.push(
            Finding::new(
                Topic::Name,
                Verdict::Fail,
                "no-san",
                format!(
                    "The certificate has no subjectAltName; its only name is the CN '{cn}', which Chrome, Edge, Firefox, Safari and macOS/iOS ignore."
                ),
            )
            .fix(format!("Install a certificate that names {shown_host} in its subjectAltName.")),
        );
        return out;
    };
    let mut listed: Vec<String> = dns.clone();
    listed.extend(ips.iter().map(ToString::to_string));
    let list = if listed.is_empty() {
        "no DNS name or IP address".to_owned()
    } else {
        listed.join(", ")
    };
    let matched = match host {
        SubjectName::Dns(name) => dns.iter().find(|p| matches(p, name.as_str())).cloned(),
        SubjectName::Ip(ip) => ips.iter().find(|a| *a == ip).map(ToString::to_string),
    };
    match matched {
        Some(pattern) => out.push(Finding::new(
            Topic::Name,
            Verdict::Ok,
            "name-match",
            if pattern == shown_host {
                format!("The certificate names {shown_host}; its names are {list}.")
            } else {
                format!("The certificate covers {shown_host} with {pattern}; its names are {list}.")
            },
        )),
        None => {
            let written_as_dns = matches!(host, SubjectName::Ip(_)) && dns.contains(&shown_host);
            out.push(
                Finding::new(
                    Topic::Name,
                    Verdict::Fail,
                    "name-mismatch",
                    if written_as_dns {
                        format!(
                            "The certificate holds {shown_host} as a DNS name, not as an IP address: clients match addresses only against iPAddress entries, so it does not cover {shown_host}."
                        )
                    } else {
                        format!("The certificate does not cover {shown_host}: it names {list}.")
                    },
                )
                .fix(format!(
                    "Install a certificate that names {shown_host}, or have clients connect by one of the names it holds."
                )),
            );
        }
    }
    let internal = match host {
        SubjectName::Dns(name) => name.is_internal(),
        SubjectName::Ip(IpAddr::V4(ip)) => is_internal_v4(*ip),
        SubjectName::Ip(IpAddr::V6(ip)) => is_internal_v6(*ip),
    };
    if internal {
        out.push(Finding::new(
            Topic::Name,
            Verdict::Note,
            "internal-name",
            format!(
                "{shown_host} is an internal name or address: only clients inside the network reach it, and public CAs do not issue certificates for it."
            ),
        ));
    }
    out
}

fn dates(cert: &X509Certificate<'_>, now: OffsetDateTime) -> Vec<Finding> {
    use crate::display::time as shown;
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let mut out = Vec::new();
    if now < not_before {
        let hours = (not_before - now).whole_hours();
        out.push(
            Finding::new(
                Topic::Dates,
                Verdict::Fail,
                "not-yet-valid",
                format!(
                    "The certificate is not valid before {} ({} from now by this machine's clock): it was installed before its time, or this machine's clock or the issuer's is wrong.",
                    shown(not_before),
                    if hours >= 48 { format!("{} days", hours / 24) } else { format!("{hours} hours") }
                ),
            )
            .fix("Check the clocks (NTP) of this machine, the server and the CA; if they are right, install a certificate valid from today."),
        );
    } else if now > not_after {
        out.push(
            Finding::new(
                Topic::Dates,
                Verdict::Fail,
                "expired",
                format!(
                    "The certificate expired on {}, {} days ago.",
                    shown(not_after),
                    days(not_after, now)
                ),
            )
            .fix("Renew it and install the new certificate on the server."),
        );
    } else {
        let left = days(now, not_after);
        if left < EXPIRES_SOON_DAYS {
            out.push(
                Finding::new(
                    Topic::Dates,
                    Verdict::Warn,
                    "expires-soon",
                    format!(
                        "The certificate expires on {}, in {left} days.",
                        shown(not_after)
                    ),
                )
                .fix("Renew it now and install the new certificate before then."),
            );
        } else {
            out.push(Finding::new(
                Topic::Dates,
                Verdict::Ok,
                "valid",
                format!(
                    "Valid from {} to {}: {left} days left.",
                    shown(not_before),
                    shown(not_after)
                ),
            ));
        }
    }
    let period = not_after - not_before;
    if apple_rules_apply(not_before) && period > time::Duration::days(i64::from(LEAF_MAX_DAYS)) {
        out.push(
            Finding::new(
                Topic::Dates,
                Verdict::Fail,
                "validity-too-long",
                format!(
                    "The certificate is valid for {} days: macOS and iOS refuse server certificates issued after 1 July 2019 that are valid for more than {LEAF_MAX_DAYS} days, even from a private root.",
                    period.whole_days()
                ),
            )
            .fix(format!("Reissue it for {LEAF_MAX_DAYS} days or fewer.")),
        );
    }
    out
}

/// Apple's requirements for TLS server certificates apply to those issued on or after
/// 1 July 2019 ("Requirements for trusted certificates in iOS 13 and macOS 10.15").
fn apple_rules_apply(not_before: OffsetDateTime) -> bool {
    not_before >= time::macros::datetime!(2019-07-01 00:00 UTC)
}

fn key(cert: &X509Certificate<'_>) -> Vec<Finding> {
    let described = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if bits < 2048 {
                return vec![
                    Finding::new(
                        Topic::Key,
                        Verdict::Fail,
                        "weak-key",
                        format!(
                            "The certificate's key is RSA with {bits} bits: Windows, macOS, iOS, Chrome, Firefox and OpenSSL refuse RSA keys under 2048 bits."
                        ),
                    )
                    .fix("Make a new key of 2048 bits or more (or ECDSA P-256) and have a certificate issued for it."),
                ];
            }
            format!("RSA, {bits} bits")
        }
        Ok(PublicKey::EC(point)) => {
            let curve = cert
                .public_key()
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| match oid.to_id_string().as_str() {
                    "1.2.840.10045.3.1.7" => "P-256".to_owned(),
                    "1.3.132.0.34" => "P-384".to_owned(),
                    "1.3.132.0.35" => "P-521".to_owned(),
                    other => other.to_owned(),
                })
                .unwrap_or_else(|| format!("{} bits", point.key_size()));
            format!("ECDSA {curve}")
        }
        _ => {
            return vec![Finding::new(
                Topic::Key,
                Verdict::Note,
                "key",
                format!(
                    "The certificate's key is of type {}, which older clients may not know.",
                    cert.public_key().algorithm.algorithm.to_id_string()
                ),
            )];
        }
    };
    vec![Finding::new(
        Topic::Key,
        Verdict::Ok,
        "key",
        format!("The key is {described}."),
    )]
}

/// The signatures of the leaf and the intermediates (a root's own signature is never
/// checked by clients).
fn signatures(analysis: &Analysis) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, der) in analysis.path.iter().enumerate() {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            continue;
        };
        let algorithm = algorithm_name(&cert.signature_algorithm);
        let who = if index == 0 {
            "The certificate".to_owned()
        } else {
            format!("The intermediate {}", name_of(&cert))
        };
        if algorithm.contains("SHA1") || algorithm.contains("sha1") {
            out.push(
                Finding::new(
                    Topic::Signature,
                    Verdict::Fail,
                    "sha1",
                    format!(
                        "{who} is signed with SHA-1 ({algorithm}): browsers, Windows, macOS and iOS refuse SHA-1 signatures on server and intermediate certificates."
                    ),
                )
                .fix("Have it reissued with SHA-256."),
            );
        } else if algorithm.starts_with("md") {
            out.push(
                Finding::new(
                    Topic::Signature,
                    Verdict::Fail,
                    "md5",
                    format!("{who} is signed with {algorithm}, which no current client accepts."),
                )
                .fix("Have it reissued with SHA-256."),
            );
        } else if index == 0 {
            out.push(Finding::new(
                Topic::Signature,
                Verdict::Ok,
                "signature",
                format!("Signed with {algorithm}."),
            ));
        }
    }
    out
}

fn usage(cert: &X509Certificate<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if cert.is_ca() {
        out.push(
            Finding::new(
                Topic::Usage,
                Verdict::Fail,
                "ca-as-leaf",
                "The server's certificate is a CA certificate (basicConstraints CA=TRUE): clients refuse a CA certificate as a server's own.".to_owned(),
            )
            .fix("Issue a server certificate from the CA and install that instead."),
        );
    }
    let mut eku = None;
    let mut key_usage = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(value) => eku = Some(value.clone()),
            ParsedExtension::KeyUsage(value) => key_usage = Some(*value),
            _ => {}
        }
    }
    match eku {
        Some(eku) if eku.server_auth => out.push(Finding::new(
            Topic::Usage,
            Verdict::Ok,
            "server-auth",
            "The certificate is for server authentication (extendedKeyUsage serverAuth).".to_owned(),
        )),
        Some(eku) => {
            let mut purposes = Vec::new();
            for (on, name) in [
                (eku.any, "any purpose"),
                (eku.client_auth, "client authentication"),
                (eku.code_signing, "code signing"),
                (eku.email_protection, "email protection"),
                (eku.time_stamping, "time stamping"),
                (eku.ocsp_signing, "OCSP signing"),
            ] {
                if on {
                    purposes.push(name.to_owned());
                }
            }
            purposes.extend(eku.other.iter().map(|oid| oid.to_id_string()));
            out.push(
                Finding::new(
                    Topic::Usage,
                    Verdict::Fail,
                    "no-server-auth",
                    format!(
                        "The certificate's extendedKeyUsage allows {} but not server authentication: clients refuse it for a server.",
                        purposes.join(", ")
                    ),
                )
                .fix("Have a server certificate issued (extendedKeyUsage serverAuth) and install that."),
            );
        }
        None if apple_rules_apply(cert.validity().not_before.to_datetime()) => out.push(
            Finding::new(
                Topic::Usage,
                Verdict::Fail,
                "no-eku",
                "The certificate has no extendedKeyUsage: macOS and iOS refuse server certificates issued after 1 July 2019 without serverAuth in it.".to_owned(),
            )
            .fix("Have it reissued with extendedKeyUsage serverAuth."),
        ),
        None => {}
    }
    if let Some(key_usage) = key_usage
        && !key_usage.digital_signature()
    {
        out.push(
            Finding::new(
                Topic::Usage,
                Verdict::Warn,
                "key-usage",
                "The certificate's keyUsage lacks digitalSignature: clients that enforce it (Firefox, Java, Go) refuse handshakes with forward secrecy, which TLS 1.3 always uses.".to_owned(),
            )
            .fix("Have it reissued with keyUsage digitalSignature (and keyEncipherment for RSA keys)."),
        );
    }
    out
}

/// Outlook Anywhere's "Only connect to proxy servers that have this principal name in their
/// certificate" compares `msstd:NAME` with the subject's CN.
fn outlook(cert: &X509Certificate<'_>) -> Finding {
    match common_name(cert) {
        Some(cn) => Finding::new(
            Topic::Outlook,
            Verdict::Ok,
            "msstd",
            format!("Outlook Anywhere's principal name for this server is msstd:{cn}."),
        ),
        None => Finding::new(
            Topic::Outlook,
            Verdict::Warn,
            "msstd-no-cn",
            "The certificate has no subject CN, so Outlook Anywhere's principal name check (msstd:) cannot match it.".to_owned(),
        )
        .fix("Leave \"Only connect to proxy servers that have this principal name\" off in Outlook, or reissue the certificate with a CN."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_whole_leftmost_label() {
        assert!(matches("mail.example.com", "mail.example.com"));
        assert!(matches("*.example.com", "mail.example.com"));
        assert!(!matches("*.example.com", "example.com"));
        assert!(!matches("*.example.com", "a.mail.example.com"));
        assert!(!matches("*.com", "example.com"));
        assert!(!matches("m*.example.com", "mail.example.com"));
        assert!(!matches("mail.example.com", "mail.example.org"));
    }

    #[test]
    fn apple_rules_start_on_the_first_of_july_2019() {
        assert!(!apple_rules_apply(
            time::macros::datetime!(2019-06-30 23:59 UTC)
        ));
        assert!(apple_rules_apply(
            time::macros::datetime!(2019-07-01 00:00 UTC)
        ));
    }
}
