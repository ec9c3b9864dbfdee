//! `ca root`: the root certificate, to install on clients.

use std::path::{Path, PathBuf};

use ca_core::export::CertificateFormat;

use crate::output::emit;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// pem (the default) or der (the root alone), p7b or p7b-pem (PKCS#7 holding the root).
    #[arg(long, value_parser = crate::cmd::choice::<CertificateFormat>())]
    format: Option<CertificateFormat>,
    /// Write to FILE instead of standard output (`-`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let format = match args.format {
        Some(format) => format,
        None => {
            crate::output::refuse_pem_in_a_file_named_otherwise(
                args.out.as_deref(),
                "ca root",
                "ca root writes no PFX, as the root's key stays in the data folder: name the file .crt or .pem, or give --format der or p7b",
            )?;
            CertificateFormat::Pem
        }
    };
    let authority = crate::cmd::open_read(data).await?;
    let bytes = format.render(authority.root().der(), &[])?;
    emit(
        data,
        crate::output::named(args.out.as_deref()),
        &bytes,
        format.is_binary(),
    )
}
