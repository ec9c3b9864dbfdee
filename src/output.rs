//! Writing results to files or standard output, and describing rows for people and scripts.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::path::Path;

use ca_core::display::{rfc3339, time as human};
use ca_core::files::{AtomicFile, Folder, PUBLIC_MODE, SECRET_MODE, Target};
use ca_core::{Choice, Issuance, OwnCertificate, RequestId};

use crate::explain::Refused;

/// `println!` that returns an error instead of panicking when standard output is closed, so a
/// reader that goes away (`ca list | head -1`) ends the command quietly.
macro_rules! say {
    () => {
        $crate::output::say(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::output::say(format_args!($($arg)*))?
    };
}

/// `eprintln!` that does not panic when standard error cannot be written (a full disk behind
/// it): the command still ends with its own exit status.
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::output::tell(format_args!($($arg)*))
    };
}

pub(crate) fn tell(args: std::fmt::Arguments<'_>) {
    let text = shown(&args.to_string()).into_owned();
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(text.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}

pub(crate) fn say(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let text = args.to_string();
    let mut out = std::io::stdout().lock();
    out.write_all(shown(&text).as_bytes())?;
    out.write_all(b"\n")
}

/// `text` as a terminal may show it: its line breaks and tabs as they are, every other control
/// character and each mark that makes a line read other than it is as an escape ([`inert`]'s):
/// a path named with an escape sequence or U+202E, printed in a line saying what was written,
/// moves no cursor and reorders nothing.
///
/// [`inert`]: ca_core::display::inert
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let escaped =
        |c: char| (c.is_control() && c != '\n' && c != '\t') || ca_core::display::misleads(c);
    if !text.chars().any(escaped) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.push_str(&ca_core::display::inert(c.encode_utf8(&mut [0; 4])));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A path as a line of output names it: its control characters, line breaks included, and the
/// marks that mislead written as escapes ([`inert`]'s), so that a folder named with a line
/// break does not break the line that says what was written into it.
///
/// [`inert`]: ca_core::display::inert
pub(crate) trait Printed {
    fn printed(&self) -> String;
}

impl Printed for Path {
    fn printed(&self) -> String {
        ca_core::display::inert(&self.display().to_string())
    }
}

/// A file named by --out, checked and its folder opened before anything is written (before
/// anything is issued, for `ca sign`): what is written goes into the folder that was checked,
/// whatever its path names by then.
pub(crate) struct OutFile<'a> {
    target: Target,
    path: &'a Path,
}

