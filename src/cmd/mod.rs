//! One module per command. Each parses its arguments into domain types, calls `ca-core`, and
//! prints the result.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::OnceLock;

use crate::output::Printed;
use ca_core::{Authority, DatabaseUrl, OpenOptions, Passphrase};

pub(crate) mod acme;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod check;
pub(crate) mod completions;
pub(crate) mod config;
pub(crate) mod export;
pub(crate) mod init;
pub(crate) mod issue;
pub(crate) mod list;
pub(crate) mod man;
pub(crate) mod migrate;
pub(crate) mod notify;
pub(crate) mod ocsp;
pub(crate) mod passphrase;
pub(crate) mod pending;
pub(crate) mod renew;
pub(crate) mod revoke;
pub(crate) mod root;
pub(crate) mod serve;
pub(crate) mod show;
pub(crate) mod sign;
pub(crate) mod user;

pub(crate) use crate::explain::Refused;

/// The name of the systemd credential that holds the CA key's passphrase
/// (`LoadCredential=ca.passphrase`, systemd.exec(5)).
pub(crate) const PASSPHRASE_CREDENTIAL: &str = "ca.passphrase";

/// Where `ca serve` puts the first admin's password in the data folder when its standard
/// output is neither a terminal nor the journal (kept somewhere: a file, a container's log).
pub(crate) const ADMIN_PASSWORD_FILE: &str = "admin-password.txt";

/// The CA key's passphrase (never from the command line): the systemd credential
/// `ca.passphrase` when the service manager passed one (its one line), else
/// `$CA_PASSPHRASE`.
pub(crate) fn passphrase() -> anyhow::Result<Option<Passphrase>> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = Path::new(&dir).join(PASSPHRASE_CREDENTIAL);
        if path.exists() {
            let secret = read_password(&path, "CA passphrase")?;
            if secret.is_empty() {
                return Err(Refused(format!(
                    "the credential {} is empty: put the CA key's passphrase in it, or leave it out for an unencrypted key",
                    path.display()
                ))
                .into());
            }
            return Ok(Some(Passphrase::new(secret)?));
        }
    }
    // Set but empty, or not text, it is a mistake (a variable meant to hold it that did not),
    // never "no passphrase": `ca init` would write the root key unencrypted without a word.
    match std::env::var("CA_PASSPHRASE") {
        Ok(secret) if secret.is_empty() => Err(Refused(
            "$CA_PASSPHRASE is set but empty: set it to the CA key's passphrase, or unset it (`unset CA_PASSPHRASE`) for an unencrypted key".into(),
        )
        .into()),
        Ok(secret) => Ok(Some(Passphrase::new(secret)?)),
        Err(std::env::VarError::NotUnicode(_)) => Err(Refused(
            "$CA_PASSPHRASE is not UTF-8 text: give the CA key's passphrase in UTF-8".into(),
        )
        .into()),
        Err(std::env::VarError::NotPresent) => Ok(None),
    }
}

/// The database `--database` (or `$CA_DATABASE`) named for this run: every command opens the
/// log there, set once by `main` before any command runs.
static DATABASE: OnceLock<Option<DatabaseUrl>> = OnceLock::new();

/// Records the database named for this run (`None`: the SQLite file in the data folder).
pub(crate) fn set_database(database: Option<DatabaseUrl>) {
    let _ = DATABASE.set(database);
}

/// The database named for this run, if any.
pub(crate) fn database() -> Option<DatabaseUrl> {
    DATABASE.get().cloned().flatten()
}

/// Reads `--database URL` for clap.
pub(crate) fn database_url(text: &str) -> Result<DatabaseUrl, String> {
    text.parse()
        .map_err(|err: ca_core::location::InvalidDatabaseUrl| err.to_string())
}

