//! `ca serve`: the /certsrv pages over HTTP and HTTPS.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ca_core::name::host_name;
use ca_core::root::default_root_name;
use ca_core::users::{Password, Role};
use ca_core::{Authority, InitOptions, ListFilter, Root, RootSpec, SubjectName};
use ca_web::{AppState, Listeners, serve, tls_config};
use tokio::net::TcpListener;

use crate::cmd::{Refused, init::describe_new_root, open_options};

/// How often the server checks whether its own certificate needs renewing.
const RENEWAL_CHECK: Duration = Duration::from_secs(6 * 3600);
/// How often used ACME nonces and abandoned orders are forgotten.
const ACME_PRUNE: Duration = Duration::from_secs(3600);
/// How often the server renews the OCSP responder certificate when due and signs ahead the
/// responses that are missing or half way through their lifetime.
const OCSP_REFRESH: Duration = Duration::from_secs(3600);
/// Connections to the store a server keeps.
const SERVER_CONNECTIONS: u32 = 8;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Address for plain HTTP (downloads work for anyone; passwords only from this machine).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    http: SocketAddr,
    /// Address for HTTPS.
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    https: SocketAddr,
    /// A name clients use to reach this server, for its HTTPS certificate; repeatable
    /// [default: this machine's host name]. localhost and 127.0.0.1 are added when the root's
    /// name constraints permit them.
    #[arg(long, value_name = "NAME")]
    hostname: Vec<SubjectName>,
}

pub(crate) async fn run(data: &Path, args: Args) -> anyhow::Result<()> {
    // The addresses first: a server that cannot listen creates nothing.
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|err| {
            anyhow::anyhow!(
                "cannot listen on {addr} ({err}): stop the program that uses it, or choose another address with --http or --https"
            )
        })
    };
    let http = bind(args.http).await?;
    let https = bind(args.https).await?;
    let defaulted = args.hostname.is_empty();
    let wanted: Vec<SubjectName> = if defaulted {
        vec![host_name().parse()?]
    } else {
        args.hostname.clone()
    };
    let init = InitOptions {
        root: RootSpec {
            name: Some(default_root_name(wanted.iter().find_map(SubjectName::dns))),
            ..RootSpec::default()
        },
        actor: "ca serve".into(),
        ..InitOptions::default()
    };
    let (authority, created) =
        Authority::open_or_init(data, init, open_options(SERVER_CONNECTIONS)?).await?;
    if created {
        describe_new_root(&authority)?;
    }
    let names = server_names(authority.root(), wanted, defaulted)?;
    if authority.user_count().await? == 0 {
        let password = Password::random()?;
        authority
            .put_user("admin", Role::Admin, &password, "ca serve")
            .await?;
        say!(
            "Created the user admin with the password {}",
            password.reveal()
        );
        say!("  (shown only this once; set another with `ca user passwd admin --password-file -`)");
    }
    let identity = authority.server_identity(&names).await?;
    let tls = tls_config(&identity)
        .map_err(|err| anyhow::anyhow!("the HTTPS configuration failed: {err}"))?;
    let responder = authority.ocsp_responder().await?;

    let shown: Vec<String> = names.iter().map(SubjectName::shown).collect();
    say!("listening on http://{}/certsrv/", http.local_addr()?);
    say!(
        "listening on https://{}/certsrv/ (certificate for {})",
        https.local_addr()?,
        shown.join(", ")
    );
    let origin = https_origin(&names, https.local_addr()?);
    if authority.settings().acme.enabled {
        // Clients check the server's name, so the directory is given by the first one.
        say!("ACME directory at {origin}/acme/directory");
    }
    say!(
        "OCSP responder on http://{}/ocsp (responder certificate valid until {})",
        http.local_addr()?,
        crate::output::when(responder.not_after)
    );
    use std::io::Write;
    std::io::stdout().flush()?;

    let authority = Arc::new(authority);
    let renewer = {
        let authority = Arc::clone(&authority);
        let tls = tls.clone();
        let names = names.clone();
        tokio::spawn(async move {
            let mut current = identity.not_after;
            loop {
                tokio::time::sleep(RENEWAL_CHECK).await;
                match authority.server_identity(&names).await {
                    Ok(identity) if identity.not_after != current => match tls.replace(&identity) {
                        Ok(()) => {
                            current = identity.not_after;
                            tracing::info!(not_after = %identity.not_after, "renewed the server's HTTPS certificate");
                        }
                        Err(err) => {
                            tracing::error!(%err, "could not use the renewed HTTPS certificate")
                        }
                    },
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(%err, "could not renew the server's HTTPS certificate")
                    }
                }
            }
        })
    };
    let watcher = tokio::spawn(warn_about_expiring(Arc::clone(&authority)));
    let pruner = tokio::spawn(prune_acme(Arc::clone(&authority)));
    let signer = tokio::spawn(sign_ocsp_ahead(Arc::clone(&authority)));
    let state = AppState::new(Arc::clone(&authority))?.with_https_origin(origin);
    serve(
        Listeners {
            http: Some(http),
            https: Some(https),
        },
        state,
        Some(tls),
        shutdown_signal(),
    )
    .await?;
    renewer.abort();
    watcher.abort();
    pruner.abort();
    signer.abort();
    say!("stopped");
    Ok(())
}

