//! `ca migrate --to URL`: the issuance log copied into an empty PostgreSQL database, so that
//! several servers can share it.

use std::path::Path;

use ca_core::DatabaseUrl;

use crate::cmd::{Refused, database_url};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The empty PostgreSQL database to copy the log into (postgres://USER@HOST:PORT/NAME; a
    /// password goes in $PGPASSWORD or ~/.pgpass, never on the command line).
    #[arg(long, value_name = "URL", value_parser = database_url)]
    to: DatabaseUrl,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    if args.to.has_password() {
        return Err(Refused(
            "the URL given with --to holds a password, which would be visible to every user of this machine: \
             remove it from the URL and put it in $PGPASSWORD or ~/.pgpass"
                .into(),
        )
        .into());
    }
    let authority = crate::cmd::open(data).await?;
    let from = authority.log_location().clone();
    let report = authority.migrate_log(&args.to).await?;
    let rows: u64 = report.rows.iter().map(|(_, rows)| rows).sum();
    let requests = report
        .rows
        .iter()
        .find(|(table, _)| *table == "requests")
        .map_or(0, |(_, rows)| *rows);
    say!(
        "Copied the issuance log of \"{}\" from {from} into {}: {rows} rows ({requests} requests, {} certificates, each matching its fingerprint), ids kept.",
        authority.root().common_name(),
        args.to,
        report.certificates
    );
    say!(
        "From now on give every command and every `ca serve` the database: --database {} (or CA_DATABASE={}), with this folder's root.crt and root.key on each node.",
        args.to,
        args.to
    );
    say!(
        "{from} keeps its rows as a backup and is marked as copied: commands refuse it from now on, so the two logs never diverge."
    );
    Ok(())
}
