//! Writing output files so that none is ever seen half-written (DESIGN §8).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::error::{Error, Result};

/// Mode of key files and of the data folder's secrets.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public files (certificates, chains, CRLs).
pub const PUBLIC_MODE: u32 = 0o644;

/// How long files wait to be placed while another process holds their folder's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes `bytes` to `path` through a temporary file in the same folder that is created with
/// `mode` from the start, flushed to disk, and then renamed over `path`.
///
/// A path that names something other than a file or a folder (`/dev/null`, `/dev/stdout`, a
/// named pipe) is written to in place: renaming a file over it would replace a device node
/// (see [`open_in_place`]).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    target(path)?.write(path, bytes, mode)
}

/// Where a file named by its path is written: in place (standard output, a pipe, a device), or
/// by its name into its folder, opened once (see [`Folder`]).
#[derive(Debug)]
pub enum Target {
    InPlace(File),
    Named(Arc<Folder>, OsString),
}

/// The [`Target`] of `path`: refused when it names a folder, or a folder that does not exist.
pub fn target(path: &Path) -> Result<Target> {
    if let Some(file) = open_in_place(path)? {
        return Ok(Target::InPlace(file));
    }
    if path.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is a folder: give the name of a file to write",
            path.display()
        )));
    }
    let name = file_name(path)?;
    Ok(Target::Named(Folder::open(folder_of(path))?, name))
}

impl Target {
    /// Writes `bytes` to this target (`path` is its name in messages), as [`write_atomic`].
    pub fn write(self, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        match self {
            Target::InPlace(mut file) => file.write_all(bytes).map_err(|err| Error::io(path, err)),
            Target::Named(folder, name) => {
                let mut staged = StagedFiles::default();
                staged.stage_in(&folder, &[(&name, path, bytes, mode)])?;
                staged.place()
            }
        }
    }

    /// Writes `bytes` as a new file at this target, as [`Target::write`] but only where
    /// nothing is yet (`RENAME_NOREPLACE`): a file that appeared meanwhile stays, and the
    /// write fails. Never in place (a device, a pipe), where the mode would protect nothing.
    pub fn write_new(self, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        match self {
            Target::InPlace(_) => Err(Error::InvalidInput(format!(
                "{} is no file to make: give the name of a new file",
                path.display()
            ))),
            Target::Named(folder, name) => {
                let mut staged = StagedFiles::default();
                staged.stage_in(&folder, &[(&name, path, bytes, mode)])?;
                staged.place_new()
            }
        }
    }
}

/// The open file to write `path` through in place, or `None` for a path written through a
/// temporary file renamed over it.
///
/// - Standard output and standard error named by their descriptors (`/dev/stdout`,
///   `/dev/fd/1`, `/proc/self/fd/2`, or a link to one) are written through the descriptors
///   themselves, so that what is written lands where the shell's own writes stand (after a
///   header echoed before, before a line echoed after), and no link is replaced.
/// - Another descriptor of this process is written only when it is a pipe (a shell's
///   `>(...)`), and refused otherwise: it may be the command's own log, key or socket.
/// - Any other path that is neither a file nor a folder (a device, a named pipe, a socket) is
///   opened and written in place.
///
/// Other symbolic links are not followed: the new file replaces the link, so that a link
/// planted where the output goes cannot send a key or a certificate anywhere else.
fn open_in_place(path: &Path) -> Result<Option<File>> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let failed = |err| Error::io(path, err);
    match own_descriptor(path) {
        Some(1) => {
            let fd = std::io::stdout().as_fd().try_clone_to_owned();
            return fd.map(|fd| Some(File::from(fd))).map_err(failed);
        }
        Some(2) => {
            let fd = std::io::stderr().as_fd().try_clone_to_owned();
            return fd.map(|fd| Some(File::from(fd))).map_err(failed);
        }
        Some(number) => {
            if !fs::metadata(path).is_ok_and(|meta| meta.file_type().is_fifo()) {
                return Err(Error::InvalidInput(format!(
                    "{} names descriptor {number} of this command itself, which may be its own \
                     log, a key or a socket, not a place to write: give a file name, /dev/stdout \
                     or /dev/stderr",
                    path.display()
                )));
            }
        }
        None => {
            if !fs::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir()) {
                return Ok(None);
            }
        }
    }
    OpenOptions::new()
        .write(true)
        .open(path)
        .map(Some)
        .map_err(failed)
}

/// The number of the process's own descriptor that `path` names (`/dev/stdout`,
/// `/dev/fd/N`, `/proc/self/fd/N`, or a link to one), if it names one.
fn own_descriptor(path: &Path) -> Option<u32> {
    let number = |path: &Path| -> Option<u32> {
        if path == Path::new("/dev/stdout") {
            return Some(1);
        }
        if path == Path::new("/dev/stderr") {
            return Some(2);
        }
        let rest = path
            .strip_prefix("/dev/fd")
            .or_else(|_| path.strip_prefix("/proc/self/fd"))
            .ok()?;
        rest.to_str()?.parse().ok()
    };
    number(path).or_else(|| number(&fs::read_link(path).ok()?))
}

