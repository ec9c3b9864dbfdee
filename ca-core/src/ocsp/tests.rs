//! Requests read and answered by a real authority in a temporary folder; responses read back
//! with `x509-ocsp` and their signatures checked with aws-lc.

#![allow(clippy::unwrap_used)]

use der07::asn1::{Null, ObjectIdentifier, OctetString};
use der07::{Any, Decode, Encode};
use time::{Duration, OffsetDateTime};
use x509_cert02::ext::Extension;
use x509_cert02::serial_number::SerialNumber as WireSerial;
use x509_cert02::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{BasicOcspResponse, OcspResponseStatus, Request, TbsRequest, Version};

use super::*;
use crate::authority::Authority;
use crate::issue::IssueRequest;
use crate::profile::Profile;
use crate::store::RequestId;
use crate::store::RequestSource;

const SHA1: &str = "1.3.14.3.2.26";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const MD5: &str = "1.2.840.113549.2.5";
const NONCE: &str = "1.3.6.1.5.5.7.48.1.2";

/// A CertID as a client writes it.
fn cert_id(hash: &str, name_hash: &[u8], key_hash: &[u8], serial: &[u8]) -> x509_ocsp::CertId {
    x509_ocsp::CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(hash),
            parameters: Some(Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(name_hash).unwrap(),
        issuer_key_hash: OctetString::new(key_hash).unwrap(),
        serial_number: WireSerial::new(serial).unwrap(),
    }
}

/// The CertID of `serial` under `root`, with `hash`.
fn cert_id_for(root: &Root, hash: HashAlgorithm, serial: &[u8]) -> x509_ocsp::CertId {
    let oid = match hash {
        HashAlgorithm::Sha1 => SHA1,
        _ => SHA256,
    };
    cert_id(
        oid,
        &hash.digest(root.subject_der()),
        &hash.digest(root.public_key_bits()),
        serial,
    )
}

