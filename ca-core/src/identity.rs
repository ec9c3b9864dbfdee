//! The certificate the CA's own web server presents over HTTPS: issued by the CA itself for the server's
//! host names, kept in the data folder, and replaced before it expires.

use std::fs;

use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::authority::Authority;
use crate::certificate::{SerialNumber, pem_certificates};
use crate::error::{Error, Result};
use crate::files::{PUBLIC_MODE, SECRET_MODE, lock_file_waiting, write_atomic};
use crate::issue::IssueRequest;
use crate::key::{self, KeyAlgorithm};
use crate::name::{SubjectName, san_texts};
use crate::profile::Profile;
use crate::store::RequestSource;

pub use crate::store::SERVER_REQUESTER;

const SERVER_CERT: &str = "https.crt";
const SERVER_KEY: &str = "https.key";
/// Held while a server makes its HTTPS certificate and key.
const SERVER_LOCK: &str = "https.lock";
/// A server certificate is replaced once it has less than this left.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// A certificate chain and its key, for a TLS server.
#[derive(Clone)]
pub struct ServerIdentity {
    /// DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key: Vec<u8>,
    pub not_after: OffsetDateTime,
    /// The leaf's serial number.
    pub serial: SerialNumber,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Authority {
    /// The HTTPS identity in the data folder when it covers exactly `wanted`, has more than
    /// [`RENEW_BEFORE`] left and is not revoked; a revoked one is logged when `tell`.
    async fn usable_identity(
        &self,
        wanted: &[String],
        tell: bool,
    ) -> Result<Option<ServerIdentity>> {
        let Some(identity) = self.stored_identity(wanted) else {
            return Ok(None);
        };
        if identity.not_after - OffsetDateTime::now_utc() <= RENEW_BEFORE {
            return Ok(None);
        }
        match self.store().issuance_by_serial(&identity.serial).await {
            Ok(row)
                if row
                    .certificate
                    .as_ref()
                    .is_some_and(|c| c.revocation.is_some()) =>
            {
                if tell {
                    tracing::warn!(
                    id = row.id.get(),
                    serial = %identity.serial,
                    "the server's HTTPS certificate was revoked: a new one is issued in its place"
                    );
                }
                Ok(None)
            }
            Ok(_) | Err(Error::NotFound(_)) => Ok(Some(identity)),
            Err(err) => Err(err),
        }
    }

    /// The HTTPS identity for `names`: the one in the data folder while it covers exactly these
    /// names and has more than [`RENEW_BEFORE`] left, else a new one (recorded in the log like
    /// any certificate, its key kept mode 0600 beside the root's).
    #[instrument(skip_all)]
    pub async fn server_identity(&self, names: &[SubjectName]) -> Result<ServerIdentity> {
        let checked = self.check_names(names, true)?;
        let wanted: Vec<String> = checked.iter().map(ToString::to_string).collect();
        // These names are reserved: no requester may get a certificate for them.
        let reserved = wanted.join(" ");
        if self.current_settings().await?.server_names != checked {
            self.store()
                .set_settings(
                    "ca serve",
                    &[(
                        crate::settings::SERVER_NAMES,
                        Some(reserved.as_str()),
                        crate::store::Audit::Value,
                    )],
                )
                .await?;
        }
        if let Some(identity) = self.usable_identity(&wanted, true).await? {
            return Ok(identity);
        }
        // One server at a time makes it (two on one folder would each issue one, and could
        // leave one's key beside the other's certificate); another may have made it while
        // this one waited.
        let _lock = lock_file_waiting(self.dir().join(SERVER_LOCK)).await?;
        // Asked again (said once already, if it was revoked).
        if let Some(identity) = self.usable_identity(&wanted, false).await? {
            return Ok(identity);
        }
        let issued = self
            .issue(IssueRequest {
                names: names.to_vec(),
                key: KeyAlgorithm::EcdsaP256,
                days: None,
                profile: Profile::Server,
                allow_internal: true,
                requester: SERVER_REQUESTER.into(),
                source: RequestSource::Cli,
            })
            .await?;
        let private = issued
            .key
            .as_ref()
            .ok_or_else(|| Error::Crypto("no key was made for the server certificate".into()))?;
        write_atomic(
            &self.dir().join(SERVER_KEY),
            private.to_pem(None)?.as_bytes(),
            SECRET_MODE,
        )?;
        write_atomic(
            &self.dir().join(SERVER_CERT),
            issued.chain_pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        let not_after = issued
            .issuance
            .certificate
            .as_ref()
            .map(|c| c.not_after)
            .unwrap_or_else(OffsetDateTime::now_utc);
        Ok(ServerIdentity {
            chain: std::iter::once(issued.leaf.clone())
                .chain(issued.chain.iter().cloned())
                .collect(),
            key: private.pkcs8_der().to_vec(),
            not_after,
            serial: issued
                .issuance
                .certificate
                .as_ref()
                .map(|c| c.serial.clone())
                .ok_or_else(|| Error::Crypto("the server certificate has no serial".into()))?,
        })
    }

    /// True when the certificate with `serial` is the one the CA's own web server keeps in
    /// the data folder and presents.
    pub fn is_server_identity(&self, serial: &SerialNumber) -> bool {
        first_serial(&self.dir().join(SERVER_CERT)).is_some_and(|stored| &stored == serial)
    }

    /// True when `serial` is that of the certificate the OCSP responder signs with now.
    pub fn is_current_responder(&self, serial: &SerialNumber) -> bool {
        first_serial(&self.dir().join(crate::ocsp::signer::RESPONDER_CERT))
            .is_some_and(|stored| &stored == serial)
    }

    fn stored_identity(&self, wanted: &[String]) -> Option<ServerIdentity> {
        let chain_pem = fs::read(self.dir().join(SERVER_CERT)).ok()?;
        let key_path = self.dir().join(SERVER_KEY);
        let key_pem = fs::read_to_string(&key_path).ok()?;
        let chain = pem_certificates(&chain_pem)?;
        let leaf = chain.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        // Only a certificate this root signed, for exactly these names.
        if chain.get(1).map(Vec::as_slice) != Some(self.root().der()) {
            return None;
        }
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san_texts(&san.value.general_names)?,
            _ => return None,
        };
        if names != wanted {
            return None;
        }
        let key = key::decode_pkcs8_pem(&key_pem, None, &key_path).ok()?;
        Some(ServerIdentity {
            not_after: cert.validity().not_after.to_datetime(),
            serial: SerialNumber::from_bytes(cert.raw_serial()).ok()?,
            chain,
            key,
        })
    }
}

/// The serial of the first certificate in the PEM file at `path`, if it reads.
fn first_serial(path: &std::path::Path) -> Option<SerialNumber> {
    let pem = fs::read(path).ok()?;
    let leaf = pem_certificates(&pem)?.into_iter().next()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).ok()?;
    SerialNumber::from_bytes(cert.raw_serial()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn keeps_a_valid_identity_and_makes_a_new_one_for_new_names() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let names: Vec<SubjectName> =
            vec!["localhost".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let first = authority.server_identity(&names).await.unwrap();
        assert_eq!(first.chain.len(), 2);
        assert_eq!(first.chain[1], authority.root().der());
        let again = authority.server_identity(&names).await.unwrap();
        assert_eq!(
            again.chain, first.chain,
            "a valid certificate is kept across restarts"
        );
        let other: Vec<SubjectName> = vec!["mail.example.com".parse().unwrap()];
        let renamed = authority.server_identity(&other).await.unwrap();
        assert_ne!(
            renamed.chain[0], first.chain[0],
            "new names, new certificate"
        );
        assert!(authority.is_server_identity(&renamed.serial));
        assert!(!authority.is_server_identity(&first.serial));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(dir.path().join(SERVER_KEY))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_revoked_identity_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let names: Vec<SubjectName> = vec!["localhost".parse().unwrap()];
        let first = authority.server_identity(&names).await.unwrap();
        let row = authority
            .find(&crate::CertificateRef::Serial(first.serial.clone()))
            .await
            .unwrap();
        authority
            .revoke(row.id, crate::RevocationReason::KeyCompromise, "test")
            .await
            .unwrap();
        let again = authority.server_identity(&names).await.unwrap();
        assert_ne!(again.serial, first.serial);
        assert!(authority.is_server_identity(&again.serial));
    }
}
