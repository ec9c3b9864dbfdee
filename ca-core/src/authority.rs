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
use std::str::FromStr;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use tracing::instrument;

use crate::certificate::{Fingerprint, SerialNumber, certificate_pem};
use crate::error::{Error, Result};
use crate::files::{PUBLIC_MODE, SECRET_MODE, write_atomic};
use crate::key::{self, KeyAlgorithm, Passphrase};
use crate::name::{DnsName, NamePolicy, PermittedSubtree, SubjectName};
use crate::profile::Validity;
use crate::store::Store;

const ROOT_CERT: &str = "root.crt";
const ROOT_KEY: &str = "root.key";
const STORE: &str = "ca.db";
const INIT_LOCK: &str = "init.lock";

/// What happens to requests that arrive over the web.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RequestPolicy {
    /// Issued at once.
    Auto,
    /// Left pending until an admin approves or denies them.
    #[default]
    Pending,
}

impl RequestPolicy {
    /// The name used on the command line and in the store.
    pub fn name(self) -> &'static str {
        match self {
            RequestPolicy::Auto => "auto",
            RequestPolicy::Pending => "pending",
        }
    }
}

impl FromStr for RequestPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(RequestPolicy::Auto),
            "pending" => Ok(RequestPolicy::Pending),
            other => Err(Error::InvalidInput(format!(
                "unknown request policy '{other}': use auto or pending"
            ))),
        }
    }
}

/// How to create a new CA.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The root's subject CN; by default "<domain or host name> Root CA".
    pub name: Option<String>,
    pub key: KeyAlgorithm,
    /// The root's validity in days; by default ten years.
    pub days: Option<u32>,
    /// Name constraints: the root can vouch only for names in these subtrees.
    pub permitted: Vec<PermittedSubtree>,
    /// The public base URL of this CA's web pages, for CRL and AIA pointers.
    pub url: Option<String>,
    pub policy: RequestPolicy,
    /// Encrypts the root key at rest.
    pub passphrase: Option<Passphrase>,
    /// Recorded in the audit trail.
    pub actor: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            name: None,
            key: KeyAlgorithm::Rsa3072,
            days: None,
            permitted: Vec::new(),
            url: None,
            policy: RequestPolicy::default(),
            passphrase: None,
            actor: "ca".into(),
        }
    }
}

/// The root certificate, parsed once.
#[derive(Clone, Debug)]
pub struct Root {
    der: Vec<u8>,
    common_name: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_algorithm: KeyAlgorithm,
    permitted: Vec<PermittedSubtree>,
    key_identifier: Vec<u8>,
}

impl Root {
    /// DER of the root certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM of the root certificate.
    pub fn pem(&self) -> String {
        certificate_pem(&self.der)
    }

    /// The subject CN.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }

    /// The root's permitted subtrees; empty when it has no name constraints.
    pub fn permitted(&self) -> &[PermittedSubtree] {
        &self.permitted
    }

    /// The subjectKeyIdentifier, which every leaf and CRL names as its authorityKeyIdentifier.
    pub fn key_identifier(&self) -> &[u8] {
        &self.key_identifier
    }

    /// SHA-256 fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.der)
    }

    fn parse(der: Vec<u8>) -> Result<Root> {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let bad = |why: &str| {
            Error::CaKey(format!(
                "{ROOT_CERT} is not a usable root certificate: {why}"
            ))
        };
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|_| bad("it does not parse"))?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let key_algorithm =
            KeyAlgorithm::of_public_key(cert.public_key()).map_err(|_| bad("unsupported key"))?;
        let mut permitted = Vec::new();
        let mut key_identifier = Vec::new();
        for ext in cert.extensions() {
            if let ParsedExtension::SubjectKeyIdentifier(ski) = ext.parsed_extension() {
                key_identifier = ski.0.to_vec();
            }
            if let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() {
                for subtree in nc.permitted_subtrees.iter().flatten() {
                    match &subtree.base {
                        GeneralName::DNSName(domain) => {
                            permitted.push(PermittedSubtree::Dns(domain.parse::<DnsName>()?));
                        }
                        GeneralName::IPAddress(bytes) => permitted.push(parse_ip_subtree(bytes)?),
                        _ => {}
                    }
                }
            }
        }
        Ok(Root {
            common_name,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_algorithm,
            permitted,
            key_identifier,
            der,
        })
    }
}

/// The CA's settings, kept in the store.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The public base URL of the pages, for CRL distribution points and AIA.
    pub url: Option<String>,
    pub policy: RequestPolicy,
    /// Days from a CRL's thisUpdate to its nextUpdate.
    pub crl_days: u32,
}

