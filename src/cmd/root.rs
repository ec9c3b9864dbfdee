//! `ca root`: the root certificate, to install on clients.

use std::path::{Path, PathBuf};

use ca_core::export::CertificateFormat;

use crate::output::emit;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// pem, der, p7b or p7b-pem.
    #[arg(long, default_value = "pem")]
    format: String,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let format: CertificateFormat = args.format.parse()?;
    let authority = crate::cmd::open(data).await?;
    let bytes = format.render(authority.root().der(), &[])?;
    emit(args.out.as_deref(), &bytes, format.is_binary())
}
