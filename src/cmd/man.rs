//! `ca man DIR`: the manual pages, one per command (`ca.1`, `ca-serve.1`, `ca-user-add.1`,
//! ...), generated from the same clap definitions that parse the command line, with the
//! sections a page of a server needs (exit status, environment, files, signals).

use std::path::{Path, PathBuf};

use ca_core::files::{PUBLIC_MODE, write_atomic};
use roff::{Roff, bold, italic, roman};

use crate::cmd::Refused;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The folder to write the pages into (made when missing), such as
    /// /usr/local/share/man/man1.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub(crate) fn run(cli: clap::Command, args: Args) -> anyhow::Result<()> {
    if args.dir.exists() && !args.dir.is_dir() {
        return Err(Refused(format!(
            "{} is not a folder: give the folder the manual pages go into, such as /usr/local/share/man/man1",
            args.dir.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&args.dir).map_err(|err| {
        Refused(format!(
            "cannot make the folder {} for the manual pages: {err}",
            args.dir.display()
        ))
    })?;
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    let mut written = 0;
    write_pages(&cli, &args.dir, &date()?, &mut written)?;
    say!(
        "Wrote {written} manual pages into {} (read one with `man -l {}`)",
        crate::explain::printable(&args.dir.display().to_string()),
        ca_core::display::shell_word(&args.dir.join("ca.1"))
    );
    Ok(())
}

/// Writes the page of `cmd` and of each of its subcommands, depth first.
fn write_pages(
    cmd: &clap::Command,
    dir: &Path,
    date: &str,
    written: &mut usize,
) -> anyhow::Result<()> {
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub, dir, date, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("ca {}", env!("CARGO_PKG_VERSION")))
        .date(date)
        .manual("ca manual");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    extra_sections(name).to_writer(&mut page)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    write_atomic(&dir.join(man.get_filename()), &page, PUBLIC_MODE)?;
    *written += 1;
    Ok(())
}

/// The pages' date: `$SOURCE_DATE_EPOCH` when set (so that a package build gives the same
/// pages every time, as reproducible-builds.org asks), else today.
fn date() -> anyhow::Result<String> {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let at = match epoch.as_deref().map(str::parse::<i64>) {
        Some(Ok(seconds)) => time::OffsetDateTime::from_unix_timestamp(seconds)
            .map_err(|_| Refused(format!("$SOURCE_DATE_EPOCH={seconds} is not a date")))?,
        Some(Err(_)) => {
            return Err(Refused("$SOURCE_DATE_EPOCH must be a number of seconds".into()).into());
        }
        None => time::OffsetDateTime::now_utc(),
    };
    let date = at.date();
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// What the clap definitions do not say: for `ca`, its exit statuses, environment and files;
/// for `ca serve`, its configuration file and signals; every other page points back to ca(1).
fn extra_sections(page: &str) -> Roff {
    let mut roff = Roff::new();
    match page {
        "ca" => {
            section(
                &mut roff,
                "EXIT STATUS",
                &[
                    ("0", "done"),
                    (
                        "2",
                        "bad usage or refused input (a bad name, a weak key, an unknown id, a bad configuration file, a missing or wrong passphrase)",
                    ),
                    ("1", "any other failure"),
                ],
            );
            roff.text([roman(
                "Errors are one line on standard error: ca: error: what, why, what to do.",
            )]);
            section(
                &mut roff,
                "ENVIRONMENT",
                &[
                    (
                        "CA_DATA",
                        "the data folder when --data is not given (else ./ca-data)",
                    ),
                    (
                        "CA_CONFIG",
                        "the configuration file of ca serve when --config is not given",
                    ),
                    (
                        "CA_PASSPHRASE",
                        "the passphrase of the root key: ca init encrypts the key with it, and every command that signs needs it; set but empty (or not UTF-8), it is refused: unset it for an unencrypted key; one holding a line break is refused for a new key, since the credential gives only its first line; given for a key that is not encrypted, it is pointed out with a warning",
                    ),
                    (
                        "CREDENTIALS_DIRECTORY",
                        "where systemd puts a service's credentials; the credential ca.passphrase, when there, is the passphrase of the root key (its first line) and comes before CA_PASSPHRASE",
                    ),
                    (
                        "CA_LOG",
                        "what to log, such as info, warn or warn,ca_web=debug; it overrides the log key of the configuration file",
                    ),
                ],
            );
            files(&mut roff);
            see_also(&mut roff, "ca-serve(1), ca-init(1), systemd.exec(5)");
        }
        "ca-serve" => {
            roff.control("SH", ["CONFIGURATION FILE"]);
            roff.text([roman(
                "A TOML file, given by --config (or CA_CONFIG), else /etc/ca/ca.toml when it exists. \
                 Flags and environment variables override its keys. A key ca serve does not know, or a \
                 value it cannot use, refuses the file (exit status 2), naming its line; so does a file \
                 other users could change (writable by others or by a group other than root's, or \
                 owned by someone other than root or the user running ca).",
            )]);
            definitions(
                &mut roff,
                &[
                    (
                        "data = \"/var/lib/ca\"",
                        "the data folder; a relative path is taken from the file's folder; --data and CA_DATA override it",
                    ),
                    (
                        "database = \"postgres://ca@db.example.com/ca\"",
                        "the issuance log on PostgreSQL instead of the SQLite file in the data folder (its password in PGPASSWORD, ~/.pgpass or the file kept readable by root and ca only); --database and CA_DATABASE override it",
                    ),
                    (
                        "http = \"127.0.0.1:8080\"",
                        "the address for plain HTTP; --http overrides it",
                    ),
                    (
                        "https = \"127.0.0.1:8443\"",
                        "the address for HTTPS; --https overrides it",
                    ),
                    (
                        "hostname = [\"mail.example.com\"]",
                        "the names clients use to reach the server, for its certificate (this machine's host name when empty); --hostname overrides them",
                    ),
                    ("log = \"info\"", "what to log; CA_LOG overrides it"),
                ],
            );
            section(
                &mut roff,
                "SIGNALS",
                &[
                    (
                        "SIGHUP",
                        "reads the configuration file again: new host names get a new server certificate (and the certificate in the data folder is read again), presented from the next connection on, while open connections carry on; a new log filter applies at once; a change of data, http or https waits for a restart; a file that is refused leaves everything as it was, and the error is logged",
                    ),
                    (
                        "SIGTERM, SIGINT",
                        "stops accepting connections, lets the requests in flight finish (for at most ten seconds), then exits with status 0",
                    ),
                ],
            );
            files(&mut roff);
            see_also(&mut roff, "ca(1), systemd.exec(5), journalctl(1)");
        }
        _ => see_also(&mut roff, "ca(1)"),
    }
    roff
}

fn files(roff: &mut Roff) {
    section(
        roff,
        "FILES",
        &[
            ("/etc/ca/ca.toml", "the configuration file of ca serve"),
            (
                "/var/lib/ca",
                "the data folder of the packaged service (mode 0700, user ca)",
            ),
            (
                "DATA/root.crt, DATA/root.key",
                "the root certificate, and its key (mode 0600)",
            ),
            ("DATA/ca.db", "the issuance log"),
            (
                "DATA/https.crt, DATA/https.key",
                "the certificate ca serve presents, and its key",
            ),
            (
                "DATA/ocsp.crt, DATA/ocsp.key",
                "the OCSP responder's certificate, and its key",
            ),
        ],
    );
}

fn section(roff: &mut Roff, heading: &str, items: &[(&str, &str)]) {
    roff.control("SH", [heading]);
    definitions(roff, items);
}

fn definitions(roff: &mut Roff, items: &[(&str, &str)]) {
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

fn see_also(roff: &mut Roff, pages: &str) {
    roff.control("SH", ["SEE ALSO"]);
    roff.text([italic(pages)]);
}
