//! What the log holds, counted cheaply for the metrics: from the tallies its triggers keep
//! (migrations `*_tallies.sql`), never by counting every row. A reading costs a few index
//! lookups and a sum over one tally row per day on which certificates expire, whatever the
//! number of requests; on PostgreSQL, plus the changes not yet folded into the tallies, which
//! each reading folds (a bounded number at a time) under the write lock.

use std::collections::HashMap;

use time::OffsetDateTime;
use tracing::instrument;

use super::Store;
use super::records::{RequestSource, Status};
use crate::choice::Choice;
use crate::error::{Result, StoreError};

/// Seconds in a day: the tallies count certificates by `not_after / DAY`.
const DAY: i64 = 86_400;
/// The most changes one reading folds into the tallies; the rest are added up as they are,
/// and folded by the next readings.
const FOLD_BATCH: i64 = 5_000;
/// Ids per `DELETE ... IN (...)` of folded changes, well under both backends' limits.
const DELETE_BATCH: usize = 500;

/// The log counted: certificates by status, requests by source and outcome, and the soonest
/// expiry of a certificate someone has to renew.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogCounts {
    /// How many rows a list filtered by status S holds, for each status S.
    pub by_status: Vec<(Status, u64)>,
    /// Certificates issued, by where their request came from; only ever grows.
    pub issued: Vec<(RequestSource, u64)>,
    /// Requests refused or denied, by where they came from; only ever grows.
    pub denied: Vec<(RequestSource, u64)>,
    /// The earliest notAfter among valid certificates that were not renewed, leaving out the
    /// certificates the CA's own server and OCSP responder make for themselves (they renew
    /// themselves, and the server logs a failure to); `None` when there is none.
    pub soonest_expiry: Option<OffsetDateTime>,
}

