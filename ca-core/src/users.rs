//! Users of the web pages: a name, a role, and an argon2id password hash (RFC 9106).

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tracing::instrument;

use crate::authority::Authority;
use crate::choice::Choice;
use crate::error::{Error, Result};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Role {
    /// Approves, denies and revokes; issues certificates with keys the CA makes.
    Admin,
    /// Submits requests and fetches what was issued.
    Requester,
}

impl Choice for Role {
    const WHAT: &'static str = "role";
    const ALL: &'static [Self] = &[Role::Admin, Role::Requester];

    fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Requester => "requester",
        }
    }
}

impl Role {
    /// The name used by people and in the log.
    pub fn name(self) -> &'static str {
        Choice::name(self)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The user's generation when the password was verified: a later change of password,
    /// role or state makes it stale (see [`Authority::is_current`]).
    pub generation: i64,
}

/// A user as an administrator sees it: no password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: time::OffsetDateTime,
}

/// A password. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

/// The longest password taken: browsers send it in a header (Basic authentication), and
/// HTTP/2 servers refuse headers past some kilobytes, which would lock its user out of every
/// browser.
pub const MAX_PASSWORD: usize = 1024;

impl Password {
    /// Wraps a password; it must be 8 to [`MAX_PASSWORD`] characters long.
    pub fn new(password: String) -> Result<Self> {
        let length = password.chars().count();
        if length < 8 {
            return Err(Error::InvalidInput(
                "the password is shorter than 8 characters".into(),
            ));
        }
        if length > MAX_PASSWORD {
            return Err(Error::InvalidInput(format!(
                "the password is longer than {MAX_PASSWORD} characters"
            )));
        }
        Ok(Password(password))
    }

    /// A new random password of 20 characters from a 57-letter alphabet (over 116 bits).
    pub fn random() -> Result<Self> {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let bytes = crate::random::bytes::<20>()?;
        // 256 is not a multiple of 57; the bias this leaves is under 0.5 bit in total.
        Ok(Password(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect(),
        ))
    }

    /// The password itself, for showing once to the person who asked for it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Checks a user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@` (no `:`, which HTTP
/// Basic uses as its separator).
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "'{name}' is not a valid user name: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

impl Authority {
    /// Adds a user. A name that is taken is [`Error::UserExists`]: adding never replaces a
    /// role or a password ([`Authority::set_role`] and [`Authority::set_password`] do).
    #[instrument(skip_all)]
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &Password,
        actor: &str,
    ) -> Result<()> {
        check_user_name(name)?;
        let hash = hash(password).await?;
        self.store().add_user(name, role.name(), &hash, actor).await
    }

    /// Sets an existing user's role, keeping its password. The last administrator who can
    /// sign in cannot be made a requester.
    #[instrument(skip_all)]
    pub async fn set_role(&self, name: &str, role: Role, actor: &str) -> Result<()> {
        self.store().set_role(name, role.name(), actor).await
    }

    /// Sets an existing user's password.
    #[instrument(skip_all)]
    pub async fn set_password(&self, name: &str, password: &Password, actor: &str) -> Result<()> {
        let hash = hash(password).await?;
        self.store().set_password(name, &hash, actor).await
    }

    /// Disables a user (their credentials stop working at once) or enables them again.
    #[instrument(skip_all)]
    pub async fn set_disabled(&self, name: &str, disabled: bool, actor: &str) -> Result<()> {
        self.store().set_disabled(name, disabled, actor).await
    }

    /// Removes a user; what they requested stays in the log.
    #[instrument(skip_all)]
    pub async fn remove_user(&self, name: &str, actor: &str) -> Result<()> {
        self.store().remove_user(name, actor).await
    }

