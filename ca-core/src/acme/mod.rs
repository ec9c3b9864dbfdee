//! ACME (RFC 8555, RFC 8737, RFC 8738, RFC 9773): its objects (accounts, orders,
//! authorizations, challenges), problem documents, signed requests and validation. The
//! authority's ACME operations, under the same name rules as every other request, are in
//! `acme_server`.
//!
//! The web layer turns HTTP into calls and back: it knows the URLs, ca-core knows the rules.
//! Objects are named by ids; the web layer makes them URLs.

pub mod jws;
pub(crate) mod validate;

use std::fmt;
use std::net::SocketAddr;

use jsonwebtoken::jwk::Jwk;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::RequestId;
use crate::choice::Choice;
use crate::error::Error;
use crate::name::{PermittedSubtree, SubjectName};
use jws::Jws;

/// How long ARI clients wait before asking again (RFC 9773 §4.3: Retry-After).
pub const RENEWAL_INFO_RETRY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// How the ACME server behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeSettings {
    pub enabled: bool,
    /// Accounts need an external account binding (a key made for a user).
    pub eab_required: bool,
    /// The domains and IP ranges accounts may ask for; empty for any the name rules allow.
    pub domains: Vec<PermittedSubtree>,
    /// How long certificates are valid, in days.
    pub days: u32,
    /// The port the http-01 validator connects to.
    pub http_port: u16,
    /// The port the tls-alpn-01 validator connects to.
    pub tls_port: u16,
    /// The DNS server the validators ask; `None` for the system's.
    pub dns: Option<SocketAddr>,
    /// New accounts without an external account binding one client address may make in an
    /// hour; 0 for no limit.
    pub accounts_per_hour: u32,
    /// New orders one client address may make in an hour; 0 for no limit.
    pub orders_per_hour: u32,
}

impl AcmeSettings {
    /// The domains and ranges accounts may ask for, as `acme-domains` writes them.
    pub fn domain_texts(&self) -> Vec<String> {
        self.domains
            .iter()
            .map(PermittedSubtree::address_or_range)
            .collect()
    }

    /// The entries of `acme-domains` under which ACME issues for no name: kept from an earlier
    /// version, which took them.
    pub fn barren_domains(&self) -> Vec<String> {
        self.domains
            .iter()
            .filter(|d| d.acme_never_issues_under())
            .map(PermittedSubtree::address_or_range)
            .collect()
    }

    /// What `acme-domains` lets accounts ask for, in words (see [`domains_in_words`]).
    pub fn domains_in_words(&self, shown: usize) -> String {
        domains_in_words(&self.domains, shown)
    }
}

/// What `acme-domains` lets accounts ask for, in words: "names under example.com and
/// addresses in 192.0.2.0/24", at most `shown` of each kind named.
pub fn domains_in_words(domains: &[PermittedSubtree], shown: usize) -> String {
    let words = |dns: bool, what: &str| {
        let all: Vec<String> = domains
            .iter()
            .filter(|d| matches!(d, PermittedSubtree::Dns(_)) == dns)
            .map(|d| match d {
                PermittedSubtree::Dns(name) => name.unicode(),
                range => range.address_or_range(),
            })
            .collect();
        match all.len() {
            0 => None,
            n if n > shown => Some(format!(
                "{what} {} (and {} more)",
                all[..shown].join(", "),
                n - shown
            )),
            _ => Some(format!("{what} {}", all.join(", "))),
        }
    };
    match (words(true, "names under"), words(false, "addresses in")) {
        (Some(names), Some(addresses)) => format!("{names} and {addresses}"),
        (Some(names), None) => format!("{names}; no IP address"),
        (None, Some(addresses)) => format!("{addresses}; no DNS name"),
        (None, None) => "any name the rules allow".to_owned(),
    }
}

/// Days an ACME certificate is valid unless configured otherwise.
pub const ACME_DEFAULT_DAYS: u32 = 90;
/// New accounts without a binding a client address may make in an hour unless configured
/// otherwise: Let's Encrypt's ten per three hours, more or less, over the hour a LAN's
/// servers are set up in; every account costs the log rows that no one removes.
pub const ACCOUNTS_PER_HOUR: u32 = 20;
/// New orders a client address may make in an hour unless configured otherwise: Let's
/// Encrypt's 300 per account in three hours, per address.
pub const ORDERS_PER_HOUR: u32 = 300;

