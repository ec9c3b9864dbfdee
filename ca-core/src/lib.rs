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
pub mod interrupt;
pub mod issue;
pub mod key;
pub mod location;
pub mod metrics;
pub mod name;
pub mod notify;
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
mod tlv;
pub mod users;

pub use authority::{Authority, FolderProblem, InitOptions, Links, OpenOptions, ServingGuard};
pub use certificate::{Fingerprint, SerialNumber};
pub use choice::Choice;
pub use error::{Error, NameRule, Result, StoreError};
pub use issue::{IssueRequest, Issued, Signed};
pub use key::{KeyAlgorithm, Passphrase, PrivateKey};
pub use name::{DnsName, NamePolicy, PermittedSubtree, SubjectName};
pub use profile::{Profile, Validity};
pub use revoke::{Revocation, RevocationReason};
pub use root::{Root, RootSpec};
pub use settings::{RequestPolicy, Setting, Settings};
pub use store::{
    AuditEvent, AuditFilter, CertificateRef, CopyReport, DatabaseUrl, Issuance, ListFilter,
    ListKey, ListOrder, ListPage, LogLocation, NameSearch, OwnCertificate, RequestId,
    RequestSource, RoleName, Status,
};

/// True on a current-thread runtime (a command's, not the server's): there the caller has
/// nothing else to do while a blocking piece of work runs, and running it on the caller's own
/// thread saves handing it to another and waking the caller again.
pub(crate) fn on_current_thread() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// What the unit tests of several modules share: a CA with a quick key in a folder.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use crate::store::{DatabaseUrl, LogLocation};
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

    /// How the tests open the CA in `dir`: with its own PostgreSQL database when the suite
    /// runs against one (see [`database`]), else with the SQLite file in the folder.
    pub(crate) fn open_in(dir: &Path) -> OpenOptions {
        OpenOptions {
            links: Some(LINKS),
            database: database(dir),
            ..OpenOptions::default()
        }
    }

    /// Where the log of the CA in `dir` is, as [`open_in`] opens it.
    pub(crate) fn log_location(dir: &Path) -> LogLocation {
        open_in(dir).log_location(dir)
    }

    /// A new CA in `dir` with an ECDSA root and no name constraints.
    pub(crate) async fn authority(dir: &Path) -> Authority {
        Authority::init(dir, init(&[]), open_in(dir)).await.unwrap()
    }

    /// The database of the data folder `dir` when the suite runs against PostgreSQL
    /// (`$CA_TEST_POSTGRES`, the URL of a server's maintenance database): one per folder,
    /// made with `psql` on first use; `None` on SQLite.
    pub(crate) fn database(dir: &Path) -> Option<DatabaseUrl> {
        static MADE: Mutex<Option<HashMap<PathBuf, DatabaseUrl>>> = Mutex::new(None);
        let admin = std::env::var("CA_TEST_POSTGRES")
            .ok()
            .filter(|u| !u.is_empty())?;
        let mut made = MADE.lock().unwrap();
        let made = made.get_or_insert_with(HashMap::new);
        if let Some(url) = made.get(dir) {
            return Some(url.clone());
        }
        let name = format!("ca_unit_{}_{}", std::process::id(), made.len());
        let out = std::process::Command::new("psql")
            .args([
                admin.as_str(),
                "-qAtX",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql is needed to run the tests against PostgreSQL");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
        let url: DatabaseUrl = format!("{server}/{name}").parse().unwrap();
        made.insert(dir.to_owned(), url.clone());
        Some(url)
    }
}