/// The name `path` ends in, refused when it ends in none (`/`, `..`).
fn file_name(path: &Path) -> Result<OsString> {
    path.file_name()
        .map(OsStr::to_os_string)
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a file name", path.display())))
}

/// A folder opened once, through which files are looked at, written, renamed and removed by
/// name: what was checked about it (that it holds no CA, say) holds for what goes into it,
/// whatever its path names meanwhile (a user may rename a folder of theirs and put a link in
/// its place between the check and the writes).
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
    /// Opened for reading, so that it can be locked and flushed. A folder its user may write
    /// but not read is opened as a place only (`O_PATH`): written into, neither locked nor
    /// flushed.
    readable: bool,
}

impl Folder {
    /// Opens the folder at `path` (links on the way followed, as for any path).
    pub fn open(path: &Path) -> Result<Arc<Folder>> {
        use rustix::io::Errno;
        let flags = OFlags::DIRECTORY | OFlags::CLOEXEC;
        let opened = match rustix::fs::open(path, flags | OFlags::RDONLY, Mode::empty()) {
            Ok(fd) => Ok((fd, true)),
            Err(Errno::ACCESS) => {
                rustix::fs::open(path, flags | OFlags::PATH, Mode::empty()).map(|fd| (fd, false))
            }
            Err(err) => Err(err),
        };
        match opened {
            Ok((fd, readable)) => Ok(Arc::new(Folder {
                fd,
                path: path.to_owned(),
                readable,
            })),
            Err(Errno::NOENT) => Err(Error::InvalidInput(format!(
                "the folder {} does not exist: create it, or write somewhere else",
                path.display()
            ))),
            Err(Errno::NOTDIR) => Err(Error::InvalidInput(format!(
                "{} is not a folder (it, or a name on the way to it, is a file): write somewhere else",
                path.display()
            ))),
            Err(err) => Err(Error::io(path, err.into())),
        }
    }

    /// The path the folder was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is the folder at `other`: the same device and inode, whatever the path.
    pub fn is(&self, other: &Path) -> bool {
        match (rustix::fs::fstat(&self.fd), rustix::fs::stat(other)) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }

    /// Whether something is at `name` in the folder, links followed.
    pub fn exists(&self, name: &str) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::empty()).is_ok()
    }

    /// The folder's own status (its links: 0 once removed).
    pub fn stat(&self) -> std::io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::fstat(&self.fd)?)
    }

    /// The status of `name` in the folder, links not followed; `None` when nothing is there.
    pub fn entry(&self, name: &OsStr) -> Option<rustix::fs::Stat> {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()
    }

    /// The id of the mount `name` in the folder is on (the folder's own for an empty name),
    /// links not followed; `None` where the kernel does not say.
    pub fn mount_id(&self, name: &OsStr) -> Option<u64> {
        use rustix::fs::{StatxFlags, statx};
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH;
        statx(&self.fd, name, flags, StatxFlags::MNT_ID)
            .ok()
            .filter(|found| {
                StatxFlags::from_bits_retain(found.stx_mask).contains(StatxFlags::MNT_ID)
            })
            .map(|found| found.stx_mnt_id)
    }

    /// Whether this process may rename a file over `entry` (the status of a file in this
    /// folder): not another user's file in a folder whose sticky bit (/tmp's) keeps it
    /// theirs, unless this process owns the folder or is root.
    pub fn may_replace(&self, entry: &rustix::fs::Stat) -> bool {
        let me = rustix::process::geteuid().as_raw();
        let Ok(folder) = self.stat() else {
            return true;
        };
        folder.st_mode & 0o1000 == 0 || me == 0 || entry.st_uid == me || folder.st_uid == me
    }

    /// Whether this process may create files in the folder (its effective ids, as the
    /// writes will use).
    pub fn writable(&self) -> std::io::Result<()> {
        use rustix::fs::{Access, accessat};
        let access = Access::WRITE_OK | Access::EXEC_OK;
        Ok(accessat(&self.fd, ".", access, AtFlags::EACCESS)?)
    }

    /// Opens the file `name` in the folder for reading, not through a link, without waiting
    /// on a pipe.
    pub fn open_read(&self, name: &OsStr) -> std::io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(
            &self.fd,
            name,
            flags,
            Mode::empty(),
        )?))
    }

    /// Creates `name`, which must not exist, for writing, with `mode` (less the umask).
    fn create_new(&self, name: &OsStr, mode: u32) -> std::io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(
            &self.fd,
            name,
            flags,
            Mode::from_raw_mode(mode),
        )?))
    }

    /// Renames `from` to `to` in the folder: over what is there (`replace`), or only where
    /// nothing is yet, in one step where the file system can (`RENAME_NOREPLACE`),
    /// `AlreadyExists` otherwise.
    fn rename(&self, from: &OsStr, to: &OsStr, replace: bool) -> std::io::Result<()> {
        if replace {
            return Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?);
        }
        renameat_new(&self.fd, from, to)
    }

    /// Removes `name` from the folder, if it can.
    fn remove(&self, name: &OsStr) {
        let _ = rustix::fs::unlinkat(&self.fd, name, AtFlags::empty());
    }

    /// Takes an advisory lock on the folder, released by [`Folder::unlock`]; nothing for a
    /// folder opened as a place only. Waits at most [`LOCK_WAIT`]: another command places
    /// its files in milliseconds, and a folder's owner holding the lock on purpose must not
    /// stall the command for good.
    fn lock(&self) -> std::io::Result<()> {
        use rustix::fs::{FlockOperation, flock};
        use rustix::io::Errno;
        if !self.readable {
            return Ok(());
        }
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match flock(&self.fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(()),
                Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(Errno::WOULDBLOCK) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        format!(
                            "another process has held the folder locked for {} seconds",
                            LOCK_WAIT.as_secs()
                        ),
                    ));
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    fn unlock(&self) {
        use rustix::fs::{FlockOperation, flock};
        if self.readable {
            let _ = flock(&self.fd, FlockOperation::Unlock);
        }
    }

    /// Holds the folder's lock, the one [`StagedFiles::place`] takes to put a set of files in
    /// place, from now until the reservation is dropped or the files are placed: a command
    /// that checks which names are free, issues, then places its files keeps another from
    /// doing the same between its check and its placing (both would issue, and the second
    /// could place nothing). Waits as long as placing does; nothing for a folder opened as a
    /// place only.
    pub fn reserve(self: &Arc<Self>) -> Result<Reservation> {
        self.lock().map_err(|err| Error::io(&self.path, err))?;
        Ok(Reservation(Arc::clone(self)))
    }

    /// Flushes the folder's entries to disk (renames made durable); a failure loses nothing
    /// already written.
    fn sync(&self) {
        if self.readable {
            let _ = rustix::fs::fsync(&self.fd);
        }
    }

    /// A temporary name for `name` (`.NAME.<16 hex>.tmp`).
    fn temporary_name(name: &OsStr) -> Result<OsString> {
        let suffix = crate::random::hex::<8>()?;
        Ok(OsString::from(format!(
            ".{}.{suffix}.tmp",
            name.to_string_lossy()
        )))
    }
}

