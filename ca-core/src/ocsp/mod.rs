//! OCSP (RFC 6960, in the lightweight profile of RFC 5019): reading requests, and writing the
//! responses of the delegated responder, a certificate the root issues for this alone.
//!
//! The rules, each decided here:
//! - A response is valid for [`RESPONSE_LIFETIME`] (4 days) from its thisUpdate, which lies
//!   [`BACKDATE`] (an hour) before it is signed for clients with a slow clock; CA/Browser Forum
//!   BR 4.9.10 caps public responses at 10 days and asks for a new one every 4. So does the
//!   answer about a certificate revoked a moment ago, whose revocationTime then lies after its
//!   thisUpdate (as on the CRL, and as AD CS dates both): dated at the revocation, it would be
//!   refused as not yet valid by those slow clocks, which then never read "revoked".
//! - Responses are signed ahead, one per certificate that has not expired, and kept in the
//!   log; one is signed anew once half its lifetime has passed, or when the certificate was
//!   revoked after it was signed (the rule is `PresignedResponse::is_current` in the store).
//!   Those answers were last given from are also kept in memory ([`cache`]) until anything
//!   is committed to the log.
//! - A request with a nonce gets a response signed for it, echoing the nonce (RFC 8954).
//! - Each CertID is answered `good`, `revoked` (time and reason, as the CRL lists them) or
//!   `unknown` (a serial this CA never issued, or a CertID naming another issuer, RFC 6960
//!   §2.2). A request that cannot be read is `malformedRequest`; one whose CertID uses a
//!   hash this responder does not compute is `unauthorized`, since the responder cannot tell
//!   whether it is about this CA (RFC 5019 §2.2.3).
//! - The responder certificate ([`signer`]) is ECDSA P-256, valid [`RESPONDER_DAYS`] (30)
//!   days, with id-kp-OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2), replaced when
//!   it has less than [`RESPONDER_RENEW_BEFORE`] (10 days) left; no response outlives it.

pub(crate) mod cache;
pub mod signer;
mod wire;

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::certificate::SerialNumber;
use crate::error::Result;
use crate::revoke::{Revocation, RevocationReason};
use crate::root::Root;
use crate::store::{CertificateState, PresignedResponse};

use crate::profile::BACKDATE;
pub use signer::{Responder, ResponderInfo};

/// From a response's thisUpdate to its nextUpdate.
pub const RESPONSE_LIFETIME: Duration = Duration::days(4);
/// How long the responder certificate is valid.
pub const RESPONDER_DAYS: u32 = 30;
/// The responder certificate is replaced once it has less than this left, so that it always
/// outlives every response it signed by days.
pub const RESPONDER_RENEW_BEFORE: Duration = Duration::days(10);
/// The most certificates one request may ask about (RFC 5019 clients ask about one).
pub const MAX_ENTRIES: usize = 16;

/// The hash of a CertID (RFC 6960 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    /// The length of its digests, in octets.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let algorithm = match self {
            HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        };
        digest::digest(algorithm, data).as_ref().to_vec()
    }
}

/// One certificate a request asks about: which issuer (by the hashes of its name and key) and
/// which serial number. Exists only as read from a request, every part checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    hash: HashAlgorithm,
    issuer_name_hash: Vec<u8>,
    issuer_key_hash: Vec<u8>,
    serial: Vec<u8>,
    der: Vec<u8>,
}

impl CertId {
    pub fn hash(&self) -> HashAlgorithm {
        self.hash
    }

    /// The serial number's octets, as the CertID encodes them.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The CertID as DER, as a response echoes it.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// True when the CertID names `root` as the issuer: the hashes of its subject and of its
    /// key match (RFC 6960 §4.1.1).
    pub fn names_issuer(&self, root: &Root) -> bool {
        self.hash.digest(root.subject_der()) == self.issuer_name_hash
            && self.hash.digest(root.public_key_bits()) == self.issuer_key_hash
    }
}

/// A request's nonce extension value (RFC 6960 §4.4.1), as sent, to be echoed.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce(Vec<u8>);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({} octets)", self.0.len())
    }
}

