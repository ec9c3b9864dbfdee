//! Requests and their certificates: recording pending requests, deciding them, and reading
//! rows back one at a time or as filtered lists.

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tracing::instrument;

use super::records::RESPONDER_REQUESTER;
use super::{
    CertificateRecord, Issuance, ListFilter, ListKey, ListOrder, ListPage, PendingRequest, Refusal,
    RequestId, RequestSource, Status, Store, audit, reader,
};
use crate::certificate::{Fingerprint, SerialNumber};
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};
use crate::key::KeyAlgorithm;
use crate::name::SubjectName;
use crate::revoke::{Revocation, RevocationReason};
use crate::status::StatusCode;

/// The columns of a row, with whether a renewal is in force as given.
macro_rules! columns {
    ($in_force:expr) => {
        concat!(
            "r.id, r.created_at, r.requester, r.source, r.names AS request_names, r.status,
        r.disposition, r.status_code, c.serial, c.names AS cert_names, c.not_before, c.not_after, c.key_algorithm,
        c.sha256, c.renewed_from, v.revoked_at, v.reason,
        (SELECT min(n.request_id) FROM certificates n WHERE n.renewed_from = c.request_id) AS renewed_by, ",
            $in_force,
            " AS renewal_in_force"
        )
    };
}

/// The columns of a row, without the certificate's DER: a list never needs it, and copying a
/// kilobyte a row out of the database was most of the time a list took on a large log.
const COLUMNS: &str = columns!(concat!(
    "CAST(CASE WHEN ",
    renewal_in_force!("c.request_id", "c.not_after"),
    " THEN 1 ELSE 0 END AS BIGINT)"
));

/// [`COLUMNS`] where the filter leaves out every certificate whose line a renewal carries on
/// (the expiring), so that none has one to look for.
const COLUMNS_NOT_RENEWED: &str = columns!("CAST(0 AS BIGINT)");

/// Every certificate's DER, newest first, for a look by SHA-1 thumbprint.
const SHA1_SCAN: &str = "SELECT request_id, der FROM certificates ORDER BY request_id DESC";

const JOINS: &str = "FROM requests r
    LEFT JOIN certificates c ON c.request_id = r.id
    LEFT JOIN revocations v ON v.request_id = r.id";

