//! JSON Web Signatures as ACME sends them (RFC 8555 §6.2, RFC 7515 flattened serialization):
//! read, checked against a key, and the keys' RFC 7638 thumbprints. Signatures are verified by
//! jsonwebtoken's aws-lc backend; only what ACME allows is accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::Deserialize;

use super::{Problem, ProblemType};

/// The signature algorithms accepted for account keys (RFC 8555 §6.2 requires RS256 and ES256).
const ACCOUNT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// The shortest RSA account key accepted.
const RSA_MIN_BITS: usize = 2048;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
}

/// A JWS read from a request body, not yet verified.
#[derive(Clone, Debug)]
pub struct Jws {
    pub header: Header,
    protected: String,
    payload_b64: String,
    signature: String,
    /// The payload's bytes (empty for POST-as-GET).
    pub payload: Vec<u8>,
}

impl Jws {
    /// Reads a flattened JWS; anything else is `malformed`.
    pub fn parse(body: &[u8]) -> Result<Jws, Problem> {
        let malformed = |why: &str| Problem::new(ProblemType::Malformed, why);
        let flat: Flattened = serde_json::from_slice(body).map_err(|_| {
            malformed("the body is not a flattened JWS (protected, payload, signature)")
        })?;
        let protected = URL_SAFE_NO_PAD
            .decode(&flat.protected)
            .map_err(|_| malformed("the protected header is not base64url"))?;
        let header: Header = match serde_json::from_slice(&protected) {
            Ok(header) => header,
            Err(err) => {
                // An algorithm jsonwebtoken does not know (`none`, ...) is the client's choice
                // to fix; anything else wrong with the header is a malformed request.
                let alg = serde_json::from_slice::<serde_json::Value>(&protected)
                    .ok()
                    .and_then(|v| v.get("alg").and_then(|a| a.as_str()).map(str::to_owned));
                let known = alg
                    .as_deref()
                    .is_some_and(|alg| serde_json::from_value::<Algorithm>(alg.into()).is_ok());
                return Err(match alg {
                    Some(_) if !known => Problem::new(
                        ProblemType::BadSignatureAlgorithm,
                        "the protected header names no supported signature algorithm: use RS256, ES256, ES384 or EdDSA",
                    ),
                    _ => Problem::new(
                        ProblemType::Malformed,
                        format!("the protected header is not valid: {err}"),
                    ),
                });
            }
        };
        if header.crit.is_some() {
            return Err(malformed("critical header parameters are not supported"));
        }
        // A JWK with private members is a client giving its secret away: never taken for an
        // account key (as Let's Encrypt refuses it), and the client is told to start again.
        let private = serde_json::from_slice::<serde_json::Value>(&protected)
            .ok()
            .and_then(|value| value.get("jwk").and_then(|jwk| jwk.as_object()).cloned())
            .is_some_and(|jwk| {
                ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
                    .iter()
                    .any(|member| jwk.contains_key(*member))
            });
        if private {
            return Err(Problem::new(
                ProblemType::BadPublicKey,
                "the JWK holds private key members: send the public key alone, and make a new key, since this one has left the client",
            ));
        }
        if header.extras.inner().contains_key("b64") {
            return Err(malformed(
                "the b64 header parameter (RFC 7797) is not supported: send the payload base64url-encoded, without b64",
            ));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(&flat.payload)
            .map_err(|_| malformed("the payload is not base64url"))?;
        Ok(Jws {
            header,
            protected: flat.protected,
            payload_b64: flat.payload,
            signature: flat.signature,
            payload,
        })
    }

    /// True for POST-as-GET (RFC 8555 §6.3): an empty payload.
    pub fn is_post_as_get(&self) -> bool {
        self.payload_b64.is_empty()
    }

    /// Checks the signature with an account key (RS256, ES256, ES384 or EdDSA).
    pub fn verify_account(&self, jwk: &Jwk) -> Result<(), Problem> {
        if !ACCOUNT_ALGORITHMS.contains(&self.header.alg) {
            return Err(Problem::new(
                ProblemType::BadSignatureAlgorithm,
                "account keys sign with RS256, ES256, ES384 or EdDSA",
            ));
        }
        check_key(jwk, self.header.alg)?;
        self.verify(jwk_key(jwk)?)
    }

    /// Checks an HS256 signature with a MAC key (external account binding, RFC 8555 §7.3.4).
    pub fn verify_mac(&self, key: &[u8]) -> Result<(), Problem> {
        if self.header.alg != Algorithm::HS256 {
            return Err(Problem::new(
                ProblemType::BadSignatureAlgorithm,
                "the external account binding must be signed with HS256",
            ));
        }
        self.verify(DecodingKey::from_secret(key))
    }

    fn verify(&self, key: DecodingKey) -> Result<(), Problem> {
        let message = format!("{}.{}", self.protected, self.payload_b64);
        match jsonwebtoken::crypto::verify(
            &self.signature,
            message.as_bytes(),
            &key,
            self.header.alg,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Problem::new(
                ProblemType::Unauthorized,
                "the JWS signature does not verify with the key",
            )),
            // The key was checked to fit the algorithm: what is left is the signature's
            // own writing (padding, another alphabet).
            Err(_) if URL_SAFE_NO_PAD.decode(&self.signature).is_err() => Err(Problem::new(
                ProblemType::Malformed,
                "the JWS signature is not base64url without padding (RFC 7515 §2)",
            )),
            Err(_) => Err(Problem::new(
                ProblemType::BadSignatureAlgorithm,
                "the JWS algorithm does not fit the key",
            )),
        }
    }
}

