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
    /// CA's own) whose names include any of `names`, oldest first. The query narrows with `LIKE` on the JSON
    /// of each row's names; the names are then compared exactly.
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
        let mut sql = String::from(
            "SELECT c.request_id, c.not_after, c.names FROM certificates c
             JOIN requests r ON r.id = c.request_id
             WHERE c.not_after >= $1
               AND r.requester <> $2 AND r.requester <> $3
               AND NOT EXISTS (SELECT 1 FROM revocations v WHERE v.request_id = c.request_id)
               AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.renewed_from = c.request_id)
               AND (",
        );
        for index in 0..wanted.len() {
            if index > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!("c.names LIKE ${}", index + 4));
        }
        sql.push_str(") ORDER BY c.request_id");
        // The CA's own certificates (its web server's, its OCSP responder's) are its to
        // renew, never an administrator's: they are no holder to point to.
        // A name's characters hold no LIKE escape; `_` matching any character only widens
        // the narrowing, which the exact comparison below undoes.
        let patterns: Vec<String> = wanted.iter().map(|name| format!("%\"{name}\"%")).collect();
        // On SQLite, on the caller's thread (parameters `$1`, `$2`... are numbered in the
        // order they first appear, which is theirs).
        let here = self.read_here(|connection| {
            let mut statement = connection.prepare(&sql)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![
                &now_secs,
                &super::SERVER_REQUESTER,
                &super::RESPONDER_REQUESTER,
            ];
            values.extend(patterns.iter().map(|p| p as &dyn rusqlite::ToSql));
            let rows = statement.query_map(values.as_slice(), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<(i64, i64, String)>>>()
        });
        let rows = match here {
            Some(rows) => rows,
            None => {
                let mut query = sqlx::query_as::<_, (i64, i64, String)>(&sql)
                    .bind(now_secs)
                    .bind(super::SERVER_REQUESTER)
                    .bind(super::RESPONDER_REQUESTER);
                for pattern in &patterns {
                    query = query.bind(pattern);
                }
                query.fetch_all(&self.pool).await?
            }
        };
        let mut holders = Vec::new();
        for (id, not_after, json) in rows {
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
}
