//! The issuance log: SQLite in WAL mode with foreign keys on, schema from `migrations/`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so concurrent processes queue on SQLite's
//! write lock (with a generous busy timeout) instead of failing with "database is locked", and
//! a certificate is handed out only after the transaction holding its row has committed.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use tracing::instrument;

use crate::error::{Error, Result, StoreError};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// An open issuance log.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    writer: tokio::sync::mpsc::Sender<(IssuanceJob, tokio::sync::oneshot::Sender<Result<i64>>)>,
}

/// The most issuances committed in one transaction.
const MAX_GROUP: usize = 64;

/// An issuance waiting for the writer.
#[derive(Debug)]
struct IssuanceJob {
    requester: String,
    source: RequestSource,
    names: String,
    names_shown: String,
    csr_der: Option<Vec<u8>>,
    serial: String,
    not_before: i64,
    not_after: i64,
    key_algorithm: String,
    sha256: String,
    der: Vec<u8>,
    renewed_from: Option<i64>,
    pending_request: Option<i64>,
    decided_by: String,
}

type Reply = tokio::sync::oneshot::Sender<Result<i64>>;

/// Commits issuances in groups: it takes every job that is waiting (up to [`MAX_GROUP`]),
/// writes each in a savepoint of one `BEGIN IMMEDIATE` transaction, commits once, and then
/// answers every caller. No caller hears "issued" before the commit is durable.
async fn writer(pool: SqlitePool, mut jobs: tokio::sync::mpsc::Receiver<(IssuanceJob, Reply)>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = write_group(&pool, &batch).await;
        match results {
            Ok(results) => {
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                let message = err.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Commit(message.clone()).into()));
                }
            }
        }
    }
}

async fn write_group(
    pool: &SqlitePool,
    batch: &[(IssuanceJob, Reply)],
) -> Result<Vec<Result<i64>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        sqlx::query("SAVEPOINT issuance").execute(&mut *tx).await?;
        let result = write_issuance(&mut tx, job).await;
        if result.is_err() {
            sqlx::query("ROLLBACK TO issuance")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("RELEASE issuance").execute(&mut *tx).await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

async fn write_issuance(tx: &mut sqlx::SqliteConnection, job: &IssuanceJob) -> Result<i64> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let id: i64 = match job.pending_request {
        None => {
            sqlx::query_scalar(
                "INSERT INTO requests (created_at, requester, source, names, csr, status, disposition, decided_at, decided_by)
                 VALUES (?, ?, ?, ?, ?, 'issued', 'Issued', ?, ?) RETURNING id",
            )
            .bind(now)
            .bind(&job.requester)
            .bind(job.source.as_str())
            .bind(&job.names)
            .bind(job.csr_der.as_deref())
            .bind(now)
            .bind(&job.decided_by)
            .fetch_one(&mut *tx)
            .await?
        }
        Some(id) => {
            let updated = sqlx::query(
                "UPDATE requests SET status = 'issued', disposition = 'Issued', names = ?, decided_at = ?, decided_by = ?
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(&job.names)
            .bind(now)
            .bind(&job.decided_by)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(Error::Conflict(format!("request {id} is not pending")));
            }
            id
        }
    };
    let inserted = sqlx::query(
        "INSERT INTO certificates (request_id, serial, names, not_before, not_after, key_algorithm, sha256, der, renewed_from)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(&job.serial)
    .bind(&job.names)
    .bind(job.not_before)
    .bind(job.not_after)
    .bind(&job.key_algorithm)
    .bind(&job.sha256)
    .bind(&job.der)
    .bind(job.renewed_from)
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(db)) = &inserted
        && db.is_unique_violation()
    {
        return Err(StoreError::DuplicateSerial.into());
    }
    inserted?;
    audit(
        tx,
        &job.decided_by,
        "issue",
        &id.to_string(),
        &format!("serial {} for {}", job.serial, job.names_shown),
    )
    .await?;
    Ok(id)
}

