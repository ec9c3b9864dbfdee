//! Serving the application over HTTP and HTTPS at once, with TLS from rustls, a certificate
//! the CA issued for itself (swapped in place when renewed), deadlines for every connection,
//! a cap on connections below the process's file limit, and graceful shutdown.
//!
//! Every connection has a deadline for as long as it owes the server something: the TLS
//! handshake, the first request's headers (on HTTP/1.1, HTTP/2 over TLS and h2c alike), and
//! the next request on an idle keep-alive connection. A connection that misses its deadline
//! is closed. When the cap is reached, the connection idle the longest makes room for the new
//! one, so idle sockets cannot lock everyone else out.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use ca_core::identity::ServerIdentity;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::Peer;
use crate::routes::router;
use crate::state::AppState;

/// How long a client may take from connecting to a complete TLS handshake, and then to the
/// complete headers of its first request.
pub(crate) const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a keep-alive connection may wait, with no request in flight, for the next one.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long open connections get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free beside the connections, for the log, TLS and the like.
const RESERVED_FILES: u64 = 64;
/// The most connections served at once, whatever the file limit.
const MAX_CONNECTIONS: u64 = 16_384;

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

/// Raises the process's soft limit on open files to its hard limit, and returns how many
/// connections can be served at once below it.
pub(crate) fn connection_limit() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum
        && limit.current != Some(hard)
    {
        limit.current = Some(hard);
        if let Err(err) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%err, "could not raise the limit on open files");
        }
    }
    let current = getrlimit(Resource::Nofile)
        .current
        .unwrap_or(MAX_CONNECTIONS + RESERVED_FILES);
    let usable = current
        .saturating_sub(RESERVED_FILES)
        .clamp(16, MAX_CONNECTIONS);
    usize::try_from(usable).unwrap_or(16)
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
    let connections = Arc::new(Connections::new(connection_limit()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(listener) = listeners.http {
        tasks.push(tokio::spawn(accept_loop(
            listener,
            app.clone(),
            None,
            Arc::clone(&connections),
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
            Arc::clone(&connections),
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

/// What the server knows of one connection.
struct Connection {
    opened: Instant,
    /// Requests whose response is not yet wholly sent.
    in_flight: AtomicUsize,
    /// Requests received so far.
    requests: AtomicU64,
    /// Milliseconds after `opened` at which the connection last became idle.
    idle_since: AtomicU64,
    /// Told when the connection must close (its deadline passed, or room is needed).
    close: Notify,
}

impl Connection {
    fn new() -> Self {
        Connection {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            close: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When the connection must have sent its next request's headers, if it is waiting for
    /// one; `None` while a request is in flight.
    fn deadline(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let idle_since =
            self.opened + Duration::from_millis(self.idle_since.load(Ordering::SeqCst));
        Some(if self.requests.load(Ordering::SeqCst) == 0 {
            self.opened + FIRST_REQUEST_TIMEOUT
        } else {
            idle_since + IDLE_TIMEOUT
        })
    }

    fn started(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    fn finished(&self) {
        self.idle_since.store(self.now_ms(), Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every open connection, and the cap on their number.
struct Connections {
    limit: usize,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Connections {
    fn new(limit: usize) -> Self {
        Connections {
            limit,
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a new connection, first closing the one idle the longest when the cap is
    /// reached; `None` when every connection is busy with a request.
    fn admit(&self) -> Option<(u64, Arc<Connection>)> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= self.limit {
            let evicted = open
                .iter()
                .filter_map(|(id, conn)| conn.deadline().map(|d| (d, *id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(conn) = open.remove(&evicted) {
                conn.close.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let conn = Arc::new(Connection::new());
        open.insert(id, Arc::clone(&conn));
        Some((id, conn))
    }

    fn release(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }
}

/// Accept errors (out of file descriptors, say) are retried after a pause that doubles up to
/// a second, and logged at most once a second.
struct Backoff {
    pause: Duration,
    logged: Option<Instant>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    async fn after(&mut self, err: &io::Error) {
        if self
            .logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(%err, pause_ms = self.pause.as_millis() as u64, "accept failed");
            self.logged = Some(Instant::now());
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Self::MAX);
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    connections: Arc<Connections>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut backoff = Backoff {
        pause: Backoff::FIRST,
        logged: None,
    };
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff.pause = Backoff::FIRST;
                    accepted
                }
                Err(err) => {
                    backoff.after(&err).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Some((id, conn)) = connections.admit() else {
            // Every connection is in the middle of a request: this one waits its turn in no
            // queue of ours; it is closed, and the client may retry.
            drop(stream);
            continue;
        };
        let peer = Peer {
            addr,
            tls: tls.is_some(),
        };
        let watcher = graceful.watcher();
        let (app, tls, connections) = (app.clone(), tls.clone(), Arc::clone(&connections));
        tokio::spawn(async move {
            let served = serve_connection(stream, peer, app, tls, Arc::clone(&conn), watcher);
            tokio::select! {
                () = served => {}
                () = watchdog(&conn) => {
                    tracing::debug!(addr = %peer.addr, "connection closed: it sent no request in time");
                }
                () = conn.close.notified() => {
                    tracing::debug!(addr = %peer.addr, "idle connection closed to make room");
                }
            }
            connections.release(id);
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

/// Completes when the connection has missed its deadline.
async fn watchdog(conn: &Connection) {
    loop {
        match conn.deadline() {
            Some(deadline) if Instant::now() >= deadline => return,
            Some(deadline) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            }
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: Peer,
    app: Router,
    tls: Option<TlsAcceptor>,
    conn: Arc<Connection>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let tracked = Arc::clone(&conn);
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(peer);
        tracked.started();
        let guard = InFlight(Arc::clone(&tracked));
        let response = app.clone().oneshot(request.map(Body::new));
        async move {
            let response = response.await?;
            // The request stays in flight until its body is sent, or the connection drops.
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(Guarded {
                    inner: body,
                    _guard: guard,
                })
            }))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(FIRST_REQUEST_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(IDLE_TIMEOUT))
        .keep_alive_timeout(FIRST_REQUEST_TIMEOUT)
        .max_concurrent_streams(64);
    let served = match tls {
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => {
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(connection.into_owned()).await
            }
            Err(err) => {
                tracing::debug!(%err, addr = %peer.addr, "TLS handshake failed");
                return;
            }
        },
        None => {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(connection.into_owned()).await
        }
    };
    if let Err(err) = served {
        tracing::debug!(%err, addr = %peer.addr, "connection ended with an error");
    }
}

/// Marks a request finished when dropped.
struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// A response body that keeps its request in flight until it is sent or dropped.
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_full_table_makes_room_by_closing_the_longest_idle_connection() {
        let connections = Connections::new(2);
        let (first, a) = connections.admit().unwrap();
        let (_, b) = connections.admit().unwrap();
        // `b` is busy; `a` has waited longest for its first request.
        b.started();
        let (_, _c) = connections.admit().unwrap();
        assert!(!connections.open.lock().unwrap().contains_key(&first));
        drop(a);
        // Now two busy connections: nothing can be closed, so nothing is admitted.
        let (_, c) = {
            let open = connections.open.lock().unwrap();
            let mut ids: Vec<_> = open.iter().map(|(id, c)| (*id, Arc::clone(c))).collect();
            ids.sort_by_key(|(id, _)| *id);
            ids.pop().unwrap()
        };
        c.started();
        assert!(connections.admit().is_none());
    }

    #[test]
    fn deadlines_follow_the_state_of_the_connection() {
        let conn = Connection::new();
        assert_eq!(conn.deadline(), Some(conn.opened + FIRST_REQUEST_TIMEOUT));
        conn.started();
        assert_eq!(conn.deadline(), None);
        conn.finished();
        let deadline = conn.deadline().unwrap();
        assert!(deadline > conn.opened + IDLE_TIMEOUT - Duration::from_millis(1));
        assert!(deadline <= Instant::now() + IDLE_TIMEOUT);
    }

    #[test]
    fn the_connection_limit_stays_below_the_file_limit() {
        let limit = connection_limit() as u64;
        let files = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        assert!(limit + RESERVED_FILES <= files.max(16 + RESERVED_FILES));
        assert!(limit >= 16);
    }
}
