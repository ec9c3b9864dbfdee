//! The one error type of the authority. Each variant is a fact a caller can act on; the
//! sentence it displays names no command-line flag, environment variable or web page, so the
//! command line and the pages can each add what their reader should do.

use std::fmt;
use std::path::PathBuf;

use crate::location::{InvalidDatabaseUrl, LogLocation};

/// Why an operation of the authority did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name given by a person or found in a request breaks a rule of DESIGN §3.
    #[error("{} is refused: {rule}", crate::display::quoted(name))]
    NameRefused { name: String, rule: NameRule },

    /// A name is valid but lies outside the root's permitted subtrees (RFC 5280 §4.2.1.10).
    #[error(
        "{} is refused: the root's name constraints permit only {permitted}; a certificate for it would be rejected by clients",
        crate::display::quoted(name)
    )]
    NameNotPermitted {
        name: String,
        /// The permitted subtrees, as people write them: "example.com, 192.0.2.0/24".
        permitted: String,
    },

    /// More different names were given than one certificate holds (the name rules' `MAX_NAMES`).
    #[error(
        "{given} different names: a certificate holds at most {max} DNS names and IP addresses \
         (a larger one outgrows what TLS clients accept in a handshake: Java's limit is 32 KB); \
         split the names across several certificates"
    )]
    TooManyNames { given: usize, max: usize },

    /// A signal (Ctrl-C, SIGTERM) stopped the work before anything was committed.
    #[error(
        "interrupted before the certificate was issued: nothing was issued, and the new key was removed"
    )]
    Interrupted,

    /// No name at all was given for a certificate.
    #[error("no name given: a server certificate needs at least one DNS name or IP address")]
    NoNames,

    /// An RSA key (made, or in a request) is shorter than the minimum.
    #[error(
        "the RSA key has {bits} bits; at least {min} are required (old IIS wizards default to 1024): \
         regenerate the request with a {min}-bit key"
    )]
    WeakKey { bits: usize, min: usize },

    /// An RSA key is longer than the authority accepts.
    #[error(
        "the RSA key has {bits} bits; keys over {max} bits are not accepted: \
         make the request again with a 2048-, 3072- or 4096-bit key"
    )]
    KeyTooLarge { bits: usize, max: usize },

    /// A key is of a type the authority does not sign (not RSA, nor ECDSA on P-256 or P-384).
    #[error(
        "the key is {found}; only RSA and ECDSA on P-256 or P-384 are accepted: make the request again with one of those"
    )]
    UnsupportedKey { found: String },

    /// A value was not one of a fixed set of choices (a key type, a format, a reason, ...).
    #[error("unknown {what} {}: use {choices}", crate::display::quoted(value))]
    UnknownChoice {
        what: &'static str,
        value: String,
        choices: String,
    },

    /// A validity period longer than clients accept.
    #[error(
        "{days} days is refused: {}",
        if *.root {
            format!("a root is valid for at most {max} days")
        } else {
            format!(
                "Apple platforms reject server certificates valid for more than {max} days, even from a private root; \
                 ask for {max} days or fewer"
            )
        }
    )]
    ValidityTooLong { days: u32, max: u32, root: bool },

    /// A validity period of no days.
    #[error("a certificate must be valid for at least one day")]
    ValidityTooShort,

    /// The root has expired: nothing it signs can be trusted.
    #[error("the root expired on {}, so nothing it signs can be trusted: create a new CA", crate::display::time(.not_after.to_offset(time::UtcOffset::UTC)))]
    RootExpired { not_after: time::OffsetDateTime },

    /// A certificate signing request could not be read.
    #[error("the certificate request is refused: {0}")]
    InvalidRequest(String),

    /// A certificate signing request's signature does not verify.
    #[error(
        "the certificate request is refused: its signature does not verify (it was altered, or signed with an algorithm other than RSA PKCS#1 with SHA-1/SHA-2 or ECDSA): make the request again"
    )]
    BadRequestSignature,

    /// A request asked for a certificate template this CA does not offer.
    #[error(
        "the request was for a certificate template that is not supported by this CA: {template}; use {offered}"
    )]
    UnsupportedTemplate { template: String, offered: String },

    /// A request, certificate or user asked for does not exist.
    #[error("{0} was not found")]
    NotFound(String),

    /// The operation does not apply to the object in its current state.
    #[error("{0}")]
    Conflict(String),

    /// A user was to be added under a name that is taken: adding never replaces a user's role
    /// or password (setting a role and a password are their own operations).
    #[error("the user {0} exists already")]
    UserExists(String),

    /// A value given by the caller (a setting, a reason, a user name) is not acceptable.
    #[error("{0}")]
    InvalidInput(String),

    /// The data folder holds no CA.
    #[error("there is no CA in {}", .0.display())]
    NotInitialised(PathBuf),

    /// A restore into the data folder began and did not finish (it runs, or was stopped).
    #[error("a restore into {} began and did not finish (it is running, or was stopped before its last file was in place), so nothing in the folder is used", .0.display())]
    RestoreUnfinished(PathBuf),

    /// The data folder is a backup (it holds the note a backup writes), opened to change.
    #[error("{} is a backup of a CA, not its data folder: nothing is changed in a backup, so that it never issues beside the CA it copies", .0.display())]
    Backup(PathBuf),

    /// The data folder holds a CA's issuance log or root key, but no root certificate.
    #[error("{} holds the issuance log or the key of a CA but no root certificate (root.crt)", .0.display())]
    RootMissing(PathBuf),

    /// The data folder holds a log with no request and no user, and neither root file: what
    /// the making of a CA stopped half way leaves.
    #[error("{} holds an issuance log with no request and no user, but no root certificate or key: what the making of a CA that was stopped half way leaves", .0.display())]
    CreationUnfinished(PathBuf),

    /// The data folder holds a root key but no root certificate: never replaced by a new CA.
    #[error("{} holds a root key (root.key) but no root certificate (root.crt), so a new CA is not made there: it would replace that key", .0.display())]
    KeyWithoutRoot(PathBuf),

    /// The issuance log of a CA is missing.
    #[error(
        "the issuance log {0} is missing, so this CA's requests, certificates and revocations are not there"
    )]
    LogMissing(LogLocation),

    /// The issuance log of a CA is empty: it holds none of the CA's history.
    #[error("the issuance log {0} is empty or is not an issuance log")]
    LogEmpty(LogLocation),

    /// The issuance log was made for another root than the folder's root certificate.
    #[error(
        "the issuance log {location} was made for another root (SHA-256 {recorded}), not for this folder's root.crt (SHA-256 {found})"
    )]
    LogOfAnotherRoot {
        location: LogLocation,
        recorded: String,
        found: String,
    },

    /// The log in the data folder was copied into a database, which is the log now.
    #[error(
        "the issuance log {location} was copied into the database {to}, which is this CA's log now"
    )]
    LogMoved { location: LogLocation, to: String },

    /// A database given for a new CA already holds a CA's log (or the history of one).
    #[error(
        "the database {location} already holds the issuance log of a CA (its root's SHA-256: {recorded})"
    )]
    LogInUse {
        location: LogLocation,
        recorded: String,
    },

    /// The issuance log needs a schema upgrade, which a command that only reads does not make
    /// (its folder may be read-only, or another user's).
    #[error(
        "the issuance log {0} was written by an older version and needs an upgrade, which a command that only reads does not make"
    )]
    LogOutdated(LogLocation),

    /// The PostgreSQL log's schema must be made or brought up to date, and the role it is
    /// opened as may not change it (it is not the role that owns the tables).
    #[error(
        "the issuance log {0} needs its tables made or brought up to date, which only the role that owns them may do"
    )]
    SchemaNotOwned(LogLocation),

    /// The data folder or its log can be changed by other users.
    #[error("{} can be changed by other users (mode {mode:o}), so it is not used", .path.display())]
    FolderExposed { path: PathBuf, mode: u32 },

    /// A folder a backup or restore writes into, or one on the way to it, belongs to another
    /// user, who could put a link in its place while the command works (and have what it
    /// writes, or removes when it fails, land elsewhere).
    #[error("{} belongs to another user (uid {owner}), who could replace what is written there, so it is not used", .path.display())]
    FolderNotOwned { path: PathBuf, owner: u32 },

    /// The data folder, or the log in it, cannot be read by the user running the command.
    #[error("{} cannot be read by the user running this command (it belongs to uid {owner})", .path.display())]
    Unreadable { path: PathBuf, owner: u32 },

    /// A new CA was asked for where one exists.
    #[error("a CA already exists in {}: it was left untouched", .0.display())]
    AlreadyInitialised(PathBuf),

    /// The root key file can be read by other users.
    #[error("{} can be read by other users (mode {mode:o}), so it is not used", .path.display())]
    CaKeyExposed { path: PathBuf, mode: u32 },

    /// The root key file belongs to another user.
    #[error("{} belongs to another user (uid {owner}), so it is not used", .path.display())]
    CaKeyNotOwned { path: PathBuf, owner: u32 },

    /// The root key file is encrypted and no passphrase was given.
    #[error("{} is encrypted and no passphrase was given", .path.display())]
    CaKeyLocked { path: PathBuf },

    /// The passphrase given does not decrypt the root key file.
    #[error("{} could not be decrypted: the passphrase is wrong", .path.display())]
    CaKeyPassphrase { path: PathBuf },

    /// A certificate's row in the log says something its own DER does not (its serial,
    /// dates, names or fingerprint): the log was altered after the certificate was issued.
    #[error(
        "the issuance log was altered: the {fields} recorded for certificate {id} disagree with the certificate the root signed"
    )]
    LogAltered {
        /// The request id of the certificate's row.
        id: i64,
        /// The columns that disagree, as in "serial, not_after".
        fields: String,
    },

    /// The root key or certificate could not be used as it is on disk.
    #[error("{0}")]
    CaKey(String),

    /// The operating system's random number generator failed.
    #[error("the system's random number generator failed")]
    RandomUnavailable,

    /// Reading or writing a file failed; the operating system's reason is the source.
    #[error("{}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The issuance log failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Building or signing something failed inside the cryptographic library.
    #[error("signing failed: {0}")]
    Crypto(String),
}