/// The HTTPS origin clients use: the server's first name, and the port unless it is 443.
fn https_origin(names: &[SubjectName], addr: SocketAddr) -> String {
    let host = names
        .first()
        .map_or_else(|| addr.ip().to_string(), ToString::to_string);
    let host = match names.first() {
        Some(SubjectName::Ip(std::net::IpAddr::V6(_))) => format!("[{host}]"),
        _ => host,
    };
    match addr.port() {
        443 => format!("https://{host}"),
        port => format!("https://{host}:{port}"),
    }
}

/// Forgets used ACME nonces past their expiry and orders abandoned a day ago, hourly.
async fn prune_acme(authority: Arc<Authority>) {
    loop {
        match authority.prune_acme().await {
            Ok((0, 0)) => {}
            Ok((nonces, orders)) => {
                tracing::info!(
                    nonces,
                    orders,
                    "forgot expired ACME nonces and abandoned orders"
                )
            }
            Err(err) => tracing::error!(%err, "could not prune expired ACME state"),
        }
        tokio::time::sleep(ACME_PRUNE).await;
    }
}

/// Keeps the OCSP responder current: renews its certificate when due and signs ahead every
/// response that is missing or half way through its lifetime, at start and hourly.
async fn sign_ocsp_ahead(authority: Arc<Authority>) {
    loop {
        match authority.refresh_ocsp().await {
            Ok(0) => {}
            Ok(signed) => tracing::info!(signed, "signed OCSP responses ahead"),
            Err(err) => tracing::error!(%err, "could not sign OCSP responses ahead"),
        }
        tokio::time::sleep(OCSP_REFRESH).await;
    }
}

/// Days ahead `ca serve` warns of expiring certificates.
const EXPIRY_WARNING_DAYS: u32 = 30;

/// Logs a warning for each certificate that expires within 30 days, at start and daily.
async fn warn_about_expiring(authority: Arc<Authority>) {
    let filter = ListFilter {
        status: None,
        expiring_within_days: Some(EXPIRY_WARNING_DAYS),
    };
    loop {
        match authority.list(&filter).await {
            Ok(rows) => {
                // The OCSP responder's certificate lives 30 days and renews itself.
                let rows = rows
                    .into_iter()
                    .filter(|row| row.requester != ca_core::responder::RESPONDER_REQUESTER);
                for row in rows {
                    if let Some(cert) = &row.certificate {
                        tracing::warn!(
                            id = row.id.get(),
                            names = %row.names_shown(),
                            not_after = %cert.not_after,
                            "certificate expires within {EXPIRY_WARNING_DAYS} days: renew it with `ca renew {}`",
                            row.id
                        );
                    }
                }
            }
            Err(err) => tracing::error!(%err, "could not look for expiring certificates"),
        }
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    }
}

/// The names on the server's own certificate: those asked for (or this machine's host name),
/// then `localhost` and `127.0.0.1`, each only when the root's name constraints permit it, so
/// that clients accept the certificate. A name asked for outside the constraints is refused.
fn server_names(
    root: &Root,
    wanted: Vec<SubjectName>,
    defaulted: bool,
) -> anyhow::Result<Vec<SubjectName>> {
    let permitted = || {
        root.permitted()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut names: Vec<SubjectName> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    for name in wanted {
        if root.permits(&name) {
            if !names.contains(&name) {
                names.push(name);
            }
        } else if defaulted {
            left_out.push(name.to_string());
        } else {
            return Err(Refused(format!(
                "--hostname {name} is outside the root's name constraints ({}), so clients would refuse the server's certificate: give --hostname a name under them",
                permitted()
            ))
            .into());
        }
    }
    for local in ["localhost", "127.0.0.1"] {
        let name: SubjectName = local.parse()?;
        if root.permits(&name) {
            if !names.contains(&name) {
                names.push(name);
            }
        } else {
            left_out.push(local.to_owned());
        }
    }
    if names.is_empty() {
        return Err(Refused(format!(
            "the root's name constraints ({}) permit none of this server's names: pass --hostname with the name clients use, under them",
            permitted()
        ))
        .into());
    }
    if !left_out.is_empty() {
        say!(
            "Left {} out of the server's certificate: the root's name constraints ({}) do not permit {}.",
            left_out.join(" and "),
            permitted(),
            if left_out.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(names)
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
