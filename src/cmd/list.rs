//! `ca list`: the issuance log, filtered, sorted, a page at a time when asked.

use std::path::Path;

use ca_core::{
    Choice, ListFilter, ListKey, ListOrder, NameSearch, OwnCertificate, RequestSource, Status,
};

use crate::output::{days_left, print_json_rows, when};

/// Valid certificates that expire within this many days are marked with the days left (as
/// on the inventory page).
const MARK_DAYS: u32 = 30;

/// The width of the requester column: longer names are cut, ending with `…`.
const REQUESTER: usize = 16;

/// `text` in at most `width` characters.
fn clipped(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

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
        renewed_too: false,
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
        let now = time::OffsetDateTime::now_utc();
        // Rows are marked with the days left as the inventory page marks them.
        let mark_days = args.expiring.unwrap_or(0).max(MARK_DAYS);
        say!(
            "{:>6}  {:<8}  {:<20}  {:<REQUESTER$}  {:<7}  {:<32}  NAMES",
            "ID",
            "STATUS",
            "NOT AFTER",
            "REQUESTER",
            "SOURCE",
            "SERIAL"
        );
        for row in &rows {
            let (not_after, serial) = match &row.certificate {
                Some(cert) => (when(cert.not_after), cert.serial.hex()),
                None => ("-".to_owned(), "-".to_owned()),
            };
            // The responder's certificate names no host: its subject says what it is.
            let names = match row.own() {
                Some(OwnCertificate::OcspResponder) if row.names.is_empty() => {
                    ca_core::ocsp::signer::responder_common_name(authority.root())
                }
                _ => row.names_shown(),
            };
            let mut notes = Vec::new();
            if let Some(left) = row.expires_within(mark_days, now) {
                notes.push(days_left(left));
            }
            if let Some(cert) = &row.certificate
                && let Some(by) = cert.renewed_by
            {
                notes.push(if cert.renewal_in_force {
                    format!("renewed by {by}")
                } else {
                    format!("renewed by {by}, not carrying it on")
                });
            }
            // When and why, as AD CS's view of revoked certificates has them.
            if let Some(revoked) = row.certificate.as_ref().and_then(|c| c.revocation.as_ref()) {
                notes.push(format!(
                    "revoked {} for {}",
                    when(revoked.revoked_at),
                    revoked.reason
                ));
            }
            match row.own() {
                Some(OwnCertificate::Server) => notes.push("this CA's HTTPS server".to_owned()),
                Some(OwnCertificate::OcspResponder) => {
                    notes.push("this CA's OCSP responder".to_owned());
                }
                None => {}
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            };
            say!(
                "{:>6}  {:<8}  {:<20}  {:<REQUESTER$}  {:<7}  {:<32}  {names}{notes}",
                row.id,
                row.status,
                not_after,
                clipped(&crate::explain::printable(&row.requester), REQUESTER),
                row.source.name(),
                serial,
            );
        }
    }
    if let Some(next) = page.next {
        tell!("ca: more rows follow: the next page is --after {next}");
    }
    Ok(())
}
