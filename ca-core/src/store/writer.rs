//! Group commit: issuances that arrive together are written in one transaction, one fsync.
//!
//! On SQLite the writer is a thread of its own with one connection of its own (rusqlite): a
//! group is written with no hop between threads per statement, where a query through sqlx's
//! SQLite driver is a round trip to the connection's worker thread (two thread wake-ups),
//! which under load cost more than the writes themselves. A command (a current-thread
//! runtime, one issuance at a time) writes on its own thread instead, on the connection
//! that watches the log for changes when it opened the log to write (one connection in all,
//! the schema parsed once), else on one it keeps until the store closes; into a write-ahead
//! log nothing wrote to yet, it commits without a sync and checkpoints at once, the
//! checkpoint's syncs making the issuance durable before it returns. On PostgreSQL the writer
//! is a task on the runtime that writes through the pool. Both run the same statements.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc as std_mpsc};
use std::time::Duration;

use rusqlite::{OpenFlags, OptionalExtension, TransactionBehavior};
use sqlx::{AnyConnection, AnyPool, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tracing::instrument;

use super::changes::{Changes, Vouches};
use super::{
    CertificateRecord, Issuance, NewIssuance, RequestId, RequestSource, Status, Store, audit,
};
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};
use crate::status::StatusCode;

/// The most issuances committed in one transaction.
const MAX_GROUP: usize = 64;
/// How long the SQLite writer waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A new request row with its certificate, issued at once.
const INSERT_REQUEST: &str = "INSERT INTO requests (created_at, requester, source, names, csr, status, disposition, decided_at, decided_by)
     VALUES ($1, $2, $3, $4, $5, 'issued', 'Issued', $6, $7) RETURNING id";
/// The same on SQLite, whose row id is read after it: SQLite gathers what `RETURNING` returns
/// in a temporary table, made and dropped for every row.
const INSERT_REQUEST_SQLITE: &str = "INSERT INTO requests (created_at, requester, source, names, csr, status, disposition, decided_at, decided_by)
     VALUES ($1, $2, $3, $4, $5, 'issued', 'Issued', $6, $7)";
/// A pending request answered: only from the pending state; what the row already held is
/// returned, so the caller's copy of the row needs no second read.
const ISSUE_PENDING: &str = "UPDATE requests SET status = 'issued', disposition = 'Issued', names = $1, decided_at = $2, decided_by = $3
     WHERE id = $4 AND status = 'pending' RETURNING created_at, requester, source, status_code";
const INSERT_CERTIFICATE: &str = "INSERT INTO certificates (request_id, serial, names, not_before, not_after, key_algorithm, sha256, der, renewed_from)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// The renewal a certificate has already (the first, of a log written before a certificate
/// could be renewed only once).
const RENEWAL_OF: &str = "SELECT min(request_id) FROM certificates WHERE renewed_from = $1";
/// The certificates revoked for keyCompromise, with their DER (through the partial index of
/// those revocations: nothing is read while there are none).
pub(super) const COMPROMISED: &str = "SELECT c.request_id, c.der FROM revocations v
     JOIN certificates c ON c.request_id = v.request_id
     WHERE v.reason = 'keyCompromise' ORDER BY c.request_id";
const COMPLETE_ORDER: &str = "UPDATE acme_orders SET status = 'valid', request_id = $1 WHERE id = $2 AND status = 'processing'";

/// An issuance waiting for the writer, with owned copies of what it writes.
#[derive(Debug)]
struct Job {
    requester: String,
    source: RequestSource,
    names: String,
    /// The audit trail's words for the issuance.
    detail: String,
    csr_der: Option<Vec<u8>>,
    serial: String,
    not_before: i64,
    not_after: i64,
    key_algorithm: &'static str,
    sha256: String,
    der: Vec<u8>,
    renewed_from: Option<i64>,
    pending_request: Option<i64>,
    decided_by: String,
    acme_order: Option<String>,
    /// The subjectPublicKey bits of a key its holder made (a request's), checked against the
    /// keys of certificates revoked for keyCompromise in the write's transaction.
    holder_key: Option<Vec<u8>>,
}

impl Job {
    /// The audit trail's action: a pending request answered is approved (by whom the row's
    /// decided_by says), anything else issued.
    fn audit_action(&self) -> &'static str {
        if self.pending_request.is_some() {
            "approve"
        } else {
            "issue"
        }
    }
}

/// What the log's row holds beyond what the caller wrote.
#[derive(Debug)]
struct Written {
    id: i64,
    created_at: i64,
    /// For a pending request answered: who asked, and how (the row keeps them).
    requester: Option<String>,
    source: Option<String>,
    status_code: i64,
}

type Reply = oneshot::Sender<Result<Written>>;

/// The handle through which issuances reach the writer.
#[derive(Clone, Debug)]
pub(super) struct Writer(Inner);

#[derive(Clone, Debug)]
enum Inner {
    /// The thread that writes to the SQLite file, started by the first issuance.
    Sqlite(Arc<SqliteWriter>),
    Postgres(mpsc::Sender<(Job, Reply)>),
}

