//! The current CRL and its number. One rule decides when a new CRL is signed: when none is
//! stored yet, when a revocation was recorded since, or when half its lifetime has passed (so
//! no client ever holds one past its nextUpdate). The revocations and the number are read in
//! the same write transaction that stores the new CRL, so a higher number always lists every
//! revocation a lower one listed, whichever process signs it.

use sqlx::{AnyConnection, Row};
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use super::Store;
use crate::certificate::SerialNumber;
use crate::choice::Choice;
use crate::crl::Crl;
use crate::error::{Error, Result, StoreError};
use crate::revoke::{Revocation, RevocationReason};

/// The CRL as the log keeps it, with the number of revocations it was signed over.
#[derive(Clone, Debug)]
struct StoredCrl {
    crl: Crl,
    revocations: i64,
}

impl StoredCrl {
    /// True while this CRL may still be handed out: no revocation since, and less than half
    /// its lifetime (at least a minute) gone.
    fn is_current(&self, revocations: i64, now: OffsetDateTime) -> bool {
        let half: Duration = (self.crl.next_update - self.crl.this_update) / 2;
        self.revocations == revocations
            && now < self.crl.this_update + half.max(Duration::minutes(1))
    }
}

impl Store {
    /// The stored CRL if it is still current, read without a write lock (the common case).
    #[instrument(skip_all)]
    pub(crate) async fn current_crl(&self) -> Result<Option<Crl>> {
        let mut conn = self.pool.acquire().await?;
        let stored = stored(&mut conn).await?;
        let revocations = revocation_count(&mut conn).await?;
        Ok(stored
            .filter(|s| s.is_current(revocations, OffsetDateTime::now_utc()))
            .map(|s| s.crl))
    }

    /// The CRL the log holds now, current or not (none before the first is signed): what
    /// clients were last handed, for the metrics. Signs nothing.
    #[instrument(skip_all)]
    pub(crate) async fn latest_crl(&self) -> Result<Option<Crl>> {
        let mut conn = self.pool.acquire().await?;
        Ok(stored(&mut conn).await?.map(|s| s.crl))
    }

    /// The current CRL, signed anew by `sign` (given the revocations to list, the number, and
    /// thisUpdate) when the rule above asks for it, or always when `force` is set. Runs in one
    /// write transaction.
    #[instrument(skip_all)]
    pub(crate) async fn refresh_crl(
        &self,
        force: bool,
        sign: impl FnOnce(&[Revocation], i64, OffsetDateTime) -> Result<Crl>,
    ) -> Result<Crl> {
        let mut tx = self.begin_write().await?;
        let now = OffsetDateTime::now_utc();
        let previous = stored(&mut tx).await?;
        let revocations = revocation_count(&mut tx).await?;
        if !force
            && let Some(previous) = &previous
            && previous.is_current(revocations, now)
        {
            let crl = previous.crl.clone();
            tx.commit().await?;
            return Ok(crl);
        }
        // An entry leaves the CRL only after a CRL issued past the certificate's expiry listed
        // it (RFC 5280 §5): certificates still valid when the previous CRL was signed stay.
        let since = previous
            .as_ref()
            .map_or(now, |p| p.crl.this_update.min(now));
        let listed = revoked_since(&mut tx, since).await?;
        let legacy: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'crl_number'")
                .fetch_optional(&mut *tx)
                .await?;
        let last = previous
            .as_ref()
            .map_or(0, |p| p.crl.number)
            .max(legacy.and_then(|n| n.parse().ok()).unwrap_or(0));
        let crl = sign(&listed, last + 1, now)?;
        sqlx::query(
            "INSERT INTO crl (id, number, this_update, next_update, revocations, der)
             VALUES (1, $1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
                 next_update = excluded.next_update, revocations = excluded.revocations, der = excluded.der",
        )
        .bind(crl.number)
        .bind(crl.this_update.unix_timestamp())
        .bind(crl.next_update.unix_timestamp())
        .bind(revocations)
        .bind(&crl.der)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(crl)
    }
}

async fn stored(conn: &mut AnyConnection) -> Result<Option<StoredCrl>> {
    let row = sqlx::query(
        "SELECT number, this_update, next_update, revocations, der FROM crl WHERE id = 1",
    )
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let time = |column: &str| -> Result<OffsetDateTime> {
        let secs: i64 = row.try_get(column).map_err(StoreError::from)?;
        OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|err| StoreError::Corrupt(err.to_string()).into())
    };
    Ok(Some(StoredCrl {
        crl: Crl {
            number: row.try_get("number").map_err(StoreError::from)?,
            this_update: time("this_update")?,
            next_update: time("next_update")?,
            der: row.try_get("der").map_err(StoreError::from)?,
        },
        revocations: row.try_get("revocations").map_err(StoreError::from)?,
    }))
}

