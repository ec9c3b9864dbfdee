//! Reaching the server as a client does: the host's addresses (or the one address given), a TCP connection to the first
//! that answers, and for mail protocols the plain-text exchange that switches to TLS
//! (SMTP `STARTTLS`, RFC 3207; IMAP `STARTTLS`, RFC 3501; POP3 `STLS`, RFC 2595). Every
//! step is bounded by the budget, every line read by a length.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Budget, Finding, Protocol, Target, Topic, Verdict};
use crate::name::SubjectName;

/// The longest line of a plain-text reply read (RFC 5321 §4.5.3.1.5 allows 512 octets).
const MAX_LINE: usize = 2048;
/// The most lines of one reply read (an EHLO reply lists a dozen extensions).
const MAX_LINES: usize = 100;

/// The host's addresses, in the order the system's resolver gives them.
pub(super) async fn resolve(target: &Target, budget: &Budget) -> Result<Vec<SocketAddr>, Finding> {
    if let Some(address) = target.address {
        return Ok(vec![SocketAddr::new(address, target.port)]);
    }
    let name = match &target.host {
        SubjectName::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, target.port)]),
        SubjectName::Dns(name) => name.as_str().to_owned(),
    };
    let step = budget.step().ok_or_else(out_of_time)?;
    let found = tokio::time::timeout(step, tokio::net::lookup_host((name.as_str(), target.port)))
        .await
        .map_err(|_| {
            unreachable_finding(
                "dns",
                format!(
                    "Looking up {name} took longer than {} s, so no client can reach it.",
                    step.as_secs()
                ),
                "Check the DNS server this machine uses, and that the name exists there.",
            )
        })?
        .map_err(|err| {
            unreachable_finding(
                "dns",
                format!("{name} does not resolve: {err}."),
                "Add the name to DNS (or check its spelling); clients look it up as this machine did.",
            )
        })?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(unreachable_finding(
            "dns",
            format!("{name} resolves to no address."),
            "Give the name an A or AAAA record.",
        ));
    }
    Ok(addresses)
}

/// A connection to the first of `addresses` that accepts one, ready for a ClientHello (the
/// plain-text exchange done for mail protocols).
pub(super) async fn open(
    target: &Target,
    addresses: &[SocketAddr],
    budget: &Budget,
) -> Result<(TcpStream, SocketAddr), Finding> {
    let mut last = None;
    for address in addresses {
        let step = budget.step().ok_or_else(out_of_time)?;
        match tokio::time::timeout(step, TcpStream::connect(address)).await {
            Ok(Ok(mut stream)) => {
                let step = budget.step().ok_or_else(out_of_time)?;
                return match tokio::time::timeout(step, start_tls(&mut stream, target.protocol))
                    .await
                {
                    Ok(Ok(())) => Ok((stream, *address)),
                    Ok(Err(finding)) => Err(finding),
                    Err(_) => Err(unreachable_finding(
                        "no-answer",
                        format!(
                            "{address} accepted the connection but did not complete the {} exchange within {} s.",
                            target.protocol.starttls().unwrap_or("STARTTLS"),
                            step.as_secs()
                        ),
                        "Check that the service on this port is the one named by the URL's scheme, and that it is not overloaded.",
                    )),
                };
            }
            Ok(Err(err)) => last = Some(format!("connecting to {address} failed: {err}")),
            Err(_) => {
                last = Some(format!(
                    "connecting to {address} took longer than {} s (a firewall that drops packets, or no host there)",
                    step.as_secs()
                ))
            }
        }
    }
    Err(unreachable_finding(
        "unreachable",
        format!(
            "The server cannot be reached: {}.",
            last.unwrap_or_else(|| "it has no address".to_owned())
        ),
        format!(
            "Start the service on port {}, or open the port in the firewalls between clients and the server.",
            target.port
        ),
    ))
}

/// The finding of a check whose time ran out.
pub(super) fn out_of_time() -> Finding {
    Finding::new(
        Topic::Connection,
        Verdict::Fail,
        "timeout",
        "The check ran out of time before it could finish: the server or the network is too slow to answer."
            .to_owned(),
    )
    .fix("Try again; if it persists, check the server's load and the network between here and there.")
}

fn unreachable_finding(code: &'static str, fact: String, fix: impl Into<String>) -> Finding {
    Finding::new(Topic::Connection, Verdict::Fail, code, fact).fix(fix)
}

