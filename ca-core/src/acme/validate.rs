//! Challenge validation (RFC 8555 §8, RFC 8737, RFC 8738): the CA fetches the key
//! authorization over HTTP, reads it from a TLS handshake, or looks it up in DNS, on ports and
//! through a DNS server that are settings (so tests need no root and no real DNS). Requests made
//! on a client's behalf are bounded: timeouts, at most 10 redirects, only to http or https on
//! the configured ports, a cap on what is read (RFC 8555 §8.3, §10.2).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use super::{AcmeSettings, ChallengeKind, Identifier, IdentifierKind, Problem, ProblemType};

/// How long one validation may take, every lookup and connection included.
pub(crate) const VALIDATION_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one connection or lookup may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of an http-01 answer read.
const MAX_BODY: usize = 8 * 1024;
/// The most redirects followed.
const MAX_REDIRECTS: usize = 10;
/// The ALPN protocol of tls-alpn-01 (RFC 8737 §6.2).
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// Checks `challenge` for `identifier`: the key authorization `key_authorization` must be
/// served where the challenge type says.
pub(crate) async fn validate(
    settings: &AcmeSettings,
    identifier: &Identifier,
    kind: ChallengeKind,
    token: &str,
    key_authorization: &str,
) -> Result<(), Problem> {
    let validator = Validator::new(settings)?;
    let work = async {
        match kind {
            ChallengeKind::Http01 => validator.http01(identifier, token, key_authorization).await,
            ChallengeKind::Dns01 => validator.dns01(identifier, key_authorization).await,
            ChallengeKind::TlsAlpn01 => validator.tls_alpn01(identifier, key_authorization).await,
        }
    };
    tokio::time::timeout(VALIDATION_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(Problem::new(
                ProblemType::Connection,
                format!(
                    "the validation of {} took longer than {} s",
                    identifier.value,
                    VALIDATION_TIMEOUT.as_secs()
                ),
            ))
        })
}

struct Validator {
    http_port: u16,
    tls_port: u16,
    resolver: TokioResolver,
}

