//! `ca renew`: a new certificate and key for the names of an existing one.

use std::path::{Path, PathBuf};

use ca_core::DnsName;
use ca_core::export::pkcs12::{PfxPassword, PfxProfile};

use crate::cmd::Refused;
use crate::cmd::issue::{OutputFiles, describe};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, or the certificate's serial number in hex.
    #[arg(value_name = "ID|SERIAL")]
    id: String,
    /// Folder to write the files into.
    #[arg(long, default_value = ".", value_name = "DIR")]
    out: PathBuf,
    /// Also write NAME.pfx, protected by the password in FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pfx_password_file: Option<PathBuf>,
    /// compat or modern.
    #[arg(long, default_value = "compat", value_name = "PROFILE")]
    pfx_profile: String,
    /// Replace files of the same names in the output folder.
    #[arg(long)]
    force: bool,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let pfx_profile: PfxProfile = args.pfx_profile.parse()?;
    let pfx_password = match &args.pfx_password_file {
        Some(path) => Some(PfxPassword::new(crate::cmd::read_password(
            path,
            "PFX password",
        )?)?),
        None => None,
    };
    let authority = crate::cmd::open(data).await?;
    let old = crate::cmd::find(&authority, &args.id).await?;
    let first = old.names.first().cloned().unwrap_or_default();
    let stem = match first.parse::<DnsName>() {
        Ok(dns) => dns.file_stem(),
        Err(_) => first.replace(':', "_"),
    };
    if !args.out.is_dir() {
        return Err(Refused(format!(
            "the output folder {} does not exist",
            args.out.display()
        ))
        .into());
    }
    let files = OutputFiles::new(&args.out, &stem, pfx_password.map(|p| (p, pfx_profile)));
    if !args.force
        && let Some(existing) = files.existing()
    {
        return Err(Refused(format!(
            "{} already exists: move it away, choose another --out folder, or pass --force to replace it",
            existing.display()
        ))
        .into());
    }
    let issued = authority.renew(old.id, "cli").await?;
    files.write(&issued)?;
    describe(&issued, &files);
    println!(
        "It renews certificate {}, which stays valid until it expires or is revoked (`ca revoke {} --reason superseded`).",
        old.id, old.id
    );
    Ok(())
}
