//! The log on real SQLite files in temporary folders, or on a real PostgreSQL server when the
//! suite runs against one (see `crate::testing::database`).

#![allow(clippy::unwrap_used)]

use time::OffsetDateTime;

use super::*;
use crate::certificate::{Fingerprint, SerialNumber};
use crate::choice::Choice;
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
            holder_key: None,
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

/// Closes `store`, then checks that an issuance sent to it is refused as the log being away,
/// and that the log holds `kept` certificates.
async fn refuses_after_its_close(store: Store, dir: &tempfile::TempDir, kept: usize) {
    store.close().await;
    let late = store
        .record_issuance(Sample::new("0b", "b.example.com", days(1)).issuance())
        .await;
    assert!(
        matches!(late, Err(Error::Store(StoreError::Unavailable(_)))),
        "{late:?}"
    );
    let reopened = open(dir, 1).await;
    assert_eq!(
        reopened.list(&ListFilter::default()).await.unwrap().len(),
        kept
    );
}

/// An issuance that arrives once the log is closed (a server's request still running as it
/// stops) is refused as the log being away, and written nowhere, on a server's runtime and on
/// a command's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_log_refuses_an_issuance_instead_of_writing_it_after_its_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 2).await;
    store
        .record_issuance(Sample::new("0a", "a.example.com", days(1)).issuance())
        .await
        .unwrap();
    refuses_after_its_close(store, &dir, 1).await;
}

#[tokio::test]
async fn a_closed_log_refuses_a_commands_issuance() {
    let dir = tempfile::tempdir().unwrap();
    open(&dir, 1).await.close().await;
    refuses_after_its_close(open(&dir, 1).await, &dir, 0).await;
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
                        ..ListFilter::default()
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

// On a multi-threaded runtime, as the server's: there the writer is a thread of its own that
// groups what arrives together (on a command's runtime each issuance is written alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    // The log refuses the change; the tables' owner (or whoever holds the file) can switch
    // its guard off, and `check` must still find what they did.
    assert!(
        sqlx::query("UPDATE certificates SET der = $1")
            .bind(vec![0_u8])
            .execute(&store.pool)
            .await
            .is_err()
    );
    let unguard = match store.backend {
        Backend::Postgres => {
            "ALTER TABLE certificates DISABLE TRIGGER certificates_are_append_only"
        }
        _ => "DROP TRIGGER certificates_are_append_only_update",
    };
    sqlx::query(unguard).execute(&store.pool).await.unwrap();
    sqlx::query("UPDATE certificates SET der = $1")
        .bind(vec![0_u8])
        .execute(&store.pool)
        .await
        .unwrap();
    let (problems, _) = store.check().await.unwrap();
    assert!(
        problems.iter().any(|p| p.contains("does not match")),
        "{problems:?}"
    );
    // On SQLite the guard's absence is found too: the schema is not as its migrations made it.
    let sqlite = store.backend == Backend::Sqlite;
    assert_eq!(problems.len(), if sqlite { 2 } else { 1 }, "{problems:?}");
    assert_eq!(
        problems.iter().any(|p| p
            .contains("the trigger certificates_are_append_only_update is missing from the log")),
        sqlite,
        "{problems:?}"
    );
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
async fn certificates_revocations_requests_and_the_crl_number_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let sample = Sample::new("0d", "a.example.com", days(1));
    let row = store.record_issuance(sample.issuance()).await.unwrap();
    store
        .revoke(row.id, RevocationReason::KeyCompromise, "tester")
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO crl (id, number, this_update, next_update, revocations, der) VALUES (1, 5, 0, 0, 1, $1)",
    )
    .bind(vec![0_u8])
    .execute(&store.pool)
    .await
    .unwrap();
    for refused in [
        "DELETE FROM revocations",
        "UPDATE revocations SET reason = 'superseded'",
        "DELETE FROM certificates",
        "UPDATE certificates SET not_after = not_after + 1",
        "DELETE FROM requests",
        "UPDATE requests SET status = 'denied'",
        "UPDATE crl SET number = 0",
        "UPDATE crl SET number = 5",
        "DELETE FROM crl",
    ] {
        assert!(
            sqlx::query(refused).execute(&store.pool).await.is_err(),
            "{refused}"
        );
    }
    sqlx::query("UPDATE crl SET number = 6")
        .execute(&store.pool)
        .await
        .unwrap();
    let revoked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
}

/// SQLite's REPLACE removes the rows it conflicts with without their delete triggers: it takes
/// the place of no revocation (skipped, as a second revocation is), of the CRL but with a higher
/// number, or of a request, and what the log held stays as it was.
#[tokio::test]
async fn replace_takes_the_place_of_no_revocation_crl_or_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let row = store
        .record_issuance(Sample::new("0f", "a.example.com", days(1)).issuance())
        .await
        .unwrap();
    store
        .revoke(row.id, RevocationReason::KeyCompromise, "tester")
        .await
        .unwrap();
    store.audit("tester", "test", "", "").await.unwrap();
    let id = row.id.get();
    let pending = Sample::new("10", "b.example.com", days(1));
    store
        .record_pending("asker", RequestSource::Web, &pending.names, b"CSR", "")
        .await
        .unwrap();
    let count = |table: &'static str| {
        let pool = store.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let reason = || async {
        sqlx::query_scalar::<_, String>("SELECT reason || ':' || revoked_at FROM revocations")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    };
    let before = (
        count("requests").await,
        count("certificates").await,
        count("audit").await,
        reason().await,
    );
    sqlx::query(
        "INSERT INTO crl (id, number, this_update, next_update, revocations, der) VALUES (1, 5, 0, 0, 1, $1)",
    )
    .bind(vec![0_u8])
    .execute(&store.pool)
    .await
    .unwrap();
    if store.backend == Backend::Postgres {
        // PostgreSQL has no REPLACE: its upsert fires the update triggers, which refuse.
        for refused in [
            format!(
                "INSERT INTO revocations (request_id, revoked_at, reason) VALUES ({id}, 0, 'superseded')
                 ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason, revoked_at = 0"
            ),
            format!(
                "INSERT INTO certificates SELECT * FROM certificates WHERE request_id = {id}
                 ON CONFLICT (request_id) DO UPDATE SET not_after = 0"
            ),
            "INSERT INTO crl (id, number, this_update, next_update, revocations, der)
             VALUES (1, 4, 0, 0, 0, '\\x00') ON CONFLICT (id) DO UPDATE SET number = 4"
                .to_owned(),
        ] {
            assert!(
                sqlx::query(&refused).execute(&store.pool).await.is_err(),
                "{refused}"
            );
        }
    } else {
        replace_on_sqlite(&store, id).await;
    }
    assert_eq!(
        (
            count("requests").await,
            count("certificates").await,
            count("audit").await,
            reason().await,
        ),
        before
    );
    let number: i64 = sqlx::query_scalar("SELECT number FROM crl")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(number, 5);
}

