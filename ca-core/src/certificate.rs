//! Serial numbers, fingerprints and PEM for certificates.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::display::{colons, hex};
use crate::error::{Error, Result};

/// The most octets of a serial number (RFC 5280 §4.1.2.2).
const MAX_SERIAL: usize = 20;

/// A certificate serial number: the big-endian octets of a positive INTEGER, at most 20 of
/// them (RFC 5280 §4.1.2.2). The authority draws 16 random octets with the top bit cleared and
/// the next one set, so each is positive, always 16 octets once DER-encoded, and carries 126
/// random bits, well over CA/B Forum BR 7.1's 64.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(Vec<u8>);

impl SerialNumber {
    /// Draws a new serial number: sixteen octets, positive, the first six the time of
    /// issuance in milliseconds (behind the leading `01` bits), the other ten (80 bits) from
    /// the CSPRNG. Serials drawn later sort after those drawn before, so the log's index of
    /// serials grows at its end: an issuance writes a page of it that the issuances committed
    /// with it share, where a serial random throughout wrote a page of its own anywhere in the
    /// index. The random part alone is more than the 64 bits of CSPRNG output the
    /// CA/Browser Forum's Baseline Requirements (§7.1) ask of a serial.
    pub fn random() -> Result<Self> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        Ok(Self::drawn_at(millis, crate::random::bytes::<10>()?))
    }

    /// The serial drawn at `millis` since the epoch with these random octets.
    fn drawn_at(millis: u64, random: [u8; 10]) -> Self {
        let mut bytes = [0u8; 16];
        // 46 bits of milliseconds: the order holds until the year 4199.
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        bytes[0] = (bytes[0] & 0x3f) | 0x40;
        bytes[6..].copy_from_slice(&random);
        SerialNumber(bytes.to_vec())
    }

    /// The serial number with these big-endian octets (the content octets of its DER INTEGER).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() || bytes.len() > MAX_SERIAL + 1 {
            return Err(Error::InvalidInput(format!(
                "a serial number has 1 to {MAX_SERIAL} octets"
            )));
        }
        Ok(SerialNumber(bytes.to_vec()))
    }

    /// The big-endian bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex, as the log keeps it.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// Uppercase hex pairs joined by colons, as Windows and `openssl x509 -serial` show it.
    pub fn colons(&self) -> String {
        colons(&self.0)
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.hex())
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({})", self.hex())
    }
}

