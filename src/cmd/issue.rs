//! `ca issue`: a server certificate and its key, written as files.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ca_core::export::pkcs12::{PfxPassword, PfxProfile};
use ca_core::files::{Folder, PUBLIC_MODE, SECRET_MODE, StagedFiles, Unplaced};
use ca_core::{
    Authority, IssueRequest, Issued, KeyAlgorithm, Passphrase, Profile, RequestSource,
    SerialNumber, Signed, SubjectName,
};

use crate::cmd::Refused;
use crate::output::{Printed, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// DNS names (the first becomes the CN) and IP addresses the certificate is for.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<SubjectName>,
    /// An IP address to add to the certificate; repeatable.
    #[arg(long = "ip", value_name = "ADDR", value_parser = ip_address)]
    ips: Vec<SubjectName>,
    /// The key (rsa2048 works with every Windows since XP).
    #[arg(long, value_parser = crate::cmd::choice::<KeyAlgorithm>(), value_name = "ALG", default_value_t = KeyAlgorithm::LEAF_DEFAULT)]
    key: KeyAlgorithm,
    /// How long the certificate is valid, in days from an hour before it is made (at most 825) [default: 397]
    #[arg(long, value_name = "N", value_parser = crate::cmd::days, allow_negative_numbers = true)]
    days: Option<u32>,
    #[command(flatten)]
    files: FileArgs,
    /// Accept names that resolve only inside a private network (MAIL, srv01.corp.local, ...).
    #[arg(long)]
    allow_internal: bool,
    /// Also allow TLS client authentication with this certificate.
    #[arg(long)]
    client_auth: bool,
}

// Where `ca issue` and `ca renew` write, and whether they also write a PFX. Not a doc
// comment: clap would show it as the help of the commands that flatten it.
#[derive(clap::Args, Debug)]
pub(crate) struct FileArgs {
    /// Folder to write the files into.
    #[arg(long, default_value = ".", value_name = "DIR")]
    out: PathBuf,
    /// Also write NAME.pfx (key, certificate and root), protected by the password in FILE
    /// (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pfx_password_file: Option<PathBuf>,
    /// Encrypt NAME.key (PBES2, AES-256) with the passphrase in FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// compat (every Windows since Server 2003) or modern (Windows Server 2019 and later).
    #[arg(long, value_parser = crate::cmd::choice::<PfxProfile>(), value_name = "PROFILE", default_value_t = PfxProfile::default())]
    pfx_profile: PfxProfile,
    /// Replace files of the same names in the output folder.
    #[arg(long)]
    force: bool,
}

