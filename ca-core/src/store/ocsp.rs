//! OCSP responses signed ahead, and what the responder reads of a certificate. One rule decides
//! whether a kept response may still be handed out: it states the revocation the log holds
//! now, and less than half its lifetime has passed (so a client never gets one near its
//! nextUpdate). A revocation deletes the certificate's response in the same transaction that
//! records it (see `revoke`), and the rule catches a response a slower writer stored after it.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use super::{RequestId, Store};
use crate::certificate::SerialNumber;
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};
use crate::revoke::{Revocation, RevocationReason};

/// A certificate as the OCSP responder sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateState {
    pub id: RequestId,
    pub serial: SerialNumber,
    pub not_after: OffsetDateTime,
    pub revocation: Option<Revocation>,
}

/// A response signed ahead for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedResponse {
    /// The whole OCSPResponse.
    pub der: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    /// The revocation time it states; `None` when it says good.
    pub revoked_at: Option<OffsetDateTime>,
    /// The revocation reason it states; `None` when it says good (or was kept before the log
    /// recorded reasons, and so is never current for a revoked certificate).
    pub reason: Option<RevocationReason>,
}

impl PresignedResponse {
    /// True while it may be handed out for a certificate whose revocation is `revocation`:
    /// it says the same (time and reason: a reason raised to keyCompromise keeps its time),
    /// and less than half its lifetime (at least a minute) has passed.
    pub fn is_current(&self, revocation: Option<&Revocation>, now: OffsetDateTime) -> bool {
        self.revoked_at == revocation.map(|r| r.revoked_at)
            && self.reason == revocation.map(|r| r.reason)
            && self.this_update <= now
            && now < self.current_until()
    }

    /// When it stops being current, whatever happens to the certificate.
    pub(crate) fn current_until(&self) -> OffsetDateTime {
        let half: Duration = (self.next_update - self.this_update) / 2;
        self.this_update + half.max(Duration::minutes(1))
    }
}

const STATE_COLUMNS: &str = "c.request_id, c.serial, c.not_after, v.revoked_at, v.reason";

impl Store {
    /// The certificate with this serial and the response kept for it, read in one query.
    #[instrument(skip_all)]
    pub(crate) async fn ocsp_lookup(
        &self,
        serial: &SerialNumber,
    ) -> Result<Option<(CertificateState, Option<PresignedResponse>)>> {
        let sql = format!(
            "SELECT {STATE_COLUMNS}, o.this_update, o.next_update, o.revoked_at AS stated,
                 o.reason AS stated_reason, o.der
             FROM certificates c
             LEFT JOIN revocations v ON v.request_id = c.request_id
             LEFT JOIN ocsp_responses o ON o.request_id = c.request_id
             WHERE c.serial = $1"
        );
        let row = sqlx::query(&sql)
            .bind(serial.hex())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state = state_from_row(&row)?;
        let der: Option<Vec<u8>> = row.try_get("der").map_err(StoreError::from)?;
        let presigned = match der {
            None => None,
            Some(der) => Some(PresignedResponse {
                der,
                this_update: time(&row, "this_update")?,
                next_update: time(&row, "next_update")?,
                revoked_at: optional_time(&row, "stated")?,
                reason: stated_reason(&row)?,
            }),
        };
        Ok(Some((state, presigned)))
    }

    /// The certificates that have not expired at `now`, with the lifetime and stated
    /// revocation of the response kept for each (its DER left out): at most `limit` of them,
    /// in the order of their request ids, from the first after `after`. The caller walks the
    /// log a page at a time, so that a log of any size is read in bounded memory.
    #[instrument(skip_all)]
    pub(crate) async fn ocsp_certificates(
        &self,
        now: OffsetDateTime,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<Vec<(CertificateState, Option<PresignedResponse>)>> {
        let sql = format!(
            "SELECT {STATE_COLUMNS}, o.this_update, o.next_update, o.revoked_at AS stated,
                 o.reason AS stated_reason, CASE WHEN o.request_id IS NULL THEN 0 ELSE 1 END AS kept
             FROM certificates c
             LEFT JOIN revocations v ON v.request_id = c.request_id
             LEFT JOIN ocsp_responses o ON o.request_id = c.request_id
             WHERE c.not_after >= $1 AND c.request_id > $2 ORDER BY c.request_id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(now.unix_timestamp())
            .bind(after.map_or(0, RequestId::get))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let state = state_from_row(row)?;
                let kept: i64 = row.try_get("kept").map_err(StoreError::from)?;
                let presigned = match kept {
                    0 => None,
                    _ => Some(PresignedResponse {
                        der: Vec::new(),
                        this_update: time(row, "this_update")?,
                        next_update: time(row, "next_update")?,
                        revoked_at: optional_time(row, "stated")?,
                        reason: stated_reason(row)?,
                    }),
                };
                Ok((state, presigned))
            })
            .collect()
    }

