//! The authority's ACME operations (RFC 8555, RFC 9773): accounts, orders, authorizations
//! and challenges on the issuance log, under the same name rules as every other request.

use std::sync::Arc;

use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::acme::jws::{self, Jws};
use crate::acme::validate;
use crate::acme::{
    Account, AccountStatus, AccountUpdate, AcmeSettings, Authz, AuthzStatus, Challenge,
    ChallengeKind, ChallengeStatus, Identifier, IdentifierKind, NewAccount, NewOrder, Order,
    OrderStatus, Problem, ProblemType, RenewalWindow, Revocation, Signer, Subproblem, Verified,
    renewal_window,
};
use crate::authority::Authority;
use crate::choice::Choice;
use crate::csr::{CertificateRequest, SignOptions};
use crate::error::{Error, NameRule};
use crate::name::SubjectName;
use crate::profile::Profile;
use crate::revoke::RevocationReason;
use crate::store::{KeyRollover, NewAccountOutcome, RequestId, RequestSource, Status};

/// How long a nonce may wait to be used.
const NONCE_LIFETIME: Duration = Duration::hours(1);
/// How long an order and its authorizations wait to be completed.
const ORDER_LIFETIME: Duration = Duration::days(7);
/// The most identifiers one order may hold: as many names as a certificate holds.
const MAX_IDENTIFIERS: usize = crate::name::MAX_NAMES;
/// The most pending authorizations one account may hold (as Let's Encrypt): a client that
/// orders and never validates cannot fill the log.
const MAX_PENDING_AUTHZS: i64 = 300;

/// The refusal of an order for a certificate another order replaced (RFC 9773 §5).
fn already_replaced(id: RequestId) -> Problem {
    Problem::new(
        ProblemType::AlreadyReplaced,
        format!("certificate {id} was already replaced"),
    )
}

/// The refusal of an order that would give its account more than [`MAX_PENDING_AUTHZS`]
/// pending authorizations; it has `pending`.
fn too_many_pending(pending: i64) -> Problem {
    Problem::new(
        ProblemType::RateLimited,
        format!(
            "this account has {pending} pending authorizations; at most {MAX_PENDING_AUTHZS}: complete or deactivate some first"
        ),
    )
}

/// A nonce's length: expiry (8), random (8), MAC (16).
const NONCE_LEN: usize = 32;

/// The MAC of a nonce's first 16 bytes.
fn nonce_tag(key: &[u8], body: &[u8]) -> [u8; 16] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&aws_lc_rs::hmac::sign(&key, body).as_ref()[..16]);
    tag
}

/// A new random id for an ACME object.
fn new_id() -> Result<String, Problem> {
    Ok(jws::b64(&crate::random::bytes::<16>()?))
}

