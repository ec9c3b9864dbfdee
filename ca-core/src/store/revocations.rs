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

    /// Records the revocation of the certificate of request `id`. A certificate revoked for
    /// another reason and revoked again for keyCompromise has its reason raised to it (its
    /// date kept): its key was found exposed later (Baseline Requirements §7.2.2). Any other
    /// second revocation, or a request without a certificate, is a [`Error::Conflict`] that
    /// says why.
    #[instrument(skip_all)]
    pub async fn revoke(
        &self,
        id: RequestId,
        reason: RevocationReason,
        actor: &str,
    ) -> Result<Issuance> {
        Ok(self.revoke_with(id, reason, actor, true).await?.0)
    }

    /// [`Store::revoke`], raising an earlier revocation's reason only when `may_raise`; with
    /// the reason raised from, when it was.
    #[instrument(skip_all)]
    pub async fn revoke_with(
        &self,
        id: RequestId,
        reason: RevocationReason,
        actor: &str,
        may_raise: bool,
    ) -> Result<(Issuance, Option<RevocationReason>)> {
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
        let mut detail = format!("serial {} reason {reason}", cert.serial);
        let mut raised_from = None;
        if inserted.rows_affected() != 1 {
            let earlier: Option<String> =
                sqlx::query_scalar("SELECT reason FROM revocations WHERE request_id = $1")
                    .bind(id.get())
                    .fetch_optional(&mut *tx)
                    .await?;
            let raised = match &earlier {
                Some(earlier)
                    if may_raise
                        && reason == RevocationReason::KeyCompromise
                        && earlier.as_str() != reason.name() =>
                {
                    sqlx::query(
                        "UPDATE revocations SET reason = $1 WHERE request_id = $2 AND reason = $3",
                    )
                    .bind(reason.name())
                    .bind(id.get())
                    .bind(earlier)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
                _ => false,
            };
            if !raised {
                drop(tx);
                let row = self.issuance(id).await?;
                let (when, was) = row
                    .certificate
                    .as_ref()
                    .and_then(|c| c.revocation.as_ref())
                    .map(|r| (crate::display::time(r.revoked_at), r.reason))
                    .unzip();
                let was = was.unwrap_or(reason);
                return Err(Error::Conflict(format!(
                    "certificate {id} (serial {}) was already revoked on {} ({was}){}",
                    cert.serial,
                    when.unwrap_or_default(),
                    if was == RevocationReason::KeyCompromise {
                        ""
                    } else {
                        "; a revocation's reason changes only to keyCompromise, when the key is found exposed later"
                    }
                )));
            }
            let earlier = earlier.unwrap_or_default();
            detail = format!(
                "serial {} reason raised from {earlier} to {reason}",
                cert.serial
            );
            raised_from = <RevocationReason as crate::choice::Choice>::from_name(&earlier).ok();
        }
        // The response signed ahead says good (or the reason before): it goes with the same
        // commit, so no process hands it out once the revocation is recorded.
        sqlx::query("DELETE FROM ocsp_responses WHERE request_id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        audit::record(&mut tx, actor, "revoke", &id.to_string(), &detail).await?;
        tx.commit().await?;
        Ok((self.issuance(id).await?, raised_from))
    }
}
