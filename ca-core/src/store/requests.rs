//! Requests and their certificates: recording pending requests, deciding them, and reading
//! rows back one at a time or as filtered lists.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tracing::instrument;

use super::{
    CertificateRecord, Issuance, ListFilter, PendingRequest, Refusal, RequestId, RequestSource,
    Status, Store, audit,
};
use crate::certificate::{Fingerprint, SerialNumber};
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};
use crate::key::KeyAlgorithm;
use crate::name::SubjectName;
use crate::revoke::{Revocation, RevocationReason};
use crate::status::StatusCode;

/// The columns of a row, without the certificate's DER: a list never needs it, and copying a
/// kilobyte a row out of the database was most of the time a list took on a large log.
const COLUMNS: &str =
    "r.id, r.created_at, r.requester, r.source, r.names AS request_names, r.status,
        r.disposition, r.status_code, c.serial, c.names AS cert_names, c.not_before, c.not_after, c.key_algorithm,
        c.sha256, c.renewed_from, v.revoked_at, v.reason";

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
            return Err(Error::Conflict(format!(
                "request {id} is not pending: it was {status}"
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

    /// The rows matching `filter`, oldest first, without the certificates' DER.
    #[instrument(skip_all)]
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Issuance>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut clauses: Vec<&str> = Vec::new();
        match filter.status {
            None => {}
            Some(Status::Pending) => clauses.push("r.status = 'pending'"),
            Some(Status::Denied) => clauses.push("r.status = 'denied'"),
            Some(Status::Revoked) => clauses.push("v.request_id IS NOT NULL"),
            Some(Status::Expired) => clauses.push("v.request_id IS NULL AND c.not_after < $1"),
            Some(Status::Valid) => clauses.push("v.request_id IS NULL AND c.not_after >= $1"),
        }
        if filter.expiring_within_days.is_some() {
            clauses.push("v.request_id IS NULL AND c.not_after >= $1 AND c.not_after <= $2");
        }
        // Both parameters are always bound; SQLite wants each one used, so the query names
        // them once in a clause that is always true.
        let mut sql = format!("SELECT {COLUMNS} {JOINS} WHERE $1 = $1 AND $2 = $2");
        for clause in &clauses {
            sql.push_str(" AND ");
            sql.push_str(clause);
        }
        sql.push_str(" ORDER BY r.id");
        let horizon = now + i64::from(filter.expiring_within_days.unwrap_or(0)) * 86_400;
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(horizon)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| issuance_from_row(row, false))
            .collect()
    }
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    StoreError::Corrupt(what.to_string()).into()
}

/// Reads a row of [`COLUMNS`] (and `der` when `with_der`).
fn issuance_from_row(row: &AnyRow, with_der: bool) -> Result<Issuance> {
    let get = |column: &str| -> Result<Option<String>> {
        Ok(row.try_get(column).map_err(StoreError::from)?)
    };
    let time = |column: &str| -> Result<OffsetDateTime> {
        let secs: i64 = row.try_get(column).map_err(StoreError::from)?;
        OffsetDateTime::from_unix_timestamp(secs).map_err(corrupt)
    };
    let names = |column: &str| -> Result<Vec<SubjectName>> {
        let json: String = row.try_get(column).map_err(StoreError::from)?;
        let texts: Vec<String> = serde_json::from_str(&json).map_err(corrupt)?;
        texts
            .iter()
            .map(|t| {
                t.parse::<SubjectName>()
                    .map_err(|_| corrupt(format!("name {t}")))
            })
            .collect()
    };
    let id = RequestId::from_log(row.try_get("id").map_err(StoreError::from)?)?;
    let certificate = match get("serial")? {
        None => None,
        Some(serial_hex) => {
            let serial: SerialNumber = serial_hex
                .parse()
                .map_err(|_| corrupt(format!("serial {serial_hex}")))?;
            let revoked_at: Option<i64> = row.try_get("revoked_at").map_err(StoreError::from)?;
            let revocation = match revoked_at {
                None => None,
                Some(at) => Some(Revocation {
                    serial: serial.clone(),
                    revoked_at: OffsetDateTime::from_unix_timestamp(at).map_err(corrupt)?,
                    reason: RevocationReason::from_name(&get("reason")?.unwrap_or_default())
                        .map_err(corrupt)?,
                }),
            };
            let sha256 = get("sha256")?.unwrap_or_default();
            let renewed_from: Option<i64> =
                row.try_get("renewed_from").map_err(StoreError::from)?;
            Some(CertificateRecord {
                serial,
                not_before: time("not_before")?,
                not_after: time("not_after")?,
                key_algorithm: KeyAlgorithm::from_name(&get("key_algorithm")?.unwrap_or_default())
                    .map_err(corrupt)?,
                sha256: Fingerprint::from_hex(&sha256)
                    .ok_or_else(|| corrupt(format!("fingerprint {sha256}")))?,
                der: if with_der {
                    row.try_get("der").map_err(StoreError::from)?
                } else {
                    Vec::new()
                },
                revocation,
                renewed_from: renewed_from.map(RequestId::from_log).transpose()?,
            })
        }
    };
    let request_status = get("status")?.unwrap_or_default();
    let status = match (&certificate, request_status.as_str()) {
        (Some(cert), _) if cert.revocation.is_some() => Status::Revoked,
        (Some(cert), _) if cert.not_after < OffsetDateTime::now_utc() => Status::Expired,
        (Some(_), _) => Status::Valid,
        (None, "denied") => Status::Denied,
        (None, _) => Status::Pending,
    };
    let source = get("source")?.unwrap_or_default();
    Ok(Issuance {
        id,
        requested_at: time("created_at")?,
        requester: get("requester")?.unwrap_or_default(),
        source: RequestSource::from_name(&source).map_err(corrupt)?,
        names: if certificate.is_some() {
            names("cert_names")?
        } else {
            names("request_names")?
        },
        disposition: get("disposition")?.unwrap_or_default(),
        status_code: StatusCode::from_value(
            u32::try_from(
                row.try_get::<i64, _>("status_code")
                    .map_err(StoreError::from)?,
            )
            .map_err(corrupt)?,
        ),
        status,
        certificate,
    })
}
