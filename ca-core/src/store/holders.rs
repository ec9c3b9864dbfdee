//! The valid certificates that already hold a name: what issuing points to before making
//! another certificate for it.

use time::OffsetDateTime;
use tracing::instrument;

use super::Store;
use super::records::RequestId;
use crate::error::{Result, StoreError};
use crate::name::SubjectName;

/// A valid certificate that holds some of the names asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub id: RequestId,
    pub not_after: OffsetDateTime,
    /// The names asked for that it holds, as the log writes them.
    pub names: Vec<String>,
}

impl Store {
    /// The certificates valid at `now` (not expired, not revoked, not renewed since, not the
    /// CA's own) whose names include any of `names`, oldest first: found through the key of
    /// `certificate_names` (a row per name of each certificate), so the cost follows the
    /// certificates that hold the names, not the size of the log.
    #[instrument(skip_all)]
    pub(crate) async fn holders(
        &self,
        names: &[SubjectName],
        now: OffsetDateTime,
    ) -> Result<Vec<Holder>> {
        let wanted: Vec<String> = names.iter().map(ToString::to_string).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let now_secs = now.unix_timestamp();
        // A query binds at most so many names (SQLite takes 32,766 values in all); a
        // certificate found by names of two batches is one row.
        let mut rows = std::collections::BTreeMap::new();
        for batch in wanted.chunks(NAMES_PER_QUERY) {
            for (id, not_after, json) in self.holder_rows(batch, now_secs).await? {
                rows.insert(id, (not_after, json));
            }
        }
        let mut holders = Vec::new();
        for (id, (not_after, json)) in rows {
            let held: Vec<String> = serde_json::from_str(&json)
                .map_err(|err| StoreError::Corrupt(format!("names of certificate {id}: {err}")))?;
            let names: Vec<String> = wanted
                .iter()
                .filter(|name| held.contains(name))
                .cloned()
                .collect();
            if names.is_empty() {
                continue;
            }
            holders.push(Holder {
                id: RequestId::from_log(id)?,
                not_after: OffsetDateTime::from_unix_timestamp(not_after)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
                names,
            });
        }
        Ok(holders)
    }

    /// The rows (id, notAfter, names) of the certificates valid at `now_secs` that hold any of
    /// `names`.
    async fn holder_rows(
        &self,
        names: &[String],
        now_secs: i64,
    ) -> Result<Vec<(i64, i64, String)>> {
        let sql = holders_sql(names.len());
        // The CA's own certificates (its web server's, its OCSP responder's) are its to
        // renew, never an administrator's: they are no holder to point to.
        // On SQLite, on the caller's thread (parameters `$1`, `$2`... are numbered in the
        // order they first appear, which is theirs).
        let here = self.read_here(|connection| {
            let mut statement = connection.prepare(&sql)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![
                &now_secs,
                &super::SERVER_REQUESTER,
                &super::RESPONDER_REQUESTER,
            ];
            values.extend(names.iter().map(|name| name as &dyn rusqlite::ToSql));
            let rows = statement.query_map(values.as_slice(), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<(i64, i64, String)>>>()
        });
        match here {
            Some(rows) => Ok(rows),
            None => {
                let mut query = sqlx::query_as::<_, (i64, i64, String)>(&sql)
                    .bind(now_secs)
                    .bind(super::SERVER_REQUESTER)
                    .bind(super::RESPONDER_REQUESTER);
                for name in names {
                    query = query.bind(name);
                }
                Ok(query.fetch_all(&self.pool).await?)
            }
        }
    }
}

/// The most names one query of the holders binds.
const NAMES_PER_QUERY: usize = 500;

/// The query of [`Store::holders`] for `count` names: `$1` the time, `$2` and `$3` the CA's own
/// requesters, then the names (on SQLite, parameters are numbered in the order they first
/// appear in the text, so they appear in this order).
fn holders_sql(count: usize) -> String {
    let names: Vec<String> = (0..count).map(|index| format!("${}", index + 4)).collect();
    format!(
        "SELECT c.request_id, c.not_after, c.names FROM certificates c
         JOIN requests r ON r.id = c.request_id
         WHERE c.not_after >= $1
           AND r.requester <> $2 AND r.requester <> $3
           AND c.request_id IN (SELECT request_id FROM certificate_names WHERE name IN ({}))
           AND NOT EXISTS (SELECT 1 FROM revocations v WHERE v.request_id = c.request_id)
           AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.renewed_from = c.request_id)
         ORDER BY c.request_id",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::holders_sql;

    /// SQLite finds the holders through the names' key, whatever the log holds: it reads no
    /// certificate that does not hold a name asked for.
    #[tokio::test]
    async fn the_holders_are_found_through_the_names_key_not_by_reading_every_certificate() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::tests::new_sqlite_log(dir.path()).await;
        let path = dir.path().join("ca.db");
        let connection = rusqlite::Connection::open(&path).unwrap();
        for count in [1, 3] {
            let mut plan = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {}", holders_sql(count)))
                .unwrap();
            let steps: Vec<String> = plan
                .query_map(
                    rusqlite::params_from_iter(vec![rusqlite::types::Null; count + 3]),
                    |row| row.get::<_, String>(3),
                )
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let text = steps.join("\n");
            assert!(
                text.contains("certificate_names USING PRIMARY KEY (name=?)")
                    || text.contains("certificate_names USING COVERING INDEX"),
                "{text}"
            );
            assert!(
                !steps.iter().any(|step| step.starts_with("SCAN c")),
                "every certificate read: {text}"
            );
        }
    }
}
