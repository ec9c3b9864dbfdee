//! One module per command. Each parses its arguments into domain types, calls `ca-core`, and
//! prints the result.

use std::io::Read;
use std::path::Path;

use ca_core::{Authority, Error, Issuance, Passphrase};

pub(crate) mod check;
pub(crate) mod config;
pub(crate) mod export;
pub(crate) mod init;
pub(crate) mod issue;
pub(crate) mod list;
pub(crate) mod pending;
pub(crate) mod renew;
pub(crate) mod revoke;
pub(crate) mod root;
pub(crate) mod serve;
pub(crate) mod show;
pub(crate) mod sign;
pub(crate) mod user;

/// Connections the command line needs to the store.
pub(crate) const CLI_CONNECTIONS: u32 = 1;

/// A refusal of the caller's input that `ca-core` did not make (a file that cannot be read,
/// a target that already exists): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);

/// DESIGN §5: 2 for bad usage or refused input, 1 for any other failure.
pub(crate) fn exit_status(err: &anyhow::Error) -> u8 {
    let refused = err.chain().any(|cause| {
        cause.downcast_ref::<Refused>().is_some()
            || cause.downcast_ref::<Error>().is_some_and(Error::is_refusal)
    });
    if refused { 2 } else { 1 }
}

/// The CA key's passphrase, from `$CA_PASSPHRASE` (never from the command line).
pub(crate) fn passphrase() -> anyhow::Result<Option<Passphrase>> {
    match std::env::var("CA_PASSPHRASE") {
        Ok(secret) if !secret.is_empty() => Ok(Some(Passphrase::new(secret)?)),
        _ => Ok(None),
    }
}

/// Opens the CA in `data`.
pub(crate) async fn open(data: &Path) -> anyhow::Result<Authority> {
    Ok(Authority::open(data, passphrase()?, CLI_CONNECTIONS).await?)
}

/// Finds a row by request id (digits) or by serial number (hex, colons allowed).
pub(crate) async fn find(authority: &Authority, id_or_serial: &str) -> anyhow::Result<Issuance> {
    let text = id_or_serial.trim();
    if !text.is_empty() && text.len() <= 15 && text.chars().all(|c| c.is_ascii_digit()) {
        let id: i64 = text
            .parse()
            .map_err(|_| Refused(format!("'{text}' is not a request id")))?;
        return Ok(authority.store().issuance(id).await?);
    }
    let serial = ca_core::certificate::normalise_serial(text).ok_or_else(|| {
        Refused(format!(
            "'{text}' is neither a request id (digits) nor a serial number (hex): see `ca list`"
        ))
    })?;
    Ok(authority.store().issuance_by_serial(&serial).await?)
}

/// The largest secret or request file read, so that a wrong path (a disk image, /dev/zero)
/// fails at once instead of filling memory.
const MAX_INPUT: u64 = 1024 * 1024;

/// Reads FILE, or standard input for `-`, refusing anything over 1 MiB.
pub(crate) fn read_input(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    read.map_err(|err| {
        Refused(format!(
            "cannot read the {what} from {}: {err}",
            path.display()
        ))
    })?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(Refused(format!("{} is too large to be a {what}", path.display())).into());
    }
    Ok(bytes)
}

/// Reads a password from FILE or standard input (`-`): the first line, without its line end.
pub(crate) fn read_password(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes = read_input(path, what)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Refused(format!(
            "the {what} in {} is not UTF-8 text",
            path.display()
        ))
    })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}
