//! Errors as the command line says them: one sentence on standard error, the fact from
//! `ca-core` followed by what to type to fix it, and the exit status of DESIGN §5.

use std::process::ExitCode;

use ca_core::{Error, NameRule};

/// A refusal of the caller's input that `ca-core` did not make (a file that cannot be read,
/// a target that already exists): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);

/// `text` with its control characters written as escapes (`\n`, `\u{1b}`): what a user typed
/// is repeated in messages, and must not move the cursor, clear the screen or forge a line
/// on the terminal that shows them.
pub(crate) fn printable(text: &str) -> String {
    ca_core::display::inert(text)
}

/// The sentence for `err`: every cause in order, each worded for someone at a shell, with
/// control characters escaped.
pub(crate) fn sentence(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let core = cause.downcast_ref::<Error>();
        let text = match core {
            Some(core) => core_sentence(core),
            None => cause.to_string(),
        };
        // A cause that only repeats its wrapper (thiserror's `transparent`) adds nothing.
        if parts.last().is_none_or(|last| !last.ends_with(&text)) && !text.is_empty() {
            parts.push(text);
        }
        // The operating system's reason is already in the sentence of a file error.
        if matches!(core, Some(Error::Io { .. })) {
            break;
        }
    }
    printable(&parts.join(": "))
}

/// DESIGN §5: 2 for bad usage or refused input, 1 for any other failure; 130, as a shell
/// reports a command that Ctrl-C ended, for work a signal stopped.
pub(crate) fn exit_status(err: &anyhow::Error) -> u8 {
    if err
        .chain()
        .any(|cause| matches!(cause.downcast_ref::<Error>(), Some(Error::Interrupted)))
    {
        return 130;
    }
    // A missing or wrong passphrase for the CA key is the caller's input, refused like any
    // other here; to a web client the same error is the server's, which is why the library's
    // `is_refusal` (what pages answer 4xx for) leaves it out.
    let refused = err.chain().any(|cause| {
        cause.downcast_ref::<Refused>().is_some()
            || cause.downcast_ref::<Error>().is_some_and(|err| {
                err.is_refusal()
                    || matches!(
                        err,
                        Error::CaKeyLocked { .. } | Error::CaKeyPassphrase { .. }
                    )
            })
    });
    if refused { 2 } else { 1 }
}

/// True when standard output was closed by its reader (`ca list | head -1`).
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints a usage error as one `ca: error:` line (exit status 2), or help and version as clap
/// writes them.
pub(crate) fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
    }
    // A database URL may hold a password: clap would quote the value whole, so only the
    // parser's own sentence (which shows the URL without it) is printed.
    if err.kind() == ErrorKind::ValueValidation
        && let Some(clap::error::ContextValue::String(arg)) =
            err.get(clap::error::ContextKind::InvalidArg)
        && arg.contains("<URL>")
    {
        let reason = std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_else(|| "not a database URL".into());
        // clap names the option even when the value came from its environment variable.
        let flag = arg.split(' ').next().unwrap_or_default();
        let given = std::env::args_os()
            .skip(1)
            .take_while(|a| a != "--")
            .any(|a| a == flag || a.to_string_lossy().starts_with(&format!("{flag}=")));
        let source = if flag == "--database" && !given {
            "$CA_DATABASE".to_owned()
        } else {
            format!("'{arg}'")
        };
        tell!(
            "ca: error: invalid value for {source}: {}",
            printable(&reason)
        );
        return ExitCode::from(2);
    }
    // clap quotes a refused value whole before the parser's reason, which for a name quotes it
    // again: the value is shown once, and a long one (a file pasted by mistake) shortened.
    // Only the reason's own quoted copy stands in for it, not the value met by chance.
    if err.kind() == ErrorKind::ValueValidation
        && let (
            Some(clap::error::ContextValue::String(arg)),
            Some(clap::error::ContextValue::String(value)),
            Some(reason),
        ) = (
            err.get(clap::error::ContextKind::InvalidArg),
            err.get(clap::error::ContextKind::InvalidValue),
            std::error::Error::source(&err).map(ToString::to_string),
        )
    {
        let shown = ca_core::display::quoted(value);
        // A name or other operand refused with a reason that quotes it says it all, as the
        // rules checked after parsing do ("'srv01.corp.local' is refused: ..."); an option's
        // refusal keeps the option's name.
        let text = if reason.contains(&shown) && arg.starts_with('<') {
            reason.clone()
        } else if reason.contains(&shown) {
            format!("invalid value for '{arg}': {reason}")
        } else {
            format!("invalid value {shown} for '{arg}': {reason}")
        };
        tell!("ca: error: {}", printable(&text));
        return ExitCode::from(2);
    }
    let rendered = err.render().to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("For more information") && !line.starts_with("Usage:"))
        .filter(|line| !line.is_empty())
        .collect();
    // clap's tips stay, on the same line: the command or option meant by a mistyped one ("a
    // similar subcommand exists: 'issue'"), or how to pass a value that starts with '-'.
    let (tips, said): (Vec<&str>, Vec<&str>) =
        lines.into_iter().partition(|line| line.starts_with("tip:"));
    let mut text = said
        .join(" ")
        .trim_start_matches("error: ")
        .replace("  ", " ");
    let tips: Vec<&str> = tips
        .iter()
        .map(|tip| tip.trim_start_matches("tip:").trim())
        .collect();
    if !tips.is_empty() {
        text = format!("{text} ({})", tips.join("; "));
    } else if err.kind() == ErrorKind::InvalidSubcommand {
        text = format!("{text} (`ca --help` lists the commands)");
    }
    // A value pasted by mistake is not repeated whole: clap quotes an unknown argument up to
    // three times, a value that is not one of the choices once.
    for (_, value) in err.context() {
        if let clap::error::ContextValue::String(value) = value
            && let shown = ca_core::display::shortened(value)
            && shown != value.as_str()
        {
            text = text.replace(value.as_str(), &shown);
        }
    }
    tell!("ca: error: {}", printable(&text));
    ExitCode::from(2)
}