impl Authority {
    /// The ACME settings as the log holds them now; `unauthorized` when ACME is off.
    pub async fn acme_settings(&self) -> Result<AcmeSettings, Problem> {
        let settings = self.current_settings().await?.acme;
        if !settings.enabled {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "ACME is turned off on this certificate authority",
            )
            .with_status(403));
        }
        Ok(settings)
    }

    /// A new nonce: its expiry and 8 random bytes, with a MAC under the log's nonce key, so
    /// any server on the log accepts it and handing it out writes nothing.
    pub async fn new_nonce(&self) -> Result<String, Problem> {
        let key = self.store().nonce_key().await?;
        let expires = (OffsetDateTime::now_utc() + NONCE_LIFETIME).unix_timestamp();
        let mut nonce = Vec::with_capacity(NONCE_LEN);
        nonce.extend_from_slice(&expires.to_be_bytes());
        nonce.extend_from_slice(&crate::random::bytes::<8>()?);
        let tag = nonce_tag(key, &nonce);
        nonce.extend_from_slice(&tag);
        Ok(jws::b64(&nonce))
    }

    /// Uses up a nonce: true when this log's key made it, it has not expired, and no request
    /// used it before.
    async fn use_nonce(&self, nonce: &str) -> Result<bool, Problem> {
        let Some(bytes) = jws::unb64(nonce).filter(|b| b.len() == NONCE_LEN) else {
            return Ok(false);
        };
        let key = self.store().nonce_key().await?;
        let (body, tag) = bytes.split_at(16);
        if aws_lc_rs::constant_time::verify_slices_are_equal(&nonce_tag(key, body), tag).is_err() {
            return Ok(false);
        }
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&body[..8]);
        let Ok(expires) = OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(expires)) else {
            return Ok(false);
        };
        if expires <= OffsetDateTime::now_utc() {
            return Ok(false);
        }
        Ok(self.store().use_nonce(nonce, expires).await?)
    }

    /// Verifies a POST (RFC 8555 §6.2–6.5): a flattened JWS whose `url` is `url`, whose nonce
    /// this CA handed out and was not used before, signed as `signer` asks; `account_id` reads
    /// an account id from a `kid` URL.
    #[instrument(skip_all)]
    pub async fn verify_acme(
        &self,
        body: &[u8],
        url: &str,
        signer: Signer,
        account_id: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Verified, Problem> {
        let settings = self.acme_settings().await?;
        let jws = Jws::parse(body)?;
        let header = &jws.header;
        let nonce = header
            .nonce
            .as_deref()
            .ok_or_else(|| Problem::new(ProblemType::BadNonce, "the JWS carries no nonce"))?;
        match header.url.as_deref() {
            Some(signed) if signed == url => {}
            Some(signed) => {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    format!("the JWS was signed for {signed}, but was sent to {url}"),
                ));
            }
            None => {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    "the JWS carries no url",
                ));
            }
        }
        let (account, jwk) = match (&header.jwk, &header.kid, signer) {
            (Some(_), Some(_), _) => {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    "the JWS names both a jwk and a kid: it must name one",
                ));
            }
            (Some(jwk), None, Signer::Key | Signer::Either) => (None, jwk.clone()),
            (None, Some(kid), Signer::Account | Signer::Either) => {
                let id = account_id(kid).ok_or_else(|| {
                    Problem::new(
                        ProblemType::AccountDoesNotExist,
                        format!("{kid} is not an account of this server"),
                    )
                })?;
                let account = self.store().account(&id).await?.ok_or_else(|| {
                    Problem::new(
                        ProblemType::AccountDoesNotExist,
                        format!("there is no account {kid}"),
                    )
                })?;
                if account.status != AccountStatus::Valid {
                    return Err(Problem::new(
                        ProblemType::Unauthorized,
                        format!("the account {kid} is {}", account.status.name()),
                    ));
                }
                let jwk = account.jwk.clone();
                (Some(account), jwk)
            }
            (_, _, Signer::Account) => {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    "this request must be signed by an account (kid)",
                ));
            }
            _ => {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    "this request must carry its key (jwk)",
                ));
            }
        };
        // The signature first, then the nonce: a forged request does not use up a nonce.
        jws.verify_account(&jwk)?;
        if !self.use_nonce(nonce).await? {
            return Err(Problem::new(
                ProblemType::BadNonce,
                "the nonce was not handed out by this server, was used already, or expired: get a new one",
            ));
        }
        if let Some(account) = &account {
            self.check_standing(account, &settings).await?;
        }
        Ok(Verified { jws, account, jwk })
    }

    /// An account acts only while what let it in still holds: the user of its external account
    /// binding exists, is enabled and is the one who had the key (a user removed and added
    /// again under the same name is someone else); and once bindings are required, an account
    /// made without one acts no more.
    async fn check_standing(
        &self,
        account: &Account,
        settings: &AcmeSettings,
    ) -> Result<(), Problem> {
        let refusal = match &account.owner {
            Some(owner) => (!self.is_owner_since(owner, account.created_at).await?).then(|| {
                Problem::new(
                    ProblemType::Unauthorized,
                    format!(
                        "the user {owner}, whose external account binding made this account, is disabled or removed"
                    ),
                )
            }),
            None => settings.eab_required.then(|| {
                Problem::new(
                    ProblemType::ExternalAccountRequired,
                    "this certificate authority now needs an external account binding: make a new account with a key from its administrator",
                )
            }),
        };
        refusal.map_or(Ok(()), Err)
    }

    /// True when the user `name` exists, is enabled, and existed at `since`.
    async fn is_owner_since(&self, name: &str, since: OffsetDateTime) -> Result<bool, Problem> {
        Ok(self
            .store()
            .user(name)
            .await?
            .is_some_and(|user| !user.disabled && user.created_at <= since))
    }

    /// True when `account` may act on the certificate of `row`: it ordered it, or (for a
    /// certificate requested another way) its user requested it, while being the same user.
    async fn may_act_on(&self, account: &Account, row: &crate::Issuance) -> Result<bool, Problem> {
        Ok(match self.store().order_of_certificate(row.id).await? {
            Some(order) => order.account_id == account.id,
            None => match account.owner.as_deref() {
                Some(owner) if owner == row.requester => {
                    self.is_owner_since(owner, row.requested_at).await?
                }
                _ => false,
            },
        })
    }

    /// newAccount (RFC 8555 §7.3): the account of this key, made when it does not exist yet.
    /// Returns the account and whether it was made now.
    #[instrument(skip_all)]
    pub async fn acme_new_account(
        &self,
        request: &Verified,
        new_account_url: &str,
        may_make: impl FnOnce(&AcmeSettings) -> Result<(), Problem>,
    ) -> Result<(Account, bool), Problem> {
        let settings = self.acme_settings().await?;
        let payload: NewAccount = request.payload()?;
        let thumbprint = jws::thumbprint(&request.jwk)?;
        if let Some(existing) = self.store().account_by_thumbprint(&thumbprint).await? {
            // Deactivated for good (RFC 8555 §7.3.6): its key makes no account again.
            if existing.status == AccountStatus::Deactivated {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    "the account of this key was deactivated: make a new key for a new account",
                ));
            }
            return Ok((existing, false));
        }
        if payload.only_return_existing == Some(true) {
            return Err(Problem::new(
                ProblemType::AccountDoesNotExist,
                "no account has this key",
            ));
        }
        let contact = check_contact(payload.contact.unwrap_or_default())?;
        let mut owner = None;
        let mut eab_kid = None;
        match &payload.external_account_binding {
            Some(binding) => {
                let (kid, user) = self
                    .check_binding(binding, &request.jwk, new_account_url)
                    .await?;
                owner = Some(user);
                eab_kid = Some(kid);
            }
            None if settings.eab_required => {
                return Err(Problem::new(
                    ProblemType::ExternalAccountRequired,
                    "this certificate authority needs an external account binding: ask its administrator for a key (the install page says how)",
                ));
            }
            // An account bound to no user is anyone's to make: the caller's limit of them
            // (a binding's key makes one account only).
            None => may_make(&settings)?,
        }
        let account = Account {
            id: new_id()?,
            jwk: request.jwk.clone(),
            thumbprint,
            contact,
            status: AccountStatus::Valid,
            owner,
            created_at: OffsetDateTime::now_utc(),
        };
        match self
            .store()
            .insert_account(&account, eab_kid.as_deref())
            .await?
        {
            NewAccountOutcome::Made => Ok((account, true)),
            NewAccountOutcome::BindingTaken => Err(Problem::new(
                ProblemType::Unauthorized,
                "this external account binding key is already bound to another account",
            )),
            NewAccountOutcome::KeyHasAccount => {
                let existing = self
                    .store()
                    .account_by_thumbprint(&account.thumbprint)
                    .await?
                    .ok_or_else(|| Problem::not_found("account"))?;
                Ok((existing, false))
            }
        }
    }

    /// Checks an external account binding (RFC 8555 §7.3.4): an HS256 JWS over the account's
    /// key, signed with a key this CA made for a user; returns the key's id and its user.
    async fn check_binding(
        &self,
        binding: &serde_json::Value,
        account_key: &Jwk,
        url: &str,
    ) -> Result<(String, String), Problem> {
        let malformed = |why: &str| Problem::new(ProblemType::Malformed, why);
        let bytes =
            serde_json::to_vec(binding).map_err(|_| malformed("the binding is not JSON"))?;
        let inner = Jws::parse(&bytes).map_err(|problem| match problem.kind {
            // The binding's own algorithm is a MAC's, not an account key's.
            ProblemType::BadSignatureAlgorithm => Problem::new(
                ProblemType::BadSignatureAlgorithm,
                "the external account binding must be signed with HS256",
            ),
            _ => problem,
        })?;
        if inner.header.nonce.is_some() || inner.header.url.as_deref() != Some(url) {
            return Err(malformed(
                "the binding must be signed for the newAccount URL, without a nonce",
            ));
        }
        let kid = inner
            .header
            .kid
            .clone()
            .ok_or_else(|| malformed("the binding names no key (kid)"))?;
        let (user, key, bound, made_at) = self.store().eab_key(&kid).await?.ok_or_else(|| {
            Problem::new(
                ProblemType::Unauthorized,
                "the external account binding key is not known",
            )
        })?;
        inner.verify_mac(&key).map_err(|problem| match problem.kind {
            ProblemType::Unauthorized => Problem::new(
                ProblemType::Unauthorized,
                format!(
                    "the external account binding does not verify with the HMAC key of key id {kid}: check the HMAC key given to the client"
                ),
            ),
            _ => problem,
        })?;
        let bound_key: Jwk = serde_json::from_slice(&inner.payload)
            .map_err(|_| malformed("the binding's payload is not a JWK"))?;
        if jws::thumbprint(&bound_key)? != jws::thumbprint(account_key)? {
            return Err(malformed(
                "the binding is for another key than the account's",
            ));
        }
        if bound.is_some() {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "this external account binding key is already bound to another account",
            ));
        }
        if self
            .store()
            .user_state(&user)
            .await?
            .is_none_or(|(_, disabled)| disabled)
        {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "the user of this external account binding key is disabled or removed",
            ));
        }
        // A key made for a user removed since, before another user was added under the name,
        // is not the new user's (the log keeps times in seconds).
        let user_since = self
            .store()
            .user(&user)
            .await?
            .map(|record| record.created_at.unix_timestamp());
        if user_since.is_some_and(|since| made_at < since) {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                format!(
                    "the external account binding key {kid} was made for an earlier user named {user}, removed since: ask for a new key"
                ),
            ));
        }
        Ok((kid, user))
    }

    /// Makes an external account binding key for `user`: its id, and the key (shown once).
    #[instrument(skip_all)]
    pub async fn new_eab_key(&self, user: &str, actor: &str) -> crate::Result<(String, String)> {
        match self.store().user_state(user).await? {
            None => return Err(Error::NotFound(format!("the user {user}"))),
            Some((_, true)) => {
                return Err(Error::InvalidInput(format!(
                    "the user {user} is disabled: an account bound to it could not act"
                )));
            }
            Some(_) => {}
        }
        let kid = jws::b64(&crate::random::bytes::<12>()?);
        let key = crate::random::bytes::<32>()?;
        self.store().put_eab_key(&kid, user, &key, actor).await?;
        Ok((kid, jws::b64(&key)))
    }

    /// An account update or deactivation (RFC 8555 §7.3.2, §7.3.6); POST-as-GET reads it.
    #[instrument(skip_all)]
    pub async fn acme_update_account(
        &self,
        request: &Verified,
        id: &str,
    ) -> Result<Account, Problem> {
        let account = request.account()?;
        if account.id != id {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "an account can only change itself",
            ));
        }
        if request.jws.is_post_as_get() {
            return Ok(account.clone());
        }
        let update: AccountUpdate = request.payload()?;
        let contact = match update.contact {
            Some(contact) => check_contact(contact)?,
            None => account.contact.clone(),
        };
        let status = match update.status.as_deref() {
            None => account.status,
            Some("deactivated") => AccountStatus::Deactivated,
            Some(other) => {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    format!("an account can only be deactivated, not made {other}"),
                ));
            }
        };
        if !self.store().update_account(id, &contact, status).await? {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "the account was deactivated meanwhile: a deactivated account stays so",
            ));
        }
        let mut account = account.clone();
        account.contact = contact;
        account.status = status;
        Ok(account)
    }

    /// keyChange (RFC 8555 §7.3.5): the inner JWS, signed by the new key, names the account
    /// (`account_url`) and its old key.
    #[instrument(skip_all)]
    pub async fn acme_key_change(
        &self,
        request: &Verified,
        url: &str,
        account_url: &str,
    ) -> Result<Account, Problem> {
        let account = request.account()?;
        let inner = Jws::parse(&request.jws.payload)?;
        let new_key = inner.header.jwk.clone().ok_or_else(|| {
            Problem::new(
                ProblemType::Malformed,
                "the inner JWS must carry the new key (jwk)",
            )
        })?;
        if inner.header.url.as_deref() != Some(url) || inner.header.nonce.is_some() {
            return Err(Problem::new(
                ProblemType::Malformed,
                "the inner JWS must be signed for the keyChange URL, without a nonce",
            ));
        }
        // A JWS names its key one way (RFC 8555 §6.2), the inner one as any other (§7.3.5).
        if inner.header.kid.is_some() {
            return Err(Problem::new(
                ProblemType::Malformed,
                "the inner JWS names its key by jwk alone: leave kid out",
            ));
        }
        inner.verify_account(&new_key)?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct KeyChange {
            account: String,
            old_key: Jwk,
        }
        let change: KeyChange = serde_json::from_slice(&inner.payload).map_err(|_| {
            Problem::new(
                ProblemType::Malformed,
                "the inner payload must name the account and its old key",
            )
        })?;
        if change.account != account_url || jws::thumbprint(&change.old_key)? != account.thumbprint
        {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "the inner payload names another account or another old key",
            ));
        }
        let thumbprint = jws::thumbprint(&new_key)?;
        if thumbprint == account.thumbprint {
            return Err(Problem::new(
                ProblemType::Malformed,
                "the new key is the account's key already: roll over to another key",
            ));
        }
        match self
            .store()
            .set_account_key(&account.id, &account.thumbprint, &new_key, &thumbprint)
            .await?
        {
            KeyRollover::Done => {}
            KeyRollover::KeyTaken => {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    "another account already has this key",
                )
                .with_status(409));
            }
            KeyRollover::AccountChanged => {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    "the account's key or status changed since this request was signed (another key change, or a deactivation): nothing was changed",
                ));
            }
        }
        let mut account = account.clone();
        account.jwk = new_key;
        account.thumbprint = thumbprint;
        Ok(account)
    }

    /// newOrder (RFC 8555 §7.4): every identifier passes the name rules, the root's
    /// constraints and the ACME domains, or the order is refused with a subproblem per name.
    #[instrument(skip_all)]
    pub async fn acme_new_order(
        &self,
        request: &Verified,
        may_make: impl FnOnce(&AcmeSettings) -> Result<(), Problem>,
    ) -> Result<Order, Problem> {
        let settings = self.acme_settings().await?;
        let account = request.account()?;
        let payload: NewOrder = request.payload()?;
        if payload.not_before.is_some() || payload.not_after.is_some() {
            return Err(Problem::new(
                ProblemType::Malformed,
                format!(
                    "this CA sets the dates itself ({} days from issuance): leave notBefore and notAfter out",
                    settings.days
                ),
            ));
        }
        if payload.identifiers.is_empty() || payload.identifiers.len() > MAX_IDENTIFIERS {
            return Err(Problem::new(
                ProblemType::Malformed,
                format!("an order names 1 to {MAX_IDENTIFIERS} identifiers"),
            ));
        }
        // Counted again as the order is recorded, for orders placed at once.
        let pending = self.store().pending_authzs(&account.id).await?;
        if pending + payload.identifiers.len() as i64 > MAX_PENDING_AUTHZS {
            return Err(too_many_pending(pending));
        }
        let server_names = self.current_settings().await?.server_names;
        let mut identifiers: Vec<Identifier> = Vec::new();
        let mut subproblems = Vec::new();
        for identifier in &payload.identifiers {
            match self.check_identifier(identifier, &settings, &server_names) {
                Ok(checked) if !identifiers.contains(&checked) => identifiers.push(checked),
                Ok(_) => {}
                Err(problem) => subproblems.push(Subproblem {
                    kind: problem.kind,
                    detail: problem.detail,
                    identifier: identifier.clone(),
                }),
            }
        }
        if !subproblems.is_empty() {
            // One kind of fault throughout is the order's; mixed ones, its identifiers'.
            let first = subproblems
                .first()
                .map_or(ProblemType::RejectedIdentifier, |s| s.kind);
            let mut problem = Problem::new(
                if subproblems.iter().all(|s| s.kind == first) {
                    first
                } else {
                    ProblemType::RejectedIdentifier
                },
                subproblems
                    .iter()
                    .map(|s| s.detail.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            problem.subproblems = subproblems;
            return Err(problem);
        }
        let replaces = match &payload.replaces {
            Some(cert_id) => Some(self.replaced_certificate(account, cert_id).await?),
            None => None,
        };
        // The caller's limit of orders counts those made, not those refused.
        may_make(&settings)?;
        let created_at = OffsetDateTime::now_utc();
        let expires_at = created_at + ORDER_LIFETIME;
        let mut order = Order {
            id: new_id()?,
            account_id: account.id.clone(),
            status: OrderStatus::Pending,
            identifiers: identifiers.clone(),
            expires_at,
            error: None,
            authorizations: Vec::new(),
            certificate: None,
            replaces,
            created_at,
        };
        let mut authzs = Vec::new();
        for identifier in identifiers {
            let wildcard = identifier.value.starts_with("*.");
            let value = identifier.value.trim_start_matches("*.").to_owned();
            let authz_id = new_id()?;
            let kinds: &[ChallengeKind] = match (identifier.kind, wildcard) {
                (_, true) => &[ChallengeKind::Dns01],
                (IdentifierKind::Ip, false) => &[ChallengeKind::Http01, ChallengeKind::TlsAlpn01],
                (IdentifierKind::Dns, false) => &[
                    ChallengeKind::Http01,
                    ChallengeKind::Dns01,
                    ChallengeKind::TlsAlpn01,
                ],
            };
            let challenges = kinds
                .iter()
                .map(|kind| {
                    Ok(Challenge {
                        id: new_id()?,
                        authz_id: authz_id.clone(),
                        kind: *kind,
                        token: jws::b64(&crate::random::bytes::<32>()?),
                        status: ChallengeStatus::Pending,
                        validated_at: None,
                        error: None,
                    })
                })
                .collect::<Result<Vec<_>, Problem>>()?;
            order.authorizations.push(authz_id.clone());
            authzs.push(Authz {
                id: authz_id,
                order_id: order.id.clone(),
                identifier: Identifier {
                    kind: identifier.kind,
                    value,
                },
                wildcard,
                status: AuthzStatus::Pending,
                expires_at,
                challenges,
            });
        }
        if let Some(pending) = self
            .store()
            .insert_order(&order, &authzs, MAX_PENDING_AUTHZS)
            .await?
        {
            return Err(too_many_pending(pending));
        }
        Ok(order)
    }

    /// An identifier through the name rules (DESIGN §3), the root's constraints, the names of
    /// the CA's own server, and the domains ACME may ask for.
    fn check_identifier(
        &self,
        identifier: &Identifier,
        settings: &AcmeSettings,
        server_names: &[SubjectName],
    ) -> Result<Identifier, Problem> {
        // The value is the name alone (RFC 8555 §9.7.7): what the command line forgives
        // (spaces around a name typed) a client's order does not need.
        let value = &identifier.value;
        if value.trim() != value || value.chars().any(char::is_control) {
            return Err(Problem::new(
                ProblemType::Malformed,
                format!(
                    "the identifier \"{}\" holds spaces or control characters: send the name alone",
                    crate::display::inert(value)
                ),
            ));
        }
        let name: SubjectName = identifier.value.parse().map_err(Problem::from)?;
        // A name is sent as a certificate holds it (RFC 8555 §7.1.4): its A-label form. The
        // order, the authorization and the certificate would otherwise each name it in a form
        // the client did not send, and a client comparing them would find a mismatch.
        if value.ends_with('.') && value.len() > 1 {
            return Err(Problem::new(
                ProblemType::RejectedIdentifier,
                format!(
                    "\"{}\" ends with a dot, which a certificate's names do not: send \"{}\" (RFC 8555 §7.1.4)",
                    crate::display::inert(value),
                    crate::display::inert(value.trim_end_matches('.'))
                ),
            ));
        }
        if !value.is_ascii() {
            return Err(Problem::new(
                ProblemType::RejectedIdentifier,
                format!(
                    "\"{}\" is not written as a certificate holds it: send \"{name}\", its A-label (ASCII) form (RFC 8555 §7.1.4)",
                    crate::display::inert(value)
                ),
            ));
        }
        let kind_matches = match (&name, identifier.kind) {
            (SubjectName::Dns(_), IdentifierKind::Dns)
            | (SubjectName::Ip(_), IdentifierKind::Ip) => true,
            // lego sends an IP address as a dns identifier: it is read as what it is.
            (SubjectName::Ip(_), IdentifierKind::Dns) => true,
            (SubjectName::Dns(_), IdentifierKind::Ip) => false,
        };
        if !kind_matches {
            return Err(Problem::new(
                ProblemType::Malformed,
                format!("{} is not an IP address", identifier.value),
            ));
        }
        let checked = self
            .check_names(std::slice::from_ref(&name), false)
            .map_err(Problem::from)?;
        let name = checked.into_iter().next().unwrap_or(name);
        if crate::settings::is_reserved(server_names, &name) {
            return Err(Problem::from(Error::name(
                name.to_string(),
                NameRule::Reserved,
            )));
        }
        if !settings.domains.is_empty() && !settings.domains.iter().any(|d| d.permits(&name)) {
            return Err(Problem::new(
                ProblemType::RejectedIdentifier,
                format!(
                    "{name} is refused: ACME accounts may ask only for {} (acme-domains)",
                    settings.domains_in_words(5)
                ),
            ));
        }
        Ok(Identifier::of(&name))
    }

    /// The certificate an order replaces (RFC 9773 §5): this account's, not yet replaced.
    async fn replaced_certificate(
        &self,
        account: &Account,
        cert_id: &str,
    ) -> Result<RequestId, Problem> {
        let (_, serial) = parse_cert_id(cert_id)?;
        let row = self
            .store()
            .issuance_by_serial(&serial)
            .await
            .map_err(|_| {
                Problem::new(
                    ProblemType::Malformed,
                    "replaces names no certificate of this CA",
                )
            })?;
        let owned = self.may_act_on(account, &row).await?;
        if !owned {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "replaces names a certificate this account did not order",
            ));
        }
        if self.store().is_replaced(row.id).await? {
            return Err(already_replaced(row.id));
        }
        Ok(row.id)
    }

    /// An order of `account`, its status brought up to date (RFC 8555 §7.1.6).
    #[instrument(skip_all)]
    pub async fn acme_order(&self, account: &Account, id: &str) -> Result<Order, Problem> {
        let order = self
            .store()
            .order(id)
            .await?
            .filter(|o| o.account_id == account.id)
            .ok_or_else(|| Problem::not_found("order"))?;
        self.order_now(order).await
    }

    /// An order with its status as of now: ready once every authorization is valid, invalid
    /// (with the failed authorization's error) once one is not, or when it expired. An order
    /// that a failed authorization made invalid is recorded so.
    async fn order_now(&self, order: Order) -> Result<Order, Problem> {
        let (order, failed) = self.order_seen_now(order).await?;
        if failed {
            self.store()
                .move_order(
                    &order.id,
                    OrderStatus::Pending,
                    OrderStatus::Invalid,
                    order.error.as_ref(),
                    None,
                )
                .await?;
        }
        Ok(order)
    }

    /// [`Self::order_now`] without writing anything: the order, and whether a failed
    /// authorization made it invalid.
    async fn order_seen_now(&self, mut order: Order) -> Result<(Order, bool), Problem> {
        if order.status != OrderStatus::Pending {
            return Ok((order, false));
        }
        let mut all_valid = true;
        for authz_id in &order.authorizations {
            let authz = self.authz_now(authz_id).await?;
            match authz.status {
                AuthzStatus::Valid => {}
                AuthzStatus::Pending => all_valid = false,
                _ => {
                    let error = authz
                        .challenges
                        .iter()
                        .find_map(|c| c.error.clone())
                        .unwrap_or_else(|| {
                            Problem::new(
                                ProblemType::Unauthorized,
                                format!(
                                    "the authorization of {} is {}",
                                    authz.identifier.value,
                                    authz.status.name()
                                ),
                            )
                        });
                    order.status = OrderStatus::Invalid;
                    order.error = Some(error);
                    return Ok((order, true));
                }
            }
        }
        if order.expires_at <= OffsetDateTime::now_utc() {
            order.status = OrderStatus::Invalid;
        } else if all_valid {
            order.status = OrderStatus::Ready;
        }
        Ok((order, false))
    }

    /// The ids of an account's orders.
    pub async fn acme_orders(&self, account: &Account) -> Result<Vec<String>, Problem> {
        Ok(self.store().orders_of(&account.id).await?)
    }

    /// Recent orders, for people: each with its status as of now, read only (a pending order
    /// whose authorization failed is invalid, with the reason).
    pub async fn acme_recent_orders(&self, limit: i64) -> crate::Result<Vec<Order>> {
        let mut orders = Vec::new();
        for order in self.store().recent_orders(limit).await? {
            orders.push(self.order_seen_now(order).await?.0);
        }
        Ok(orders)
    }

    /// An authorization with its status as of now (expired when past its time).
    async fn authz_now(&self, id: &str) -> Result<Authz, Problem> {
        let mut authz = self
            .store()
            .authz(id)
            .await?
            .ok_or_else(|| Problem::not_found("authorization"))?;
        if authz.status == AuthzStatus::Pending && authz.expires_at <= OffsetDateTime::now_utc() {
            authz.status = AuthzStatus::Expired;
        }
        Ok(authz)
    }

    /// An authorization of `account`; with a payload `{"status":"deactivated"}`, deactivated.
    #[instrument(skip_all)]
    pub async fn acme_authz(&self, request: &Verified, id: &str) -> Result<Authz, Problem> {
        let account = request.account()?;
        let mut authz = self.authz_now(id).await?;
        let order = self.store().order(&authz.order_id).await?;
        if order.is_none_or(|o| o.account_id != account.id) {
            return Err(Problem::not_found("authorization"));
        }
        if !request.jws.is_post_as_get() {
            let update: AccountUpdate = request.payload()?;
            if update.status.as_deref() != Some("deactivated") {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    "an authorization can only be deactivated",
                ));
            }
            if !self
                .store()
                .move_authz(
                    id,
                    &[AuthzStatus::Pending, AuthzStatus::Valid],
                    AuthzStatus::Deactivated,
                )
                .await?
            {
                return Err(Problem::new(
                    ProblemType::Malformed,
                    format!(
                        "the authorization is {}: only a pending or valid one can be deactivated",
                        authz.status.name()
                    ),
                ));
            }
            authz.status = AuthzStatus::Deactivated;
        }
        Ok(authz)
    }

    /// A challenge of `account`, and its authorization; a POST with `{}` asks for it to be
    /// validated, which happens in the background (RFC 8555 §7.5.1).
    #[instrument(skip_all)]
    pub async fn acme_challenge(
        self: &Arc<Self>,
        request: &Verified,
        id: &str,
    ) -> Result<(Challenge, Authz), Problem> {
        let account = request.account()?.clone();
        let challenge = self
            .store()
            .challenge(id)
            .await?
            .ok_or_else(|| Problem::not_found("challenge"))?;
        let authz = self.authz_now(&challenge.authz_id).await?;
        let order = self.store().order(&authz.order_id).await?;
        if order.is_none_or(|o| o.account_id != account.id) {
            return Err(Problem::not_found("challenge"));
        }
        if request.jws.is_post_as_get()
            || challenge.status != ChallengeStatus::Pending
            || authz.status != AuthzStatus::Pending
        {
            return Ok((challenge, authz));
        }
        if !self
            .store()
            .move_challenge(
                id,
                ChallengeStatus::Pending,
                ChallengeStatus::Processing,
                None,
            )
            .await?
        {
            let challenge = self
                .store()
                .challenge(id)
                .await?
                .ok_or_else(|| Problem::not_found("challenge"))?;
            return Ok((challenge, authz));
        }
        let key_authorization = jws::key_authorization(&challenge.token, &account.jwk)?;
        let settings = self.acme_settings().await?;
        let authority = Arc::clone(self);
        let (task_challenge, task_authz) = (challenge.clone(), authz.clone());
        tokio::spawn(async move {
            let outcome = validate::validate(
                &settings,
                &task_authz.identifier,
                task_challenge.kind,
                &task_challenge.token,
                &key_authorization,
            )
            .await;
            if let Err(err) = authority
                .finish_challenge(&task_challenge, &task_authz, outcome)
                .await
            {
                tracing::error!(%err, "could not record a challenge's outcome");
            }
        });
        let mut challenge = challenge;
        challenge.status = ChallengeStatus::Processing;
        Ok((challenge, authz))
    }

    async fn finish_challenge(
        &self,
        challenge: &Challenge,
        authz: &Authz,
        outcome: Result<(), Problem>,
    ) -> Result<(), Problem> {
        match outcome {
            Ok(()) => {
                self.store()
                    .move_challenge(
                        &challenge.id,
                        ChallengeStatus::Processing,
                        ChallengeStatus::Valid,
                        None,
                    )
                    .await?;
                self.store()
                    .move_authz(&authz.id, &[AuthzStatus::Pending], AuthzStatus::Valid)
                    .await?;
            }
            Err(problem) => {
                tracing::info!(identifier = %authz.identifier.value, challenge = challenge.kind.name(), %problem, "ACME validation failed");
                self.store()
                    .move_challenge(
                        &challenge.id,
                        ChallengeStatus::Processing,
                        ChallengeStatus::Invalid,
                        Some(&problem),
                    )
                    .await?;
                self.store()
                    .move_authz(&authz.id, &[AuthzStatus::Pending], AuthzStatus::Invalid)
                    .await?;
            }
        }
        Ok(())
    }

    /// finalize (RFC 8555 §7.4): the CSR names exactly the order's identifiers; the
    /// certificate is issued and recorded like every other, source `acme`.
    #[instrument(skip_all)]
    pub async fn acme_finalize(&self, request: &Verified, id: &str) -> Result<Order, Problem> {
        let settings = self.acme_settings().await?;
        let account = request.account()?;
        let order = self.acme_order(account, id).await?;
        if order.status != OrderStatus::Ready {
            let why = match order.status {
                OrderStatus::Valid => {
                    "the order is valid already: its certificate is at the order's certificate URL"
                }
                OrderStatus::Processing => {
                    "the order is being finalized already: poll the order for its certificate"
                }
                OrderStatus::Invalid => {
                    "the order is invalid (the order says why): place a new order"
                }
                OrderStatus::Pending | OrderStatus::Ready => {
                    "the order is pending, not ready: every authorization must be valid first"
                }
            };
            return Err(Problem::new(ProblemType::OrderNotReady, why));
        }
        #[derive(Deserialize)]
        struct Finalize {
            csr: String,
        }
        let payload: Finalize = request.payload()?;
        let der = jws::unb64(&payload.csr)
            .ok_or_else(|| Problem::new(ProblemType::BadCsr, "the CSR is not base64url"))?;
        // Whatever is wrong with the request itself (a name in its subject the rules refuse
        // included) is a bad CSR (RFC 8555 §7.4).
        let csr = CertificateRequest::parse(&der)
            .map_err(|err| Problem::new(ProblemType::BadCsr, err.to_string()))?;
        // The field is the request's DER (RFC 8555 §7.4): the PEM, Base64 or text that `ca
        // sign` and the pages also take is not what an ACME client sends.
        if csr.der() != der.as_slice() {
            return Err(Problem::new(
                ProblemType::BadCsr,
                "the csr field holds the request's DER in base64url (RFC 8555 §7.4), not PEM or other text",
            ));
        }
        // An order names DNS names and IP addresses only: a CSR that asks for more (an email
        // address, a URI) would get a certificate without it, which RFC 8555 §7.4 has the
        // server refuse rather than sign.
        if let Some(extra) = csr.alt_names_left_out().first() {
            return Err(Problem::new(
                ProblemType::BadCsr,
                format!(
                    "the CSR asks for {extra} in its subjectAltName, which no identifier of the order names: ask for the order's DNS names and IP addresses only"
                ),
            ));
        }
        // The certificate's key is not the account's (Let's Encrypt refuses it too): a server
        // key that leaked would then also hold the account, its orders and its revocations.
        // Compared with the key the request was read with, so no writing of it escapes.
        if jws::is_key_with_bits(&request.jwk, csr.public_key_bits()) {
            return Err(Problem::new(
                ProblemType::BadCsr,
                "the CSR's key is the account key: a certificate needs a key of its own",
            ));
        }
        let mut asked: Vec<Identifier> = csr.names().iter().map(Identifier::of).collect();
        let mut ordered = order.identifiers.clone();
        let key = |i: &Identifier| (i.kind.name(), i.value.clone());
        asked.sort_by_key(key);
        asked.dedup();
        ordered.sort_by_key(key);
        if asked != ordered {
            return Err(Problem::new(
                ProblemType::BadCsr,
                "the CSR must name exactly the order's identifiers, no more and no fewer",
            ));
        }
        if !self
            .store()
            .move_order(
                id,
                OrderStatus::Pending,
                OrderStatus::Processing,
                None,
                None,
            )
            .await?
        {
            if let Some(replaced) = order.replaces
                && self.store().is_replaced(replaced).await?
            {
                return Err(already_replaced(replaced));
            }
            return Err(Problem::new(
                ProblemType::OrderNotReady,
                "the order is being finalized already",
            ));
        }
        let options = SignOptions {
            days: Some(settings.days),
            allow_internal: false,
            profile: Profile::Server,
            extra_names: Vec::new(),
            requester: account.requester(),
            source: RequestSource::Acme,
            renewed_from: order.replaces,
            // The order becomes valid in the transaction that records the certificate.
            acme_order: Some(order.id.clone()),
        };
        match self.sign_request(&csr, options).await {
            Ok(_) => self.acme_order(account, id).await,
            Err(err) => {
                let problem = Problem::from(err);
                self.store()
                    .move_order(
                        id,
                        OrderStatus::Processing,
                        OrderStatus::Invalid,
                        Some(&problem),
                        None,
                    )
                    .await?;
                Err(problem)
            }
        }
    }

    /// The certificate of request `id` and the root, each PEM, for the account that ordered
    /// it.
    pub async fn acme_certificate(
        &self,
        account: &Account,
        id: RequestId,
    ) -> Result<(String, String), Problem> {
        self.store()
            .order_of_certificate(id)
            .await?
            .filter(|o| o.account_id == account.id)
            .ok_or_else(|| Problem::not_found("certificate"))?;
        let row = self.store().issuance(id).await?;
        let cert = row
            .certificate
            .ok_or_else(|| Problem::not_found("certificate"))?;
        Ok((
            crate::certificate::certificate_pem(&cert.der),
            self.root().pem(),
        ))
    }

    /// revokeCert (RFC 8555 §7.6): by the account that ordered the certificate (or one
    /// authorized for all its names), or signed by the certificate's own key.
    #[instrument(skip_all)]
    pub async fn acme_revoke(&self, request: &Verified) -> Result<(), Problem> {
        let payload: Revocation = request.payload()?;
        let der = jws::unb64(&payload.certificate).ok_or_else(|| {
            Problem::new(ProblemType::Malformed, "the certificate is not base64url")
        })?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| Problem::new(ProblemType::Malformed, "the certificate does not parse"))?;
        let serial =
            crate::certificate::SerialNumber::from_bytes(cert.raw_serial()).map_err(|_| {
                Problem::new(
                    ProblemType::Malformed,
                    "the certificate's serial is not one of this CA's",
                )
            })?;
        let row = self
            .store()
            .issuance_by_serial(&serial)
            .await
            .map_err(|_| {
                Problem::new(
                    ProblemType::Unauthorized,
                    "this CA did not issue that certificate",
                )
            })?;
        if row.certificate.as_ref().map(|c| c.der.as_slice()) != Some(der.as_slice()) {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "this CA did not issue that certificate",
            ));
        }
        let allowed = match &request.account {
            Some(account) => self.may_act_on(account, &row).await?,
            None => jws::is_key_of(&request.jwk, cert.public_key()),
        };
        if !allowed {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "only the account that ordered the certificate, or the certificate's own key, may revoke it",
            ));
        }
        let code = payload.reason.unwrap_or(0);
        let reason = RevocationReason::FOR_LEAVES
            .iter()
            .copied()
            .find(|r| i64::from(r.code()) == code)
            .ok_or_else(|| {
                Problem::new(
                    ProblemType::BadRevocationReason,
                    format!("reason code {code} is not offered"),
                )
            })?;
        // Revoked already: only its key's holder may raise the reason to keyCompromise, the
        // request signed with that key being the proof (as Let's Encrypt takes it).
        let raises = request.account.is_none()
            && reason == RevocationReason::KeyCompromise
            && row
                .certificate
                .as_ref()
                .and_then(|c| c.revocation.as_ref())
                .is_some_and(|r| r.reason != RevocationReason::KeyCompromise);
        if row.status == Status::Revoked && !raises {
            return Err(Problem::new(
                ProblemType::AlreadyRevoked,
                "the certificate is already revoked",
            ));
        }
        let actor = request
            .account
            .as_ref()
            .map_or_else(|| "acme (certificate key)".to_owned(), Account::requester);
        self.revoke_with(row.id, reason, &actor, raises)
            .await
            .map_err(|err| match err {
                Error::Conflict(_) => Problem::new(
                    ProblemType::AlreadyRevoked,
                    "the certificate is already revoked",
                ),
                other => Problem::from(other),
            })?;
        Ok(())
    }

    /// The suggested renewal window of a certificate (RFC 9773 §4.2), named by its
    /// `base64url(AKI keyIdentifier).base64url(serial)` id: the last third of its lifetime
    /// begins it, or, for a revoked certificate, now.
    #[instrument(skip_all)]
    pub async fn renewal_info(&self, cert_id: &str) -> Result<RenewalWindow, Problem> {
        let (key_id, serial) = parse_cert_id(cert_id)?;
        if key_id != self.root().key_identifier() {
            return Err(Problem::not_found("certificate of this CA"));
        }
        let row = self
            .store()
            .issuance_by_serial(&serial)
            .await
            .map_err(|_| Problem::not_found("certificate"))?;
        let cert = row
            .certificate
            .ok_or_else(|| Problem::not_found("certificate"))?;
        Ok(renewal_window(
            cert.not_before,
            cert.not_after,
            cert.revocation.is_some(),
            OffsetDateTime::now_utc(),
        ))
    }

    /// Forgets expired nonces and abandoned orders; returns how many of each.
    pub async fn prune_acme(&self) -> crate::Result<(u64, u64)> {
        self.store().prune_acme().await
    }
}

