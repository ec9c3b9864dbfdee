//! PostgreSQL roles: the one that owns the log's tables (and alone may change its schema) and
//! the one servers and commands run as. Only the owner of a table can switch off its
//! triggers, so the audit trail is append-only against the runtime role alone: it may read
//! the trail and add to it, nothing else.

use std::fmt;
use std::str::FromStr;

use tracing::instrument;

use super::{Backend, Store};
use crate::error::{Error, Result};

/// The name of a PostgreSQL role: letters, digits and `_`, as `CREATE ROLE` takes it without
/// quotes (lower case), at most 63 bytes (PostgreSQL's `NAMEDATALEN`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleName(String);

impl FromStr for RoleName {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let valid = !text.is_empty()
            && text.len() <= 63
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !text.starts_with(|c: char| c.is_ascii_digit())
            && !text.starts_with("pg_")
            && text != "public";
        if valid {
            Ok(RoleName(text.to_owned()))
        } else {
            Err(Error::InvalidInput(
                "a role name is 1 to 63 lower-case letters, digits and '_', not starting with a digit or pg_, and not public"
                    .into(),
            ))
        }
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tables whose rows the program changes (requests only while pending, the CRL only to a
/// higher number, as the log's triggers insist). Certificates and the audit trail are never
/// changed, nor a revocation but for its reason raised to keyCompromise (granted apart).
const UPDATED: &[&str] = &[
    "settings",
    "users",
    "requests",
    "crl",
    "acme_eab_keys",
    "acme_accounts",
    "acme_orders",
    "acme_authzs",
    "acme_challenges",
    "ocsp_responses",
    "notices",
    "watched_servers",
    "request_tallies",
    "expiry_tallies",
];

/// The tables whose rows the program removes: none of what the log records about requests,
/// certificates, revocations, the CRL or the audit trail (the parts of a long CRL after its
/// first are replaced with every new CRL, whose row keeps the number).
const DELETED: &[&str] = &[
    "settings",
    "crl_parts",
    "users",
    "acme_orders",
    "acme_authzs",
    "acme_challenges",
    "acme_used_nonces",
    "ocsp_responses",
    "tally_changes",
];

impl Store {
    /// Gives `role` what servers and commands need of this PostgreSQL log, and no more: read
    /// and add to every table (but the migrations' record, which it may only read), change
    /// only the rows of [`UPDATED`] and remove only those of [`DELETED`]. Certificates,
    /// revocations and the audit trail it may only read and add to. Run by the role that owns the tables,
    /// after every schema change (new tables get their grants this way). Refused for a role
    /// that could switch off the audit trail's triggers (its owner, a member of the owner, a
    /// superuser), and on SQLite.
    #[instrument(skip_all)]
    pub async fn grant_runtime_role(&self, role: &RoleName) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Err(Error::InvalidInput(
                "roles are PostgreSQL's: a SQLite log is guarded by its data folder's permissions"
                    .into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let found: Option<(bool, bool)> = sqlx::query_as(
            "SELECT r.rolsuper OR r.rolcreaterole, pg_has_role(r.oid, c.relowner, 'MEMBER')
             FROM pg_catalog.pg_roles r, pg_catalog.pg_class c
             WHERE r.rolname = $1 AND c.oid = 'audit'::regclass",
        )
        .bind(&role.0)
        .fetch_optional(&mut *tx)
        .await?;
        match found {
            None => {
                return Err(Error::InvalidInput(format!(
                    "there is no role {role} in this database server: create it first (CREATE ROLE {role} LOGIN)"
                )));
            }
            Some((superuser, owner)) if superuser || owner => {
                return Err(Error::InvalidInput(format!(
                    "the role {role} owns the log's tables (or is a superuser, has CREATEROLE, or is a member of their owner), so it could switch off the log's protection: give the servers a role of their own, without CREATEROLE"
                )));
            }
            Some(_) => {}
        }
        let schema: String = sqlx::query_scalar("SELECT quote_ident(current_schema())")
            .fetch_one(&mut *tx)
            .await?;
        let role = format!("\"{}\"", role.0);
        for sql in [
            format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
            format!("REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}"),
            format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}"),
            format!("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {schema} TO {role}"),
            format!("REVOKE INSERT ON {schema}._sqlx_migrations FROM {role}"),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
            // A revocation's reason, raised to keyCompromise (its trigger allows nothing else).
            format!("GRANT UPDATE (reason) ON {schema}.revocations TO {role}"),
        ]
        .into_iter()
        .chain(
            UPDATED
                .iter()
                .map(|table| format!("GRANT UPDATE ON {schema}.{table} TO {role}")),
        )
        .chain(
            DELETED
                .iter()
                .map(|table| format!("GRANT DELETE ON {schema}.{table} TO {role}")),
        ) {
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// True when the role this log is opened as could alter or empty the audit trail despite
    /// its triggers: on PostgreSQL, the owner of its table, a member of the owner, a
    /// superuser or a role with CREATEROLE (who can switch the triggers off, or make itself
    /// able to). Always false on SQLite, whose file is as
    /// safe as the data folder's permissions.
    #[instrument(skip_all)]
    pub async fn audit_is_alterable(&self) -> Result<bool> {
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        let alterable: bool = sqlx::query_scalar(
            "SELECT pg_has_role(c.relowner, 'MEMBER')
                 OR (SELECT rolsuper OR rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user)
             FROM pg_catalog.pg_class c WHERE c.oid = 'audit'::regclass",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(alterable)
    }

    /// The role this log is opened as (on SQLite, an empty string).
    pub async fn current_role(&self) -> Result<String> {
        if self.backend != Backend::Postgres {
            return Ok(String::new());
        }
        Ok(sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        for good in ["ca", "ca_runtime", "ca2", "a"] {
            assert!(good.parse::<RoleName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "Ca",
            "ca-runtime",
            "ca runtime",
            "ca\"; DROP TABLE audit; --",
            "2ca",
            "pg_monitor",
            "public",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<RoleName>().is_err(), "{bad:?}");
        }
    }
}