/// A key jsonwebtoken can verify with.
fn jwk_key(jwk: &Jwk) -> Result<DecodingKey, Problem> {
    DecodingKey::from_jwk(jwk).map_err(|_| {
        Problem::new(
            ProblemType::BadPublicKey,
            "the JWK is not a usable public key",
        )
    })
}

/// Refuses keys too weak to stand for an account, keys `alg` does not sign with, and keys
/// written in more than one way: the account is its key's thumbprint (RFC 7638), so a key
/// must have exactly one JWK. Its curve is the one `alg` names, its coordinates are of that
/// curve's length (RFC 7518 §6.2.1.2), and an RSA key's integers have no leading zero octet
/// (§6.3.1.1): otherwise one key, its `crv` changed or its modulus padded, would stand for
/// several accounts, each verifying with the same signature.
fn check_key(jwk: &Jwk, alg: Algorithm) -> Result<(), Problem> {
    let bad = |why: String| Err(Problem::new(ProblemType::BadPublicKey, why));
    let octets = |name: &str, text: &str| {
        URL_SAFE_NO_PAD.decode(text).map_err(|_| {
            Problem::new(
                ProblemType::BadPublicKey,
                format!("the JWK's {name} is not base64url"),
            )
        })
    };
    let (curve, length) = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(rsa), Algorithm::RS256) => {
            let n = octets("n", &rsa.n)?;
            let e = octets("e", &rsa.e)?;
            if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                return bad("the RSA key's n and e must be written without leading zero octets (RFC 7518 §6.3.1)".into());
            }
            // An exponent of 1 (or any even one) makes no signature key: refused as such,
            // not later as a signature that does not verify.
            if e.last().is_some_and(|b| b % 2 == 0) || e.as_slice() == [1] {
                return bad("the RSA key's exponent e must be odd and at least 3".into());
            }
            let bits = crate::key::bit_length(&n);
            if bits < RSA_MIN_BITS {
                return bad(format!(
                    "the RSA account key has {bits} bits; at least {RSA_MIN_BITS} are required"
                ));
            }
            return Ok(());
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256 | Algorithm::ES384) => {
            let (curve, length, named) = match alg {
                Algorithm::ES256 => (EllipticCurve::P256, 32, "P-256"),
                _ => (EllipticCurve::P384, 48, "P-384"),
            };
            if ec.curve != curve {
                return bad(format!(
                    "{alg:?} signs with a {named} key: the JWK's crv must be {named}"
                ));
            }
            for (name, text) in [("x", &ec.x), ("y", &ec.y)] {
                if octets(name, text)?.len() != length {
                    return bad(format!(
                        "the JWK's {name} must be the {length} octets of a {named} coordinate (RFC 7518 §6.2.1)"
                    ));
                }
            }
            return Ok(());
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            (&okp.curve, octets("x", &okp.x)?.len())
        }
        (
            AlgorithmParameters::RSA(_)
            | AlgorithmParameters::EllipticCurve(_)
            | AlgorithmParameters::OctetKeyPair(_),
            _,
        ) => {
            return Err(Problem::new(
                ProblemType::BadSignatureAlgorithm,
                format!("{alg:?} does not sign with this JWK's kind of key"),
            ));
        }
        _ => return bad("account keys are RSA, ECDSA or Ed25519 public keys".into()),
    };
    if *curve != EllipticCurve::Ed25519 || length != 32 {
        return bad("an EdDSA account key is an Ed25519 key of 32 octets".into());
    }
    Ok(())
}

/// The RFC 7638 SHA-256 thumbprint of `jwk`, base64url.
pub fn thumbprint(jwk: &Jwk) -> Result<String, Problem> {
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| Problem::new(ProblemType::BadPublicKey, "the JWK has no thumbprint"))
}

/// The key authorization of a challenge token for an account key (RFC 8555 §8.1).
pub fn key_authorization(token: &str, jwk: &Jwk) -> Result<String, Problem> {
    Ok(format!("{token}.{}", thumbprint(jwk)?))
}