/// The REPLACE statements of [`replace_takes_the_place_of_no_revocation_crl_or_request`]: skipped (a
/// revocation) or refused (a lower CRL number, a request's id taken by another).
async fn replace_on_sqlite(store: &Store, id: i64) {
    for refused in [
        "REPLACE INTO crl (id, number, this_update, next_update, revocations, der) VALUES (1, 4, 0, 0, 0, x'00')".to_owned(),
        format!("UPDATE OR REPLACE requests SET id = {id} WHERE id <> {id}"),
    ] {
        assert!(
            sqlx::query(&refused).execute(&store.pool).await.is_err(),
            "{refused}"
        );
    }
    let skipped = sqlx::query(&format!(
        "REPLACE INTO revocations (request_id, revoked_at, reason) VALUES ({id}, 0, 'superseded')"
    ))
    .execute(&store.pool)
    .await
    .unwrap();
    assert_eq!(skipped.rows_affected(), 0);
}

/// A revocation's one change: its reason raised to keyCompromise, once, its date kept; the
/// log's trigger refuses any other, whoever writes. Revoking again for keyCompromise raises
/// it; for anything else, or once keyCompromise, is a conflict.
#[tokio::test]
async fn a_revocation_changes_only_by_its_reason_raised_to_key_compromise() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let row = store
        .record_issuance(Sample::new("0e", "a.example.com", days(1)).issuance())
        .await
        .unwrap();
    let (_, from) = store
        .revoke_with(row.id, RevocationReason::Superseded, "tester", true)
        .await
        .unwrap();
    assert_eq!(from, None, "a first revocation raises nothing");
    for refused in [
        "UPDATE revocations SET reason = 'unspecified'",
        "UPDATE revocations SET reason = 'keyCompromise', revoked_at = revoked_at - 1",
        "UPDATE revocations SET revoked_at = 0",
    ] {
        assert!(
            sqlx::query(refused).execute(&store.pool).await.is_err(),
            "{refused}"
        );
    }
    let again = store
        .revoke(row.id, RevocationReason::AffiliationChanged, "tester")
        .await
        .unwrap_err();
    assert!(
        matches!(&again, Error::Conflict(text) if text.contains("changes only to keyCompromise")),
        "{again}"
    );
    // Not where the caller may not raise it (an ACME account's request).
    let refused = store
        .revoke_with(row.id, RevocationReason::KeyCompromise, "tester", false)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused}");
    let before = store.issuance(row.id).await.unwrap();
    let (raised, from) = store
        .revoke_with(row.id, RevocationReason::KeyCompromise, "tester", true)
        .await
        .unwrap();
    assert_eq!(
        from,
        Some(RevocationReason::Superseded),
        "what it was raised from"
    );
    let (was, now) = (
        before.certificate.unwrap().revocation.unwrap(),
        raised.certificate.unwrap().revocation.unwrap(),
    );
    assert_eq!(now.reason, RevocationReason::KeyCompromise);
    assert_eq!(now.revoked_at, was.revoked_at);
    assert!(
        sqlx::query("UPDATE revocations SET reason = 'superseded'")
            .execute(&store.pool)
            .await
            .is_err()
    );
    let again = store
        .revoke(row.id, RevocationReason::KeyCompromise, "tester")
        .await
        .unwrap_err();
    assert!(matches!(again, Error::Conflict(_)), "{again}");
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
        .set_settings("tester", &[("x", Some("1"), Audit::Value)])
        .await
        .unwrap();
    assert_eq!(value(&store).await.as_deref(), Some("1"));
    store
        .set_settings("tester", &[("x", Some("2"), Audit::Hidden)])
        .await
        .unwrap();
    assert_eq!(value(&store).await.as_deref(), Some("2"));
    store
        .set_settings("tester", &[("x", None, Audit::Hidden)])
        .await
        .unwrap();
    assert_eq!(value(&store).await, None);
    // An issuance (the writer's own connection) in between changes nothing read.
    let sample = Sample::new("3a", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    assert_eq!(value(&store).await, None);

    // Another process's commits are read too.
    let other = open(&dir, 1).await;
    other
        .set_settings("tester", &[("x", Some("3"), Audit::Value)])
        .await
        .unwrap();
    assert_eq!(value(&store).await.as_deref(), Some("3"));

    assert_eq!(store.user_state("alice").await.unwrap(), None);
    other
        .add_user("alice", "requester", "hash", "tester")
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

/// A SQLite log with the setting `x` at 1 and the requester `alice`; `None` on PostgreSQL.
async fn sqlite_with_x_and_alice(dir: &tempfile::TempDir) -> Option<Store> {
    let store = open(dir, 2).await;
    if !matches!(store.location(), LogLocation::File(_)) {
        return None;
    }
    store
        .set_settings("tester", &[("x", Some("1"), Audit::Value)])
        .await
        .unwrap();
    store
        .add_user("alice", "requester", "hash", "tester")
        .await
        .unwrap();
    Some(store)
}

// The server's way: issuances go through the writer thread, whose groups leave what is kept
// of the settings and users in place, while any other commit is read at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_issuances_keep_the_settings_read_and_other_commits_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = sqlite_with_x_and_alice(&dir).await else {
        return; // On PostgreSQL every read goes through the pool.
    };
    let x = async |store: &Store| store.setting("x").await.unwrap();
    assert_eq!(x(&store).await.as_deref(), Some("1"));
    let kept = store.settings_counter(Instant::now()).unwrap();
    let any = store.change_counter(Instant::now()).unwrap();
    let other = rusqlite::Connection::open(dir.path().join("ca.db")).unwrap();
    for n in 0..5 {
        let sample = Sample::new(&format!("6{n}"), "a.example.com", days(30));
        store.record_issuance(sample.issuance()).await.unwrap();
    }
    assert_ne!(store.change_counter(Instant::now()).unwrap(), any);
    assert_eq!(store.settings_counter(Instant::now()).unwrap(), kept);
    // Another process's change right after an issuance: read by the next request.
    let sample = Sample::new("70", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    other
        .execute("UPDATE settings SET value = '2' WHERE key = 'x'", [])
        .unwrap();
    assert_eq!(x(&store).await.as_deref(), Some("2"));
    assert!(!store.user_state("alice").await.unwrap().unwrap().1);
    let sample = Sample::new("71", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    other
        .execute("UPDATE users SET disabled = 1 WHERE name = 'alice'", [])
        .unwrap();
    assert!(store.user_state("alice").await.unwrap().unwrap().1);
    // And this process's own, through the pool, between two issuances.
    let sample = Sample::new("72", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    store
        .set_settings("tester", &[("x", Some("3"), Audit::Value)])
        .await
        .unwrap();
    let sample = Sample::new("73", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    assert_eq!(x(&store).await.as_deref(), Some("3"));
    // A trigger added to the log that has an issuance write the users and the settings: the
    // next request reads what it wrote.
    other
        .execute("UPDATE users SET disabled = 0 WHERE name = 'alice'", [])
        .unwrap();
    assert!(!store.user_state("alice").await.unwrap().unwrap().1);
    assert_eq!(x(&store).await.as_deref(), Some("3"));
    other
        .execute_batch(
            "CREATE TRIGGER lockdown AFTER INSERT ON certificates BEGIN
                 UPDATE users SET disabled = 1 WHERE name = 'alice';
                 UPDATE settings SET value = '4' WHERE key = 'x';
             END",
        )
        .unwrap();
    assert!(!store.user_state("alice").await.unwrap().unwrap().1);
    let sample = Sample::new("74", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    assert!(store.user_state("alice").await.unwrap().unwrap().1);
    assert_eq!(x(&store).await.as_deref(), Some("4"));
    store.close().await;
}

#[tokio::test]
async fn settings_and_users_states_are_read_without_the_pool_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let Some(store) = sqlite_with_x_and_alice(&dir).await else {
        return; // On PostgreSQL every read goes through the pool.
    };
    // Nothing read yet, so nothing kept: with the pool closed, only the connection that
    // watches the log for changes, on the caller's thread, can answer.
    store.pool.close().await;
    let found = store.settings(&["x"]).await.unwrap();
    assert_eq!(found, [("x".to_owned(), "1".to_owned())]);
    let (_, disabled) = store.user_state("alice").await.unwrap().unwrap();
    assert!(!disabled);
    assert_eq!(store.user_state("bob").await.unwrap(), None);
}

#[tokio::test]
async fn a_closed_sqlite_log_has_its_write_ahead_log_put_back_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 2).await;
    let LogLocation::File(path) = store.location().clone() else {
        return; // PostgreSQL has no write-ahead log beside the folder.
    };
    // Every kind of connection open: the pool's, the writer's, the one that watches for
    // changes (the settings), and the reader of lists.
    let sample = Sample::new("4a", "a.example.com", days(30));
    store.record_issuance(sample.issuance()).await.unwrap();
    store.settings(&["x"]).await.unwrap();
    assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 1);
    assert!(!store.is_unused().await.unwrap());
    let wal = path.with_extension("db-wal");
    assert!(wal.exists());
    store.close().await;
    // The last connection to close, one that may write, checkpointed and removed it: the
    // next process reads the log file alone, with nothing to recover.
    assert!(!wal.exists(), "the write-ahead log is left behind");
    let again = open(&dir, 1).await;
    assert_eq!(again.list(&ListFilter::default()).await.unwrap().len(), 1);
    again.close().await;
}

