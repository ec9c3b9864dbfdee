//! The request reader (PEM, bare base64, DER): any input is a verified request or a refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ca_core::csr::CertificateRequest::parse(data) {
        assert!(!request.names().is_empty());
        // What was accepted reads back from its own DER.
        ca_core::csr::CertificateRequest::parse(request.der()).expect("a request's DER parses again");
    }
});
