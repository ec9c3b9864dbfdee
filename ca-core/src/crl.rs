//! Certificate revocation lists signed by the root (RFC 5280 §5): a function of the
//! revocations, the CRL number and the issuer, nothing else.

use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, RevokedCertParams, SigningKey};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::revoke::Revocation;
use crate::tlv::element;

/// A signed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    pub der: Vec<u8>,
    /// The cRLNumber (RFC 5280 §5.2.3): strictly greater for every newer CRL.
    pub number: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

impl Crl {
    /// PEM (`X509 CRL`).
    pub fn pem(&self) -> String {
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &self.der).unwrap_or_default()
    }
}

/// Signs a CRL listing `revocations`, numbered `number`, valid from `this_update` to
/// `next_update`, whose authorityKeyIdentifier is `key_identifier` (the root's SKI).
pub(crate) fn sign(
    revocations: &[Revocation],
    number: i64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    key_identifier: &[u8],
    issuer: &Issuer<'_, impl SigningKey>,
) -> Result<Crl> {
    // rcgen writes the CRL around the entries (the algorithm, the issuer's name, the dates,
    // the extensions); the entries, all but a few hundred bytes of a long CRL, are written
    // here into one buffer of their final size, where rcgen's writer built every entry in
    // values and buffers of its own (the most time and memory a CRL of 100,000 took).
    let frame =
        params(Vec::new(), number, this_update, next_update, key_identifier).signed_by(issuer)?;
    let der = if revocations.is_empty() {
        frame.der().to_vec()
    } else {
        let tbs = with_entries(frame.der(), revocations)
            .ok_or_else(|| Error::CaKey("the CRL rcgen wrote does not read back".into()))?;
        let signature = issuer.key().sign(&tbs)?;
        let algorithm = algorithm(frame.der())
            .ok_or_else(|| Error::CaKey("the CRL rcgen wrote does not read back".into()))?;
        let mut bit_string = Vec::with_capacity(signature.len() + 1);
        bit_string.push(0);
        bit_string.extend_from_slice(&signature);
        let body = tbs.len() + algorithm.len() + header_len(bit_string.len()) + bit_string.len();
        let mut der = Vec::with_capacity(header_len(body) + body);
        push_header(&mut der, 0x30, body);
        der.extend_from_slice(&tbs);
        der.extend_from_slice(algorithm);
        push_header(&mut der, 0x03, bit_string.len());
        der.extend_from_slice(&bit_string);
        der
    };
    Ok(Crl {
        der,
        number,
        this_update,
        next_update,
    })
}

