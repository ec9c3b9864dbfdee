//! The issuance log, on one of two backends with one interface:
//!
//! - SQLite, a file in the data folder (the default): WAL, foreign keys on, `synchronous=FULL`
//!   (a command's issuance into a write-ahead log nothing wrote to yet is synced by the
//!   checkpoint that follows it instead, see [`writer`]); a write is one `BEGIN IMMEDIATE`
//!   transaction, so processes queue on SQLite's write lock.
//! - PostgreSQL, one database that several servers and commands share: a write that reads
//!   before it writes takes one transaction-scoped advisory lock first, the same queue across
//!   every node; issuances need no lock (ids come from sequences, serials are unique).
//!
//! Both run the same queries through sqlx's `Any` driver; only opening, the write lock, the
//! backup and the integrity checks differ, and they are decided in this file. Nothing above
//! the store knows which backend it runs on. Schemas: `migrations/sqlite/` and
//! `migrations/postgres/`, applied at open.
//!
//! The parts: [`writer`] commits issuances in groups; [`requests`] reads and decides requests;
//! [`revocations`] records revocations; [`crl`] keeps the current CRL and its number; [`ocsp`]
//! keeps OCSP responses signed ahead; [`changes`] tells when anything was committed to a
//! SQLite log, and [`memo`] keeps the settings and users' states in memory until then;
//! [`tallies`] counts the log for the metrics from what its triggers keep; [`users`],
//! [`settings`], [`audit`] and [`acme`] keep the rest; [`roles`] gives a PostgreSQL runtime
//! role its grants; [`copy`] copies a whole log from one backend to another (migration,
//! backups of a PostgreSQL log). [`records`] holds the types the rest of the authority sees.

/// SQL: whether a certificate later in the line of renewals of the certificate whose request id
/// is `$id` and notAfter `$not_after` (its renewal, that renewal's, and so on) carries the line
/// on: not revoked, and valid at least as long as it. Only then is its expiry no one's concern:
/// a certificate whose renewals were all revoked is still the one its server holds, and one
/// renewed for a shorter time than it outlives its renewal. The renewals are found through
/// their key on `renewed_from`; a line is read once (UNION), however a log was altered.
///
/// Most certificates were never renewed: one look in that key says so (SQLite evaluates
/// `AND` from the left and stops there), and only a renewed certificate's line is walked.
macro_rules! renewal_in_force {
    ($id:literal, $not_after:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM certificates n WHERE n.renewed_from = ",
            $id,
            ")
             AND EXISTS (WITH RECURSIVE line(id, not_after) AS (
                 SELECT n.request_id, n.not_after FROM certificates n WHERE n.renewed_from = ",
            $id,
            "
                 UNION SELECT n.request_id, n.not_after FROM certificates n
                       JOIN line ON n.renewed_from = line.id)
             SELECT 1 FROM line
             WHERE line.not_after >= ",
            $not_after,
            "
               AND NOT EXISTS (SELECT 1 FROM revocations w WHERE w.request_id = line.id)))"
        )
    };
}

mod acme;
mod audit;
mod changes;
mod copy;
mod crl;
#[cfg(test)]
pub(crate) use crl::PART as CRL_PART;
mod holders;
mod memo;
mod notices;
mod ocsp;
mod reader;
mod records;
mod requests;
mod revocations;
mod roles;
mod settings;
mod tallies;
mod users;
mod writer;
pub(crate) use writer::renewed_already;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use tracing::instrument;

use crate::certificate::Fingerprint;
use crate::error::{Error, Result, StoreError};
use crate::files::lock_file;

pub use crate::location::{DatabaseUrl, LogLocation};
pub(crate) use acme::{KeyRollover, NewAccountOutcome};
pub use audit::AUDIT_ACTIONS;
pub use copy::CopyReport;
pub use holders::Holder;
pub(crate) use notices::{NewNotice, Notice};
pub use ocsp::{CertificateState, PresignedResponse};
pub use records::{
    AuditEvent, AuditFilter, CertificateRecord, CertificateRef, Issuance, ListFilter, ListKey,
    ListOrder, ListPage, NameSearch, NewIssuance, OwnCertificate, PendingRequest,
    RESPONDER_REQUESTER, Refusal, RequestId, RequestSource, SERVER_REQUESTER, Status, UserRecord,
};
pub use roles::RoleName;
pub use settings::Audit;
#[cfg(test)]
pub(crate) use settings::audited;
pub use tallies::LogCounts;

