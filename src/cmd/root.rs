//! `ca root`: the root certificate, to install on clients.

use std::path::{Path, PathBuf};

use crate::cmd::Refused;
use crate::output::emit;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// pem or der.
    #[arg(long, default_value = "pem")]
    format: String,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open(data).await?;
    let root = authority.root();
    match args.format.as_str() {
        "pem" => emit(args.out.as_deref(), root.pem().as_bytes(), false),
        "der" => emit(args.out.as_deref(), root.der(), true),
        other => Err(Refused(format!("unknown format '{other}': use pem or der")).into()),
    }
}
