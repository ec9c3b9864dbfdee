//! The authority: the root key and certificate, the CA's settings, and the issuance log, all in
//! one data folder.
//!
//! ```text
//! DIR/root.crt   the root certificate (PEM); its presence marks an initialised folder
//! DIR/root.key   the root key, PKCS#8 PEM, mode 0600, encrypted when a passphrase was given
//! DIR/ca.db      the issuance log (SQLite, WAL), unless it is kept in PostgreSQL
//! ```
//!
//! With a PostgreSQL database several data folders (one per node) share one log: each holds
//! the same root and key, and the log records the root's SHA-256 so that no folder serves
//! another CA's log.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use rcgen::{Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::certificate::{Fingerprint, SerialNumber};
use crate::crl::{self, Crl, CrlDates};
use crate::error::{Error, NameRule, Result, StoreError};
use crate::files::{
    PUBLIC_MODE, SECRET_MODE, Staged, copy_atomic, lock_file, rename_new, write_atomic,
};
use crate::key::{self, Passphrase};
use crate::name::{NamePolicy, SubjectName};
use crate::ocsp::cache::AnswerCache;
use crate::ocsp::{self, Responder};
use crate::revoke::RevocationReason;
use crate::root::{Root, RootSpec};
use crate::settings::{RequestPolicy, Setting, Settings};
use crate::store::{
    Access, AuditEvent, AuditFilter, CertificateRef, CertificateState, CopyReport, DatabaseUrl,
    Issuance, ListFilter, ListPage, LogLocation, RequestId, RoleName, Store,
};

const ROOT_CERT: &str = "root.crt";
const ROOT_KEY: &str = "root.key";
const STORE: &str = "ca.db";
/// Every file a CA keeps in its data folder (and a backup holds): the root, its key, the log
/// and what SQLite keeps beside the log.
const CA_FILES: [&str; 6] = [
    ROOT_CERT,
    ROOT_KEY,
    STORE,
    "ca.db-wal",
    "ca.db-shm",
    "ca.db-journal",
];

/// Whether `folder` is a CA's data folder: it holds a root certificate, and its key or its
/// log (what no output file may go into).
pub fn is_data_folder(folder: &crate::files::Folder) -> bool {
    folder.exists(ROOT_CERT) && (folder.exists(ROOT_KEY) || folder.exists(STORE))
}
const INIT_LOCK: &str = "init.lock";
/// Held shared by every server on the folder (see [`Authority::hold_serving`]).
const SERVING_LOCK: &str = "serve.lock";
/// Made by a restore before it puts anything into a folder, removed once every file is in
/// place: while it is there, the folder holds a restore that is running or was stopped
/// (killed, the machine down), never a CA to open.
const RESTORE_MARK: &str = "restore.unfinished";
/// The same for a backup, in its folder: a backup folder holding it is no backup.
const BACKUP_MARK: &str = "backup.unfinished";
/// Written into a backup as it completes, saying what it is: a folder holding it is opened
/// only to read, so that a backup used as a data folder by mistake never issues beside the
/// CA it copies (two logs giving out the same ids, each missing the other's revocations). A
/// restore copies the CA's files, not this one.
const BACKUP_NOTE: &str = "backup.txt";

/// A data folder marked as served; the mark goes when this is dropped.
#[derive(Debug)]
pub struct ServingGuard(
    /// Held for its lock only.
    #[allow(dead_code)]
    fs::File,
);
/// The setting that records the root's SHA-256 in the log, at creation.
const ROOT_FINGERPRINT: &str = "root_sha256";
/// The setting that marks a SQLite log whose rows were copied into a database (shown URL): the
/// database is the log from then on, and this copy is refused, so the two never diverge.
const MOVED_TO: &str = "log_moved_to";

/// Where clients fetch the CA's public files, given its public base URL. The web layer owns
/// the paths; the authority only writes the URLs into certificates.
#[derive(Clone, Copy)]
pub struct Links {
    /// The CRL distribution point (RFC 5280 §4.2.1.13).
    pub crl: fn(&str) -> String,
    /// The AIA caIssuers location of the root certificate (RFC 5280 §4.2.2.1).
    pub ca_issuers: fn(&str) -> String,
    /// The AIA location of the OCSP responder (RFC 5280 §4.2.2.1, RFC 6960 §3.1).
    pub ocsp: fn(&str) -> String,
}

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Links")
    }
}

/// How to open a CA.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Decrypts the root key, when it is encrypted.
    pub passphrase: Option<Passphrase>,
    /// Connections to the log a process keeps.
    pub connections: u32,
    /// The URLs certificates point at; without them certificates carry no CRL or AIA links.
    pub links: Option<Links>,
    /// Only read the log (a read-only folder works too); nothing can be signed or recorded.
    pub read_only: bool,
    /// The PostgreSQL database holding the log; `None` for the SQLite file in the folder.
    pub database: Option<DatabaseUrl>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            passphrase: None,
            connections: 1,
            links: None,
            read_only: false,
            database: None,
        }
    }
}

impl OpenOptions {
    /// Where the log of the CA in `dir` is: the database when one is given, else `ca.db`.
    pub fn log_location(&self, dir: &Path) -> LogLocation {
        match &self.database {
            Some(url) => LogLocation::Postgres(url.clone()),
            None => LogLocation::File(dir.join(STORE)),
        }
    }
}

/// How to create a new CA.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub root: RootSpec,
    /// The public base URL of this CA's web pages, for CRL and AIA pointers.
    pub url: Option<String>,
    pub policy: RequestPolicy,
    /// Recorded in the audit trail.
    pub actor: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            root: RootSpec::default(),
            url: None,
            policy: RequestPolicy::default(),
            actor: "ca".into(),
        }
    }
}

/// A problem [`Authority::check_folder`] found, and whether it is damage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderProblem {
    /// What is wrong and what to do, in one sentence.
    pub text: String,
    /// The log or the key altered or broken (a backup mends it), rather than a matter one
    /// command mends in place.
    pub damage: bool,
}

/// Why the CRL a log keeps cannot be handed out as it is (see [`Authority::write_kept_crl`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeptCrl {
    /// No CRL was ever signed into the log.
    None,
    /// A revocation was recorded, or a reason raised to keyCompromise, after it was signed.
    Behind(CrlDates),
    /// Its nextUpdate has passed: clients refuse it.
    Expired(CrlDates),
}

/// An open certificate authority.
pub struct Authority {
    dir: PathBuf,
    root: Root,
    settings: Settings,
    store: Store,
    passphrase: Option<Passphrase>,
    links: Option<Links>,
    issuer: OnceLock<Issuer<'static, KeyPair>>,
    /// The OCSP responder as last read or made, so that answers do not read its key each time.
    responder: RwLock<Option<Arc<Responder>>>,
    /// The OCSP responses answers were last given from, while the log has not changed.
    ocsp_answers: AnswerCache,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("root", &self.root.common_name())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// True when `dir` holds a CA, or what is left of one (its log or its key): what a
    /// restore or a new CA must not land on.
    fn holds_a_ca(dir: &Path) -> bool {
        [ROOT_CERT, STORE, ROOT_KEY]
            .iter()
            .any(|name| occupied(&dir.join(name)))
    }

    pub fn exists(dir: &Path) -> bool {
        dir.join(ROOT_CERT).is_file()
    }

    /// Creates a new CA in `dir` (made if missing, mode 0700). Refuses if one exists.
    #[instrument(skip_all)]
    pub async fn init(dir: &Path, init: InitOptions, open: OpenOptions) -> Result<Authority> {
        match Self::open_or_init(dir, init, open).await? {
            (authority, true) => Ok(authority),
            (_, false) => Err(Error::AlreadyInitialised(dir.to_owned())),
        }
    }

