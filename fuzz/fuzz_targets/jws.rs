//! The ACME request reader (flattened JWS, RFC 8555 §6.2): any body is a JWS whose header and
//! payload read back, or a problem document; a key in the header is checked or refused.
#![no_main]

use ca_core::acme::jws::{self, Jws};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Jws::parse(data) {
        assert_eq!(request.is_post_as_get(), request.payload.is_empty());
        if let Some(key) = &request.header.jwk {
            // A key that has a thumbprint gives the same one twice; checking the signature
            // with it gives an answer, never a panic.
            if let Ok(first) = jws::thumbprint(key) {
                assert_eq!(jws::thumbprint(key).ok(), Some(first));
            }
            let _ = request.verify_account(key);
        }
        let _ = request.verify_mac(b"a key of some sort");
    }
});
