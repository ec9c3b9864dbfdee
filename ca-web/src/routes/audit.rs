//! The audit trail for administrators at `/certsrv/admin/audit`: newest first, a page at a
//! time by the last event's id, filtered by actor and action (what `ca audit` prints).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use ca_core::AuditFilter;

use super::Params;
use crate::auth::Caller;
use crate::error::WebError;
use crate::pages::{self, AuditRow, render};
use crate::state::AppState;

const PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// The longest actor or action the filter takes.
const MAX_TEXT: usize = 128;

pub(crate) async fn page(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    caller.admin()?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|_| WebError::BadRequest("The address's query cannot be read.".into()))?;
    let params = Params::new(pairs)?;
    let text = |name: &str| -> Result<Option<String>, WebError> {
        match params.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value)
                if value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) =>
            {
                Err(WebError::BadRequest(format!(
                    "The {name} filter takes at most {MAX_TEXT} characters, none of them control characters."
                )))
            }
            Some(value) => Ok(Some(value.to_owned())),
        }
    };
    let actor = text("actor")?;
    let action = text("action")?;
    // What each number is, for a refusal that says what to write.
    let number = |name: &str, what: &str, max: i64| -> Result<Option<i64>, WebError> {
        match params.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value) => value
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    WebError::BadRequest(format!(
                        "'{}' cannot be {name}: {what}.",
                        super::echoed(value)
                    ))
                }),
        }
    };
    let after = number(
        "after",
        "it is the number of the entry a page ended with, a whole number from 1 up",
        i64::MAX,
    )?;
    let limit = number(
        "limit",
        &format!("it is how many entries a page shows, from 1 to {MAX_PAGE}"),
        i64::from(MAX_PAGE),
    )?;
    let page_size = limit.map_or(PAGE, |n| u32::try_from(n).unwrap_or(PAGE));
    let mut events = state
        .authority
        .audit_events(&AuditFilter {
            actor: actor.clone(),
            action: action.clone(),
            newest_first: true,
            after,
            limit: Some(page_size + 1),
            ..AuditFilter::default()
        })
        .await?;
    let more = events.len() > page_size as usize;
    events.truncate(page_size as usize);
    let link = |after: Option<i64>| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(actor) = &actor {
            pairs.push(("actor", actor.clone()));
        }
        if let Some(action) = &action {
            pairs.push(("action", action.clone()));
        }
        if let Some(limit) = limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(after) = after {
            pairs.push(("after", after.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/certsrv/admin/audit".to_owned()
        } else {
            format!("/certsrv/admin/audit?{query}")
        }
    };
    Ok(render(&pages::Audit {
        chrome: caller.chrome(&state),
        actor: actor.clone().unwrap_or_default(),
        action: action.clone().unwrap_or_default(),
        first: after.is_some().then(|| link(None)),
        next: if more {
            events.last().map(|e| link(Some(e.id)))
        } else {
            None
        },
        events: events
            .into_iter()
            .map(|event| AuditRow {
                actor_link: link_to("actor", &event.actor),
                action_link: link_to("action", &event.action),
                at: ca_core::display::time(event.at),
                actor: event.actor,
                action: event.action,
                subject: event.subject,
                detail: event.detail,
            })
            .collect(),
    }))
}

/// The trail of one actor or one action, from its newest event.
fn link_to(name: &str, value: &str) -> String {
    let query = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
    format!("/certsrv/admin/audit?{query}")
}
