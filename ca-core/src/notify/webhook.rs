//! Notices as a JSON POST to a webhook.

use std::time::Duration;

use super::config::WebhookUrl;

/// The longest a webhook may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// POSTs `payload` (JSON) to `url`: any 2xx status is success. The webhook's certificate is
/// trusted when this machine's trust store or this CA's root (`root`, DER) vouches for it.
/// The error names the webhook as it may be shown (no path, where a token may be).
pub(crate) async fn send(url: &WebhookUrl, root: &[u8], payload: &str) -> Result<(), String> {
    let root = reqwest::Certificate::from_der(root)
        .map_err(|err| format!("the CA's root could not be read: {err}"))?;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("ca notify")
        .tls_certs_merge([root])
        .build()
        .map_err(|err| format!("the HTTP client could not be set up: {err}"))?;
    let answer = client
        .post(url.url().clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload.to_owned())
        .send()
        .await
        // reqwest's errors name the whole URL: only the kind of failure is kept.
        .map_err(|err| format!("the webhook {url} could not be reached: {}", kind(&err)))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook {url} answered {status}"))
    }
}

fn kind(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "no answer in time"
    } else if err.is_connect() {
        "the connection failed"
    } else {
        "the request failed"
    };
    match std::error::Error::source(err) {
        Some(source) => format!("{what} ({source})"),
        None => what.to_owned(),
    }
}
