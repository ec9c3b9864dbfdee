//! The current CRL and its number. One rule decides when a new CRL is signed: when none is
//! stored yet, when a revocation was recorded since, or when half its lifetime has passed (so
//! no client ever holds one past its nextUpdate). The revocations and the number are read in
//! the same write transaction that stores the new CRL, so a higher number always lists every
//! revocation a lower one listed, whichever process signs it.
//!
//! A CRL is kept in parts of at most [`PART`] octets: the first in the `crl` row with its
//! number and dates, the others in `crl_parts`, so that neither signing nor storing nor
//! handing out a CRL of a million entries needs it whole in memory.

use std::io::{Read, Write};

use futures_util::TryStreamExt;
use sqlx::{AnyConnection, Row};
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use super::{Store, reader};
use crate::certificate::SerialNumber;
use crate::choice::Choice;
use crate::crl::{Crl, CrlDates, Entries, Signed};
use crate::error::{Error, Result, StoreError};
use crate::revoke::{Revocation, RevocationReason};
use crate::tlv::{any_element, element};

/// The most octets of a CRL kept in one row (a few hundred in this crate's tests, so that they
/// store CRLs in many parts). Small enough that the rows sqlx reads ahead of its caller (up to
/// 50 on SQLite) hold a few MiB, not the whole CRL.
pub(crate) const PART: usize = if cfg!(test) { 256 } else { 64 * 1024 };

/// The CRL as the log keeps it, with the count of changes to the revocations it was signed
/// over ([`revocation_count`]).
#[derive(Clone, Debug)]
struct StoredCrl {
    crl: Crl,
    revocations: i64,
}

impl StoredCrl {
    /// True while this CRL may still be handed out: no revocation since, and less than half
    /// its lifetime (at least a minute) gone.
    fn is_current(&self, revocations: i64, now: OffsetDateTime) -> bool {
        let half: Duration = (self.crl.next_update - self.crl.this_update) / 2;
        self.revocations == revocations
            && now < self.crl.this_update + half.max(Duration::minutes(1))
    }
}

impl Store {
    /// The stored CRL if it is still current, read without a write lock (the common case).
    #[instrument(skip_all)]
    pub(crate) async fn current_crl(&self) -> Result<Option<Crl>> {
        self.current(true).await
    }

    /// The number and dates of the stored CRL if it is still current.
    #[instrument(skip_all)]
    pub(crate) async fn current_crl_dates(&self) -> Result<Option<CrlDates>> {
        Ok(self.current(false).await?.map(|crl| crl.dates()))
    }

    async fn current(&self, with_der: bool) -> Result<Option<Crl>> {
        let mut conn = self.pool.acquire().await?;
        let stored = stored(&mut conn, with_der).await?;
        let revocations = revocation_count(&mut conn).await?;
        Ok(stored
            .filter(|s| s.is_current(revocations, OffsetDateTime::now_utc()))
            .map(|s| s.crl))
    }

    /// The CRL the log holds now, whole, current or not (none before the first is signed).
    #[instrument(skip_all)]
    pub(crate) async fn crl(&self) -> Result<Option<Crl>> {
        let mut conn = self.pool.acquire().await?;
        Ok(stored(&mut conn, true).await?.map(|s| s.crl))
    }

    /// The number and dates of the CRL the log holds now, current or not (none before the
    /// first is signed): what clients were last handed, for the metrics. Signs nothing.
    #[instrument(skip_all)]
    pub(crate) async fn latest_crl(&self) -> Result<Option<CrlDates>> {
        let mut conn = self.pool.acquire().await?;
        Ok(stored(&mut conn, false).await?.map(|s| s.crl.dates()))
    }

    /// The number and dates of the CRL the log holds, and whether it lists every revocation
    /// the log holds (a backup's log may hold one recorded after its last CRL was signed).
    #[instrument(skip_all)]
    pub(crate) async fn kept_crl(&self) -> Result<Option<(CrlDates, bool)>> {
        let mut conn = self.pool.acquire().await?;
        let stored = stored(&mut conn, false).await?;
        let revocations = revocation_count(&mut conn).await?;
        Ok(stored.map(|s| (s.crl.dates(), s.revocations == revocations)))
    }

