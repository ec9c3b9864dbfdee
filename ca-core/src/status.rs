//! The status codes a request's outcome is recorded with: the HRESULTs Windows' certificate
//! services use (winerror.h), so that the tools written against AD CS read our refusals the
//! way they read Microsoft's ("Denied by Policy Module  0x80094800, ...").

use std::fmt;

use crate::error::Error;

/// An HRESULT, its symbolic name and Microsoft's text for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusCode {
    pub value: u32,
    pub name: &'static str,
    pub text: &'static str,
}

impl StatusCode {
    /// ERROR_SUCCESS: issued, or taken under submission.
    pub const SUCCESS: StatusCode = StatusCode {
        value: 0,
        name: "WIN32: 0 ERROR_SUCCESS",
        text: "The operation completed successfully.",
    };
    /// E_INVALIDARG: a form field or request attribute that cannot be read.
    pub const INVALID_ARGUMENT: StatusCode = StatusCode {
        value: 0x8007_0057,
        name: "WIN32: 87 ERROR_INVALID_PARAMETER",
        text: "The parameter is incorrect.",
    };
    /// NTE_BAD_SIGNATURE: the request's signature does not verify.
    pub const BAD_SIGNATURE: StatusCode = StatusCode {
        value: 0x8009_0006,
        name: "NTE_BAD_SIGNATURE",
        text: "Invalid Signature.",
    };
    /// CRYPT_E_ASN1_BADTAG: the request is not a PKCS#10 structure.
    pub const BAD_ENCODING: StatusCode = StatusCode {
        value: 0x8009_310B,
        name: "CRYPT_E_ASN1_BADTAG",
        text: "ASN1 bad tag value met.",
    };
    /// CERTSRV_E_BAD_REQUESTSUBJECT: a name the rules refuse.
    pub const BAD_REQUEST_SUBJECT: StatusCode = StatusCode {
        value: 0x8009_4001,
        name: "CERTSRV_E_BAD_REQUESTSUBJECT",
        text: "The request subject name is invalid or too long.",
    };
    /// CERTSRV_E_PROPERTY_EMPTY: no request has this id.
    pub const PROPERTY_EMPTY: StatusCode = StatusCode {
        value: 0x8009_4004,
        name: "CERTSRV_E_PROPERTY_EMPTY",
        text: "The requested property value is empty.",
    };
    /// CERTSRV_E_ADMIN_DENIED_REQUEST: an administrator denied the request.
    pub const ADMIN_DENIED: StatusCode = StatusCode {
        value: 0x8009_4014,
        name: "CERTSRV_E_ADMIN_DENIED_REQUEST",
        text: "The request was denied by a certificate manager or CA administrator.",
    };
    /// CERTSRV_E_UNSUPPORTED_CERT_TYPE: a template this CA does not offer.
    pub const UNSUPPORTED_TEMPLATE: StatusCode = StatusCode {
        value: 0x8009_4800,
        name: "CERTSRV_E_UNSUPPORTED_CERT_TYPE",
        text: "The requested certificate template is not supported by this CA.",
    };
    /// CERTSRV_E_KEY_LENGTH: a key too weak, too long or of a kind not signed.
    pub const KEY_LENGTH: StatusCode = StatusCode {
        value: 0x8009_4811,
        name: "CERTSRV_E_KEY_LENGTH",
        text: "The public key does not meet the minimum size required by the specified certificate template.",
    };
    /// CERT_E_INVALID_NAME: a name outside the root's permitted subtrees.
    pub const NAME_NOT_PERMITTED: StatusCode = StatusCode {
        value: 0x800B_0114,
        name: "CERT_E_INVALID_NAME",
        text: "The certificate has an invalid name. The name is not included in the permitted list or is explicitly excluded.",
    };

    const ALL: [StatusCode; 10] = [
        StatusCode::SUCCESS,
        StatusCode::INVALID_ARGUMENT,
        StatusCode::BAD_SIGNATURE,
        StatusCode::BAD_ENCODING,
        StatusCode::BAD_REQUEST_SUBJECT,
        StatusCode::PROPERTY_EMPTY,
        StatusCode::ADMIN_DENIED,
        StatusCode::UNSUPPORTED_TEMPLATE,
        StatusCode::KEY_LENGTH,
        StatusCode::NAME_NOT_PERMITTED,
    ];

    /// The code with this value, as the log keeps it; an unknown value keeps its number.
    pub fn from_value(value: u32) -> StatusCode {
        StatusCode::ALL
            .into_iter()
            .find(|code| code.value == value)
            .unwrap_or(StatusCode {
                value,
                name: "",
                text: "",
            })
    }

    /// The status line AD CS shows as `LastStatus`: text, hex value, decimal value and name,
    /// as in `The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)`.
    pub fn last_status(&self) -> String {
        if self.value == 0 || self.name.starts_with("WIN32") {
            format!("{} {self} ({})", self.text, self.name)
        } else {
            // HRESULTs are shown as signed 32-bit numbers, as Windows prints them.
            let signed = i32::from_ne_bytes(self.value.to_ne_bytes());
            format!("{} {self} ({signed} {})", self.text, self.name)
        }
    }
}

impl fmt::Display for StatusCode {
    /// `0x80094800`, or `0x0` for success.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.value)
    }
}

impl Error {
    /// The code a request refused for this reason is recorded with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::UnsupportedTemplate { .. } => StatusCode::UNSUPPORTED_TEMPLATE,
            Error::WeakKey { .. } | Error::KeyTooLarge { .. } | Error::UnsupportedKey { .. } => {
                StatusCode::KEY_LENGTH
            }
            Error::NameNotPermitted { .. } => StatusCode::NAME_NOT_PERMITTED,
            Error::NameRefused { .. } | Error::NoNames | Error::TooManyNames { .. } => {
                StatusCode::BAD_REQUEST_SUBJECT
            }
            Error::BadRequestSignature => StatusCode::BAD_SIGNATURE,
            Error::InvalidRequest(_) => StatusCode::BAD_ENCODING,
            _ => StatusCode::INVALID_ARGUMENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_status_lines_as_windows_does() {
        assert_eq!(
            StatusCode::UNSUPPORTED_TEMPLATE.last_status(),
            "The requested certificate template is not supported by this CA. 0x80094800 (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE)"
        );
        assert_eq!(
            StatusCode::SUCCESS.last_status(),
            "The operation completed successfully. 0x0 (WIN32: 0 ERROR_SUCCESS)"
        );
        assert_eq!(StatusCode::ADMIN_DENIED.to_string(), "0x80094014");
        assert_eq!(
            StatusCode::from_value(0x8009_4004),
            StatusCode::PROPERTY_EMPTY
        );
    }
}
