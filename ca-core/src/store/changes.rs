//! Whether the log changed: SQLite's `PRAGMA data_version`, read on one connection of its own
//! that never writes, changes whenever any other connection, of this process or another,
//! commits. What the authority keeps in memory from the log (the OCSP answers) holds for as
//! long as it reads the same.
//!
//! The connection is opened with rusqlite, not through the pool: a query through sqlx's
//! worker thread costs more than the lookup it guards, where this is a call of a few
//! microseconds on the caller's thread.
//!
//! Most looks do not even ask SQLite. The log is in WAL mode, and every commit, by any
//! process, rewrites the wal-index header at the start of the `-shm` file (SQLite's
//! "walformat" document, §2.2.1: two copies of 48 bytes, with a checksum); it is what SQLite
//! itself compares to tell whether `data_version` moved. A look reads that header with one
//! `pread` (no locks, no read transaction): the same bytes as at the last pragma mean the same
//! version. Anything else (a header changed, torn by a write under way, not yet written, or
//! unreadable) is answered by the pragma, and the header read just before it is remembered
//! with what it read; read in that order, a commit between the two only makes the next look
//! ask again.
//!
//! A command's log (opened by [`super::Store::open_current`] to be written) has one
//! connection in all: this one also writes the command's issuances (see
//! [`Changes::write`]). SQLite's `data_version` does not move for a connection's own commits,
//! so what a look reads is a count of the changes seen, which such a write moves too.
//!
//! A look reads a second count, which every commit moves too except a server's own issuance
//! groups ([`Vouches`]): what is kept of the tables an issuance never writes (the settings,
//! the users' states, see [`super::memo`]) holds while it reads the same. Under load every
//! request follows a group's commit, and reading those tables again after each one took 4% of
//! a loaded server's CPU.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

/// How long a look waits for SQLite's locks before the caller reads the log instead.
const LOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// The change counter of one log, its connection opened at the first look.
#[derive(Clone, Debug, Default)]
pub(super) struct Changes {
    watch: Arc<OnceLock<Option<Mutex<Watch>>>>,
    vouches: Vouches,
}

/// What a look reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Counters {
    /// Moves at every commit seen.
    pub(super) any: i64,
    /// Moves at every commit seen but the issuance groups of this process's writer thread
    /// (see [`Vouches`]), which write no table but the requests, certificates, their names,
    /// the audit trail and the tallies.
    pub(super) beyond_issuances: i64,
}

/// The commits of this process's writer thread that were its issuance groups and nothing
/// else, each as the pair of wal-index headers around it: the one read while it held
/// SQLite's write lock at the group's start (`BEGIN IMMEDIATE`: its view the newest), and
/// the one read once it committed, kept only when the writer's own `PRAGMA data_version`,
/// read after that, has not moved since the start (so no other connection had committed by
/// then, and the header read was its commit's).
///
/// A look that remembered header `A` and now reads header `B` knows every commit in between
/// was one of those groups when a run of kept pairs leads from `A` to `B`, each starting with
/// the very header the one before ended with: byte for byte, so with the same frame count,
/// frame checksums and salts (any other commit, a checkpoint that restarted the write-ahead
/// log, or a recovery of the wal-index, changes them). Anything else (a pair not yet kept, a
/// header not read) is an ordinary change.
///
/// The groups write no table but the requests, certificates, their names, the audit trail
/// and the tallies; that holds for the triggers too only as long as the schema says so, so
/// [`Vouches::watch_writes`] has SQLite report every table the writer's statements (their
/// triggers with them) may write as it prepares them, and once one is the settings or the
/// users, nothing is vouched for again. Nor once either is not a table of the log's own (a
/// view, which may read what the groups write, or change with the clock): checked again
/// whenever the schema changed.
#[derive(Clone, Debug, Default)]
pub(super) struct Vouches {
    kept: Arc<Mutex<VecDeque<Pair>>>,
    /// Set once a statement of the writer's may write the settings or the users, or the log
    /// holds them as anything but its own tables.
    writes_kept_tables: Arc<AtomicBool>,
    /// The schema version at which the settings and the users were last found to be tables.
    schema_checked: Arc<AtomicI64>,
}

