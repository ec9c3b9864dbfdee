//! How the commands that messages give to run are written: `ca` as this run was pointed at its
//! CA, so that, pasted, they act on the same CA.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ca_core::DatabaseUrl;
use ca_core::display::shell_word;

/// How this run was pointed at its CA, as far as a command pasted later needs to be told.
struct Pointed {
    /// The configuration file `ca serve` read, when a command would not find it by itself.
    config: Option<PathBuf>,
    /// The data folder given on the command line.
    data: Option<PathBuf>,
    /// The database given on the command line (never with a password: refused there), or the
    /// one a server opens when it holds none.
    database: Option<DatabaseUrl>,
    /// Whether the database came from the configuration file, which `--data` would skip (or,
    /// for a server, holds a password that no command line may carry).
    database_configured: bool,
}

static POINTED: Mutex<Pointed> = Mutex::new(Pointed {
    config: None,
    data: None,
    database: None,
    database_configured: false,
});

fn pointed() -> std::sync::MutexGuard<'static, Pointed> {
    POINTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records the data folder and database given on the command line, if any (set by `main`
/// before any command runs). A folder or database that came from $CA_DATA, $CA_DATABASE or
/// the configuration file is found again by a command without them.
pub(crate) fn given(data: Option<&Path>, database: Option<&DatabaseUrl>) {
    let mut pointed = pointed();
    pointed.data = data.map(Path::to_owned);
    pointed.database = database.cloned();
}

/// Records that the database came from the configuration file.
pub(crate) fn database_configured() {
    pointed().database_configured = true;
}

/// Records how `ca serve` found its CA: `data`, the folder it serves, and `database`, the one
/// it opens, if any. Its commands name both, the folder whole (the server's working folder is
/// not its reader's), since a command given a folder reads no configuration file; unless the
/// database holds a password, which a command line must not: then they leave both to where
/// the server found them, `config` being the configuration file it read when a command would
/// not find that one by itself.
pub(crate) fn served(data: &Path, database: Option<&DatabaseUrl>, config: Option<&Path>) {
    let whole = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut pointed = pointed();
    match database {
        Some(url) if url.given().is_none() => {
            pointed.data = pointed.data.as_deref().map(whole);
            pointed.config = config.map(whole);
            pointed.database_configured = true;
        }
        _ => {
            pointed.data = Some(whole(data));
            pointed.database = database.cloned();
        }
    }
}

/// The start of every command a message gives to run on this CA: `ca`, with `--data DIR` and
/// `--database URL` when those were given on the command line (each a shell word), after
/// `CA_CONFIG=FILE` for a server's `--config FILE`.
pub(crate) fn ca() -> String {
    let pointed = pointed();
    write(&pointed, pointed.data.as_deref())
}

/// [`ca`] for a command that must name the data folder `data` whatever folder it would find by
/// default: `ca --data DIR`, unless the folder came with a database from a configuration
/// file, which `--data` would skip (the configuration names both).
pub(crate) fn ca_in(data: &Path) -> String {
    let pointed = pointed();
    if pointed.data.is_none() && (pointed.config.is_some() || pointed.database_configured) {
        return write(&pointed, None);
    }
    write(&pointed, Some(pointed.data.as_deref().unwrap_or(data)))
}

fn write(pointed: &Pointed, data: Option<&Path>) -> String {
    let mut ca = String::new();
    if let Some(config) = &pointed.config {
        ca.push_str("CA_CONFIG=");
        ca.push_str(&shell_word(config));
        ca.push(' ');
    }
    ca.push_str("ca");
    if let Some(data) = data {
        ca.push_str(" --data ");
        ca.push_str(&shell_word(data));
    }
    if let Some(url) = pointed.database.as_ref().and_then(DatabaseUrl::given) {
        ca.push_str(" --database ");
        ca.push_str(&shell_word(Path::new(url)));
    }
    ca
}

/// The data folder whose ca.db this run opens, when its log is a SQLite file (set by `main`).
static SQLITE_FOLDER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Records that this run's issuance log is ca.db in `data`.
pub(crate) fn log_in(data: &Path) {
    let _ = SQLITE_FOLDER.set(data.to_owned());
}

/// Whether this run's issuance log is a SQLite file (ca.db in its data folder).
pub(crate) fn log_is_file() -> bool {
    SQLITE_FOLDER.get().is_some()
}

/// True when the disk under this run's ca.db has less than a mebibyte free for this user:
/// SQLite says only "disk I/O error" when it cannot grow the write-ahead log's index there.
pub(crate) fn log_disk_nearly_full() -> bool {
    log_disk_free().is_some_and(|free| free < 1 << 20)
}

/// The bytes free for this user on the disk under this run's ca.db, when its log is one.
pub(crate) fn log_disk_free() -> Option<u64> {
    SQLITE_FOLDER
        .get()
        .and_then(|data| rustix::fs::statvfs(data).ok())
        .map(|disk| disk.f_bavail.saturating_mul(disk.f_frsize))
}
