//! The OCSP responder over HTTP (RFC 6960 Appendix A, RFC 5019 §5): `POST /ocsp` with the
//! request as the body, or `GET /ocsp/{request}` with it in base64, URL-encoded.
//!
//! Every answer is `200 application/ocsp-response`, errors included: an OCSP client reads the
//! OCSP status, never an HTML page (so a body over the size limit is `malformedRequest`, not
//! 413). Answers to GET that any client may be given carry caching headers that match the
//! response's thisUpdate and nextUpdate (RFC 5019 §6.2), so HTTP caches can keep them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ca_core::ocsp::{OcspAnswer, ResponseStatus, Reuse};
use time::OffsetDateTime;

use super::MAX_BODY;
use crate::state::AppState;

/// The path of the responder, as certificates name it (see `crate::LINKS`).
pub(crate) const PATH: &str = "/ocsp";

/// True for the responder's paths, which change nothing and take requests from any client.
pub(crate) fn is_responder_path(path: &str) -> bool {
    path == PATH
        || path
            .strip_prefix(PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `POST /ocsp`: the DER request is the body, whatever its Content-Type says.
pub(crate) async fn post(State(state): State<AppState>, body: Body) -> Response {
    let answer = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(der) => state.authority.answer_ocsp(&der).await,
        // Over the limit, or a body that broke off.
        Err(_) => OcspAnswer::error(ResponseStatus::MalformedRequest),
    };
    respond(answer, None)
}

/// Any other method: 405 with the methods OCSP takes, in plain text, never a page (an OCSP
/// client reads none).
pub(crate) async fn other_method() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::ALLOW, "GET, POST"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "OCSP requests are POSTed as application/ocsp-request, or sent by GET with the request in the path (RFC 6960, appendix A).\n",
    )
        .into_response()
}

/// A request not received within the server's deadline: 408, in plain text.
pub(crate) fn timed_out() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "The OCSP request was not received within {} seconds: send it again.\n",
            super::REQUEST_TIMEOUT.as_secs()
        ),
    )
        .into_response()
}

/// `GET /ocsp/{request}`: the request in base64 after the path, URL-encoded or not.
pub(crate) async fn get(State(state): State<AppState>, request: Request) -> Response {
    let arrived = Instant::now();
    answer_get(
        &state,
        None,
        request.uri().path(),
        request.headers(),
        arrived,
    )
    .await
}

/// True for a GET the responder answers before the router (see `super::before_routing`): one
/// with a request in its path and no credentials, which any client may be given.
pub(crate) fn answered_before_routing<B>(request: &axum::http::Request<B>) -> bool {
    request.method() == axum::http::Method::GET
        && request
            .uri()
            .path()
            .strip_prefix(PATH)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
        && !request.headers().contains_key(header::AUTHORIZATION)
}

