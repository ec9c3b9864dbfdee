//! A ClientHello for TLS 1.0, 1.1 or 1.2 built by hand, and what the server answers to it:
//! the version and cipher suite of its ServerHello, and the chain of its Certificate message,
//! or its refusal (RFC 5246 §7.4, RFC 4346, RFC 2246).
//!
//! rustls speaks neither TLS 1.0 nor 1.1, and offers only the AEAD suites with forward
//! secrecy; a client library that speaks the old versions would be OpenSSL, whose Debian
//! build refuses them below security level 0. Asking needs no cryptography: the ClientHello is
//! plain bytes, and up to TLS 1.2 the ServerHello and the Certificate message come back in the
//! clear. The connection is dropped after them, before any key exchange.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Protocol versions as they are written on the wire.
pub(super) const TLS10: u16 = 0x0301;
pub(super) const TLS11: u16 = 0x0302;
pub(super) const TLS12: u16 = 0x0303;
pub(super) const TLS13: u16 = 0x0304;

/// The most bytes read of an answer: a ServerHello and a chain of a few certificates.
const MAX_ANSWER: usize = 256 * 1024;
/// The longest record (RFC 5246 §6.2.3: 2^14 plus room for compression and padding).
const MAX_RECORD: usize = (1 << 14) + 2048;

/// Cipher suites offered: those of the last fifteen years' clients, the strongest first, so
/// that the server's choice says what such a client gets. RC4 and 3DES are offered so that a
/// server that still picks them is seen doing so.
const SUITES: &[u16] = &[
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, // ECDHE with AES-GCM, ChaCha20-Poly1305
    0xc023, 0xc027, 0xc024, 0xc028, // ECDHE with AES-CBC and SHA-2
    0xc009, 0xc013, 0xc00a, 0xc014, // ECDHE with AES-CBC and SHA-1
    0x009e, 0x009f, 0x0033, 0x0039, // DHE with RSA
    0x009c, 0x009d, 0x003c, 0x003d, 0x002f, 0x0035, // RSA key transport with AES
    0x000a, 0x0005, 0x0004, // 3DES, RC4
];

/// What the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// A ServerHello.
    Accepted(Accepted),
    /// An alert, or the connection closed, before any ServerHello.
    Refused,
}

/// A ServerHello, and the chain that followed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Accepted {
    /// The version the server chose: the one offered, or an older one it prefers.
    pub version: u16,
    pub cipher_suite: u16,
    /// The certificates of its Certificate message (empty if it sent none before
    /// ServerHelloDone).
    pub chain: Vec<Vec<u8>>,
}

/// Why an answer could not be read.
#[derive(Debug)]
pub(super) enum Unreadable {
    /// The connection broke.
    Io,
    /// The server's bytes are not TLS records, or break their rules.
    NotTls,
}

impl From<std::io::Error> for Unreadable {
    fn from(_: std::io::Error) -> Self {
        Unreadable::Io
    }
}

/// Sends a ClientHello for `version` (with `server_name` in SNI, when given) and reads the
/// answer. The caller bounds the time.
pub(super) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    version: u16,
    server_name: Option<&str>,
) -> Result<Answer, Unreadable> {
    let random = crate::random::bytes::<32>().unwrap_or([0x5a; 32]);
    stream
        .write_all(&client_hello(version, server_name, &random))
        .await?;
    let mut reader = Reader::default();
    let mut total = 0usize;
    loop {
        let mut header = [0u8; 5];
        match stream.read_exact(&mut header).await {
            Ok(_) => {}
            // Closed before answering: what many servers do with a version they refuse.
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                return reader.end();
            }
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                return reader.end();
            }
            Err(err) => return Err(err.into()),
        }
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if header[1] != 0x03 || length > MAX_RECORD {
            return Err(Unreadable::NotTls);
        }
        total += length + 5;
        if total > MAX_ANSWER {
            return Err(Unreadable::NotTls);
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await?;
        if let Some(answer) = reader.record(header[0], &body)? {
            return Ok(answer);
        }
    }
}