impl Store {
    /// Records a request left pending for an admin.
    #[instrument(skip_all)]
    pub async fn record_pending(
        &self,
        requester: &str,
        source: RequestSource,
        names: &[SubjectName],
        csr_der: &[u8],
        attributes: &str,
    ) -> Result<Issuance> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let texts: Vec<String> = names.iter().map(ToString::to_string).collect();
        let names =
            serde_json::to_string(&texts).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO requests (created_at, requester, source, names, csr, attributes, status, disposition)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 'Taken Under Submission') RETURNING id",
        )
        .bind(now)
        .bind(requester)
        .bind(source.name())
        .bind(&names)
        .bind(csr_der)
        .bind(attributes)
        .fetch_one(&mut *tx)
        .await?;
        audit::record(&mut tx, requester, "submit", &id.to_string(), "pending").await?;
        tx.commit().await?;
        self.issuance(RequestId::from_log(id)?).await
    }

    /// Records a refused submission as a denied request, so the requester gets an id for it
    /// and the administrator sees it among the failed requests.
    #[instrument(skip_all)]
    pub async fn record_refusal(&self, refusal: Refusal<'_>) -> Result<Issuance> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let texts: Vec<String> = refusal.names.iter().map(ToString::to_string).collect();
        let names =
            serde_json::to_string(&texts).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let attributes: String = refusal.attributes.chars().take(8 * 1024).collect();
        let disposition: String = refusal.disposition.chars().take(2 * 1024).collect();
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO requests (created_at, requester, source, names, csr, attributes, status, disposition, status_code, decided_at, decided_by)
             VALUES ($1, $2, $3, $4, $5, $6, 'denied', $7, $8, $9, 'policy') RETURNING id",
        )
        .bind(now)
        .bind(refusal.requester)
        .bind(refusal.source.name())
        .bind(&names)
        .bind(refusal.csr_der)
        .bind(&attributes)
        .bind(&disposition)
        .bind(i64::from(refusal.status_code.value))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            refusal.requester,
            "submit",
            &id.to_string(),
            &format!("refused: {disposition}"),
        )
        .await?;
        tx.commit().await?;
        self.issuance(RequestId::from_log(id)?).await
    }

    /// The CSR a request came with, whatever became of it; `None` for a request without one
    /// (an issuance with a key the CA made, a renewal).
    #[instrument(skip_all)]
    pub(crate) async fn csr_of(&self, id: RequestId) -> Result<Option<Vec<u8>>> {
        let csr: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT csr FROM requests WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?;
        Ok(csr.flatten())
    }

    /// A pending request, with what is needed to sign it.
    #[instrument(skip_all)]
    pub async fn pending_request(&self, id: RequestId) -> Result<PendingRequest> {
        let row =
            sqlx::query("SELECT requester, csr, attributes, status FROM requests WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        let status: String = row.try_get("status").map_err(StoreError::from)?;
        if status != "pending" {
            // As a denial of it says: what the request stands as now (valid, revoked, ...).
            let row = self.issuance(id).await?;
            return Err(Error::Conflict(format!(
                "request {id} is not pending: it is {}",
                row.status.name()
            )));
        }
        let csr_der: Option<Vec<u8>> = row.try_get("csr").map_err(StoreError::from)?;
        Ok(PendingRequest {
            id,
            requester: row.try_get("requester").map_err(StoreError::from)?,
            csr_der: csr_der
                .ok_or_else(|| StoreError::Corrupt(format!("request {id} has no CSR")))?,
            attributes: row
                .try_get::<Option<String>, _>("attributes")
                .map_err(StoreError::from)?
                .unwrap_or_default(),
        })
    }

    /// Denies a pending request with a reason.
    #[instrument(skip_all)]
    pub async fn deny(&self, id: RequestId, reason: &str, actor: &str) -> Result<Issuance> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE requests SET status = 'denied', disposition = $1, decided_at = $2, decided_by = $3,
                 status_code = $5
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(reason)
        .bind(now)
        .bind(actor)
        .bind(id.get())
        .bind(i64::from(StatusCode::ADMIN_DENIED.value))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            drop(tx);
            // Say why: unknown, or already decided.
            let row = self.issuance(id).await?;
            return Err(Error::Conflict(format!(
                "request {id} is not pending: it is {}",
                row.status.name()
            )));
        }
        audit::record(&mut tx, actor, "deny", &id.to_string(), reason).await?;
        tx.commit().await?;
        self.issuance(id).await
    }

    /// The row with this request id, the certificate's DER included.
    #[instrument(skip_all)]
    pub async fn issuance(&self, id: RequestId) -> Result<Issuance> {
        let sql = format!("SELECT {COLUMNS}, c.der {JOINS} WHERE r.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        issuance_from_row(&row, true)
    }

    /// The row of the certificate with this serial number, its DER included.
    #[instrument(skip_all)]
    pub async fn issuance_by_serial(&self, serial: &SerialNumber) -> Result<Issuance> {
        let sql = format!("SELECT {COLUMNS}, c.der {JOINS} WHERE c.serial = $1");
        let row = sqlx::query(&sql)
            .bind(serial.hex())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("a certificate with serial {serial}")))?;
        issuance_from_row(&row, true)
    }

    /// The row of the certificate whose DER has this SHA-256 digest (lowercase hex, as the
    /// log keeps it), its DER included.
    #[instrument(skip_all)]
    pub async fn issuance_by_sha256(&self, hex: &str) -> Result<Issuance> {
        let sql = format!("SELECT {COLUMNS}, c.der {JOINS} WHERE c.sha256 = $1");
        let row = sqlx::query(&sql)
            .bind(hex)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("a certificate with SHA-256 thumbprint {hex}"))
            })?;
        issuance_from_row(&row, true)
    }

    /// The row of the certificate whose DER has this SHA-1 digest (the thumbprint Windows
    /// shows), newest first. The log keeps no SHA-1 digests: every certificate is read and
    /// hashed until one matches, on a SQLite log on the caller's thread, on the connection
    /// that watches the log (a command's: a server's looks would wait behind the scan).
    #[instrument(skip_all)]
    pub async fn issuance_by_sha1(&self, digest: &[u8; 20]) -> Result<Issuance> {
        let matches = |der: &[u8]| crate::certificate::sha1(der) == *digest;
        let here = self.read_here(|connection| {
            let mut statement = connection.prepare(SHA1_SCAN)?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                if matches(row.get_ref(1)?.as_blob()?) {
                    return Ok(Some(row.get::<_, i64>(0)?));
                }
            }
            Ok(None)
        });
        let found = match here {
            Some(found) => found,
            None => {
                let mut rows = sqlx::query_as::<_, (i64, Vec<u8>)>(SHA1_SCAN).fetch(&self.pool);
                let mut found = None;
                while let Some((id, der)) = rows.try_next().await? {
                    if matches(&der) {
                        found = Some(id);
                        break;
                    }
                }
                found
            }
        };
        match found {
            Some(id) => self.issuance(RequestId::from_log(id)?).await,
            None => Err(Error::NotFound(format!(
                "a certificate with SHA-1 thumbprint {}",
                crate::display::hex(digest)
            ))),
        }
    }

    /// Rows requested by `requester`, newest first (at most 200).
    #[instrument(skip_all)]
    pub async fn list_by_requester(&self, requester: &str) -> Result<Vec<Issuance>> {
        let sql =
            format!("SELECT {COLUMNS} {JOINS} WHERE r.requester = $1 ORDER BY r.id DESC LIMIT 200");
        let rows = sqlx::query(&sql)
            .bind(requester)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| issuance_from_row(row, false))
            .collect()
    }

    /// The rows matching `filter`, in its order, without the certificates' DER.
    #[instrument(skip_all)]
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Issuance>> {
        Ok(self.list_page(filter).await?.rows)
    }

    /// A page of the rows matching `filter` (all of them without a limit), and where the next
    /// page starts when there are more.
    ///
    /// Every page is read by its keys (keyset pagination, never OFFSET): by request id
    /// (the primary key) or by notAfter and id (an index), from where the page before ended,
    /// so the millionth row costs what the first does.
    #[instrument(skip_all)]
    pub async fn list_page(&self, filter: &ListFilter) -> Result<ListPage> {
        // A row is expired once its notAfter second has begun (as `issuance_from_row` says), so
        // the queries' valid is `not_after > now`.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let phases = phases(filter);
        // One row more than asked for says whether there is a next page.
        let wanted = filter.limit.map(|limit| u64::from(limit) + 1);
        let mut rows = Vec::new();
        for phase in phases {
            let after = match (phase, filter.after) {
                // A key of the second phase: the first is over.
                (Phase::Certificates, Some(ListKey::Id(_))) if phases.len() == 2 => continue,
                // A key of the first phase: the second starts at its beginning.
                (Phase::WithoutCertificate, Some(ListKey::Expiry(..))) if phases.len() == 2 => None,
                (_, after) => after,
            };
            let remaining = wanted.map(|w| w.saturating_sub(rows.len() as u64));
            if remaining == Some(0) {
                break;
            }
            let sql = select(filter, *phase, after, remaining, now)?;
            let read = self.read_rows(sql).await?;
            if rows.is_empty() {
                // Taken as read: a list of thousands of rows is not copied into another.
                rows = read;
            } else {
                rows.extend(read);
            }
        }
        if expiring_whole_list(filter) && !filter.order.by_expiry() {
            // Read by expiry along its index (see `select`); the list's order is the id's.
            // The ids are sorted, and each row moved once to its place.
            let mut order: Vec<(RequestId, usize)> = rows
                .iter()
                .enumerate()
                .map(|(at, row)| (row.id, at))
                .collect();
            order.sort_unstable();
            if filter.order == ListOrder::IdDesc {
                order.reverse();
            }
            let sources: Vec<usize> = order.into_iter().map(|(_, at)| at).collect();
            permute(&mut rows, sources);
        }
        let next = match filter.limit {
            Some(limit) if rows.len() > limit as usize => {
                rows.truncate(limit as usize);
                rows.last().map(|row| ListKey::of(row, filter.order))
            }
            _ => None,
        };
        Ok(ListPage { rows, next })
    }
}