impl Settings {
    /// The settings as the store holds them now.
    pub async fn read(store: &Store) -> Result<Settings> {
        // One query: a server reads these for every issuance.
        let values = store.settings(&["url", "policy", "crl_days"]).await?;
        let get = |key: &str| {
            values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        Ok(Settings {
            url: get("url").map(str::to_owned),
            policy: get("policy").unwrap_or("pending").parse()?,
            crl_days: match get("crl_days") {
                Some(days) => parse_crl_days(days)?,
                None => crate::crl::DEFAULT_CRL_DAYS,
            },
        })
    }
}

/// The settings `ca config set` changes.
pub const SETTINGS: &[&str] = &["url", "policy", "crl-days"];

/// An open certificate authority.
pub struct Authority {
    dir: PathBuf,
    root: Root,
    settings: Settings,
    store: Store,
    passphrase: Option<Passphrase>,
    issuer: OnceLock<Issuer<'static, KeyPair>>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("root", &self.root.common_name)
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
    pub async fn init(dir: &Path, options: InitOptions, max_connections: u32) -> Result<Authority> {
        match Self::open_or_init(dir, options, max_connections).await? {
            (authority, true) => Ok(authority),
            (_, false) => Err(Error::AlreadyInitialised(dir.to_owned())),
        }
    }

    /// Opens the CA in `dir`, creating it with `options` first if there is none. The flag says
    /// whether it was created. Safe against several processes doing this at once.
    #[instrument(skip_all)]
    pub async fn open_or_init(
        dir: &Path,
        options: InitOptions,
        max_connections: u32,
    ) -> Result<(Authority, bool)> {
        if Self::exists(dir) {
            let authority = Self::open(dir, options.passphrase, max_connections).await?;
            return Ok((authority, false));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| Error::io(dir, err))?;
        let _lock = crate::store::lock_file(&dir.join(INIT_LOCK))?;
        if Self::exists(dir) {
            let authority = Self::open(dir, options.passphrase, max_connections).await?;
            return Ok((authority, false));
        }
        let name = match options.name {
            Some(name) => checked_root_name(&name)?,
            None => default_root_name(options.permitted.iter().find_map(|p| match p {
                PermittedSubtree::Dns(domain) => Some(domain),
                PermittedSubtree::Ip { .. } => None,
            })),
        };
        if let Some(url) = &options.url {
            check_url(url)?;
        }
        let validity = Validity::root(options.days, OffsetDateTime::now_utc())?;
        let key_pair = options.key.generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, name.clone());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(
            SerialNumber::random()?.as_bytes(),
        ));
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.name_constraints = name_constraints(&options.permitted);
        let certificate = params.self_signed(&key_pair)?;

        let store = Store::open(&dir.join(STORE), max_connections).await?;
        let permitted: Vec<String> = options.permitted.iter().map(ToString::to_string).collect();
        let mut settings = vec![
            ("name", name.clone()),
            ("key_algorithm", options.key.name().to_owned()),
            ("policy", options.policy.name().to_owned()),
            ("permitted", permitted.join(" ")),
            ("renewals", "0".to_owned()),
        ];
        if let Some(url) = &options.url {
            settings.push(("url", url.trim_end_matches('/').to_owned()));
        }
        store.set_settings(&options.actor, &settings).await?;
        store
            .audit(
                &options.actor,
                "init",
                &name,
                &format!(
                    "{} root, valid until {}",
                    options.key,
                    validity.not_after.date()
                ),
            )
            .await?;

