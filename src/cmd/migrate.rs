//! `ca migrate`: the issuance log copied into an empty PostgreSQL database (`--to URL`), so
//! that several servers can share it; and, run as the role that owns a PostgreSQL log, its
//! tables brought up to date and the servers' own role granted what it needs (`--grant ROLE`).

use std::path::Path;

use ca_core::{Authority, DatabaseUrl, RoleName};

use crate::cmd::{Refused, database_url};

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["to", "grant"]))]
pub(crate) struct Args {
    /// The empty PostgreSQL database to copy the log into (postgres://USER@HOST:PORT/NAME; a
    /// password goes in $PGPASSWORD or ~/.pgpass, never on the command line).
    #[arg(long, value_name = "URL", value_parser = database_url)]
    to: Option<DatabaseUrl>,

    /// The PostgreSQL role servers and commands run as: given what they need of the log and
    /// no more (the audit trail only read and added to). Run as the role that owns the log's
    /// tables, on the database --to names, else on --database (or $CA_DATABASE), which may
    /// be empty still; again after every upgrade of ca.
    #[arg(long, value_name = "ROLE", value_parser = role_name)]
    grant: Option<RoleName>,
}

pub(crate) fn role_name(text: &str) -> Result<RoleName, String> {
    text.parse().map_err(|err: ca_core::Error| err.to_string())
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let to = match (args.to, &args.grant) {
        (Some(to), _) => to,
        // `--grant` alone: the database named for this run, whether or not a CA is in it yet.
        (None, Some(role)) => {
            let Some(url) = crate::cmd::database() else {
                return Err(Refused(
                    "--grant works on a PostgreSQL log: give the database with --database or $CA_DATABASE (or the database key of the configuration file), connecting as the role that owns it"
                        .into(),
                )
                .into());
            };
            return grant(&url, role).await;
        }
        (None, None) => {
            return Err(Refused("give --to URL, --grant ROLE, or both".into()).into());
        }
    };
    if to.has_password() {
        return Err(Refused(
            "the URL given with --to holds a password, which would be visible to every user of this machine: \
             remove it from the URL and put it in $PGPASSWORD or ~/.pgpass"
                .into(),
        )
        .into());
    }
    let authority = crate::cmd::open(data).await?;
    let from = authority.log_location().clone();
    // What the SQLite log's mark tells a command that still opens it: the database as the
    // runtime role reaches it, when one is granted, never as the owner.
    let recorded = match &args.grant {
        Some(role) => to.shown_as(&role.to_string()),
        None => to.to_string(),
    };
    let report = authority.migrate_log(&to, &recorded).await?;
    let rows: u64 = report.rows.iter().map(|(_, rows)| rows).sum();
    let requests = report
        .rows
        .iter()
        .find(|(table, _)| *table == "requests")
        .map_or(0, |(_, rows)| *rows);
    say!(
        "Copied the issuance log of \"{}\" from {from} into {}: {rows} rows ({requests} requests, {} certificates, each matching its fingerprint), ids kept.",
        authority.root().common_name(),
        to,
        report.certificates
    );
    // Servers and commands run as the runtime role, when one is granted, never as the owner.
    // Whole when it holds no password (its options too, which the shown form hides), and a
    // shell word: a URL's `&` would end the command it is pasted into.
    let shown = match (&args.grant, to.given()) {
        (Some(role), _) => to.shown_as(&role.to_string()),
        (None, Some(whole)) => whole.to_owned(),
        (None, None) => to.to_string(),
    };
    let shown = ca_core::display::shell_word(Path::new(&shown));
    say!(
        "From now on give every command and every `ca serve` the database: --database {} (or CA_DATABASE={}), with this folder's root.crt and root.key on each node.",
        shown,
        shown
    );
    say!(
        "{from} keeps its rows as a backup and is marked as copied: commands refuse it from now on, so the two logs never diverge."
    );
    authority.close().await;
    if let Some(role) = args.grant {
        grant(&to, &role).await?;
    }
    Ok(())
}

/// Brings the log at `url` up to date and grants `role` its share, saying so.
pub(crate) async fn grant(url: &DatabaseUrl, role: &RoleName) -> anyhow::Result<()> {
    Authority::prepare_database(url, role).await?;
    say!(
        "The log in {url} is up to date, and the role {role} may read and write it but only add to its audit trail: give servers and commands a URL that connects as {role}, and run this again, as the owner, after every upgrade of ca."
    );
    Ok(())
}