/// A `ca-core` error with the command line's advice added.
fn core_sentence(err: &Error) -> String {
    let ca = crate::invocation::ca();
    match err {
        Error::NameRefused {
            rule: NameRule::Internal | NameRule::InternalAddress,
            ..
        } => format!("{err}, or pass --allow-internal if this certificate is only for the LAN"),
        Error::ValidityTooShort => format!("{err}: give --days 1 or more"),
        Error::NotInitialised(dir) => format!(
            "there is no CA in {}: run `{ca} init` to create one there, or point --data (or $CA_DATA) at the folder that holds yours",
            absolute(dir).display()
        ),
        Error::CaKeyExposed { path, .. } => {
            format!(
                "{err}: run `chmod 600 {}` and try again",
                ca_core::display::shell_word(path)
            )
        }
        Error::CaKeyNotOwned { path, .. } => format!(
            "{err}: run ca as the user that owns the CA, or `chown` {} to the user running it",
            path.display()
        ),
        Error::Unreadable { owner, .. } => format!(
            "{err}: run ca as that user (`sudo -u '#{owner}' ca ...`, or as the service's user: `sudo -u ca ca ...`)"
        ),
        Error::FolderNotOwned { owner, .. } => format!(
            "{err}: run ca as that user (`sudo -u '#{owner}' ca ...`), or choose a folder that only you (or root) can change, all the way from /"
        ),
        Error::FolderExposed { path, .. } => {
            format!(
                "{err}: run `chmod go-w {}` and try again",
                ca_core::display::shell_word(path)
            )
        }
        Error::LogAltered { .. } => format!(
            "{err}: restore the folder from a backup (`ca restore`); `{ca} check` lists every altered row"
        ),
        Error::RootMissing(_)
        | Error::LogMissing(_)
        | Error::LogEmpty(_)
        | Error::LogOfAnotherRoot { .. } => format!(
            "{err}; the log is never replaced: restore this CA's backup with `ca restore BACKUP_DIR` into an empty folder"
        ),
        Error::CreationUnfinished(_) => format!(
            "{err}: `{ca} init` there makes the CA again from the start (if a CA that never issued anything lived here and its root files were removed, restore its backup instead, with `ca restore BACKUP_DIR` into an empty folder)"
        ),
        Error::KeyWithoutRoot(dir) => format!(
            "{err}: put back the root certificate made with it (a backup has both: `ca restore BACKUP_DIR` into an empty folder); \
             only if no client trusts that root, move root.key out of {} and run the command again",
            dir.display()
        ),
        Error::Backup(dir) => format!(
            "{err}; to use it, restore it into an empty folder: `ca restore {} --data NEW_FOLDER` \
             (list, show, export, root and check read it where it is, and crl writes the CRL it keeps)",
            ca_core::display::shell_word(dir)
        ),
        Error::RestoreUnfinished(_) => format!(
            "{err}: run the same `{ca} restore BACKUP_DIR` again (it takes out what the stopped one left, then restores)"
        ),
        Error::LogMoved { to, .. } => {
            // As recorded: a password and options shown as *** (a password never goes on a
            // command line).
            if to.contains("***") {
                format!(
                    "{err}: give it to every command in $CA_DATABASE (or with --database when it holds no password): the URL `ca migrate` was given, whose password or options are shown here as ***"
                )
            } else {
                format!(
                    "{err}: give it to every command with --database {} (or set CA_DATABASE)",
                    ca_core::display::shell_word(std::path::Path::new(to))
                )
            }
        }
        Error::LogInUse { .. } => format!(
            "{err}: to serve that CA from this node too, copy its root.crt and root.key into the data folder; to make a new CA, give an empty database"
        ),
        Error::LogOutdated(_) => format!(
            "{err}: run a command that writes, such as `{ca} crl --out /dev/null`, once on the folder, as a user who may write to it"
        ),
        Error::Store(ca_core::StoreError::NotGranted(_)) => format!(
            "{err}: the role lacks a grant this release needs (given by `ca migrate --grant ROLE` after each upgrade): run that once with $CA_DATABASE naming the owning role (ROLE being the one this runs as), then try again"
        ),
        Error::Store(ca_core::StoreError::Unavailable(said)) => {
            format!(
                "{err}{}",
                unavailable_advice(said, crate::invocation::log_is_file())
            )
        }
        Error::SchemaNotOwned(_) => format!(
            "{err}: run `ca migrate --grant ROLE` once with $CA_DATABASE naming the owning role (ROLE being the one servers run as), then start this again"
        ),
        Error::CaKeyLocked { .. } => format!(
            "{err}: run the command at a terminal, where it is asked, or set $CA_PASSPHRASE to it (a service gets it from the systemd credential ca.passphrase)"
        ),
        Error::CaKeyPassphrase { .. } => format!(
            "{err}; $CA_PASSPHRASE (or the systemd credential ca.passphrase) must hold the passphrase root.key is encrypted with (set at `ca init`, or by the last `ca passphrase`)"
        ),
        Error::UserExists(name) => format!(
            "{err}: `{ca} user role {name} ROLE` changes its role, `{ca} user passwd {name}` its password"
        ),
        Error::NotFound(what) if what.starts_with("the user ") => {
            format!("{err}: `{ca} user list` shows the users there are")
        }
        Error::NotFound(what) => {
            // A SHA-1 thumbprint copied a digit short or long reads as a serial number, shown
            // as typed (leading zeros kept): a serial number's digits are otherwise even in
            // number. (A SHA-256 one a digit off is too long for a serial, and refused as read.)
            let near_a_thumbprint = what
                .strip_prefix("a certificate with serial ")
                .is_some_and(|hex| matches!(hex.len(), 39 | 41));
            let hint = if near_a_thumbprint {
                " (a thumbprint has 40 hex digits, SHA-1, or 64, SHA-256: if this is one, check that it was copied whole)"
            } else {
                ""
            };
            format!("{err}{hint}: `{ca} list` shows the requests and certificates there are")
        }
        Error::Io { source, path } => {
            // The data folder's own files, by their names: elsewhere (an output folder) a
            // missing file is no reason to restore the CA.
            let of_the_ca = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| ["root.crt", "root.key", "ca.db"].contains(&name));
            let advice = match source.kind() {
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    "; ca must be able to write there: run it as the user that owns the CA, on a writable folder"
                }
                std::io::ErrorKind::NotFound if of_the_ca => {
                    "; a file of the data folder is missing: restore the folder from a backup (`ca restore`)"
                }
                std::io::ErrorKind::NotFound => {
                    "; it, or a folder on the way to it, does not exist (or cannot hold files)"
                }
                std::io::ErrorKind::StorageFull => "; the disk is full: make room and try again",
                std::io::ErrorKind::QuotaExceeded => {
                    "; this user's disk quota is used up (`quota -s` shows it): make room, or have the quota raised, and try again"
                }
                _ => "",
            };
            format!("{err}: {source}{advice}")
        }
        // SQLite's own words for a disk that is full, read-only or failing, with what to do;
        // not after a failed flush, whose sentence says already what to look for first.
        Error::Store(
            ca_core::StoreError::Database(_)
            | ca_core::StoreError::Migrate(_)
            | ca_core::StoreError::Commit(_)
            | ca_core::StoreError::Read(_),
        ) => format!("{err}{}", disk_advice(&err.to_string())),
        _ => err.to_string(),
    }
}

