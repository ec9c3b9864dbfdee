//! `ca show`: one request or certificate.

use std::path::Path;

use crate::output::{human, issuance_json};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, or the certificate's serial number in hex.
    #[arg(value_name = "ID|SERIAL")]
    id: String,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open(data).await?;
    let row = crate::cmd::find(&authority, &args.id).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&issuance_json(&row))?);
        return Ok(());
    }
    println!("Request {} ({})", row.id, row.status.name());
    println!("  names        {}", row.names.join(", "));
    println!(
        "  requested    {} by {} ({})",
        human(row.requested_at),
        row.requester,
        row.source
    );
    if !row.disposition.is_empty() {
        println!("  disposition  {}", row.disposition);
    }
    if let Some(cert) = &row.certificate {
        println!("  serial       {}", cert.serial);
        println!("  not before   {}", human(cert.not_before));
        println!("  not after    {}", human(cert.not_after));
        println!("  key          {}", cert.key_algorithm);
        println!(
            "  SHA-256      {}",
            ca_core::Fingerprint::of(&cert.der).colons()
        );
        if let Some(revoked_at) = cert.revoked_at {
            println!(
                "  revoked      {} ({})",
                human(revoked_at),
                cert.revocation_reason.as_deref().unwrap_or("unspecified")
            );
        }
        if let Some(first) = row.names.first() {
            println!("  Outlook      principal name for the proxy server: msstd:{first}");
        }
    }
    Ok(())
}