/// How long a SQLite writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
/// What each connection of a SQLite pool sets: waits for other processes' locks (as long as
/// [`BUSY_TIMEOUT`]) and checks references.
const READ_PRAGMAS: &str = "PRAGMA busy_timeout = 60000; PRAGMA foreign_keys = ON;";
/// [`READ_PRAGMAS`], and every commit durable before it returns.
const WRITE_PRAGMAS: &str =
    "PRAGMA busy_timeout = 60000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";
/// A page cache of 512 KiB rather than SQLite's 2 MiB for each connection of a pool: a
/// server's eight connections each filled theirs on a large log (signing OCSP responses ahead
/// walks every certificate), ~10 MiB of its resident memory, where a page not cached is a read
/// from the kernel's page cache.
const CACHE_PRAGMA: &str = "PRAGMA cache_size = -512";

/// Sets up a new connection of a SQLite pool with `pragmas`. The cache's size is set apart
/// and may fail: it reads the schema, which a damaged log cannot give, and the pool would
/// retry the connection until its timeout; the first query reports the damage instead.
async fn set_up(conn: &mut sqlx::AnyConnection, pragmas: &str) -> Result<(), sqlx::Error> {
    conn.execute(pragmas).await?;
    if let Err(err) = conn.execute(CACHE_PRAGMA).await {
        tracing::debug!(%err, "could not set the page cache's size");
    }
    Ok(())
}

/// How long a request waits for a PostgreSQL connection: while the database is away, callers
/// hear so after this long (a server answers 503) rather than waiting on.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The key of the PostgreSQL advisory lock every write transaction that reads before it
/// writes takes ("ca log" in ASCII): SQLite's one-writer rule, across nodes.
const PG_WRITE_LOCK: i64 = 0x6361_206c_6f67;

/// Which database a log is kept in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open issuance log.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: writer::Writer,
    /// SQLite's reader of many rows (`None` on PostgreSQL).
    reader: Option<reader::Reader>,
    location: LogLocation,
    /// The ACME nonce key, once read.
    nonce_key: tokio::sync::OnceCell<Vec<u8>>,
    changes: changes::Changes,
    memo: Arc<memo::Memo>,
    /// Opened only to read ([`Access::Read`]): closing it writes nothing either.
    read_only: bool,
}

/// How a log is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A new log for a new CA: created (a SQLite file; a PostgreSQL database must exist, and
    /// gets the tables), and brought up to the current schema.
    Create,
    /// An existing log, read and written; its schema is brought up to date. A missing or
    /// empty log is refused: the log is never silently replaced.
    Write,
    /// An existing log, only read (a read-only folder works too).
    Read,
}

