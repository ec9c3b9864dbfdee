//! `ca audit`: the audit trail, oldest first: who did what, when.

use std::path::Path;

use ca_core::AuditFilter;
use ca_core::display::rfc3339;
use serde_json::json;

use crate::cmd::Refused;
use crate::output::when;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only events at or after DATE (2027-12-27, 2027-12-27 10:04 as printed, or 2027-12-27T10:04:05Z).
    #[arg(long, value_name = "DATE", value_parser = date)]
    since: Option<time::OffsetDateTime>,
    /// Only events by this user (a user of the pages, or who ran a command).
    #[arg(long, value_name = "USER")]
    actor: Option<String>,
    /// Only events of this action (issue, revoke, submit, deny, user, passwd, role, setting,
    /// root key, ...).
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

fn date(text: &str) -> Result<time::OffsetDateTime, String> {
    ca_core::display::parse_time(text).map_err(|err| err.to_string())
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    // Actions are written in lower case; one the trail never held is a typo, not "nothing".
    let action = args.action.map(|action| action.to_lowercase());
    let events = authority
        .audit_events(&AuditFilter {
            actor: args.actor,
            action: action.clone(),
            since: args.since,
            ..AuditFilter::default()
        })
        .await?;
    // One that is no action at all is a typo, not "nothing" (an earlier release's may be
    // held still).
    if let Some(action) = &action
        && events.is_empty()
        && !ca_core::store::AUDIT_ACTIONS.contains(&action.as_str())
    {
        let held = authority.audit_actions().await?;
        if !held.contains(action) {
            return Err(Refused(format!(
                "{} is no action of the audit trail: the actions are {}",
                ca_core::display::quoted(action),
                ca_core::store::AUDIT_ACTIONS.join(", ")
            ))
            .into());
        }
    }
    if args.json {
        let array: Vec<_> = events
            .iter()
            .map(|event| {
                json!({
                    "id": event.id,
                    "at": rfc3339(event.at),
                    "actor": event.actor,
                    "action": event.action,
                    "subject": event.subject,
                    "detail": event.detail,
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&array)?);
        return Ok(());
    }
    if events.is_empty() {
        say!("Nothing matches.");
        return Ok(());
    }
    say!(
        "{:<20}  {:<16}  {:<14}  {:<20}  DETAIL",
        "AT",
        "ACTOR",
        "ACTION",
        "SUBJECT"
    );
    for event in &events {
        say!(
            "{:<20}  {:<16}  {:<14}  {:<20}  {}",
            when(event.at),
            printable(&event.actor),
            printable(&event.action),
            printable(&event.subject),
            printable(&event.detail)
        );
    }
    Ok(())
}

/// Text from the log as a terminal may show it: control characters (an escape sequence a
/// requester slipped into a name or a reason) written as `\u{..}`.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// The README's row for `ca audit` names every action the trail records, which is what
    /// `--action` takes.
    #[test]
    fn the_readme_names_every_action_a_filter_takes() {
        let readme = include_str!("../../README.md");
        let row = readme
            .lines()
            .find(|line| line.starts_with("| `ca audit "))
            .unwrap();
        for action in ca_core::store::AUDIT_ACTIONS {
            assert!(row.contains(&format!("`{action}`")), "{action}");
        }
    }
}