impl FileArgs {
    /// The files to write for `stem`, once every argument is read and nothing would be
    /// overwritten by mistake: all of this before anything is issued.
    pub(crate) fn prepare(&self, stem: &str, data: &Path) -> anyhow::Result<OutputFiles> {
        if !self.out.is_dir() {
            let what = if self.out.exists() {
                "is not a folder: --out names the folder the files go into"
            } else {
                "does not exist: create it first, or name another with --out"
            };
            return Err(Refused(format!("the output folder {} {what}", self.out.display())).into());
        }
        // Opened once: what is checked below and what is written later are this folder,
        // whatever its path names meanwhile (a folder of another user's, renamed and a link
        // to the data folder put in its place while this runs, takes nothing of the CA's).
        let folder = Folder::open(&self.out)?;
        // The CA's own files live in its data folder: `ca issue root --force` there would
        // replace its root key (and `https`, `ocsp` the server's own). The same folder by
        // device and inode (a link or a bind mount of it too), or any folder holding a CA.
        if folder.is(data) || ca_core::authority::is_data_folder(&folder) {
            return Err(Refused(format!(
                "{} is a CA's data folder, where its own key and certificates are kept: choose another --out folder",
                self.out.display()
            ))
            .into());
        }
        // A folder removed while it was the current one still opens, and takes no file.
        if folder.stat()?.st_nlink == 0 {
            return Err(Refused(format!(
                "the output folder {} was removed: choose another --out folder",
                self.out.display()
            ))
            .into());
        }
        // Before anything is issued: a certificate issued into a folder its key cannot be
        // written to is in the log with its key lost. (Effective ids, as the writes will be.)
        if let Err(err) = folder.writable() {
            return Err(Refused(format!(
                "the output folder {} cannot be written ({err}): choose another --out folder, or run ca as a user that may write there",
                self.out.display(),
            ))
            .into());
        }
        let mut files = OutputFiles::new(folder, &self.out, stem);
        // Held until the files are in place: another command issuing the same names into this
        // folder at once waits here, then finds these files and is refused before it issues
        // (with --force the second replaces the first's files, each set whole).
        if !self.force {
            files.reservation = Some(files.folder.reserve()?);
        }
        files.replace = self.force;
        files.data = data.to_owned();
        let pfx = self.out.join(format!("{stem}.pfx"));
        let wanted: Vec<&Path> = files
            .paths()
            .chain(self.pfx_password_file.as_ref().map(|_| pfx.as_path()))
            .collect();
        // Each file is written under a longer temporary name (`.NAME.<16 hex>.tmp`) before
        // it is renamed: a name the file system cannot hold would fail after issuing.
        if let Some(long) = wanted.iter().find(|path| {
            path.file_name().map_or(0, |name| name.len()) + TEMPORARY_SUFFIX > NAME_MAX
        }) {
            return Err(Refused(format!(
                "{} is too long for a file name here (the files are named after the first DNS name, and a file name holds at most {} bytes with its temporary suffix): give a shorter name first",
                long.display(),
                NAME_MAX - TEMPORARY_SUFFIX
            ))
            .into());
        }
        // A NAME.pfx this does not write, left from an earlier issue, would stay beside the
        // new files holding the key they replace (and be what IIS imports).
        if self.pfx_password_file.is_none()
            && let Some(name) = pfx.file_name()
            && files.folder.entry(name).is_some()
        {
            return Err(Refused(format!(
                "{} is there already, from an earlier certificate, and would be left beside the new files holding another key: pass --pfx-password-file FILE (with --force) to write a new one over it, or move it away",
                pfx.display()
            ))
            .into());
        }
        let folder_mount = files.folder.mount_id(OsStr::new(""));
        for (name, path) in wanted
            .iter()
            .filter_map(|path| Some((path.file_name()?, *path)))
        {
            // Links count, even one that leads nowhere: it would be replaced.
            let Some(entry) = files.folder.entry(name) else {
                continue;
            };
            if !self.force {
                return Err(Refused(format!(
                    "{} already exists: move it away, choose another --out folder, or pass --force to replace it",
                    path.display()
                ))
                .into());
            }
            if rustix::fs::FileType::from_raw_mode(entry.st_mode) == rustix::fs::FileType::Directory
            {
                return Err(Refused(format!(
                    "{} is a folder, which --force does not replace: move it away or choose another --out folder",
                    path.display()
                ))
                .into());
            }
            // A file mounted over the name (a container's single-file mount) cannot be
            // replaced by a rename: its mount is not the folder's.
            if let (Some(file), Some(folder)) = (files.folder.mount_id(name), folder_mount)
                && file != folder
            {
                return Err(Refused(format!(
                    "{} is mounted there from elsewhere, which --force cannot replace: write the files into another --out folder and copy them",
                    path.display()
                ))
                .into());
            }
            // Another user's file in a folder whose sticky bit (/tmp's) keeps it theirs.
            if !files.folder.may_replace(&entry) {
                return Err(Refused(format!(
                    "{} belongs to another user, and the folder's sticky bit lets only them replace it: choose another --out folder, or ask them to move it away",
                    path.display()
                ))
                .into());
            }
        }
        drop(wanted);
        // The secrets last: nothing is asked for that a refusal above would waste.
        if self.pfx_password_file.as_deref() == Some(Path::new("-"))
            && self.key_passphrase_file.as_deref() == Some(Path::new("-"))
        {
            return Err(Refused(
                "--pfx-password-file and --key-passphrase-file cannot both read standard input (-): give one of them a file".into(),
            )
            .into());
        }
        if let Some(path) = &self.pfx_password_file {
            let password = PfxPassword::new(crate::cmd::read_password(path, "PFX password")?)?;
            files.pfx = Some((pfx, password, self.pfx_profile));
            files.pfx_password_file = Some(path.clone()).filter(|path| path != Path::new("-"));
        }
        if let Some(path) = &self.key_passphrase_file {
            let passphrase = crate::cmd::read_password(path, "key passphrase")?;
            files.key_passphrase = Some(Passphrase::new(passphrase)?);
            files.key_passphrase_file = Some(path.clone()).filter(|path| path != Path::new("-"));
        }
        Ok(files)
    }
}

