//! What every handler shares: the authority, and the CRL it last signed.

use std::sync::Arc;

use ca_core::Authority;
use ca_core::crl::Crl;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;

/// The application state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    pub authority: Arc<Authority>,
    crl: Arc<Mutex<Option<SignedCrl>>>,
}

/// A CRL, and the revocation marker of the log when it was signed.
type SignedCrl = (Crl, (i64, i64));

impl AppState {
    pub fn new(authority: Arc<Authority>) -> Self {
        AppState {
            authority,
            crl: Arc::new(Mutex::new(None)),
        }
    }

    /// The current CRL: signed anew when there is none yet, when a revocation was recorded
    /// since (by this server or by `ca revoke` in another process), or when half its lifetime
    /// has passed, so clients never hold one past its nextUpdate.
    pub async fn crl(&self) -> ca_core::Result<Crl> {
        let marker = self.authority.store().revocation_marker().await?;
        let mut cached = self.crl.lock().await;
        if let Some((crl, seen)) = cached.as_ref() {
            let half: Duration = (crl.next_update - crl.this_update) / 2;
            if *seen == marker
                && OffsetDateTime::now_utc() < crl.this_update + half.max(Duration::minutes(1))
            {
                return Ok(crl.clone());
            }
        }
        let crl = self
            .authority
            .crl(self.authority.settings().crl_days)
            .await?;
        *cached = Some((crl.clone(), marker));
        Ok(crl)
    }
}