/// Which rule of DESIGN §3 a name breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameRule {
    Empty,
    Whitespace,
    EmptyLabel,
    /// `*` anywhere but as the whole leftmost label.
    WildcardPosition,
    /// `*.com`: fewer than two labels after the wildcard.
    WildcardTooBroad,
    /// `*.co.uk`: a wildcard directly under a public suffix of the Public Suffix List's
    /// ICANN section, which Chromium and Edge never match.
    WildcardOverPublicSuffix(String),
    /// Not a valid internationalised domain name (RFC 5891).
    Idna,
    /// A label over 63 octets.
    LabelTooLong,
    /// A character other than letters, digits and hyphens.
    Character(char),
    /// A URL (`https://mail.example.com/owa`) where a host name goes.
    Url,
    /// A host name with a port (`mail.example.com:443`).
    Port,
    /// An email address.
    Email,
    /// A label that starts or ends with a hyphen.
    Hyphen,
    /// A label that mixes Latin letters with Cyrillic or Greek ones (a look-alike name).
    MixedScript,
    /// A name over 253 octets.
    NameTooLong,
    /// A last label of digits only: neither a host name nor an IP address.
    NumericTld,
    /// An address no server is reached at: unspecified, multicast, reserved or broadcast.
    UnusableAddress,
    /// An IP address with a zone index (`fe80::1%eth0`), which names a link of one machine.
    ZoneIndex,
    /// A name under `.invalid`, which never resolves anywhere (RFC 6761 §6.4).
    NeverResolves,
    /// An IPv4 address written in one of IPv6's forms for it (::ffff:192.0.2.1, ::192.0.2.1),
    /// which a certificate would hold as 16 octets that no IPv4 connection matches.
    Ipv4InIpv6(std::net::Ipv4Addr),
    /// A name that resolves only on a private network, without the choice to allow it.
    Internal,
    /// An IP address in a private, loopback, link-local, site-local or shared (CGNAT) range,
    /// or an IPv6 address carrying one, without the choice to allow it.
    InternalAddress,
    /// The root's own subject CN.
    RootName,
    /// A name on the CA's own server certificate, asked for by someone other than an admin.
    Reserved,
    /// A permitted subtree that is not a domain or an ADDRESS/PREFIX range.
    Subtree(String),
}

