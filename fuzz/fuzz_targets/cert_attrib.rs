//! The CertAttrib parser: any text is a set of attributes or a refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(attributes) = ca_core::enroll::RequestAttributes::parse(text) {
        let again = ca_core::enroll::RequestAttributes::parse(&attributes.raw).expect("accepted once, accepted again");
        assert_eq!(again, attributes);
        if let Some(template) = &attributes.template {
            assert!(ca_core::enroll::TEMPLATES.contains(&template.as_str()));
        }
    }
});
