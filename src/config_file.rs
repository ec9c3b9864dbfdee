//! The configuration file of `ca serve` (TOML): where the data is, where to listen, the names
//! clients use and how much to log. Flags and environment variables override each key.
//!
//! A key the server does not know, or a value it cannot use, refuses the whole file with the
//! line it is on: a typo (`htps = ...`) must not leave the server quietly listening where the
//! administrator did not want it.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ca_core::SubjectName;
use serde::Deserialize;
use toml::Spanned;

use crate::explain::{Refused, printable};

/// The file `ca serve` reads when `--config` is not given, if it exists.
pub(crate) const DEFAULT_PATH: &str = "/etc/ca/ca.toml";

/// The largest configuration file read: a wrong path (a disk image) fails at once.
const MAX_SIZE: u64 = 1024 * 1024;

/// What a configuration file sets; `None` (or an empty list) leaves the built-in default.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ConfigFile {
    /// The data folder; a relative path is taken from the file's own folder.
    pub(crate) data: Option<PathBuf>,
    /// The PostgreSQL database holding the log (a password may be in the file, which is not
    /// a command line; keep the file readable by `ca` only).
    pub(crate) database: Option<ca_core::DatabaseUrl>,
    /// The address for plain HTTP.
    pub(crate) http: Option<SocketAddr>,
    /// The address for HTTPS.
    pub(crate) https: Option<SocketAddr>,
    /// The names on the server's own certificate.
    pub(crate) hostname: Vec<SubjectName>,
    /// What to log, in the syntax of `$CA_LOG` (`info`, `warn,ca_web=debug`).
    pub(crate) log: Option<String>,
}

/// The file as written: every value with its position, to name the line of a bad one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    http: Option<Spanned<String>>,
    https: Option<Spanned<String>>,
    hostname: Option<Vec<Spanned<String>>>,
    log: Option<Spanned<String>>,
}

/// Who reads the configuration file: what a refusal tells to do differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reader {
    /// `ca serve`, which takes `--config FILE` (or `$CA_CONFIG`).
    Serve,
    /// Any other command that opens the CA without `--data`: it reads `$CA_CONFIG`, else the
    /// default file, for the data folder and database `ca serve` uses.
    Command,
}

impl Reader {
    /// How to name another file, or none.
    fn elsewhere(self) -> &'static str {
        match self {
            Reader::Serve => "give --config (or $CA_CONFIG) the path of a readable file",
            Reader::Command => {
                "run this as the user the server runs as (sudo -u ca ...), point $CA_CONFIG at a readable file, \
                 or give --data DIR (with --database or $CA_DATABASE for a PostgreSQL log) so that no configuration file is read"
            }
        }
    }
}