/// A wal-index header at a vouched group's start, and the one its commit wrote.
type Pair = ([u8; HEADER], [u8; HEADER]);

/// The most pairs kept: a look under load follows a few groups at most.
const MAX_VOUCHES: usize = 256;

/// A group under way, to be vouched for once it committed (see [`Vouches::begin`]).
pub(super) struct Vouching {
    before: [u8; HEADER],
    data_version: i64,
}

impl Vouches {
    /// Has SQLite tell, as `connection` prepares each statement, every table it may write,
    /// triggers included (an authorizer that allows everything).
    pub(super) fn watch_writes(&self, connection: &Connection) {
        let flag = Arc::clone(&self.writes_kept_tables);
        connection.authorizer(Some(move |context: AuthContext<'_>| {
            let table = match context.action {
                AuthAction::Insert { table_name }
                | AuthAction::Update { table_name, .. }
                | AuthAction::Delete { table_name } => Some(table_name),
                _ => None,
            };
            if table.is_some_and(|table| {
                table.eq_ignore_ascii_case("settings") || table.eq_ignore_ascii_case("users")
            }) {
                flag.store(true, Ordering::Relaxed);
            }
            Authorization::Allow
        }));
    }

    /// Called by the writer right after `BEGIN IMMEDIATE` on `connection`: what a vouch for
    /// the group needs, or `None` when it will not be vouched for.
    pub(super) fn begin(&self, connection: &Connection, shm: &File) -> Option<Vouching> {
        if self.writes_kept_tables.load(Ordering::Relaxed) {
            return None;
        }
        let schema: i64 = connection
            .query_row("PRAGMA schema_version", [], |row| row.get(0))
            .ok()?;
        if self.schema_checked.load(Ordering::Relaxed) != schema {
            let tables: i64 = connection
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table'
                     AND name COLLATE NOCASE IN ('settings', 'users')",
                    [],
                    |row| row.get(0),
                )
                .ok()?;
            if tables != 2 {
                self.writes_kept_tables.store(true, Ordering::Relaxed);
                return None;
            }
            self.schema_checked.store(schema, Ordering::Relaxed);
        }
        let before = wal_index_header(shm)?;
        let data_version = data_version(connection)?;
        Some(Vouching {
            before,
            data_version,
        })
    }

    /// Called by the writer once the group begun with `vouching` committed, having written at
    /// least one row: keeps the pair when nothing else committed since it began.
    pub(super) fn committed(&self, vouching: Vouching, connection: &Connection, shm: &File) {
        let Some(after) = wal_index_header(shm) else {
            return;
        };
        // Read after the header: had another connection committed before this read, the
        // header read may be its commit's, and the pragma moves.
        if data_version(connection) != Some(vouching.data_version)
            || self.writes_kept_tables.load(Ordering::Relaxed)
        {
            return;
        }
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() == MAX_VOUCHES {
            kept.pop_front();
        }
        kept.push_back((vouching.before, after));
    }

    /// Whether every commit from header `from` to header `to` was a vouched group's.
    fn cover(&self, from: &[u8; HEADER], to: &[u8; HEADER]) -> bool {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(start) = kept.iter().rposition(|(before, _)| before == from) else {
            return false;
        };
        let mut at = from;
        for (before, after) in kept.iter().skip(start) {
            if before != at {
                return false;
            }
            if after == to {
                return true;
            }
            at = after;
        }
        false
    }
}

/// `PRAGMA data_version` on `connection`: moves when another connection committed.
fn data_version(connection: &Connection) -> Option<i64> {
    connection
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .ok()
}

#[derive(Debug)]
struct Watch {
    /// `None` once closed.
    connection: Option<Connection>,
    /// Whether the connection may write (the command's own, see [`Changes::write`]).
    writable: bool,
    /// What the pragma last read.
    data_version: Option<i64>,
    /// The changes seen: the pragma reading something new, a write on this connection, or
    /// a vouched header. What a look reads.
    seen: Counters,
    /// When the last look began, and what it read.
    looked: Option<(Instant, Counters)>,
    /// The `-shm` file, when the log is in WAL mode and SQLite made it.
    shm: Option<File>,
    /// Whether to look for the `-shm` file (the log is in WAL mode, and it was not found yet).
    find_shm: bool,
    /// The wal-index header read before the last pragma or vouched since, and what the
    /// look read with it.
    header: Option<([u8; HEADER], Counters)>,
}

