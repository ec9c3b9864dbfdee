//! What every handler shares: the authority, and the credentials verified recently.

use std::sync::{Arc, RwLock};

use ca_core::Authority;

use crate::throttle::Throttle;

/// The application state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    pub authority: Arc<Authority>,
    pub(crate) credentials: Arc<CredentialCache>,
    pub(crate) throttle: Arc<Throttle>,
    /// How fast each client address makes ACME accounts and orders.
    pub(crate) acme_rates: Arc<crate::rates::AcmeRates>,
    /// Request latencies this server measured, for `/metrics`.
    pub(crate) metrics: Arc<crate::metrics::Recorder>,
    /// The server's HTTPS address as clients write it (`https://NAME:PORT`), for pages read
    /// over plain HTTP that point at the ACME directory; shared by every clone, so that a
    /// server given new names tells every page at once.
    https_origin: Arc<RwLock<Option<Arc<str>>>>,
}

impl AppState {
    /// The state of a server. Fails when the random generator does (the credential cache's
    /// key would be predictable), so that a server never runs without it.
    pub fn new(authority: Arc<Authority>) -> ca_core::Result<Self> {
        Ok(AppState {
            credentials: Arc::new(CredentialCache::new()?),
            throttle: Arc::new(Throttle::new()),
            acme_rates: Arc::default(),
            metrics: Arc::new(crate::metrics::Recorder::new()),
            https_origin: Arc::new(RwLock::new(None)),
            authority,
        })
    }

    /// The same state, telling pages the server's HTTPS origin (`https://NAME:PORT`).
    pub fn with_https_origin(self, origin: String) -> Self {
        self.set_https_origin(origin);
        self
    }

    /// Tells pages from now on that the server's HTTPS origin is `origin`.
    pub fn set_https_origin(&self, origin: String) {
        if let Ok(mut current) = self.https_origin.write() {
            *current = Some(origin.into());
        }
    }

    /// The server's HTTPS origin, when it has one.
    pub(crate) fn https_origin(&self) -> Option<Arc<str>> {
        self.https_origin
            .read()
            .ok()
            .and_then(|origin| origin.clone())
    }
}

/// Credentials that passed the argon2 check recently. An argon2id check costs tens of
/// milliseconds by design; scripts send the same credentials with every request, so a
/// success is remembered for a minute. Entries are keyed by an HMAC-SHA256 of name and
/// password under a key drawn at start, so the cache holds no password and no plain hash of
/// one. Each use checks the user's generation in the log, so a change of password, role or
/// state takes effect at the next request.
pub(crate) struct CredentialCache {
    key: aws_lc_rs::hmac::Key,
    /// One argon2id check at a time: each takes 19 MiB, and a burst of clients must not
    /// multiply that (nor the CPU it burns).
    pub(crate) checking: tokio::sync::Semaphore,
    entries: std::sync::Mutex<
        std::collections::HashMap<Vec<u8>, (ca_core::users::User, std::time::Instant)>,
    >,
}

/// How long a verified credential is remembered.
const CREDENTIAL_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// The most credentials remembered at once.
const CREDENTIAL_CAPACITY: usize = 1024;

impl CredentialCache {
    fn new() -> ca_core::Result<Self> {
        let secret = ca_core::random::bytes::<32>()?;
        Ok(CredentialCache {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
            checking: tokio::sync::Semaphore::new(1),
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// A short tag of a user name that does not exist, for the log: the same name gives the
    /// same tag while the server runs, and the tag does not give the name away (a password
    /// typed into the name field, say).
    pub(crate) fn tag_of(&self, name: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, name.as_bytes());
        ca_core::display::hex(&tag.as_ref()[..4])
    }

    /// Forgets a credential (its user changed since it was verified).
    pub(crate) fn forget(&self, name: &str, password: &str) {
        let tag = self.tag(name, password);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&tag);
        }
    }

    fn tag(&self, name: &str, password: &str) -> Vec<u8> {
        let mut context = aws_lc_rs::hmac::Context::with_key(&self.key);
        context.update(name.as_bytes());
        context.update(&[0]);
        context.update(password.as_bytes());
        context.sign().as_ref().to_vec()
    }

    pub(crate) fn get(&self, name: &str, password: &str) -> Option<ca_core::users::User> {
        let tag = self.tag(name, password);
        let entries = self.entries.lock().ok()?;
        entries
            .get(&tag)
            .filter(|(_, at)| at.elapsed() < CREDENTIAL_TTL)
            .map(|(user, _)| user.clone())
    }

    pub(crate) fn put(&self, name: &str, password: &str, user: &ca_core::users::User) {
        let tag = self.tag(name, password);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CREDENTIAL_CAPACITY {
                entries.retain(|_, (_, at)| at.elapsed() < CREDENTIAL_TTL);
                if entries.len() >= CREDENTIAL_CAPACITY {
                    entries.clear();
                }
            }
            entries.insert(tag, (user.clone(), std::time::Instant::now()));
        }
    }
}
