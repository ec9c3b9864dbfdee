//! How the commands that messages give to run are written: `ca`, with the `--data` and
//! `--database` this run was given on its command line, so that, pasted, they act on the same
//! CA.

use std::path::Path;
use std::sync::OnceLock;

use ca_core::DatabaseUrl;

/// `ca` as a message writes the commands it gives to run: with the `--data` and `--database`
/// this run was given on its command line, so that, pasted, they act on the same CA. A folder
/// or database that came from $CA_DATA, $CA_DATABASE or the configuration file is found again
/// without them; set once by `main` before any command runs.
static INVOCATION: OnceLock<(String, Option<DatabaseUrl>)> = OnceLock::new();

/// Records how this run was pointed at its CA: the data folder and database given on the
/// command line, if any.
pub(crate) fn set_invocation(data: Option<&Path>, database: Option<&DatabaseUrl>) {
    let _ = INVOCATION.set((invocation(data, database), database.cloned()));
}

/// `ca --data DIR`, with the `--database` given on the command line: a command that must reach
/// this CA whatever folder or configuration it would find by default.
pub(crate) fn invocation_in(data: &Path) -> String {
    invocation(
        Some(data),
        INVOCATION.get().and_then(|(_, database)| database.as_ref()),
    )
}

/// `ca`, then `--data DIR` and `--database URL` for those given, each a shell word.
fn invocation(data: Option<&Path>, database: Option<&DatabaseUrl>) -> String {
    let mut ca = "ca".to_owned();
    if let Some(data) = data {
        ca.push_str(" --data ");
        ca.push_str(&ca_core::display::shell_word(data));
    }
    if let Some(database) = database {
        ca.push_str(" --database ");
        ca.push_str(&ca_core::display::shell_word(Path::new(
            &database.to_string(),
        )));
    }
    ca
}

/// The start of every command a message gives to run on this CA: `ca`, or `ca --data DIR`
/// (see [`set_invocation`]).
pub(crate) fn ca() -> &'static str {
    INVOCATION.get().map_or("ca", |(ca, _)| ca.as_str())
}
