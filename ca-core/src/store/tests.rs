//! The log on real SQLite files in temporary folders, or on a real PostgreSQL server when the
//! suite runs against one (see `crate::testing::database`).

#![allow(clippy::unwrap_used)]

use time::OffsetDateTime;

use super::*;
use crate::certificate::{Fingerprint, SerialNumber};
use crate::error::{Error, StoreError};
use crate::key::KeyAlgorithm;
use crate::name::SubjectName;
use crate::revoke::RevocationReason;

/// An issuance whose DER is a few bytes named after its serial (the store does not parse it).
struct Sample {
    serial: SerialNumber,
    names: Vec<SubjectName>,
    der: Vec<u8>,
    not_after: OffsetDateTime,
}

impl Sample {
    fn new(serial: &str, name: &str, not_after: OffsetDateTime) -> Self {
        Sample {
            serial: serial.parse().unwrap(),
            names: vec![name.parse().unwrap()],
            der: format!("DER of {serial}").into_bytes(),
            not_after,
        }
    }

    fn issuance(&self) -> NewIssuance<'_> {
        NewIssuance {
            requester: "tester",
            source: RequestSource::Cli,
            names: &self.names,
            csr_der: None,
            serial: &self.serial,
            not_before: OffsetDateTime::now_utc(),
            not_after: self.not_after,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            sha256: Fingerprint::of(&self.der),
            der: &self.der,
            renewed_from: None,
            pending_request: None,
            acme_order: None,
            decided_by: "tester",
        }
    }
}

fn days(n: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(n)
}

/// The log of a test in `dir`: the SQLite file, or the folder's PostgreSQL database when the
/// suite runs against one.
async fn open(dir: &tempfile::TempDir, connections: u32) -> Store {
    let location = crate::testing::log_location(dir.path());
    let access = match &location {
        LogLocation::File(path) if path.exists() => Access::Write,
        _ => Access::Create,
    };
    Store::open(&location, connections, access).await.unwrap()
}

#[tokio::test]
async fn records_and_reads_back_an_issuance_on_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let sample = Sample::new("0a", "mail.example.com", days(100));
    let row = store.record_issuance(sample.issuance()).await.unwrap();
    assert_eq!(row.status, Status::Valid);
    assert_eq!(row.names, sample.names);
    let cert = row.certificate.as_ref().unwrap();
    assert_eq!(cert.der, sample.der);
    assert_eq!(cert.key_algorithm, KeyAlgorithm::EcdsaP256);
    let again = store.issuance_by_serial(&sample.serial).await.unwrap();
    assert_eq!(again.id, row.id);
    store.close().await;
    // The row survives a reopen.
    let reopened = open(&dir, 1).await;
    let read = reopened.issuance(row.id).await.unwrap();
    assert_eq!(read.certificate.unwrap().serial, sample.serial);
}

#[tokio::test]
async fn refuses_a_duplicate_serial_and_keeps_no_half_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let first = Sample::new("0b", "a.example.com", days(1));
    store.record_issuance(first.issuance()).await.unwrap();
    let mut dup = Sample::new("0b", "a.example.com", days(1));
    dup.der = b"other DER".to_vec();
    assert!(matches!(
        store.record_issuance(dup.issuance()).await,
        Err(Error::Store(StoreError::DuplicateSerial))
    ));
    // The request row of the failed attempt was rolled back with it.
    assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn filters_by_status_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    for sample in [
        Sample::new("01", "a.example.com", days(10)),
        Sample::new("02", "a.example.com", days(300)),
        Sample::new("03", "a.example.com", days(-1)),
        Sample::new("04", "a.example.com", days(5)),
    ] {
        store.record_issuance(sample.issuance()).await.unwrap();
    }
    let revoked = store
        .issuance_by_serial(&"04".parse().unwrap())
        .await
        .unwrap();
    store
        .revoke(revoked.id, RevocationReason::Superseded, "tester")
        .await
        .unwrap();
    let serials = |rows: Vec<Issuance>| -> Vec<String> {
        rows.into_iter()
            .map(|r| r.certificate.unwrap().serial.hex())
            .collect()
    };
    let list = |status: Option<Status>, expiring: Option<u32>| {
        let store = store.clone();
        async move {
            serials(
                store
                    .list(&ListFilter {
                        status,
                        expiring_within_days: expiring,
                    })
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(list(Some(Status::Valid), None).await, ["01", "02"]);
    assert_eq!(list(None, Some(30)).await, ["01"]);
    assert_eq!(list(Some(Status::Expired), None).await, ["03"]);
    assert_eq!(list(Some(Status::Revoked), None).await, ["04"]);
    assert_eq!(list(None, None).await, ["01", "02", "03", "04"]);
}

#[tokio::test]
async fn a_group_commit_keeps_every_good_row_when_one_serial_collides() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 4).await;
    let taken = Sample::new("ff", "a.example.com", days(1));
    store.record_issuance(taken.issuance()).await.unwrap();
    let handles: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let serial = if i == 17 {
                    "ff".to_owned()
                } else {
                    format!("{i:02x}")
                };
                let mut sample = Sample::new(&serial, "a.example.com", days(1));
                sample.der = format!("DER {i}").into_bytes();
                store.record_issuance(sample.issuance()).await.map(|r| r.id)
            })
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    let failed: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failed, [17]);
    assert!(matches!(
        results[17],
        Err(Error::Store(StoreError::DuplicateSerial))
    ));
    assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 40);
}