/// `text` without the invisible characters that copying brings along: Windows' certificate
/// dialog puts a left-to-right mark (U+200E) before the serial number and the thumbprint it
/// shows, and other programs add zero-width spaces and joiners, a right-to-left mark, a word
/// joiner or a byte-order mark. Characters that reorder what is shown (embeddings, overrides,
/// isolates: `\u{202e}12` reads as 21) are kept, so the number is refused rather than read
/// as other than it looks.
pub(crate) fn without_invisible(text: &str) -> std::borrow::Cow<'_, str> {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}');
    if text.contains(invisible) {
        text.chars()
            .filter(|c| !invisible(*c))
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

impl FromStr for SerialNumber {
    type Err = Error;

    /// Reads a serial number as people type it: hex in any case, with or without colons or
    /// spaces between octets and a `0x` prefix (`0A:1B`, `0x0a1b`).
    fn from_str(input: &str) -> Result<Self> {
        // The log's own form (hex, an even number of digits, nothing else), read at once:
        // lists read one a row.
        if !input.is_empty() && input.len() <= 2 * (MAX_SERIAL + 1) && input.len().is_multiple_of(2)
        {
            let nibble = |digit: u8| char::from(digit).to_digit(16);
            let bytes: Option<Vec<u8>> = input
                .as_bytes()
                .chunks_exact(2)
                .map(|pair| u8::try_from(nibble(pair[0])? * 16 + nibble(pair[1])?).ok())
                .collect();
            if let Some(bytes) = bytes {
                return Ok(SerialNumber(minimal(bytes)));
            }
        }
        let refuse = || {
            Error::InvalidInput(format!(
                "{} is not a serial number: give it in hex, as in 0A:1B:2C",
                crate::display::quoted(input.trim())
            ))
        };
        let visible = without_invisible(input);
        let trimmed = visible.trim();
        let trimmed = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        let digits: Vec<u8> = trimmed
            .bytes()
            .filter(|c| *c != b':' && *c != b' ')
            .collect();
        if digits.is_empty() || digits.len() > 2 * (MAX_SERIAL + 1) {
            return Err(refuse());
        }
        let padded: Vec<u8> = if digits.len() % 2 == 1 {
            std::iter::once(b'0').chain(digits).collect()
        } else {
            digits
        };
        let bytes = padded
            .chunks(2)
            .map(|pair| {
                let high = (pair[0] as char).to_digit(16)?;
                let low = (pair[1] as char).to_digit(16)?;
                u8::try_from(high * 16 + low).ok()
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(refuse)?;
        SerialNumber::from_bytes(&minimal(bytes))
    }
}

/// `bytes` without the zero octets a DER INTEGER would not write before its first (`0041`
/// is `41`; `0080` keeps its zero, which keeps it positive): as the log keeps serials.
fn minimal(mut bytes: Vec<u8>) -> Vec<u8> {
    let extra = bytes
        .windows(2)
        .take_while(|pair| pair[0] == 0 && pair[1] & 0x80 == 0)
        .count();
    bytes.drain(..extra);
    bytes
}

/// A SHA-256 fingerprint of a certificate's DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der`.
    pub fn of(der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// Reads the lowercase or uppercase hex the log and JSON output write.
    pub fn from_hex(text: &str) -> Option<Self> {
        let nibble = |digit: u8| {
            char::from(digit)
                .to_digit(16)
                .and_then(|n| u8::try_from(n).ok())
        };
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Fingerprint(bytes))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex without separators (JSON and the log).
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// Uppercase hex pairs joined by colons, as `openssl x509 -fingerprint` and Windows show it.
    pub fn colons(&self) -> String {
        colons(&self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.hex())
    }
}

/// True when the certificate `der` is for the key whose subjectPublicKey bits are `key`, an
/// RSA key by its modulus whatever its exponent ([`crate::key::identity`]); false for what
/// does not parse.
pub(crate) fn holds_key(der: &[u8], key: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der).is_ok_and(|(_, cert)| {
        crate::key::same_key(cert.public_key().subject_public_key.data.as_ref(), key)
    })
}

/// The SHA-1 fingerprint of `der` as Windows' certificate dialog shows it ("Thumbprint"), for
/// comparing a root out of band; never used for any security decision.
pub fn sha1_thumbprint(der: &[u8]) -> String {
    colons(&sha1(der))
}

/// The SHA-1 digest of a certificate's DER: its thumbprint, as Windows names certificates.
pub(crate) fn sha1(der: &[u8]) -> [u8; 20] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let mut sha1 = [0; 20];
    sha1.copy_from_slice(digest.as_ref());
    sha1
}

/// Where a certificate tells clients to check whether it was revoked: the URIs of its CRL
/// distribution points (RFC 5280 §4.2.1.13) and of its OCSP responders (the AIA's id-ad-ocsp,
/// RFC 5280 §4.2.2.1). Clients follow these, not the CA's current settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationPointers {
    pub crl: Vec<String>,
    pub ocsp: Vec<String>,
}

impl RevocationPointers {
    /// The pointers `der` carries; none when it carries none (or does not parse).
    pub fn of(der: &[u8]) -> Self {
        use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
        let mut pointers = RevocationPointers::default();
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return pointers;
        };
        let uri = |name: &GeneralName<'_>| match name {
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CRLDistributionPoints(points) => {
                    for point in points.iter() {
                        if let Some(DistributionPointName::FullName(names)) =
                            &point.distribution_point
                        {
                            pointers.crl.extend(names.iter().filter_map(uri));
                        }
                    }
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    pointers.ocsp.extend(
                        aia.iter()
                            .filter(|d| {
                                d.access_method
                                    == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP
                            })
                            .filter_map(|d| uri(&d.access_location)),
                    );
                }
                _ => {}
            }
        }
        pointers
    }

    /// True when the certificate names no place to check it.
    pub fn is_empty(&self) -> bool {
        self.crl.is_empty() && self.ocsp.is_empty()
    }
}

