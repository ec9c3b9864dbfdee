//! Revocations and the CRL number.

use time::OffsetDateTime;
use tracing::instrument;

use super::{Issuance, RequestId, Store, audit};
use crate::error::{Error, Result};
use crate::revoke::RevocationReason;

impl Store {
    /// Refuses a request for `key` (subjectPublicKey bits) when a certificate revoked for
    /// keyCompromise had it: for what is taken now and signed later (a pending request),
    /// whose signing checks again as it is written.
    #[instrument(skip_all)]
    pub(crate) async fn refuse_compromised_key(&self, key: &[u8]) -> Result<()> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(super::writer::COMPROMISED)
            .fetch_all(&self.pool)
            .await?;
        match rows
            .iter()
            .find(|(_, der)| crate::certificate::holds_key(der, key))
        {
            Some((id, _)) => Err(super::writer::compromised(*id)),
            None => Ok(()),
        }
    }

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
        let mut tx = self.begin_write().await?;
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
                .map(|r| crate::display::time(r.revoked_at))
                .unwrap_or_default();
            return Err(Error::Conflict(format!(
                "certificate {id} (serial {}) was already revoked on {when}",
                cert.serial
            )));
        }
        // The response signed ahead says good: it goes with the same commit, so no process
        // hands it out once the revocation is recorded.
        sqlx::query("DELETE FROM ocsp_responses WHERE request_id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
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
}