/// The answer to a GET of `path` (`/ocsp/` and the request) with `headers`, which arrived at
/// `arrived`: the answer in `prepared` for that very path while it holds, else the
/// responder's (then kept there, when it may be given again).
pub(crate) async fn answer_get(
    state: &AppState,
    prepared: Option<&PreparedGets>,
    path: &str,
    headers: &HeaderMap,
    arrived: Instant,
) -> Response {
    let encoded = path
        .strip_prefix(PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or_default();
    if let Some(ready) = prepared.and_then(|prepared| prepared.get(encoded))
        && state.authority.ocsp_answer_holds(&ready.reuse, arrived)
    {
        return ready.respond(headers, OffsetDateTime::now_utc());
    }
    let answer = match request_from_path(encoded) {
        Some(der) => state.authority.answer_ocsp(&der).await,
        None => OcspAnswer::error(ResponseStatus::MalformedRequest),
    };
    if let Some(prepared) = prepared
        && let Some(reuse) = answer.reuse
        && encoded.len() <= MAX_PREPARED_PATH
        && let Some((this_update, next_update)) = answer.validity
    {
        let ready = Arc::new(Prepared::new(answer, reuse, this_update, next_update));
        prepared.insert(encoded, Arc::clone(&ready));
        return ready.respond(headers, OffsetDateTime::now_utc());
    }
    respond(answer, Some(headers))
}

/// The longest request path (after `/ocsp/`) whose answer is prepared: a client's request
/// about one certificate is about 100 characters in base64.
const MAX_PREPARED_PATH: usize = 512;
/// The most paths with a prepared answer; past it they start over. Each holds a response
/// (about 1 KiB): a client that sends many spellings of one request costs at most this many.
const PREPARED_CAPACITY: usize = 4096;

/// The answers to GETs given from responses signed ahead, prepared once (the body and every
/// header but the `max-age`, which counts down), by the path exactly as the client sent it:
/// clients send the same text for the same certificate, so an answer needs neither decoding
/// nor a lookup of the request. Only paths that were answered from a response signed ahead
/// are remembered, at most [`PREPARED_CAPACITY`] of them; an answer is handed out again only
/// while the responder says it holds ([`ca_core::Authority::ocsp_answer_holds`]).
#[derive(Default)]
pub(crate) struct PreparedGets {
    kept: Mutex<PreparedByPath>,
}

#[derive(Default)]
struct PreparedByPath {
    /// The log's change counter the answers were given under: one that reads otherwise
    /// replaces them all.
    version: Option<i64>,
    answers: HashMap<Box<str>, Arc<Prepared>>,
}

impl PreparedGets {
    fn get(&self, path: &str) -> Option<Arc<Prepared>> {
        self.kept.lock().ok()?.answers.get(path).cloned()
    }

    fn insert(&self, path: &str, prepared: Arc<Prepared>) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        let version = Some(prepared.reuse.version());
        if kept.version != version || kept.answers.len() >= PREPARED_CAPACITY {
            kept.answers.clear();
            kept.version = version;
        }
        kept.answers.insert(path.into(), prepared);
    }

    /// How many paths have an answer prepared, for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kept.lock().map(|kept| kept.answers.len()).unwrap_or(0)
    }
}

/// One answer to a GET, ready to send again.
struct Prepared {
    reuse: Reuse,
    next_update: OffsetDateTime,
    body: Bytes,
    /// Every header of the answer, those every answer carries included; its `Cache-Control`
    /// is replaced with the `max-age` left at each answer.
    headers: HeaderMap,
}

impl Prepared {
    fn new(
        answer: OcspAnswer,
        reuse: Reuse,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Prepared {
        let etag = etag(&answer.der, answer.sha256);
        let mut headers = HeaderMap::with_capacity(12);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/ocsp-response"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        insert_dates(&mut headers, this_update, next_update, etag);
        super::add_security_headers(&mut headers);
        Prepared {
            reuse,
            next_update,
            body: Bytes::from(answer.der),
            headers,
        }
    }

    /// The answer at `now` to a request with `request` headers: the bytes, or 304 when it
    /// names them by their ETag.
    fn respond(&self, request: &HeaderMap, now: OffsetDateTime) -> Response {
        let etag = self
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let not_modified = matches_etag(request, etag);
        let mut response = if not_modified {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            Response::new(Body::from(self.body.clone()))
        };
        let headers = response.headers_mut();
        *headers = self.headers.clone();
        if not_modified {
            headers.insert(header::CONTENT_LENGTH, self.body.len().into());
        }
        if let Ok(value) = HeaderValue::from_str(&cache_control(self.next_update, now)) {
            headers.insert(header::CACHE_CONTROL, value);
        }
        response
    }
}

/// True when an `If-None-Match` field among `headers` names `etag`, compared weakly as RFC
/// 9110 §13.1.2 asks (`W/"x"` matches `"x"`: a proxy that alters an answer weakens its tag),
/// or is `*` (the whole field, as its grammar has it).
pub(super) fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.trim() == "*"
                || v.split(',')
                    .map(str::trim)
                    .any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == etag)
        })
}

/// `Cache-Control` for an answer valid until `next_update`, at `now`.
fn cache_control(next_update: OffsetDateTime, now: OffsetDateTime) -> String {
    let max_age = (next_update - now).whole_seconds().max(0);
    let mut cache_control = String::with_capacity(64);
    cache_control.push_str("max-age=");
    push_number(&mut cache_control, max_age.unsigned_abs(), 1);
    cache_control.push_str(", public, no-transform, must-revalidate");
    cache_control
}

/// The DER request a GET path carries: percent-decoded (clients encode `/`, `+` and `=` as
/// `%2F`, `%2B`, `%3D`, or leave them), then base64 with or without padding, in the standard
/// or the URL-safe alphabet. `None` when it is not that, or longer than a POST body may be.
pub(crate) fn request_from_path(encoded: &str) -> Option<Vec<u8>> {
    if encoded.is_empty() || encoded.len() > 2 * MAX_BODY {
        return None;
    }
    let text = percent_decode(encoded)?;
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let der = GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(&text)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(&text))
        .ok()?;
    (der.len() <= MAX_BODY).then_some(der)
}