/// What a certificate says of itself beyond its names and dates, in the words Windows'
/// certificate dialog uses (certutil prints the same): its subject and issuer, its key usage and
/// extended key usage, and whether it is a CA. For the command line's view of one row, where an
/// administrator who has read AD CS's view looks for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// The subject's distinguished name as RFC 4514 writes it, empty for an empty subject.
    pub subject: String,
    pub issuer: String,
    /// The key usage bits set ("Digital Signature"), and whether the extension is critical.
    pub key_usage: Vec<&'static str>,
    pub key_usage_critical: bool,
    /// Each purpose, named with its OID ("Server Authentication (1.3.6.1.5.5.7.3.1)").
    pub extended_key_usage: Vec<String>,
    /// The basicConstraints' cA flag (false when the extension is absent).
    pub is_ca: bool,
}

impl Contents {
    /// The contents of `der`; None when it does not parse.
    pub fn of(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut contents = Contents {
            subject: rfc4514(cert.subject()),
            issuer: rfc4514(cert.issuer()),
            ..Contents::default()
        };
        if let Ok(Some(usage)) = cert.key_usage() {
            let bits = [
                (usage.value.digital_signature(), "Digital Signature"),
                (usage.value.non_repudiation(), "Non-Repudiation"),
                (usage.value.key_encipherment(), "Key Encipherment"),
                (usage.value.data_encipherment(), "Data Encipherment"),
                (usage.value.key_agreement(), "Key Agreement"),
                (usage.value.key_cert_sign(), "Certificate Signing"),
                (usage.value.crl_sign(), "CRL Signing"),
                (usage.value.encipher_only(), "Encipher Only"),
                (usage.value.decipher_only(), "Decipher Only"),
            ];
            contents.key_usage = bits
                .iter()
                .filter(|(set, _)| *set)
                .map(|(_, name)| *name)
                .collect();
            contents.key_usage_critical = usage.critical;
        }
        if let Ok(Some(usage)) = cert.extended_key_usage() {
            let named = [
                (
                    usage.value.server_auth,
                    "Server Authentication",
                    "1.3.6.1.5.5.7.3.1",
                ),
                (
                    usage.value.client_auth,
                    "Client Authentication",
                    "1.3.6.1.5.5.7.3.2",
                ),
                (
                    usage.value.code_signing,
                    "Code Signing",
                    "1.3.6.1.5.5.7.3.3",
                ),
                (
                    usage.value.email_protection,
                    "Secure Email",
                    "1.3.6.1.5.5.7.3.4",
                ),
                (
                    usage.value.time_stamping,
                    "Time Stamping",
                    "1.3.6.1.5.5.7.3.8",
                ),
                (
                    usage.value.ocsp_signing,
                    "OCSP Signing",
                    "1.3.6.1.5.5.7.3.9",
                ),
            ];
            if usage.value.any {
                contents
                    .extended_key_usage
                    .push("All application policies (2.5.29.37.0)".into());
            }
            contents.extended_key_usage.extend(
                named
                    .iter()
                    .filter(|(set, _, _)| *set)
                    .map(|(_, name, oid)| format!("{name} ({oid})")),
            );
            contents
                .extended_key_usage
                .extend(usage.value.other.iter().map(|oid| oid.to_id_string()));
        }
        if let Ok(Some(constraints)) = cert.basic_constraints() {
            contents.is_ca = constraints.value.ca;
        }
        Some(contents)
    }
}

