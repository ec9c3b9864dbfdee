//! `ca passphrase`: encrypt the root key, change its passphrase, or store it unencrypted.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use ca_core::Passphrase;

use crate::cmd::{PASSPHRASE_CREDENTIAL, Refused};
use crate::output::Printed;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Read the new passphrase from FILE (`-` for standard input) instead of asking for it,
    /// twice, at the terminal.
    #[arg(long, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,
    /// Store the root key unencrypted: whoever can read root.key can then sign as the CA.
    #[arg(long, conflicts_with = "new_passphrase_file")]
    remove: bool,
}

/// What the new passphrase is called where it is asked for or refused.
const NEW: &str = "new passphrase of the root key";

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    // Where the new passphrase will come from is settled before the old one is asked for.
    let new_from = match (&args.new_passphrase_file, args.remove) {
        (_, true) => None,
        (Some(path), false) => Some(path.clone()),
        (None, false) if std::io::stdin().is_terminal() => Some(PathBuf::from("-")),
        (None, false) => {
            return Err(Refused(format!(
                "no terminal to ask the {NEW} at: give it in a file with --new-passphrase-file FILE (- for standard input), or run the command at a terminal"
            ))
            .into());
        }
    };
    // The key as it is, read with its passphrase (from the service manager, $CA_PASSPHRASE,
    // or the terminal) and checked to be the root's before a new one is asked for.
    let mut authority = crate::cmd::open_to_sign(data).await?;
    authority.check_key()?;
    let key = std::path::absolute(authority.dir().join("root.key"))?;
    let new = match new_from {
        Some(path) => Some(Passphrase::new(crate::cmd::read_password(&path, NEW)?)?),
        None => None,
    };
    let encrypted = new.is_some();
    let was_encrypted = authority
        .set_key_passphrase(new, &crate::cmd::actor())
        .await?;
    match (was_encrypted, encrypted) {
        (false, _) => say!(
            "Encrypted {} with the new passphrase (PKCS#8, PBES2 with AES-256): the commands that sign ask for it at a terminal, or read it from $CA_PASSPHRASE.",
            key.printed()
        ),
        (true, true) => say!("Changed the passphrase of {}.", key.printed()),
        (true, false) => say!(
            "Stored {} unencrypted: whoever can read it can sign as this CA (it stays mode 0600).",
            key.printed()
        ),
    }
    if encrypted {
        say!(
            "Note: a running `ca serve` goes on with the key it read; started again, it needs the new passphrase: put it in the credential {PASSPHRASE_CREDENTIAL} (README, \"Installed as a service\")."
        );
    }
    say!("Note: backups made before keep the key as it was stored then.");
    if matches!(authority.log_location(), ca_core::LogLocation::Postgres(_)) {
        say!(
            "Note: the other nodes' root.key files are their own: run `ca passphrase` on each of them too."
        );
    }
    authority.close().await;
    Ok(())
}
