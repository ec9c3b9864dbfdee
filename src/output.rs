//! Writing results to files or standard output, and describing rows for people and scripts.

use std::io::{IsTerminal, Write};
use std::path::Path;

use ca_core::display::{rfc3339, time as human};
use ca_core::files::{PUBLIC_MODE, write_atomic};
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

pub(crate) fn say(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// Writes `bytes` to `out` (atomically), or to standard output. Binary output is not sent to a
/// terminal, where it would garble the screen.
pub(crate) fn emit(out: Option<&Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    match out {
        Some(path) => Ok(write_atomic(path, bytes, PUBLIC_MODE)?),
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
        0 => "expires today".to_owned(),
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
    id: i64,
    key_algorithm: Option<&'static str>,
    names: Names<'a>,
    not_after: Option<String>,
    not_before: Option<String>,
    /// One of the CA's own certificates: `https-server` or `ocsp-responder`.
    own: Option<&'static str>,
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
            disposition: &row.disposition,
            id: row.id.get(),
            key_algorithm: cert.map(|c| c.key_algorithm.name()),
            names: Names(&row.names),
            not_after: cert.map(|c| rfc3339(c.not_after)),
            not_before: cert.map(|c| rfc3339(c.not_before)),
            own: row.own().map(|own| match own {
                OwnCertificate::Server => "https-server",
                OwnCertificate::OcspResponder => "ocsp-responder",
            }),
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
        }
    }
}

/// Writes `rows` to standard output as a JSON array, one row at a time, through one buffer.
pub(crate) fn print_json_rows(rows: &[Issuance]) -> anyhow::Result<()> {
    use serde::ser::{SerializeSeq, Serializer};
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout);
    let mut serializer = serde_json::Serializer::pretty(&mut out);
    let mut seq = serializer.serialize_seq(Some(rows.len()))?;
    for row in rows {
        seq.serialize_element(&IssuanceJson::new(row))?;
    }
    seq.end()?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
