//! `ca list`: the issuance log, filtered.

use std::path::Path;

use ca_core::{ListFilter, Status};

use crate::output::{human, issuance_json};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only rows with this status: valid, revoked, expired, pending or denied.
    #[arg(long)]
    status: Option<String>,
    /// Only valid certificates that expire within this many days.
    #[arg(long, value_name = "DAYS")]
    expiring: Option<u32>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()?,
        expiring_within_days: args.expiring,
    };
    let authority = crate::cmd::open(data).await?;
    let rows = authority.store().list(&filter).await?;
    if args.json {
        let array: Vec<_> = rows.iter().map(issuance_json).collect();
        println!("{}", serde_json::to_string_pretty(&array)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("Nothing matches.");
        return Ok(());
    }
    println!(
        "{:>6}  {:<8}  {:<20}  {:<32}  NAMES",
        "ID", "STATUS", "NOT AFTER", "SERIAL"
    );
    for row in &rows {
        let (not_after, serial) = match &row.certificate {
            Some(cert) => (human(cert.not_after), cert.serial.as_str()),
            None => ("-".to_owned(), "-"),
        };
        println!(
            "{:>6}  {:<8}  {:<20}  {:<32}  {}",
            row.id,
            row.status.name(),
            not_after,
            serial,
            row.names.join(", ")
        );
    }
    Ok(())
}
