//! Serving the application over HTTP and HTTPS at once, with TLS from rustls, a certificate
//! the CA issued for itself (swapped in place when renewed), deadlines for every connection,
//! a cap on connections below the process's file limit, and graceful shutdown.
//!
//! Every connection has a deadline in every state: the TLS handshake, the first request's
//! headers (on HTTP/1.1, HTTP/2 over TLS and h2c alike), the next request on an idle
//! keep-alive connection, and the sending of each answer, so a client that stops reading (an
//! HTTP/2 client that keeps its flow-control window at zero while it answers PINGs) cannot
//! keep its connection busy forever. A connection that misses its deadline is closed. When
//! the cap is reached, the waiting connection nearest its deadline (idle, or only waiting for
//! its client to read) makes room for the new one, so neither idle nor stalled sockets can
//! lock everyone else out; HTTP/2 connections carry at most a few requests at once.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// How long an answer may take to reach the client once its handler made it. Answers are a
/// few KiB; one not sent by then waits on a client that stopped reading.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a request may stay in flight at all: its handler is bounded by
/// `REQUEST_TIMEOUT` (30 s), and sending its answer by `SEND_TIMEOUT`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests one HTTP/2 connection may have in flight at once: enough for a page and its
/// stylesheet, few enough that one connection cannot pile up work.
const MAX_STREAMS: u32 = 8;
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
    let app = App {
        router: router(state.clone()),
        state,
        ocsp_gets: Arc::default(),
    };
    let connections = Arc::new(Connections::new(connection_limit(), DEADLINES));
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

/// How long a connection may owe the server something, in each of its states.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    /// From connecting to the complete headers of the first request.
    pub(crate) first_request: Duration,
    /// With no request in flight, until the next request's headers.
    pub(crate) idle: Duration,
    /// From a handler's answer until its body is wholly handed to the connection.
    pub(crate) send: Duration,
    /// From a request's headers until its answer is wholly sent, whatever happens.
    pub(crate) request: Duration,
}

/// The deadlines `ca serve` keeps.
pub(crate) const DEADLINES: Deadlines = Deadlines {
    first_request: FIRST_REQUEST_TIMEOUT,
    idle: IDLE_TIMEOUT,
    send: SEND_TIMEOUT,
    request: BUSY_TIMEOUT,
};

/// What the server knows of one connection.
struct Connection {
    opened: Instant,
    deadlines: Deadlines,
    state: Mutex<ConnectionState>,
    /// Told when the deadline moves before the one the watchdog waits for, so that it looks
    /// at the new one. (A deadline that moves later is found when the watchdog wakes at the
    /// old one; in the common case, requests answered at once on a kept-alive connection,
    /// every move is later, and the connection's task is not woken for any.)
    changed: Notify,
    /// Told when the connection must close (its deadline passed, or room is needed).
    close: Notify,
}

/// Requests received so far, when the connection last had none in flight, and those in
/// flight.
struct ConnectionState {
    requests: u64,
    idle_since: Instant,
    in_flight: Vec<Exchange>,
    /// The deadline the watchdog waits for, once it looked.
    watched: Option<Instant>,
}

/// One request in flight: when its headers came, and when its handler answered (the body
/// may still be on its way to the client).
#[derive(Clone, Copy, Debug)]
struct Exchange {
    id: u64,
    started: Instant,
    answered: Option<Instant>,
}

/// Why a connection's deadline is what it is, for the log line when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// For the first request's headers (or the TLS handshake).
    FirstRequest,
    /// For the next request on an idle keep-alive connection.
    NextRequest,
    /// For the client to take an answer it does not read.
    Sending,
}

impl Waiting {
    fn overdue(self) -> &'static str {
        match self {
            Waiting::FirstRequest | Waiting::NextRequest => {
                "connection closed: it sent no request in time"
            }
            Waiting::Sending => {
                "connection closed: an answer could not be sent in time (the client stopped reading)"
            }
        }
    }
}

