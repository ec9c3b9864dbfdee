//! Serving the application over HTTP and HTTPS at once, with TLS from rustls, a certificate
//! the CA issued for itself (swapped in place when renewed), timeouts for slow clients, and
//! graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use ca_core::identity::ServerIdentity;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::Peer;
use crate::routes::router;
use crate::state::AppState;

/// How long a client may take to finish the TLS handshake or send its request headers.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long open connections get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The sockets to serve on, bound by the caller (so a test can bind 127.0.0.1:0 and read the
/// port back before anything is served).
pub struct Listeners {
    pub http: Option<TcpListener>,
    pub https: Option<TcpListener>,
}

/// The TLS configuration, and the handle that replaces its certificate.
#[derive(Clone)]
pub struct TlsConfig {
    pub server: Arc<rustls::ServerConfig>,
    resolver: Arc<Resolver>,
}

impl TlsConfig {
    /// Presents `identity` from the next handshake on.
    pub fn replace(&self, identity: &ServerIdentity) -> Result<(), rustls::Error> {
        let key = certified_key(identity)?;
        if let Ok(mut current) = self.resolver.current.write() {
            *current = Arc::new(key);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|key| Arc::clone(&key))
    }
}

fn certified_key(identity: &ServerIdentity) -> Result<CertifiedKey, rustls::Error> {
    let chain: Vec<CertificateDer<'static>> = identity
        .chain
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone()));
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)?;
    Ok(CertifiedKey::new(chain, signing))
}

/// A TLS 1.2/1.3 server configuration presenting `identity`, offering HTTP/2 and HTTP/1.1.
pub fn tls_config(identity: &ServerIdentity) -> Result<TlsConfig, rustls::Error> {
    let resolver = Arc::new(Resolver {
        current: RwLock::new(Arc::new(certified_key(identity)?)),
    });
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(resolver.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsConfig {
        server: Arc::new(server),
        resolver,
    })
}

/// Serves the application on `listeners` until `shutdown` completes, then lets open
/// connections finish (for at most ten seconds).
pub async fn serve(
    listeners: Listeners,
    state: AppState,
    tls: Option<TlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(listener) = listeners.http {
        tasks.push(tokio::spawn(accept_loop(
            listener,
            app.clone(),
            None,
            stop_rx.clone(),
        )));
    }
    if let Some(listener) = listeners.https {
        let acceptor = tls
            .as_ref()
            .map(|t| TlsAcceptor::from(Arc::clone(&t.server)))
            .ok_or_else(|| io::Error::other("an HTTPS listener needs a TLS configuration"))?;
        tasks.push(tokio::spawn(accept_loop(
            listener,
            app.clone(),
            Some(acceptor),
            stop_rx.clone(),
        )));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let peer = Peer {
            addr,
            tls: tls.is_some(),
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(peer);
                app.clone().oneshot(request.map(axum::body::Body::new))
            });
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(CLIENT_TIMEOUT);
            let served = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(CLIENT_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(connection.into_owned()).await
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%err, %addr, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%addr, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(err) = served {
                tracing::debug!(%err, %addr, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}