/// An ACME error (RFC 8555 §6.7): its type, a sentence for the person reading the client's
/// output, the HTTP status, and problems per identifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", with = "problem_urn")]
    pub kind: ProblemType,
    pub detail: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
    /// Seconds after which the request may be made again (a rate limit's), sent as
    /// Retry-After (RFC 8555 §6.6).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// A problem with one identifier of an order (RFC 8555 §6.7.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    #[serde(rename = "type", with = "problem_urn")]
    pub kind: ProblemType,
    pub detail: String,
    pub identifier: Identifier,
}

/// The ACME error types this server answers with (RFC 8555 §6.7, RFC 9773).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    AccountDoesNotExist,
    AlreadyReplaced,
    AlreadyRevoked,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Tls,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
}

impl ProblemType {
    const ALL: [ProblemType; 22] = [
        ProblemType::AccountDoesNotExist,
        ProblemType::AlreadyReplaced,
        ProblemType::AlreadyRevoked,
        ProblemType::BadCsr,
        ProblemType::BadNonce,
        ProblemType::BadPublicKey,
        ProblemType::BadRevocationReason,
        ProblemType::BadSignatureAlgorithm,
        ProblemType::Connection,
        ProblemType::Dns,
        ProblemType::ExternalAccountRequired,
        ProblemType::IncorrectResponse,
        ProblemType::InvalidContact,
        ProblemType::Malformed,
        ProblemType::OrderNotReady,
        ProblemType::RateLimited,
        ProblemType::RejectedIdentifier,
        ProblemType::ServerInternal,
        ProblemType::Tls,
        ProblemType::Unauthorized,
        ProblemType::UnsupportedContact,
        ProblemType::UnsupportedIdentifier,
    ];

    /// The type's name after `urn:ietf:params:acme:error:`.
    pub fn name(self) -> &'static str {
        match self {
            ProblemType::AccountDoesNotExist => "accountDoesNotExist",
            ProblemType::AlreadyReplaced => "alreadyReplaced",
            ProblemType::AlreadyRevoked => "alreadyRevoked",
            ProblemType::BadCsr => "badCSR",
            ProblemType::BadNonce => "badNonce",
            ProblemType::BadPublicKey => "badPublicKey",
            ProblemType::BadRevocationReason => "badRevocationReason",
            ProblemType::BadSignatureAlgorithm => "badSignatureAlgorithm",
            ProblemType::Connection => "connection",
            ProblemType::Dns => "dns",
            ProblemType::ExternalAccountRequired => "externalAccountRequired",
            ProblemType::IncorrectResponse => "incorrectResponse",
            ProblemType::InvalidContact => "invalidContact",
            ProblemType::Malformed => "malformed",
            ProblemType::OrderNotReady => "orderNotReady",
            ProblemType::RateLimited => "rateLimited",
            ProblemType::RejectedIdentifier => "rejectedIdentifier",
            ProblemType::ServerInternal => "serverInternal",
            ProblemType::Tls => "tls",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::UnsupportedContact => "unsupportedContact",
            ProblemType::UnsupportedIdentifier => "unsupportedIdentifier",
        }
    }

    /// The full type URN.
    pub fn urn(self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.name())
    }

    /// The HTTP status a problem of this type is answered with.
    pub fn status(self) -> u16 {
        match self {
            ProblemType::Unauthorized | ProblemType::OrderNotReady => 403,
            ProblemType::ServerInternal => 500,
            ProblemType::AlreadyReplaced => 409,
            ProblemType::RateLimited => 429,
            _ => 400,
        }
    }
}

mod problem_urn {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::ProblemType;

    pub(super) fn serialize<S: Serializer>(kind: &ProblemType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&kind.urn())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ProblemType, D::Error> {
        let urn = String::deserialize(d)?;
        let name = urn.trim_start_matches("urn:ietf:params:acme:error:");
        ProblemType::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown problem type {urn}")))
    }
}

