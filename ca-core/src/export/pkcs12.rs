//! PKCS#12 / PFX files that IIS, Windows and OpenSSL 3 import (RFC 7292; DESIGN §4).
//!
//! `p12-keystore` labels every certificate bag with its subject DN and cannot add bag
//! attributes of its own, so it can write neither the friendlyName IIS lists ("the first name")
//! nor the Microsoft CSP-name attribute Exchange needs. The file is therefore assembled from the
//! RustCrypto types `p12-keystore` itself is built on: `pkcs12` (PFX, SafeBag, CertBag, MacData,
//! the RFC 7292 Appendix B key derivation), `cms` (ContentInfo, EncryptedData), `pkcs5` (PBES2),
//! and `des`/`cbc`/`hmac`/`sha1`/`sha2` for the ciphers and MACs. The tests read the result back
//! with `p12-keystore` and with `openssl pkcs12` (without `-legacy`).
//!
//! Layout, as OpenSSL and Windows write it:
//! ```text
//! PFX v3, MAC over the AuthenticatedSafe
//!   ContentInfo EncryptedData: CertBag(leaf)  friendlyName, localKeyID
//!                              CertBag(root)  (no attributes: Apple rejects a repeated localKeyID)
//!   ContentInfo Data:          PKCS8ShroudedKeyBag  friendlyName, localKeyID[, Microsoft CSP Name]
//! ```

use std::fmt;

use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use cms::cert::x509::attr::{Attribute, Attributes};
use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use der::asn1::{BmpString, ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Encode};
use hmac::{KeyInit, Mac};
use pkcs8::pkcs5::pbes2;
use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::pfx::{Pfx, Version};
use pkcs12::safe_bag::SafeBag;
use pkcs12::{CertBag, DigestInfo, MacData};
use sha1::Sha1;
use sha2::Sha256;

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::random::bytes as random;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
/// szOID_LOCAL_MACHINE_KEYSET's sibling: the CryptoAPI provider to import the key into.
const MS_CSP_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.17.1");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");

/// The provider Windows puts an imported RSA key in when the PFX names it: one that both
/// CryptoAPI (which Exchange's web services use) and CNG can reach.
pub const MS_ENHANCED_RSA_AES_CSP: &str = "Microsoft Enhanced RSA and AES Cryptographic Provider";

/// Which algorithms protect the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PfxProfile {
    /// pbeWithSHAAnd3-KeyTripleDES-CBC for both bags and an HMAC-SHA1 MAC: imports on every
    /// Windows from Server 2003 on, and in OpenSSL 3 without `-legacy`.
    #[default]
    Compat,
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC: Windows 10 1709 /
    /// Server 2019 and later (older Windows takes the password for a wrong one).
    Modern,
}

impl Choice for PfxProfile {
    const WHAT: &'static str = "PFX profile";
    const ALL: &'static [Self] = &[PfxProfile::Compat, PfxProfile::Modern];

    fn name(self) -> &'static str {
        match self {
            PfxProfile::Compat => "compat",
            PfxProfile::Modern => "modern",
        }
    }
}

impl fmt::Display for PfxProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl PfxProfile {
    /// The profile's name.
    pub fn name(self) -> &'static str {
        Choice::name(self)
    }

    /// What the choice means to the person making it.
    pub fn description(self) -> &'static str {
        match self {
            PfxProfile::Compat => "3DES/SHA-1, every Windows since Server 2003",
            PfxProfile::Modern => "AES-256/SHA-256, Windows Server 2019 and later",
        }
    }

    fn iterations(self) -> u32 {
        match self {
            // OpenSSL's and Windows' own figure for the legacy profile.
            PfxProfile::Compat => 2048,
            PfxProfile::Modern => 10_000,
        }
    }
}

/// A PFX password. Its `Debug` never shows it.
#[derive(Clone)]
pub struct PfxPassword(String);

impl PfxPassword {
    /// Wraps a password; an empty one is refused (it would leave the key unprotected, and
    /// Windows handles empty PFX passwords inconsistently).
    pub fn new(password: String) -> Result<Self> {
        if password.is_empty() {
            return Err(Error::InvalidInput(
                "the PFX password is empty: a PFX holds the private key, so give a password".into(),
            ));
        }
        if BmpString::from_utf8(&password).is_err() {
            return Err(Error::InvalidInput(
                "the PFX password has characters outside Unicode's Basic Multilingual Plane, which PKCS#12 cannot encode"
                    .into(),
            ));
        }
        Ok(PfxPassword(password))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PfxPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PfxPassword(<redacted>)")
    }
}

