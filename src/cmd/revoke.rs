//! `ca revoke` and `ca crl`: withdrawing certificates, and the list that says so.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use ca_core::authority::KeptCrl;
use ca_core::export::{CrlFormat, PemWriter};
use ca_core::{Authority, CertificateRef, RevocationReason};

use crate::explain::Refused;
use crate::output::Printed;
use crate::output::{OutFile, when};

#[derive(clap::Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The request id, the certificate's serial number in hex, or its thumbprint: SHA-1 (as
    /// Windows shows it) or SHA-256, 40 or 64 hex digits, colons and spaces allowed.
    #[arg(value_name = "ID|SERIAL|THUMBPRINT")]
    id: CertificateRef,
    /// Why (RFC 5280 §5.3.1), by name or code (`1` for keyCompromise, as certutil takes it).
    #[arg(long, value_parser = ReasonParser, default_value_t = RevocationReason::Unspecified)]
    reason: RevocationReason,
}

/// A reason for revoking a server's certificate, by name or code
/// ([`RevocationReason::for_a_leaf`]), offering the names in help.
#[derive(Clone, Debug)]
struct ReasonParser;

impl clap::builder::TypedValueParser for ReasonParser {
    type Value = RevocationReason;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<RevocationReason, clap::Error> {
        let read = |text: &str| RevocationReason::for_a_leaf(text);
        read.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(crate::cmd::possible_values::<RevocationReason>())
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct CrlArgs {
    /// How to write it.
    #[arg(long, value_parser = crate::cmd::choice::<CrlFormat>(), default_value_t = CrlFormat::default())]
    format: CrlFormat,
    /// Write to FILE instead of standard output (`-`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Sign a new CRL now, even while the current one is still good to hand out.
    #[arg(long)]
    new: bool,
}

pub(crate) async fn revoke(data: &Path, args: RevokeArgs) -> anyhow::Result<()> {
    let authority = crate::cmd::open_to_sign(data).await?;
    let row = authority.find(&args.id).await?;
    let serves = row
        .certificate
        .as_ref()
        .is_some_and(|c| authority.is_server_identity(&c.serial));
    let responds = row
        .certificate
        .as_ref()
        .is_some_and(|c| authority.is_current_responder(&c.serial));
    // Revoked already (for another reason, or this is refused): the reason was raised.
    let (revoked, earlier) = authority
        .revoke_with(row.id, args.reason, &crate::cmd::actor(), true)
        .await?;
    let cert = revoked.certificate.as_ref();
    let names = revoked.names_shown();
    let names = if names.is_empty() {
        String::new()
    } else {
        format!(" for {names}")
    };
    let at = cert
        .and_then(|c| c.revocation.as_ref())
        .map(|r| when(r.revoked_at))
        .unwrap_or_default();
    let serial = cert.map(|c| c.serial.hex()).unwrap_or_default();
    match earlier {
        Some(earlier) => say!(
            "Certificate {}{names} ({serial}), revoked at {at} for {earlier}, is now revoked for {}: its key is refused from now on, and the CRL and OCSP answers give the new reason (the date stays)",
            revoked.id,
            args.reason,
        ),
        None => say!(
            "Revoked certificate {} ({serial}){names}, reason {}, at {at}",
            revoked.id,
            args.reason,
        ),
    }
    if serves {
        tell!(
            "ca: warning: that is the HTTPS certificate `ca serve` presents (from {}). Clients that check revocation now refuse the server's pages, ACME and downloads. The server issues itself a new one at its next start or reload (`systemctl reload ca`, or SIGHUP), or within 6 hours; do that now.",
            authority.dir().printed()
        );
    } else if revoked.requester == ca_core::identity::SERVER_REQUESTER {
        say!("That was an earlier HTTPS certificate of `ca serve`'s; it presents another now.");
    }
    if revoked.requester == ca_core::responder::RESPONDER_REQUESTER {
        // It names no responder or CRL on purpose: it carries OCSP No Check (RFC 6960
        // §4.2.2.2.1), as a responder's certificate does, so no client asks about it.
        if responds {
            say!(
                "That was the OCSP responder's certificate: the responder makes a new one (and a new key) when next asked. \
                 Like every responder's certificate it carries OCSP No Check, so clients never ask whether it is revoked: \
                 they accept responses signed with its key until it expires{}, which is why it is short-lived.",
                cert.map(|c| format!(" ({})", when(c.not_after)))
                    .unwrap_or_default()
            );
        } else {
            say!(
                "That was an earlier certificate of the OCSP responder's; it signs with another now. \
                 Like every responder's certificate it carries OCSP No Check, so clients never asked whether it is revoked."
            );
        }
        authority.close().await;
        return Ok(());
    }
    // A key known to be exposed is exposed in every certificate that holds it.
    if args.reason == RevocationReason::KeyCompromise {
        let same = authority.valid_with_the_same_key(revoked.id).await?;
        if let Some(first) = same.first() {
            let ids: Vec<String> = same.iter().map(ToString::to_string).collect();
            say!(
                "Note: the same key is in {} {}, still valid: revoke {} too (`{ca} revoke {first} --reason keyCompromise`).",
                if same.len() == 1 {
                    "certificate"
                } else {
                    "certificates"
                },
                ids.join(", "),
                if same.len() == 1 { "it" } else { "each" },
                ca = crate::invocation::ca(),
            );
        }
    }
    let pointers = cert
        .map(|c| ca_core::certificate::RevocationPointers::of(&c.der))
        .unwrap_or_default();
    if pointers.ocsp.is_empty() && pointers.crl.is_empty() {
        let why = if authority.settings().url.is_some() {
            "it was issued before the CA's public URL was set".to_owned()
        } else {
            format!(
                "the CA has no public URL: `{} config set url http://HOST` gives the next ones both",
                crate::invocation::ca()
            )
        };
        say!(
            "The certificate names no OCSP responder and no CRL ({why}), so clients cannot learn of the revocation: replace it on its server."
        );
    } else {
        say!(
            "The OCSP responder answers \"revoked\" at once; clients that read CRLs learn of it from the next one (`{} crl`; `ca serve` publishes one at once).",
            crate::invocation::ca()
        );
    }
    authority.close().await;
    Ok(())
}

pub(crate) async fn crl(data: &Path, args: CrlArgs) -> anyhow::Result<()> {
    let named = crate::output::named(args.out.as_deref());
    if named.is_none() && args.format == CrlFormat::Der && std::io::stdout().is_terminal() {
        return Err(Refused(
            "binary output is not written to a terminal: pass --out FILE or redirect standard output".into(),
        )
        .into());
    }
    let out = match named {
        Some(path) => Some(OutFile::open(path, data)?),
        None => None,
    };
    let authority = match crate::cmd::open_to_sign(data).await {
        // A backup signs nothing, but hands out the CRL it keeps while clients take it.
        Err(err)
            if !args.new
                && matches!(
                    err.downcast_ref::<ca_core::Error>(),
                    Some(ca_core::Error::Backup(_))
                ) =>
        {
            let backup = crate::cmd::open_read(data).await?;
            // Refused before anything is written: PEM's first line included.
            if let Some(problem) = backup.kept_crl_problem().await? {
                backup.close().await;
                return Err(kept_refusal(data, problem));
            }
            let written = write_crl(&backup, &args, out, Kept::Only(data)).await;
            backup.close().await;
            return written;
        }
        Err(err) if !args.new && unwritable(&err).is_some() => {
            return kept_or(data, &args, err).await;
        }
        opened => opened?,
    };
    let written = write_crl(&authority, &args, out, Kept::OrSigned).await;
    authority.close().await;
    match written {
        Err(err) if !args.new && unwritable(&err).is_some() => kept_or(data, &args, err).await,
        written => written,
    }
}

/// Why the log cannot take a write, when that is what `err` says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unwritable {
    /// This user may not write it (a folder others may read, a read-only disk).
    ReadOnly,
    /// The disk under it is full (SQLite's own refusal, or its I/O error on a disk that has
    /// no room left).
    Full,
}

/// Whether `err` is the log refusing a write it cannot take, and why.
fn unwritable(err: &anyhow::Error) -> Option<Unwritable> {
    err.chain().find_map(|cause| {
        let Some(ca_core::Error::Store(store)) = cause.downcast_ref::<ca_core::Error>() else {
            return None;
        };
        let said = store.to_string();
        if said.contains("readonly database") {
            Some(Unwritable::ReadOnly)
        } else if said.contains("database or disk is full")
            || (said.contains("disk I/O error") && crate::invocation::log_disk_nearly_full())
        {
            Some(Unwritable::Full)
        } else {
            None
        }
    })
}

/// For a log that cannot take a write (this user may read but not write it, or its disk is
/// full): the CRL it keeps, while that is still the current one (it lists every revocation and
/// its next update is ahead), as clients would fetch it from the server; else `err`, which
/// says what stops the writing of a new one. A full disk is said even then: the next CRL is
/// due at the kept one's next update, and cannot be signed until there is room.
async fn kept_or(data: &Path, args: &CrlArgs, err: anyhow::Error) -> anyhow::Result<()> {
    let reader = crate::cmd::open_read(data).await?;
    if reader.kept_crl_problem().await?.is_some() {
        reader.close().await;
        return Err(err);
    }
    let out = match crate::output::named(args.out.as_deref()) {
        Some(path) => Some(OutFile::open(path, data)?),
        None => None,
    };
    let written = write_crl(&reader, args, out, Kept::Only(data)).await;
    reader.close().await;
    if written.is_ok() && unwritable(&err) == Some(Unwritable::Full) {
        tell!(
            "ca: warning: the disk that holds the issuance log is full, so the CRL written is the one the log keeps, which is still current; no new one can be signed, nor a revocation recorded, until there is room (`df -h` shows how much is free): make room before its next update is due"
        );
    }
    written
}

/// Which CRL `ca crl` writes: the current one, signed first when due; or, from a backup (the
/// folder given), only the one the log keeps.
#[derive(Clone, Copy)]
enum Kept<'a> {
    OrSigned,
    Only(&'a Path),
}

/// Writes the CRL to `--out` (in full or not at all) or to standard output, as it is read from
/// the log: a CRL of a million entries is never whole in memory.
async fn write_crl(
    authority: &Authority,
    args: &CrlArgs,
    out: Option<OutFile<'_>>,
    kept: Kept<'_>,
) -> anyhow::Result<()> {
    match out {
        Some(out) => {
            let path = out.path().to_owned();
            let written = async {
                let mut file = BufWriter::with_capacity(OUTPUT_BUFFER, out.create()?);
                write_as(authority, args, &mut file, kept).await?;
                file.into_inner()
                    .map_err(|err| err.into_error())?
                    .commit()?;
                anyhow::Ok(())
            };
            // The operating system's reason alone ("No space left on device") names no file.
            written.await.map_err(|err| {
                if err.chain().any(|cause| cause.is::<ca_core::Error>()) {
                    err
                } else {
                    err.context(format!("cannot write {}", path.display()))
                }
            })?;
        }
        None => {
            let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout());
            if let Err(err) = write_as(authority, args, &mut out, kept).await {
                // What is buffered is no CRL (PEM's first line, written before the log was
                // asked to sign one): dropped, not flushed, so that the kept CRL written after
                // a refused signing (see `kept_or`) stands alone.
                let _ = out.into_parts();
                return Err(err);
            }
            out.flush()?;
        }
    }
    Ok(())
}