/// The value of `--ip`: an address, judged as a name given without `--ip` is; a host name or
/// a range is said to be none.
fn ip_address(text: &str) -> Result<SubjectName, String> {
    let shown = ca_core::display::inert(text);
    match text.parse::<SubjectName>() {
        Ok(ip @ SubjectName::Ip(_)) => Ok(ip),
        Ok(SubjectName::Dns(_)) => Err(format!(
            "'{shown}' is not an IP address; give DNS names without --ip"
        )),
        Err(_) if text.contains('/') => Err(format!(
            "'{shown}' is not an IP address: a certificate holds single addresses (a range such as 192.0.2.0/24 is for `ca init --permit`)"
        )),
        Err(_) if text.parse::<std::net::SocketAddr>().is_ok() => Err(format!(
            "'{shown}' is an address with a port: give the address alone (clients match the address, whatever the port)"
        )),
        Err(_) if text.contains('%') => Err(format!(
            "'{shown}' is not an IP address a certificate can hold: leave out the zone (%...), which only this machine knows"
        )),
        // A dotted number is judged as an address (leading zeros, a fifth part...): its own
        // reason says what is wrong with it.
        Err(err) if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') => Err(err.to_string()),
        Err(_) => Err(format!(
            "'{shown}' is not an IP address (as in 192.0.2.1 or 2001:db8::1)"
        )),
    }
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    // What is wrong with the request itself is said before anything about its files.
    if let Some(days) = args.days {
        ca_core::profile::check_leaf_days(days)?;
    }
    let mut names = args.names;
    names.extend(args.ips);
    let files = args
        .files
        .prepare(&ca_core::name::files_stem(&names), data)?;

    let authority = crate::cmd::open_to_sign(data).await?;
    // Looked up before issuing, so that the new certificate is not among them.
    let holders = authority.holders_of(&names).await?;
    // The key is written (under a temporary name) before the certificate is committed: a key
    // that cannot be written leaves no certificate behind, and a certificate is never lost
    // with its key.
    let guard = crate::cmd::Guard::begin();
    let mut staged = None;
    let issued = authority
        .issue_staged(
            IssueRequest {
                names,
                key: args.key,
                days: args.days,
                profile: Profile::for_client_auth(args.client_auth),
                allow_internal: args.allow_internal,
                requester: crate::cmd::actor(),
                source: RequestSource::Cli,
            },
            |signed| {
                staged = Some((files.stage_key(signed)?, signed.serial.clone()));
                Ok(())
            },
        )
        .await;
    let (issued, staged) = files.with_key(issued, staged)?;
    files.place_and_close(&issued, staged, &authority).await?;
    guard.end();
    describe(&issued, &files)
        .and_then(|()| {
            for note in renewal_notes(&holders, Made::WithKey) {
                say!("Note: {note}");
            }
            Ok(())
        })
        .map_err(|err| reported_but(&issued, &files, err))
}

/// The most holders named one by one; more are summed up in one note.
const HOLDERS_NAMED: usize = 3;

