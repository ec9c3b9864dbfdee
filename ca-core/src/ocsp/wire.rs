//! OCSP messages on the wire (RFC 6960 §4): the one place that reads and writes their DER.
//!
//! It uses RustCrypto's `x509-ocsp`, whose release is built on der 0.7 and x509-cert 0.2 while
//! the rest of the authority uses der 0.8: so no type of that generation leaves this file.
//! Everything goes in and out as bytes and as the plain types of [`super`].

use der07::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der07::{Any, Decode, Encode};
use time::OffsetDateTime;
use x509_cert02::Certificate;
use x509_cert02::ext::pkix::CrlReason;
use x509_cert02::serial_number::SerialNumber;
use x509_cert02::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertStatus as WireStatus, OcspGeneralizedTime, OcspResponse, ResponderId,
    ResponseData, RevokedInfo, SingleResponse, Version,
};

use super::{CertId, CertStatus, HashAlgorithm, MAX_ENTRIES, Nonce, OcspRequest, RequestRefused};
use super::{ResponseStatus, SignedSingle};
use crate::error::{Error, Result};
use crate::revoke::RevocationReason;

/// id-sha1 (RFC 3279 §2.2.1), the CertID hash every RFC 5019 client uses.
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// id-sha256, id-sha384, id-sha512 (RFC 5754 §2).
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// ecdsa-with-SHA256 (RFC 5758 §3.2): the responder's key is ECDSA P-256.
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// The longest nonce echoed: RFC 8954 §2.1 asks responders to accept 1 to 32 octets.
const MAX_NONCE: usize = 32;
/// The longest nonce answered at all (without it, past [`MAX_NONCE`]): RFC 8954 §2.1.
const MAX_NONCE_READ: usize = 128;

/// Reads an OCSPRequest (RFC 6960 §4.1.1), DER and nothing after it.
pub(super) fn read_request(der: &[u8]) -> Result<OcspRequest, RequestRefused> {
    let request = x509_ocsp::OcspRequest::from_der(der)
        .map_err(|_| RequestRefused::Malformed("it is not a DER OCSPRequest"))?;
    let list = &request.tbs_request.request_list;
    if list.is_empty() {
        return Err(RequestRefused::Malformed("it asks about no certificate"));
    }
    if list.len() > MAX_ENTRIES {
        return Err(RequestRefused::Malformed(
            "it asks about more certificates than one request may",
        ));
    }
    let entries = list
        .iter()
        .map(|entry| cert_id(&entry.req_cert))
        .collect::<Result<Vec<_>, _>>()?;
    // An extension this responder does not understand may be ignored only when it is not
    // critical (RFC 6960 §4.4, RFC 5280 §4.2); none may appear twice, or which one counts
    // (two nonces, say) would be chance.
    let singles = list.iter().map(|entry| {
        entry
            .single_request_extensions
            .as_deref()
            .unwrap_or_default()
    });
    let whole = request
        .tbs_request
        .request_extensions
        .as_deref()
        .unwrap_or_default();
    for extensions in std::iter::once(whole).chain(singles) {
        for (at, ext) in extensions.iter().enumerate() {
            if ext.critical && ext.extn_id != ID_PKIX_OCSP_NONCE {
                return Err(RequestRefused::Malformed(
                    "it holds a critical extension this responder does not know",
                ));
            }
            if extensions[..at]
                .iter()
                .any(|other| other.extn_id == ext.extn_id)
            {
                return Err(RequestRefused::Malformed("it holds an extension twice"));
            }
        }
    }
    let nonce = match request
        .tbs_request
        .request_extensions
        .iter()
        .flatten()
        .find(|ext| ext.extn_id == ID_PKIX_OCSP_NONCE)
    {
        Some(ext) => nonce(ext.extn_value.as_bytes())?,
        None => None,
    };
    Ok(OcspRequest { entries, nonce })
}

