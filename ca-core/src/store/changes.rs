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

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// How long a look waits for SQLite's locks before the caller reads the log instead.
const LOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// The change counter of one log, its connection opened at the first look.
#[derive(Clone, Debug, Default)]
pub(super) struct Changes {
    watch: Arc<OnceLock<Option<Mutex<Watch>>>>,
}

#[derive(Debug)]
struct Watch {
    /// `None` once closed.
    connection: Option<Connection>,
    /// Whether the connection may write (the command's own, see [`Changes::write`]).
    writable: bool,
    /// What the pragma last read.
    data_version: Option<i64>,
    /// The changes seen: the pragma reading something new, or a write on this connection.
    /// What a look reads.
    seen: i64,
    /// When the last look began, and what it read.
    looked: Option<(Instant, i64)>,
    /// The `-shm` file, when the log is in WAL mode and SQLite made it.
    shm: Option<File>,
    /// Whether to look for the `-shm` file (the log is in WAL mode, and it was not found yet).
    find_shm: bool,
    /// The wal-index header read before the last pragma, and what the pragma read.
    header: Option<([u8; HEADER], i64)>,
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
        }
    }

    /// The counter as a look that began after `since` read it; `None` when it cannot be read.
    /// Callers that arrive while a look is under way share the next one, so that one
    /// connection serves any number of them.
    pub(super) fn read(&self, path: &Path, since: Instant) -> Option<i64> {
        let watch = self.watch.get_or_init(|| open(path).map(Mutex::new));
        let mut watch = watch.as_ref()?.lock().ok()?;
        watch.connection.as_ref()?;
        if let Some((began, version)) = watch.looked
            && began > since
        {
            return Some(version);
        }
        let began = Instant::now();
        let header = watch.shm.as_ref().and_then(wal_index_header);
        if let (Some(header), Some((seen, version))) = (header, watch.header)
            && header == seen
        {
            watch.looked = Some((began, version));
            return Some(version);
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
                    watch.seen += 1;
                }
                let version = watch.seen;
                watch.looked = Some((began, version));
                watch.header = header.map(|header| (header, version));
                if watch.find_shm {
                    // SQLite made it for the pragma's read, if not before.
                    watch.shm = File::open(super::beside(path, "-shm")).ok();
                    watch.find_shm = watch.shm.is_none();
                }
                Some(version)
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
        // Whatever `write` did, the next look reads a new count: a look already made would
        // hand out what was read before it, and a header remembered would match again.
        watch.seen += 1;
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
fn wal_index_header(shm: &File) -> Option<[u8; HEADER]> {
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
        seen: 0,
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
