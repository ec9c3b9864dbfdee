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

    /// The URL as shown, for another role: its user name replaced by `user`, without any
    /// password (which that role keeps in `$PGPASSWORD` or `~/.pgpass`).
    pub fn shown_as(&self, user: &str) -> String {
        let Ok(mut url) = url::Url::parse(&self.shown) else {
            return self.shown.clone();
        };
        if url.set_username(user).is_err() || url.set_password(None).is_err() {
            return self.shown.clone();
        }
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(key, _)| key != "password" && key != "user")
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect();
            if pairs.is_empty() {
                url.set_query(None);
            } else {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
        }
        url.to_string()
    }

    /// The URL whole, as a command line may carry it, when it holds no password: its options
    /// too, which [`Display`](fmt::Display) hides (for the command that was given it, to
    /// repeat).
    pub fn given(&self) -> Option<&str> {
        (!self.has_password).then_some(self.url.as_str())
    }

    /// True when the URL carries a password (which then must not come from a command line).
    pub fn has_password(&self) -> bool {
        self.has_password
    }
}

/// The query parameters the database driver reads (sqlx's `PgConnectOptions`); any other is
/// refused, since the driver would ignore it and log it with its value.
const PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// The parameters whose values are never shown (as `***`): the rest of [`PARAMETERS`] are.
const HIDDEN_PARAMETERS: &[&str] = &["password", "options"];

