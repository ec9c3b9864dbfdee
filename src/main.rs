//! `ca`: the command line of the embedded private certificate authority (DESIGN §5).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[macro_use]
mod output;
mod cmd;
mod config_file;
mod explain;
mod invocation;
mod log;

/// An embedded private certificate authority: a root your clients trust, server certificates
/// with the right names, keys and dates, and a log of everything issued.
#[derive(Parser, Debug)]
#[command(name = "ca", version, max_term_width = 100)]
struct Cli {
    /// The data folder holding the root, its key and the issuance log [default: the data key
    /// of the configuration file ($CA_CONFIG, else /etc/ca/ca.toml when it exists), else
    /// ca-data].
    #[arg(
        long,
        global = true,
        env = "CA_DATA",
        default_value = "ca-data",
        hide_default_value = true,
        hide_env_values = true,
        value_name = "DIR"
    )]
    data: PathBuf,

    /// The PostgreSQL database holding the issuance log, for several servers on one log
    /// (postgres://USER@HOST:PORT/NAME; a password goes in $PGPASSWORD, ~/.pgpass or
    /// $CA_DATABASE, never on the command line) [default: the database key of the
    /// configuration file, else the SQLite file ca.db in the data folder].
    #[arg(
        long,
        global = true,
        env = "CA_DATABASE",
        value_name = "URL",
        value_parser = cmd::database_url,
        hide_env_values = true
    )]
    database: Option<ca_core::DatabaseUrl>,

    #[command(subcommand)]
    command: Command,
}

// Each command's arguments are built only when it runs (clap's `defer`): building those of
// every command cost each run ~0.07 ms. Help, completions and man pages build them all. With
// defer, a doc comment on an arguments struct becomes its command's help: keep them `//`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// Create a new CA: a root certificate and key in the data folder.
    Init(cmd::init::Args),
    /// Issue a server certificate and key for one or more names.
    Issue(cmd::issue::Args),
    /// Sign a certificate request (PKCS#10) made by IIS, certreq or OpenSSL.
    Sign(cmd::sign::Args),
    /// List requests and certificates in the issuance log.
    List(cmd::list::Args),
    /// Show one request or certificate.
    Show(cmd::show::Args),
    /// Write an issued certificate as PEM, DER or PKCS#7, or as a PFX with the key its holder kept.
    Export(cmd::export::Args),
    /// Write the root certificate, to install on clients.
    Root(cmd::root::Args),
    /// Encrypt the root key with a passphrase, change it, or store the key unencrypted.
    Passphrase(cmd::passphrase::Args),
    /// Issue a new certificate and key for the names of an existing certificate.
    Renew(cmd::renew::Args),
    /// Revoke a certificate.
    Revoke(cmd::revoke::RevokeArgs),
    /// Write the current CRL (signed by the root; the same one the server hands out).
    Crl(cmd::revoke::CrlArgs),
    /// Show what the OCSP responder answers for a certificate, and the responder's certificate.
    Ocsp(cmd::ocsp::Args),
    /// List the requests waiting for an administrator.
    Pending(cmd::pending::PendingArgs),
    /// Issue a pending request.
    Approve(cmd::pending::ApproveArgs),
    /// Deny a pending request.
    Deny(cmd::pending::DenyArgs),
    /// Check the data folder (the log's integrity, every certificate, the root key), or with
    /// a URL a live TLS server as its clients see it.
    Check(cmd::check::Args),
    /// Copy the whole CA (log, root and key) into a folder, while it runs.
    Backup(cmd::backup::BackupArgs),
    /// Put a backup back into an empty data folder, after checking it.
    Restore(cmd::backup::RestoreArgs),
    /// Copy the issuance log into an empty PostgreSQL database, for several servers on one log.
    Migrate(cmd::migrate::Args),
    /// Show or change the CA's settings.
    #[command(subcommand)]
    Config(cmd::config::Command),
    /// Send a test notice, or show where expiry warnings and watched servers' findings go.
    #[command(subcommand)]
    Notify(cmd::notify::Command),
    /// Manage the users of the web pages.
    #[command(subcommand)]
    User(cmd::user::Command),
    /// Serve the /certsrv pages over HTTP and HTTPS, and ACME over HTTPS.
    Serve(cmd::serve::Args),
    /// Show the ACME server's settings and its recent orders.
    Acme,
    /// Print the audit trail, oldest first: who did what, when.
    Audit(cmd::audit::Args),
    /// Write the shell completion script for SHELL to standard output.
    Completions(cmd::completions::Args),
    /// Write the manual pages (ca.1, ca-serve.1, ...) into a folder.
    Man(cmd::man::Args),
}

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return explain::usage_error(err),
    };
    // DESIGN §5: secrets never travel on the command line, where `ps` shows them to everyone.
    if let Some(url) = &cli.database
        && url.has_password()
        && matches.value_source("database") == Some(ValueSource::CommandLine)
    {
        tell!(
            "ca: error: the database URL given with --database holds a password, which would be visible to every user of this machine: \
             remove it from the URL and put it in $PGPASSWORD or ~/.pgpass, or give the whole URL in $CA_DATABASE"
        );
        return ExitCode::from(2);
    }
    let mut cli = cli;
    // `ca serve` takes the data folder from its configuration file unless it is given here;
    // every other command that opens the CA does the same, so that on an installed server
    // `sudo -u ca ca list` works on the served folder and log without naming them.
    let data_given = matches.value_source("data") != Some(ValueSource::DefaultValue);
    let checks_a_server = matches!(&cli.command, Command::Check(args) if args.checks_a_server());
    if !data_given && checks_a_server {
        // The configuration only lends `ca check URL` the CA's root to trust; a user who may
        // not read it checks against the system's trust store, or `--data`/`--root`.
        let _ = configured(&mut cli);
    } else if !data_given && opens_the_ca(&cli.command) {
        match configured(&mut cli) {
            Ok(()) => {}
            Err(err) => {
                tell!("ca: error: {}", explain::sentence(&err));
                return ExitCode::from(explain::exit_status(&err));
            }
        }
    }
    cmd::set_database(cli.database.clone());
    // (A server reads its folder from its configuration file itself, and logs its errors.)
    if cli.database.is_none() && opens_the_ca(&cli.command) {
        invocation::log_in(&cli.data);
    }
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    invocation::given(
        given("data").then_some(cli.data.as_path()),
        cli.database.as_ref().filter(|_| given("database")),
    );
    log::init(if matches!(cli.command, Command::Serve(_)) {
        cmd::serve::DEFAULT_LOG
    } else {
        // rustls warns of peers' protocol mistakes, which `ca check` reports itself; the
        // database driver of a slow connection or PostgreSQL's notices (a server restarting
        // under a command that then succeeds), which a command reports as its one error line
        // when they end it, and which otherwise reach scripts' mail as failures; and the
        // store's watch of the log for a server's OCSP answers, which no command serves.
        "warn,rustls=error,sqlx=error,ca_core::store::changes=error"
    });
    match run(cli, data_given) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`ca list | head -1`) is not a failure.
        Err(err) if explain::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            tell!("ca: error: {}", explain::sentence(&err));
            ExitCode::from(explain::exit_status(&err))
        }
    }
}