/// An OCSP request, read and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    entries: Vec<CertId>,
    nonce: Option<Nonce>,
}

impl OcspRequest {
    /// Reads a DER OCSPRequest (RFC 6960 §4.1.1): at least one and at most [`MAX_ENTRIES`]
    /// CertIDs, each with SHA-1, SHA-256, SHA-384 or SHA-512. Signatures on requests are not
    /// required, and ignored (RFC 5019 §2.1.2). Any input gives a request or a refusal.
    pub fn from_der(der: &[u8]) -> Result<OcspRequest, RequestRefused> {
        wire::read_request(der)
    }

    /// The certificates asked about, in the request's order.
    pub fn entries(&self) -> &[CertId] {
        &self.entries
    }

    /// The nonce to echo, if the request carries one of 1 to 32 octets.
    pub fn nonce(&self) -> Option<&Nonce> {
        self.nonce.as_ref()
    }
}

/// Why a request gets no signed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestRefused {
    /// It is not an OCSPRequest this responder can read: `malformedRequest`.
    Malformed(&'static str),
    /// A CertID uses a hash algorithm this responder does not compute: `unauthorized`.
    UnsupportedHash,
}

impl RequestRefused {
    /// The response status that says so.
    pub fn status(&self) -> ResponseStatus {
        match self {
            RequestRefused::Malformed(_) => ResponseStatus::MalformedRequest,
            RequestRefused::UnsupportedHash => ResponseStatus::Unauthorized,
        }
    }
}

impl fmt::Display for RequestRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestRefused::Malformed(why) => write!(f, "the OCSP request is malformed: {why}"),
            RequestRefused::UnsupportedHash => f.write_str(
                "the OCSP request names its issuer with a hash other than SHA-1 or SHA-2",
            ),
        }
    }
}

/// OCSPResponseStatus (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStatus {
    Successful,
    MalformedRequest,
    InternalError,
    TryLater,
    Unauthorized,
}

impl ResponseStatus {
    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            ResponseStatus::Successful => 0,
            ResponseStatus::MalformedRequest => 1,
            ResponseStatus::InternalError => 2,
            ResponseStatus::TryLater => 3,
            ResponseStatus::Unauthorized => 6,
        }
    }

    /// The name, as OpenSSL prints it.
    pub fn name(self) -> &'static str {
        match self {
            ResponseStatus::Successful => "successful",
            ResponseStatus::MalformedRequest => "malformedRequest",
            ResponseStatus::InternalError => "internalError",
            ResponseStatus::TryLater => "tryLater",
            ResponseStatus::Unauthorized => "unauthorized",
        }
    }
}

/// What the responder says of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason: RevocationReason,
    },
    /// This CA did not issue it (or the CertID names another issuer).
    Unknown,
}

impl CertStatus {
    /// The status the log gives a certificate: revoked when it holds a revocation, good when
    /// it holds the certificate, unknown when it holds no certificate with that serial.
    pub fn of(state: Option<&CertificateState>) -> CertStatus {
        match state {
            None => CertStatus::Unknown,
            Some(CertificateState {
                revocation:
                    Some(Revocation {
                        revoked_at, reason, ..
                    }),
                ..
            }) => CertStatus::Revoked {
                at: *revoked_at,
                reason: *reason,
            },
            Some(_) => CertStatus::Good,
        }
    }

    /// The revocation time it states, if any.
    pub(crate) fn revoked_at(&self) -> Option<OffsetDateTime> {
        match self {
            CertStatus::Revoked { at, .. } => Some(*at),
            CertStatus::Good | CertStatus::Unknown => None,
        }
    }

    /// The revocation reason it states, if any.
    pub(crate) fn reason(&self) -> Option<RevocationReason> {
        match self {
            CertStatus::Revoked { reason, .. } => Some(*reason),
            CertStatus::Good | CertStatus::Unknown => None,
        }
    }
}