/// Why a configuration file is refused: the line, and what is wrong on it.
#[derive(Debug, PartialEq)]
pub(crate) struct Invalid {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

impl ConfigFile {
    /// The file `--config` names, else the default one when it exists, else nothing: the
    /// path read and what it sets.
    pub(crate) fn load(
        explicit: Option<&Path>,
        reader: Reader,
    ) -> anyhow::Result<Option<(PathBuf, ConfigFile)>> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
            None => return Ok(None),
        };
        let file = Self::read(&path, reader)?;
        Ok(Some((path, file)))
    }

    /// Reads and checks the file at `path`; a refusal (exit status 2) names the line.
    pub(crate) fn read(path: &Path, reader: Reader) -> anyhow::Result<ConfigFile> {
        use std::io::Read;
        refuse_unsafe_file(path, reader)?;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_SIZE + 1).read_to_end(&mut bytes))
            .map_err(|err| {
                Refused(format!(
                    "cannot read the configuration file {}: {err}: {}",
                    path.display(),
                    reader.elsewhere()
                ))
            })?;
        if bytes.len() as u64 > MAX_SIZE {
            return Err(Refused(format!(
                "{} is too large to be a configuration file: {}",
                path.display(),
                reader.elsewhere()
            ))
            .into());
        }
        let text = String::from_utf8(bytes).map_err(|err| {
            let line = line_of(&err.as_bytes()[..err.utf8_error().valid_up_to()]);
            Refused(format!(
                "the configuration file {} is refused at line {line}: it is not UTF-8 text",
                path.display()
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("/"));
        Self::parse(&text, base).map_err(|invalid| {
            Refused(format!(
                "the configuration file {} is refused at line {}: {}; correct that line, or leave the key out for its default",
                path.display(),
                invalid.line,
                printable(&without_passwords(&invalid.reason))
            ))
            .into()
        })
    }

    /// Parses `text`, taking a relative `data` from `base`.
    pub(crate) fn parse(text: &str, base: &Path) -> Result<ConfigFile, Invalid> {
        let at = |span: Range<usize>, reason: String| Invalid {
            line: line_of(&text.as_bytes()[..span.start.min(text.len())]),
            reason,
        };
        let raw: Raw = toml::from_str(text).map_err(|err| {
            let reason = err
                .message()
                .trim()
                .replace("unknown field", "unknown key")
                .replace("expected one of", "the keys are");
            at(err.span().unwrap_or(0..0), reason)
        })?;
        let mut file = ConfigFile::default();
        if let Some(data) = raw.data {
            if data.get_ref().trim().is_empty() {
                return Err(at(
                    data.span(),
                    "data is empty: give the data folder".into(),
                ));
            }
            file.data = Some(base.join(data.get_ref()));
        }
        if let Some(database) = raw.database {
            let url = database
                .get_ref()
                .parse::<ca_core::DatabaseUrl>()
                .map_err(|err| at(database.span(), format!("database: {err}")))?;
            file.database = Some(url);
        }
        let address = |key: &str, value: Spanned<String>| {
            value.get_ref().parse::<SocketAddr>().map_err(|_| {
                at(
                    value.span(),
                    format!(
                        "{key} = \"{}\" is not an address and port such as \"127.0.0.1:8080\" or \"[::]:443\"",
                        value.get_ref()
                    ),
                )
            })
        };
        file.http = raw.http.map(|v| address("http", v)).transpose()?;
        file.https = raw.https.map(|v| address("https", v)).transpose()?;
        for name in raw.hostname.unwrap_or_default() {
            let parsed = name
                .get_ref()
                .parse::<SubjectName>()
                .map_err(|err| at(name.span(), format!("hostname: {err}")))?;
            if !file.hostname.contains(&parsed) {
                file.hostname.push(parsed);
            }
        }
        if let Some(log) = raw.log {
            tracing_subscriber::EnvFilter::builder()
                .parse(log.get_ref())
                .map_err(|err| {
                    at(
                        log.span(),
                        format!(
                            "log = \"{}\" is not a log filter such as \"info\" or \"warn,ca_web=debug\" ({err})",
                            log.get_ref()
                        ),
                    )
                })?;
            file.log = Some(log.into_inner());
        }
        Ok(file)
    }
}

/// Refuses a configuration file that other users could change (it names the database the CA
/// trusts, and where its data lives), as sshd refuses such files: writable by others, by a
/// group other than root's, or owned by someone other than root or the user reading it. A
/// pipe is refused before it is opened (opening one waits for a writer for ever). Devices
/// (`/dev/null`, an empty configuration) are read as they are.
fn refuse_unsafe_file(path: &Path, reader: Reader) -> anyhow::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(meta) = std::fs::metadata(path) else {
        // Not there or not reachable: the read that follows says so.
        return Ok(());
    };
    let kind = meta.file_type();
    if kind.is_fifo() || kind.is_socket() {
        return Err(Refused(format!(
            "{} is a pipe or a socket, not a configuration file: {}",
            path.display(),
            reader.elsewhere()
        ))
        .into());
    }
    if !kind.is_file() {
        return Ok(());
    }
    let me = rustix::process::geteuid().as_raw();
    let mode = meta.mode() & 0o7777;
    let others_write = mode & 0o002 != 0 || (mode & 0o020 != 0 && meta.gid() != 0);
    let foreign = meta.uid() != 0 && meta.uid() != me;
    if others_write || foreign {
        return Err(Refused(format!(
            "the configuration file {} could be changed by other users (owner uid {}, mode {mode:04o}), and it decides which database and data folder the CA trusts: make it owned by root (or by the user running ca) and writable by its owner only (chown root {0}; chmod go-w {0})",
            path.display(),
            meta.uid(),
        ))
        .into());
    }
    Ok(())
}