/// How many revocations the log holds; it only grows, since none is ever removed.
async fn revocation_count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
        .fetch_one(conn)
        .await?)
}

/// Every revocation of a certificate whose notAfter is at or after `since`, oldest first.
/// Serial and notAfter are read from each certificate's DER, what the root signed, never
/// from the log's columns: a CRL lists only serials the CA issued, whatever a hand on the log
/// changed.
async fn revoked_since(conn: &mut AnyConnection, since: OffsetDateTime) -> Result<Vec<Revocation>> {
    let rows: Vec<(i64, Vec<u8>, i64, String)> = sqlx::query_as(
        "SELECT v.request_id, c.der, v.revoked_at, v.reason FROM revocations v
         JOIN certificates c ON c.request_id = v.request_id",
    )
    .fetch_all(conn)
    .await?;
    let corrupt = |what: String| -> Error { StoreError::Corrupt(what).into() };
    let mut revoked = Vec::with_capacity(rows.len());
    for (id, der, at, reason) in rows {
        let (serial, not_after) = x509_parser::parse_x509_certificate(&der)
            .ok()
            .and_then(|(_, cert)| {
                let serial = SerialNumber::from_bytes(cert.tbs_certificate.raw_serial()).ok()?;
                Some((serial, cert.validity().not_after.timestamp()))
            })
            .ok_or_else(|| corrupt(format!("the certificate of request {id}")))?;
        if not_after < since.unix_timestamp() {
            continue;
        }
        revoked.push(Revocation {
            serial,
            revoked_at: OffsetDateTime::from_unix_timestamp(at)
                .map_err(|err| corrupt(err.to_string()))?,
            reason: RevocationReason::from_name(&reason)
                .map_err(|_| corrupt(format!("reason {reason}")))?,
        });
    }
    revoked.sort_by(|a, b| {
        (a.revoked_at, a.serial.as_bytes()).cmp(&(b.revoked_at, b.serial.as_bytes()))
    });
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(revocations: i64, days: i64) -> StoredCrl {
        let this_update = time::macros::datetime!(2026-11-25 12:00 UTC);
        StoredCrl {
            crl: Crl {
                der: Vec::new(),
                number: 7,
                this_update,
                next_update: this_update + Duration::days(days),
            },
            revocations,
        }
    }

    #[test]
    fn a_crl_is_current_until_a_revocation_or_half_its_lifetime() {
        let crl = stored(3, 8);
        let start = crl.crl.this_update;
        assert!(crl.is_current(3, start));
        assert!(crl.is_current(3, start + Duration::days(4) - Duration::seconds(1)));
        assert!(!crl.is_current(3, start + Duration::days(4)));
        assert!(!crl.is_current(4, start), "a new revocation");
    }

    #[test]
    fn a_short_lived_crl_is_kept_at_least_a_minute() {
        let mut crl = stored(0, 0);
        crl.crl.next_update = crl.crl.this_update + Duration::seconds(10);
        let start = crl.crl.this_update;
        assert!(crl.is_current(0, start + Duration::seconds(59)));
        assert!(!crl.is_current(0, start + Duration::seconds(60)));
    }
}