/// A new SQLite log, `ca.db` in `dir`, made and closed.
pub(super) async fn new_sqlite_log(dir: &Path) -> LogLocation {
    let location = LogLocation::File(dir.join("ca.db"));
    Store::open(&location, 1, Access::Create)
        .await
        .unwrap()
        .close()
        .await;
    location
}

/// A new SQLite log in `dir`, closed, then opened again to write as a command opens it.
async fn a_commands_log(dir: &tempfile::TempDir) -> (LogLocation, Store) {
    let location = new_sqlite_log(dir.path()).await;
    let store = Store::open(&location, 1, Access::Write).await.unwrap();
    (location, store)
}

#[tokio::test]
async fn a_command_on_a_current_sqlite_log_reads_and_writes_without_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    // What `ca issue` does, then `ca list`: with the pool closed, every step must go through
    // the store's own connections on the caller's thread and the writer (the pool would
    // start a worker thread and parse the schema once more for each command).
    let (location, store) = a_commands_log(&dir).await;
    assert_eq!(store.pool.size(), 0, "the pool connected at open");
    store.pool.close().await;
    // The pool is closed indeed: what needs it fails.
    store
        .set_settings("tester", &[("x", Some("1"), Audit::Value)])
        .await
        .unwrap_err();
    assert_eq!(store.setting("x").await.unwrap(), None);
    let name: SubjectName = "a.example.com".parse().unwrap();
    assert!(
        store
            .holders(std::slice::from_ref(&name), OffsetDateTime::now_utc())
            .await
            .unwrap()
            .is_empty()
    );
    let sample = Sample::new("4a", "a.example.com", days(30));
    let id = store.record_issuance(sample.issuance()).await.unwrap().id;
    // One connection to the log in all: the one that found it current, watches it for
    // changes and read the holders wrote the issuance too (a second would parse the whole
    // schema again).
    let LogLocation::File(path) = &location else {
        unreachable!()
    };
    assert_eq!(files_open_at(path), 1, "connections to the log");
    let holders = store
        .holders(&[name], OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].id, id);
    store.close().await;
    let read = Store::open(&location, 1, Access::Read).await.unwrap();
    assert_eq!(read.pool.size(), 0, "the pool connected at open");
    read.pool.close().await;
    assert_eq!(read.list(&ListFilter::default()).await.unwrap().len(), 1);
    read.close().await;
}

/// How many of this process's open files are the file at `path`.
fn files_open_at(path: &Path) -> usize {
    let path = path.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| *target == path)
        .count()
}

#[tokio::test]
async fn a_commands_own_issuances_and_other_processes_commits_move_the_change_counter() {
    let dir = tempfile::tempdir().unwrap();
    // A command's store: its one connection watches the log and writes its issuances, and
    // SQLite's data_version does not move for a connection's own commits.
    let (_, store) = a_commands_log(&dir).await;
    let counter = || store.change_counter(Instant::now()).unwrap();
    let mut last = counter();
    for n in 0..3 {
        assert_eq!(counter(), last, "nothing committed");
        let sample = Sample::new(&format!("5{n}"), "a.example.com", days(30));
        store.record_issuance(sample.issuance()).await.unwrap();
        let after = counter();
        assert_ne!(after, last, "the command's own issuance {n} is seen");
        last = after;
        // Another process's commit, through a connection of its own.
        let other = rusqlite::Connection::open(dir.path().join("ca.db")).unwrap();
        other
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, 'x')",
                [format!("k{n}")],
            )
            .unwrap();
        drop(other);
        let after = counter();
        assert_ne!(after, last, "another process's commit {n} is seen");
        last = after;
    }
    store.close().await;
}

