//! Notices by e-mail, through the organisation's SMTP relay.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{SmtpSecurity, SmtpSettings};

/// The longest a connection to the relay, or one of its answers, may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends one message to every recipient. The relay's certificate is trusted when this
/// machine's trust store or this CA's root (`root`, DER) vouches for it. The error is a
/// sentence that never holds the password.
pub(crate) async fn send(
    smtp: &SmtpSettings,
    root: &[u8],
    subject: &str,
    body: &str,
) -> Result<(), String> {
    let Some(host) = &smtp.host else {
        return Err("no SMTP relay is set".to_owned());
    };
    let missing = smtp.missing();
    if !missing.is_empty() {
        return Err(format!(
            "e-mail is not fully set up: set {}",
            missing.join(" and ")
        ));
    }
    let relay = format!("{host}:{}", smtp.port());
    let from: Mailbox = smtp
        .from
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|err| format!("the sender's address is refused: {err}"))?;
    let mut message = Message::builder().from(from).subject(subject);
    for to in &smtp.to {
        let to: Mailbox = to
            .parse()
            .map_err(|err| format!("the recipient {to} is refused: {err}"))?;
        message = message.to(to);
    }
    let message = message
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|err| format!("the message could not be built: {err}"))?;

    let tls = |host: String| {
        Certificate::from_der(root.to_vec())
            .and_then(|root| {
                TlsParameters::builder(host)
                    .add_root_certificate(root)
                    .build_rustls()
            })
            .map_err(|err| format!("TLS to {relay} could not be set up: {err}"))
    };
    let host_text = host.to_string();
    let tls = match smtp.security {
        SmtpSecurity::StartTls => Tls::Required(tls(host_text.clone())?),
        SmtpSecurity::Tls => Tls::Wrapper(tls(host_text.clone())?),
        SmtpSecurity::None => Tls::None,
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host_text)
        .port(smtp.port())
        .tls(tls)
        .timeout(Some(TIMEOUT))
        .hello_name(ClientId::Domain(crate::name::host_name()));
    if let (Some(user), Some(password)) = (&smtp.user, &smtp.password) {
        transport =
            transport.credentials(Credentials::new(user.clone(), password.reveal().to_owned()));
    }
    let transport: AsyncSmtpTransport<Tokio1Executor> = transport.build();
    match tokio::time::timeout(TIMEOUT * 2, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!(
            "the SMTP relay {relay} ({}) did not take the message: {err}",
            smtp.security
        )),
        Err(_) => Err(format!(
            "the SMTP relay {relay} did not answer within {} seconds",
            (TIMEOUT * 2).as_secs()
        )),
    }
}
