//! Notices that reach a person (expiry warnings, watched servers' findings), each claimed by
//! one row so that it goes out once across restarts and servers, and the last verdict of each
//! watched server.

use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::instrument;

use super::Store;
use crate::error::{Result, StoreError};

/// A notice waiting to be sent on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) id: i64,
    pub(crate) about: String,
    pub(crate) channel: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) payload: String,
    pub(crate) attempts: i64,
    pub(crate) next_attempt: i64,
}

/// The last check of a watched server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WatchedServer {
    pub(crate) verdict: String,
    pub(crate) codes: String,
    pub(crate) changes: i64,
}

/// A notice to record.
pub(crate) struct NewNotice<'a> {
    pub(crate) about: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) body: &'a str,
    pub(crate) payload: &'a str,
}

impl Store {
    /// Records `notice` for each channel, unless it was recorded before: the number of rows
    /// added.
    #[instrument(skip_all)]
    pub(crate) async fn add_notice(
        &self,
        notice: &NewNotice<'_>,
        channels: &[&str],
        now: i64,
    ) -> Result<u64> {
        let mut added = 0;
        let mut tx = self.begin_write().await?;
        for channel in channels {
            added += sqlx::query(
                "INSERT INTO notices (about, channel, created_at, subject, body, payload, next_attempt)
                 VALUES ($1, $2, $3, $4, $5, $6, $3) ON CONFLICT (about, channel) DO NOTHING",
            )
            .bind(notice.about)
            .bind(*channel)
            .bind(now)
            .bind(notice.subject)
            .bind(notice.body)
            .bind(notice.payload)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// True when a notice about `about` was recorded (on any channel).
    pub(crate) async fn notice_exists(&self, about: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM notices WHERE about = $1 LIMIT 1")
                .bind(about)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// The notices due by `now`, oldest first, at most `limit`.
    #[instrument(skip_all)]
    pub(crate) async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<Notice>> {
        let rows = sqlx::query(
            "SELECT id, about, channel, subject, body, payload, attempts, next_attempt FROM notices
             WHERE sent_at IS NULL AND next_attempt IS NOT NULL AND next_attempt <= $1
             ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }

    /// Takes `notice` for sending until `until`: false when another server took it first.
    pub(crate) async fn claim_notice(&self, notice: &Notice, until: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query(
            "UPDATE notices SET next_attempt = $1
             WHERE id = $2 AND sent_at IS NULL AND next_attempt = $3",
        )
        .bind(until)
        .bind(notice.id)
        .bind(notice.next_attempt)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(taken == 1)
    }

    /// Records that `id` was sent at `now`.
    pub(crate) async fn notice_sent(&self, id: i64, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE notices SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that sending `id` failed with `error`; it is due again at `retry_at`.
    pub(crate) async fn notice_failed(&self, id: i64, error: &str, retry_at: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE notices SET attempts = attempts + 1, last_error = $1, next_attempt = $2
             WHERE id = $3 AND sent_at IS NULL",
        )
        .bind(error)
        .bind(retry_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many notices are waiting to be sent, and how many were sent.
    pub(crate) async fn notice_counts(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN sent_at IS NULL AND next_attempt IS NOT NULL THEN 1 ELSE 0 END), 0) AS waiting,
                    COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS sent
             FROM notices",
        )
        .fetch_one(&self.pool)
        .await?;
        let get = |c: &str| -> Result<i64> { Ok(row.try_get(c).map_err(StoreError::from)?) };
        Ok((get("waiting")?, get("sent")?))
    }

    /// The last check of the server at `url`, if it was checked.
    pub(crate) async fn watched_server(&self, url: &str) -> Result<Option<WatchedServer>> {
        let row = sqlx::query("SELECT verdict, codes, changes FROM watched_servers WHERE url = $1")
            .bind(url)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let text =
                |c: &str| -> Result<String> { Ok(row.try_get(c).map_err(StoreError::from)?) };
            Ok(WatchedServer {
                verdict: text("verdict")?,
                codes: text("codes")?,
                changes: row.try_get("changes").map_err(StoreError::from)?,
            })
        })
        .transpose()
    }

    /// The servers checked since `since`.
    pub(crate) async fn watched_since(&self, since: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT url FROM watched_servers WHERE checked_at >= $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Records a check of `url`; `changed`: its verdict differs from the last one.
    pub(crate) async fn record_watch(
        &self,
        url: &str,
        verdict: &str,
        codes: &str,
        now: i64,
        changed: bool,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO watched_servers (url, verdict, codes, checked_at, changed_at, changes)
             VALUES ($1, $2, $3, $4, $4, 0)
             ON CONFLICT (url) DO UPDATE SET verdict = excluded.verdict, codes = excluded.codes,
                 checked_at = excluded.checked_at,
                 changed_at = CASE WHEN $5 = 1 THEN excluded.checked_at ELSE watched_servers.changed_at END,
                 changes = watched_servers.changes + $5",
        )
        .bind(url)
        .bind(verdict)
        .bind(codes)
        .bind(now)
        .bind(i64::from(changed))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The names (JSON arrays) of the certificates issued after `id`, neither revoked nor
    /// expired at `now`, that may hold `name`: the candidates for a renewal of certificate
    /// `id`.
    pub(crate) async fn later_certificates_naming(
        &self,
        id: i64,
        name: &str,
        now: i64,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT c.names FROM certificates c LEFT JOIN revocations v ON v.request_id = c.request_id
             WHERE c.not_after > $1 AND c.request_id > $2 AND v.request_id IS NULL AND c.names LIKE $3",
        )
        .bind(now)
        .bind(id)
        .bind(format!("%\"{name}\"%"))
        .fetch_all(&self.pool)
        .await?)
    }
}

fn notice_from_row(row: &AnyRow) -> Result<Notice> {
    let text = |c: &str| -> Result<String> { Ok(row.try_get(c).map_err(StoreError::from)?) };
    let int = |c: &str| -> Result<i64> { Ok(row.try_get(c).map_err(StoreError::from)?) };
    Ok(Notice {
        id: int("id")?,
        about: text("about")?,
        channel: text("channel")?,
        subject: text("subject")?,
        body: text("body")?,
        payload: text("payload")?,
        attempts: int("attempts")?,
        next_attempt: int("next_attempt")?,
    })
}