/// Writes several files as [`write_atomic`] writes one: every file in full under a temporary
/// name, then each flushed to disk, then each renamed into place, and each folder flushed
/// once. Files are renamed in the order given; on a failure, what was not renamed yet is
/// removed.
pub fn write_all_atomic(files: &[(&Path, &[u8], u32)]) -> Result<()> {
    stage_all(files)?.place()
}

/// Files written in full under temporary names beside their places and flushed to disk (all
/// written, then each flushed; or flushed later, see [`StagedFiles::stage_in_unflushed`]),
/// put in place by [`StagedFiles::place`]; dropped unplaced, the
/// temporary files are removed. A file that cannot be written (a full disk, a quota, an I/O
/// error) fails the staging, before anything that depends on the files is done.
#[derive(Default)]
pub struct StagedFiles {
    staged: Vec<StagedFile>,
    placed: usize,
    /// Files written by [`StagedFiles::stage_in_unflushed`], not yet flushed.
    unflushed: Vec<(File, PathBuf)>,
}

/// A file of [`StagedFiles`]: its folder, temporary name and name there, and its path as the
/// caller named it (for messages).
struct StagedFile {
    folder: Arc<Folder>,
    tmp: OsString,
    name: OsString,
    path: PathBuf,
}

impl StagedFile {
    /// The temporary file's path, for messages.
    fn tmp_path(&self) -> PathBuf {
        folder_of(&self.path).join(&self.tmp)
    }
}

/// Writes `files` (path, bytes, mode) under temporary names and flushes them; see
/// [`StagedFiles`]. Each folder is opened once, by its path.
pub fn stage_all(files: &[(&Path, &[u8], u32)]) -> Result<StagedFiles> {
    let mut folders: Vec<(&Path, Arc<Folder>)> = Vec::new();
    let mut named = Vec::with_capacity(files.len());
    for &(path, bytes, mode) in files {
        let at = existing_folder_of(path)?;
        let folder = match folders.iter().find(|(opened, _)| *opened == at) {
            Some((_, folder)) => folder.clone(),
            None => {
                let folder = Folder::open(at)?;
                folders.push((at, folder.clone()));
                folder
            }
        };
        named.push((folder, file_name(path)?, path, bytes, mode));
    }
    let mut staged = StagedFiles::default();
    staged.write_more(
        named.iter().map(|(folder, name, path, bytes, mode)| {
            (folder, name.as_os_str(), *path, *bytes, *mode)
        }),
        true,
    )?;
    Ok(staged)
}

