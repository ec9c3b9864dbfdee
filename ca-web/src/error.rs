//! Errors as pages: 4xx with the reason, anything else logged and shown as a generic page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ca_core::{Error, NameRule};

use crate::pages::{Chrome, ErrorPage, render};

/// What an error page says, kept on its response so that the middleware that knows the
/// caller (`sign_error_pages`, beside the sign-in) can draw it again in the caller's frame.
#[derive(Clone, Debug)]
pub(crate) struct ErrorText {
    heading: &'static str,
    message: String,
}

impl ErrorText {
    /// The error page in `chrome`'s frame, in place of `response`'s body.
    pub(crate) fn redraw(&self, chrome: Chrome, mut response: Response) -> Response {
        let page = ErrorPage {
            chrome,
            heading: self.heading,
            message: &self.message,
        };
        let body = render(&page).into_body();
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = body;
        response
    }
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum WebError {
    /// The input was refused; the message says why.
    BadRequest(String),
    /// No credentials, or wrong ones.
    Unauthorized,
    /// Credentials sent over plain HTTP from another machine.
    InsecureCredentials,
    /// The caller may not do this.
    Forbidden(String),
    NotFound(String),
    /// A method the path does not take; the value is the `Allow` header.
    MethodNotAllowed(std::borrow::Cow<'static, str>),
    Conflict(String),
    TooLarge,
    /// The request was not received and answered within the server's deadline (this long).
    Timeout(std::time::Duration),
    /// Too many failed sign-ins: try again after this long.
    TooManyAttempts(std::time::Duration),
    /// The issuance log cannot be reached now (its database is away): 503, try again.
    Unavailable(String),
    /// Too much of one kind of work is under way (checks of live servers): 503, try again;
    /// the message says what.
    Busy(String),
    /// An issuance that failed, but whose certificate is, or may be, in the log all the same (a
    /// disk that did not confirm the log's write): 500, logged, and the page says so, lest the
    /// request be sent again for a second certificate.
    Uncertain(String),
    /// Anything else: logged, never shown.
    Internal(String),
}

/// What a client is told to wait when the issuance log is away (a database restarting).
pub(crate) const UNAVAILABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl From<Error> for WebError {
    fn from(err: Error) -> Self {
        match &err {
            Error::NotFound(_) | Error::Store(ca_core::StoreError::NotFound) => {
                WebError::NotFound(explain(&err))
            }
            Error::Conflict(_) | Error::UserExists(_) => WebError::Conflict(explain(&err)),
            Error::Store(ca_core::StoreError::Unavailable(_)) => {
                WebError::Unavailable(err.to_string())
            }
            _ if err.may_be_in_the_log() => WebError::Uncertain(err.to_string()),
            _ if err.is_refusal() => WebError::BadRequest(explain(&err)),
            _ => WebError::Internal(err.to_string()),
        }
    }
}

/// A refusal of the authority as a page says it: the fact, and what someone using the pages
/// can do about it (never a command-line flag).
pub(crate) fn explain(err: &Error) -> String {
    let fact = err.to_string();
    let advice = match err {
        Error::NameRefused {
            rule: NameRule::Internal | NameRule::InternalAddress,
            ..
        } => "; an administrator of this CA can issue a certificate for it for use on the LAN only",
        Error::UserExists(_) => {
            ": its role is changed with Set role and its password with Reset password, in its row of the list of users"
        }
        _ => "",
    };
    format!("{fact}{advice}")
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let allow = match &self {
            WebError::MethodNotAllowed(allow) => HeaderValue::from_str(allow).ok(),
            _ => None,
        };
        let retry_after = match &self {
            WebError::TooManyAttempts(wait) => Some(*wait),
            WebError::Unavailable(_) | WebError::Busy(_) => Some(UNAVAILABLE_RETRY),
            _ => None,
        };
        let (status, heading, message) = match self {
            WebError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Request refused", message),
            WebError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in required",
                "This page needs a user name and password of this certificate authority.".to_owned(),
            ),
            WebError::InsecureCredentials => (
                StatusCode::FORBIDDEN,
                "Use HTTPS to sign in",
                "Passwords are accepted over plain HTTP only from this machine itself: open this page with https:// instead."
                    .to_owned(),
            ),
            WebError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message),
            WebError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            WebError::MethodNotAllowed(allow) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                format!("This address answers {allow} only."),
            ),
            WebError::Conflict(message) => (StatusCode::CONFLICT, "Not possible now", message),
            WebError::Timeout(deadline) => (
                StatusCode::REQUEST_TIMEOUT,
                "Request timed out",
                format!(
                    "The request was not received and answered within {} seconds: its body came too slowly, or the server was busy. Send it again.",
                    deadline.as_secs()
                ),
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "The request body is over 64 KiB; a certificate request is a few KiB at most.".to_owned(),
            ),
            WebError::TooManyAttempts(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins",
                format!(
                    "Too many sign-ins failed from this address or for this user. Try again in {} seconds.",
                    wait.as_secs().max(1)
                ),
            ),
            WebError::Busy(message) => (StatusCode::SERVICE_UNAVAILABLE, "Busy", message),
            WebError::Unavailable(detail) => {
                tracing::warn!(detail = %crate::log::clean(&detail), "the issuance log is away");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again shortly",
                    "The certificate authority cannot reach its issuance log just now. Try again in a few seconds."
                        .to_owned(),
                )
            }
            WebError::Uncertain(detail) => {
                tracing::error!(detail = %crate::log::clean(&detail), "request failed, perhaps issued");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Perhaps issued",
                    "The certificate authority's disk did not confirm writing this certificate, so it may be issued all the same. \
                     Look for it among the requests (View the status of a pending certificate request, or an administrator's list) \
                     before sending the request again. The details are in the server's log."
                        .to_owned(),
                )
            }
            WebError::Internal(detail) => {
                tracing::error!(detail = %crate::log::clean(&detail), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The certificate authority could not complete this request. The details are in the server's log."
                        .to_owned(),
                )
            }
        };
        let page = ErrorPage {
            chrome: Chrome::plain(),
            heading,
            message: &message,
        };
        let mut response = (status, render(&page)).into_response();
        response.extensions_mut().insert(ErrorText {
            heading,
            message: message.clone(),
        });
        if let Some(wait) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
        }
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Certificate Services\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::response::IntoResponse;
    use ca_core::{Error, StoreError};

    use super::{ErrorText, WebError};

    /// An issuance that may stand though it failed is a 500 whose page says it may be issued
    /// (the request is not to be sent again blind), without the log's own words; any other
    /// failure of the log keeps the page that says nothing.
    #[test]
    fn a_failure_that_may_have_issued_says_so() {
        let uncertain = [
            Error::Store(StoreError::Unflushed("disk I/O error".into())),
            Error::Store(StoreError::Unconfirmed {
                certificates: "7".into(),
                reason: "disk I/O error".into(),
            }),
        ];
        for err in uncertain {
            let response = WebError::from(err).into_response();
            assert_eq!(response.status(), 500);
            let text = response.extensions().get::<ErrorText>().unwrap();
            assert_eq!(text.heading, "Perhaps issued");
            assert!(
                text.message.contains("may be issued all the same")
                    && !text.message.contains("disk I/O error"),
                "{}",
                text.message
            );
        }
        let failed = WebError::from(Error::Store(StoreError::Commit("disk I/O error".into())))
            .into_response();
        let text = failed.extensions().get::<ErrorText>().unwrap();
        assert_eq!(text.heading, "Something went wrong");
    }
}
