//! The authority: the root key and certificate, the CA's settings, and the issuance log, all in
//! one data folder.
//!
//! ```text
//! DIR/root.crt   the root certificate (PEM); its presence marks an initialised folder
//! DIR/root.key   the root key, PKCS#8 PEM, mode 0600, encrypted when a passphrase was given
//! DIR/ca.db      the issuance log (SQLite, WAL)
//! ```

use std::fmt;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::crl::{self, Crl};
use crate::error::{Error, NameRule, Result};
use crate::files::{PUBLIC_MODE, SECRET_MODE, lock_file, write_atomic};
use crate::key::{self, Passphrase};
use crate::name::{NamePolicy, SubjectName};
use crate::revoke::RevocationReason;
use crate::root::{Root, RootSpec};
use crate::settings::{RequestPolicy, Setting, Settings};
use crate::store::{CertificateRef, Issuance, ListFilter, RequestId, Store};

const ROOT_CERT: &str = "root.crt";
const ROOT_KEY: &str = "root.key";
const STORE: &str = "ca.db";
const INIT_LOCK: &str = "init.lock";

/// Where clients fetch the CA's public files, given its public base URL. The web layer owns
/// the paths; the authority only writes the URLs into certificates.
#[derive(Clone, Copy)]
pub struct Links {
    /// The CRL distribution point (RFC 5280 §4.2.1.13).
    pub crl: fn(&str) -> String,
    /// The AIA caIssuers location of the root certificate (RFC 5280 §4.2.2.1).
    pub ca_issuers: fn(&str) -> String,
}

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Links")
    }
}

/// How to open a CA.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Decrypts the root key, when it is encrypted.
    pub passphrase: Option<Passphrase>,
    /// Connections to the log a process keeps.
    pub connections: u32,
    /// The URLs certificates point at; without them certificates carry no CRL or AIA links.
    pub links: Option<Links>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            passphrase: None,
            connections: 1,
            links: None,
        }
    }
}

/// How to create a new CA.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub root: RootSpec,
    /// The public base URL of this CA's web pages, for CRL and AIA pointers.
    pub url: Option<String>,
    pub policy: RequestPolicy,
    /// Recorded in the audit trail.
    pub actor: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            root: RootSpec::default(),
            url: None,
            policy: RequestPolicy::default(),
            actor: "ca".into(),
        }
    }
}

/// An open certificate authority.
pub struct Authority {
    dir: PathBuf,
    root: Root,
    settings: Settings,
    store: Store,
    passphrase: Option<Passphrase>,
    links: Option<Links>,
    issuer: OnceLock<Issuer<'static, KeyPair>>,
    /// The CRL last signed, and the revocation marker of the log when it was signed.
    crl: tokio::sync::Mutex<Option<(Crl, (i64, i64))>>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("root", &self.root.common_name())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// True when `dir` holds a CA.
    pub fn exists(dir: &Path) -> bool {
        dir.join(ROOT_CERT).is_file()
    }

    /// Creates a new CA in `dir` (made if missing, mode 0700). Refuses if one exists.
    #[instrument(skip_all)]
    pub async fn init(dir: &Path, init: InitOptions, open: OpenOptions) -> Result<Authority> {
        match Self::open_or_init(dir, init, open).await? {
            (authority, true) => Ok(authority),
            (_, false) => Err(Error::AlreadyInitialised(dir.to_owned())),
        }
    }

