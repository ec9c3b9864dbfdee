//! PKCS#10 certificate requests, as IIS, certreq, OpenSSL and browsers make them.
//!
//! A request is accepted as PEM (`CERTIFICATE REQUEST`, or `NEW CERTIFICATE REQUEST` as IIS
//! writes certreq.txt), as bare base64 with any line breaks, or as DER. Its signature must
//! verify (proof of possession; SHA-1 is accepted for that, never for what the CA signs). Its
//! names come from the subject CN and any requested subjectAltName, through the same rules as
//! names typed on the command line; every other requested extension is ignored, so a request
//! can never make itself a CA. What it asks for that no certificate here carries (subject
//! attributes besides the CN, subjectAltName entries besides DNS names and IP addresses) is
//! left out and named in [`CertificateRequest::left_out_note`], for the caller to show.

use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use tracing::instrument;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::authority::Authority;
use crate::error::{Error, Result};
use crate::issue::{Issued, LeafSpec};
use crate::key::KeyAlgorithm;
use crate::name::{SubjectName, san_texts};
use crate::profile::{Profile, Validity};
use crate::store::{RequestId, RequestSource};

/// How many of the things a request asked for and did not get a note names.
const LEFT_OUT_SHOWN: usize = 5;

/// A subjectAltName entry no certificate of this CA carries, for people; `None` for the DNS
/// names and IP addresses it does.
fn unsupported(name: &x509_parser::extensions::GeneralName<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    /// The otherName Windows puts a user principal name (UPN) in.
    const UPN: &str = "1.3.6.1.4.1.311.20.2.3";
    Some(match name {
        GeneralName::DNSName(_) | GeneralName::IPAddress(_) => return None,
        GeneralName::RFC822Name(email) => format!("email {}", printable(email)),
        GeneralName::URI(uri) => format!("URI {}", printable(uri)),
        GeneralName::OtherName(oid, _) if oid.to_id_string() == UPN => {
            "a Windows user principal name (otherName)".to_owned()
        }
        GeneralName::OtherName(oid, _) => format!("otherName {oid}"),
        GeneralName::DirectoryName(name) => {
            format!("directoryName {}", printable(&name.to_string()))
        }
        GeneralName::RegisteredID(oid) => format!("registeredID {oid}"),
        GeneralName::X400Address(_) => "an X.400 address".to_owned(),
        GeneralName::EDIPartyName(_) => "an EDI party name".to_owned(),
        GeneralName::Invalid(..) => "an entry that cannot be read".to_owned(),
    })
}

/// Text from a request as it may be shown on a terminal or a page: made inert (see
/// [`crate::display::inert`]) and shortened when long.
fn printable(text: &str) -> String {
    crate::display::inert(&crate::display::shortened(text))
}

/// The largest request accepted, in bytes of input (a 16384-bit RSA request is under 6 KiB).
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;

/// A parsed request whose signature verified.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    der: Vec<u8>,
    names: Vec<SubjectName>,
    key_algorithm: KeyAlgorithm,
    public_key: rcgen::SubjectPublicKeyInfo,
    /// Subject attributes other than the CN, as `O=Example Ltd`.
    subject_left_out: Vec<String>,
    /// subjectAltName entries other than DNS names and IP addresses, as
    /// `email admin@example.com`.
    alt_names_left_out: Vec<String>,
    /// Whether it asks to be a CA (basicConstraints cA TRUE).
    asks_ca: bool,
    /// The extended key usages it asks for, as read (serverAuth among them or not).
    usages_asked: Vec<Usage>,
}

/// An extended key usage a request may ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Usage {
    ServerAuth,
    ClientAuth,
    /// Any other, in words or as its OID.
    Other(String),
}

