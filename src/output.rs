//! Writing results to files or standard output, and describing rows for people and scripts.

use std::io::{IsTerminal, Write};
use std::path::Path;

use ca_core::display::{rfc3339, time as human};
use ca_core::files::{PUBLIC_MODE, write_atomic};
use ca_core::{Issuance, RequestId};
use serde_json::{Value, json};

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

/// The JSON object of a row (DESIGN §5: id, serial, names, not_before, not_after, status, sha256).
pub(crate) fn issuance_json(row: &Issuance) -> Value {
    let cert = row.certificate.as_ref();
    let revocation = cert.and_then(|c| c.revocation.as_ref());
    json!({
        "id": row.id.get(),
        "status": row.status.name(),
        "names": row.name_texts(),
        "serial": cert.map(|c| c.serial.hex()),
        "not_before": cert.map(|c| rfc3339(c.not_before)),
        "not_after": cert.map(|c| rfc3339(c.not_after)),
        "sha256": cert.map(|c| c.sha256.hex()),
        "key_algorithm": cert.map(|c| c.key_algorithm.name()),
        "requested_at": rfc3339(row.requested_at),
        "requester": row.requester,
        "source": row.source.to_string(),
        "disposition": row.disposition,
        "revoked_at": revocation.map(|r| rfc3339(r.revoked_at)),
        "revocation_reason": revocation.map(|r| r.reason.name()),
        "renewed_from": cert.and_then(|c| c.renewed_from).map(RequestId::get),
    })
}
