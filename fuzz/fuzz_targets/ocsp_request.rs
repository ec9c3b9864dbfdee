//! The OCSP request reader: any input, as DER or as a `GET /ocsp/{request}` path, is a checked
//! request or a refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ca_core::ocsp::OcspRequest::from_der(data) {
        assert!(!request.entries().is_empty());
        assert!(request.entries().len() <= ca_core::ocsp::MAX_ENTRIES);
        for entry in request.entries() {
            assert_eq!(entry.serial().is_empty(), false);
        }
    }
    if let Ok(path) = std::str::from_utf8(data)
        && let Some(der) = ca_web::ocsp_request_from_path(path)
    {
        let _ = ca_core::ocsp::OcspRequest::from_der(&der);
    }
});
