//! Revocations: a certificate of the log withdrawn at a time, for an RFC 5280 §5.3.1 reason,
//! and listed on every CRL until it expires.

use std::fmt;

use time::OffsetDateTime;

use crate::certificate::SerialNumber;
use crate::choice::Choice;

/// Why a certificate was revoked (RFC 5280 §5.3.1 CRLReason). certificateHold is not
/// offered: a revocation here is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RevocationReason {
    #[cfg_attr(feature = "clap", value(name = "unspecified"))]
    Unspecified,
    #[cfg_attr(
        feature = "clap",
        value(name = "keyCompromise", alias = "key-compromise")
    )]
    KeyCompromise,
    /// For a CA's certificate (RFC 5280): read from logs and OCSP, never given to a server's
    /// certificate ([`RevocationReason::FOR_LEAVES`]), so not offered.
    #[cfg_attr(feature = "clap", value(skip))]
    CaCompromise,
    #[cfg_attr(
        feature = "clap",
        value(name = "affiliationChanged", alias = "affiliation-changed")
    )]
    AffiliationChanged,
    #[cfg_attr(feature = "clap", value(name = "superseded"))]
    Superseded,
    #[cfg_attr(
        feature = "clap",
        value(name = "cessationOfOperation", alias = "cessation-of-operation")
    )]
    CessationOfOperation,
    #[cfg_attr(
        feature = "clap",
        value(name = "privilegeWithdrawn", alias = "privilege-withdrawn")
    )]
    PrivilegeWithdrawn,
}

impl Choice for RevocationReason {
    const WHAT: &'static str = "revocation reason";
    const ALL: &'static [Self] = &[
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name, as OpenSSL prints it and the log keeps it.
    fn name(self) -> &'static str {
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
}

impl RevocationReason {
    /// The reasons a server's certificate is revoked for: every one but cACompromise, which
    /// says a CA's key was compromised (the CA/Browser Forum's Baseline Requirements §7.2.2
    /// leave it out of a subscriber certificate's CRL entry).
    pub const FOR_LEAVES: &'static [Self] = &[
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name.
    pub fn name(self) -> &'static str {
        Choice::name(self)
    }

    /// This reason, when a server's certificate may be revoked for it; cACompromise, a CA's
    /// reason, refused saying so.
    pub fn for_a_leaf_only(self) -> crate::error::Result<RevocationReason> {
        if RevocationReason::FOR_LEAVES.contains(&self) {
            return Ok(self);
        }
        Err(crate::error::Error::InvalidInput(format!(
            "{self} is the reason for revoking a CA's certificate, not a server's: revoke a certificate whose key was exposed for keyCompromise"
        )))
    }

    /// Reads a reason given for revoking a server's certificate: one of
    /// [`RevocationReason::FOR_LEAVES`], by any spelling [`Choice::from_name`] takes; any
    /// other is refused naming those.
    pub fn for_a_leaf(text: &str) -> crate::error::Result<RevocationReason> {
        match RevocationReason::from_name(text) {
            Ok(reason) => reason.for_a_leaf_only(),
            Err(_) => {
                let names: Vec<&str> = RevocationReason::FOR_LEAVES
                    .iter()
                    .map(|r| r.name())
                    .collect();
                Err(crate::error::Error::UnknownChoice {
                    what: <RevocationReason as Choice>::WHAT,
                    value: text.trim().to_owned(),
                    choices: names.join(", "),
                })
            }
        }
    }

    /// The CRLReason code (RFC 5280 §5.3.1), as CRL entries and OCSP answers carry it.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    /// The reason as rcgen writes it into a CRL entry; `None` for unspecified, which RFC 5280
    /// §5.3.1 says to leave out.
    pub(crate) fn crl_code(self) -> Option<rcgen::RevocationReason> {
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

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A certificate's revocation, as the log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub serial: SerialNumber,
    pub reason: RevocationReason,
    pub revoked_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_reason_names_as_people_write_them() {
        for reason in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_name(reason.name()).unwrap(), *reason);
        }
        assert_eq!(
            RevocationReason::from_name("key-compromise").unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            RevocationReason::from_name("SUPERSEDED").unwrap(),
            RevocationReason::Superseded
        );
        assert!(RevocationReason::from_name("certificateHold").is_err());
        // For a server's certificate, a CA's reason is refused as unknown, named among none.
        assert_eq!(
            RevocationReason::for_a_leaf("key-compromise").unwrap(),
            RevocationReason::KeyCompromise
        );
        let refused = RevocationReason::for_a_leaf("cACompromise")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("the reason for revoking a CA's certificate"),
            "{refused}"
        );
        let unknown = RevocationReason::for_a_leaf("removeFromCRL")
            .unwrap_err()
            .to_string();
        assert!(
            !unknown.contains("cACompromise") && unknown.contains("superseded"),
            "{unknown}"
        );
    }

    #[test]
    fn codes_are_rfc_5280s() {
        let codes: Vec<u8> = RevocationReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 9]);
        assert_eq!(RevocationReason::Unspecified.crl_code(), None);
    }
}