    /// The CRL the log holds now, current or not, written to `out` part by part as it is
    /// read (one statement: one snapshot); its number and dates, or `None` (nothing written)
    /// before the first is signed.
    #[instrument(skip_all)]
    pub(crate) async fn write_crl(&self, out: &mut (dyn Write + Send)) -> Result<Option<CrlDates>> {
        let mut conn = self.pool.acquire().await?;
        Ok(read_whole(&mut conn, out).await?.map(|(dates, _)| dates))
    }

    /// Makes sure the log holds a current CRL: signed anew by `sign` (given the entries to
    /// list, the number, the time, and the previous CRL's thisUpdate) when the rule above
    /// asks for it, or always when `force` is set. Its number and dates. Runs in one write
    /// transaction.
    #[instrument(skip_all)]
    pub(crate) async fn refresh_crl(
        &self,
        force: bool,
        sign: impl FnOnce(Entries, i64, OffsetDateTime, Option<OffsetDateTime>) -> Result<Signed>,
    ) -> Result<CrlDates> {
        let mut tx = self.begin_write().await?;
        let now = OffsetDateTime::now_utc();
        // Only the old CRL's number and dates are read, never its DER.
        let previous = stored(&mut tx, false).await?;
        let revocations = revocation_count(&mut tx).await?;
        if !force
            && let Some(previous) = &previous
            && previous.is_current(revocations, now)
        {
            let dates = previous.crl.dates();
            tx.commit().await?;
            return Ok(dates);
        }
        // An entry leaves the CRL only after a CRL issued past the certificate's expiry listed
        // it (RFC 5280 §5): certificates still valid when the previous CRL was signed stay.
        let since = previous
            .as_ref()
            .map_or(now, |p| p.crl.this_update.min(now));
        let listed = match &self.reader {
            // The write lock is held: the reader's own snapshot, taken now, is this
            // transaction's.
            Some(reader) => {
                reader
                    .read(move |connection| revoked_since_sqlite(connection, since))
                    .await?
            }
            None => None,
        };
        let listed = match listed {
            Some(listed) => listed,
            None => revoked_since(&mut tx, since).await?,
        };
        let legacy: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'crl_number'")
                .fetch_optional(&mut *tx)
                .await?;
        let last = previous
            .as_ref()
            .map_or(0, |p| p.crl.number)
            .max(legacy.and_then(|n| n.parse().ok()).unwrap_or(0));
        let mut signed = sign(
            listed,
            last + 1,
            now,
            previous.as_ref().map(|p| p.crl.this_update),
        )?;
        let dates = CrlDates {
            number: signed.number,
            this_update: signed.this_update,
            next_update: signed.next_update,
        };
        // The parts after the first, then the first with the number and dates.
        let expected = signed.len;
        sqlx::query("DELETE FROM crl_parts")
            .execute(&mut *tx)
            .await?;
        let mut first = read_part(&mut signed)?;
        let mut written = first.len();
        let mut part = 1i64;
        loop {
            let bytes = read_part(&mut signed)?;
            if bytes.is_empty() {
                break;
            }
            written += bytes.len();
            sqlx::query("INSERT INTO crl_parts (part, bytes) VALUES ($1, $2)")
                .bind(part)
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            part += 1;
        }
        if written != expected {
            return Err(Error::CaKey(format!(
                "the CRL's entries came back short from their spool ({written} of {expected} octets)"
            )));
        }
        first.shrink_to_fit();
        sqlx::query(
            "INSERT INTO crl (id, number, this_update, next_update, revocations, der)
             VALUES (1, $1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
                 next_update = excluded.next_update, revocations = excluded.revocations, der = excluded.der",
        )
        .bind(dates.number)
        .bind(dates.this_update.unix_timestamp())
        .bind(dates.next_update.unix_timestamp())
        .bind(revocations)
        .bind(first)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(dates)
    }
}

/// The next part of `signed`: [`PART`] octets, fewer at its end, none after it.
fn read_part(signed: &mut Signed) -> Result<Vec<u8>> {
    let mut part = Vec::with_capacity(PART.min(signed.len));
    signed
        .take(PART as u64)
        .read_to_end(&mut part)
        .map_err(|err| Error::io(std::env::temp_dir(), err))?;
    Ok(part)
}

/// A CRL whole, part by part: the first (number 0) with the CRL's number and dates. (A
/// compound query ordered by its first column: SQLite merges the two ordered arms as it reads
/// them; a sub-query ordered outside would sort every part, whole, in a temporary tree.)
const WHOLE: &str = "SELECT 0 AS part, der AS bytes, number, this_update, next_update, revocations
         FROM crl WHERE id = 1
     UNION ALL
     SELECT part, bytes, NULL, NULL, NULL, NULL FROM crl_parts
     ORDER BY part";

/// The CRL the log holds written to `out` part by part, in one statement (one snapshot); its
/// number and dates and the count of revocations it was signed over, or `None` (nothing
/// written) before the first is signed.
async fn read_whole(
    conn: &mut AnyConnection,
    out: &mut (dyn Write + Send),
) -> Result<Option<(CrlDates, i64)>> {
    let mut rows = sqlx::query(WHOLE).fetch(conn);
    let mut first = None;
    while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
        let part: i64 = row.try_get(0).map_err(StoreError::from)?;
        if part == 0 {
            first = Some((dates_of(&row)?, row.try_get(5).map_err(StoreError::from)?));
        } else if first.is_none() {
            return Err(corrupt("parts of a CRL without its first".into()));
        }
        let bytes: Vec<u8> = row.try_get(1).map_err(StoreError::from)?;
        out.write_all(&bytes)
            .map_err(|err| Error::io("the CRL's output", err))?;
    }
    Ok(first)
}