impl Store {
    /// Opens the log at `location` as `access` says.
    #[instrument(skip_all)]
    pub async fn open(
        location: &LogLocation,
        max_connections: u32,
        access: Access,
    ) -> Result<Store> {
        sqlx::any::install_default_drivers();
        if let (LogLocation::File(path), Access::Write | Access::Read) = (location, access)
            && let Some(store) = Self::open_current(path, max_connections, access)
        {
            return Ok(store);
        }
        let (pool, backend) = match location {
            LogLocation::File(path) => (
                Self::connect_sqlite(path, max_connections, access).await?,
                Backend::Sqlite,
            ),
            LogLocation::Postgres(url) => (
                Self::connect_postgres(url, max_connections).await?,
                Backend::Postgres,
            ),
        };
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        if access != Access::Create && !is_log(&pool, backend).await? {
            pool.close().await;
            return Err(Error::LogEmpty(location.clone()));
        }
        if access == Access::Read {
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&pool)
                    .await?;
            let latest = migrator.iter().map(|m| m.version).max();
            if applied < latest {
                pool.close().await;
                return Err(Error::LogOutdated(location.clone()));
            }
        } else if backend == Backend::Postgres && !may_change_schema(&pool).await? {
            // A runtime role (README "Several nodes on PostgreSQL"): it may not create tables,
            // so the log must be up to date already, and granted to it, by its owner.
            let latest = migrator.iter().map(|m| m.version).max();
            let granted = is_log(&pool, backend).await?
                && sqlx::query_scalar(
                    "SELECT has_table_privilege(
                         quote_ident(current_schema()) || '._sqlx_migrations', 'SELECT')",
                )
                .fetch_one(&pool)
                .await?;
            let applied = if granted {
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&pool)
                    .await?
            } else {
                None
            };
            if applied < latest {
                pool.close().await;
                return Err(Error::SchemaNotOwned(location.clone()));
            }
        } else {
            // Migrations of one log run one process at a time: two processes opening a new
            // folder together would otherwise race to create the same tables. PostgreSQL's
            // migrator takes an advisory lock of its own; SQLite's takes none.
            let lock = match location {
                LogLocation::File(path) => Some(lock_file(&path.with_extension("lock"))?),
                LogLocation::Postgres(_) => None,
            };
            let migrated = match backend {
                Backend::Sqlite => migrate_sqlite(&pool, &migrator).await,
                Backend::Postgres => migrator
                    .run(&pool)
                    .await
                    .map_err(|err| StoreError::from(err).into()),
            };
            drop(lock);
            if let Err(err) = migrated {
                pool.close().await;
                return Err(err);
            }
        }
        let changes = changes::Changes::default();
        let writer = match location {
            LogLocation::File(path) => writer::Writer::sqlite(path, None, changes.vouches()),
            LogLocation::Postgres(_) => writer::Writer::postgres(pool.clone()),
        };
        let reader = location.file().map(reader::Reader::new);
        Ok(Store {
            pool,
            backend,
            writer,
            reader,
            location: location.clone(),
            nonce_key: tokio::sync::OnceCell::new(),
            changes,
            memo: Arc::default(),
            read_only: access == Access::Read,
        })
    }

    /// The SQLite log at `path` opened without a connection through the pool, when it is a
    /// log and its schema is current (every migration applied, with the same checksum, and
    /// no other): one connection on the caller's thread checks it and stays open as the one
    /// that watches for changes; the pool connects only when a query needs it. A one-shot
    /// command that reads and writes through its own connections (`ca issue`, `ca list`)
    /// then starts no worker thread and parses the schema once less. `None` for anything
    /// else (a log to create or migrate, one that cannot be read this way, any error): the
    /// caller opens it the usual way, which reports what is wrong.
    fn open_current(path: &Path, max_connections: u32, access: Access) -> Option<Store> {
        use rusqlite::OpenFlags;
        if !std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0) {
            return None;
        }
        let mode = match access {
            Access::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
            Access::Write | Access::Create => OpenFlags::SQLITE_OPEN_READ_WRITE,
        };
        let connection =
            rusqlite::Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .ok()?;
        connection.busy_timeout(BUSY_TIMEOUT).ok()?;
        if access == Access::Write {
            // What the probe of the usual way sets (a log always runs in WAL mode), and what
            // the writer's connection is set up with: this one writes the command's
            // issuances (see [`changes::Changes::write`]).
            connection
                .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .ok()?;
            connection.execute_batch(writer::SQLITE_PRAGMAS).ok()?;
        }
        if !schema_is_current(&connection, &sqlx::migrate!("../migrations/sqlite")).ok()? {
            return None;
        }
        let mode = if access == Access::Read { "ro" } else { "rw" };
        let options = sqlite_options(path, mode, false).ok()?;
        let after_connect = if access == Access::Read {
            READ_PRAGMAS
        } else {
            WRITE_PRAGMAS
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(BUSY_TIMEOUT)
            .after_connect(move |conn, _| Box::pin(set_up(conn, after_connect)))
            .connect_lazy_with(options);
        let location = LogLocation::File(path.to_owned());
        let changes = changes::Changes::adopt(connection, access == Access::Write);
        Some(Store {
            pool,
            backend: Backend::Sqlite,
            writer: writer::Writer::sqlite(path, Some(changes.clone()), changes.vouches()),
            reader: Some(reader::Reader::new(path)),
            location,
            nonce_key: tokio::sync::OnceCell::new(),
            changes,
            memo: Arc::default(),
            read_only: access == Access::Read,
        })
    }

    /// A pool of connections to the SQLite file at `path`.
    async fn connect_sqlite(path: &Path, max_connections: u32, access: Access) -> Result<AnyPool> {
        if access != Access::Create {
            match std::fs::metadata(path) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::LogMissing(LogLocation::File(path.to_owned())));
                }
                Err(err) => return Err(Error::io(path, err)),
                Ok(meta) if meta.len() == 0 => {
                    return Err(Error::LogEmpty(LogLocation::File(path.to_owned())));
                }
                Ok(_) => {}
            }
        }
        match access {
            Access::Read => Self::connect_read_only(path, max_connections).await,
            Access::Create | Access::Write => {
                let mode = if access == Access::Create {
                    "rwc"
                } else {
                    "rw"
                };
                if access == Access::Create {
                    // The log holds password hashes and ACME keys: owner-only from the
                    // start, whatever the umask (SQLite gives its -wal and -shm files the
                    // log's own mode).
                    use std::os::unix::fs::OpenOptionsExt;
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                    {
                        Ok(_) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(err) => return Err(Error::io(path, err)),
                    }
                }
                let options = sqlite_options(path, mode, false)?;
                // One connection first, whose failure is reported at once: a pool retries a
                // connection hook that fails (a folder that cannot be written) until its
                // timeout. It stays open until the pool has its first connection: the last
                // connection to close checkpoints and removes the write-ahead log, which the
                // next one would make again (three fsyncs more for every command).
                use sqlx::Connection;
                let mut probe = sqlx::AnyConnection::connect_with(&options)
                    .await
                    .map_err(StoreError::from)?;
                // The schema's version is read too: the first read opens the write-ahead
                // log's index, which a full disk refuses (then the pool would retry it).
                let pragmas = probe
                    .execute(
                        "PRAGMA busy_timeout = 60000; PRAGMA journal_mode = WAL; PRAGMA schema_version;",
                    )
                    .await;
                if let Err(err) = pragmas {
                    let _ = probe.close().await;
                    return Err(StoreError::from(err).into());
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(BUSY_TIMEOUT)
                    .after_connect(|conn, _| Box::pin(set_up(conn, WRITE_PRAGMAS)))
                    .connect_with(options)
                    .await;
                let _ = probe.close().await;
                Ok(pool.map_err(StoreError::from)?)
            }
        }
    }

    /// A read-only pool: through SQLite's locks when the folder allows it, else (a read-only
    /// folder, where the write-ahead log's index cannot be made) as an unchanging file.
    async fn connect_read_only(path: &Path, max_connections: u32) -> Result<AnyPool> {
        let pool = || {
            AnyPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(BUSY_TIMEOUT)
                .after_connect(|conn, _| Box::pin(set_up(conn, READ_PRAGMAS)))
        };
        if let Ok(locked) = pool()
            .connect_with(sqlite_options(path, "ro", false)?)
            .await
        {
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
        let wal = beside(path, "-wal");
        if std::fs::metadata(&wal).is_ok_and(|meta| meta.len() > 0) {
            return Err(Error::Conflict(format!(
                "{} holds changes not yet written into {}, and SQLite cannot read them in a folder it may not write: \
                 open it once where it is writable (or copy the folder somewhere writable)",
                wal.display(),
                path.display()
            )));
        }
        Ok(pool()
            .connect_with(sqlite_options(path, "ro", true)?)
            .await
            .map_err(StoreError::from)?)
    }

    /// A pool of connections to a PostgreSQL database.
    async fn connect_postgres(url: &DatabaseUrl, max_connections: u32) -> Result<AnyPool> {
        let options: AnyConnectOptions = url.secret().parse().map(quiet).map_err(|_| {
            Error::InvalidInput(format!("'{url}' is not a database URL the driver can read"))
        })?;
        // The driver's own words, without the URL (they may hold a password).
        let unavailable = |why: String| {
            Error::Store(StoreError::Unavailable(format!(
                "cannot connect to the PostgreSQL database {url}: {why}"
            )))
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match pool {
            Ok(pool) => Ok(pool),
            // The pool tries again what fails (a refused connection, a name that does not
            // resolve) until its time is up, and then says only that: one connection of its
            // own says why.
            Err(sqlx::Error::PoolTimedOut) => {
                use sqlx::Connection;
                let once = tokio::time::timeout(
                    PG_ACQUIRE_TIMEOUT,
                    sqlx::AnyConnection::connect_with(&options),
                )
                .await;
                Err(unavailable(match once {
                    Ok(Err(err)) => describe(&err),
                    _ => describe(&sqlx::Error::PoolTimedOut),
                }))
            }
            Err(err) => Err(unavailable(describe(&err))),
        }
    }

    /// Where the log lives.
    pub fn location(&self) -> &LogLocation {
        &self.location
    }

    /// Which database the log is kept in.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a write transaction that reads before it writes, queued behind every other such
    /// transaction of every process (SQLite's write lock; PostgreSQL's advisory lock).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        begin_write(&self.pool, self.backend).await
    }

    /// Runs `read` on the connection that watches a SQLite log for changes, on the caller's
    /// thread (see [`changes::Changes::query`]); `None` on PostgreSQL, or when it cannot.
    fn read_here<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        match &self.location {
            LogLocation::File(path) => self.changes.query(path, read),
            LogLocation::Postgres(_) => None,
        }
    }

    /// A number that changes whenever anything is committed to the log, by any connection of
    /// any process, as read by a look that began after `since`: what is kept in memory from
    /// the log holds while it reads the same. `None` when it cannot be read, and always on
    /// PostgreSQL, where every answer is read from the database (a commit on another node
    /// would otherwise reach this one only after a round trip of its own).
    pub(crate) fn change_counter(&self, since: Instant) -> Option<i64> {
        match &self.location {
            LogLocation::File(path) => self.changes.read(path, since).map(|seen| seen.any),
            LogLocation::Postgres(_) => None,
        }
    }

    /// As [`Store::change_counter`], but not moved by this process's issuances written by
    /// its writer thread (see [`changes::Vouches`]), which write no setting and no user:
    /// what is kept in memory of those holds while it reads the same.
    fn settings_counter(&self, since: Instant) -> Option<i64> {
        match &self.location {
            LogLocation::File(path) => self
                .changes
                .read(path, since)
                .map(|seen| seen.beyond_issuances),
            LogLocation::Postgres(_) => None,
        }
    }

    /// Copies the SQLite log at `path` into `target` (a new file) through SQLite, read-only,
    /// whatever release wrote it: an older release's backup is brought up to date in the copy,
    /// and stays as it was.
    pub(crate) async fn copy_sqlite_file(path: &Path, target: &Path) -> Result<()> {
        sqlx::any::install_default_drivers();
        let text = target.to_str().ok_or_else(|| {
            Error::InvalidInput(format!("{} is not a UTF-8 path", target.display()))
        })?;
        let pool = Self::connect_sqlite(path, 1, Access::Read).await?;
        if let Err(err) = create_secret(target) {
            pool.close().await;
            return Err(err);
        }
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(text)
            .execute(&pool)
            .await;
        pool.close().await;
        copied?;
        Ok(())
    }

    /// Writes a consistent copy of the whole log to `target` (which must not exist), a new
    /// SQLite file, while other processes go on writing: SQLite's `VACUUM INTO` reads one
    /// snapshot; a PostgreSQL log is read in one repeatable-read transaction and written into
    /// a new SQLite log, which either backend can restore from.
    #[instrument(skip_all)]
    pub async fn backup(&self, target: &Path) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                let text = target.to_str().ok_or_else(|| {
                    Error::InvalidInput(format!("{} is not a UTF-8 path", target.display()))
                })?;
                create_secret(target)?;
                let copied = sqlx::query("VACUUM INTO $1")
                    .bind(text)
                    .execute(&self.pool)
                    .await;
                if let Err(err) = copied {
                    // The copy and the journal SQLite kept beside it as it wrote (a full disk
                    // leaves both).
                    for suffix in ["", "-journal"] {
                        let _ = std::fs::remove_file(beside(target, suffix));
                    }
                    return Err(copy_error(target, err));
                }
                Ok(())
            }
            Backend::Postgres => {
                let copied =
                    match Store::open(&LogLocation::File(target.to_owned()), 1, Access::Create)
                        .await
                    {
                        Ok(copy) => {
                            let copied = self.copy_into(&copy).await;
                            copy.close().await;
                            copied.map(|_| ()).map_err(|err| match &err {
                                Error::Store(StoreError::Database(failed)) => {
                                    match copy_write_failure(failed) {
                                        Some(why) => copy_not_written(target, &why),
                                        None => err,
                                    }
                                }
                                _ => err,
                            })
                        }
                        // The copy's tables could not be made: a failure of the target.
                        Err(err) => Err(copy_not_written(target, &err.to_string())),
                    };
                // The copy's migration lock is of no use beside a file nobody else opens yet;
                // a copy that failed is no copy, nor is what SQLite kept beside it.
                let _ = std::fs::remove_file(target.with_extension("lock"));
                if copied.is_err() {
                    for suffix in ["", "-journal", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(beside(target, suffix));
                    }
                }
                copied
            }
        }
    }

    /// The database's own checks (SQLite's `integrity_check` and `foreign_key_check`;
    /// PostgreSQL enforces its foreign keys at every write), and every certificate's DER against
    /// its recorded fingerprint (also for rows too damaged to be read whole). Returns the
    /// problems found (none when the log is sound) and how many certificates were read.
    #[instrument(skip_all)]
    pub async fn check(&self) -> Result<(Vec<String>, usize)> {
        let mut problems = Vec::new();
        if self.backend == Backend::Sqlite {
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
            let schema: Vec<(String, String, Option<String>)> =
                sqlx::query_as(SCHEMA).fetch_all(&self.pool).await?;
            problems.extend(schema_changes(schema)?);
        }
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

    /// True when the log holds no request and no user: what a creation that failed half way
    /// leaves, which the next creation may take over.
    pub(crate) async fn is_unused(&self) -> Result<bool> {
        let used: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM requests)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(used == 0)
    }

    /// Closes every connection (a SQLite log checkpoints its write-ahead log).
    pub async fn close(&self) {
        // The connections that only read first: the last connection to close puts the
        // write-ahead log into the log file, which only one that may write can do. Left to
        // the next process, the log would be recovered from it (read whole, every frame's
        // checksum checked) when it opens it.
        if let Some(reader) = &self.reader {
            reader.close();
        }
        self.changes.close();
        self.writer.close().await;
        // A connection on its way back to the pool when it closes (just used: sqlx tests it
        // first) is closed a moment after `close` returns: waited for, up to a second.
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            self.pool.close().await;
            if self.pool.size() == 0 || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Two of the pool's connections closing at once, each on its worker thread, can each
        // see the other still open, and neither puts the write-ahead log back. One more
        // connection, opened and closed here alone, does, when no other process has the log
        // open (the log read-only or busy: nothing lost, the next opening recovers it). A
        // log opened only to read is left as it is.
        if let LogLocation::File(path) = &self.location
            && !self.read_only
            && std::fs::metadata(beside(path, "-wal")).is_ok_and(|meta| meta.len() > 0)
        {
            use rusqlite::OpenFlags;
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if let Ok(last) = rusqlite::Connection::open_with_flags(path, flags) {
                let _ = last.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()));
                drop(last);
            }
        }
    }
}

