//! `ca root`: the root certificate, to install on clients.

use std::path::{Path, PathBuf};

use ca_core::export::CertificateFormat;

use crate::output::emit;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// pem or der (the root alone), p7b or p7b-pem (PKCS#7 holding the root).
    #[arg(long, value_parser = crate::cmd::choice::<CertificateFormat>(), default_value_t = CertificateFormat::Pem)]
    format: CertificateFormat,
    /// Write to FILE instead of standard output (`-`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let bytes = args.format.render(authority.root().der(), &[])?;
    emit(
        data,
        crate::output::named(args.out.as_deref()),
        &bytes,
        args.format.is_binary(),
    )
}
