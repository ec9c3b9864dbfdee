//! Group commit: issuances that arrive together are written in one transaction, one fsync.

use sqlx::{AnyConnection, AnyPool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tracing::instrument;

use super::{Backend, Issuance, NewIssuance, RequestId, RequestSource, Store, audit};
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};

/// The most issuances committed in one transaction.
const MAX_GROUP: usize = 64;

/// An issuance waiting for the writer, with owned copies of what it writes.
#[derive(Debug)]
struct Job {
    requester: String,
    source: RequestSource,
    names: String,
    names_shown: String,
    csr_der: Option<Vec<u8>>,
    serial: String,
    not_before: i64,
    not_after: i64,
    key_algorithm: &'static str,
    sha256: String,
    der: Vec<u8>,
    renewed_from: Option<i64>,
    pending_request: Option<i64>,
    decided_by: String,
    acme_order: Option<String>,
}

type Reply = oneshot::Sender<Result<i64>>;

/// The handle through which issuances reach the writer task.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<(Job, Reply)>,
}

impl Writer {
    /// Starts the writer task on the current runtime.
    pub(super) fn start(pool: AnyPool, backend: Backend) -> Self {
        let (jobs, receiver) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(run(pool, backend, receiver));
        Writer { jobs }
    }
}

impl Store {
    /// Records an issued certificate and its request, and returns the row once it is
    /// committed. Concurrent calls are grouped into one transaction (one fsync) by the
    /// store's writer, each in a savepoint of its own, so one caller's failure touches no
    /// other's row. A serial already in the log yields [`StoreError::DuplicateSerial`], so the
    /// caller can draw a new one.
    #[instrument(skip_all)]
    pub async fn record_issuance(&self, new: NewIssuance<'_>) -> Result<Issuance> {
        let texts: Vec<String> = new.names.iter().map(ToString::to_string).collect();
        let names =
            serde_json::to_string(&texts).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let job = Job {
            requester: new.requester.to_owned(),
            source: new.source,
            names,
            names_shown: texts.join(", "),
            csr_der: new.csr_der.map(<[u8]>::to_vec),
            serial: new.serial.hex(),
            not_before: new.not_before.unix_timestamp(),
            not_after: new.not_after.unix_timestamp(),
            key_algorithm: new.key_algorithm.name(),
            sha256: new.sha256.hex(),
            der: new.der.to_vec(),
            renewed_from: new.renewed_from.map(RequestId::get),
            pending_request: new.pending_request.map(RequestId::get),
            decided_by: new.decided_by.to_owned(),
            acme_order: new.acme_order.map(str::to_owned),
        };
        let stopped = || StoreError::Commit("the store's writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.writer
            .jobs
            .send((job, reply))
            .await
            .map_err(|_| stopped())?;
        let id = answer.await.map_err(|_| stopped())??;
        self.issuance(RequestId::from_log(id)?).await
    }
}

/// Commits issuances in groups: it takes every job that is waiting (up to [`MAX_GROUP`]),
/// writes each in a savepoint of one transaction, commits once, and then answers every
/// caller. No caller hears "issued" before the commit is durable. On SQLite the transaction is
/// `BEGIN IMMEDIATE` (one writer at a time); on PostgreSQL it takes no lock, so the writers of
/// several nodes commit side by side: request ids come from a sequence, a serial already taken
/// is a unique violation, and a pending request or an ACME order moves only from the state it
/// is expected in.
async fn run(pool: AnyPool, backend: Backend, mut jobs: mpsc::Receiver<(Job, Reply)>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match write_group(&pool, backend, &batch).await {
            Ok(results) => {
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                // A database that is away stays "unavailable" (a server answers 503 and the
                // client tries again); anything else failed the commit.
                let unavailable = matches!(err, Error::Store(StoreError::Unavailable(_)));
                let message = err.to_string();
                for (_, reply) in batch {
                    let failure = if unavailable {
                        StoreError::Unavailable(message.clone())
                    } else {
                        StoreError::Commit(message.clone())
                    };
                    let _ = reply.send(Err(failure.into()));
                }
            }
        }
    }
}

async fn write_group(
    pool: &AnyPool,
    backend: Backend,
    batch: &[(Job, Reply)],
) -> Result<Vec<Result<i64>>> {
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        sqlx::query("SAVEPOINT issuance").execute(&mut *tx).await?;
        let result = write_one(&mut tx, job).await;
        if result.is_err() {
            sqlx::query("ROLLBACK TO issuance")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("RELEASE issuance").execute(&mut *tx).await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

async fn write_one(tx: &mut AnyConnection, job: &Job) -> Result<i64> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let id: i64 = match job.pending_request {
        None => {
            sqlx::query_scalar(
                "INSERT INTO requests (created_at, requester, source, names, csr, status, disposition, decided_at, decided_by)
                 VALUES ($1, $2, $3, $4, $5, 'issued', 'Issued', $6, $7) RETURNING id",
            )
            .bind(now)
            .bind(&job.requester)
            .bind(job.source.name())
            .bind(&job.names)
            .bind(job.csr_der.as_deref())
            .bind(now)
            .bind(&job.decided_by)
            .fetch_one(&mut *tx)
            .await?
        }
        Some(id) => {
            let updated = sqlx::query(
                "UPDATE requests SET status = 'issued', disposition = 'Issued', names = $1, decided_at = $2, decided_by = $3
                 WHERE id = $4 AND status = 'pending'",
            )
            .bind(&job.names)
            .bind(now)
            .bind(&job.decided_by)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(Error::Conflict(format!("request {id} is not pending")));
            }
            id
        }
    };
    let inserted = sqlx::query(
        "INSERT INTO certificates (request_id, serial, names, not_before, not_after, key_algorithm, sha256, der, renewed_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(&job.serial)
    .bind(&job.names)
    .bind(job.not_before)
    .bind(job.not_after)
    .bind(job.key_algorithm)
    .bind(&job.sha256)
    .bind(&job.der)
    .bind(job.renewed_from)
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(db)) = &inserted
        && db.is_unique_violation()
    {
        return Err(StoreError::DuplicateSerial.into());
    }
    inserted?;
    if let Some(order) = &job.acme_order {
        let completed = sqlx::query(
            "UPDATE acme_orders SET status = 'valid', request_id = $1 WHERE id = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(order)
        .execute(&mut *tx)
        .await?;
        if completed.rows_affected() != 1 {
            return Err(Error::Conflict(format!(
                "the ACME order {order} is not being finalized"
            )));
        }
    }
    audit::record(
        tx,
        &job.decided_by,
        "issue",
        &id.to_string(),
        &format!("serial {} for {}", job.serial, job.names_shown),
    )
    .await?;
    Ok(id)
}