/// The TBSCertList of `frame` (a signed CRL without entries) with `revocations` as its
/// revokedCertificates, in their place after nextUpdate (RFC 5280 §5.1).
fn with_entries(frame: &[u8], revocations: &[Revocation]) -> Option<Vec<u8>> {
    let (list, _) = element(frame, 0x30)?;
    let (tbs, _) = element(list, 0x30)?;
    // version, signature, issuer, thisUpdate, nextUpdate; then the extensions.
    let mut rest = tbs;
    for _ in 0..5 {
        rest = skip(rest)?;
    }
    let head = &tbs[..tbs.len() - rest.len()];
    let entries: usize = revocations.iter().map(entry_len).sum();
    let body = head.len() + header_len(entries) + entries + rest.len();
    let mut out = Vec::with_capacity(header_len(body) + body);
    push_header(&mut out, 0x30, body);
    out.extend_from_slice(head);
    push_header(&mut out, 0x30, entries);
    for revocation in revocations {
        push_entry(&mut out, revocation);
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// The signatureAlgorithm of a signed CRL, as written.
fn algorithm(signed: &[u8]) -> Option<&[u8]> {
    let (list, _) = element(signed, 0x30)?;
    let after_tbs = skip(list)?;
    let algorithm = &after_tbs[..after_tbs.len() - skip(after_tbs)?.len()];
    Some(algorithm)
}

/// What follows the element at the start of `input`, whatever its tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    element(input, *input.first()?).map(|(_, rest)| rest)
}

/// The octets of a DER length header for `length` content octets, tag included.
fn header_len(length: usize) -> usize {
    match length {
        0..0x80 => 2,
        0x80..0x100 => 3,
        0x100..0x1_0000 => 4,
        0x1_0000..0x100_0000 => 5,
        _ => 6,
    }
}

fn push_header(out: &mut Vec<u8>, tag: u8, length: usize) {
    out.push(tag);
    let octets = header_len(length) - 2;
    if octets == 0 {
        out.push(length as u8);
    } else {
        out.push(0x80 | octets as u8);
        for i in (0..octets).rev() {
            out.push((length >> (8 * i)) as u8);
        }
    }
}

/// The serial's INTEGER content as rcgen writes a positive one: no leading zero octets but
/// one before a high bit, and zero as one octet.
fn serial_content(serial: &[u8]) -> (bool, &[u8]) {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    let digits = &serial[start..];
    match digits.first() {
        None => (true, &[]),
        Some(first) => (*first & 0x80 != 0, digits),
    }
}

/// The reasonCode extension of an entry (none for unspecified, RFC 5280 §5.3.1): its code.
fn reason_code(revocation: &Revocation) -> Option<u8> {
    revocation
        .reason
        .crl_code()
        .map(|_| revocation.reason.code())
}

/// Whether a time is written as UTCTime (1950 to 2049) or GeneralizedTime (RFC 5280 §5.1.2.4).
fn time_len(at: OffsetDateTime) -> usize {
    if (1950..2050).contains(&at.year()) {
        15
    } else {
        17
    }
}

fn entry_len(revocation: &Revocation) -> usize {
    let (pad, digits) = serial_content(revocation.serial.as_bytes());
    let serial = usize::from(pad) + digits.len();
    let body = header_len(serial)
        + serial
        + time_len(revocation.revoked_at)
        + if reason_code(revocation).is_some() {
            14
        } else {
            0
        };
    header_len(body) + body
}

fn push_entry(out: &mut Vec<u8>, revocation: &Revocation) {
    let (pad, digits) = serial_content(revocation.serial.as_bytes());
    let serial = usize::from(pad) + digits.len();
    let body = header_len(serial)
        + serial
        + time_len(revocation.revoked_at)
        + if reason_code(revocation).is_some() {
            14
        } else {
            0
        };
    push_header(out, 0x30, body);
    push_header(out, 0x02, serial);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    let at = revocation.revoked_at.to_offset(time::UtcOffset::UTC);
    let two = |out: &mut Vec<u8>, n: u8| {
        out.push(b'0' + n / 10);
        out.push(b'0' + n % 10);
    };
    if time_len(at) == 15 {
        push_header(out, 0x17, 13);
        two(out, (at.year() % 100) as u8);
    } else {
        push_header(out, 0x18, 15);
        let year = at.year().clamp(0, 9999) as u16;
        two(out, (year / 100) as u8);
        two(out, (year % 100) as u8);
    }
    two(out, u8::from(at.month()));
    two(out, at.day());
    two(out, at.hour());
    two(out, at.minute());
    two(out, at.second());
    out.push(b'Z');
    if let Some(code) = reason_code(revocation) {
        // Extensions { Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED code } } }
        out.extend_from_slice(&[
            0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01, code,
        ]);
    }
}

/// rcgen's parameters of a CRL listing `revoked_certs`.
fn params(
    revoked_certs: Vec<RevokedCertParams>,
    number: i64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    key_identifier: &[u8],
) -> CertificateRevocationListParams {
    CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
        // No issuing distribution point: this CRL covers every certificate the root issued,
        // and an IDP whose name differed from the leaves' CRL distribution point, or that
        // carried scope flags, would make OpenSSL and Windows treat it as a partial CRL
        // (RFC 5280 §5.2.5, §6.3.3) and refuse to decide revocation with it.
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(key_identifier.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::certificate::SerialNumber;
    use crate::choice::Choice;
    use crate::revoke::RevocationReason;
    use rcgen::PublicKeyData;
    use x509_parser::prelude::FromDer;

    /// The TBSCertList of a CRL as rcgen writes it whole, entries included.
    fn rcgen_tbs(
        revocations: &[Revocation],
        number: i64,
        this_update: OffsetDateTime,
        issuer: &Issuer<'_, rcgen::KeyPair>,
    ) -> Vec<u8> {
        let entries = revocations
            .iter()
            .map(|revocation| RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(revocation.serial.as_bytes()),
                revocation_time: revocation.revoked_at,
                reason_code: revocation.reason.crl_code(),
                invalidity_date: None,
            })
            .collect();
        let next_update = this_update + time::Duration::days(7);
        let crl = params(entries, number, this_update, next_update, &[7; 20])
            .signed_by(issuer)
            .unwrap();
        let (list, _) = element(crl.der(), 0x30).unwrap();
        let rest = skip(list).unwrap();
        list[..list.len() - rest.len()].to_vec()
    }

    #[test]
    fn entries_are_written_as_rcgen_writes_them() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test Root");
        let issuer = Issuer::new(params, key);
        let this_update = time::macros::datetime!(2026-12-03 10:00 UTC);
        let at = |year: i32| {
            time::macros::datetime!(2030-06-30 12:34:56 UTC)
                .replace_year(year)
                .unwrap()
        };
        let serials: [&[u8]; 6] = [
            &[0x01],
            &[0x7F, 0xFF],
            &[0x00, 0x80, 0x01],
            &[0x00],
            &[0x40; 20],
            &[
                0x00, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                0x22, 0x11, 0x00, 0x01, 0x02, 0x03, 0x04,
            ],
        ];
        let mut revocations = Vec::new();
        for (i, serial) in serials.iter().enumerate() {
            for (j, reason) in RevocationReason::ALL.iter().enumerate() {
                revocations.push(Revocation {
                    serial: SerialNumber::from_bytes(serial).unwrap(),
                    revoked_at: at([1950, 2026, 2049, 2050, 2199][(i + j) % 5]),
                    reason: *reason,
                });
            }
        }
        // Lengths in every form: short, one octet, two, three.
        for count in [0, 1, 3, revocations.len()] {
            let listed = &revocations[..count];
            let crl = sign(
                listed,
                4,
                this_update,
                this_update + time::Duration::days(7),
                &[7; 20],
                &issuer,
            )
            .unwrap();
            let (list, _) = element(&crl.der, 0x30).unwrap();
            let rest = skip(list).unwrap();
            assert_eq!(
                list[..list.len() - rest.len()],
                rcgen_tbs(listed, 4, this_update, &issuer),
                "{count} entries"
            );
            assert_eq!(
                algorithm(&crl.der).unwrap(),
                &[
                    0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02
                ]
            );
            let (_, parsed) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&crl.der)
                    .unwrap();
            assert_eq!(parsed.iter_revoked_certificates().count(), count);
            let verified = parsed.verify_signature(
                &x509_parser::x509::SubjectPublicKeyInfo::from_der(
                    &issuer.key().subject_public_key_info(),
                )
                .unwrap()
                .1,
            );
            assert!(verified.is_ok(), "{count} entries: {verified:?}");
        }
        let many: Vec<Revocation> = (0..5000u32)
            .map(|n| Revocation {
                serial: SerialNumber::from_bytes(&n.to_be_bytes())
                    .unwrap_or_else(|_| SerialNumber::from_bytes(&[1]).unwrap()),
                revoked_at: this_update,
                reason: RevocationReason::KeyCompromise,
            })
            .collect();
        let crl = sign(
            &many,
            5,
            this_update,
            this_update + time::Duration::days(7),
            &[7; 20],
            &issuer,
        )
        .unwrap();
        let (list, _) = element(&crl.der, 0x30).unwrap();
        let rest = skip(list).unwrap();
        assert_eq!(
            list[..list.len() - rest.len()],
            rcgen_tbs(&many, 5, this_update, &issuer)
        );
    }
}