    /// Opens the CA in `dir`, creating it with `init` first if there is none. The flag says
    /// whether it was created. Safe against several processes doing this at once.
    #[instrument(skip_all)]
    pub async fn open_or_init(
        dir: &Path,
        init: InitOptions,
        open: OpenOptions,
    ) -> Result<(Authority, bool)> {
        refuse_a_file(dir)?;
        // What a stopped restore left is the next restore's to take out, not a CA's to
        // begin on (that restore would take the new CA's files out with it).
        if dir.join(RESTORE_MARK).exists() {
            return Err(Error::RestoreUnfinished(dir.to_owned()));
        }
        refuse_unfinished_backup(dir)?;
        if Self::exists(dir) {
            return Ok((Self::open(dir, open).await?, false));
        }
        // Everything that can be refused is checked before anything is written.
        // The log's driver opens a SQLite file by a UTF-8 path only: refused here, not once
        // the folder holds an empty log and a lock that every later command would stop at.
        if let Some(log) = open.log_location(dir).file()
            && (log.to_str().is_none()
                || std::path::absolute(log).is_ok_and(|path| path.to_str().is_none()))
        {
            return Err(Error::InvalidInput(format!(
                "{} is not a UTF-8 path, which the issuance log needs: choose a data folder whose path is",
                log.display()
            )));
        }
        let name = init.root.common_name()?;
        crate::profile::Validity::root(init.root.days, OffsetDateTime::now_utc())?;
        let settings = Settings::initial(init.url.as_deref(), init.policy)?;
        if let Some(passphrase) = &open.passphrase {
            passphrase.refuse_line_breaks()?;
        }
        // A folder others may change is refused before the key is made in it, as every
        // command that opens the CA would refuse it afterwards.
        refuse_exposed(dir)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| Error::io(dir, err))?;
        let _lock = lock_file(&dir.join(INIT_LOCK))?;
        if dir.join(RESTORE_MARK).exists() {
            return Err(Error::RestoreUnfinished(dir.to_owned()));
        }
        refuse_unfinished_backup(dir)?;
        if Self::exists(dir) {
            return Ok((Self::open(dir, open).await?, false));
        }
        let location = open.log_location(dir);
        refuse_links(dir)?;
        // A key without its root certificate is a CA's whose root went missing: a new CA
        // would put its own key in its place, and the root clients trust would sign no more.
        // Refused before anything is removed (an unused log beside it keeps its settings).
        let key_there = occupied(&dir.join(ROOT_KEY));
        if key_there && let Some(log) = location.file() {
            return Err(if occupied(log) {
                Error::RootMissing(dir.to_owned())
            } else {
                Error::KeyWithoutRoot(dir.to_owned())
            });
        }
        // A write-ahead log whose log is gone may hold a CA's last issuances: never taken
        // over, nor removed, by a new log of the same name.
        if let Some(log) = location.file()
            && !occupied(log)
        {
            let wal = PathBuf::from(format!("{}-wal", log.display()));
            if fs::metadata(&wal).is_ok_and(|meta| meta.len() > 0) {
                return Err(Error::Conflict(format!(
                    "{} is the write-ahead log of an issuance log that is not there ({} is missing), and may hold a CA's last issuances: put its log back beside it (or restore the CA's backup), or move it away to make a new CA here",
                    wal.display(),
                    log.display()
                )));
            }
        }
        // (A PostgreSQL database is never cleared: it says whose log it holds.)
        Self::clear_abandoned_log(dir, &location).await?;
        if key_there {
            return Err(Error::KeyWithoutRoot(dir.to_owned()));
        }
        remove_stopped_root_files(dir);
        let (key_pair, certificate) = init.root.make()?;
        // A SQLite log this creation makes is taken out again if the creation fails before
        // the log is claimed (a full disk during its tables' creation, the key's or the
        // certificate's writing): left, every command would take the folder for a CA whose
        // root went missing. (The folder held no log now: one was cleared just above.)
        let made_log = location.file().map(Path::to_owned);
        let store = match Store::open(&location, open.connections, Access::Create).await {
            Ok(store) => store,
            Err(err) => {
                remove_new_log(made_log.as_deref());
                return Err(err);
            }
        };
        let mut rows = settings;
        rows.push((ROOT_FINGERPRINT, Fingerprint::of(certificate.der()).hex()));
        let event = format!("{} root", init.root.key);
        let claimed = async {
            // The key and the certificate are written first, under temporary names: a folder
            // that cannot take them fails before the log is claimed, which would otherwise be
            // left (a PostgreSQL database) claimed by a root whose key nobody holds.
            let key_pem =
                key::encode_pkcs8_pem(key_pair.serialized_der(), open.passphrase.as_ref())?;
            let staged_key = Staged::write(&dir.join(ROOT_KEY), key_pem.as_bytes(), SECRET_MODE)?;
            let staged_cert = Staged::write(
                &dir.join(ROOT_CERT),
                certificate.pem().as_bytes(),
                PUBLIC_MODE,
            )?;
            // Claimed in one transaction, with its audit entry: of two nodes creating a CA in
            // one empty database at once, one wins and the other is refused, and its staged
            // files go.
            let recorded = store
                .claim(&init.actor, ROOT_FINGERPRINT, &rows, (&name, &event))
                .await?;
            Ok::<_, Error>((staged_key, staged_cert, recorded))
        }
        .await;
        let (staged_key, staged_cert) = match claimed {
            Ok((staged_key, staged_cert, None)) => (staged_key, staged_cert),
            Ok((_, _, Some(recorded))) => {
                store.close().await;
                return Err(Error::LogInUse { location, recorded });
            }
            Err(err) => {
                store.close().await;
                remove_new_log(made_log.as_deref());
                return Err(err);
            }
        };
        staged_key.commit()?;
        // The root certificate comes last: its presence marks a complete CA.
        staged_cert.commit()?;
        let authority = Self::open_with_store(dir, store, open).await?;
        // The key was just made: keep it rather than read it back.
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(authority.root.der()), key_pair)?;
        let _ = authority.issuer.set(issuer);
        Ok((authority, true))
    }

    /// A log without a root certificate beside it is either what a creation that failed half
    /// way left (no request, no user: removed, so creation can start again) or a CA's history
    /// whose root went missing (refused: it must be restored, never replaced). A PostgreSQL
    /// database is never removed: one whose log already names a root, or has history, belongs
    /// to another CA (or to this one, on another node) and is refused.
    async fn clear_abandoned_log(dir: &Path, location: &LogLocation) -> Result<()> {
        let path = match location {
            LogLocation::File(path) => path.clone(),
            LogLocation::Postgres(_) => {
                let store = Store::open(location, 1, Access::Create).await?;
                let recorded = store.setting(ROOT_FINGERPRINT).await?;
                let unused = store.is_unused().await?;
                store.close().await;
                return match recorded {
                    // This folder held that CA's key: its root went missing here.
                    Some(_) if dir.join(ROOT_KEY).exists() => {
                        Err(Error::RootMissing(dir.to_owned()))
                    }
                    Some(recorded) => Err(Error::LogInUse {
                        location: location.clone(),
                        recorded,
                    }),
                    None if !unused => Err(Error::LogInUse {
                        location: location.clone(),
                        recorded: "not recorded".into(),
                    }),
                    None => Ok(()),
                };
            }
        };
        if !path.exists() {
            return Ok(());
        }
        let store = match Store::open(location, 1, Access::Write).await {
            Ok(store) => store,
            Err(Error::LogEmpty(_)) => {
                return fs::remove_file(&path).map_err(|err| Error::io(&path, err));
            }
            Err(err) => return Err(err),
        };
        let used = !store.is_unused().await?;
        store.close().await;
        if used {
            return Err(Error::RootMissing(dir.to_owned()));
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                fs::remove_file(&file).map_err(|err| Error::io(&file, err))?;
            }
        }
        Ok(())
    }

    /// Opens the CA in `dir`. The root key is read (and decrypted with the passphrase) only
    /// when something is signed, so read-only commands work without the passphrase. A folder
    /// whose log is missing, empty, or made for another root is refused.
    #[instrument(skip_all)]
    pub async fn open(dir: &Path, open: OpenOptions) -> Result<Authority> {
        if dir.join(RESTORE_MARK).exists() {
            return Err(Error::RestoreUnfinished(dir.to_owned()));
        }
        refuse_unfinished_backup(dir)?;
        Self::open_unmarked(dir, open).await
    }

    /// [`Authority::open`], whether or not a restore marked the folder: for that restore.
    async fn open_unmarked(dir: &Path, open: OpenOptions) -> Result<Authority> {
        refuse_a_file(dir)?;
        let location = open.log_location(dir);
        if !Self::exists(dir) {
            refuse_unreadable(dir, None)?;
            // The log in the folder, or the root's key, shows that a CA lived here; unless
            // the log holds nothing and neither root file is there: a creation stopped half
            // way (killed, the machine down), which a new creation clears.
            let key_there = dir.join(ROOT_KEY).exists();
            if let Some(log) = location.file().filter(|log| log.exists())
                && !key_there
                && crate::store::sqlite_holds_history(log) == Some(false)
            {
                return Err(Error::CreationUnfinished(dir.to_owned()));
            }
            if location.file().is_some_and(Path::exists) || key_there {
                return Err(Error::RootMissing(dir.to_owned()));
            }
            return Err(Error::NotInitialised(dir.to_owned()));
        }
        for path in std::iter::once(dir).chain(location.file()) {
            refuse_exposed(path)?;
        }
        if !open.read_only && occupied(&dir.join(BACKUP_NOTE)) {
            return Err(Error::Backup(dir.to_owned()));
        }
        let access = if open.read_only {
            Access::Read
        } else {
            Access::Write
        };
        let store = match Store::open(&location, open.connections, access).await {
            Ok(store) => store,
            Err(err) => {
                // Said as what it is, rather than as SQLite's "unable to open database file".
                refuse_unreadable(dir, location.file())?;
                return Err(err);
            }
        };
        Self::open_with_store(dir, store, open).await
    }

    async fn open_with_store(dir: &Path, store: Store, open: OpenOptions) -> Result<Authority> {
        let path = dir.join(ROOT_CERT);
        let pem = read_root_file(&path)?;
        let der = crate::certificate::pem_certificates(&pem)
            .and_then(|certs| certs.into_iter().next())
            .ok_or_else(|| Error::CaKey(format!("{} is not a PEM certificate", path.display())))?;
        let root = Root::parse(der, &path.display().to_string())?;
        let found = root.fingerprint().hex();
        match store.setting(ROOT_FINGERPRINT).await? {
            Some(recorded) if recorded == found => {}
            Some(recorded) => {
                let location = store.location().clone();
                store.close().await;
                return Err(Error::LogOfAnotherRoot {
                    location,
                    recorded,
                    found,
                });
            }
            // A log from before the fingerprint was recorded: its settings show it belongs to
            // a CA, and it is adopted by the root beside it.
            None if store.setting("policy").await?.is_some() => {
                if !open.read_only {
                    store
                        .set_settings(
                            "ca",
                            &[(
                                ROOT_FINGERPRINT,
                                Some(found.as_str()),
                                crate::store::Audit::Value,
                            )],
                        )
                        .await?;
                }
            }
            None => {
                let location = store.location().clone();
                store.close().await;
                return Err(Error::LogEmpty(location));
            }
        }
        if let Some(to) = store.setting(MOVED_TO).await? {
            let location = store.location().clone();
            store.close().await;
            return Err(Error::LogMoved { location, to });
        }
        let settings = Settings::read(&store).await?;
        Ok(Authority {
            dir: dir.to_owned(),
            root,
            settings,
            store,
            passphrase: open.passphrase,
            links: open.links,
            issuer: OnceLock::new(),
            responder: RwLock::new(None),
            ocsp_answers: AnswerCache::default(),
        })
    }

    /// Writes a consistent copy of the whole CA into `target` (made, mode 0700; it must not
    /// hold a CA already) while other processes go on issuing: the log as one snapshot, the
    /// root certificate, and its key (mode 0600), each under a temporary name then renamed.
    #[instrument(skip_all)]
    pub async fn backup(&self, target: &Path) -> Result<()> {
        let inside = resolved(target)
            .zip(resolved(&self.dir))
            .is_some_and(|(target, dir)| target.starts_with(dir));
        if inside {
            return Err(Error::InvalidInput(format!(
                "{} is inside the data folder: a backup belongs elsewhere (another disk, another machine)",
                target.display()
            )));
        }
        if target.exists() && !target.is_dir() {
            return Err(Error::InvalidInput(format!(
                "{} is a file, not a folder: a backup is a folder of three files; give a folder that is empty or does not exist yet",
                target.display()
            )));
        }
        // A link (looked at without following it) to what is not there; the folder made
        // meanwhile by another backup into it is no link.
        if fs::symlink_metadata(target).is_ok_and(|meta| meta.file_type().is_symlink())
            && !target.exists()
        {
            return Err(Error::InvalidInput(format!(
                "{} is a link to nothing: give a folder that is empty or does not exist yet, or make the folder it points to first",
                target.display()
            )));
        }
        // A backup that other users may change is no backup (a restore refuses it), and
        // one whose folder they could swap for a link could land, or be taken out, anywhere.
        refuse_exposed(target)?;
        refuse_unsafe_path(target, Made::NotYet)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(target)
            .map_err(|err| Error::io(target, err))?;
        refuse_unsafe_path(target, Made::Now)?;
        let holds_one = || {
            let what = [STORE, ROOT_CERT, ROOT_KEY, RESTORE_MARK]
                .into_iter()
                .filter(|name| occupied(&target.join(name)))
                .collect::<Vec<_>>()
                .join(", ");
            Error::Conflict(format!(
                "{} already holds a backup, or part of one ({what}): choose an empty folder",
                target.display()
            ))
        };
        // One backup, restore or new CA at a time in a folder (the init lock), each taking
        // out only what it placed; a stopped backup's leftovers are the next one's to take out.
        let _lock = lock_file(&target.join(INIT_LOCK))?;
        if occupied(&target.join(BACKUP_MARK)) {
            drop(Undo::backup(target).with_mark(target, BACKUP_MARK));
        } else if [STORE, ROOT_CERT, ROOT_KEY]
            .iter()
            .any(|name| occupied(&target.join(name)))
            || occupied(&target.join(RESTORE_MARK))
        {
            return Err(holds_one());
        } else if let Some(leftover) = ["ca.db-wal", "ca.db-shm", "ca.db-journal"]
            .into_iter()
            .find(|name| occupied(&target.join(name)))
        {
            // SQLite would take it for the copy's, and apply it to it when it is restored.
            return Err(Error::Conflict(format!(
                "{} holds {leftover}, left by a log that was there before: move it out of the folder (or choose an empty folder) and back up again",
                target.display()
            )));
        }
        mark_folder(target, BACKUP_MARK)?;
        let mut undo = Undo::backup(target).with_mark(target, BACKUP_MARK);
        let staged = target.join(format!(".{STORE}.{}.tmp", crate::random::hex::<8>()?));
        let copied = self.store.backup(&staged).await;
        // The log goes in only where none is yet: of two backups into one folder at once, the
        // second stops here instead of replacing the first's log under its root files.
        let renamed = copied.and_then(|()| {
            fs::set_permissions(&staged, fs::Permissions::from_mode(SECRET_MODE))
                .and_then(|()| rename_new(&staged, &target.join(STORE)))
                .map_err(|err| match err.kind() {
                    std::io::ErrorKind::AlreadyExists => holds_one(),
                    _ => Error::io(target.join(STORE), err),
                })
        });
        if let Err(err) = renamed {
            let _ = fs::remove_file(&staged);
            return Err(err);
        }
        copy_atomic(
            &self.dir.join(ROOT_KEY),
            &target.join(ROOT_KEY),
            SECRET_MODE,
        )
        .and_then(|()| {
            copy_atomic(
                &self.dir.join(ROOT_CERT),
                &target.join(ROOT_CERT),
                PUBLIC_MODE,
            )
        })?;
        let note = format!(
            "This folder is a backup of the certificate authority in {}, taken {}.\n\
             It is not a data folder: what would change its log refuses it, so that it never issues\n\
             beside the CA it copies. Restore it into an empty data folder (or database) to use it;\n\
             what only reads (listing, showing, exporting, checking) works on it where it is.\n",
            std::path::absolute(&self.dir)
                .unwrap_or_else(|_| self.dir.clone())
                .display(),
            crate::display::rfc3339(OffsetDateTime::now_utc())
        );
        write_atomic(&target.join(BACKUP_NOTE), note.as_bytes(), PUBLIC_MODE)?;
        // Half a backup is none: until here, what this one placed goes if it fails.
        fs::remove_file(target.join(BACKUP_MARK))
            .map_err(|err| Error::io(target.join(BACKUP_MARK), err))?;
        undo.keep();
        Ok(())
    }

    /// The CA in `backup`, a backup taken by an earlier release whose log needs an upgrade, to
    /// restore from: its root files where they are, its log copied (read-only, through SQLite)
    /// to `copy`, a new file, and brought up to date there. The backup stays as it was.
    async fn open_upgraded(backup: &Path, copy: &Path, open: &OpenOptions) -> Result<Authority> {
        Store::copy_sqlite_file(&backup.join(STORE), copy).await?;
        // Opened to write: the log's migrations run on the copy.
        let store = Store::open(&LogLocation::File(copy.to_owned()), 1, Access::Write).await?;
        let read_only = OpenOptions {
            read_only: true,
            database: None,
            ..open.clone()
        };
        Self::open_with_store(backup, store, read_only).await
    }

    /// Puts the backup in `backup` into the data folder `dir`, which must hold no CA: the
    /// backup is checked first (as [`Authority::check`] does), then copied in, root
    /// certificate last, and checked again where it now lies.
    ///
    /// A backup's log is a SQLite file, whichever backend it was taken from. Into a folder it
    /// is copied through SQLite (`VACUUM INTO`), never as a file: changes still in a
    /// write-ahead log beside it (`ca.db-wal`, in a live data folder or a plain copy of one)
    /// are part of the copy, and the copy is one consistent snapshot. Into a PostgreSQL
    /// database (`open.database`), which must hold no log yet or an empty one, every row is
    /// copied with its id in one transaction. A backup that cannot be read, or is not sound,
    /// is refused as the caller's input.
    #[instrument(skip_all)]
    pub async fn restore(backup: &Path, dir: &Path, open: OpenOptions) -> Result<Authority> {
        refuse_a_file(dir)?;
        let location = open.log_location(dir);
        // A restore that was stopped left its mark: what it placed is its own, taken out
        // under the folder's lock before this one begins (see [`Authority::restore_from`]).
        refuse_unfinished_backup(dir)?;
        let unfinished = dir.join(RESTORE_MARK).exists();
        if !unfinished && Self::holds_a_ca(dir) {
            return Err(Error::AlreadyInitialised(dir.to_owned()));
        }
        // A folder other users may change, or swap for a link, is refused before anything is
        // copied into it (an earlier release's log is brought up to date in a copy made there).
        refuse_exposed(dir)?;
        refuse_unsafe_path(dir, Made::NotYet)?;
        // What a log that was here left (a crash, or a log removed by hand while a process
        // had it open): SQLite would take it for the restored log's and apply it to it.
        // A folder holding a backup's note would be taken for a backup once restored into.
        if occupied(&dir.join(BACKUP_NOTE)) {
            return Err(Error::InvalidInput(format!(
                "{} holds {BACKUP_NOTE}, the note of a backup: a CA restored there would be taken for a backup and refuse every change; \
                 choose an empty folder, or move the note out",
                dir.display()
            )));
        }
        if !unfinished && matches!(location, LogLocation::File(_)) {
            for leftover in ["ca.db-wal", "ca.db-shm", "ca.db-journal"] {
                if fs::symlink_metadata(dir.join(leftover)).is_ok() {
                    return Err(Error::Conflict(format!(
                        "{} holds {leftover}, left by a log that was there before: SQLite would apply it to the restored log; \
                         move it out of the folder (or choose an empty folder) and restore again",
                        dir.display()
                    )));
                }
            }
        }
        if occupied(&backup.join(BACKUP_MARK)) {
            return Err(Error::InvalidInput(format!(
                "{} holds a backup that did not finish (it was stopped, or is still being written): take the backup again",
                backup.display()
            )));
        }
        if !Self::exists(backup)
            || !backup.join(STORE).is_file()
            || !backup.join(ROOT_KEY).is_file()
        {
            return Err(Error::InvalidInput(format!(
                "{} holds no backup: a backup has root.crt, root.key and ca.db, as a backup of a CA holds them",
                backup.display()
            )));
        }
        let unusable = |err: Error| {
            Error::Conflict(format!(
                "the backup in {} cannot be used: {err}",
                backup.display()
            ))
        };
        let opened = Self::open(
            backup,
            OpenOptions {
                read_only: true,
                database: None,
                ..open.clone()
            },
        )
        .await;
        // An earlier release's backup: restored from an up-to-date copy of its log, made in
        // the target folder and removed whatever happens, with the folder if it was made for it.
        let upgrade = match &opened {
            Err(Error::LogOutdated(_)) => Some(Upgrade::new(dir)?),
            _ => None,
        };
        let source = match &upgrade {
            Some(upgrade) => Self::open_upgraded(backup, &upgrade.copy, &open).await,
            None => opened,
        };
        let restored = match source {
            Ok(source) => Self::restore_from(source, backup, dir, &location, open).await,
            Err(err) => Err(unusable(err)),
        };
        if let Some(upgrade) = upgrade {
            upgrade.remove(restored.is_err());
        }
        restored
    }

    /// The rest of [`Authority::restore`], from the backup's CA opened: checked, its log
    /// copied into place, its root files after it, and the restored CA checked again.
    async fn restore_from(
        source: Authority,
        backup: &Path,
        dir: &Path,
        location: &LogLocation,
        open: OpenOptions,
    ) -> Result<Authority> {
        let unusable = |err: Error| {
            Error::Conflict(format!(
                "the backup in {} cannot be used: {err}",
                backup.display()
            ))
        };
        let problems = match source.check().await {
            Ok(problems) => problems,
            Err(err) => {
                source.close().await;
                return Err(unusable(err));
            }
        };
        if !problems.is_empty() {
            source.close().await;
            return Err(Error::Conflict(format!(
                "the backup in {} is not sound: {}",
                backup.display(),
                problems.join("; ")
            )));
        }
        // What would stop the restored CA from opening is found before anything is copied:
        // a log from a newer release (read here, it could not be written there), and a
        // folder other users may change.
        match source.store.newer_change().await {
            Ok(None) => {}
            Ok(Some(version)) => {
                source.close().await;
                return Err(unusable(StoreError::Newer(version).into()));
            }
            Err(err) => {
                source.close().await;
                return Err(unusable(err));
            }
        }
        if let Err(err) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            source.close().await;
            return Err(Error::io(dir, err));
        }
        if let Err(err) = refuse_unsafe_path(dir, Made::Now) {
            source.close().await;
            return Err(err);
        }
        // One restore (or creation) at a time in a folder: two at once each found it empty,
        // and both reported success over a folder holding one CA's root and the other's log.
        let _lock = match lock_file(&dir.join(INIT_LOCK)) {
            Ok(lock) => lock,
            Err(err) => {
                source.close().await;
                return Err(err);
            }
        };
        if let Err(err) = refuse_unfinished_backup(dir) {
            source.close().await;
            return Err(err);
        }
        if dir.join(RESTORE_MARK).exists() {
            // A restore stopped before it finished (its lock is free: it is not running):
            // everything it may have placed goes, its mark last.
            drop(Undo::restore(dir, location).with_mark(dir, RESTORE_MARK));
        } else if Self::holds_a_ca(dir) {
            source.close().await;
            return Err(Error::AlreadyInitialised(dir.to_owned()));
        }
        if let Err(err) = mark_folder(dir, RESTORE_MARK) {
            source.close().await;
            return Err(err);
        }
        // What this restore puts into the folder is taken out again if it fails on the way
        // (a full disk, a root file that cannot be copied, a CA that does not open or is not
        // sound where it now lies): the folder is left as it was found, and a second restore
        // (room made on the disk, another backup) finds it empty instead of "a CA already
        // exists".
        let mut undo = Undo::restore(dir, location).with_mark(dir, RESTORE_MARK);
        let placed = match location {
            LogLocation::File(path) => {
                let staged = dir.join(format!(".{STORE}.{}.tmp", crate::random::hex::<8>()?));
                // A copy that could not be written (a full disk) is this folder's failure,
                // not the backup's.
                let copied = source.store.backup(&staged).await.map_err(|err| match err {
                    Error::Io { .. } => err,
                    other => unusable(other),
                });
                let placed = copied.and_then(|()| {
                    fs::set_permissions(&staged, fs::Permissions::from_mode(SECRET_MODE))
                        .and_then(|()| rename_new(&staged, path))
                        .map_err(|err| Error::io(path, err))
                });
                if placed.is_err() {
                    let _ = fs::remove_file(&staged);
                }
                placed
            }
            LogLocation::Postgres(_) => match Store::open(location, 1, Access::Create).await {
                Ok(target) => {
                    let copied = source.store.copy_into(&target).await.map(|_| ());
                    target.close().await;
                    copied
                }
                Err(err) => Err(err),
            },
        };
        source.close().await;
        placed?;
        copy_atomic(&backup.join(ROOT_KEY), &dir.join(ROOT_KEY), SECRET_MODE)?;
        copy_atomic(&backup.join(ROOT_CERT), &dir.join(ROOT_CERT), PUBLIC_MODE)?;
        // Opened and checked where it lies while the mark still keeps every other command
        // out: what it finds wrong goes, with nothing written meanwhile.
        let restored = Self::open_unmarked(dir, open).await.map_err(|err| {
            Error::io(
                dir,
                std::io::Error::other(format!("the restored CA could not be opened: {err}")),
            )
        })?;
        let problems = match restored.check().await {
            Ok(problems) => problems,
            Err(err) => {
                restored.close().await;
                return Err(err);
            }
        };
        if !problems.is_empty() {
            restored.close().await;
            return Err(Error::Conflict(format!(
                "the restored CA in {} is not sound: {}",
                dir.display(),
                problems.join("; ")
            )));
        }
        if let Err(err) = fs::remove_file(dir.join(RESTORE_MARK)) {
            restored.close().await;
            return Err(Error::io(dir.join(RESTORE_MARK), err));
        }
        undo.keep();
        Ok(restored)
    }

    /// Copies this CA's log into the empty PostgreSQL database `to` (its tables made there
    /// first): every row with its id, sequences set after them, then counts and every
    /// certificate's fingerprint compared. This CA's own log is only read, and stays as it is,
    /// but for the mark that names where it went: `runtime_url`, the database as commands are
    /// to reach it from now on (as the runtime role, when one is granted; never a password).
    #[instrument(skip_all)]
    pub async fn migrate_log(&self, to: &DatabaseUrl, runtime_url: &str) -> Result<CopyReport> {
        let location = LogLocation::Postgres(to.clone());
        if &location == self.store.location() {
            return Err(Error::InvalidInput(format!(
                "the log is already in {to}: give another, empty database"
            )));
        }
        // A server on this folder would go on writing to the SQLite log after the copy (it
        // reads the moved mark only when it opens the log): refused while one runs.
        let serving = self.dir.join(SERVING_LOCK);
        let Some(_no_server) = crate::files::try_lock_file(&serving)? else {
            return Err(Error::InvalidInput(format!(
                "a server is running on the data folder {}: stop every server using it, then migrate",
                self.dir.display()
            )));
        };
        let target = Store::open(&location, 2, Access::Create).await?;
        let copied = self.store.copy_into(&target).await;
        target.close().await;
        let report = copied?;
        // The copy is the log from now on, unless something wrote to this one meanwhile (a
        // server still running): then the two differ, and the database must be emptied and
        // the copy made again with every writer stopped.
        self.store
            .mark_moved(&report, MOVED_TO, runtime_url)
            .await?;
        Ok(report)
    }

    /// Makes or brings up to date the tables of the PostgreSQL log at `url` (opened as the
    /// role that owns them), then gives `runtime`, the role servers and commands run as, what
    /// they need and no more (see [`Store::grant_runtime_role`]). Works on an empty database
    /// too, before any CA is made in it; needs no data folder.
    #[instrument(skip_all)]
    pub async fn prepare_database(url: &DatabaseUrl, runtime: &RoleName) -> Result<()> {
        let store = Store::open(&LogLocation::Postgres(url.clone()), 1, Access::Create).await?;
        let granted = store.grant_runtime_role(runtime).await;
        store.close().await;
        granted
    }

    /// The role this CA's PostgreSQL log is opened as, when that role could alter or empty
    /// the audit trail despite its triggers (it owns the table, or is a superuser): the trail
    /// is then append-only only by this program's good conduct. `None` on SQLite, and for a
    /// runtime role set up as the README says.
    #[instrument(skip_all)]
    pub async fn audit_exposed_to(&self) -> Result<Option<String>> {
        if !self.store.audit_is_alterable().await? {
            return Ok(None);
        }
        Ok(Some(self.store.current_role().await?))
    }

    /// Marks this data folder as served for as long as the guard lives (what must not run
    /// beside a server, such as [`Authority::migrate_log`], is refused meanwhile). Several
    /// servers may hold it at once.
    /// Taken before the log is opened, so that a server that waited for a migration sees
    /// the log's moved mark. `None` while the folder does not exist yet.
    pub fn hold_serving(dir: &Path) -> Result<Option<ServingGuard>> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let path = dir.join(SERVING_LOCK);
        Ok(Some(ServingGuard(crate::files::lock_file_shared(&path)?)))
    }

    /// Where the log is kept.
    pub fn log_location(&self) -> &LogLocation {
        self.store.location()
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root certificate.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The CA's settings as they were when it was opened; a long-running server reads
    /// [`Authority::current_settings`] instead, so a change made by another process takes effect at once.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings as the log holds them now (another process may have changed them).
    pub async fn current_settings(&self) -> Result<Settings> {
        Settings::read(&self.store).await
    }

    /// Changes a setting for this and every later process.
    pub async fn set_setting(&mut self, setting: Setting, value: &str, actor: &str) -> Result<()> {
        let (key, value) = setting.normalise(value)?;
        if setting == Setting::AcmeDomains {
            self.check_acme_domains(&value)?;
        }
        self.store
            .set_settings(actor, &[(key, Some(value.as_str()), setting.audit())])
            .await?;
        self.settings = Settings::read(&self.store).await?;
        Ok(())
    }

    /// Refuses ACME domains and ranges (as the log keeps them: comma-separated) of which the
    /// root's name constraints permit no name: every order for them would be refused.
    fn check_acme_domains(&self, domains: &str) -> Result<()> {
        let permitted = self.root.permitted();
        if permitted.is_empty() {
            return Ok(());
        }
        for wanted in crate::settings::parse_domains(domains, false)? {
            let reachable = permitted.iter().any(|allowed| allowed.overlaps(&wanted));
            if !reachable {
                let allowed: Vec<String> = permitted.iter().map(|p| p.to_string()).collect();
                return Err(Error::InvalidInput(format!(
                    "{} lies outside the names the root may vouch for ({}): no ACME order for it could be issued",
                    wanted.address_or_range(),
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Turns a setting off (or back to its default): the password of the SMTP relay, say.
    pub async fn clear_setting(&mut self, setting: Setting, actor: &str) -> Result<()> {
        self.store
            .set_settings(actor, &[(setting.key(), None, setting.audit())])
            .await?;
        self.settings = Settings::read(&self.store).await?;
        Ok(())
    }

    /// The issuance log, for the operations of this crate.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The URLs certificates point at, given the configured public base URL.
    pub(crate) fn links(&self) -> Option<Links> {
        self.links
    }

    /// Checks `names` against the name policy and the root's own name.
    pub fn check_names(
        &self,
        names: &[SubjectName],
        allow_internal: bool,
    ) -> Result<Vec<SubjectName>> {
        let policy = NamePolicy {
            allow_internal,
            permitted: self.root.permitted().to_vec(),
        };
        let names = policy.check(names)?;
        if let Some(clash) = names
            .iter()
            .find(|n| n.to_string().eq_ignore_ascii_case(self.root.common_name()))
        {
            return Err(Error::name(clash.to_string(), NameRule::RootName));
        }
        Ok(names)
    }

    /// The row of request `id`.
    pub async fn request(&self, id: RequestId) -> Result<Issuance> {
        self.store.issuance(id).await
    }

    /// The row of a certificate named by its request id or its serial number.
    pub async fn find(&self, reference: &CertificateRef) -> Result<Issuance> {
        match reference {
            CertificateRef::Id(id) => self.store.issuance(*id).await,
            CertificateRef::Serial(serial) => self.store.issuance_by_serial(serial).await,
            CertificateRef::NearThumbprint(serial, typed) => self
                .store
                .issuance_by_serial(serial)
                .await
                .map_err(|err| match err {
                    Error::NotFound(_) => {
                        Error::NotFound(format!("a certificate with serial {typed}"))
                    }
                    err => err,
                }),
            CertificateRef::SerialOrSha1(serial, digest) => {
                match self.store.issuance_by_serial(serial).await {
                    Err(Error::NotFound(_)) => {
                        self.store
                            .issuance_by_sha1(digest)
                            .await
                            .map_err(|err| match err {
                                Error::NotFound(_) => Error::NotFound(format!(
                                    "a certificate with serial number or SHA-1 thumbprint {}",
                                    crate::display::hex(digest)
                                )),
                                err => err,
                            })
                    }
                    found => found,
                }
            }
            CertificateRef::Sha256(digest) => {
                self.store
                    .issuance_by_sha256(&crate::display::hex(digest))
                    .await
            }
        }
    }

    /// The rows matching `filter`, in its order, without the certificates' DER.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Issuance>> {
        self.store.list(filter).await
    }

    /// A page of the rows matching `filter`, and where the next one starts (see
    /// [`Store::list_page`]).
    pub async fn list_page(&self, filter: &ListFilter) -> Result<ListPage> {
        self.store.list_page(filter).await
    }

    /// Records that `actor` copied this CA into the backup `target` (the log the backup holds
    /// was taken just before, so the event is this log's, not the backup's).
    pub async fn record_backup(&self, actor: &str, target: &Path) -> Result<()> {
        let target = std::path::absolute(target).unwrap_or_else(|_| target.to_owned());
        self.store
            .audit(actor, "backup", &target.display().to_string(), "")
            .await
    }

    /// Records that `actor` put this CA back from the backup in `backup`.
    pub async fn record_restore(&self, actor: &str, backup: &Path) -> Result<()> {
        let backup = std::path::absolute(backup).unwrap_or_else(|_| backup.to_owned());
        let into = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        self.store
            .audit(
                actor,
                "restore",
                &backup.display().to_string(),
                &format!("into {}", into.display()),
            )
            .await
    }

    /// The events of the audit trail that `filter` asks for.
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        self.store.audit_events(filter).await
    }

    /// The actions the audit trail holds (for a filter that names none of them).
    pub async fn audit_actions(&self) -> Result<Vec<String>> {
        self.store.audit_actions().await
    }

    /// How many users the pages have.
    pub async fn user_count(&self) -> Result<i64> {
        self.store.user_count().await
    }

    /// Revokes the certificate of request `id`. A row whose columns disagree with its
    /// certificate (see [`Issuance::disagreements`]) is refused: the log was altered, and
    /// the revocation might name a certificate other than the one meant. The OCSP response
    /// signed ahead for it goes in the same transaction, so no process answers "good" once the
    /// revocation is recorded; a new one stating the revocation is signed at once when the
    /// responder is at hand (else the responder signs it when first asked).
    #[instrument(skip_all)]
    pub async fn revoke(
        &self,
        id: RequestId,
        reason: RevocationReason,
        actor: &str,
    ) -> Result<Issuance> {
        Ok(self.revoke_with(id, reason, actor, true).await?.0)
    }

    /// [`Authority::revoke`], raising an earlier revocation's reason to keyCompromise only
    /// when `may_raise` (as [`Store::revoke_with`]); with the reason raised from, when it was.
    pub async fn revoke_with(
        &self,
        id: RequestId,
        reason: RevocationReason,
        actor: &str,
        may_raise: bool,
    ) -> Result<(Issuance, Option<RevocationReason>)> {
        reason.for_a_leaf_only()?;
        self.store
            .issuance(id)
            .await?
            .agrees_with_its_certificate()?;
        let (row, raised_from) = self.store.revoke_with(id, reason, actor, may_raise).await?;
        if let Some(cert) = &row.certificate
            && let Some(responder) = Responder::read(&self.dir, &self.root)
            && responder.info().serial == cert.serial
        {
            // The responder itself: it signs no more, nor does anything it signed go out.
            self.retire_responder().await?;
            return Ok((row, raised_from));
        }
        if let Err(err) = self.sign_ahead_for(&row).await {
            tracing::warn!(%err, id = id.get(), "could not sign the revoked certificate's OCSP response ahead; the responder signs it when asked");
        }
        Ok((row, raised_from))
    }

    /// Signs and keeps the OCSP response of the certificate in `row`, if a responder can sign.
    async fn sign_ahead_for(&self, row: &Issuance) -> Result<()> {
        let (Some(responder), Some(cert)) = (self.stored_responder(), &row.certificate) else {
            return Ok(());
        };
        let state = CertificateState {
            id: row.id,
            serial: cert.serial.clone(),
            not_after: cert.not_after,
            revocation: cert.revocation.clone(),
        };
        let response = ocsp::sign_ahead(&responder, &self.root, &state, OffsetDateTime::now_utc())?;
        self.store.keep_ocsp_responses(&[(row.id, response)]).await
    }

    /// The OCSP responder that signs now: the one this process holds while it is not due for
    /// renewal, else the newer of that one and the one in the data folder (another process
    /// may have renewed it). `None` when no responder can sign.
    pub(crate) fn stored_responder(&self) -> Option<Arc<Responder>> {
        let now = OffsetDateTime::now_utc();
        let held = self.responder.read().ok().and_then(|held| held.clone());
        // A responder whose certificate left the data folder was retired by another process.
        let held = held.filter(|_| self.dir.join(ocsp::signer::RESPONDER_CERT).exists());
        if let Some(responder) = &held
            && !responder.needs_renewal(now)
        {
            return held;
        }
        let on_disk = Responder::read(&self.dir, &self.root).map(Arc::new);
        let newest = match (held, on_disk) {
            (Some(held), Some(read)) if read.not_after() > held.not_after() => read,
            (Some(held), _) => held,
            (None, read) => read?,
        };
        self.hold_responder(Arc::clone(&newest));
        newest.can_sign(now).then_some(newest)
    }

    /// Stops using the responder in the data folder (its certificate was revoked): its files
    /// go, and every response it signed ahead; the next answer makes a new responder.
    async fn retire_responder(&self) -> Result<()> {
        if let Ok(mut held) = self.responder.write() {
            *held = None;
        }
        for name in [ocsp::signer::RESPONDER_CERT, ocsp::signer::RESPONDER_KEY] {
            let path = self.dir.join(name);
            if let Err(err) = fs::remove_file(&path)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                return Err(Error::io(path, err));
            }
        }
        self.store.forget_ocsp_responses().await
    }

    /// The OCSP responses answers were last given from.
    pub(crate) fn ocsp_answers(&self) -> &AnswerCache {
        &self.ocsp_answers
    }

    /// Keeps `responder` as the one this process signs with.
    pub(crate) fn hold_responder(&self, responder: Arc<Responder>) {
        if let Ok(mut held) = self.responder.write() {
            *held = Some(responder);
        }
    }

    /// The current CRL: the one in the log while it is current, else a new one signed now
    /// (see the rule in the store's CRL module). Every process hands out the same CRL.
    #[instrument(skip_all)]
    pub async fn current_crl(&self) -> Result<Crl> {
        if let Some(crl) = self.store.current_crl().await? {
            return Ok(crl);
        }
        self.refresh_crl(false).await?;
        self.stored_crl().await
    }

    /// Signs a new CRL now, even if the current one would do.
    #[instrument(skip_all)]
    pub async fn sign_crl(&self) -> Result<Crl> {
        self.refresh_crl(true).await?;
        self.stored_crl().await
    }

    /// Writes the current CRL (a new one if `new`, as [`Authority::sign_crl`] signs it) to
    /// `out` as it is read from the log, never whole in memory: a CRL of a million entries
    /// is ~50 MB. Its number and dates.
    #[instrument(skip_all)]
    pub async fn write_crl(&self, new: bool, out: &mut (dyn Write + Send)) -> Result<CrlDates> {
        if new || self.store.current_crl_dates().await?.is_none() {
            self.refresh_crl(new).await?;
        }
        self.store.write_crl(out).await?.ok_or_else(|| {
            StoreError::Corrupt("the CRL just signed is not in the log".into()).into()
        })
    }

    /// What stops the CRL the log keeps from being handed out as it is, if anything: checked
    /// before any of it is written (see [`Authority::write_kept_crl`]).
    pub async fn kept_crl_problem(&self) -> Result<Option<KeptCrl>> {
        Ok(match self.store.kept_crl().await? {
            None => Some(KeptCrl::None),
            Some((dates, false)) => Some(KeptCrl::Behind(dates)),
            Some((dates, true)) if dates.next_update <= OffsetDateTime::now_utc() => {
                Some(KeptCrl::Expired(dates))
            }
            Some(_) => None,
        })
    }

    /// Writes the CRL the log keeps, signing nothing (for a backup, which never signs): only
    /// while it lists every revocation the log holds and its nextUpdate is ahead, else
    /// [`KeptCrl`] says what stops it and nothing is written.
    pub async fn write_kept_crl(
        &self,
        out: &mut (dyn Write + Send),
    ) -> Result<std::result::Result<CrlDates, KeptCrl>> {
        if let Some(problem) = self.kept_crl_problem().await? {
            return Ok(Err(problem));
        }
        match self.store.write_crl(out).await? {
            Some(written) => Ok(Ok(written)),
            None => Ok(Err(KeptCrl::None)),
        }
    }

    /// The CRL the log holds, whole.
    async fn stored_crl(&self) -> Result<Crl> {
        self.store.crl().await?.ok_or_else(|| {
            StoreError::Corrupt("the CRL just signed is not in the log".into()).into()
        })
    }

    async fn refresh_crl(&self, force: bool) -> Result<CrlDates> {
        let issuer = self.issuer()?;
        let days = self.current_settings().await?.crl_days;
        let key_identifier = self.root.key_identifier();
        self.store
            .refresh_crl(force, |entries, number, now, previous| {
                // Dated back as certificates and OCSP answers are (an hour; AD CS dates its
                // CRLs back by its clock skew, ten minutes): a client whose clock is a little
                // slow finds a CRL signed a moment ago not yet valid, and so no revocation
                // information (OpenSSL: "CRL is not yet valid"). A revocation recorded within
                // the hour is listed with its own date, after thisUpdate, as AD CS lists it:
                // dating the CRL at the revocation would make it, and so the revocation status
                // of every certificate of this CA, not yet valid on those slow clocks (OCSP
                // answers are dated the same way). Its next update counts from now.
                let this_update = crl::this_update(now, previous);
                let next_update = now + Duration::days(i64::from(days.max(1)));
                crl::sign(
                    entries,
                    number,
                    this_update,
                    next_update,
                    key_identifier,
                    issuer,
                )
            })
            .await
    }

    /// Checks the data folder: the log (SQLite's own checks), every certificate in it
    /// (signed by this root, and its row saying what its DER says: serial, validity, names,
    /// fingerprint), and, when the key can be read, that the key is the root's.
    ///
    /// What no certificate vouches for (a user's role, a setting, a request's status) cannot
    /// be checked this way: the log is not signed.
    pub async fn check(&self) -> Result<Vec<String>> {
        Ok(self
            .check_folder()
            .await?
            .into_iter()
            .map(|problem| problem.text)
            .collect())
    }

    /// [`Authority::check`], each problem told apart: damage (the log or the key altered or
    /// broken, which a backup mends) or a matter one command mends in place (a file's mode
    /// or owner, a stale copy of the key, more than the root in its file).
    pub async fn check_folder(&self) -> Result<Vec<FolderProblem>> {
        // A passphrase that does not open the key is the caller's mistake, not the folder's:
        // said first and alone, it is no reason to restore anything.
        if let Err(err @ Error::CaKeyPassphrase { .. }) = self.issuer() {
            return Err(err);
        }
        let (mut problems, _) = self.store.check().await?;
        // Matters one command mends; `problems` is damage.
        let mut mends: Vec<String> = Vec::new();
        for stale in stale_key_copies(&self.dir) {
            mends.push(format!(
                "{} is a copy of the root key that a stopped command left (perhaps unencrypted): remove it (the next change of the key's passphrase does)",
                stale.display()
            ));
        }
        let (_, root) = x509_parser::parse_x509_certificate(self.root.der())
            .map_err(|_| Error::CaKey("the root certificate does not parse".into()))?;
        let rows = self.store.list(&ListFilter::default()).await?;
        // Each certificate's serial as the certificate itself holds it (what CRLs list), and
        // whether the log holds it as revoked.
        let mut serials: Vec<(String, RequestId, Option<RevokedAs>)> = Vec::new();
        for listed in rows.iter().filter(|r| r.certificate.is_some()) {
            // Lists leave the DER out; read each row whole.
            let row = self.store.issuance(listed.id).await?;
            let mut fields = row.disagreements();
            // The store's check has reported a fingerprint that disagrees already.
            fields.retain(|field| *field != "sha256");
            if !fields.is_empty() {
                problems.push(format!(
                    "certificate {}: the {} recorded in the log disagree with the certificate itself (the log was altered)",
                    row.id,
                    fields.join(", ")
                ));
            }
            if let Some(cert) = &row.certificate {
                let parsed = x509_parser::parse_x509_certificate(&cert.der).ok();
                if let Some(serial) = parsed
                    .as_ref()
                    .and_then(|(_, leaf)| SerialNumber::from_bytes(leaf.raw_serial()).ok())
                {
                    let revoked = cert.revocation.as_ref().map(|r| (r.revoked_at, r.reason));
                    serials.push((serial.hex(), row.id, revoked));
                }
                let signed = parsed.is_some_and(|(_, leaf)| {
                    leaf.verify_signature(Some(root.public_key())).is_ok()
                });
                if !signed {
                    problems.push(format!("certificate {}: not signed by this root", row.id));
                }
            }
        }
        // The CRL the log hands out, reassembled from its parts: still this root's signature
        // over what it lists.
        if let Some(crl) = self.store.crl().await? {
            let parsed = x509_parser::parse_x509_crl(&crl.der)
                .ok()
                .filter(|(rest, _)| rest.is_empty())
                .filter(|(_, parsed)| parsed.verify_signature(root.public_key()).is_ok());
            match parsed {
                // What this root signed as revoked stays revoked: a serial it lists that the
                // log no longer holds as revoked is a revocation removed from the log.
                Some((_, parsed)) => {
                    let revoked: std::collections::HashMap<&str, (RequestId, OffsetDateTime, RevocationReason)> =
                        serials
                            .iter()
                            .filter_map(|(serial, id, revoked)| {
                                revoked.map(|(at, reason)| (serial.as_str(), (*id, at, reason)))
                            })
                            .collect();
                    for entry in parsed.iter_revoked_certificates() {
                        let serial = SerialNumber::from_bytes(entry.raw_serial())
                            .map(|serial| serial.hex())
                            .unwrap_or_else(|_| entry.raw_serial_as_string());
                        // Listed as the log holds it: the same date, the same reason (or
                        // keyCompromise since, the one change a revocation takes).
                        if let Some((id, at, reason)) = revoked.get(serial.as_str()) {
                            let listed_at = entry.revocation_date.timestamp();
                            let listed = entry.reason_code().map(|(_, code)| code.0);
                            let code = reason.crl_code().map(|c| c as u8);
                            if listed_at != at.unix_timestamp()
                                || (listed != code && *reason != RevocationReason::KeyCompromise)
                            {
                                let listed_reason = match listed {
                                    None => "unspecified".to_owned(),
                                    Some(code) => <RevocationReason as crate::choice::Choice>::ALL
                                        .iter()
                                        .find(|r| r.code() == code)
                                        .map_or_else(|| format!("code {code}"), |r| r.name().to_owned()),
                                };
                                problems.push(format!(
                                    "the CRL kept in the log (number {}), signed by this root, lists serial {serial} as revoked at {} for {listed_reason}, but the log holds certificate {id} as revoked at {} for {reason} (a revocation was altered in the log)",
                                    crl.number,
                                    OffsetDateTime::from_unix_timestamp(listed_at)
                                        .map(crate::display::time)
                                        .unwrap_or_else(|_| listed_at.to_string()),
                                    crate::display::time(*at),
                                ));
                            }
                        }
                        if !revoked.contains_key(serial.as_str()) {
                            let holder = serials
                                .iter()
                                .find(|(held, _, _)| *held == serial)
                                .map_or_else(
                                    || "no certificate of the log has it".to_owned(),
                                    |(_, id, _)| {
                                        format!("the log holds certificate {id} as not revoked")
                                    },
                                );
                            problems.push(format!(
                                "the CRL kept in the log (number {}), signed by this root, lists serial {serial} as revoked, but {holder} \
                                 (a revocation was removed from the log): revoke it again",
                                crl.number
                            ));
                        }
                    }
                }
                None => problems.push(format!(
                    "the CRL kept in the log (number {}) is not one this root signed (the log was altered): a new CRL, signed now, replaces it",
                    crl.number
                )),
            }
        }
        // The root file is what administrators install on clients: anything in it besides
        // the root would go along (a second certificate trusted as a root, a key handed out).
        let path = self.dir.join(ROOT_CERT);
        let pem = read_root_file(&path)?;
        let others = crate::certificate::pem_extras(&pem);
        if !others.is_empty() {
            mends.push(format!(
                "{ROOT_CERT} holds more than the root certificate (also: {}): every client that installs the file would take that too; \
                 keep the root alone in it (`openssl x509 -in {ROOT_CERT}` prints just the root)",
                others.join(", ")
            ));
        }
        match self.issuer() {
            Ok(_) => {}
            // An encrypted key without its passphrase is as it should be; it is only unread.
            Err(Error::CaKeyLocked { .. }) => {}
            Err(err @ Error::CaKey(_)) => problems.push(err.to_string()),
            // Nothing damaged: the file's mode or owner, which one command mends.
            Err(ref err @ Error::CaKeyExposed { ref path, .. }) => mends.push(format!(
                "the root key could not be checked: {err}: `chmod 600 {}` makes it its owner's alone",
                crate::display::shell_word(path)
            )),
            Err(ref err @ Error::CaKeyNotOwned { ref path, .. }) => mends.push(format!(
                "the root key could not be checked: {err}: check the folder as the user who owns it, or `chown` {} to this one",
                crate::display::shell_word(path)
            )),
            Err(err) => problems.push(format!("the root key could not be checked: {err}")),
        }
        let damage = problems
            .into_iter()
            .map(|text| FolderProblem { text, damage: true });
        let mends = mends.into_iter().map(|text| FolderProblem {
            text,
            damage: false,
        });
        Ok(damage.chain(mends).collect())
    }

    /// True when the root key file is encrypted (a PKCS#8 `ENCRYPTED PRIVATE KEY`).
    pub fn key_is_encrypted(&self) -> Result<bool> {
        let path = self.dir.join(ROOT_KEY);
        let pem = fs::read(&path).map_err(|err| Error::io(&path, err))?;
        Ok(key::holds_an_encrypted_key(&pem))
    }

    /// Reads the root key with `passphrase`, which is used from now on: a wrong one (or any
    /// other reason the key cannot be read) leaves the CA as it was, and is returned.
    pub fn unlock(&mut self, passphrase: Passphrase) -> Result<()> {
        let before = self.passphrase.replace(passphrase);
        let read = self.issuer().map(|_| ());
        if read.is_err() {
            self.passphrase = before;
        }
        read
    }

    /// Writes the root key again, encrypted under `new` (PKCS#8, PBES2 with PBKDF2-SHA256 and
    /// AES-256-CBC, a new salt) or, with `None`, unencrypted, once it is read with the
    /// passphrase given and found to be the root's; recorded in the audit trail as `actor`'s.
    /// The file is replaced whole (a temporary file, flushed, then renamed over it): a failure
    /// leaves the key as it was. Returns whether the key was encrypted before.
    pub async fn set_key_passphrase(
        &mut self,
        new: Option<Passphrase>,
        actor: &str,
    ) -> Result<bool> {
        if let Some(new) = &new {
            new.refuse_line_breaks()?;
        }
        let path = self.dir.join(ROOT_KEY);
        if fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(Error::InvalidInput(format!(
                "{} is a link: the key is written again in the data folder itself, which would leave the file it points to as it is; \
                 put the key file itself there (mode 0600), then run the command again",
                path.display()
            )));
        }
        // One change at a time, in the order the audit trail tells; what a change that was
        // stopped (killed, the machine down) left under the lock is no one's, and may be the
        // key in the clear: taken out first.
        let _lock = lock_file(&self.dir.join(INIT_LOCK))?;
        for stale in stale_key_copies(&self.dir) {
            fs::remove_file(&stale).map_err(|err| Error::io(&stale, err))?;
        }
        let was_encrypted = self.key_is_encrypted()?;
        if new.is_none() && !was_encrypted {
            return Err(Error::InvalidInput(format!(
                "{} is not encrypted: it has no passphrase to remove",
                self.dir.join(ROOT_KEY).display()
            )));
        }
        // Read again under the lock (another command may have changed it since this one
        // opened the CA), and checked to be the root's before anything is written.
        let der = self.read_key()?;
        self.check_key_is_the_roots(&der)?;
        let pem = key::encode_pkcs8_pem(&der, new.as_ref())?;
        Staged::write(&path, pem.as_bytes(), SECRET_MODE)?.commit()?;
        self.passphrase = new;
        // Written once the file is in place: the trail tells what was done, never a change
        // that a failure undid.
        let detail = match (was_encrypted, self.passphrase.is_some()) {
            (false, _) => "encrypted with a passphrase",
            (true, true) => "passphrase changed",
            (true, false) => "stored unencrypted",
        };
        self.store
            .audit(actor, "root key", ROOT_KEY, detail)
            .await
            .map_err(|err| {
                Error::Conflict(format!(
                    "{} was written ({detail}), but the audit trail could not record it: {err}",
                    path.display()
                ))
            })?;
        Ok(was_encrypted)
    }

    /// True when the root key can be read now (it is not encrypted, or its passphrase was
    /// given): what [`Authority::check`] compares with the root.
    pub fn key_is_readable(&self) -> bool {
        self.check_key().is_ok()
    }

    /// Reads the root key (with its passphrase, when it is encrypted) and checks that it is
    /// the root's: why it could not sign now, if it could not.
    pub fn check_key(&self) -> Result<()> {
        self.issuer().map(|_| ())
    }

    /// Closes the log.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The root's signer, reading the key file on first use.
    pub(crate) fn issuer(&self) -> Result<&Issuer<'static, KeyPair>> {
        if let Some(issuer) = self.issuer.get() {
            return Ok(issuer);
        }
        let der = self.read_key()?;
        let key_pair = self.check_key_is_the_roots(&der)?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(self.root.der()), key_pair)?;
        Ok(self.issuer.get_or_init(|| issuer))
    }

    /// The root key's PKCS#8 DER, from its file (refused when others may read it or another
    /// user owns it), decrypted with the passphrase given.
    fn read_key(&self) -> Result<Vec<u8>> {
        let path = self.dir.join(ROOT_KEY);
        let meta = fs::metadata(&path).map_err(|err| Error::io(&path, err))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::CaKeyExposed { path, mode });
        }
        let owner = std::os::unix::fs::MetadataExt::uid(&meta);
        if owner != rustix::process::geteuid().as_raw() {
            return Err(Error::CaKeyNotOwned { path, owner });
        }
        let pem = read_small_file(&path, KEY_FILE_MAX, "a key is a few kilobytes of PEM")?;
        let pem = String::from_utf8(pem)
            .map_err(|_| Error::CaKey(format!("{} is not a PEM key", path.display())))?;
        key::decode_pkcs8_pem(&pem, self.passphrase.as_ref(), &path)
    }

    /// The key pair of `der`, refused unless it is the root's own: a certificate or CRL signed
    /// by another verifies nowhere, and the log would keep it for good.
    fn check_key_is_the_roots(&self, der: &[u8]) -> Result<KeyPair> {
        let path = self.dir.join(ROOT_KEY);
        let not_the_roots = || {
            Error::CaKey(format!(
                "{} is not the key of {ROOT_CERT} (a {} key): nothing was signed; put back the key made with this root (a backup has both)",
                path.display(),
                self.root.key_algorithm().name()
            ))
        };
        let key_pair = key::key_pair_from_pkcs8(der, self.root.key_algorithm(), &path)
            .map_err(|_| not_the_roots())?;
        use rcgen::PublicKeyData;
        if key_pair.der_bytes() != self.root.public_key_bits() {
            return Err(not_the_roots());
        }
        Ok(key_pair)
    }
}