/// The length of the wal-index header; the file begins with two copies of it.
const HEADER: usize = 48;

impl Changes {
    /// Changes watched on `connection`, already open to the log (the one that found it
    /// current, see [`super::Store::open_current`]); `writable` when it may also write the
    /// log's issuances (opened read-write, and set up as the writer's are).
    pub(super) fn adopt(connection: Connection, writable: bool) -> Changes {
        let watch = watch(connection, writable).ok().map(Mutex::new);
        Changes {
            watch: Arc::new(OnceLock::from(watch)),
            vouches: Vouches::default(),
        }
    }

    /// The headers the writer thread vouches for (see [`Vouches`]).
    pub(super) fn vouches(&self) -> Vouches {
        self.vouches.clone()
    }

    /// The counters as a look that began after `since` read them; `None` when they cannot be
    /// read. Callers that arrive while a look is under way share the next one, so that one
    /// connection serves any number of them.
    pub(super) fn read(&self, path: &Path, since: Instant) -> Option<Counters> {
        let watch = self.watch.get_or_init(|| open(path).map(Mutex::new));
        let mut watch = watch.as_ref()?.lock().ok()?;
        watch.connection.as_ref()?;
        if let Some((began, counters)) = watch.looked
            && began > since
        {
            return Some(counters);
        }
        let began = Instant::now();
        let header = watch.shm.as_ref().and_then(wal_index_header);
        if let (Some(header), Some((seen, counters))) = (header, watch.header) {
            if header == seen {
                watch.looked = Some((began, counters));
                return Some(counters);
            }
            if self.vouches.cover(&seen, &header) {
                watch.seen.any += 1;
                let counters = Counters {
                    any: watch.seen.any,
                    beyond_issuances: counters.beyond_issuances,
                };
                watch.looked = Some((began, counters));
                watch.header = Some((header, counters));
                return Some(counters);
            }
        }
        let read = watch
            .connection
            .as_ref()?
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get::<_, i64>(0)));
        match read {
            Ok(data_version) => {
                if watch.data_version != Some(data_version) {
                    watch.data_version = Some(data_version);
                    watch.seen.any += 1;
                    watch.seen.beyond_issuances += 1;
                }
                let counters = watch.seen;
                watch.looked = Some((began, counters));
                watch.header = header.map(|header| (header, counters));
                if watch.find_shm {
                    // SQLite made it for the pragma's read, if not before.
                    watch.shm = File::open(super::beside(path, "-shm")).ok();
                    watch.find_shm = watch.shm.is_none();
                }
                Some(counters)
            }
            Err(err) => {
                tracing::debug!(%err, "could not read the log's data version");
                watch.looked = None;
                watch.header = None;
                None
            }
        }
    }

    /// Runs `read` on the watching connection, on the caller's thread: for the few rows that
    /// nearly every request reads again after a commit (the settings, a user's state), where
    /// a query through the pool's worker thread costs two thread switches more than the
    /// read. `None` when the connection cannot be had, or the read failed (the caller reads
    /// through the pool instead).
    pub(super) fn query<T>(
        &self,
        path: &Path,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let watch = self.watch.get_or_init(|| open(path).map(Mutex::new));
        let watch = watch.as_ref()?.lock().ok()?;
        match read(watch.connection.as_ref()?) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::debug!(%err, "could not read the log on the watching connection");
                None
            }
        }
    }

    /// Runs `write` on the watching connection when it may write (see [`Changes::adopt`]),
    /// waiting up to `busy` for another connection's write lock, and counts it as a change
    /// (its commits do not move the connection's own `data_version`); `None`, without
    /// running it, when it may not.
    pub(super) fn write<T>(
        &self,
        busy: Duration,
        write: impl FnOnce(&mut Connection) -> T,
    ) -> Option<T> {
        let watch = self.watch.get()?.as_ref()?;
        let mut watch = watch.lock().ok()?;
        if !watch.writable {
            return None;
        }
        let connection = watch.connection.as_mut()?;
        connection.busy_timeout(busy).ok()?;
        let written = write(connection);
        let _ = connection.busy_timeout(LOOK_TIMEOUT);
        // Whatever `write` did, the next look reads new counts: a look already made would
        // hand out what was read before it, and a header remembered would match again.
        watch.seen.any += 1;
        watch.seen.beyond_issuances += 1;
        watch.looked = None;
        watch.header = None;
        Some(written)
    }

    /// Closes the watching connection (before the connections that write: the last of those
    /// puts the write-ahead log into the log file). Every look after it reads `None`.
    pub(super) fn close(&self) {
        let watch = self.watch.get_or_init(|| None);
        if let Some(watch) = watch
            && let Ok(mut watch) = watch.lock()
        {
            watch.connection = None;
            watch.shm = None;
            watch.looked = None;
            watch.header = None;
        }
    }
}