/// What to do when the log cannot be reached (`said`, the driver's words): a database server
/// to check; or, for a log that is a file here (`file`), no server at all, and the system's
/// refusal to start the threads its driver opens it with (EAGAIN: a limit on this user's
/// processes and threads, or on memory) to lift.
fn unavailable_advice(said: &str, file: bool) -> &'static str {
    if !file {
        // The server answered and refused the login: it is running, and what to mend is the
        // login itself, by the SQLSTATE the log's error ends with (28P01 a password refused,
        // 3D000 no such database, 28000 a login refused otherwise: by pg_hba.conf, or for a
        // role the server lacks, told apart by the server's words).
        if said.ends_with("(SQLSTATE 28P01)") {
            return ": the server refused the password given for that role (or has no such role): ca gives it the one in $PGPASSWORD, else the line of ~/.pgpass that matches the URL (of the user running ca; HOST:PORT:DATABASE:ROLE:PASSWORD, mode 0600, else it is skipped), else none; put the role's password there, or give the whole URL with it in $CA_DATABASE or the configuration file's `database` key, then try again";
        }
        if said.ends_with("(SQLSTATE 3D000)") {
            return ": the URL names a database the server does not have: create it there (`CREATE DATABASE NAME OWNER OWNING_ROLE`) or name the right one in the URL, then try again";
        }
        if said.ends_with("(SQLSTATE 28000)") {
            if said.contains("no pg_hba.conf entry") {
                return ": the server's pg_hba.conf lets no such connection in (this role, database and address, with or without TLS): add a line for it there and reload the server (`SELECT pg_reload_conf()`), then try again";
            }
            if said.contains("\" does not exist") {
                return ": the URL names a role the server does not have: create it there (`CREATE ROLE NAME LOGIN`, with a password) or name the right one in the URL, then try again";
            }
        }
        return ": check that the database server is running and reachable from here (`pg_isready` with the URL's host and port tells), then try again";
    }
    if said.contains("(os error 11)") {
        return ": the system refused this process a thread to open the log with (a limit on this user's processes and threads, `ulimit -u`, or on its memory, `ulimit -v`): raise the limit or stop other processes of this user, then try again";
    }
    ""
}