#[derive(Debug)]
struct SqliteWriter {
    path: PathBuf,
    jobs: Mutex<Option<std_mpsc::Sender<Message>>>,
    /// On a command's current-thread runtime: the store's watching connection, when it may
    /// write (see [`Changes::write`]).
    watch: Option<Changes>,
    /// On a command's current-thread runtime: the connection issuances are written on, on
    /// the caller's thread (a command issues one at a time; a thread of its own would only
    /// add its start, its heap and two wake-ups to each).
    here: Mutex<Option<rusqlite::Connection>>,
    /// Where the writer thread tells the store's watch which commits were its groups.
    vouches: Vouches,
    /// Set by [`Writer::close`] (under `jobs`' lock): later issuances are refused, not written
    /// after the log was closed.
    closed: AtomicBool,
}

enum Message {
    Job(Box<Job>, Reply),
    /// Close the connection (SQLite checkpoints the write-ahead log) and end the thread.
    Stop(oneshot::Sender<()>),
}

impl Writer {
    /// The writer of a SQLite log at `path`; its thread starts with the first issuance, and
    /// keeps in `vouches` the commits that were its groups. On a command's runtime it writes
    /// on `watch`'s connection when that may write.
    pub(super) fn sqlite(path: &Path, watch: Option<Changes>, vouches: Vouches) -> Self {
        Writer(Inner::Sqlite(Arc::new(SqliteWriter {
            path: path.to_owned(),
            jobs: Mutex::new(None),
            watch,
            here: Mutex::new(None),
            vouches,
            closed: AtomicBool::new(false),
        })))
    }

    /// Starts the writer task of a PostgreSQL log on the current runtime.
    pub(super) fn postgres(pool: AnyPool) -> Self {
        let (jobs, receiver) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(run_postgres(pool, receiver));
        Writer(Inner::Postgres(jobs))
    }

    async fn send(&self, job: Job) -> Result<Written> {
        let stopped = || StoreError::Commit("the store's writer has stopped".into());
        let closed = || StoreError::Unavailable("it has been closed".into());
        let (reply, answered) = oneshot::channel();
        match &self.0 {
            Inner::Sqlite(writer) if crate::on_current_thread() => {
                if writer.closed.load(Ordering::Acquire) {
                    return Err(closed().into());
                }
                let batch = vec![(job, reply)];
                let wal = super::beside(&writer.path, "-wal");
                let watched = writer.watch.as_ref().and_then(|watch| {
                    watch.write(BUSY_TIMEOUT, |connection| {
                        write_sqlite_alone(connection, &batch, &wal)
                    })
                });
                let written = match watched {
                    Some(written) => written,
                    None => {
                        let mut here = writer.here.lock().map_err(|_| stopped())?;
                        let connection = match here.as_mut() {
                            Some(open) => open,
                            None => here.insert(
                                open_sqlite(&writer.path).map_err(|err| sqlite_error(&err))?,
                            ),
                        };
                        write_sqlite_alone(connection, &batch, &wal)
                    }
                };
                answer(batch, written);
            }
            Inner::Sqlite(writer) => {
                let mut jobs = writer.jobs.lock().map_err(|_| stopped())?;
                if writer.closed.load(Ordering::Acquire) {
                    return Err(closed().into());
                }
                let sender = match jobs.as_ref() {
                    Some(sender) => sender,
                    None => jobs.insert(start_sqlite(&writer.path, writer.vouches.clone())?),
                };
                sender
                    .send(Message::Job(Box::new(job), reply))
                    .map_err(|_| stopped())?;
            }
            Inner::Postgres(jobs) => jobs.send((job, reply)).await.map_err(|_| stopped())?,
        }
        answered.await.map_err(|_| stopped())?
    }

    /// Closes the connection a command wrote on, and ends the SQLite writer's thread once it
    /// has answered every issuance sent before, closing its connection. Issuances sent after
    /// are refused (the log is closed: a server's request still running when the server
    /// stops hears so, rather than being written after the log was put away).
    pub(super) async fn close(&self) {
        if let Inner::Sqlite(writer) = &self.0 {
            if let Ok(mut here) = writer.here.lock() {
                drop(here.take());
            }
            // Closed even when a panic poisoned the lock: nothing is written after this.
            let sender = {
                let mut jobs = writer.jobs.lock().unwrap_or_else(PoisonError::into_inner);
                writer.closed.store(true, Ordering::Release);
                jobs.take()
            };
            if let Some(sender) = sender {
                let (done, stopped) = oneshot::channel();
                if sender.send(Message::Stop(done)).is_ok() {
                    let _ = stopped.await;
                }
            }
        }
    }
}

impl Store {
    /// Records an issued certificate and its request, and returns the row once it is
    /// committed. Concurrent calls are grouped into one transaction (one fsync) by the
    /// store's writer, each in a savepoint of its own, so one caller's failure touches no
    /// other's row. A serial already in the log yields [`StoreError::DuplicateSerial`], so the
    /// caller can draw a new one.
    #[instrument(skip_all)]
    pub async fn record_issuance(&self, new: NewIssuance<'_>) -> Result<Issuance> {
        let texts: Vec<String> = new.names.iter().map(ToString::to_string).collect();
        let names =
            serde_json::to_string(&texts).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let serial = new.serial.hex();
        let mut detail = if new.requester == super::RESPONDER_REQUESTER {
            // It names no host: it is the responder's.
            format!("serial {serial} for the OCSP responder")
        } else {
            format!("serial {serial} for {}", texts.join(", "))
        };
        if let Some(old) = new.renewed_from {
            detail.push_str(&format!(", renewing certificate {old}"));
        }
        let job = Job {
            requester: new.requester.to_owned(),
            source: new.source,
            names,
            detail,
            csr_der: new.csr_der.map(<[u8]>::to_vec),
            serial,
            not_before: new.not_before.unix_timestamp(),
            not_after: new.not_after.unix_timestamp(),
            key_algorithm: new.key_algorithm.name(),
            sha256: new.sha256.hex(),
            der: new.der.to_vec(),
            renewed_from: new.renewed_from.map(RequestId::get),
            pending_request: new.pending_request.map(RequestId::get),
            decided_by: new.decided_by.to_owned(),
            acme_order: new.acme_order.map(str::to_owned),
            holder_key: new.holder_key.map(<[u8]>::to_vec),
        };
        let written = self.writer.send(job).await?;
        row_of(&new, written)
    }
}