    /// Keeps `responses` (each replacing the one kept for its certificate), in one transaction.
    #[instrument(skip_all)]
    pub(crate) async fn keep_ocsp_responses(
        &self,
        responses: &[(RequestId, PresignedResponse)],
    ) -> Result<()> {
        if responses.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (id, response) in responses {
            sqlx::query(
                "INSERT INTO ocsp_responses (request_id, this_update, next_update, revoked_at, der, reason)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (request_id) DO UPDATE SET this_update = excluded.this_update,
                     next_update = excluded.next_update, revoked_at = excluded.revoked_at,
                     der = excluded.der, reason = excluded.reason",
            )
            .bind(id.get())
            .bind(response.this_update.unix_timestamp())
            .bind(response.next_update.unix_timestamp())
            .bind(response.revoked_at.map(OffsetDateTime::unix_timestamp))
            .bind(&response.der)
            .bind(response.reason.map(Choice::name))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops every kept response (their responder was retired).
    #[instrument(skip_all)]
    pub(crate) async fn forget_ocsp_responses(&self) -> Result<()> {
        sqlx::query("DELETE FROM ocsp_responses")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops the responses kept for certificates that expired before `now`: nobody asks
    /// about them any more, and whoever does gets an answer signed then.
    #[instrument(skip_all)]
    pub(crate) async fn forget_ocsp_responses_of_expired(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM ocsp_responses WHERE request_id IN
                 (SELECT request_id FROM certificates WHERE not_after < $1)",
        )
        .bind(now.unix_timestamp())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    StoreError::Corrupt(what.to_string()).into()
}

fn time(row: &AnyRow, column: &str) -> Result<OffsetDateTime> {
    let secs: i64 = row.try_get(column).map_err(StoreError::from)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(corrupt)
}

/// The reason a kept response states: `None` for good, and for one kept before reasons were
/// (or naming one this release does not know): such a response is never current for a revoked
/// certificate, so it is signed again.
fn stated_reason(row: &AnyRow) -> Result<Option<RevocationReason>> {
    let text: Option<String> = row.try_get("stated_reason").map_err(StoreError::from)?;
    Ok(text.and_then(|text| RevocationReason::from_name(&text).ok()))
}

fn optional_time(row: &AnyRow, column: &str) -> Result<Option<OffsetDateTime>> {
    let secs: Option<i64> = row.try_get(column).map_err(StoreError::from)?;
    secs.map(|s| OffsetDateTime::from_unix_timestamp(s).map_err(corrupt))
        .transpose()
}

fn state_from_row(row: &AnyRow) -> Result<CertificateState> {
    let serial: String = row.try_get("serial").map_err(StoreError::from)?;
    let serial: SerialNumber = serial
        .parse()
        .map_err(|_| corrupt(format!("serial {serial}")))?;
    let revocation = match optional_time(row, "revoked_at")? {
        None => None,
        Some(revoked_at) => {
            let reason: String = row.try_get("reason").map_err(StoreError::from)?;
            Some(Revocation {
                serial: serial.clone(),
                revoked_at,
                reason: RevocationReason::from_name(&reason)
                    .map_err(|_| corrupt(format!("reason {reason}")))?,
            })
        }
    };
    Ok(CertificateState {
        id: RequestId::from_log(row.try_get("request_id").map_err(StoreError::from)?)?,
        serial,
        not_after: time(row, "not_after")?,
        revocation,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kept(revoked_at: Option<OffsetDateTime>) -> PresignedResponse {
        let this_update = time::macros::datetime!(2026-12-01 12:00 UTC);
        PresignedResponse {
            der: Vec::new(),
            this_update,
            next_update: this_update + Duration::days(4),
            revoked_at,
            reason: revoked_at.map(|_| RevocationReason::KeyCompromise),
        }
    }

    fn revocation(at: OffsetDateTime) -> Revocation {
        Revocation {
            serial: "4a".parse().unwrap(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: at,
        }
    }

    #[test]
    fn a_response_is_current_until_half_its_lifetime() {
        let response = kept(None);
        let start = response.this_update;
        assert!(response.is_current(None, start));
        assert!(response.is_current(None, start + Duration::days(2) - Duration::seconds(1)));
        assert!(!response.is_current(None, start + Duration::days(2)));
        assert!(
            !response.is_current(None, start - Duration::seconds(1)),
            "one signed by a clock ahead of ours"
        );
    }

    #[test]
    fn a_good_response_is_not_current_once_the_certificate_is_revoked() {
        let response = kept(None);
        let at = response.this_update + Duration::hours(1);
        assert!(!response.is_current(Some(&revocation(at)), at));
    }

    #[test]
    fn a_revoked_response_is_current_only_for_the_revocation_it_states() {
        let at = time::macros::datetime!(2026-12-01 11:00 UTC);
        let response = kept(Some(at));
        let now = response.this_update + Duration::hours(1);
        assert!(response.is_current(Some(&revocation(at)), now));
        assert!(
            !response.is_current(None, now),
            "a log restored from before it"
        );
        assert!(!response.is_current(Some(&revocation(at + Duration::seconds(1))), now));
        // The same time, another reason: a reason raised to keyCompromise keeps its time.
        let mut superseded = kept(Some(at));
        superseded.reason = Some(RevocationReason::Superseded);
        assert!(!superseded.is_current(Some(&revocation(at)), now));
        // Kept before the log recorded reasons: signed again.
        superseded.reason = None;
        assert!(!superseded.is_current(Some(&revocation(at)), now));
    }

    #[test]
    fn a_short_lived_response_is_kept_at_least_a_minute() {
        let mut response = kept(None);
        response.next_update = response.this_update + Duration::seconds(10);
        let start = response.this_update;
        assert!(response.is_current(None, start + Duration::seconds(59)));
        assert!(!response.is_current(None, start + Duration::seconds(60)));
    }
}