        let key_pem =
            key::encode_pkcs8_pem(key_pair.serialized_der(), options.passphrase.as_ref())?;
        write_atomic(&dir.join(ROOT_KEY), key_pem.as_bytes(), SECRET_MODE)?;
        write_atomic(
            &dir.join(ROOT_CERT),
            certificate.pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        let authority = Self::open_with_store(dir, store, options.passphrase).await?;
        // The key was just made: keep it rather than read it back.
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(authority.root.der()), key_pair)?;
        let _ = authority.issuer.set(issuer);
        Ok((authority, true))
    }

    /// Opens the CA in `dir`. The root key is read (and decrypted with `passphrase`) only when
    /// something is signed, so read-only commands work without the passphrase.
    #[instrument(skip_all)]
    pub async fn open(
        dir: &Path,
        passphrase: Option<Passphrase>,
        max_connections: u32,
    ) -> Result<Authority> {
        if !Self::exists(dir) {
            return Err(Error::NotInitialised(dir.to_owned()));
        }
        let store = Store::open(&dir.join(STORE), max_connections).await?;
        Self::open_with_store(dir, store, passphrase).await
    }

    async fn open_with_store(
        dir: &Path,
        store: Store,
        passphrase: Option<Passphrase>,
    ) -> Result<Authority> {
        let path = dir.join(ROOT_CERT);
        let pem = fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|_| Error::CaKey(format!("{} is not a PEM certificate", path.display())))?;
        if label != "CERTIFICATE" {
            return Err(Error::CaKey(format!(
                "{} is not a PEM certificate",
                path.display()
            )));
        }
        let root = Root::parse(der)?;
        let settings = Settings::read(&store).await?;
        Ok(Authority {
            dir: dir.to_owned(),
            root,
            settings,
            store,
            passphrase,
            issuer: OnceLock::new(),
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
    /// [`Authority::current_settings`] instead, so `ca config set` takes effect at once.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings as the store holds them now (another process may have changed them).
    pub async fn current_settings(&self) -> Result<Settings> {
        Settings::read(&self.store).await
    }

    /// Changes a setting (`url`, `policy` or `crl-days`) for this and every later process.
    pub async fn set_setting(&mut self, key: &str, value: &str, actor: &str) -> Result<()> {
        let value = value.trim();
        match key {
            "url" => {
                check_url(value)?;
                let url = value.trim_end_matches('/').to_owned();
                self.store
                    .set_settings(actor, &[("url", url.clone())])
                    .await?;
                self.settings.url = Some(url);
            }
            "policy" => {
                let policy: RequestPolicy = value.parse()?;
                self.store
                    .set_settings(actor, &[("policy", policy.name().to_owned())])
                    .await?;
                self.settings.policy = policy;
            }
            "crl-days" => {
                let days = parse_crl_days(value)?;
                self.store
                    .set_settings(actor, &[("crl_days", days.to_string())])
                    .await?;
                self.settings.crl_days = days;
            }
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown setting '{other}': use one of {}",
                    SETTINGS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The issuance log.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The name policy for a request: the root's constraints, and internal names if allowed.
    pub fn name_policy(&self, allow_internal: bool) -> NamePolicy {
        NamePolicy {
            allow_internal,
            permitted: self.root.permitted.clone(),
        }
    }

    /// Checks `names` against the name policy and the root's own name.
    pub fn check_names(
        &self,
        names: &[SubjectName],
        allow_internal: bool,
    ) -> Result<Vec<SubjectName>> {
        let names = self.name_policy(allow_internal).check(names)?;
        if let Some(clash) = names
            .iter()
            .find(|n| n.to_string().eq_ignore_ascii_case(&self.root.common_name))
        {
            return Err(Error::invalid_name(
                clash.to_string(),
                "it is the root's own name; a server certificate must not share it, \
                 or clients mistake one for the other",
            ));
        }
        Ok(names)
    }

    /// Checks the data folder: the log (see [`Store::check`]), that every certificate in it
    /// was signed by this root, and, when the key can be read, that the key is the root's.
    pub async fn check(&self) -> Result<Vec<String>> {
        let (mut problems, _) = self.store.check().await?;
        let (_, root) = x509_parser::parse_x509_certificate(&self.root.der)
            .map_err(|_| Error::CaKey("the root certificate does not parse".into()))?;
        let rows = self
            .store
            .list(&crate::store::ListFilter::default())
            .await?;
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

    /// The root's signer, reading the key file on first use.
    pub(crate) fn issuer(&self) -> Result<&Issuer<'static, KeyPair>> {
        if let Some(issuer) = self.issuer.get() {
            return Ok(issuer);
        }
        let path = self.dir.join(ROOT_KEY);
        let what = path.display().to_string();
        let meta = fs::metadata(&path).map_err(|err| Error::io(&path, err))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::CaKey(format!(
                "{what} is readable by other users (mode {mode:o}): run `chmod 600 {what}` and try again"
            )));
        }
        let pem = fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
        let der = key::decode_pkcs8_pem(&pem, self.passphrase.as_ref(), &what)?;
        let key_pair = key::key_pair_from_pkcs8(&der, self.root.key_algorithm, &what)?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(self.root.der()), key_pair)?;
        Ok(self.issuer.get_or_init(|| issuer))
    }
}

/// "example.com Root CA" for a CA whose first permitted domain, or first certificate, is under
/// example.com; else "<host name> Root CA".
pub fn default_root_name(domain: Option<&DnsName>) -> String {
    let base = match domain {
        Some(domain) => {
            let name = domain.as_str().trim_start_matches("*.");
            let labels: Vec<&str> = name.split('.').collect();
            if labels.len() >= 3 {
                labels[1..].join(".")
            } else {
                name.to_owned()
            }
        }
        None => fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "Private".to_owned()),
    };
    format!("{base} Root CA")
}

fn parse_crl_days(text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=365).contains(d))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{text}' is not a CRL lifetime: give 1 to 365 days"
            ))
        })
}