/// The row as the log now holds it, from what was written: the same [`Issuance`] a read of
/// the row would give, without that read.
fn row_of(new: &NewIssuance<'_>, written: Written) -> Result<Issuance> {
    let corrupt = |what: String| Error::from(StoreError::Corrupt(what));
    let requested_at = OffsetDateTime::from_unix_timestamp(written.created_at)
        .map_err(|_| corrupt(format!("time {}", written.created_at)))?;
    let source = match &written.source {
        Some(source) => RequestSource::from_name(source).map_err(|err| corrupt(err.to_string()))?,
        None => new.source,
    };
    let status_code = u32::try_from(written.status_code)
        .map_err(|_| corrupt(format!("status code {}", written.status_code)))?;
    // Only whole seconds are kept.
    let seconds =
        |at: OffsetDateTime| OffsetDateTime::from_unix_timestamp(at.unix_timestamp()).unwrap_or(at);
    let not_after = seconds(new.not_after);
    Ok(Issuance {
        id: RequestId::from_log(written.id)?,
        requested_at,
        requester: written
            .requester
            .unwrap_or_else(|| new.requester.to_owned()),
        source,
        names: new.names.to_vec(),
        disposition: "Issued".to_owned(),
        status_code: StatusCode::from_value(status_code),
        status: if not_after < OffsetDateTime::now_utc() {
            Status::Expired
        } else {
            Status::Valid
        },
        certificate: Some(CertificateRecord {
            serial: new.serial.clone(),
            not_before: seconds(new.not_before),
            not_after,
            key_algorithm: new.key_algorithm,
            sha256: new.sha256,
            der: new.der.to_vec(),
            revocation: None,
            renewed_from: new.renewed_from,
            renewed_by: None,
            renewal_in_force: false,
        }),
    })
}

/// Starts the SQLite writer's thread; it opens its connection at its first group.
fn start_sqlite(path: &Path, vouches: Vouches) -> Result<std_mpsc::Sender<Message>> {
    let (sender, receiver) = std_mpsc::channel();
    let path = path.to_owned();
    std::thread::Builder::new()
        .name("ca-log-writer".into())
        .spawn(move || run_sqlite(&path, &receiver, &vouches))
        .map_err(|err| StoreError::Commit(format!("could not start the log's writer: {err}")))?;
    Ok(sender)
}