/// The log's own tables, indexes, triggers and views (not SQLite's, nor the migrations' record,
/// which is checked against the migrations themselves at every opening).
const SCHEMA: &str = "SELECT type, name, sql FROM sqlite_master \
     WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY type, name";

/// How the schema `found` in a SQLite log differs from the one its migrations make: a trigger
/// that keeps the audit trail or the revocations append-only dropped or rewritten, a table or
/// trigger added that acts on every write. Each difference is a sentence; none when it is as
/// made.
fn schema_changes(found: Vec<(String, String, Option<String>)>) -> Result<Vec<String>> {
    let made = || -> rusqlite::Result<Vec<(String, String, Option<String>)>> {
        let connection = rusqlite::Connection::open_in_memory()?;
        for migration in sqlx::migrate!("../migrations/sqlite").iter() {
            connection.execute_batch(&migration.sql)?;
        }
        let mut statement = connection.prepare(SCHEMA)?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect()
    };
    let made = made().map_err(|err| StoreError::Read(format!("the log's schema: {err}")))?;
    let made: std::collections::BTreeMap<(String, String), Option<String>> = made
        .into_iter()
        .map(|(kind, name, sql)| ((kind, name), sql))
        .collect();
    let found: std::collections::BTreeMap<(String, String), Option<String>> = found
        .into_iter()
        .map(|(kind, name, sql)| ((kind, name), sql))
        .collect();
    let mut changes = Vec::new();
    for ((kind, name), sql) in &made {
        match found.get(&(kind.clone(), name.clone())) {
            None => changes.push(format!(
                "the {kind} {name} is missing from the log (the log was altered)"
            )),
            Some(found) if found != sql => changes.push(format!(
                "the {kind} {name} is not as this release made it (the log was altered)"
            )),
            Some(_) => {}
        }
    }
    for (kind, name) in found.keys() {
        if !made.contains_key(&(kind.clone(), name.clone())) {
            changes.push(format!(
                "the log holds a {kind} {name} that this release never made (the log was altered)"
            ));
        }
    }
    Ok(changes)
}