/// The DER of the CertID this responder writes for `serial` under `hash`: the algorithm with
/// NULL parameters, as OpenSSL, Windows and NSS write it.
pub(super) fn cert_id_der(
    hash: HashAlgorithm,
    issuer_name_hash: &[u8],
    issuer_key_hash: &[u8],
    serial: &[u8],
) -> Result<Vec<u8>> {
    x509_ocsp::CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: oid_of(hash),
            parameters: Some(Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(issuer_name_hash).map_err(encoding)?,
        issuer_key_hash: OctetString::new(issuer_key_hash).map_err(encoding)?,
        serial_number: SerialNumber::new(serial).map_err(encoding)?,
    }
    .to_der()
    .map_err(encoding)
}

/// An unsigned OCSPRequest about the one certificate `cert_id` (DER) names.
pub(super) fn client_request(cert_id: &[u8]) -> Result<Vec<u8>> {
    x509_ocsp::OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: x509_ocsp::CertId::from_der(cert_id).map_err(encoding)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(encoding)
}

/// Reads an OCSPResponse, DER and nothing after it, without judging it.
pub(super) fn read_response(der: &[u8]) -> Result<super::ReadResponse, &'static str> {
    use x509_ocsp::OcspResponseStatus as S;
    let response = OcspResponse::from_der(der).map_err(|_| "it is not a DER OCSPResponse")?;
    let status = match response.response_status {
        S::Successful => "successful",
        S::MalformedRequest => "malformedRequest",
        S::InternalError => "internalError",
        S::TryLater => "tryLater",
        S::SigRequired => "sigRequired",
        S::Unauthorized => "unauthorized",
    };
    let Some(bytes) = response.response_bytes else {
        return Ok(super::ReadResponse {
            status,
            basic: None,
        });
    };
    // id-pkix-ocsp-basic (RFC 6960 §4.2.1), the only response type there is.
    const ID_PKIX_OCSP_BASIC: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err("its response is not a BasicOCSPResponse");
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|_| "its BasicOCSPResponse does not parse")?;
    let unreadable = |_| "it does not encode again";
    let singles = basic
        .tbs_response_data
        .responses
        .iter()
        .map(|single| {
            let id = &single.cert_id;
            let status = match &single.cert_status {
                WireStatus::Good(_) => CertStatus::Good,
                WireStatus::Unknown(_) => CertStatus::Unknown,
                WireStatus::Revoked(info) => CertStatus::Revoked {
                    at: time_of(&info.revocation_time)?,
                    reason: reason_of(info.revocation_reason),
                },
            };
            Ok(super::SingleStatus {
                serial: id.serial_number.as_bytes().to_vec(),
                sha1_issuer_hashes: (id.hash_algorithm.oid == ID_SHA1).then(|| {
                    (
                        id.issuer_name_hash.as_bytes().to_vec(),
                        id.issuer_key_hash.as_bytes().to_vec(),
                    )
                }),
                status,
                this_update: time_of(&single.this_update)?,
                next_update: single.next_update.as_ref().map(time_of).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, &'static str>>()?;
    Ok(super::ReadResponse {
        status,
        basic: Some(super::BasicResponse {
            signed_data: basic.tbs_response_data.to_der().map_err(unreadable)?,
            signature_algorithm: basic.signature_algorithm.to_der().map_err(unreadable)?,
            signature: basic.signature.raw_bytes().to_vec(),
            certs: basic
                .certs
                .iter()
                .flatten()
                .map(|cert| cert.to_der().map_err(unreadable))
                .collect::<Result<Vec<_>, _>>()?,
            singles,
        }),
    })
}

/// What a signed response is made of, besides its single responses.
pub(super) struct Signer<'a> {
    /// SHA-1 of the responder's subjectPublicKey bits (ResponderID byKey, RFC 6960 §4.2.2.3).
    pub key_hash: &'a [u8],
    /// The responder's certificate, sent in the response's certs field.
    pub certificate: &'a [u8],
    /// Signs the DER of the ResponseData with the responder's key: an ECDSA-Sig-Value.
    pub sign: &'a dyn Fn(&[u8]) -> Result<Vec<u8>>,
}

/// A successful OCSPResponse holding a BasicOCSPResponse with `singles`, the request's nonce
/// extension echoed when there is one, signed by the delegated responder.
pub(super) fn signed_response(
    singles: &[SignedSingle<'_>],
    nonce: Option<&Nonce>,
    produced_at: OffsetDateTime,
    signer: &Signer<'_>,
) -> Result<Vec<u8>> {
    let responses = singles
        .iter()
        .map(|single| {
            Ok(SingleResponse {
                cert_id: x509_ocsp::CertId::from_der(single.cert_id).map_err(encoding)?,
                cert_status: wire_status(single.status)?,
                this_update: generalized(single.this_update)?,
                next_update: Some(generalized(single.next_update)?),
                single_extensions: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let response_extensions = nonce
        .map(|nonce| {
            Ok::<_, Error>(vec![x509_cert02::ext::Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(nonce.0.as_slice()).map_err(encoding)?,
            }])
        })
        .transpose()?;
    let data = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(OctetString::new(signer.key_hash).map_err(encoding)?),
        produced_at: generalized(produced_at)?,
        responses,
        response_extensions,
    };
    let signature = (signer.sign)(&data.to_der().map_err(encoding)?)?;
    let basic = BasicOcspResponse {
        tbs_response_data: data,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            // Absent for ECDSA (RFC 5758 §3.2).
            parameters: None,
        },
        signature: BitString::from_bytes(&signature).map_err(encoding)?,
        certs: Some(vec![
            Certificate::from_der(signer.certificate).map_err(encoding)?,
        ]),
    };
    OcspResponse::successful(basic)
        .and_then(|response| response.to_der())
        .map_err(encoding)
}

/// An OCSPResponse that carries only an error status (RFC 6960 §4.2.1): unsigned, by design.
pub(super) fn error_response(status: ResponseStatus) -> Vec<u8> {
    let response = match status {
        ResponseStatus::MalformedRequest => OcspResponse::malformed_request(),
        ResponseStatus::TryLater => OcspResponse::try_later(),
        ResponseStatus::Unauthorized => OcspResponse::unauthorized(),
        ResponseStatus::Successful | ResponseStatus::InternalError => {
            OcspResponse::internal_error()
        }
    };
    // SEQUENCE { ENUMERATED n }: nothing in it can fail to encode, but should it, these are the
    // same five octets written by hand.
    response
        .to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, status.code()])
}

/// The parts of a CertID, each checked: a known hash algorithm with absent or NULL parameters,
/// hashes of that algorithm's length, and a serial number of at most 20 octets.
fn cert_id(id: &x509_ocsp::CertId) -> Result<CertId, RequestRefused> {
    let hash = match id.hash_algorithm.oid {
        ID_SHA1 => HashAlgorithm::Sha1,
        ID_SHA256 => HashAlgorithm::Sha256,
        ID_SHA384 => HashAlgorithm::Sha384,
        ID_SHA512 => HashAlgorithm::Sha512,
        _ => return Err(RequestRefused::UnsupportedHash),
    };
    let null_or_absent = match &id.hash_algorithm.parameters {
        None => true,
        Some(any) => any.decode_as::<Null>().is_ok(),
    };
    if !null_or_absent {
        return Err(RequestRefused::Malformed(
            "a CertID's hash algorithm has parameters",
        ));
    }
    let name_hash = id.issuer_name_hash.as_bytes();
    let key_hash = id.issuer_key_hash.as_bytes();
    if name_hash.len() != hash.digest_len() || key_hash.len() != hash.digest_len() {
        return Err(RequestRefused::Malformed(
            "a CertID's hashes are not as long as its algorithm's",
        ));
    }
    let serial = id.serial_number.as_bytes();
    if serial.is_empty() || serial.len() > 21 {
        return Err(RequestRefused::Malformed(
            "a CertID's serial number is not 1 to 20 octets",
        ));
    }
    Ok(CertId {
        hash,
        issuer_name_hash: name_hash.to_vec(),
        issuer_key_hash: key_hash.to_vec(),
        serial: serial.to_vec(),
        der: id
            .to_der()
            .map_err(|_| RequestRefused::Malformed("a CertID does not encode again"))?,
    })
}

/// The nonce extension's value, kept as sent so that the response echoes it octet for octet
/// (RFC 6960 §4.4.1), when its nonce is 1 to 32 octets long (RFC 8954 §2.1); longer or empty
/// ones are left unanswered, as RFC 8954 allows. The value is an OCTET STRING holding the
/// nonce; OpenSSL before 0.9.7 sent the bare nonce, which is measured as it is.
fn nonce(value: &[u8]) -> Result<Option<Nonce>, RequestRefused> {
    let length = OctetString::from_der(value)
        .map(|inner| inner.as_bytes().len())
        .unwrap_or(value.len());
    // RFC 8954 §2.1: none, or more than 128 octets, is refused; up to 128 may be answered
    // without one.
    if length == 0 || length > MAX_NONCE_READ {
        return Err(RequestRefused::Malformed(
            "its nonce is empty or longer than 128 octets (RFC 8954)",
        ));
    }
    Ok((length <= MAX_NONCE).then(|| Nonce(value.to_vec())))
}

fn oid_of(hash: HashAlgorithm) -> ObjectIdentifier {
    match hash {
        HashAlgorithm::Sha1 => ID_SHA1,
        HashAlgorithm::Sha256 => ID_SHA256,
        HashAlgorithm::Sha384 => ID_SHA384,
        HashAlgorithm::Sha512 => ID_SHA512,
    }
}

fn wire_status(status: &CertStatus) -> Result<WireStatus> {
    Ok(match status {
        CertStatus::Good => WireStatus::good(),
        CertStatus::Unknown => WireStatus::unknown(),
        CertStatus::Revoked { at, reason } => WireStatus::revoked(RevokedInfo {
            revocation_time: generalized(*at)?,
            revocation_reason: crl_reason(*reason),
        }),
    })
}

/// The CRLReason of a revoked answer: the CRL's own, so both say the same; unspecified is
/// left out, as RFC 5280 §5.3.1 asks of CRL entries.
fn crl_reason(reason: RevocationReason) -> Option<CrlReason> {
    match reason {
        RevocationReason::Unspecified => None,
        RevocationReason::KeyCompromise => Some(CrlReason::KeyCompromise),
        RevocationReason::CaCompromise => Some(CrlReason::CaCompromise),
        RevocationReason::AffiliationChanged => Some(CrlReason::AffiliationChanged),
        RevocationReason::Superseded => Some(CrlReason::Superseded),
        RevocationReason::CessationOfOperation => Some(CrlReason::CessationOfOperation),
        RevocationReason::PrivilegeWithdrawn => Some(CrlReason::PrivilegeWithdrawn),
    }
}

/// The time an OCSP GeneralizedTime states.
fn time_of(at: &OcspGeneralizedTime) -> Result<OffsetDateTime, &'static str> {
    let seconds =
        i64::try_from(at.0.to_unix_duration().as_secs()).map_err(|_| "a time is out of range")?;
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| "a time is out of range")
}