/// When and why the log holds a certificate as revoked.
type RevokedAs = (OffsetDateTime, RevocationReason);

/// Where `path` leads, part by part: every part that exists with its links followed, `..`
/// taken from what the part before really is (not from how it was written).
fn resolved(path: &Path) -> Option<PathBuf> {
    let mut resolved = PathBuf::new();
    for part in std::path::absolute(path).ok()?.components() {
        match part {
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            std::path::Component::CurDir => {}
            part => {
                resolved.push(part);
                if let Ok(real) = fs::canonicalize(&resolved) {
                    resolved = real;
                }
            }
        }
    }
    Some(resolved)
}

/// Refuses a data folder `dir` that is a file (a mistyped folder name): as the caller's input,
/// before anything is read or made.
fn refuse_a_file(dir: &Path) -> Result<()> {
    if fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        return Err(Error::InvalidInput(format!(
            "{} is a file, not a folder: a CA's data folder is the folder that holds its root.crt, root.key and ca.db",
            dir.display()
        )));
    }
    Ok(())
}

/// The copies of the root key that a command writing it (a new CA, a restore, a change of
/// its passphrase) left under their temporary names when it was stopped: `.root.key.X.tmp`.
fn stale_key_copies(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{ROOT_KEY}.");
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.starts_with(&prefix) && name.ends_with(".tmp")
                })
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses a data folder, or a log in it, that this user may not read (another user's CA, a
/// folder of mode 0700), saying so: a folder it cannot look into would otherwise seem to hold
/// no CA, and a log it cannot open would fail as SQLite's "unable to open database file".
/// Looked at only once something failed: a command that opens its CA pays nothing for it.
fn refuse_unreadable(dir: &Path, log: Option<&Path>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let denied = |path: &Path| {
        let owner = fs::metadata(path).map_or(u32::MAX, |meta| meta.uid());
        Err(Error::Unreadable {
            path: path.to_owned(),
            owner,
        })
    };
    let permission = |err: &std::io::Error| err.kind() == std::io::ErrorKind::PermissionDenied;
    if fs::symlink_metadata(dir.join(ROOT_CERT)).is_err_and(|err| permission(&err)) {
        return denied(dir);
    }
    if let Some(log) = log
        && fs::File::open(log).is_err_and(|err| permission(&err))
    {
        return denied(log);
    }
    Ok(())
}

/// The most a root certificate's file is read: a root is a few kilobytes of PEM; a file of
/// gigabytes (a wrong file, or one filled on purpose) is refused rather than read whole by
/// every command.
const ROOT_FILE_MAX: u64 = 1024 * 1024;

/// The root certificate's file at `path`, refused past [`ROOT_FILE_MAX`] bytes.
fn read_root_file(path: &Path) -> Result<Vec<u8>> {
    read_small_file(
        path,
        ROOT_FILE_MAX,
        "a root certificate is a few kilobytes of PEM",
    )
}

/// The file at `path`, when it is a file (links followed: not a device, a named pipe, a
/// folder, which could block or never end) of at most `max` bytes; `what` says why more is
/// refused.
fn read_small_file(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = fs::metadata(path).map_err(|err| Error::io(path, err))?;
    if !meta.is_file() {
        return Err(Error::CaKey(format!("{} is not a file", path.display())));
    }
    let file = fs::File::open(path).map_err(|err| Error::io(path, err))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::io(path, err))?;
    if bytes.len() as u64 > max {
        return Err(Error::CaKey(format!(
            "{} is larger than {} KiB: {what}",
            path.display(),
            max / 1024
        )));
    }
    Ok(bytes)
}

