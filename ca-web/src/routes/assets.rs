//! The stylesheet, compiled into the binary. Only this exact path serves a file, so no path
//! can reach anything else.

use axum::http::header;
use axum::response::IntoResponse;

const STYLE: &str = include_str!("../../../static/style.css");

pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}