/// The name a version goes by ("TLSv1.2"), as OpenSSL and the IANA registry write it.
pub(super) fn version_name(version: u16) -> &'static str {
    match version {
        0x0300 => "SSLv3",
        TLS10 => "TLSv1.0",
        TLS11 => "TLSv1.1",
        TLS12 => "TLSv1.2",
        TLS13 => "TLSv1.3",
        _ => "an unknown version",
    }
}

/// The IANA name of a cipher suite, as rustls knows it.
pub(super) fn suite_name(suite: u16) -> String {
    // The suites old servers still pick, which rustls does not name (IANA's names).
    let legacy = match suite {
        0x0004 => Some("TLS_RSA_WITH_RC4_128_MD5"),
        0x0005 => Some("TLS_RSA_WITH_RC4_128_SHA"),
        0x000a => Some("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        0x002f => Some("TLS_RSA_WITH_AES_128_CBC_SHA"),
        0x0035 => Some("TLS_RSA_WITH_AES_256_CBC_SHA"),
        0x003c => Some("TLS_RSA_WITH_AES_128_CBC_SHA256"),
        0x003d => Some("TLS_RSA_WITH_AES_256_CBC_SHA256"),
        0x009c => Some("TLS_RSA_WITH_AES_128_GCM_SHA256"),
        0x009d => Some("TLS_RSA_WITH_AES_256_GCM_SHA384"),
        0xc009 => Some("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
        0xc00a => Some("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
        0xc013 => Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
        0xc014 => Some("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
        0xc023 => Some("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
        0xc024 => Some("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
        0xc027 => Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
        0xc028 => Some("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
        _ => None,
    };
    if let Some(name) = legacy {
        return name.to_owned();
    }
    let named = rustls::CipherSuite::from(suite);
    let text = format!("{named:?}");
    if !text.starts_with("TLS") {
        format!("0x{suite:04x}")
    } else {
        text
    }
}

/// A ClientHello record (RFC 5246 §7.4.1.2) offering `version`: SNI, the elliptic curves and
/// point formats ECDHE needs (RFC 8422), signature algorithms for TLS 1.2 only (RFC 5246
/// §7.4.1.4.1 forbids them earlier), and the renegotiation_info extension (RFC 5746).
pub(super) fn client_hello(version: u16, server_name: Option<&str>, random: &[u8; 32]) -> Vec<u8> {
    let mut extensions = Vec::new();
    if let Some(name) = server_name {
        let name = name.as_bytes();
        let mut list = vec![0x00];
        put_u16_prefixed(&mut list, name);
        let mut body = Vec::new();
        put_u16_prefixed(&mut body, &list);
        put_extension(&mut extensions, 0x0000, &body);
    }
    // supported_groups: x25519, secp256r1, secp384r1.
    put_extension(
        &mut extensions,
        0x000a,
        &[0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18],
    );
    // ec_point_formats: uncompressed.
    put_extension(&mut extensions, 0x000b, &[0x01, 0x00]);
    if version >= TLS12 {
        let schemes: &[u16] = &[
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203,
        ];
        let mut list = Vec::new();
        for scheme in schemes {
            list.extend_from_slice(&scheme.to_be_bytes());
        }
        let mut body = Vec::new();
        put_u16_prefixed(&mut body, &list);
        put_extension(&mut extensions, 0x000d, &body);
    }
    // renegotiation_info, empty: a new connection (RFC 5746 §3.4).
    put_extension(&mut extensions, 0xff01, &[0x00]);

    let mut hello = Vec::new();
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(random);
    hello.push(0x00); // no session id
    let mut suites = Vec::new();
    for suite in SUITES {
        suites.extend_from_slice(&suite.to_be_bytes());
    }
    put_u16_prefixed(&mut hello, &suites);
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null only
    put_u16_prefixed(&mut hello, &extensions);

    let mut handshake = vec![0x01];
    put_u24_prefixed(&mut handshake, &hello);
    // The record says TLS 1.0, as clients write their first record (RFC 5246 Appendix E.1).
    let mut record = vec![0x16, 0x03, 0x01];
    put_u16_prefixed(&mut record, &handshake);
    record
}

/// Handshake messages gathered across records.
#[derive(Default)]
struct Reader {
    handshake: Vec<u8>,
    hello: Option<(u16, u16)>,
}

impl Reader {
    /// Takes one record; an answer once there is one.
    fn record(&mut self, content_type: u8, body: &[u8]) -> Result<Option<Answer>, Unreadable> {
        match content_type {
            // An alert before the ServerHello is a refusal; after it, the chain is what it is.
            21 => Ok(Some(self.finish(Vec::new()))),
            22 => {
                self.handshake.extend_from_slice(body);
                self.messages()
            }
            20 | 23 => Ok(Some(self.finish(Vec::new()))),
            _ => Err(Unreadable::NotTls),
        }
    }

    /// The connection ended.
    fn end(self) -> Result<Answer, Unreadable> {
        Ok(self.finish(Vec::new()))
    }

    fn finish(&self, chain: Vec<Vec<u8>>) -> Answer {
        match self.hello {
            Some((version, cipher_suite)) => Answer::Accepted(Accepted {
                version,
                cipher_suite,
                chain,
            }),
            None => Answer::Refused,
        }
    }

    /// Reads the complete handshake messages gathered so far.
    fn messages(&mut self) -> Result<Option<Answer>, Unreadable> {
        while self.handshake.len() >= 4 {
            let length = u24(&self.handshake[1..4]);
            if self.handshake.len() < 4 + length {
                return Ok(None);
            }
            let kind = self.handshake[0];
            let message: Vec<u8> = self.handshake.drain(..4 + length).skip(4).collect();
            match kind {
                2 => self.hello = Some(server_hello(&message)?),
                11 if self.hello.is_some() => {
                    return Ok(Some(self.finish(certificates(&message)?)));
                }
                // ServerKeyExchange, CertificateRequest, ServerHelloDone: no Certificate came.
                12..=14 if self.hello.is_some() => return Ok(Some(self.finish(Vec::new()))),
                _ => {}
            }
        }
        Ok(None)
    }
}

/// The version and cipher suite of a ServerHello.
fn server_hello(message: &[u8]) -> Result<(u16, u16), Unreadable> {
    let version = u16::from_be_bytes([
        *message.first().ok_or(Unreadable::NotTls)?,
        *message.get(1).ok_or(Unreadable::NotTls)?,
    ]);
    let session_id = usize::from(*message.get(34).ok_or(Unreadable::NotTls)?);
    let at = 35 + session_id;
    let suite = message.get(at..at + 2).ok_or(Unreadable::NotTls)?;
    if !(0x0300..=TLS13).contains(&version) {
        return Err(Unreadable::NotTls);
    }
    Ok((version, u16::from_be_bytes([suite[0], suite[1]])))
}

/// The certificates of a Certificate message (RFC 5246 §7.4.2).
fn certificates(message: &[u8]) -> Result<Vec<Vec<u8>>, Unreadable> {
    let total = u24(message.get(..3).ok_or(Unreadable::NotTls)?);
    let mut rest = message.get(3..3 + total).ok_or(Unreadable::NotTls)?;
    let mut chain = Vec::new();
    while !rest.is_empty() {
        let length = u24(rest.get(..3).ok_or(Unreadable::NotTls)?);
        chain.push(rest.get(3..3 + length).ok_or(Unreadable::NotTls)?.to_vec());
        rest = &rest[3 + length..];
    }
    Ok(chain)
}

fn u24(bytes: &[u8]) -> usize {
    (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2])
}

fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every length written here is of a few hundred bytes at most (a host name is at most
    // 253): it fits in 16 bits.
    let length = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_u24_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = bytes.len();
    out.extend_from_slice(&[(length >> 16) as u8, (length >> 8) as u8, length as u8]);
    out.extend_from_slice(bytes);
}

fn put_extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    put_u16_prefixed(out, body);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A ServerHello record for `version` and `suite`, and a Certificate record with `chain`.
    fn answer(version: u16, suite: u16, chain: &[&[u8]]) -> Vec<u8> {
        let mut hello = version.to_be_bytes().to_vec();
        hello.extend_from_slice(&[7; 32]);
        hello.push(2);
        hello.extend_from_slice(&[1, 2]);
        hello.extend_from_slice(&suite.to_be_bytes());
        hello.push(0);
        let mut messages = vec![2];
        put_u24_prefixed(&mut messages, &hello);
        let mut list = Vec::new();
        for cert in chain {
            put_u24_prefixed(&mut list, cert);
        }
        let mut body = Vec::new();
        put_u24_prefixed(&mut body, &list);
        messages.push(11);
        put_u24_prefixed(&mut messages, &body);
        // Split across two records, as servers may.
        let (first, second) = messages.split_at(10);
        let mut out = Vec::new();
        for part in [first, second] {
            out.extend_from_slice(&[22, 3, 3]);
            put_u16_prefixed(&mut out, part);
        }
        out
    }

    async fn read(bytes: Vec<u8>) -> Result<Answer, Unreadable> {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        server.write_all(&bytes).await.unwrap();
        server.shutdown().await.unwrap();
        // The server reads what the client sends until the client is done.
        tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = server.read_to_end(&mut sink).await;
        });
        exchange(&mut client, TLS10, Some("mail.example.com")).await
    }

    #[tokio::test]
    async fn reads_the_version_suite_and_chain_across_records() {
        let answer = read(answer(TLS10, 0xc013, &[b"leaf", b"intermediate"]))
            .await
            .unwrap();
        assert_eq!(
            answer,
            Answer::Accepted(Accepted {
                version: TLS10,
                cipher_suite: 0xc013,
                chain: vec![b"leaf".to_vec(), b"intermediate".to_vec()],
            })
        );
        assert_eq!(suite_name(0xc013), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(suite_name(0xfefe), "0xfefe");
    }

    #[tokio::test]
    async fn an_alert_or_a_closed_connection_is_a_refusal() {
        // alert: fatal, protocol_version
        assert_eq!(
            read(vec![21, 3, 1, 0, 2, 2, 70]).await.unwrap(),
            Answer::Refused
        );
        assert_eq!(read(Vec::new()).await.unwrap(), Answer::Refused);
    }

    #[tokio::test]
    async fn what_is_not_tls_is_unreadable_and_never_panics() {
        for bytes in [
            b"220 mail.example.com ESMTP\r\n".to_vec(),
            b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
            vec![22, 3, 3, 0xff, 0xff],
            vec![22, 3, 3, 0, 4, 2, 0, 0, 1],
            vec![22, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3],
            vec![22, 3, 3, 0, 4, 11, 0xff, 0xff, 0xff],
        ] {
            match read(bytes.clone()).await {
                Ok(Answer::Refused) | Err(_) => {}
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
        // A Certificate message whose certificate is longer than the message.
        let mut hello = TLS12.to_be_bytes().to_vec();
        hello.extend_from_slice(&[7; 32]);
        hello.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
        let mut lying = vec![2];
        put_u24_prefixed(&mut lying, &hello);
        lying.extend_from_slice(&[11, 0, 0, 10, 0, 0, 7, 0, 0, 9, 1, 2, 3, 4]);
        let mut record = vec![22, 3, 3];
        put_u16_prefixed(&mut record, &lying);
        let lying = record;
        assert!(matches!(read(lying).await, Err(Unreadable::NotTls)));
    }

    #[test]
    fn suites_are_named_as_iana_names_them() {
        assert_eq!(suite_name(0x009c), "TLS_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(suite_name(0xc013), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(suite_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(suite_name(0xfefe), "0xfefe");
    }

    #[test]
    fn the_client_hello_offers_the_version_and_names_the_server() {
        let hello = client_hello(TLS11, Some("mail.example.com"), &[1; 32]);
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])),
            hello.len() - 5
        );
        assert_eq!(hello[5], 0x01);
        assert_eq!(u24(&hello[6..9]), hello.len() - 9);
        assert_eq!(&hello[9..11], &[0x03, 0x02]);
        let text = String::from_utf8_lossy(&hello);
        assert!(text.contains("mail.example.com"));
        // No signature_algorithms before TLS 1.2.
        let without = client_hello(TLS11, None, &[1; 32]);
        let with = client_hello(TLS12, None, &[1; 32]);
        assert!(with.len() > without.len());
    }
}