/// How the new certificate came: with a key the CA made, or signing a request whose key its
/// server keeps (IIS, certreq, OpenSSL), where `ca renew`, which makes a key, is no way to
/// replace a certificate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    WithKey,
    FromRequest,
}

/// Which valid certificates already held these names, and how to replace one instead of
/// keeping two (the new one is issued all the same: some want two, on two servers): renew it,
/// or, for a certificate signed from a request, withdraw the one it replaces. Past a few, one
/// note counts them and says how to list them, rather than a screenful of notes.
pub(crate) fn renewal_notes(holders: &[ca_core::store::Holder], made: Made) -> Vec<String> {
    // As every other line shows a name: its U-label beside the A-label the log keeps.
    let shown = |name: &str| {
        name.parse::<SubjectName>()
            .map_or_else(|_| name.to_owned(), |name| name.shown())
    };
    let ca = crate::invocation::ca();
    if holders.len() <= HOLDERS_NAMED {
        return holders
            .iter()
            .map(|holder| {
                let id = holder.id;
                let how = match made {
                    Made::WithKey if holder.to_renew != id => format!(
                        "It was renewed, but no renewal carries it on (each was revoked, or ends \
                         sooner): to replace it, `{ca} renew {}` gives the same names a new key; \
                         then `{ca} revoke {id} --reason superseded` withdraws the old one.",
                        holder.to_renew
                    ),
                    Made::WithKey => format!(
                        "To replace it, `{ca} renew {id}` gives the same names a new key; then \
                         `{ca} revoke {id} --reason superseded` withdraws the old one."
                    ),
                    Made::FromRequest => format!(
                        "If this certificate replaces it, `{ca} revoke {id} --reason superseded` \
                         withdraws the old one once its server has the new one."
                    ),
                };
                format!(
                    "certificate {id} for {} is still valid (until {}). {how}",
                    holder
                        .names
                        .iter()
                        .map(|name| shown(name))
                        .collect::<Vec<_>>()
                        .join(", "),
                    when(holder.not_after),
                )
            })
            .collect();
    }
    let mut names: Vec<&str> = Vec::new();
    for name in holders.iter().flat_map(|holder| &holder.names) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    // Oldest first: the newest are the last.
    let newest: Vec<String> = holders
        .iter()
        .rev()
        .take(HOLDERS_NAMED)
        .rev()
        .map(|holder| holder.id.to_string())
        .collect();
    let latest = holders
        .iter()
        .map(|holder| holder.not_after)
        .max()
        .map(when)
        .unwrap_or_default();
    let how = match made {
        Made::WithKey => format!(
            "To replace one, `{ca} renew ID` gives the same names a new key; then \
             `{ca} revoke ID --reason superseded` withdraws the old one."
        ),
        Made::FromRequest => format!(
            "`{ca} revoke ID --reason superseded` withdraws one this certificate replaces, once its \
             server has the new one."
        ),
    };
    // One name's list shows them all only when each holds that name.
    let first = names.first().copied().unwrap_or_default();
    let listed = if holders
        .iter()
        .all(|holder| holder.names.iter().any(|name| name == first))
    {
        format!(
            "`{ca} list --status valid --name {}` lists them",
            shell_word(first)
        )
    } else {
        format!("`{ca} list --status valid --name NAME` lists those of each name")
    };
    vec![format!(
        "{} certificates for {} are still valid (the newest {}: {}; the last until {}). \
         {listed}. {how}",
        holders.len(),
        names
            .iter()
            .map(|name| shown(name))
            .collect::<Vec<_>>()
            .join(", "),
        newest.len(),
        newest.join(", "),
        latest,
    )]
}

/// `name` as a shell reads it back: a wildcard quoted, so that no file name replaces it.
fn shell_word(name: &str) -> String {
    if name.contains('*') {
        format!("'{name}'")
    } else {
        name.to_owned()
    }
}

/// The longest file name Linux file systems hold, in bytes.
const NAME_MAX: usize = 255;