/// Creates `path`, empty and readable by its owner only, for `VACUUM INTO` to fill: SQLite
/// would make it (and its journal, which takes the file's mode) with the umask's mode, so
/// that the log's password hashes and keys were readable by anyone while it was written, and
/// ever after when the copy was cut short.
/// What `VACUUM INTO target` reports: a copy that could not be opened, written or synced
/// (a full disk, a file-size limit) is the target's failure, said of the target; anything
/// else is the log's.
fn copy_error(target: &Path, err: sqlx::Error) -> Error {
    match copy_write_failure(&err) {
        Some(message) => copy_not_written(target, &message),
        None => StoreError::from(err).into(),
    }
}

/// The copy at `target` could not be written, for `why`.
fn copy_not_written(target: &Path, why: &str) -> Error {
    Error::io(
        target,
        std::io::Error::other(format!("the copy could not be written: {why}")),
    )
}

/// SQLite's own message, when `err` is SQLite failing to open, write, sync or truncate a file
/// for want of room or of a file it may write: in a copy (`VACUUM INTO`, or rows copied into
/// a new SQLite file), where the log copied from is only read, that is the copy's failure.
fn copy_write_failure(err: &sqlx::Error) -> Option<String> {
    const SQLITE_FULL: i32 = 13;
    const SQLITE_CANTOPEN: i32 = 14;
    const SQLITE_IOERR_WRITE: i32 = 10 | (3 << 8);
    const SQLITE_IOERR_FSYNC: i32 = 10 | (4 << 8);
    const SQLITE_IOERR_TRUNCATE: i32 = 10 | (6 << 8);
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let code = db.code()?.parse::<i32>().ok()?;
    let written = matches!(code & 0xff, SQLITE_FULL | SQLITE_CANTOPEN)
        || matches!(
            code,
            SQLITE_IOERR_WRITE | SQLITE_IOERR_FSYNC | SQLITE_IOERR_TRUNCATE
        );
    written.then(|| db.message().to_owned())
}