/// How the command line opens a CA: the passphrase from the environment, the pages' URLs
/// for the links certificates carry, and the database named for this run.
pub(crate) fn open_options(connections: u32) -> anyhow::Result<OpenOptions> {
    Ok(OpenOptions {
        passphrase: passphrase()?,
        connections,
        links: Some(ca_web::LINKS),
        read_only: false,
        database: database(),
    })
}

/// Opens the CA in `data` to change it.
pub(crate) async fn open(data: &Path) -> anyhow::Result<Authority> {
    let options = open_options(1)?;
    let given = options.passphrase.is_some();
    let authority = Authority::open(data, options).await?;
    warn_of_an_unused_passphrase(&authority, given);
    Ok(authority)
}

/// Opens the CA in `data` to sign with its root key. When the key is encrypted, no passphrase
/// came from the service manager or the environment, and standard input is a terminal, the
/// passphrase is asked there (not shown as it is typed; three tries), before anything is
/// done: typed on a command line (`CA_PASSPHRASE=... ca issue`), it would stay in the shell's
/// history.
pub(crate) async fn open_to_sign(data: &Path) -> anyhow::Result<Authority> {
    let options = open_options(1)?;
    let given = options.passphrase.is_some();
    let mut authority = Authority::open(data, options).await?;
    warn_of_an_unused_passphrase(&authority, given);
    unlock_at_a_terminal(&mut authority, given)?;
    Ok(authority)
}

/// Asks for the root key's passphrase at the terminal on standard input, when the key is
/// encrypted and no passphrase was `given` (not shown as it is typed; three tries).
pub(crate) fn unlock_at_a_terminal(authority: &mut Authority, given: bool) -> anyhow::Result<()> {
    if given || !std::io::stdin().is_terminal() || !matches!(authority.key_is_encrypted(), Ok(true))
    {
        return Ok(());
    }
    let key = authority.dir().join("root.key");
    let what = format!("passphrase of the root key {}", key.display());
    for attempt in 1..=PASSPHRASE_TRIES {
        let typed = ask_secret_once(&what)?;
        // An empty line is a wrong passphrase too, not a reason to stop.
        let unlocked = match Passphrase::new(typed) {
            Ok(passphrase) => authority.unlock(passphrase),
            Err(_) => Err(ca_core::Error::CaKeyPassphrase { path: key.clone() }),
        };
        match unlocked {
            Ok(()) => return Ok(()),
            Err(ca_core::Error::CaKeyPassphrase { .. }) if attempt < PASSPHRASE_TRIES => {
                tell!("ca: that passphrase does not decrypt {}", key.printed());
            }
            Err(ca_core::Error::CaKeyPassphrase { .. }) => break,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Refused(format!(
        "none of the {PASSPHRASE_TRIES} passphrases typed decrypts {}: nothing was done",
        key.display()
    ))
    .into())
}

/// How many times the root key's passphrase is asked at a terminal, as sudo asks.
const PASSPHRASE_TRIES: u32 = 3;

/// Warns when a passphrase was given for a root key that is not encrypted: there it protects
/// nothing, and whoever set it may believe it does.
pub(crate) fn warn_of_an_unused_passphrase(authority: &Authority, given: bool) {
    if given && matches!(authority.key_is_encrypted(), Ok(false)) {
        tell!(
            "ca: warning: {} is not encrypted, so the passphrase given ($CA_PASSPHRASE, or the credential {PASSPHRASE_CREDENTIAL}) protects nothing; \
             `{} passphrase` encrypts the key (it asks for the new passphrase at a terminal, or reads it from --new-passphrase-file FILE)",
            authority.dir().join("root.key").printed(),
            crate::invocation::ca()
        );
    }
}

/// Opens the CA in `data` only to read it: works on a read-only folder too.
pub(crate) async fn open_read(data: &Path) -> anyhow::Result<Authority> {
    let options = OpenOptions {
        read_only: true,
        ..open_options(1)?
    };
    Ok(Authority::open(data, options).await?)
}

/// What `ca serve` and `ca check` say when the PostgreSQL role they run as could alter the
/// audit trail (it owns the tables, or is a superuser), and how to set up roles that cannot.
pub(crate) fn audit_exposed(role: &str) -> String {
    format!(
        "the audit trail is not protected against the role {role} this runs as: it owns the log's tables (or is a superuser), so it can switch off the trigger that keeps the trail append-only; \
         run servers and commands as a role of their own, granted with `ca migrate --grant ROLE` run as the owner (README, \"Several nodes on PostgreSQL\")"
    )
}

/// Who runs the command, for the audit trail and as the requester of what it issues:
/// `os:NAME`, the login name of the effective user id (getpwuid_r(3), so users of LDAP or other
/// NSS sources are found too; `sudo ca ...` is `os:root`), or `os:uid:N` when the system has no
/// name for it. The prefix keeps an operating-system user apart from a user of the pages with
/// the same name.
pub(crate) fn actor() -> String {
    let name = whoami::fallible::username()
        .ok()
        .filter(|name| !name.is_empty() && !name.chars().any(char::is_control))
        .unwrap_or_else(|| format!("uid:{}", rustix::process::geteuid().as_raw()));
    format!("os:{name}")
}

/// The largest secret or request file read, so that a wrong path (a disk image, /dev/zero)
/// fails at once instead of filling memory.
const MAX_INPUT: u64 = 1024 * 1024;

/// Reads FILE, or standard input for `-`, refusing anything over 1 MiB.
pub(crate) fn read_input(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    read.map_err(|err| {
        Refused(format!(
            "cannot read the {what} from {}: {err}",
            path.display()
        ))
    })?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(Refused(format!("{} is too large to be a {what}", path.display())).into());
    }
    Ok(bytes)
}