impl Validator {
    fn new(settings: &AcmeSettings) -> Result<Self, Problem> {
        let internal = |why: String| Problem::new(ProblemType::ServerInternal, why);
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.timeout = STEP_TIMEOUT / 3;
        opts.attempts = 2;
        let resolver = match settings.dns {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                let mut tcp = ConnectionConfig::tcp();
                udp.port = server.port();
                tcp.port = server.port();
                let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
                name_server.connections = vec![udp, tcp];
                let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
                opts.use_hosts_file = ResolveHosts::Never;
                opts.ndots = 0;
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                    .with_options(opts)
                    .build()
                    .map_err(|err| internal(format!("the DNS resolver could not start: {err}")))?
            }
            None => TokioResolver::builder_tokio()
                .map_err(|err| {
                    internal(format!("the system's DNS settings cannot be read: {err}"))
                })?
                .with_options(opts)
                .build()
                .map_err(|err| internal(format!("the DNS resolver could not start: {err}")))?,
        };
        Ok(Validator {
            http_port: settings.http_port,
            tls_port: settings.tls_port,
            resolver,
        })
    }

    /// The addresses to connect to for an identifier.
    async fn addresses(&self, identifier: &Identifier) -> Result<Vec<IpAddr>, Problem> {
        if identifier.kind == IdentifierKind::Ip {
            return identifier
                .value
                .parse()
                .map(|ip| vec![ip])
                .map_err(|_| Problem::new(ProblemType::Malformed, "not an IP address"));
        }
        let name = format!("{}.", identifier.value);
        let found = tokio::time::timeout(STEP_TIMEOUT, self.resolver.lookup_ip(name.as_str()))
            .await
            .map_err(|_| dns_problem(&identifier.value, "the DNS lookup timed out"))?
            .map_err(|err| {
                dns_problem(
                    &identifier.value,
                    &format!("no address: {}", lookup_failure(&err)),
                )
            })?;
        let addresses: Vec<IpAddr> = found.iter().collect();
        if addresses.is_empty() {
            return Err(dns_problem(&identifier.value, "no A or AAAA record"));
        }
        Ok(addresses)
    }

    /// http-01 (RFC 8555 §8.3): `GET http://NAME/.well-known/acme-challenge/TOKEN` answers the
    /// key authorization.
    async fn http01(
        &self,
        identifier: &Identifier,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), Problem> {
        let host = match identifier.kind {
            IdentifierKind::Dns => identifier.value.clone(),
            IdentifierKind::Ip => match identifier.value.parse::<IpAddr>() {
                Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
                _ => identifier.value.clone(),
            },
        };
        let url = format!(
            "http://{host}:{}/.well-known/acme-challenge/{token}",
            self.http_port
        );
        // A name without an address is a DNS problem, said as one.
        self.addresses(identifier).await?;
        let (http_port, tls_port) = (self.http_port, self.tls_port);
        // The identifier's own address, when it is one: the only address a redirect may name.
        let own_address = match identifier.kind {
            IdentifierKind::Ip => identifier.value.parse::<IpAddr>().ok(),
            IdentifierKind::Dns => None,
        };
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let url = attempt.url();
            let allowed = match url.scheme() {
                "http" => url.port_or_known_default() == Some(http_port),
                "https" => url.port_or_known_default() == Some(tls_port),
                _ => false,
            };
            // A redirect to an address names no one's domain: followed, it would let a
            // client have this validator look into the CA's own network (which addresses
            // answer, which paths exist), as Let's Encrypt's validator refuses too.
            let address = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            // Nor to this machine by the name that is always its own, which a resolver
            // answers itself (RFC 6761) without asking the validator's DNS server.
            let loopback = match url.host() {
                Some(url::Host::Domain(name)) => {
                    let name = name.trim_end_matches('.').to_ascii_lowercase();
                    name == "localhost" || name.ends_with(".localhost")
                }
                _ => false,
            };
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("more than 10 redirects")
            } else if loopback {
                attempt.error("a redirect to localhost: the validator follows redirects to names of the DNS only")
            } else if address.is_some() && address != own_address {
                attempt.error(
                    "a redirect to an IP address: the validator follows redirects to names only",
                )
            } else if allowed {
                attempt.follow()
            } else {
                attempt.error("a redirect to a scheme or port the validator does not use")
            }
        });
        let mut builder = reqwest::Client::builder()
            .redirect(policy)
            .timeout(STEP_TIMEOUT)
            .connect_timeout(STEP_TIMEOUT)
            .user_agent("ca ACME validator")
            .no_proxy()
            // RFC 8555 §8.3: the certificate of an https redirect target is not checked.
            .tls_danger_accept_invalid_certs(true)
            .tls_danger_accept_invalid_hostnames(true);
        // Every name, the identifier's and those redirects lead to, is looked up through the
        // validator's own resolver (the configured DNS server), never the system's.
        builder = builder.dns_resolver(Arc::new(Lookup(self.resolver.clone())));
        let client = builder.build().map_err(|err| {
            Problem::new(
                ProblemType::ServerInternal,
                format!("the HTTP client could not start: {err}"),
            )
        })?;
        let response = client.get(&url).send().await.map_err(|err| {
            Problem::new(
                ProblemType::Connection,
                format!("fetching {url} failed: {}", error_chain(&err)),
            )
        })?;
        if !response.status().is_success() {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                format!("{url} answered {}", response.status()),
            ));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|err| {
            Problem::new(
                ProblemType::Connection,
                format!("reading {url} failed: {err}"),
            )
        })? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    format!("{url} answered more than {MAX_BODY} bytes"),
                ));
            }
        }
        let text = String::from_utf8_lossy(&body);
        // RFC 8555 §8.3: trailing whitespace is tolerated.
        if text.trim_end() == key_authorization {
            Ok(())
        } else {
            Err(Problem::new(
                ProblemType::IncorrectResponse,
                format!("{url} did not answer the key authorization"),
            ))
        }
    }

    /// dns-01 (RFC 8555 §8.4): a TXT record `_acme-challenge.NAME` holds the base64url SHA-256
    /// of the key authorization.
    async fn dns01(&self, identifier: &Identifier, key_authorization: &str) -> Result<(), Problem> {
        if identifier.kind != IdentifierKind::Dns {
            return Err(Problem::new(
                ProblemType::Malformed,
                "dns-01 validates DNS names only",
            ));
        }
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
        let expected = super::jws::b64(digest.as_ref());
        let name = format!("_acme-challenge.{}.", identifier.value);
        let found = tokio::time::timeout(STEP_TIMEOUT, self.resolver.txt_lookup(name.as_str()))
            .await
            .map_err(|_| dns_problem(&name, "the TXT lookup timed out"))?
            .map_err(|err| {
                dns_problem(&name, &format!("no TXT record: {}", lookup_failure(&err)))
            })?;
        let values: Vec<String> = found
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        if values.iter().any(|v| v == &expected) {
            Ok(())
        } else {
            Err(Problem::new(
                ProblemType::IncorrectResponse,
                format!(
                    "no TXT record of {name} holds the expected value ({} found)",
                    values.len()
                ),
            ))
        }
    }

    /// tls-alpn-01 (RFC 8737): a TLS handshake with ALPN `acme-tls/1` presents a certificate
    /// for the name alone, with a critical acmeIdentifier extension holding the SHA-256 of the
    /// key authorization.
    async fn tls_alpn01(
        &self,
        identifier: &Identifier,
        key_authorization: &str,
    ) -> Result<(), Problem> {
        use rustls_pki_types::ServerName;
        let tls_problem = |why: String| Problem::new(ProblemType::Tls, why);
        let address = *self
            .addresses(identifier)
            .await?
            .first()
            .ok_or_else(|| dns_problem(&identifier.value, "no address"))?;
        let server_name = match identifier.kind {
            IdentifierKind::Dns => ServerName::try_from(identifier.value.clone())
                .map_err(|_| tls_problem("not a server name".into()))?,
            // RFC 8738 §6: the reverse-mapping name of the address.
            IdentifierKind::Ip => ServerName::try_from(reverse_name(&identifier.value)?)
                .map_err(|_| tls_problem("not a server name".into()))?,
        };
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|err| tls_problem(err.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let target = SocketAddr::new(address, self.tls_port);
        let stream = tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(target))
            .await
            .map_err(|_| {
                Problem::new(
                    ProblemType::Connection,
                    format!("connecting to {target} timed out"),
                )
            })?
            .map_err(|err| {
                Problem::new(
                    ProblemType::Connection,
                    format!("connecting to {target} failed: {err}"),
                )
            })?;
        let tls = tokio::time::timeout(STEP_TIMEOUT, connector.connect(server_name, stream))
            .await
            .map_err(|_| tls_problem(format!("the TLS handshake with {target} timed out")))?
            .map_err(|err| tls_problem(format!("the TLS handshake with {target} failed: {err}")))?;
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(ACME_TLS_ALPN) {
            return Err(tls_problem(format!(
                "{target} did not negotiate acme-tls/1"
            )));
        }
        let leaf = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| tls_problem(format!("{target} presented no certificate")))?;
        check_alpn_certificate(leaf.as_ref(), identifier, key_authorization)
    }
}

