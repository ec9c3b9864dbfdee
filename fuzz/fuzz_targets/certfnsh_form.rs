//! The certfnsh.asp form parser: any body is a request with attributes, or a refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ca_web::parse_certfnsh_form(data);
});
