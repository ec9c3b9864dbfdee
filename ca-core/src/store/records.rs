//! What the log holds, as the rest of the authority sees it: requests, certificates and their
//! revocations, users.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::certificate::{Fingerprint, SerialNumber};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::key::KeyAlgorithm;
use crate::name::SubjectName;
use crate::revoke::Revocation;
use crate::status::StatusCode;

/// A request id: the log's sequential number for a request and the certificate issued for it
/// (AD CS "ReqID"), a positive integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(i64);

impl RequestId {
    /// The id as the log stores it.
    pub fn get(self) -> i64 {
        self.0
    }

    /// An id read from the log, which only ever hands out positive ones.
    pub(crate) fn from_log(id: i64) -> Result<Self> {
        if id > 0 {
            Ok(RequestId(id))
        } else {
            Err(crate::error::StoreError::Corrupt(format!("request id {id}")).into())
        }
    }
}

impl FromStr for RequestId {
    type Err = Error;

    /// Reads a request id as people and scripts write it: decimal digits, nothing else.
    fn from_str(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        trimmed
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && trimmed.bytes().all(|b| b.is_ascii_digit()))
            .map(RequestId)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{} is not a request id: a request id is a positive number",
                    crate::display::quoted(trimmed)
                ))
            })
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A certificate named by its request id, its serial number, or its thumbprint, as commands
/// take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateRef {
    Id(RequestId),
    Serial(SerialNumber),
    /// 40 hex digits: a serial number of 20 octets, or the SHA-1 digest of a certificate's
    /// DER (the thumbprint Windows shows, in the certificate's details, IIS's bindings and
    /// `Cert:\` in PowerShell). The serial is looked for first.
    SerialOrSha1(SerialNumber, [u8; 20]),
    /// 39 or 41 hex digits: a serial number, or a thumbprint copied a digit short or long (63
    /// or 65, too many for a serial number, are refused as that). The digits are kept as
    /// typed (lowercase, without separators), leading zeros included, so that what was not
    /// found can be shown as it was typed and told apart.
    NearThumbprint(SerialNumber, String),
    /// 64 hex digits: the SHA-256 digest of a certificate's DER (`openssl x509 -fingerprint
    /// -sha256`), longer than any serial number.
    Sha256([u8; 32]),
}

impl FromStr for CertificateRef {
    type Err = Error;

    /// Digits (at most 15 of them) are a request id; 40 hex digits a serial number or a SHA-1
    /// thumbprint, 64 a SHA-256 one; anything else is read as a serial number in hex (colons
    /// and spaces between octets allowed throughout).
    fn from_str(text: &str) -> Result<Self> {
        let visible = crate::certificate::without_invisible(text);
        let trimmed = visible.trim();
        if !trimmed.is_empty() && trimmed.len() <= 15 && trimmed.bytes().all(|b| b.is_ascii_digit())
        {
            return trimmed.parse().map(CertificateRef::Id);
        }
        // Windows copies a thumbprint with no-break spaces or tabs between octets, too.
        let digits: String = trimmed
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        if let Some(digest) = digest_of::<32>(digits.as_bytes()) {
            return Ok(CertificateRef::Sha256(digest));
        }
        let neither = |_| {
            Error::InvalidInput(format!(
                "{} is neither a request id (digits), a serial number (hex) nor a thumbprint (40 or 64 hex digits)",
                crate::display::quoted(trimmed)
            ))
        };
        // Hex digits alone (no `0x`), a thumbprint's number of them but for one.
        let near_a_thumbprint = matches!(digits.len(), 39 | 41 | 63 | 65)
            && digits.bytes().all(|b| b.is_ascii_hexdigit());
        Ok(match digest_of::<20>(digits.as_bytes()) {
            Some(digest) => CertificateRef::SerialOrSha1(digits.parse().map_err(neither)?, digest),
            None if near_a_thumbprint => match digits.parse() {
                Ok(serial) => CertificateRef::NearThumbprint(serial, digits.to_ascii_lowercase()),
                Err(_) => {
                    return Err(Error::InvalidInput(format!(
                        "{} has {} hex digits, too many for a serial number: a thumbprint (40 or 64 hex digits) copied a digit short or long? Check that it was copied whole",
                        crate::display::quoted(trimmed),
                        digits.len()
                    )));
                }
            },
            None => CertificateRef::Serial(trimmed.parse().map_err(neither)?),
        })
    }
}