impl Problem {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: detail.into(),
            status: kind.status(),
            subproblems: Vec::new(),
            retry_after: None,
        }
    }

    /// The same problem, to be tried again after `seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The same problem, answered with another HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// A request for an object that does not exist, or is not the caller's.
    pub fn not_found(what: &str) -> Self {
        Problem::new(ProblemType::Malformed, format!("no such {what}")).with_status(404)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        match &err {
            Error::NameRefused { .. } | Error::NameNotPermitted { .. } | Error::NoNames => {
                Problem::new(ProblemType::RejectedIdentifier, err.to_string())
            }
            Error::WeakKey { .. }
            | Error::KeyTooLarge { .. }
            | Error::UnsupportedKey { .. }
            | Error::InvalidRequest(_)
            | Error::BadRequestSignature => Problem::new(ProblemType::BadCsr, err.to_string()),
            Error::NotFound(what) => Problem::not_found(what),
            _ if err.is_refusal() => Problem::new(ProblemType::Malformed, err.to_string()),
            Error::Store(crate::StoreError::Unavailable(_)) => {
                tracing::warn!(%err, "an ACME request waits for the issuance log");
                Problem::new(
                    ProblemType::ServerInternal,
                    "the certificate authority's log cannot be reached just now; try again shortly",
                )
                .with_status(503)
            }
            _ => {
                tracing::error!(%err, "an ACME request failed");
                Problem::new(
                    ProblemType::ServerInternal,
                    "the certificate authority could not complete this request; the details are in its log",
                )
            }
        }
    }
}

/// What an identifier names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierKind {
    Dns,
    Ip,
}

impl Choice for IdentifierKind {
    const WHAT: &'static str = "identifier type";
    const ALL: &'static [Self] = &[IdentifierKind::Dns, IdentifierKind::Ip];
    fn name(self) -> &'static str {
        match self {
            IdentifierKind::Dns => "dns",
            IdentifierKind::Ip => "ip",
        }
    }
}

/// An identifier of an order: a DNS name (perhaps a wildcard) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: IdentifierKind,
    pub value: String,
}

impl Identifier {
    /// The identifier for a name certificates carry.
    pub(crate) fn of(name: &SubjectName) -> Self {
        match name {
            SubjectName::Dns(dns) => Identifier {
                kind: IdentifierKind::Dns,
                value: dns.as_str().to_owned(),
            },
            SubjectName::Ip(ip) => Identifier {
                kind: IdentifierKind::Ip,
                value: ip.to_string(),
            },
        }
    }
}

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl Choice for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl $name {
            /// The status as ACME objects carry it.
            pub fn name(self) -> &'static str {
                Choice::name(self)
            }
        }
    };
}

status_enum!(
    /// An account's status (RFC 8555 §7.1.6).
    AccountStatus, "account status", { Valid => "valid", Deactivated => "deactivated", Revoked => "revoked" }
);
status_enum!(
    /// An order's status (RFC 8555 §7.1.6).
    OrderStatus, "order status", { Pending => "pending", Ready => "ready", Processing => "processing", Valid => "valid", Invalid => "invalid" }
);
status_enum!(
    /// An authorization's status (RFC 8555 §7.1.6).
    AuthzStatus, "authorization status", { Pending => "pending", Valid => "valid", Invalid => "invalid", Deactivated => "deactivated", Expired => "expired", Revoked => "revoked" }
);
status_enum!(
    /// A challenge's status (RFC 8555 §7.1.6).
    ChallengeStatus, "challenge status", { Pending => "pending", Processing => "processing", Valid => "valid", Invalid => "invalid" }
);
status_enum!(
    /// A challenge type.
    ChallengeKind, "challenge type", { Http01 => "http-01", Dns01 => "dns-01", TlsAlpn01 => "tls-alpn-01" }
);

/// An ACME account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub jwk: Jwk,
    pub thumbprint: String,
    pub contact: Vec<String>,
    pub status: AccountStatus,
    /// The user whose external account binding key made the account.
    pub owner: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Account {
    /// Who the log names as the requester of this account's certificates.
    pub fn requester(&self) -> String {
        match &self.owner {
            Some(user) => user.clone(),
            None => format!("acme account {}", self.id),
        }
    }
}

/// An order.
#[derive(Clone, Debug)]
pub struct Order {
    pub id: String,
    pub account_id: String,
    pub status: OrderStatus,
    pub identifiers: Vec<Identifier>,
    pub expires_at: OffsetDateTime,
    pub error: Option<Problem>,
    /// The ids of its authorizations, in the order of its identifiers.
    pub authorizations: Vec<String>,
    /// The request id of its certificate, once issued.
    pub certificate: Option<RequestId>,
    /// The certificate it replaces (RFC 9773 §5).
    pub replaces: Option<RequestId>,
    pub created_at: OffsetDateTime,
}