#[tokio::test]
async fn a_sqlite_log_whose_schema_is_not_current_is_left_to_the_migrator() {
    let dir = tempfile::tempdir().unwrap();
    let location = new_sqlite_log(dir.path()).await;
    let path = dir.path().join("ca.db");
    let migrator = sqlx::migrate!("../migrations/sqlite");
    let connection = rusqlite::Connection::open(&path).unwrap();
    assert!(schema_is_current(&connection, &migrator).unwrap());
    for change in [
        // A migration changed since it was applied.
        "UPDATE _sqlx_migrations SET checksum = x'00'
         WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)",
        // One that failed half way.
        "UPDATE _sqlx_migrations SET success = FALSE
         WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        // One not applied yet.
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        // One of a newer release.
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000000, 'newer', TRUE, x'00', 0)",
    ] {
        connection.execute_batch("BEGIN").unwrap();
        connection.execute(change, []).unwrap();
        assert!(
            !schema_is_current(&connection, &migrator).unwrap(),
            "{change}"
        );
        connection.execute_batch("ROLLBACK").unwrap();
    }
    // A changed migration: refused by the migrator, as before the shortcut.
    connection
        .execute(
            "UPDATE _sqlx_migrations SET checksum = x'00'
             WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)",
            [],
        )
        .unwrap();
    let refused = Store::open(&location, 1, Access::Write).await.unwrap_err();
    assert!(matches!(refused, Error::Store(_)), "{refused:?}");
    drop(connection);

    // A log made by the release before the newest migration: a command that only reads is
    // told to let it be brought up to date; one that writes brings it up to date.
    let older = dir.path().join("older.db");
    let older_location = LogLocation::File(older.clone());
    std::fs::File::create(&older).unwrap();
    let mut partial = sqlx::migrate!("../migrations/sqlite");
    let all = partial.migrations.to_vec();
    partial.migrations = std::borrow::Cow::Owned(all[..all.len() - 1].to_vec());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", older.display()))
        .await
        .unwrap();
    partial.run(&pool).await.unwrap();
    pool.close().await;
    let outdated = Store::open(&older_location, 1, Access::Read)
        .await
        .unwrap_err();
    assert!(matches!(outdated, Error::LogOutdated(_)), "{outdated:?}");
    Store::open(&older_location, 1, Access::Write)
        .await
        .unwrap()
        .close()
        .await;
    let connection = rusqlite::Connection::open(&older).unwrap();
    assert!(schema_is_current(&connection, &migrator).unwrap());
}

#[tokio::test]
async fn a_log_from_before_the_fingerprint_index_keeps_every_row_trigger_and_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.db");
    migrated_until(&path, "fingerprint not indexed").await;
    // Every index and trigger of the tables around the one rebuilt, by name.
    // (Those of the names' table, the index of keyCompromise revocations and the triggers
    // against REPLACE come with later migrations.)
    const SCHEMA_NAMES: &str = "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema
         WHERE type IN ('index', 'trigger') AND sql IS NOT NULL
           AND tbl_name <> 'certificate_names' AND name NOT LIKE 'certificate_names%'
           AND name <> 'revocations_key_compromise'
           AND name NOT IN ('revocations_are_not_replaced', 'crl_is_not_replaced',
                            'requests_keep_their_id')
         ORDER BY name)";
    let day = 20_000_i64;
    let older = rusqlite::Connection::open(&path).unwrap();
    let kept: String = older.query_row(SCHEMA_NAMES, [], |row| row.get(0)).unwrap();
    let kept = format!("Text({kept:?})");
    assert!(kept.contains("expiry_tallies_revoke"), "{kept}");
    older
        .execute_batch(&format!(
            "PRAGMA foreign_keys = ON;
             INSERT INTO requests (created_at, requester, source, names, status)
                 VALUES (1, 'alice', 'cli', '[]', 'issued'), (2, 'alice', 'renewal', '[]', 'issued');
             INSERT INTO certificates (request_id, serial, names, not_before, not_after,
                                       key_algorithm, sha256, der, renewed_from)
                 VALUES (1, '01', '[]', 0, {day} * 86400, 'ecdsa-p256', 'aa', x'30', NULL),
                        (2, '02', '[]', 0, {day} * 86400, 'ecdsa-p256', 'bb', x'30', 1);
             INSERT INTO revocations (request_id, revoked_at, reason) VALUES (1, 5, 'keyCompromise');
             INSERT INTO ocsp_responses (request_id, this_update, next_update, revoked_at, der)
                 VALUES (2, 0, 1, NULL, x'30');"
        ))
        .unwrap();
    drop(older);

    let location = LogLocation::File(path.clone());
    Store::open(&location, 1, Access::Write)
        .await
        .unwrap()
        .close()
        .await;

    let log = rusqlite::Connection::open(&path).unwrap();
    log.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let one = |sql: &str| -> String {
        log.query_row(sql, [], |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| format!("{value:?}"))
            .unwrap()
    };
    assert_eq!(
        one(
            "SELECT group_concat(request_id || serial || sha256 || ifnull(renewed_from, '-'))
             FROM certificates"
        ),
        r#"Text("101aa-,202bb1")"#,
    );
    assert_eq!(one("SELECT COUNT(*) FROM revocations"), "Integer(1)");
    assert_eq!(one("SELECT COUNT(*) FROM ocsp_responses"), "Integer(1)");
    assert_eq!(
        one("SELECT COUNT(*) FROM pragma_foreign_key_check"),
        "Integer(0)"
    );
    assert_eq!(one("PRAGMA integrity_check"), r#"Text("ok")"#);
    // The serial alone is unique now.
    assert_eq!(
        one(
            r#"SELECT group_concat(i.name) FROM pragma_index_list('certificates') AS l,
               pragma_index_info(l.name) AS i WHERE l."unique""#
        ),
        r#"Text("serial")"#,
        "the table's unique indexes"
    );
    assert_eq!(one(SCHEMA_NAMES), kept, "the indexes and triggers");
    assert_eq!(
        one(&format!(
            "SELECT issued || '/' || revoked FROM expiry_tallies WHERE day = {day}"
        )),
        r#"Text("2/1")"#
    );

    // The triggers still keep the tallies and the rows.
    log.execute_batch(&format!(
        "INSERT INTO requests (created_at, requester, source, names, status)
             VALUES (3, 'alice', 'cli', '[]', 'issued');
         INSERT INTO certificates (request_id, serial, names, not_before, not_after,
                                   key_algorithm, sha256, der)
             VALUES (3, '03', '[]', 0, {day} * 86400, 'ecdsa-p256', 'cc', x'30');
         INSERT INTO revocations (request_id, revoked_at, reason) VALUES (3, 6, 'superseded');"
    ))
    .unwrap();
    assert_eq!(
        one(&format!(
            "SELECT issued || '/' || revoked FROM expiry_tallies WHERE day = {day}"
        )),
        r#"Text("3/2")"#
    );
    let changed = log
        .execute(
            "UPDATE certificates SET der = x'31' WHERE request_id = 1",
            [],
        )
        .unwrap_err();
    assert!(changed.to_string().contains("append-only"), "{changed}");
    let duplicate = log
        .execute_batch(
            "INSERT INTO requests (created_at, requester, source, names, status)
                 VALUES (4, 'alice', 'cli', '[]', 'issued');
             INSERT INTO certificates (request_id, serial, names, not_before, not_after,
                                       key_algorithm, sha256, der)
                 VALUES (4, '01', '[]', 0, 1, 'ecdsa-p256', 'dd', x'30');",
        )
        .unwrap_err();
    assert!(duplicate.to_string().contains("UNIQUE"), "{duplicate}");
    let orphan = log
        .execute(
            "INSERT INTO revocations (request_id, revoked_at, reason) VALUES (99, 1, 'superseded')",
            [],
        )
        .unwrap_err();
    assert!(orphan.to_string().contains("FOREIGN KEY"), "{orphan}");
}

