//! `ca check`: is the data folder sound?

use std::path::Path;

pub(crate) async fn run(data: &Path) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let problems = authority.check().await?;
    let folder = std::path::absolute(data)?;
    if problems.is_empty() {
        let key = if authority.key_is_readable() {
            "and the key is the root's"
        } else {
            "and the key is encrypted (set $CA_PASSPHRASE to check it against the root too)"
        };
        let log = match authority.log_location() {
            ca_core::LogLocation::File(_) => {
                "the log passes SQLite's integrity and foreign-key checks".to_owned()
            }
            ca_core::LogLocation::Postgres(url) => format!("the log in {url} is readable"),
        };
        say!(
            "The data folder {} is sound: {log}, every certificate matches its fingerprint and was signed by the root, {key}.",
            folder.display()
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("ca: problem: {}", crate::explain::printable(problem));
    }
    anyhow::bail!(
        "{} problem(s) found in {}: restore the folder from a backup (`ca restore`) if the log or the key is damaged",
        problems.len(),
        folder.display()
    )
}