/// The DER of a request for `ids`, with a nonce extension of `nonce` (an OCTET STRING inside
/// the extension's value, as OpenSSL writes it) when given.
fn request(ids: Vec<x509_ocsp::CertId>, nonce: Option<&[u8]>) -> Vec<u8> {
    let extensions = nonce.map(|nonce| {
        vec![Extension {
            extn_id: ObjectIdentifier::new_unwrap(NONCE),
            critical: false,
            extn_value: OctetString::new(OctetString::new(nonce).unwrap().to_der().unwrap())
                .unwrap(),
        }]
    });
    x509_ocsp::OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: ids
                .into_iter()
                .map(|req_cert| Request {
                    req_cert,
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions: extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// A response read back: its status, and for a successful one the basic response, whose
/// signature has been checked against the certificate it carries.
fn read(der: &[u8]) -> (OcspResponseStatus, Option<BasicOcspResponse>) {
    let response = x509_ocsp::OcspResponse::from_der(der).unwrap();
    let Some(bytes) = response.response_bytes else {
        return (response.response_status, None);
    };
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let signer = &basic.certs.as_ref().unwrap()[0];
    let key = signer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        key,
    )
    .verify(
        &basic.tbs_response_data.to_der().unwrap(),
        basic.signature.raw_bytes(),
    )
    .expect("the responder's signature verifies");
    (response.response_status, Some(basic))
}

fn statuses(basic: &BasicOcspResponse) -> Vec<x509_ocsp::CertStatus> {
    basic
        .tbs_response_data
        .responses
        .iter()
        .map(|single| single.cert_status)
        .collect()
}

/// An OCSP request for `serial` as clients send it: one SHA-1 CertID, no nonce.
fn asked_as_clients_ask(authority: &Authority, serial: &SerialNumber) -> Vec<u8> {
    request(
        vec![cert_id_for(
            authority.root(),
            HashAlgorithm::Sha1,
            serial.as_bytes(),
        )],
        None,
    )
}

/// Keeps `answer` for certificate `id` as a slower writer would, after the log changed, as
/// stating `revoked_at` and `reason`.
async fn kept_late(
    authority: &Authority,
    id: RequestId,
    answer: &OcspAnswer,
    revoked_at: Option<OffsetDateTime>,
    reason: Option<RevocationReason>,
) {
    let (this_update, next_update) = answer.validity.unwrap();
    let stale = PresignedResponse {
        der: answer.der.clone(),
        this_update,
        next_update,
        revoked_at,
        reason,
    };
    authority
        .store()
        .keep_ocsp_responses(&[(id, stale)])
        .await
        .unwrap();
}

async fn issue(authority: &Authority, name: &str) -> (RequestId, SerialNumber) {
    let issued = authority
        .issue(IssueRequest {
            names: vec![name.parse().unwrap()],
            key: crate::KeyAlgorithm::EcdsaP256,
            days: None,
            profile: Profile::Server,
            allow_internal: false,
            requester: "test".into(),
            source: RequestSource::Cli,
        })
        .await
        .unwrap();
    let serial = issued.issuance.certificate.unwrap().serial;
    (issued.issuance.id, serial)
}

#[test]
fn reads_a_request_as_clients_write_it() {
    let id = cert_id(SHA1, &[1; 20], &[2; 20], &[0x4a, 0x01]);
    let der = request(vec![id.clone()], Some(&[7; 16]));
    let read = OcspRequest::from_der(&der).unwrap();
    assert_eq!(read.entries().len(), 1);
    let entry = &read.entries()[0];
    assert_eq!(entry.hash(), HashAlgorithm::Sha1);
    assert_eq!(entry.serial(), [0x4a, 0x01]);
    assert_eq!(entry.der(), id.to_der().unwrap());
    let nonce = read.nonce().unwrap();
    assert_eq!(
        nonce.0,
        OctetString::new([7; 16]).unwrap().to_der().unwrap()
    );
}

#[test]
fn refuses_what_is_not_one_der_request() {
    let good = request(vec![cert_id(SHA1, &[1; 20], &[2; 20], &[1])], None);
    let mut trailing = good.clone();
    trailing.push(0);
    for bad in [
        Vec::new(),
        b"not DER at all".to_vec(),
        good[..good.len() - 1].to_vec(),
        trailing,
        vec![0x30, 0x00],
    ] {
        assert!(
            matches!(
                OcspRequest::from_der(&bad),
                Err(RequestRefused::Malformed(_))
            ),
            "{bad:02x?}"
        );
    }
}

#[test]
fn refuses_requests_about_no_certificate_or_too_many() {
    assert!(matches!(
        OcspRequest::from_der(&request(Vec::new(), None)),
        Err(RequestRefused::Malformed(_))
    ));
    let ids = |n: usize| -> Vec<_> {
        (0..n)
            .map(|i| cert_id(SHA1, &[1; 20], &[2; 20], &[1, i as u8]))
            .collect()
    };
    assert!(OcspRequest::from_der(&request(ids(MAX_ENTRIES), None)).is_ok());
    assert!(matches!(
        OcspRequest::from_der(&request(ids(MAX_ENTRIES + 1), None)),
        Err(RequestRefused::Malformed(_))
    ));
}

#[test]
fn a_hash_the_responder_does_not_compute_is_unauthorized() {
    let der = request(vec![cert_id(MD5, &[1; 16], &[2; 16], &[1])], None);
    let refused = OcspRequest::from_der(&der).unwrap_err();
    assert_eq!(refused, RequestRefused::UnsupportedHash);
    assert_eq!(refused.status(), ResponseStatus::Unauthorized);
}

#[test]
fn hashes_of_another_length_than_their_algorithms_are_malformed() {
    let der = request(vec![cert_id(SHA256, &[1; 20], &[2; 20], &[1])], None);
    assert!(matches!(
        OcspRequest::from_der(&der),
        Err(RequestRefused::Malformed(_))
    ));
}

#[test]
fn nonces_of_1_to_32_octets_are_echoed_longer_ones_left_out_and_none_or_huge_malformed() {
    let read = |nonce: &[u8]| {
        let der = request(vec![cert_id(SHA1, &[1; 20], &[2; 20], &[1])], Some(nonce));
        OcspRequest::from_der(&der).map(|read| read.nonce().is_some())
    };
    assert!(read(&[1]).unwrap());
    assert!(read(&[1; 32]).unwrap());
    assert!(!read(&[1; 33]).unwrap());
    assert!(!read(&[1; 128]).unwrap());
    // RFC 8954 §2.1: a responder that reads nonces refuses these.
    for refused in [&[][..], &[1; 129][..], &[1; 2000][..]] {
        assert!(
            matches!(read(refused), Err(RequestRefused::Malformed(_))),
            "{} octets",
            refused.len()
        );
    }
}

#[test]
fn critical_extensions_unknown_and_extensions_given_twice_are_malformed() {
    let with = |extensions: Vec<Extension>, single: Option<Vec<Extension>>| {
        let der = x509_ocsp::OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: cert_id(SHA1, &[1; 20], &[2; 20], &[1]),
                    single_request_extensions: single,
                }],
                request_extensions: Some(extensions),
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap();
        OcspRequest::from_der(&der)
    };
    let extension = |oid: &str, critical: bool| Extension {
        extn_id: ObjectIdentifier::new_unwrap(oid),
        critical,
        extn_value: OctetString::new(OctetString::new(&[7u8][..]).unwrap().to_der().unwrap())
            .unwrap(),
    };
    // Unknown, but not critical: ignored; the nonce, critical or not, is understood.
    assert!(with(vec![extension("1.2.3.4", false)], None).is_ok());
    assert!(with(vec![extension(NONCE, true)], None).is_ok());
    for (extensions, single) in [
        (vec![extension("1.2.3.4", true)], None),
        (vec![], Some(vec![extension("1.2.3.4", true)])),
        (vec![extension(NONCE, false), extension(NONCE, false)], None),
    ] {
        assert!(matches!(
            with(extensions, single),
            Err(RequestRefused::Malformed(_))
        ));
    }
}

