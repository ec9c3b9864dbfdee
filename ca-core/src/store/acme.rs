//! ACME state in the log: nonces, external account binding keys, accounts, orders,
//! authorizations and challenges (RFC 8555 §7.1).

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tracing::instrument;

use super::{RequestId, Store, audit};
use crate::acme::{
    Account, AccountStatus, Authz, AuthzStatus, Challenge, ChallengeKind, ChallengeStatus,
    Identifier, Order, OrderStatus, Problem,
};
use crate::choice::Choice;
use crate::error::{Error, Result, StoreError};

/// What recording a new account did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NewAccountOutcome {
    Made,
    /// The external account binding key was bound to another account meanwhile.
    BindingTaken,
    /// Another request made an account for this key meanwhile.
    KeyHasAccount,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    StoreError::Corrupt(what.to_string()).into()
}

fn time(secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(corrupt)
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// How many unexpired authorizations of an account (`$1`) are pending at `$2`.
const PENDING_AUTHZS: &str = "SELECT COUNT(*) FROM acme_authzs a JOIN acme_orders o ON o.id = a.order_id \
     WHERE o.account_id = $1 AND a.status = 'pending' AND a.expires_at > $2";

/// What became of a key change.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyRollover {
    Done,
    /// Another account has the new key.
    KeyTaken,
    /// The account's key or status changed since it was read (another key change, a
    /// deactivation): nothing was changed.
    AccountChanged,
}

impl Store {
    /// The key nonces are MACs under: made by the first server that needs it, then shared
    /// by every server on this log.
    pub(crate) async fn nonce_key(&self) -> Result<&[u8]> {
        let key = self
            .nonce_key
            .get_or_try_init(|| async {
                let existing: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT key FROM acme_nonce_key WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some(key) = existing {
                    return Ok::<_, Error>(key);
                }
                let candidate = crate::random::bytes::<32>()?;
                sqlx::query(
                    "INSERT INTO acme_nonce_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                )
                .bind(candidate.as_slice())
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT key FROM acme_nonce_key WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?)
            })
            .await?;
        Ok(key)
    }