#[tokio::test]
async fn a_log_from_before_acme_that_holds_certificates_is_brought_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.db");
    std::fs::File::create(&path).unwrap();
    let mut before = sqlx::migrate!("../migrations/sqlite");
    let all = before.migrations.to_vec();
    let acme = all.iter().position(|m| m.description == "acme").unwrap();
    before.migrations = std::borrow::Cow::Owned(all[..acme].to_vec());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    before.run(&pool).await.unwrap();
    pool.close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "PRAGMA foreign_keys = ON;
             INSERT INTO requests (created_at, requester, source, names, status)
                 VALUES (1, 'alice', 'cli', '[\"a.example.com\"]', 'issued');
             INSERT INTO certificates (request_id, serial, names, not_before, not_after,
                                       key_algorithm, sha256, der)
                 VALUES (1, '01', '[\"a.example.com\"]', 0, 4102444800, 'ecdsa-p256', '{fingerprint}', x'30');
             INSERT INTO revocations (request_id, revoked_at, reason) VALUES (1, 5, 'keyCompromise');",
            fingerprint = "ab".repeat(32)
        ))
        .unwrap();

    let location = LogLocation::File(path.clone());
    let store = Store::open(&location, 1, Access::Write).await.unwrap();
    let rows = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 1);
    let certificate = rows[0].certificate.as_ref().unwrap();
    assert_eq!(certificate.serial.hex(), "01");
    assert!(certificate.revocation.is_some(), "the revocation is kept");
    // The pool's one connection ran the migrations: it enforces foreign keys again.
    let orphan = sqlx::query(
        "INSERT INTO revocations (request_id, revoked_at, reason) VALUES (99, 1, 'superseded')",
    )
    .execute(&store.pool)
    .await;
    assert!(orphan.is_err(), "a revocation of no certificate was taken");
    store.close().await;
    let log = rusqlite::Connection::open(&path).unwrap();
    let broken: i64 = log
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0);
    let migrator = sqlx::migrate!("../migrations/sqlite");
    assert!(schema_is_current(&log, &migrator).unwrap());
}

/// Every row of `filter`, read a page of `limit` at a time, each page starting where the one
/// before said.
async fn walk(store: &Store, filter: &ListFilter, limit: u32) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..1000 {
        let page = store
            .list_page(&ListFilter {
                after,
                limit: Some(limit),
                ..filter.clone()
            })
            .await
            .unwrap();
        assert!(page.rows.len() <= limit as usize);
        seen.extend(page.rows.iter().map(|row| row.id.get()));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.rows.len(),
                    limit as usize,
                    "a full page before a next one"
                );
                after = Some(next);
            }
            None => return seen,
        }
    }
    panic!("the pages never ended");
}

