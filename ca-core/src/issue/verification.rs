//! Issued leaves, name-constrained chains and CRLs verified in process by rustls-webpki, as
//! rcgen tests its own output: a second implementation, beside the end-to-end openssl checks.

#![allow(clippy::unwrap_used)]

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;
use webpki::{
    BorrowedCertRevocationList, CertRevocationList, EndEntityCert, KeyUsage,
    RevocationOptionsBuilder, anchor_from_trusted_cert,
};

use super::{IssueRequest, LeafSpec};
use crate::profile::{Profile, Validity};
use crate::store::RequestSource;
use crate::{Authority, Error, KeyAlgorithm, RevocationReason, SubjectName, testing};

fn request(names: &[&str]) -> IssueRequest {
    IssueRequest {
        names: names.iter().map(|n| n.parse().unwrap()).collect(),
        key: KeyAlgorithm::EcdsaP256,
        days: None,
        profile: Profile::Server,
        allow_internal: false,
        requester: "test".into(),
        source: RequestSource::Cli,
    }
}

/// Verifies `leaf` as a TLS server certificate under `authority`'s root, optionally against
/// CRLs, and for `name` when one is given.
fn verify(
    authority: &Authority,
    leaf: &[u8],
    name: Option<&str>,
    crls: &[&[u8]],
) -> Result<(), webpki::Error> {
    let root = CertificateDer::from(authority.root().der());
    let anchor = anchor_from_trusted_cert(&root).unwrap();
    let leaf = CertificateDer::from(leaf);
    let cert = EndEntityCert::try_from(&leaf)?;
    let crls: Vec<CertRevocationList<'_>> = crls
        .iter()
        .map(|der| BorrowedCertRevocationList::from_der(der).unwrap().into())
        .collect();
    let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
    let revocation = if crl_refs.is_empty() {
        None
    } else {
        Some(RevocationOptionsBuilder::new(&crl_refs).unwrap().build())
    };
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        UnixTime::now(),
        KeyUsage::server_auth(),
        revocation,
        None,
    )?;
    if let Some(name) = name {
        cert.verify_is_valid_for_subject_name(&ServerName::try_from(name.to_owned()).unwrap())?;
    }
    Ok(())
}

#[tokio::test]
async fn an_issued_leaf_verifies_for_its_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let authority = testing::authority(dir.path()).await;
    let issued = authority
        .issue(request(&[
            "mail.example.com",
            "*.example.org",
            "192.0.2.10",
        ]))
        .await
        .unwrap();
    for name in ["mail.example.com", "owa.example.org", "192.0.2.10"] {
        verify(&authority, &issued.leaf, Some(name), &[]).unwrap();
    }
    for name in [
        "example.com",
        "a.b.example.org",
        "192.0.2.11",
        "www.example.com",
    ] {
        assert!(
            matches!(
                verify(&authority, &issued.leaf, Some(name), &[]),
                Err(webpki::Error::CertNotValidForName(_))
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_key_type_makes_a_leaf_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let authority = testing::authority(dir.path()).await;
    for key in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ] {
        let mut wanted = request(&["mail.example.com"]);
        wanted.key = key;
        let issued = authority.issue(wanted).await.unwrap();
        verify(&authority, &issued.leaf, Some("mail.example.com"), &[]).unwrap();
    }
}

#[tokio::test]
async fn an_ip_only_leaf_has_no_common_name_and_verifies_under_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::init(
        dir.path(),
        testing::init(&["example.com", "192.0.2.0/24", "2001:db8::/32"]),
        testing::open_in(dir.path()),
    )
    .await
    .unwrap();
    for names in [
        &["192.0.2.10"][..],
        &["2001:db8::5"],
        &["mail.example.com", "192.0.2.11"],
    ] {
        let issued = authority.issue(request(names)).await.unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.leaf).unwrap();
        let has_cn = cert.subject().iter_common_name().next().is_some();
        assert_eq!(
            has_cn,
            names[0].parse::<SubjectName>().unwrap().dns().is_some()
        );
        for name in names {
            verify(&authority, &issued.leaf, Some(name), &[]).unwrap();
        }
    }
}