/// Why [`StagedFiles::place_or_keep`] did not put every file in place: the error, the files
/// it put in place before it, and those it kept under their temporary names, as (temporary
/// name, place), in order.
#[derive(Debug)]
pub struct Unplaced {
    pub error: Error,
    pub placed: Vec<PathBuf>,
    pub kept: Vec<(PathBuf, PathBuf)>,
}

impl StagedFiles {
    /// Writes more files as [`stage_all`] does, into `folder` by their names (name, path
    /// for messages, bytes, mode), to be placed after those staged already; when one fails,
    /// those of this call are removed and the earlier ones stay staged.
    pub fn stage_in(
        &mut self,
        folder: &Arc<Folder>,
        files: &[(&OsStr, &Path, &[u8], u32)],
    ) -> Result<()> {
        self.stage_in_folder(folder, files, true)
    }

    /// [`StagedFiles::stage_in`] without waiting for the disk: the files are written and the
    /// disk given them, and [`StagedFiles::flush`] waits until they are on it (placing them
    /// flushes them first), so that the caller can do other work meanwhile.
    pub fn stage_in_unflushed(
        &mut self,
        folder: &Arc<Folder>,
        files: &[(&OsStr, &Path, &[u8], u32)],
    ) -> Result<()> {
        self.stage_in_folder(folder, files, false)
    }

    fn stage_in_folder(
        &mut self,
        folder: &Arc<Folder>,
        files: &[(&OsStr, &Path, &[u8], u32)],
        flush: bool,
    ) -> Result<()> {
        self.write_more(
            files
                .iter()
                .map(|&(name, path, bytes, mode)| (folder, name, path, bytes, mode)),
            flush,
        )
    }

    /// Flushes to disk the files [`StagedFiles::stage_in_unflushed`] wrote. When one cannot
    /// be flushed, those files are removed (what the disk holds of them is not known) and
    /// the ones staged before them stay staged, as when a file cannot be written.
    pub fn flush(&mut self) -> Result<()> {
        let from = self.staged.len() - self.unflushed.len();
        let mut flushed = Ok(());
        for (file, path) in self.unflushed.drain(..) {
            if let Err(err) = file.sync_all() {
                flushed = Err(Error::io(&path, err));
                break;
            }
        }
        if flushed.is_err() {
            for file in self.staged.drain(from..) {
                file.folder.remove(&file.tmp);
            }
        }
        flushed
    }

