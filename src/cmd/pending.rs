//! `ca pending`, `ca approve`, `ca deny`: requests that came over the web.

use std::path::Path;

use ca_core::{ListFilter, Status};

use crate::cmd::Refused;
use crate::output::human;

#[derive(clap::Args, Debug)]
pub(crate) struct ApproveArgs {
    /// The request id.
    id: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DenyArgs {
    /// The request id.
    id: String,
    /// Why, as the requester will read it.
    #[arg(long, default_value = "")]
    reason: String,
}

fn request_id(text: &str) -> anyhow::Result<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Refused(format!("'{text}' is not a request id: see `ca pending`")).into())
}

pub(crate) async fn list(data: &Path) -> anyhow::Result<()> {
    let authority = crate::cmd::open(data).await?;
    let rows = authority
        .store()
        .list(&ListFilter {
            status: Some(Status::Pending),
            expiring_within_days: None,
        })
        .await?;
    if rows.is_empty() {
        println!("No request is pending.");
        return Ok(());
    }
    println!("{:>6}  {:<20}  {:<16}  NAMES", "ID", "REQUESTED", "BY");
    for row in rows {
        println!(
            "{:>6}  {:<20}  {:<16}  {}",
            row.id,
            human(row.requested_at),
            row.requester,
            row.names.join(", ")
        );
    }
    Ok(())
}

pub(crate) async fn approve(data: &Path, args: ApproveArgs) -> anyhow::Result<()> {
    let id = request_id(&args.id)?;
    let authority = crate::cmd::open(data).await?;
    let issued = authority.approve(id, "cli").await?;
    println!(
        "Issued certificate {} for {}",
        issued.issuance.id,
        issued.issuance.names.join(", ")
    );
    Ok(())
}

pub(crate) async fn deny(data: &Path, args: DenyArgs) -> anyhow::Result<()> {
    let id = request_id(&args.id)?;
    let authority = crate::cmd::open(data).await?;
    let row = authority.deny(id, &args.reason, "cli").await?;
    println!("Denied request {}: {}", row.id, row.disposition);
    Ok(())
}