/// The most a root key's file is read (an encrypted RSA-4096 key is under 4 KiB of PEM).
const KEY_FILE_MAX: u64 = 64 * 1024;

/// Whether the folder [`refuse_unsafe_path`] looks at was made yet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Made {
    /// Before: what does not exist yet will be made.
    NotYet,
    /// After: every part must exist.
    Now,
}

/// Refuses `path`, a folder a backup or restore writes into and takes its files out of
/// again when it fails, when someone other than this user or root could put a link in its
/// place (or in place of a folder on the way to it) while the command works. The path is
/// followed part by part from `/`, as the kernel resolves it: every part that exists, and
/// every link met on the way (each one read and followed in turn), must belong to this user
/// or root, and a folder must not be writable by others unless it is sticky (as /tmp is:
/// there only an entry's owner may rename it). What does not exist yet is made by the
/// command, inside the last folder found safe; the caller looks again once it is made.
fn refuse_unsafe_path(path: &Path, made: Made) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    use std::path::Component;
    let me = rustix::process::geteuid().as_raw();
    let absolute = std::path::absolute(path).map_err(|err| Error::io(path, err))?;
    // The parts still to follow, the next last; a link's target is pushed in its place.
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    let push = |pending: &mut Vec<std::ffi::OsString>, path: &Path| {
        for part in path.components().rev() {
            match part {
                Component::RootDir => pending.push("/".into()),
                Component::ParentDir => pending.push("..".into()),
                Component::Normal(name) => pending.push(name.to_owned()),
                Component::CurDir | Component::Prefix(_) => {}
            }
        }
    };
    push(&mut pending, &absolute);
    let mut current = PathBuf::from("/");
    let mut links = 0;
    let check = |part: &Path, meta: &fs::Metadata| -> Result<()> {
        let owner = meta.uid();
        if owner != 0 && owner != me {
            return Err(Error::FolderNotOwned {
                path: part.to_owned(),
                owner,
            });
        }
        let mode = meta.mode();
        if meta.is_dir() && mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(Error::FolderExposed {
                path: part.to_owned(),
                mode: mode & 0o7777,
            });
        }
        Ok(())
    };
    let root = fs::symlink_metadata("/").map_err(|err| Error::io("/", err))?;
    check(Path::new("/"), &root)?;
    while let Some(part) = pending.pop() {
        if part == "/" {
            current = PathBuf::from("/");
            continue;
        }
        if part == ".." {
            current.pop();
            continue;
        }
        let next = current.join(&part);
        let meta = match fs::symlink_metadata(&next) {
            Ok(meta) => meta,
            // To be made by the command, in `current`, found safe.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && made == Made::NotYet => {
                return Ok(());
            }
            // Made a moment ago, and gone: someone else is changing the path (in a sticky
            // folder, an entry of theirs that was there when the folder was made).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::io(
                    &next,
                    std::io::Error::other(
                        "it was there a moment ago, when the folder was made: something else is changing the path",
                    ),
                ));
            }
            Err(err) => return Err(Error::io(&next, err)),
        };
        check(&next, &meta)?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return Err(Error::io(
                    &next,
                    std::io::Error::other("too many links on the way"),
                ));
            }
            let target = fs::read_link(&next).map_err(|err| Error::io(&next, err))?;
            // A relative target is read from the link's folder, `current`.
            push(&mut pending, &target);
        } else {
            current = next;
        }
    }
    Ok(())
}

