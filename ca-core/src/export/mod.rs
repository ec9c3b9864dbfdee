//! What the authority writes for other software: PEM, DER, PKCS#7, PKCS#12 and Apple
//! configuration profiles (DESIGN §4).

pub mod mobileconfig;
pub mod pkcs12;
pub mod pkcs7;

use std::fmt;

use crate::certificate::certificate_pem;
use crate::choice::Choice;
use crate::error::Result;

/// How a certificate, or a certificate with its chain, is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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

impl Choice for CertificateFormat {
    const WHAT: &'static str = "format";
    const ALL: &'static [Self] = &[
        CertificateFormat::Pem,
        CertificateFormat::Der,
        CertificateFormat::P7b,
        CertificateFormat::P7bPem,
    ];

    fn name(self) -> &'static str {
        match self {
            CertificateFormat::Pem => "pem",
            CertificateFormat::Der => "der",
            CertificateFormat::P7b => "p7b",
            CertificateFormat::P7bPem => "p7b-pem",
        }
    }
}

impl fmt::Display for CertificateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
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

/// How a CRL is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum CrlFormat {
    /// DER, as CRL distribution points serve it (RFC 5280 §4.2.1.13).
    #[default]
    Der,
    /// PEM `X509 CRL`.
    Pem,
}

impl Choice for CrlFormat {
    const WHAT: &'static str = "CRL format";
    const ALL: &'static [Self] = &[CrlFormat::Der, CrlFormat::Pem];

    fn name(self) -> &'static str {
        match self {
            CrlFormat::Der => "der",
            CrlFormat::Pem => "pem",
        }
    }
}

impl fmt::Display for CrlFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}