/// The checks of RFC 8737 §3 on the certificate a tls-alpn-01 handshake presented.
pub(crate) fn check_alpn_certificate(
    der: &[u8],
    identifier: &Identifier,
    key_authorization: &str,
) -> Result<(), Problem> {
    use x509_parser::extensions::GeneralName;
    let bad = |why: &str| Problem::new(ProblemType::IncorrectResponse, why);
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| bad("the certificate presented does not parse"))?;
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.clone(),
        _ => return Err(bad("the certificate presented has no subjectAltName")),
    };
    let only_ours = names.len() == 1
        && match (&names[0], identifier.kind) {
            (GeneralName::DNSName(name), IdentifierKind::Dns) => {
                name.eq_ignore_ascii_case(&identifier.value)
            }
            (GeneralName::IPAddress(bytes), IdentifierKind::Ip) => {
                crate::name::ip_from_bytes(bytes).map(|ip| ip.to_string())
                    == identifier
                        .value
                        .parse::<IpAddr>()
                        .ok()
                        .map(|ip| ip.to_string())
            }
            _ => false,
        };
    if !only_ours {
        return Err(bad(
            "the certificate presented must name the identifier and nothing else",
        ));
    }
    let extension = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .ok_or_else(|| bad("the certificate presented has no acmeIdentifier extension"))?;
    if !extension.critical {
        return Err(bad("the acmeIdentifier extension must be critical"));
    }
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    // The extension's value is an OCTET STRING of the 32-byte digest.
    let mut expected = vec![0x04, 0x20];
    expected.extend_from_slice(digest.as_ref());
    if extension.value == expected.as_slice() {
        Ok(())
    } else {
        Err(bad(
            "the acmeIdentifier extension does not hold the key authorization's digest",
        ))
    }
}

