//! Serial numbers, fingerprints and PEM for certificates.

use std::fmt;

use crate::error::{Error, Result};

/// A certificate serial number: 16 bytes from the CSPRNG with the top bit cleared and the next
/// one set, so it is positive and always 16 octets once DER-encoded (RFC 5280 §4.1.2.2 allows up
/// to 20), with 126 random bits, well over CA/B Forum BR 7.1's 64.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SerialNumber([u8; 16]);

impl SerialNumber {
    /// Draws a new serial number.
    pub fn random() -> Result<Self> {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| Error::Crypto("the system random number generator failed".into()))?;
        bytes[0] = (bytes[0] & 0x3f) | 0x40;
        Ok(SerialNumber(bytes))
    }

    /// The big-endian bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex, as the store keeps it.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Normalises a serial number as people type it (`0A:1B...`, `0x0a1b`, any case) to the
/// store's lowercase hex; `None` if it is not hex.
pub fn normalise_serial(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let trimmed = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let digits: String = trimmed.chars().filter(|c| *c != ':' && *c != ' ').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    Some(if lower.len() % 2 == 1 {
        format!("0{lower}")
    } else {
        lower
    })
}

/// A SHA-256 fingerprint of a certificate's DER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der`.
    pub fn of(der: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// Lowercase hex without separators (JSON and the store).
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// Uppercase hex pairs joined by colons, as `openssl x509 -fingerprint` and Windows show it.
    pub fn colons(&self) -> String {
        colons(&self.0)
    }
}

/// The SHA-1 fingerprint of `der` as Windows' certificate dialog shows it ("Thumbprint"), for
/// comparing a root out of band; never used for any security decision.
pub fn sha1_thumbprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    colons(digest.as_ref())
}

/// PEM of one certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    // Encoding fixed-label PEM into a String cannot fail except on allocation.
    der::pem::encode_string("CERTIFICATE", pkcs8::LineEnding::LF, der).unwrap_or_default()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
    fn normalises_serials_as_people_type_them() {
        assert_eq!(normalise_serial("0A:1B").as_deref(), Some("0a1b"));
        assert_eq!(normalise_serial("0xABC").as_deref(), Some("0abc"));
        assert_eq!(normalise_serial("zz"), None);
        assert_eq!(normalise_serial(""), None);
    }

    #[test]
    fn fingerprint_formats() {
        let fp = Fingerprint::of(b"abc");
        assert_eq!(
            fp.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(fp.colons().starts_with("BA:78:16"));
    }
}