/// The SQLite writer: takes every job that is waiting (up to [`MAX_GROUP`]), writes each in a
/// savepoint of one `BEGIN IMMEDIATE` transaction, commits once (`synchronous=FULL`: durable
/// when the commit returns), and only then answers every caller. Each group that commits a
/// row is vouched for in `vouches` (see [`Vouches`]).
fn run_sqlite(path: &Path, messages: &std_mpsc::Receiver<Message>, vouches: &Vouches) {
    let mut connection: Option<rusqlite::Connection> = None;
    // The wal-index, opened once the connection made it.
    let mut shm: Option<File> = None;
    while let Ok(first) = messages.recv() {
        let mut batch = Vec::new();
        let mut stop = None;
        match first {
            Message::Job(job, reply) => batch.push((*job, reply)),
            Message::Stop(done) => stop = Some(done),
        }
        while stop.is_none() && batch.len() < MAX_GROUP {
            match messages.try_recv() {
                Ok(Message::Job(job, reply)) => batch.push((*job, reply)),
                Ok(Message::Stop(done)) => stop = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let open = match connection.take() {
                Some(open) => Ok(open),
                None => open_sqlite(path),
            };
            let written = open.and_then(|mut open| {
                if shm.is_none() {
                    shm = File::open(super::beside(path, "-shm")).ok();
                    vouches.watch_writes(&open);
                }
                let vouch = shm.as_ref().map(|shm| (shm, vouches));
                let written = write_sqlite_group(&mut open, &batch, vouch);
                connection = Some(open);
                written
            });
            answer(batch, written.map_err(|err| sqlite_error(&err)));
        }
        if let Some(done) = stop {
            drop(connection.take());
            let _ = done.send(());
            return;
        }
    }
}

/// The writer's connection, set up as the pool's are.
fn open_sqlite(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = rusqlite::Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.execute_batch("PRAGMA journal_mode = WAL;")?;
    connection.execute_batch(SQLITE_PRAGMAS)?;
    Ok(connection)
}

/// How a connection that writes issuances is set up (with the log in WAL mode). Each
/// issuance of a group is written in a savepoint, whose journal (the pages it changed, as
/// they were) is kept in memory: in a file it cost every group a file made, written and
/// removed.
pub(super) const SQLITE_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;";

/// How a command's connection writes without syncing: set outside a transaction (SQLite
/// refuses to change it inside one), with no automatic checkpoint, which would copy frames not
/// yet on disk into the log file.
const UNSYNCED: &str = "PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 0;";
/// [`UNSYNCED`] undone: SQLite's defaults, as every connection has them.
const SYNCED: &str = "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000;";

/// A command's issuance (one at a time, on its own thread), durable when it returns like any
/// group's. When nothing wrote to the write-ahead log at `wal` yet (SQLite made it when the
/// command opened the log, or a command that only read did) and nothing did once this
/// connection holds the write lock, the commit is written without a sync and then
/// checkpointed: the checkpoint syncs the write-ahead log, copies it into the log file and
/// syncs that, which a command's close would do anyway. Two syncs fewer than a commit that
/// syncs (the new write-ahead log's header, then the commit), on a path where every sync is a
/// wait on the disk.
///
/// Safe only in a write-ahead log that never held a frame: a synced header is what keeps
/// frames of its earlier life out of a recovery after a crash (SQLite's ticket ff5be73dee).
/// A checkpoint never runs without its syncs (no automatic one; the connection's syncs are
/// back before this one). When another connection keeps frames from being copied (a reader
/// in another process), the write-ahead log and its folder are synced here instead. An
/// issuance whose checkpoint or sync fails is committed (others may have read it): the caller
/// hears it is in the log, unconfirmed ([`StoreError::Unconfirmed`]).
fn write_sqlite_alone(
    connection: &mut rusqlite::Connection,
    batch: &[(Job, Reply)],
    wal: &Path,
) -> Result<Vec<Result<Written>>> {
    let sqlite = |err: rusqlite::Error| sqlite_error(&err);
    if !never_written(wal) {
        return write_sqlite_group(connection, batch, None).map_err(sqlite);
    }
    let unsynced = connection.execute_batch(UNSYNCED);
    // The syncs come back whatever happens in between, a panic included: a connection left
    // without them would commit, and checkpoint as it closes, without a sync.
    let written = match unsynced {
        Ok(()) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_sqlite_group_if(connection, batch, None, || never_written(wal))
        })),
        Err(err) => Ok(Err(err)),
    };
    let synced = connection.execute_batch(SYNCED);
    let written = match written {
        Ok(written) => written,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let written = match (written, synced) {
        (Err(err), _) | (Ok(_), Err(err)) => return Err(sqlite(err)),
        // Another process wrote first: a commit as any other's.
        (Ok(None), Ok(())) => return write_sqlite_group(connection, batch, None).map_err(sqlite),
        (Ok(Some(written)), Ok(())) => written,
    };
    let ids: Vec<String> = written
        .iter()
        .flatten()
        .map(|row| row.id.to_string())
        .collect();
    if !ids.is_empty()
        && let Err(err) = make_durable(connection, wal)
    {
        return Err(StoreError::Unconfirmed {
            certificates: ids.join(", "),
            reason: err.to_string(),
        }
        .into());
    }
    Ok(written)
}

/// Whether the file at `path` is a write-ahead log SQLite made and nothing wrote to: empty,
/// and last changed when it was made. One emptied by a checkpoint in TRUNCATE mode (which
/// nothing here runs; a sqlite3 shell may) was changed after it was made, and its truncation
/// may not be on disk yet: frames of its earlier life could come back after a crash.
fn never_written(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| {
        meta.len() == 0
            && meta
                .created()
                .is_ok_and(|made| meta.modified().is_ok_and(|changed| changed == made))
    })
}

/// Puts what `connection` committed without a sync on disk: a checkpoint copies it into the
/// log file (syncing the write-ahead log first, the log file after); when frames are left
/// behind (another connection reads an older state, or checkpoints itself), the
/// write-ahead log at `wal` and its folder are synced instead.
fn make_durable(connection: &rusqlite::Connection, wal: &Path) -> std::io::Result<()> {
    let copied = connection
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(std::io::Error::other)?;
    if let (0, frames, copied) = copied
        && frames >= 0
        && frames == copied
    {
        return Ok(());
    }
    File::open(wal)?.sync_data()?;
    let folder = wal.parent().filter(|folder| !folder.as_os_str().is_empty());
    File::open(folder.unwrap_or(Path::new(".")))?.sync_all()
}

fn write_sqlite_group(
    connection: &mut rusqlite::Connection,
    batch: &[(Job, Reply)],
    vouch: Option<(&File, &Vouches)>,
) -> rusqlite::Result<Vec<Result<Written>>> {
    Ok(write_sqlite_group_if(connection, batch, vouch, || true)?.unwrap_or_default())
}

/// [`write_sqlite_group`], once `proceed` says so with the write lock held: `None`, nothing
/// written, when it does not.
fn write_sqlite_group_if(
    connection: &mut rusqlite::Connection,
    batch: &[(Job, Reply)],
    vouch: Option<(&File, &Vouches)>,
    proceed: impl FnOnce() -> bool,
) -> rusqlite::Result<Option<Vec<Result<Written>>>> {
    // A command stopped by a signal while it waits for the write lock gives up the wait
    // (nothing written); once the lock is held, it finishes.
    let interruptible = crate::interrupt::armed();
    if interruptible {
        connection.busy_handler(Some(crate::interrupt::busy_wait))?;
    }
    let written = write_sqlite_group_locked(connection, batch, vouch, proceed);
    if interruptible {
        connection.busy_timeout(BUSY_TIMEOUT)?;
    }
    written
}