    fn write_more<'f>(
        &mut self,
        files: impl Iterator<Item = (&'f Arc<Folder>, &'f OsStr, &'f Path, &'f [u8], u32)>,
        flush: bool,
    ) -> Result<()> {
        if flush {
            // Files staged unflushed stay the last ones staged (see [`StagedFiles::flush`]).
            self.flush()?;
        }
        let before = self.staged.len();
        let written = self.write_each(files, flush);
        if written.is_err() {
            for file in self.staged.drain(before..) {
                file.folder.remove(&file.tmp);
            }
        }
        written
    }

    fn write_each<'f>(
        &mut self,
        files: impl Iterator<Item = (&'f Arc<Folder>, &'f OsStr, &'f Path, &'f [u8], u32)>,
        flush: bool,
    ) -> Result<()> {
        let mut written = Vec::new();
        for (folder, name, path, bytes, mode) in files {
            let tmp = Folder::temporary_name(name)?;
            let mut file = folder
                .create_new(&tmp, mode)
                .map_err(|err| Error::io(path, err))?;
            self.staged.push(StagedFile {
                folder: folder.clone(),
                tmp,
                name: name.to_os_string(),
                path: path.to_owned(),
            });
            file.write_all(bytes).map_err(|err| Error::io(path, err))?;
            // Starts the pages' writeback without waiting for it (Linux writes a file's dirty
            // pages out when told they are not needed soon), so that the files go to the disk
            // together and the flushes below wait for less (~0.2 ms of three small files
            // here). Only advice: nothing depends on it.
            let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
            written.push((file, path));
        }
        if !flush {
            self.unflushed.extend(
                written
                    .into_iter()
                    .map(|(file, path)| (file, path.to_owned())),
            );
            return Ok(());
        }
        for (file, path) in written {
            file.sync_all().map_err(|err| Error::io(path, err))?;
        }
        Ok(())
    }

    /// Renames each file into place (in the order given), and flushes each folder once.
    pub fn place(mut self) -> Result<()> {
        self.rename_all(true)
    }

    /// [`StagedFiles::place`], each file only where nothing is yet (`RENAME_NOREPLACE`): of
    /// two commands writing the same names at once, the second stops instead of replacing
    /// the first's files (its key among them).
    pub fn place_new(mut self) -> Result<()> {
        self.rename_all(false)
    }

    /// [`StagedFiles::place`] (`replace`) or [`StagedFiles::place_new`], keeping what could
    /// not be put in place under its temporary name rather than removing it: for files that
    /// exist nowhere else (a key whose certificate is committed), which the error then names.
    pub fn place_or_keep(mut self, replace: bool) -> std::result::Result<(), Box<Unplaced>> {
        match self.rename_all(replace) {
            Ok(()) => Ok(()),
            Err(error) => {
                let placed = self.staged[..self.placed]
                    .iter()
                    .map(|file| file.path.clone())
                    .collect();
                let kept = self.keep();
                Err(Box::new(Unplaced {
                    error,
                    placed,
                    kept,
                }))
            }
        }
    }

    /// Keeps every file under its temporary name, placing none: for a set that cannot be
    /// completed, whose first files must not replace files of another set. Returns (temporary
    /// name, place) of each, in order.
    /// Their folders are flushed, so that the names the caller is given outlast a crash.
    pub fn keep(mut self) -> Vec<(PathBuf, PathBuf)> {
        let kept = self.staged[self.placed..]
            .iter()
            .map(|file| (file.tmp_path(), file.path.clone()))
            .collect();
        let mut synced: Vec<&Arc<Folder>> = Vec::new();
        for file in &self.staged[self.placed..] {
            if !synced
                .iter()
                .any(|folder| Arc::ptr_eq(folder, &file.folder))
            {
                file.folder.sync();
                synced.push(&file.folder);
            }
        }
        self.placed = self.staged.len();
        kept
    }

    /// Renames every file into place, each folder locked meanwhile (an advisory lock on the
    /// folder itself) when they are a set, so that two commands placing files of the same
    /// names at once place them one set after the other, never a key of one beside a
    /// certificate of the other. One file alone is renamed without: nothing to keep together.
    fn rename_all(&mut self, replace: bool) -> Result<()> {
        // Nothing is put in place before it is on disk.
        self.flush()?;
        let set = self.staged.len() > 1;
        // Each folder once, by device and inode, in that order.
        let mut folders: Vec<((u64, u64), &Arc<Folder>)> = Vec::new();
        for file in &self.staged {
            let id = file
                .folder
                .stat()
                .map_or((0, 0), |stat| (stat.st_dev, stat.st_ino));
            if !folders.iter().any(|(seen, _)| *seen == id) {
                folders.push((id, &file.folder));
            }
        }
        folders.sort_by_key(|(id, _)| *id);
        let mut locked: Vec<&Arc<Folder>> = Vec::new();
        let mut renamed = Ok(());
        for (_, folder) in folders.iter().filter(|_| set) {
            if let Err(err) = folder.lock() {
                renamed = Err(Error::io(folder.path(), err));
                break;
            }
            locked.push(folder);
        }
        if renamed.is_ok() {
            for file in &self.staged[self.placed..] {
                if let Err(err) = file.folder.rename(&file.tmp, &file.name, replace) {
                    renamed = Err(Error::io(&file.path, err));
                    break;
                }
                self.placed += 1;
            }
        }
        for folder in locked {
            folder.unlock();
        }
        if self.placed > 0 {
            for (_, folder) in &folders {
                folder.sync();
            }
        }
        renamed
    }
}

impl Drop for StagedFiles {
    fn drop(&mut self) {
        for file in self.staged.iter().skip(self.placed) {
            file.folder.remove(&file.tmp);
        }
    }
}

/// Renames `from` to `to` when nothing is at `to` yet, in one step where the file system can
/// (`RENAME_NOREPLACE`); `AlreadyExists` otherwise.
pub(crate) fn rename_new(from: &Path, to: &Path) -> std::io::Result<()> {
    renameat_new(rustix::fs::CWD, from, to)
}

/// [`rename_new`] of `from` to `to`, both relative to the folder `dir`.
fn renameat_new<P: rustix::path::Arg + Copy>(
    dir: impl std::os::fd::AsFd,
    from: P,
    to: P,
) -> std::io::Result<()> {
    use rustix::fs::{RenameFlags, renameat, renameat_with, statat};
    let dir = dir.as_fd();
    match renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // A file system without it (some network ones): looked at first, then renamed.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if statat(dir, to, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            Ok(renameat(dir, from, dir, to)?)
        }
        Err(err) => Err(err.into()),
    }
}

/// The folder `path` is in.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The folder `path` is in, refused (bad input, not a missing part of the data folder) when
/// it does not exist.
fn existing_folder_of(path: &Path) -> Result<&Path> {
    let folder = folder_of(path);
    if folder.is_dir() {
        Ok(folder)
    } else {
        Err(Error::InvalidInput(format!(
            "the folder {} does not exist: create it, or write somewhere else",
            folder.display()
        )))
    }
}

/// A file written in full under a temporary name beside its place, put there only by
/// [`Staged::commit`]: what must not appear unless something else succeeds first (a new CA's
/// key, before its log is claimed). Dropped uncommitted, the temporary file is removed.
pub(crate) struct Staged {
    file: StagedFile,
    /// False once committed (or once a failed commit leaves the file for the administrator).
    remove: bool,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("path", &self.file.path)
            .finish()
    }
}

