//! Key algorithms, key generation, and private keys as PKCS#8 PEM files.

use std::fmt;
use std::path::Path;

use der::Decode;
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfoRef, LineEnding};
use rcgen::{KeyPair, RsaKeySize, SignatureAlgorithm};

use crate::choice::Choice;
use crate::error::{Error, Result};

/// PBKDF2-HMAC-SHA256 iterations for encrypted key files (OWASP's 2023 figure).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// The shortest RSA key signed or made (CA/B Forum BR 6.1.5; NIST SP 800-131A).
pub const RSA_MIN_BITS: usize = 2048;
/// The longest RSA key accepted in a request.
pub const RSA_MAX_BITS: usize = 4096;

/// The key types the authority makes and accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
    EcdsaP384,
}

impl Choice for KeyAlgorithm {
    const WHAT: &'static str = "key type";
    const ALL: &'static [Self] = &[
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
        }
    }
}

impl KeyAlgorithm {
    /// The key of a server certificate unless asked otherwise: RSA-2048 works with every
    /// client back to Windows XP and Server 2003 (DESIGN §3).
    pub const LEAF_DEFAULT: KeyAlgorithm = KeyAlgorithm::Rsa2048;
    /// The key of a new root unless asked otherwise (DESIGN §3).
    pub const ROOT_DEFAULT: KeyAlgorithm = KeyAlgorithm::Rsa3072;