/// Reads a password from FILE or standard input (`-`): its one line, without its line end.
/// A FILE that does not exist is not named in the refusal: it may be the password itself,
/// typed where its file's name was asked for. Standard input that is a terminal is asked,
/// twice, with the terminal's echo off (see [`ask_secret`]). More lines than one (a key or a
/// certificate given by mistake, whose first line would have been the password) and control
/// characters (a NUL, which no prompt could take: what it protects could not be opened) are
/// refused, without repeating what was read.
pub(crate) fn read_password(path: &Path, what: &str) -> anyhow::Result<String> {
    if path == Path::new("-") && std::io::stdin().is_terminal() {
        return ask_secret(what);
    }
    if path != Path::new("-") && !path.exists() {
        return Err(Refused(format!(
            "cannot read the {what}: no such file (give the name of a file that holds it, or - for standard input, never the {what} itself; what was given is not repeated here)"
        ))
        .into());
    }
    let bytes = read_input(path, what)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Refused(format!(
            "the {what} in {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let source = if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(Refused(format!(
            "the {what} in {source} holds more than one line: a {what} is one line (was a key or a certificate given?); what it holds is not repeated here"
        ))
        .into());
    }
    if first.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Refused(format!(
            "the {what} in {source} holds a control character (a NUL, an escape), which could not be typed where it is asked for: write it as plain text"
        ))
        .into());
    }
    Ok(first.to_owned())
}

/// Asks for `what` at the terminal on standard input, as OpenSSL and passwd(1) do: not shown
/// as it is typed, and asked again, since a mistyped new password locks away what it protects.
fn ask_secret(what: &str) -> anyhow::Result<String> {
    let terminal = QuietTerminal::new()?;
    let first = terminal.ask(&not_shown(what), what)?;
    let again = terminal.ask(&format!("{} again: ", capitalised(what)), what)?;
    drop(terminal);
    if first != again {
        return Err(Refused(format!(
            "the {what} was typed differently the second time: nothing was done; run the command again"
        ))
        .into());
    }
    Ok(first)
}

/// Asks for `what`, an existing secret, at the terminal on standard input, once, not shown as
/// it is typed.
fn ask_secret_once(what: &str) -> anyhow::Result<String> {
    QuietTerminal::new()?.ask(&not_shown(what), what)
}