#[tokio::test]
async fn pages_by_id_and_by_expiry_meet_every_row_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let mut samples = Vec::new();
    for i in 0..40i64 {
        // Several certificates share a notAfter, so the id decides among them.
        let at = OffsetDateTime::from_unix_timestamp(
            OffsetDateTime::now_utc().unix_timestamp() + (i % 7 - 2) * 86_400 * 10,
        )
        .unwrap();
        let name = if i % 5 == 0 {
            format!("h{i}.xn--bcher-kva.example")
        } else {
            format!("host{i}.example.com")
        };
        samples.push(Sample::new(&format!("{:02x}", i + 16), &name, at));
    }
    let names: Vec<SubjectName> = vec!["pending.example.com".parse().unwrap()];
    for (i, sample) in samples.iter().enumerate() {
        store.record_issuance(sample.issuance()).await.unwrap();
        if i % 9 == 0 {
            store
                .record_pending("alice", RequestSource::Web, &names, b"csr", "")
                .await
                .unwrap();
        }
    }
    store
        .revoke(
            RequestId::from_log(3).unwrap(),
            RevocationReason::KeyCompromise,
            "tester",
        )
        .await
        .unwrap();
    let all = store.list(&ListFilter::default()).await.unwrap();
    let by_id: Vec<i64> = all.iter().map(|row| row.id.get()).collect();
    let expiry = |row: &Issuance| row.certificate.as_ref().map(|c| c.not_after);
    let mut by_expiry: Vec<&Issuance> = all.iter().filter(|r| expiry(r).is_some()).collect();
    by_expiry.sort_by_key(|row| (expiry(row), row.id));
    let without: Vec<i64> = all
        .iter()
        .filter(|r| expiry(r).is_none())
        .map(|r| r.id.get())
        .collect();
    assert_eq!(without.len(), 5);
    let ascending: Vec<i64> = by_expiry
        .iter()
        .map(|r| r.id.get())
        .chain(without.iter().copied())
        .collect();
    let descending: Vec<i64> = {
        let mut rows = by_expiry.clone();
        rows.sort_by_key(|row| std::cmp::Reverse((expiry(row), row.id)));
        rows.iter()
            .map(|r| r.id.get())
            .chain(without.iter().copied())
            .collect()
    };
    for limit in [1, 3, 7, 45, 100] {
        let order = |order| ListFilter {
            order,
            ..ListFilter::default()
        };
        assert_eq!(walk(&store, &order(ListOrder::Id), limit).await, by_id);
        let mut reversed = by_id.clone();
        reversed.reverse();
        assert_eq!(
            walk(&store, &order(ListOrder::IdDesc), limit).await,
            reversed
        );
        assert_eq!(
            walk(&store, &order(ListOrder::Expiry), limit).await,
            ascending
        );
        assert_eq!(
            walk(&store, &order(ListOrder::ExpiryDesc), limit).await,
            descending
        );
    }
    // Filters hold on every page, in every order.
    let now = OffsetDateTime::now_utc();
    type Holds = Box<dyn Fn(&Issuance) -> bool>;
    let checks: Vec<(ListFilter, Holds)> = vec![
        (
            ListFilter {
                status: Some(Status::Valid),
                ..ListFilter::default()
            },
            Box::new(|r: &Issuance| r.status == Status::Valid),
        ),
        (
            ListFilter {
                status: Some(Status::Pending),
                ..ListFilter::default()
            },
            Box::new(|r: &Issuance| r.status == Status::Pending),
        ),
        (
            ListFilter {
                expiring_within_days: Some(15),
                ..ListFilter::default()
            },
            Box::new(move |r: &Issuance| r.expires_within(15, now).is_some()),
        ),
        (
            ListFilter {
                name: Some("Bücher".parse().unwrap()),
                ..ListFilter::default()
            },
            Box::new(|r: &Issuance| r.names_shown().contains("bücher")),
        ),
        (
            ListFilter {
                requester: Some("alice".into()),
                source: Some(RequestSource::Web),
                ..ListFilter::default()
            },
            Box::new(|r: &Issuance| r.requester == "alice"),
        ),
        (
            ListFilter {
                status: Some(Status::Revoked),
                ..ListFilter::default()
            },
            Box::new(|r: &Issuance| r.id == RequestId::from_log(3).unwrap()),
        ),
    ];
    for (filter, wanted) in &checks {
        let expected: Vec<i64> = all
            .iter()
            .filter(|r| wanted(r))
            .map(|r| r.id.get())
            .collect();
        assert!(!expected.is_empty(), "{filter:?}");
        for order in ListOrder::ALL {
            let filter = ListFilter {
                order: *order,
                ..filter.clone()
            };
            let mut got = walk(&store, &filter, 2).await;
            let mut full: Vec<i64> = store
                .list(&filter)
                .await
                .unwrap()
                .iter()
                .map(|r| r.id.get())
                .collect();
            assert_eq!(got, full, "{filter:?}");
            got.sort_unstable();
            full.sort_unstable();
            assert_eq!(got, expected, "{filter:?}");
        }
    }
    // A key of one order is refused in the other.
    let refused = store
        .list_page(&ListFilter {
            order: ListOrder::Id,
            after: Some(ListKey::Expiry(5, RequestId::from_log(3).unwrap())),
            ..ListFilter::default()
        })
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidInput(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn reads_the_audit_trail_by_actor_action_and_time_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    for i in 0..12 {
        let actor = if i % 3 == 0 { "root" } else { "alice" };
        let action = if i % 2 == 0 { "issue" } else { "revoke" };
        store
            .audit(actor, action, &i.to_string(), "")
            .await
            .unwrap();
    }
    let read = |filter: AuditFilter| {
        let store = store.clone();
        async move {
            store
                .audit_events(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.subject)
                .collect::<Vec<_>>()
        }
    };
    let all = read(AuditFilter::default()).await;
    assert_eq!(all.len(), 12);
    assert_eq!(all[0], "0");
    let root_issues = read(AuditFilter {
        actor: Some("root".into()),
        action: Some("issue".into()),
        newest_first: true,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(root_issues, ["6", "0"]);
    // Newest first, three at a time.
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = store
            .audit_events(&AuditFilter {
                newest_first: true,
                after,
                limit: Some(3),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|e| e.id);
        seen.extend(page.into_iter().map(|e| e.subject));
    }
    let mut newest_first = all.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let future = read(AuditFilter {
        since: Some(days(1)),
        ..AuditFilter::default()
    })
    .await;
    assert!(future.is_empty());
    // Text that looks like SQL is only text.
    let injected = read(AuditFilter {
        actor: Some("x' OR '1'='1".into()),
        ..AuditFilter::default()
    })
    .await;
    assert!(injected.is_empty());
}

/// The inventory reads a page of the log along an index in the list's order and stops there:
/// no filter makes SQLite sort what it read (a temporary B-tree) or scan every request to
/// filter it. (The default list reads the requests' own B-tree, newest first, and stops after
/// a page: that is the one `SCAN r` allowed.)
#[tokio::test]
async fn inventory_pages_read_an_index_in_order_whatever_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    if store.backend() != Backend::Sqlite {
        return;
    }
    let base = ListFilter {
        order: ListOrder::IdDesc,
        limit: Some(50),
        ..ListFilter::default()
    };
    let by_expiry = ListFilter {
        order: ListOrder::Expiry,
        ..base.clone()
    };
    let cases = [
        ("default", base.clone(), true),
        ("sort=expiry", by_expiry.clone(), false),
        (
            "sort=-expiry",
            ListFilter {
                order: ListOrder::ExpiryDesc,
                ..base.clone()
            },
            false,
        ),
        (
            "status=revoked",
            ListFilter {
                status: Some(Status::Revoked),
                ..base.clone()
            },
            false,
        ),
        (
            "status=revoked&sort=expiry",
            ListFilter {
                status: Some(Status::Revoked),
                ..by_expiry.clone()
            },
            false,
        ),
        (
            "status=expiring",
            ListFilter {
                expiring_within_days: Some(30),
                ..base.clone()
            },
            false,
        ),
        (
            "requester=alice&sort=expiry",
            ListFilter {
                requester: Some("alice".into()),
                ..by_expiry.clone()
            },
            false,
        ),
        (
            "requester=alice",
            ListFilter {
                requester: Some("alice".into()),
                ..base.clone()
            },
            false,
        ),
        (
            "status=pending",
            ListFilter {
                status: Some(Status::Pending),
                ..base.clone()
            },
            false,
        ),
    ];
    for (what, filter, scan_allowed) in cases {
        let plan = store.list_plan(&filter).await.unwrap();
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{what}: {plan:#?}"
        );
        if !scan_allowed {
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN r")
                    && !step.contains("requests_without_certificate")),
                "{what}: {plan:#?}"
            );
        }
    }
}