impl Store {
    /// The log counted as of `now` (see [`LogCounts`]). `self_renewing` are the requesters
    /// whose certificates renew themselves, left out of the soonest expiry.
    #[instrument(skip_all)]
    pub async fn counts(&self, now: OffsetDateTime, self_renewing: &[&str]) -> Result<LogCounts> {
        self.fold_tally_changes().await?;
        let now_secs = now.unix_timestamp();
        let today = now_secs.div_euclid(DAY);

        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT source, status, CAST(SUM(requests) AS BIGINT) AS requests FROM (
                 SELECT source, status, requests FROM request_tallies
                 UNION ALL
                 SELECT source, status, requests FROM tally_changes WHERE source IS NOT NULL
             ) t GROUP BY source, status",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut requests: HashMap<(RequestSource, &str), u64> = HashMap::new();
        for (source, status, count) in &rows {
            let source = RequestSource::from_name(source)
                .map_err(|_| StoreError::Corrupt(format!("request source {source}")))?;
            let status = match status.as_str() {
                "issued" => "issued",
                "pending" => "pending",
                "denied" => "denied",
                other => return Err(StoreError::Corrupt(format!("request status {other}")).into()),
            };
            *requests.entry((source, status)).or_default() += non_negative(*count)?;
        }
        let of_status = |status: &str| -> Vec<(RequestSource, u64)> {
            RequestSource::ALL
                .iter()
                .map(|s| (*s, requests.get(&(*s, status)).copied().unwrap_or(0)))
                .collect()
        };
        let total = |status: &str| -> u64 { of_status(status).iter().map(|(_, n)| n).sum() };

        // Whole days before today are expired, whole days after it valid; today's certificates
        // are counted one by one (a day's worth at most, through the index on not_after).
        let (expired_before, valid_after, revoked): (i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN day < $1 THEN issued - revoked ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN day > $1 THEN issued - revoked ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(revoked), 0) AS BIGINT)
             FROM (
                 SELECT day, issued, revoked FROM expiry_tallies
                 UNION ALL
                 SELECT day, issued, revoked FROM tally_changes WHERE day IS NOT NULL
             ) t",
        )
        .bind(today)
        .fetch_one(&self.pool)
        .await?;
        let (expired_today, today_total): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN c.not_after < $2 THEN 1 ELSE 0 END), 0) AS BIGINT),
                    CAST(COUNT(*) AS BIGINT)
             FROM certificates c
             WHERE c.not_after >= $1 AND c.not_after < $3
               AND NOT EXISTS (SELECT 1 FROM revocations v WHERE v.request_id = c.request_id)",
        )
        .bind(today * DAY)
        .bind(now_secs)
        .bind((today + 1) * DAY)
        .fetch_one(&self.pool)
        .await?;

        let by_status = vec![
            (
                Status::Valid,
                non_negative(valid_after + today_total - expired_today)?,
            ),
            (
                Status::Expired,
                non_negative(expired_before + expired_today)?,
            ),
            (Status::Revoked, non_negative(revoked)?),
            (Status::Pending, total("pending")),
            (Status::Denied, total("denied")),
        ];
        Ok(LogCounts {
            by_status,
            issued: of_status("issued"),
            denied: of_status("denied"),
            soonest_expiry: self.soonest_expiry(now_secs, self_renewing).await?,
        })
    }

    /// The earliest notAfter at or after `now` of a certificate neither revoked nor renewed,
    /// whose requester is not one of `self_renewing`. Walks the index on not_after from now,
    /// skipping only the certificates it leaves out.
    async fn soonest_expiry(
        &self,
        now: i64,
        self_renewing: &[&str],
    ) -> Result<Option<OffsetDateTime>> {
        let mut sql = String::from(concat!(
            "SELECT c.not_after FROM certificates c JOIN requests r ON r.id = c.request_id
             WHERE c.not_after >= $1
               AND NOT EXISTS (SELECT 1 FROM revocations v WHERE v.request_id = c.request_id)
               AND NOT ",
            renewal_in_force!("c.request_id", "c.not_after")
        ));
        for index in 0..self_renewing.len() {
            sql.push_str(&format!(" AND r.requester <> ${}", index + 2));
        }
        sql.push_str(" ORDER BY c.not_after LIMIT 1");
        let mut query = sqlx::query_scalar(&sql).bind(now);
        for requester in self_renewing {
            query = query.bind(*requester);
        }
        let soonest: Option<i64> = query.fetch_optional(&self.pool).await?;
        soonest
            .map(|secs| {
                OffsetDateTime::from_unix_timestamp(secs)
                    .map_err(|err| StoreError::Corrupt(err.to_string()).into())
            })
            .transpose()
    }

    /// Adds the oldest changes the triggers appended (PostgreSQL) to the tallies, and deletes
    /// exactly those rows, in one write transaction. Nothing to do on SQLite, whose triggers
    /// keep the tallies themselves.
    pub(crate) async fn fold_tally_changes(&self) -> Result<()> {
        let any: Option<i64> = sqlx::query_scalar("SELECT id FROM tally_changes LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if any.is_none() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        type Change = (
            i64,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            i64,
            i64,
        );
        let changes: Vec<Change> = sqlx::query_as(
            "SELECT id, source, status, requests, day, issued, revoked
             FROM tally_changes ORDER BY id LIMIT $1",
        )
        .bind(FOLD_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut requests: HashMap<(String, String), i64> = HashMap::new();
        let mut days: HashMap<i64, (i64, i64)> = HashMap::new();
        for (_, source, status, count, day, issued, revoked) in &changes {
            if let (Some(source), Some(status)) = (source, status) {
                *requests
                    .entry((source.clone(), status.clone()))
                    .or_default() += count;
            }
            if let Some(day) = day {
                let entry = days.entry(*day).or_default();
                entry.0 += issued;
                entry.1 += revoked;
            }
        }
        for ((source, status), count) in &requests {
            sqlx::query(
                "INSERT INTO request_tallies (source, status, requests) VALUES ($1, $2, $3)
                 ON CONFLICT (source, status) DO UPDATE SET requests = request_tallies.requests + excluded.requests",
            )
            .bind(source)
            .bind(status)
            .bind(count)
            .execute(&mut *tx)
            .await?;
        }
        for (day, (issued, revoked)) in &days {
            sqlx::query(
                "INSERT INTO expiry_tallies (day, issued, revoked) VALUES ($1, $2, $3)
                 ON CONFLICT (day) DO UPDATE SET issued = expiry_tallies.issued + excluded.issued,
                     revoked = expiry_tallies.revoked + excluded.revoked",
            )
            .bind(day)
            .bind(issued)
            .bind(revoked)
            .execute(&mut *tx)
            .await?;
        }
        // Exactly the rows added up above: a change committed meanwhile with a lower id (ids
        // are drawn before commit) is left for the next fold.
        for chunk in changes.chunks(DELETE_BATCH) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM tally_changes WHERE id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for change in chunk {
                query = query.bind(change.0);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A count read from the tallies, which can never be negative in a log nobody altered.
fn non_negative(count: i64) -> Result<u64> {
    u64::try_from(count).map_err(|_| {
        StoreError::Corrupt(format!("a tally of the log is negative ({count})")).into()
    })
}
