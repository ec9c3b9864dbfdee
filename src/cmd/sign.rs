//! `ca sign`: a certificate for a request made elsewhere (IIS, certreq, OpenSSL).

use std::path::{Path, PathBuf};

use ca_core::csr::{CertificateRequest, SignOptions};
use ca_core::{Authority, CertificateRef, Profile, RequestSource, SubjectName};

use crate::cmd::Refused;
use crate::output::{OutFile, emit, when};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The request: PEM, bare base64 or DER (`-` for standard input).
    #[arg(value_name = "CSR_FILE")]
    csr: PathBuf,
    /// How long the certificate is valid, in days from an hour before it is made (at most 825) [default: 397]
    #[arg(long, value_name = "N", value_parser = crate::cmd::days, allow_negative_numbers = true)]
    days: Option<u32>,
    /// Write the certificate (PEM) to FILE instead of standard output (`-`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Accept names that resolve only inside a private network.
    #[arg(long)]
    allow_internal: bool,
    /// Also allow TLS client authentication with this certificate.
    #[arg(long)]
    client_auth: bool,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Add NAME (a DNS name or IP address) to the names the request asks for, as AD CS's
    /// `san:dns=` request attribute does (IIS's request wizard asks for one name); repeatable.
    #[arg(long, value_name = "NAME")]
    san: Vec<SubjectName>,
    /// Record the certificate as the renewal of certificate ID (or SERIAL), for a server that
    /// renews with a new request of its own (IIS, certreq -renew): the line of renewals goes
    /// on, and the old certificate's expiry needs no one's attention.
    #[arg(long, value_name = "ID|SERIAL|THUMBPRINT")]
    renews: Option<CertificateRef>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    // What is wrong with the command line itself is said first, before anything about its
    // file.
    if let Some(days) = args.days {
        ca_core::profile::check_leaf_days(days)?;
    }
    // Opened and checked before the request is read (it may come slowly, from a pipe or a
    // terminal) and before anything is issued: a certificate issued to a file that cannot
    // be written is in the log all the same.
    let out = match crate::output::named(args.out.as_deref()) {
        Some(path) => Some(OutFile::open(path, data)?),
        None => None,
    };
    if let (Some(path), Some(out)) = (&args.out, &out)
        && out.exists()
        && !args.force
    {
        return Err(Refused(format!(
            "{} already exists: choose another --out file, or pass --force to replace it",
            path.display()
        ))
        .into());
    }
    let input = crate::cmd::read_input(&args.csr, "certificate request")?;
    let request = match CertificateRequest::parse(&input) {
        Ok(request) => request,
        // A request refused for what it holds (its signature, its key, a name) is in the
        // log as denied, as on the pages; a file that is no request at all is not a request.
        Err(
            err @ (ca_core::Error::BadRequestSignature
            | ca_core::Error::NameRefused { .. }
            | ca_core::Error::WeakKey { .. }
            | ca_core::Error::KeyTooLarge { .. }
            | ca_core::Error::UnsupportedKey { .. }),
        ) => {
            // The refusal is said whatever becomes of its record (a backup, a folder this
            // user may not write).
            return Err(
                match Authority::open(data, crate::cmd::open_options(1)?).await {
                    Ok(authority) => recorded(&authority, None, &input, &args.san, err).await,
                    Err(why) => not_recorded(err, &why),
                },
            );
        }
        Err(err) => return Err(err.into()),
    };
    let authority = crate::cmd::open_to_sign(data).await?;
    let renews = match &args.renews {
        Some(reference) => {
            let old = authority.find(reference).await?;
            authority.refuse_unrenewable(&old).await?;
            // A renewal replaces a certificate of the same server: a request that names
            // none of its names is another server's (a mistyped id would end the line of
            // renewals of a certificate that goes on being used, for good).
            let asked: Vec<&SubjectName> = request.names().iter().chain(&args.san).collect();
            if !old.names.iter().any(|name| asked.contains(&name)) {
                return Err(Refused(format!(
                    "certificate {} is for {}, and the request names {}: a renewal is for the same server; check the id (`{} list` shows them)",
                    old.id,
                    old.names_shown(),
                    if old.names.len() == 1 {
                        "another"
                    } else {
                        "none of them"
                    },
                    crate::invocation::ca()
                ))
                .into());
            }
            Some((
                old.id,
                old.certificate
                    .as_ref()
                    .is_some_and(|c| c.revocation.is_some()),
            ))
        }
        None => None,
    };
    let revoked_renewed = renews.is_some_and(|(_, revoked)| revoked);
    let renews = renews.map(|(id, _)| id);
    // Looked up before issuing, so that the new certificate is not among them; the one it
    // renews is said apart.
    let mut names = request.names().to_vec();
    names.extend(args.san.iter().cloned());
    let mut holders = authority.holders_of(&names).await?;
    holders.retain(|holder| Some(holder.id) != renews);
    let extra_names = args.san.clone();
    let signed = authority
        .sign_request(
            &request,
            SignOptions {
                days: args.days,
                allow_internal: args.allow_internal,
                profile: Profile::for_client_auth(args.client_auth),
                extra_names: args.san,
                requester: crate::cmd::actor(),
                // A renewal, whoever made its key: `ca list --source renewal` finds it.
                source: if renews.is_some() {
                    RequestSource::Renewal
                } else {
                    RequestSource::Csr
                },
                renewed_from: renews,
                acme_order: None,
            },
        )
        .await;
    let issued = match signed {
        Ok(issued) => issued,
        Err(err) if err.is_refusal() && !matches!(err, ca_core::Error::NotFound(_)) => {
            return Err(recorded(&authority, Some(&request), &input, &extra_names, err).await);
        }
        Err(err) => return Err(err.into()),
    };
    let pem = issued.leaf_pem();
    let written = match out {
        Some(out) => out.write(pem.as_bytes()),
        None => emit(data, None, pem.as_bytes(), false),
    };
    written.map_err(|err| {
        let id = issued.issuance.id;
        // The operating system's reason alone: the usual advice ("try again") would issue
        // another certificate.
        let file = crate::output::named(args.out.as_deref())
            .map_or_else(|| "FILE".to_owned(), ca_core::display::shell_word);
        anyhow::anyhow!(
            "certificate {id} was issued and is in the log, but could not be written ({err:#}): \
             do not sign the request again; `{} export {id} --format crt --out {file}` writes it again",
            crate::invocation::ca_in(data)
        )
    })?;
    if let Some(cert) = &issued.issuance.certificate {
        tell!(
            "ca: issued certificate {} for {} ({} key), valid until {}, serial {}",
            issued.issuance.id,
            issued.issuance.names_shown(),
            cert.key_algorithm,
            when(cert.not_after),
            cert.serial
        );
    }
    match renews {
        Some(old) if revoked_renewed => tell!("ca: it renews certificate {old}, which is revoked"),
        Some(old) => tell!(
            "ca: it renews certificate {old}, which stays valid until it expires or is revoked (`{} revoke {old} --reason superseded` once its server has the new one)",
            crate::invocation::ca()
        ),
        None => {}
    }
    if let Some(note) = &issued.left_out {
        tell!("ca: note: {note}");
    }
    if request.asks_client_auth() && !args.client_auth {
        tell!(
            "ca: note: for TLS client authentication too, sign the request again with --client-auth"
        );
    }
    for note in crate::cmd::issue::renewal_notes(&holders, crate::cmd::issue::Made::FromRequest) {
        tell!("ca: note: {note}");
    }
    authority.close().await;
    Ok(())
}

/// `err`, a refusal of the request `input` (read as `request` when it could be), after
/// recording it in the log as a denied request: the error then names that request. Should
/// the log not take it, the refusal is said all the same, with why it is not recorded.
async fn recorded(
    authority: &Authority,
    request: Option<&CertificateRequest>,
    input: &[u8],
    extra: &[SubjectName],
    err: ca_core::Error,
) -> anyhow::Error {
    let row = authority
        .record_refused_csr(&crate::cmd::actor(), request, input, extra, &err)
        .await;
    // Closed as after an issuance: the write-ahead log goes into ca.db now.
    authority.close().await;
    match row {
        Ok(row) => anyhow::Error::new(err).context(format!(
            "request {} is refused (recorded in the log as denied)",
            row.id
        )),
        Err(why) => not_recorded(err, &why),
    }
}

/// `err`, a refusal of a request that could not be recorded in the log, and why not.
fn not_recorded(err: ca_core::Error, why: &ca_core::Error) -> anyhow::Error {
    anyhow::Error::new(err).context(format!(
        "the request is refused (and could not be recorded in the log: {why})"
    ))
}
