//! The append-only audit trail: who did what, when. The schema's triggers refuse every
//! UPDATE and DELETE of it.

use sqlx::AnyConnection;
use time::OffsetDateTime;
use tracing::instrument;

use super::{AuditEvent, AuditFilter, Store};
use crate::error::{Result, StoreError};

/// Every action the audit trail records, in order: what a filter by action may name.
pub const AUDIT_ACTIONS: &[&str] = &[
    "acme account",
    "acme eab key",
    "acme key change",
    "approve",
    "backup",
    "deny",
    "disable",
    "enable",
    "init",
    "issue",
    "migrate",
    "passwd",
    "remove user",
    "restore",
    "revoke",
    "role",
    "root key",
    "setting",
    "submit",
    "user",
];

impl Store {
    /// Appends an event to the audit trail.
    #[instrument(skip_all)]
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        record(&mut tx, actor, action, subject, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The actions the audit trail holds, in order.
    #[instrument(skip_all)]
    pub async fn audit_actions(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT action FROM audit ORDER BY action")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(action,)| action).collect())
    }

    /// The events of the audit trail that `filter` asks for, in its order. Read by id (the
    /// order of the trail), from where the page before ended, never by OFFSET.
    #[instrument(skip_all)]
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut clauses = Vec::new();
        let mut texts: Vec<&str> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        // Texts are bound first, then integers: each placeholder is numbered as it is bound.
        if let Some(actor) = &filter.actor {
            texts.push(actor);
            clauses.push(format!("actor = ${}", texts.len()));
        }
        if let Some(action) = &filter.action {
            texts.push(action);
            clauses.push(format!("action = ${}", texts.len()));
        }
        let mut int = |value: i64, clause: &str| {
            ints.push(value);
            clauses.push(clause.replace('?', &format!("${}", texts.len() + ints.len())));
        };
        if let Some(since) = filter.since {
            int(since.unix_timestamp(), "at >= ?");
        }
        if let Some(after) = filter.after {
            int(
                after,
                if filter.newest_first {
                    "id < ?"
                } else {
                    "id > ?"
                },
            );
        }
        let mut sql = "SELECT id, at, actor, action, subject, detail FROM audit".to_owned();
        for (i, clause) in clauses.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(clause);
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id"
        });
        if let Some(limit) = filter.limit {
            ints.push(i64::from(limit));
            sql.push_str(&format!(" LIMIT ${}", texts.len() + ints.len()));
        }
        let mut query = sqlx::query_as::<_, (i64, i64, String, String, String, String)>(&sql);
        for text in texts {
            query = query.bind(text);
        }
        for value in ints {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(id, at, actor, action, subject, detail)| {
                Ok(AuditEvent {
                    id,
                    at: OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|err| StoreError::Corrupt(err.to_string()))?,
                    actor,
                    action,
                    subject,
                    detail,
                })
            })
            .collect()
    }
}

/// The statement that appends an event.
pub(super) const INSERT: &str =
    "INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)";

/// Appends an event inside the caller's transaction, so it commits with what it describes.
pub(super) async fn record(
    tx: &mut AnyConnection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(INSERT)
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .execute(tx)
        .await?;
    Ok(())
}
