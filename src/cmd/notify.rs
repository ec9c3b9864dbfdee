//! `ca notify`: the notices that reach a person (expiry warnings, watched servers).

use std::path::Path;

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Send a test message through every configured channel (e-mail, webhook) and say what
    /// failed: exit status 1 when a delivery failed, 2 when the settings are incomplete.
    Test,
    /// Show where notices go and how many wait to be sent.
    Show,
}

/// A delivery that failed: exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Undelivered(String);

pub(crate) async fn run(data: &Path, command: Command) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    match command {
        Command::Test => {
            let deliveries = authority.notify_test(&crate::cmd::actor()).await?;
            let mut failed = Vec::new();
            for delivery in &deliveries {
                match &delivery.outcome {
                    Ok(()) => say!("{:<8} sent to {}", delivery.channel, delivery.to),
                    Err(err) => {
                        say!("{:<8} FAILED: {err}", delivery.channel);
                        failed.push(delivery.channel.to_string());
                    }
                }
            }
            if !failed.is_empty() {
                return Err(Undelivered(format!(
                    "the test notice was not delivered by {}",
                    failed.join(" and ")
                ))
                .into());
            }
            Ok(())
        }
        Command::Show => {
            let settings = authority.notify_settings().await?;
            let channels = settings.channels();
            if channels.is_empty() {
                say!(
                    "Notices go nowhere: set smtp-host, smtp-from and smtp-to, or webhook, with `ca config set`."
                );
            }
            for channel in channels {
                say!(
                    "{:<8} {}",
                    channel,
                    ca_core::notify::destination(&settings, channel)
                );
            }
            let (waiting, sent) = authority.notice_counts().await?;
            say!("{sent} notices sent, {waiting} waiting");
            Ok(())
        }
    }
}