/// Where a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestSource {
    /// `ca issue`: the CA made the key.
    Cli,
    /// A PKCS#10 request signed with `ca sign`.
    Csr,
    /// A request submitted over the web pages.
    Web,
    /// `ca renew`.
    Renewal,
}

impl RequestSource {
    fn as_str(self) -> &'static str {
        match self {
            RequestSource::Cli => "cli",
            RequestSource::Csr => "csr",
            RequestSource::Web => "web",
            RequestSource::Renewal => "renewal",
        }
    }
}

/// What became of a request, as `ca list --status` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Denied,
    Valid,
    Revoked,
    Expired,
}

impl Status {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Denied => "denied",
            Status::Valid => "valid",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

impl FromStr for Status {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [
            Status::Pending,
            Status::Denied,
            Status::Valid,
            Status::Revoked,
            Status::Expired,
        ]
        .into_iter()
        .find(|status| status.name() == s)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "unknown status '{s}': use valid, revoked, expired, pending or denied"
            ))
        })
    }
}

/// A certificate as the log holds it.
#[derive(Clone, Debug)]
pub struct CertificateRecord {
    /// Lowercase hex of the serial number's DER content octets.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_algorithm: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256: String,
    pub der: Vec<u8>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<String>,
    pub renewed_from: Option<i64>,
}

/// One row of the log: a request and, once issued, its certificate.
#[derive(Clone, Debug)]
pub struct Issuance {
    /// The request id (AD CS "ReqID"), also the certificate's id.
    pub id: i64,
    pub requested_at: OffsetDateTime,
    pub requester: String,
    pub source: String,
    /// The names asked for (for an issued certificate: its SAN entries).
    pub names: Vec<String>,
    pub disposition: String,
    pub status: Status,
    pub certificate: Option<CertificateRecord>,
}

/// A certificate to be written to the log together with the request it answers.
#[derive(Debug)]
pub struct NewIssuance<'a> {
    pub requester: &'a str,
    pub source: RequestSource,
    pub names: &'a [String],
    pub csr_der: Option<&'a [u8]>,
    pub serial: &'a str,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_algorithm: &'a str,
    pub sha256: &'a str,
    pub der: &'a [u8],
    pub renewed_from: Option<i64>,
    /// The pending request this certificate answers; `None` records a new request with it.
    pub pending_request: Option<i64>,
    /// Who decided to issue (the requester itself when the policy issued at once).
    pub decided_by: &'a str,
}

/// A request waiting for an admin, as the log holds it.
#[derive(Clone, Debug)]
pub struct PendingRequest {
    pub id: i64,
    pub requester: String,
    pub csr_der: Vec<u8>,
    /// The CertAttrib lines submitted with it.
    pub attributes: String,
}

/// A user of the web pages.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub name: String,
    pub role: String,
    pub password_hash: String,
}

/// Which rows `list` returns.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// Only certificates that are still valid and expire within this many days.
    pub expiring_within_days: Option<u32>,
}