impl<'a> OutFile<'a> {
    /// Opens the folder of `path`, refusing a CA's data folder (`data`'s, or any holding a
    /// root with its key or log: a CRL written over ca.db would lose the log, a certificate
    /// over root.crt the CA) and a file that holds a private key.
    pub(crate) fn open(path: &'a Path, data: &Path) -> anyhow::Result<OutFile<'a>> {
        let target = ca_core::files::target(path)?;
        if let Target::Named(folder, name) = &target {
            if folder.is(data) || ca_core::authority::is_data_folder(folder) {
                return Err(Refused(format!(
                    "{} would go into {}, a CA's data folder, where its own root, key and log are kept: write it somewhere else",
                    path.display(),
                    folder.path().display()
                ))
                .into());
            }
            // Before anything is done (issued, for `ca sign`): what cannot be written here.
            if let Err(err) = folder.writable() {
                return Err(Refused(format!(
                    "{} cannot be written into ({err}): choose another --out file, or run ca as a user that may write there",
                    folder.path().display()
                ))
                .into());
            }
            refuse_replacing_a_key(folder, name, path)?;
            if let Some(entry) = folder.entry(name)
                && !folder.may_replace(&entry)
            {
                return Err(Refused(format!(
                    "{} belongs to another user, and the folder's sticky bit lets only them replace it: write another file, or ask them to move it away",
                    path.display()
                ))
                .into());
            }
        }
        Ok(OutFile { target, path })
    }

    /// The path as given.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// Whether a file (or a link) is at the name already; never for standard output, a pipe
    /// or a device, which are written in place.
    pub(crate) fn exists(&self) -> bool {
        match &self.target {
            Target::InPlace(_) => false,
            Target::Named(folder, name) => folder.entry(name).is_some(),
        }
    }

    /// Writes `bytes` in full, or nothing.
    pub(crate) fn write(self, bytes: &[u8]) -> anyhow::Result<()> {
        Ok(self.target.write(self.path, bytes, PUBLIC_MODE)?)
    }

    /// Writes `bytes` that hold a secret (a key) in full, or nothing, as a new file readable
    /// by its owner only: never over a file, not even one that appeared since it was opened.
    pub(crate) fn write_new_secret(self, bytes: &[u8]) -> anyhow::Result<()> {
        Ok(self.target.write_new(self.path, bytes, SECRET_MODE)?)
    }

    /// The file to write in pieces, put in place when committed.
    pub(crate) fn create(self) -> anyhow::Result<AtomicFile> {
        Ok(AtomicFile::create_at(self.target, self.path, PUBLIC_MODE)?)
    }
}

/// Refuses to replace `name` in `folder` (`path`) when it holds a private key (PEM or DER of
/// any kind, anywhere in the file; a PKCS#12 file, also by its name): the CA keeps no
/// server's key, so a certificate or CRL written over one by a mistyped --out loses the only
/// copy.
fn refuse_replacing_a_key(folder: &Folder, name: &OsStr, path: &Path) -> anyhow::Result<()> {
    let Some(entry) = folder.entry(name) else {
        return Ok(());
    };
    if rustix::fs::FileType::from_raw_mode(entry.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(());
    }
    let pkcs12 = path
        .extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("pfx") || ext.eq_ignore_ascii_case("p12"));
    let key = folder
        .open_read(name)
        .and_then(ca_core::key::holds_a_private_key)
        .map_err(|err| {
            Refused(format!(
                "{} is there and cannot be read ({err}), so it is not replaced: it may hold a private key; give another file name, or move it away first",
                path.display()
            ))
        })?;
    // A file only its owner may read is kept as a secret is (an age, GPG or WireGuard key,
    // a .env): replaced only when it holds nothing but what ca writes, as its own files do
    // under a umask of 077.
    if !key && !pkcs12 && entry.st_size > 0 && entry.st_mode & 0o077 == 0 {
        let ours = folder
            .open_read(name)
            .and_then(|file| holds_only_what_ca_writes(file, entry.st_size))
            .map_err(|err| {
                Refused(format!(
                    "{} is there and cannot be read ({err}), so it is not replaced: give another file name, or move it away first",
                    path.display()
                ))
            })?;
        if !ours {
            return Err(Refused(format!(
                "{} is readable by its owner only, as a secret is, and holds more than certificates or CRLs, so it is not replaced by what this writes (a mistyped --out?): give another file name, or move it away first",
                path.display()
            ))
            .into());
        }
    }
    if key || (pkcs12 && entry.st_size > 0) {
        return Err(Refused(format!(
            "{} {}, which is not replaced by what this writes: give another file name, or move the key away first",
            path.display(),
            if key {
                "holds a private key"
            } else {
                "is named as a PFX, which holds a private key"
            }
        ))
        .into());
    }
    Ok(())
}

