//! What a certificate may be used for, and for how long.

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::key::KeyAlgorithm;

/// Days a server certificate is valid for unless asked otherwise (CA/B Forum BR 6.3.2's
/// 398-day ceiling, less a day of margin).
pub const LEAF_DEFAULT_DAYS: u32 = 397;
/// The longest server certificate Apple platforms accept from any root, private ones included
/// (Apple, "Requirements for trusted certificates in iOS 13 and macOS 10.15").
pub const LEAF_MAX_DAYS: u32 = 825;
/// Days a new root is valid for unless asked otherwise.
pub const ROOT_DEFAULT_DAYS: u32 = 3650;
/// The longest root the authority makes (30 years).
pub const ROOT_MAX_DAYS: u32 = 10_950;
/// How far notBefore lies in the past, so that clients with a slow clock accept a new
/// certificate at once.
pub const BACKDATE: Duration = Duration::hours(1);

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// TLS server authentication (extendedKeyUsage serverAuth).
    Server,
    /// TLS server and client authentication (serverAuth and clientAuth).
    ServerAndClient,
}

impl Profile {
    pub(crate) fn extended_key_usages(self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            Profile::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Profile::ServerAndClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        }
    }

    /// digitalSignature, plus keyEncipherment for RSA keys (RSA key transport in TLS 1.0–1.2,
    /// which Windows XP / Server 2003 era clients still use).
    pub(crate) fn key_usages(self, key: KeyAlgorithm) -> Vec<KeyUsagePurpose> {
        let mut usages = vec![KeyUsagePurpose::DigitalSignature];
        if key.is_rsa() {
            usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        usages
    }
}

/// A certificate's validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A leaf's validity, and whether it was cut short to end with the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafValidity {
    pub validity: Validity,
    pub shortened_to_root: bool,
}

impl Validity {
    /// A leaf valid for `days` (default 397, at most 825) counted from a notBefore backdated
    /// by [`BACKDATE`], and never past the root's notAfter.
    pub fn leaf(
        days: Option<u32>,
        root_not_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<LeafValidity> {
        let days = days.unwrap_or(LEAF_DEFAULT_DAYS);
        if days == 0 {
            return Err(Error::InvalidValidity("--days must be at least 1".into()));
        }
        if days > LEAF_MAX_DAYS {
            return Err(Error::InvalidValidity(format!(
                "{days} days is refused: Apple platforms reject server certificates valid for more than \
                 {LEAF_MAX_DAYS} days, even from a private root; ask for {LEAF_MAX_DAYS} days or fewer \
                 (the default, {LEAF_DEFAULT_DAYS}, also suits public-CA rules)"
            )));
        }
        if root_not_after <= now {
            return Err(Error::InvalidValidity(
                "the root has expired, so nothing it signs can be trusted: create a new CA".into(),
            ));
        }
        let not_before = now - BACKDATE;
        let wanted = not_before + Duration::days(i64::from(days));
        let not_after = wanted.min(root_not_after);
        Ok(LeafValidity {
            validity: Validity {
                not_before,
                not_after,
            },
            shortened_to_root: wanted > root_not_after,
        })
    }

    /// A root valid for `days` (default 3650, at most 10950) from a backdated notBefore.
    pub fn root(days: Option<u32>, now: OffsetDateTime) -> Result<Validity> {
        let days = days.unwrap_or(ROOT_DEFAULT_DAYS);
        if days == 0 || days > ROOT_MAX_DAYS {
            return Err(Error::InvalidValidity(format!(
                "{days} days is refused for a root: give 1 to {ROOT_MAX_DAYS} days (the default is {ROOT_DEFAULT_DAYS}, ten years)"
            )));
        }
        let not_before = now - BACKDATE;
        Ok(Validity {
            not_before,
            not_after: not_before + Duration::days(i64::from(days)),
        })
    }

    /// Whole days from notBefore to notAfter.
    pub fn days(&self) -> i64 {
        (self.not_after - self.not_before).whole_days()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-25 12:00 UTC)
    }

    #[test]
    fn leaf_defaults_to_397_days_backdated_one_hour() {
        let root_end = now() + Duration::days(3650);
        let leaf = Validity::leaf(None, root_end, now()).unwrap();
        assert_eq!(leaf.validity.not_before, now() - Duration::hours(1));
        assert_eq!(leaf.validity.days(), 397);
        assert!(!leaf.shortened_to_root);
    }

    #[test]
    fn refuses_more_than_825_days_naming_apple() {
        let root_end = now() + Duration::days(3650);
        assert!(Validity::leaf(Some(825), root_end, now()).is_ok());
        match Validity::leaf(Some(900), root_end, now()) {
            Err(Error::InvalidValidity(msg)) => {
                assert!(msg.contains("825"));
                assert!(msg.contains("Apple"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_ends_after_the_root() {
        let root_end = now() + Duration::days(30);
        let leaf = Validity::leaf(None, root_end, now()).unwrap();
        assert_eq!(leaf.validity.not_after, root_end);
        assert!(leaf.shortened_to_root);
    }

    #[test]
    fn refuses_zero_days_and_an_expired_root() {
        let root_end = now() + Duration::days(30);
        assert!(Validity::leaf(Some(0), root_end, now()).is_err());
        assert!(Validity::leaf(None, now() - Duration::days(1), now()).is_err());
    }

    #[test]
    fn rsa_keys_also_get_key_encipherment() {
        assert_eq!(
            Profile::Server.key_usages(KeyAlgorithm::Rsa2048),
            [
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment
            ]
        );
        assert_eq!(
            Profile::Server.key_usages(KeyAlgorithm::EcdsaP256),
            [KeyUsagePurpose::DigitalSignature]
        );
    }
}
