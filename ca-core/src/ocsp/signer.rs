//! The delegated OCSP responder (RFC 6960 §4.2.2.2): a certificate the root issues only to
//! sign OCSP responses, kept beside the root in the data folder with its key, so the root key
//! signs once a month instead of once per answer.
//!
//! ```text
//! DIR/ocsp.crt   the responder certificate (PEM)
//! DIR/ocsp.key   its ECDSA P-256 key, PKCS#8 PEM, mode 0600
//! ```

use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData, SigningKey,
};
use time::{Duration, OffsetDateTime};

use super::RESPONDER_RENEW_BEFORE;
use crate::certificate::{Fingerprint, SerialNumber, certificate_pem, pem_certificates};
use crate::error::Result;
use crate::files::{PUBLIC_MODE, SECRET_MODE, write_atomic};
use crate::key::{self, KeyAlgorithm};
use crate::profile::Validity;
use crate::root::{MAX_COMMON_NAME, Root};

/// The responder certificate's file in the data folder.
pub const RESPONDER_CERT: &str = "ocsp.crt";
/// The responder key's file in the data folder.
pub const RESPONDER_KEY: &str = "ocsp.key";
/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients need not ask about the responder.
const ID_PKIX_OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
/// The DER of the extension's value, NULL.
const NULL: [u8; 2] = [0x05, 0x00];

/// The responder's certificate and key, as read from the data folder and checked: issued by
/// the root, the key its own, not exposed to other users.
pub struct Responder {
    der: Vec<u8>,
    key: KeyPair,
    key_hash: Vec<u8>,
    info: ResponderInfo,
}

/// What people are told of the responder certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderInfo {
    pub serial: SerialNumber,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub sha256: Fingerprint,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("info", &self.info)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Responder {
    /// Reads the responder in `dir`. `None` when there is none, or when it cannot be used: not
    /// issued by `root`, a key that is not its own, or a key file others can read (its
    /// answers could be forged: a new responder replaces it).
    pub(crate) fn read(dir: &Path, root: &Root) -> Option<Responder> {
        let pem = fs::read(dir.join(RESPONDER_CERT)).ok()?;
        let der = pem_certificates(&pem)?.into_iter().next()?;
        let key_path = dir.join(RESPONDER_KEY);
        let meta = fs::metadata(&key_path).ok()?;
        if meta.permissions().mode() & 0o077 != 0
            || meta.uid() != rustix::process::geteuid().as_raw()
        {
            tracing::warn!(path = %key_path.display(), "the OCSP responder key is exposed to other users: a new responder replaces it");
            return None;
        }
        let key_pem = fs::read_to_string(&key_path).ok()?;
        let pkcs8 = key::decode_pkcs8_pem(&key_pem, None, &key_path).ok()?;
        let key = key::key_pair_from_pkcs8(&pkcs8, KeyAlgorithm::EcdsaP256, &key_path).ok()?;
        Self::from_parts(der, key, root)
    }

    /// The responder made of `der` and `key`, when `root` issued `der` and `key` is its key.
    pub(crate) fn from_parts(der: Vec<u8>, key: KeyPair, root: &Root) -> Option<Responder> {
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        let (_, issuer) = x509_parser::parse_x509_certificate(root.der()).ok()?;
        cert.verify_signature(Some(issuer.public_key())).ok()?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return None;
        }
        let key_hash = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &cert.public_key().subject_public_key.data,
        )
        .as_ref()
        .to_vec();
        let info = ResponderInfo {
            serial: SerialNumber::from_bytes(cert.raw_serial()).ok()?,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            sha256: Fingerprint::of(&der),
        };
        Some(Responder {
            der,
            key,
            key_hash,
            info,
        })
    }

    /// Writes a responder into `dir`: the key (mode 0600) first, then the certificate, so
    /// that a reader that finds the new certificate finds its key too.
    pub(crate) fn write(dir: &Path, der: &[u8], key: &KeyPair) -> Result<()> {
        let key_pem = key::encode_pkcs8_pem(&key.serialize_der(), None)?;
        write_atomic(&dir.join(RESPONDER_KEY), key_pem.as_bytes(), SECRET_MODE)?;
        write_atomic(
            &dir.join(RESPONDER_CERT),
            certificate_pem(der).as_bytes(),
            PUBLIC_MODE,
        )
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn info(&self) -> &ResponderInfo {
        &self.info
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.info.not_after
    }

    /// SHA-1 of the subjectPublicKey bits: the ResponderID byKey (RFC 6960 §4.2.2.3).
    pub(crate) fn key_hash(&self) -> &[u8] {
        &self.key_hash
    }

    /// True while it may sign: issued, and more than five minutes from its notAfter (the
    /// responses it signs end with it at the latest).
    pub fn can_sign(&self, now: OffsetDateTime) -> bool {
        self.info.not_before <= now && now + Duration::minutes(5) < self.info.not_after
    }

    /// True once it has less than [`RESPONDER_RENEW_BEFORE`] left.
    pub fn needs_renewal(&self, now: OffsetDateTime) -> bool {
        self.info.not_after - now < RESPONDER_RENEW_BEFORE
    }

    /// An ECDSA-Sig-Value over `data` with SHA-256.
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        Ok(self.key.sign(data)?)
    }
}

/// The subject common name of `root`'s OCSP responder certificates, which name no host: what
/// the lists show for their names.
pub fn responder_common_name(root: &Root) -> String {
    // The root's name is cut, never the suffix: a root named with 64 characters would
    // otherwise give its responder the root's own subject (a certificate whose subject is
    // its issuer's, which RFC 5280 calls self-issued).
    const SUFFIX: &str = " OCSP Responder";
    let room = MAX_COMMON_NAME - SUFFIX.chars().count();
    let name: String = root.common_name().chars().take(room).collect();
    format!("{}{SUFFIX}", name.trim_end())
}

/// The template of a responder certificate (RFC 6960 §4.2.2.2): a subject naming the root,
/// keyUsage digitalSignature (critical), extendedKeyUsage id-kp-OCSPSigning only, the nocheck
/// extension, CA=FALSE, and the root's key identifier; no CRL or OCSP pointer, since clients
/// do not check it.
pub(crate) fn params(root: &Root, serial: &SerialNumber, validity: &Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, responder_common_name(root));
    params.distinguished_name = subject;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            ID_PKIX_OCSP_NOCHECK,
            NULL.to_vec(),
        ));
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::responder_common_name;
    use crate::KeyAlgorithm;
    use crate::root::{Root, RootSpec};

    fn root_named(name: &str) -> Root {
        let spec = RootSpec {
            name: Some(name.to_owned()),
            key: KeyAlgorithm::EcdsaP256,
            ..RootSpec::default()
        };
        let (_, certificate) = spec.make().unwrap();
        Root::parse(certificate.der().to_vec(), "test").unwrap()
    }

    /// The responder's name always ends in "OCSP Responder" and is never the root's own, however
    /// long the root's name (a CN holds 64 characters).
    #[test]
    fn the_responders_name_is_never_the_roots() {
        assert_eq!(
            responder_common_name(&root_named("Example Root CA")),
            "Example Root CA OCSP Responder"
        );
        for length in [49, 50, 63, 64] {
            let root = root_named(&"R".repeat(length));
            let name = responder_common_name(&root);
            assert!(
                name.ends_with(" OCSP Responder")
                    && name.chars().count() <= 64
                    && name != root.common_name(),
                "{length}: {name}"
            );
        }
    }
}
