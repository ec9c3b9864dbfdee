//! What the metrics say about the CA, read from the log so that every node of a shared log
//! says the same, and the token a scraper that is no user presents.

use std::fmt;

use time::OffsetDateTime;
use tracing::instrument;

use crate::authority::Authority;
use crate::error::{Error, Result};
use crate::identity::SERVER_REQUESTER;
use crate::responder::RESPONDER_REQUESTER;
use crate::store::LogCounts;

/// The setting that holds the SHA-256 of the metrics token (hex): the token itself is kept
/// nowhere, so a copy of the log does not give it away.
const TOKEN_DIGEST: &str = "metrics_token_sha256";
/// The shortest token accepted: 128 bits of hex, far past guessing over the network.
pub const MIN_TOKEN_LEN: usize = 32;

/// The log as the metrics report it, read at `at`.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: OffsetDateTime,
    pub counts: LogCounts,
    /// The CRL clients were last handed: its number and dates (`None` before the first).
    pub crl: Option<CrlDates>,
}

pub use crate::crl::CrlDates;

/// A bearer token for the metrics, as read from its file. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// The token in `text` (the first line of a file; surrounding blanks dropped). Refused
    /// when shorter than [`MIN_TOKEN_LEN`], or holding anything an HTTP header cannot carry
    /// in a `Bearer` credential (RFC 6750 §2.1: letters, digits, `-._~+/`, trailing `=`).
    pub fn from_text(text: &str) -> Result<Self> {
        let token = text.lines().next().unwrap_or_default().trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(Error::InvalidInput(format!(
                "the metrics token is {} characters long; it must have at least {MIN_TOKEN_LEN}, \
                 so that nobody can guess it: make one with `openssl rand -hex 32`",
                token.len()
            )));
        }
        let body = token.trim_end_matches('=');
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        {
            return Err(Error::InvalidInput(
                "the metrics token holds characters a Bearer token cannot carry: use letters, \
                 digits and -._~+/ only, as `openssl rand -hex 32` makes"
                    .into(),
            ));
        }
        Ok(MetricsToken(token.to_owned()))
    }

    fn digest(&self) -> String {
        digest_hex(&self.0)
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

fn digest_hex(text: &str) -> String {
    use sha2::Digest;
    crate::display::hex(&sha2::Sha256::digest(text.as_bytes()))
}

impl Authority {
    /// The log counted and the CRL's dates, now. Cheap on any size of log (see
    /// [`crate::store::LogCounts`]).
    #[instrument(skip_all)]
    pub async fn metrics(&self) -> Result<Snapshot> {
        let at = OffsetDateTime::now_utc();
        let counts = self
            .store()
            .counts(at, &[SERVER_REQUESTER, RESPONDER_REQUESTER])
            .await?;
        let crl = self.store().latest_crl().await?;
        Ok(Snapshot { at, counts, crl })
    }

    /// Sets the metrics token (its SHA-256 is kept), or with `None` removes it, and records
    /// the change, not the token, in the audit trail.
    pub async fn set_metrics_token(&self, token: Option<&MetricsToken>, actor: &str) -> Result<()> {
        let digest = token.map(MetricsToken::digest);
        self.store()
            .set_settings(
                actor,
                &[(TOKEN_DIGEST, digest.as_deref(), crate::store::Audit::Hidden)],
            )
            .await
    }

    /// True when a metrics token is set.
    pub async fn has_metrics_token(&self) -> Result<bool> {
        Ok(self.store().setting(TOKEN_DIGEST).await?.is_some())
    }

    /// True when `presented` is the metrics token. Read from the log at each call, so a new
    /// token holds on every node at once. The digests are compared in constant time, so the
    /// time an answer takes says nothing about how much of a guess was right.
    pub async fn is_metrics_token(&self, presented: &str) -> Result<bool> {
        let Some(stored) = self.store().setting(TOKEN_DIGEST).await? else {
            return Ok(false);
        };
        let presented = digest_hex(presented);
        Ok(aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            stored.as_bytes(),
        )
        .is_ok())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_short_tokens_and_characters_a_header_cannot_carry() {
        let good = "0123456789abcdef0123456789abcdef";
        assert!(MetricsToken::from_text(&format!("{good}\nsecond line ignored")).is_ok());
        assert!(MetricsToken::from_text(&format!("  {good}  ")).is_ok());
        assert!(MetricsToken::from_text(&format!("{good}==")).is_ok());
        for bad in [
            "",
            "short",
            &good[1..],
            &format!("{good} with spaces"),
            &format!("{good}\""),
            &format!("{good}é"),
            "================================",
        ] {
            assert!(
                matches!(MetricsToken::from_text(bad), Err(Error::InvalidInput(_))),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(
            format!("{:?}", MetricsToken::from_text(good).unwrap()),
            "MetricsToken(..)"
        );
    }
}
