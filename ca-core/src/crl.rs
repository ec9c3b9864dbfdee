//! Certificate revocation lists signed by the root (RFC 5280 §5): a function of the
//! revocations, the CRL number and the issuer, nothing else.

use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, RevokedCertParams, SigningKey};
use time::OffsetDateTime;

use crate::error::Result;
use crate::revoke::Revocation;

/// A signed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    pub der: Vec<u8>,
    /// The cRLNumber (RFC 5280 §5.2.3): strictly greater for every newer CRL.
    pub number: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

impl Crl {
    /// PEM (`X509 CRL`).
    pub fn pem(&self) -> String {
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &self.der).unwrap_or_default()
    }
}

/// Signs a CRL listing `revocations`, numbered `number`, valid from `this_update` to
/// `next_update`, whose authorityKeyIdentifier is `key_identifier` (the root's SKI).
pub(crate) fn sign(
    revocations: &[Revocation],
    number: i64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    key_identifier: &[u8],
    issuer: &Issuer<'_, impl SigningKey>,
) -> Result<Crl> {
    let revoked_certs = revocations
        .iter()
        .map(|revocation| RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(revocation.serial.as_bytes()),
            revocation_time: revocation.revoked_at,
            reason_code: revocation.reason.crl_code(),
            invalidity_date: None,
        })
        .collect();
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
        // No issuing distribution point: this CRL covers every certificate the root issued,
        // and an IDP whose name differed from the leaves' CRL distribution point, or that
        // carried scope flags, would make OpenSSL and Windows treat it as a partial CRL
        // (RFC 5280 §5.2.5, §6.3.3) and refuse to decide revocation with it.
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(key_identifier.to_vec()),
    };
    let crl = params.signed_by(issuer)?;
    Ok(Crl {
        der: crl.der().to_vec(),
        number,
        this_update,
        next_update,
    })
}