impl Store {
    /// Opens (creating if needed) the log at `path` and brings its schema up to date.
    #[instrument(skip_all)]
    pub async fn open(path: &Path, max_connections: u32) -> Result<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::from)?;
        // Migrations of one folder run one process at a time: two processes opening a new
        // folder together would otherwise race to create the same tables.
        let lock = lock_file(&path.with_extension("lock"))?;
        let migrated = sqlx::migrate!("../migrations").run(&pool).await;
        drop(lock);
        migrated.map_err(StoreError::from)?;
        let (writer_tx, jobs) = tokio::sync::mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(writer(pool.clone(), jobs));
        Ok(Store {
            pool,
            writer: writer_tx,
        })
    }

    /// A setting of the CA, if set.
    #[instrument(skip_all)]
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// The settings among `keys` that are set, as (key, value) pairs.
    #[instrument(skip_all)]
    pub async fn settings(&self, keys: &[&str]) -> Result<Vec<(String, String)>> {
        let placeholders = vec!["?"; keys.len()].join(", ");
        let sql = format!("SELECT key, value FROM settings WHERE key IN ({placeholders})");
        let mut query = sqlx::query_as(&sql);
        for key in keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Sets several settings at once, and records the change in the audit trail.
    #[instrument(skip_all)]
    pub async fn set_settings(&self, actor: &str, pairs: &[(&str, String)]) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (key, value) in pairs {
            sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            audit(&mut tx, actor, "setting", key, value).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records an issued certificate and its request, and returns the row once it is
    /// committed. Concurrent calls are grouped into one transaction (one fsync) by the
    /// store's writer, each in a savepoint of its own, so one caller's failure touches no
    /// other's row. A serial already in the log yields [`StoreError::DuplicateSerial`], so the
    /// caller can draw a new one.
    #[instrument(skip_all)]
    pub async fn record_issuance(&self, new: NewIssuance<'_>) -> Result<Issuance> {
        let names =
            serde_json::to_string(new.names).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let job = IssuanceJob {
            requester: new.requester.to_owned(),
            source: new.source,
            names,
            names_shown: new.names.join(", "),
            csr_der: new.csr_der.map(<[u8]>::to_vec),
            serial: new.serial.to_owned(),
            not_before: new.not_before.unix_timestamp(),
            not_after: new.not_after.unix_timestamp(),
            key_algorithm: new.key_algorithm.to_owned(),
            sha256: new.sha256.to_owned(),
            der: new.der.to_vec(),
            renewed_from: new.renewed_from,
            pending_request: new.pending_request,
            decided_by: new.decided_by.to_owned(),
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Commit("the store's writer has stopped".into()))?;
        let id = answer
            .await
            .map_err(|_| StoreError::Commit("the store's writer has stopped".into()))??;
        self.issuance(id).await
    }

    /// Records a request left pending for an admin.
    #[instrument(skip_all)]
    pub async fn record_pending(
        &self,
        requester: &str,
        source: RequestSource,
        names: &[String],
        csr_der: &[u8],
        attributes: &str,
    ) -> Result<Issuance> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let names =
            serde_json::to_string(names).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO requests (created_at, requester, source, names, csr, attributes, status, disposition)
             VALUES (?, ?, ?, ?, ?, ?, 'pending', 'Taken Under Submission') RETURNING id",
        )
        .bind(now)
        .bind(requester)
        .bind(source.as_str())
        .bind(&names)
        .bind(csr_der)
        .bind(attributes)
        .fetch_one(&mut *tx)
        .await?;
        audit(&mut tx, requester, "submit", &id.to_string(), "pending").await?;
        tx.commit().await?;
        self.issuance(id).await
    }

    /// A pending request, with what is needed to sign it.
    #[instrument(skip_all)]
    pub async fn pending_request(&self, id: i64) -> Result<PendingRequest> {
        let row =
            sqlx::query("SELECT id, requester, csr, attributes, status FROM requests WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        let status: String = row.try_get("status").map_err(StoreError::from)?;
        if status != "pending" {
            return Err(Error::Conflict(format!(
                "request {id} is not pending: it was {status}"
            )));
        }
        let csr_der: Option<Vec<u8>> = row.try_get("csr").map_err(StoreError::from)?;
        Ok(PendingRequest {
            id,
            requester: row.try_get("requester").map_err(StoreError::from)?,
            csr_der: csr_der
                .ok_or_else(|| StoreError::Corrupt(format!("request {id} has no CSR")))?,
            attributes: row
                .try_get::<Option<String>, _>("attributes")
                .map_err(StoreError::from)?
                .unwrap_or_default(),
        })
    }

    /// Denies a pending request with a reason.
    #[instrument(skip_all)]
    pub async fn deny(&self, id: i64, reason: &str, actor: &str) -> Result<Issuance> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let updated = sqlx::query(
            "UPDATE requests SET status = 'denied', disposition = ?, decided_at = ?, decided_by = ?
             WHERE id = ? AND status = 'pending'",
        )
        .bind(reason)
        .bind(now)
        .bind(actor)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            drop(tx);
            // Say why: unknown, or already decided.
            let row = self.issuance(id).await?;
            return Err(Error::Conflict(format!(
                "request {id} is not pending: it is {}",
                row.status.name()
            )));
        }
        audit(&mut tx, actor, "deny", &id.to_string(), reason).await?;
        tx.commit().await?;
        self.issuance(id).await
    }

    /// Rows requested by `requester`, newest first.
    #[instrument(skip_all)]
    pub async fn list_by_requester(&self, requester: &str) -> Result<Vec<Issuance>> {
        let sql = format!("{SELECT_LIST} WHERE r.requester = ? ORDER BY r.id DESC LIMIT 200");
        let rows = sqlx::query(&sql)
            .bind(requester)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(issuance_from_row).collect()
    }

    /// Adds a user, or replaces the role and password of an existing one.
    #[instrument(skip_all)]
    pub async fn put_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, actor, "user", name, role).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user with this name, if any.
    #[instrument(skip_all)]
    pub async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT name, role, password_hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(UserRecord {
                name: row.try_get("name").map_err(StoreError::from)?,
                role: row.try_get("role").map_err(StoreError::from)?,
                password_hash: row.try_get("password_hash").map_err(StoreError::from)?,
            })
        })
        .transpose()
    }

    /// How many users there are.
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Draws the next CRL number: one more than the last, kept in the log so it only grows
    /// (RFC 5280 §5.2.3).
    #[instrument(skip_all)]
    pub async fn next_crl_number(&self) -> Result<i64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO settings (key, value) VALUES ('crl_number', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
             RETURNING CAST(value AS INTEGER)",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(number)
    }

    /// Records the revocation of the certificate of request `id`. Revoking twice, or a
    /// request without a certificate, is a [`Error::Conflict`] that says why.
    #[instrument(skip_all)]
    pub async fn revoke(&self, id: i64, reason: &str, actor: &str) -> Result<Issuance> {
        let row = self.issuance(id).await?;
        let Some(cert) = &row.certificate else {
            return Err(Error::Conflict(format!(
                "request {id} has no certificate to revoke: it is {}",
                row.status.name()
            )));
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO revocations (request_id, revoked_at, reason) VALUES (?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            drop(tx);
            let row = self.issuance(id).await?;
            let when = row
                .certificate
                .as_ref()
                .and_then(|c| c.revoked_at)
                .map(|t| t.date().to_string())
                .unwrap_or_default();
            return Err(Error::Conflict(format!(
                "certificate {id} (serial {}) was already revoked on {when}",
                cert.serial
            )));
        }
        audit(
            &mut tx,
            actor,
            "revoke",
            &id.to_string(),
            &format!("serial {} reason {reason}", cert.serial),
        )
        .await?;
        tx.commit().await?;
        self.issuance(id).await
    }

    /// Changes whenever a revocation is recorded, by this process or another: the number of
    /// revocations and the newest one's row id.
    pub async fn revocation_marker(&self) -> Result<(i64, i64)> {
        Ok(
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM revocations")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Every revoked certificate that has not yet expired: serial (hex), time, reason.
    #[instrument(skip_all)]
    pub async fn revoked(&self) -> Result<Vec<(String, OffsetDateTime, String)>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT c.serial, v.revoked_at, v.reason FROM revocations v
             JOIN certificates c ON c.request_id = v.request_id
             WHERE c.not_after >= ? ORDER BY v.revoked_at",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(serial, at, reason)| {
                let at = OffsetDateTime::from_unix_timestamp(at)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                Ok((serial, at, reason))
            })
            .collect()
    }

    /// The row with this request id.
    #[instrument(skip_all)]
    pub async fn issuance(&self, id: i64) -> Result<Issuance> {
        let sql = format!("{SELECT} WHERE r.id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        issuance_from_row(&row)
    }

    /// The row of the certificate with this serial (lowercase hex, no separators).
    #[instrument(skip_all)]
    pub async fn issuance_by_serial(&self, serial: &str) -> Result<Issuance> {
        let sql = format!("{SELECT} WHERE c.serial = ?");
        let row = sqlx::query(&sql)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("a certificate with serial {serial}")))?;
        issuance_from_row(&row)
    }

    /// The rows matching `filter`, oldest first, without the certificates' DER (read one row
    /// with [`Store::issuance`] for that).
    #[instrument(skip_all)]
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Issuance>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut clauses: Vec<&str> = Vec::new();
        match filter.status {
            None => {}
            Some(Status::Pending) => clauses.push("r.status = 'pending'"),
            Some(Status::Denied) => clauses.push("r.status = 'denied'"),
            Some(Status::Revoked) => clauses.push("v.request_id IS NOT NULL"),
            Some(Status::Expired) => clauses.push("v.request_id IS NULL AND c.not_after < ?1"),
            Some(Status::Valid) => clauses.push("v.request_id IS NULL AND c.not_after >= ?1"),
        }
        if filter.expiring_within_days.is_some() {
            clauses.push("v.request_id IS NULL AND c.not_after >= ?1 AND c.not_after <= ?2");
        }
        let mut sql = SELECT_LIST.to_owned();
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY r.id");
        let horizon = now + i64::from(filter.expiring_within_days.unwrap_or(0)) * 86_400;
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(horizon)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(issuance_from_row).collect()
    }

    /// Appends an event to the audit trail.
    #[instrument(skip_all)]
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        audit(&mut tx, actor, action, subject, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// SQLite's own checks (`PRAGMA integrity_check` and `foreign_key_check`), and every
    /// certificate's DER against its recorded fingerprint. Returns the problems found (none
    /// when the log is sound) and how many certificates were read.
    #[instrument(skip_all)]
    pub async fn check(&self) -> Result<(Vec<String>, usize)> {
        let mut problems = Vec::new();
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        if integrity != ["ok"] {
            problems.extend(integrity.into_iter().map(|p| format!("integrity: {p}")));
        }
        let foreign: Vec<(String, i64)> =
            sqlx::query_as("SELECT \"table\", rowid FROM pragma_foreign_key_check")
                .fetch_all(&self.pool)
                .await?;
        problems.extend(
            foreign
                .into_iter()
                .map(|(table, row)| format!("row {row} of {table} points at nothing")),
        );
        let rows: Vec<(i64, String, Vec<u8>)> =
            sqlx::query_as("SELECT request_id, sha256, der FROM certificates")
                .fetch_all(&self.pool)
                .await?;
        for (id, sha256, der) in &rows {
            if &crate::certificate::Fingerprint::of(der).hex() != sha256 {
                problems.push(format!(
                    "certificate {id}: its DER does not match its recorded SHA-256"
                ));
            }
        }
        Ok((problems, rows.len()))
    }

    /// Closes every connection, checkpointing the write-ahead log.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

const SELECT: &str =
    "SELECT r.id, r.created_at, r.requester, r.source, r.names AS request_names, r.status,
        r.disposition, c.serial, c.names AS cert_names, c.not_before, c.not_after, c.key_algorithm,
        c.sha256, c.der, c.renewed_from, v.revoked_at, v.reason
    FROM requests r
    LEFT JOIN certificates c ON c.request_id = r.id
    LEFT JOIN revocations v ON v.request_id = r.id";

/// [`SELECT`] without the certificates' DER, for lists: a list never needs it, and copying
/// a kilobyte a row out of SQLite was most of the time `ca list` took on a large log.
const SELECT_LIST: &str =
    "SELECT r.id, r.created_at, r.requester, r.source, r.names AS request_names, r.status,
        r.disposition, c.serial, c.names AS cert_names, c.not_before, c.not_after, c.key_algorithm,
        c.sha256, x'' AS der, c.renewed_from, v.revoked_at, v.reason
    FROM requests r
    LEFT JOIN certificates c ON c.request_id = r.id
    LEFT JOIN revocations v ON v.request_id = r.id";

async fn audit(
    tx: &mut sqlx::SqliteConnection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .execute(tx)
        .await?;
    Ok(())
}

fn issuance_from_row(row: &SqliteRow) -> Result<Issuance> {
    let time = |column: &str| -> Result<OffsetDateTime> {
        let secs: i64 = row.try_get(column).map_err(StoreError::from)?;
        OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|err| StoreError::Corrupt(err.to_string()).into())
    };
    let names = |column: &str| -> Result<Vec<String>> {
        let json: String = row.try_get(column).map_err(StoreError::from)?;
        serde_json::from_str(&json).map_err(|err| StoreError::Corrupt(err.to_string()).into())
    };
    let get = |column: &str| -> Result<Option<String>> {
        Ok(row.try_get(column).map_err(StoreError::from)?)
    };
    let serial: Option<String> = get("serial")?;
    let certificate = match serial {
        None => None,
        Some(serial) => {
            let revoked_at: Option<i64> = row.try_get("revoked_at").map_err(StoreError::from)?;
            Some(CertificateRecord {
                serial,
                not_before: time("not_before")?,
                not_after: time("not_after")?,
                key_algorithm: get("key_algorithm")?.unwrap_or_default(),
                sha256: get("sha256")?.unwrap_or_default(),
                der: row.try_get("der").map_err(StoreError::from)?,
                revoked_at: revoked_at
                    .map(OffsetDateTime::from_unix_timestamp)
                    .transpose()
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
                revocation_reason: get("reason")?,
                renewed_from: row.try_get("renewed_from").map_err(StoreError::from)?,
            })
        }
    };
    let request_status = get("status")?.unwrap_or_default();
    let status = match (&certificate, request_status.as_str()) {
        (Some(cert), _) if cert.revoked_at.is_some() => Status::Revoked,
        (Some(cert), _) if cert.not_after < OffsetDateTime::now_utc() => Status::Expired,
        (Some(_), _) => Status::Valid,
        (None, "denied") => Status::Denied,
        (None, _) => Status::Pending,
    };
    Ok(Issuance {
        id: row.try_get("id").map_err(StoreError::from)?,
        requested_at: time("created_at")?,
        requester: get("requester")?.unwrap_or_default(),
        source: get("source")?.unwrap_or_default(),
        names: if certificate.is_some() {
            names("cert_names")?
        } else {
            names("request_names")?
        },
        disposition: get("disposition")?.unwrap_or_default(),
        status,
        certificate,
    })
}