#[tokio::test]
async fn a_constrained_root_refuses_names_outside_and_clients_would_too() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::init(
        dir.path(),
        testing::init(&["example.com"]),
        testing::open_in(dir.path()),
    )
    .await
    .unwrap();
    let inside = authority
        .issue(request(&["mail.example.com"]))
        .await
        .unwrap();
    verify(&authority, &inside.leaf, Some("mail.example.com"), &[]).unwrap();
    assert!(matches!(
        authority.issue(request(&["mail.example.org"])).await,
        Err(Error::NameNotPermitted { .. })
    ));
    assert!(matches!(
        authority.issue(request(&["192.0.2.1"])).await,
        Err(Error::NameNotPermitted { .. })
    ));
    // Signed anyway, past the policy: webpki refuses both, so the policy matches what clients do.
    for name in ["mail.example.org", "192.0.2.1"] {
        let names = [name.parse::<SubjectName>().unwrap()];
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let spec = LeafSpec {
            names: &names,
            validity: Validity::leaf(
                None,
                authority.root().not_after(),
                OffsetDateTime::now_utc(),
            )
            .unwrap(),
            profile: Profile::Server,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            requester: "test",
            source: RequestSource::Cli,
            csr_der: None,
            renewed_from: None,
            pending_request: None,
            acme_order: None,
            decided_by: "test",
        };
        let outside = authority.sign_leaf(&spec, &key).await.unwrap();
        assert_eq!(
            verify(&authority, &outside.leaf, None, &[]),
            Err(webpki::Error::NameConstraintViolation),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_revoked_leaf_fails_against_the_crl_and_others_pass() {
    let dir = tempfile::tempdir().unwrap();
    let authority = testing::authority(dir.path()).await;
    let kept = authority.issue(request(&["a.example.com"])).await.unwrap();
    let revoked = authority.issue(request(&["b.example.com"])).await.unwrap();
    let before = authority.sign_crl().await.unwrap();
    verify(&authority, &revoked.leaf, None, &[&before.der]).unwrap();
    authority
        .revoke(revoked.issuance.id, RevocationReason::KeyCompromise, "test")
        .await
        .unwrap();
    let after = authority.current_crl().await.unwrap();
    assert!(after.number > before.number);
    assert_eq!(
        verify(&authority, &revoked.leaf, None, &[&after.der]),
        Err(webpki::Error::CertRevoked)
    );
    verify(&authority, &kept.leaf, None, &[&after.der]).unwrap();
    let crl = BorrowedCertRevocationList::from_der(&after.der).unwrap();
    let serial = revoked
        .issuance
        .certificate
        .as_ref()
        .unwrap()
        .serial
        .clone();
    let entries: Vec<_> = crl.into_iter().map(Result::unwrap).collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].serial_number, serial.as_bytes());
    assert_eq!(
        entries[0].reason_code,
        Some(webpki::RevocationReason::KeyCompromise)
    );
}

#[tokio::test]
async fn a_crl_longer_than_a_part_is_read_back_whole_and_written_out_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let authority = testing::authority(dir.path()).await;
    let kept = authority
        .issue(request(&["kept.example.com"]))
        .await
        .unwrap();
    let mut revoked = Vec::new();
    for n in 0..24 {
        let issued = authority
            .issue(request(&[&format!("host{n}.example.com")]))
            .await
            .unwrap();
        authority
            .revoke(issued.issuance.id, RevocationReason::Superseded, "test")
            .await
            .unwrap();
        revoked.push(issued);
    }
    for round in 0..2 {
        let crl = authority.current_crl().await.unwrap();
        assert!(
            crl.der.len() > 3 * crate::store::CRL_PART,
            "{} octets",
            crl.der.len()
        );
        let mut written = Vec::new();
        let dates = authority.write_crl(false, &mut written).await.unwrap();
        assert_eq!(written, crl.der, "round {round}");
        assert_eq!(dates, crl.dates());
        for issued in &revoked {
            assert_eq!(
                verify(&authority, &issued.leaf, None, &[&crl.der]),
                Err(webpki::Error::CertRevoked)
            );
        }
        verify(&authority, &kept.leaf, None, &[&crl.der]).unwrap();
        let entries = BorrowedCertRevocationList::from_der(&crl.der)
            .unwrap()
            .into_iter()
            .count();
        assert_eq!(entries, revoked.len());
        // A new CRL, one entry longer, replaces every part of the one before.
        let issued = authority
            .issue(request(&["late.example.com"]))
            .await
            .unwrap();
        authority
            .revoke(issued.issuance.id, RevocationReason::KeyCompromise, "test")
            .await
            .unwrap();
        revoked.push(issued);
    }
    let mut written = Vec::new();
    let dates = authority.write_crl(true, &mut written).await.unwrap();
    let signed = authority.current_crl().await.unwrap();
    assert_eq!(dates, signed.dates());
    assert_eq!(written, signed.der);
    assert_eq!(
        BorrowedCertRevocationList::from_der(&written)
            .unwrap()
            .into_iter()
            .count(),
        revoked.len()
    );
}