/// Puts `rows[sources[k]]` at `k` for every `k`, in place: each row is moved along its cycle
/// of the permutation, never copied into a second list of rows (a list of thousands of rows
/// would otherwise be built twice). `sources` must be a permutation of `0..rows.len()`.
fn permute<T>(rows: &mut [T], mut sources: Vec<usize>) {
    for start in 0..rows.len() {
        // Follow the cycle through `start`: each swap puts one row in its place, and the
        // places done point at themselves.
        let mut at = start;
        loop {
            let from = sources.get(at).copied().unwrap_or(at);
            if let Some(place) = sources.get_mut(at) {
                *place = at;
            }
            if from == start || from == at {
                break;
            }
            rows.swap(at, from);
            at = from;
        }
    }
}

impl Store {
    /// The rows `sql` selects ([`COLUMNS`], without the DER): on SQLite through the reader's
    /// own connection, else through the pool.
    async fn read_rows(&self, sql: Sql) -> Result<Vec<Issuance>> {
        if let Some(reader) = &self.reader {
            let text = sql.text.clone();
            let args: Vec<rusqlite::types::Value> = sql
                .args
                .iter()
                .map(|arg| match arg {
                    Arg::Int(value) => rusqlite::types::Value::Integer(*value),
                    Arg::Text(value) => rusqlite::types::Value::Text(value.clone()),
                })
                .collect();
            let read = reader
                .read(move |connection| {
                    let mut statement = connection
                        .prepare_cached(&text)
                        .map_err(|err| reader::failed(&err))?;
                    // SQLite reads `$n` as a name: each value is bound by its own.
                    for (n, arg) in args.into_iter().enumerate() {
                        let name = format!("${}", n + 1);
                        if let Some(at) = statement
                            .parameter_index(&name)
                            .map_err(|err| reader::failed(&err))?
                        {
                            statement
                                .raw_bind_parameter(at, arg)
                                .map_err(|err| reader::failed(&err))?;
                        }
                    }
                    let mut found = statement.raw_query();
                    let mut rows = Vec::new();
                    let now = OffsetDateTime::now_utc();
                    while let Some(row) = found.next().map_err(|err| reader::failed(&err))? {
                        rows.push(issuance_from_row_at(row, false, now)?);
                    }
                    Ok(rows)
                })
                .await?;
            if let Some(rows) = read {
                return Ok(rows);
            }
        }
        let mut query = sqlx::query(&sql.text);
        for arg in sql.args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
            };
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| issuance_from_row(row, false))
            .collect()
    }
}