#[tokio::test]
async fn check_finds_a_certificate_whose_der_was_altered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let sample = Sample::new("0c", "a.example.com", days(1));
    store.record_issuance(sample.issuance()).await.unwrap();
    let (problems, count) = store.check().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(count, 1);
    sqlx::query("UPDATE certificates SET der = $1")
        .bind(vec![0_u8])
        .execute(&store.pool)
        .await
        .unwrap();
    let (problems, _) = store.check().await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("does not match"));
}

#[tokio::test]
async fn audit_trail_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    store.audit("tester", "test", "", "").await.unwrap();
    assert!(
        sqlx::query("DELETE FROM audit")
            .execute(&store.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("UPDATE audit SET actor = 'x'")
            .execute(&store.pool)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_row_answered_for_an_issuance_is_the_row_the_log_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 2).await;
    let new = Sample::new("1a", "new.example.com", days(30));
    let row = store.record_issuance(new.issuance()).await.unwrap();
    let read = store.issuance(row.id).await.unwrap();
    assert_eq!(format!("{row:?}"), format!("{read:?}"));

    // A pending request answered keeps who asked, how, and when.
    let pending = Sample::new("1b", "pending.example.com", days(30));
    let asked = store
        .record_pending(
            "asker",
            RequestSource::Web,
            &pending.names,
            b"CSR",
            "attributes",
        )
        .await
        .unwrap();
    let mut answer = pending.issuance();
    answer.pending_request = Some(asked.id);
    answer.decided_by = "admin";
    let row = store.record_issuance(answer).await.unwrap();
    let read = store.issuance(asked.id).await.unwrap();
    assert_eq!(row.requester, "asker");
    assert_eq!(row.source, RequestSource::Web);
    assert_eq!(format!("{row:?}"), format!("{read:?}"));
    // Only once.
    let other = Sample::new("1c", "pending.example.com", days(30));
    let mut again = other.issuance();
    again.pending_request = Some(asked.id);
    assert!(matches!(
        store.record_issuance(again).await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn issuances_through_the_writer_are_tallied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 2).await;
    let count = |counts: &LogCounts, status: Status| {
        counts
            .by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, n)| *n)
            .unwrap()
    };
    let first = Sample::new("2a", "a.example.com", days(30));
    let second = Sample::new("2b", "b.example.com", days(60));
    let row = store.record_issuance(first.issuance()).await.unwrap();
    store.record_issuance(second.issuance()).await.unwrap();
    let pending = Sample::new("2c", "c.example.com", days(90));
    let asked = store
        .record_pending("asker", RequestSource::Web, &pending.names, b"CSR", "")
        .await
        .unwrap();
    let counts = store.counts(OffsetDateTime::now_utc(), &[]).await.unwrap();
    assert_eq!(count(&counts, Status::Valid), 2);
    assert_eq!(count(&counts, Status::Pending), 1);

    // Answering the pending request moves it from pending to issued.
    let mut answer = pending.issuance();
    answer.pending_request = Some(asked.id);
    store.record_issuance(answer).await.unwrap();
    store
        .revoke(row.id, RevocationReason::KeyCompromise, "tester")
        .await
        .unwrap();
    let counts = store.counts(OffsetDateTime::now_utc(), &[]).await.unwrap();
    assert_eq!(count(&counts, Status::Valid), 2);
    assert_eq!(count(&counts, Status::Revoked), 1);
    assert_eq!(count(&counts, Status::Pending), 0);
    let issued = |source| {
        counts
            .issued
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, n)| *n)
            .unwrap()
    };
    assert_eq!(issued(RequestSource::Cli), 2);
    assert_eq!(issued(RequestSource::Web), 1);
}

#[tokio::test]
async fn settings_and_users_states_follow_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 2).await;
    let value = async |store: &Store| -> Option<String> {
        let found = store.settings(&["x", "y"]).await.unwrap();
        found
            .into_iter()
            .find(|(key, _)| key == "x")
            .map(|(_, v)| v)
    };
    assert_eq!(value(&store).await, None);
    store
        .set_settings("tester", &[("x", "1".into())])
        .await
        .unwrap();
    assert_eq!(value(&store).await.as_deref(), Some("1"));
    store
        .set_hidden_setting("tester", "x", Some("2"))
        .await
        .unwrap();
    assert_eq!(value(&store).await.as_deref(), Some("2"));
    store.set_hidden_setting("tester", "x", None).await.unwrap();
    assert_eq!(value(&store).await, None);
    // An issuance (the writer's own connection) in between changes nothing read.
    let sample = Sample::new("3a", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    assert_eq!(value(&store).await, None);

    // Another process's commits are read too.
    let other = open(&dir, 1).await;
    other
        .set_settings("tester", &[("x", "3".into())])
        .await
        .unwrap();
    assert_eq!(value(&store).await.as_deref(), Some("3"));

    assert_eq!(store.user_state("alice").await.unwrap(), None);
    other
        .put_user("alice", "requester", "hash", "tester")
        .await
        .unwrap();
    let (generation, disabled) = store.user_state("alice").await.unwrap().unwrap();
    assert!(!disabled);
    other.set_disabled("alice", true, "tester").await.unwrap();
    let (_, disabled) = store.user_state("alice").await.unwrap().unwrap();
    assert!(disabled);
    other
        .set_password("alice", "other hash", "tester")
        .await
        .unwrap();
    let (changed, _) = store.user_state("alice").await.unwrap().unwrap();
    assert_ne!(changed, generation);
    store.remove_user("alice", "tester").await.unwrap();
    assert_eq!(store.user_state("alice").await.unwrap(), None);
    other.close().await;
}
