//! `ca pending`, `ca approve`, `ca deny`: requests that came over the web.

use std::path::Path;

use ca_core::{ListFilter, RequestId, Status};

use crate::output::when;

#[derive(clap::Args, Debug)]
pub(crate) struct PendingArgs {
    /// Print a JSON array instead of text: the rows as `ca list --json` writes them, each
    /// with `added_names`, those its requester added beyond its CSR's.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ApproveArgs {
    /// The request id.
    id: RequestId,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DenyArgs {
    /// The request id.
    id: RequestId,
    /// Why, as the requester will read it.
    #[arg(long, default_value = "")]
    reason: String,
}

pub(crate) async fn list(data: &Path, args: PendingArgs) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let rows = authority
        .list(&ListFilter {
            status: Some(Status::Pending),
            ..ListFilter::default()
        })
        .await?;
    if args.json {
        // The rows as `ca list --json` writes them, each with the names its requester added.
        let mut shown = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut value = serde_json::to_value(crate::output::IssuanceJson::new(row))?;
            let added: Vec<String> = authority
                .names_beyond_the_csr(row)
                .await?
                .iter()
                .map(ToString::to_string)
                .collect();
            value["added_names"] = added.into();
            shown.push(value);
        }
        say!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    if rows.is_empty() {
        say!("No request is pending.");
        return Ok(());
    }
    say!("{:>6}  {:<20}  {:<16}  NAMES", "ID", "REQUESTED", "BY");
    for row in rows {
        say!(
            "{:>6}  {:<20}  {:<16}  {}",
            row.id,
            when(row.requested_at),
            crate::explain::printable(&row.requester),
            row.names_shown()
        );
        // Names its requester added to what the CSR's key signed, and what approving it
        // would leave out, said before it is decided.
        let added = authority.names_beyond_the_csr(&row).await?;
        if !added.is_empty() {
            say!("        added: {}", added_names(&added));
        }
        if let Some(note) = authority.left_out_of(row.id).await? {
            say!("        note: {}", crate::explain::printable(&note));
        }
    }
    Ok(())
}

pub(crate) async fn approve(data: &Path, args: ApproveArgs) -> anyhow::Result<()> {
    let authority = crate::cmd::open_to_sign(data).await?;
    // Looked up before issuing, so that the new certificate is not among them.
    let asked = authority.request(args.id).await?.names;
    let holders = authority.holders_of(&asked).await?;
    let issued = match authority.approve(args.id, &crate::cmd::actor()).await {
        Ok(issued) => issued,
        // A request that can never be signed (its key the root's, or one known to be
        // compromised; a name the rules refuse) stays pending until it is denied.
        Err(
            err @ (ca_core::Error::InvalidRequest(_)
            | ca_core::Error::NameRefused { .. }
            | ca_core::Error::InvalidInput(_)),
        ) => {
            return Err(crate::cmd::Refused(format!(
                "request {} cannot be issued: {}; it stays pending until `{} deny {} --reason ...` takes it off the queue, with a reason its requester reads",
                args.id,
                crate::explain::sentence(&anyhow::Error::from(err)),
                crate::invocation::ca(),
                args.id
            ))
            .into());
        }
        Err(err) => return Err(err.into()),
    };
    let row = &issued.issuance;
    say!("Issued certificate {} for {}", row.id, row.names_shown());
    if let Some(cert) = &row.certificate {
        crate::cmd::issue::summary(cert, " (its requester's)")?;
    }
    say!(
        "Its requester collects it on the pages (View the status of a pending certificate request); `{} export {}` writes it.",
        crate::invocation::ca(),
        row.id
    );
    if let Some(note) = &issued.left_out {
        say!("Note: {note}.");
    }
    for note in crate::cmd::issue::renewal_notes(&holders, crate::cmd::issue::Made::FromRequest) {
        say!("Note: {note}");
    }
    authority.close().await;
    Ok(())
}

pub(crate) async fn deny(data: &Path, args: DenyArgs) -> anyhow::Result<()> {
    let authority = crate::cmd::open(data).await?;
    let row = authority
        .deny(args.id, &args.reason, &crate::cmd::actor())
        .await?;
    say!(
        "Denied request {}: {}",
        row.id,
        crate::explain::printable(&row.disposition)
    );
    authority.close().await;
    Ok(())
}

/// The line that names the names a request's requester added to its CSR's.
pub(crate) fn added_names(added: &[ca_core::SubjectName]) -> String {
    let names: Vec<String> = added
        .iter()
        .map(ca_core::SubjectName::shown_with_a_labels)
        .collect();
    format!(
        "{} (by its requester, not in the CSR its key signed)",
        crate::explain::printable(&names.join(", "))
    )
}
