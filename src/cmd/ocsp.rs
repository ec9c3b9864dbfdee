//! `ca ocsp`: what the OCSP responder answers for a certificate, and its own certificate.

use std::path::Path;

use ca_core::CertificateRef;
use ca_core::ocsp::{CertStatus, RESPONDER_RENEW_BEFORE};

use crate::output::when;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, the certificate's serial number in hex (any serial: one this CA
    /// never issued is answered "unknown"), or its SHA-1 or SHA-256 thumbprint; all digits
    /// are read as an id, so write a serial such as 1234 as 0x1234.
    #[arg(value_name = "ID|SERIAL|THUMBPRINT")]
    id: CertificateRef,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let (serial, status) = authority.ocsp_status(&args.id).await?;
    let (id, cert) = match authority.find(&args.id).await {
        Ok(row) => (Some(row.id), row.certificate),
        Err(_) => (None, None),
    };
    let expired = cert
        .as_ref()
        .map(|cert| cert.not_after)
        .filter(|at| *at <= time::OffsetDateTime::now_utc());
    match status {
        CertStatus::Good => match expired {
            Some(at) => say!(
                "serial {serial}: good, but expired on {} (clients refuse it for that)",
                when(at)
            ),
            None => say!("serial {serial}: good"),
        },
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
    // Clients ask where the certificate says, whatever the setting says today.
    let named = cert
        .as_ref()
        .map(|cert| ca_core::certificate::RevocationPointers::of(&cert.der).ocsp);
    // What gives its holder a certificate that names this URL's responder.
    let replace = match cert.as_ref().and_then(|cert| cert.renewed_by) {
        Some(by) => format!("certificate {by}, its renewal, is the one to install"),
        None => format!(
            "`{} renew {}` gives one that names it",
            crate::invocation::ca(),
            id.map_or_else(|| "ID".to_owned(), |id| id.to_string())
        ),
    };
    let now = authority
        .settings()
        .url
        .as_deref()
        .map(|base| (ca_web::LINKS.ocsp)(base));
    match (named, now) {
        (Some(named), now) if named.is_empty() => match now {
            Some(now) => say!(
                "responder: {now}, but this certificate names none (it was issued before a public URL was set): its clients cannot ask; {replace}"
            ),
            None => say!(
                "responder: none named in this certificate, since no public URL was set (`{} config set url http://...`)",
                crate::invocation::ca()
            ),
        },
        (Some(named), Some(now)) if !named.contains(&now) => say!(
            "responder: this certificate names {}, where its clients ask; the URL set now gives {now}: keep the old address answering, or replace the certificate ({replace})",
            named.join(", ")
        ),
        (Some(named), _) => say!("responder: {}", named.join(", ")),
        (None, Some(now)) => say!("responder: {now}"),
        (None, None) => say!(
            "responder: not named in certificates, since no public URL is set (`{} config set url http://...`)",
            crate::invocation::ca()
        ),
    }
    Ok(())
}
