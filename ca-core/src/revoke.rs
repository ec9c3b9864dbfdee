//! Revocation: a certificate of the log is withdrawn, with an RFC 5280 §5.3.1 reason, and
//! listed on every CRL until it expires.

use std::fmt;
use std::str::FromStr;

use tracing::instrument;

use crate::authority::Authority;
use crate::error::{Error, Result};
use crate::store::Issuance;

/// Why a certificate was revoked (RFC 5280 §5.3.1 CRLReason). certificateHold is not
/// offered: a revocation here is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 7] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name, as OpenSSL prints it and the store keeps it.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The reason code written into CRL entries; `None` for unspecified, which RFC 5280
    /// §5.3.1 says to leave out.
    pub(crate) fn code(self) -> Option<rcgen::RevocationReason> {
        match self {
            RevocationReason::Unspecified => None,
            RevocationReason::KeyCompromise => Some(rcgen::RevocationReason::KeyCompromise),
            RevocationReason::CaCompromise => Some(rcgen::RevocationReason::CaCompromise),
            RevocationReason::AffiliationChanged => {
                Some(rcgen::RevocationReason::AffiliationChanged)
            }
            RevocationReason::Superseded => Some(rcgen::RevocationReason::Superseded),
            RevocationReason::CessationOfOperation => {
                Some(rcgen::RevocationReason::CessationOfOperation)
            }
            RevocationReason::PrivilegeWithdrawn => {
                Some(rcgen::RevocationReason::PrivilegeWithdrawn)
            }
        }
    }
}

impl FromStr for RevocationReason {
    type Err = Error;

    /// Accepts the RFC names in any case, with or without hyphens or underscores
    /// (`keyCompromise`, `key-compromise`, `KEY_COMPROMISE`).
    fn from_str(s: &str) -> Result<Self> {
        // The store's own spelling first: a CRL of 100,000 entries parses as many reasons.
        if let Some(reason) = RevocationReason::ALL.into_iter().find(|r| r.name() == s) {
            return Ok(reason);
        }
        let wanted: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.name().to_ascii_lowercase() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.name()).collect();
                Error::InvalidInput(format!(
                    "unknown revocation reason '{s}': use one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Authority {
    /// Revokes the certificate of request `id`.
    #[instrument(skip_all)]
    pub async fn revoke(&self, id: i64, reason: RevocationReason, actor: &str) -> Result<Issuance> {
        self.store().revoke(id, reason.name(), actor).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_reason_names_as_people_write_them() {
        for reason in RevocationReason::ALL {
            assert_eq!(reason.name().parse::<RevocationReason>().unwrap(), reason);
        }
        assert_eq!(
            "key-compromise".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            "SUPERSEDED".parse::<RevocationReason>().unwrap(),
            RevocationReason::Superseded
        );
        assert!("certificateHold".parse::<RevocationReason>().is_err());
    }
}
