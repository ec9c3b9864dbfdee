//! The CA's settings, as key/value rows every process reads.

use std::sync::Arc;
use std::time::Instant;

use sqlx::AnyConnection;
use tracing::instrument;

use super::{Store, audit};
use crate::error::Result;

impl Store {
    /// A setting of the CA, if set (see [`Store::settings`]).
    #[instrument(skip_all)]
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let mut found = self.settings(&[key]).await?;
        Ok(found.pop().map(|(_, value)| value))
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
        let Some(version) = self.settings_counter(Instant::now()) else {
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
        let here = self.read_here(|connection| {
            let mut statement = connection.prepare_cached("SELECT key, value FROM settings")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<(String, String)>>>()
        });
        if let Some(all) = here {
            return Ok(all);
        }
        Ok(sqlx::query_as("SELECT key, value FROM settings")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Makes this log a new CA's: in one write transaction (which on PostgreSQL holds the
    /// database-wide write lock), checks that no root is recorded and nothing was ever
    /// written, then sets `pairs` (the root's fingerprint under `root_key` among them). When
    /// another process claimed the log first, nothing is written and the fingerprint it
    /// recorded is returned (`"not recorded"` for a log with history but no root). The audit
    /// trail records the creation (`init` of `subject`, with `detail`) in the same transaction.
    #[instrument(skip_all)]
    pub async fn claim(
        &self,
        actor: &str,
        root_key: &str,
        pairs: &[(&str, String)],
        (subject, detail): (&str, &str),
    ) -> Result<Option<String>> {
        let mut tx = self.begin_write().await?;
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(root_key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(recorded) = recorded {
            return Ok(Some(recorded));
        }
        let used: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM requests)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if used != 0 {
            return Ok(Some("not recorded".into()));
        }
        let pairs: Vec<(&str, Option<&str>, Audit)> = pairs
            .iter()
            .map(|(key, value)| (*key, Some(value.as_str()), Audit::Value))
            .collect();
        write_settings(&mut tx, actor, &pairs).await?;
        audit::record(&mut tx, actor, "init", subject, detail).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Sets (or, with `None`, removes) several settings at once, and records each change in
    /// the audit trail as its setting asks ([`Audit`]: a secret as changed, a URL as its
    /// origin, anything else as it is).
    #[instrument(skip_all)]
    pub async fn set_settings(
        &self,
        actor: &str,
        pairs: &[(&str, Option<&str>, Audit)],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        write_settings(&mut tx, actor, pairs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::set_settings`], once `check` accepts the values of `keys` as the write's own
    /// transaction reads them: a rule between settings holds whatever another process sets
    /// meanwhile (each change checked against what the other left, never both against what
    /// was there before).
    pub(crate) async fn set_settings_checked(
        &self,
        actor: &str,
        pairs: &[(&str, Option<&str>, Audit)],
        keys: &[&str],
        check: impl FnOnce(&[Option<String>]) -> Result<()>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(
                sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?,
            );
        }
        check(&values)?;
        write_settings(&mut tx, actor, pairs).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Sets (or removes) each of `pairs` and records it in the audit trail, inside the caller's
/// transaction.
async fn write_settings(
    tx: &mut AnyConnection,
    actor: &str,
    pairs: &[(&str, Option<&str>, Audit)],
) -> Result<()> {
    for (key, value, how) in pairs {
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
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let shown = audited(*how, *value);
        audit::record(tx, actor, "setting", key, &shown).await?;
    }
    Ok(())
}

/// How a change of a setting is written into the audit trail, which every administrator
/// reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audit {
    /// As it is.
    Value,
    /// A URL, as its scheme, host and port only: its path or user may hold a secret.
    Origin,
    /// Only that it changed: a password, a token.
    Hidden,
}

/// What the audit trail says a setting became; `None`: it was removed.
pub(crate) fn audited(audit: Audit, value: Option<&str>) -> String {
    let Some(value) = value else {
        return "removed".to_owned();
    };
    match audit {
        Audit::Value => value.to_owned(),
        Audit::Hidden => "(changed)".to_owned(),
        Audit::Origin if value.is_empty() => String::new(),
        Audit::Origin => url::Url::parse(value).map_or_else(
            |_| "(changed)".to_owned(),
            |url| {
                format!(
                    "{} (the rest not shown)",
                    url.origin().ascii_serialization()
                )
            },
        ),
    }
}