/// The number and dates in a row of [`WHOLE`].
fn dates_of(row: &sqlx::any::AnyRow) -> Result<CrlDates> {
    let time = |column: usize| -> Result<OffsetDateTime> {
        let secs: i64 = row.try_get(column).map_err(StoreError::from)?;
        OffsetDateTime::from_unix_timestamp(secs).map_err(|err| corrupt(err.to_string()))
    };
    Ok(CrlDates {
        number: row.try_get(2).map_err(StoreError::from)?,
        this_update: time(3)?,
        next_update: time(4)?,
    })
}

/// The CRL the log holds, its DER left empty unless `with_der` (a CRL of 100,000 entries is
/// 4 MB, and signing a new one needs only the old one's number and dates).
async fn stored(conn: &mut AnyConnection, with_der: bool) -> Result<Option<StoredCrl>> {
    if with_der {
        let mut der = Vec::new();
        return Ok(read_whole(conn, &mut der)
            .await?
            .map(|(dates, revocations)| StoredCrl {
                crl: Crl {
                    der,
                    number: dates.number,
                    this_update: dates.this_update,
                    next_update: dates.next_update,
                },
                revocations,
            }));
    }
    let row =
        sqlx::query("SELECT number, this_update, next_update, revocations FROM crl WHERE id = 1")
            .fetch_optional(conn)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let time = |column: &str| -> Result<OffsetDateTime> {
        let secs: i64 = row.try_get(column).map_err(StoreError::from)?;
        OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|err| StoreError::Corrupt(err.to_string()).into())
    };
    Ok(Some(StoredCrl {
        crl: Crl {
            number: row.try_get("number").map_err(StoreError::from)?,
            this_update: time("this_update")?,
            next_update: time("next_update")?,
            der: Vec::new(),
        },
        revocations: row.try_get("revocations").map_err(StoreError::from)?,
    }))
}

