//! `ca user add`: users of the web pages.

use std::path::{Path, PathBuf};

use ca_core::users::{Password, Role};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Add a user, or set the role and password of an existing one.
    Add(AddArgs),
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

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(args) => {
            ca_core::users::check_user_name(&args.name)?;
            let (password, generated) = match &args.password_file {
                Some(path) => (
                    Password::new(crate::cmd::read_password(path, "password")?)?,
                    false,
                ),
                None => (Password::random()?, true),
            };
            let authority = crate::cmd::open(data).await?;
            authority
                .put_user(&args.name, args.role, &password, &crate::cmd::actor())
                .await?;
            if generated {
                say!(
                    "The user {} ({}) has the password {} (shown only this once)",
                    args.name,
                    args.role,
                    password.reveal()
                );
            } else {
                say!("The user {} ({}) is set", args.name, args.role);
            }
            Ok(())
        }
    }
}
