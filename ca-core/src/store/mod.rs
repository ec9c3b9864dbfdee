//! The issuance log: SQLite in WAL mode with foreign keys on, schema from `migrations/`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so concurrent processes queue on SQLite's
//! write lock (with a generous busy timeout) instead of failing with "database is locked", and
//! a certificate is handed out only after the transaction holding its row has committed.
//!
//! The parts: [`writer`] commits issuances in groups; [`requests`] reads and decides requests;
//! [`revocations`] records revocations and numbers CRLs; [`users`], [`settings`] and [`audit`]
//! keep the rest. [`records`] holds the types the rest of the authority sees.

mod audit;
mod records;
mod requests;
mod revocations;
mod settings;
mod users;
mod writer;

use std::path::Path;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tracing::instrument;

use crate::certificate::Fingerprint;
use crate::error::{Result, StoreError};
use crate::files::lock_file;

pub use records::{
    CertificateRecord, CertificateRef, Issuance, ListFilter, NewIssuance, PendingRequest,
    RequestId, RequestSource, Status, UserRecord,
};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// An open issuance log.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    writer: writer::Writer,
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
        let writer = writer::Writer::start(pool.clone());
        Ok(Store { pool, writer })
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
            if Fingerprint::from_hex(sha256) != Some(Fingerprint::of(der)) {
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

#[cfg(test)]
pub(crate) mod tests;