/// An authorization of one identifier.
#[derive(Clone, Debug)]
pub struct Authz {
    pub id: String,
    pub order_id: String,
    pub identifier: Identifier,
    pub wildcard: bool,
    pub status: AuthzStatus,
    pub expires_at: OffsetDateTime,
    pub challenges: Vec<Challenge>,
}

/// A challenge.
#[derive(Clone, Debug)]
pub struct Challenge {
    pub id: String,
    pub authz_id: String,
    pub kind: ChallengeKind,
    pub token: String,
    pub status: ChallengeStatus,
    pub validated_at: Option<OffsetDateTime>,
    pub error: Option<Problem>,
}

/// Which key a request must be signed with (RFC 8555 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// An account's key, named by `kid`.
    Account,
    /// A key carried in the header (`jwk`): new accounts.
    Key,
    /// Either: revocation, which a certificate's own key may sign.
    Either,
}

/// A verified request: its payload, and who signed it.
#[derive(Debug)]
pub struct Verified {
    pub jws: Jws,
    /// The signer's account, when it signed with `kid`.
    pub account: Option<Account>,
    /// The key that signed.
    pub jwk: Jwk,
}

impl Verified {
    /// The payload as JSON of type `T`; `malformed` when it is not.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, Problem> {
        serde_json::from_slice(&self.jws.payload).map_err(|err| {
            Problem::new(
                ProblemType::Malformed,
                format!("the payload is not what this request takes: {err}"),
            )
        })
    }

    /// The signer's account; `unauthorized` when it signed with a bare key.
    pub fn account(&self) -> Result<&Account, Problem> {
        self.account.as_ref().ok_or_else(|| {
            Problem::new(
                ProblemType::Malformed,
                "this request must be signed by an account (kid)",
            )
        })
    }
}

/// A newAccount payload (RFC 8555 §7.3).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    pub only_return_existing: Option<bool>,
    #[serde(default)]
    pub external_account_binding: Option<serde_json::Value>,
}

/// An account update payload (RFC 8555 §7.3.2, §7.3.6).
#[derive(Debug, Default, Deserialize)]
pub struct AccountUpdate {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A newOrder payload (RFC 8555 §7.4, RFC 9773 §5).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    pub identifiers: Vec<Identifier>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub not_after: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
}

/// A revokeCert payload (RFC 8555 §7.6).
#[derive(Debug, Deserialize)]
pub struct Revocation {
    pub certificate: String,
    /// Any integer: one that is no reason code is `badRevocationReason`, not `malformed`.
    #[serde(default)]
    pub reason: Option<i64>,
}

/// A suggested renewal window (RFC 9773 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl From<Problem> for Error {
    fn from(problem: Problem) -> Self {
        Error::InvalidInput(problem.to_string())
    }
}

/// The renewal window of a certificate valid from `not_before` to `not_after`: from two
/// thirds of its lifetime to five sixths; for a revoked one, the hour just past, so clients
/// renew at once.
pub fn renewal_window(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    revoked: bool,
    now: OffsetDateTime,
) -> RenewalWindow {
    if revoked {
        return RenewalWindow {
            start: now - Duration::hours(1),
            end: now,
        };
    }
    let lifetime = not_after - not_before;
    RenewalWindow {
        start: not_before + lifetime * 2 / 3,
        end: not_before + lifetime * 5 / 6,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn problems_serialize_as_rfc_8555_documents() {
        let problem = Problem::new(ProblemType::BadNonce, "try again");
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["type"], "urn:ietf:params:acme:error:badNonce");
        assert_eq!(json["status"], 400);
        assert!(json.get("subproblems").is_none());
        let back: Problem = serde_json::from_value(json).unwrap();
        assert_eq!(back, problem);
    }

    #[test]
    fn the_renewal_window_is_the_last_third_and_now_when_revoked() {
        let start = time::macros::datetime!(2026-01-01 0:00 UTC);
        let end = start + Duration::days(90);
        let now = start + Duration::days(10);
        let window = renewal_window(start, end, false, now);
        assert_eq!(window.start, start + Duration::days(60));
        assert_eq!(window.end, start + Duration::days(75));
        let revoked = renewal_window(start, end, true, now);
        assert!(revoked.start < now && revoked.end == now);
    }
}