/// True for the commands that open a data folder (not `serve`, which reads its configuration
/// file itself, nor the ones that only print what clap knows, nor `check URL`, which looks at
/// a server and must work for any user, who may not read the server's configuration file: it
/// reads the file only when it can).
fn opens_the_ca(command: &Command) -> bool {
    match command {
        Command::Serve(_) | Command::Completions(_) | Command::Man(_) => false,
        Command::Check(args) => !args.checks_a_server(),
        _ => true,
    }
}

/// Takes the data folder, and the database unless one was given, from the configuration file
/// `ca serve` reads: `$CA_CONFIG`, else /etc/ca/ca.toml when it exists.
fn configured(cli: &mut Cli) -> anyhow::Result<()> {
    let explicit = std::env::var_os("CA_CONFIG").map(PathBuf::from);
    let Some((_, file)) =
        config_file::ConfigFile::load(explicit.as_deref(), config_file::Reader::Command)?
    else {
        return Ok(());
    };
    if let Some(data) = file.data {
        cli.data = data;
    }
    if cli.database.is_none() && file.database.is_some() {
        cli.database = file.database;
        invocation::database_configured();
    }
    Ok(())
}

fn run(cli: Cli, data_given: bool) -> anyhow::Result<()> {
    // The server answers many clients at once on every core; a command does one thing.
    let runtime = if matches!(cli.command, Command::Serve(_)) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Init(args) => cmd::init::run(&cli.data, args).await,
            Command::Issue(args) => cmd::issue::run(&cli.data, args).await,
            Command::Sign(args) => cmd::sign::run(&cli.data, args).await,
            Command::Export(args) => cmd::export::run(&cli.data, args).await,
            Command::List(args) => cmd::list::run(&cli.data, args).await,
            Command::Show(args) => cmd::show::run(&cli.data, args).await,
            Command::Root(args) => cmd::root::run(&cli.data, args).await,
            Command::Passphrase(args) => cmd::passphrase::run(&cli.data, args).await,
            Command::Renew(args) => cmd::renew::run(&cli.data, args).await,
            Command::Revoke(args) => cmd::revoke::revoke(&cli.data, args).await,
            Command::Crl(args) => cmd::revoke::crl(&cli.data, args).await,
            Command::Ocsp(args) => cmd::ocsp::run(&cli.data, args).await,
            Command::Check(args) => cmd::check::run(&cli.data, data_given, args).await,
            Command::Backup(args) => cmd::backup::backup(&cli.data, args).await,
            Command::Restore(args) => cmd::backup::restore(&cli.data, args).await,
            Command::Migrate(args) => cmd::migrate::run(&cli.data, args).await,
            Command::Config(command) => cmd::config::run(&cli.data, command).await,
            Command::Notify(command) => cmd::notify::run(&cli.data, command).await,
            Command::Pending(args) => cmd::pending::list(&cli.data, args).await,
            Command::Approve(args) => cmd::pending::approve(&cli.data, args).await,
            Command::Deny(args) => cmd::pending::deny(&cli.data, args).await,
            Command::User(command) => cmd::user::run(&cli.data, command).await,
            Command::Serve(args) => {
                cmd::serve::run(data_given.then_some(cli.data.as_path()), args).await
            }
            Command::Acme => cmd::acme::run(&cli.data).await,
            Command::Audit(args) => cmd::audit::run(&cli.data, args).await,
            Command::Completions(args) => cmd::completions::run(Cli::command(), args),
            Command::Man(args) => cmd::man::run(Cli::command(), args),
        }
    })
}
