//! `ca list`: the issuance log, filtered.

use std::path::Path;

use ca_core::{ListFilter, Status};

use crate::output::{issuance_json, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only rows with this status.
    #[arg(long, value_parser = crate::cmd::choice::<Status>())]
    status: Option<Status>,
    /// Only valid certificates that expire within this many days.
    #[arg(long, value_name = "DAYS")]
    expiring: Option<u32>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args.status,
        expiring_within_days: args.expiring,
    };
    let authority = crate::cmd::open_read(data).await?;
    let mut rows = authority.list(&filter).await?;
    if filter.expiring_within_days.is_some() {
        // The OCSP responder's certificate lives 30 days and renews itself: nothing to act on.
        rows.retain(|row| row.requester != ca_core::responder::RESPONDER_REQUESTER);
    }
    if args.json {
        let array: Vec<_> = rows.iter().map(issuance_json).collect();
        say!("{}", serde_json::to_string_pretty(&array)?);
        return Ok(());
    }
    if rows.is_empty() {
        say!("Nothing matches.");
        return Ok(());
    }
    say!(
        "{:>6}  {:<8}  {:<20}  {:<32}  NAMES",
        "ID",
        "STATUS",
        "NOT AFTER",
        "SERIAL"
    );
    for row in &rows {
        let (not_after, serial) = match &row.certificate {
            Some(cert) => (when(cert.not_after), cert.serial.hex()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        say!(
            "{:>6}  {:<8}  {:<20}  {:<32}  {}",
            row.id,
            row.status,
            not_after,
            serial,
            row.names_shown()
        );
    }
    Ok(())
}
