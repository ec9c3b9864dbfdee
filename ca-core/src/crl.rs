//! Certificate revocation lists signed by the root (RFC 5280 §5): a function of the
//! revocations, the CRL number and the issuer, nothing else.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams};
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

/// A CRL's number and dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlDates {
    pub number: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

impl Crl {
    /// Its number and dates.
    pub fn dates(&self) -> CrlDates {
        CrlDates {
            number: self.number,
            this_update: self.this_update,
            next_update: self.next_update,
        }
    }

    /// PEM (`X509 CRL`).
    pub fn pem(&self) -> String {
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &self.der).unwrap_or_default()
    }
}

/// The entries of a CRL being written, spooled to an unnamed temporary file as they are read
/// from the log: a CRL of any length is written in bounded memory (a million entries are
/// ~50 MB of DER, which were held several times over when the list was built in memory).
pub(crate) struct Entries {
    file: BufWriter<File>,
    len: usize,
    entry: Vec<u8>,
}

impl Entries {
    pub(crate) fn new() -> Result<Self> {
        let file = tempfile::tempfile().map_err(|err| Error::io(std::env::temp_dir(), err))?;
        Ok(Entries {
            file: BufWriter::with_capacity(SPOOL_BUFFER, file),
            len: 0,
            entry: Vec::with_capacity(64),
        })
    }

    /// Appends the entry of `revocation`; entries are listed in the order they are pushed.
    pub(crate) fn push(&mut self, revocation: &Revocation) -> Result<()> {
        self.entry.clear();
        push_entry(&mut self.entry, revocation);
        self.file
            .write_all(&self.entry)
            .map_err(|err| Error::io(std::env::temp_dir(), err))?;
        self.len += self.entry.len();
        Ok(())
    }
}

/// How much of the spool is buffered in memory at a time, on the way in and out.
const SPOOL_BUFFER: usize = 64 * 1024;

/// A signed CRL to be read out in order, [`Signed::len`] octets: what comes before the entries,
/// the entries from their spool, and what follows them (the extensions and the signature).
pub(crate) struct Signed {
    pub(crate) number: i64,
    pub(crate) this_update: OffsetDateTime,
    pub(crate) next_update: OffsetDateTime,
    pub(crate) len: usize,
    bytes: InOrder,
}

/// What comes before the entries, the entries, what follows them.
type InOrder = io::Chain<io::Chain<io::Cursor<Vec<u8>>, io::Take<File>>, io::Cursor<Vec<u8>>>;

impl Read for Signed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.bytes.read(buf)
    }
}

/// The thisUpdate of a CRL signed at `now` after one dated `previous`: an hour back (see
/// [`crate::profile::BACKDATE`]), in whole seconds as the CRL carries it, and at least a second
/// after the previous CRL's, so that no two CRLs carry one date (a download's Last-Modified is
/// it, and a cache that compares dates would take one CRL for another) while it stays before
/// `now`.
pub(crate) fn this_update(now: OffsetDateTime, previous: Option<OffsetDateTime>) -> OffsetDateTime {
    let backdated = now - crate::profile::BACKDATE;
    let backdated = backdated.replace_nanosecond(0).unwrap_or(backdated);
    match previous {
        Some(previous) if backdated <= previous => {
            (previous + time::Duration::seconds(1)).min(now.replace_nanosecond(0).unwrap_or(now))
        }
        _ => backdated,
    }
}

