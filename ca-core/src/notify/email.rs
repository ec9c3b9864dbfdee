//! Notices by e-mail, through the organisation's SMTP relay.
//!
//! lettre speaks SMTP over a connection of ours that bounds what the relay may send: a notice
//! is a few kilobytes each way, so a relay (or someone between us and it before STARTTLS)
//! that sends more than [`MAX_RECEIVED`] bytes, more than [`MAX_LINES`] lines in the clear, or
//! a reply line longer than [`MAX_LINE`], is
//! cut off instead of filling memory; the whole exchange has [`EXCHANGE`] to finish.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, address::Envelope};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::config::{SmtpSecurity, SmtpSettings};

/// The longest the connection to the relay may take to open.
const CONNECT: Duration = Duration::from_secs(30);
/// The longest the whole exchange (connection, TLS, login, message) may take.
const EXCHANGE: Duration = Duration::from_secs(60);
/// The most bytes the relay may send in one exchange (TLS included).
pub(crate) const MAX_RECEIVED: usize = 32 * 1024;
/// The most reply lines the relay may send in the clear in one exchange (a notice takes a few
/// dozen): SMTP's reader parses a reply again after each of its lines, so a reply of endless
/// short lines costs the square of its length.
pub(crate) const MAX_LINES: usize = 256;
/// The longest reply line the relay may send in the clear (RFC 5321 §4.5.3.1.5: 512).
pub(crate) const MAX_LINE: usize = 1024;
/// The longest text of the relay's own kept in an error.
const MAX_TEXT: usize = 200;

/// Sends one message to every recipient. The relay's certificate is trusted when this
/// machine's trust store or this CA's root (`root`, DER) vouches for it. The error is a
/// sentence that never holds the password or what the relay echoed of the login.
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
    let domain = from.email.domain().to_owned();
    let id = crate::random::hex::<16>().map_err(|err| err.to_string())?;
    let mut message = Message::builder()
        .from(from)
        .subject(subject)
        .message_id(Some(format!("<{id}@{domain}>")));
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

    let tripwire = Tripwire::default();
    let host = host.to_string();
    let exchange = exchange(smtp, &host, root, &message, &tripwire);
    let outcome = tokio::time::timeout(EXCHANGE, exchange).await;
    if let Some(overflow) = tripwire.tripped() {
        return Err(format!(
            "the mail server {relay} sent {overflow}; notice not sent"
        ));
    }
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Failure::Connect(err))) => Err(format!(
            "the SMTP relay {relay} could not be reached: {err}"
        )),
        Ok(Err(Failure::Tls(err))) => Err(format!("TLS to {relay} could not be set up: {err}")),
        Ok(Err(Failure::Smtp(err))) => Err(format!(
            "the SMTP relay {relay} ({}) did not take the message: {}",
            smtp.security,
            cleaned(&err.to_string(), smtp)
        )),
        Err(_) => Err(format!(
            "the SMTP relay {relay} did not finish within {} seconds; notice not sent",
            EXCHANGE.as_secs()
        )),
    }
}

/// Why an exchange failed.
enum Failure {
    Connect(io::Error),
    Tls(String),
    Smtp(lettre::transport::smtp::Error),
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(err: lettre::transport::smtp::Error) -> Self {
        Failure::Smtp(err)
    }
}

/// Connects (in TLS from the first byte, or STARTTLS, or in the clear), logs in if a user is
/// set, sends the message and says goodbye.
async fn exchange(
    smtp: &SmtpSettings,
    host: &str,
    root: &[u8],
    message: &Message,
    tripwire: &Tripwire,
) -> Result<(), Failure> {
    let hello = ClientId::Domain(crate::name::host_name());
    let tcp = tokio::time::timeout(CONNECT, TcpStream::connect((host, smtp.port())))
        .await
        .map_err(|_| {
            Failure::Connect(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {} seconds", CONNECT.as_secs()),
            ))
        })?
        .map_err(Failure::Connect)?;
    let peer = tcp.peer_addr().map_err(Failure::Connect)?;
    let mut connection = match smtp.security {
        SmtpSecurity::Tls => {
            let tls = tls_wrapped(tcp, host, root).await?;
            let stream = Bounded::new(tls, peer, tripwire.clone());
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await?
        }
        SmtpSecurity::StartTls => {
            let stream = Bounded::new(tcp, peer, tripwire.clone());
            let mut connection =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await?;
            let tls = Certificate::from_der(root.to_vec())
                .and_then(|root| {
                    TlsParameters::builder(host.to_owned())
                        .add_root_certificate(root)
                        .build_rustls()
                })
                .map_err(|err| Failure::Tls(err.to_string()))?;
            connection.starttls(tls, &hello).await?;
            connection
        }
        SmtpSecurity::None => {
            let stream = Bounded::new(tcp, peer, tripwire.clone());
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await?
        }
    };
    if let (Some(user), Some(password)) = (&smtp.user, &smtp.password) {
        let credentials = Credentials::new(user.clone(), password.reveal().to_owned());
        connection.auth(DEFAULT_MECHANISMS, &credentials).await?;
    }
    let envelope: &Envelope = message.envelope();
    connection.send(envelope, &message.formatted()).await?;
    // The message is taken: a relay that answers QUIT badly changes nothing.
    let _ = connection.quit().await;
    Ok(())
}