/// Refuses a data folder or log file at `path` that other users may change (nothing to
/// refuse where there is nothing yet: a folder made here is made owner-only).
fn refuse_exposed(path: &Path) -> Result<()> {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(Error::FolderExposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

/// The files a restore or backup puts into a folder, removed when it is dropped before
/// [`Undo::keep`]. Made under the folder's init lock, once the folder was found holding none
/// of them (or holding only what a stopped restore or backup left, marked so): everything it
/// names is then the command's own.
struct Undo {
    paths: Vec<PathBuf>,
}

impl Undo {
    /// A restore's: the log (a SQLite file, with what SQLite keeps beside it) and the root's
    /// two files.
    fn restore(dir: &Path, location: &LogLocation) -> Undo {
        let mut paths = vec![dir.join(ROOT_CERT), dir.join(ROOT_KEY)];
        if let Some(log) = location.file() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = log.as_os_str().to_owned();
                path.push(suffix);
                paths.push(PathBuf::from(path));
            }
        }
        Undo { paths }
    }

    /// A backup's: its three files, and what SQLite keeps beside its log (a stopped
    /// backup's log may have been opened since).
    fn backup(target: &Path) -> Undo {
        Undo {
            paths: CA_FILES
                .iter()
                .chain(&[BACKUP_NOTE])
                .map(|name| target.join(name))
                .collect(),
        }
    }

    /// The command's `mark` in `dir` too, and the temporary files a restore or backup writes
    /// before renaming them into place (`.ca.db.X.tmp` and SQLite's journal beside it,
    /// `.root.key.X.tmp`...), taken out after the files they stand for.
    fn with_mark(mut self, dir: &Path, mark: &str) -> Undo {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Not a copy of an earlier release's log being brought up to date
                // (`.ca.db.upgrade.X.tmp`): that may be the running restore's own source.
                let staged = [STORE, ROOT_KEY, ROOT_CERT].iter().any(|file| {
                    name.starts_with(&format!(".{file}."))
                        && !name.contains(".upgrade.")
                        && (name.ends_with(".tmp") || name.ends_with(".tmp-journal"))
                });
                if staged {
                    self.paths.push(entry.path());
                }
            }
        }
        self.paths.push(dir.join(mark));
        self
    }

    /// The command succeeded: everything stays.
    fn keep(&mut self) {
        self.paths.clear();
    }
}