    /// The name used by people and in the log.
    pub fn name(self) -> &'static str {
        Choice::name(self)
    }

    /// What the choice means to the person making it.
    pub fn description(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA 2048 (works with every Windows since XP)",
            KeyAlgorithm::Rsa3072 => "RSA 3072",
            KeyAlgorithm::Rsa4096 => "RSA 4096",
            KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
            KeyAlgorithm::EcdsaP384 => "ECDSA P-384",
        }
    }

    /// True for RSA keys, which also get keyEncipherment in a server certificate.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    /// The signature this key makes: SHA-256 with RSA and P-256, SHA-384 with P-384.
    pub(crate) fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                &rcgen::PKCS_RSA_SHA256
            }
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }

    /// Makes a new key pair; an RSA key on the server's runtime on the blocking pool: an
    /// RSA-4096 key takes seconds of CPU, which must not hold up the threads that serve other
    /// requests. On a command's current-thread runtime the caller has nothing else to do, and
    /// an elliptic-curve key takes microseconds, less than handing it to another thread.
    pub(crate) async fn generate_off_thread(self) -> Result<KeyPair> {
        if crate::on_current_thread() || !self.is_rsa() {
            return self.generate();
        }
        tokio::task::spawn_blocking(move || self.generate())
            .await
            .map_err(|err| Error::Crypto(format!("key generation stopped: {err}")))?
    }

    /// Makes a new key pair from the operating system's CSPRNG.
    pub(crate) fn generate(self) -> Result<KeyPair> {
        let alg = self.signature_algorithm();
        let key = match self {
            KeyAlgorithm::Rsa2048 => KeyPair::generate_rsa_for(alg, RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => KeyPair::generate_rsa_for(alg, RsaKeySize::_3072),
            KeyAlgorithm::Rsa4096 => KeyPair::generate_rsa_for(alg, RsaKeySize::_4096),
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(alg),
        };
        key.map_err(|err| Error::Crypto(format!("could not generate a {} key: {err}", self.name())))
    }

    /// Identifies the algorithm of a parsed public key, if it is one the authority accepts.
    pub(crate) fn of_public_key(
        spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    ) -> Result<Self> {
        use x509_parser::public_key::PublicKey;
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let algorithm = match bit_length(rsa.modulus) {
                    bits if bits < RSA_MIN_BITS => Err(Error::WeakKey {
                        bits,
                        min: RSA_MIN_BITS,
                    }),
                    bits if bits <= 2048 => Ok(KeyAlgorithm::Rsa2048),
                    bits if bits <= 3072 => Ok(KeyAlgorithm::Rsa3072),
                    bits if bits <= RSA_MAX_BITS => Ok(KeyAlgorithm::Rsa4096),
                    bits => Err(Error::KeyTooLarge {
                        bits,
                        max: RSA_MAX_BITS,
                    }),
                }?;
                // An odd exponent of at least 3 (the Baseline Requirements §6.1.6), held in 32
                // bits: Windows keeps it in a DWORD (RSAPUBKEY's pubexp) and aws-lc, like
                // BoringSSL, verifies none past 33 bits, so a larger one would read as a
                // signature that does not verify.
                match rsa.try_exponent() {
                    Ok(e) if e >= 3 && e % 2 == 1 && e <= u64::from(u32::MAX) => Ok(algorithm),
                    found => Err(Error::InvalidRequest(format!(
                        "its RSA key's public exponent is {}: clients take an odd one from 3 to 4294967295 (Windows holds it in 32 bits); make the key again with the usual 65537",
                        found.map_or_else(
                            |_| "negative or past 64 bits".to_owned(),
                            |e| e.to_string()
                        )
                    ))),
                }
            }
            Ok(PublicKey::EC(point)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok());
                let (algorithm, length) = match curve.map(|oid| oid.to_id_string()).as_deref() {
                    Some("1.2.840.10045.3.1.7") => (KeyAlgorithm::EcdsaP256, 65),
                    Some("1.3.132.0.34") => (KeyAlgorithm::EcdsaP384, 97),
                    _ => {
                        return Err(Error::UnsupportedKey {
                            found: "an elliptic-curve key on a curve other than P-256 or P-384"
                                .into(),
                        });
                    }
                };
                // The uncompressed point alone: every client reads it (RFC 5480 §2.2), where
                // the compressed form is optional (Go's x509 refuses it) and the hybrid form
                // is not allowed at all. One key, one encoding.
                if point.data().first() == Some(&0x04) && point.data().len() != length {
                    return Err(Error::InvalidRequest(format!(
                        "its elliptic-curve key is {} octets, not the {length} of an uncompressed point on {}: the key and its curve do not agree; make the request again",
                        point.data().len(),
                        if length == 65 { "P-256" } else { "P-384" },
                    )));
                }
                if point.data().first() != Some(&0x04) {
                    return Err(Error::InvalidRequest(
                        "its elliptic-curve key is written in compressed or hybrid form, which not every client reads: make it again with the key in uncompressed form, as common tools write it".into(),
                    ));
                }
                Ok(algorithm)
            }
            Ok(PublicKey::DSA(_)) => Err(Error::UnsupportedKey {
                found: "a DSA key".into(),
            }),
            _ => {
                let oid = spki.algorithm.algorithm.to_id_string();
                // rsaEncryption whose key does not read as RSAPublicKey (leading zero octets,
                // a whole SubjectPublicKeyInfo inside, parameters other than NULL).
                if oid == "1.2.840.113549.1.1.1" {
                    return Err(Error::InvalidRequest(
                        "its RSA key is not written as DER has it (RFC 8017's RSAPublicKey: a modulus and an exponent, each without leading zero octets, after NULL parameters): make the request again with a common tool".into(),
                    ));
                }
                // The names administrators know, for the keys tools make most often.
                let known = match oid.as_str() {
                    "1.3.101.112" => Some("an Ed25519 key"),
                    "1.3.101.113" => Some("an Ed448 key"),
                    "1.3.101.110" | "1.3.101.111" => {
                        Some("an X25519 or X448 key (for key agreement only)")
                    }
                    "1.2.840.113549.1.1.10" => {
                        Some("an RSA-PSS key (an RSA key limited to PSS signatures)")
                    }
                    "1.2.156.10197.1.301" => Some("an SM2 key"),
                    _ => None,
                };
                Err(Error::UnsupportedKey {
                    found: known.map_or_else(|| format!("a key of algorithm {oid}"), str::to_owned),
                })
            }
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A passphrase protecting a key file. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Passphrase(String);

