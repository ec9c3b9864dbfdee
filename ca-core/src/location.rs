//! Where an issuance log lives: a SQLite file (the default, `ca.db` in the data folder) or a
//! PostgreSQL database that several servers share. A database URL may hold a password, so it
//! is shown, logged and put in errors only without one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The URL of a PostgreSQL database (`postgres://user@host:5432/name?sslmode=verify-full`).
/// Its `Display` and `Debug` leave out any password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    /// The URL as shown: the password, if any, replaced by `***`.
    shown: String,
    has_password: bool,
}

impl DatabaseUrl {
    /// The URL whole, password included, for the database driver only.
    pub(crate) fn secret(&self) -> &str {
        &self.url
    }

    /// True when the URL carries a password (which then must not come from a command line).
    pub fn has_password(&self) -> bool {
        self.has_password
    }
}

/// Why a text is not a database URL: a sentence saying what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidDatabaseUrl(String);

impl FromStr for DatabaseUrl {
    type Err = InvalidDatabaseUrl;

    /// Reads a `postgres://` or `postgresql://` URL; anything else is refused, saying what the
    /// default log is.
    fn from_str(text: &str) -> Result<Self, InvalidDatabaseUrl> {
        let text = text.trim();
        let rest = text
            .strip_prefix("postgres://")
            .or_else(|| text.strip_prefix("postgresql://"))
            .ok_or_else(|| {
                InvalidDatabaseUrl(format!(
                    "'{}' is not a PostgreSQL URL: the issuance log is the SQLite file in the data folder, \
                     unless a database of the form postgres://USER@HOST:PORT/NAME is given",
                    shown_prefix(text)
                ))
            })?;
        if text.chars().any(char::is_control) || text.contains(char::is_whitespace) {
            return Err(InvalidDatabaseUrl(
                "a database URL may not contain spaces or control characters".into(),
            ));
        }
        let scheme = &text[..text.len() - rest.len()];
        // userinfo ends at the last '@' before the first '/', '?' or '#'.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (shown, has_password) = match authority.rfind('@') {
            Some(at) => match authority[..at].split_once(':') {
                Some((user, _password)) => (format!("{scheme}{user}:***{}", &rest[at..]), true),
                None => (text.to_owned(), false),
            },
            None => (text.to_owned(), false),
        };
        let has_password = has_password || has_query_password(&rest[authority_end..]);
        let shown = if has_query_password(&rest[authority_end..]) {
            redact_query_password(&shown)
        } else {
            shown
        };
        if authority.is_empty() || authority.ends_with('@') {
            return Err(InvalidDatabaseUrl(format!(
                "'{shown}' names no database server: write postgres://USER@HOST:PORT/NAME"
            )));
        }
        Ok(DatabaseUrl {
            url: text.to_owned(),
            shown,
            has_password,
        })
    }
}

/// True when a query string (`?a=b&password=...`) carries a password.
fn has_query_password(query: &str) -> bool {
    query
        .trim_start_matches(['/', '?'])
        .split(['?', '&'])
        .any(|pair| pair.split('=').next() == Some("password"))
}

fn redact_query_password(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// The start of something that is not a URL, short, for an error message (it may be a
/// password typed in the wrong place, so only its first characters).
fn shown_prefix(text: &str) -> String {
    let prefix: String = text.chars().take(12).collect();
    if prefix.len() < text.len() {
        format!("{prefix}...")
    } else {
        prefix
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.shown).finish()
    }
}

/// Where a log lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLocation {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(DatabaseUrl),
}

impl LogLocation {
    /// The SQLite file, when the log is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            LogLocation::File(path) => Some(path),
            LogLocation::Postgres(_) => None,
        }
    }

    /// True for a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, LogLocation::Postgres(_))
    }
}

impl fmt::Display for LogLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogLocation::File(path) => write!(f, "{}", path.display()),
            LogLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn shows_a_url_without_its_password() {
        let url: DatabaseUrl = "postgres://ca:s3cret@db.example.com:5432/ca"
            .parse()
            .unwrap();
        assert!(url.has_password());
        assert_eq!(url.to_string(), "postgres://ca:***@db.example.com:5432/ca");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.secret(), "postgres://ca:s3cret@db.example.com:5432/ca");
    }

    #[test]
    fn a_password_in_the_query_is_hidden_too() {
        let url: DatabaseUrl = "postgresql://ca@db/ca?sslmode=require&password=s3cret"
            .parse()
            .unwrap();
        assert!(url.has_password());
        assert_eq!(
            url.to_string(),
            "postgresql://ca@db/ca?sslmode=require&password=***"
        );
    }

    #[test]
    fn a_url_without_password_is_shown_whole() {
        let url: DatabaseUrl = "postgres://ca@127.0.0.1:5433/ca".parse().unwrap();
        assert!(!url.has_password());
        assert_eq!(url.to_string(), "postgres://ca@127.0.0.1:5433/ca");
    }

    #[test]
    fn refuses_what_is_not_a_postgres_url() {
        for text in [
            "sqlite://ca.db",
            "mysql://x",
            "ca.db",
            "postgres://",
            "postgres://user@",
            "postgres://a b@host/db",
        ] {
            assert!(text.parse::<DatabaseUrl>().is_err(), "{text}");
        }
        let err = "hunter2-is-my-password".parse::<DatabaseUrl>().unwrap_err();
        assert!(!err.to_string().contains("my-password"), "{err}");
    }
}