/// Reads an ARI certificate id: `base64url(keyIdentifier).base64url(serial)`.
fn parse_cert_id(cert_id: &str) -> Result<(Vec<u8>, crate::certificate::SerialNumber), Problem> {
    let malformed = || {
        Problem::new(
            ProblemType::Malformed,
            "not a certificate id (keyIdentifier.serial)",
        )
    };
    let (key_id, serial) = cert_id.split_once('.').ok_or_else(malformed)?;
    let key_id = jws::unb64(key_id).ok_or_else(malformed)?;
    let serial = jws::unb64(serial)
        .and_then(|s| crate::certificate::SerialNumber::from_bytes(&s).ok())
        .ok_or_else(malformed)?;
    Ok((key_id, serial))
}

/// ACME contacts: `mailto:` URLs, at most four (RFC 8555 §7.3).
fn check_contact(contact: Vec<String>) -> Result<Vec<String>, Problem> {
    if contact.len() > 4 {
        return Err(Problem::new(
            ProblemType::InvalidContact,
            "at most four contacts",
        ));
    }
    for entry in &contact {
        let Some(address) = entry.strip_prefix("mailto:") else {
            return Err(Problem::new(
                ProblemType::UnsupportedContact,
                format!("{entry} is not a mailto: contact"),
            ));
        };
        // One address, plainly written: no lists, headers, quoting, markup or controls.
        let valid = address.len() <= 254
            && !address.contains([',', '?', ' ', '<', '>', '"', '\\', ';', '(', ')', '[', ']'])
            && !address.chars().any(char::is_control)
            && address.matches('@').count() == 1
            && address
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
        if !valid {
            return Err(Problem::new(
                ProblemType::InvalidContact,
                format!("{entry} is not an e-mail address"),
            ));
        }
    }
    Ok(contact)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn contacts_are_mailto_addresses() {
        assert!(check_contact(vec!["mailto:admin@example.com".into()]).is_ok());
        assert!(check_contact(vec!["tel:+1".into()]).is_err());
        assert!(check_contact(vec!["mailto:nobody".into()]).is_err());
        assert!(check_contact(vec!["mailto:a@b.c".into(); 5]).is_err());
        for hostile in [
            "mailto:<script>alert(1)</script>@x.com",
            "mailto:a@b@c.com",
            "mailto:a@b.com\r\nBcc: c@d.com",
            "mailto:\"a b\"@c.com",
        ] {
            assert!(check_contact(vec![hostile.into()]).is_err(), "{hostile}");
        }
    }

    /// What another request changed between a request's reading of its account and its
    /// write is not undone: a deactivation stays (RFC 8555 §7.3.6), a key change made from a
    /// key that is no longer the account's changes nothing, and orders are counted against
    /// the limit of pending authorizations as they are recorded.
    #[tokio::test]
    async fn writes_made_on_a_stale_read_of_an_account_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let store = authority.store();
        let jwk = |n: &str| -> Jwk {
            serde_json::from_value(serde_json::json!({ "kty": "RSA", "n": n, "e": "AQAB" }))
                .unwrap()
        };
        let account = Account {
            id: "acct".into(),
            jwk: jwk("AQAB"),
            thumbprint: "first".into(),
            contact: Vec::new(),
            status: AccountStatus::Valid,
            owner: None,
            created_at: OffsetDateTime::now_utc(),
        };
        store.insert_account(&account, None).await.unwrap();
        // Key changes: only from the key the account has.
        let roll = |old: &'static str, n: &'static str, new: &'static str| {
            let key = jwk(n);
            async move { store.set_account_key("acct", old, &key, new).await.unwrap() }
        };
        assert_eq!(
            roll("stale", "AQAC", "second").await,
            KeyRollover::AccountChanged
        );
        assert_eq!(roll("first", "AQAC", "second").await, KeyRollover::Done);
        assert_eq!(
            roll("first", "AQAD", "third").await,
            KeyRollover::AccountChanged,
            "a second rollover from the same old key"
        );
        // An order over the limit, counted as it is recorded: nothing recorded.
        let order = Order {
            id: "order".into(),
            account_id: "acct".into(),
            status: OrderStatus::Pending,
            identifiers: vec![Identifier {
                kind: IdentifierKind::Dns,
                value: "mail.example.com".into(),
            }],
            expires_at: OffsetDateTime::now_utc() + Duration::days(1),
            error: None,
            authorizations: Vec::new(),
            certificate: None,
            replaces: None,
            created_at: OffsetDateTime::now_utc(),
        };
        let authz = Authz {
            id: "authz".into(),
            order_id: "order".into(),
            identifier: order.identifiers[0].clone(),
            wildcard: false,
            status: AuthzStatus::Pending,
            expires_at: order.expires_at,
            challenges: Vec::new(),
        };
        let authzs = [authz];
        assert_eq!(store.insert_order(&order, &authzs, 1).await.unwrap(), None);
        let second = Order {
            id: "order2".into(),
            ..order.clone()
        };
        let authzs = [Authz {
            id: "authz2".into(),
            order_id: "order2".into(),
            ..authzs[0].clone()
        }];
        assert_eq!(
            store.insert_order(&second, &authzs, 1).await.unwrap(),
            Some(1)
        );
        assert!(store.order("order2").await.unwrap().is_none());
        // A deactivation, then an update read before it: the account stays deactivated.
        assert!(
            store
                .update_account("acct", &[], AccountStatus::Deactivated)
                .await
                .unwrap()
        );
        let contact = vec!["mailto:admin@example.com".to_owned()];
        assert!(
            !store
                .update_account("acct", &contact, AccountStatus::Valid)
                .await
                .unwrap()
        );
        let read = store.account("acct").await.unwrap().unwrap();
        assert_eq!(read.status, AccountStatus::Deactivated);
        assert!(read.contact.is_empty());
        assert_eq!(
            roll("second", "AQAE", "fourth").await,
            KeyRollover::AccountChanged,
            "a deactivated account's key stays"
        );
    }

    #[test]
    fn certificate_ids_are_key_id_dot_serial() {
        let (key, serial) = parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE").unwrap();
        assert_eq!(key.len(), 20);
        assert_eq!(serial.hex(), "0087654321");
        assert!(parse_cert_id("nodot").is_err());
        assert!(parse_cert_id("!!.!!").is_err());
    }
}
