//! The OCSP responder over HTTP (RFC 6960 Appendix A, RFC 5019 §5): `POST /ocsp` with the
//! request as the body, or `GET /ocsp/{request}` with it in base64, URL-encoded.
//!
//! Every answer is `200 application/ocsp-response`, errors included: an OCSP client reads the
//! OCSP status, never an HTML page (so a body over the size limit is `malformedRequest`, not
//! 413). Answers to GET that any client may be given carry caching headers that match the
//! response's thisUpdate and nextUpdate (RFC 5019 §6.2), so HTTP caches can keep them.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ca_core::ocsp::{OcspAnswer, ResponseStatus};
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
    respond(&answer, None)
}

/// `GET /ocsp/{request}`: the request in base64 after the path, URL-encoded or not.
pub(crate) async fn get(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let encoded = uri
        .path()
        .strip_prefix(PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or_default();
    let answer = match request_from_path(encoded) {
        Some(der) => state.authority.answer_ocsp(&der).await,
        None => OcspAnswer::error(ResponseStatus::MalformedRequest),
    };
    respond(&answer, Some(&headers))
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
fn respond(answer: &OcspAnswer, get: Option<&HeaderMap>) -> Response {
    let cacheable = answer.validity.zip(get);
    let etag = cacheable.map(|_| etag(&answer.der));
    let not_modified = match (&etag, get) {
        (Some(etag), Some(headers)) => headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|tag| tag.trim() == etag || tag.trim() == "*")
            }),
        _ => false,
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        answer.der.clone().into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    match (cacheable, etag) {
        (Some(((this_update, next_update), _)), Some(etag)) => {
            let now = OffsetDateTime::now_utc();
            let max_age = (next_update - now).whole_seconds().max(0);
            let values = [
                (
                    header::CACHE_CONTROL,
                    format!("max-age={max_age}, public, no-transform, must-revalidate"),
                ),
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
        _ => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    response
}

/// A strong entity tag: the first 128 bits of the bytes' SHA-256.
fn etag(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    format!("\"{}\"", ca_core::display::hex(&digest.as_ref()[..16]))
}

/// An HTTP date (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
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
    }
}