    /// Every user, by name.
    #[instrument(skip_all)]
    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        self.store()
            .users()
            .await?
            .into_iter()
            .map(|record| {
                Ok(UserInfo {
                    role: Role::from_name(&record.role)?,
                    name: record.name,
                    disabled: record.disabled,
                    created_at: record.created_at,
                })
            })
            .collect()
    }

    /// The user with this name and password, or `None` when either is wrong or the user is
    /// disabled. The check costs the same for unknown names, so it does not reveal which
    /// names exist.
    #[instrument(skip_all)]
    pub async fn authenticate(&self, name: &str, password: &str) -> Result<Option<User>> {
        let record = self.store().user(name).await?;
        let hash = record
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_owned());
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            hasher()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(|err| Error::Crypto(format!("password check failed: {err}")))?;
        match record {
            Some(record) if matches && !record.disabled => Ok(Some(User {
                name: record.name,
                role: Role::from_name(&record.role)?,
                generation: record.generation,
            })),
            _ => Ok(None),
        }
    }

    /// True when `user`, verified earlier, still stands: not removed, not disabled, and
    /// neither password nor role changed since.
    pub async fn is_current(&self, user: &User) -> Result<bool> {
        Ok(matches!(
            self.store().user_state(&user.name).await?,
            Some((generation, false)) if generation == user.generation
        ))
    }

    /// True when a user of this name exists (for logs, which never show names that do not).
    pub async fn user_exists(&self, name: &str) -> Result<bool> {
        Ok(self.store().user_state(name).await?.is_some())
    }
}

/// The argon2id hash of `password` with a fresh salt, computed off the async threads.
async fn hash(password: &Password) -> Result<String> {
    let salt = crate::random::bytes::<16>()?;
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password_with_salt(password.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| Error::Crypto(format!("could not hash the password: {err}")))
    })
    .await
    .map_err(|err| Error::Crypto(format!("could not hash the password: {err}")))?
}

/// The argon2id parameters of new hashes: 7 MiB, 5 passes, one lane. OWASP's Password
/// Storage Cheat Sheet gives it as equal in defence to the argon2 crate's default (19 MiB, 2
/// passes): about the same work per guess, in a third of the memory, which is what a server
/// holds at its peak while it checks a sign-in. Hashes made with other parameters (the log's
/// older ones) are checked with their own.
const M_COST_KIB: u32 = 7168;
const T_COST: u32 = 5;

const PARAMS: argon2::Params = match argon2::Params::new(M_COST_KIB, T_COST, 1, None) {
    Ok(params) => params,
    Err(_) => panic!("the argon2 parameters are out of range"),
};

/// The hasher of new passwords (see [`M_COST_KIB`]).
fn hasher() -> Argon2<'static> {
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, PARAMS)
}

