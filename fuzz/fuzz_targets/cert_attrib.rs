//! The CertAttrib parser: any text is a set of attributes or a refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(attributes) = ca_core::enroll::RequestAttributes::parse(text) {
        assert_eq!(attributes.raw, text);
    }
});