impl fmt::Display for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRule::Empty => f.write_str("a name cannot be empty"),
            NameRule::Whitespace => f.write_str("a DNS name cannot contain white space (a space, tab or line break)"),
            NameRule::EmptyLabel => f.write_str(
                "a DNS name cannot have an empty label (two dots in a row, or a leading dot)",
            ),
            NameRule::WildcardPosition => f.write_str(
                "'*' is allowed only as the whole leftmost label, as in *.example.com (CA/Browser Forum BR 7.1.4.2)",
            ),
            NameRule::WildcardTooBroad => f.write_str(
                "a wildcard needs at least two labels after '*.', as in *.example.com: clients refuse *.com",
            ),
            NameRule::WildcardOverPublicSuffix(suffix) => write!(
                f,
                "{suffix} is a public suffix, under which anyone registers names: Chromium and Edge match no wildcard directly under it, as they match none under .com; name a domain of yours, as in *.example.{suffix}"
            ),
            NameRule::Idna => {
                f.write_str("it is not a valid internationalised domain name (IDNA, RFC 5891)")
            }
            NameRule::LabelTooLong => {
                f.write_str("a label is longer than 63 octets (RFC 1035 §2.3.4)")
            }
            NameRule::Character(c) => write!(
                f,
                "{} is not allowed in a host name: only letters, digits and hyphens are (RFC 1123 §2.1)",
                crate::display::quoted(&c.to_string())
            ),
            NameRule::Url => f.write_str(
                "it is a URL: give the host name alone, as in mail.example.com (a certificate names a host, and serves every URL on it)",
            ),
            NameRule::Port => f.write_str(
                "give the host name without the port: a certificate names a host, and serves it on every port",
            ),
            NameRule::Email => f.write_str(
                "it is an email address: a server's certificate names the server's host name, as in mail.example.com",
            ),
            NameRule::Hyphen => {
                f.write_str("a label cannot start or end with a hyphen (RFC 1123 §2.1)")
            }
            NameRule::MixedScript => f.write_str(
                "a label mixes Latin letters with Cyrillic or Greek ones, so it looks like another name \
                 (a Cyrillic 'а' passes for a Latin 'a'); write each label in one script",
            ),
            NameRule::NameTooLong => {
                f.write_str("the name is longer than 253 octets (RFC 1035 §2.3.4)")
            }
            NameRule::NumericTld => f.write_str(
                "the last label is all digits, so it is neither a host name nor a valid IP address \
                 (an IPv4 address is four numbers of 0 to 255 without leading zeros, as in 192.0.2.1: \
                 some clients read 010 as octal 8, others as 10)",
            ),
            NameRule::UnusableAddress => {
                f.write_str(
                "no client connects to a server at an unspecified, multicast, reserved or broadcast address",
            )
            }
            NameRule::NeverResolves => f.write_str(
                "names under .invalid never resolve, on any network (RFC 6761 §6.4): no client reaches a server by it",
            ),
            NameRule::ZoneIndex => f.write_str(
                "it carries a zone index (%...), which names a link of one machine: give the address alone",
            ),
            NameRule::Ipv4InIpv6(v4) => write!(
                f,
                "it is the IPv4 address {v4} written in IPv6 form: a client connecting to {v4} compares the \
                 certificate's addresses with those 4 octets, not 16, and would refuse it; give {v4}"
            ),
            NameRule::Internal => f.write_str(
                "it is an internal name (a single label, or under .local, .lan, .internal, home.arpa or similar); \
                 clients outside the LAN cannot reach it, so use the public name clients connect to",
            ),
            NameRule::InternalAddress => f.write_str(
                "it is a private, loopback or link-local address (or an address only a private network routes, \
                 or one that carries such an address inside it); clients outside the LAN cannot reach it, \
                 so use an address clients connect to",
            ),
            NameRule::RootName => f.write_str(
                "it is the root's own name; a server certificate must not share it, or clients mistake one for the other",
            ),
            NameRule::Reserved => f.write_str(
                "it names this certificate authority's own web server (or, as a wildcard, covers its name), \
                 so only an administrator may issue for it",
            ),
            NameRule::Subtree(why) => f.write_str(why),
        }
    }
}

