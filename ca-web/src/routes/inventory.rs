//! The administrator's inventory at `/certsrv/admin`: every request and certificate, searched
//! by name, filtered by status, requester and source, sorted by request id or expiry, a page
//! at a time by the last row's key; revoke, renew, approve and deny from the list. Every link
//! keeps the filter in its URL.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use ca_core::revoke::RevocationReason;
use ca_core::{
    Choice, Issuance, ListFilter, ListKey, ListOrder, NameSearch, OwnCertificate, RequestId,
    RequestSource, Status,
};

use super::Params;
use crate::auth::Caller;
use crate::error::WebError;
use crate::pages::{self, InventoryRow, RequestRow, render};
use crate::state::AppState;

/// Rows a page shows unless asked otherwise, and at most.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// Certificates expiring within this many days are marked with the days left.
pub(crate) const MARK_DAYS: u32 = 30;
/// The longest expiry window the filter takes (ten years).
const MAX_DAYS: u32 = 3650;
/// Pending requests shown above the list.
const PENDING_SHOWN: u32 = 20;
/// The longest requester name the filter takes.
const MAX_REQUESTER: usize = 128;

/// What the list shows, as read from its URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inventory {
    name: Option<NameSearch>,
    /// The name as typed, to show it back.
    name_typed: String,
    status: Option<Shown>,
    /// The window of `Shown::Expiring`.
    days: Option<u32>,
    requester: Option<String>,
    source: Option<RequestSource>,
    order: Option<ListOrder>,
    after: Option<ListKey>,
    limit: Option<u32>,
}

/// A status as the page offers it: the log's, or valid and expiring within some days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    Status(Status),
    Expiring,
}

impl Shown {
    fn name(self) -> &'static str {
        match self {
            Shown::Status(status) => status.name(),
            Shown::Expiring => "expiring",
        }
    }
}

/// The page's default order: the newest first.
const DEFAULT_ORDER: ListOrder = ListOrder::IdDesc;