/// Whether `file` (of `size` bytes) holds nothing but what ca writes with --out: PEM blocks of
/// certificates, CRLs or PKCS#7 and the blank space between them, or one DER structure of
/// those (a SEQUENCE spanning the whole file, opening with a SEQUENCE or an OID). A secret
/// beside a certificate (an OpenVPN profile, a .env quoting one) is not. Read a line at a
/// time: a CRL of a million entries is never whole in memory.
fn holds_only_what_ca_writes(file: impl std::io::Read, size: i64) -> std::io::Result<bool> {
    use std::io::{BufRead, Read};
    let Ok(size) = usize::try_from(size) else {
        return Ok(false);
    };
    let mut reader = std::io::BufReader::new(file);
    if reader.fill_buf()?.first() == Some(&0x30) {
        let mut header = Vec::with_capacity(8);
        reader.take(8).read_to_end(&mut header)?;
        return Ok(der_spans(&header, size));
    }
    const LABELS: [&str; 4] = ["CERTIFICATE", "X509 CRL", "PKCS7", "TRUSTED CERTIFICATE"];
    // The block being read, if any; whether any block was read.
    let mut inside: Option<&str> = None;
    let mut blocks = 0usize;
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        // No line of PEM is longer than this; anything longer is something else.
        if (&mut reader).take(1024).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.len() == 1024 && line.last() != Some(&b'\n') {
            return Ok(false);
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            return Ok(false);
        };
        let text = text.trim();
        match inside {
            None if text.is_empty() => {}
            None => {
                let Some(label) = text
                    .strip_prefix("-----BEGIN ")
                    .and_then(|rest| rest.strip_suffix("-----"))
                    .and_then(|label| LABELS.iter().find(|known| **known == label))
                else {
                    return Ok(false);
                };
                inside = Some(label);
            }
            Some(label) => {
                if text
                    .strip_prefix("-----END ")
                    .and_then(|rest| rest.strip_suffix("-----"))
                    == Some(label)
                {
                    inside = None;
                    blocks += 1;
                } else if !text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
                {
                    return Ok(false);
                }
            }
        }
    }
    Ok(inside.is_none() && blocks > 0)
}

/// Whether a DER structure opening with `header` (its first bytes) is one SEQUENCE spanning
/// a file of `size` bytes, whose content opens with a SEQUENCE (a certificate's or a CRL's
/// signed part) or an OID (PKCS#7's content type).
fn der_spans(header: &[u8], size: usize) -> bool {
    let Some(&first_length) = header.get(1) else {
        return false;
    };
    let (length_octets, length) = match first_length {
        short @ 0..=0x7f => (0, usize::from(short)),
        0x81..=0x84 => {
            let count = usize::from(first_length & 0x7f);
            let Some(octets) = header.get(2..2 + count) else {
                return false;
            };
            let length = octets
                .iter()
                .fold(0usize, |length, octet| (length << 8) | usize::from(*octet));
            (count, length)
        }
        _ => return false,
    };
    let start = 2 + length_octets;
    start.checked_add(length) == Some(size) && matches!(header.get(start), Some(0x30 | 0x06))
}

/// Without --format, PEM is written: refused into a file whose name says PFX, DER or PKCS#7,
/// which whatever opens it by its name would fail to read (a `.cer` may hold Base64, as
/// Windows' own export writes it). `pfx`: what to do instead of a PFX.
pub(crate) fn refuse_pem_in_a_file_named_otherwise(
    out: Option<&Path>,
    command: &str,
    pfx: &str,
) -> Result<(), Refused> {
    // The part after the last dot, a name that is nothing else (`.pfx`) included.
    let Some(extension) = out
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, extension)| extension.to_ascii_lowercase())
    else {
        return Ok(());
    };
    let (what, add) = match extension.as_str() {
        "pfx" | "p12" => {
            return Err(Refused(format!(
                "a .{extension} file is a PFX (a key with its certificates, opened with a password), and without --format {command} writes PEM: {pfx}"
            )));
        }
        "der" => ("a DER certificate", "der"),
        "p7b" | "p7c" | "p7" => ("a PKCS#7 file", "p7b (or p7b-pem for Base64)"),
        _ => return Ok(()),
    };
    Err(Refused(format!(
        "a .{extension} file is {what}, and without --format {command} writes PEM: add --format {add}, or --format pem to write PEM into it all the same"
    )))
}