/// What a file's temporary name adds to its name (`.` before, `.<16 hex>.tmp` after; see
/// [`ca_core::files::StagedFiles`]).
const TEMPORARY_SUFFIX: usize = 22;

pub(crate) struct OutputFiles {
    /// The folder they go into, opened once.
    folder: Arc<Folder>,
    leaf: PathBuf,
    key: PathBuf,
    chain: PathBuf,
    pfx: Option<(PathBuf, PfxPassword, PfxProfile)>,
    key_passphrase: Option<Passphrase>,
    /// The file the key's passphrase was read from (not standard input), for commands that
    /// read the key again.
    key_passphrase_file: Option<PathBuf>,
    /// The file the PFX's password was read from (not standard input), for the command that
    /// writes the PFX again.
    pfx_password_file: Option<PathBuf>,
    /// Whether files already in place are replaced (--force).
    replace: bool,
    /// The CA's data folder, which the commands a message gives to run name.
    data: PathBuf,
    /// The folder's lock, held from the check that the names are free to their placing.
    reservation: Option<ca_core::files::Reservation>,
}

impl OutputFiles {
    /// The files for `stem` in `folder` (`dir`): certificate, key and chain; a PFX is added
    /// once its password is read.
    fn new(folder: Arc<Folder>, dir: &Path, stem: &str) -> Self {
        OutputFiles {
            folder,
            leaf: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
            chain: dir.join(format!("{stem}-chain.pem")),
            key_passphrase: None,
            key_passphrase_file: None,
            pfx_password_file: None,
            replace: false,
            pfx: None,
            data: PathBuf::new(),
            reservation: None,
        }
    }

    /// Where the key goes.
    pub(crate) fn key_path(&self) -> &Path {
        &self.key
    }

    /// How a command that reads the key again gives its passphrase: nothing when the key is
    /// not encrypted; the file it was read from; or, read from standard input, `FILE` and
    /// what it stands for.
    pub(crate) fn key_passphrase_option(&self) -> (String, &'static str) {
        match (&self.key_passphrase, &self.key_passphrase_file) {
            (None, _) => (String::new(), ""),
            (Some(_), Some(file)) => (
                format!(
                    " --key-passphrase-file {}",
                    ca_core::display::shell_word(file)
                ),
                "",
            ),
            (Some(_), None) => (
                " --key-passphrase-file FILE".to_owned(),
                ", FILE holding the key's passphrase",
            ),
        }
    }

    /// Where the PFX goes, when one is written.
    pub(crate) fn pfx_path(&self) -> Option<&Path> {
        self.pfx.as_ref().map(|(path, ..)| path.as_path())
    }

    /// Every file to write.
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [
            Some(&self.leaf),
            Some(&self.key),
            Some(&self.chain),
            self.pfx.as_ref().map(|(p, ..)| p),
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
    }

    /// Puts the files of `issued`, its row committed, in place once `authority` is closed
    /// (written or not): its key, written before the commit (`staged`), and its certificate
    /// files, written now: a certificate is written nowhere before the log holds it. They go
    /// to the disk while the log closes (its checkpoint) and are flushed after it. Without
    /// --force, only where nothing is yet: another command writing the same names meanwhile
    /// keeps its files, and these are kept under their temporary names, which the error gives.
    pub(crate) async fn place_and_close(
        &self,
        issued: &Issued,
        mut staged: StagedFiles,
        authority: &Authority,
    ) -> anyhow::Result<()> {
        let written = self.stage_certificate(issued, &mut staged);
        authority.close().await;
        if let Err(err) = written.and_then(|()| staged.flush()) {
            // The certificate is in the log, from which it can be written again; its key
            // exists only here, and is kept, not put in place: over an older key (--force)
            // it would leave the folder a key that matches none of its certificates.
            let kept = staged.keep();
            return Err(certificate_not_written(issued, &err.into(), &kept, self));
        }
        staged
            .place_or_keep(self.replace)
            .map_err(|unplaced| not_placed(issued, *unplaced, &self.key))
    }