#[cfg(test)]
impl Store {
    /// SQLite's plan of each query `list_page` runs for `filter` (its first page), one line
    /// per step: how the inventory reads the log.
    pub(super) async fn list_plan(&self, filter: &ListFilter) -> Result<Vec<String>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut plan = Vec::new();
        for phase in phases(filter) {
            let sql = select(
                filter,
                *phase,
                filter.after,
                filter.limit.map(u64::from),
                now,
            )?;
            let text = format!("EXPLAIN QUERY PLAN {}", sql.text);
            let mut query = sqlx::query(&text);
            for arg in sql.args {
                query = match arg {
                    Arg::Int(value) => query.bind(value),
                    Arg::Text(value) => query.bind(value),
                };
            }
            for row in query.fetch_all(&self.pool).await? {
                plan.push(row.try_get::<String, _>("detail")?);
            }
        }
        Ok(plan)
    }
}

/// The queries of a list, in order.
fn phases(filter: &ListFilter) -> &'static [Phase] {
    match (filter.order.by_expiry(), filter.status) {
        (false, _) => &[Phase::All],
        (true, Some(Status::Pending | Status::Denied)) => &[Phase::WithoutCertificate],
        (true, Some(_)) => &[Phase::Certificates],
        (true, None) if filter.expiring_within_days.is_some() => &[Phase::Certificates],
        (true, None) => &[Phase::Certificates, Phase::WithoutCertificate],
    }
}