/// Marks `dir` with `mark` ([`RESTORE_MARK`], [`BACKUP_MARK`]): a restore or backup under
/// way, the mark on the disk before anything else is placed.
fn mark_folder(dir: &Path, mark: &str) -> Result<()> {
    let path = dir.join(mark);
    fs::write(&path, b"Began and has not finished.\n")
        .and_then(|()| fs::File::open(&path)?.sync_all())
        .and_then(|()| fs::File::open(dir)?.sync_all())
        .map_err(|err| Error::io(&path, err))
}

/// Refuses `dir` when it holds a backup that did not finish ([`BACKUP_MARK`]): no CA to
/// open, begin or restore into; the next backup into it is what takes it out.
fn refuse_unfinished_backup(dir: &Path) -> Result<()> {
    if occupied(&dir.join(BACKUP_MARK)) {
        return Err(Error::InvalidInput(format!(
            "{} holds a backup that did not finish (it was stopped, or is still being written), not a CA: \
             back up into it again to finish it, or choose another folder",
            dir.display()
        )));
    }
    Ok(())
}

/// Refuses a link, dangling or not, in `dir` under a name a new CA's files take: the log
/// made through it would land wherever it points, with that place's permissions.
fn refuse_links(dir: &Path) -> Result<()> {
    for name in CA_FILES {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(Error::InvalidInput(format!(
                "{} is a link: a new CA's files are made in its folder itself, never through a link; remove it, then run the command again",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Takes out the root key and certificate a creation stopped half way left under temporary
/// names (`.root.key.*.tmp`: the key of a root no one will use), called with the folder's
/// init lock held and no CA in the folder, so that no creation of this folder still writes
/// them.
fn remove_stopped_root_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stopped = [ROOT_KEY, ROOT_CERT]
            .iter()
            .any(|file| name.starts_with(&format!(".{file}.")) && name.ends_with(".tmp"));
        if stopped && let Err(err) = fs::remove_file(entry.path()) {
            tracing::warn!(path = %entry.path().display(), "could not remove what a stopped creation left: {err}");
        }
    }
}

/// Takes out the SQLite log at `path` that a creation made and could not finish, with its
/// write-ahead log and shared memory (closed first by the caller); `None` for a PostgreSQL
/// log, never removed. Best effort: what cannot be removed is cleared by the next creation,
/// as it clears any log that holds no request and no user.
fn remove_new_log(path: Option<&Path>) {
    let Some(path) = path else { return };
    for suffix in ["-wal", "-shm", ""] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Err(err) = fs::remove_file(&file)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %file.display(), "could not remove what a failed creation left: {err}");
        }
    }
}

