//! The CA's settings, as key/value rows every process reads.

use std::sync::Arc;
use std::time::Instant;

use tracing::instrument;

use super::{Store, audit};
use crate::error::Result;

impl Store {
    /// A setting of the CA, if set.
    #[instrument(skip_all)]
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// The settings among `keys` that are set, as (key, value) pairs: from memory while
    /// nothing was committed to the log since they were read (see [`super::memo`]), else in
    /// one query.
    #[instrument(skip_all)]
    pub async fn settings(&self, keys: &[&str]) -> Result<Vec<(String, String)>> {
        let wanted = |all: &[(String, String)]| -> Vec<(String, String)> {
            all.iter()
                .filter(|(key, _)| keys.contains(&key.as_str()))
                .cloned()
                .collect()
        };
        let Some(version) = self.change_counter(Instant::now()) else {
            return Ok(wanted(&self.all_settings().await?));
        };
        let all = match self.memo.settings(version) {
            Some(all) => all,
            None => {
                let all = Arc::new(self.all_settings().await?);
                self.memo.keep_settings(version, Arc::clone(&all));
                all
            }
        };
        Ok(wanted(&all))
    }

    /// Every setting, in one query (the table holds a dozen rows at most).
    async fn all_settings(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT key, value FROM settings")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Sets several settings at once, and records the change in the audit trail.
    #[instrument(skip_all)]
    pub async fn set_settings(&self, actor: &str, pairs: &[(&str, String)]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (key, value) in pairs {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            audit::record(&mut tx, actor, "setting", key, value).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
