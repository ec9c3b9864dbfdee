//! `ca serve`: the /certsrv pages over HTTP and HTTPS, run as a service: settings from a
//! configuration file that flags override, SIGHUP to read it again and to take a new server
//! certificate without dropping a connection, SIGTERM to finish the requests in flight.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ca_core::identity::ServerIdentity;
use ca_core::name::host_name;
use ca_core::notify::Watch;
use ca_core::root::default_root_name;
use ca_core::users::{Password, Role};
use ca_core::{Authority, InitOptions, ListFilter, Root, RootSpec, SubjectName};
use ca_web::{AppState, Listeners, TlsConfig, serve, tls_config};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cmd::{Refused, init::describe_new_root, open_options};
use crate::config_file::{ConfigFile, Reader};
use crate::output::Printed;

/// What `ca serve` logs unless `$CA_LOG` or its configuration file say otherwise.
pub(crate) const DEFAULT_LOG: &str = "info,sqlx::postgres::notice=warn";
/// The data folder when neither `--data`, `$CA_DATA` nor the configuration file name one.
const DEFAULT_DATA: &str = "ca-data";
const DEFAULT_HTTP: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
const DEFAULT_HTTPS: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8443));
/// How often the server checks whether its own certificate needs renewing.
const RENEWAL_CHECK: Duration = Duration::from_secs(6 * 3600);
/// How often used ACME nonces and abandoned orders are forgotten.
const ACME_PRUNE: Duration = Duration::from_secs(3600);
/// How often the server renews the OCSP responder certificate when due and signs ahead the
/// responses that are missing or half way through their lifetime.
const OCSP_REFRESH: Duration = Duration::from_secs(3600);
/// How often the notifier looks, between rounds, whether its settings changed (a new watched
/// server, a shorter interval), so that a change takes effect without waiting out the interval.
const NOTICE_SETTINGS_LOOK: Duration = Duration::from_secs(5);
/// Connections to the store a server keeps.
const SERVER_CONNECTIONS: u32 = 8;
/// How long a stopping server waits for its log to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// The configuration file (TOML) [default: /etc/ca/ca.toml when it exists]. Its keys are
    /// data, database, http, https, hostname and log; the flags here, --data, $CA_DATA,
    /// --database, $CA_DATABASE and $CA_LOG override them. SIGHUP reads it again.
    #[arg(long, env = "CA_CONFIG", value_name = "FILE", hide_env_values = true)]
    config: Option<PathBuf>,
    /// Address for plain HTTP (downloads work for anyone; passwords only from this machine)
    /// [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Address for HTTPS [default: 127.0.0.1:8443].
    #[arg(long, value_name = "ADDR")]
    https: Option<SocketAddr>,
    /// A name clients use to reach this server, for its HTTPS certificate; repeatable
    /// [default: this machine's host name]. localhost and 127.0.0.1 are added when the root's
    /// name constraints permit them.
    #[arg(long, value_name = "NAME")]
    hostname: Vec<SubjectName>,
}

/// What the server runs with: each from its flag (or environment variable), else from the
/// configuration file, else the default.
#[derive(Clone, Debug, PartialEq)]
struct Settings {
    data: PathBuf,
    http: SocketAddr,
    https: SocketAddr,
    /// Empty for this machine's host name.
    hostname: Vec<SubjectName>,
    log: Option<String>,
    /// The database holding the log: `--database` or `$CA_DATABASE`, else the file's.
    database: Option<ca_core::DatabaseUrl>,
}