/// DER of a PFX holding `key`, its certificate `leaf` and the `chain` above it (nearest first).
pub fn pfx(
    key: &PrivateKey,
    leaf: &[u8],
    chain: &[&[u8]],
    friendly_name: &str,
    password: &PfxPassword,
    profile: PfxProfile,
) -> Result<Vec<u8>> {
    let local_key_id =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
    let mut leaf_attributes = Attributes::new();
    leaf_attributes
        .insert(bmp_attribute(FRIENDLY_NAME, friendly_name)?)
        .map_err(fail)?;
    leaf_attributes
        .insert(octet_attribute(LOCAL_KEY_ID, local_key_id.as_ref())?)
        .map_err(fail)?;
    let mut key_attributes = leaf_attributes.clone();
    if profile == PfxProfile::Compat && key.algorithm().is_rsa() {
        key_attributes
            .insert(bmp_attribute(MS_CSP_NAME, MS_ENHANCED_RSA_AES_CSP)?)
            .map_err(fail)?;
    }

    let mut cert_bags = vec![cert_bag(leaf, Some(leaf_attributes))?];
    for cert in chain {
        cert_bags.push(cert_bag(cert, None)?);
    }
    let (algorithm, encrypted) = encrypt(profile, password, &cert_bags.to_der().map_err(fail)?)?;
    let certs = ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: Any::encode_from(&EncryptedData {
            version: CmsVersion::V0,
            enc_content_info: EncryptedContentInfo {
                content_type: ID_DATA,
                content_enc_alg: algorithm,
                encrypted_content: Some(OctetString::new(encrypted).map_err(fail)?),
            },
            unprotected_attrs: None,
        })
        .map_err(fail)?,
    };

    let (algorithm, encrypted) = encrypt(profile, password, key.pkcs8_der())?;
    let shrouded = EncryptedPrivateKeyInfo {
        encryption_algorithm: algorithm,
        encrypted_data: OctetString::new(encrypted).map_err(fail)?,
    };
    let key_bags = vec![SafeBag {
        bag_id: SHROUDED_KEY_BAG,
        bag_value: shrouded.to_der().map_err(fail)?,
        bag_attributes: Some(key_attributes),
    }];
    let keys = data_content_info(&key_bags.to_der().map_err(fail)?)?;

    let auth_safe = vec![certs, keys].to_der().map_err(fail)?;
    let mac_data = mac(profile, password, &auth_safe)?;
    Pfx {
        version: Version::V3,
        auth_safe: data_content_info(&auth_safe)?,
        mac_data: Some(mac_data),
    }
    .to_der()
    .map_err(fail)
}

fn fail(err: der::Error) -> Error {
    Error::Crypto(format!("could not encode the PFX: {err}"))
}

fn bmp_attribute(oid: ObjectIdentifier, value: &str) -> Result<Attribute> {
    let value = BmpString::from_utf8(value).map_err(fail)?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::encode_from(&value).map_err(fail)?]).map_err(fail)?,
    })
}

fn octet_attribute(oid: ObjectIdentifier, value: &[u8]) -> Result<Attribute> {
    let value = OctetString::new(value).map_err(fail)?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::encode_from(&value).map_err(fail)?]).map_err(fail)?,
    })
}

fn cert_bag(der: &[u8], attributes: Option<Attributes>) -> Result<SafeBag> {
    let bag = CertBag {
        cert_id: X509_CERTIFICATE,
        cert_value: OctetString::new(der).map_err(fail)?,
    };
    Ok(SafeBag {
        bag_id: CERT_BAG,
        bag_value: bag.to_der().map_err(fail)?,
        bag_attributes: attributes,
    })
}

fn data_content_info(content: &[u8]) -> Result<ContentInfo> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(content).map_err(fail)?).map_err(fail)?,
    })
}

