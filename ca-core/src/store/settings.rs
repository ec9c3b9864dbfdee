//! The CA's settings, as key/value rows every process reads.

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

    /// The settings among `keys` that are set, as (key, value) pairs, in one query.
    #[instrument(skip_all)]
    pub async fn settings(&self, keys: &[&str]) -> Result<Vec<(String, String)>> {
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT key, value FROM settings WHERE key IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as(&sql);
        for key in keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Sets (or with `None` removes) a setting that must not be shown: the audit trail records
    /// that it changed, never its value.
    #[instrument(skip_all)]
    pub async fn set_hidden_setting(
        &self,
        actor: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        match value {
            Some(value) => {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
                audit::record(&mut tx, actor, "setting", key, "a new value (not shown)").await?;
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                audit::record(&mut tx, actor, "setting", key, "removed").await?;
            }
        }
        tx.commit().await?;
        Ok(())
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
            // A secret is recorded as changed, never as what it became.
            let shown = if key.ends_with("password") {
                "(changed)"
            } else {
                value.as_str()
            };
            audit::record(&mut tx, actor, "setting", key, shown).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