/// Takes an exclusive advisory lock on `path` (created if missing); released on drop.
pub(crate) fn lock_file(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|err| Error::io(path, err))?;
    file.lock().map_err(|err| Error::io(path, err))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn new_issuance<'a>(
        serial: &'a str,
        names: &'a [String],
        not_after: OffsetDateTime,
    ) -> NewIssuance<'a> {
        NewIssuance {
            requester: "tester",
            source: RequestSource::Cli,
            names,
            csr_der: None,
            serial,
            not_before: OffsetDateTime::now_utc(),
            not_after,
            key_algorithm: "ecdsa-p256",
            sha256: serial,
            der: b"not really DER",
            renewed_from: None,
            pending_request: None,
            decided_by: "tester",
        }
    }

    #[tokio::test]
    async fn records_and_reads_back_an_issuance_on_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ca.db"), 1).await.unwrap();
        let names = vec!["mail.example.com".to_owned()];
        let later = OffsetDateTime::now_utc() + time::Duration::days(100);
        let row = store
            .record_issuance(new_issuance("0a", &names, later))
            .await
            .unwrap();
        assert_eq!(row.status, Status::Valid);
        assert_eq!(row.names, names);
        let again = store.issuance_by_serial("0a").await.unwrap();
        assert_eq!(again.id, row.id);
        store.close().await;
        // The row survives a reopen.
        let reopened = Store::open(&dir.path().join("ca.db"), 1).await.unwrap();
        assert_eq!(
            reopened
                .issuance(row.id)
                .await
                .unwrap()
                .certificate
                .unwrap()
                .serial,
            "0a"
        );
    }

    #[tokio::test]
    async fn refuses_a_duplicate_serial_and_keeps_no_half_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ca.db"), 1).await.unwrap();
        let names = vec!["a.example.com".to_owned()];
        let later = OffsetDateTime::now_utc() + time::Duration::days(1);
        store
            .record_issuance(new_issuance("0b", &names, later))
            .await
            .unwrap();
        let mut dup = new_issuance("0b", &names, later);
        dup.sha256 = "other";
        assert!(matches!(
            store.record_issuance(dup).await,
            Err(Error::Store(StoreError::DuplicateSerial))
        ));
        // The request row of the failed attempt was rolled back with it.
        assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn filters_by_status_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ca.db"), 1).await.unwrap();
        let names = vec!["a.example.com".to_owned()];
        let now = OffsetDateTime::now_utc();
        store
            .record_issuance(new_issuance("01", &names, now + time::Duration::days(10)))
            .await
            .unwrap();
        store
            .record_issuance(new_issuance("02", &names, now + time::Duration::days(300)))
            .await
            .unwrap();
        store
            .record_issuance(new_issuance("03", &names, now - time::Duration::days(1)))
            .await
            .unwrap();
        let serials = |rows: Vec<Issuance>| -> Vec<String> {
            rows.into_iter()
                .map(|r| r.certificate.unwrap().serial)
                .collect()
        };
        let valid = ListFilter {
            status: Some(Status::Valid),
            expiring_within_days: None,
        };
        assert_eq!(serials(store.list(&valid).await.unwrap()), ["01", "02"]);
        let expiring = ListFilter {
            status: None,
            expiring_within_days: Some(30),
        };
        assert_eq!(serials(store.list(&expiring).await.unwrap()), ["01"]);
        let expired = ListFilter {
            status: Some(Status::Expired),
            expiring_within_days: None,
        };
        assert_eq!(serials(store.list(&expired).await.unwrap()), ["03"]);
    }

    #[tokio::test]
    async fn a_group_commit_keeps_every_good_row_when_one_serial_collides() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ca.db"), 4).await.unwrap();
        let names = vec!["a.example.com".to_owned()];
        let later = OffsetDateTime::now_utc() + time::Duration::days(1);
        store
            .record_issuance(new_issuance("ff", &names, later))
            .await
            .unwrap();
        let serials: Vec<String> = (0..40)
            .map(|i| {
                if i == 17 {
                    "ff".to_owned()
                } else {
                    format!("{i:02x}")
                }
            })
            .collect();
        let fingerprints: Vec<String> = (0..40).map(|i| format!("fp{i}")).collect();
        let tasks = serials.into_iter().zip(fingerprints).map(|(serial, fp)| {
            let store = store.clone();
            let names = names.clone();
            async move {
                let mut new = new_issuance(&serial, &names, later);
                new.sha256 = &fp;
                store.record_issuance(new).await.map(|row| row.id)
            }
        });
        let results = futures_join_all(tasks).await;
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

    /// Runs futures concurrently on the test's runtime and collects their outputs in order.
    async fn futures_join_all<F: Future + Send + 'static>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn check_finds_a_certificate_whose_der_was_altered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ca.db"), 1).await.unwrap();
        let names = vec!["a.example.com".to_owned()];
        let der = b"some DER".to_vec();
        let fingerprint = crate::certificate::Fingerprint::of(&der).hex();
        let mut new = new_issuance("0c", &names, OffsetDateTime::now_utc());
        new.sha256 = &fingerprint;
        new.der = &der;
        store.record_issuance(new).await.unwrap();
        let (problems, count) = store.check().await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(count, 1);
        sqlx::query("UPDATE certificates SET der = x'00'")
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
        let store = Store::open(&dir.path().join("ca.db"), 1).await.unwrap();
        store.audit("tester", "test", "", "").await.unwrap();
        let deleted = sqlx::query("DELETE FROM audit").execute(&store.pool).await;
        assert!(deleted.is_err());
    }
}