#[test]
fn error_answers_carry_only_their_status() {
    for status in [
        ResponseStatus::MalformedRequest,
        ResponseStatus::InternalError,
        ResponseStatus::TryLater,
        ResponseStatus::Unauthorized,
    ] {
        let answer = OcspAnswer::error(status);
        let (read_status, basic) = read(&answer.der);
        assert_eq!(read_status as u8, status.code());
        assert!(basic.is_none());
        assert_eq!(answer.validity, None);
    }
}

#[tokio::test]
async fn answers_good_revoked_and_unknown_for_each_certificate_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let (_, good) = issue(&authority, "good.example.com").await;
    let (revoked_id, revoked) = issue(&authority, "revoked.example.com").await;
    let row = authority
        .revoke(revoked_id, RevocationReason::KeyCompromise, "test")
        .await
        .unwrap();
    let revoked_at = row.certificate.unwrap().revocation.unwrap().revoked_at;
    let root = authority.root();
    let other_issuer = cert_id(SHA1, &[9; 20], &[9; 20], good.as_bytes());
    let der = request(
        vec![
            cert_id_for(root, HashAlgorithm::Sha1, good.as_bytes()),
            cert_id_for(root, HashAlgorithm::Sha256, revoked.as_bytes()),
            cert_id_for(root, HashAlgorithm::Sha1, &[0x4b; 16]),
            other_issuer,
        ],
        Some(&[5; 16]),
    );
    let answer = authority.answer_ocsp(&der).await;
    assert_eq!(answer.status, ResponseStatus::Successful);
    assert_eq!(
        answer.validity, None,
        "an answer to a nonce is for one client"
    );
    let (status, basic) = read(&answer.der);
    assert_eq!(status, OcspResponseStatus::Successful);
    let basic = basic.unwrap();
    let found = statuses(&basic);
    assert_eq!(found[0], x509_ocsp::CertStatus::good());
    match found[1] {
        x509_ocsp::CertStatus::Revoked(info) => {
            assert_eq!(
                info.revocation_time.0.to_unix_duration().as_secs(),
                revoked_at.unix_timestamp() as u64
            );
            assert_eq!(
                info.revocation_reason,
                Some(x509_cert02::ext::pkix::CrlReason::KeyCompromise)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(found[2], x509_ocsp::CertStatus::unknown());
    assert_eq!(found[3], x509_ocsp::CertStatus::unknown());
    // Each CertID is echoed as asked, the nonce too, and the responder's certificate is sent.
    let request = x509_ocsp::OcspRequest::from_der(&der).unwrap();
    for (asked, single) in request
        .tbs_request
        .request_list
        .iter()
        .zip(&basic.tbs_response_data.responses)
    {
        assert_eq!(asked.req_cert, single.cert_id);
    }
    assert_eq!(
        basic.tbs_response_data.nonce().unwrap(),
        request.nonce().unwrap()
    );
    let responder = authority.ocsp_responder_info().unwrap();
    assert_eq!(
        crate::Fingerprint::of(&basic.certs.unwrap()[0].to_der().unwrap()),
        responder.sha256
    );
}

#[tokio::test]
async fn a_request_without_nonce_gets_the_response_kept_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let (_, serial) = issue(&authority, "mail.example.com").await;
    let der = asked_as_clients_ask(&authority, &serial);
    let first = authority.answer_ocsp(&der).await;
    let (this_update, next_update) = first.validity.unwrap();
    assert_eq!(next_update - this_update, RESPONSE_LIFETIME);
    assert!(this_update <= OffsetDateTime::now_utc() - BACKDATE + Duration::seconds(1));
    let second = authority.answer_ocsp(&der).await;
    assert_eq!(
        (&first.der, first.validity),
        (&second.der, second.validity),
        "the kept response, not a new signature"
    );
    // Read from the log, it may be given again while the log reads the same (not so on
    // PostgreSQL, whose changes are not watched).
    assert_eq!(
        second.reuse.is_some(),
        !authority.log_location().is_postgres()
    );
    let with_nonce = request(
        vec![cert_id_for(
            authority.root(),
            HashAlgorithm::Sha1,
            serial.as_bytes(),
        )],
        Some(&[3; 20]),
    );
    let fresh = authority.answer_ocsp(&with_nonce).await;
    assert_ne!(fresh.der, first.der);
    let again = authority.answer_ocsp(&der).await;
    assert_eq!(again.der, first.der, "a nonce answer replaces nothing");
}

#[tokio::test]
async fn a_revocation_by_another_process_is_answered_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::testing::authority(dir.path()).await;
    let (id, serial) = issue(&server, "mail.example.com").await;
    let der = request(
        vec![cert_id_for(
            server.root(),
            HashAlgorithm::Sha1,
            serial.as_bytes(),
        )],
        None,
    );
    let (_, before) = read(&server.answer_ocsp(&der).await.der);
    assert_eq!(statuses(&before.unwrap())[0], x509_ocsp::CertStatus::good());
    let command = Authority::open(dir.path(), crate::testing::open_in(dir.path()))
        .await
        .unwrap();
    command
        .revoke(id, RevocationReason::Superseded, "test")
        .await
        .unwrap();
    let (_, after) = read(&server.answer_ocsp(&der).await.der);
    assert!(matches!(
        statuses(&after.unwrap())[0],
        x509_ocsp::CertStatus::Revoked(_)
    ));
}

