//! `ca revoke` and `ca crl`: withdrawing certificates, and the list that says so.

use std::path::{Path, PathBuf};

use ca_core::revoke::RevocationReason;

use crate::cmd::Refused;
use crate::output::{emit, human};

#[derive(clap::Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The request id, or the certificate's serial number in hex.
    #[arg(value_name = "ID|SERIAL")]
    id: String,
    /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
    /// cessationOfOperation or privilegeWithdrawn (RFC 5280 §5.3.1).
    #[arg(long, default_value = "unspecified")]
    reason: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CrlArgs {
    /// der or pem.
    #[arg(long, default_value = "der")]
    format: String,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn revoke(data: &Path, args: RevokeArgs) -> anyhow::Result<()> {
    let reason: RevocationReason = args.reason.parse()?;
    let authority = crate::cmd::open(data).await?;
    let row = crate::cmd::find(&authority, &args.id).await?;
    let revoked = authority.revoke(row.id, reason, "cli").await?;
    let cert = revoked.certificate.as_ref();
    println!(
        "Revoked certificate {} ({}) for {}, reason {}, at {}",
        revoked.id,
        cert.map(|c| c.serial.as_str()).unwrap_or_default(),
        revoked.names.join(", "),
        reason,
        cert.and_then(|c| c.revoked_at)
            .map(human)
            .unwrap_or_default()
    );
    println!("Clients learn of it from the next CRL (`ca crl`; `ca serve` publishes one at once).");
    Ok(())
}

pub(crate) async fn crl(data: &Path, args: CrlArgs) -> anyhow::Result<()> {
    let binary = match args.format.as_str() {
        "der" => true,
        "pem" => false,
        other => return Err(Refused(format!("unknown format '{other}': use der or pem")).into()),
    };
    let authority = crate::cmd::open(data).await?;
    let crl = authority.crl(authority.settings().crl_days).await?;
    if binary {
        emit(args.out.as_deref(), &crl.der, true)
    } else {
        emit(args.out.as_deref(), crl.pem().as_bytes(), false)
    }
}