impl Passphrase {
    /// Wraps a passphrase; an empty one is refused, as it would protect nothing.
    pub fn new(secret: String) -> Result<Self> {
        if secret.is_empty() {
            return Err(Error::InvalidInput(
                "the passphrase is empty: give a non-empty one, or none to leave the key unencrypted".into(),
            ));
        }
        Ok(Passphrase(secret))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Refuses, for a key about to be encrypted, a passphrase that could not be given back
    /// the same way everywhere: one holding a line break, since a passphrase read from a
    /// file or typed at a prompt ends where its first line does.
    pub(crate) fn refuse_line_breaks(&self) -> Result<()> {
        if self.0.contains(['\n', '\r']) {
            return Err(Error::InvalidInput(
                "the passphrase holds a line break: a passphrase read from a file or typed at a prompt ends at the end of its first line, so a key encrypted with this one could not be opened from those; choose one on a single line".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// A private key the authority made, in PKCS#8. Its `Debug` never shows the key.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    pkcs8_der: Vec<u8>,
}

impl PrivateKey {
    pub(crate) fn new(algorithm: KeyAlgorithm, key: &KeyPair) -> Self {
        PrivateKey {
            algorithm,
            pkcs8_der: key.serialize_der(),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The unencrypted PKCS#8 DER, for containers (PFX) that encrypt it themselves.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// PKCS#8 PEM: `ENCRYPTED PRIVATE KEY` (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC) when a
    /// passphrase is given, else `PRIVATE KEY`.
    pub fn to_pem(&self, passphrase: Option<&Passphrase>) -> Result<String> {
        encode_pkcs8_pem(&self.pkcs8_der, passphrase)
    }

    /// Reads the key a certificate's holder kept, from `file` (PEM, named `what` in errors; it
    /// may hold certificates too): a PKCS#8 `PRIVATE KEY`, or an `ENCRYPTED PRIVATE KEY`
    /// opened with `passphrase`. Refused unless it is the key of the certificate whose
    /// SubjectPublicKeyInfo is `spki` (DER), of `algorithm`.
    pub fn of_certificate(
        file: &[u8],
        passphrase: Option<&Passphrase>,
        algorithm: KeyAlgorithm,
        spki: &[u8],
        what: &str,
    ) -> Result<PrivateKey> {
        let refused = |why: String| Error::InvalidInput(format!("{what} {why}"));
        let text = std::str::from_utf8(file).map_err(|_| {
            refused("is not a PEM file (text with a -----BEGIN ... PRIVATE KEY----- block)".into())
        })?;
        // OpenSSL's traditional encryption (headers in the block) is no PKCS#8: its own tool
        // converts it.
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(refused(
                "holds a key encrypted the traditional OpenSSL way (Proc-Type and DEK-Info headers): \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.pk8` makes it a PKCS#8 key, encrypted again"
                    .into(),
            ));
        }
        let blocks = pem_blocks(text);
        let Some((label, der)) = blocks
            .iter()
            .find(|(label, _)| label.ends_with("PRIVATE KEY"))
        else {
            return Err(refused(
                "holds no PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
            ));
        };
        let der = match (label.as_str(), passphrase) {
            ("PRIVATE KEY", _) => der.clone(),
            ("ENCRYPTED PRIVATE KEY", Some(passphrase)) => {
                EncryptedPrivateKeyInfoRef::from_der(der)
                    .map_err(|_| refused("holds an encrypted key that cannot be read".into()))?
                    .decrypt(passphrase.expose())
                    .map_err(|_| refused("could not be decrypted: the passphrase is wrong".into()))?
                    .as_bytes()
                    .to_vec()
            }
            ("ENCRYPTED PRIVATE KEY", None) => {
                return Err(refused(
                    "is encrypted, and no passphrase was given for it".into(),
                ));
            }
            // What `openssl genrsa -traditional` (and OpenSSL before 3) and `openssl ecparam
            // -genkey` write: the same key, in the algorithm's own structure, which PKCS#8
            // wraps.
            ("RSA PRIVATE KEY", _) if algorithm.is_rsa() => pkcs8_wrapping(der, algorithm)?,
            ("EC PRIVATE KEY", _) if !algorithm.is_rsa() => pkcs8_wrapping(der, algorithm)?,
            ("RSA PRIVATE KEY" | "EC PRIVATE KEY", _) => {
                return Err(refused(format!(
                    "does not hold a usable key of the certificate's kind ({algorithm}): give the key made with its request"
                )));
            }
            (other, _) => {
                return Err(refused(format!(
                    "holds the PEM block '{other}', but a PKCS#8 key is needed: `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8` converts it"
                )));
            }
        };
        let key = KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_slice()),
            algorithm.signature_algorithm(),
        )
        .map_err(|_| {
            refused(format!(
                "does not hold a usable key of the certificate's kind ({algorithm}): give the key made with its request"
            ))
        })?;
        use rcgen::PublicKeyData;
        if key.subject_public_key_info() != spki {
            return Err(refused(
                "holds another key than the certificate's: give the key made with its request"
                    .into(),
            ));
        }
        Ok(PrivateKey::new(algorithm, &key))
    }
}

/// The PKCS#8 PrivateKeyInfo (RFC 5208) holding `key`, a PKCS#1 RSAPrivateKey or a SEC1
/// ECPrivateKey of `algorithm`: rsaEncryption with NULL parameters, or id-ecPublicKey with the
/// curve's name (RFC 5480), as `openssl pkcs8 -topk8` writes them.
fn pkcs8_wrapping(key: &[u8], algorithm: KeyAlgorithm) -> Result<Vec<u8>> {
    use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
    use der::{Encode, Tag};
    const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    let fail = |err: der::Error| Error::InvalidInput(format!("the key cannot be read: {err}"));
    let (oid, parameters) = match algorithm {
        KeyAlgorithm::EcdsaP256 => (
            EC_PUBLIC_KEY,
            AnyRef::new(Tag::ObjectIdentifier, P256.as_bytes()).map_err(fail)?,
        ),
        KeyAlgorithm::EcdsaP384 => (
            EC_PUBLIC_KEY,
            AnyRef::new(Tag::ObjectIdentifier, P384.as_bytes()).map_err(fail)?,
        ),
        _ => (RSA_ENCRYPTION, AnyRef::NULL),
    };
    pkcs8::PrivateKeyInfoRef {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid,
            parameters: Some(parameters),
        },
        private_key: OctetStringRef::new(key).map_err(fail)?,
        public_key: None,
    }
    .to_der()
    .map_err(fail)
}

/// True when `file` holds an encrypted PKCS#8 PEM key (`ENCRYPTED PRIVATE KEY`).
pub fn holds_an_encrypted_key(file: &[u8]) -> bool {
    let label = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    file.windows(label.len()).any(|window| window == label)
}

/// The PEM blocks of `text` (label and DER), in order; blocks that do not decode are skipped.
fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from = &rest[start..];
        let Some(label_end) = from["-----BEGIN ".len()..].find("-----") else {
            break;
        };
        let label = &from["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        let end_line = format!("-----END {label}-----");
        let Some(end) = from.find(&end_line) else {
            break;
        };
        let block = &from[..end + end_line.len()];
        if let Ok((label, der)) = der::pem::decode_vec(block.as_bytes()) {
            blocks.push((label.to_owned(), der));
        }
        rest = &from[end + end_line.len()..];
    }
    blocks
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("pkcs8_der", &"<redacted>")
            .finish()
    }
}

/// Encodes PKCS#8 DER as PEM, encrypted under `passphrase` when one is given.
pub(crate) fn encode_pkcs8_pem(der: &[u8], passphrase: Option<&Passphrase>) -> Result<String> {
    let fail =
        |err: pkcs8::Error| Error::Crypto(format!("could not encode the private key: {err}"));
    match passphrase {
        None => der::pem::encode_string("PRIVATE KEY", LineEnding::LF, der)
            .map_err(|err| fail(err.into())),
        Some(passphrase) => {
            let salt = crate::random::bytes::<16>()?;
            let iv = crate::random::bytes::<16>()?;
            let params =
                pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
                    .map_err(|err| fail(err.into()))?;
            let doc = pkcs8::PrivateKeyInfoRef::try_from(der)
                .and_then(|info| info.encrypt_with_params(params, passphrase.expose()))
                .map_err(fail)?;
            doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|err| fail(err.into()))
        }
    }
}