/// The plain-text exchange before the handshake, for protocols that start without TLS.
async fn start_tls(stream: &mut TcpStream, protocol: Protocol) -> Result<(), Finding> {
    let mut talk = Talk {
        stream,
        buffer: Vec::new(),
    };
    match protocol {
        Protocol::Tls => return Ok(()),
        Protocol::Smtp => {
            let greeting = talk.smtp_reply().await?;
            if !greeting.starts_with("220") {
                return Err(talk.refused("SMTP", "greeting", &greeting));
            }
            let host = crate::name::host_name();
            talk.send(&format!("EHLO {host}\r\n")).await?;
            let reply = talk.smtp_reply().await?;
            if !reply.starts_with("250") {
                return Err(talk.refused("SMTP", "EHLO", &reply));
            }
            let offered = reply.lines().any(|line| {
                line.get(4..)
                    .and_then(|keyword| keyword.split_whitespace().next())
                    .is_some_and(|keyword| keyword.eq_ignore_ascii_case("STARTTLS"))
            });
            if !offered {
                return Err(no_starttls(
                    "The SMTP server does not offer STARTTLS in its EHLO reply",
                ));
            }
            talk.send("STARTTLS\r\n").await?;
            let reply = talk.smtp_reply().await?;
            // 454 (RFC 3207): TLS not available, often a certificate or key the server
            // could not load; any other 4xx or 5xx is a refusal too.
            if reply.starts_with(['4', '5']) {
                return Err(Finding::new(
                    Topic::Connection,
                    Verdict::Fail,
                    "starttls-refused",
                    format!(
                        "The SMTP server offers STARTTLS but refused it: '{}'.",
                        printable(&reply)
                    ),
                )
                .fix("The server's TLS set-up is broken (most often a certificate or key file it cannot read): check its log and its certificate settings."));
            }
            if !reply.starts_with("220") {
                return Err(talk.refused("SMTP", "STARTTLS", &reply));
            }
        }
        Protocol::Imap => {
            let greeting = talk.line().await?;
            if !greeting.starts_with("* OK") {
                return Err(talk.refused("IMAP", "greeting", &greeting));
            }
            talk.send("a1 STARTTLS\r\n").await?;
            let reply = loop {
                let line = talk.line().await?;
                if line.starts_with("a1 ") {
                    break line;
                }
            };
            if !reply.starts_with("a1 OK") {
                return Err(no_starttls(&format!(
                    "The IMAP server refused STARTTLS: '{}'",
                    printable(&reply)
                )));
            }
        }
        Protocol::Pop3 => {
            let greeting = talk.line().await?;
            if !greeting.starts_with("+OK") {
                return Err(talk.refused("POP3", "greeting", &greeting));
            }
            talk.send("STLS\r\n").await?;
            let reply = talk.line().await?;
            if !reply.starts_with("+OK") {
                return Err(no_starttls(&format!(
                    "The POP3 server refused STLS: '{}'",
                    printable(&reply)
                )));
            }
        }
    }
    // Anything sent after the answer and before our ClientHello would be read as TLS, or
    // worse, trusted as if it came over TLS (the STARTTLS command injection of CVE-2011-0411).
    if !talk.buffer.is_empty() {
        return Err(Finding::new(
            Topic::Connection,
            Verdict::Fail,
            "starttls-injection",
            "The server sent more text after agreeing to switch to TLS, before the handshake."
                .to_owned(),
        )
        .fix("Update the mail server software: it mixes plain text into the TLS connection."));
    }
    Ok(())
}

fn no_starttls(fact: &str) -> Finding {
    Finding::new(
        Topic::Connection,
        Verdict::Fail,
        "no-starttls",
        format!("{fact}."),
    )
    .fix("Turn on TLS (STARTTLS) in the mail server with this certificate, or check the port.")
}

/// Text with control characters escaped, for what a server said.
fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_debug().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A plain-text conversation, line by line, with what was read past the last line kept.
struct Talk<'a> {
    stream: &'a mut TcpStream,
    buffer: Vec<u8>,
}

impl Talk<'_> {
    async fn send(&mut self, text: &str) -> Result<(), Finding> {
        self.stream
            .write_all(text.as_bytes())
            .await
            .map_err(|err| broken(&err))
    }

    /// One line, without its line end.
    async fn line(&mut self) -> Result<String, Finding> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
            }
            if self.buffer.len() > MAX_LINE {
                return Err(not_the_protocol(&self.buffer));
            }
            let mut chunk = [0u8; 1024];
            let read = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|err| broken(&err))?;
            if read == 0 {
                return Err(Finding::new(
                    Topic::Connection,
                    Verdict::Fail,
                    "closed",
                    "The server closed the connection in the middle of the plain-text exchange before TLS."
                        .to_owned(),
                )
                .fix("Check the server's log: it may refuse this machine's address or name."));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// An SMTP reply: its lines up to the one whose code is followed by a space.
    async fn smtp_reply(&mut self) -> Result<String, Finding> {
        let mut lines = Vec::new();
        for _ in 0..MAX_LINES {
            let line = self.line().await?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok(lines.join("\n"));
            }
        }
        Err(not_the_protocol(lines.join("\n").as_bytes()))
    }

    fn refused(&self, protocol: &str, step: &str, reply: &str) -> Finding {
        if reply.as_bytes().first() == Some(&0x16) || reply.as_bytes().first() == Some(&0x15) {
            return Finding::new(
                Topic::Connection,
                Verdict::Fail,
                "not-plain-text",
                format!("The server speaks TLS from the first byte on this port, not {protocol} with STARTTLS."),
            )
            .fix("Check it as HOST:PORT (or smtps://, imaps://, pop3s://) instead.");
        }
        Finding::new(
            Topic::Connection,
            Verdict::Fail,
            "unexpected-reply",
            format!(
                "The server's {protocol} {step} reply was '{}', not what {} {protocol} server says.",
                printable(reply),
                // "an IMAP server", "an SMTP server", "a POP3 server": as the letters are read.
                if protocol.to_string().starts_with(['I', 'S']) { "an" } else { "a" }
            ),
        )
        .fix("Check that this port serves the protocol named by the URL's scheme.")
    }
}

fn broken(err: &std::io::Error) -> Finding {
    Finding::new(
        Topic::Connection,
        Verdict::Fail,
        "closed",
        format!("The connection broke during the plain-text exchange before TLS: {err}."),
    )
    .fix("Check the server's log: it may refuse this machine's address or name.")
}

fn not_the_protocol(seen: &[u8]) -> Finding {
    Finding::new(
        Topic::Connection,
        Verdict::Fail,
        "unexpected-reply",
        format!(
            "The server's answer does not read as lines of text: '{}'.",
            printable(&String::from_utf8_lossy(&seen[..seen.len().min(80)]))
        ),
    )
    .fix("Check that this port serves the protocol named by the URL's scheme.")
}