/// True when `jwk` is the public key `spki` holds (revocation signed by a certificate's
/// key): an RSA key by its modulus, whatever its exponent, since whoever signs for a modulus
/// knows its factors and so holds it with any exponent.
pub fn is_key_of(jwk: &Jwk, spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> bool {
    use x509_parser::public_key::PublicKey;
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
    let strip = |bytes: &[u8]| {
        bytes
            .iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    match (&jwk.algorithm, spki.parsed()) {
        (AlgorithmParameters::RSA(rsa), Ok(PublicKey::RSA(key))) => {
            decode(&rsa.n).is_some_and(|n| strip(&n) == strip(key.modulus))
        }
        (AlgorithmParameters::EllipticCurve(ec), Ok(PublicKey::EC(point))) => {
            match (decode(&ec.x), decode(&ec.y)) {
                (Some(x), Some(y)) => {
                    let mut uncompressed = vec![0x04];
                    uncompressed.extend(x);
                    uncompressed.extend(y);
                    point.data() == uncompressed.as_slice()
                }
                _ => false,
            }
        }
        (AlgorithmParameters::OctetKeyPair(okp), _) => {
            decode(&okp.x).is_some_and(|x| spki.subject_public_key.data.as_ref() == x.as_slice())
        }
        _ => false,
    }
}

/// True when `jwk` is the key whose subjectPublicKey bits are `bits` (a request's), one key
/// as [`crate::key::identity`] tells it: an RSA key by its modulus, an elliptic-curve key by
/// its point (coordinates padded to the curve's length), an OKP key by its bits.
pub(crate) fn is_key_with_bits(jwk: &Jwk, bits: &[u8]) -> bool {
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
    let identity = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => decode(&rsa.n).map(|n| {
            let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            n[first..].to_vec()
        }),
        AlgorithmParameters::EllipticCurve(ec) => {
            let length = bits.len().saturating_sub(1) / 2;
            match (decode(&ec.x), decode(&ec.y)) {
                (Some(x), Some(y)) if x.len() <= length && y.len() <= length => {
                    let mut point = vec![0x04];
                    point.extend(std::iter::repeat_n(0, length - x.len()));
                    point.extend(x);
                    point.extend(std::iter::repeat_n(0, length - y.len()));
                    point.extend(y);
                    Some(point)
                }
                _ => None,
            }
        }
        AlgorithmParameters::OctetKeyPair(okp) => decode(&okp.x),
        _ => None,
    };
    identity.is_some_and(|identity| identity.as_slice() == crate::key::identity(bits))
}

/// Base64url without padding, as ACME writes binary fields.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads base64url without padding.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_what_is_not_a_flattened_jws() {
        for body in [
            &b""[..],
            b"{}",
            b"[]",
            b"not json",
            b"{\"protected\":\"!!\",\"payload\":\"\",\"signature\":\"\"}",
            b"{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\",\"extra\":1}",
        ] {
            assert!(
                Jws::parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // alg none is not an algorithm.
        let header = b64(br#"{"alg":"none","nonce":"n","url":"u","jwk":{}}"#);
        let body = format!(r#"{{"protected":"{header}","payload":"","signature":""}}"#);
        assert_eq!(
            Jws::parse(body.as_bytes()).unwrap_err().kind,
            ProblemType::BadSignatureAlgorithm
        );
    }

    #[test]
    fn refuses_a_jwk_that_holds_a_private_key() {
        let header = b64(
            br#"{"alg":"ES256","nonce":"n","url":"u","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}}"#,
        );
        let body = format!(r#"{{"protected":"{header}","payload":"","signature":""}}"#);
        let problem = Jws::parse(body.as_bytes()).unwrap_err();
        assert_eq!(problem.kind, ProblemType::BadPublicKey);
    }

    /// An RSA JWK is the key of an SPKI with its modulus, whatever the exponent beside it:
    /// a CSR for the account key's modulus with another exponent is still the account key.
    #[test]
    fn an_rsa_jwk_is_the_key_of_its_modulus() {
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        let pair = crate::KeyAlgorithm::Rsa2048.generate().unwrap();
        let der = rcgen::PublicKeyData::subject_public_key_info(&pair);
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).unwrap();
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            panic!("not an RSA key");
        };
        let n = b64(rsa.modulus.strip_prefix(&[0]).unwrap_or(rsa.modulus));
        let jwk = |n: &str, e: &str| -> Jwk {
            serde_json::from_str(&format!(r#"{{"kty":"RSA","n":"{n}","e":"{e}"}}"#)).unwrap()
        };
        assert!(is_key_of(&jwk(&n, "AQAB"), &spki));
        assert!(
            is_key_of(&jwk(&n, "AQAD"), &spki),
            "65539 over the same modulus"
        );
        let mut other = unb64(&n).unwrap();
        other[10] ^= 1;
        assert!(!is_key_of(&jwk(&b64(&other), "AQAB"), &spki));
        // And by its bits, as a request holds them.
        let bits = spki.subject_public_key.data.as_ref();
        assert!(is_key_with_bits(&jwk(&n, "AQAD"), bits));
        assert!(!is_key_with_bits(&jwk(&b64(&other), "AQAB"), bits));
        // An elliptic-curve JWK by its point, a short coordinate padded as the point has it.
        let mut point = vec![4, 0];
        point.extend([9; 63]);
        let ec = |x: &[u8]| -> Jwk {
            let (x, y) = (b64(x), b64(&[9; 32]));
            serde_json::from_str(&format!(
                r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#
            ))
            .unwrap()
        };
        assert!(is_key_with_bits(&ec(&point[1..33]), &point));
        assert!(is_key_with_bits(&ec(&point[2..33]), &point));
        assert!(!is_key_with_bits(&ec(&[9; 32]), &point));
    }

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let jwk: Jwk = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