/// `ca list --expiring N` without a limit reads the certificates along the expiry index and
/// sorts the few it finds, in either order, rather than every certificate of the log.
#[tokio::test]
async fn a_whole_list_of_the_expiring_reads_the_expiry_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    if store.backend() != Backend::Sqlite {
        return;
    }
    for (order, status) in [
        (ListOrder::Id, None),
        (ListOrder::Id, Some(Status::Valid)),
        (ListOrder::IdDesc, Some(Status::Valid)),
        (ListOrder::Expiry, Some(Status::Valid)),
    ] {
        let filter = ListFilter {
            order,
            status,
            expiring_within_days: Some(30),
            ..ListFilter::default()
        };
        let plan = store.list_plan(&filter).await.unwrap();
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH c USING INDEX certificates_not_after")),
            "{order:?} {status:?}: {plan:#?}"
        );
        // `line` is the renewals of one certificate's line (see `renewal_in_force!`), not a
        // table of the log.
        assert!(
            !plan
                .iter()
                .any(|step| (step.starts_with("SCAN") && step != "SCAN line")
                    || step.contains("TEMP B-TREE")),
            "{order:?} {status:?}: {plan:#?}"
        );
    }
}

/// The options the bundled SQLite was built with.
fn compile_options() -> Vec<String> {
    let connection = rusqlite::Connection::open_in_memory().unwrap();
    let mut statement = connection.prepare("PRAGMA compile_options").unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The bundled SQLite is built as `.cargo/config.toml` says: every allocation of every
/// connection taking one process-wide mutex (memory statistics), and every page fetched a
/// second (the shared page-cache pool), cost the web issuance about a tenth of its rate.
#[test]
fn the_bundled_sqlite_takes_no_process_wide_lock_per_allocation() {
    let options = compile_options();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "{options:?}"
    );
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "{options:?}"
    );
}

/// Nor with the extensions the log never uses, whose modules and functions every connection
/// registered as it opened: a one-shot command opens one, and paid for them on every run.
#[test]
fn the_bundled_sqlite_registers_no_extension_the_log_does_not_use() {
    let options = compile_options();
    let connection = rusqlite::Connection::open_in_memory().unwrap();
    for unused in [
        "ENABLE_FTS3",
        "ENABLE_FTS5",
        "ENABLE_RTREE",
        "ENABLE_DBSTAT_VTAB",
        "SOUNDEX",
    ] {
        assert!(
            !options.iter().any(|o| o == unused),
            "{unused}: {options:?}"
        );
    }
    let modules: Vec<String> = connection
        .prepare("SELECT name FROM pragma_module_list")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        !modules
            .iter()
            .any(|m| m.starts_with("fts") || m.starts_with("rtree") || m == "dbstat"),
        "{modules:?}"
    );
    assert!(
        connection
            .query_row("SELECT soundex('name')", [], |row| row.get::<_, String>(0))
            .is_err()
    );
    // What the log does use stays: JSON (the names of each certificate) and its table functions.
    let names: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM json_each('[\"a\", \"b\"]')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(names, 2);
}

#[tokio::test]
async fn every_sqlite_pool_keeps_a_small_page_cache_and_writes_durably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.db");
    let location = LogLocation::File(path.clone());
    let pragma = |store: &Store, name: &str| {
        let sql = format!("PRAGMA {name}");
        let pool = store.pool.clone();
        async move {
            let row = sqlx::query(&sql).fetch_one(&pool).await.unwrap();
            sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
        }
    };
    // Made anew, then opened again as the current log, then for reading only.
    let made = Store::open(&location, 2, Access::Create).await.unwrap();
    assert_eq!(pragma(&made, "cache_size").await, -512);
    assert_eq!(pragma(&made, "synchronous").await, 2, "FULL");
    assert_eq!(pragma(&made, "foreign_keys").await, 1);
    made.close().await;
    let reopened = Store::open(&location, 2, Access::Write).await.unwrap();
    assert_eq!(pragma(&reopened, "cache_size").await, -512);
    assert_eq!(pragma(&reopened, "synchronous").await, 2, "FULL");
    reopened.close().await;
    let read = Store::open(&location, 2, Access::Read).await.unwrap();
    assert_eq!(pragma(&read, "cache_size").await, -512);
    assert_eq!(pragma(&read, "foreign_keys").await, 1);
    read.close().await;
}

#[tokio::test]
async fn a_log_from_before_the_names_table_points_to_the_holders_it_already_had() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.db");
    migrated_until(&path, "certificate names").await;
    let later = OffsetDateTime::now_utc().unix_timestamp() + 30 * 86_400;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            r#"INSERT INTO requests (created_at, requester, source, names, status)
                   VALUES (1, 'alice', 'cli', '[]', 'issued'), (2, 'alice', 'cli', '[]', 'issued');
               INSERT INTO certificates (request_id, serial, names, not_before, not_after,
                                         key_algorithm, sha256, der, renewed_from)
                   VALUES (1, '01', '["a.example.com","b.example.com"]', 0, {later}, 'ecdsa-p256', 'aa', x'30', NULL),
                          (2, '02', '["c.example.com","10.0.0.1"]', 0, {later}, 'ecdsa-p256', 'bb', x'30', NULL);"#
        ))
        .unwrap();
    let store = Store::open(&LogLocation::File(path.clone()), 1, Access::Write)
        .await
        .unwrap();
    let asked = ["b.example.com", "10.0.0.1", "d.example.com"];
    let holders = holders_now(&store, &asked).await;
    let found: Vec<(i64, Vec<String>)> = holders
        .iter()
        .map(|holder| (holder.id.get(), holder.names.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (1, vec!["b.example.com".to_owned()]),
            (2, vec!["10.0.0.1".to_owned()])
        ]
    );
    // A certificate added after the migration is found by its trigger's rows.
    let sample = Sample::new("4a", "d.example.com", days(30));
    let id = store.record_issuance(sample.issuance()).await.unwrap().id;
    let holders = holders_now(&store, &asked[2..]).await;
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].id, id);
    store.close().await;
}