/// The file named by --out, or `None` for standard output: none given, or `-`, as OpenSSL and
/// most tools read it (a file named `-` would be a surprise nobody asked for).
pub(crate) fn named(out: Option<&Path>) -> Option<&Path> {
    out.filter(|path| *path != Path::new("-"))
}

/// Writes `bytes` to `out` (atomically; see [`OutFile`]; `data` is the CA's data folder), or
/// to standard output. Binary output is not sent to a terminal, where it would garble the
/// screen.
pub(crate) fn emit(
    data: &Path,
    out: Option<&Path>,
    bytes: &[u8],
    binary: bool,
) -> anyhow::Result<()> {
    match out {
        Some(path) => OutFile::open(path, data)?.write(bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            if binary && stdout.is_terminal() {
                return Err(Refused(
                    "binary output is not written to a terminal: pass --out FILE or redirect standard output".into(),
                )
                .into());
            }
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// A date and time for people (one format everywhere, from ca-core).
pub(crate) fn when(at: time::OffsetDateTime) -> String {
    human(at)
}

/// Days left before a certificate expires, as the inventory page says them.
pub(crate) fn days_left(left: i64) -> String {
    match left {
        0 => "expires within a day".to_owned(),
        1 => "1 day left".to_owned(),
        n => format!("{n} days left"),
    }
}

/// The JSON object of a row (DESIGN §5: id, serial, names, not_before, not_after, status,
/// sha256), written straight to its output by serde: no intermediate `serde_json::Value`, so a
/// list of thousands of rows costs one pass. Keys in alphabetical order.
#[derive(serde::Serialize)]
pub(crate) struct IssuanceJson<'a> {
    /// Whole days until a valid certificate expires (0 on its last day).
    days_left: Option<i64>,
    disposition: &'a str,
    /// `ca show` alone: the certificate's extended key usage, issuer, key usage, subject and
    /// SHA-1 thumbprint (what certutil prints of it); a list leaves them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_key_usage: Option<Vec<String>>,
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    key_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_usage: Option<Vec<&'static str>>,
    names: Names<'a>,
    not_after: Option<String>,
    not_before: Option<String>,
    /// One of the CA's own certificates: `https-server` or `ocsp-responder`.
    own: Option<&'static str>,
    /// Whether a certificate later in its line of renewals carries it on (not revoked, valid
    /// as long): then its expiry is no one's concern. `renewed_by` names the first renewal,
    /// whatever became of it.
    renewal_in_force: Option<bool>,
    renewed_by: Option<i64>,
    renewed_from: Option<i64>,
    requested_at: String,
    requester: &'a str,
    revocation_reason: Option<&'static str>,
    revoked_at: Option<String>,
    serial: Option<String>,
    sha256: Option<String>,
    source: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbprint_sha1: Option<String>,
}

/// A row's names as text, each written as it is serialised.
struct Names<'a>(&'a [ca_core::SubjectName]);

impl serde::Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|name| name.to_string()))
    }
}

impl<'a> IssuanceJson<'a> {
    pub(crate) fn new(row: &'a Issuance) -> Self {
        let cert = row.certificate.as_ref();
        let revocation = cert.and_then(|c| c.revocation.as_ref());
        IssuanceJson {
            days_left: row.expires_within(u32::MAX, time::OffsetDateTime::now_utc()),
            disposition: row.disposition_shown(),
            extended_key_usage: None,
            id: row.id.get(),
            issuer: None,
            key_algorithm: cert.map(|c| c.key_algorithm.name()),
            key_usage: None,
            names: Names(&row.names),
            not_after: cert.map(|c| rfc3339(c.not_after)),
            not_before: cert.map(|c| rfc3339(c.not_before)),
            own: row.own().map(|own| match own {
                OwnCertificate::Server => "https-server",
                OwnCertificate::OcspResponder => "ocsp-responder",
            }),
            renewal_in_force: cert.map(|c| c.renewal_in_force),
            renewed_by: cert.and_then(|c| c.renewed_by).map(RequestId::get),
            renewed_from: cert.and_then(|c| c.renewed_from).map(RequestId::get),
            requested_at: rfc3339(row.requested_at),
            requester: &row.requester,
            revocation_reason: revocation.map(|r| r.reason.name()),
            revoked_at: revocation.map(|r| rfc3339(r.revoked_at)),
            serial: cert.map(|c| c.serial.hex()),
            sha256: cert.map(|c| c.sha256.hex()),
            source: row.source.name(),
            status: row.status.name(),
            subject: None,
            thumbprint_sha1: None,
        }
    }

