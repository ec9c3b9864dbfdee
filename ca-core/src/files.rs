//! Writing output files so that none is ever seen half-written (DESIGN §8).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Mode of key files and of the data folder's secrets.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public files (certificates, chains, CRLs).
pub const PUBLIC_MODE: u32 = 0o644;

/// Writes `bytes` to `path` through a temporary file in the same folder that is created with
/// `mode` from the start, flushed to disk, and then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a file name", path.display())))?;
    let suffix = crate::random::hex::<8>()?;
    let tmp = dir.join(format!(".{}.{suffix}.tmp", name.to_string_lossy()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(dir) = File::open(dir) {
            // Make the rename itself durable; a failure here loses nothing already written.
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    result.map_err(|err| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, err)
    })
}

/// Copies `from` to `to` through a temporary file created with `mode`, then renamed.
pub(crate) fn copy_atomic(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let bytes = fs::read(from).map_err(|err| Error::io(from, err))?;
    write_atomic(to, &bytes, mode)
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

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder").join("a.crt");
        assert!(write_atomic(&missing, b"x", PUBLIC_MODE).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