/// A server whose answer for a certificate is held in memory, and the request it answers.
async fn held_in_memory(dir: &std::path::Path) -> (Authority, RequestId, SerialNumber, Vec<u8>) {
    let server = crate::testing::authority(dir).await;
    let (id, serial) = issue(&server, "mail.example.com").await;
    let der = request(
        vec![cert_id_for(
            server.root(),
            HashAlgorithm::Sha1,
            serial.as_bytes(),
        )],
        None,
    );
    // The first answer is signed and kept in the log; the next is read from there and kept
    // in memory; the third comes from memory.
    let first = server.answer_ocsp(&der).await;
    for _ in 0..2 {
        assert_eq!(server.answer_ocsp(&der).await.der, first.der);
    }
    // On PostgreSQL every answer is read from the database: another node's commit is seen
    // only there.
    let held = usize::from(!server.log_location().is_postgres());
    assert_eq!(server.ocsp_answers().len(), held, "held in memory");
    (server, id, serial, der)
}

#[tokio::test]
async fn an_answer_held_in_memory_gives_way_to_another_process_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, _, der) = held_in_memory(dir.path()).await;
    // An answer given again (as the web server does for a GET) holds until the log changes.
    let reuse = server.answer_ocsp(&der).await.reuse;
    if let Some(reuse) = &reuse {
        assert!(server.ocsp_answer_holds(reuse, std::time::Instant::now()));
    }
    let command = Authority::open(dir.path(), crate::testing::open_in(dir.path()))
        .await
        .unwrap();
    command
        .revoke(id, RevocationReason::KeyCompromise, "test")
        .await
        .unwrap();
    if let Some(reuse) = &reuse {
        assert!(!server.ocsp_answer_holds(reuse, std::time::Instant::now()));
    }
    let (_, after) = read(&server.answer_ocsp(&der).await.der);
    assert!(matches!(
        statuses(&after.unwrap())[0],
        x509_ocsp::CertStatus::Revoked(_)
    ));
    // And a revocation the other process records without signing anything ahead: the
    // server reads the log and signs.
    let (other, other_serial) = issue(&command, "other.example.com").await;
    let der = request(
        vec![cert_id_for(
            server.root(),
            HashAlgorithm::Sha1,
            other_serial.as_bytes(),
        )],
        None,
    );
    for _ in 0..3 {
        let (_, good) = read(&server.answer_ocsp(&der).await.der);
        assert_eq!(statuses(&good.unwrap())[0], x509_ocsp::CertStatus::good());
    }
    // On PostgreSQL every answer is read from the database: another node's commit is seen
    // only there.
    let held = usize::from(!server.log_location().is_postgres());
    assert_eq!(server.ocsp_answers().len(), held, "held in memory");
    command
        .store()
        .revoke(other, RevocationReason::Superseded, "test")
        .await
        .unwrap();
    let (_, after) = read(&server.answer_ocsp(&der).await.der);
    assert!(matches!(
        statuses(&after.unwrap())[0],
        x509_ocsp::CertStatus::Revoked(_)
    ));
}