/// The wal-index header in `shm`, when both copies are written, the same, and their checksum
/// (SQLite's, over the first 40 bytes in native byte order) is right; `None` otherwise (a
/// commit may be writing it).
pub(super) fn wal_index_header(shm: &File) -> Option<[u8; HEADER]> {
    let mut both = [0; 2 * HEADER];
    shm.read_exact_at(&mut both, 0).ok()?;
    let (first, second) = both.split_at(HEADER);
    // Byte 12 is isInit: 1 once SQLite wrote the header.
    if first != second || first[12] != 1 {
        return None;
    }
    let mut words = [0u32; HEADER / 4];
    for (word, bytes) in words.iter_mut().zip(first.chunks_exact(4)) {
        *word = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let (mut s1, mut s2) = (0u32, 0u32);
    for pair in words[..10].chunks_exact(2) {
        s1 = s1.wrapping_add(pair[0]).wrapping_add(s2);
        s2 = s2.wrapping_add(pair[1]).wrapping_add(s1);
    }
    if (s1, s2) != (words[10], words[11]) {
        return None;
    }
    <[u8; HEADER]>::try_from(first).ok()
}

/// A read-only connection to the log at `path`; `None` when SQLite cannot open one (the
/// answers are then read from the log each time).
fn open(path: &Path) -> Option<Watch> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    match Connection::open_with_flags(path, flags).and_then(|connection| watch(connection, false)) {
        Ok(watch) => Some(watch),
        Err(err) => {
            tracing::warn!(%err, path = %path.display(), "could not open the log to watch for changes; OCSP answers are read from it each time");
            None
        }
    }
}

