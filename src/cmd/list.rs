//! `ca list`: the issuance log, filtered, sorted, a page at a time when asked.

use std::path::Path;

use ca_core::{ListFilter, ListKey, ListOrder, NameSearch, RequestSource, Status};

use crate::output::{print_json_rows, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only rows with this status.
    #[arg(long, value_parser = crate::cmd::choice::<Status>())]
    status: Option<Status>,
    /// Only valid certificates that expire within this many days.
    #[arg(long, value_name = "DAYS")]
    expiring: Option<u32>,
    /// Only rows with a name that holds TEXT (bücher finds xn--bcher-kva.example).
    #[arg(long, value_name = "TEXT", value_parser = name_search)]
    name: Option<NameSearch>,
    /// Only rows requested by USER (a user of the pages, or who ran `ca issue`).
    #[arg(long, value_name = "USER")]
    requester: Option<String>,
    /// Only rows that came this way.
    #[arg(long, value_parser = crate::cmd::choice::<RequestSource>())]
    source: Option<RequestSource>,
    /// The order: by request id or by expiry, ascending or descending.
    #[arg(long, value_parser = crate::cmd::choice::<ListOrder>(), default_value = "id")]
    sort: ListOrder,
    /// At most N rows; where they end is then said on standard error, to pass to --after.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Only rows after KEY in the order: the last request id of the page before (by id), or
    /// what the page before said (by expiry).
    #[arg(long, value_name = "KEY", value_parser = list_key)]
    after: Option<ListKey>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

fn name_search(text: &str) -> Result<NameSearch, String> {
    text.parse().map_err(|err: ca_core::Error| err.to_string())
}

fn list_key(text: &str) -> Result<ListKey, String> {
    text.parse().map_err(|err: ca_core::Error| err.to_string())
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args.status,
        expiring_within_days: args.expiring,
        name: args.name,
        requester: args.requester,
        source: args.source,
        order: args.sort,
        after: args.after,
        limit: args.limit,
    };
    let authority = crate::cmd::open_read(data).await?;
    let page = authority.list_page(&filter).await?;
    let rows = page.rows;
    if args.json {
        print_json_rows(&rows)?;
    } else if rows.is_empty() {
        say!("Nothing matches.");
    } else {
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
    }
    if let Some(next) = page.next {
        eprintln!("ca: more rows follow: the next page is --after {next}");
    }
    Ok(())
}