/// The `N` octets that `digits` (ASCII) write in hex, when they are exactly that.
fn digest_of<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut digest = [0; N];
    for (octet, pair) in digest.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *octet = u8::try_from(high * 16 + low).ok()?;
    }
    Some(digest)
}

/// Where a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RequestSource {
    /// Issued by a person at the command line: the CA made the key.
    Cli,
    /// A PKCS#10 request signed at the command line.
    Csr,
    /// Made on the web pages: a request submitted there, or a certificate and key an
    /// administrator had the CA make there (certrqma.asp).
    Web,
    /// A renewal of an earlier certificate.
    Renewal,
    /// An ACME order (RFC 8555).
    Acme,
}

impl Choice for RequestSource {
    const WHAT: &'static str = "source";
    const ALL: &'static [Self] = &[
        RequestSource::Cli,
        RequestSource::Csr,
        RequestSource::Web,
        RequestSource::Renewal,
        RequestSource::Acme,
    ];

    fn name(self) -> &'static str {
        match self {
            RequestSource::Cli => "cli",
            RequestSource::Csr => "csr",
            RequestSource::Web => "web",
            RequestSource::Renewal => "renewal",
            RequestSource::Acme => "acme",
        }
    }
}

impl fmt::Display for RequestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Status {
    Valid,
    Revoked,
    Expired,
    Pending,
    Denied,
}

impl Choice for Status {
    const WHAT: &'static str = "status";
    const ALL: &'static [Self] = &[
        Status::Valid,
        Status::Revoked,
        Status::Expired,
        Status::Pending,
        Status::Denied,
    ];

    fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Denied => "denied",
            Status::Valid => "valid",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
        }
    }
}

impl Status {
    /// The name used by people and in JSON.
    pub fn name(self) -> &'static str {
        Choice::name(self)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A certificate as the log holds it.
#[derive(Clone, Debug)]
pub struct CertificateRecord {
    pub serial: SerialNumber,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_algorithm: KeyAlgorithm,
    pub sha256: Fingerprint,
    /// The DER; empty in lists, which never need it.
    pub der: Vec<u8>,
    pub revocation: Option<Revocation>,
    /// The certificate this one renews.
    pub renewed_from: Option<RequestId>,
    /// The first certificate that renews this one (a renewal from the command line or the pages, an
    /// ACME order that replaces it).
    pub renewed_by: Option<RequestId>,
    /// Whether a certificate later in its line of renewals carries it on (not revoked, and valid
    /// at least as long): then its expiry needs no one's attention. A certificate whose
    /// renewals were all revoked, or end before it, is still the one its server holds.
    pub renewal_in_force: bool,
}

/// One row of the log: a request and, once issued, its certificate.
#[derive(Clone, Debug)]
pub struct Issuance {
    /// The request id (AD CS "ReqID"), also the certificate's id.
    pub id: RequestId,
    pub requested_at: OffsetDateTime,
    pub requester: String,
    pub source: RequestSource,
    /// The names asked for (for an issued certificate: its SAN entries).
    pub names: Vec<SubjectName>,
    pub disposition: String,
    /// The code the outcome was recorded with (see [`crate::status::StatusCode`]).
    pub status_code: StatusCode,
    pub status: Status,
    pub certificate: Option<CertificateRecord>,
}

/// Who the log names as the requester of the certificates the CA's own web server presents.
pub const SERVER_REQUESTER: &str = "ca serve";
/// Who the log names as the requester of responder certificates.
pub const RESPONDER_REQUESTER: &str = "ca ocsp";

/// The certificates the CA made for its own use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnCertificate {
    /// What the CA's own web server presents on HTTPS.
    Server,
    /// The OCSP responder's, which signs the answers about every other certificate.
    OcspResponder,
}

impl Issuance {
    /// Which of the CA's own certificates this is, if it is one.
    pub fn own(&self) -> Option<OwnCertificate> {
        match self.requester.as_str() {
            SERVER_REQUESTER => Some(OwnCertificate::Server),
            RESPONDER_REQUESTER => Some(OwnCertificate::OcspResponder),
            _ => None,
        }
    }