/// A DER OCSPResponse, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspAnswer {
    pub der: Vec<u8>,
    pub status: ResponseStatus,
    /// thisUpdate and nextUpdate, for an answer any client may be given (signed, without a
    /// nonce): what HTTP caches may keep it by (RFC 5019 §6.2). `None` for the others.
    pub validity: Option<(OffsetDateTime, OffsetDateTime)>,
    /// The SHA-256 of `der`, for the same answers as `validity`: what caches tell versions
    /// apart by. Computed once for a response kept in memory.
    pub sha256: Option<[u8; 32]>,
    /// For an answer given from a response signed ahead, while the log's change counter could
    /// be read: when the same request may be given the same answer again without asking.
    pub reuse: Option<Reuse>,
}

/// When an answer given from a response signed ahead holds for the same request again: while
/// the log's change counter still reads `version` (nothing was committed since it was read,
/// by any process), and its response is current (`PresignedResponse::is_current`, which for
/// an unchanged log is a span of time). See [`crate::Authority::ocsp_answer_holds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reuse {
    pub(crate) version: i64,
    pub(crate) from: OffsetDateTime,
    pub(crate) until: OffsetDateTime,
}

impl Reuse {
    /// An answer given while the change counter read `version`, whose response is current
    /// from `from` until `until`.
    pub fn new(version: i64, from: OffsetDateTime, until: OffsetDateTime) -> Reuse {
        Reuse {
            version,
            from,
            until,
        }
    }

    /// The change counter the answer was given under.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// True when the counter reads `version` at `now`, inside the span.
    pub(crate) fn holds(&self, version: i64, now: OffsetDateTime) -> bool {
        self.version == version && self.from <= now && now < self.until
    }
}

impl OcspAnswer {
    /// An unsigned answer carrying only an error status.
    pub fn error(status: ResponseStatus) -> OcspAnswer {
        OcspAnswer {
            der: wire::error_response(status),
            status,
            validity: None,
            sha256: None,
            reuse: None,
        }
    }
}

/// One SingleResponse to sign.
pub(crate) struct SignedSingle<'a> {
    pub cert_id: &'a [u8],
    pub status: &'a CertStatus,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

/// thisUpdate and nextUpdate for a response signed at `now` by `responder`: backdated by
/// [`BACKDATE`], valid [`RESPONSE_LIFETIME`], and never past the responder's notAfter.
pub(crate) fn validity(
    responder: &Responder,
    now: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    // In whole seconds, as the response and the log hold them.
    let this_update = now.replace_nanosecond(0).unwrap_or(now) - BACKDATE;
    let next_update = (this_update + RESPONSE_LIFETIME).min(responder.not_after());
    (this_update, next_update)
}

/// Signs a response with one SingleResponse for each of `entries` (CertID DER and status),
/// echoing `nonce`.
pub(crate) fn sign(
    responder: &Responder,
    entries: &[(&[u8], CertStatus)],
    nonce: Option<&Nonce>,
    now: OffsetDateTime,
) -> Result<OcspAnswer> {
    let (this_update, next_update) = validity(responder, now);
    let singles: Vec<SignedSingle<'_>> = entries
        .iter()
        .map(|(cert_id, status)| SignedSingle {
            cert_id,
            status,
            this_update,
            next_update,
        })
        .collect();
    let sign = |tbs: &[u8]| responder.sign(tbs);
    let der = wire::signed_response(
        &singles,
        nonce,
        now,
        &wire::Signer {
            key_hash: responder.key_hash(),
            certificate: responder.der(),
            sign: &sign,
        },
    )?;
    let sha256 = nonce.is_none().then(|| sha256(&der));
    Ok(OcspAnswer {
        der,
        status: ResponseStatus::Successful,
        validity: nonce.is_none().then_some((this_update, next_update)),
        sha256,
        reuse: None,
    })
}

/// The SHA-256 of `der`.
pub(crate) fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    // SHA-256 digests are 32 octets.
    <[u8; 32]>::try_from(digest.as_ref()).unwrap_or_default()
}