#[tokio::test]
async fn a_response_another_process_signs_anew_replaces_the_one_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, serial, der) = held_in_memory(dir.path()).await;
    let held = server.answer_ocsp(&der).await;
    let other = Authority::open(dir.path(), crate::testing::open_in(dir.path()))
        .await
        .unwrap();
    let (state, _) = other.store().ocsp_lookup(&serial).await.unwrap().unwrap();
    let responder = other.stored_responder().unwrap();
    let fresh = sign_ahead(&responder, other.root(), &state, OffsetDateTime::now_utc()).unwrap();
    other
        .store()
        .keep_ocsp_responses(&[(id, fresh.clone())])
        .await
        .unwrap();
    let answer = server.answer_ocsp(&der).await;
    assert_ne!(answer.der, held.der);
    assert_eq!(
        answer.der, fresh.der,
        "the response the other process signed"
    );
    assert_eq!(server.answer_ocsp(&der).await.der, fresh.der);
}

#[tokio::test]
async fn a_good_response_kept_after_the_revocation_is_not_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let (id, serial) = issue(&authority, "mail.example.com").await;
    let der = asked_as_clients_ask(&authority, &serial);
    let good = authority.answer_ocsp(&der).await;
    authority
        .revoke(id, RevocationReason::KeyCompromise, "test")
        .await
        .unwrap();
    // A slower writer that signed "good" before the revocation stores it after.
    kept_late(&authority, id, &good, None, None).await;
    let answer = authority.answer_ocsp(&der).await;
    assert_ne!(answer.der, good.der);
    let (_, basic) = read(&answer.der);
    assert!(matches!(
        statuses(&basic.unwrap())[0],
        x509_ocsp::CertStatus::Revoked(_)
    ));
}