    /// The row with what its certificate says of itself (`ca show --json`).
    pub(crate) fn with_contents(mut self, row: &Issuance) -> Self {
        let Some(der) = row.certificate.as_ref().map(|c| &c.der) else {
            return self;
        };
        if let Some(contents) = ca_core::certificate::Contents::of(der) {
            self.subject = Some(contents.subject);
            self.issuer = Some(contents.issuer);
            self.key_usage = Some(contents.key_usage);
            self.extended_key_usage = Some(contents.extended_key_usage);
            self.thumbprint_sha1 =
                Some(ca_core::certificate::sha1_thumbprint(der).replace(':', ""));
        }
        self
    }
}

/// Writes `rows` to standard output as a JSON array, one row at a time, through one buffer:
/// what serde_json's pretty printer writes for [`IssuanceJson`], written field by field
/// (the keys are fixed, and only text from the log is escaped), which a list of thousands of
/// rows notices.
pub(crate) fn print_json_rows(rows: &[Issuance]) -> anyhow::Result<()> {
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout);
    write_json_rows(&mut out, rows)?;
    out.flush()?;
    Ok(())
}

fn write_json_rows(out: &mut impl Write, rows: &[Issuance]) -> std::io::Result<()> {
    let mut out = out;
    // One reading of the clock for the whole list, as `IssuanceJson::new` reads it per row.
    let now = time::OffsetDateTime::now_utc();
    if rows.is_empty() {
        out.write_all(b"[]\n")?;
    } else {
        out.write_all(b"[")?;
        for (i, row) in rows.iter().enumerate() {
            out.write_all(if i == 0 { b"\n  {" } else { b",\n  {" })?;
            write_json_row(&mut out, row, now)?;
            out.write_all(b"\n  }")?;
        }
        out.write_all(b"\n]\n")?;
    }
    Ok(())
}