/// The longest database URL read: far more than any real one, and short enough to refuse
/// without a second look.
const MAX_URL: usize = 4096;

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
        if text.len() > MAX_URL {
            return Err(InvalidDatabaseUrl(format!(
                "the database URL is longer than {MAX_URL} bytes (it is not shown): write postgres://USER@HOST:PORT/NAME"
            )));
        }
        text.strip_prefix("postgres://")
            .or_else(|| text.strip_prefix("postgresql://"))
            .ok_or_else(|| {
                // Nothing of it is shown: it may be a password typed in the wrong place.
                InvalidDatabaseUrl(
                    "it is not a PostgreSQL URL (it is not shown: it may hold a password): the issuance log is \
                     the SQLite file in the data folder, unless a database of the form \
                     postgres://USER@HOST:PORT/NAME is given"
                        .into(),
                )
            })?;
        if text.chars().any(char::is_control) || text.contains(char::is_whitespace) {
            return Err(InvalidDatabaseUrl(
                "a database URL may not contain spaces or control characters".into(),
            ));
        }
        // Read as the database driver reads it (the same URL parser), so that the password
        // hidden here is the one the driver would send. What it cannot read is not echoed:
        // a password with an unencoded '/', '?', '#' or '@' would show through.
        let unreadable = || {
            InvalidDatabaseUrl(
                "the database URL cannot be read (it is not shown: it may hold a password): write \
                 postgres://USER@HOST:PORT/NAME, with any '/', '?', '#', '@' or ':' in the user \
                 name or password percent-encoded (%2F, %3F, %23, %40, %3A)"
                    .into(),
            )
        };
        let parsed = url::Url::parse(text).map_err(|_| unreadable())?;
        // An '@' after the host, or a '#' anywhere, means part of a password ended up in the
        // path, the query or a fragment, where it would be neither sent nor hidden.
        let after_host = &parsed[url::Position::BeforePath..];
        if parsed.fragment().is_some() || after_host.contains('@') {
            return Err(unreadable());
        }
        // A parameter the driver does not know it would ignore, and log with its value (a
        // mistyped `passwd=`, or `sslpassword=`): refused, naming only the key, and only when
        // it reads as a parameter's name (not a password typed without its `password=`).
        if let Some((key, _)) = parsed
            .query_pairs()
            .find(|(key, _)| !PARAMETERS.contains(&key.as_ref()))
        {
            let named = if key.len() <= 40
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-')
            {
                format!("'{key}'")
            } else {
                "a parameter".to_owned()
            };
            return Err(InvalidDatabaseUrl(format!(
                "the database URL has {named}, which is not one ca passes to PostgreSQL (its value is not shown): the parameters read are {}",
                PARAMETERS.join(", ")
            )));
        }
        let in_query = parsed.query_pairs().any(|(key, _)| key == "password");
        let has_password = parsed.password().is_some() || in_query;
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            shown.set_password(Some("***")).map_err(|()| unreadable())?;
        }
        if parsed.query().is_some() {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(key, value)| {
                    let value = if HIDDEN_PARAMETERS.contains(&key.as_ref()) {
                        "***".into()
                    } else {
                        value.into_owned()
                    };
                    (key.into_owned(), value)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        let shown = shown.to_string();
        // The role's name as the driver reads it (the URL's user, or its `user` parameter), and
        // prepares it for a password login: a name SASLprep refuses (a control character, a
        // private-use or bidi mark, encoded as %07 and the like) is said here, where the driver
        // would stop the process. Shown only as the URL encodes it (%07), never decoded: it
        // holds what a terminal should not print.
        let user = percent_encoding::percent_decode_str(parsed.username()).decode_utf8_lossy();
        let in_query = parsed
            .query_pairs()
            .filter(|(key, _)| key == "user")
            .map(|(_, value)| value.into_owned());
        if std::iter::once(user.into_owned())
            .chain(in_query)
            .any(|name| stringprep::saslprep(&format!("n={name}")).is_err())
        {
            return Err(InvalidDatabaseUrl(format!(
                "the role named in '{shown}' holds a character that PostgreSQL's password login cannot send (SASLprep, RFC 4013, refuses it: a control character, a private-use or a bidirectional mark): write the role's name as the server knows it"
            )));
        }
        // A URL that names no role takes the driver's default, $PGUSER when set.
        if parsed.username().is_empty()
            && !parsed.query_pairs().any(|(key, _)| key == "user")
            && std::env::var("PGUSER")
                .is_ok_and(|name| stringprep::saslprep(&format!("n={name}")).is_err())
        {
            return Err(InvalidDatabaseUrl(
                "$PGUSER, the role of a database URL that names none, holds a character that PostgreSQL's password login cannot send (SASLprep, RFC 4013, refuses it: a control character, a private-use or a bidirectional mark): set it to the role's name as the server knows it".into(),
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
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

    /// A role name the driver's password login would refuse to prepare (and stop the process
    /// on) is refused as read, shown only as the URL encodes it; names it takes pass.
    #[test]
    fn a_role_name_saslprep_refuses_is_refused_as_read() {
        for text in [
            "postgres://ca%07@db/ca",
            "postgres://ca%1B%5B31mRED@db/ca",
            "postgres://ca%E2%80%AE@db/ca",
            "postgres://ca%EE%80%80@db/ca",
            "postgres://ca@db/ca?user=a%07b",
        ] {
            let err = text.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(err.contains("SASLprep"), "{text}: {err}");
            assert!(!err.chars().any(char::is_control), "{text}: {err}");
        }
        for text in [
            "postgres://ca@db/ca",
            "postgres://j%C3%B6rg@db/ca",
            "postgres://ca%20owner@db/ca",
            "postgres://db/ca",
        ] {
            assert!(text.parse::<DatabaseUrl>().is_ok(), "{text}");
        }
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
        // Nothing of what was given is echoed: it may be a password typed in the wrong place.
        for secret in ["hunter2-is-my-password", "hunter", "mysql://hunter2@db/x"] {
            let err = secret.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(!err.contains("hunter"), "{err}");
        }
    }

    #[test]
    fn a_password_the_driver_cannot_read_is_never_shown() {
        // Unencoded '/', '?', '#' or '@' in a password: refused without echoing the rest.
        for text in [
            "postgres://ca:pa/ssSECRET@127.0.0.1:5432/ca",
            "postgres://ca:pa?ssSECRET@127.0.0.1:5432/ca",
            "postgres://ca:pa#ssSECRET@127.0.0.1:5432/ca",
            "postgres://ca:1234#SECRET@db/ca",
            "postgres://ca:1234?SECRET@db/ca",
            "postgres://ca:1234/SECRET@db/ca",
            "postgres://ca:p@ssSECRET@db/ca#x",
        ] {
            let err = text.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(!err.contains("SECRET"), "{text}: {err}");
            assert!(
                !err.contains("ca:") && !err.contains("//c"),
                "{text}: {err}"
            );
        }
        // Percent-encoded, the same password is read and hidden.
        let url: DatabaseUrl = "postgres://ca:pa%2FssSECRET@127.0.0.1:5432/ca"
            .parse()
            .unwrap();
        assert!(url.has_password());
        assert!(!url.to_string().contains("SECRET"), "{url}");
    }

    #[test]
    fn a_parameter_the_driver_would_ignore_is_refused_without_its_value() {
        for text in [
            "postgres://ca@db/ca?sslpassword=KEYPASS1",
            "postgres://ca@db/ca?sslmode=require&passwd=KEYPASS1",
            "postgres://ca@db/ca?ssl%70assword=KEYPASS1",
            "postgres://ca@db/ca?KEYPASS1=x",
        ] {
            let err = text.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(!err.contains("KEYPASS1"), "{text}: {err}");
            assert!(err.contains("not one ca passes"), "{text}: {err}");
        }
        let err = "postgres://ca@db/ca?passwd=x"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("'passwd'"), "{err}");
        // What is known is read; only harmless values are shown.
        let url: DatabaseUrl =
            "postgres://ca@db/ca?sslmode=verify-full&sslrootcert=/etc/ca.pem&options=-c%20x%3DSECRET"
                .parse()
                .unwrap();
        let shown = url.to_string();
        assert!(shown.contains("sslmode=verify-full"), "{shown}");
        assert!(shown.contains("sslrootcert=%2Fetc%2Fca.pem"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn shown_for_another_role_without_the_password() {
        let url: DatabaseUrl = "postgres://owner:SECRET@db:5432/ca?sslmode=require&password=X"
            .parse()
            .unwrap();
        assert_eq!(
            url.shown_as("ca"),
            "postgres://ca@db:5432/ca?sslmode=require"
        );
        let url: DatabaseUrl = "postgres://owner@db/ca".parse().unwrap();
        assert_eq!(url.shown_as("ca"), "postgres://ca@db/ca");
    }

    #[test]
    fn a_very_long_url_is_refused_without_being_shown() {
        let text = format!("postgres://ca@db/ca?sslmode={}", "SECRET".repeat(20_000));
        let err = text.parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(!err.contains("SECRET"), "{}", err.len());
        assert!(err.len() < 200, "{err}");
        let text = format!("postgres://{}/ca", "h".repeat(100_000));
        let err = text.parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(err.len() < 200, "{}", err.len());
    }

    #[test]
    fn a_password_in_an_encoded_query_key_is_found() {
        // The driver decodes the query, so `pass%77ord` is its password parameter.
        let url: DatabaseUrl = "postgres://ca@db/ca?pass%77ord=SECRET".parse().unwrap();
        assert!(url.has_password());
        assert!(!url.to_string().contains("SECRET"), "{url}");
    }
}