fn create_secret(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|err| Error::io(path, err))
}

/// Begins a write transaction on `pool` (see [`Store::begin_write`]).
async fn begin_write(pool: &AnyPool, backend: Backend) -> Result<Transaction<'static, Any>> {
    match backend {
        Backend::Sqlite => Ok(pool.begin_with("BEGIN IMMEDIATE").await?),
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            Ok(tx)
        }
    }
}

/// The file beside the SQLite log at `path` that SQLite names with `suffix` (`-wal`, `-shm`).
/// Whether the SQLite log at `path` holds any request or user, read without writing:
/// `Some(false)` for a log made but never used (or one whose tables were never made),
/// `None` when it cannot be read.
pub(crate) fn sqlite_holds_history(path: &Path) -> Option<bool> {
    use rusqlite::OpenFlags;
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    let tables: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('requests', 'users')",
            [],
            |row| row.get(0),
        )
        .ok()?;
    match tables {
        0 => Some(false),
        2 => connection
            .query_row(
                "SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM users)",
                [],
                |row| row.get::<_, i64>(0),
            )
            .ok()
            .map(|used| used > 0),
        _ => None,
    }
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The options of a connection to the SQLite file at `path` in `mode` (`ro`, `rw`, `rwc`).
fn sqlite_options(path: &Path, mode: &str, immutable: bool) -> Result<AnyConnectOptions> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a UTF-8 path", path.display())))?;
    let absolute = std::path::absolute(text).map_err(|err| Error::io(path, err))?;
    let absolute = absolute.to_str().unwrap_or(text);
    // The driver reads the file name percent-decoded, after the URL's own syntax, which drops
    // tabs and line breaks: `a<LF>b` would open `ab`.
    let mut escaped = String::with_capacity(absolute.len());
    for c in absolute.chars() {
        match c {
            '%' | '?' | '#' | '\0'..='\x1f' | '\x7f' => {
                escaped.push_str(&format!("%{:02X}", u32::from(c)));
            }
            c => escaped.push(c),
        }
    }
    let immutable = if immutable { "&immutable=true" } else { "" };
    format!("sqlite://{escaped}?mode={mode}{immutable}")
        .parse::<AnyConnectOptions>()
        .map(quiet)
        .map_err(|err: sqlx::Error| {
            Error::InvalidInput(format!(
                "{} cannot be opened as a SQLite file: {err}",
                path.display()
            ))
        })
}