impl Error {
    /// True when the caller's input was refused (exit status 2 / HTTP 4xx), false when the
    /// authority itself failed (exit status 1 / HTTP 500).
    pub fn is_refusal(&self) -> bool {
        match self {
            Error::NameRefused { .. }
            | Error::NameNotPermitted { .. }
            | Error::NoNames
            | Error::TooManyNames { .. }
            | Error::WeakKey { .. }
            | Error::KeyTooLarge { .. }
            | Error::UnsupportedKey { .. }
            | Error::UnknownChoice { .. }
            | Error::ValidityTooLong { .. }
            | Error::ValidityTooShort
            | Error::RootExpired { .. }
            | Error::InvalidRequest(_)
            | Error::BadRequestSignature
            | Error::UnsupportedTemplate { .. }
            | Error::NotFound(_)
            | Error::Conflict(_)
            | Error::UserExists(_)
            | Error::InvalidInput(_)
            | Error::NotInitialised(_)
            | Error::AlreadyInitialised(_)
            | Error::LogInUse { .. }
            | Error::LogMoved { .. }
            | Error::Backup(_) => true,
            Error::Store(StoreError::NotFound) => true,
            Error::RootMissing(_)
            | Error::CreationUnfinished(_)
            | Error::KeyWithoutRoot(_)
            | Error::RestoreUnfinished(_)
            | Error::LogMissing(_)
            | Error::LogEmpty(_)
            | Error::LogOfAnotherRoot { .. }
            | Error::LogOutdated(_)
            | Error::SchemaNotOwned(_)
            | Error::LogAltered { .. }
            | Error::FolderExposed { .. }
            | Error::CaKeyNotOwned { .. }
            | Error::FolderNotOwned { .. }
            | Error::Unreadable { .. }
            | Error::CaKeyExposed { .. }
            | Error::CaKeyLocked { .. }
            | Error::CaKeyPassphrase { .. }
            | Error::CaKey(_)
            | Error::RandomUnavailable
            | Error::Io { .. }
            | Error::Store(_)
            | Error::Interrupted
            | Error::Crypto(_) => false,
        }
    }

