//! Where and how `ca` logs: to standard error, in colour only on a terminal, and under systemd
//! in the form journald keeps (each line prefixed with its syslog priority, `<4>` for a
//! warning, and no time stamp of its own: the journal records one). The filter can be
//! replaced while the server runs (`log` in its configuration file, on SIGHUP).

use std::sync::OnceLock;

use tracing::Level;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, format};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The environment variable whose filter overrides every other (`CA_LOG=debug`).
pub(crate) const ENV: &str = "CA_LOG";

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Starts logging with `$CA_LOG`, else `default` (`info`, `warn`).
pub(crate) fn init(default: &str) {
    let filter = EnvFilter::try_from_env(ENV).unwrap_or_else(|_| EnvFilter::new(default));
    let (filter, handle) = reload::Layer::new(filter);
    let journal = is_journal(&std::io::stderr());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let plain = (!journal).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(terminal)
    });
    let journald = journal.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(Journald(format().without_time()))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(plain)
        .with(journald)
        .try_init();
    let _ = FILTER.set(handle);
}

/// Logs by `directives` from now on, unless `$CA_LOG` was set (the environment wins over a
/// configuration file); `None` goes back to `default`.
pub(crate) fn set_filter(directives: Option<&str>, default: &str) {
    if std::env::var_os(ENV).is_some_and(|value| !value.is_empty()) {
        return;
    }
    let filter = EnvFilter::builder()
        .parse(directives.unwrap_or(default))
        .unwrap_or_else(|_| EnvFilter::new(default));
    if let Some(handle) = FILTER.get()
        && let Err(err) = handle.reload(filter)
    {
        tracing::warn!(%err, "could not change what is logged");
    }
}

/// True when standard output goes to the journal (as under systemd, by default).
pub(crate) fn stdout_is_journal() -> bool {
    is_journal(&std::io::stdout())
}

/// True when `stream` is the journal's: systemd names it in `$JOURNAL_STREAM`
/// (`DEVICE:INODE`), which a process started from that service but writing elsewhere inherits
/// too, so the file itself is compared (systemd.exec(5)).
fn is_journal(stream: &impl std::os::fd::AsFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(journal) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = journal.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(fd) = stream.as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => device.parse() == Ok(meta.dev()) && inode.parse() == Ok(meta.ino()),
        Err(_) => false,
    }
}

/// Prefixes each line with the syslog priority of its level, as sd-daemon(3) describes, so
/// that journald files errors as errors and `journalctl -p warning` finds the warnings.
struct Journald<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journald<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}