/// Options that keep the driver's own statement logging out of the way: a slow statement
/// (one that waited for another process's write lock) is not something to warn a person about
/// in the middle of a command's output, and statements never go to the log.
fn quiet(options: AnyConnectOptions) -> AnyConnectOptions {
    use sqlx::ConnectOptions;
    options
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(60))
}

/// Brings a SQLite log up to date as SQLite advises for changes that make a table again:
/// with foreign keys off while the migrations run, then every reference checked once. With
/// them on, a table dropped and made again under its name (the requests for ACME, the
/// certificates without their fingerprint's index) counts every row that refers to it as
/// broken, deferred or not, and the migration of any log holding certificates failed.
async fn migrate_sqlite(pool: &AnyPool, migrator: &sqlx::migrate::Migrator) -> Result<()> {
    let mut connection = pool.acquire().await?;
    connection.execute("PRAGMA foreign_keys = OFF").await?;
    let migrated = migrator.run(&mut *connection).await;
    let broken: Result<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_foreign_key_check")
        .fetch_one(&mut *connection)
        .await
        .map_err(Into::into);
    // The connection goes back to the pool as every other is, or not at all.
    if let Err(err) = connection.execute("PRAGMA foreign_keys = ON").await {
        drop(connection.detach());
        return Err(err.into());
    }
    migrated.map_err(StoreError::from)?;
    match broken? {
        0 => Ok(()),
        rows => Err(StoreError::Corrupt(format!(
            "{rows} rows of the log refer to rows it does not hold (PRAGMA foreign_key_check)"
        ))
        .into()),
    }
}