impl Inventory {
    /// Reads the list's URL query. Unknown parameters are ignored (as AD CS's pages do); a
    /// value that cannot be read is refused with what to write instead.
    pub(crate) fn from_query(query: Option<&str>) -> Result<Self, WebError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| WebError::BadRequest("The address's query cannot be read.".into()))?;
        let params = Params::new(pairs)?;
        let given = |name: &str| params.get(name).map(str::trim).filter(|v| !v.is_empty());
        let mut view = Inventory::default();
        if let Some(text) = given("name") {
            view.name = Some(text.parse().map_err(refused)?);
            view.name_typed = text.to_owned();
        }
        view.status = match given("status") {
            None => None,
            Some(text) if text.eq_ignore_ascii_case("expiring") => Some(Shown::Expiring),
            Some(text) => Some(Shown::Status(Status::from_name(text).map_err(|_| {
                WebError::BadRequest(format!(
                    "'{}' is not a status: use valid, expiring, expired, revoked, pending or denied.",
                    shown(text)
                ))
            })?)),
        };
        if let Some(text) = given("days") {
            view.days = Some(
                text.parse::<u32>()
                    .ok()
                    .filter(|d| (1..=MAX_DAYS).contains(d))
                    .ok_or_else(|| {
                        WebError::BadRequest(format!(
                            "'{}' is not a number of days from 1 to {MAX_DAYS}.",
                            shown(text)
                        ))
                    })?,
            );
        }
        if let Some(text) = given("requester") {
            if text.chars().count() > MAX_REQUESTER || text.chars().any(char::is_control) {
                return Err(WebError::BadRequest(format!(
                    "'{}' is not a user name: at most {MAX_REQUESTER} characters, none of them control characters.",
                    shown(text)
                )));
            }
            view.requester = Some(text.to_owned());
        }
        if let Some(text) = given("source") {
            view.source = Some(RequestSource::from_name(text).map_err(refused)?);
        }
        if let Some(text) = given("sort") {
            view.order = Some(ListOrder::from_name(text).map_err(refused)?);
        }
        if let Some(text) = given("after") {
            view.after = Some(text.parse().map_err(refused)?);
        }
        if let Some(text) = given("limit") {
            view.limit = Some(
                text.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        WebError::BadRequest(format!(
                            "'{}' rows a page cannot be shown: ask for 1 to {MAX_PAGE}.",
                            shown(text)
                        ))
                    })?,
            );
        }
        Ok(view)
    }

    /// The query of this view, as links write it: only what differs from the defaults.
    pub(crate) fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if self.name.is_some() {
            pairs.push(("name", self.name_typed.clone()));
        }
        if let Some(status) = self.status {
            pairs.push(("status", status.name().to_owned()));
        }
        if let Some(days) = self.days {
            pairs.push(("days", days.to_string()));
        }
        if let Some(requester) = &self.requester {
            pairs.push(("requester", requester.clone()));
        }
        if let Some(source) = self.source {
            pairs.push(("source", source.name().to_owned()));
        }
        if let Some(order) = self.order {
            pairs.push(("sort", order.name().to_owned()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(after) = self.after {
            pairs.push(("after", after.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    /// The address of this view.
    pub(crate) fn url(&self) -> String {
        let query = self.query();
        if query.is_empty() {
            "/certsrv/admin".to_owned()
        } else {
            format!("/certsrv/admin?{query}")
        }
    }

    fn order(&self) -> ListOrder {
        self.order.unwrap_or(DEFAULT_ORDER)
    }

    fn filter(&self) -> ListFilter {
        let (status, expiring) = match self.status {
            None => (None, None),
            Some(Shown::Status(status)) => (Some(status), None),
            Some(Shown::Expiring) => (None, Some(self.days.unwrap_or(MARK_DAYS))),
        };
        ListFilter {
            status,
            expiring_within_days: expiring,
            renewed_too: false,
            name: self.name.clone(),
            requester: self.requester.clone(),
            source: self.source,
            order: self.order(),
            after: self.after,
            limit: Some(self.limit.unwrap_or(PAGE)),
        }
    }

    /// This view from its first page.
    fn first(&self) -> Inventory {
        Inventory {
            after: None,
            ..self.clone()
        }
    }

    /// This view sorted by `order` instead, from its first page.
    fn sorted(&self, order: ListOrder) -> Inventory {
        Inventory {
            order: (order != DEFAULT_ORDER).then_some(order),
            after: None,
            ..self.clone()
        }
    }

    fn heading(&self) -> String {
        match self.status {
            None => "Certificates and requests".to_owned(),
            Some(Shown::Expiring) => format!(
                "Valid certificates that expire within {} days",
                self.days.unwrap_or(MARK_DAYS)
            ),
            Some(Shown::Status(Status::Valid)) => "Valid certificates".to_owned(),
            Some(Shown::Status(Status::Expired)) => "Expired certificates".to_owned(),
            Some(Shown::Status(Status::Revoked)) => "Revoked certificates".to_owned(),
            Some(Shown::Status(Status::Pending)) => "Pending requests".to_owned(),
            Some(Shown::Status(Status::Denied)) => "Failed and denied requests".to_owned(),
        }
    }
}

/// A refusal of ca-core, as the page words it.
fn refused(err: ca_core::Error) -> WebError {
    WebError::BadRequest(crate::error::explain(&err))
}

/// At most 64 characters of what was typed, to quote it back, without its control
/// characters.
fn shown(text: &str) -> String {
    super::echoed(text)
}

pub(crate) async fn overview(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    caller.admin()?;
    if let Some(id) = certificate_typed(&state, query.as_deref()).await? {
        return Ok(Redirect::to(&format!("/certsrv/cert/{id}")).into_response());
    }
    let view = Inventory::from_query(query.as_deref())?;
    let page = state.authority.list_page(&view.filter()).await?;
    // The requests waiting for a decision head the first page of the whole inventory only: over
    // a filtered list (or a later page) their Issue and Deny buttons would stand above rows
    // they are not, for a click meant for a row found below.
    let whole = view.after.is_none() && view.first() == Inventory::default();
    let pending = if whole {
        state
            .authority
            .list_page(&ListFilter {
                status: Some(Status::Pending),
                order: ListOrder::IdDesc,
                limit: Some(PENDING_SHOWN),
                ..ListFilter::default()
            })
            .await?
    } else {
        ca_core::ListPage {
            rows: Vec::new(),
            next: None,
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let order = view.order();
    let toggle = |ascending: ListOrder, descending: ListOrder| {
        let next = if order == ascending {
            descending
        } else {
            ascending
        };
        view.sorted(next).url()
    };
    let pending_view = Inventory {
        status: Some(Shown::Status(Status::Pending)),
        ..Inventory::default()
    };
    // Each waiting request with the names its requester added beyond its CSR's, said
    // before it is decided (at most PENDING_SHOWN of them, each a read of its CSR).
    let mut pending_rows = Vec::with_capacity(pending.rows.len());
    for row in &pending.rows {
        let mut shown = RequestRow::from(row);
        shown.added = state
            .authority
            .names_beyond_the_csr(row)
            .await?
            .iter()
            .map(ca_core::SubjectName::shown_with_a_labels)
            .collect::<Vec<_>>()
            .join(", ");
        pending_rows.push(shown);
    }
    Ok(render(&pages::Admin {
        done: Done::notice(query.as_deref()),
        chrome: caller.chrome(&state),
        pending: pending_rows,
        more_pending: pending.next.is_some().then(|| pending_view.url()),
        heading: view.heading(),
        name: view.name_typed.clone(),
        statuses: [
            ("", "any"),
            ("valid", "valid"),
            ("expiring", "expiring within the days below"),
            ("expired", "expired"),
            ("revoked", "revoked"),
            ("pending", "pending"),
            ("denied", "failed and denied"),
        ]
        .iter()
        .map(|(value, label)| {
            let selected = view.status.map_or("", Shown::name) == *value;
            (*value, *label, selected)
        })
        .collect(),
        days: view.days.unwrap_or(MARK_DAYS),
        requester: view.requester.clone().unwrap_or_default(),
        sources: RequestSource::ALL
            .iter()
            .map(|source| (source.name(), view.source == Some(*source)))
            .collect(),
        sorts: ListOrder::ALL
            .iter()
            .map(|o| (o.name(), order_label(*o), *o == order))
            .collect(),
        limit: view.limit.unwrap_or(PAGE),
        filtered: view.first() != Inventory::default(),
        rows: page
            .rows
            .iter()
            .map(|row| {
                let days = view.days.unwrap_or(MARK_DAYS);
                inventory_row(row, state.authority.root(), now, days)
            })
            .collect(),
        by_id: toggle(ListOrder::Id, ListOrder::IdDesc),
        by_expiry: toggle(ListOrder::Expiry, ListOrder::ExpiryDesc),
        first: view.after.is_some().then(|| view.first().url()),
        next: page.next.map(|key| {
            Inventory {
                after: Some(key),
                ..view.clone()
            }
            .url()
        }),
        back: view.query(),
        reasons: RevocationReason::FOR_LEAVES
            .iter()
            .map(|r| r.name())
            .collect(),
        profiles: {
            use ca_core::export::pkcs12::PfxProfile;
            let default = PfxProfile::default();
            std::iter::once(default)
                .chain(PfxProfile::ALL.iter().copied().filter(|p| *p != default))
                .map(PfxProfile::name)
                .collect()
        },
    }))
}

fn order_label(order: ListOrder) -> &'static str {
    match order {
        ListOrder::Id => "request id, oldest first",
        ListOrder::IdDesc => "request id, newest first",
        ListOrder::Expiry => "expiry, soonest first",
        ListOrder::ExpiryDesc => "expiry, latest first",
    }
}

fn inventory_row(
    row: &Issuance,
    root: &ca_core::Root,
    now: time::OffsetDateTime,
    days: u32,
) -> InventoryRow {
    let days_left = row.expires_within(days.max(MARK_DAYS), now);
    // The responder's certificate names no host: its subject says what it is.
    let names = match row.own() {
        Some(OwnCertificate::OcspResponder) if row.names.is_empty() => {
            ca_core::ocsp::signer::responder_common_name(root)
        }
        _ => row.names_shown(),
    };
    InventoryRow {
        id: row.id,
        names,
        requester: row.requester.clone(),
        source: row.source.name(),
        status: row.status.name(),
        days_left: days_left.map(|left| match left {
            0 => "expires within a day".to_owned(),
            1 => "1 day left".to_owned(),
            n => format!("{n} days left"),
        }),
        own: row.own().map(|own| match own {
            OwnCertificate::Server => "this CA's HTTPS server",
            OwnCertificate::OcspResponder => "this CA's OCSP responder",
        }),
        renewed_by: row.certificate.as_ref().and_then(|c| c.renewed_by),
        not_after: row
            .certificate
            .as_ref()
            .map(|c| ca_core::display::time(c.not_after))
            .unwrap_or_default(),
        // Why it was refused; when and why it was revoked (what AD CS lists as Revocation Date
        // and Revocation Reason).
        disposition: match row.status {
            Status::Denied => row.disposition.clone(),
            Status::Revoked => row
                .certificate
                .as_ref()
                .and_then(|cert| cert.revocation.as_ref())
                .map(|revocation| {
                    format!(
                        "{} ({})",
                        ca_core::display::time(revocation.revoked_at),
                        revocation.reason.name()
                    )
                })
                .unwrap_or_default(),
            _ => String::new(),
        },
        issued: row.certificate.is_some(),
        revocable: row.certificate.is_some() && row.status != Status::Revoked,
        renewable: row
            .certificate
            .as_ref()
            .is_some_and(|cert| cert.renewed_by.is_none())
            && row.own().is_none(),
        pending: row.status == Status::Pending,
    }
}

/// The certificate whose serial number or thumbprint (SHA-1, as Windows shows it, or SHA-256)
/// was typed where a name goes, as an AD CS administrator looks a certificate up: its page is
/// the answer. Only hex digits (colons and spaces between octets allowed), from 8 octets to a
/// thumbprint's length, are tried; text that finds no certificate is searched as a
/// name, as before (a label of 32 hex digits is a name too).
async fn certificate_typed(
    state: &AppState,
    query: Option<&str>,
) -> Result<Option<RequestId>, WebError> {
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or("")) else {
        return Ok(None);
    };
    let Some((_, typed)) = pairs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("name"))
    else {
        return Ok(None);
    };
    let digits: String = typed
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let long_enough = (16..=40).contains(&digits.len()) || digits.len() == 64;
    if !long_enough || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Ok(reference) = typed.parse::<ca_core::CertificateRef>() else {
        return Ok(None);
    };
    match state.authority.find(&reference).await {
        Ok(found) if found.certificate.is_some() => Ok(Some(found.id)),
        Ok(_) | Err(ca_core::Error::NotFound(_)) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// What was done from the list, said above it when it comes back (`done=revoked-7`): the
/// row itself may have left the list (a revoked certificate from a list of valid ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    Revoked,
    Denied,
}

impl Done {
    fn name(self) -> &'static str {
        match self {
            Done::Revoked => "revoked",
            Done::Denied => "denied",
        }
    }

    /// The notice for `query`'s `done`, when it names one of these and a request id; anything
    /// else there is not shown (the notice is made from the two, never from the text).
    fn notice(query: Option<&str>) -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
        let (_, value) = pairs.iter().find(|(key, _)| key == "done")?;
        let (what, id) = value.split_once('-')?;
        let id: RequestId = id.parse().ok()?;
        match what {
            "revoked" => Some(format!("Certificate {id} was revoked.")),
            "denied" => Some(format!("Request {id} was denied.")),
            _ => None,
        }
    }
}

/// `list` (an address [`back_to_list`] gave) with what was done from it.
pub(crate) fn with_done(list: &str, done: Done, id: RequestId) -> String {
    let join = if list.contains('?') { '&' } else { '?' };
    format!("{list}{join}done={}-{id}", done.name())
}

/// Where a form posted from the list goes back to: the list with the filter it was posted
/// from, read again (so only a filter of the list, never another address, can come back).
pub(crate) fn back_to_list(back: Option<&str>) -> Option<String> {
    let back = back?;
    Inventory::from_query(Some(back))
        .ok()
        .map(|view| view.url())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_view_reads_back_from_the_query_its_links_write() {
        let view = Inventory::from_query(Some(
            "name=B%C3%BCcher&status=expiring&days=7&requester=alice&source=web&sort=expiry&limit=20&after=1767225600:12",
        ))
        .unwrap();
        assert_eq!(view.name.as_ref().unwrap().as_str(), "xn--bcher-kva");
        assert_eq!(view.filter().expiring_within_days, Some(7));
        assert_eq!(view.filter().limit, Some(20));
        let again = Inventory::from_query(Some(&view.query())).unwrap();
        assert_eq!(again, view);
        assert_eq!(Inventory::from_query(None).unwrap().url(), "/certsrv/admin");
        assert_eq!(
            Inventory::from_query(Some("status=&name=+&foo=bar")).unwrap(),
            Inventory::default()
        );
    }

    #[test]
    fn refuses_what_no_list_can_show() {
        for query in [
            "status=bogus",
            "limit=0",
            "limit=100000",
            "limit=-1",
            "days=0",
            "days=99999",
            "sort=name",
            "source=fax",
            "after=abc",
            "after=1:0",
            "name=%25",
            "name=a_b",
            "name=%27%20OR%201%3D1%20--",
            "requester=a%0Ab",
            "status=valid&STATUS=revoked",
        ] {
            assert!(
                matches!(
                    Inventory::from_query(Some(query)),
                    Err(WebError::BadRequest(_))
                ),
                "{query}"
            );
        }
    }

    #[test]
    fn goes_back_only_to_the_list() {
        assert_eq!(
            back_to_list(Some("status=revoked")).as_deref(),
            Some("/certsrv/admin?status=revoked")
        );
        assert_eq!(back_to_list(Some("status=bogus")), None);
        assert_eq!(
            back_to_list(Some("https://evil.example/")).as_deref(),
            Some("/certsrv/admin")
        );
    }
}