    /// Opens the CA in `dir`, creating it with `init` first if there is none. The flag says
    /// whether it was created. Safe against several processes doing this at once.
    #[instrument(skip_all)]
    pub async fn open_or_init(
        dir: &Path,
        init: InitOptions,
        open: OpenOptions,
    ) -> Result<(Authority, bool)> {
        if Self::exists(dir) {
            return Ok((Self::open(dir, open).await?, false));
        }
        // Everything that can be refused is checked before anything is written.
        let name = init.root.common_name()?;
        let settings = Settings::initial(init.url.as_deref(), init.policy)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| Error::io(dir, err))?;
        let _lock = lock_file(&dir.join(INIT_LOCK))?;
        if Self::exists(dir) {
            return Ok((Self::open(dir, open).await?, false));
        }
        let (key_pair, certificate) = init.root.make()?;
        let store = Store::open(&dir.join(STORE), open.connections).await?;
        store.set_settings(&init.actor, &settings).await?;
        store
            .audit(
                &init.actor,
                "init",
                &name,
                &format!("{} root", init.root.key),
            )
            .await?;
        let key_pem = key::encode_pkcs8_pem(key_pair.serialized_der(), open.passphrase.as_ref())?;
        write_atomic(&dir.join(ROOT_KEY), key_pem.as_bytes(), SECRET_MODE)?;
        write_atomic(
            &dir.join(ROOT_CERT),
            certificate.pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        let authority = Self::open_with_store(dir, store, open).await?;
        // The key was just made: keep it rather than read it back.
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(authority.root.der()), key_pair)?;
        let _ = authority.issuer.set(issuer);
        Ok((authority, true))
    }

    /// Opens the CA in `dir`. The root key is read (and decrypted with the passphrase) only
    /// when something is signed, so read-only commands work without the passphrase.
    #[instrument(skip_all)]
    pub async fn open(dir: &Path, open: OpenOptions) -> Result<Authority> {
        if !Self::exists(dir) {
            return Err(Error::NotInitialised(dir.to_owned()));
        }
        let store = Store::open(&dir.join(STORE), open.connections).await?;
        Self::open_with_store(dir, store, open).await
    }

    async fn open_with_store(dir: &Path, store: Store, open: OpenOptions) -> Result<Authority> {
        let path = dir.join(ROOT_CERT);
        let pem = fs::read(&path).map_err(|err| Error::io(&path, err))?;
        let der = crate::certificate::pem_certificates(&pem)
            .and_then(|certs| certs.into_iter().next())
            .ok_or_else(|| Error::CaKey(format!("{} is not a PEM certificate", path.display())))?;
        let root = Root::parse(der, &path.display().to_string())?;
        let settings = Settings::read(&store).await?;
        Ok(Authority {
            dir: dir.to_owned(),
            root,
            settings,
            store,
            passphrase: open.passphrase,
            links: open.links,
            issuer: OnceLock::new(),
            crl: tokio::sync::Mutex::new(None),
        })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root certificate.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The CA's settings as they were when it was opened; a long-running server reads
    /// [`Authority::current_settings`] instead, so a change made by another process takes effect at once.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings as the log holds them now (another process may have changed them).
    pub async fn current_settings(&self) -> Result<Settings> {
        Settings::read(&self.store).await
    }

    /// Changes a setting for this and every later process.
    pub async fn set_setting(&mut self, setting: Setting, value: &str, actor: &str) -> Result<()> {
        let row = setting.normalise(value)?;
        self.store.set_settings(actor, &[row]).await?;
        self.settings = Settings::read(&self.store).await?;
        Ok(())
    }

    /// The issuance log, for the operations of this crate.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The URLs certificates point at, given the configured public base URL.
    pub(crate) fn links(&self) -> Option<Links> {
        self.links
    }

    /// Checks `names` against the name policy and the root's own name.
    pub fn check_names(
        &self,
        names: &[SubjectName],
        allow_internal: bool,
    ) -> Result<Vec<SubjectName>> {
        let policy = NamePolicy {
            allow_internal,
            permitted: self.root.permitted().to_vec(),
        };
        let names = policy.check(names)?;
        if let Some(clash) = names
            .iter()
            .find(|n| n.to_string().eq_ignore_ascii_case(self.root.common_name()))
        {
            return Err(Error::name(clash.to_string(), NameRule::RootName));
        }
        Ok(names)
    }

    /// The row of request `id`.
    pub async fn request(&self, id: RequestId) -> Result<Issuance> {
        self.store.issuance(id).await
    }

    /// The row of a certificate named by its request id or its serial number.
    pub async fn find(&self, reference: &CertificateRef) -> Result<Issuance> {
        match reference {
            CertificateRef::Id(id) => self.store.issuance(*id).await,
            CertificateRef::Serial(serial) => self.store.issuance_by_serial(serial).await,
        }
    }

    /// The rows matching `filter`, oldest first, without the certificates' DER.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Issuance>> {
        self.store.list(filter).await
    }

    /// How many users the pages have.
    pub async fn user_count(&self) -> Result<i64> {
        self.store.user_count().await
    }

    /// Revokes the certificate of request `id`.
    #[instrument(skip_all)]
    pub async fn revoke(
        &self,
        id: RequestId,
        reason: RevocationReason,
        actor: &str,
    ) -> Result<Issuance> {
        self.store.revoke(id, reason, actor).await
    }

    /// Signs a new CRL listing every revoked, unexpired certificate, valid for the configured
    /// number of days.
    #[instrument(skip_all)]
    pub async fn sign_crl(&self) -> Result<Crl> {
        let issuer = self.issuer()?;
        let days = self.current_settings().await?.crl_days;
        let revoked = self.store.revoked().await?;
        let number = self.store.next_crl_number().await?;
        let this_update = OffsetDateTime::now_utc();
        let next_update = this_update + Duration::days(i64::from(days.max(1)));
        crl::sign(
            &revoked,
            number,
            this_update,
            next_update,
            self.root.key_identifier(),
            issuer,
        )
    }

    /// The current CRL: signed anew when there is none yet, when a revocation was recorded
    /// since (by this process or another), or when half its lifetime has passed, so clients
    /// never hold one past its nextUpdate.
    #[instrument(skip_all)]
    pub async fn current_crl(&self) -> Result<Crl> {
        let marker = self.store.revocation_marker().await?;
        let mut cached = self.crl.lock().await;
        if let Some((crl, seen)) = cached.as_ref() {
            let half: Duration = (crl.next_update - crl.this_update) / 2;
            if *seen == marker
                && OffsetDateTime::now_utc() < crl.this_update + half.max(Duration::minutes(1))
            {
                return Ok(crl.clone());
            }
        }
        let crl = self.sign_crl().await?;
        *cached = Some((crl.clone(), marker));
        Ok(crl)
    }

    /// Checks the data folder: the log (SQLite's own checks and every certificate's
    /// fingerprint), that every certificate in it was signed by this root, and, when the key
    /// can be read, that the key is the root's.
    pub async fn check(&self) -> Result<Vec<String>> {
        let (mut problems, _) = self.store.check().await?;
        let (_, root) = x509_parser::parse_x509_certificate(self.root.der())
            .map_err(|_| Error::CaKey("the root certificate does not parse".into()))?;
        let rows = self.store.list(&ListFilter::default()).await?;
        for listed in rows.iter().filter(|r| r.certificate.is_some()) {
            // Lists leave the DER out; read each row whole.
            let row = self.store.issuance(listed.id).await?;
            if let Some(cert) = &row.certificate {
                let signed = x509_parser::parse_x509_certificate(&cert.der)
                    .ok()
                    .is_some_and(|(_, leaf)| {
                        leaf.verify_signature(Some(root.public_key())).is_ok()
                    });
                if !signed {
                    problems.push(format!("certificate {}: not signed by this root", row.id));
                }
            }
        }
        match self.issuer() {
            Ok(issuer) => {
                use rcgen::PublicKeyData;
                if issuer.key().subject_public_key_info() != root.public_key().raw {
                    problems.push(format!("{ROOT_KEY} is not the key of {ROOT_CERT}"));
                }
            }
            Err(err) => problems.push(format!("the root key could not be checked: {err}")),
        }
        Ok(problems)
    }

    /// Closes the log.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The root's signer, reading the key file on first use.
    pub(crate) fn issuer(&self) -> Result<&Issuer<'static, KeyPair>> {
        if let Some(issuer) = self.issuer.get() {
            return Ok(issuer);
        }
        let path = self.dir.join(ROOT_KEY);
        let meta = fs::metadata(&path).map_err(|err| Error::io(&path, err))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::CaKeyExposed { path, mode });
        }
        let pem = fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
        let der = key::decode_pkcs8_pem(&pem, self.passphrase.as_ref(), &path)?;
        let key_pair = key::key_pair_from_pkcs8(&der, self.root.key_algorithm(), &path)?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(self.root.der()), key_pair)?;
        Ok(self.issuer.get_or_init(|| issuer))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::KeyAlgorithm;

    pub(crate) fn quick() -> InitOptions {
        InitOptions {
            root: RootSpec {
                key: KeyAlgorithm::EcdsaP256,
                ..RootSpec::default()
            },
            ..InitOptions::default()
        }
    }

    #[tokio::test]
    async fn init_then_open_gives_the_same_root_and_refuses_a_second_init() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = quick();
        options.root.permitted = vec!["example.com".parse().unwrap()];
        let created = Authority::init(dir.path(), options.clone(), OpenOptions::default())
            .await
            .unwrap();
        let opened = Authority::open(dir.path(), OpenOptions::default())
            .await
            .unwrap();
        assert_eq!(created.root().der(), opened.root().der());
        assert_eq!(opened.root().common_name(), "example.com Root CA");
        assert_eq!(opened.root().permitted(), options.root.permitted.as_slice());
        assert_eq!(opened.settings().renewals, 0);
        assert!(matches!(
            Authority::init(dir.path(), options, OpenOptions::default()).await,
            Err(Error::AlreadyInitialised(_))
        ));
        let mode = fs::metadata(dir.path().join(ROOT_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn refuses_a_key_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        Authority::init(dir.path(), quick(), OpenOptions::default())
            .await
            .unwrap();
        fs::set_permissions(dir.path().join(ROOT_KEY), fs::Permissions::from_mode(0o644)).unwrap();
        let opened = Authority::open(dir.path(), OpenOptions::default())
            .await
            .unwrap();
        match opened.issuer() {
            Err(Error::CaKeyExposed { mode, .. }) => assert_eq!(mode, 0o644),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
