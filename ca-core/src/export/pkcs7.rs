//! PKCS#7 / CMS certs-only SignedData (RFC 5652 §5; the ".p7b" of Windows and OpenSSL).
//!
//! `cms::signed_data::SignedData` keeps its certificates in a DER `SET OF`, which must be sorted
//! by encoding; OpenSSL and Windows write them in chain order instead (leaf first), and some
//! consumers take the first certificate for the leaf. So the SignedData here is a `der`
//! structure of the same shape whose certificates field is an IMPLICIT `[0]` over a
//! `SEQUENCE OF`: the same bytes on the wire as a `SET OF`, in the order given.

use cms::content_info::ContentInfo;
use cms::signed_data::EncapsulatedContentInfo;
use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Any, Decode, Encode, Sequence};

use crate::error::{Error, Result};

/// id-signedData (RFC 5652 §5.1).
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-data (RFC 5652 §4).
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

#[derive(Sequence)]
struct CertsOnlySignedData {
    version: u8,
    digest_algorithms: SetOfVec<Any>,
    encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    certificates: Vec<Any>,
    signer_infos: SetOfVec<Any>,
}

/// DER of a certs-only SignedData holding `certificates` (DER each) in the order given.
pub fn certs_only(certificates: &[&[u8]]) -> Result<Vec<u8>> {
    let encode = |err: der::Error| Error::Crypto(format!("could not encode PKCS#7: {err}"));
    let certificates = certificates
        .iter()
        .map(|der| Any::from_der(der))
        .collect::<der::Result<Vec<_>>>()
        .map_err(encode)?;
    let signed = CertsOnlySignedData {
        version: 1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates,
        signer_infos: SetOfVec::new(),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed).map_err(encode)?,
    }
    .to_der()
    .map_err(encode)
}

/// PEM (`-----BEGIN PKCS7-----`) of [`certs_only`].
pub fn certs_only_pem(certificates: &[&[u8]]) -> Result<String> {
    let der = certs_only(certificates)?;
    der::pem::encode_string("PKCS7", der::pem::LineEnding::LF, &der)
        .map_err(|err| Error::Crypto(format!("could not encode PKCS#7: {err}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_certificates_in_the_order_given() {
        // Two "certificates" whose DER sorts the other way round.
        let b = [0x30, 0x03, 0x02, 0x01, 0x02];
        let a = [0x30, 0x03, 0x02, 0x01, 0x01];
        let der = certs_only(&[&b, &a]).unwrap();
        let pos_b = der.windows(5).position(|w| w == b).unwrap();
        let pos_a = der.windows(5).position(|w| w == a).unwrap();
        assert!(pos_b < pos_a);
        // And it is a ContentInfo that the cms crate reads as SignedData.
        let info = ContentInfo::from_der(&der).unwrap();
        assert_eq!(info.content_type, ID_SIGNED_DATA);
    }
}
