//! `ca backup DIR` and `ca restore DIR`: the whole CA, copied out while it runs, and put back.

use std::path::{Path, PathBuf};

use ca_core::Authority;

use crate::cmd::open_options;
use crate::output::Printed;

#[derive(clap::Args, Debug)]
pub(crate) struct BackupArgs {
    /// The folder to write the backup into (made if missing; it must hold no backup).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The folder `ca backup` wrote.
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// On PostgreSQL, where this runs as the role that owns the database: the role servers and
    /// commands run as, given its share of the restored log, as `ca migrate --grant` gives it.
    #[arg(long, value_name = "ROLE", value_parser = crate::cmd::migrate::role_name)]
    grant: Option<ca_core::RoleName>,
}

pub(crate) async fn backup(data: &Path, args: BackupArgs) -> anyhow::Result<()> {
    let authority = crate::cmd::open(data).await?;
    authority.backup(&args.dir).await?;
    authority
        .record_backup(&crate::cmd::actor(), &args.dir)
        .await?;
    say!(
        "Backed up the CA \"{}\" from {} to {}: the log (one consistent snapshot), root.crt and root.key (mode 0600).",
        authority.root().common_name(),
        data.printed(),
        args.dir.printed()
    );
    say!("Keep it as safe as the CA itself: root.key signs for every client that trusts the root.");
    authority.close().await;
    Ok(())
}

pub(crate) async fn restore(data: &Path, args: RestoreArgs) -> anyhow::Result<()> {
    if args.grant.is_some() && crate::cmd::database().is_none() {
        return Err(crate::cmd::Refused(
            "--grant works on a PostgreSQL log: give the database to restore into with --database or $CA_DATABASE, connecting as the role that owns it"
                .into(),
        )
        .into());
    }
    let authority = Authority::restore(&args.dir, data, open_options(1)?).await?;
    authority
        .record_restore(&crate::cmd::actor(), &args.dir)
        .await?;
    let rows = authority.list(&ca_core::ListFilter::default()).await?;
    let log = match authority.log_location() {
        ca_core::LogLocation::Postgres(url) => format!(" (the log in {url})"),
        ca_core::LogLocation::File(_) => String::new(),
    };
    let ca = crate::invocation::ca();
    let checked = if authority.key_is_readable() {
        format!("It passes every check of `{ca} check`.")
    } else {
        format!(
            "It passes every check of `{ca} check` but one: the root key is encrypted, and was not compared with the root (set $CA_PASSPHRASE and run `{ca} check` to compare it)."
        )
    };
    say!(
        "Restored the CA \"{}\" from {} into {}{log}: {} requests, root SHA-256 {}. {checked}",
        authority.root().common_name(),
        args.dir.printed(),
        std::path::absolute(data)?.printed(),
        rows.len(),
        authority.root().fingerprint().colons()
    );
    match still_running_origin(&args.dir, data) {
        Some(Origin::Backup(origin)) => say!(
            "Note: the CA this backup was taken from is still in {}: two folders issuing from one root each miss the other's certificates and revocations; \
             keep one of them (stop the other's server, and move its folder aside)",
            origin.printed()
        ),
        Some(Origin::Folder) => say!(
            "Note: {} is not a backup but a CA's own data folder, which still holds this CA: two folders issuing from one root each miss the other's certificates and revocations; \
             keep one of them (stop the other's server, and move its folder aside). To copy a CA, `ca backup` it: a backup issues nothing until it is restored",
            args.dir.printed()
        ),
        None => {}
    }
    let location = authority.log_location().clone();
    authority.close().await;
    if let ca_core::LogLocation::Postgres(url) = location {
        match args.grant {
            Some(role) => crate::cmd::migrate::grant(&url, &role).await?,
            None => say!(
                "Servers and commands that run as a role of their own (not the owner's) need its grant first: `{ca} migrate --grant ROLE` with this database, as its owner."
            ),
        }
    }
    Ok(())
}

/// Where a restored CA still issues besides the folder restored into.
enum Origin {
    /// The data folder a backup was taken from.
    Backup(PathBuf),
    /// The folder restored from, a CA's data folder itself rather than a backup.
    Folder,
}

/// The data folder the backup in `backup` was taken from (its backup.txt names it), or
/// `backup` itself when it is a data folder (no backup.txt), when it still holds the CA
/// restored and is not `restored_into`: a second working copy of one CA.
fn still_running_origin(backup: &Path, restored_into: &Path) -> Option<Origin> {
    let (origin, found) = match std::fs::read_to_string(backup.join("backup.txt")) {
        Ok(note) => {
            let first = note.lines().next()?;
            let (_, rest) = first.split_once("certificate authority in ")?;
            let (origin, _) = rest.rsplit_once(", taken ")?;
            (PathBuf::from(origin), Origin::Backup(PathBuf::from(origin)))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            (backup.to_owned(), Origin::Folder)
        }
        Err(_) => return None,
    };
    let same = |a: &Path, b: &Path| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    // The same CA only: the same root certificate (a new CA made there since is another).
    let root = |dir: &Path| std::fs::read(dir.join("root.crt")).ok();
    let same_root = root(&origin).is_some_and(|there| Some(there) == root(restored_into));
    (same_root && !same(&origin, restored_into)).then_some(found)
}