fn encrypt(
    profile: PfxProfile,
    password: &PfxPassword,
    data: &[u8],
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>)> {
    let iterations = profile.iterations();
    match profile {
        PfxProfile::Compat => {
            let salt = random::<8>()?;
            let rounds = iterations as i32;
            let key = derive_key_utf8::<Sha1>(
                password.expose(),
                &salt,
                Pkcs12KeyType::EncryptionKey,
                rounds,
                24,
            )
            .map_err(fail)?;
            let iv =
                derive_key_utf8::<Sha1>(password.expose(), &salt, Pkcs12KeyType::Iv, rounds, 8)
                    .map_err(fail)?;
            let cipher = cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .map_err(|_| Error::Crypto("bad 3DES key length".into()))?;
            let encrypted = cipher.encrypt_padded_vec::<Pkcs7>(data);
            let params = Pkcs12PbeParams {
                salt: OctetString::new(salt.to_vec()).map_err(fail)?,
                iterations: rounds,
            };
            Ok((
                AlgorithmIdentifierOwned {
                    oid: PBE_SHA1_3DES,
                    parameters: Some(Any::encode_from(&params).map_err(fail)?),
                },
                encrypted,
            ))
        }
        PfxProfile::Modern => {
            let salt = random::<16>()?;
            let iv = random::<16>()?;
            let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, &salt, iv)
                .map_err(|err| Error::Crypto(format!("PBES2 parameters: {err}")))?;
            // PBES2 takes the password as UTF-8 bytes, as OpenSSL and Windows do.
            let encrypted = params
                .encrypt(password.expose().as_bytes(), data)
                .map_err(|err| Error::Crypto(format!("PBES2 encryption failed: {err}")))?;
            Ok((
                AlgorithmIdentifierOwned {
                    oid: PBES2,
                    parameters: Some(Any::encode_from(&params).map_err(fail)?),
                },
                encrypted,
            ))
        }
    }
}

fn mac(profile: PfxProfile, password: &PfxPassword, data: &[u8]) -> Result<MacData> {
    let salt = random::<16>()?;
    let rounds = profile.iterations() as i32;
    let (oid, digest) = match profile {
        PfxProfile::Compat => {
            let key =
                derive_key_utf8::<Sha1>(password.expose(), &salt, Pkcs12KeyType::Mac, rounds, 20)
                    .map_err(fail)?;
            let mut hmac = hmac::Hmac::<Sha1>::new_from_slice(&key)
                .map_err(|_| Error::Crypto("bad MAC key".into()))?;
            hmac.update(data);
            (SHA1, hmac.finalize().into_bytes().to_vec())
        }
        PfxProfile::Modern => {
            let key =
                derive_key_utf8::<Sha256>(password.expose(), &salt, Pkcs12KeyType::Mac, rounds, 32)
                    .map_err(fail)?;
            let mut hmac = hmac::Hmac::<Sha256>::new_from_slice(&key)
                .map_err(|_| Error::Crypto("bad MAC key".into()))?;
            hmac.update(data);
            (SHA256, hmac.finalize().into_bytes().to_vec())
        }
    };
    Ok(MacData {
        mac: DigestInfo {
            algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: Some(Any::null()),
            },
            digest: OctetString::new(digest).map_err(fail)?,
        },
        mac_salt: OctetString::new(salt.to_vec()).map_err(fail)?,
        iterations: rounds,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::key::KeyAlgorithm;

    fn sample() -> (PrivateKey, Vec<u8>) {
        let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cert = params.self_signed(&pair).unwrap();
        (
            PrivateKey::new(KeyAlgorithm::EcdsaP256, &pair),
            cert.der().to_vec(),
        )
    }

    #[test]
    fn p12_keystore_reads_both_profiles_back() {
        let (key, leaf) = sample();
        let password = PfxPassword::new("pfx secret".into()).unwrap();
        for profile in [PfxProfile::Compat, PfxProfile::Modern] {
            let der = pfx(&key, &leaf, &[], "mail.example.com", &password, profile).unwrap();
            let store = p12_keystore::KeyStore::from_pkcs12(
                &der,
                "pfx secret",
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .unwrap();
            let (alias, chain) = store.private_key_chain().unwrap();
            assert_eq!(alias, "mail.example.com");
            assert_eq!(chain.key().as_der(), key.pkcs8_der());
            assert_eq!(chain.certs()[0].as_der(), leaf.as_slice());
            assert!(
                p12_keystore::KeyStore::from_pkcs12(
                    &der,
                    "wrong",
                    p12_keystore::Pkcs12ImportPolicy::Relaxed
                )
                .is_err()
            );
        }
    }

    #[test]
    fn refuses_an_empty_password() {
        assert!(PfxPassword::new(String::new()).is_err());
        assert!(!format!("{:?}", PfxPassword::new("hunter2".into()).unwrap()).contains("hunter2"));
    }
}