    /// Whole days until the certificate expires (0 on its last day), for a certificate that
    /// is valid and expires within `days`; `None` otherwise.
    /// A certificate whose line a renewal in force carries on, and the OCSP responder's (which
    /// the server renews itself), are never expiring in this sense: nothing is left to do about
    /// them.
    pub fn expires_within(&self, days: u32, now: OffsetDateTime) -> Option<i64> {
        let cert = self.certificate.as_ref()?;
        if self.status != Status::Valid
            || cert.renewal_in_force
            || self.own() == Some(OwnCertificate::OcspResponder)
        {
            return None;
        }
        let left = (cert.not_after - now).whole_days();
        (left < i64::from(days)).then_some(left)
    }

    /// The outcome as AD CS's view of its database words it (certutil's "Request
    /// Disposition"): "Revoked" once the certificate is revoked (the row keeps the "Issued" it
    /// was decided with; the revocation is a row of its own), else as recorded.
    pub fn disposition_shown(&self) -> &str {
        let revoked = self
            .certificate
            .as_ref()
            .is_some_and(|cert| cert.revocation.is_some());
        if revoked && self.disposition == "Issued" {
            "Revoked"
        } else {
            &self.disposition
        }
    }

    /// The names as people read them (U-labels), joined by commas.
    pub fn names_shown(&self) -> String {
        self.names
            .iter()
            .map(SubjectName::shown)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The names as certificates carry them (A-labels).
    pub fn name_texts(&self) -> Vec<String> {
        self.names.iter().map(ToString::to_string).collect()
    }

    /// The columns of this row that say something its certificate's own DER does not: its
    /// `serial`, `not_before`, `not_after`, `names` (the subjectAltName entries) or `sha256`
    /// (or `der` when the DER does not parse). Empty when the row agrees, or has no
    /// certificate. The row must have been read with its DER.
    ///
    /// The columns are what commands search, list and revoke by; the DER is what the root
    /// signed. A log altered after issuance (a serial changed so that a revocation names a
    /// certificate that was never issued, a date moved) shows here.
    pub fn disagreements(&self) -> Vec<&'static str> {
        let Some(cert) = &self.certificate else {
            return Vec::new();
        };
        let parsed = match x509_parser::parse_x509_certificate(&cert.der) {
            Ok(([], parsed)) => parsed,
            _ => return vec!["der"],
        };
        let mut fields = Vec::new();
        let trimmed =
            |bytes: &[u8]| -> Vec<u8> { bytes.iter().copied().skip_while(|b| *b == 0).collect() };
        if trimmed(parsed.tbs_certificate.raw_serial()) != trimmed(cert.serial.as_bytes()) {
            fields.push("serial");
        }
        let validity = parsed.validity();
        if validity.not_before.timestamp() != cert.not_before.unix_timestamp() {
            fields.push("not_before");
        }
        if validity.not_after.timestamp() != cert.not_after.unix_timestamp() {
            fields.push("not_after");
        }
        let mut in_der = match parsed.subject_alternative_name() {
            Ok(Some(san)) => crate::name::san_texts(&san.value.general_names),
            Ok(None) => Some(Vec::new()),
            Err(_) => None,
        };
        let mut in_row = self.name_texts();
        in_row.sort();
        if let Some(names) = in_der.as_mut() {
            names.sort();
        }
        if in_der.as_ref() != Some(&in_row) {
            fields.push("names");
        }
        if Fingerprint::of(&cert.der) != cert.sha256 {
            fields.push("sha256");
        }
        fields
    }

    /// [`Issuance::disagreements`] as an error: [`Error::LogAltered`] when there are any.
    pub(crate) fn agrees_with_its_certificate(&self) -> Result<()> {
        let fields = self.disagreements();
        if fields.is_empty() {
            Ok(())
        } else {
            Err(Error::LogAltered {
                id: self.id.get(),
                fields: fields.join(", "),
            })
        }
    }
}

