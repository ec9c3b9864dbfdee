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
    if rows.is_empty() {
        out.write_all(b"[]\n")?;
    } else {
        out.write_all(b"[")?;
        for (i, row) in rows.iter().enumerate() {
            out.write_all(if i == 0 { b"\n  {" } else { b",\n  {" })?;
            write_json_row(&mut out, &IssuanceJson::new(row))?;
            out.write_all(b"\n  }")?;
        }
        out.write_all(b"\n]\n")?;
    }
    Ok(())
}

/// The fields of one row of [`print_json_rows`], as serde_json's pretty printer lays out an
/// object two levels deep.
fn write_json_row(out: &mut impl Write, row: &IssuanceJson<'_>) -> std::io::Result<()> {
    fn key(out: &mut impl Write, name: &str, first: bool) -> std::io::Result<()> {
        out.write_all(if first { b"\n    \"" } else { b",\n    \"" })?;
        out.write_all(name.as_bytes())?;
        out.write_all(b"\": ")
    }
    fn text(out: &mut impl Write, value: &str) -> std::io::Result<()> {
        serde_json::to_writer(out, value).map_err(std::io::Error::other)
    }
    fn number(out: &mut impl Write, value: Option<i64>) -> std::io::Result<()> {
        match value {
            Some(n) => write!(out, "{n}"),
            None => out.write_all(b"null"),
        }
    }
    fn maybe(out: &mut impl Write, value: Option<&str>) -> std::io::Result<()> {
        match value {
            Some(value) => text(out, value),
            None => out.write_all(b"null"),
        }
    }
    key(out, "days_left", true)?;
    number(out, row.days_left)?;
    key(out, "disposition", false)?;
    text(out, row.disposition)?;
    key(out, "id", false)?;
    number(out, Some(row.id))?;
    key(out, "key_algorithm", false)?;
    maybe(out, row.key_algorithm)?;
    key(out, "names", false)?;
    if row.names.0.is_empty() {
        out.write_all(b"[]")?;
    } else {
        for (i, name) in row.names.0.iter().enumerate() {
            out.write_all(if i == 0 { b"[\n      " } else { b",\n      " })?;
            text(out, &name.to_string())?;
        }
        out.write_all(b"\n    ]")?;
    }
    key(out, "not_after", false)?;
    maybe(out, row.not_after.as_deref())?;
    key(out, "not_before", false)?;
    maybe(out, row.not_before.as_deref())?;
    key(out, "own", false)?;
    maybe(out, row.own)?;
    key(out, "renewed_by", false)?;
    number(out, row.renewed_by)?;
    key(out, "renewed_from", false)?;
    number(out, row.renewed_from)?;
    key(out, "requested_at", false)?;
    text(out, &row.requested_at)?;
    key(out, "requester", false)?;
    text(out, row.requester)?;
    key(out, "revocation_reason", false)?;
    maybe(out, row.revocation_reason)?;
    key(out, "revoked_at", false)?;
    maybe(out, row.revoked_at.as_deref())?;
    key(out, "serial", false)?;
    maybe(out, row.serial.as_deref())?;
    key(out, "sha256", false)?;
    maybe(out, row.sha256.as_deref())?;
    key(out, "source", false)?;
    text(out, row.source)?;
    key(out, "status", false)?;
    text(out, row.status)
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
        for rows in [vec![], vec![pending.clone()], vec![issued, pending]] {
            let mut ours = Vec::new();
            write_json_rows(&mut ours, &rows).unwrap();
            let json: Vec<IssuanceJson<'_>> = rows.iter().map(IssuanceJson::new).collect();
            let theirs = serde_json::to_string_pretty(&json).unwrap() + "\n";
            assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        }
    }
}
