//! `ca completions SHELL`: the completion script for a shell, generated from the same clap
//! definitions that parse the command line, so that it offers every command, flag and value.

use std::io::Write;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The shell to complete for. bash: save it as
    /// /usr/share/bash-completion/completions/ca; zsh: as _ca in a folder of $fpath;
    /// fish: as ~/.config/fish/completions/ca.fish; PowerShell: dot-source it from $PROFILE.
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

pub(crate) fn run(mut cli: clap::Command, args: Args) -> anyhow::Result<()> {
    // Generated whole first: the generator panics on a failed write, and a reader may go away.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "ca", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}