/// Signs a CRL listing `entries`, numbered `number`, valid from `this_update` to
/// `next_update`, whose authorityKeyIdentifier is `key_identifier` (the root's SKI).
///
/// rcgen writes the CRL around the entries (the algorithm, the issuer's name, the dates, the
/// extensions), signed over no entries; the entries go in their place after nextUpdate (RFC
/// 5280 §5.1), the TBSCertList is hashed as it is read from the spool, and the digest is
/// signed with the root's key. Only the frame and one buffer are ever in memory.
pub(crate) fn sign(
    entries: Entries,
    number: i64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    key_identifier: &[u8],
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Signed> {
    let unreadable = || Error::CaKey("the CRL rcgen wrote does not read back".into());
    let spooled = |err: io::Error| Error::io(std::env::temp_dir(), err);
    let frame =
        params(Vec::new(), number, this_update, next_update, key_identifier).signed_by(issuer)?;
    let mut file = entries
        .file
        .into_inner()
        .map_err(|err| spooled(err.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(spooled)?;
    let signed = |prefix: Vec<u8>, file: File, len: usize, suffix: Vec<u8>| {
        let total = prefix.len() + len + suffix.len();
        Signed {
            number,
            this_update,
            next_update,
            len: total,
            bytes: io::Cursor::new(prefix)
                .chain(file.take(len as u64))
                .chain(io::Cursor::new(suffix)),
        }
    };
    if entries.len == 0 {
        // No revokedCertificates at all when nothing is listed (RFC 5280 §5.1.2.6).
        return Ok(signed(frame.der().to_vec(), file, 0, Vec::new()));
    }
    let (list, _) = element(frame.der(), 0x30).ok_or_else(unreadable)?;
    let (tbs, _) = element(list, 0x30).ok_or_else(unreadable)?;
    // version, signature, issuer, thisUpdate, nextUpdate; then the extensions.
    let mut rest = tbs;
    for _ in 0..5 {
        rest = skip(rest).ok_or_else(unreadable)?;
    }
    let head = &tbs[..tbs.len() - rest.len()];
    let algorithm = algorithm(frame.der()).ok_or_else(unreadable)?;

    let tbs_body = head.len() + header_len(entries.len) + entries.len + rest.len();
    let mut before = Vec::with_capacity(head.len() + 18);
    push_header(&mut before, 0x30, tbs_body);
    before.extend_from_slice(head);
    push_header(&mut before, 0x30, entries.len);

    let key = DigestKey::of(issuer.key())?;
    let mut digest = digest::Context::new(key.digest);
    digest.update(&before);
    let mut buffer = vec![0; SPOOL_BUFFER];
    let mut left = entries.len;
    while left > 0 {
        let take = left.min(buffer.len());
        file.read_exact(&mut buffer[..take]).map_err(spooled)?;
        digest.update(&buffer[..take]);
        left -= take;
    }
    digest.update(rest);
    let signature = key.sign(&digest.finish())?;
    file.seek(SeekFrom::Start(0)).map_err(spooled)?;

    let bit_string = signature.len() + 1;
    let mut after = Vec::with_capacity(rest.len() + algorithm.len() + 6 + bit_string);
    after.extend_from_slice(rest);
    after.extend_from_slice(algorithm);
    push_header(&mut after, 0x03, bit_string);
    after.push(0);
    after.extend_from_slice(&signature);

    let body =
        header_len(tbs_body) + tbs_body + algorithm.len() + header_len(bit_string) + bit_string;
    let mut prefix = Vec::with_capacity(header_len(body) + before.len());
    push_header(&mut prefix, 0x30, body);
    prefix.extend_from_slice(&before);
    Ok(signed(prefix, file, entries.len, after))
}

/// The root's key as it signs a digest computed as the TBSCertList was read, with the
/// algorithm rcgen signs the rest with (the same one the CRL names).
struct DigestKey {
    digest: &'static digest::Algorithm,
    signer: Signer,
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl DigestKey {
    fn of(key: &KeyPair) -> Result<Self> {
        let pkcs8 = key.serialize_der();
        let refused = |_| Error::CaKey("the root's key cannot sign a CRL".into());
        let algorithm = key.algorithm();
        let (digest, signer) = if algorithm == &rcgen::PKCS_ECDSA_P256_SHA256 {
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
                .map_err(refused)?;
            (&digest::SHA256, Signer::Ecdsa(pair))
        } else if algorithm == &rcgen::PKCS_ECDSA_P384_SHA384 {
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, &pkcs8)
                .map_err(refused)?;
            (&digest::SHA384, Signer::Ecdsa(pair))
        } else if algorithm == &rcgen::PKCS_RSA_SHA256 {
            let pair = RsaKeyPair::from_pkcs8(&pkcs8).map_err(refused)?;
            (&digest::SHA256, Signer::Rsa(pair))
        } else {
            return Err(Error::CaKey(
                "the root's key is of a kind that cannot sign a CRL".into(),
            ));
        };
        Ok(DigestKey { digest, signer })
    }

    fn sign(&self, digest: &digest::Digest) -> Result<Vec<u8>> {
        let failed = |_| Error::CaKey("signing the CRL failed".into());
        match &self.signer {
            Signer::Ecdsa(pair) => Ok(pair.sign_digest(digest).map_err(failed)?.as_ref().to_vec()),
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign_digest(&signature::RSA_PKCS1_SHA256, digest, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
        }
    }
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

    #[test]
    fn each_crl_is_dated_a_second_or_more_after_the_last() {
        let now = time::macros::datetime!(2026-12-06 12:00:00.5 UTC);
        let first = this_update(now, None);
        assert_eq!(first, time::macros::datetime!(2026-12-06 11:00:00 UTC));
        // Signed again within the second, and within the hour after a clock set back.
        assert_eq!(
            this_update(now, Some(first)),
            time::macros::datetime!(2026-12-06 11:00:01 UTC)
        );
        let later = time::macros::datetime!(2026-12-06 11:30:00 UTC);
        assert_eq!(
            this_update(now, Some(later)),
            time::macros::datetime!(2026-12-06 11:30:01 UTC)
        );
        // Never after the time it is signed.
        assert_eq!(
            this_update(now, Some(now + time::Duration::hours(2))),
            time::macros::datetime!(2026-12-06 12:00:00 UTC)
        );
        // An older previous CRL changes nothing.
        let old = time::macros::datetime!(2026-12-01 00:00 UTC);
        assert_eq!(this_update(now, Some(old)), first);
    }
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
        issuer: &Issuer<'_, KeyPair>,
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

    /// The whole DER of a CRL listing `revocations`, as the log stores it.
    fn sign_all(
        revocations: &[Revocation],
        number: i64,
        this_update: OffsetDateTime,
        issuer: &Issuer<'_, KeyPair>,
    ) -> Vec<u8> {
        let mut entries = Entries::new().unwrap();
        for revocation in revocations {
            entries.push(revocation).unwrap();
        }
        let next_update = this_update + time::Duration::days(7);
        let mut signed = sign(entries, number, this_update, next_update, &[7; 20], issuer).unwrap();
        let mut der = Vec::new();
        signed.read_to_end(&mut der).unwrap();
        assert_eq!(der.len(), signed.len);
        der
    }

    fn issuer_of(key: KeyPair) -> Issuer<'static, KeyPair> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test Root");
        Issuer::new(params, key)
    }

    /// The CRL verifies with the issuer's public key.
    fn assert_signed(der: &[u8], issuer: &Issuer<'_, KeyPair>, what: &str) {
        let (_, parsed) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(der).unwrap();
        let verified = parsed.verify_signature(
            &x509_parser::x509::SubjectPublicKeyInfo::from_der(
                &issuer.key().subject_public_key_info(),
            )
            .unwrap()
            .1,
        );
        assert!(verified.is_ok(), "{what}: {verified:?}");
    }

    #[test]
    fn every_kind_of_root_key_signs_the_digest_of_what_it_streamed() {
        let revocations: Vec<Revocation> = (1..300u32)
            .map(|n| Revocation {
                serial: SerialNumber::from_bytes(&n.to_be_bytes()).unwrap(),
                revoked_at: time::macros::datetime!(2026-12-03 10:00 UTC),
                reason: RevocationReason::Superseded,
            })
            .collect();
        let this_update = time::macros::datetime!(2026-12-03 11:00 UTC);
        for algorithm in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_RSA_SHA256,
        ] {
            let key = if algorithm == &rcgen::PKCS_RSA_SHA256 {
                KeyPair::generate_rsa_for(algorithm, rcgen::RsaKeySize::_2048).unwrap()
            } else {
                KeyPair::generate_for(algorithm).unwrap()
            };
            let issuer = issuer_of(key);
            for count in [0, 1, revocations.len()] {
                let der = sign_all(&revocations[..count], 9, this_update, &issuer);
                let (_, parsed) =
                    x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
                        .unwrap();
                assert_eq!(parsed.iter_revoked_certificates().count(), count);
                assert_signed(&der, &issuer, &format!("{algorithm:?}, {count} entries"));
            }
        }
    }

    #[test]
    fn entries_are_written_as_rcgen_writes_them() {
        let issuer = issuer_of(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap());
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
            let der = sign_all(listed, 4, this_update, &issuer);
            let (list, _) = element(&der, 0x30).unwrap();
            let rest = skip(list).unwrap();
            assert_eq!(
                list[..list.len() - rest.len()],
                rcgen_tbs(listed, 4, this_update, &issuer),
                "{count} entries"
            );
            assert_eq!(
                algorithm(&der).unwrap(),
                &[
                    0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02
                ]
            );
            let (_, parsed) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
            assert_eq!(parsed.iter_revoked_certificates().count(), count);
            assert_signed(&der, &issuer, &format!("{count} entries"));
        }
        let many: Vec<Revocation> = (0..5000u32)
            .map(|n| Revocation {
                serial: SerialNumber::from_bytes(&n.to_be_bytes())
                    .unwrap_or_else(|_| SerialNumber::from_bytes(&[1]).unwrap()),
                revoked_at: this_update,
                reason: RevocationReason::KeyCompromise,
            })
            .collect();
        let der = sign_all(&many, 5, this_update, &issuer);
        let (list, _) = element(&der, 0x30).unwrap();
        let rest = skip(list).unwrap();
        assert_eq!(
            list[..list.len() - rest.len()],
            rcgen_tbs(&many, 5, this_update, &issuer)
        );
    }
}