/// A certificate to be written to the log together with the request it answers.
#[derive(Debug)]
pub struct NewIssuance<'a> {
    pub requester: &'a str,
    pub source: RequestSource,
    pub names: &'a [SubjectName],
    pub csr_der: Option<&'a [u8]>,
    pub serial: &'a SerialNumber,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_algorithm: KeyAlgorithm,
    pub sha256: Fingerprint,
    pub der: &'a [u8],
    pub renewed_from: Option<RequestId>,
    /// The pending request this certificate answers; `None` records a new request with it.
    pub pending_request: Option<RequestId>,
    /// The ACME order this certificate completes: it becomes valid in the same transaction.
    pub acme_order: Option<&'a str>,
    /// Who decided to issue (the requester itself when the policy issued at once).
    pub decided_by: &'a str,
    /// The subjectPublicKey bits of a key its holder made (a request's): refused, in the
    /// write's transaction, when a certificate revoked for keyCompromise had it.
    pub holder_key: Option<&'a [u8]>,
}

/// A submission that was refused, to be recorded as a denied request.
#[derive(Debug)]
pub struct Refusal<'a> {
    pub requester: &'a str,
    pub source: RequestSource,
    /// The names asked for, when they could be read.
    pub names: &'a [SubjectName],
    /// The request's DER, when it could be read.
    pub csr_der: Option<&'a [u8]>,
    /// The request attributes as submitted.
    pub attributes: &'a str,
    /// Why, as the requester will read it.
    pub disposition: &'a str,
    pub status_code: StatusCode,
}

/// A request waiting for an admin, as the log holds it.
#[derive(Clone, Debug)]
pub struct PendingRequest {
    pub id: RequestId,
    pub requester: String,
    pub csr_der: Vec<u8>,
    /// The CertAttrib lines submitted with it.
    pub attributes: String,
}

/// A user of the web pages, as the log holds it.
#[derive(Clone)]
pub struct UserRecord {
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    /// Drawn anew (at random) by every change of password, role or state.
    pub generation: i64,
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Which rows a list returns, in which order, and from where on.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// Only certificates that are still valid and expire within this many days (not those
    /// renewed since, unless `renewed_too`).
    pub expiring_within_days: Option<u32>,
    /// With `expiring_within_days`, the renewed certificates too, for a caller that judges
    /// renewals itself (expiry notices ask for a later valid certificate with the same names:
    /// a renewal revoked since leaves its predecessor the one in use).
    pub renewed_too: bool,
    /// Only rows one of whose names holds this text.
    pub name: Option<NameSearch>,
    /// Only rows requested by this user (a web user, an ACME account's user, or the
    /// operating-system user who ran a command).
    pub requester: Option<String>,
    /// Only rows that came this way.
    pub source: Option<RequestSource>,
    pub order: ListOrder,
    /// Only rows after this one in `order` (the last row of the page before).
    pub after: Option<ListKey>,
    /// At most this many rows.
    pub limit: Option<u32>,
}

/// The longest text a name search takes: the longest name (RFC 1035 §2.3.4).
const MAX_SEARCH: usize = 253;

/// What a name search looks for: a name or a part of one, as certificates carry it (lowercase,
/// A-labels). Read from what people type: `Bücher` becomes its A-label, so it finds the
/// certificate for `bücher.example`, which carries that A-label; each label holding letters
/// beyond ASCII is converted whole (UTS #46), which is why part of such a label finds nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameSearch(String);

impl NameSearch {
    /// The text searched for, as the log writes names.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NameSearch {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        let refuse = |why: &str| {
            Err(Error::InvalidInput(format!(
                "{} cannot be part of a name: {why}",
                crate::display::quoted(trimmed)
            )))
        };
        if trimmed.is_empty() {
            return refuse("it is empty");
        }
        if trimmed.len() > MAX_SEARCH {
            return refuse("a name is at most 253 characters long");
        }
        let mut labels = Vec::new();
        for label in trimmed.split('.') {
            if label.is_ascii() {
                labels.push(label.to_ascii_lowercase());
            } else {
                match idna::domain_to_ascii(label) {
                    Ok(ascii) if !ascii.contains('.') => labels.push(ascii),
                    _ => return refuse("a label of it is no valid international name"),
                }
            }
        }
        let search = labels.join(".");
        // What a name, an IP address or a wildcard holds; nothing else can match, and nothing
        // else reaches the query.
        if !search
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b':'))
        {
            return refuse("names hold only letters, digits, '.', '-', '*' and ':'");
        }
        Ok(NameSearch(search))
    }
}

