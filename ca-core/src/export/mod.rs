//! What the authority writes for other software: PEM, DER, PKCS#7 and PKCS#12 (DESIGN §4).

pub mod pkcs12;
pub mod pkcs7;

use std::str::FromStr;

use crate::certificate::certificate_pem;
use crate::error::{Error, Result};

/// How a certificate, or a certificate with its chain, is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateFormat {
    /// PEM `CERTIFICATE` blocks (`.crt`/`.pem`): the certificate, then its chain.
    Pem,
    /// DER of the one certificate (`.cer`).
    Der,
    /// PKCS#7 certs-only, DER (`.p7b`): the certificate, then its chain.
    P7b,
    /// PKCS#7 certs-only, PEM `PKCS7`.
    P7bPem,
}

impl CertificateFormat {
    /// Renders `leaf` (and for PEM and PKCS#7, the `chain` after it).
    pub fn render(self, leaf: &[u8], chain: &[&[u8]]) -> Result<Vec<u8>> {
        let all: Vec<&[u8]> = std::iter::once(leaf).chain(chain.iter().copied()).collect();
        Ok(match self {
            CertificateFormat::Pem => all
                .iter()
                .map(|der| certificate_pem(der))
                .collect::<String>()
                .into_bytes(),
            CertificateFormat::Der => leaf.to_vec(),
            CertificateFormat::P7b => pkcs7::certs_only(&all)?,
            CertificateFormat::P7bPem => pkcs7::certs_only_pem(&all)?.into_bytes(),
        })
    }

    /// True for formats that are not text.
    pub fn is_binary(self) -> bool {
        matches!(self, CertificateFormat::Der | CertificateFormat::P7b)
    }
}

impl FromStr for CertificateFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pem" => Ok(CertificateFormat::Pem),
            "der" => Ok(CertificateFormat::Der),
            "p7b" => Ok(CertificateFormat::P7b),
            "p7b-pem" => Ok(CertificateFormat::P7bPem),
            other => Err(Error::InvalidInput(format!(
                "unknown format '{other}': use pem, der, p7b or p7b-pem"
            ))),
        }
    }
}