    /// True when what failed is, or may be, in the log all the same: committed but not
    /// confirmed on disk ([`StoreError::Unconfirmed`]), or a commit whose flush failed
    /// ([`StoreError::Unflushed`]). What was made for it (a new key) is kept, not removed.
    pub fn may_be_in_the_log(&self) -> bool {
        matches!(
            self,
            Error::Store(StoreError::Unconfirmed { .. } | StoreError::Unflushed(_))
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn name(name: impl Into<String>, rule: NameRule) -> Self {
        Error::NameRefused {
            name: name.into(),
            rule,
        }
    }
}

impl From<InvalidDatabaseUrl> for Error {
    fn from(err: InvalidDatabaseUrl) -> Self {
        Error::InvalidInput(err.to_string())
    }
}

impl From<rcgen::Error> for Error {
    fn from(err: rcgen::Error) -> Self {
        Error::Crypto(err.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::Newer(version),
            err => StoreError::Migrate(err),
        }
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
    #[error("the issuance log's tables could not be made or brought up to date: {}", migrate_words(.0))]
    Migrate(sqlx::migrate::MigrateError),
    /// The log was brought up to date by a newer release: it records a change of its schema
    /// that this release does not know.
    #[error(
        "the issuance log was brought up to date by a newer release (its change {0} is unknown to this one): run that release or a later one"
    )]
    Newer(i64),
    /// The database reported an error.
    #[error("the issuance log failed: {}", database_words(.0))]
    Database(sqlx::Error),
    /// A certificate with this serial number is already in the log.
    #[error("the serial number is already in the log")]
    DuplicateSerial,
    /// A group of writes could not be committed.
    #[error("the issuance log could not commit: {0}")]
    Commit(String),
    /// Rows could not be read (SQLite's own words).
    #[error("the issuance log could not be read: {0}")]
    Read(String),
    /// A row holds a value this version cannot read.
    #[error("the issuance log holds an unreadable value: {0}")]
    Corrupt(String),
    /// Issuances committed to a SQLite log whose flush to disk then failed: in the log, and
    /// valid, unless a crash loses them before the disk is sound again.
    #[error(
        "certificate {certificates} is in the log, but the disk did not confirm writing it \
         ({reason}), so a crash may yet lose it; it is issued and valid, and nothing of it was \
         written here"
    )]
    Unconfirmed {
        certificates: String,
        reason: String,
    },
    /// A commit whose flush to disk failed: SQLite wrote its frames all the same, and the next
    /// opening of the log recovers them when they reached the disk.
    #[error(
        "the issuance log could not commit: {0}; a write whose flush failed may be in the log \
         all the same once it is opened again: look for it there before trying again"
    )]
    Unflushed(String),
    /// The database cannot be reached now (a PostgreSQL server that is down, restarting or
    /// cut off; no connection within the time allowed): trying again later may succeed.
    #[error("the issuance log cannot be reached: {0}")]
    Unavailable(String),
    /// PostgreSQL refused the role this runs as (SQLSTATE 42501): it lacks a grant, as a
    /// runtime role does after an upgrade whose new grants were not given to it yet.
    #[error("PostgreSQL refused the role this runs as: {0}")]
    NotGranted(String),
}