impl fmt::Display for NameSearch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The order of a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ListOrder {
    /// By request id, oldest first.
    #[default]
    Id,
    /// By request id, newest first.
    IdDesc,
    /// By notAfter, the soonest first; rows without a certificate (pending, denied) after
    /// every certificate, by request id.
    Expiry,
    /// By notAfter, the latest first; rows without a certificate after every certificate, by
    /// request id.
    ExpiryDesc,
}

impl Choice for ListOrder {
    const WHAT: &'static str = "order";
    const ALL: &'static [Self] = &[
        ListOrder::Id,
        ListOrder::IdDesc,
        ListOrder::Expiry,
        ListOrder::ExpiryDesc,
    ];

    fn name(self) -> &'static str {
        match self {
            ListOrder::Id => "id",
            ListOrder::IdDesc => "id-desc",
            ListOrder::Expiry => "expiry",
            ListOrder::ExpiryDesc => "expiry-desc",
        }
    }
}

impl ListOrder {
    /// True for the orders by notAfter.
    pub fn by_expiry(self) -> bool {
        matches!(self, ListOrder::Expiry | ListOrder::ExpiryDesc)
    }
}

impl fmt::Display for ListOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Where a page of a list ended: its last row's place in the list's order, from which the
/// next page goes on (keyset pagination: the next page costs the same wherever it starts).
/// Written `ID` (a request id), or `NOTAFTER:ID` (Unix seconds and request id) for a
/// certificate in a list by expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKey {
    /// A request id: in a list by id, or a row without a certificate in a list by expiry.
    Id(RequestId),
    /// A certificate's notAfter, in Unix seconds, and its request id, in a list by expiry.
    Expiry(i64, RequestId),
}

impl ListKey {
    /// The key of `row` in a list in `order`.
    pub fn of(row: &Issuance, order: ListOrder) -> ListKey {
        match (&row.certificate, order.by_expiry()) {
            (Some(cert), true) => ListKey::Expiry(cert.not_after.unix_timestamp(), row.id),
            _ => ListKey::Id(row.id),
        }
    }
}

impl FromStr for ListKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        let key = match trimmed.split_once(':') {
            None => trimmed.parse().ok().map(ListKey::Id),
            Some((at, id)) => match (at.parse::<i64>(), id.parse::<RequestId>()) {
                (Ok(at), Ok(id)) => Some(ListKey::Expiry(at, id)),
                _ => None,
            },
        };
        key.ok_or_else(|| {
            // Quoted back without its control characters (a page, a terminal shows it).
            let shown: String = trimmed.chars().filter(|c| !c.is_control()).collect();
            Error::InvalidInput(format!(
                "{} is not where a list ended: that is a request id, or NOTAFTER:ID in a list by expiry",
                crate::display::quoted(&shown)
            ))
        })
    }
}

impl fmt::Display for ListKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListKey::Id(id) => write!(f, "{id}"),
            ListKey::Expiry(at, id) => write!(f, "{at}:{id}"),
        }
    }
}

/// One page of a list: its rows, and where the next page starts when there are more.
#[derive(Clone, Debug)]
pub struct ListPage {
    pub rows: Vec<Issuance>,
    pub next: Option<ListKey>,
}

/// One event of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The event's place in the trail: later events have larger ids.
    pub id: i64,
    pub at: OffsetDateTime,
    /// Who: a web user, the operating-system user who ran a command, or the part of the CA
    /// that acted by itself (its web server, `acme`, `policy`).
    pub actor: String,
    pub action: String,
    /// What it was done to (a request id, a user name, a setting).
    pub subject: String,
    pub detail: String,
}