/// `text` with the password of any `scheme://user:password@` in it replaced by `***`: a
/// refusal quotes the value it refused, which may be a database URL under the wrong key.
fn without_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                out.push_str(user);
                if userinfo.contains(':') {
                    out.push_str(":***");
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// The line (from 1) that the text before a position ends on.
fn line_of(before: &[u8]) -> usize {
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, Invalid> {
        ConfigFile::parse(text, Path::new("/etc/ca"))
    }

    fn refusal(text: &str) -> Invalid {
        parse(text).unwrap_err()
    }

    #[test]
    fn reads_every_key() {
        let file = parse(
            "# the server\n\
             data = \"/var/lib/ca\"\n\
             database = \"postgres://ca@db.example.com/ca\"\n\
             http = \"0.0.0.0:80\"\n\
             https = \"[::]:443\"\n\
             hostname = [\"Mail.Example.COM.\", \"192.0.2.10\", \"mail.example.com\"]\n\
             log = \"warn,ca_web=debug\"\n",
        )
        .unwrap();
        assert_eq!(
            file,
            ConfigFile {
                data: Some("/var/lib/ca".into()),
                database: Some("postgres://ca@db.example.com/ca".parse().unwrap()),
                http: Some("0.0.0.0:80".parse().unwrap()),
                https: Some("[::]:443".parse().unwrap()),
                hostname: vec![
                    "mail.example.com".parse().unwrap(),
                    "192.0.2.10".parse().unwrap()
                ],
                log: Some("warn,ca_web=debug".into()),
            }
        );
    }

    #[test]
    fn the_packaged_file_and_the_readmes_example_are_read() {
        let packaged = parse(include_str!("../packaging/ca.toml")).unwrap();
        assert_eq!(packaged.data, Some(PathBuf::from("/var/lib/ca")));
        assert_eq!(packaged.http, Some("127.0.0.1:8080".parse().unwrap()));
        let readme = include_str!("../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let file = parse(example).unwrap();
        assert_eq!(file.hostname.len(), 2);
        assert!(file.data.is_some() && file.https.is_some() && file.log.is_some());
    }

    #[test]
    fn an_empty_file_sets_nothing() {
        assert_eq!(parse("").unwrap(), ConfigFile::default());
        assert_eq!(parse("# only comments\n\n").unwrap(), ConfigFile::default());
    }

    #[test]
    fn a_relative_data_folder_is_taken_from_the_files_folder() {
        assert_eq!(
            parse("data = \"ca-data\"").unwrap().data,
            Some(PathBuf::from("/etc/ca/ca-data"))
        );
    }

    #[test]
    fn refuses_an_unknown_key_naming_its_line() {
        let invalid = refusal("http = \"127.0.0.1:80\"\n\nhtps = \"127.0.0.1:443\"\n");
        assert_eq!(invalid.line, 3);
        assert!(invalid.reason.contains("unknown key `htps`"), "{invalid:?}");
        assert!(invalid.reason.contains("`https`"), "{invalid:?}");
    }

    #[test]
    fn refuses_a_table_the_server_does_not_know() {
        let invalid = refusal("data = \"/var/lib/ca\"\n[serve]\nhttp = \"127.0.0.1:80\"\n");
        assert_eq!(invalid.line, 2);
    }

    #[test]
    fn refuses_bad_values_naming_their_line() {
        let cases = [
            ("data = \"\"", 1, "data is empty"),
            (
                "\ndatabase = \"postgres://ca:pa/ssSECRET@db/ca\"",
                2,
                "database: the database URL cannot be read",
            ),
            (
                "database = \"mysql://x\"",
                1,
                "database: it is not a PostgreSQL URL",
            ),
            (
                "\nhttp = \"localhost\"",
                2,
                "http = \"localhost\" is not an address",
            ),
            (
                "\n\nhttps = \"127.0.0.1:99999\"",
                3,
                "https = \"127.0.0.1:99999\"",
            ),
            ("http = 8080", 1, "invalid type"),
            ("hostname = \"mail.example.com\"", 1, "invalid type"),
            (
                "hostname = [\n  \"mail.example.com\",\n  \"*.com\",\n]",
                3,
                "hostname: '*.com' is refused",
            ),
            ("hostname = [\"0.0.0.0\"]", 1, "hostname:"),
            ("log = \"info\"\nlog = \"warn\"", 2, "duplicate key"),
            ("\n\nlog = \"ca_web=[\"", 3, "not a log filter"),
            ("data = \"/var/lib/ca", 1, ""),
            ("\n\n\n= 1", 4, ""),
        ];
        for (text, line, reason) in cases {
            let invalid = refusal(text);
            assert!(!invalid.reason.contains("SECRET"), "{invalid:?}");
            assert_eq!(invalid.line, line, "{text:?}: {invalid:?}");
            assert!(invalid.reason.contains(reason), "{text:?}: {invalid:?}");
        }
    }

    #[test]
    fn refusals_never_quote_a_password() {
        for (text, shown) in [
            (
                "invalid type: string \"postgres://ca:S3cret@db/ca\", expected a sequence",
                "invalid type: string \"postgres://ca:***@db/ca\", expected a sequence",
            ),
            (
                "http = \"smtp://u:p@h:25\" x",
                "http = \"smtp://u:***@h:25\" x",
            ),
            ("a://b@c and x://y d", "a://b@c and x://y d"),
            ("no url", "no url"),
        ] {
            assert_eq!(without_passwords(text), shown);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.toml");
        std::fs::write(&path, "hostname = \"postgres://ca:S3cretPW@db/ca\"\n").unwrap();
        let err = ConfigFile::read(&path, Reader::Serve)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && !err.contains("S3cretPW"), "{err}");
    }

    #[test]
    fn refuses_a_file_others_can_change_or_a_pipe() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.toml");
        std::fs::write(&path, "log = \"info\"\n").unwrap();
        for mode in [0o600, 0o644, 0o640] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            ConfigFile::read(&path, Reader::Serve).unwrap();
        }
        for mode in [0o666, 0o646, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = ConfigFile::read(&path, Reader::Serve)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("could be changed by other users"),
                "{mode:o}: {err}"
            );
        }
        let fifo = dir.path().join("fifo.toml");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = ConfigFile::read(&fifo, Reader::Serve)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a pipe"), "{err}");
        ConfigFile::read(Path::new("/dev/null"), Reader::Serve).unwrap();
    }

    #[test]
    fn refusals_name_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.toml");
        std::fs::write(&path, "http = \"127.0.0.1:8080\"\nport = 80\n").unwrap();
        let err = ConfigFile::read(&path, Reader::Serve).unwrap_err();
        assert_eq!(crate::explain::exit_status(&err), 2);
        let text = crate::explain::sentence(&err);
        assert!(
            text.starts_with(&format!(
                "the configuration file {} is refused at line 2: unknown key `port`",
                path.display()
            )),
            "{text}"
        );
        std::fs::write(&path, b"log = \"info\"\n# caf\xe9\n").unwrap();
        let text = crate::explain::sentence(&ConfigFile::read(&path, Reader::Serve).unwrap_err());
        assert!(text.contains("at line 2: it is not UTF-8 text"), "{text}");
        let missing = dir.path().join("missing.toml");
        let err = ConfigFile::read(&missing, Reader::Command).unwrap_err();
        assert_eq!(crate::explain::exit_status(&err), 2);
        let text = crate::explain::sentence(&err);
        assert!(
            text.contains("cannot read the configuration file"),
            "{text}"
        );
        // Only `ca serve` has --config: other commands are told what they can do.
        assert!(!text.contains("--config"), "{text}");
        assert!(
            text.contains("$CA_CONFIG") && text.contains("--data"),
            "{text}"
        );
    }
}