/// A distinguished name as RFC 4514 writes it (and `openssl -nameopt RFC2253` prints it): the
/// last RDN first, each attribute by its short name (its OID where it has none), values with
/// `,` `+` `"` `\` `<` `>` `;`, a leading `#` or space and a trailing space escaped, so that a
/// root named `Contoso, Inc.` reads as one CN, not a CN and an attribute `Inc.`. A value that
/// is no text is written `#` and its octets in hex.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut rdns = Vec::new();
    for rdn in name.iter().collect::<Vec<_>>().into_iter().rev() {
        let attributes: Vec<String> = rdn
            .iter()
            .map(|attribute| {
                let kind = x509_parser::objects::oid2abbrev(
                    attribute.attr_type(),
                    x509_parser::objects::oid_registry(),
                )
                .map_or_else(|_| attribute.attr_type().to_id_string(), str::to_owned);
                let value = match attribute_text(attribute) {
                    Some(text) => escape_rfc4514(&text),
                    None => format!("#{}", hex(attribute.as_slice())),
                };
                format!("{kind}={value}")
            })
            .collect();
        rdns.push(attributes.join("+"));
    }
    rdns.join(",")
}

/// The text of a subject attribute in any of the string types names use: UTF-8 and the
/// ASCII ones, and BMPString (UTF-16, which Windows writes) and UniversalString (UTF-32);
/// `None` for a value that is no text.
pub(crate) fn attribute_text(
    attribute: &x509_parser::x509::AttributeTypeAndValue<'_>,
) -> Option<String> {
    use x509_parser::asn1_rs::Tag;
    if let Ok(text) = attribute.as_str() {
        return Some(text.to_owned());
    }
    let data = attribute.as_slice();
    match attribute.attr_value().tag() {
        Tag::BmpString if data.len().is_multiple_of(2) => char::decode_utf16(
            data.chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        Tag::UniversalString if data.len().is_multiple_of(4) => data
            .chunks_exact(4)
            .map(|four| char::from_u32(u32::from_be_bytes([four[0], four[1], four[2], four[3]])))
            .collect(),
        _ => None,
    }
}

/// An attribute's value escaped as RFC 4514 §2.4 asks.
fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// DER of the SubjectPublicKeyInfo of the certificate `der` (one from the log).
pub fn public_key_info(der: &[u8]) -> Result<Vec<u8>> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).map_err(|_| {
        Error::Store(crate::error::StoreError::Corrupt(
            "a certificate in the log cannot be read".into(),
        ))
    })?;
    Ok(certificate.public_key().raw.to_vec())
}

/// True when `der` is one DER X.509 certificate and nothing after it.
pub fn is_certificate(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der).is_ok_and(|(rest, _)| rest.is_empty())
}

/// PEM of one certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    // Encoding fixed-label PEM into a String cannot fail except on allocation.
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// The DER of every `CERTIFICATE` block of a PEM text, in order; `None` when a block is
/// damaged. Blocks with other labels are skipped.
pub fn pem_certificates(pem: &[u8]) -> Option<Vec<Vec<u8>>> {
    CertificateDer::pem_slice_iter(pem)
        .map(|cert| cert.ok().map(|der| der.as_ref().to_vec()))
        .collect()
}