impl Connection {
    fn new(deadlines: Deadlines) -> Self {
        let opened = Instant::now();
        Connection {
            opened,
            deadlines,
            state: Mutex::new(ConnectionState {
                requests: 0,
                idle_since: opened,
                in_flight: Vec::new(),
                watched: None,
            }),
            changed: Notify::new(),
            close: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ConnectionState> {
        // The state is a few plain values, consistent after any panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the connection must have moved on, and what it is waiting for. Every state has
    /// a deadline: waiting for a request, and sending an answer alike (a client that stops
    /// reading, such as an HTTP/2 client that keeps its flow-control window at zero, would
    /// otherwise hold the connection forever).
    fn deadline(&self) -> (Instant, Waiting) {
        self.deadline_in(&self.state())
    }

    /// The deadline, and what it waits for, the watchdog now waits for.
    fn watch(&self) -> (Instant, Waiting) {
        let mut state = self.state();
        let (deadline, waiting) = self.deadline_in(&state);
        state.watched = Some(deadline);
        (deadline, waiting)
    }

    /// Tells the watchdog of the change just made to `state` when it moved the deadline
    /// before the one it waits for.
    fn changed(&self, state: std::sync::MutexGuard<'_, ConnectionState>) {
        let earlier = state
            .watched
            .is_none_or(|watched| self.deadline_in(&state).0 < watched);
        drop(state);
        if earlier {
            self.changed.notify_one();
        }
    }

    /// The deadline of a connection in `state`.
    fn deadline_in(&self, state: &ConnectionState) -> (Instant, Waiting) {
        let d = &self.deadlines;
        if state.in_flight.is_empty() {
            return if state.requests == 0 {
                (self.opened + d.first_request, Waiting::FirstRequest)
            } else {
                (state.idle_since + d.idle, Waiting::NextRequest)
            };
        }
        state
            .in_flight
            .iter()
            .map(|exchange| {
                let whole = exchange.started + d.request;
                match exchange.answered {
                    Some(answered) => (whole.min(answered + d.send), Waiting::Sending),
                    None => (whole, Waiting::Sending),
                }
            })
            .min_by_key(|(at, _)| *at)
            .unwrap_or((self.opened + d.first_request, Waiting::FirstRequest))
    }

    /// The deadline, when the connection may be closed to make room for a new one: it waits
    /// for a request, or only for its client to take answers already made. A connection
    /// whose handler is still at work is not closed (handlers are bounded by
    /// `REQUEST_TIMEOUT`).
    fn evictable(&self) -> Option<Instant> {
        let computing = self.state().in_flight.iter().any(|e| e.answered.is_none());
        (!computing).then(|| self.deadline().0)
    }

    /// A request's headers came: returns its id in this connection.
    fn started(&self) -> u64 {
        let mut state = self.state();
        let id = state.requests;
        state.requests += 1;
        state.in_flight.push(Exchange {
            id,
            started: Instant::now(),
            answered: None,
        });
        self.changed(state);
        id
    }

    /// The handler of request `id` answered; its body is on its way.
    fn answered(&self, id: u64) {
        let mut state = self.state();
        if let Some(exchange) = state.in_flight.iter_mut().find(|e| e.id == id) {
            exchange.answered = Some(Instant::now());
        }
        self.changed(state);
    }

    /// Request `id` is wholly answered, or abandoned.
    fn finished(&self, id: u64) {
        let mut state = self.state();
        state.in_flight.retain(|e| e.id != id);
        if state.in_flight.is_empty() {
            state.idle_since = Instant::now();
        }
        self.changed(state);
    }
}

/// Every open connection, and the cap on their number.
struct Connections {
    limit: usize,
    deadlines: Deadlines,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Connections {
    fn new(limit: usize, deadlines: Deadlines) -> Self {
        Connections {
            limit,
            deadlines,
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a new connection. When the cap is reached, the connection nearest its
    /// deadline among those that wait (for a request, or for their client to read an answer)
    /// is closed first; `None` when every connection has a handler at work.
    fn admit(&self) -> Option<(u64, Arc<Connection>)> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= self.limit {
            let evicted = open
                .iter()
                .filter_map(|(id, conn)| conn.evictable().map(|d| (d, *id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(conn) = open.remove(&evicted) {
                conn.close.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let conn = Arc::new(Connection::new(self.deadlines));
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

/// The application: the router, and the state for the answers given before it.
#[derive(Clone)]
struct App {
    router: Router,
    state: AppState,
    /// The responder's answers to GETs, prepared for the paths that asked for them.
    ocsp_gets: Arc<crate::routes::ocsp::PreparedGets>,
}

async fn accept_loop(
    listener: TcpListener,
    app: App,
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
                waiting = watchdog(&conn) => {
                    tracing::debug!(addr = %peer.addr, "{}", waiting.overdue());
                }
                () = conn.close.notified() => {
                    tracing::debug!(addr = %peer.addr, "waiting connection closed to make room");
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

/// Completes when the connection has missed its deadline, saying what it waited for.
async fn watchdog(conn: &Connection) -> Waiting {
    loop {
        // Created before the deadline is read, so no change between the two is missed.
        let changed = conn.changed.notified();
        let (deadline, waiting) = conn.watch();
        if Instant::now() >= deadline {
            return waiting;
        }
        tokio::select! {
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            () = changed => {}
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: Peer,
    app: App,
    tls: Option<TlsAcceptor>,
    conn: Arc<Connection>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let tracked = Arc::clone(&conn);
    // One reference per request, not one per part of the state.
    let app = Arc::new(app);
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        let guard = InFlight {
            id: tracked.started(),
            conn: Arc::clone(&tracked),
        };
        let app = Arc::clone(&app);
        async move {
            // Answered without the client's address, which only the router's handlers
            // (sign-in, throttling, the log of changes) read.
            let early = crate::routes::before_routing(&app.state, &app.ocsp_gets, &request).await;
            let response = match early {
                Some(response) => response,
                None => {
                    request.extensions_mut().insert(peer);
                    app.router.clone().oneshot(request.map(Body::new)).await?
                }
            };
            guard.conn.answered(guard.id);
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
    // No header timeout of hyper's: the watchdog bounds the wait for every request's headers
    // (the first within FIRST_REQUEST_TIMEOUT of the connection, each next one within
    // IDLE_TIMEOUT of the last answer), where hyper's timer was armed and dropped again for
    // every request on a kept-alive connection. (Without it, HTTP/1 needs no timer.)
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(IDLE_TIMEOUT))
        .keep_alive_timeout(FIRST_REQUEST_TIMEOUT)
        .max_concurrent_streams(MAX_STREAMS);
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
struct InFlight {
    id: u64,
    conn: Arc<Connection>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.finished(self.id);
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

    /// Deadlines short enough for a test to watch them pass.
    const SHORT: Deadlines = Deadlines {
        first_request: Duration::from_millis(300),
        idle: Duration::from_millis(200),
        send: Duration::from_millis(100),
        request: Duration::from_millis(400),
    };

    #[test]
    fn a_full_table_makes_room_by_closing_the_connection_that_waits_longest() {
        let connections = Connections::new(2, DEADLINES);
        let (first, _a) = connections.admit().unwrap();
        let (_, b) = connections.admit().unwrap();
        // `b` has a handler at work; `a` has waited longest for its first request.
        b.started();
        let (_, c) = connections.admit().unwrap();
        assert!(!connections.open.lock().unwrap().contains_key(&first));
        // Now two handlers at work: nothing can be closed, so nothing is admitted.
        c.started();
        assert!(connections.admit().is_none());
    }

    #[test]
    fn a_connection_whose_client_does_not_read_its_answer_makes_room() {
        let connections = Connections::new(2, DEADLINES);
        let (stalled, a) = connections.admit().unwrap();
        let (_, b) = connections.admit().unwrap();
        // `a` answered, and its client takes nothing (an HTTP/2 window of zero); `b` has a
        // handler at work.
        let id = a.started();
        a.answered(id);
        b.started();
        let (_, _c) = connections.admit().unwrap();
        assert!(!connections.open.lock().unwrap().contains_key(&stalled));
    }

    #[test]
    fn deadlines_follow_the_state_of_the_connection() {
        let conn = Connection::new(DEADLINES);
        assert_eq!(
            conn.deadline(),
            (conn.opened + FIRST_REQUEST_TIMEOUT, Waiting::FirstRequest)
        );
        let id = conn.started();
        let (deadline, waiting) = conn.deadline();
        assert_eq!(waiting, Waiting::Sending);
        assert!(deadline <= Instant::now() + BUSY_TIMEOUT);
        assert!(deadline > conn.opened + BUSY_TIMEOUT - Duration::from_millis(1));
        assert_eq!(conn.evictable(), None, "a handler is at work");
        conn.answered(id);
        let (deadline, _) = conn.deadline();
        assert!(deadline <= Instant::now() + SEND_TIMEOUT);
        assert_eq!(conn.evictable(), Some(deadline));
        conn.finished(id);
        let (deadline, waiting) = conn.deadline();
        assert_eq!(waiting, Waiting::NextRequest);
        assert!(deadline > conn.opened + IDLE_TIMEOUT - Duration::from_millis(1));
        assert!(deadline <= Instant::now() + IDLE_TIMEOUT);
    }

    #[tokio::test]
    async fn the_watchdog_closes_a_connection_stuck_sending_an_answer() {
        let conn = Connection::new(SHORT);
        let started = Instant::now();
        let id = conn.started();
        conn.answered(id);
        // The client never takes the answer: the watchdog fires after `send`.
        let waiting = tokio::time::timeout(Duration::from_secs(5), watchdog(&conn))
            .await
            .unwrap();
        assert_eq!(waiting, Waiting::Sending);
        assert!(started.elapsed() >= SHORT.send);
    }

    #[tokio::test]
    async fn the_watchdog_closes_a_request_in_flight_too_long() {
        let conn = Connection::new(SHORT);
        let started = Instant::now();
        conn.started();
        let waiting = tokio::time::timeout(Duration::from_secs(5), watchdog(&conn))
            .await
            .unwrap();
        assert_eq!(waiting, Waiting::Sending);
        assert!(started.elapsed() >= SHORT.request);
    }

    #[tokio::test]
    async fn the_watchdog_follows_a_deadline_that_moves() {
        let conn = Arc::new(Connection::new(SHORT));
        let id = conn.started();
        let watched = tokio::spawn({
            let conn = Arc::clone(&conn);
            async move { watchdog(&conn).await }
        });
        // Answered and sent at once: the connection goes idle, and its deadline is the idle
        // one, not the request's.
        conn.answered(id);
        conn.finished(id);
        let idle_since = Instant::now();
        let waiting = tokio::time::timeout(Duration::from_secs(5), watched)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waiting, Waiting::NextRequest);
        assert!(idle_since.elapsed() >= SHORT.idle);
    }

    #[tokio::test]
    async fn the_watchdog_follows_a_deadline_that_moves_earlier_and_not_a_later_one() {
        let conn = Arc::new(Connection::new(SHORT));
        let started = Instant::now();
        let id = conn.started();
        let watched = tokio::spawn({
            let conn = Arc::clone(&conn);
            async move { watchdog(&conn).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The answer is made: the deadline moves from the request's (400 ms) to the send's
        // (100 ms from now), and the watchdog is told.
        conn.answered(id);
        let waiting = tokio::time::timeout(Duration::from_secs(5), watched)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waiting, Waiting::Sending);
        assert!(started.elapsed() < SHORT.request, "{:?}", started.elapsed());
        // On a kept-alive connection whose requests are answered at once, the deadline only
        // moves later (as with `DEADLINES`, an answer may take as long to send as the next
        // request to come), which tells the watchdog nothing.
        let conn = Connection::new(Deadlines {
            send: SHORT.idle,
            ..SHORT
        });
        let id = conn.started();
        conn.answered(id);
        conn.finished(id);
        let (deadline, _) = conn.watch();
        let _ = tokio::time::timeout(Duration::from_millis(1), conn.changed.notified()).await;
        let id = conn.started();
        conn.answered(id);
        conn.finished(id);
        assert!(conn.deadline().0 > deadline);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), conn.changed.notified())
                .await
                .is_err(),
            "not woken"
        );
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