/// The hash of a random password nobody knows, with the parameters of new hashes, checked
/// against for unknown user names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=7168,t=5,p=1$8aVkbiRd6r8cT+iSm8/NMA$OvSOE8Wl4PB66jI16PvbsC0PlnhXjJ7oDVsomQdZw2w";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checks_names_and_passwords() {
        assert!(check_user_name("alice").is_ok());
        assert!(check_user_name("a:b").is_err());
        assert!(check_user_name("").is_err());
        assert!(Password::new("short".into()).is_err());
        let random = Password::random().unwrap();
        assert_eq!(random.reveal().len(), 20);
        assert!(!format!("{random:?}").contains(random.reveal()));
    }

    #[test]
    fn new_hashes_and_the_dummy_have_the_same_parameters_and_older_hashes_still_verify() {
        use argon2::password_hash::phc::PasswordHash;
        let made = hasher()
            .hash_password_with_salt(b"correct horse", b"somesaltsomesalt")
            .unwrap()
            .to_string();
        let params = |hash: &str| PasswordHash::new(hash).unwrap().params.to_string();
        assert_eq!(params(&made), "m=7168,t=5,p=1");
        assert_eq!(params(DUMMY_HASH), params(&made));
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", made.as_str())
                .is_ok()
        );
        // A hash the log kept from before, with the argon2 crate's default parameters.
        let older = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$k9ohroejZy1PN5E1SbHNPug6vB8eQAahb5SOAp6iGF4";
        assert!(hasher().verify_password(b"correct horse", older).is_ok());
        assert!(hasher().verify_password(b"correct horsf", older).is_err());
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash_of_an_unknown_password() {
        use argon2::password_hash::phc::PasswordHash;
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(
            Argon2::default()
                .verify_password(b"password", DUMMY_HASH)
                .is_err()
        );
    }

    #[test]
    fn verifies_hashes_made_by_the_reference_implementation() {
        // libargon2 (through argon2-cffi) for "correct horse", salt "somesaltsomesalt", with the
        // parameters of the log's older hashes (the argon2 crate's default): m=19456, t=2, p=1.
        let reference = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$k9ohroejZy1PN5E1SbHNPug6vB8eQAahb5SOAp6iGF4";
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", reference)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", reference)
                .is_err()
        );
        let ours = Argon2::default()
            .hash_password_with_salt(b"correct horse", b"somesaltsomesalt")
            .unwrap()
            .to_string();
        assert_eq!(ours, reference);
    }

    /// Two administrators demoting, disabling or removing each other at once: one change is
    /// made, the other refused, and an administrator who can sign in is left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_admins_removing_each_other_at_once_leave_one() {
        let dir = tempfile::tempdir().unwrap();
        let authority = std::sync::Arc::new(crate::testing::authority(dir.path()).await);
        let password = Password::new("correct horse".into()).unwrap();
        for round in 0..3 {
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            for name in [&a, &b] {
                authority
                    .add_user(name, Role::Admin, &password, "test")
                    .await
                    .unwrap();
            }
            // The admins made in earlier rounds are taken away first: these two are the last.
            for user in authority.users().await.unwrap() {
                if user.role == Role::Admin && user.name != a && user.name != b {
                    authority.remove_user(&user.name, "test").await.unwrap();
                }
            }
            let change = |name: String, actor: String| {
                let authority = authority.clone();
                tokio::spawn(async move {
                    match round {
                        0 => authority.set_role(&name, Role::Requester, &actor).await,
                        1 => authority.set_disabled(&name, true, &actor).await,
                        _ => authority.remove_user(&name, &actor).await,
                    }
                })
            };
            let (first, second) = tokio::join!(change(b.clone(), a.clone()), change(a, b));
            let results = [first.unwrap(), second.unwrap()];
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "round {round}: {results:?}"
            );
            assert!(results.iter().any(|r| matches!(r, Err(Error::Conflict(_)))));
            let admins = authority.users().await.unwrap();
            assert_eq!(
                admins
                    .iter()
                    .filter(|u| u.role == Role::Admin && !u.disabled)
                    .count(),
                1,
                "round {round}"
            );
        }
    }

    #[tokio::test]
    async fn a_change_of_password_role_or_state_makes_a_verified_user_stale() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let password = Password::new("correct horse".into()).unwrap();
        authority
            .add_user("alice", Role::Admin, &password, "test")
            .await
            .unwrap();
        async fn verified(authority: &Authority) -> Option<User> {
            authority
                .authenticate("alice", "correct horse")
                .await
                .unwrap()
        }
        let user = verified(&authority).await.unwrap();
        assert!(authority.is_current(&user).await.unwrap());
        // The last administrator stays one...
        assert!(matches!(
            authority.set_role("alice", Role::Requester, "test").await,
            Err(Error::Conflict(_))
        ));
        assert!(authority.set_disabled("alice", true, "test").await.is_err());
        assert!(authority.remove_user("alice", "test").await.is_err());
        // ... until there is another.
        authority
            .add_user("root", Role::Admin, &password, "test")
            .await
            .unwrap();
        assert!(authority.is_current(&user).await.unwrap());
        // A new role, with the same password.
        authority
            .set_role("alice", Role::Requester, "test")
            .await
            .unwrap();
        assert!(!authority.is_current(&user).await.unwrap());
        let user = verified(&authority).await.unwrap();
        assert_eq!(user.role, Role::Requester);
        // A new password.
        let other = Password::new("battery staple".into()).unwrap();
        authority
            .set_password("alice", &other, "test")
            .await
            .unwrap();
        assert!(!authority.is_current(&user).await.unwrap());
        assert!(verified(&authority).await.is_none());
        // Disabled, then enabled, then removed.
        let user = authority
            .authenticate("alice", "battery staple")
            .await
            .unwrap()
            .unwrap();
        authority.set_disabled("alice", true, "test").await.unwrap();
        assert!(!authority.is_current(&user).await.unwrap());
        assert!(
            authority
                .authenticate("alice", "battery staple")
                .await
                .unwrap()
                .is_none()
        );
        authority
            .set_disabled("alice", false, "test")
            .await
            .unwrap();
        let user = authority
            .authenticate("alice", "battery staple")
            .await
            .unwrap()
            .unwrap();
        authority.remove_user("alice", "test").await.unwrap();
        assert!(!authority.is_current(&user).await.unwrap());
        assert!(matches!(
            authority.remove_user("alice", "test").await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            authority.set_disabled("bob", true, "test").await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_user_removed_and_added_again_with_the_same_password_is_a_new_user() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let password = Password::new("correct horse".into()).unwrap();
        authority
            .add_user("root", Role::Admin, &password, "test")
            .await
            .unwrap();
        authority
            .add_user("alice", Role::Admin, &password, "test")
            .await
            .unwrap();
        let admin = authority
            .authenticate("alice", "correct horse")
            .await
            .unwrap()
            .unwrap();
        // Removed, and added again as a requester with the same password: what a server
        // verified before stands no more, however often this is done.
        for _ in 0..3 {
            authority.remove_user("alice", "test").await.unwrap();
            authority
                .add_user("alice", Role::Requester, &password, "test")
                .await
                .unwrap();
            assert!(!authority.is_current(&admin).await.unwrap());
        }
        let requester = authority
            .authenticate("alice", "correct horse")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(requester.role, Role::Requester);
        assert_ne!(requester.generation, admin.generation);
        // Every change draws a new generation.
        let mut seen = vec![admin.generation, requester.generation];
        for _ in 0..5 {
            authority.set_disabled("alice", true, "test").await.unwrap();
            authority
                .set_disabled("alice", false, "test")
                .await
                .unwrap();
            let user = authority
                .authenticate("alice", "correct horse")
                .await
                .unwrap()
                .unwrap();
            assert!(!seen.contains(&user.generation), "{seen:?}");
            seen.push(user.generation);
        }
    }

    #[tokio::test]
    async fn refuses_a_new_user_whose_name_is_taken_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let password = Password::new("correct horse".into()).unwrap();
        authority
            .add_user("alice", Role::Admin, &password, "test")
            .await
            .unwrap();
        match authority
            .add_user("Alice", Role::Requester, &password, "test")
            .await
        {
            Err(Error::Conflict(why)) => assert!(why.contains("alice"), "{why}"),
            other => panic!("{other:?}"),
        }
        // The same name, as it was written, is refused too: role and password stay.
        let other = Password::new("battery staple".into()).unwrap();
        assert!(matches!(
            authority
                .add_user("alice", Role::Requester, &other, "test")
                .await,
            Err(Error::UserExists(name)) if name == "alice"
        ));
        let alice = authority
            .authenticate("alice", "correct horse")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alice.role, Role::Admin);
        let names: Vec<String> = authority
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["alice"]);
    }

    #[tokio::test]
    async fn authenticates_only_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let authority = crate::testing::authority(dir.path()).await;
        let password = Password::new("correct horse".into()).unwrap();
        authority
            .add_user("alice", Role::Requester, &password, "test")
            .await
            .unwrap();
        let user = authority
            .authenticate("alice", "correct horse")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.role, Role::Requester);
        assert!(
            authority
                .authenticate("alice", "wrong horse")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            authority
                .authenticate("bob", "correct horse")
                .await
                .unwrap()
                .is_none()
        );
    }
}