/// Reads a PKCS#8 PEM key file's contents back to DER, decrypting with `passphrase` if the
/// file is encrypted. `path` names the file in errors.
pub(crate) fn decode_pkcs8_pem(
    pem: &str,
    passphrase: Option<&Passphrase>,
    path: &Path,
) -> Result<Vec<u8>> {
    let what = path.display();
    let (label, der) = der::pem::decode_vec(pem.as_bytes())
        .map_err(|_| Error::CaKey(format!("{what} is not a PEM private key")))?;
    match (label, passphrase) {
        ("PRIVATE KEY", _) => Ok(der),
        ("ENCRYPTED PRIVATE KEY", Some(passphrase)) => {
            let info = EncryptedPrivateKeyInfoRef::from_der(&der)
                .map_err(|_| Error::CaKey(format!("{what} is not a valid encrypted PKCS#8 key")))?;
            let plain = info
                .decrypt(passphrase.expose())
                .map_err(|_| Error::CaKeyPassphrase {
                    path: path.to_owned(),
                })?;
            Ok(plain.as_bytes().to_vec())
        }
        ("ENCRYPTED PRIVATE KEY", None) => Err(Error::CaKeyLocked {
            path: path.to_owned(),
        }),
        (other, _) => Err(Error::CaKey(format!(
            "{what} holds a '{other}' block; a PKCS#8 'PRIVATE KEY' was expected"
        ))),
    }
}

