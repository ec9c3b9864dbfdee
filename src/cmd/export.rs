//! `ca export`: an issued certificate in another format.

use std::path::{Path, PathBuf};

use ca_core::CertificateRef;
use ca_core::export::CertificateFormat;

use crate::cmd::Refused;
use crate::output::emit;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, or the certificate's serial number in hex.
    #[arg(value_name = "ID|SERIAL")]
    id: CertificateRef,
    /// pem (certificate, then root), der (certificate alone), p7b or p7b-pem (PKCS#7: certificate, then root).
    #[arg(long, value_parser = crate::cmd::choice::<CertificateFormat>())]
    format: CertificateFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let row = authority.find(&args.id).await?;
    let cert = row.certificate.as_ref().ok_or_else(|| {
        Refused(format!(
            "request {} has no certificate: it is {}",
            row.id, row.status
        ))
    })?;
    let bytes = args.format.render(&cert.der, &[authority.root().der()])?;
    emit(data, args.out.as_deref(), &bytes, args.format.is_binary())
}