/// The fields of one row of [`print_json_rows`], as serde_json's pretty printer lays out
/// [`IssuanceJson`] two levels deep; the values written straight from the row, without a
/// string made for each.
fn write_json_row(
    out: &mut impl Write,
    row: &Issuance,
    now: time::OffsetDateTime,
) -> std::io::Result<()> {
    fn key(out: &mut impl Write, name: &str, first: bool) -> std::io::Result<()> {
        out.write_all(if first { b"\n    \"" } else { b",\n    \"" })?;
        out.write_all(name.as_bytes())?;
        out.write_all(b"\": ")
    }
    fn text(out: &mut impl Write, value: &str) -> std::io::Result<()> {
        // Most text of the log (names, requesters) needs no escape: written as it is.
        if value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            out.write_all(b"\"")?;
            out.write_all(value.as_bytes())?;
            return out.write_all(b"\"");
        }
        serde_json::to_writer(out, value).map_err(std::io::Error::other)
    }
    fn number(out: &mut impl Write, value: Option<i64>) -> std::io::Result<()> {
        let Some(n) = value else {
            return out.write_all(b"null");
        };
        // Digits from the last, into a buffer as long as the longest i64.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n.unsigned_abs();
        loop {
            at -= 1;
            if let Some(place) = digits.get_mut(at) {
                *place = b'0' + (rest % 10) as u8;
            }
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if n < 0 {
            out.write_all(b"-")?;
        }
        out.write_all(digits.get(at..).unwrap_or_default())
    }
    fn maybe(out: &mut impl Write, value: Option<&str>) -> std::io::Result<()> {
        match value {
            Some(value) => text(out, value),
            None => out.write_all(b"null"),
        }
    }
    fn hex(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        out.write_all(b"\"")?;
        for chunk in bytes.chunks(32) {
            let mut digits = [0u8; 64];
            for (pair, b) in digits.chunks_exact_mut(2).zip(chunk) {
                pair.copy_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0F)]]);
            }
            out.write_all(digits.get(..chunk.len() * 2).unwrap_or_default())?;
        }
        out.write_all(b"\"")
    }
    fn date(out: &mut impl Write, at: Option<time::OffsetDateTime>) -> std::io::Result<()> {
        let Some(at) = at else {
            return out.write_all(b"null");
        };
        let at = at.to_offset(time::UtcOffset::UTC);
        if at.nanosecond() != 0 || !(0..=9999).contains(&at.year()) {
            return text(out, &rfc3339(at));
        }
        // What the `time` crate's RFC 3339 writes for a whole second in UTC, digit by digit
        // (formatting machinery per field cost a list more than its rows' text).
        let (hour, minute, second) = at.to_hms();
        let year = at.year().unsigned_abs();
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
        let [m1, m2] = two(u8::from(at.month()));
        let [d1, d2] = two(at.day());
        let [h1, h2] = two(hour);
        let [i1, i2] = two(minute);
        let [s1, s2] = two(second);
        out.write_all(&[
            b'"',
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            m1,
            m2,
            b'-',
            d1,
            d2,
            b'T',
            h1,
            h2,
            b':',
            i1,
            i2,
            b':',
            s1,
            s2,
            b'Z',
            b'"',
        ])
    }
    let cert = row.certificate.as_ref();
    let revocation = cert.and_then(|c| c.revocation.as_ref());
    key(out, "days_left", true)?;
    number(out, row.expires_within(u32::MAX, now))?;
    key(out, "disposition", false)?;
    text(out, row.disposition_shown())?;
    key(out, "id", false)?;
    number(out, Some(row.id.get()))?;
    key(out, "key_algorithm", false)?;
    maybe(out, cert.map(|c| c.key_algorithm.name()))?;
    key(out, "names", false)?;
    if row.names.is_empty() {
        out.write_all(b"[]")?;
    } else {
        for (i, name) in row.names.iter().enumerate() {
            out.write_all(if i == 0 { b"[\n      " } else { b",\n      " })?;
            match name.dns() {
                Some(dns) => text(out, dns.as_str())?,
                None => text(out, &name.to_string())?,
            }
        }
        out.write_all(b"\n    ]")?;
    }
    key(out, "not_after", false)?;
    date(out, cert.map(|c| c.not_after))?;
    key(out, "not_before", false)?;
    date(out, cert.map(|c| c.not_before))?;
    key(out, "own", false)?;
    maybe(
        out,
        row.own().map(|own| match own {
            OwnCertificate::Server => "https-server",
            OwnCertificate::OcspResponder => "ocsp-responder",
        }),
    )?;
    key(out, "renewal_in_force", false)?;
    out.write_all(match cert.map(|c| c.renewal_in_force) {
        Some(true) => b"true",
        Some(false) => b"false",
        None => b"null",
    })?;
    key(out, "renewed_by", false)?;
    number(out, cert.and_then(|c| c.renewed_by).map(RequestId::get))?;
    key(out, "renewed_from", false)?;
    number(out, cert.and_then(|c| c.renewed_from).map(RequestId::get))?;
    key(out, "requested_at", false)?;
    date(out, Some(row.requested_at))?;
    key(out, "requester", false)?;
    text(out, &row.requester)?;
    key(out, "revocation_reason", false)?;
    maybe(out, revocation.map(|r| r.reason.name()))?;
    key(out, "revoked_at", false)?;
    date(out, revocation.map(|r| r.revoked_at))?;
    key(out, "serial", false)?;
    match cert {
        Some(c) => hex(out, c.serial.as_bytes())?,
        None => out.write_all(b"null")?,
    }
    key(out, "sha256", false)?;
    match cert {
        Some(c) => hex(out, c.sha256.as_bytes())?,
        None => out.write_all(b"null")?,
    }
    key(out, "source", false)?;
    text(out, row.source.name())?;
    key(out, "status", false)?;
    text(out, row.status.name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ca_core::status::StatusCode;
    use ca_core::store::CertificateRecord;
    use ca_core::{
        Fingerprint, KeyAlgorithm, RequestSource, Revocation, RevocationReason, SerialNumber,
        Status,
    };

    fn id(n: u32) -> RequestId {
        n.to_string().parse().unwrap()
    }

    /// The rows as written field by field read as serde_json's pretty printer writes the
    /// same rows (what `ca show --json` writes one of), escapes and empty lists included.
    #[test]
    fn json_rows_are_what_serde_json_writes() {
        let at = time::macros::datetime!(2026-12-03 10:00:05 UTC);
        let serial: SerialNumber = "4f:a4".parse().unwrap();
        let certificate = CertificateRecord {
            serial: serial.clone(),
            not_before: at,
            not_after: at + time::Duration::days(397),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            sha256: Fingerprint::of(b"der"),
            der: Vec::new(),
            revocation: Some(Revocation {
                serial,
                revoked_at: at,
                reason: RevocationReason::KeyCompromise,
            }),
            renewed_from: Some(id(3)),
            renewed_by: Some(id(9)),
            renewal_in_force: false,
        };
        let issued = Issuance {
            id: id(4),
            requested_at: at,
            requester: "a \"quoted\" \\ name\tü".into(),
            source: RequestSource::Web,
            names: vec![
                "mail.example.com".parse().unwrap(),
                "192.0.2.1".parse().unwrap(),
            ],
            disposition: "Issued".into(),
            status_code: StatusCode::from_value(0),
            status: Status::Revoked,
            certificate: Some(certificate),
        };
        let pending = Issuance {
            id: id(5),
            names: Vec::new(),
            status: Status::Pending,
            certificate: None,
            disposition: "Taken Under Submission".into(),
            ..issued.clone()
        };
        // A valid certificate (days left), a long serial, and times the log never holds
        // (a fraction of a second, another offset) written as serde writes them too.
        let mut valid = issued.clone();
        valid.status = Status::Valid;
        valid.requester = "admin".into();
        valid.requested_at = at + time::Duration::milliseconds(250);
        if let Some(cert) = valid.certificate.as_mut() {
            cert.revocation = None;
            cert.serial = "7f:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13"
                .parse()
                .unwrap();
            cert.not_before = at.to_offset(time::macros::offset!(+2));
            cert.not_after = time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap()
                + time::Duration::days(20);
        }
        // Its last day: 0 days left; and an id of many digits.
        let mut last_day = valid.clone();
        last_day.id = id(4_294_967_295);
        if let Some(cert) = last_day.certificate.as_mut() {
            cert.not_after = time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap()
                + time::Duration::hours(2);
        }
        // Carried on by a renewal in force: no days left shown.
        let mut carried = valid.clone();
        carried.id = id(6);
        if let Some(cert) = carried.certificate.as_mut() {
            cert.renewal_in_force = true;
        }
        for rows in [
            vec![],
            vec![pending.clone()],
            vec![issued, pending, valid, last_day, carried],
        ] {
            let mut ours = Vec::new();
            write_json_rows(&mut ours, &rows).unwrap();
            let json: Vec<IssuanceJson<'_>> = rows.iter().map(IssuanceJson::new).collect();
            let theirs = serde_json::to_string_pretty(&json).unwrap() + "\n";
            assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        }
    }
}