/// Loads a PKCS#8 key for signing with `algorithm`.
pub(crate) fn key_pair_from_pkcs8(
    der: &[u8],
    algorithm: KeyAlgorithm,
    path: &Path,
) -> Result<KeyPair> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der);
    KeyPair::from_pkcs8_der_and_sign_algo(&der, algorithm.signature_algorithm())
        .map_err(|err| Error::CaKey(format!("{} cannot be used: {err}", path.display())))
}

/// Whether what `reader` yields is, or holds, a private key: a PEM block of any kind of key
/// (`-----BEGIN ... PRIVATE KEY-----`: PKCS#8, encrypted, SEC1, PKCS#1, OpenSSH; PGP's
/// `PRIVATE KEY BLOCK`; in UTF-8 or UTF-16), or a PuTTY key, anywhere in it; or a key or key
/// store in binary form at its start: DER or BER (PKCS#8 plain or encrypted, SEC1, PKCS#1,
/// PKCS#12, trailing bytes allowed), a Java key store (JKS, JCEKS) or a Microsoft PVK or
/// private key blob. For what must not be written over: a certificate or CRL written over a
/// server's key loses it.
pub fn holds_a_private_key(reader: impl std::io::Read) -> std::io::Result<bool> {
    use std::io::Read;
    const CHUNK: u64 = 64 * 1024;
    const MARKS: [&str; 3] = [
        "PRIVATE KEY-----",
        "PRIVATE KEY BLOCK-----",
        "PuTTY-User-Key-File-",
    ];
    let utf16: Vec<Vec<u8>> = MARKS
        .iter()
        .map(|mark| mark.encode_utf16().flat_map(u16::to_le_bytes).collect())
        .collect();
    let longest = utf16.iter().map(Vec::len).max().unwrap_or_default();
    let marked = |bytes: &[u8]| {
        MARKS
            .iter()
            .map(|mark| mark.as_bytes())
            .chain(utf16.iter().map(Vec::as_slice))
            .any(|mark| bytes.windows(mark.len()).any(|window| window == mark))
    };
    let mut reader = reader;
    let mut chunk = Vec::new();
    (&mut reader).take(CHUNK).read_to_end(&mut chunk)?;
    if marked(&chunk) || binary_private_key(&chunk) {
        return Ok(true);
    }
    // The rest, a chunk at a time, each after the end of the one before (a mark across two).
    while chunk.len() as u64 >= CHUNK {
        let carried = chunk.len() - (longest - 1);
        chunk.drain(..carried);
        if (&mut reader).take(CHUNK).read_to_end(&mut chunk)? == 0 {
            break;
        }
        if marked(&chunk) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `bytes` open with a private key or key store in binary form: DER or BER, its first
/// element read alone (whatever follows it); a Java key store; a Microsoft PVK file or
/// private key blob.
fn binary_private_key(bytes: &[u8]) -> bool {
    const JKS: [u8; 4] = [0xfe, 0xed, 0xfe, 0xed];
    const JCEKS: [u8; 4] = [0xce, 0xce, 0xce, 0xce];
    const PVK: [u8; 4] = [0x1e, 0xf1, 0xb5, 0xb0];
    // PUBLICKEYSTRUC: PRIVATEKEYBLOB (7), version 2, reserved 0.
    const PRIVATE_KEY_BLOB: [u8; 4] = [0x07, 0x02, 0x00, 0x00];
    if [JKS, JCEKS, PVK, PRIVATE_KEY_BLOB]
        .iter()
        .any(|magic| bytes.starts_with(magic))
    {
        return true;
    }
    der_private_key(bytes)
}

/// Whether `der` opens with a private key in DER (or BER: an indefinite length): PKCS#8
/// plain or encrypted, or a SEQUENCE that opens with the version SEC1 (1, then the key as
/// an OCTET STRING), PKCS#1 (0, then the modulus), PKCS#8 (0 or 1, then the algorithm) or
/// PKCS#12 (3, then its content) give. Certificates, CRLs and requests open with a SEQUENCE.
fn der_private_key(der: &[u8]) -> bool {
    use der::asn1::AnyRef;
    use der::{Decode, Reader, SliceReader, Tag, Tagged};
    const SEQUENCE: u8 = 0x30;
    /// The version INTEGER a key's SEQUENCE opens with, and what follows it.
    fn versioned(inner: &[u8], indefinite: bool) -> bool {
        let Ok(mut reader) = SliceReader::new(inner) else {
            return false;
        };
        let Ok(version) = AnyRef::decode(&mut reader) else {
            return false;
        };
        if version.tag() != Tag::Integer {
            return false;
        }
        // What follows may itself be of indefinite length (BER), which DER does not read:
        // then its first octet, its tag, is all there is to go by.
        let next = match AnyRef::decode(&mut reader) {
            Ok(next) => Some(next.tag()),
            Err(_) if indefinite => match reader.peek_byte() {
                Some(0x02) => Some(Tag::Integer),
                Some(0x04) => Some(Tag::OctetString),
                Some(0x30) => Some(Tag::Sequence),
                _ => None,
            },
            Err(_) => None,
        };
        matches!(
            (version.value(), next),
            ([1], Some(Tag::OctetString))
                | ([0], Some(Tag::Integer))
                | ([0 | 1 | 3], Some(Tag::Sequence))
        )
    }
    if der.first() != Some(&SEQUENCE) {
        return false;
    }
    if der.get(1) == Some(&0x80) {
        return versioned(&der[2..], true);
    }
    // The first element alone: a key file may end in a line break, or more.
    let Ok(mut reader) = SliceReader::new(der) else {
        return false;
    };
    let Ok(outer) = AnyRef::decode(&mut reader) else {
        return false;
    };
    let Ok(length) = usize::try_from(reader.position()) else {
        return false;
    };
    let first = &der[..length];
    pkcs8::PrivateKeyInfoRef::try_from(first).is_ok()
        || EncryptedPrivateKeyInfoRef::try_from(first).is_ok()
        || versioned(outer.value(), false)
}

/// The length in bits of the unsigned big-endian integer `octets` (leading zero octets and
/// bits not counted): a 2047-bit RSA modulus is 2047 bits, not its octets times eight.
pub(crate) fn bit_length(octets: &[u8]) -> usize {
    let octets = match octets.iter().position(|b| *b != 0) {
        Some(first) => &octets[first..],
        None => return 0,
    };
    octets.len() * 8 - octets[0].leading_zeros() as usize
}

/// The part of a public key (its subjectPublicKey bits) that makes it the key it is, for
/// telling whether two keys are one: an RSA key's modulus, since whoever can sign for a
/// modulus knows its factors, and with them signs for any public exponent over it (a key
/// refused as the root's, or as one revoked for keyCompromise, is not made new by another
/// exponent); any other key's bits (an elliptic-curve point is taken uncompressed only, so
/// one point has one writing).
pub(crate) fn identity(bits: &[u8]) -> &[u8] {
    use x509_parser::prelude::FromDer;
    match x509_parser::public_key::RSAPublicKey::from_der(bits) {
        Ok(([], rsa)) => {
            let first = rsa.modulus.iter().position(|b| *b != 0);
            first.map_or(rsa.modulus, |first| &rsa.modulus[first..])
        }
        _ => bits,
    }
}

/// True when the subjectPublicKey bits `a` and `b` are one key ([`identity`]).
pub(crate) fn same_key(a: &[u8], b: &[u8]) -> bool {
    identity(a) == identity(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RSA public keys written as DER: SEQUENCE { INTEGER modulus, INTEGER exponent }.
    fn rsa_bits(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
        let integer = |value: &[u8]| {
            let mut out = vec![0x02];
            let sign = value[0] & 0x80 != 0;
            let length = value.len() + usize::from(sign);
            assert!(length < 0x80, "short lengths only in this test");
            out.push(u8::try_from(length).unwrap());
            if sign {
                out.push(0);
            }
            out.extend(value);
            out
        };
        let body = [integer(modulus), integer(exponent)].concat();
        let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
        out.extend(body);
        out
    }

    /// One RSA modulus is one key whatever the exponent beside it (whoever holds the one
    /// holds the other); different moduli are different keys; a point is compared as written.
    #[test]
    fn an_rsa_key_is_its_modulus() {
        let modulus = [0xc3; 64];
        let mut other = modulus;
        other[63] = 0xc5;
        let usual = rsa_bits(&modulus, &[1, 0, 1]);
        assert!(same_key(&usual, &rsa_bits(&modulus, &[1, 0, 3])));
        assert!(same_key(&usual, &rsa_bits(&modulus, &[3])));
        assert!(!same_key(&usual, &rsa_bits(&other, &[1, 0, 1])));
        assert_eq!(
            identity(&usual),
            &modulus[..],
            "the sign octet is not the key"
        );
        let mut point = vec![4];
        point.extend([7; 64]);
        assert_eq!(identity(&point), &point[..]);
        let mut moved = point.clone();
        moved[64] = 8;
        assert!(!same_key(&point, &moved));
        // Bits that only start like an RSA key are taken whole.
        let mut trailing = usual.clone();
        trailing.push(0);
        assert_eq!(identity(&trailing), &trailing[..]);
    }

    /// An RSA key's exponent is odd, at least 3 and held in 32 bits; 3 and 65537 pass. A key
    /// that does not read as its algorithm has it is told what is wrong with it.
    #[test]
    fn an_rsa_exponent_is_odd_and_within_32_bits_and_a_misshapen_key_is_told_so() {
        use x509_parser::prelude::FromDer;
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            match content.len() {
                n if n < 0x80 => out.push(u8::try_from(n).unwrap()),
                n => {
                    let bytes = u16::try_from(n).unwrap().to_be_bytes();
                    out.extend([0x82, bytes[0], bytes[1]]);
                }
            }
            out.extend(content);
            out
        }
        let algorithm = tlv(
            0x30,
            &[
                tlv(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                ),
                vec![0x05, 0x00],
            ]
            .concat(),
        );
        let mut modulus = vec![0x00];
        modulus.extend([0xc5; 256]);
        let spki = |exponent: &[u8]| {
            let key = tlv(0x30, &[tlv(0x02, &modulus), tlv(0x02, exponent)].concat());
            let bits = tlv(0x03, &[&[0][..], &key].concat());
            tlv(0x30, &[algorithm.clone(), bits].concat())
        };
        let judge = |exponent: &[u8]| {
            let der = spki(exponent);
            let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).unwrap();
            KeyAlgorithm::of_public_key(&parsed)
        };
        assert_eq!(judge(&[1, 0, 1]).unwrap(), KeyAlgorithm::Rsa2048);
        assert_eq!(judge(&[3]).unwrap(), KeyAlgorithm::Rsa2048);
        assert_eq!(
            judge(&[0x00, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            KeyAlgorithm::Rsa2048
        );
        // An rsaEncryption key that is no RSAPublicKey (a leading zero octet too many) is told
        // so, not that RSA is unknown.
        let mut padded = vec![0x00, 0x00];
        padded.extend([0xc5; 256]);
        let key = tlv(0x30, &[tlv(0x02, &padded), tlv(0x02, &[1, 0, 1])].concat());
        let der = tlv(
            0x30,
            &[algorithm.clone(), tlv(0x03, &[&[0][..], &key].concat())].concat(),
        );
        let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).unwrap();
        let err = KeyAlgorithm::of_public_key(&parsed)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RSA key is not written as DER has it"),
            "{err}"
        );
        // A P-256 point one octet too long is told its length, not that it is compressed.
        let ec = tlv(
            0x30,
            &[
                tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
                tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            ]
            .concat(),
        );
        let mut point = vec![0, 4];
        point.extend([7; 65]);
        let der = tlv(0x30, &[ec, tlv(0x03, &point)].concat());
        let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).unwrap();
        let err = KeyAlgorithm::of_public_key(&parsed)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is 66 octets, not the 65 of an uncompressed point on P-256"),
            "{err}"
        );
        for (exponent, said) in [
            (&[1][..], "is 1:"),
            (&[1, 0, 0][..], "is 65536:"),
            (&[1, 0, 0, 0, 1][..], "is 4294967297:"),
            (
                &[1, 0, 0, 0, 0, 0, 0, 0, 1][..],
                "is negative or past 64 bits:",
            ),
            (&[0x81][..], "is negative or past 64 bits:"),
        ] {
            let err = judge(exponent).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
            assert!(err.to_string().contains(said), "{err}");
        }
    }

    #[test]
    fn bit_lengths_count_bits_not_octets() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        let mut modulus = vec![0x7f];
        modulus.extend([0xff; 255]);
        assert_eq!(bit_length(&modulus), 2047);
        modulus.insert(0, 0);
        assert_eq!(
            bit_length(&modulus),
            2047,
            "a DER sign octet is not counted"
        );
    }

    /// A file given as a certificate's key that holds none, or a broken one, is refused with
    /// a reason, never a panic.
    #[test]
    fn a_key_file_that_holds_no_usable_key_is_refused() {
        let files: [&[u8]; 8] = [
            b"",
            b"\xff\xfe\x00",
            b"-----BEGIN ",
            b"-----BEGIN PRIVATE KEY-----\nMIIB\n",
            b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN \u{dc}-----x-----END \u{dc}-----".as_bytes(),
        ];
        let passphrase = Passphrase::new("p".into()).unwrap();
        for file in files {
            let err = PrivateKey::of_certificate(
                file,
                Some(&passphrase),
                KeyAlgorithm::EcdsaP256,
                b"",
                "k.pem",
            )
            .err()
            .unwrap();
            assert!(err.is_refusal(), "{err}");
            assert!(err.to_string().starts_with("k.pem "), "{err}");
        }
    }

    #[test]
    fn parses_every_algorithm_name() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(KeyAlgorithm::from_name(alg.name()).unwrap(), *alg);
        }
        assert_eq!(
            KeyAlgorithm::from_name("RSA2048").unwrap(),
            KeyAlgorithm::Rsa2048
        );
        assert_eq!(
            KeyAlgorithm::from_name("ecdsap256").unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert!(matches!(
            KeyAlgorithm::from_name("rsa1024"),
            Err(Error::UnknownChoice { .. })
        ));
    }

    #[test]
    fn encrypted_key_round_trips_and_refuses_wrong_passphrase() {
        let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let key = PrivateKey::new(KeyAlgorithm::EcdsaP256, &pair);
        let pass = Passphrase::new("correct horse".into()).unwrap();
        let pem = key.to_pem(Some(&pass)).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let path = Path::new("the.key");
        let der = decode_pkcs8_pem(&pem, Some(&pass), path).unwrap();
        assert_eq!(der, key.pkcs8_der());
        let wrong = Passphrase::new("wrong".into()).unwrap();
        assert!(matches!(
            decode_pkcs8_pem(&pem, Some(&wrong), path),
            Err(Error::CaKeyPassphrase { .. })
        ));
        assert!(matches!(
            decode_pkcs8_pem(&pem, None, path),
            Err(Error::CaKeyLocked { .. })
        ));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let pass = Passphrase::new("hunter2".into()).unwrap();
        assert!(!format!("{pass:?}").contains("hunter2"));
        let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let key = PrivateKey::new(KeyAlgorithm::EcdsaP256, &pair);
        assert!(format!("{key:?}").contains("redacted"));
    }

    /// The PEM mark is found wherever it lies: in the first chunk, across the boundary of
    /// two, far into the file; a file without one, however long, holds no key.
    #[test]
    fn a_pem_key_is_found_anywhere_in_a_file() {
        let mark = b"-----BEGIN EC PRIVATE KEY-----";
        for at in [0, 65_530, 65_536 - 10, 65_536 * 3 + 7, 300_000] {
            let mut bytes = vec![b'A'; at];
            bytes.extend_from_slice(mark);
            bytes.extend_from_slice(&[b'B'; 100]);
            assert!(holds_a_private_key(&bytes[..]).unwrap(), "at {at}");
        }
        let plain = vec![b'C'; 400_000];
        assert!(!holds_a_private_key(&plain[..]).unwrap());
        assert!(!holds_a_private_key(&b""[..]).unwrap());
    }
}
