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
    /// [`RevocationReason::FOR_LEAVES`], by any spelling [`Choice::from_name`] takes or by
    /// its code (`certutil -revoke SERIAL 1`); certificateHold and removeFromCRL, which
    /// suspend and release, are refused saying revocations here are final; any other is
    /// refused naming those there are.
    pub fn for_a_leaf(text: &str) -> crate::error::Result<RevocationReason> {
        let trimmed = text.trim();
        // A code is digits alone (`01` is 1; `+1` is no code).
        let code = Some(trimmed)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok());
        let by_code = code.and_then(|code| {
            Self::ALL
                .iter()
                .copied()
                .find(|r| u64::from(r.code()) == code)
        });
        match by_code.map_or_else(|| RevocationReason::from_name(trimmed), Ok) {
            Ok(reason) => reason.for_a_leaf_only(),
            Err(_) => {
                let squashed: String = trimmed
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                if squashed == "certificatehold" || code == Some(6) {
                    return Err(crate::error::Error::InvalidInput(
                        "certificateHold suspends a certificate to release it later (AD CS's unrevoke), and revocations here are final: the log keeps each one, and CRLs and OCSP answers give it until the certificate expires; revoke a certificate that must stop being trusted, and issue a new one when it is needed again".into(),
                    ));
                }
                if squashed == "removefromcrl" || code == Some(8) {
                    return Err(crate::error::Error::InvalidInput(
                        "removeFromCRL releases a certificate on hold, and nothing is held here: revocations are final".into(),
                    ));
                }
                let names: Vec<String> = RevocationReason::FOR_LEAVES
                    .iter()
                    .map(|r| format!("{} ({})", r.name(), r.code()))
                    .collect();
                Err(crate::error::Error::UnknownChoice {
                    what: <RevocationReason as Choice>::WHAT,
                    value: trimmed.to_owned(),
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
        let unknown = RevocationReason::for_a_leaf("aACompromise")
            .unwrap_err()
            .to_string();
        assert!(
            !unknown.contains("cACompromise") && unknown.contains("superseded (4)"),
            "{unknown}"
        );
        // By code, as certutil takes them; holding is refused saying why.
        assert_eq!(
            RevocationReason::for_a_leaf(" 1 ").unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            RevocationReason::for_a_leaf("9").unwrap(),
            RevocationReason::PrivilegeWithdrawn
        );
        assert!(RevocationReason::for_a_leaf("2").is_err());
        assert_eq!(
            RevocationReason::for_a_leaf("01").unwrap(),
            RevocationReason::KeyCompromise
        );
        for code in ["7", "11", "-1", "+1", "256", "99999999999999999999999"] {
            let unknown = RevocationReason::for_a_leaf(code).unwrap_err().to_string();
            assert!(unknown.contains("superseded (4)"), "{code}: {unknown}");
        }
        for hold in [
            "certificateHold",
            "certificate-hold",
            "6",
            "06",
            "removeFromCRL",
            "8",
        ] {
            let refused = RevocationReason::for_a_leaf(hold).unwrap_err().to_string();
            assert!(
                refused.contains("revocations here are final")
                    || refused.contains("revocations are final"),
                "{hold}: {refused}"
            );
        }
    }

    #[test]
    fn codes_are_rfc_5280s() {
        let codes: Vec<u8> = RevocationReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 9]);
        assert_eq!(RevocationReason::Unspecified.crl_code(), None);
    }
}