/// A watch on `connection`, its waits for SQLite's locks cut short.
fn watch(connection: Connection, writable: bool) -> rusqlite::Result<Watch> {
    connection.busy_timeout(LOOK_TIMEOUT)?;
    let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    // While this connection is open in WAL mode, no other can take the log out of it (that
    // needs the log to itself), so the `-shm` file stays the one to read.
    Ok(Watch {
        connection: Some(connection),
        writable,
        data_version: None,
        seen: Counters {
            any: 0,
            beyond_issuances: 0,
        },
        looked: None,
        shm: None,
        find_shm: mode.eq_ignore_ascii_case("wal"),
        header: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A log in WAL mode with a table, and a connection that writes to it, as another
    /// process would.
    fn log(dir: &Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("ca.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        (path, writer)
    }

    #[test]
    fn every_commit_is_seen_by_the_next_look_and_the_header_answers_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = log(dir.path());
        let changes = Changes::default();
        let mut last = changes.read(&path, Instant::now()).unwrap();
        for n in 0..50 {
            // Unchanged: the same version, from the header once the pragma was read with it.
            assert_eq!(changes.read(&path, Instant::now()), Some(last));
            assert_eq!(changes.read(&path, Instant::now()), Some(last));
            let watch = changes
                .watch
                .get()
                .unwrap()
                .as_ref()
                .unwrap()
                .lock()
                .unwrap();
            assert!(
                watch.shm.is_some() && watch.header.is_some(),
                "the header is read"
            );
            drop(watch);
            writer.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
            if n % 10 == 9 {
                // A checkpoint that restarts the WAL: the next commit writes from its start.
                writer
                    .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                    .unwrap();
            }
            let version = changes.read(&path, Instant::now()).unwrap();
            assert_ne!(version, last, "commit {n} is seen");
            last = version;
        }
    }

    /// A group as the writer thread writes one: begun with the write lock, a row, the
    /// commit, then (when `vouched`) the vouch.
    fn group(writer: &Connection, shm: &File, vouches: &Vouches, vouched: bool) {
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let vouching = vouches.begin(writer, shm);
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        writer.execute_batch("COMMIT").unwrap();
        if let Some(vouching) = vouching.filter(|_| vouched) {
            vouches.committed(vouching, writer, shm);
        }
    }

    /// A log with a writer as the writer thread is set up, another connection that has run
    /// `schema`, the -shm file, and the watch.
    struct Vouched {
        path: std::path::PathBuf,
        writer: Connection,
        other: Connection,
        shm: File,
        changes: Changes,
        vouches: Vouches,
    }

    fn vouched(dir: &Path, schema: &str) -> Vouched {
        let (path, writer) = log(dir);
        let other = Connection::open(&path).unwrap();
        other.execute_batch(schema).unwrap();
        let shm = File::open(crate::store::beside(&path, "-shm")).unwrap();
        let changes = Changes::default();
        let vouches = changes.vouches();
        vouches.watch_writes(&writer);
        Vouched {
            path,
            writer,
            other,
            shm,
            changes,
            vouches,
        }
    }

    #[test]
    fn the_writers_own_groups_leave_the_second_counter_and_anything_else_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let Vouched {
            path,
            writer,
            other,
            shm,
            changes,
            vouches,
        } = vouched(
            dir.path(),
            "CREATE TABLE users (x INTEGER); CREATE TABLE settings (x INTEGER);",
        );
        let look = || changes.read(&path, Instant::now()).unwrap();
        // Read twice: the first look finds the -shm file, the second remembers its header.
        look();
        let mut last = look();
        let mut step = |what: &str, kept: bool, commits: &mut dyn FnMut()| {
            commits();
            let now = look();
            assert_ne!(now.any, last.any, "{what}: a commit is seen");
            assert_eq!(
                now.beyond_issuances == last.beyond_issuances,
                kept,
                "{what}: the second counter"
            );
            assert_eq!(look(), now, "{what}: nothing since");
            last = now;
        };
        step("one group", true, &mut || {
            group(&writer, &shm, &vouches, true);
        });
        step("three groups", true, &mut || {
            for _ in 0..3 {
                group(&writer, &shm, &vouches, true);
            }
        });
        step("another connection's commit", false, &mut || {
            other.execute("INSERT INTO t VALUES (2)", []).unwrap();
        });
        step("another's commit between two groups", false, &mut || {
            group(&writer, &shm, &vouches, true);
            other.execute("INSERT INTO t VALUES (2)", []).unwrap();
            group(&writer, &shm, &vouches, true);
        });
        step("another's commit after a group", false, &mut || {
            group(&writer, &shm, &vouches, true);
            other.execute("INSERT INTO t VALUES (2)", []).unwrap();
        });
        step("another's commit before a group", false, &mut || {
            other.execute("INSERT INTO t VALUES (2)", []).unwrap();
            group(&writer, &shm, &vouches, true);
        });
        step(
            "another's commit before the group's end is read",
            false,
            &mut || {
                writer.execute_batch("BEGIN IMMEDIATE").unwrap();
                let vouching = vouches.begin(&writer, &shm).unwrap();
                writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
                writer.execute_batch("COMMIT").unwrap();
                other.execute("INSERT INTO t VALUES (2)", []).unwrap();
                vouches.committed(vouching, &writer, &shm);
            },
        );
        step("a commit not vouched for", false, &mut || {
            group(&writer, &shm, &vouches, false);
        });
        // A checkpoint in RESTART mode leaves the header as it was (the next group restarts
        // the write-ahead log, inside its own commit); one in TRUNCATE mode rewrites it.
        for (mode, kept) in [("RESTART", true), ("TRUNCATE", false)] {
            step(
                &format!("groups around a {mode} checkpoint"),
                kept,
                &mut || {
                    group(&writer, &shm, &vouches, true);
                    other
                        .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                        .unwrap();
                    group(&writer, &shm, &vouches, true);
                },
            );
        }
        // A group committed, its vouch not kept yet: an ordinary change; the groups after it
        // follow on from the header that look remembered.
        group(&writer, &shm, &vouches, false);
        step("a group seen before its vouch", false, &mut || {});
        step("the groups after it", true, &mut || {
            group(&writer, &shm, &vouches, true);
            group(&writer, &shm, &vouches, true);
        });
        // A recovery of the wal-index starts its commit count again: another connection's
        // commits then bring it back to where a group's would have left it.
        step("a recovery and as many commits", false, &mut || {
            group(&writer, &shm, &vouches, true);
            let commits = {
                let header = wal_index_header(&shm).unwrap();
                u32::from_ne_bytes([header[8], header[9], header[10], header[11]])
            };
            let raw = std::fs::OpenOptions::new()
                .write(true)
                .open(crate::store::beside(&path, "-shm"))
                .unwrap();
            for at in [12, HEADER as u64 + 12] {
                raw.write_all_at(&[0], at).unwrap();
            }
            for _ in 0..commits {
                other.execute("INSERT INTO t VALUES (2)", []).unwrap();
            }
        });
        step("a group again", true, &mut || {
            group(&writer, &shm, &vouches, true);
        });
        // A trigger that has the groups' rows write the users: from then on nothing is
        // vouched for.
        step("a trigger made", false, &mut || {
            other
                .execute_batch(
                    "CREATE TRIGGER t_users AFTER INSERT ON t BEGIN INSERT INTO users VALUES (1); END",
                )
                .unwrap();
        });
        step("a group whose trigger writes the users", false, &mut || {
            group(&writer, &shm, &vouches, true);
        });
        step("the trigger dropped", false, &mut || {
            other.execute_batch("DROP TRIGGER t_users").unwrap();
        });
        step("any group after it", false, &mut || {
            group(&writer, &shm, &vouches, true);
        });
    }

    #[test]
    fn nothing_is_vouched_for_while_the_users_are_a_view() {
        let dir = tempfile::tempdir().unwrap();
        let Vouched {
            path,
            writer,
            other,
            shm,
            changes,
            vouches,
        } = vouched(
            dir.path(),
            "CREATE TABLE users_base (x INTEGER); CREATE VIEW users AS SELECT x FROM users_base;
             CREATE TABLE settings (x INTEGER);",
        );
        let look = || changes.read(&path, Instant::now()).unwrap();
        look();
        let mut last = look();
        for _ in 0..2 {
            group(&writer, &shm, &vouches, true);
            let now = look();
            assert_ne!(now.beyond_issuances, last.beyond_issuances);
            last = now;
        }
        // Made a table again: still nothing (the writer stopped vouching for good).
        other
            .execute_batch("DROP VIEW users; ALTER TABLE users_base RENAME TO users;")
            .unwrap();
        look();
        last = look();
        group(&writer, &shm, &vouches, true);
        assert_ne!(look().beyond_issuances, last.beyond_issuances);
    }

    #[test]
    fn a_header_that_does_not_check_out_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = log(dir.path());
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let shm = File::open(crate::store::beside(&path, "-shm")).unwrap();
        let header = wal_index_header(&shm).unwrap();
        // A copy of the file with the two copies differing, and with a wrong checksum.
        let mut both = [0; 2 * HEADER];
        shm.read_exact_at(&mut both, 0).unwrap();
        assert_eq!(both[..HEADER], header);
        let copy = dir.path().join("copy");
        for (at, bad) in [(HEADER + 16, "copies differ"), (16, "")] {
            let mut altered = both;
            altered[at] ^= 1;
            if bad.is_empty() {
                // Both copies alike, the checksum wrong.
                altered[HEADER + 16] ^= 1;
            }
            std::fs::write(&copy, altered).unwrap();
            assert_eq!(wal_index_header(&File::open(&copy).unwrap()), None, "{at}");
        }
        std::fs::write(&copy, &both[..HEADER]).unwrap();
        assert_eq!(wal_index_header(&File::open(&copy).unwrap()), None, "short");
    }
}