impl Staged {
    /// Writes `bytes` to a new temporary file created with `mode` beside `path`, flushed to
    /// disk: a folder that cannot take the file fails here.
    pub(crate) fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<Staged> {
        let folder = Folder::open(existing_folder_of(path)?)?;
        let (staged, mut file) = Staged::open(&folder, &file_name(path)?, path, mode)?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|err| Error::io(path, err))?;
        Ok(staged)
    }

    /// A new, empty temporary file created with `mode` beside `name` in `folder`, to be
    /// written (`path` names it in messages).
    fn open(folder: &Arc<Folder>, name: &OsStr, path: &Path, mode: u32) -> Result<(Staged, File)> {
        let tmp = Folder::temporary_name(name)?;
        let file = folder
            .create_new(&tmp, mode)
            .map_err(|err| Error::io(path, err))?;
        let staged = Staged {
            file: StagedFile {
                folder: folder.clone(),
                tmp,
                name: name.to_os_string(),
                path: path.to_owned(),
            },
            remove: true,
        };
        Ok((staged, file))
    }

    /// Renames the file into its place. Should that fail, the file is kept under its temporary
    /// name, which the error gives, so that nothing written is lost.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.remove = false;
        let file = &self.file;
        file.folder
            .rename(&file.tmp, &file.name, true)
            .map_err(|err| {
                Error::Conflict(format!(
                    "{} could not be put in place ({err}): it was written to {}; rename it to {}",
                    file.path.display(),
                    file.tmp_path().display(),
                    file.path.display()
                ))
            })?;
        // Makes the rename itself durable; a failure here loses nothing already written.
        file.folder.sync();
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.remove {
            self.file.folder.remove(&self.file.tmp);
        }
    }
}

/// A file written in pieces, as [`write_atomic`] writes one whole: under a temporary name
/// beside its place until [`AtomicFile::commit`] flushes it to disk and renames it over its
/// path. Dropped uncommitted (something failed on the way), the temporary file is removed and
/// what was at the path is left as it was.
#[derive(Debug)]
pub struct AtomicFile {
    /// `None` for a path written in place (see [`write_atomic`]).
    staged: Option<Staged>,
    file: File,
    path: PathBuf,
}

impl AtomicFile {
    pub fn create(path: &Path, mode: u32) -> Result<Self> {
        AtomicFile::create_at(target(path)?, path, mode)
    }

    /// [`AtomicFile::create`] for a target already opened (`path` names it in messages).
    pub fn create_at(target: Target, path: &Path, mode: u32) -> Result<Self> {
        match target {
            Target::InPlace(file) => Ok(AtomicFile {
                staged: None,
                file,
                path: path.to_owned(),
            }),
            Target::Named(folder, name) => {
                let (staged, file) = Staged::open(&folder, &name, path, mode)?;
                Ok(AtomicFile {
                    staged: Some(staged),
                    file,
                    path: path.to_owned(),
                })
            }
        }
    }

