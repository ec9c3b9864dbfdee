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

/// Refuses a leaf's validity of `days` outside 1 to [`LEAF_MAX_DAYS`]: checkable before
/// anything else about an issuance, so that it is the first thing said.
pub fn check_leaf_days(days: u32) -> Result<()> {
    if days == 0 {
        return Err(Error::ValidityTooShort);
    }
    if days > LEAF_MAX_DAYS {
        return Err(Error::ValidityTooLong {
            days,
            max: LEAF_MAX_DAYS,
            root: false,
        });
    }
    Ok(())
}
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
    /// [`Profile::ServerAndClient`] when TLS client authentication is wanted too.
    pub fn for_client_auth(client_auth: bool) -> Self {
        if client_auth {
            Profile::ServerAndClient
        } else {
            Profile::Server
        }
    }

    /// Its extended key usages, in words.
    pub(crate) fn usages_named(self) -> &'static str {
        match self {
            Profile::Server => "TLS server authentication",
            Profile::ServerAndClient => "TLS server and client authentication",
        }
    }

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
        check_leaf_days(days)?;
        if root_not_after <= now {
            return Err(Error::RootExpired {
                not_after: root_not_after,
            });
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
        if days == 0 {
            return Err(Error::ValidityTooShort);
        }
        if days > ROOT_MAX_DAYS {
            return Err(Error::ValidityTooLong {
                days,
                max: ROOT_MAX_DAYS,
                root: true,
            });
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
    fn accepts_825_days_and_refuses_826_naming_apple() {
        let root_end = now() + Duration::days(3650);
        let longest = Validity::leaf(Some(825), root_end, now()).unwrap();
        assert_eq!(longest.validity.days(), 825);
        let refused = Validity::leaf(Some(826), root_end, now()).unwrap_err();
        assert!(matches!(
            refused,
            Error::ValidityTooLong {
                days: 826,
                max: 825,
                root: false
            }
        ));
        let text = refused.to_string();
        assert!(text.contains("825") && text.contains("Apple"), "{text}");
    }

    #[test]
    fn accepts_one_day_and_refuses_zero() {
        let root_end = now() + Duration::days(30);
        assert_eq!(
            Validity::leaf(Some(1), root_end, now())
                .unwrap()
                .validity
                .days(),
            1
        );
        assert!(matches!(
            Validity::leaf(Some(0), root_end, now()),
            Err(Error::ValidityTooShort)
        ));
    }

    #[test]
    fn never_ends_after_the_root() {
        let root_end = now() + Duration::days(30);
        let leaf = Validity::leaf(None, root_end, now()).unwrap();
        assert_eq!(leaf.validity.not_after, root_end);
        assert!(leaf.shortened_to_root);
        // Ending exactly with the root is not a shortening.
        let exact = now() - BACKDATE + Duration::days(397);
        let leaf = Validity::leaf(None, exact, now()).unwrap();
        assert_eq!(leaf.validity.not_after, exact);
        assert!(!leaf.shortened_to_root);
    }

    #[test]
    fn refuses_an_expired_root() {
        assert!(matches!(
            Validity::leaf(None, now() - Duration::days(1), now()),
            Err(Error::RootExpired { .. })
        ));
        assert!(matches!(
            Validity::leaf(None, now(), now()),
            Err(Error::RootExpired { .. })
        ));
        assert!(Validity::leaf(None, now() + Duration::seconds(1), now()).is_ok());
    }

    #[test]
    fn root_defaults_to_ten_years_and_accepts_at_most_thirty() {
        let root = Validity::root(None, now()).unwrap();
        assert_eq!(root.days(), 3650);
        assert_eq!(root.not_before, now() - BACKDATE);
        assert_eq!(Validity::root(Some(10_950), now()).unwrap().days(), 10_950);
        assert!(matches!(
            Validity::root(Some(10_951), now()),
            Err(Error::ValidityTooLong {
                days: 10_951,
                max: 10_950,
                root: true
            })
        ));
        assert!(matches!(
            Validity::root(Some(0), now()),
            Err(Error::ValidityTooShort)
        ));
        assert_eq!(Validity::root(Some(1), now()).unwrap().days(), 1);
    }

    #[test]
    fn server_profiles_have_their_extended_key_usages() {
        assert_eq!(
            Profile::Server.extended_key_usages(),
            [ExtendedKeyUsagePurpose::ServerAuth]
        );
        assert_eq!(
            Profile::ServerAndClient.extended_key_usages(),
            [
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth
            ]
        );
    }

    #[test]
    fn rsa_keys_also_get_key_encipherment() {
        for key in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
        ] {
            assert_eq!(
                Profile::Server.key_usages(key),
                [
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment
                ]
            );
        }
        for key in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            assert_eq!(
                Profile::Server.key_usages(key),
                [KeyUsagePurpose::DigitalSignature]
            );
        }
    }
}
