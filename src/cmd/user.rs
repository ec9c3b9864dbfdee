//! `ca user`: the users of the web pages. Every change takes effect at once in a running
//! server, and goes into the audit trail.

use std::path::{Path, PathBuf};

use ca_core::users::{Password, Role};

use crate::output::when;

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Add a user (an existing one keeps its role and password: see `role` and `passwd`).
    Add(AddArgs),
    /// List the users.
    List,
    /// Set a user's password.
    Passwd(PasswdArgs),
    /// Set a user's role, keeping their password.
    Role(RoleArgs),
    /// Stop a user from signing in (their requests and certificates stay).
    Disable(NameArg),
    /// Let a disabled user sign in again.
    Enable(NameArg),
    /// Remove a user (their requests and certificates stay in the log).
    Remove(NameArg),
    /// Make an ACME external account binding key for a user: the ACME account made with it
    /// belongs to that user in the log.
    Eab(NameArg),
}

#[derive(clap::Args, Debug)]
pub(crate) struct AddArgs {
    /// The user name (letters, digits, '.', '_', '-', '@').
    name: String,
    /// admin (approves, denies, revokes, issues) or requester (submits requests).
    #[arg(long, value_parser = crate::cmd::choice::<Role>())]
    role: Role,
    /// Read the password from FILE (`-` for standard input) [default: make a random one and show it once]
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct PasswdArgs {
    /// The user name.
    name: String,
    /// Read the password from FILE (`-` for standard input) [default: make a random one and show it once]
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RoleArgs {
    /// The user name.
    name: String,
    /// admin (approves, denies, revokes, issues) or requester (submits requests).
    #[arg(value_parser = crate::cmd::choice::<Role>())]
    role: Role,
}

#[derive(clap::Args, Debug)]
pub(crate) struct NameArg {
    /// The user name.
    name: String,
}

/// The password from FILE, or a new random one (and whether it was made here).
fn password(file: Option<&Path>) -> anyhow::Result<(Password, bool)> {
    Ok(match file {
        Some(path) => (
            Password::new(crate::cmd::read_password(path, "password")?)?,
            false,
        ),
        None => (Password::random()?, true),
    })
}

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    let actor = crate::cmd::actor();
    match command {
        Command::Add(args) => {
            ca_core::users::check_user_name(&args.name)?;
            let (password, generated) = password(args.password_file.as_deref())?;
            let authority = crate::cmd::open(data).await?;
            authority
                .add_user(&args.name, args.role, &password, &actor)
                .await?;
            let what = format!("Added the user {} ({})", args.name, args.role);
            if generated {
                say!(
                    "{what}; the password is {} (shown only this once)",
                    password.reveal()
                );
            } else {
                say!("{what}");
            }
            authority.close().await;
        }
        Command::List => {
            let authority = crate::cmd::open_read(data).await?;
            let users = authority.users().await?;
            if users.is_empty() {
                say!("There are no users.");
            } else {
                say!("{:<24}  {:<9}  {:<8}  CREATED", "NAME", "ROLE", "STATE");
                for user in users {
                    say!(
                        "{:<24}  {:<9}  {:<8}  {}",
                        user.name,
                        user.role,
                        if user.disabled { "disabled" } else { "active" },
                        when(user.created_at)
                    );
                }
            }
        }
        Command::Passwd(args) => {
            let (password, generated) = password(args.password_file.as_deref())?;
            let authority = crate::cmd::open(data).await?;
            authority
                .set_password(&args.name, &password, &actor)
                .await?;
            // The first password `ca serve` wrote down is no more: so is its file.
            if args.name == "admin" {
                let _ = std::fs::remove_file(authority.dir().join(crate::cmd::ADMIN_PASSWORD_FILE));
            }
            if generated {
                say!(
                    "The user {} has the new password {} (shown only this once)",
                    args.name,
                    password.reveal()
                );
            } else {
                say!("The password of {} is changed", args.name);
            }
            authority.close().await;
        }
        Command::Role(args) => {
            let authority = crate::cmd::open(data).await?;
            authority.set_role(&args.name, args.role, &actor).await?;
            say!("The user {} is now {}", args.name, args.role);
            authority.close().await;
        }
        Command::Disable(args) => {
            let authority = crate::cmd::open(data).await?;
            authority.set_disabled(&args.name, true, &actor).await?;
            say!("The user {} can no longer sign in", args.name);
            authority.close().await;
        }
        Command::Enable(args) => {
            let authority = crate::cmd::open(data).await?;
            authority.set_disabled(&args.name, false, &actor).await?;
            say!("The user {} can sign in again", args.name);
            authority.close().await;
        }
        Command::Eab(args) => {
            let authority = crate::cmd::open(data).await?;
            let (kid, key) = authority.new_eab_key(&args.name, &actor).await?;
            say!(
                "An external account binding key for {} (the key is shown only this once; it binds one ACME account):",
                args.name
            );
            say!("  key id    {kid}");
            say!("  HMAC key  {key}");
            say!("certbot:  --eab-kid {kid} --eab-hmac-key {key}");
            say!("lego:     --eab --kid {kid} --hmac {key}");
            say!("win-acme: --eab-key-identifier {kid} --eab-key {key}");
            authority.close().await;
        }
        Command::Remove(args) => {
            let authority = crate::cmd::open(data).await?;
            authority.remove_user(&args.name, &actor).await?;
            say!(
                "Removed the user {}; their requests and certificates stay in the log",
                args.name
            );
            authority.close().await;
        }
    }
    Ok(())
}