impl Usage {
    /// The usages of `eku`, in the order RFC 5280 lists them.
    fn of(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<Usage> {
        let named = [
            (eku.server_auth, Usage::ServerAuth),
            (eku.client_auth, Usage::ClientAuth),
            (eku.code_signing, Usage::Other("code signing".into())),
            (
                eku.email_protection,
                Usage::Other("email protection".into()),
            ),
            (eku.time_stamping, Usage::Other("time stamping".into())),
            (eku.ocsp_signing, Usage::Other("OCSP signing".into())),
            (eku.any, Usage::Other("any usage".into())),
        ];
        let mut usages: Vec<Usage> = named
            .into_iter()
            .filter(|(asked, _)| *asked)
            .map(|(_, usage)| usage)
            .collect();
        usages.extend(eku.other.iter().map(|oid| Usage::Other(oid.to_id_string())));
        usages
    }
}

/// The most names [`CertificateRequest::names_asked`] reads from a refused request.
pub const NAMES_ASKED: usize = 100;

/// How to sign a request.
#[derive(Clone, Debug)]
pub struct SignOptions {
    pub days: Option<u32>,
    pub allow_internal: bool,
    pub profile: Profile,
    /// Names to add to those of the request (AD CS `san:` attributes).
    pub extra_names: Vec<SubjectName>,
    pub requester: String,
    pub source: RequestSource,
    /// The certificate this one replaces (an ACME order's `replaces`).
    pub renewed_from: Option<RequestId>,
    /// The ACME order this certificate completes.
    pub acme_order: Option<String>,
}

impl CertificateRequest {
    /// Reads a request in any of the accepted encodings and verifies its signature.
    pub fn parse(input: &[u8]) -> Result<Self> {
        let der = decode(input)?;
        let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|_| {
            if x509_parser::parse_x509_certificate(&der).is_ok() {
                Error::InvalidRequest(not_a_request("a certificate"))
            } else {
                Error::InvalidRequest("it is not a PKCS#10 certificate request".into())
            }
        })?;
        if !rest.is_empty() {
            return Err(Error::InvalidRequest(
                "it has bytes after the end of the request".into(),
            ));
        }
        let info = &csr.certification_request_info;
        // The key is checked first: a 1024-bit request would otherwise fail with a signature
        // error that hides the real reason.
        let key_algorithm = KeyAlgorithm::of_public_key(&info.subject_pki)?;
        // Signatures the CA cannot check are named, not reported as altered.
        let unchecked = match csr.signature_algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.113549.1.1.2" | "1.2.840.113549.1.1.3" | "1.2.840.113549.1.1.4" => Some(
                "it is signed with MD2, MD4 or MD5, which are broken and which this CA does not check: make the request again with SHA-256 (openssl req -sha256, or the tool's SHA-256 setting)",
            ),
            "1.2.840.113549.1.1.10" => Some(
                "it is signed with RSA-PSS, which this CA does not check: make the request again with RSA PKCS#1 v1.5 and SHA-256 (openssl req -sha256, without -sigopt rsa_padding_mode:pss; certreq: AlternateSignatureAlgorithm = FALSE in the INF file's [NewRequest])",
            ),
            _ => None,
        };
        if let Some(why) = unchecked {
            return Err(Error::InvalidRequest(why.into()));
        }
        csr.verify_signature()
            .map_err(|_| Error::BadRequestSignature)?;
        let public_key =
            rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(|_| {
                Error::InvalidRequest("its public key is not one the CA can sign".into())
            })?;

        let mut raw_names: Vec<String> = Vec::new();
        let mut subject_left_out: Vec<String> = info
            .subject
            .iter_attributes()
            .filter(|attribute| {
                attribute.attr_type() != &x509_parser::oid_registry::OID_X509_COMMON_NAME
            })
            .map(|attribute| {
                let kind = x509_parser::objects::oid2abbrev(
                    attribute.attr_type(),
                    x509_parser::objects::oid_registry(),
                )
                .map_or_else(|_| attribute.attr_type().to_id_string(), str::to_owned);
                let value = crate::certificate::attribute_text(attribute)
                    .map_or_else(|| "(not text)".into(), |text| printable(&text));
                format!("{kind}={value}")
            })
            .collect();
        // One extension request, whose subjectAltName reads: a second one, or a name list
        // that cannot be read, would otherwise be dropped and the rest issued without it.
        let mut extension_requests = 0;
        for attribute in info.iter_attributes() {
            if attribute.oid != x509_parser::oid_registry::OID_PKCS9_EXTENSION_REQUEST {
                continue;
            }
            extension_requests += 1;
            let readable = match attribute.parsed_attribute() {
                ParsedCriAttribute::ExtensionRequest(requested) => {
                    requested.extensions.iter().all(|extension| {
                        extension.oid != x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME
                            || matches!(
                                extension.parsed_extension(),
                                ParsedExtension::SubjectAlternativeName(_)
                            )
                    })
                }
                _ => false,
            };
            if !readable {
                return Err(Error::InvalidRequest(
                    "its requested extensions (its subjectAltName among them) cannot be read"
                        .into(),
                ));
            }
        }
        if extension_requests > 1 {
            return Err(Error::InvalidRequest(format!(
                "it holds {extension_requests} lists of requested extensions, where a request has one"
            )));
        }
        let mut alt_names_left_out = Vec::new();
        let mut alt_names = Vec::new();
        let mut asks_ca = false;
        let mut usages_asked = Vec::new();
        if let Some(extensions) = csr.requested_extensions() {
            for extension in extensions {
                match extension {
                    ParsedExtension::BasicConstraints(constraints) => asks_ca |= constraints.ca,
                    ParsedExtension::ExtendedKeyUsage(eku) => usages_asked.extend(Usage::of(eku)),
                    ParsedExtension::SubjectAlternativeName(san) => {
                        alt_names_left_out.extend(san.general_names.iter().filter_map(unsupported));
                        alt_names.extend(san_texts(&san.general_names).ok_or_else(|| {
                            Error::InvalidRequest(
                                "it asks for an IP address of a length that is neither IPv4 nor IPv6"
                                    .into(),
                            )
                        })?);
                    }
                    _ => {}
                }
            }
        }
        for cn in info.subject.iter_common_name() {
            let cn = cn.as_str().map_err(|_| {
                Error::InvalidRequest("its subject CN is not a readable string".into())
            })?;
            // A CN with spaces ("Exchange Server 2019", as Exchange's and IIS's wizards let
            // people write) names no host; beside names in the subjectAltName, which are what
            // clients check (RFC 6125 §6.4.4), it is left out like the subject's other
            // attributes. Alone, it is refused for what it is.
            if !alt_names.is_empty() && cn.chars().any(char::is_whitespace) {
                // Named first: of what is left out, it is what its author meant most.
                subject_left_out.insert(0, format!("CN={}", printable(cn)));
            } else {
                raw_names.push(cn.to_owned());
            }
        }
        raw_names.extend(alt_names);
        if raw_names.is_empty() {
            return Err(Error::InvalidRequest(
                "it names no server: put the server's name in the subject CN or a DNS subjectAltName".into(),
            ));
        }
        let names = crate::name::distinct(
            raw_names
                .iter()
                .map(|raw| raw.parse::<SubjectName>())
                .collect::<Result<Vec<_>>>()?,
        );
        Ok(CertificateRequest {
            der,
            names,
            key_algorithm,
            public_key,
            subject_left_out,
            alt_names_left_out,
            asks_ca,
            usages_asked,
        })
    }

    /// The names a request asks for (its CN, its DNS and IP subjectAltNames), read without
    /// judging the request (its key, its signature): for the log's row of a request refused
    /// for one of those, so that an administrator sees what it asked for. Names the rules
    /// refuse are not read; a text that is no request reads none. At most [`NAMES_ASKED`].
    pub fn names_asked(input: &[u8]) -> Vec<SubjectName> {
        let Ok(der) = decode(input) else {
            return Vec::new();
        };
        let Ok((_, csr)) = X509CertificationRequest::from_der(&der) else {
            return Vec::new();
        };
        let mut raw: Vec<String> = csr
            .certification_request_info
            .subject
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        for extension in csr.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = extension {
                raw.extend(san_texts(&san.general_names).unwrap_or_default());
            }
        }
        let mut names =
            crate::name::distinct(raw.iter().filter_map(|raw| raw.parse::<SubjectName>().ok()));
        names.truncate(NAMES_ASKED);
        names
    }

    /// The subjectAltName entries the request asks for that are neither DNS names nor IP
    /// addresses (an email address, a URI, a Windows user principal name...), for people.
    pub fn alt_names_left_out(&self) -> &[String] {
        &self.alt_names_left_out
    }

    /// What the request asks for that the certificate will not carry, in a sentence, or
    /// `None` when it carries everything asked: subject attributes other than the CN, and
    /// subjectAltName entries other than DNS names and IP addresses. A server certificate
    /// holds names only (its subject is its first name), so these are left out; saying so
    /// beats leaving them out unseen.
    pub fn left_out_note(&self) -> Option<String> {
        let all: Vec<&str> = self
            .subject_left_out
            .iter()
            .chain(&self.alt_names_left_out)
            .map(String::as_str)
            .collect();
        (!all.is_empty()).then(|| {
            format!(
                "the request also asked for {}, which no certificate of this CA carries (it holds DNS names and IP addresses, with the first DNS name as its subject): left out",
                a_few(&all)
            )
        })
    }

    /// Whether the request asks for TLS client authentication (extendedKeyUsage clientAuth).
    pub fn asks_client_auth(&self) -> bool {
        self.usages_asked.contains(&Usage::ClientAuth)
    }

    /// What the request asks its certificate to be for that a certificate of `profile` is
    /// not, in a sentence, or `None`: to be a CA, or usages other than the profile's. A
    /// certificate of this CA is a server's (CA:FALSE); saying so beats dropping them unseen.
    pub fn usage_note(&self, profile: Profile) -> Option<String> {
        let mut asked = Vec::new();
        if self.asks_ca {
            asked.push("to be a CA (basicConstraints CA:TRUE)".to_owned());
        }
        let usages: Vec<&str> = self
            .usages_asked
            .iter()
            .filter_map(|usage| match usage {
                Usage::ServerAuth => None,
                Usage::ClientAuth => {
                    (profile != Profile::ServerAndClient).then_some("TLS client authentication")
                }
                Usage::Other(name) => Some(name.as_str()),
            })
            .collect();
        if !usages.is_empty() {
            asked.push(format!("for {}", a_few(&usages)));
        }
        (!asked.is_empty()).then(|| {
            format!(
                "the request also asked {}, which this certificate is not: it is a server's ({}, CA:FALSE)",
                asked.join(" and "),
                profile.usages_named()
            )
        })
    }

    /// DER of the request.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The names asked for: the CN first, then the subjectAltName entries.
    pub fn names(&self) -> &[SubjectName] {
        &self.names
    }

    /// The subjectPublicKey bits of the key the request is for.
    pub(crate) fn public_key_bits(&self) -> &[u8] {
        use rcgen::PublicKeyData;
        self.public_key.der_bytes()
    }

    /// The algorithm of the request's key.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }
}