/// A count that grows with every change to the revocations, which the CRL signed at a
/// count is current for: each revocation counts once, and once more for keyCompromise (a
/// reason raised to it, the only change a revocation takes, counts then); none is removed.
async fn revocation_count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM revocations)
              + (SELECT COUNT(*) FROM revocations WHERE reason = 'keyCompromise')",
    )
    .fetch_one(conn)
    .await?)
}

/// The entries of every revocation of a certificate whose notAfter is at or after `since`,
/// oldest first (then in the order of the requests). Serial and notAfter are read from each
/// certificate's DER, what the root signed, never from the log's columns: a CRL lists only
/// serials the CA issued, whatever a hand on the log changed. Rows are taken one at a time as
/// the log yields them, in the order of an index (no sort), each entry spooled as it is read,
/// and only the two fields are read from the DER, not the whole certificate.
async fn revoked_since(conn: &mut AnyConnection, since: OffsetDateTime) -> Result<Entries> {
    let mut rows = sqlx::query_as::<_, (i64, Vec<u8>, i64, String)>(REVOKED).fetch(conn);
    let mut entries = Entries::new()?;
    while let Some((id, der, at, reason)) = rows.try_next().await.map_err(StoreError::from)? {
        if let Some(revocation) = listed(since, id, &der, at, &reason)? {
            entries.push(&revocation)?;
        }
    }
    Ok(entries)
}

/// [`revoked_since`] on SQLite's reader: each DER read where SQLite holds it, not copied.
fn revoked_since_sqlite(
    connection: &rusqlite::Connection,
    since: OffsetDateTime,
) -> Result<Entries> {
    let failed = |err: rusqlite::Error| reader::failed(&err);
    let mut statement = connection.prepare_cached(REVOKED).map_err(failed)?;
    let mut rows = statement.raw_query();
    let mut entries = Entries::new()?;
    while let Some(row) = rows.next().map_err(failed)? {
        let der = row.get_ref(1).map_err(failed)?;
        let reason = row.get_ref(3).map_err(failed)?;
        let revocation = listed(
            since,
            row.get(0).map_err(failed)?,
            der.as_blob().map_err(|err| corrupt(err.to_string()))?,
            row.get(2).map_err(failed)?,
            reason.as_str().map_err(|err| corrupt(err.to_string()))?,
        )?;
        if let Some(revocation) = revocation {
            entries.push(&revocation)?;
        }
    }
    Ok(entries)
}

/// Every revocation with its certificate's DER, oldest first, in the order of the index on
/// (revoked_at, request_id).
const REVOKED: &str = "SELECT v.request_id, c.der, v.revoked_at, v.reason FROM revocations v
     JOIN certificates c ON c.request_id = v.request_id
     ORDER BY v.revoked_at, v.request_id";

fn corrupt(what: String) -> Error {
    StoreError::Corrupt(what).into()
}

/// The CRL entry of the revocation of request `id`, unless its certificate expired before
/// `since`.
fn listed(
    since: OffsetDateTime,
    id: i64,
    der: &[u8],
    at: i64,
    reason: &str,
) -> Result<Option<Revocation>> {
    let (serial, not_after) = serial_and_not_after(der)
        .ok_or_else(|| corrupt(format!("the certificate of request {id}")))?;
    if not_after < since.unix_timestamp() {
        return Ok(None);
    }
    Ok(Some(Revocation {
        serial: SerialNumber::from_bytes(serial)
            .map_err(|_| corrupt(format!("the serial of request {id}")))?,
        revoked_at: OffsetDateTime::from_unix_timestamp(at)
            .map_err(|err| corrupt(err.to_string()))?,
        reason: RevocationReason::from_name(reason)
            .map_err(|_| corrupt(format!("reason {reason}")))?,
    }))
}

