//! The one error type of the authority. Each variant is a fact a caller can act on.

use std::path::PathBuf;

/// Why an operation of the authority did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name given on the command line or found in a request breaks a rule of DESIGN §3.
    #[error("'{name}' is refused: {reason}")]
    InvalidName { name: String, reason: String },

    /// A name is valid but lies outside the root's permitted subtrees (RFC 5280 §4.2.1.10).
    #[error(
        "'{name}' is refused: the root's name constraints permit only {permitted}; a certificate for it would be rejected by clients"
    )]
    NameNotPermitted { name: String, permitted: String },

    /// No name at all was given for a certificate.
    #[error("no name given: a server certificate needs at least one DNS name or IP address")]
    NoNames,

    /// A key (generated or in a request) is too weak to be signed.
    #[error("{0}")]
    WeakKey(String),

    /// A key algorithm name was not one of those the authority offers.
    #[error("unknown key type '{0}': use rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384")]
    UnknownKeyAlgorithm(String),

    /// A validity period was asked for that clients would reject or that makes no sense.
    #[error("{0}")]
    InvalidValidity(String),

    /// A certificate signing request could not be read, or its signature does not verify.
    #[error("the certificate request is refused: {0}")]
    InvalidRequest(String),

    /// A request, certificate or user asked for by id or serial does not exist.
    #[error("{0} was not found in the issuance log")]
    NotFound(String),

    /// The operation does not apply to the object in its current state.
    #[error("{0}")]
    Conflict(String),

    /// A value given by the caller (a setting, a reason, a user name) is not acceptable.
    #[error("{0}")]
    InvalidInput(String),

    /// The data folder holds no CA yet.
    #[error("no CA in {}: run `ca init` first", .0.display())]
    NotInitialised(PathBuf),

    /// `init` was asked for where a CA already exists.
    #[error("a CA already exists in {}: it was left untouched", .0.display())]
    AlreadyInitialised(PathBuf),

    /// The CA key could not be used as it is on disk.
    #[error("{0}")]
    CaKey(String),

    /// Reading or writing a file of the data folder or an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The issuance log failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Building or signing a certificate failed inside the cryptographic library.
    #[error("signing failed: {0}")]
    Crypto(String),
}

impl Error {
    /// True when the caller's input was refused (exit status 2 / HTTP 4xx), false when the
    /// authority itself failed (exit status 1 / HTTP 500).
    pub fn is_refusal(&self) -> bool {
        match self {
            Error::InvalidName { .. }
            | Error::NameNotPermitted { .. }
            | Error::NoNames
            | Error::WeakKey(_)
            | Error::UnknownKeyAlgorithm(_)
            | Error::InvalidValidity(_)
            | Error::InvalidRequest(_)
            | Error::NotFound(_)
            | Error::Conflict(_)
            | Error::InvalidInput(_)
            | Error::NotInitialised(_)
            | Error::AlreadyInitialised(_) => true,
            Error::Store(StoreError::NotFound) => true,
            Error::CaKey(_) | Error::Io { .. } | Error::Store(_) | Error::Crypto(_) => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid_name(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidName {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(err: rcgen::Error) -> Self {
        Error::Crypto(err.to_string())
    }
}

/// Why the issuance log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row asked for does not exist (`sqlx::Error::RowNotFound`).
    #[error("no such row in the issuance log")]
    NotFound,
    /// The schema could not be brought up to date.
    #[error("the issuance log could not be migrated: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite reported an error.
    #[error("the issuance log failed: {0}")]
    Database(sqlx::Error),
    /// A certificate with this serial number is already in the log.
    #[error("the serial number is already in the log")]
    DuplicateSerial,
    /// A group of writes could not be committed.
    #[error("the issuance log could not commit: {0}")]
    Commit(String),
    /// A row holds a value this version cannot read.
    #[error("the issuance log holds an unreadable value: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            other => StoreError::Database(other),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Store(err.into())
    }
}

/// The result of every operation of the authority.
pub type Result<T, E = Error> = std::result::Result<T, E>;