/// The reverse-mapping DNS name of an IP address (RFC 8738 §6).
fn reverse_name(address: &str) -> Result<String, Problem> {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            let o = ip.octets();
            Ok(format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]))
        }
        Ok(IpAddr::V6(ip)) => {
            let nibbles: Vec<String> = ip
                .octets()
                .iter()
                .rev()
                .flat_map(|b| [b & 0x0f, b >> 4])
                .map(|n| format!("{n:x}"))
                .collect();
            Ok(format!("{}.ip6.arpa", nibbles.join(".")))
        }
        Err(_) => Err(Problem::new(ProblemType::Malformed, "not an IP address")),
    }
}

/// Why a lookup found nothing, in words: the resolver's own text for "no records" is a
/// debugging dump of its query (`Query { name: Name(...), query_type: AAAA, ... }`).
fn lookup_failure(err: &hickory_resolver::net::NetError) -> String {
    if err.is_nx_domain() {
        "the name does not exist in DNS (NXDOMAIN)".to_owned()
    } else if err.is_no_records_found() {
        "the DNS holds no such record for the name".to_owned()
    } else {
        err.to_string()
    }
}

fn dns_problem(name: &str, why: &str) -> Problem {
    Problem::new(ProblemType::Dns, format!("{name}: {why}"))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Checks a handshake signature with the public key of the certificate presented, read
/// without judging the certificate: webpki refuses the critical acmeIdentifier extension that
/// a tls-alpn-01 certificate must carry.
fn verify_with_key_of(
    message: &[u8],
    cert: &rustls_pki_types::CertificateDer<'_>,
    dss: &rustls::DigitallySignedStruct,
) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
    let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let spki = rustls_pki_types::SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
    let key = webpki::RawPublicKeyEntity::try_from(&spki).map_err(|_| bad())?;
    let algorithms =
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    let (_, candidates) = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .ok_or_else(|| {
            rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            )
        })?;
    if candidates
        .iter()
        .any(|alg| key.verify_signature(*alg, message, dss.signature()).is_ok())
    {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    } else {
        Err(bad())
    }
}

/// reqwest's name lookups, through the validator's resolver.
struct Lookup(TokioResolver);

impl reqwest::dns::Resolve for Lookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        let name = format!("{}.", name.as_str().trim_end_matches('.'));
        Box::pin(async move {
            let found = resolver.lookup_ip(name.as_str()).await?;
            let addresses: Vec<SocketAddr> =
                found.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// tls-alpn-01 reads the certificate presented; it does not trust it (RFC 8737 §3).
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        verify_with_key_of(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        use rustls::SignatureScheme as S;
        // TLS 1.3 signs with RSA-PSS, ECDSA or EdDSA only (RFC 8446 §4.2.3).
        if matches!(
            dss.scheme,
            S::RSA_PKCS1_SHA1
                | S::RSA_PKCS1_SHA256
                | S::RSA_PKCS1_SHA384
                | S::RSA_PKCS1_SHA512
                | S::ECDSA_SHA1_Legacy
        ) {
            return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        verify_with_key_of(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_of_addresses() {
        assert_eq!(
            reverse_name("192.0.2.5").ok().as_deref(),
            Some("5.2.0.192.in-addr.arpa")
        );
        let v6 = reverse_name("2001:db8::1").ok().unwrap_or_default();
        assert!(
            v6.starts_with("1.0.0.0.") && v6.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa"),
            "{v6}"
        );
    }
}
