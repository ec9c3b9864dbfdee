//! The issuance log: SQLite in WAL mode with foreign keys on, schema from `migrations/`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so concurrent processes queue on SQLite's
//! write lock (with a generous busy timeout) instead of failing with "database is locked", and
//! a certificate is handed out only after the transaction holding its row has committed.
//!
//! The parts: [`writer`] commits issuances in groups; [`requests`] reads and decides requests;
//! [`revocations`] records revocations and numbers CRLs; [`ocsp`] keeps OCSP responses signed
//! ahead; [`changes`] tells when anything was committed; [`users`], [`settings`] and [`audit`]
//! keep the rest. [`records`] holds the types the rest of the authority sees.

mod acme;
mod audit;
mod changes;
mod crl;
mod ocsp;
mod records;
mod requests;
mod revocations;
mod settings;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tracing::instrument;

use crate::certificate::Fingerprint;
use crate::error::{Error, Result, StoreError};
use crate::files::lock_file;

pub(crate) use acme::NewAccountOutcome;
pub use ocsp::{CertificateState, PresignedResponse};
pub use records::{
    CertificateRecord, CertificateRef, Issuance, ListFilter, NewIssuance, PendingRequest, Refusal,
    RequestId, RequestSource, Status, UserRecord,
};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// True when the database holds an issuance log (its migrations table), not an empty file.
async fn is_log(pool: &SqlitePool) -> Result<bool> {
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(|_| StoreError::Corrupt("the file is not a SQLite database".into()))?;
    Ok(tables == 1)
}

/// An open issuance log.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    writer: writer::Writer,
    path: PathBuf,
    /// The ACME nonce key, once read.
    nonce_key: tokio::sync::OnceCell<Vec<u8>>,
    changes: changes::Changes,
}

/// How a log is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A new log for a new CA: created, and brought up to the current schema.
    Create,
    /// An existing log, read and written; its schema is brought up to date. A missing or
    /// empty file is refused: the log is never silently replaced.
    Write,
    /// An existing log, only read (a read-only folder works too).
    Read,
}

impl Store {
    /// Opens the log at `path` as `access` says.
    #[instrument(skip_all)]
    pub async fn open(path: &Path, max_connections: u32, access: Access) -> Result<Store> {
        if access != Access::Create {
            match std::fs::metadata(path) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::LogMissing(path.to_owned()));
                }
                Err(err) => return Err(Error::io(path, err)),
                Ok(meta) if meta.len() == 0 => return Err(Error::LogEmpty(path.to_owned())),
                Ok(_) => {}
            }
        }
        let pool = match access {
            Access::Read => Self::connect_read_only(path, max_connections).await?,
            Access::Create | Access::Write => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(access == Access::Create)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(BUSY_TIMEOUT);
                SqlitePoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(BUSY_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(StoreError::from)?
            }
        };
        let migrator = sqlx::migrate!("../migrations");
        if access != Access::Create && !is_log(&pool).await? {
            pool.close().await;
            return Err(Error::LogEmpty(path.to_owned()));
        }
        if access == Access::Read {
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&pool)
                    .await?;
            let latest = migrator.iter().map(|m| m.version).max();
            if applied < latest {
                pool.close().await;
                return Err(Error::LogOutdated(path.to_owned()));
            }
        } else {
            // Migrations of one folder run one process at a time: two processes opening a
            // new folder together would otherwise race to create the same tables.
            let lock = lock_file(&path.with_extension("lock"))?;
            let migrated = migrator.run(&pool).await;
            drop(lock);
            migrated.map_err(StoreError::from)?;
        }
        let writer = writer::Writer::start(pool.clone());
        Ok(Store {
            pool,
            writer,
            path: path.to_owned(),
            nonce_key: tokio::sync::OnceCell::new(),
            changes: changes::Changes::default(),
        })
    }

    /// A read-only pool: through SQLite's locks when the folder allows it, else (a read-only
    /// folder, where the write-ahead log's index cannot be made) as an unchanging file.
    async fn connect_read_only(path: &Path, max_connections: u32) -> Result<SqlitePool> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(BUSY_TIMEOUT);
        if let Ok(locked) = pool.clone().connect_with(options.clone()).await {
            let readable = sqlx::query("SELECT 1 FROM sqlite_master LIMIT 1")
                .fetch_optional(&locked)
                .await
                .is_ok();
            if readable {
                return Ok(locked);
            }
            locked.close().await;
        }
        // An unchanging file is read without its write-ahead log: refused when there is one
        // to read, rather than showing the log as it was before those changes.
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        if std::fs::metadata(&wal).is_ok_and(|meta| meta.len() > 0) {
            return Err(Error::Conflict(format!(
                "{} holds changes not yet written into {}, and SQLite cannot read them in a folder it may not write: \
                 open it once where it is writable (or copy the folder somewhere writable)",
                wal.display(),
                path.display()
            )));
        }
        Ok(pool
            .connect_with(options.immutable(true))
            .await
            .map_err(StoreError::from)?)
    }

    /// The file the log is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A number that changes whenever anything is committed to the log, by any connection of
    /// any process, as read by a look that began after `since`: what is kept in memory from
    /// the log holds while it reads the same. `None` when it cannot be read.
    pub(crate) fn change_counter(&self, since: Instant) -> Option<i64> {
        self.changes.read(&self.path, since)
    }

    /// Writes a consistent copy of the whole log to `target` (which must not exist), while
    /// other processes go on writing: SQLite's `VACUUM INTO` reads one snapshot.
    #[instrument(skip_all)]
    pub async fn backup(&self, target: &Path) -> Result<()> {
        let text = target.to_str().ok_or_else(|| {
            Error::InvalidInput(format!("{} is not a UTF-8 path", target.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(text)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// SQLite's own checks (`PRAGMA integrity_check` and `foreign_key_check`), and every
    /// certificate's DER against its recorded fingerprint (also for rows too damaged to be
    /// read whole). Returns the problems found (none when the log is sound) and how many
    /// certificates were read.
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