/// True for a list without a limit of the certificates expiring within some days: bounded
/// by the expiry index, whatever the order.
fn expiring_whole_list(filter: &ListFilter) -> bool {
    filter.limit.is_none() && filter.expiring_within_days.is_some()
}

/// Which rows one query of a list reads: every row (lists by id), or in lists by expiry the
/// certificates first, then the rows without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    All,
    Certificates,
    WithoutCertificate,
}

/// The table a query reads in the list's order, the others joined to it row by row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drive {
    Requests,
    Certificates,
    Revocations,
}

impl Drive {
    /// The request id as this table holds it (its key).
    fn id(self) -> &'static str {
        match self {
            Drive::Requests => "r.id",
            Drive::Certificates => "c.request_id",
            Drive::Revocations => "v.request_id",
        }
    }
}

/// A value bound to a query.
enum Arg {
    Int(i64),
    Text(String),
}

/// SQL and the values bound to its `$n`, in order: each value is named where it is used
/// (SQLite refuses a value bound and never used).
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// Binds `arg`, and returns its placeholder.
    fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
}

/// The query of one phase of a list: only the filter's values are bound, never written into
/// the text.
fn select(
    filter: &ListFilter,
    phase: Phase,
    after: Option<ListKey>,
    limit: Option<u64>,
    now: i64,
) -> Result<Sql> {
    let mut sql = Sql {
        text: String::new(),
        args: Vec::new(),
    };
    // Which table a list by id reads in order, so that a page is a range of one B-tree read
    // until it is full (SQLite orders a join by its first table: CROSS JOIN keeps that table
    // first, and PostgreSQL takes it as an inner join): the revocations when only revoked
    // certificates are asked for, the certificates when only certificates can match, else
    // the requests (by the index of the filter's column, which ends with the id).
    let drive = match (phase, filter.status) {
        (Phase::Certificates, _) => Drive::Certificates,
        (Phase::WithoutCertificate, _) => Drive::Requests,
        (Phase::All, Some(Status::Revoked)) => Drive::Revocations,
        (Phase::All, Some(Status::Valid | Status::Expired)) => Drive::Certificates,
        (Phase::All, _) if filter.expiring_within_days.is_some() => Drive::Certificates,
        (Phase::All, _) => Drive::Requests,
    };
    let mut clauses: Vec<String> = Vec::new();
    let from = match drive {
        Drive::Requests => JOINS,
        Drive::Certificates => {
            clauses.push("r.id = c.request_id".into());
            "FROM certificates c CROSS JOIN requests r
             LEFT JOIN revocations v ON v.request_id = c.request_id"
        }
        Drive::Revocations => {
            clauses.push("c.request_id = v.request_id AND r.id = v.request_id".into());
            "FROM revocations v CROSS JOIN certificates c CROSS JOIN requests r"
        }
    };
    // In a page by id, notAfter only filters: `+` keeps SQLite from reading its index (a
    // range it would then have to sort before the page's first row). A whole list of the
    // certificates expiring soon reads them along the index and is sorted by id once read:
    // a few thousand rows, where reading the table in id order is every certificate ever
    // issued.
    let not_after = if phase == Phase::Certificates || expiring_whole_list(filter) {
        "c.not_after"
    } else {
        "+c.not_after"
    };
    if phase == Phase::WithoutCertificate {
        // Read along the partial index requests_without_certificate.
        clauses.push("r.status <> 'issued'".into());
    }
    match filter.status {
        None => {}
        Some(Status::Pending) => clauses.push("r.status = 'pending'".into()),
        Some(Status::Denied) => clauses.push("r.status = 'denied'".into()),
        Some(Status::Revoked) => clauses.push("v.request_id IS NOT NULL".into()),
        Some(Status::Expired) => {
            let now = sql.arg(Arg::Int(now));
            clauses.push(format!("v.request_id IS NULL AND {not_after} <= {now}"));
        }
        Some(Status::Valid) => {
            let now = sql.arg(Arg::Int(now));
            clauses.push(format!("v.request_id IS NULL AND {not_after} > {now}"));
        }
    }
    if let Some(days) = filter.expiring_within_days {
        let horizon = now.saturating_add(i64::from(days).saturating_mul(86_400));
        let now = sql.arg(Arg::Int(now));
        let horizon = sql.arg(Arg::Int(horizon));
        // The OCSP responder's certificate lives 30 days and renews itself, and a renewed
        // certificate has its successor: nothing to act on.
        let responder = sql.arg(Arg::Text(RESPONDER_REQUESTER.to_owned()));
        clauses.push(format!(
            "v.request_id IS NULL AND {not_after} > {now} AND {not_after} <= {horizon}
             AND r.requester <> {responder}"
        ));
        if !filter.renewed_too {
            clauses
                .push(concat!("NOT ", renewal_in_force!("c.request_id", "c.not_after")).to_owned());
        }
    }
    if let Some(search) = &filter.name {
        // The names are a JSON array of A-labels; the search holds only characters of names
        // (no LIKE wildcard, no quote), so it matches inside one name.
        let pattern = sql.arg(Arg::Text(format!("%{search}%")));
        clauses.push(format!("r.names LIKE {pattern}"));
    }
    if let Some(requester) = &filter.requester {
        let requester = sql.arg(Arg::Text(requester.clone()));
        clauses.push(format!("r.requester = {requester}"));
    }
    if let Some(source) = filter.source {
        let source = sql.arg(Arg::Text(source.name().to_owned()));
        clauses.push(format!("r.source = {source}"));
    }
    let descending = matches!(filter.order, ListOrder::IdDesc | ListOrder::ExpiryDesc);
    let order = match phase {
        Phase::Certificates => {
            if let Some(key) = after {
                let ListKey::Expiry(at, id) = key else {
                    return Err(Error::InvalidInput(format!(
                        "{key} is where a list by id ended, not one by expiry: start again without it"
                    )));
                };
                let at = sql.arg(Arg::Int(at));
                let id = sql.arg(Arg::Int(id.get()));
                // The first half bounds the index range, the second leaves out the rows up
                // to the key within its second.
                clauses.push(if descending {
                    format!("c.not_after <= {at} AND (c.not_after < {at} OR c.request_id < {id})")
                } else {
                    format!("c.not_after >= {at} AND (c.not_after > {at} OR c.request_id > {id})")
                });
            }
            if descending {
                "c.not_after DESC, c.request_id DESC".to_owned()
            } else {
                "c.not_after, c.request_id".to_owned()
            }
        }
        Phase::All | Phase::WithoutCertificate => {
            // Rows without a certificate come after the certificates in both orders by
            // expiry, oldest first.
            let descending = descending && phase == Phase::All;
            let column = drive.id();
            if let Some(key) = after {
                let ListKey::Id(id) = key else {
                    return Err(Error::InvalidInput(format!(
                        "{key} is where a list by expiry ended, not one by id: start again without it"
                    )));
                };
                let id = sql.arg(Arg::Int(id.get()));
                clauses.push(if descending {
                    format!("{column} < {id}")
                } else {
                    format!("{column} > {id}")
                });
            }
            if expiring_whole_list(filter) {
                // Along the expiry index, without a sort in SQLite (which would carry every
                // column of every row): `list_page` sorts the rows by id.
                "c.not_after, c.request_id".to_owned()
            } else if descending {
                format!("{column} DESC")
            } else {
                column.to_owned()
            }
        }
    };
    let columns = if filter.expiring_within_days.is_some() && !filter.renewed_too {
        COLUMNS_NOT_RENEWED
    } else {
        COLUMNS
    };
    sql.text = format!("SELECT {columns} {from}");
    for (i, clause) in clauses.iter().enumerate() {
        sql.text.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.text.push_str(clause);
    }
    sql.text.push_str(" ORDER BY ");
    sql.text.push_str(&order);
    if let Some(limit) = limit {
        let limit = sql.arg(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.text.push_str(" LIMIT ");
        sql.text.push_str(&limit);
    }
    Ok(sql)
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    StoreError::Corrupt(what.to_string()).into()
}

/// The positions of [`COLUMNS`] in a row (then `der`, when asked for).
mod col {
    pub(super) const ID: usize = 0;
    pub(super) const CREATED_AT: usize = 1;
    pub(super) const REQUESTER: usize = 2;
    pub(super) const SOURCE: usize = 3;
    pub(super) const REQUEST_NAMES: usize = 4;
    pub(super) const STATUS: usize = 5;
    pub(super) const DISPOSITION: usize = 6;
    pub(super) const STATUS_CODE: usize = 7;
    pub(super) const SERIAL: usize = 8;
    pub(super) const CERT_NAMES: usize = 9;
    pub(super) const NOT_BEFORE: usize = 10;
    pub(super) const NOT_AFTER: usize = 11;
    pub(super) const KEY_ALGORITHM: usize = 12;
    pub(super) const SHA256: usize = 13;
    pub(super) const RENEWED_FROM: usize = 14;
    pub(super) const REVOKED_AT: usize = 15;
    pub(super) const REASON: usize = 16;
    pub(super) const RENEWED_BY: usize = 17;
    pub(super) const RENEWAL_IN_FORCE: usize = 18;
    pub(super) const DER: usize = 19;
}

/// A row as either driver yields it, read by position: sqlx's (PostgreSQL, and SQLite where
/// the reader cannot open the log) or rusqlite's, whose text is read in place.
trait Columns {
    fn int(&self, at: usize) -> Result<Option<i64>>;
    fn text(&self, at: usize) -> Result<Option<std::borrow::Cow<'_, str>>>;
    fn blob(&self, at: usize) -> Result<Option<Vec<u8>>>;
}

impl Columns for AnyRow {
    fn int(&self, at: usize) -> Result<Option<i64>> {
        Ok(self.try_get(at).map_err(StoreError::from)?)
    }
    fn text(&self, at: usize) -> Result<Option<std::borrow::Cow<'_, str>>> {
        let text: Option<String> = self.try_get(at).map_err(StoreError::from)?;
        Ok(text.map(std::borrow::Cow::Owned))
    }
    fn blob(&self, at: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(at).map_err(StoreError::from)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, at: usize) -> Result<Option<i64>> {
        self.get(at).map_err(|err| reader::failed(&err))
    }
    fn text(&self, at: usize) -> Result<Option<std::borrow::Cow<'_, str>>> {
        let value = self.get_ref(at).map_err(|err| reader::failed(&err))?;
        Ok(value
            .as_str_or_null()
            .map_err(|err| corrupt(format!("column {at}: {err}")))?
            .map(std::borrow::Cow::Borrowed))
    }
    fn blob(&self, at: usize) -> Result<Option<Vec<u8>>> {
        self.get(at).map_err(|err| reader::failed(&err))
    }
}

