//! `ca renew`: a new certificate and key for the names of an existing one.

use std::path::Path;

use ca_core::CertificateRef;
use ca_core::display::shell_word;

use crate::cmd::issue::{FileArgs, describe, reported_but};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, the certificate's serial number in hex, or its thumbprint: SHA-1 (as
    /// Windows shows it) or SHA-256, 40 or 64 hex digits, colons and spaces allowed.
    #[arg(value_name = "ID|SERIAL|THUMBPRINT")]
    id: CertificateRef,
    /// How long the renewal is valid, in days from an hour before it is made (at most 825)
    /// [default: as long as the certificate it renews]
    #[arg(long, value_name = "N", value_parser = crate::cmd::days, allow_negative_numbers = true)]
    days: Option<u32>,
    #[command(flatten)]
    files: FileArgs,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    // What is wrong with the command line itself is said first.
    if let Some(days) = args.days {
        ca_core::profile::check_leaf_days(days)?;
    }
    let authority = crate::cmd::open_to_sign(data).await?;
    let old = authority.find(&args.id).await?;
    // What cannot be renewed is said before the files: a pending request is refused for
    // being pending, not for a file in the way.
    authority.refuse_unrenewable(&old).await?;
    let from_request = authority.signed_from_request(old.id).await?;
    let files = args
        .files
        .prepare(&ca_core::name::files_stem(&old.names), data)?;
    let guard = crate::cmd::Guard::begin();
    let mut staged = None;
    let issued = authority
        .renew_staged(old.id, &crate::cmd::actor(), args.days, |signed| {
            staged = Some((files.stage_key(signed)?, signed.serial.clone()));
            Ok(())
        })
        .await;
    let (issued, staged) = files.with_key(issued, staged)?;
    files.place_and_close(&issued, staged, &authority).await?;
    guard.end();
    let revoked = old
        .certificate
        .as_ref()
        .is_some_and(|c| c.revocation.is_some());
    describe(&issued, &files)
        .and_then(|()| {
            if revoked {
                say!("It renews certificate {}, which is revoked.", old.id);
            } else {
                say!(
                    "It renews certificate {}, which stays valid until it expires or is revoked (`{} revoke {} --reason superseded`).",
                    old.id,
                    crate::invocation::ca(),
                    old.id
                );
            }
            if from_request {
                let id = issued.issuance.id;
                let pfx = match files.pfx_path() {
                    Some(pfx) => format!("the PFX written beside it, {}", pfx.display()),
                    None => {
                        let key = files.key_path();
                        // An encrypted key needs its passphrase too, from a file of its own:
                        // standard input gives the PFX's password.
                        let (passphrase, file) = files.key_passphrase_option();
                        format!(
                            "a PFX of both (`{ca} export {id} --format pfx --key {}{passphrase} --pfx-password-file - --out {}`{file})",
                            shell_word(key),
                            shell_word(&key.with_extension("pfx")),
                            ca = crate::invocation::ca(),
                        )
                    }
                };
                say!(
                    "Note: certificate {} was signed from a request, so its key is on the server that made the request; \
                     this renewal's key was made here, and that server needs it too: its key file, or {pfx} \
                     (on IIS, Import, not Complete Certificate Request). \
                     To renew a certificate with a key its server keeps, sign that server's new request with `{} sign REQUEST --renews ID` instead.",
                    old.id,
                    crate::invocation::ca(),
                );
            }
            Ok(())
        })
        .map_err(|err| reported_but(&issued, &files, err))
}