impl Settings {
    /// `data` is the folder given by `--data` or `$CA_DATA`, if one was.
    fn of(data: Option<&Path>, args: &Args, file: &ConfigFile) -> Settings {
        Settings {
            data: data
                .map(Path::to_owned)
                .or_else(|| file.data.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
            http: args.http.or(file.http).unwrap_or(DEFAULT_HTTP),
            https: args.https.or(file.https).unwrap_or(DEFAULT_HTTPS),
            hostname: if args.hostname.is_empty() {
                file.hostname.clone()
            } else {
                args.hostname.clone()
            },
            log: file.log.clone(),
            database: crate::cmd::database().or_else(|| file.database.clone()),
        }
    }

    /// How the server opens its CA: the log in the database these settings name.
    fn open_options(&self) -> anyhow::Result<ca_core::OpenOptions> {
        Ok(ca_core::OpenOptions {
            database: self.database.clone(),
            ..open_options(SERVER_CONNECTIONS)?
        })
    }

    /// The names asked for, or this machine's host name; and whether it was that default.
    fn wanted_names(&self) -> anyhow::Result<(Vec<SubjectName>, bool)> {
        if self.hostname.is_empty() {
            Ok((vec![host_name().parse()?], true))
        } else {
            Ok((self.hostname.clone(), false))
        }
    }
}

/// Serves the CA in the data folder; `data` is the folder given by `--data` or `$CA_DATA`.
pub(crate) async fn run(data: Option<&Path>, args: Args) -> anyhow::Result<()> {
    // Before anything else: until a handler is installed, SIGHUP would end the process.
    let hangup = signal(SignalKind::hangup())
        .map_err(|err| anyhow::anyhow!("cannot receive SIGHUP: {err}"))?;
    let terminate = signal(SignalKind::terminate())
        .map_err(|err| anyhow::anyhow!("cannot receive SIGTERM: {err}"))?;
    let (file, path) = match ConfigFile::load(args.config.as_deref(), Reader::Serve)? {
        Some((path, file)) => {
            say!("Configuration from {}", absolute(&path).printed());
            (file, Some(path))
        }
        None => (ConfigFile::default(), None),
    };
    let settings = Settings::of(data, &args, &file);
    // A command finds the configuration file in $CA_CONFIG, else in its default place; the
    // one ca serve read, elsewhere, it must be told of.
    let found = std::env::var_os("CA_CONFIG").map_or_else(
        || PathBuf::from(crate::config_file::DEFAULT_PATH),
        PathBuf::from,
    );
    let elsewhere = path
        .as_deref()
        .filter(|path| path.is_relative() || *path != found);
    crate::invocation::served(&settings.data, settings.database.as_ref(), elsewhere);
    crate::log::set_filter(settings.log.as_deref(), DEFAULT_LOG);
    // The addresses first: a server that cannot listen creates nothing.
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|err| {
            anyhow::anyhow!(
                "cannot listen on {addr} ({err}): stop the program that uses it, or choose another address with --http or --https (or http and https in the configuration file)"
            )
        })
    };
    let http = bind(settings.http).await?;
    let https = bind(settings.https).await?;
    let (wanted, defaulted) = settings.wanted_names()?;
    let init = InitOptions {
        root: RootSpec {
            name: Some(default_root_name(wanted.iter().find_map(SubjectName::dns))),
            ..RootSpec::default()
        },
        actor: "ca serve".into(),
        ..InitOptions::default()
    };
    // Held for the server's life: `ca migrate` is refused while a server writes to the log.
    let held = Authority::hold_serving(&settings.data)?;
    let options = settings.open_options()?;
    let given = options.passphrase.is_some();
    let (mut authority, created) = Authority::open_or_init(&settings.data, init, options).await?;
    if !created {
        crate::cmd::warn_of_an_unused_passphrase(&authority, given);
        // A server that cannot sign answers every request to issue, and every CRL it should
        // renew, with an error: it does not start (at a terminal, the passphrase is asked).
        crate::cmd::unlock_at_a_terminal(&mut authority, given)?;
        authority.check_key()?;
    }
    let _serving = match held {
        Some(held) => held,
        None => Authority::hold_serving(&settings.data)?
            .ok_or_else(|| anyhow::anyhow!("the data folder vanished"))?,
    };
    if created {
        describe_new_root(&authority)?;
    } else {
        let root = authority.root();
        say!(
            "Serving the CA \"{}\" in {}",
            root.common_name(),
            absolute(authority.dir()).printed()
        );
        say!("  root SHA-256 {}", root.fingerprint().colons());
    }
    match authority.log_location() {
        ca_core::LogLocation::File(path) => say!("  issuance log {}", absolute(path).printed()),
        database => say!("  issuance log {database}"),
    }
    let names = server_names(authority.root(), wanted, defaulted)?;
    if let Some(role) = authority.audit_exposed_to().await? {
        tracing::warn!("{}", crate::cmd::audit_exposed(&role));
    }
    if authority.user_count().await? == 0 {
        let password = Password::random()?;
        // Where the password goes when standard output is kept somewhere (a file, a
        // container's log, a pipe to a logger): a file only this user reads, beside the key,
        // written under a name of this server's own before the user is made (a file that
        // cannot be written loses no password), and put in place once it is (of two servers
        // starting at once, the one that made the user leaves its password there).
        let journal = crate::log::stdout_is_journal();
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let mut file = absolute(&authority.dir().join(crate::cmd::ADMIN_PASSWORD_FILE));
        let staged = if journal || terminal {
            None
        } else {
            Some(stage_secret(&file, password.reveal())?)
        };
        let made = authority
            .add_user("admin", Role::Admin, &password, "ca serve")
            .await;
        match (&made, &staged) {
            (Ok(()), Some(staged)) => {
                if let Err(err) = std::fs::rename(staged, &file) {
                    tracing::warn!(%err, "could not put the admin's password file in place");
                    file.clone_from(staged);
                }
            }
            (Ok(()), None) => {}
            (Err(_), staged) => {
                if let Some(staged) = staged {
                    let _ = std::fs::remove_file(staged);
                }
            }
        }
        match made {
            Ok(()) => {}
            // Another server starting on the same log at once made it first: its password
            // is the one it showed.
            Err(ca_core::Error::UserExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
        if made.is_err() {
            say!(
                "The user admin was made meanwhile by another server on this log, which showed its password"
            );
        } else if journal {
            // The journal keeps what it is given, for whoever may read it: no password there.
            say!(
                "Created the user admin with a random password that is shown nowhere: `{} user passwd admin`, run as the user that runs this server, makes a new one and shows it",
                crate::invocation::ca_in(&absolute(authority.dir()))
            );
        } else if terminal {
            say!(
                "Created the user admin with the password {}",
                password.reveal()
            );
            say!(
                "  (shown only this once; set another with `{} user passwd admin --password-file -`)",
                crate::invocation::ca()
            );
        } else {
            say!(
                "Created the user admin; its password is in {} (mode 0600; standard output is not a terminal, so it is not shown here): read it, then remove the file, or set another password with `{} user passwd admin`, which removes it",
                file.printed(),
                crate::invocation::ca()
            );
        }
    } else {
        // A password file a first start left: a secret beside the key until someone removes
        // it, which each start recalls.
        let file = authority.dir().join(crate::cmd::ADMIN_PASSWORD_FILE);
        if file.exists() {
            tracing::warn!(
                "{} still holds the password the user admin was first given: remove it once read, or set another password with `{} user passwd admin`, which removes it",
                absolute(&file).printed(),
                crate::invocation::ca()
            );
        }
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
    let https_addr = https.local_addr()?;
    let origin = https_origin(&names, https_addr);
    if authority.settings().acme.enabled {
        // Clients check the server's name, so the directory is given by the first one.
        say!("ACME directory at {origin}/acme/directory");
        // A CA made just now said so with the rest of what was made.
        if authority.settings().acme_skips_approval() && !created {
            say!("Note: {}.", crate::cmd::init::acme_skips_approval());
        }
    }
    say!(
        "OCSP responder on http://{}/ocsp (responder certificate valid until {})",
        http.local_addr()?,
        crate::output::when(responder.not_after)
    );
    // Said by the new root's description on the first start, and at every start after it:
    // a responder no certificate names answers no client.
    let note = crate::cmd::init::revocation_links_note(authority.settings().url.as_deref());
    if let Some(note) = note.as_deref().filter(|_| !created) {
        say!("Note: {note}.");
    } else if let (None, Some(url)) = (&note, authority.settings().url.as_deref()) {
        // Where certificates send clients, beside where this server listens: the two must
        // meet (DNS, a proxy, a port forwarded), or clients that check revocation fail.
        say!(
            "Certificates send clients to {} and {}: that address must reach this server's HTTP listener ({})",
            (ca_web::LINKS.crl)(url),
            (ca_web::LINKS.ocsp)(url),
            http.local_addr()?
        );
    }
    use std::io::Write;
    std::io::stdout().flush()?;

    let authority = Arc::new(authority);
    let state = AppState::new(Arc::clone(&authority))?.with_https_origin(origin);
    let reloaded = Arc::new(tokio::sync::Notify::new());
    let keeper = tokio::spawn(
        Keeper {
            authority: Arc::clone(&authority),
            tls: tls.clone(),
            state: state.clone(),
            https: https_addr,
            names,
            leaf: identity.chain.first().cloned().unwrap_or_default(),
            not_after: identity.not_after,
            data: data.map(Path::to_owned),
            args,
            running: settings,
            reloaded: Arc::clone(&reloaded),
        }
        .run(hangup),
    );
    let watcher = tokio::spawn(warn_about_expiring(Arc::clone(&authority)));
    let notifier = tokio::spawn(send_notices(Arc::clone(&authority), Arc::clone(&reloaded)));
    let pruner = tokio::spawn(prune_acme(Arc::clone(&authority)));
    let signer = tokio::spawn(sign_ocsp_ahead(Arc::clone(&authority)));
    serve(
        Listeners {
            http: Some(http),
            https: Some(https),
        },
        state,
        Some(tls),
        shutdown_signal(terminate),
    )
    .await?;
    keeper.abort();
    watcher.abort();
    notifier.abort();
    pruner.abort();
    signer.abort();
    // The last connection to close puts the write-ahead log back into ca.db: a copy of the
    // data folder made once the server has stopped then holds everything it wrote. Bounded:
    // a connection still held somewhere would keep the pool from closing, and a server that
    // was asked to stop stops (nothing is lost: the next opening recovers the log).
    if tokio::time::timeout(CLOSE_TIMEOUT, authority.close())
        .await
        .is_err()
    {
        tracing::warn!(
            "the issuance log was not closed within {} seconds; its write-ahead log stays beside it until the log is next opened",
            CLOSE_TIMEOUT.as_secs()
        );
    } else if let Some(wal) = unfolded_wal(authority.log_location()) {
        tracing::warn!(
            "{} still holds the log's latest writes: another process has the log open (or was writing to it as the server stopped), so it could not be put back into {}; nothing is lost (the next opening of the log takes them in), but a copy of that file alone would miss them: copy the data folder whole, or use `ca backup`",
            wal.display(),
            authority
                .log_location()
                .file()
                .map_or_else(String::new, |file| file.display().to_string())
        );
    }
    say!("stopped");
    Ok(())
}

/// Keeps the server's own certificate current: renews it when due, and on SIGHUP reads the
/// configuration file again and takes the certificate for its names, each presented from the
/// next TLS handshake on while open connections carry on.
struct Keeper {
    authority: Arc<Authority>,
    tls: TlsConfig,
    state: AppState,
    /// The HTTPS address listened on, for the origin pages give.
    https: SocketAddr,
    /// The names on the certificate presented now, the certificate (DER) and its expiry.
    names: Vec<SubjectName>,
    leaf: Vec<u8>,
    not_after: time::OffsetDateTime,
    /// The data folder given by `--data` or `$CA_DATA`, and the flags: they still win.
    data: Option<PathBuf>,
    args: Args,
    /// The settings in force.
    running: Settings,
    /// Told of each reload, which starts a notice round at once.
    reloaded: Arc<tokio::sync::Notify>,
}

impl Keeper {
    async fn run(mut self, mut hangup: Signal) {
        let mut hangups = true;
        loop {
            tokio::select! {
                () = tokio::time::sleep(RENEWAL_CHECK) => {
                    match self.authority.server_identity(&self.names).await {
                        Ok(identity) => self.present(identity),
                        Err(err) => {
                            tracing::error!(%err, "could not renew the server's HTTPS certificate")
                        }
                    }
                }
                received = hangup.recv(), if hangups => {
                    if received.is_none() {
                        hangups = false;
                        continue;
                    }
                    if let Err(err) = self.reload().await {
                        tracing::error!(
                            "the configuration was not reloaded: {}; the server carries on as it was",
                            crate::explain::sentence(&err)
                        );
                    }
                    self.reloaded.notify_one();
                }
            }
        }
    }

    /// Reads the configuration file again and applies what can change while the server runs:
    /// the log filter and the names on its certificate (which is read again from the data
    /// folder, or made anew for new names).
    async fn reload(&mut self) -> anyhow::Result<()> {
        let file = ConfigFile::load(self.args.config.as_deref(), Reader::Serve)?
            .map(|(_, file)| file)
            .unwrap_or_default();
        let wanted = Settings::of(self.data.as_deref(), &self.args, &file);
        let (names, defaulted) = wanted.wanted_names()?;
        let names = server_names(self.authority.root(), names, defaulted)?;
        let identity = self.authority.server_identity(&names).await?;
        crate::log::set_filter(wanted.log.as_deref(), DEFAULT_LOG);
        let restart: Vec<&str> = [
            ("data", wanted.data != self.running.data),
            ("database", wanted.database != self.running.database),
            ("http", wanted.http != self.running.http),
            ("https", wanted.https != self.running.https),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect();
        if !restart.is_empty() {
            tracing::warn!(
                "{} changed: that takes effect when the server restarts",
                restart.join(", ")
            );
        }
        self.names = names;
        self.state
            .set_https_origin(https_origin(&self.names, self.https));
        self.running.hostname = wanted.hostname;
        self.running.log = wanted.log;
        self.present(identity);
        let shown: Vec<String> = self.names.iter().map(SubjectName::shown).collect();
        tracing::info!(
            not_after = %crate::output::when(self.not_after),
            "reloaded the configuration; the HTTPS certificate is for {}",
            shown.join(", ")
        );
        Ok(())
    }

    /// Presents `identity` from the next handshake on, if it is not the one presented now.
    fn present(&mut self, identity: ServerIdentity) {
        if identity.chain.first() == Some(&self.leaf) {
            return;
        }
        match self.tls.replace(&identity) {
            Ok(()) => {
                self.leaf = identity.chain.first().cloned().unwrap_or_default();
                self.not_after = identity.not_after;
                tracing::info!(not_after = %crate::output::when(identity.not_after), "presenting a new HTTPS certificate");
            }
            Err(err) => tracing::error!(%err, "could not use the new HTTPS certificate"),
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
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

/// The notices that reach a person: at start and at each reload (checking every watched
/// server), and then every `notify-interval` minutes (checking those not checked for a day),
/// records the expiry warnings and changed verdicts due and sends every notice due, retrying
/// those that failed. A change of the notice settings (a server to watch, a channel, the
/// interval) starts a round within seconds rather than at the end of the interval.
async fn send_notices(authority: Arc<Authority>, reloaded: Arc<tokio::sync::Notify>) {
    let mut watch = Watch::All;
    loop {
        match authority.notify_round(watch).await {
            Ok(round) => {
                let recorded = round.expiry_notices + round.watch_notices;
                let failed = round.failed.len();
                if round.sent > 0 || failed > 0 || round.checked > 0 || recorded > 0 {
                    tracing::info!(
                        recorded,
                        checked = round.checked,
                        sent = round.sent,
                        failed,
                        "notice round"
                    );
                } else {
                    tracing::debug!("notice round: nothing due");
                }
            }
            Err(err) => tracing::error!(%err, "the notice round failed"),
        }
        let settings = match authority.notify_settings().await {
            Ok(settings) => Some(settings),
            Err(err) => {
                tracing::error!(%err, "the notice settings could not be read");
                None
            }
        };
        let minutes = settings
            .as_ref()
            .map_or(ca_core::notify::config::DEFAULT_INTERVAL, |s| s.interval);
        let next = tokio::time::Instant::now() + Duration::from_secs(u64::from(minutes) * 60);
        watch = Watch::Due;
        loop {
            let look = next.min(tokio::time::Instant::now() + NOTICE_SETTINGS_LOOK);
            tokio::select! {
                () = tokio::time::sleep_until(look) => {}
                () = reloaded.notified() => {
                    watch = Watch::All;
                    break;
                }
            }
            if tokio::time::Instant::now() >= next {
                break;
            }
            if let (Some(before), Ok(now)) = (&settings, authority.notify_settings().await)
                && *before != now
            {
                tracing::info!("the notice settings changed: a notice round starts now");
                break;
            }
        }
    }
}

/// Days ahead `ca serve` warns of expiring certificates.
const EXPIRY_WARNING_DAYS: u32 = 30;

/// Logs a warning for each certificate that expires within 30 days, at start and daily.
async fn warn_about_expiring(authority: Arc<Authority>) {
    let filter = ListFilter {
        expiring_within_days: Some(EXPIRY_WARNING_DAYS),
        ..ListFilter::default()
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
                            not_after = %crate::output::when(cert.not_after),
                            "certificate expires within {EXPIRY_WARNING_DAYS} days: renew it with `{} renew {}`",
                            crate::invocation::ca(),
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

/// The write-ahead log beside a SQLite log at `location`, when it still holds writes (its
/// length not zero): what closing the log could not put back into the file.
fn unfolded_wal(location: &ca_core::LogLocation) -> Option<PathBuf> {
    let mut wal = location.file()?.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    std::fs::metadata(&wal)
        .is_ok_and(|meta| meta.len() > 0)
        .then_some(wal)
}

/// Completes on SIGTERM (what a service manager sends) or SIGINT (Ctrl-C).
async fn shutdown_signal(mut terminate: Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: no new connections; the requests in flight finish");
}

/// Writes `secret` and a line end to a new file beside `path` under a name of its own
/// (`.NAME.X.tmp`), mode 0600 whatever the umask, flushed, to be renamed to `path`; refused
/// when `path` is something no file can replace (a folder).
fn stage_secret(path: &Path, secret: &str) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let refused = |err: std::io::Error| {
        anyhow::anyhow!(
            "cannot write {}, where the first admin's password goes when standard output is not a terminal ({err}): no user was made; make it writable, or start the server at a terminal",
            path.display()
        )
    };
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir()) {
        return Err(refused(std::io::Error::from(
            std::io::ErrorKind::IsADirectory,
        )));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut random = [0u8; 8];
    ca_core::random::fill(&mut random).map_err(|err| anyhow::anyhow!("{err}"))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let staged = path.with_file_name(format!(".{name}.{hex}.tmp"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staged)
        .and_then(|mut file| {
            file.write_all(format!("{secret}\n").as_bytes())?;
            file.sync_all()
        })
        .map_err(|err| {
            let _ = std::fs::remove_file(&staged);
            refused(err)
        })?;
    Ok(staged)
}
