//! What every handler shares: the authority and the server's settings.

use std::sync::Arc;

use ca_core::Authority;
use ca_core::crl::Crl;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;

/// The server's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Days from a CRL's thisUpdate to its nextUpdate.
    pub crl_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            crl_days: ca_core::crl::DEFAULT_CRL_DAYS,
        }
    }
}

/// The application state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    pub authority: Arc<Authority>,
    pub config: Arc<Config>,
    crl: Arc<Mutex<Option<Crl>>>,
}

impl AppState {
    pub fn new(authority: Arc<Authority>, config: Config) -> Self {
        AppState {
            authority,
            config: Arc::new(config),
            crl: Arc::new(Mutex::new(None)),
        }
    }

    /// The current CRL: signed anew when there is none yet or half its lifetime has passed,
    /// so clients never hold one past its nextUpdate.
    pub async fn crl(&self) -> ca_core::Result<Crl> {
        let mut cached = self.crl.lock().await;
        if let Some(crl) = cached.as_ref() {
            let half: Duration = (crl.next_update - crl.this_update) / 2;
            if OffsetDateTime::now_utc() < crl.this_update + half.max(Duration::minutes(1)) {
                return Ok(crl.clone());
            }
        }
        let crl = self.authority.crl(self.config.crl_days).await?;
        *cached = Some(crl.clone());
        Ok(crl)
    }
}