const OUTPUT_BUFFER: usize = 64 * 1024;

async fn write_as(
    authority: &Authority,
    args: &CrlArgs,
    out: &mut (dyn Write + Send),
    kept: Kept<'_>,
) -> anyhow::Result<()> {
    match args.format {
        CrlFormat::Der => write_one(authority, args, out, kept).await,
        CrlFormat::Pem => {
            let mut pem = PemWriter::new(out, "X509 CRL")?;
            write_one(authority, args, &mut pem, kept).await?;
            pem.finish()?;
            Ok(())
        }
    }
}

async fn write_one(
    authority: &Authority,
    args: &CrlArgs,
    out: &mut (dyn Write + Send),
    kept: Kept<'_>,
) -> anyhow::Result<()> {
    let Kept::Only(backup) = kept else {
        authority.write_crl(args.new, out).await?;
        return Ok(());
    };
    match authority.write_kept_crl(out).await? {
        Ok(_) => Ok(()),
        Err(problem) => Err(kept_refusal(backup, problem)),
    }
}

/// Why the backup in `backup` hands out no CRL, and what to do.
fn kept_refusal(backup: &Path, problem: KeptCrl) -> anyhow::Error {
    let why = match problem {
        KeptCrl::None => "holds no CRL".to_owned(),
        KeptCrl::Behind(dates) => format!(
            "keeps CRL number {}, which does not list every revocation of the backup's log as it stands (one was recorded, or its reason raised to keyCompromise, after it was signed; `{} list --status revoked` lists them)",
            dates.number,
            crate::invocation::ca()
        ),
        KeptCrl::Expired(dates) => format!(
            "keeps CRL number {}, whose next update ({}) has passed, so clients refuse it",
            dates.number,
            when(dates.next_update)
        ),
    };
    Refused(format!(
        "the backup {} {why}; a backup signs nothing: restore it into an empty folder (`ca restore {} --data NEW_FOLDER`) and run `ca crl` there",
        backup.display(),
        ca_core::display::shell_word(backup)
    ))
    .into()
}
