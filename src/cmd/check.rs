//! `ca check`: is the data folder sound?

use std::path::Path;

pub(crate) async fn run(data: &Path) -> anyhow::Result<()> {
    let authority = crate::cmd::open_read(data).await?;
    let problems = authority.check().await?;
    if problems.is_empty() {
        say!(
            "The data folder {} is sound: the log passes SQLite's integrity and foreign-key checks, every certificate matches its fingerprint and was signed by the root, and the key is the root's.",
            data.display()
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("ca: problem: {problem}");
    }
    anyhow::bail!("{} problem(s) found in {}", problems.len(), data.display())
}
