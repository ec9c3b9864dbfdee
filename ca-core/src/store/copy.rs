//! Copying a whole log from one store to another, whatever their backends: a SQLite log moves
//! onto PostgreSQL, a backup of a PostgreSQL log is a SQLite file, and a restore
//! loads such a file into either backend. Every row of every table is copied with its id; the
//! source is read as one snapshot and the target written in one transaction, then both are
//! compared: row counts, and every certificate's DER against its fingerprint.

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tracing::instrument;

use super::{Backend, Store};
use crate::certificate::Fingerprint;
use crate::error::{Error, Result, StoreError};

/// How a column is read and written.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Text,
    Blob,
}

use Kind::{Blob, Int, Text};

/// A table of the log: its columns, the order its rows are copied in (what a row refers to
/// comes first), and the column whose sequence continues after the copied rows.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order: &'static str,
    identity: Option<&'static str>,
}

/// Every table of the log, in an order that satisfies its foreign keys. A table added to the
/// schema must be added here: [`Store::copy_into`] refuses a log with a table it does not know.
const TABLES: &[Table] = &[
    Table {
        name: "settings",
        columns: &[("key", Text), ("value", Text)],
        order: "key",
        identity: None,
    },
    Table {
        name: "users",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("role", Text),
            ("password_hash", Text),
            ("created_at", Int),
            ("disabled", Int),
            ("generation", Int),
        ],
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "requests",
        columns: &[
            ("id", Int),
            ("created_at", Int),
            ("requester", Text),
            ("source", Text),
            ("names", Text),
            ("csr", Blob),
            ("attributes", Text),
            ("status", Text),
            ("disposition", Text),
            ("decided_at", Int),
            ("decided_by", Text),
            ("status_code", Int),
        ],
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "certificates",
        columns: &[
            ("request_id", Int),
            ("serial", Text),
            ("names", Text),
            ("not_before", Int),
            ("not_after", Int),
            ("key_algorithm", Text),
            ("sha256", Text),
            ("der", Blob),
            ("renewed_from", Int),
        ],
        order: "request_id",
        identity: None,
    },
    Table {
        name: "revocations",
        columns: &[("request_id", Int), ("revoked_at", Int), ("reason", Text)],
        order: "request_id",
        identity: None,
    },
    Table {
        name: "audit",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("actor", Text),
            ("action", Text),
            ("subject", Text),
            ("detail", Text),
        ],
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "crl",
        columns: &[
            ("id", Int),
            ("number", Int),
            ("this_update", Int),
            ("next_update", Int),
            ("revocations", Int),
            ("der", Blob),
        ],
        order: "id",
        identity: None,
    },
    Table {
        name: "crl_parts",
        columns: &[("part", Int), ("bytes", Blob)],
        order: "part",
        identity: None,
    },
    Table {
        name: "acme_eab_keys",
        columns: &[
            ("kid", Text),
            ("user_name", Text),
            ("hmac_key", Blob),
            ("created_at", Int),
            ("account_id", Text),
        ],
        order: "kid",
        identity: None,
    },
    Table {
        name: "acme_accounts",
        columns: &[
            ("id", Text),
            ("thumbprint", Text),
            ("jwk", Text),
            ("contact", Text),
            ("status", Text),
            ("owner", Text),
            ("created_at", Int),
        ],
        order: "id",
        identity: None,
    },
    Table {
        name: "acme_orders",
        columns: &[
            ("rowid", Int),
            ("id", Text),
            ("account_id", Text),
            ("status", Text),
            ("identifiers", Text),
            ("expires_at", Int),
            ("error", Text),
            ("request_id", Int),
            ("replaces", Int),
            ("created_at", Int),
        ],
        order: "rowid",
        identity: Some("rowid"),
    },
    Table {
        name: "acme_authzs",
        columns: &[
            ("rowid", Int),
            ("id", Text),
            ("order_id", Text),
            ("kind", Text),
            ("value", Text),
            ("wildcard", Int),
            ("status", Text),
            ("expires_at", Int),
        ],
        order: "rowid",
        identity: Some("rowid"),
    },
    Table {
        name: "acme_challenges",
        columns: &[
            ("rowid", Int),
            ("id", Text),
            ("authz_id", Text),
            ("kind", Text),
            ("token", Text),
            ("status", Text),
            ("validated_at", Int),
            ("error", Text),
        ],
        order: "rowid",
        identity: Some("rowid"),
    },
    Table {
        name: "acme_nonce_key",
        columns: &[("id", Int), ("key", Blob)],
        order: "id",
        identity: None,
    },
    Table {
        name: "acme_used_nonces",
        columns: &[("nonce", Text), ("expires_at", Int)],
        order: "nonce",
        identity: None,
    },
    Table {
        name: "ocsp_responses",
        columns: &[
            ("request_id", Int),
            ("this_update", Int),
            ("next_update", Int),
            ("revoked_at", Int),
            ("der", Blob),
            ("reason", Text),
        ],
        order: "request_id",
        identity: None,
    },
    Table {
        name: "notices",
        columns: &[
            ("id", Int),
            ("about", Text),
            ("channel", Text),
            ("created_at", Int),
            ("subject", Text),
            ("body", Text),
            ("payload", Text),
            ("attempts", Int),
            ("next_attempt", Int),
            ("sent_at", Int),
            ("last_error", Text),
        ],
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "watched_servers",
        columns: &[
            ("url", Text),
            ("verdict", Text),
            ("codes", Text),
            ("checked_at", Int),
            ("changed_at", Int),
            ("changes", Int),
        ],
        order: "url",
        identity: None,
    },
];