/// Which events of the audit trail to read.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// The newest first (else the oldest first).
    pub newest_first: bool,
    /// Only events after this id in the order asked for (the last of the page before).
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_ids_are_positive_decimal_numbers() {
        assert_eq!("42".parse::<RequestId>().unwrap().get(), 42);
        assert_eq!(" 7 ".parse::<RequestId>().unwrap().get(), 7);
        for bad in ["0", "-1", "+5", "1e3", "abc", "", "99999999999999999999"] {
            assert!(bad.parse::<RequestId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn name_searches_take_u_labels_and_a_labels() {
        let search = |text: &str| text.parse::<NameSearch>().map(|s| s.to_string());
        assert_eq!(search("bücher").unwrap(), "xn--bcher-kva");
        assert_eq!(search(" Bücher.Example ").unwrap(), "xn--bcher-kva.example");
        assert_eq!(search("xn--bcher-kva").unwrap(), "xn--bcher-kva");
        assert_eq!(search("MAIL.example").unwrap(), "mail.example");
        assert_eq!(search("*.example.com").unwrap(), "*.example.com");
        assert_eq!(search("2001:db8::1").unwrap(), "2001:db8::1");
        for bad in [
            "",
            "   ",
            "%",
            "a_b",
            "' OR 1=1 --",
            "x\"]",
            "\\",
            &"a".repeat(254),
        ] {
            assert!(bad.parse::<NameSearch>().is_err(), "{bad}");
        }
    }

    #[test]
    fn list_keys_read_back_as_written() {
        for key in [
            ListKey::Id(RequestId(7)),
            ListKey::Expiry(1_767_225_600, RequestId(12)),
        ] {
            assert_eq!(key.to_string().parse::<ListKey>().unwrap(), key);
        }
        for bad in [
            "",
            "x",
            "0",
            "-3",
            "1:0",
            "a:3",
            "1:2:3",
            "1 :2",
            "99999999999999999999:1",
        ] {
            assert!(bad.parse::<ListKey>().is_err(), "{bad}");
        }
        assert_eq!(
            ListOrder::from_name("expiry-desc").unwrap(),
            ListOrder::ExpiryDesc
        );
    }

    #[test]
    fn certificate_refs_are_ids_or_serials() {
        assert_eq!(
            "12".parse::<CertificateRef>().unwrap(),
            CertificateRef::Id("12".parse().unwrap())
        );
        assert_eq!(
            "0A:1B".parse::<CertificateRef>().unwrap(),
            CertificateRef::Serial("0a1b".parse().unwrap())
        );
        // Sixteen digits are too many for an id: a serial number in hex.
        assert!(matches!(
            "1234567890123456".parse::<CertificateRef>().unwrap(),
            CertificateRef::Serial(_)
        ));
        assert!("xyz".parse::<CertificateRef>().is_err());
        // A thumbprint a digit short keeps the leading zeros its serial number leaves out.
        let short = format!("00:{}", "AB".repeat(18)) + "C";
        assert_eq!(
            short.parse::<CertificateRef>().unwrap(),
            CertificateRef::NearThumbprint(
                format!("{}c", "ab".repeat(18)).parse().unwrap(),
                format!("00{}c", "ab".repeat(18))
            )
        );
        assert!(
            format!("{}g", "ab".repeat(19))
                .parse::<CertificateRef>()
                .is_err()
        );
        // Windows' separators (tabs, no-break spaces) count as they do for a whole thumbprint.
        let tabbed = format!("00\t{}\u{a0}c", "ab\t".repeat(18));
        assert!(matches!(
            tabbed.parse::<CertificateRef>().unwrap(),
            CertificateRef::NearThumbprint(_, typed) if typed == format!("00{}c", "ab".repeat(18))
        ));
        // `0x` and a serial's digits are a serial number, whatever their count.
        assert!(matches!(
            format!("0x{}c", "ab".repeat(19))
                .parse::<CertificateRef>()
                .unwrap(),
            CertificateRef::Serial(_)
        ));
        // Too many digits for a serial number: a thumbprint a digit off, said so.
        for digits in [63, 65] {
            let text = "9".repeat(digits);
            let refused = text.parse::<CertificateRef>().unwrap_err().to_string();
            assert!(
                refused.contains(&format!(
                    "has {digits} hex digits, too many for a serial number"
                )) && refused.contains("thumbprint (40 or 64 hex digits)"),
                "{refused}"
            );
        }
    }
}