impl Authority {
    /// Signs a verified request under the name rules and records it like any issuance.
    #[instrument(skip_all)]
    pub async fn sign_request(
        &self,
        request: &CertificateRequest,
        options: SignOptions,
    ) -> Result<Issued> {
        self.sign_request_for(request, &options, None, &options.requester)
            .await
    }

    /// Refuses a request for the root's own key: a server's certificate with the CA's key
    /// carries the root's key identifier, and a client looking for the issuer by key
    /// identifier may take it for the root. (A key of a certificate revoked for keyCompromise
    /// is refused as the certificate is written, in the same transaction.)
    pub(crate) fn refuse_the_roots_key(&self, request: &CertificateRequest) -> Result<()> {
        if crate::key::same_key(request.public_key_bits(), self.root().public_key_bits()) {
            return Err(Error::InvalidRequest(
                "its key is the root's own: a CA's key is never certified for a server; make the request with a new key".into(),
            ));
        }
        Ok(())
    }

    /// Signs `request`, answering the pending request `pending` when there is one.
    pub(crate) async fn sign_request_for(
        &self,
        request: &CertificateRequest,
        options: &SignOptions,
        pending: Option<RequestId>,
        decided_by: &str,
    ) -> Result<Issued> {
        let mut names = request.names.clone();
        names.extend(options.extra_names.iter().cloned());
        let names = self.check_names(&names, options.allow_internal)?;
        self.refuse_the_roots_key(request)?;
        let validity = Validity::leaf(
            options.days,
            self.root().not_after(),
            OffsetDateTime::now_utc(),
        )?;
        let spec = LeafSpec {
            names: &names,
            validity,
            profile: options.profile,
            key_algorithm: request.key_algorithm,
            requester: &options.requester,
            source: options.source,
            csr_der: Some(&request.der),
            renewed_from: options.renewed_from,
            pending_request: pending,
            acme_order: options.acme_order.as_deref(),
            decided_by,
        };
        let mut issued = self.sign_leaf(&spec, &request.public_key).await?;
        let notes: Vec<String> = [request.left_out_note(), request.usage_note(options.profile)]
            .into_iter()
            .flatten()
            .collect();
        issued.left_out = (!notes.is_empty()).then(|| notes.join("; "));
        Ok(issued)
    }
}

