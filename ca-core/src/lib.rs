//! `ca-core`: an embedded private certificate authority.
//!
//! The [`Authority`] holds the root and the issuance log; [`name`] decides which names may be
//! issued for; [`profile`] says what a certificate is for and how long; [`store`] records
//! everything. Nothing here knows of HTTP or terminals.

pub mod authority;
pub mod certificate;
pub mod crl;
pub mod csr;
pub mod enroll;
pub mod error;
pub mod export;
pub mod files;
pub mod identity;
pub mod issue;
pub mod key;
pub mod name;
pub mod profile;
pub mod revoke;
pub mod store;
pub mod users;

pub use authority::{Authority, InitOptions, RequestPolicy, Root};
pub use certificate::{Fingerprint, SerialNumber};
pub use error::{Error, Result, StoreError};
pub use issue::{IssueRequest, Issued};
pub use key::{KeyAlgorithm, Passphrase, PrivateKey};
pub use name::{DnsName, NamePolicy, PermittedSubtree, SubjectName};
pub use profile::{Profile, Validity};
pub use store::{Issuance, ListFilter, Status, Store};