    /// An issuance's outcome with the key [`OutputFiles::stage_key`] wrote for it and the
    /// certificate's serial (`staged`). When the issuance failed but its certificate is, or
    /// may be, in the log all the same (a disk that did not confirm the log's write), the key
    /// is kept under its temporary name, not removed, and the error says how to find the
    /// certificate by its serial, write its files and put the key in place, or else remove
    /// the key: a certificate is never lost with its key.
    pub(crate) fn with_key(
        &self,
        issued: ca_core::Result<(Issued, ())>,
        staged: Option<(StagedFiles, SerialNumber)>,
    ) -> anyhow::Result<(Issued, StagedFiles)> {
        match (issued, staged) {
            (Ok((issued, ())), Some((staged, _))) => Ok((issued, staged)),
            (Ok((issued, ())), None) => Err(anyhow::anyhow!(
                "certificate {} was issued, but no key was written for it",
                issued.issuance.id
            )),
            (Err(err), Some((staged, serial))) if err.may_be_in_the_log() => {
                Err(self.key_kept(err, &staged.keep(), &serial))
            }
            (Err(err), _) => Err(err.into()),
        }
    }

    /// Why an issuance that is, or may be, in the log failed, its key kept (`kept`).
    fn key_kept(
        &self,
        err: ca_core::Error,
        kept: &[(PathBuf, PathBuf)],
        serial: &SerialNumber,
    ) -> anyhow::Error {
        let serial = serial.hex();
        let removed = kept
            .iter()
            .map(|(tmp, _)| ca_core::display::shell_word(tmp))
            .collect::<Vec<_>>()
            .join(" and ");
        // Files issued into the folder since (the command run again) would be replaced.
        let either = format!(
            "if it does, and nothing was issued into that folder since, {}; if not, it was not issued: \
             remove {removed}",
            self.rewrite(&serial, kept)
        );
        match &err {
            ca_core::Error::Store(ca_core::StoreError::Unconfirmed {
                certificates,
                reason,
            }) => anyhow::anyhow!(
                "certificate {certificates} (serial {serial}) is in the log, but the disk did not confirm \
                 writing it ({reason}), so a crash may yet lose it; it is issued and valid, its certificate \
                 files were not written, and its key is kept under a temporary name. Once the disk is sound, \
                 `{ca} show {serial}` says whether the log still holds it: {either}",
                ca = self.ca()
            ),
            // A process that has the log open (`ca serve`) reads it without the frames of the
            // commit that failed, which the next opening after a crash recovers.
            _ => anyhow::anyhow!(
                "{}; the certificate's key is kept under a temporary name in case it is: \
                 `{} show {serial}`, run while no other process has the log open (`ca serve` stopped), \
                 says whether the log holds it: {either}",
                crate::explain::sentence(&err.into()),
                self.ca(),
            ),
        }
    }

    /// How to put in place the files of certificate `which` (its id or serial), whose key is
    /// kept under a temporary name (`kept`): the key renamed, then the certificate alone, its
    /// chain and the PFX asked for written from the log.
    fn rewrite(&self, which: &str, kept: &[(PathBuf, PathBuf)]) -> String {
        let ca = self.ca();
        let mut text = format!(
            "{}, then `{ca} export {which} --format crt --out {}` and `{ca} export {which} --format pem --out {}` \
             write the certificate and its chain",
            renames(kept, &self.key),
            ca_core::display::shell_word(&self.leaf),
            ca_core::display::shell_word(&self.chain)
        );
        if let Some((pfx, _, profile)) = &self.pfx {
            let (passphrase, file) = self.key_passphrase_option();
            // The password from the file it came from; read from standard input, from there
            // again.
            let (password, mut how) = match &self.pfx_password_file {
                Some(path) => (ca_core::display::shell_word(path), String::new()),
                None => (
                    "-".to_owned(),
                    "with its password on standard input".to_owned(),
                ),
            };
            if !file.is_empty() {
                how = format!("{how}{file}").trim_start_matches(", ").to_owned();
            }
            if self.replace {
                if !how.is_empty() {
                    how.push_str("; ");
                }
                how.push_str("a PFX is written only to a new file: move the old one away first");
            }
            text.push_str(&format!(
                ", and `{ca} export {which} --format pfx --key {}{passphrase} --pfx-password-file {password} --pfx-profile {} --out {}` \
                 its PFX{}",
                ca_core::display::shell_word(&self.key),
                profile.name(),
                ca_core::display::shell_word(pfx),
                if how.is_empty() {
                    String::new()
                } else {
                    format!(" ({how})")
                }
            ));
        }
        text
    }