/// The reason of a revoked answer; those this CA never gives (certificateHold, ...) read as
/// unspecified.
fn reason_of(reason: Option<CrlReason>) -> RevocationReason {
    match reason {
        Some(CrlReason::KeyCompromise) => RevocationReason::KeyCompromise,
        Some(CrlReason::CaCompromise) => RevocationReason::CaCompromise,
        Some(CrlReason::AffiliationChanged) => RevocationReason::AffiliationChanged,
        Some(CrlReason::Superseded) => RevocationReason::Superseded,
        Some(CrlReason::CessationOfOperation) => RevocationReason::CessationOfOperation,
        Some(CrlReason::PrivilegeWithdrawn) => RevocationReason::PrivilegeWithdrawn,
        _ => RevocationReason::Unspecified,
    }
}

/// A GeneralizedTime in whole seconds (DER allows no fraction of zero).
fn generalized(at: OffsetDateTime) -> Result<OcspGeneralizedTime> {
    let seconds = u64::try_from(at.unix_timestamp())
        .map_err(|_| Error::Crypto(format!("{at} is before 1970")))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))
        .map(OcspGeneralizedTime::from)
        .map_err(encoding)
}

fn encoding(err: der07::Error) -> Error {
    Error::Crypto(format!("could not encode an OCSP response: {err}"))
}