/// Advice for what SQLite says when the disk under the issuance log cannot take a write, or
/// another process holds its write lock too long (its result codes' fixed messages), or
/// nothing.
fn disk_advice(said: &str) -> &'static str {
    if said.contains("database or disk is full") {
        ": make room on the disk that holds the issuance log (`df -h` shows how much is free) and run the command again"
    } else if said.contains("disk I/O error") && crate::invocation::log_disk_nearly_full() {
        ": the disk that holds the issuance log is full: make room on it (`df -h` shows how much is free) and run the command again"
    } else if said.contains("database is locked") {
        ": another process held the log's write lock for a minute (a long command, a backup, or a tool with ca.db open in a transaction), and nothing was written: run the command again once it is done"
    } else if said.contains("readonly database") {
        ": ca.db or the data folder cannot be written by the user running ca, or the disk is mounted read-only: ca writes as the user that owns the CA, who must be able to write both (`ls -l` shows their owner and mode; `chmod u+w` lets the owner write them)"
    } else if said.contains("unable to open database file") {
        ": ca.db, or the write-ahead log beside it, cannot be opened or made by the user running ca (a full or read-only disk does this too): run ca as the user that owns the CA, with room on its disk"
    } else if said.contains("disk I/O error") {
        ": the disk that holds the issuance log failed a read or a write, is full, or this user's disk quota on it is used up (`df -h` and `quota -s` show whether it is; the kernel's log, `dmesg`, says more): once it is sound, run the command again"
    } else {
        ""
    }
}

fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlites_words_for_a_disk_or_a_lock_get_what_to_do() {
        for (said, advice) in [
            ("database or disk is full", "make room on the disk"),
            (
                "database is locked",
                "held the log's write lock for a minute",
            ),
            ("attempt to write a readonly database", "`chmod u+w`"),
            ("unable to open database file", "cannot be opened or made"),
            ("no such table: requests", ""),
            ("disk I/O error", "`quota -s`"),
        ] {
            let found = disk_advice(&format!("the issuance log could not commit: {said}"));
            assert!(found.contains(advice), "{said}: {found}");
            assert_eq!(found.is_empty(), advice.is_empty(), "{said}: {found}");
        }
    }

    #[test]
    fn a_log_that_cannot_be_reached_gets_advice_for_its_kind() {
        let eagain =
            "error communicating with database: Resource temporarily unavailable (os error 11)";
        assert!(unavailable_advice(eagain, false).contains("`pg_isready`"));
        let file = unavailable_advice(eagain, true);
        assert!(file.contains("`ulimit -u`"), "{file}");
        assert!(!file.contains("pg_isready"), "{file}");
        assert_eq!(unavailable_advice("pool timed out", true), "");
    }

    /// A server that answers and refuses the login is running: the advice is the login's, by
    /// PostgreSQL's words for each refusal, not a look for a server that is down.
    #[test]
    fn a_login_the_server_refused_gets_advice_for_the_login() {
        let refused = |words: &str| {
            unavailable_advice(
                &format!(
                    "cannot connect to the PostgreSQL database postgres://ca@db:5432/ca: {words}"
                ),
                false,
            )
        };
        let password = refused("password authentication failed for user \"ca\" (SQLSTATE 28P01)");
        assert!(
            password.contains("$PGPASSWORD") && password.contains("~/.pgpass"),
            "{password}"
        );
        assert!(refused("no pg_hba.conf entry for host \"10.0.0.2\", user \"ca\", database \"ca\", no encryption (SQLSTATE 28000)").contains("pg_hba.conf lets no such connection in"));
        assert!(
            refused("role \"nobody\" does not exist (SQLSTATE 28000)")
                .contains("`CREATE ROLE NAME LOGIN`")
        );
        assert!(
            refused("database \"nope\" does not exist (SQLSTATE 3D000)")
                .contains("`CREATE DATABASE NAME")
        );
        for advice in [
            password,
            refused("database \"nope\" does not exist (SQLSTATE 3D000)"),
        ] {
            assert!(!advice.contains("pg_isready"), "{advice}");
        }
        assert!(refused("Connection refused (os error 111)").contains("`pg_isready`"));
        // Names quoted in the message choose nothing: a database named as a refusal's words.
        let named =
            refused("database \"password authentication failed\" does not exist (SQLSTATE 3D000)");
        assert!(named.contains("`CREATE DATABASE NAME"), "{named}");
    }

    #[test]
    fn control_characters_are_shown_as_escapes() {
        assert_eq!(
            printable("'bad\u{1b}[2Jname\nca: ok' is not"),
            "'bad\\u{1b}[2Jname\\nca: ok' is not"
        );
        assert_eq!(printable("bücher.example"), "bücher.example");
        assert_eq!(printable("exa\u{202e}mple"), "exa\\u{202e}mple");
    }

    /// A file missing from the data folder sends the reader to the backups; one missing
    /// elsewhere (an output folder) does not.
    #[test]
    fn only_a_missing_file_of_the_data_folder_calls_for_a_restore() {
        let missing = |path: &str| {
            core_sentence(&Error::Io {
                path: path.into(),
                source: std::io::ErrorKind::NotFound.into(),
            })
        };
        assert!(missing("/var/lib/ca/root.key").contains("ca restore"));
        assert!(missing("/var/lib/ca/ca.db").contains("ca restore"));
        let output = missing("/proc/.mail.example.com.key.0123.tmp");
        assert!(
            !output.contains("restore") && output.contains("does not exist"),
            "{output}"
        );
    }

    /// A write refused for the user's quota (EDQUOT) gets what to do, as a full disk does.
    #[test]
    fn a_quota_used_up_is_said_with_what_to_do() {
        let said = core_sentence(&Error::Io {
            path: "/home/admin/certs/mail.example.com.crt".into(),
            source: std::io::Error::from_raw_os_error(122),
        });
        assert!(
            said.contains("disk quota") && said.contains("`quota -s`"),
            "{said}"
        );
    }
}