    /// Records a nonce as used: false when it was used before.
    pub(crate) async fn use_nonce(&self, nonce: &str, expires_at: OffsetDateTime) -> Result<bool> {
        let used = sqlx::query(
            "INSERT INTO acme_used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(expires_at.unix_timestamp())
        .execute(&self.pool)
        .await?;
        Ok(used.rows_affected() == 1)
    }

    /// Records an external account binding key for a user.
    #[instrument(skip_all)]
    pub(crate) async fn put_eab_key(
        &self,
        kid: &str,
        user: &str,
        key: &[u8],
        actor: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO acme_eab_keys (kid, user_name, hmac_key, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(kid)
        .bind(user)
        .bind(key)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        audit::record(&mut tx, actor, "acme eab key", user, kid).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An external account binding key: its user, its MAC key, and the account it bound.
    pub(crate) async fn eab_key(
        &self,
        kid: &str,
    ) -> Result<Option<(String, Vec<u8>, Option<String>, i64)>> {
        Ok(sqlx::query_as(
            "SELECT user_name, hmac_key, account_id, created_at FROM acme_eab_keys WHERE kid = $1",
        )
        .bind(kid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a new account, binding the external account key `eab` to it when given (a
    /// key binds one account only). Requests for one key that race each other make one account.
    #[instrument(skip_all)]
    pub(crate) async fn insert_account(
        &self,
        account: &Account,
        eab: Option<&str>,
    ) -> Result<NewAccountOutcome> {
        let mut tx = self.begin_write().await?;
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT id FROM acme_accounts WHERE thumbprint = $1")
                .bind(&account.thumbprint)
                .fetch_optional(&mut *tx)
                .await?;
        if existing.is_some() {
            return Ok(NewAccountOutcome::KeyHasAccount);
        }
        if let Some(kid) = eab {
            let bound = sqlx::query(
                "UPDATE acme_eab_keys SET account_id = $1 WHERE kid = $2 AND account_id IS NULL",
            )
            .bind(&account.id)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
            if bound.rows_affected() != 1 {
                return Ok(NewAccountOutcome::BindingTaken);
            }
        }
        sqlx::query(
            "INSERT INTO acme_accounts (id, thumbprint, jwk, contact, status, owner, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&account.id)
        .bind(&account.thumbprint)
        .bind(serde_json::to_string(&account.jwk).map_err(corrupt)?)
        .bind(serde_json::to_string(&account.contact).map_err(corrupt)?)
        .bind(account.status.name())
        .bind(account.owner.as_deref())
        .bind(account.created_at.unix_timestamp())
        .execute(&mut *tx)
        .await?;
        let who = account.owner.as_deref().unwrap_or("acme");
        audit::record(
            &mut tx,
            who,
            "acme account",
            &account.id,
            account.owner.as_deref().unwrap_or(""),
        )
        .await?;
        tx.commit().await?;
        Ok(NewAccountOutcome::Made)
    }

    pub(crate) async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT} FROM acme_accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub(crate) async fn account_by_thumbprint(&self, thumbprint: &str) -> Result<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT} FROM acme_accounts WHERE thumbprint = $1"
        ))
        .bind(thumbprint)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Changes an account's contact list and status, while it is valid: false when it is not
    /// (deactivated meanwhile by another request: a deactivation is for good, RFC 8555
    /// §7.3.6, and an update read before it must not bring the account back).
    pub(crate) async fn update_account(
        &self,
        id: &str,
        contact: &[String],
        status: AccountStatus,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE acme_accounts SET contact = $1, status = $2 WHERE id = $3 AND status = 'valid'",
        )
        .bind(serde_json::to_string(contact).map_err(corrupt)?)
        .bind(status.name())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Ok(false);
        }
        audit::record(&mut tx, "acme", "acme account", id, status.name()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces a valid account's key `old` (a thumbprint) with `jwk`.
    pub(crate) async fn set_account_key(
        &self,
        id: &str,
        old: &str,
        jwk: &jsonwebtoken::jwk::Jwk,
        thumbprint: &str,
    ) -> Result<KeyRollover> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE acme_accounts SET jwk = $1, thumbprint = $2
             WHERE id = $3 AND thumbprint = $4 AND status = 'valid'",
        )
        .bind(serde_json::to_string(jwk).map_err(corrupt)?)
        .bind(thumbprint)
        .bind(id)
        .bind(old)
        .execute(&mut *tx)
        .await;
        if let Err(sqlx::Error::Database(db)) = &changed
            && db.is_unique_violation()
        {
            return Ok(KeyRollover::KeyTaken);
        }
        if changed?.rows_affected() != 1 {
            return Ok(KeyRollover::AccountChanged);
        }
        audit::record(&mut tx, "acme", "acme key change", id, thumbprint).await?;
        tx.commit().await?;
        Ok(KeyRollover::Done)
    }

    /// Records a new order with its authorizations and their challenges, in one transaction,
    /// unless its account would then have more than `max_pending` pending authorizations
    /// (counted in that transaction, so that orders placed at once cannot pass together):
    /// then `Some` of how many it has, and nothing is recorded.
    #[instrument(skip_all)]
    pub(crate) async fn insert_order(
        &self,
        order: &Order,
        authzs: &[Authz],
        max_pending: i64,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let pending: i64 = sqlx::query_scalar(PENDING_AUTHZS)
            .bind(&order.account_id)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
        if pending + authzs.len() as i64 > max_pending {
            return Ok(Some(pending));
        }
        sqlx::query(
            "INSERT INTO acme_orders (id, account_id, status, identifiers, expires_at, replaces, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&order.id)
        .bind(&order.account_id)
        .bind(order.status.name())
        .bind(serde_json::to_string(&order.identifiers).map_err(corrupt)?)
        .bind(order.expires_at.unix_timestamp())
        .bind(order.replaces.map(RequestId::get))
        .bind(order.created_at.unix_timestamp())
        .execute(&mut *tx)
        .await?;
        for authz in authzs {
            sqlx::query(
                "INSERT INTO acme_authzs (id, order_id, kind, value, wildcard, status, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&authz.id)
            .bind(&order.id)
            .bind(authz.identifier.kind.name())
            .bind(&authz.identifier.value)
            .bind(i64::from(authz.wildcard))
            .bind(authz.status.name())
            .bind(authz.expires_at.unix_timestamp())
            .execute(&mut *tx)
            .await?;
            for challenge in &authz.challenges {
                sqlx::query(
                    "INSERT INTO acme_challenges (id, authz_id, kind, token, status) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&challenge.id)
                .bind(&authz.id)
                .bind(challenge.kind.name())
                .bind(&challenge.token)
                .bind(challenge.status.name())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(None)
    }

    /// An order, its authorizations' ids in order, and its stored status (not yet derived).
    pub(crate) async fn order(&self, id: &str) -> Result<Option<Order>> {
        let row = sqlx::query(&format!("SELECT {ORDER} FROM acme_orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut order = order_from_row(&row)?;
        order.authorizations = self.authorizations_of(id).await?;
        Ok(Some(order))
    }

    /// The ids of an order's authorizations, in the order they were made.
    async fn authorizations_of(&self, order_id: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM acme_authzs WHERE order_id = $1 ORDER BY rowid")
                .bind(order_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The order that produced the certificate of request `id`, if any.
    pub(crate) async fn order_of_certificate(&self, id: RequestId) -> Result<Option<Order>> {
        let order_id: Option<String> =
            sqlx::query_scalar("SELECT id FROM acme_orders WHERE request_id = $1")
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?;
        match order_id {
            Some(order_id) => self.order(&order_id).await,
            None => Ok(None),
        }
    }

    /// True when a valid order already replaced the certificate of request `id`.
    pub(crate) async fn is_replaced(&self, id: RequestId) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM acme_orders WHERE replaces = $1 AND status IN ('processing', 'valid')",
        )
        .bind(id.get())
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }

    /// The ids of an account's orders, newest first (at most 1,000).
    pub(crate) async fn orders_of(&self, account_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM acme_orders WHERE account_id = $1 ORDER BY created_at DESC, rowid DESC LIMIT 1000",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Recent orders of every account, newest first, each with its authorizations.
    pub(crate) async fn recent_orders(&self, limit: i64) -> Result<Vec<Order>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER} FROM acme_orders ORDER BY created_at DESC, rowid DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut order = order_from_row(row)?;
            order.authorizations = self.authorizations_of(&order.id).await?;
            orders.push(order);
        }
        Ok(orders)
    }

    /// Moves an order from `from` to `to`, with an error or a certificate; false when the
    /// order was no longer in `from` (another request moved it first), or, to processing,
    /// when another order replacing the same certificate is processing or valid already (RFC
    /// 9773 §5: a certificate is replaced once; orders placed at once are checked as they
    /// start, in the write's transaction).
    pub(crate) async fn move_order(
        &self,
        id: &str,
        from: OrderStatus,
        to: OrderStatus,
        error: Option<&Problem>,
        certificate: Option<RequestId>,
    ) -> Result<bool> {
        let error = error
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE acme_orders SET status = $1, error = COALESCE($2, error), request_id = COALESCE($3, request_id)
             WHERE id = $4 AND status = $5
               AND ($1 <> 'processing' OR replaces IS NULL OR NOT EXISTS (
                   SELECT 1 FROM acme_orders other
                   WHERE other.replaces = acme_orders.replaces AND other.id <> acme_orders.id
                     AND other.status IN ('processing', 'valid')))",
        )
        .bind(to.name())
        .bind(error)
        .bind(certificate.map(RequestId::get))
        .bind(id)
        .bind(from.name())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(moved.rows_affected() == 1)
    }

    /// An authorization with its challenges.
    pub(crate) async fn authz(&self, id: &str) -> Result<Option<Authz>> {
        let row = sqlx::query(
            "SELECT id, order_id, kind, value, wildcard, status, expires_at FROM acme_authzs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind").map_err(StoreError::from)?;
        let status: String = row.try_get("status").map_err(StoreError::from)?;
        let challenges = sqlx::query(
            "SELECT id, authz_id, kind, token, status, validated_at, error FROM acme_challenges
             WHERE authz_id = $1 ORDER BY rowid",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(Authz {
            id: row.try_get("id").map_err(StoreError::from)?,
            order_id: row.try_get("order_id").map_err(StoreError::from)?,
            identifier: Identifier {
                kind: Choice::from_name(&kind).map_err(corrupt)?,
                value: row.try_get("value").map_err(StoreError::from)?,
            },
            wildcard: row
                .try_get::<i64, _>("wildcard")
                .map_err(StoreError::from)?
                == 1,
            status: AuthzStatus::from_name(&status).map_err(corrupt)?,
            expires_at: time(row.try_get("expires_at").map_err(StoreError::from)?)?,
            challenges: challenges
                .iter()
                .map(challenge_from_row)
                .collect::<Result<_>>()?,
        }))
    }

    /// The challenge with this id.
    pub(crate) async fn challenge(&self, id: &str) -> Result<Option<Challenge>> {
        let row = sqlx::query(
            "SELECT id, authz_id, kind, token, status, validated_at, error FROM acme_challenges WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(challenge_from_row).transpose()
    }

    /// Moves a challenge from `from` to `to`; false when it was not in `from`. A challenge
    /// starts processing only while its authorization is pending and no other challenge of
    /// it has started: one attempt per authorization (RFC 8555 §7.1.4).
    pub(crate) async fn move_challenge(
        &self,
        id: &str,
        from: ChallengeStatus,
        to: ChallengeStatus,
        error: Option<&Problem>,
    ) -> Result<bool> {
        let error = error
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        let validated = (to == ChallengeStatus::Valid).then(now);
        let moved = sqlx::query(
            "UPDATE acme_challenges SET status = $1, error = $2, validated_at = $3 \
             WHERE id = $4 AND status = $5 AND ($1 <> 'processing' OR ( \
                 EXISTS (SELECT 1 FROM acme_authzs a WHERE a.id = acme_challenges.authz_id AND a.status = 'pending') \
                 AND NOT EXISTS (SELECT 1 FROM acme_challenges o \
                     WHERE o.authz_id = acme_challenges.authz_id AND o.status <> 'pending')))",
        )
        .bind(to.name())
        .bind(error)
        .bind(validated)
        .bind(id)
        .bind(from.name())
        .execute(&self.pool)
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// How many unexpired authorizations of `account` are pending.
    pub(crate) async fn pending_authzs(&self, account: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(PENDING_AUTHZS)
            .bind(account)
            .bind(now())
            .fetch_one(&self.pool)
            .await?)
    }

    /// Moves an authorization to `to` from any of `from`; false when it was in none of them
    /// (a late validation does not bring back an authorization the client deactivated).
    pub(crate) async fn move_authz(
        &self,
        id: &str,
        from: &[AuthzStatus],
        to: AuthzStatus,
    ) -> Result<bool> {
        let mut moved = false;
        for status in from {
            moved |=
                sqlx::query("UPDATE acme_authzs SET status = $1 WHERE id = $2 AND status = $3")
                    .bind(to.name())
                    .bind(id)
                    .bind(status.name())
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1;
            if moved {
                break;
            }
        }
        Ok(moved)
    }

    /// Forgets used nonces that have expired, and orders that expired unfinished a day ago (their
    /// authorizations and challenges with them); orders that led to a certificate stay.
    #[instrument(skip_all)]
    pub(crate) async fn prune_acme(&self) -> Result<(u64, u64)> {
        let now = now();
        let mut tx = self.begin_write().await?;
        let nonces = sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let orders = sqlx::query(
            "DELETE FROM acme_orders WHERE request_id IS NULL AND status <> 'processing' AND expires_at < $1",
        )
        .bind(now - 86_400)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((nonces, orders))
    }
}

const ACCOUNT: &str = "id, thumbprint, jwk, contact, status, owner, created_at";
const ORDER: &str =
    "id, account_id, status, identifiers, expires_at, error, request_id, replaces, created_at";

fn account_from_row(row: &AnyRow) -> Result<Account> {
    let get = |c: &str| -> Result<String> { Ok(row.try_get(c).map_err(StoreError::from)?) };
    Ok(Account {
        id: get("id")?,
        thumbprint: get("thumbprint")?,
        jwk: serde_json::from_str(&get("jwk")?).map_err(corrupt)?,
        contact: serde_json::from_str(&get("contact")?).map_err(corrupt)?,
        status: AccountStatus::from_name(&get("status")?).map_err(corrupt)?,
        owner: row.try_get("owner").map_err(StoreError::from)?,
        created_at: time(row.try_get("created_at").map_err(StoreError::from)?)?,
    })
}

fn order_from_row(row: &AnyRow) -> Result<Order> {
    let get = |c: &str| -> Result<String> { Ok(row.try_get(c).map_err(StoreError::from)?) };
    let error: Option<String> = row.try_get("error").map_err(StoreError::from)?;
    let request: Option<i64> = row.try_get("request_id").map_err(StoreError::from)?;
    let replaces: Option<i64> = row.try_get("replaces").map_err(StoreError::from)?;
    Ok(Order {
        id: get("id")?,
        account_id: get("account_id")?,
        status: OrderStatus::from_name(&get("status")?).map_err(corrupt)?,
        identifiers: serde_json::from_str(&get("identifiers")?).map_err(corrupt)?,
        expires_at: time(row.try_get("expires_at").map_err(StoreError::from)?)?,
        error: error
            .map(|e| serde_json::from_str(&e))
            .transpose()
            .map_err(corrupt)?,
        authorizations: Vec::new(),
        certificate: request.map(RequestId::from_log).transpose()?,
        replaces: replaces.map(RequestId::from_log).transpose()?,
        created_at: time(row.try_get("created_at").map_err(StoreError::from)?)?,
    })
}

fn challenge_from_row(row: &AnyRow) -> Result<Challenge> {
    let get = |c: &str| -> Result<String> { Ok(row.try_get(c).map_err(StoreError::from)?) };
    let validated: Option<i64> = row.try_get("validated_at").map_err(StoreError::from)?;
    let error: Option<String> = row.try_get("error").map_err(StoreError::from)?;
    Ok(Challenge {
        id: get("id")?,
        authz_id: get("authz_id")?,
        kind: ChallengeKind::from_name(&get("kind")?).map_err(corrupt)?,
        token: get("token")?,
        status: ChallengeStatus::from_name(&get("status")?).map_err(corrupt)?,
        validated_at: validated.map(time).transpose()?,
        error: error
            .map(|e| serde_json::from_str(&e))
            .transpose()
            .map_err(corrupt)?,
    })
}
