//! The fuzz targets' corpus seeds, run through the same checks as the fuzzers (fuzz/), so every
//! input a fuzzer found interesting stays a regression test here.

use std::path::Path;

use ca_core::SubjectName;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|_| panic!("{} holds the seeds", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "seeds for {target}");
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn name_seeds_parse_to_themselves_or_are_refused() {
    for data in seeds("names") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Ok(name) = text.parse::<SubjectName>() {
            assert_eq!(
                name.to_string().parse::<SubjectName>().unwrap(),
                name,
                "{text}"
            );
        }
        let _ = text.parse::<ca_core::PermittedSubtree>();
    }
}

#[test]
fn request_seeds_are_verified_requests_or_refusals() {
    let mut accepted = 0;
    for data in seeds("csr") {
        if let Ok(request) = ca_core::csr::CertificateRequest::parse(&data) {
            accepted += 1;
            ca_core::csr::CertificateRequest::parse(request.der()).unwrap();
        }
    }
    assert!(accepted >= 4, "the hand-made seeds are valid requests");
}

#[test]
fn certfnsh_form_seeds_parse_or_are_refused() {
    let results: Vec<bool> = seeds("certfnsh_form")
        .iter()
        .map(|d| ca_web::parse_certfnsh_form(d).is_ok())
        .collect();
    assert!(results.iter().filter(|ok| **ok).count() >= 2, "{results:?}");
}

#[test]
fn cert_attrib_seeds_parse_or_are_refused() {
    for data in seeds("cert_attrib") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Ok(attributes) = ca_core::enroll::RequestAttributes::parse(text) {
            // What was accepted reads back the same, and names only what may be issued.
            let again = ca_core::enroll::RequestAttributes::parse(&attributes.raw).unwrap();
            assert_eq!(again, attributes);
            if let Some(template) = &attributes.template {
                assert!(ca_core::enroll::TEMPLATES.contains(&template.as_str()));
            }
            for name in &attributes.san {
                assert_eq!(
                    name.to_string().parse::<SubjectName>().unwrap(),
                    *name,
                    "{text}"
                );
            }
        }
    }
}

#[test]
fn jws_seeds_read_back_or_are_refused() {
    use ca_core::acme::jws::{self, Jws};
    let mut read = 0;
    for data in seeds("jws") {
        let Ok(request) = Jws::parse(&data) else {
            continue;
        };
        read += 1;
        assert_eq!(request.is_post_as_get(), request.payload.is_empty());
        if let Some(key) = &request.header.jwk {
            if let Ok(first) = jws::thumbprint(key) {
                assert_eq!(jws::thumbprint(key).ok(), Some(first));
            }
            let _ = request.verify_account(key);
        }
        let _ = request.verify_mac(b"a key of some sort");
    }
    assert!(read > 0, "some seeds are requests real clients sent");
}

#[test]
fn ocsp_request_seeds_are_read_or_refused() {
    let mut read = 0;
    for data in seeds("ocsp_request") {
        if let Ok(request) = ca_core::ocsp::OcspRequest::from_der(&data) {
            read += 1;
            assert!(!request.entries().is_empty());
            assert!(request.entries().len() <= ca_core::ocsp::MAX_ENTRIES);
        }
        // The same bytes as a GET path, as the fuzz target tries them.
        if let Ok(path) = std::str::from_utf8(&data)
            && let Some(der) = ca_web::ocsp_request_from_path(path)
        {
            let _ = ca_core::ocsp::OcspRequest::from_der(&der);
        }
    }
    assert!(read >= 4, "the requests openssl wrote are read");
}