/// What the database said, without the driver's wrapping ("error returned from database:
/// (code: 1544)") around its own words.
fn database_words(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// Why a migration failed: the database's own words when it refused a statement.
fn migrate_words(err: &sqlx::migrate::MigrateError) -> String {
    match err {
        sqlx::migrate::MigrateError::Execute(err)
        | sqlx::migrate::MigrateError::ExecuteMigration(err, _) => database_words(err),
        other => other.to_string(),
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
            // PostgreSQL away or refusing connections, not the request wrong: SQLSTATE class
            // 08 (connection exception), 28 (the login refused, as after a password change),
            // 53 (too many connections, disk or memory full), 57 (shutting down, starting,
            // cancelled), 3D000 (the database gone) and 55000 (a database not accepting
            // connections).
            // Its code goes last, where no name the message quotes can put it: what to do is
            // chosen by it, whatever the server's words (and their language).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|code| {
                    ["08", "28", "53", "57"]
                        .iter()
                        .any(|class| code.starts_with(class))
                        || code == "3D000"
                        || code == "55000"
                }) =>
            {
                let code = db.code().unwrap_or_default().into_owned();
                StoreError::Unavailable(format!("{} (SQLSTATE {code})", db.message()))
            }
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code == "42501") => {
                StoreError::NotGranted(db.message().to_owned())
            }
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
