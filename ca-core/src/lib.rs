//! `ca-core`: an embedded private certificate authority.
//!
//! The [`Authority`] holds the root and the issuance log; [`name`] decides which names may be
//! issued for; [`profile`] says what a certificate is for and how long; [`store`] records
//! everything. Nothing here knows of HTTP or terminals: errors state facts, and the command
//! line and the pages word them for their readers. ARCHITECTURE.md at the repository's root
//! maps every rule of DESIGN to its module.

pub mod acme;
mod acme_server;
pub mod authority;
pub mod certificate;
pub mod choice;
pub mod crl;
pub mod csr;
pub mod display;
pub mod enroll;
pub mod error;
pub mod export;
pub mod files;
pub mod identity;
pub mod issue;
pub mod key;
pub mod name;
pub mod ocsp;
pub mod probe;
pub mod profile;
pub mod random;
pub mod responder;
pub mod revoke;
pub mod root;
pub mod settings;
pub mod status;
pub mod store;
pub mod users;

pub use authority::{Authority, InitOptions, Links, OpenOptions};
pub use certificate::{Fingerprint, SerialNumber};
pub use choice::Choice;
pub use error::{Error, NameRule, Result, StoreError};
pub use issue::{IssueRequest, Issued};
pub use key::{KeyAlgorithm, Passphrase, PrivateKey};
pub use name::{DnsName, NamePolicy, PermittedSubtree, SubjectName};
pub use profile::{Profile, Validity};
pub use revoke::{Revocation, RevocationReason};
pub use root::{Root, RootSpec};
pub use settings::{RequestPolicy, Setting, Settings};
pub use store::{CertificateRef, Issuance, ListFilter, RequestId, RequestSource, Status};

/// What the unit tests of several modules share: a CA with a quick key in a folder.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use crate::{Authority, InitOptions, KeyAlgorithm, Links, OpenOptions, RootSpec};

    /// Links as a web layer would hand them in.
    pub(crate) const LINKS: Links = Links {
        crl: |base| format!("{base}/crl"),
        ca_issuers: |base| format!("{base}/root.cer"),
        ocsp: |base| format!("{base}/status"),
    };

    pub(crate) fn init(permitted: &[&str]) -> InitOptions {
        InitOptions {
            root: RootSpec {
                key: KeyAlgorithm::EcdsaP256,
                permitted: permitted.iter().map(|p| p.parse().unwrap()).collect(),
                ..RootSpec::default()
            },
            ..InitOptions::default()
        }
    }

    pub(crate) fn open() -> OpenOptions {
        OpenOptions {
            links: Some(LINKS),
            ..OpenOptions::default()
        }
    }

    /// A new CA in `dir` with an ECDSA root and no name constraints.
    pub(crate) async fn authority(dir: &Path) -> Authority {
        Authority::init(dir, init(&[]), open()).await.unwrap()
    }
}