    /// Flushes the file to disk and puts it in its place.
    pub fn commit(self) -> Result<()> {
        let Some(staged) = self.staged else {
            return Ok(());
        };
        self.file
            .sync_all()
            .map_err(|err| Error::io(&self.path, err))?;
        staged.commit()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Copies `from` to `to` through a temporary file created with `mode`, then renamed.
pub(crate) fn copy_atomic(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let bytes = fs::read(from).map_err(|err| Error::io(from, err))?;
    write_atomic(to, &bytes, mode)
}

/// A folder's lock held since [`Folder::reserve`], released on drop (or when files are put in
/// place there: placing them is the last thing done under it).
#[derive(Debug)]
pub struct Reservation(Arc<Folder>);

impl Drop for Reservation {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

/// Takes an exclusive advisory lock on `path` (created if missing, mode 0600: no other user
/// can open it, so none can hold it to stall the CA's commands); released on drop.
pub(crate) fn lock_file(path: &Path) -> Result<File> {
    let file = lock_target(path)?;
    file.lock().map_err(|err| Error::io(path, err))?;
    Ok(file)
}

/// [`lock_file`] from async code: waited for on a blocking thread, so that the runtime goes
/// on serving while another process holds the lock.
pub(crate) async fn lock_file_waiting(path: PathBuf) -> Result<File> {
    tokio::task::spawn_blocking(move || lock_file(&path))
        .await
        .map_err(|err| Error::Crypto(format!("could not wait for a lock: {err}")))?
}

/// Takes a shared advisory lock on `path` (created if missing, mode 0600): several holders
/// at once, none while someone holds it exclusively; released on drop.
pub(crate) fn lock_file_shared(path: &Path) -> Result<File> {
    let file = lock_target(path)?;
    file.lock_shared().map_err(|err| Error::io(path, err))?;
    Ok(file)
}

/// Takes an exclusive advisory lock on `path` without waiting: `None` while another process
/// holds it, shared or exclusive.
pub(crate) fn try_lock_file(path: &Path) -> Result<Option<File>> {
    let file = lock_target(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(err)) => Err(Error::io(path, err)),
    }
}

fn lock_target(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| Error::io(path, err))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_with_the_mode_asked_for_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        write_atomic(&path, b"secret", SECRET_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A new file only: one that is there by the time it is placed (made after its folder
    /// was opened) stays as it was, and no temporary file is left; a device is refused.
    #[test]
    fn a_new_file_replaces_nothing_that_appeared_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pfx");
        let opened = target(&path).unwrap();
        fs::write(&path, b"theirs").unwrap();
        assert!(opened.write_new(&path, b"ours", SECRET_MODE).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"theirs");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let fresh = dir.path().join("b.pfx");
        target(&fresh)
            .unwrap()
            .write_new(&fresh, b"ours", SECRET_MODE)
            .unwrap();
        assert_eq!(fs::read(&fresh).unwrap(), b"ours");
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let null = Path::new("/dev/null");
        assert!(
            target(null)
                .unwrap()
                .write_new(null, b"ours", SECRET_MODE)
                .is_err()
        );
    }

    #[test]
    fn a_staged_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        let staged = Staged::write(&path, b"secret", SECRET_MODE).unwrap();
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let staged = Staged::write(&path, b"secret", SECRET_MODE).unwrap();
        staged.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_written_in_pieces_replaces_the_old_one_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crl");
        fs::write(&path, b"old").unwrap();
        let mut file = AtomicFile::create(&path, PUBLIC_MODE).unwrap();
        file.write_all(b"new, ").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"old");
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut file = AtomicFile::create(&path, PUBLIC_MODE).unwrap();
        file.write_all(b"new, ").unwrap();
        file.write_all(b"in pieces").unwrap();
        file.commit().unwrap();
        let refused = AtomicFile::create(dir.path(), PUBLIC_MODE).unwrap_err();
        assert!(refused.to_string().contains("is a folder"), "{refused}");
        let nowhere = dir.path().join("missing").join("ca.crl");
        for refused in [
            AtomicFile::create(&nowhere, PUBLIC_MODE).unwrap_err(),
            write_atomic(&nowhere, b"x", PUBLIC_MODE).unwrap_err(),
        ] {
            assert!(
                matches!(&refused, Error::InvalidInput(why) if why.contains("does not exist")),
                "{refused}"
            );
        }
        assert_eq!(fs::read(&path).unwrap(), b"new, in pieces");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A descriptor of the process other than standard output and error, by name or through
    /// a link: refused when it is a file (it may be the command's own log or key), whose bytes
    /// stay as they were; written in place when it is a pipe (a shell's `>(...)`). Any other
    /// link is replaced by the new file, its target untouched.
    #[test]
    fn own_descriptors_are_refused_pipes_written_and_other_links_replaced() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("ca.db");
        fs::write(&own, b"the log").unwrap();
        let open = File::options().read(true).write(true).open(&own).unwrap();
        let by_descriptor = format!("/proc/self/fd/{}", open.as_raw_fd());
        let by_dev_fd = format!("/dev/fd/{}", open.as_raw_fd());
        let link = dir.path().join("out");
        std::os::unix::fs::symlink(&by_descriptor, &link).unwrap();
        for path in [Path::new(&by_descriptor), Path::new(&by_dev_fd), &link] {
            let refused = write_atomic(path, b"a certificate", PUBLIC_MODE).unwrap_err();
            assert!(
                matches!(&refused, Error::InvalidInput(why) if why.contains("descriptor")),
                "{refused}"
            );
            let refused = AtomicFile::create(path, PUBLIC_MODE).unwrap_err();
            assert!(matches!(refused, Error::InvalidInput(_)), "{refused}");
        }
        assert_eq!(fs::read(&own).unwrap(), b"the log");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );

        // A pipe by its descriptor, opened both ways so that nothing blocks.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let mut pipe = File::options().read(true).write(true).open(&fifo).unwrap();
        let by_descriptor = format!("/dev/fd/{}", pipe.as_raw_fd());
        write_atomic(Path::new(&by_descriptor), b"through", PUBLIC_MODE).unwrap();
        let mut read = [0u8; 7];
        pipe.read_exact(&mut read).unwrap();
        assert_eq!(&read, b"through");