fn checked_root_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(Error::InvalidInput(
            "the root's name (--name) must be 1 to 64 characters: it becomes the certificate's CN"
                .into(),
        ));
    }
    if name.contains('.') && !name.contains(' ') && name.parse::<DnsName>().is_ok() {
        return Err(Error::InvalidInput(format!(
            "the root's name '{name}' looks like a host name; a root named like a server confuses clients \
             (and must never equal a name it issues for): choose a name such as 'Example Root CA'"
        )));
    }
    Ok(name.to_owned())
}

pub(crate) fn check_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{url}' is not an http:// or https:// URL; give the public base URL, as in http://mail.example.com"
            ))
        })?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if host.is_empty() || rest.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(format!("'{url}' has no host name")));
    }
    Ok(())
}

fn name_constraints(permitted: &[PermittedSubtree]) -> Option<NameConstraints> {
    if permitted.is_empty() {
        return None;
    }
    let mut permitted_subtrees = Vec::new();
    let mut has_ip = false;
    for subtree in permitted {
        match subtree {
            PermittedSubtree::Dns(domain) => {
                permitted_subtrees.push(GeneralSubtree::DnsName(domain.as_str().to_owned()))
            }
            PermittedSubtree::Ip { network, prefix } => {
                has_ip = true;
                permitted_subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                    *network, *prefix,
                )));
            }
        }
    }
    // RFC 5280 §4.2.1.10 constrains only the name types listed; without an IP range the root
    // would still vouch for any IP address, so every address is excluded explicitly.
    let excluded_subtrees = if has_ip {
        Vec::new()
    } else {
        vec![
            GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])),
            GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])),
        ]
    };
    Some(NameConstraints {
        permitted_subtrees,
        excluded_subtrees,
    })
}

fn parse_ip_subtree(bytes: &[u8]) -> Result<PermittedSubtree> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let prefix_of = |mask: &[u8]| mask.iter().map(|b| b.count_ones() as u8).sum::<u8>();
    match bytes.len() {
        8 => {
            let addr: [u8; 4] = bytes[..4]
                .try_into()
                .map_err(|_| Error::CaKey("bad IP constraint".into()))?;
            Ok(PermittedSubtree::Ip {
                network: IpAddr::V4(Ipv4Addr::from(addr)),
                prefix: prefix_of(&bytes[4..]),
            })
        }
        32 => {
            let addr: [u8; 16] = bytes[..16]
                .try_into()
                .map_err(|_| Error::CaKey("bad IP constraint".into()))?;
            Ok(PermittedSubtree::Ip {
                network: IpAddr::V6(Ipv6Addr::from(addr)),
                prefix: prefix_of(&bytes[16..]),
            })
        }
        _ => Err(Error::CaKey(
            "the root holds an IP name constraint of unknown length".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_root_name_comes_from_the_domain() {
        let name: DnsName = "mail.example.com".parse().unwrap();
        assert_eq!(default_root_name(Some(&name)), "example.com Root CA");
        let name: DnsName = "example.com".parse().unwrap();
        assert_eq!(default_root_name(Some(&name)), "example.com Root CA");
    }

    #[test]
    fn refuses_a_root_named_like_a_host() {
        assert!(checked_root_name("mail.example.com").is_err());
        assert!(checked_root_name("").is_err());
        assert_eq!(
            checked_root_name(" Example Root CA ").unwrap(),
            "Example Root CA"
        );
    }

    #[test]
    fn refuses_urls_that_are_not_http() {
        assert!(check_url("http://mail.example.com").is_ok());
        assert!(check_url("ftp://mail.example.com").is_err());
        assert!(check_url("http://").is_err());
    }

    #[tokio::test]
    async fn init_then_open_gives_the_same_root_and_refuses_a_second_init() {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            key: KeyAlgorithm::EcdsaP256,
            permitted: vec!["example.com".parse().unwrap()],
            ..InitOptions::default()
        };
        let created = Authority::init(dir.path(), options.clone(), 1)
            .await
            .unwrap();
        let opened = Authority::open(dir.path(), None, 1).await.unwrap();
        assert_eq!(created.root().der(), opened.root().der());
        assert_eq!(opened.root().common_name(), "example.com Root CA");
        assert_eq!(opened.root().permitted(), options.permitted.as_slice());
        assert!(matches!(
            Authority::init(dir.path(), options, 1).await,
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
        let options = InitOptions {
            key: KeyAlgorithm::EcdsaP256,
            ..InitOptions::default()
        };
        Authority::init(dir.path(), options, 1).await.unwrap();
        fs::set_permissions(dir.path().join(ROOT_KEY), fs::Permissions::from_mode(0o644)).unwrap();
        let opened = Authority::open(dir.path(), None, 1).await.unwrap();
        match opened.issuer() {
            Err(Error::CaKey(msg)) => assert!(msg.contains("chmod 600")),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
