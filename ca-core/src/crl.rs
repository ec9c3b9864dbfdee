//! Certificate revocation lists signed by the root (RFC 5280 §5).

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams};
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::authority::Authority;
use crate::error::{Error, Result};
use crate::revoke::RevocationReason;

/// Days from thisUpdate to nextUpdate unless configured otherwise.
pub const DEFAULT_CRL_DAYS: u32 = 7;

/// A signed CRL.
#[derive(Clone, Debug)]
pub struct Crl {
    pub der: Vec<u8>,
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

impl Authority {
    /// Signs a new CRL listing every revoked, unexpired certificate, valid for `days`.
    #[instrument(skip_all)]
    pub async fn crl(&self, days: u32) -> Result<Crl> {
        let issuer = self.issuer()?;
        let revoked = self.store().revoked().await?;
        let number = self.store().next_crl_number().await?;
        let this_update = OffsetDateTime::now_utc();
        let next_update = this_update + Duration::days(i64::from(days.max(1)));
        let revoked_certs = revoked
            .iter()
            .map(|(serial, at, reason)| {
                let bytes = (0..serial.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(serial.get(i..i + 2).unwrap_or("00"), 16))
                    .collect::<std::result::Result<Vec<u8>, _>>()
                    .map_err(|_| Error::Crypto(format!("bad serial {serial} in the log")))?;
                Ok(RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(&bytes),
                    revocation_time: *at,
                    reason_code: reason
                        .parse::<RevocationReason>()
                        .ok()
                        .and_then(RevocationReason::code),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::PreSpecified(self.root().key_identifier().to_vec()),
        };
        let crl = params.signed_by(issuer)?;
        Ok(Crl {
            der: crl.der().to_vec(),
            number,
            this_update,
            next_update,
        })
    }
}