/// Reads a row of [`COLUMNS`] (and `der` when `with_der`).
fn issuance_from_row(row: &impl Columns, with_der: bool) -> Result<Issuance> {
    issuance_from_row_at(row, with_der, OffsetDateTime::now_utc())
}

/// [`issuance_from_row`] with its status as of `now` (one reading of the clock for a list).
fn issuance_from_row_at(
    row: &impl Columns,
    with_der: bool,
    now: OffsetDateTime,
) -> Result<Issuance> {
    let int = |at: usize| -> Result<i64> {
        row.int(at)?
            .ok_or_else(|| corrupt(format!("column {at} is empty")))
    };
    let text =
        |at: usize| -> Result<std::borrow::Cow<'_, str>> { Ok(row.text(at)?.unwrap_or_default()) };
    let time = |at: usize| -> Result<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(int(at)?).map_err(corrupt)
    };
    let names = |at: usize| -> Result<Vec<SubjectName>> {
        let json = text(at)?;
        // Names are read in place; one written with an escape, if any ever was, is copied.
        let texts: Vec<std::borrow::Cow<'_, str>> = match serde_json::from_str::<Vec<&str>>(&json) {
            Ok(texts) => texts.into_iter().map(std::borrow::Cow::Borrowed).collect(),
            Err(_) => serde_json::from_str::<Vec<String>>(&json)
                .map_err(corrupt)?
                .into_iter()
                .map(std::borrow::Cow::Owned)
                .collect(),
        };
        texts
            .iter()
            .map(|t| {
                t.parse::<SubjectName>()
                    .map_err(|_| corrupt(format!("name {t}")))
            })
            .collect()
    };
    let id = RequestId::from_log(int(col::ID)?)?;
    let certificate = match row.text(col::SERIAL)? {
        None => None,
        Some(serial_hex) => {
            let serial: SerialNumber = serial_hex
                .parse()
                .map_err(|_| corrupt(format!("serial {serial_hex}")))?;
            let revocation = match row.int(col::REVOKED_AT)? {
                None => None,
                Some(at) => Some(Revocation {
                    serial: serial.clone(),
                    revoked_at: OffsetDateTime::from_unix_timestamp(at).map_err(corrupt)?,
                    reason: RevocationReason::from_name(&text(col::REASON)?).map_err(corrupt)?,
                }),
            };
            let sha256 = text(col::SHA256)?;
            Some(CertificateRecord {
                serial,
                not_before: time(col::NOT_BEFORE)?,
                not_after: time(col::NOT_AFTER)?,
                key_algorithm: KeyAlgorithm::from_name(&text(col::KEY_ALGORITHM)?)
                    .map_err(corrupt)?,
                sha256: Fingerprint::from_hex(&sha256)
                    .ok_or_else(|| corrupt(format!("fingerprint {sha256}")))?,
                der: if with_der {
                    row.blob(col::DER)?.unwrap_or_default()
                } else {
                    Vec::new()
                },
                revocation,
                renewed_from: row
                    .int(col::RENEWED_FROM)?
                    .map(RequestId::from_log)
                    .transpose()?,
                renewed_by: row
                    .int(col::RENEWED_BY)?
                    .map(RequestId::from_log)
                    .transpose()?,
                renewal_in_force: row.int(col::RENEWAL_IN_FORCE)? == Some(1),
            })
        }
    };
    let status = match (&certificate, &*text(col::STATUS)?) {
        (Some(cert), _) if cert.revocation.is_some() => Status::Revoked,
        (Some(cert), _) if cert.not_after < now => Status::Expired,
        (Some(_), _) => Status::Valid,
        (None, "denied") => Status::Denied,
        (None, _) => Status::Pending,
    };
    Ok(Issuance {
        id,
        requested_at: time(col::CREATED_AT)?,
        requester: text(col::REQUESTER)?.into_owned(),
        source: RequestSource::from_name(&text(col::SOURCE)?).map_err(corrupt)?,
        names: if certificate.is_some() {
            names(col::CERT_NAMES)?
        } else {
            names(col::REQUEST_NAMES)?
        },
        disposition: text(col::DISPOSITION)?.into_owned(),
        status_code: StatusCode::from_value(
            u32::try_from(int(col::STATUS_CODE)?).map_err(corrupt)?,
        ),
        status,
        certificate,
    })
}

#[cfg(test)]
mod permute_tests {
    use super::permute;

    /// Every arrangement of a few rows, and a large shuffled one, ends with each row where its
    /// source said: cycles of every length, fixed points, and the reversal.
    #[test]
    fn rows_land_where_their_sources_say() {
        fn check(sources: Vec<usize>) {
            let mut rows: Vec<String> = (0..sources.len()).map(|n| format!("row {n}")).collect();
            let expected: Vec<String> = sources.iter().map(|at| format!("row {at}")).collect();
            permute(&mut rows, sources);
            assert_eq!(rows, expected);
        }
        fn arrangements(n: usize) -> Vec<Vec<usize>> {
            if n == 0 {
                return vec![Vec::new()];
            }
            let mut all = Vec::new();
            for shorter in arrangements(n - 1) {
                for at in 0..=shorter.len() {
                    let mut longer = shorter.clone();
                    longer.insert(at, n - 1);
                    all.push(longer);
                }
            }
            all
        }
        for n in 0..=6 {
            for sources in arrangements(n) {
                check(sources);
            }
        }
        let mut shuffled: Vec<usize> = (0..10_000).collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        check(shuffled);
        check((0..1000).rev().collect());
    }
}