        let target = dir.path().join("elsewhere");
        fs::write(&target, b"kept").unwrap();
        let planted = dir.path().join("planted.key");
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        write_atomic(&planted, b"secret", SECRET_MODE).unwrap();
        assert!(
            !fs::symlink_metadata(&planted)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&planted).unwrap(), b"secret");
        assert_eq!(fs::read(&target).unwrap(), b"kept");
    }

    #[test]
    fn a_named_pipe_or_a_device_is_written_in_place_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap();
        assert!(made.success());
        for round in 0..2 {
            // The reading end is opened first, without waiting for a writer, and read once
            // the writing is done: a reader that opens the pipe while the test writes could
            // find that the writer met another reader instead (a copy of an earlier reading
            // end held for a moment by a process another test forks), its data gone.
            let mut reader = {
                use std::os::unix::fs::OpenOptionsExt;
                File::options()
                    .read(true)
                    .custom_flags(OFlags::NONBLOCK.bits() as i32)
                    .open(&pipe)
                    .unwrap()
            };
            if round == 0 {
                write_atomic(&pipe, b"whole", PUBLIC_MODE).unwrap();
            } else {
                let mut file = AtomicFile::create(&pipe, PUBLIC_MODE).unwrap();
                file.write_all(b"in ").unwrap();
                file.write_all(b"pieces").unwrap();
                file.commit().unwrap();
            }
            rustix::fs::fcntl_setfl(&reader, OFlags::empty()).unwrap();
            let mut read = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut read).unwrap();
            assert_eq!(
                read,
                if round == 0 {
                    &b"whole"[..]
                } else {
                    b"in pieces"
                }
            );
            assert!(
                std::os::unix::fs::FileTypeExt::is_fifo(&fs::metadata(&pipe).unwrap().file_type()),
                "round {round}: the pipe was replaced"
            );
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn a_failed_commit_keeps_the_staged_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let staged = Staged::write(&path, b"secret", SECRET_MODE).unwrap();
        let err = staged.commit().unwrap_err().to_string();
        let kept: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &path)
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(fs::read(&kept[0]).unwrap(), b"secret");
        assert!(err.contains(&kept[0].display().to_string()), "{err}");
    }

    #[test]
    fn staged_files_appear_only_when_placed_and_leave_nothing_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (key, crt) = (dir.path().join("a.key"), dir.path().join("a.crt"));
        fs::write(&crt, b"old").unwrap();
        let files: [(&Path, &[u8], u32); 2] =
            [(&key, b"secret", SECRET_MODE), (&crt, b"new", PUBLIC_MODE)];
        // Staged, then dropped (the command failed in between): as if never written.
        let staged = stage_all(&files).unwrap();
        assert!(!key.exists());
        assert_eq!(fs::read(&crt).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            3,
            "two temporary files"
        );
        drop(staged);
        assert!(!key.exists());
        assert_eq!(fs::read(&crt).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // Staged, then placed.
        stage_all(&files).unwrap().place().unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        assert_eq!(fs::read(&crt).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn what_cannot_be_placed_is_kept_under_its_temporary_name_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let (key, crt) = (dir.path().join("a.key"), dir.path().join("a.crt"));
        // A folder, not empty, where the certificate goes: no rename replaces it.
        fs::create_dir(&crt).unwrap();
        fs::write(crt.join("inside"), b"").unwrap();
        let files: [(&Path, &[u8], u32); 2] =
            [(&key, b"secret", SECRET_MODE), (&crt, b"new", PUBLIC_MODE)];
        let unplaced = stage_all(&files).unwrap().place_or_keep(true).unwrap_err();
        assert_eq!(
            fs::read(&key).unwrap(),
            b"secret",
            "placed before the failure"
        );
        assert_eq!(unplaced.kept.len(), 1);
        let (tmp, path) = &unplaced.kept[0];
        assert_eq!(path, &crt);
        assert_eq!(fs::read(tmp).unwrap(), b"new");
        assert!(
            unplaced.error.to_string().contains("a.crt"),
            "{}",
            unplaced.error
        );
        // Without being asked to keep them, the same failure leaves nothing.
        fs::remove_file(tmp).unwrap();
        assert!(stage_all(&files).unwrap().place().is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn several_files_are_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (key, crt) = (dir.path().join("a.key"), dir.path().join("a.crt"));
        fs::write(&crt, b"old").unwrap();
        write_all_atomic(&[(&key, b"secret", SECRET_MODE), (&crt, b"new", PUBLIC_MODE)]).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        assert_eq!(fs::read(&crt).unwrap(), b"new");
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&key), mode(&crt)), (0o600, 0o644));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        // One that cannot be written: none is replaced, and no temporary file is left.
        fs::remove_file(&key).unwrap();
        let missing = dir.path().join("no-such-folder").join("a.pem");
        let refused = write_all_atomic(&[
            (&key, b"secret", SECRET_MODE),
            (&crt, b"newer", PUBLIC_MODE),
            (&missing, b"x", PUBLIC_MODE),
        ]);
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("no-such-folder does not exist")
        );
        assert!(!key.exists());
        assert_eq!(fs::read(&crt).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A place that cannot take its file (a folder): the files before it are in place,
        // the rest and every temporary file are gone.
        let blocked = dir.path().join("b.pem");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"x").unwrap();
        let refused = write_all_atomic(&[
            (&key, b"secret", SECRET_MODE),
            (&blocked, b"x", PUBLIC_MODE),
            (&crt, b"newest", PUBLIC_MODE),
        ]);
        assert!(refused.is_err());
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        assert_eq!(fs::read(&crt).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder").join("a.crt");
        assert!(write_atomic(&missing, b"x", PUBLIC_MODE).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
