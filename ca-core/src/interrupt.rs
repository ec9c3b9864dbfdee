//! A command's request to stop (Ctrl-C, SIGTERM, SIGHUP) while it is in the part of its work
//! that must not be cut short: a new key written under a temporary name, a certificate about
//! to be committed. The binary points the signals at [`flag`]; the work looks at
//! [`requested`] where stopping loses nothing (before the commit, or while it waits for the
//! log's write lock), and otherwise finishes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Set by the signals. Outside the guarded work it stays set, which the binary's handler
/// reads as "act as if no handler were there" (the process ends, as it always did).
static FLAG: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(true)));

/// Whether a command is in its guarded work.
static ARMED: AtomicBool = AtomicBool::new(false);

/// The flag the signals set: set outside the guarded work, cleared while it runs until a
/// signal comes.
pub fn flag() -> Arc<AtomicBool> {
    FLAG.clone()
}

/// Begins the guarded work: a signal from now on asks it to stop rather than ending the
/// process.
pub fn arm() {
    FLAG.store(false, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
}

/// Ends the guarded work: signals end the process again. Whether one came during it.
pub fn disarm() -> bool {
    let came = requested();
    ARMED.store(false, Ordering::SeqCst);
    FLAG.store(true, Ordering::SeqCst);
    came
}

/// Whether a signal asked the guarded work to stop.
pub fn requested() -> bool {
    ARMED.load(Ordering::SeqCst) && FLAG.load(Ordering::SeqCst)
}

/// Whether guarded work is under way (its waits for the log's lock give up when asked).
pub(crate) fn armed() -> bool {
    ARMED.load(Ordering::SeqCst)
}

/// How long a write waits for the log's write lock, as SQLite's own busy timeout would.
const WAIT: Duration = Duration::from_secs(60);

/// SQLite's busy handler for guarded work: waits as `busy_timeout` does (SQLite's delays,
/// up to [`WAIT`] in all), but gives up as soon as a signal asks the work to stop. `tries`
/// is how many times it was called for this wait before.
pub(crate) fn busy_wait(tries: i32) -> bool {
    const DELAYS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
    if requested() {
        return false;
    }
    let tries = usize::try_from(tries).unwrap_or(0);
    let waited: u64 = DELAYS_MS.iter().take(tries).sum::<u64>()
        + 100 * (tries.saturating_sub(DELAYS_MS.len()) as u64);
    let delay = DELAYS_MS.get(tries).copied().unwrap_or(100);
    if Duration::from_millis(waited + delay) > WAIT {
        return false;
    }
    std::thread::sleep(Duration::from_millis(delay));
    !requested()
}