    /// `ca --data DIR`: how the commands a message gives to run reach this CA, whatever the
    /// folder or configuration they would find by default.
    fn ca(&self) -> String {
        crate::invocation::ca_in(&self.data)
    }

    /// Writes the key of a certificate signed and not yet committed, under a temporary name,
    /// flushed to disk: a key that cannot be written stops the issuance.
    pub(crate) fn stage_key(&self, signed: &Signed<'_>) -> ca_core::Result<StagedFiles> {
        let key = signed.key.to_pem(self.key_passphrase.as_ref())?;
        let mut staged = StagedFiles::default();
        staged.stage_in(
            &self.folder,
            &[Self::file(&self.key, key.as_bytes(), SECRET_MODE)],
        )?;
        // The last moment a signal stops the issuance whole: the key written so far is
        // removed as `staged` goes, and nothing is committed.
        if ca_core::interrupt::requested() {
            return Err(ca_core::Error::Interrupted);
        }
        Ok(staged)
    }

    /// A file to stage: its name in the folder, its path, its bytes and mode.
    fn file<'f>(
        path: &'f Path,
        bytes: &'f [u8],
        mode: u32,
    ) -> (&'f OsStr, &'f Path, &'f [u8], u32) {
        (path.file_name().unwrap_or_default(), path, bytes, mode)
    }

    /// Writes the certificate files of `issued` (certificate, chain, PFX) under temporary
    /// names, to be flushed ([`StagedFiles::flush`]) and placed after its key.
    fn stage_certificate(&self, issued: &Issued, staged: &mut StagedFiles) -> ca_core::Result<()> {
        let (leaf, chain) = (issued.leaf_pem(), issued.chain_pem());
        let pfx = match &self.pfx {
            Some((path, password, profile)) => Some((path, issued.pfx(password, *profile)?)),
            None => None,
        };
        let mut files = vec![
            Self::file(&self.leaf, leaf.as_bytes(), PUBLIC_MODE),
            Self::file(&self.chain, chain.as_bytes(), PUBLIC_MODE),
        ];
        if let Some((path, pfx)) = &pfx {
            files.push(Self::file(path, pfx, SECRET_MODE));
        }
        staged.stage_in_unflushed(&self.folder, &files)
    }
}

/// What went in before a failure, if anything: `a and b went in; `.
fn went_in(placed: &[PathBuf]) -> String {
    if placed.is_empty() {
        return String::new();
    }
    let names: Vec<String> = placed.iter().map(|p| p.display().to_string()).collect();
    format!("{} went in; ", names.join(" and "))
}

/// `rename X to Y, ...` for files kept under temporary names, with a word on the key's.
fn renames(kept: &[(PathBuf, PathBuf)], key: &Path) -> String {
    let renames: Vec<String> = kept
        .iter()
        .map(|(tmp, path)| {
            format!(
                "{} to {}",
                ca_core::display::shell_word(tmp),
                ca_core::display::shell_word(path)
            )
        })
        .collect();
    let secret = if kept.iter().any(|(_, path)| path == key) {
        " (the key's file, like the key, is readable only by you)"
    } else {
        ""
    };
    format!("rename {}{secret}", renames.join(", "))
}

