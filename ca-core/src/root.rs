//! The root: its certificate as read from the data folder, and how a new one is made
//! (DESIGN §3 "Root").

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree,
    IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
};
use time::OffsetDateTime;

use crate::certificate::{Fingerprint, SerialNumber, certificate_pem};
use crate::error::{Error, Result};
use crate::key::KeyAlgorithm;
use crate::name::{DnsName, PermittedSubtree, SubjectName, host_name, ip_from_bytes};
use crate::profile::Validity;

/// The longest subject CN (RFC 5280 Appendix A, ub-common-name).
pub(crate) const MAX_COMMON_NAME: usize = 64;

/// The root certificate, parsed once.
#[derive(Clone, Debug)]
pub struct Root {
    der: Vec<u8>,
    common_name: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_algorithm: KeyAlgorithm,
    permitted: Vec<PermittedSubtree>,
    key_identifier: Vec<u8>,
    subject: Vec<u8>,
    public_key: Vec<u8>,
}

impl Root {
    /// DER of the root certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM of the root certificate.
    pub fn pem(&self) -> String {
        certificate_pem(&self.der)
    }

    /// The subject CN.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }

    /// The root's permitted subtrees; empty when it has no name constraints.
    pub fn permitted(&self) -> &[PermittedSubtree] {
        &self.permitted
    }

    /// True when the root's name constraints let it vouch for `name`.
    pub fn permits(&self, name: &SubjectName) -> bool {
        self.permitted.is_empty() || self.permitted.iter().any(|p| p.permits(name))
    }

    /// The subjectKeyIdentifier, which every leaf and CRL names as its authorityKeyIdentifier.
    pub fn key_identifier(&self) -> &[u8] {
        &self.key_identifier
    }

    /// The DER of the subject Name, which an OCSP CertID hashes as issuerNameHash
    /// (RFC 6960 §4.1.1).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The subjectPublicKey bits (without the BIT STRING's tag, length and unused-bits
    /// octet), which an OCSP CertID hashes as issuerKeyHash (RFC 6960 §4.1.1).
    pub fn public_key_bits(&self) -> &[u8] {
        &self.public_key
    }

    /// SHA-256 fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.der)
    }

    /// Reads a root certificate; `what` names the file in errors.
    pub(crate) fn parse(der: Vec<u8>, what: &str) -> Result<Root> {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let bad =
            |why: &str| Error::CaKey(format!("{what} is not a usable root certificate: {why}"));
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|_| bad("it does not parse"))?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let key_algorithm = KeyAlgorithm::of_public_key(cert.public_key())
            .map_err(|_| bad("its key is of a type this CA cannot sign with"))?;
        let mut permitted = Vec::new();
        let mut key_identifier = Vec::new();
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(ski) => key_identifier = ski.0.to_vec(),
                ParsedExtension::NameConstraints(nc) => {
                    for subtree in nc.permitted_subtrees.iter().flatten() {
                        match &subtree.base {
                            GeneralName::DNSName(domain) => permitted.push(PermittedSubtree::Dns(
                                domain
                                    .parse::<DnsName>()
                                    .map_err(|_| bad("a permitted DNS subtree is not a name"))?,
                            )),
                            GeneralName::IPAddress(bytes) => permitted.push(
                                ip_subtree(bytes)
                                    .ok_or_else(|| bad("a permitted IP subtree is malformed"))?,
                            ),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Root {
            common_name,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_algorithm,
            permitted,
            key_identifier,
            subject: cert.subject().as_raw().to_vec(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            der,
        })
    }
}

/// What a new root is made of.
#[derive(Clone, Debug)]
pub struct RootSpec {
    /// The subject CN; by default "<domain or host name> Root CA".
    pub name: Option<String>,
    pub key: KeyAlgorithm,
    /// Validity in days; by default ten years.
    pub days: Option<u32>,
    /// Name constraints: the root can vouch only for names in these subtrees.
    pub permitted: Vec<PermittedSubtree>,
}

impl Default for RootSpec {
    fn default() -> Self {
        RootSpec {
            name: None,
            key: KeyAlgorithm::ROOT_DEFAULT,
            days: None,
            permitted: Vec::new(),
        }
    }
}

impl RootSpec {
    /// The subject CN this spec gives the root.
    pub(crate) fn common_name(&self) -> Result<String> {
        match &self.name {
            Some(name) => checked_root_name(name),
            None => Ok(default_root_name(self.permitted.iter().find_map(
                |p| match p {
                    PermittedSubtree::Dns(domain) => Some(domain),
                    PermittedSubtree::Ip { .. } => None,
                },
            ))),
        }
    }

    /// Makes the key and the self-signed certificate (DESIGN §3 "Root").
    pub(crate) fn make(&self) -> Result<(KeyPair, rcgen::Certificate)> {
        let name = self.common_name()?;
        let validity = Validity::root(self.days, OffsetDateTime::now_utc())?;
        let key_pair = self.key.generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(
            SerialNumber::random()?.as_bytes(),
        ));
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.name_constraints = name_constraints(&self.permitted);
        let certificate = params.self_signed(&key_pair)?;
        Ok((key_pair, certificate))
    }
}