/// TLS from the first byte, verified against this machine's trust store and the CA's root.
async fn tls_wrapped(
    tcp: TcpStream,
    host: &str,
    root: &[u8],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
        .add(CertificateDer::from(root.to_vec()))
        .map_err(|err| Failure::Tls(err.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| Failure::Tls(err.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Failure::Tls(format!("{host} is not a server name")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|err| Failure::Tls(err.to_string()))
}

/// What the relay sent past a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Total,
    Line,
    Lines,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overflow::Total => write!(f, "more than {} KiB", MAX_RECEIVED / 1024),
            Overflow::Line => write!(f, "a reply line of more than {MAX_LINE} bytes"),
            Overflow::Lines => write!(f, "more than {MAX_LINES} reply lines"),
        }
    }
}

/// Set when a connection is cut off for sending too much.
#[derive(Clone, Debug, Default)]
struct Tripwire(Arc<Mutex<Option<Overflow>>>);

impl Tripwire {
    fn trip(&self, overflow: Overflow) {
        if let Ok(mut tripped) = self.0.lock() {
            tripped.get_or_insert(overflow);
        }
    }

    fn tripped(&self) -> Option<Overflow> {
        self.0.lock().ok().and_then(|tripped| *tripped)
    }
}

/// Whether reply lines are measured: only while they are in the clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lines {
    Measured,
    /// STARTTLS was sent: the next thing written starts TLS.
    UntilTls,
    Encrypted,
}

/// A connection to the relay that fails once the relay sent more than [`MAX_RECEIVED`] bytes,
/// or (in the clear) a line longer than [`MAX_LINE`].
#[derive(Debug)]
struct Bounded<S> {
    inner: S,
    peer: SocketAddr,
    received: usize,
    line: usize,
    /// Lines received in the clear.
    count: usize,
    lines: Lines,
    tripwire: Tripwire,
}

impl<S> Bounded<S> {
    fn new(inner: S, peer: SocketAddr, tripwire: Tripwire) -> Self {
        Bounded {
            inner,
            peer,
            received: 0,
            line: 0,
            count: 0,
            lines: Lines::Measured,
            tripwire,
        }
    }

