//! Revocations and the CRL number.

use time::OffsetDateTime;
use tracing::instrument;

use super::{Issuance, RequestId, Store, audit};
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};
use crate::revoke::{Revocation, RevocationReason};

impl Store {
    /// Records the revocation of the certificate of request `id`. Revoking twice, or a
    /// request without a certificate, is a [`Error::Conflict`] that says why.
    #[instrument(skip_all)]
    pub async fn revoke(
        &self,
        id: RequestId,
        reason: RevocationReason,
        actor: &str,
    ) -> Result<Issuance> {
        let row = self.issuance(id).await?;
        let Some(cert) = &row.certificate else {
            return Err(Error::Conflict(format!(
                "request {id} has no certificate to revoke: it is {}",
                row.status.name()
            )));
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO revocations (request_id, revoked_at, reason) VALUES ($1, $2, $3)
             ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(id.get())
        .bind(now)
        .bind(reason.name())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            drop(tx);
            let row = self.issuance(id).await?;
            let when = row
                .certificate
                .as_ref()
                .and_then(|c| c.revocation.as_ref())
                .map(|r| r.revoked_at.date().to_string())
                .unwrap_or_default();
            return Err(Error::Conflict(format!(
                "certificate {id} (serial {}) was already revoked on {when}",
                cert.serial
            )));
        }
        audit::record(
            &mut tx,
            actor,
            "revoke",
            &id.to_string(),
            &format!("serial {} reason {reason}", cert.serial),
        )
        .await?;
        tx.commit().await?;
        self.issuance(id).await
    }

    /// Changes whenever a revocation is recorded, by this process or another: the number of
    /// revocations and the newest one's row id.
    pub async fn revocation_marker(&self) -> Result<(i64, i64)> {
        Ok(
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM revocations")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Every revoked certificate that has not yet expired, oldest revocation first.
    #[instrument(skip_all)]
    pub async fn revoked(&self) -> Result<Vec<Revocation>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT c.serial, v.revoked_at, v.reason FROM revocations v
             JOIN certificates c ON c.request_id = v.request_id
             WHERE c.not_after >= $1 ORDER BY v.revoked_at",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(serial, at, reason)| {
                let corrupt = |what: String| -> Error { StoreError::Corrupt(what).into() };
                Ok(Revocation {
                    serial: serial
                        .parse()
                        .map_err(|_| corrupt(format!("serial {serial}")))?,
                    revoked_at: OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|err| corrupt(err.to_string()))?,
                    reason: RevocationReason::from_name(&reason)
                        .map_err(|_| corrupt(format!("reason {reason}")))?,
                })
            })
            .collect()
    }

    /// Draws the next CRL number: one more than the last, kept in the log so it only grows
    /// (RFC 5280 §5.2.3).
    #[instrument(skip_all)]
    pub async fn next_crl_number(&self) -> Result<i64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO settings (key, value) VALUES ('crl_number', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
             RETURNING CAST(value AS INTEGER)",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(number)
    }
}
