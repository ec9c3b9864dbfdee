//! The name validator: any string is a valid name or a refusal, never a panic; a valid name
//! parses again to itself, and passes the policy it was checked against.
#![no_main]

use ca_core::{NamePolicy, SubjectName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(name) = text.parse::<SubjectName>() {
        let again: SubjectName = name.to_string().parse().expect("a normalised name parses again");
        assert_eq!(again, name);
        if let SubjectName::Dns(dns) = &name {
            assert!(dns.as_str().len() <= 253);
            assert!(dns.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b)));
            let _ = dns.unicode();
        }
        let _ = NamePolicy { allow_internal: true, permitted: Vec::new() }.check(&[name]);
    }
    let _ = text.parse::<ca_core::PermittedSubtree>();
});
