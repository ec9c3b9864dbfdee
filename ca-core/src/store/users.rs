//! The users of the web pages.

use sqlx::Row;
use time::OffsetDateTime;
use tracing::instrument;

use super::{Store, UserRecord, audit};
use crate::error::{Result, StoreError};

impl Store {
    /// Adds a user, or replaces the role and password of an existing one.
    #[instrument(skip_all)]
    pub async fn put_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .execute(&mut *tx)
        .await?;
        audit::record(&mut tx, actor, "user", name, role).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user with this name, if any.
    #[instrument(skip_all)]
    pub async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT name, role, password_hash FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(UserRecord {
                name: row.try_get("name").map_err(StoreError::from)?,
                role: row.try_get("role").map_err(StoreError::from)?,
                password_hash: row.try_get("password_hash").map_err(StoreError::from)?,
            })
        })
        .transpose()
    }

    /// How many users there are.
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }
}
