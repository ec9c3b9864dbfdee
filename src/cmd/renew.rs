//! `ca renew`: a new certificate and key for the names of an existing one.

use std::path::Path;

use ca_core::DnsName;

use crate::cmd::issue::{FileArgs, describe};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, or the certificate's serial number in hex.
    #[arg(value_name = "ID|SERIAL")]
    id: String,
    #[command(flatten)]
    files: FileArgs,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open(data).await?;
    let old = crate::cmd::find(&authority, &args.id).await?;
    let first = old.names.first().cloned().unwrap_or_default();
    let stem = match first.parse::<DnsName>() {
        Ok(dns) => dns.file_stem(),
        Err(_) => first.replace(':', "_"),
    };
    let files = args.files.prepare(&stem)?;
    let issued = authority.renew(old.id, "cli").await?;
    files.write(&issued)?;
    describe(&issued, &files);
    println!(
        "It renews certificate {}, which stays valid until it expires or is revoked (`ca revoke {} --reason superseded`).",
        old.id, old.id
    );
    Ok(())
}