/// The prompt for `what`, said not to be shown as it is typed.
fn not_shown(what: &str) -> String {
    format!("{} (not shown as you type): ", capitalised(what))
}

/// `what` with its first letter in capitals, to begin a prompt.
fn capitalised(what: &str) -> String {
    let mut asked = what.to_owned();
    if let Some(first) = asked.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    asked
}

/// The terminal on standard input with its echo off and its keys read one by one, restored
/// when dropped. The command itself reads the terminal's interrupt, quit and suspend keys
/// (Ctrl-C, Ctrl-\, Ctrl-Z), so that no signal stops it while the echo is off (which some
/// shells would not switch back on), and its erase and kill keys; lines of any length.
struct QuietTerminal {
    saved: rustix::termios::Termios,
}

impl QuietTerminal {
    fn new() -> anyhow::Result<QuietTerminal> {
        use rustix::termios::{
            LocalModes, OptionalActions, SpecialCodeIndex, tcgetattr, tcsetattr,
        };
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHONL | LocalModes::ICANON | LocalModes::ISIG);
        quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
        quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
        // What was typed before the prompt showed (and was shown) is dropped.
        tcsetattr(&stdin, OptionalActions::Flush, &quiet)?;
        Ok(QuietTerminal { saved })
    }

    /// One line, `prompt` written first to the terminal itself (/dev/tty, as sudo and ssh
    /// write theirs: standard error may be a file), else to standard error; the line end is
    /// echoed.
    fn ask(&self, prompt: &str, what: &str) -> anyhow::Result<String> {
        use rustix::termios::SpecialCodeIndex as Key;
        use std::io::Write;
        let key = |index| self.saved.special_codes[index];
        let (interrupt, quit, suspend) = (key(Key::VINTR), key(Key::VQUIT), key(Key::VSUSP));
        let (erase, kill, end) = (key(Key::VERASE), key(Key::VKILL), key(Key::VEOF));
        let mut err: Box<dyn Write> = match std::fs::OpenOptions::new().write(true).open("/dev/tty")
        {
            Ok(terminal) => Box::new(terminal),
            Err(_) => Box::new(std::io::stderr().lock()),
        };
        let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
        let mut line: Vec<u8> = Vec::new();
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut byte = [0u8];
            let read = stdin.read(&mut byte).map_err(|err| {
                Refused(format!("cannot read the {what} from the terminal: {err}"))
            })?;
            let byte = byte[0];
            if read == 0 || (byte == end && line.is_empty()) {
                let _ = err.write_all(b"\n");
                return Err(Refused(format!("no {what} was typed: nothing was done")).into());
            }
            if byte == interrupt || byte == quit {
                let _ = err.write_all(b"\n");
                return Err(Refused(format!("stopped at the {what}: nothing was done")).into());
            }
            match byte {
                b'\n' | b'\r' => break,
                _ if byte == erase || byte == 0x08 || byte == 0x7f => {
                    // One character, however many bytes it took in UTF-8.
                    while line.pop().is_some_and(|last| last & 0xc0 == 0x80) {}
                }
                _ if byte == kill => line.clear(),
                _ if byte == suspend || byte == end => {}
                _ => line.push(byte),
            }
            if line.len() > MAX_INPUT as usize {
                let _ = err.write_all(b"\n");
                return Err(Refused(format!("the {what} typed is too long")).into());
            }
        }
        let _ = err.write_all(b"\n");
        String::from_utf8(line)
            .map_err(|_| Refused(format!("the {what} typed is not UTF-8 text")).into())
    }
}