/// [`write_sqlite_group_if`] with the connection's wait for the lock set.
fn write_sqlite_group_locked(
    connection: &mut rusqlite::Connection,
    batch: &[(Job, Reply)],
    vouch: Option<(&File, &Vouches)>,
    proceed: impl FnOnce() -> bool,
) -> rusqlite::Result<Option<Vec<Result<Written>>>> {
    let mut tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !proceed() {
        return Ok(None);
    }
    // While this connection holds the write lock, its view the newest (else `BEGIN
    // IMMEDIATE` fails with SQLITE_BUSY_SNAPSHOT).
    let vouching = vouch.and_then(|(shm, vouches)| vouches.begin(&tx, shm));
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        let savepoint = tx.savepoint()?;
        let result = write_sqlite_one(&savepoint, job);
        match result {
            Ok(written) => {
                savepoint.commit()?;
                results.push(Ok(written));
            }
            Err(err) => {
                // Dropping the savepoint rolls it back.
                drop(savepoint);
                if tx.is_autocommit() {
                    // SQLite rolled back the whole transaction (an I/O error, a full disk,
                    // a trigger's RAISE(ROLLBACK)): the jobs before this one are not written
                    // either, and a savepoint now would begin a transaction of its own that
                    // its release commits. Nothing of the group is in the log: every caller
                    // hears so.
                    return Err(match err {
                        JobError::Sqlite(err) => err,
                        JobError::Refused(err) => rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT_ROLLBACK),
                            Some(format!("the transaction was rolled back: {err}")),
                        ),
                    });
                }
                results.push(Err(job_error(err)));
            }
        }
    }
    tx.commit()?;
    // A group that wrote a row committed (one that wrote none may have left the log as it
    // was, and the next commit would be another's).
    if let (Some(vouching), Some((shm, vouches))) = (vouching, vouch)
        && results.iter().any(Result::is_ok)
    {
        vouches.committed(vouching, connection, shm);
    }
    Ok(Some(results))
}

/// Why one issuance of a group was not written.
enum JobError {
    Sqlite(rusqlite::Error),
    Refused(Error),
}

impl From<rusqlite::Error> for JobError {
    fn from(err: rusqlite::Error) -> Self {
        JobError::Sqlite(err)
    }
}

fn job_error(err: JobError) -> Error {
    match err {
        JobError::Refused(err) => err,
        JobError::Sqlite(err) => sqlite_error(&err),
    }
}

fn sqlite_error(err: &rusqlite::Error) -> Error {
    // The wait for the write lock given up at a signal's request: nothing was written.
    if crate::interrupt::requested()
        && err
            .sqlite_error()
            .is_some_and(|err| err.code == rusqlite::ErrorCode::DatabaseBusy)
    {
        return Error::Interrupted;
    }
    // A commit whose sync failed wrote its frames all the same: the next opening of the log
    // recovers them when they reached the disk, and the issuance is then in the log.
    if err
        .sqlite_error()
        .is_some_and(|err| err.extended_code == rusqlite::ffi::SQLITE_IOERR_FSYNC)
    {
        return StoreError::Unflushed(err.to_string()).into();
    }
    StoreError::Commit(err.to_string()).into()
}

