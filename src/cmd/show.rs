//! `ca show`: one request or certificate.

use std::path::Path;

use ca_core::CertificateRef;
use ca_core::certificate::RevocationPointers;

use crate::output::{IssuanceJson, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request id, the certificate's serial number in hex, or its thumbprint: SHA-1 (as
    /// Windows shows it) or SHA-256, 40 or 64 hex digits, colons and spaces allowed.
    #[arg(value_name = "ID|SERIAL|THUMBPRINT")]
    id: CertificateRef,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let row = authority.find(&args.id).await?;
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&IssuanceJson::new(&row).with_contents(&row))?
        );
        return Ok(());
    }
    say!("Request {} ({})", row.id, row.status);
    if row.names.is_empty() && row.own() == Some(ca_core::OwnCertificate::OcspResponder) {
        say!("  names        none: the OCSP responder's certificate names no host");
    } else {
        say!("  names        {}", row.names_shown());
    }
    say!(
        "  requested    {} by {} ({})",
        when(row.requested_at),
        crate::explain::printable(&row.requester),
        row.source
    );
    if !row.disposition.is_empty() {
        say!(
            "  disposition  {}",
            crate::explain::printable(row.disposition_shown())
        );
    }
    let added = authority.names_beyond_the_csr(&row).await?;
    if !added.is_empty() {
        say!(
            "  added        {}",
            crate::cmd::pending::added_names(&added)
        );
    }
    if let Some(note) = authority.left_out_of(row.id).await? {
        say!("  note         {}", crate::explain::printable(&note));
    }
    if let Some(cert) = &row.certificate {
        say!("  serial       {}", cert.serial);
        say!("  not before   {}", when(cert.not_before));
        say!("  not after    {}", when(cert.not_after));
        say!("  key          {}", cert.key_algorithm);
        say!("  SHA-256      {}", cert.sha256.colons());
        // What Windows names a certificate by: certutil, IIS's bindings, netsh's certhash,
        // Enable-ExchangeCertificate -Thumbprint.
        if !cert.der.is_empty() {
            say!(
                "  thumbprint   {} (SHA-1, as Windows shows it)",
                ca_core::certificate::sha1_thumbprint(&cert.der).replace(':', "")
            );
        }
        if let Some(contents) = ca_core::certificate::Contents::of(&cert.der) {
            say!(
                "  subject      {}",
                crate::explain::printable(&contents.subject)
            );
            say!(
                "  issuer       {}",
                crate::explain::printable(&contents.issuer)
            );
            if !contents.key_usage.is_empty() {
                say!(
                    "  key usage    {}{}",
                    contents.key_usage.join(", "),
                    if contents.key_usage_critical {
                        " (critical)"
                    } else {
                        ""
                    }
                );
            }
            if !contents.extended_key_usage.is_empty() {
                say!("  purposes     {}", contents.extended_key_usage.join(", "));
            }
            if contents.is_ca {
                say!("  CA           yes: it may sign certificates");
            }
        }
        if let Some(revocation) = &cert.revocation {
            say!(
                "  revoked      {} ({})",
                when(revocation.revoked_at),
                revocation.reason
            );
        }
        if let Some(old) = cert.renewed_from {
            say!("  renews       {old}");
        }
        if let Some(new) = cert.renewed_by {
            if cert.renewal_in_force {
                let carrier = authority
                    .renewal_carrying(&row, new)
                    .await
                    .map_or(new, |carrier| carrier.id);
                if carrier == new {
                    say!(
                        "  renewed by   {new}: the holder should use that one (`{} show {new}`)",
                        crate::invocation::ca()
                    );
                } else {
                    say!(
                        "  renewed by   {new}, which is not in force; certificate {carrier}, later in its line, is: the holder should use that one (`{} show {carrier}`)",
                        crate::invocation::ca()
                    );
                }
            } else if row.status == ca_core::Status::Valid {
                // Its renewals were revoked, or end before it: this one is what its server holds.
                let newest = authority
                    .newest_renewal(new)
                    .await
                    .map_or(new, |newest| newest.id);
                say!(
                    "  renewed by   {new}, but no certificate later in its line is in force for as long (each was revoked, or ends sooner): this certificate is still the one in force; `{} renew {newest}` carries its line on",
                    crate::invocation::ca()
                );
            } else {
                say!("  renewed by   {new}");
            }
        }
        match row.own() {
            Some(ca_core::OwnCertificate::OcspResponder) => {
                say!(
                    "  role         the OCSP responder's certificate: clients do not check its revocation (OCSP No Check), and `ca serve` renews it"
                );
                return Ok(());
            }
            Some(ca_core::OwnCertificate::Server) => say!(
                "  role         the certificate `ca serve` presents over HTTPS: it renews it 30 days before it expires, and makes a new one once it is revoked (at its next start or reload, or within 6 hours)"
            ),
            // Outlook matches the subject's CN, the first DNS name (an address is no CN).
            None => {
                if let Some(first) = row.names.iter().find_map(ca_core::SubjectName::dns) {
                    say!("  Outlook      principal name for the proxy server: msstd:{first}");
                }
            }
        }
        // Where clients check it is what the certificate itself names.
        let pointers = RevocationPointers::of(&cert.der);
        for url in &pointers.ocsp {
            say!("  OCSP         {url}");
        }
        for url in &pointers.crl {
            say!("  CRL          {url}");
        }
        if pointers.is_empty() {
            say!(
                "  revocation   none: the certificate names no OCSP responder or CRL, so clients cannot check it{}",
                if authority.settings().url.is_some() {
                    format!(
                        " (it was issued before the public URL was set: `{} renew {}` gives one that names them)",
                        crate::invocation::ca(),
                        row.id
                    )
                } else {
                    format!(
                        " (set a public URL with `{} config set url http://...`, then renew it)",
                        crate::invocation::ca()
                    )
                }
            );
        }
    }
    Ok(())
}