/// True when the database holds an issuance log (its migrations table), not an empty file or
/// an empty database.
async fn is_log(pool: &AnyPool, backend: Backend) -> Result<bool> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_tables
             WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'"
        }
    };
    let tables: i64 =
        sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .map_err(|err| match backend {
                Backend::Sqlite => StoreError::Corrupt("the file is not a SQLite database".into()),
                Backend::Postgres => StoreError::from(err),
            })?;
    Ok(tables == 1)
}

/// True when the SQLite log `connection` reads has applied every migration of `migrator`,
/// each successfully and with the same checksum, and no other: what `Migrator::run` would
/// leave as it is.
impl Store {
    /// The first change recorded in the log's schema that this release does not know (the
    /// log was brought up to date by a newer release), if any. A log opened only to read
    /// is not refused for it; one opened to write is.
    pub async fn newer_change(&self) -> Result<Option<i64>> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        Ok(applied
            .into_iter()
            .find(|version| !migrator.iter().any(|known| known.version == *version)))
    }
}

fn schema_is_current(
    connection: &rusqlite::Connection,
    migrator: &sqlx::migrate::Migrator,
) -> rusqlite::Result<bool> {
    let mut statement = connection
        .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")?;
    let applied = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut wanted: Vec<(i64, &[u8])> = migrator
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .map(|migration| (migration.version, &*migration.checksum))
        .collect();
    wanted.sort_unstable();
    Ok(applied.len() == wanted.len()
        && applied
            .iter()
            .zip(&wanted)
            .all(|((version, success, checksum), (want, sum))| {
                *success && version == want && checksum.as_slice() == *sum
            }))
}

/// True when the role a PostgreSQL log is opened as may create tables in its schema (the
/// owner's role does; a runtime role does not).
async fn may_change_schema(pool: &AnyPool) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT has_schema_privilege(current_schema(), 'CREATE')")
            .fetch_one(pool)
            .await?,
    )
}

/// What a driver error says, for a person: the database's own message, never a URL.
fn describe(err: &sqlx::Error) -> String {
    match err {
        // Its code last, as `StoreError::from` puts it: the advice is chosen by it.
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(tls) => format!("TLS: {tls}"),
        sqlx::Error::PoolTimedOut => "no connection within the time allowed".into(),
        sqlx::Error::Configuration(config) => config.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
