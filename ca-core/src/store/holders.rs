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
    /// Its first renewal, when it was renewed and every renewal of its line was revoked since.
    pub renewed_by: Option<RequestId>,
    /// The certificate to renew to replace it: itself, or the newest of those renewals (a
    /// certificate is renewed once; its line goes on from there).
    pub to_renew: RequestId,
}

impl Store {
    /// The certificates valid at `now` (not expired, not revoked, not renewed since, not the
    /// CA's own) whose names include any of `names`, oldest first: found in the key of
    /// `certificate_names` (a row per name of each certificate, with its end of validity), so
    /// that no certificate's row is read: the cost follows the entries of the names asked for,
    /// not the size of the log, and reads a page of the log per some hundred holders, not per
    /// holder.
    #[instrument(skip_all)]
    pub(crate) async fn holders(
        &self,
        names: &[SubjectName],
        now: OffsetDateTime,
    ) -> Result<Vec<Holder>> {
        self.holders_of(names, now, false).await
    }

    /// [`Store::holders`], those renewed since among them when `renewed` is set (still valid
    /// all the same: what shares a key with a certificate revoked for keyCompromise).
    pub(crate) async fn holders_of(
        &self,
        names: &[SubjectName],
        now: OffsetDateTime,
        renewed: bool,
    ) -> Result<Vec<Holder>> {
        // Each name once (a command line may repeat one, in any case or with a trailing dot,
        // which parsing made the same name): the note names it once.
        let wanted: Vec<String> = crate::name::distinct(names.iter().cloned())
            .iter()
            .map(ToString::to_string)
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let now_secs = now.unix_timestamp();
        // A query binds at most so many names (SQLite takes 32,766 values in all); a
        // certificate found by names of two batches is one holder.
        let mut held: std::collections::BTreeMap<i64, (i64, Option<i64>, Vec<String>)> =
            std::collections::BTreeMap::new();
        for batch in wanted.chunks(NAMES_PER_QUERY) {
            for (id, not_after, name, renewed_by) in
                self.holder_rows(batch, now_secs, renewed).await?
            {
                held.entry(id)
                    .or_insert_with(|| (not_after, renewed_by, Vec::new()))
                    .2
                    .push(name);
            }
        }
        let mut holders = Vec::with_capacity(held.len());
        for (id, (not_after, renewed_by, found)) in held {
            // In the order asked for.
            let names: Vec<String> = wanted
                .iter()
                .filter(|name| found.contains(name))
                .cloned()
                .collect();
            let id = RequestId::from_log(id)?;
            holders.push(Holder {
                id,
                not_after: OffsetDateTime::from_unix_timestamp(not_after)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
                names,
                renewed_by: renewed_by.map(RequestId::from_log).transpose()?,
                to_renew: id,
            });
        }
        Ok(holders)
    }

    /// The rows (id, notAfter, name, first renewal) of the names among `names` that
    /// certificates valid at `now_secs` hold, a row per certificate and name.
    async fn holder_rows(
        &self,
        names: &[String],
        now_secs: i64,
        renewed: bool,
    ) -> Result<Vec<HolderRow>> {
        let sql = holders_sql(names.len(), renewed);
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
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<HolderRow>>>()
        });
        match here {
            Some(rows) => Ok(rows),
            None => {
                let mut query = sqlx::query_as::<_, HolderRow>(&sql)
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

/// A row of the holders' query: request id, notAfter, a name, the first renewal.
type HolderRow = (i64, i64, String, Option<i64>);

/// The most names one query of the holders binds.
const NAMES_PER_QUERY: usize = 500;

/// The query of [`Store::holders`] for `count` names: `$1` the time, `$2` and `$3` the CA's own
/// requesters, then the names (on SQLite, parameters are numbered in the order they first
/// appear in the text, so they appear in this order).
fn holders_sql(count: usize, renewed: bool) -> String {
    let names: Vec<String> = (0..count).map(|index| format!("${}", index + 4)).collect();
    // Each condition is read from a key: the names' own (with the end of validity), the
    // requests of the CA's own requesters (a handful, read once), the revocations' and the
    // renewals'. No certificate's or request's row is read.
    format!(
        "SELECT h.request_id, h.not_after, h.name,
                (SELECT min(n.request_id) FROM certificates n WHERE n.renewed_from = h.request_id)
         FROM certificate_names h
         WHERE h.not_after >= $1
           AND h.request_id NOT IN (SELECT r.id FROM requests r WHERE r.requester IN ($2, $3))
           AND h.name IN ({})
           AND NOT EXISTS (SELECT 1 FROM revocations v WHERE v.request_id = h.request_id)
           {}
         ORDER BY h.request_id",
        names.join(", "),
        if renewed {
            ""
        } else {
            concat!("AND NOT ", renewal_in_force!("h.request_id", "h.not_after"))
        }
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::holders_sql;

    /// SQLite finds the holders through the names' key, whatever the log holds: it reads no
    /// certificate's or request's row, only keys (the revocations' rows are their key).
    #[tokio::test]
    async fn the_holders_are_found_in_keys_without_reading_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::tests::new_sqlite_log(dir.path()).await;
        let path = dir.path().join("ca.db");
        let connection = rusqlite::Connection::open(&path).unwrap();
        for count in [1, 3] {
            let mut plan = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {}", holders_sql(count, false)))
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
                text.contains("SEARCH h USING PRIMARY KEY (name=?"),
                "{text}"
            );
            // `line` is the renewals of one certificate's line (see `renewal_in_force!`),
            // not a table of the log.
            assert!(
                !steps
                    .iter()
                    .any(|step| step.starts_with("SCAN") && step != "SCAN line"),
                "a table read whole: {text}"
            );
            // n: certificates, r: requests. The walk of a renewed certificate's line reads its
            // renewals' rows (their notAfter); it runs past the covering look that finds most
            // certificates never renewed, which comes first.
            let walk = steps.iter().position(|step| step == "CO-ROUTINE line");
            let look = steps.iter().position(|step| {
                step == "SEARCH n USING COVERING INDEX certificates_renewed_from (renewed_from=?)"
            });
            assert!(look.is_some() && look < walk, "{text}");
            for step in steps
                .iter()
                .filter(|step| step.starts_with("SEARCH n") || step.starts_with("SEARCH r"))
            {
                assert!(
                    step.contains("USING COVERING INDEX")
                        || step
                            == "SEARCH n USING INDEX certificates_renewed_from (renewed_from=?)",
                    "rows read: {text}"
                );
            }
        }
    }
}
