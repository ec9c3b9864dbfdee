//! The users of the web pages. Every change of a user's password, role or state gives it a
//! new generation in the same transaction, so a server that verified the old credentials sees
//! the change at its next request. A generation is 63 random bits, never a count: a user
//! removed and added again with the same password must not get back a generation a server
//! still remembers (a count would start again at its first value).

use std::time::Instant;

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tracing::instrument;

use super::{Store, UserRecord, audit};
use crate::error::{Error, Result, StoreError};

const COLUMNS: &str = "name, role, password_hash, disabled, generation, created_at";

impl Store {
    /// Adds a user. A name that exists is [`Error::UserExists`], and a new name that differs
    /// from an existing one only in case (`Alice` beside `alice`) is refused too: people and
    /// logs would take the two for one.
    #[instrument(skip_all)]
    pub async fn add_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<()> {
        let generation = new_generation()?;
        let mut tx = self.begin_write().await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT name FROM users WHERE lower(name) = lower($1)")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        match existing {
            Some(existing) if existing == name => return Err(Error::UserExists(existing)),
            Some(existing) => {
                return Err(Error::Conflict(format!(
                    "the user {existing} exists already, and a user name may not differ from another only in case: use {existing}, or another name"
                )));
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at, generation)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut tx, actor, "user", name, role).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes an existing user and gives it a new generation: `assignments` is the SQL of
    /// the columns set (with `$3` for `value`, when there is one), recorded in the audit trail
    /// as `action` with `detail`. Unknown users are [`Error::NotFound`]; a change that
    /// `may_remove_an_admin` is refused when it leaves no administrator who can sign in.
    async fn change_user(
        &self,
        name: &str,
        assignments: &str,
        value: Option<&str>,
        (action, detail): (&str, &str),
        actor: &str,
        may_remove_an_admin: bool,
    ) -> Result<()> {
        let generation = new_generation()?;
        let mut tx = self.begin_write().await?;
        let admins = active_admins(&mut tx).await?;
        let sql = format!("UPDATE users SET {assignments}, generation = $2 WHERE name = $1");
        let mut query = sqlx::query(&sql).bind(name).bind(generation);
        if let Some(value) = value {
            query = query.bind(value);
        }
        let changed = query.execute(&mut *tx).await?;
        if changed.rows_affected() != 1 {
            return Err(Error::NotFound(format!("the user {name}")));
        }
        if may_remove_an_admin {
            keep_an_admin(&mut tx, name, admins).await?;
        }
        audit::record(&mut tx, actor, action, name, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a user's role, keeping its password. The last administrator who can sign in
    /// stays one.
    #[instrument(skip_all)]
    pub async fn set_role(&self, name: &str, role: &str, actor: &str) -> Result<()> {
        let demoted = role != "admin";
        self.change_user(
            name,
            "role = $3",
            Some(role),
            ("role", role),
            actor,
            demoted,
        )
        .await
    }

    /// Sets a user's password hash.
    #[instrument(skip_all)]
    pub async fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<()> {
        self.change_user(
            name,
            "password_hash = $3",
            Some(password_hash),
            ("passwd", ""),
            actor,
            false,
        )
        .await
    }

    /// Disables or enables a user. The last administrator who can sign in is not disabled.
    #[instrument(skip_all)]
    pub async fn set_disabled(&self, name: &str, disabled: bool, actor: &str) -> Result<()> {
        let (assignment, action) = if disabled {
            ("disabled = 1", "disable")
        } else {
            ("disabled = 0", "enable")
        };
        self.change_user(name, assignment, None, (action, ""), actor, disabled)
            .await
    }

    /// Removes a user; what they requested stays in the log under their name. The last
    /// administrator who can sign in is not removed.
    #[instrument(skip_all)]
    pub async fn remove_user(&self, name: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let admins = active_admins(&mut tx).await?;
        let removed = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() != 1 {
            return Err(Error::NotFound(format!("the user {name}")));
        }
        keep_an_admin(&mut tx, name, admins).await?;
        audit::record(&mut tx, actor, "remove user", name, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user with this name, if any.
    #[instrument(skip_all)]
    pub async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by name.
    #[instrument(skip_all)]
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// A user's generation and whether it is disabled, in one cheap read: what a server checks
    /// a remembered credential against. `None` when the user no longer exists. From memory
    /// while nothing was committed to the log since it was read (see [`super::memo`]).
    pub async fn user_state(&self, name: &str) -> Result<Option<(i64, bool)>> {
        let Some(version) = self.settings_counter(Instant::now()) else {
            return self.read_user_state(name).await;
        };
        if let Some(state) = self.memo.user(version, name) {
            return Ok(state);
        }
        let state = self.read_user_state(name).await?;
        self.memo.keep_user(version, name, state);
        Ok(state)
    }

    async fn read_user_state(&self, name: &str) -> Result<Option<(i64, bool)>> {
        let here = self.read_here(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT generation, disabled FROM users WHERE name = ?1")?;
            let mut rows = statement.query([name])?;
            match rows.next()? {
                Some(row) => Ok(Some((row.get::<_, i64>(0)?, row.get::<_, i64>(1)? != 0))),
                None => Ok(None),
            }
        });
        if let Some(state) = here {
            return Ok(state);
        }
        let state: Option<(i64, i64)> =
            sqlx::query_as("SELECT generation, disabled FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(state.map(|(generation, disabled)| (generation, disabled != 0)))
    }

    /// How many users there are.
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// A generation for a user's new state: 63 random bits (positive as an SQLite integer), so
/// that no generation a server remembers comes back (2^-63 per change).
fn new_generation() -> Result<i64> {
    let bytes = crate::random::bytes::<8>()?;
    Ok(i64::from_be_bytes(bytes) & i64::MAX)
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord> {
    let created: i64 = row.try_get("created_at").map_err(StoreError::from)?;
    Ok(UserRecord {
        name: row.try_get("name").map_err(StoreError::from)?,
        role: row.try_get("role").map_err(StoreError::from)?,
        password_hash: row.try_get("password_hash").map_err(StoreError::from)?,
        disabled: row
            .try_get::<i64, _>("disabled")
            .map_err(StoreError::from)?
            != 0,
        generation: row.try_get("generation").map_err(StoreError::from)?,
        created_at: OffsetDateTime::from_unix_timestamp(created)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?,
    })
}

/// How many administrators can sign in, as `tx` reads the log.
async fn active_admins(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Refuses, in the write transaction `tx` that changed `name`, a change that leaves no
/// administrator who can sign in where there were `before`: the pages could then no longer
/// approve, deny or revoke anything. Read in the transaction that writes, so that two
/// administrators demoting each other at once cannot both pass.
async fn keep_an_admin(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    before: i64,
) -> Result<()> {
    if before > 0 && active_admins(tx).await? == 0 {
        return Err(Error::Conflict(format!(
            "{name} is the last administrator who can sign in: add another administrator first"
        )));
    }
    Ok(())
}