/// Why some files of a certificate whose row is committed are not in place (another user's
/// file in a sticky folder, a file another command put there meanwhile): the certificate
/// exists, and what was not put in place is kept under temporary names to rename; the key,
/// when it is among them, is not lost.
fn not_placed(issued: &Issued, unplaced: Unplaced, key: &Path) -> anyhow::Error {
    let id = issued.issuance.id;
    anyhow::anyhow!(
        "certificate {id} was issued and is in the log, but not all its files could be put in place ({}): \
         {}those that were not are kept under temporary names: {}",
        crate::explain::sentence(&anyhow::Error::from(unplaced.error)),
        went_in(&unplaced.placed),
        renames(&unplaced.kept, key)
    )
}

/// Why the certificate files of a certificate whose row is committed were not written (a
/// disk that filled between its key and them): its key is kept under a temporary name, the
/// files in place untouched, and the log writes the certificate again.
fn certificate_not_written(
    issued: &Issued,
    err: &anyhow::Error,
    kept: &[(PathBuf, PathBuf)],
    files: &OutputFiles,
) -> anyhow::Error {
    let id = issued.issuance.id;
    // The operating system's reason alone: the usual advice ("try again") would issue
    // another certificate.
    anyhow::anyhow!(
        "certificate {id} was issued and is in the log, but its certificate files could not be written ({err:#}); \
         nothing in the folder was replaced, and its key is kept under a temporary name. Once that is mended, {}",
        files.rewrite(&id.to_string(), kept)
    )
}

/// Why the report of a certificate whose row and files are written did not reach standard
/// output (a full disk behind it): the certificate exists, and running the command again would
/// issue a second one. A reader that went away (`| head -1`) is passed on as it is, so that the
/// command still ends quietly.
pub(crate) fn reported_but(
    issued: &Issued,
    files: &OutputFiles,
    err: anyhow::Error,
) -> anyhow::Error {
    if crate::explain::is_broken_pipe(&err) {
        return err;
    }
    let mut written = vec![
        files.leaf.display(),
        files.key.display(),
        files.chain.display(),
    ];
    if let Some((pfx, ..)) = &files.pfx {
        written.push(pfx.display());
    }
    let id = issued.issuance.id;
    anyhow::anyhow!(
        "the report of certificate {id} could not be written to standard output ({}), but the certificate \
         was issued, is in the log and its files are written ({}): do not run this command again; \
         `{ca} show {id}` shows the certificate",
        crate::explain::sentence(&err),
        written
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        ca = crate::invocation::ca(),
    )
}

/// The lines under "Issued certificate N": serial, dates, key (`whose` after its type, as
/// " (its requester's)") and fingerprint.
pub(crate) fn summary(cert: &ca_core::store::CertificateRecord, whose: &str) -> anyhow::Result<()> {
    say!("  serial   {}", cert.serial);
    say!(
        "  valid    {} to {}",
        when(cert.not_before),
        when(cert.not_after)
    );
    say!("  key      {}{whose}", cert.key_algorithm);
    say!("  SHA-256  {}", cert.sha256.colons());
    Ok(())
}

pub(crate) fn describe(issued: &Issued, files: &OutputFiles) -> anyhow::Result<()> {
    let row = &issued.issuance;
    let Some(cert) = &row.certificate else {
        return Ok(());
    };
    say!("Issued certificate {} for {}", row.id, row.names_shown());
    summary(cert, "")?;
    if issued.shortened_to_root {
        say!("  note     the validity was shortened to end with the root's");
    }
    say!("Wrote {}", files.leaf.printed());
    say!(
        "      {} (private key, mode 0600: keep it secret)",
        files.key.printed()
    );
    say!(
        "      {} (certificate and root, for servers that want the chain)",
        files.chain.printed()
    );
    if let Some((pfx, _, profile)) = &files.pfx {
        say!(
            "      {} (key, certificate and root for IIS; {profile} protection)",
            pfx.printed()
        );
    }
    Ok(())
}