/// What a PEM file holds besides its first certificate: the label of every other PEM block
/// (`CERTIFICATE`, `PRIVATE KEY`...), in order, and `binary data` once when bytes outside the
/// blocks are control characters (a DER certificate appended, which Java's and others'
/// readers take for a second certificate). A block is found wherever `-----BEGIN ` appears,
/// not only at a line's start: OpenSSL reads long lines in pieces, and a header at the start
/// of a piece begins a block for it (a comment that names a header is reported too).
pub fn pem_extras(pem: &[u8]) -> Vec<String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    const DASHES: &[u8] = b"-----";
    let find = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    };
    let binary = |text: &[u8]| {
        text.iter()
            .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
    };
    let mut extras = Vec::new();
    let mut first_certificate = true;
    let mut found_binary = false;
    let mut rest = pem;
    while let Some(at) = find(rest, BEGIN) {
        found_binary |= binary(&rest[..at]);
        let after = &rest[at + BEGIN.len()..];
        let label_end = find(after, DASHES).unwrap_or(after.len());
        let label = String::from_utf8_lossy(&after[..label_end]).into_owned();
        if label == "CERTIFICATE" && first_certificate {
            first_certificate = false;
        } else {
            extras.push(label);
        }
        // Past the block's end line, or past its header when it has none.
        let body = &after[label_end.min(after.len())..];
        rest = match find(body, END) {
            Some(end) => {
                let tail = &body[end + END.len()..];
                let close = find(tail, DASHES).map_or(tail.len(), |close| close + DASHES.len());
                &tail[close..]
            }
            None => body.get(DASHES.len()..).unwrap_or_default(),
        };
    }
    found_binary |= binary(rest);
    if found_binary {
        extras.push("binary data".to_owned());
    }
    extras
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_written_as_rfc_4514_escapes_them() {
        for (value, written) in [
            (
                "Contoso, Inc. \"Lab\" Root CA",
                "Contoso\\, Inc. \\\"Lab\\\" Root CA",
            ),
            ("Evil, O=Microsoft+OU=IT", "Evil\\, O=Microsoft\\+OU=IT"),
            ("#1 ", "\\#1\\ "),
            (" a;b<c>d\\", "\\ a\\;b\\<c\\>d\\\\"),
            ("plain", "plain"),
            ("", ""),
        ] {
            assert_eq!(escape_rfc4514(value), written, "{value}");
        }
    }

    #[test]
    fn a_pem_file_s_extras_are_its_blocks_after_the_first_certificate_and_binary_data() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
        assert!(pem_extras(cert.as_bytes()).is_empty());
        let commented = format!("# the root\n{cert}# end, \u{fc}ber alles\n");
        assert!(pem_extras(commented.as_bytes()).is_empty());
        // A header anywhere counts: OpenSSL reads a long line in pieces, and one that
        // begins a piece begins a block.
        let hidden = format!("{cert}# {}{cert}", "x".repeat(252));
        assert_eq!(pem_extras(hidden.as_bytes()), ["CERTIFICATE"]);
        assert_eq!(
            pem_extras(format!("{cert}{cert}").as_bytes()),
            ["CERTIFICATE"]
        );
        assert_eq!(
            pem_extras(format!("{key}{cert}").as_bytes()),
            ["PRIVATE KEY"]
        );
        let crlf = format!("{cert}{cert}").replace('\n', "\r\n");
        assert_eq!(pem_extras(crlf.as_bytes()), ["CERTIFICATE"]);
        let indented = format!("{cert}  {cert}");
        assert_eq!(pem_extras(indented.as_bytes()), ["CERTIFICATE"]);
        let mut der = cert.as_bytes().to_vec();
        der.extend_from_slice(&[0x30, 0x82, 0x01, 0x0a, 0x02, 0x01]);
        assert_eq!(pem_extras(&der), ["binary data"]);
    }

    /// A thumbprint copied from Windows (a mark before it, spaces between octets) keeps its
    /// leading zero octet, which the serial number the same digits make leaves out.
    #[test]
    fn a_thumbprint_keeps_its_leading_zeros() {
        let copied = format!("\u{200e}00\u{a0}7f\t{}", "ab ".repeat(18));
        let mut digest = [0xab; 20];
        digest[..2].copy_from_slice(&[0x00, 0x7f]);
        let serial: SerialNumber = format!("7f{}", "ab".repeat(18)).parse().unwrap();
        assert_eq!(
            copied.parse::<crate::CertificateRef>().unwrap(),
            crate::CertificateRef::SerialOrSha1(serial, digest)
        );
        let sha256 = "0F".repeat(32);
        assert_eq!(
            sha256.parse::<crate::CertificateRef>().unwrap(),
            crate::CertificateRef::Sha256([0x0f; 32])
        );
        assert!(
            format!("{sha256}0")
                .parse::<crate::CertificateRef>()
                .is_err()
        );
    }

    /// A serial number copied from Windows' certificate dialog (a left-to-right mark before
    /// it, spaces between octets) reads as typed; so does a request id with a mark.
    #[test]
    fn a_serial_copied_from_windows_reads_without_its_invisible_mark() {
        let copied: SerialNumber = "\u{200e}41 a2 4b c8 f9 15 eb 21".parse().unwrap();
        assert_eq!(copied.hex(), "41a24bc8f915eb21");
        let zero_width: SerialNumber = "41a2\u{200b}4bc8\u{feff}".parse().unwrap();
        assert_eq!(zero_width.hex(), "41a24bc8");
        assert_eq!(
            "\u{200e}41a24bc8".parse::<crate::CertificateRef>().unwrap(),
            crate::CertificateRef::Serial(zero_width)
        );
        assert_eq!(
            "\u{200e}12".parse::<crate::CertificateRef>().unwrap(),
            crate::CertificateRef::Id("12".parse().unwrap())
        );
        assert!("\u{200e}".parse::<SerialNumber>().is_err());
        // What reorders the digits on screen is refused, not dropped.
        assert!("\u{202e}12".parse::<crate::CertificateRef>().is_err());
        assert!("1\u{2067}9".parse::<crate::CertificateRef>().is_err());
    }

    #[test]
    fn serial_is_positive_and_sixteen_octets() {
        for _ in 0..64 {
            let serial = SerialNumber::random().unwrap();
            assert_eq!(serial.as_bytes()[0] & 0xc0, 0x40);
            assert_eq!(serial.hex().len(), 32);
        }
        assert_ne!(
            SerialNumber::random().unwrap(),
            SerialNumber::random().unwrap()
        );
    }

    #[test]
    fn serials_sort_by_the_millisecond_they_were_drawn_in() {
        let now = 1_796_428_800_000; // 2026-12-05, in milliseconds
        let a = SerialNumber::drawn_at(now, [0xff; 10]);
        let b = SerialNumber::drawn_at(now + 1, [0; 10]);
        assert!(a.hex() < b.hex(), "{} {}", a.hex(), b.hex());
        assert_eq!(a.hex(), format!("4{:011x}{}", now, "ff".repeat(10)));
        // Past 44 bits of milliseconds the order still holds, the leading bits still `01`.
        let later = SerialNumber::drawn_at(1 << 45, [0; 10]);
        assert_eq!(later.as_bytes()[0] & 0xc0, 0x40);
        assert!(b.hex() < later.hex());
        // Time comes first, then the CSPRNG's ten octets.
        let drawn = SerialNumber::random().unwrap();
        let millis = u64::from_str_radix(&drawn.hex()[1..12], 16).unwrap();
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            clock.abs_diff(u128::from(millis)) <= 2000,
            "{} vs {clock}",
            drawn.hex()
        );
    }

    #[test]
    fn reads_serials_as_people_type_them() {
        let hex = |s: &str| s.parse::<SerialNumber>().map(|n| n.hex());
        assert_eq!(hex("0A:1B").unwrap(), "0a1b");
        assert_eq!(hex("0xABC").unwrap(), "0abc");
        assert_eq!(hex("0a 1b").unwrap(), "0a1b");
        assert!(hex("zz").is_err());
        assert!(hex("").is_err());
        assert!(hex("0x").is_err());
        assert!(hex(&"ab".repeat(22)).is_err());
        assert_eq!(hex(&"ab".repeat(20)).unwrap().len(), 40);
        assert_eq!("0a:1b".parse::<SerialNumber>().unwrap().colons(), "0A:1B");
        // Zero octets a DER INTEGER would not write are dropped, as typed or pasted.
        assert_eq!(hex("0041a2").unwrap(), "41a2");
        assert_eq!(hex("00:00:41").unwrap(), "41");
        assert_eq!(hex("0080").unwrap(), "0080");
        assert_eq!(hex("00").unwrap(), "00");
    }

    #[test]
    fn fingerprint_formats_and_reads_back() {
        let fp = Fingerprint::of(b"abc");
        assert_eq!(
            fp.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(fp.colons().starts_with("BA:78:16"));
        assert_eq!(Fingerprint::from_hex(&fp.hex()), Some(fp));
        assert_eq!(Fingerprint::from_hex("ba78"), None);
        assert_eq!(Fingerprint::from_hex(&"zz".repeat(32)), None);
    }

    #[test]
    fn splits_pem_certificates_in_order() {
        let a = certificate_pem(&[0x30, 0x00]);
        let b = certificate_pem(&[0x30, 0x01, 0x00]);
        let both = format!("{a}\n{b}");
        assert_eq!(
            pem_certificates(both.as_bytes()).unwrap(),
            vec![vec![0x30, 0x00], vec![0x30, 0x01, 0x00]]
        );
        assert_eq!(
            pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"),
            None
        );
    }
}