/// Tables the log's triggers fill from the rows of [`TABLES`] (the tallies the metrics read):
/// a copy does not copy them, since inserting the rows into the target rebuilds them there.
const DERIVED: &[&str] = &[
    "request_tallies",
    "expiry_tallies",
    "tally_changes",
    "certificate_names",
];

/// Rows written in one INSERT: well under both backends' limits on bound values.
const BATCH: usize = 200;

/// What a copy moved: rows per table, and how many certificates were compared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// (table, rows), in copy order.
    pub rows: Vec<(&'static str, u64)>,
    /// Certificates whose DER matched their fingerprint in both logs.
    pub certificates: u64,
}

impl Store {
    /// Copies every row of this log into `target`, which must be an empty log (its schema made,
    /// no row in any table), then checks the copy: the same number of rows in every table, and
    /// every certificate's DER in the target matching the fingerprint the source recorded. The
    /// target is written in one transaction: a copy that fails leaves it empty.
    #[instrument(skip_all)]
    pub async fn copy_into(&self, target: &Store) -> Result<CopyReport> {
        self.refuse_unknown_tables().await?;
        if !target.is_empty().await? {
            return Err(Error::Conflict(format!(
                "the issuance log {} is not empty: a log is copied only into an empty one",
                target.location
            )));
        }
        let mut source = match self.backend {
            // One snapshot for the whole read, while other nodes go on writing.
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
            // A SQLite read transaction sees one snapshot from its first read to its end.
            Backend::Sqlite => self.pool.begin().await?,
        };
        let mut written = target.begin_write().await?;
        let mut report = CopyReport::default();
        for table in TABLES {
            let rows = copy_table(&mut source, &mut written, table).await?;
            report.rows.push((table.name, rows));
        }
        if target.backend == Backend::Postgres {
            for table in TABLES {
                if let Some(column) = table.identity {
                    // The sequence continues after the highest id copied.
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{name}', '{column}'),
                             COALESCE((SELECT MAX({column}) FROM {name}), 0) + 1, false)",
                        name = table.name
                    );
                    sqlx::query(&sql).execute(&mut *written).await?;
                }
            }
        }
        written.commit().await?;
        source.commit().await?;
        if target.backend == Backend::Postgres {
            // Statistics for the planner at once, not when autovacuum comes round: without
            // them it takes the copied tables for empty and scans them once per row. The
            // log's own tables only: a bare ANALYZE visits the system catalogs too, and has
            // PostgreSQL say, as a notice per catalog, that only a superuser may analyze it.
            let tables: Vec<&str> = TABLES.iter().map(|table| table.name).collect();
            sqlx::query(&format!("ANALYZE {}", tables.join(", ")))
                .execute(&target.pool)
                .await?;
        }
        report.certificates = self.compare_copy(target, &report).await?;
        Ok(report)
    }

    /// Marks this log as copied (setting `key` to `to`) in one write transaction, after
    /// checking that it still holds exactly the rows `report` copied: a log written to while
    /// it was copied is not marked, and the copy is refused.
    pub(crate) async fn mark_moved(&self, report: &CopyReport, key: &str, to: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (name, copied) in &report.rows {
            let sql = format!("SELECT COUNT(*) FROM {name}");
            let now: i64 = sqlx::query_scalar(&sql).fetch_one(&mut *tx).await?;
            if u64::try_from(now).ok() != Some(*copied) {
                return Err(Error::Conflict(format!(
                    "the log changed while it was copied ({name} holds {now} rows, {copied} were copied): \
                     stop every server and command using it, empty the database {to} and copy again"
                )));
            }
        }
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
            .bind(key)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        super::audit::record(&mut tx, "ca", "migrate", to, "the log was copied there").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refuses to copy a log holding a table this copy does not know (a newer schema).
    async fn refuse_unknown_tables(&self) -> Result<()> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table'
                   AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT tablename::text FROM pg_catalog.pg_tables
                 WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations'"
            }
        };
        let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(&self.pool).await?;
        let unknown: Vec<&String> = names
            .iter()
            .filter(|name| {
                !TABLES.iter().any(|t| t.name == name.as_str()) && !DERIVED.contains(&name.as_str())
            })
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "the log holds tables this version cannot copy: {}",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
        Ok(())
    }

    /// True when no table of the log holds a row.
    pub(crate) async fn is_empty(&self) -> Result<bool> {
        for table in TABLES {
            let sql = format!("SELECT COUNT(*) FROM {}", table.name);
            let rows: i64 = sqlx::query_scalar(&sql).fetch_one(&self.pool).await?;
            if rows > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Compares a finished copy with its source: rows per table as copied, and every
    /// certificate of the target against the fingerprint the source recorded for it.
    async fn compare_copy(&self, target: &Store, report: &CopyReport) -> Result<u64> {
        for (name, copied) in &report.rows {
            let sql = format!("SELECT COUNT(*) FROM {name}");
            let there: i64 = sqlx::query_scalar(&sql).fetch_one(&target.pool).await?;
            if u64::try_from(there).ok() != Some(*copied) {
                return Err(StoreError::Commit(format!(
                    "the copy of {name} holds {there} rows, not the {copied} read"
                ))
                .into());
            }
        }
        let recorded: Vec<(i64, String)> =
            sqlx::query_as("SELECT request_id, sha256 FROM certificates ORDER BY request_id")
                .fetch_all(&self.pool)
                .await?;
        let mut compared = 0;
        let mut copies =
            sqlx::query("SELECT request_id, der FROM certificates ORDER BY request_id")
                .fetch(&target.pool);
        let mut expected = recorded.iter();
        while let Some(row) = copies.try_next().await? {
            let id: i64 = row.try_get("request_id")?;
            let der: Vec<u8> = row.try_get("der")?;
            let matches = expected.next().is_some_and(|(source_id, sha256)| {
                *source_id == id && Fingerprint::from_hex(sha256) == Some(Fingerprint::of(&der))
            });
            if !matches {
                return Err(StoreError::Commit(format!(
                    "certificate {id} of the copy does not match the fingerprint its source recorded"
                ))
                .into());
            }
            compared += 1;
        }
        Ok(compared)
    }
}

/// Copies the rows of `table`, in batches of [`BATCH`].
async fn copy_table(
    source: &mut Transaction<'static, Any>,
    target: &mut Transaction<'static, Any>,
    table: &Table,
) -> Result<u64> {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let select = format!(
        "SELECT {} FROM {} ORDER BY {}",
        names.join(", "),
        table.name,
        table.order
    );
    let mut rows = sqlx::query(&select).fetch(&mut **source);
    let mut batch: Vec<AnyRow> = Vec::with_capacity(BATCH);
    let mut copied = 0;
    while let Some(row) = rows.try_next().await? {
        batch.push(row);
        if batch.len() == BATCH {
            insert(target, table, &batch).await?;
            copied += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert(target, table, &batch).await?;
        copied += batch.len() as u64;
    }
    Ok(copied)
}

/// Inserts `rows` (read with `table`'s columns) into `table` in one statement.
async fn insert(
    target: &mut Transaction<'static, Any>,
    table: &Table,
    rows: &[AnyRow],
) -> Result<()> {
    let width = table.columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        names.join(", "),
        tuples.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (index, (name, kind)) in table.columns.iter().enumerate() {
            let unreadable = |err: sqlx::Error| -> Error {
                StoreError::Corrupt(format!("{}.{name}: {err}", table.name)).into()
            };
            query = match kind {
                Int => query.bind(row.try_get::<Option<i64>, _>(index).map_err(unreadable)?),
                Text => query.bind(
                    row.try_get::<Option<String>, _>(index)
                        .map_err(unreadable)?,
                ),
                Blob => query.bind(
                    row.try_get::<Option<Vec<u8>>, _>(index)
                        .map_err(unreadable)?,
                ),
            };
        }
    }
    query.execute(&mut **target).await?;
    Ok(())
}