/// `%XX` sequences to their octets; a `+` stays a `+` (this is a path, not a form).
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The HTTP answer: the DER, and for a GET answer that may be cached (signed, without a
/// nonce), `Cache-Control: max-age` up to nextUpdate, `Expires` (nextUpdate), `Last-Modified`
/// (thisUpdate) and an `ETag` of the bytes, honouring `If-None-Match`. Anything else is
/// `no-store`.
fn respond(answer: OcspAnswer, get: Option<&HeaderMap>) -> Response {
    let cacheable = answer.validity.zip(get);
    let etag = cacheable.map(|_| etag(&answer.der, answer.sha256));
    let not_modified = match (&etag, get) {
        (Some(etag), Some(headers)) => matches_etag(headers, etag),
        _ => false,
    };
    let length = answer.der.len();
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        answer.der.into_response()
    };
    let headers = response.headers_mut();
    if not_modified {
        // What a 200 would have carried (RFC 9110 §8.6), not the empty body's 0 that HTTP/2
        // would send.
        headers.insert(header::CONTENT_LENGTH, length.into());
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    match (cacheable, etag) {
        (Some(((this_update, next_update), _)), Some(etag)) => {
            if let Ok(value) =
                HeaderValue::from_str(&cache_control(next_update, OffsetDateTime::now_utc()))
            {
                headers.insert(header::CACHE_CONTROL, value);
            }
            insert_dates(headers, this_update, next_update, etag);
        }
        _ => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    response
}

/// A strong entity tag: the first 128 bits of the bytes' SHA-256 (`sha256`, when the answer
/// carries it).
fn etag(der: &[u8], sha256: Option<[u8; 32]>) -> String {
    let digest = sha256.unwrap_or_else(|| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        <[u8; 32]>::try_from(digest.as_ref()).unwrap_or_default()
    });
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        tag.push(char::from(HEX[usize::from(byte >> 4)]));
        tag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    tag.push('"');
    tag
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An HTTP date (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`. Written out by hand: two
/// go into every answer, and `time`'s formatting costs more than the rest of the answer.
/// The headers that date a GET answer (RFC 5019 §6.2): Expires at nextUpdate, Last-Modified
/// at thisUpdate, and its ETag.
fn insert_dates(
    headers: &mut HeaderMap,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    etag: String,
) {
    let values = [
        (header::EXPIRES, http_date(next_update)),
        (header::LAST_MODIFIED, http_date(this_update)),
        (header::ETAG, etag),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

pub(super) fn http_date(at: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = at.to_offset(time::UtcOffset::UTC);
    let mut out = String::with_capacity(29);
    out.push_str(DAYS[usize::from(at.weekday().number_days_from_monday())]);
    out.push_str(", ");
    push_number(&mut out, at.day().into(), 2);
    out.push(' ');
    out.push_str(MONTHS[usize::from(u8::from(at.month()) - 1)]);
    out.push(' ');
    push_number(&mut out, at.year().unsigned_abs().into(), 4);
    out.push(' ');
    push_number(&mut out, at.hour().into(), 2);
    out.push(':');
    push_number(&mut out, at.minute().into(), 2);
    out.push(':');
    push_number(&mut out, at.second().into(), 2);
    out.push_str(" GMT");
    out
}

/// Appends `value` in decimal, with leading zeros to at least `width` digits.
fn push_number(out: &mut String, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while value > 0 || digits.len() - start < width.max(1) {
        start -= 1;
        // A digit: `value % 10` is below 10.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_requests_in_every_encoding_clients_use() {
        let der = vec![0x30, 0x03, 0xfb, 0xff, 0xfe];
        // "MAP7//4=" in the standard alphabet: a '/', and padding.
        let standard = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(standard.contains('/') && standard.ends_with('='));
        for path in [
            standard.clone(),
            standard.replace('/', "%2F").replace('=', "%3D"),
            standard.replace('/', "%2f"),
            standard.trim_end_matches('=').to_owned(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der),
        ] {
            assert_eq!(request_from_path(&path), Some(der.clone()), "{path}");
        }
        let plus = base64::engine::general_purpose::STANDARD.encode([0xfb, 0xef]);
        assert!(plus.contains('+'));
        assert_eq!(
            request_from_path(&plus.replace('+', "%2B")),
            request_from_path(&plus)
        );
    }

    #[test]
    fn refuses_paths_that_are_not_a_request_in_base64() {
        for path in ["", "%", "%zz", "not base64!", "QQ%"] {
            assert_eq!(request_from_path(path), None, "{path}");
        }
        let huge = "A".repeat(2 * MAX_BODY + 4);
        assert_eq!(request_from_path(&huge), None);
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        let at = time::macros::datetime!(1994-11-06 08:49:37 UTC);
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
        let at = time::macros::datetime!(2027-01-01 00:00:09 +02:00);
        assert_eq!(http_date(at), "Thu, 31 Dec 2026 22:00:09 GMT");
        let mut text = String::new();
        for (value, width) in [(0, 1), (7, 2), (345_600, 1), (u64::MAX, 2)] {
            push_number(&mut text, value, width);
            text.push(' ');
        }
        assert_eq!(text, format!("0 07 345600 {} ", u64::MAX));
    }

    fn prepared(version: i64) -> Arc<Prepared> {
        let this_update = OffsetDateTime::now_utc() - time::Duration::hours(1);
        let next_update = this_update + time::Duration::days(4);
        let der = vec![0x30, 0x03, 0x0a, 0x01, 0x00];
        let answer = OcspAnswer {
            sha256: None,
            ..OcspAnswer::error(ResponseStatus::Successful)
        };
        let answer = OcspAnswer { der, ..answer };
        let reuse = Reuse::new(version, this_update, next_update - time::Duration::days(2));
        Arc::new(Prepared::new(answer, reuse, this_update, next_update))
    }

    #[test]
    fn prepared_answers_are_bounded_and_start_over_when_the_log_changes() {
        let gets = PreparedGets::default();
        for n in 0..PREPARED_CAPACITY {
            gets.insert(&format!("path{n}"), prepared(1));
        }
        assert_eq!(gets.len(), PREPARED_CAPACITY);
        assert!(gets.get("path7").is_some());
        assert!(gets.get("other").is_none());
        gets.insert("one more", prepared(1));
        assert_eq!(gets.len(), 1, "full: started over");
        gets.insert("path7", prepared(2));
        assert_eq!(gets.len(), 1, "the log changed: started over");
        assert!(gets.get("one more").is_none());
    }

    #[test]
    fn a_prepared_answer_carries_every_header_and_honours_if_none_match() {
        let prepared = prepared(1);
        let now = OffsetDateTime::now_utc();
        let answer = prepared.respond(&HeaderMap::new(), now);
        assert_eq!(answer.status(), StatusCode::OK);
        let headers = answer.headers();
        let names: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "cache-control",
                "expires",
                "last-modified",
                "etag",
                "x-content-type-options",
                "content-security-policy",
                "referrer-policy",
                "x-frame-options"
            ]
        );
        assert_eq!(
            headers[header::CACHE_CONTROL],
            cache_control(prepared.next_update, now).as_str()
        );
        assert_eq!(
            headers[header::EXPIRES],
            http_date(prepared.next_update).as_str()
        );
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, headers[header::ETAG].clone());
        let again = prepared.respond(&request, now);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        // The same headers, and the length a 200 would have carried (RFC 9110 §8.6), which
        // HTTP/2 would otherwise give as the empty body's 0.
        let mut expected = headers.clone();
        expected.insert(header::CONTENT_LENGTH, prepared.body.len().into());
        assert_eq!(again.headers(), &expected);
        // Compared weakly: a proxy that alters an answer weakens its tag.
        let weak = format!("W/{}", headers[header::ETAG].to_str().unwrap());
        request.insert(header::IF_NONE_MATCH, weak.parse().unwrap());
        assert_eq!(
            prepared.respond(&request, now).status(),
            StatusCode::NOT_MODIFIED
        );
    }

    #[test]
    fn entity_tags_are_the_first_half_of_the_sha256_in_hex() {
        let der = [0x30, 0x03, 0x0a, 0x01, 0x01];
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        let expected = format!("\"{}\"", ca_core::display::hex(&digest.as_ref()[..16]));
        assert_eq!(etag(&der, None), expected);
        let known = <[u8; 32]>::try_from(digest.as_ref()).unwrap();
        assert_eq!(etag(&der, Some(known)), expected);
    }
}
