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
                printable(&invalid.reason)
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