/// A reason raised to keyCompromise keeps the revocation's time: a response stating the old
/// reason, stored by a slower writer after the raise, is not handed out for its time alone.
#[tokio::test]
async fn a_response_kept_after_a_raise_to_key_compromise_is_not_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let (id, serial) = issue(&authority, "mail.example.com").await;
    let der = asked_as_clients_ask(&authority, &serial);
    authority
        .revoke(id, RevocationReason::Superseded, "test")
        .await
        .unwrap();
    let superseded = authority.answer_ocsp(&der).await;
    let (state, _) = authority
        .store()
        .ocsp_lookup(&serial)
        .await
        .unwrap()
        .unwrap();
    let revoked_at = state.revocation.as_ref().map(|r| r.revoked_at);
    let (_, raised_from) = authority
        .revoke_with(id, RevocationReason::KeyCompromise, "test", true)
        .await
        .unwrap();
    assert_eq!(raised_from, Some(RevocationReason::Superseded));
    kept_late(
        &authority,
        id,
        &superseded,
        revoked_at,
        Some(RevocationReason::Superseded),
    )
    .await;
    let reason = |answer: &[u8]| {
        let (_, basic) = read(answer);
        match statuses(&basic.unwrap())[0] {
            x509_ocsp::CertStatus::Revoked(info) => info.revocation_reason,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        reason(&superseded.der),
        Some(x509_cert02::ext::pkix::CrlReason::Superseded)
    );
    let answer = authority.answer_ocsp(&der).await;
    assert_ne!(answer.der, superseded.der);
    assert_eq!(
        reason(&answer.der),
        Some(x509_cert02::ext::pkix::CrlReason::KeyCompromise)
    );
}

/// A response kept for a certificate, signed a little more than half its lifetime ago.
fn past_half_way() -> PresignedResponse {
    let now = OffsetDateTime::now_utc();
    PresignedResponse {
        der: vec![0x30, 0x00],
        this_update: now - Duration::days(2) - Duration::minutes(1),
        next_update: now + Duration::days(2) - Duration::minutes(1),
        revoked_at: None,
        reason: None,
    }
}

#[tokio::test]
async fn refresh_signs_each_certificate_once_until_its_response_is_half_way() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let (first, _) = issue(&authority, "a.example.com").await;
    issue(&authority, "b.example.com").await;
    // The two leaves and the responder certificate itself.
    assert_eq!(authority.refresh_ocsp().await.unwrap(), 3);
    assert_eq!(authority.refresh_ocsp().await.unwrap(), 0);
    // One signed more than half its lifetime ago is signed again.
    let old = past_half_way();
    authority
        .store()
        .keep_ocsp_responses(&[(first, old)])
        .await
        .unwrap();
    assert_eq!(authority.refresh_ocsp().await.unwrap(), 1);
    assert_eq!(authority.refresh_ocsp().await.unwrap(), 0);
}

#[tokio::test]
async fn refresh_reads_the_log_in_pages_and_signs_every_certificate_of_each() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let mut issued = Vec::new();
    for n in 0..6 {
        issued.push(issue(&authority, &format!("n{n}.example.com")).await);
    }
    // Seven certificates (the responder's too) in pages of two: three full pages, then one
    // with a single certificate.
    assert_eq!(authority.refresh_ocsp_in_pages(2).await.unwrap(), 7);
    for (_, serial) in &issued {
        let (_, kept) = authority
            .store()
            .ocsp_lookup(serial)
            .await
            .unwrap()
            .unwrap();
        assert!(kept.is_some(), "{serial:?} has a response signed ahead");
    }
    assert_eq!(authority.refresh_ocsp_in_pages(2).await.unwrap(), 0);
    // A page boundary falls on each side of the one that is due again: it is found.
    let old = past_half_way();
    let (last, _) = issued[5];
    authority
        .store()
        .keep_ocsp_responses(&[(last, old)])
        .await
        .unwrap();
    assert_eq!(authority.refresh_ocsp_in_pages(3).await.unwrap(), 1);
    assert_eq!(authority.refresh_ocsp_in_pages(1).await.unwrap(), 0);
}