fn write_sqlite_one(tx: &rusqlite::Connection, job: &Job) -> Result<Written, JobError> {
    if let Some(old) = renewal(job) {
        let by: Option<i64> = tx
            .prepare_cached(RENEWAL_OF)?
            .query_row([old], |row| row.get(0))?;
        if let Some(by) = by {
            return Err(JobError::Refused(renewed_already(old, by)));
        }
    }
    if let Some(key) = &job.holder_key {
        let mut query = tx.prepare_cached(COMPROMISED)?;
        let mut rows = query.query([])?;
        while let Some(row) = rows.next()? {
            let der: Vec<u8> = row.get(1)?;
            if crate::certificate::holds_key(&der, key) {
                return Err(JobError::Refused(compromised(row.get(0)?)));
            }
        }
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let written = match job.pending_request {
        None => Written {
            id: {
                tx.prepare_cached(INSERT_REQUEST_SQLITE)?
                    .execute(rusqlite::params![
                        now,
                        job.requester,
                        job.source.name(),
                        job.names,
                        job.csr_der,
                        now,
                        job.decided_by,
                    ])?;
                // The row just inserted: the rows the insert's triggers write do not count.
                tx.last_insert_rowid()
            },
            created_at: now,
            requester: None,
            source: None,
            status_code: 0,
        },
        Some(id) => tx
            .prepare_cached(ISSUE_PENDING)?
            .query_row(
                rusqlite::params![job.names, now, job.decided_by, id],
                |row| {
                    Ok(Written {
                        id,
                        created_at: row.get(0)?,
                        requester: Some(row.get(1)?),
                        source: Some(row.get(2)?),
                        status_code: row.get(3)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| JobError::Refused(not_pending(id)))?,
    };
    let inserted = tx
        .prepare_cached(INSERT_CERTIFICATE)?
        .execute(rusqlite::params![
            written.id,
            job.serial,
            job.names,
            job.not_before,
            job.not_after,
            job.key_algorithm,
            job.sha256,
            job.der,
            job.renewed_from,
        ]);
    match inserted {
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            return Err(JobError::Refused(StoreError::DuplicateSerial.into()));
        }
        inserted => inserted?,
    };
    if let Some(order) = &job.acme_order {
        let completed = tx
            .prepare_cached(COMPLETE_ORDER)?
            .execute(rusqlite::params![written.id, order])?;
        if completed != 1 {
            return Err(JobError::Refused(order_not_finalizing(order)));
        }
    }
    tx.prepare_cached(audit::INSERT)?
        .execute(rusqlite::params![
            now,
            job.decided_by,
            job.audit_action(),
            written.id.to_string(),
            job.detail,
        ])?;
    Ok(written)
}

/// The certificate `job` renews, when it is a renewal the rule of one renewal holds for: an
/// ACME order that replaces a certificate follows ACME's own rule (RFC 9773's
/// alreadyReplaced, when the order is made).
fn renewal(job: &Job) -> Option<i64> {
    job.renewed_from.filter(|_| job.acme_order.is_none())
}

/// Why a certificate renewed already is not renewed again: two renewals would leave two
/// current certificates of one line, each with a key handed out (a double-click, two
/// administrators at once), where the one renewed carries the line on.
pub(crate) fn renewed_already(id: i64, by: i64) -> Error {
    Error::Conflict(format!(
        "certificate {id} was renewed already, as certificate {by}: renew certificate {by} instead"
    ))
}

/// Why a request for the key of certificate `id`, revoked for keyCompromise, is not signed: a
/// key known to be exposed is never certified again (Baseline Requirements §6.1.1.3).
pub(crate) fn compromised(id: i64) -> Error {
    Error::InvalidRequest(format!(
        "its key is that of certificate {id}, which was revoked because its key was compromised: make the request with a new key"
    ))
}

fn not_pending(id: i64) -> Error {
    Error::Conflict(format!("request {id} is not pending"))
}

fn order_not_finalizing(order: &str) -> Error {
    Error::Conflict(format!("the ACME order {order} is not being finalized"))
}

/// Answers every caller of a group: its own result once the group committed, else the
/// group's failure.
fn answer(batch: Vec<(Job, Reply)>, written: Result<Vec<Result<Written>>>) {
    match written {
        Ok(results) => {
            for ((_, reply), result) in batch.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        // In the log, unconfirmed, or perhaps in it: not a commit that failed and left nothing.
        Err(Error::Store(StoreError::Unconfirmed {
            certificates,
            reason,
        })) => {
            for (_, reply) in batch {
                let unconfirmed = StoreError::Unconfirmed {
                    certificates: certificates.clone(),
                    reason: reason.clone(),
                };
                let _ = reply.send(Err(unconfirmed.into()));
            }
        }
        Err(Error::Store(StoreError::Unflushed(reason))) => {
            for (_, reply) in batch {
                let _ = reply.send(Err(StoreError::Unflushed(reason.clone()).into()));
            }
        }
        // A command's wait for the lock, given up at a signal: nothing written.
        Err(Error::Interrupted) => {
            for (_, reply) in batch {
                let _ = reply.send(Err(Error::Interrupted));
            }
        }
        Err(err) => {
            // A database that is away stays "unavailable" (a server answers 503 and the
            // client tries again); anything else failed the commit.
            let unavailable = matches!(err, Error::Store(StoreError::Unavailable(_)));
            let message = match err {
                Error::Store(StoreError::Commit(message) | StoreError::Unavailable(message)) => {
                    message
                }
                other => other.to_string(),
            };
            for (_, reply) in batch {
                let failure = if unavailable {
                    StoreError::Unavailable(message.clone())
                } else {
                    StoreError::Commit(message.clone())
                };
                let _ = reply.send(Err(failure.into()));
            }
        }
    }
}

/// The PostgreSQL writer: groups as the SQLite one does. The transaction takes no lock, so
/// the writers of several nodes commit side by side: request ids come from a sequence, a
/// serial already taken is a unique violation, and a pending request or an ACME order moves
/// only from the state it is expected in.
async fn run_postgres(pool: AnyPool, mut jobs: mpsc::Receiver<(Job, Reply)>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let written = write_postgres_group(&pool, &batch).await;
        answer(batch, written);
    }
}

async fn write_postgres_group(
    pool: &AnyPool,
    batch: &[(Job, Reply)],
) -> Result<Vec<Result<Written>>> {
    let mut tx = pool.begin().await?;
    // A renewal reads before it writes (is the certificate renewed already?): it takes the
    // write lock every such writer takes, first, so that two nodes renewing one certificate
    // at once renew it once.
    if batch.iter().any(|(job, _)| renewal(job).is_some()) {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(super::PG_WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        sqlx::query("SAVEPOINT issuance").execute(&mut *tx).await?;
        let result = write_postgres_one(&mut tx, job).await;
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

async fn write_postgres_one(tx: &mut AnyConnection, job: &Job) -> Result<Written> {
    if let Some(old) = renewal(job) {
        let by: Option<i64> = sqlx::query_scalar(RENEWAL_OF)
            .bind(old)
            .fetch_one(&mut *tx)
            .await?;
        if let Some(by) = by {
            return Err(renewed_already(old, by));
        }
    }
    if let Some(key) = &job.holder_key {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(COMPROMISED).fetch_all(&mut *tx).await?;
        if let Some((id, _)) = rows
            .iter()
            .find(|(_, der)| crate::certificate::holds_key(der, key))
        {
            return Err(compromised(*id));
        }
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let written = match job.pending_request {
        None => Written {
            id: sqlx::query_scalar(INSERT_REQUEST)
                .bind(now)
                .bind(&job.requester)
                .bind(job.source.name())
                .bind(&job.names)
                .bind(job.csr_der.as_deref())
                .bind(now)
                .bind(&job.decided_by)
                .fetch_one(&mut *tx)
                .await?,
            created_at: now,
            requester: None,
            source: None,
            status_code: 0,
        },
        Some(id) => {
            let row = sqlx::query(ISSUE_PENDING)
                .bind(&job.names)
                .bind(now)
                .bind(&job.decided_by)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| not_pending(id))?;
            Written {
                id,
                created_at: row.try_get(0).map_err(StoreError::from)?,
                requester: Some(row.try_get(1).map_err(StoreError::from)?),
                source: Some(row.try_get(2).map_err(StoreError::from)?),
                status_code: row.try_get(3).map_err(StoreError::from)?,
            }
        }
    };
    let inserted = sqlx::query(INSERT_CERTIFICATE)
        .bind(written.id)
        .bind(&job.serial)
        .bind(&job.names)
        .bind(job.not_before)
        .bind(job.not_after)
        .bind(job.key_algorithm)
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
    if let Some(order) = &job.acme_order {
        let completed = sqlx::query(COMPLETE_ORDER)
            .bind(written.id)
            .bind(order)
            .execute(&mut *tx)
            .await?;
        if completed.rows_affected() != 1 {
            return Err(order_not_finalizing(order));
        }
    }
    audit::record(
        tx,
        &job.decided_by,
        job.audit_action(),
        &written.id.to_string(),
        &job.detail,
    )
    .await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_writers_connection_is_durable_and_journals_its_savepoints_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.db");
        drop(rusqlite::Connection::open(&path).unwrap());
        let connection = open_sqlite(&path).unwrap();
        let pragma = |name: &str| -> String {
            connection
                .query_row(&format!("PRAGMA {name}"), [], |row| {
                    row.get::<_, rusqlite::types::Value>(0)
                })
                .map(|value| match value {
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Text(text) => text,
                    other => format!("{other:?}"),
                })
                .unwrap()
        };
        // FULL (2): every commit is on disk when it returns; MEMORY (2): a savepoint's
        // journal never becomes a file made and removed for every group.
        assert_eq!(pragma("synchronous"), "2");
        assert_eq!(pragma("temp_store"), "2");
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("foreign_keys"), "1");
    }

    /// An issuance for `name`, with serial `serial`, and where its answer goes.
    fn job(name: &str, serial: u8) -> (Job, Reply) {
        let (reply, _) = oneshot::channel();
        let job = Job {
            requester: "alice".into(),
            source: RequestSource::Cli,
            names: format!("[\"{name}\"]"),
            detail: format!("serial {serial:02x} for {name}"),
            csr_der: None,
            serial: format!("{serial:02x}"),
            not_before: 1_700_000_000,
            not_after: 1_730_000_000,
            key_algorithm: "ecdsa-p256",
            sha256: format!("{serial:064x}"),
            der: vec![0x30, 0x00],
            renewed_from: None,
            pending_request: None,
            decided_by: "alice".into(),
            acme_order: None,
            holder_key: None,
        };
        (job, reply)
    }

    #[test]
    fn a_failure_that_rolls_back_the_whole_transaction_fails_the_group_and_writes_none_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.db");
        let made = rusqlite::Connection::open(&path).unwrap();
        for migration in sqlx::migrate!("../migrations/sqlite").iter() {
            made.execute_batch(&migration.sql).unwrap();
        }
        drop(made);
        let mut connection = open_sqlite(&path).unwrap();
        // What an I/O error or a full disk may do in the middle of a group: SQLite rolls back
        // the whole transaction, not only the failing issuance's savepoint.
        connection
            .execute_batch(
                "CREATE TEMP TRIGGER boom BEFORE INSERT ON requests \
                 WHEN NEW.names LIKE '%boom%' BEGIN SELECT RAISE(ROLLBACK, 'boom'); END;",
            )
            .unwrap();
        let certificates = |connection: &rusqlite::Connection| -> i64 {
            connection
                .query_row("SELECT COUNT(*) FROM certificates", [], |row| row.get(0))
                .unwrap()
        };
        let batch = [
            job("a.example.com", 1),
            job("boom.example.com", 2),
            job("c.example.com", 3),
        ];
        let written = write_sqlite_group(&mut connection, &batch, None);
        assert!(written.is_err(), "{written:?}");
        // Neither the issuance before the failure (rolled back with it) nor the one after
        // (which would have begun and committed a transaction of its own, its caller told it
        // failed) is in the log.
        assert_eq!(certificates(&connection), 0);
        assert!(connection.is_autocommit());

        // The next group is written as any other.
        let written = write_sqlite_group(&mut connection, &[job("d.example.com", 4)], None);
        assert!(written.unwrap().iter().all(Result::is_ok));
        assert_eq!(certificates(&connection), 1);
    }

    /// A log made by the migrations, closed: no write-ahead log beside it.
    fn new_log(dir: &Path) -> PathBuf {
        let path = dir.join("ca.db");
        let made = rusqlite::Connection::open(&path).unwrap();
        made.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        for migration in sqlx::migrate!("../migrations/sqlite").iter() {
            made.execute_batch(&migration.sql).unwrap();
        }
        drop(made);
        assert!(!super::super::beside(&path, "-wal").exists());
        path
    }

    /// The certificates in the log file alone, without its write-ahead log: what a copy of
    /// ca.db holds.
    fn in_log_file(path: &Path) -> i64 {
        let copy = path.with_file_name("copy.db");
        std::fs::copy(path, &copy).unwrap();
        let copied = rusqlite::Connection::open(&copy).unwrap();
        let count = copied
            .query_row("SELECT COUNT(*) FROM certificates", [], |row| row.get(0))
            .unwrap();
        drop(copied);
        std::fs::remove_file(&copy).unwrap();
        count
    }

    fn pragma(connection: &rusqlite::Connection, name: &str) -> i64 {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_commands_issuance_into_a_new_write_ahead_log_is_in_the_log_file_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = new_log(dir.path());
        let wal = super::super::beside(&path, "-wal");
        let mut connection = open_sqlite(&path).unwrap();
        let written = write_sqlite_alone(&mut connection, &[job("a.example.com", 1)], &wal);
        assert!(written.unwrap().iter().all(Result::is_ok));
        // Checkpointed, synced: in ca.db itself, not only in its write-ahead log.
        assert_eq!(in_log_file(&path), 1);
        // The connection syncs again, and checkpoints as any other.
        assert_eq!(pragma(&connection, "synchronous"), 2);
        assert_eq!(pragma(&connection, "wal_autocheckpoint"), 1000);

        // The next one finds the write-ahead log used: a commit that syncs, left in it.
        let written = write_sqlite_alone(&mut connection, &[job("b.example.com", 2)], &wal);
        assert!(written.unwrap().iter().all(Result::is_ok));
        assert_eq!(in_log_file(&path), 1);
        assert_eq!(pragma(&connection, "synchronous"), 2);
    }

    #[test]
    fn a_write_ahead_log_that_another_process_wrote_to_first_is_written_with_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = new_log(dir.path());
        let wal = super::super::beside(&path, "-wal");
        let mut connection = open_sqlite(&path).unwrap();
        // Another connection's commit between the store's opening and this write.
        let mut other = open_sqlite(&path).unwrap();
        let written = write_sqlite_group(&mut other, &[job("a.example.com", 1)], None);
        assert!(written.unwrap().iter().all(Result::is_ok));
        let written = write_sqlite_alone(&mut connection, &[job("b.example.com", 2)], &wal);
        assert!(written.unwrap().iter().all(Result::is_ok));
        // Neither was checkpointed: this one was committed with its syncs, as the other was.
        assert_eq!(in_log_file(&path), 0);

        // Once the write lock is held, a write-ahead log found used writes nothing.
        let written = write_sqlite_group_if(&mut other, &[job("c.example.com", 3)], None, || false);
        assert!(written.unwrap().is_none());
        let count: i64 = connection
            .query_row("SELECT COUNT(*) FROM certificates", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 2);
    }

    #[test]
    fn a_write_ahead_log_a_reader_made_counts_as_new_and_one_emptied_by_a_checkpoint_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = new_log(dir.path());
        let wal = super::super::beside(&path, "-wal");
        // What a command that only reads leaves: an empty write-ahead log.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = rusqlite::Connection::open_with_flags(&path, flags).unwrap();
        reader
            .query_row("SELECT COUNT(*) FROM certificates", [], |_| Ok(()))
            .unwrap();
        drop(reader);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        let mut connection = open_sqlite(&path).unwrap();
        let written = write_sqlite_alone(&mut connection, &[job("a.example.com", 1)], &wal);
        assert!(written.unwrap().iter().all(Result::is_ok));
        assert_eq!(in_log_file(&path), 1);

        // Emptied by a checkpoint in TRUNCATE mode, a tick of the clock after it was made:
        // empty, but written to before, so written with syncs.
        let mut other = open_sqlite(&path).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        write_sqlite_group(&mut other, &[job("b.example.com", 2)], None).unwrap();
        connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        let written = write_sqlite_alone(&mut connection, &[job("c.example.com", 3)], &wal);
        assert!(written.unwrap().iter().all(Result::is_ok));
        assert_eq!(in_log_file(&path), 2);
    }

    #[test]
    fn an_issuance_a_reader_keeps_out_of_the_log_file_is_still_written_and_the_syncs_restored() {
        let dir = tempfile::tempdir().unwrap();
        let path = new_log(dir.path());
        let wal = super::super::beside(&path, "-wal");
        let mut connection = open_sqlite(&path).unwrap();
        // A reader whose snapshot predates the issuance: the checkpoint cannot copy past it
        // (the write-ahead log and its folder are synced instead).
        let reader = open_sqlite(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let before: i64 = reader
            .query_row("SELECT COUNT(*) FROM certificates", [], |row| row.get(0))
            .unwrap();
        assert_eq!(before, 0);
        let written = write_sqlite_alone(&mut connection, &[job("a.example.com", 1)], &wal);
        assert!(written.unwrap().iter().all(Result::is_ok));
        assert_eq!(in_log_file(&path), 0);
        assert_eq!(pragma(&connection, "synchronous"), 2);
        assert_eq!(pragma(&connection, "wal_autocheckpoint"), 1000);
        reader.execute_batch("COMMIT").unwrap();
        let after: i64 = reader
            .query_row("SELECT COUNT(*) FROM certificates", [], |row| row.get(0))
            .unwrap();
        assert_eq!(after, 1);
    }
}