impl Drop for QuietTerminal {
    fn drop(&mut self) {
        use rustix::termios::{OptionalActions, tcsetattr};
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// A number of days (`--days N`), refused in words when it is none: clap's own message for a
/// `u32` names a range no validity has (`0..=4294967295`), and a negative number was taken
/// for an option.
pub(crate) fn days(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a number of days is a whole number, as in --days 397".to_owned());
    }
    if text.starts_with('-') || digits.bytes().all(|b| b == b'0') {
        return Err("a certificate is valid for 1 day or more".to_owned());
    }
    digits
        .parse()
        .map_err(|_| "that is longer than any certificate may be valid".to_owned())
}

/// Reads a value of one of `ca-core`'s fixed sets as `ca-core` reads it everywhere (any case,
/// with or without hyphens or underscores), listing the values in help, completions and errors
/// as clap's `ValueEnum` does.
#[derive(Clone)]
pub(crate) struct ChoiceParser<T>(std::marker::PhantomData<T>);

/// The parser for `T`, for `#[arg(value_parser = choice::<T>())]`.
pub(crate) fn choice<T>() -> ChoiceParser<T> {
    ChoiceParser(std::marker::PhantomData)
}

impl<T> clap::builder::TypedValueParser for ChoiceParser<T>
where
    T: ca_core::Choice + clap::ValueEnum + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        match value.to_str().map(T::from_name) {
            Some(Ok(choice)) => Ok(choice),
            // clap's own parser words the refusal, with the possible values.
            _ => clap::builder::EnumValueParser::<T>::new().parse_ref(cmd, arg, value),
        }
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(possible_values::<T>())
    }
}

/// The values of `T` as help, completions and errors list them (clap's `ValueEnum`).
pub(crate) fn possible_values<T: clap::ValueEnum + 'static>()
-> Box<dyn Iterator<Item = clap::builder::PossibleValue>> {
    Box::new(
        T::value_variants()
            .iter()
            .filter_map(clap::ValueEnum::to_possible_value),
    )
}

/// The part of `ca issue` and `ca renew` from the new key's making to its files' placing, in
/// which Ctrl-C, SIGTERM or SIGHUP stop the work where that loses nothing: before the
/// certificate is committed (or while the commit waits for the log's lock), the key written
/// so far is removed and nothing is issued (exit status 130); once it is committed, the
/// files are put in place first. A second signal ends the process at once, as does any
/// signal outside this part.
pub(crate) struct Guard;

impl Guard {
    pub(crate) fn begin() -> Guard {
        static REGISTERED: std::sync::Once = std::sync::Once::new();
        REGISTERED.call_once(|| {
            use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
            // A signal this process was started ignoring (`nohup`, a background job of a
            // script, `trap '' INT`) stays ignored: its caller asked for the command to run
            // on whatever it is sent. Not knowing (no /proc), none is handled.
            let Some(ignored) = ignored_signals() else {
                return;
            };
            for signal in [SIGINT, SIGTERM, SIGHUP] {
                if ignored >> (signal - 1) & 1 == 1 {
                    continue;
                }
                let flag = ca_core::interrupt::flag();
                // While the flag is set (outside the guarded part, or a signal in it
                // already), the signal acts as if no handler were there; the second
                // registration sets the flag. Without the first, the second is not made:
                // a signal would then be ignored outside the guarded part.
                if signal_hook::flag::register_conditional_default(signal, flag.clone()).is_ok() {
                    let _ = signal_hook::flag::register(signal, flag);
                }
            }
        });
        ca_core::interrupt::arm();
        Guard
    }

    /// Ends the guarded part once its work is done, saying so when a signal came during it.
    pub(crate) fn end(self) {
        if ca_core::interrupt::disarm() {
            tell!(
                "ca: the signal came once the certificate was in the log: its files were put in place first"
            );
        }
    }
}

/// The signals this process ignores, as /proc shows them (bit N-1 for signal N).
fn ignored_signals() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))?
        .trim();
    u64::from_str_radix(mask, 16).ok()
}

impl Drop for Guard {
    fn drop(&mut self) {
        ca_core::interrupt::disarm();
    }
}