/// True when anything at all (a file, a folder, a link, even a dangling one) is at `path`.
fn occupied(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

impl Drop for Undo {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = fs::remove_file(path);
        }
    }
}

/// Where [`Authority::restore`] brings an earlier release's log up to date: a copy in the
/// target folder (made for it when missing), removed after the restore, the folder with it
/// when the restore failed and it was made for the copy.
struct Upgrade {
    copy: PathBuf,
    folder: Option<PathBuf>,
}

impl Upgrade {
    fn new(dir: &Path) -> Result<Upgrade> {
        let made = !dir.exists();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| Error::io(dir, err))?;
        refuse_unsafe_path(dir, Made::Now)?;
        Ok(Upgrade {
            copy: dir.join(format!(
                ".{STORE}.upgrade.{}.tmp",
                crate::random::hex::<8>()?
            )),
            folder: made.then(|| dir.to_owned()),
        })
    }

    fn remove(self, failed: bool) {
        // The copy, SQLite's files beside it, and the lock its opening took.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.copy.clone().into_os_string();
            path.push(suffix);
            let _ = fs::remove_file(path);
        }
        let _ = fs::remove_file(self.copy.with_extension("lock"));
        if failed && let Some(folder) = self.folder {
            // Only when empty: nothing of the restore is left in it then.
            let _ = fs::remove_dir(folder);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::KeyAlgorithm;

    pub(crate) fn quick() -> InitOptions {
        InitOptions {
            root: RootSpec {
                key: KeyAlgorithm::EcdsaP256,
                ..RootSpec::default()
            },
            ..InitOptions::default()
        }
    }

    #[tokio::test]
    async fn init_then_open_gives_the_same_root_and_refuses_a_second_init() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = quick();
        options.root.permitted = vec!["example.com".parse().unwrap()];
        let created = Authority::init(
            dir.path(),
            options.clone(),
            crate::testing::open_in(dir.path()),
        )
        .await
        .unwrap();
        let opened = Authority::open(dir.path(), crate::testing::open_in(dir.path()))
            .await
            .unwrap();
        assert_eq!(created.root().der(), opened.root().der());
        assert_eq!(opened.root().common_name(), "example.com Root CA");
        assert_eq!(opened.root().permitted(), options.root.permitted.as_slice());
        assert_eq!(opened.settings().renewals, 0);
        assert!(matches!(
            Authority::init(dir.path(), options, crate::testing::open_in(dir.path())).await,
            Err(Error::AlreadyInitialised(_))
        ));
        let mode = fs::metadata(dir.path().join(ROOT_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_log_left_by_a_creation_that_failed_half_way_is_replaced_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::log_location(dir.path());
        // A creation that died after making the log, before the root: an empty log.
        Store::open(&location, 1, Access::Create)
            .await
            .unwrap()
            .close()
            .await;
        let created = Authority::init(dir.path(), quick(), crate::testing::open_in(dir.path()))
            .await
            .unwrap();
        created.close().await;
        // A log with history and no root is another matter: it is never replaced.
        fs::remove_file(dir.path().join(ROOT_CERT)).unwrap();
        let reopened = Store::open(&location, 1, Access::Write).await.unwrap();
        reopened.audit("test", "test", "", "").await.unwrap();
        reopened
            .add_user("alice", "admin", "x", "test")
            .await
            .unwrap();
        reopened.close().await;
        let init = Authority::init(dir.path(), quick(), crate::testing::open_in(dir.path())).await;
        assert!(matches!(init, Err(Error::RootMissing(_))), "{init:?}");
        let open = Authority::open(dir.path(), crate::testing::open_in(dir.path())).await;
        assert!(matches!(open, Err(Error::RootMissing(_))), "{open:?}");
        // Without the folder's key, a database with history belongs to another CA; a folder
        // holds nothing of one.
        fs::remove_file(dir.path().join(ROOT_KEY)).unwrap();
        let init = Authority::init(dir.path(), quick(), crate::testing::open_in(dir.path())).await;
        match location {
            LogLocation::File(_) => {
                assert!(matches!(init, Err(Error::RootMissing(_))), "{init:?}")
            }
            LogLocation::Postgres(_) => {
                assert!(matches!(init, Err(Error::LogInUse { .. })), "{init:?}")
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_two_creations_in_one_empty_database_at_once_one_wins() {
        // Two nodes started together on one new PostgreSQL database: one CA, not two roots.
        for _ in 0..3 {
            let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let Some(shared) = crate::testing::database(one.path()) else {
                return; // a SQLite log belongs to one folder
            };
            let open = |dir: &Path| OpenOptions {
                database: Some(shared.clone()),
                ..crate::testing::open_in(dir)
            };
            let (a, b) = tokio::join!(
                Authority::open_or_init(one.path(), quick(), open(one.path())),
                Authority::open_or_init(two.path(), quick(), open(two.path())),
            );
            let (won, lost, lost_dir) = match (a, b) {
                (Ok((won, true)), Err(lost)) => (won, lost, two.path()),
                (Err(lost), Ok((won, true))) => (won, lost, one.path()),
                other => panic!("expected one creation and one refusal: {other:?}"),
            };
            assert!(matches!(lost, Error::LogInUse { .. }), "{lost:?}");
            // The loser wrote neither key nor certificate, and the log names the winner's root.
            assert!(!lost_dir.join(ROOT_CERT).exists());
            assert!(!lost_dir.join(ROOT_KEY).exists());
            assert_eq!(
                won.store.setting(ROOT_FINGERPRINT).await.unwrap(),
                Some(won.root().fingerprint().hex())
            );
            won.close().await;
        }
    }

    #[tokio::test]
    async fn refuses_a_log_of_another_root() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&one, &two] {
            Authority::init(dir.path(), quick(), crate::testing::open_in(dir.path()))
                .await
                .unwrap()
                .close()
                .await;
        }
        fs::copy(two.path().join(ROOT_CERT), one.path().join(ROOT_CERT)).unwrap();
        match Authority::open(one.path(), crate::testing::open_in(one.path())).await {
            Err(Error::LogOfAnotherRoot {
                recorded, found, ..
            }) => assert_ne!(recorded, found),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn refuses_a_key_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        Authority::init(dir.path(), quick(), crate::testing::open_in(dir.path()))
            .await
            .unwrap();
        fs::set_permissions(dir.path().join(ROOT_KEY), fs::Permissions::from_mode(0o644)).unwrap();
        let opened = Authority::open(dir.path(), crate::testing::open_in(dir.path()))
            .await
            .unwrap();
        match opened.issuer() {
            Err(Error::CaKeyExposed { mode, .. }) => assert_eq!(mode, 0o644),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