/// "example.com Root CA" for a CA whose first permitted domain is under example.com, else
/// "<host name> Root CA".
pub fn default_root_name(domain: Option<&DnsName>) -> String {
    let base = match domain {
        Some(domain) => {
            let name = domain.as_str().trim_start_matches("*.");
            let labels: Vec<&str> = name.split('.').collect();
            if labels.len() >= 3 {
                labels[1..].join(".")
            } else {
                name.to_owned()
            }
        }
        None => host_name(),
    };
    format!("{base} Root CA")
}

fn checked_root_name(name: &str) -> Result<String> {
    let name = name.trim();
    // The name is shown wherever the root is: in every client's certificate list, and by
    // every command. A control character or a mark that reorders or hides text would make
    // it read as something else there (or clear a terminal).
    if name
        .chars()
        .any(|c| c.is_control() || crate::display::misleads(c))
    {
        return Err(Error::InvalidInput(format!(
            "the root's name '{}' holds a control character or a mark that changes how text reads: choose a name of letters, digits, spaces and punctuation, such as 'Example Root CA'",
            crate::display::inert(name)
        )));
    }
    if name.is_empty() || name.len() > MAX_COMMON_NAME {
        return Err(Error::InvalidInput(format!(
            "the root's name must be 1 to {MAX_COMMON_NAME} characters: it becomes the certificate's CN"
        )));
    }
    if name.contains('.') && !name.contains(' ') && name.parse::<DnsName>().is_ok() {
        return Err(Error::InvalidInput(format!(
            "the root's name '{name}' looks like a host name; a root named like a server confuses clients \
             (and must never equal a name it issues for): choose a name such as 'Example Root CA'"
        )));
    }
    Ok(name.to_owned())
}

fn name_constraints(permitted: &[PermittedSubtree]) -> Option<NameConstraints> {
    if permitted.is_empty() {
        return None;
    }
    let mut permitted_subtrees = Vec::new();
    let mut has_ip = false;
    let mut has_dns = false;
    for subtree in permitted {
        match subtree {
            PermittedSubtree::Dns(domain) => {
                has_dns = true;
                permitted_subtrees.push(GeneralSubtree::DnsName(domain.as_str().to_owned()))
            }
            PermittedSubtree::Ip { network, prefix } => {
                has_ip = true;
                permitted_subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                    *network, *prefix,
                )));
            }
        }
    }
    // RFC 5280 §4.2.1.10 constrains only the name types listed: without an IP range the root
    // would still vouch for any IP address, and without a domain for any host name. What is
    // not permitted is excluded whole, as the CA/Browser Forum's rules for constrained CAs
    // write it: every IPv4 and IPv6 address, or a zero-length dNSName, which every name
    // matches.
    let mut excluded_subtrees = Vec::new();
    if !has_ip {
        excluded_subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])));
        excluded_subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])));
    }
    if !has_dns {
        excluded_subtrees.push(GeneralSubtree::DnsName(String::new()));
    }
    Some(NameConstraints {
        permitted_subtrees,
        excluded_subtrees,
    })
}

/// An iPAddress subtree: the address followed by its mask, 8 or 32 octets (RFC 5280
/// §4.2.1.10).
fn ip_subtree(bytes: &[u8]) -> Option<PermittedSubtree> {
    let half = bytes.len() / 2;
    if bytes.len() != 8 && bytes.len() != 32 {
        return None;
    }
    let network = ip_from_bytes(&bytes[..half])?;
    let mask = &bytes[half..];
    let prefix: u32 = mask.iter().map(|b| b.count_ones()).sum();
    Some(PermittedSubtree::Ip {
        network,
        prefix: u8::try_from(prefix).ok()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_root_name_comes_from_the_domain() {
        let name: DnsName = "mail.example.com".parse().unwrap();
        assert_eq!(default_root_name(Some(&name)), "example.com Root CA");
        let name: DnsName = "example.com".parse().unwrap();
        assert_eq!(default_root_name(Some(&name)), "example.com Root CA");
    }

    #[test]
    fn refuses_a_root_named_like_a_host() {
        assert!(checked_root_name("mail.example.com").is_err());
        assert!(checked_root_name("").is_err());
        assert!(checked_root_name(&"x".repeat(65)).is_err());
        assert_eq!(checked_root_name(&"x".repeat(64)).unwrap().len(), 64);
        assert_eq!(
            checked_root_name(" Example Root CA ").unwrap(),
            "Example Root CA"
        );
    }

    #[test]
    fn reads_ip_subtrees_of_both_families() {
        let v4 = ip_subtree(&[192, 0, 2, 0, 255, 255, 255, 0]).unwrap();
        assert_eq!(v4, "192.0.2.0/24".parse().unwrap());
        let mut v6 = vec![0x20, 0x01, 0x0d, 0xb8];
        v6.extend([0; 12]);
        v6.extend([0xff; 4]);
        v6.extend([0; 12]);
        assert_eq!(ip_subtree(&v6).unwrap(), "2001:db8::/32".parse().unwrap());
        assert_eq!(ip_subtree(&[0; 5]), None);
    }
}
