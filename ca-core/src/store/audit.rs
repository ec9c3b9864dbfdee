//! The append-only audit trail: who did what, when. The schema's triggers refuse every
//! UPDATE and DELETE of it.

use sqlx::AnyConnection;
use time::OffsetDateTime;
use tracing::instrument;

use super::Store;
use crate::error::Result;

impl Store {
    /// Appends an event to the audit trail.
    #[instrument(skip_all)]
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        record(&mut tx, actor, action, subject, detail).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The statement that appends an event.
pub(super) const INSERT: &str =
    "INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)";

/// Appends an event inside the caller's transaction, so it commits with what it describes.
pub(super) async fn record(
    tx: &mut AnyConnection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(INSERT)
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .execute(tx)
        .await?;
    Ok(())
}