#[tokio::test]
async fn a_log_from_before_the_names_kept_their_end_of_validity_points_to_its_valid_holders_only() {
    // On the backend the suite runs against: each has its own migration.
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let location = log_migrated_until(dir.path(), "certificate names not after").await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (later, earlier) = (now + 30 * 86_400, now - 86_400);
    let pool = AnyPool::connect(&match &location {
        LogLocation::File(path) => format!("sqlite://{}", path.display()),
        LogLocation::Postgres(url) => url.secret().to_owned(),
    })
    .await
    .unwrap();
    let mut ids = Vec::new();
    for (serial, names, not_after) in [
        ("01", r#"["a.example.com"]"#, earlier),
        ("02", r#"["a.example.com","b.example.com"]"#, later),
    ] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO requests (created_at, requester, source, names, status)
             VALUES (1, 'alice', 'cli', '[]', 'issued') RETURNING id",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO certificates (request_id, serial, names, not_before, not_after,
                                       key_algorithm, sha256, der)
             VALUES ($1, $2, $3, 0, $4, 'ecdsa-p256', $2, $5)",
        )
        .bind(id)
        .bind(serial)
        .bind(names)
        .bind(not_after)
        .bind(vec![0x30_u8])
        .execute(&pool)
        .await
        .unwrap();
        ids.push(id);
    }
    pool.close().await;
    let store = Store::open(&location, 1, Access::Write).await.unwrap();
    let asked = ["a.example.com", "b.example.com"];
    let holders = holders_now(&store, &asked).await;
    // The expired certificate is no holder; the valid one is, until its own end.
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders[0].id.get(), ids[1]);
    assert_eq!(holders[0].not_after.unix_timestamp(), later);
    assert_eq!(holders[0].names, ["a.example.com", "b.example.com"]);
    // A certificate added after the migration carries its end of validity too.
    let sample = Sample::new("4d", "b.example.com", days(30));
    let id = store.record_issuance(sample.issuance()).await.unwrap().id;
    let holders = holders_now(&store, &asked[1..]).await;
    let found: Vec<_> = holders.iter().map(|holder| holder.id).collect();
    assert_eq!(found.len(), 2);
    assert_eq!(found[1], id);
    assert!(holders[1].not_after > OffsetDateTime::now_utc() + time::Duration::days(29));
    store.close().await;
}

/// `migrator` without the migrations from the one whose description holds `description` on.
fn before(mut migrator: sqlx::migrate::Migrator, description: &str) -> sqlx::migrate::Migrator {
    let all = migrator.migrations.to_vec();
    let newest = all
        .iter()
        .position(|m| m.description.contains(description))
        .unwrap();
    migrator.migrations = std::borrow::Cow::Owned(all[..newest].to_vec());
    migrator
}

/// A log for `dir` on the backend the suite runs against, with every migration before the one
/// whose description holds `description`: what an earlier release left.
async fn log_migrated_until(dir: &Path, description: &str) -> LogLocation {
    let location = crate::testing::log_location(dir);
    match &location {
        LogLocation::File(path) => migrated_until(path, description).await,
        LogLocation::Postgres(url) => {
            let before = before(sqlx::migrate!("../migrations/postgres"), description);
            let pool = sqlx::PgPool::connect(url.secret()).await.unwrap();
            before.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
    location
}

/// The holders `store` finds now for `names`, parsed as the command line parses them.
async fn holders_now(store: &Store, names: &[&str]) -> Vec<Holder> {
    let asked: Vec<SubjectName> = names.iter().map(|name| name.parse().unwrap()).collect();
    store
        .holders(&asked, OffsetDateTime::now_utc())
        .await
        .unwrap()
}

/// A SQLite log at `path` with every migration before the one whose description holds
/// `description`: what an earlier release left.
async fn migrated_until(path: &Path, description: &str) {
    std::fs::File::create(path).unwrap();
    let before = before(sqlx::migrate!("../migrations/sqlite"), description);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    before.run(&pool).await.unwrap();
    pool.close().await;
}

/// A name asked for more than once (a command line repeating it, in another case or with a
/// trailing dot) is held once: the note names it once, not once per repeat.
#[tokio::test]
async fn a_name_asked_twice_is_held_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let sample = Sample::new("4e", "m10.example.com", days(30));
    let id = store.record_issuance(sample.issuance()).await.unwrap().id;
    let holders = holders_now(
        &store,
        &["m10.example.com", "M10.EXAMPLE.COM.", "m10.example.com"],
    )
    .await;
    let found: Vec<_> = holders
        .iter()
        .map(|holder| (holder.id, holder.names.clone()))
        .collect();
    assert_eq!(found, [(id, vec!["m10.example.com".to_owned()])]);
    store.close().await;
}

#[tokio::test]
async fn holders_of_more_names_than_one_query_binds_are_each_found_once() {
    let dir = tempfile::tempdir().unwrap();
    // On either backend (a server's pool), and on a command's own connection.
    let store = open(&dir, 2).await;
    let command = tempfile::tempdir().unwrap();
    let (_, command_store) = a_commands_log(&command).await;
    // More than SQLite binds in one statement (32,766 values).
    let asked: Vec<SubjectName> = (0..33_000)
        .map(|n| format!("h{n}.example.com").parse().unwrap())
        .collect();
    // Held names in the first and the last batches of the query, in one certificate.
    let mut sample = Sample::new("4b", "h0.example.com", days(30));
    sample.names.push(asked[32_900].clone());
    let other = Sample::new("4c", "h700.example.com", days(30));
    for store in [&store, &command_store] {
        let first = store.record_issuance(sample.issuance()).await.unwrap().id;
        let second = store.record_issuance(other.issuance()).await.unwrap().id;
        let holders = store
            .holders(&asked, OffsetDateTime::now_utc())
            .await
            .unwrap();
        let found: Vec<_> = holders
            .iter()
            .map(|holder| (holder.id, holder.names.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    first,
                    vec!["h0.example.com".to_owned(), "h32900.example.com".to_owned()]
                ),
                (second, vec!["h700.example.com".to_owned()])
            ]
        );
    }
    store.close().await;
    command_store.close().await;
}

#[tokio::test]
async fn a_log_a_newer_release_brought_up_to_date_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let location = new_sqlite_log(dir.path()).await;
    let path = dir.path().join("ca.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99991231000000, 'newer', TRUE, x'00', 0)",
            [],
        )
        .unwrap();
    let refused = Store::open(&location, 1, Access::Write).await.unwrap_err();
    assert!(
        matches!(refused, Error::Store(StoreError::Newer(99_991_231_000_000))),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("brought up to date by a newer release"),
        "{refused}"
    );
    // Reading it still works: what this release reads is all there.
    let read = Store::open(&location, 1, Access::Read).await.unwrap();
    assert!(read.list(&ListFilter::default()).await.unwrap().is_empty());
    read.close().await;
}

#[tokio::test]
async fn a_backup_copy_is_readable_by_its_owner_only_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1).await;
    let target = dir.path().join("copy.db");
    store.backup(&target).await.unwrap();
    store.close().await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}
