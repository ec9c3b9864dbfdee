//! Revocations and the CRL number.

use time::OffsetDateTime;
use tracing::instrument;

use super::{Issuance, RequestId, Store, audit};
use crate::error::{Error, Result};
use crate::revoke::RevocationReason;

impl Store {
    /// The first certificate revoked for keyCompromise whose public key (the subjectPublicKey's
    /// bits) is `key`: a key known to be exposed, never to be certified again.
    #[instrument(skip_all)]
    pub(crate) async fn compromised_key(&self, key: &[u8]) -> Result<Option<RequestId>> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT c.request_id, c.der FROM revocations v
             JOIN certificates c ON c.request_id = v.request_id
             WHERE v.reason = 'keyCompromise' ORDER BY c.request_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for (id, der) in rows {
            let same = x509_parser::parse_x509_certificate(&der)
                .is_ok_and(|(_, cert)| cert.public_key().subject_public_key.data.as_ref() == key);
            if same {
                return Ok(Some(RequestId::from_log(id)?));
            }
        }
        Ok(None)
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