/// DER from PEM, bare base64 or DER input.
/// UTF-16 text (after its byte order mark), its units read by `unit`.
fn from_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String> {
    let refused = || Error::InvalidRequest("it is UTF-16 text that does not decode".into());
    if !bytes.len().is_multiple_of(2) {
        return Err(refused());
    }
    char::decode_utf16(bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]])))
        .collect::<std::result::Result<String, _>>()
        .map_err(|_| refused())
}

fn decode(input: &[u8]) -> Result<Vec<u8>> {
    if input.len() > MAX_REQUEST_SIZE {
        return Err(Error::InvalidRequest(format!(
            "it is larger than {} KiB, far more than any certificate request",
            MAX_REQUEST_SIZE / 1024
        )));
    }
    // Text saved by Windows tools: Notepad's UTF-8 with a byte order mark, PowerShell's
    // `>` and Out-File (Windows PowerShell 5) UTF-16 with one.
    let utf16;
    let input = match input {
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest,
        [0xFF, 0xFE, rest @ ..] => {
            utf16 = from_utf16(rest, u16::from_le_bytes)?;
            utf16.as_bytes()
        }
        [0xFE, 0xFF, rest @ ..] => {
            utf16 = from_utf16(rest, u16::from_be_bytes)?;
            utf16.as_bytes()
        }
        _ => input,
    };
    // DER starts with a SEQUENCE tag, 0x30, which no PEM or base64 text starts with: it is
    // taken as it is, since its last byte may well be 0x09, 0x0A, 0x0D or 0x20.
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    if input.trim_ascii().is_empty() {
        return Err(Error::InvalidRequest("the input is empty".into()));
    }
    // Trailing spaces stay for the lines below to judge: one may be a '+' a form post decoded.
    let trimmed = input.trim_ascii_start();
    let end = trimmed
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n' | b'\t' | 0x0b | 0x0c))
        .map_or(0, |last| last + 1);
    let trimmed = &trimmed[..end];
    let text = std::str::from_utf8(trimmed)
        .map_err(|_| Error::InvalidRequest("it is neither PEM, base64 nor DER".into()))?;
    // IIS and certreq label the block "NEW CERTIFICATE REQUEST"; RFC 7468 says
    // "CERTIFICATE REQUEST". Bare base64 (the AD CS web form's textarea) gets the standard
    // armour, so one PEM reader handles all three, CRLF line ends included.
    // Base64 has no spaces: a space inside a line is a '+' that a form post decoded as one
    // (a request pasted into a script without URL-encoding). So are the spaces that begin or
    // end a line when they complete its last group of four characters (a '+' that began or
    // ended the line, one line in 32); others are the editor's, and go.
    let text: String = text
        .lines()
        .map(|line| {
            let line = line.trim_matches(['\r', '\t']);
            if line.trim_start().starts_with("-----") {
                return line.trim().to_owned();
            }
            let lead = line.len() - line.trim_start_matches(' ').len();
            let trail = line.len() - line.trim_end_matches(' ').len();
            let core = line.trim_matches(' ').replace(' ', "+");
            let plus = |count: usize| "+".repeat(count);
            let whole = |n: usize| (core.len() + n).is_multiple_of(4);
            if core.is_empty() || whole(0) {
                core
            } else if whole(lead + trail) {
                plus(lead) + &core + &plus(trail)
            } else if whole(trail) {
                core + &plus(trail)
            } else if whole(lead) {
                plus(lead) + &core
            } else {
                core
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let pem = if text.contains("-----BEGIN") {
        text.replace("NEW CERTIFICATE REQUEST-----", "CERTIFICATE REQUEST-----") + "\n"
    } else {
        let body: String = text.split_ascii_whitespace().collect();
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            lines.join("\n")
        )
    };
    // One request at a time: of two pasted one after the other, one would be signed and
    // the other dropped unseen. Besides a second block, text around the block that reads
    // like a request (a line of base64, armour in any case or length) is refused; a text
    // dump such as `openssl req -text` writes before the block is not.
    let count = pem.matches("-----BEGIN CERTIFICATE REQUEST-----").count();
    if count > 1 {
        return Err(Error::InvalidRequest(format!(
            "it holds {count} certificate requests: give one at a time"
        )));
    }
    if count == 1 {
        let start = pem
            .find("-----BEGIN CERTIFICATE REQUEST-----")
            .unwrap_or_default();
        let end = pem[start..]
            .find("-----END CERTIFICATE REQUEST-----")
            .map_or(pem.len(), |at| {
                start + at + "-----END CERTIFICATE REQUEST-----".len()
            });
        let looks_like_a_request = |line: &str| {
            let line = line.trim();
            let upper = line.to_ascii_uppercase();
            let armour = line.contains("--") && (upper.contains("BEGIN") || upper.contains("END"));
            let base64 = line.len() >= 40
                && line
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            armour || base64
        };
        if pem[..start]
            .lines()
            .chain(pem[end..].lines())
            .any(looks_like_a_request)
        {
            return Err(Error::InvalidRequest(
                "it holds more than the one PEM block of a request (a second request in another form, or armour of its own): give one request alone".into(),
            ));
        }
    }
    CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.as_ref().to_vec())
        .map_err(|err| match err {
            rustls_pki_types::pem::Error::NoItemsFound => Error::InvalidRequest(other_pem(&pem)),
            _ => Error::InvalidRequest("its base64 is damaged".into()),
        })
}

/// Why PEM input without a request's block is no request: what it holds instead, when it is a
/// certificate or a key (given by mistake for the request they belong with).
fn other_pem(pem: &str) -> String {
    let label = pem
        .lines()
        .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .and_then(|rest| rest.strip_suffix("-----"));
    let what = match label {
        Some("CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE") => "a certificate",
        Some("PKCS7") => "a PKCS#7 file of certificates",
        Some(label) if label.ends_with("PRIVATE KEY") => "a private key",
        Some("PUBLIC KEY") => "a public key",
        Some("X509 CRL") => "a CRL",
        _ => return "no CERTIFICATE REQUEST block was found in the PEM input".into(),
    };
    not_a_request(what)
}

/// The first [`LEFT_OUT_SHOWN`] of `items`, and how many more there are: `a, b and 3 more`.
fn a_few(items: &[&str]) -> String {
    let shown = items[..items.len().min(LEFT_OUT_SHOWN)].join(", ");
    match items.len().saturating_sub(LEFT_OUT_SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// That the input is `what` (a certificate, a key), not a request.
fn not_a_request(what: &str) -> String {
    format!(
        "it is {what}, not a certificate request: give the request (CSR) the server made, a .csr or .req file whose PEM block is CERTIFICATE REQUEST"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A request asking for thousands of usages gets a note of a few, and a count.
    #[test]
    fn the_usage_note_names_a_few_usages_and_counts_the_rest() {
        let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).unwrap();
        params.extended_key_usages = (1..=300u64)
            .map(|n| rcgen::ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 4, 1, 99999, n]))
            .collect();
        let der = params.serialize_request(&pair).unwrap().der().to_vec();
        let note = CertificateRequest::parse(&der)
            .unwrap()
            .usage_note(Profile::Server)
            .unwrap();
        assert!(
            note.contains("for 1.3.6.1.4.1.99999.1, ") && note.contains(" and 295 more, which"),
            "{note}"
        );
        assert!(note.len() < 400, "{note}");
    }

    /// A certificate or a key given for a request is named as what it is.
    #[test]
    fn a_certificate_or_key_given_for_a_request_is_named() {
        let (_, csr) = request(&["mail.example.com"], KeyAlgorithm::EcdsaP256);
        let certificate = csr.replace("CERTIFICATE REQUEST", "CERTIFICATE");
        let key = csr.replace("CERTIFICATE REQUEST", "EC PRIVATE KEY");
        for (pem, what) in [(certificate, "a certificate"), (key, "a private key")] {
            let err = CertificateRequest::parse(pem.as_bytes()).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("it is {what}, not a certificate request")),
                "{err}"
            );
        }
        let issued = rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()])
            .unwrap()
            .self_signed(&KeyAlgorithm::EcdsaP256.generate().unwrap())
            .unwrap();
        let err = CertificateRequest::parse(issued.der()).unwrap_err();
        assert!(
            err.to_string()
                .contains("it is a certificate, not a certificate request"),
            "DER: {err}"
        );
        let other = csr.replace("CERTIFICATE REQUEST", "SOMETHING");
        let err = CertificateRequest::parse(other.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("no CERTIFICATE REQUEST block"),
            "{err}"
        );
    }

    fn request(names: &[&str], alg: KeyAlgorithm) -> (Vec<u8>, String) {
        let pair = alg.generate().unwrap();
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let csr = params.serialize_request(&pair).unwrap();
        (csr.der().to_vec(), csr.pem().unwrap())
    }

    /// The note reads the string types Windows writes (BMPString, UniversalString) and shows
    /// no mark that reorders, hides or breaks a line.
    #[test]
    fn the_note_reads_every_string_type_and_shows_no_hidden_mark() {
        let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let dn = &mut params.distinguished_name;
        dn.push(rcgen::DnType::CommonName, "mail.example.com");
        dn.push(
            rcgen::DnType::OrganizationName,
            rcgen::DnValue::BmpString("Bücher GmbH".try_into().unwrap()),
        );
        dn.push(
            rcgen::DnType::OrganizationalUnitName,
            rcgen::DnValue::UniversalString("IT".try_into().unwrap()),
        );
        dn.push(
            rcgen::DnType::LocalityName,
            "a\u{202e}gnp.exe\u{200b}\u{2028}x\u{feff}",
        );
        let der = params.serialize_request(&pair).unwrap().der().to_vec();
        let note = CertificateRequest::parse(&der)
            .unwrap()
            .left_out_note()
            .unwrap();
        assert!(
            note.starts_with(
                "the request also asked for O=Bücher GmbH, OU=IT, L=a\\u{202e}gnp.exe\\u{200b}\\u{2028}x\\u{feff}, which"
            ),
            "{note}"
        );
    }

    /// A '+' that ends the base64, or begins or ends a line of it, is read back from the space a
    /// form post decoded it as (one request in a hundred or so ends a line with one), while
    /// spaces an editor left around a whole line go.
    #[test]
    fn a_plus_decoded_as_a_space_at_the_end_of_a_line_is_read_back() {
        let bytes = [&[0x30, 0x2e][..], &[0; 45], &[0x3e]].concat();
        let line = "MC4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+";
        let pem = |line: &str| {
            format!(
                "-----BEGIN CERTIFICATE REQUEST-----\n{line}\n-----END CERTIFICATE REQUEST-----\n"
            )
        };
        let spaced = line.replace('+', " ");
        for input in [
            pem(line),
            pem(&spaced),
            pem(&format!("{line}   ")),
            spaced.clone(),
            format!("{spaced}\r\n"),
            format!("  {line}  \n  "),
        ] {
            assert_eq!(decode(input.as_bytes()).expect(&input), bytes, "{input:?}");
        }
        assert_eq!(decode(b"MAE ").expect("MAE "), [0x30, 0x01, 0x3e]);
        // A second line that begins with a '+'.
        let bytes = [&[0x30, 0x5e][..], &[0; 46], &[0xf8, 0, 0]].concat();
        let first = format!("MF4{}", "A".repeat(61));
        for second in ["+AAA", " AAA", " AAA  "] {
            let input = pem(&format!("{first}\n{second}"));
            assert_eq!(decode(input.as_bytes()).expect(&input), bytes, "{input:?}");
        }
    }

    #[test]
    fn reads_pem_new_label_bare_base64_with_crlf_and_der() {
        let (der, pem) = request(&["mail.example.com"], KeyAlgorithm::EcdsaP256);
        let new_label = pem
            .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
            .replace('\n', "\r\n");
        let bare: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let one_line: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let plus_as_space = one_line.replace('+', " ");
        // Saved by Notepad (UTF-8 with a byte order mark) and PowerShell (UTF-16, either way).
        let utf8_bom = [b"\xEF\xBB\xBF".as_slice(), new_label.as_bytes()].concat();
        let utf16 = |le: bool| -> Vec<u8> {
            let mut bytes = if le {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            for unit in new_label.encode_utf16() {
                bytes.extend(if le {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            bytes
        };
        let (utf16_le, utf16_be) = (utf16(true), utf16(false));
        for input in [
            pem.as_bytes(),
            new_label.as_bytes(),
            bare.as_bytes(),
            one_line.as_bytes(),
            plus_as_space.as_bytes(),
            &utf8_bom,
            &utf16_le,
            &utf16_be,
            &der,
        ] {
            let parsed = CertificateRequest::parse(input).unwrap();
            assert_eq!(parsed.der(), der.as_slice());
            assert_eq!(
                parsed.names(),
                &["mail.example.com".parse::<SubjectName>().unwrap()]
            );
        }
        // UTF-16 cut in the middle of a unit, or with a lone surrogate: said so.
        for input in [
            &utf16_le[..utf16_le.len() - 1],
            &[0xFF, 0xFE, 0x00, 0xD8][..],
        ] {
            let refused = CertificateRequest::parse(input).unwrap_err().to_string();
            assert!(
                refused.contains("UTF-16 text that does not decode"),
                "{refused}"
            );
        }
    }

    #[test]
    fn reads_der_whose_last_byte_looks_like_whitespace() {
        // Make requests until one's DER ends in a byte that trimming would have removed.
        let mut found = 0;
        for _ in 0..2000 {
            let (der, _) = request(&["mail.example.com"], KeyAlgorithm::EcdsaP256);
            if matches!(der.last(), Some(0x09 | 0x0a | 0x0c | 0x0d | 0x20)) {
                assert_eq!(
                    CertificateRequest::parse(&der).unwrap().der(),
                    der.as_slice()
                );
                found += 1;
                if found == 3 {
                    return;
                }
            }
        }
        panic!("no request ended in a whitespace byte in 2,000 tries");
    }

    #[test]
    fn refuses_garbage_and_empty_input() {
        for input in [
            &b""[..],
            b"   \n",
            b"hello world",
            b"\x30\x03\x02\x01\x01",
            b"-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n",
        ] {
            assert!(
                matches!(
                    CertificateRequest::parse(input),
                    Err(Error::InvalidRequest(_))
                ),
                "{input:?}"
            );
        }
        assert!(CertificateRequest::parse(&vec![b'A'; MAX_REQUEST_SIZE + 1]).is_err());
    }

    #[test]
    fn refuses_a_request_whose_signature_does_not_verify() {
        let (mut der, _) = request(&["mail.example.com"], KeyAlgorithm::EcdsaP256);
        // Flip a byte of the CN inside the signed part.
        let at = der.windows(4).position(|w| w == b"mail").unwrap();
        der[at] = b'n';
        assert!(matches!(
            CertificateRequest::parse(&der),
            Err(Error::BadRequestSignature)
        ));
    }

    #[test]
    fn refuses_two_requests_given_as_one() {
        let (_, first) = request(&["a.example.com"], KeyAlgorithm::EcdsaP256);
        let (_, second) = request(&["b.example.com"], KeyAlgorithm::EcdsaP256);
        let both = format!("{first}{second}");
        let err = CertificateRequest::parse(both.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("2 certificate requests"), "{err}");
        assert!(CertificateRequest::parse(first.as_bytes()).is_ok());
        // The other one in another form, before or after the block.
        let bare = |pem: &str| -> String {
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        for hidden in [
            format!("{}\n{second}", bare(&first)),
            format!("{first}{}\n", bare(&second)),
            format!("{}{second}", first.replace("CERTIFICATE REQUEST", "X")),
            format!("{}{second}", first.to_lowercase()),
            format!("{}{second}", first.replace("-----", "----")),
        ] {
            let err = CertificateRequest::parse(hidden.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("more than the one PEM block"),
                "{hidden}: {err}"
            );
        }
        // A text dump before the block, as `openssl req -text` writes it, is no request.
        let dumped = format!(
            "Certificate Request:\n    Data:\n        Subject: CN = a.example.com\n                    04:2b:9c:11:aa:0f\n{first}"
        );
        assert!(CertificateRequest::parse(dumped.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_a_subject_alt_name_that_cannot_be_read() {
        let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mail.example.com");
        // A subjectAltName whose content is an OCTET STRING, not a list of names.
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[2, 5, 29, 17],
                vec![0x04, 0x01, 0x00],
            ));
        let der = params.serialize_request(&pair).unwrap();
        let err = CertificateRequest::parse(der.der()).unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }

    #[test]
    fn reads_the_names_a_refused_request_asked_for() {
        let (mut der, _) = request(
            &["mail.example.com", "owa.example.com"],
            KeyAlgorithm::EcdsaP256,
        );
        // Its signature no longer verifies: refused, yet its names read.
        let at = der.windows(4).position(|w| w == b"mail").unwrap();
        der[at] = b'n';
        assert!(CertificateRequest::parse(&der).is_err());
        let asked: Vec<String> = CertificateRequest::names_asked(&der)
            .iter()
            .map(ToString::to_string)
            .collect();
        // The CN (changed) first, then the subjectAltNames.
        assert_eq!(
            asked,
            ["nail.example.com", "mail.example.com", "owa.example.com"]
        );
        for garbage in [
            &b"not a request"[..],
            b"",
            &[0x30, 0x82, 0xff, 0xff],
            &der[..20],
        ] {
            assert!(CertificateRequest::names_asked(garbage).is_empty());
        }
    }

    #[test]
    fn takes_names_from_cn_and_san_through_the_name_rules() {
        let (der, _) = request(
            &["Mail.Example.com", "owa.example.com", "192.0.2.7"],
            KeyAlgorithm::EcdsaP256,
        );
        let parsed = CertificateRequest::parse(&der).unwrap();
        let shown: Vec<String> = parsed.names().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["mail.example.com", "owa.example.com", "192.0.2.7"]);
        let (der, _) = request(&["*.com"], KeyAlgorithm::EcdsaP256);
        assert!(matches!(
            CertificateRequest::parse(&der),
            Err(Error::NameRefused { .. })
        ));
    }

    /// A CN that is no host name ("Exchange Server 2019") beside names in the
    /// subjectAltName is left out with a word; alone, it is refused.
    #[test]
    fn a_cn_with_spaces_beside_alt_names_is_left_out_and_said() {
        let with_cn = |cn: &str, alt_names: &[&str]| {
            let pair = KeyAlgorithm::EcdsaP256.generate().unwrap();
            let mut params = rcgen::CertificateParams::new(
                alt_names
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            CertificateRequest::parse(params.serialize_request(&pair).unwrap().der())
        };
        let parsed = with_cn(
            "Exchange Server 2019",
            &["mail.example.com", "owa.example.com"],
        )
        .unwrap();
        let shown: Vec<String> = parsed.names().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["mail.example.com", "owa.example.com"]);
        let note = parsed.left_out_note().unwrap();
        assert!(note.contains("CN=Exchange Server 2019"), "{note}");
        assert!(matches!(
            with_cn("Exchange Server 2019", &[]),
            Err(Error::NameRefused { .. })
        ));
        // A CN that could be a host name stays a name asked for, for the rules to judge.
        let kept = with_cn("mail", &["mail.example.com"]).unwrap();
        let shown: Vec<String> = kept.names().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["mail", "mail.example.com"]);
    }
}
