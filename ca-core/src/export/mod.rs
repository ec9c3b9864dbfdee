//! What the authority writes for other software: PEM, DER, PKCS#7, PKCS#12 and Apple
//! configuration profiles (DESIGN §4).

pub mod mobileconfig;
pub mod pkcs12;
pub mod pkcs7;

use std::fmt;
use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

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

/// Writes as PEM (RFC 7468: lines of 64 characters, LF) the DER written to it, a line at a
/// time as the DER arrives, so output of any length is written in bounded memory.
pub struct PemWriter<W: Write> {
    out: W,
    label: &'static str,
    pending: Vec<u8>,
    line: [u8; 65],
}

/// The DER octets of one line of PEM.
const PEM_LINE: usize = 48;

impl<W: Write> PemWriter<W> {
    /// Writes the `-----BEGIN {label}-----` line.
    pub fn new(mut out: W, label: &'static str) -> io::Result<Self> {
        writeln!(out, "-----BEGIN {label}-----")?;
        Ok(PemWriter {
            out,
            label,
            pending: Vec::with_capacity(PEM_LINE),
            line: [0; 65],
        })
    }

    fn line(&mut self, der: &[u8]) -> io::Result<()> {
        let written = STANDARD
            .encode_slice(der, &mut self.line)
            .map_err(io::Error::other)?;
        self.line[written] = b'\n';
        self.out.write_all(&self.line[..=written])
    }

    /// Writes the last line and the `-----END {label}-----` line; the writer it wrote to.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.line(&pending)?;
        }
        writeln!(self.out, "-----END {}-----", self.label)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for PemWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        if !self.pending.is_empty() {
            let take = (PEM_LINE - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() < PEM_LINE {
                return Ok(len);
            }
            let pending = std::mem::take(&mut self.pending);
            self.line(&pending)?;
            self.pending = pending;
            self.pending.clear();
        }
        let mut lines = buf.chunks_exact(PEM_LINE);
        for line in &mut lines {
            self.line(line)?;
        }
        self.pending.extend_from_slice(lines.remainder());
        Ok(len)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod pem_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pem_written_in_pieces_is_pem_written_whole() {
        let der: Vec<u8> = (0..1000u32).map(|n| (n * 7 % 251) as u8).collect();
        for len in [1, 47, 48, 49, 96, 1000] {
            let whole =
                ::der::pem::encode_string("X509 CRL", ::der::pem::LineEnding::LF, &der[..len])
                    .unwrap();
            for piece in [1, 5, 48, 100, 1000] {
                let mut pem = PemWriter::new(Vec::new(), "X509 CRL").unwrap();
                for chunk in der[..len].chunks(piece) {
                    pem.write_all(chunk).unwrap();
                }
                let written = pem.finish().unwrap();
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    whole,
                    "{len} octets in pieces of {piece}"
                );
            }
        }
    }
}
