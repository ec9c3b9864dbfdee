//! `ca ocsp`: what the OCSP responder answers for a certificate, and its own certificate.

use std::path::Path;

use ca_core::CertificateRef;
use ca_core::ocsp::{CertStatus, RESPONDER_RENEW_BEFORE};

use crate::output::when;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, or the certificate's serial number in hex (any serial: one this CA
    /// never issued is answered "unknown"); all digits are read as an id, so write a serial
    /// such as 1234 as 0x1234.
    #[arg(value_name = "ID|SERIAL")]
    id: CertificateRef,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let (serial, status) = authority.ocsp_status(&args.id).await?;
    match status {
        CertStatus::Good => say!("serial {serial}: good"),
        CertStatus::Revoked { at, reason } => {
            say!("serial {serial}: revoked at {} for {reason}", when(at))
        }
        CertStatus::Unknown => {
            say!("serial {serial}: unknown (this CA issued no certificate with this serial)")
        }
    }
    match authority.ocsp_responder_info() {
        Some(responder) => say!(
            "responder certificate: serial {}, valid {} to {} (`ca serve` renews it when under {} days are left)",
            responder.serial,
            when(responder.not_before),
            when(responder.not_after),
            RESPONDER_RENEW_BEFORE.whole_days()
        ),
        None => say!(
            "responder certificate: none yet (`ca serve` makes one when it starts, and answers OCSP only then)"
        ),
    }
    let url = authority.settings().url.clone();
    match url {
        Some(base) => say!("responder: {}", (ca_web::LINKS.ocsp)(&base)),
        None => say!(
            "responder: not named in certificates, since no public URL is set (`ca config set url http://...`)"
        ),
    }
    Ok(())
}