#[tokio::test]
async fn the_responder_is_issued_by_the_root_logged_and_renewed_under_ten_days() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let made = authority.ocsp_responder().await.unwrap();
    assert_eq!(authority.ocsp_responder().await.unwrap(), made, "kept");
    let days = (made.not_after - made.not_before).whole_days();
    assert_eq!(days, i64::from(RESPONDER_DAYS));
    let row = authority
        .find(&crate::CertificateRef::Serial(made.serial.clone()))
        .await
        .unwrap();
    assert_eq!(row.requester, crate::responder::RESPONDER_REQUESTER);
    let key = dir.path().join(signer::RESPONDER_KEY);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // One with nine days left, as a month-old responder would have, is replaced.
    let now = OffsetDateTime::now_utc();
    let key_pair = crate::KeyAlgorithm::EcdsaP256.generate().unwrap();
    let validity = crate::Validity {
        not_before: now - Duration::days(21),
        not_after: now + Duration::days(9),
    };
    let serial = SerialNumber::random().unwrap();
    let old = signer::params(authority.root(), &serial, &validity)
        .signed_by(&key_pair, authority.issuer().unwrap())
        .unwrap();
    Responder::write(dir.path(), old.der(), &key_pair).unwrap();
    let reopened = Authority::open(dir.path(), crate::testing::open_in(dir.path()))
        .await
        .unwrap();
    assert_eq!(reopened.ocsp_responder_info().unwrap().serial, serial);
    let renewed = reopened.ocsp_responder().await.unwrap();
    assert_ne!(renewed.serial, serial);
    assert!(renewed.not_after - now > Duration::days(29));
}

#[tokio::test]
async fn the_crl_and_the_responder_agree_on_every_serial() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let mut serials = Vec::new();
    for (i, reason) in [
        None,
        Some(RevocationReason::Unspecified),
        Some(RevocationReason::KeyCompromise),
        None,
        Some(RevocationReason::CessationOfOperation),
    ]
    .into_iter()
    .enumerate()
    {
        let (id, serial) = issue(&authority, &format!("host{i}.example.com")).await;
        if let Some(reason) = reason {
            authority.revoke(id, reason, "test").await.unwrap();
        }
        serials.push(serial);
    }
    let crl = authority.current_crl().await.unwrap();
    let (_, parsed) = x509_parser::parse_x509_crl(&crl.der).unwrap();
    for serial in &serials {
        let listed = parsed
            .iter_revoked_certificates()
            .find(|entry| entry.raw_serial() == serial.as_bytes());
        let der = request(
            vec![cert_id_for(
                authority.root(),
                HashAlgorithm::Sha1,
                serial.as_bytes(),
            )],
            None,
        );
        let (_, basic) = read(&authority.answer_ocsp(&der).await.der);
        let status = statuses(&basic.unwrap())[0];
        match (listed, status) {
            (None, x509_ocsp::CertStatus::Good(_)) => {}
            (Some(entry), x509_ocsp::CertStatus::Revoked(info)) => {
                assert_eq!(
                    entry.revocation_date.timestamp() as u64,
                    info.revocation_time.0.to_unix_duration().as_secs()
                );
                let crl_reason = entry.reason_code().map(|(_, code)| code.0);
                let ocsp_reason = info.revocation_reason.map(|r| r as u8);
                assert_eq!(crl_reason, ocsp_reason, "{serial}");
            }
            (listed, status) => panic!("{serial}: CRL {listed:?}, OCSP {status:?}"),
        }
        assert_eq!(
            authority
                .ocsp_status(&crate::CertificateRef::Serial(serial.clone()))
                .await
                .unwrap()
                .1
                .revoked_at()
                .is_some(),
            listed.is_some()
        );
    }
}

#[tokio::test]
async fn revoking_the_responder_retires_it_and_what_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let authority = crate::testing::authority(dir.path()).await;
    let (_, serial) = issue(&authority, "mail.example.com").await;
    authority.refresh_ocsp().await.unwrap();
    let old = authority.ocsp_responder_info().unwrap();
    let row = authority
        .find(&crate::CertificateRef::Serial(old.serial.clone()))
        .await
        .unwrap();
    authority
        .revoke(row.id, RevocationReason::KeyCompromise, "test")
        .await
        .unwrap();
    assert_eq!(authority.ocsp_responder_info(), None);
    let der = asked_as_clients_ask(&authority, &serial);
    let (_, basic) = read(&authority.answer_ocsp(&der).await.der);
    let signer = crate::Fingerprint::of(&basic.unwrap().certs.unwrap()[0].to_der().unwrap());
    assert_ne!(signer, old.sha256, "signed by a new responder");
    assert_eq!(authority.ocsp_responder_info().unwrap().sha256, signer);
}