/// The CertID this responder signs ahead for `serial`: SHA-1, as RFC 5019 §2.1.1 has every
/// client send it, naming `root`.
pub(crate) fn presigned_cert_id(root: &Root, serial: &SerialNumber) -> Result<Vec<u8>> {
    let hash = HashAlgorithm::Sha1;
    wire::cert_id_der(
        hash,
        &hash.digest(root.subject_der()),
        &hash.digest(root.public_key_bits()),
        serial.as_bytes(),
    )
}

/// The response signed ahead for the certificate in `state`.
pub(crate) fn sign_ahead(
    responder: &Responder,
    root: &Root,
    state: &CertificateState,
    now: OffsetDateTime,
) -> Result<PresignedResponse> {
    let status = CertStatus::of(Some(state));
    let cert_id = presigned_cert_id(root, &state.serial)?;
    let answer = sign(responder, &[(&cert_id, status.clone())], None, now)?;
    let (this_update, next_update) = validity(responder, now);
    Ok(PresignedResponse {
        der: answer.der,
        this_update,
        next_update,
        revoked_at: status.revoked_at(),
        reason: status.reason(),
    })
}

/// An OCSPRequest about one certificate, as a client sends it (RFC 5019 §2.1.1: a SHA-1
/// CertID, unsigned, no nonce), given its issuer's subject (DER), the issuer's
/// subjectPublicKey bits and the certificate's serial number octets.
pub fn client_request(
    issuer_subject: &[u8],
    issuer_key_bits: &[u8],
    serial: &[u8],
) -> Result<Vec<u8>> {
    let hash = HashAlgorithm::Sha1;
    let cert_id = wire::cert_id_der(
        hash,
        &hash.digest(issuer_subject),
        &hash.digest(issuer_key_bits),
        serial,
    )?;
    wire::client_request(&cert_id)
}

/// What a responder answered, read but not yet judged: whoever reads it checks the
/// signature, the signer and the dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResponse {
    /// The responseStatus as OpenSSL names it (`successful`, `tryLater`, ...).
    pub status: &'static str,
    /// The BasicOCSPResponse of a successful response.
    pub basic: Option<BasicResponse>,
}

/// A BasicOCSPResponse (RFC 6960 §4.2.1), as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicResponse {
    /// The DER of its ResponseData: what the signature covers.
    pub signed_data: Vec<u8>,
    /// The DER of the signature's AlgorithmIdentifier.
    pub signature_algorithm: Vec<u8>,
    pub signature: Vec<u8>,
    /// The certificates it carries (a delegated responder's, RFC 6960 §4.2.2.2).
    pub certs: Vec<Vec<u8>>,
    pub singles: Vec<SingleStatus>,
}

/// One SingleResponse, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleStatus {
    /// The serial number octets of the certificate it is about.
    pub serial: Vec<u8>,
    /// The SHA-1 hashes of the issuer's name and key, when the CertID uses SHA-1.
    pub sha1_issuer_hashes: Option<(Vec<u8>, Vec<u8>)>,
    pub status: CertStatus,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
}

impl SingleStatus {
    /// True when it is about the certificate with `serial` issued by the issuer of that
    /// subject (DER) and subjectPublicKey bits.
    pub fn is_about(&self, issuer_subject: &[u8], issuer_key_bits: &[u8], serial: &[u8]) -> bool {
        let hash = HashAlgorithm::Sha1;
        let strip = |octets: &[u8]| -> Vec<u8> {
            let first = octets.iter().position(|b| *b != 0).unwrap_or(octets.len());
            octets[first..].to_vec()
        };
        strip(&self.serial) == strip(serial)
            && self.sha1_issuer_hashes.as_ref().is_some_and(|(name, key)| {
                *name == hash.digest(issuer_subject) && *key == hash.digest(issuer_key_bits)
            })
    }
}

/// Reads a DER OCSPResponse (RFC 6960 §4.2.1); an error says why it cannot be read.
pub fn read_response(der: &[u8]) -> Result<ReadResponse, &'static str> {
    wire::read_response(der)
}

#[cfg(test)]
mod tests;