    fn cut(&self, overflow: Overflow) -> Poll<io::Result<()>> {
        self.tripwire.trip(overflow);
        Poll::Ready(Err(io::Error::other(format!("the relay sent {overflow}"))))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(overflow) = self.tripwire.tripped() {
            return self.cut(overflow);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        self.received += new.len();
        if self.received > MAX_RECEIVED {
            return self.cut(Overflow::Total);
        }
        if self.lines != Lines::Encrypted {
            let mut line = self.line;
            let mut count = self.count;
            for byte in new {
                if *byte == b'\n' {
                    line = 0;
                    count += 1;
                } else {
                    line += 1;
                }
                if line > MAX_LINE {
                    return self.cut(Overflow::Line);
                }
                if count > MAX_LINES {
                    return self.cut(Overflow::Lines);
                }
            }
            self.line = line;
            self.count = count;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.lines = match self.lines {
            Lines::Measured if buf.len() >= 8 && buf[..8].eq_ignore_ascii_case(b"STARTTLS") => {
                Lines::UntilTls
            }
            Lines::UntilTls => Lines::Encrypted,
            lines => lines,
        };
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> AsyncTokioStream for Bounded<S>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin + fmt::Debug,
{
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

/// The relay's error as it may be logged and stored: the reply code and a short text without
/// the login, the password, or anything that looks like base64 (the relay may echo the AUTH
/// exchange, which is the password in base64).
fn cleaned(text: &str, smtp: &SmtpSettings) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let Some(password) = &smtp.password {
        let password = password.reveal();
        secrets.push(password.to_owned());
        secrets.push(BASE64.encode(password));
        if let Some(user) = &smtp.user {
            secrets.push(BASE64.encode(format!("\0{user}\0{password}")));
        }
    }
    let mut text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // The longest first: the login's base64 ends with the password's own base64 when the
    // user name's length is a multiple of three, which would otherwise be cut out alone.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = without_spread(&text, secret);
    }
    let mut words: Vec<&str> = text
        .split_whitespace()
        .map(|word| if looks_encoded(word) { "[…]" } else { word })
        .collect();
    words.dedup_by(|a, b| *a == "[…]" && *b == "[…]");
    let text = words.join(" ");
    match text.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// `text` with each occurrence of `secret` replaced by `[…]`, also where white space splits
/// it (a relay may echo the AUTH exchange folded or cut into words).
fn without_spread(text: &str, secret: &str) -> String {
    let kept: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .collect();
    let squeezed: String = kept.iter().map(|(_, c)| *c).collect();
    let squeezed_at: Vec<usize> = squeezed.char_indices().map(|(at, _)| at).collect();
    let secret: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    if secret.is_empty() {
        return text.to_owned();
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    while let Some(found) = squeezed[from..].find(&secret) {
        let start = from + found;
        let end = start + secret.len();
        // From the byte offsets in the squeezed text back to the characters of `text`.
        let first = squeezed_at.partition_point(|&at| at < start);
        let last = squeezed_at.partition_point(|&at| at < end) - 1;
        let (last_at, last_char) = kept[last];
        spans.push((kept[first].0, last_at + last_char.len_utf8()));
        from = end;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(&text[at..start]);
        out.push_str("[…]");
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// True for a word that looks like base64 rather than language: 8 characters or more of the
/// base64 alphabet with a digit, `+`, `/`, `=` or a capital after a small letter.
fn looks_encoded(word: &str) -> bool {
    let word = word.trim_matches(|c: char| "\"'()[]<>,;:.".contains(c));
    let alphabet = |c: char| c.is_ascii_alphanumeric() || "+/=".contains(c);
    if word.len() < 8 || !word.chars().all(alphabet) {
        return false;
    }
    let symbol = word
        .chars()
        .any(|c| c.is_ascii_digit() || "+/=".contains(c));
    let camel = word
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    symbol || camel
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_relay_echoing_the_login_is_cleaned() {
        let smtp = SmtpSettings {
            user: Some("notifier".to_owned()),
            password: Some(super::super::config::SmtpPassword("pw s3cret".to_owned())),
            ..SmtpSettings::default()
        };
        let plain = BASE64.encode("\0notifier\0pw s3cret");
        let said = format!(
            "permanent error (535): 5.7.8 Authentication failed for AUTH PLAIN {plain} (AHVzZXIAb3RoZXI=) pw s3cret"
        );
        let clean = cleaned(&said, &smtp);
        assert_eq!(
            clean,
            "permanent error (535): 5.7.8 Authentication failed for AUTH PLAIN […]"
        );
        assert!(!looks_encoded("Authentication"));
        assert!(!looks_encoded("STARTTLS"));
        assert!(!looks_encoded("mail.example.com"));
        assert!(looks_encoded("bm90aWZpZXI="));
        // Folded or cut into short words, the echoed exchange is still found.
        let folded = format!(
            "535 5.7.8 rejected {} and {}",
            plain
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(" "),
            BASE64
                .encode("pw s3cret")
                .as_bytes()
                .chunks(3)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\t")
        );
        assert_eq!(cleaned(&folded, &smtp), "535 5.7.8 rejected […] and […]");
        assert_eq!(cleaned("pw  s3cret ünïcode", &smtp), "[…] ünïcode");
        // A user name of a length divisible by three: its part of the login's base64 goes too.
        let notices = SmtpSettings {
            user: Some("notices".to_owned()),
            ..smtp.clone()
        };
        let login = BASE64.encode("\0notices\0pw s3cret");
        assert!(login.ends_with(&BASE64.encode("pw s3cret")));
        assert_eq!(
            cleaned(&format!("535 AUTH PLAIN {login}"), &notices),
            "535 AUTH PLAIN […]"
        );
        let long = "x ".repeat(400);
        assert!(cleaned(&long, &smtp).chars().count() <= MAX_TEXT + 1);
    }
}