/// A certificate's serial (the content octets of its INTEGER) and notAfter (Unix time), read
/// by walking the DER to them; `None` when the DER is not a certificate's shape there.
fn serial_and_not_after(der: &[u8]) -> Option<(&[u8], i64)> {
    let (certificate, _) = element(der, 0x30)?;
    let (tbs, _) = element(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = element(rest, 0xA0)?.1;
    }
    let (serial, rest) = element(rest, 0x02)?;
    let (_, rest) = element(rest, 0x30)?; // signature algorithm
    let (_, rest) = element(rest, 0x30)?; // issuer
    let (validity, _) = element(rest, 0x30)?;
    let (tag, _, after_not_before) = any_element(validity)?;
    if tag != 0x17 && tag != 0x18 {
        return None;
    }
    let (tag, not_after, _) = any_element(after_not_before)?;
    Some((serial, time_of(tag, not_after)?))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18) as
/// Unix time.
fn time_of(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |range: std::ops::Range<usize>| -> Option<i32> {
        let part = text.get(range)?;
        part.iter().try_fold(0i32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + i32::from(byte - b'0'))
        })
    };
    let (year, at) = match (tag, text.len()) {
        (0x17, 13) => {
            let year = digits(0..2)?;
            (if year < 50 { 2000 + year } else { 1900 + year }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if text.last() != Some(&b'Z') {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(digits(at..at + 2)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(year, month, u8::try_from(digits(at + 2..at + 4)?).ok()?)
            .ok()?;
    let time = time::Time::from_hms(
        u8::try_from(digits(at + 4..at + 6)?).ok()?,
        u8::try_from(digits(at + 6..at + 8)?).ok()?,
        u8::try_from(digits(at + 8..at + 10)?).ok()?,
    )
    .ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(revocations: i64, days: i64) -> StoredCrl {
        let this_update = time::macros::datetime!(2026-11-25 12:00 UTC);
        StoredCrl {
            crl: Crl {
                der: Vec::new(),
                number: 7,
                this_update,
                next_update: this_update + Duration::days(days),
            },
            revocations,
        }
    }

    #[test]
    fn a_crl_is_current_until_a_revocation_or_half_its_lifetime() {
        let crl = stored(3, 8);
        let start = crl.crl.this_update;
        assert!(crl.is_current(3, start));
        assert!(crl.is_current(3, start + Duration::days(4) - Duration::seconds(1)));
        assert!(!crl.is_current(3, start + Duration::days(4)));
        assert!(!crl.is_current(4, start), "a new revocation");
    }

    #[test]
    fn a_short_lived_crl_is_kept_at_least_a_minute() {
        let mut crl = stored(0, 0);
        crl.crl.next_update = crl.crl.this_update + Duration::seconds(10);
        let start = crl.crl.this_update;
        assert!(crl.is_current(0, start + Duration::seconds(59)));
        assert!(!crl.is_current(0, start + Duration::seconds(60)));
    }

    #[test]
    fn serial_and_not_after_read_what_a_full_parse_reads() {
        #![allow(clippy::unwrap_used)]
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        // UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
        for year in [2030, 2049, 2050, 2199] {
            let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
            params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x7F, 0, 1, 2, 3]));
            params.not_after = time::macros::datetime!(2030-06-30 12:34:56 UTC)
                .replace_year(year)
                .unwrap();
            let der = params.self_signed(&key).unwrap().der().to_vec();
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            assert_eq!(
                serial_and_not_after(&der),
                Some((
                    cert.tbs_certificate.raw_serial(),
                    cert.validity().not_after.timestamp()
                )),
                "{year}"
            );
            assert_eq!(
                serial_and_not_after(&der).unwrap().1,
                params.not_after.unix_timestamp()
            );
            for cut in [0, 1, 4, 20, der.len() / 2] {
                assert_eq!(serial_and_not_after(&der[..cut]), None, "cut at {cut}");
            }
        }
        assert_eq!(serial_and_not_after(b"\x30\x84\xff\xff\xff\xff"), None);
        assert_eq!(serial_and_not_after(b"not a certificate"), None);
    }
}
