//! Writing results to files or standard output, and describing rows for people and scripts.

use std::io::{IsTerminal, Write};
use std::path::Path;

use ca_core::Issuance;
use ca_core::files::{PUBLIC_MODE, write_atomic};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cmd::Refused;

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

/// RFC 3339, as `--json` writes times.
pub(crate) fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// A short date and time for people: `2027-12-27 10:04 UTC`.
pub(crate) fn human(time: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time.format(&format).unwrap_or_default()
}

/// The JSON object of a row (DESIGN §5: id, serial, names, not_before, not_after, status, sha256).
pub(crate) fn issuance_json(row: &Issuance) -> Value {
    let cert = row.certificate.as_ref();
    json!({
        "id": row.id,
        "status": row.status.name(),
        "names": row.names,
        "serial": cert.map(|c| c.serial.clone()),
        "not_before": cert.map(|c| rfc3339(c.not_before)),
        "not_after": cert.map(|c| rfc3339(c.not_after)),
        "sha256": cert.map(|c| c.sha256.clone()),
        "key_algorithm": cert.map(|c| c.key_algorithm.clone()),
        "requested_at": rfc3339(row.requested_at),
        "requester": row.requester,
        "source": row.source,
        "disposition": row.disposition,
        "revoked_at": cert.and_then(|c| c.revoked_at).map(rfc3339),
        "revocation_reason": cert.and_then(|c| c.revocation_reason.clone()),
        "renewed_from": cert.and_then(|c| c.renewed_from),
    })
}
