//! The OCSP responder of a real `ca serve`, judged by `openssl ocsp` (POST, with and without a
//! nonce), by requests sent as GET, by the CRL it must agree with, and by nginx stapling its
//! answers.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{Sandbox, Server, client, openssl, openssl_ok, request_for_key};

/// A CA with a server whose HTTP address is the public URL (so leaves name its responder),
/// and the root in `root.pem`.
fn ca_with_responder() -> (Sandbox, Server) {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    sb.ok(&["config", "set", "url", &server.http]);
    sb.ok(&["root", "--out", "root.pem"]);
    (sb, server)
}

/// Issues a leaf for `name` (files `NAME.crt`, `NAME.key`, `NAME-chain.pem`) and returns its
/// request id and serial number (hex).
fn issue(sb: &Sandbox, name: &str) -> (String, String) {
    sb.ok(&["issue", name, "--key", "ecdsa-p256", "--allow-internal"]);
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|row| row["names"][0] == name)
        .unwrap();
    (
        row["id"].as_i64().unwrap().to_string(),
        row["serial"].as_str().unwrap().to_owned(),
    )
}

/// `openssl ocsp` against the server, with `args` after the issuer and the trust anchor; its
/// standard output and error together, and whether it exited 0.
fn ask(sb: &Sandbox, server: &Server, args: &[&str]) -> (bool, String) {
    let url = format!("{}/ocsp", server.http);
    let mut all = vec![
        "ocsp", "-issuer", "root.pem", "-CAfile", "root.pem", "-url", &url,
    ];
    all.extend_from_slice(args);
    let out = openssl(sb.path(), &all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The status `openssl ocsp -resp_text` reads from a response file: `successful (0x0)` as it
/// prints it for a signed response, `malformedrequest (1)` as it prints an error status.
fn response_status(sb: &Sandbox, file: &str) -> String {
    let out = openssl(
        sb.path(),
        &["ocsp", "-respin", file, "-resp_text", "-noverify"],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("OCSP Response Status: ")
                .or_else(|| l.strip_prefix("Responder Error: "))
        })
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned()
}

#[test]
fn openssl_hears_good_revoked_and_unknown_with_and_without_a_nonce() {
    let (sb, server) = ca_with_responder();
    issue(&sb, "good.example.com");
    let (revoked_id, _) = issue(&sb, "revoked.example.com");
    sb.ok(&["revoke", &revoked_id, "--reason", "keyCompromise"]);
    for nonce in [&[][..], &["-no_nonce"][..]] {
        let with = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend_from_slice(nonce);
            ask(&sb, &server, &all)
        };
        let (ok, text) = with(&["-cert", "good.example.com.crt"]);
        assert!(ok, "{text}");
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains("good.example.com.crt: good"), "{text}");
        assert!(!text.contains("WARNING"), "the nonce is echoed: {text}");
        let (ok, text) = with(&["-cert", "revoked.example.com.crt"]);
        assert!(ok, "{text}");
        assert!(text.contains("revoked.example.com.crt: revoked"), "{text}");
        assert!(text.contains("Reason: keyCompromise"), "{text}");
        // Dated back an hour for slow clocks like every answer, even when it states a
        // revocation of a moment ago (as the CRL lists it): dated at the revocation, a client
        // whose clock is a few minutes slow would refuse it as not yet valid ("status times
        // invalid", Firefox's "OCSP response from the future") instead of reading "revoked".
        let revoked_at = openssl_time(&text, "Revocation Time: ").unwrap();
        let this_update = openssl_time(&text, "This Update: ").unwrap();
        assert!(
            this_update <= revoked_at - time::Duration::minutes(59),
            "{text}"
        );
        // A serial this CA never issued.
        let (ok, text) = with(&["-serial", "0x0123456789abcdef"]);
        assert!(ok, "{text}");
        assert!(text.contains("0x0123456789abcdef: unknown"), "{text}");
        assert!(text.contains("Response verify OK"), "{text}");
    }
}

#[test]
fn a_revocation_by_another_process_is_answered_at_once() {
    let (sb, server) = ca_with_responder();
    let (id, serial) = issue(&sb, "mail.example.com");
    // The pages say the same: the certificate's page, and how to test it on the install page.
    let http = reqwest::blocking::Client::new();
    let page = http
        .get(format!("{}/certsrv/cert/{id}", server.http))
        .basic_auth("admin", Some(&server.admin_password))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(&format!("OCSP responder <code>{}/ocsp</code>", server.http)),
        "{page}"
    );
    let install = http
        .get(format!("{}/certsrv/install", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for needle in [
        "certutil -url",
        "certutil -verify -urlfetch",
        &format!("<code>{}/ocsp</code>", server.http),
    ] {
        assert!(install.contains(needle), "{needle}: {install}");
    }
    let shown = sb.ok(&["show", &id]);
    assert!(
        shown.contains(&format!("OCSP         {}/ocsp", server.http)),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("CRL          {}/certsrv/ca.crl", server.http)),
        "{shown}"
    );
    let (_, text) = ask(
        &sb,
        &server,
        &["-cert", "mail.example.com.crt", "-no_nonce"],
    );
    assert!(text.contains("mail.example.com.crt: good"), "{text}");
    // The second answer is read from the log and held in memory; the third comes from there.
    for _ in 0..2 {
        let (_, text) = ask(
            &sb,
            &server,
            &["-cert", "mail.example.com.crt", "-no_nonce"],
        );
        assert!(text.contains("mail.example.com.crt: good"), "kept: {text}");
    }
    // The same request as GET, in two spellings: the answers prepared for each path are held
    // as the answers in memory are, and give way to the revocation as they do.
    openssl_ok(
        sb.path(),
        &[
            "ocsp",
            "-issuer",
            "root.pem",
            "-cert",
            "mail.example.com.crt",
            "-no_nonce",
            "-reqout",
            "get-req.der",
        ],
    );
    let encoded = base64_standard(&std::fs::read(sb.file("get-req.der")).unwrap());
    let paths = [
        encoded.clone(),
        encoded
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D"),
    ];
    let get_status = |path: &str| {
        let body = http
            .get(format!("{}/ocsp/{path}", server.http))
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        std::fs::write(sb.file("get-resp.der"), &body).unwrap();
        openssl_ok(
            sb.path(),
            &[
                "ocsp",
                "-respin",
                "get-resp.der",
                "-issuer",
                "root.pem",
                "-cert",
                "mail.example.com.crt",
                "-CAfile",
                "root.pem",
            ],
        )
    };
    for _ in 0..3 {
        for path in &paths {
            let text = get_status(path);
            assert!(text.contains("mail.example.com.crt: good"), "GET: {text}");
        }
    }
    sb.ok(&["revoke", &id, "--reason", "superseded"]);
    for path in &paths {
        let text = get_status(path);
        assert!(
            text.contains("mail.example.com.crt: revoked"),
            "GET {path}: {text}"
        );
    }
    let (ok, text) = ask(
        &sb,
        &server,
        &["-cert", "mail.example.com.crt", "-no_nonce"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("mail.example.com.crt: revoked"), "{text}");
    assert!(text.contains("Reason: superseded"), "{text}");
    let shown = sb.ok(&["ocsp", &serial]);
    assert!(shown.contains(": revoked at "), "{shown}");
    assert!(shown.contains("for superseded"), "{shown}");
    assert!(sb.ok(&["ocsp", "0xabcdef"]).contains("unknown"));
}

#[test]
fn get_requests_are_answered_with_caching_headers_that_match_the_response() {
    let (sb, server) = ca_with_responder();
    issue(&sb, "mail.example.com");
    openssl_ok(
        sb.path(),
        &[
            "ocsp",
            "-issuer",
            "root.pem",
            "-cert",
            "mail.example.com.crt",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let request = std::fs::read(sb.file("req.der")).unwrap();
    let encoded = base64_standard(&request);
    let escaped: String = encoded
        .chars()
        .map(|c| match c {
            '/' => "%2F".to_owned(),
            '+' => "%2B".to_owned(),
            '=' => "%3D".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let http = reqwest::blocking::Client::new();
    let https = client(&sb);
    let mut answers = Vec::new();
    for url in [
        format!("{}/ocsp/{escaped}", server.http),
        format!("{}/ocsp/{encoded}", server.http),
        format!("{}/ocsp/{escaped}", server.https()),
    ] {
        let agent = if url.starts_with("https") {
            &https
        } else {
            &http
        };
        let response = agent.get(&url).send().unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/ocsp-response");
        let body = response.bytes().unwrap().to_vec();
        answers.push((headers, body));
    }
    assert!(
        answers.iter().all(|(_, body)| *body == answers[0].1),
        "the kept response"
    );
    let (headers, body) = &answers[0];
    std::fs::write(sb.file("resp.der"), body).unwrap();
    let text = openssl_ok(
        sb.path(),
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "root.pem",
            "-cert",
            "mail.example.com.crt",
            "-CAfile",
            "root.pem",
            "-resp_text",
        ],
    );
    assert!(text.contains("mail.example.com.crt: good"), "{text}");
    let date = |prefix: &str| openssl_time(&text, prefix).unwrap();
    let http_date = |name: &str| {
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        time::PrimitiveDateTime::parse(headers[name].to_str().unwrap(), &format)
            .unwrap()
            .assume_utc()
    };
    let (this_update, next_update) = (date("This Update: "), date("Next Update: "));
    assert_eq!(http_date("last-modified"), this_update);
    assert_eq!(http_date("expires"), next_update);
    let cache_control = headers["cache-control"].to_str().unwrap();
    let max_age: i64 = cache_control
        .split(',')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap();
    let left = (next_update - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!(
        (left - max_age).abs() <= 5,
        "{cache_control} vs {left}s left"
    );
    let etag = headers["etag"].to_str().unwrap();
    let again = http
        .get(format!("{}/ocsp/{escaped}", server.http))
        .header("If-None-Match", etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    // A GET is answered before the router; it carries the headers every answer carries, as
    // the POST (answered through the router) does.
    let posted = http
        .post(format!("{}/ocsp", server.http))
        .header("Content-Type", "application/ocsp-request")
        .body(request)
        .send()
        .unwrap();
    assert_eq!(
        posted.bytes().unwrap().to_vec(),
        *body,
        "POST and GET agree"
    );
    let page = http.get(format!("{}/ocsp", server.http)).send().unwrap();
    for name in [
        "x-content-type-options",
        "content-security-policy",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert!(headers.contains_key(name), "{name} on a GET answer");
        assert_eq!(headers[name], page.headers()[name], "{name}");
    }
}

#[test]
fn the_responder_certificate_verifies_and_says_what_it_is_for() {
    let (sb, server) = ca_with_responder();
    issue(&sb, "mail.example.com");
    let responder = sb.data().join("ocsp.crt");
    let responder = responder.to_str().unwrap();
    let verified = openssl_ok(
        sb.path(),
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-purpose",
            "ocsphelper",
            responder,
        ],
    );
    assert!(verified.contains(": OK"), "{verified}");
    let text = openssl_ok(sb.path(), &["x509", "-in", responder, "-noout", "-text"]);
    let eku = crate::util::extension(&text, "X509v3 Extended Key Usage").unwrap();
    assert_eq!(eku.1, "OCSP Signing");
    assert!(text.contains("OCSP No Check"), "{text}");
    let usage = crate::util::extension(&text, "X509v3 Key Usage").unwrap();
    assert_eq!(usage, (true, "Digital Signature".to_owned()));
    let days = openssl_ok(sb.path(), &["x509", "-in", responder, "-noout", "-dates"]);
    assert!(days.contains("notAfter="), "{days}");
    let key = sb.data().join("ocsp.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // It is in the log like any certificate, and in every response.
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|row| row["requester"] == "ca ocsp" && row["status"] == "valid"),
        "{rows}"
    );
    // The server's own certificates are its to renew: `ca renew` says so, and makes nothing,
    // before it looks at the files a renewal would write (here in the way).
    for (requester, said) in [
        ("ca ocsp", "the CA's OCSP responder's certificate"),
        ("ca serve", "the CA's own web server's certificate"),
    ] {
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["requester"] == requester)
            .unwrap();
        let id = row["id"].to_string();
        if let Some(name) = row["names"][0].as_str() {
            std::fs::write(sb.file(&format!("{name}.crt")), "in the way").unwrap();
            std::fs::write(sb.file(&format!("{name}.key")), "in the way").unwrap();
        }
        let refusal = sb.refused(&["renew", &id, "--out", "."]);
        assert!(
            refusal.contains(said)
                && (refusal.contains("renews it itself") || refusal.contains("replaces it itself")),
            "{refusal}"
        );
    }
    let after: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    assert_eq!(after, rows);
    let (_, answer) = ask(
        &sb,
        &server,
        &["-cert", "mail.example.com.crt", "-resp_text"],
    );
    let pem = std::fs::read_to_string(sb.data().join("ocsp.crt")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let sent: String = answer
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .unwrap()
        .lines()
        .collect();
    assert_eq!(sent, body);
    let shown = sb.ok(&["ocsp", "1"]);
    assert!(shown.contains("responder certificate: serial "), "{shown}");
    // Revoked, it is replaced; what `ca revoke` says is about it, not about a certificate
    // issued before the CA had a public URL (it names no responder or CRL on purpose).
    let responder_id = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["requester"] == "ca ocsp")
        .unwrap()["id"]
        .to_string();
    let said = sb.ok(&["revoke", &responder_id, "--reason", "key-compromise"]);
    assert!(
        said.contains("the responder makes a new one")
            && said.contains("OCSP No Check")
            && !said.contains("public URL")
            && !said.contains("replace it on its server"),
        "{said}"
    );
    // The trail says whose certificate it was, not "for " and nothing.
    let trail = sb.ok(&["audit"]);
    assert!(
        trail.contains("for the OCSP responder") && !trail.lines().any(|l| l.ends_with(" for ")),
        "{trail}"
    );
    // A responder certificate replaced since (the server made another after the revocation,
    // then, restarted without its files, a third): revoked, it is said to be an earlier one,
    // not the one the responder signs with.
    let responder_ids = || -> Vec<String> {
        let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|row| row["requester"] == "ca ocsp" && row["status"] == "valid")
            .map(|row| row["id"].to_string())
            .collect()
    };
    let asked = |server: &Server| {
        let (answered, text) = ask(&sb, server, &["-cert", "mail.example.com.crt"]);
        assert!(answered, "{text}");
    };
    asked(&server);
    let earlier = responder_ids();
    assert_eq!(earlier.len(), 1, "{earlier:?}");
    drop(server);
    for file in ["ocsp.crt", "ocsp.key"] {
        std::fs::remove_file(sb.data().join(file)).unwrap();
    }
    let server = Server::start(&sb);
    asked(&server);
    assert_eq!(responder_ids().len(), 2);
    let said = sb.ok(&["revoke", &earlier[0]]);
    assert!(
        said.contains("an earlier certificate of the OCSP responder's")
            && !said.contains("makes a new one"),
        "{said}"
    );
}

#[test]
fn ocsp_clients_get_an_ocsp_status_for_whatever_they_send() {
    let (sb, server) = ca_with_responder();
    let http = reqwest::blocking::Client::new();
    let post = |body: Vec<u8>, file: &str| {
        let response = http
            .post(format!("{}/ocsp", server.http))
            .header("Content-Type", "application/ocsp-request")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/ocsp-response"
        );
        std::fs::write(sb.file(file), response.bytes().unwrap()).unwrap();
        response_status(&sb, file)
    };
    assert_eq!(
        post(b"garbage".to_vec(), "garbage.der"),
        "malformedrequest (1)"
    );
    assert_eq!(post(Vec::new(), "empty.der"), "malformedrequest (1)");
    assert_eq!(
        post(vec![0x30; 65 * 1024], "large.der"),
        "malformedrequest (1)"
    );
    let get = http
        .get(format!("{}/ocsp/bm90IGEgcmVxdWVzdA%3D%3D", server.http))
        .send()
        .unwrap();
    assert_eq!(get.status(), 200);
    std::fs::write(sb.file("get.der"), get.bytes().unwrap()).unwrap();
    assert_eq!(response_status(&sb, "get.der"), "malformedrequest (1)");
    // A method OCSP does not take: 405 naming those it does, in plain text, never a page.
    for path in ["/ocsp", "/ocsp/", "/ocsp/MEMwQTA"] {
        let put = http
            .put(format!("{}{path}", server.http))
            .body(b"x".to_vec())
            .send()
            .unwrap();
        assert_eq!(put.status(), 405, "{path}");
        assert_eq!(put.headers()["allow"], "GET, POST", "{path}");
        assert!(
            put.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{path}"
        );
        assert!(!put.text().unwrap().contains("<html"), "{path}");
    }

    // A CertID hashed with MD5: the responder cannot tell whose it is.
    openssl_ok(
        sb.path(),
        &[
            "ocsp", "-issuer", "root.pem", "-md5", "-serial", "0x01", "-reqout", "md5.der",
        ],
    );
    let md5 = std::fs::read(sb.file("md5.der")).unwrap();
    assert_eq!(post(md5, "md5-resp.der"), "unauthorized (6)");

    // A certificate of another CA: unknown.
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-subj",
            "/CN=Other Root",
            "-days",
            "2",
        ],
    );
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "other-leaf.pem",
            "-subj",
            "/CN=mail.other.test",
            "-CA",
            "other.pem",
            "-CAkey",
            "other.key",
            "-days",
            "2",
        ],
    );
    let url = format!("{}/ocsp", server.http);
    let out = openssl(
        sb.path(),
        &[
            "ocsp",
            "-issuer",
            "other.pem",
            "-cert",
            "other-leaf.pem",
            "-url",
            &url,
            "-CAfile",
            "root.pem",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("other-leaf.pem: unknown"), "{text}");
}

#[test]
fn the_crl_and_the_responder_agree_on_every_serial_after_revocations() {
    let (sb, server) = ca_with_responder();
    let mut ids = Vec::new();
    for name in [
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
    ] {
        ids.push(issue(&sb, name).0);
    }
    sb.ok(&["revoke", &ids[0], "--reason", "keyCompromise"]);
    sb.ok(&["revoke", &ids[2]]);
    sb.ok(&["revoke", &ids[3], "--reason", "cessationOfOperation"]);
    sb.ok(&["crl", "--format", "pem", "--out", "crl.pem"]);
    let crl = openssl_ok(sb.path(), &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(
        !crl.contains("Issuing Distribution Point"),
        "no IDP: a partial-scope CRL would be read as incomplete: {crl}"
    );
    // Serial (uppercase hex) -> reason as the CRL lists it ("" when it has none).
    let mut listed = std::collections::BTreeMap::new();
    let mut lines = crl.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        if let Some(serial) = line.strip_prefix("Serial Number: ") {
            let mut reason = String::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("Serial Number: ") || next.starts_with("Signature Algorithm") {
                    break;
                }
                let next = lines.next().unwrap();
                if next == "X509v3 CRL Reason Code:" {
                    reason = lines.next().unwrap().to_owned();
                }
            }
            listed.insert(serial.to_ascii_uppercase(), reason);
        }
    }
    assert_eq!(listed.len(), 3, "{crl}");
    // The CRL is dated back an hour for slow clocks even when it lists a revocation of a
    // moment ago (as AD CS dates it): dated at the revocation, it would not yet be valid there
    // for any certificate.
    let last_update = openssl_time(&crl, "Last Update: ").unwrap();
    let latest = crl
        .lines()
        .filter(|line| line.contains("Revocation Date: "))
        .map(|line| openssl_time(line, "Revocation Date: ").unwrap())
        .max()
        .unwrap();
    assert!(last_update <= latest - time::Duration::minutes(59), "{crl}");
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let serials: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["serial"].as_str().map(str::to_owned))
        .collect();
    assert!(
        serials.len() >= 6,
        "the leaves, the server's and the responder's"
    );
    for serial in serials.iter().map(String::as_str).chain(["4ab0c0ffee"]) {
        let hex = format!("0x{serial}");
        let (ok, text) = ask(&sb, &server, &["-serial", &hex, "-no_nonce"]);
        assert!(ok, "{text}");
        match listed.get(&serial.to_ascii_uppercase()) {
            // openssl crl writes "Key Compromise" where openssl ocsp writes "keyCompromise".
            Some(reason) if !reason.is_empty() => {
                assert!(text.contains(&format!("{hex}: revoked")), "{text}");
                let said = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Reason: "))
                    .unwrap_or_else(|| panic!("no reason: {text}"));
                assert_eq!(
                    said.to_ascii_lowercase(),
                    reason.replace(' ', "").to_ascii_lowercase(),
                    "{text}"
                );
            }
            Some(_) => {
                assert!(text.contains(&format!("{hex}: revoked")), "{text}");
                assert!(
                    !text.contains("Reason:"),
                    "unspecified, as on the CRL: {text}"
                );
            }
            None if serial == "4ab0c0ffee" => {
                assert!(text.contains(&format!("{hex}: unknown")), "{text}")
            }
            None => assert!(text.contains(&format!("{hex}: good")), "{text}"),
        }
    }
}

/// A running nginx in a folder of its own, stopped on drop.
struct Nginx {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Nginx {
    /// nginx serving `cert` (a chain file) and `key` over TLS with OCSP stapling verified
    /// against `root`, in `dir`.
    fn start(dir: &Path, cert: &Path, key: &Path, root: &Path) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let conf = format!(
            "events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_stapling on;
    ssl_stapling_verify on;
    ssl_trusted_certificate {root};
    location / {{ return 200 \"ok\\n\"; }}
  }}
}}
",
            cert = cert.display(),
            key = key.display(),
            root = root.display(),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let log = dir.join("stderr.log");
        let binary = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(binary)
            .args(["-p", &d.to_string(), "-c", "nginx.conf", "-g"])
            .arg(format!(
                "daemon off; master_process off; pid {d}/nginx.pid; error_log stderr info;"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("nginx (Debian's nginx package) is needed for the stapling test");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What `openssl s_client -status` prints of the staple, asked until `done` holds for it
    /// (nginx fetches its staple after the first handshake that asks for one).
    fn staple_until(&self, dir: &Path, done: impl Fn(&str, &str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..40 {
            let out = Command::new("openssl")
                .current_dir(dir)
                .args(["s_client", "-connect", &format!("127.0.0.1:{}", self.port)])
                .args(["-servername", "localhost", "-status", "-CAfile", "root.pem"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if done(&last, &self.log()) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("nginx never got there: {last}\nnginx said: {}", self.log());
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_staples_our_answer_and_stops_once_the_certificate_is_revoked() {
    let (sb, _server) = ca_with_responder();
    let (id, _) = issue(&sb, "localhost");
    let (cert, key, root) = (
        sb.file("localhost-chain.pem"),
        sb.file("localhost.key"),
        sb.file("root.pem"),
    );
    let nginx = Nginx::start(&sb.path().join("nginx-1"), &cert, &key, &root);
    let text = nginx.staple_until(sb.path(), |out, _| out.contains("OCSP Response Status"));
    assert!(
        text.contains("OCSP Response Status: successful (0x0)"),
        "{text}"
    );
    assert!(text.contains("Cert Status: good"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    drop(nginx);

    sb.ok(&["revoke", &id, "--reason", "keyCompromise"]);
    // A new nginx fetches our answer, finds it revoked, and staples nothing (nginx staples
    // only good answers, by design): the client then asks the responder itself.
    let nginx = Nginx::start(&sb.path().join("nginx-2"), &cert, &key, &root);
    let text = nginx.staple_until(sb.path(), |_, log| {
        log.contains("certificate status \"revoked\" in the OCSP response")
    });
    let text = if text.contains("OCSP response: no response sent") {
        text
    } else {
        nginx.staple_until(sb.path(), |out, _| out.contains("OCSP response:"))
    };
    assert!(text.contains("OCSP response: no response sent"), "{text}");
    assert!(!text.contains("Cert Status: good"), "{text}");
}

/// A certificate revoked for another reason whose key is found exposed later is revoked
/// again for keyCompromise: its reason is raised, its date kept (Baseline Requirements
/// §7.2.2), and the running server's answers and CRL say so at once; its key is refused from
/// then on. Nothing else about a revocation changes.
#[test]
fn a_revocation_reason_raised_to_key_compromise_reaches_ocsp_and_the_crl() {
    let (sb, server) = ca_with_responder();
    let (id, serial) = issue(&sb, "mail.example.com");
    sb.ok(&["revoke", &id, "--reason", "superseded"]);
    let answer = || {
        let (_, text) = ask(
            &sb,
            &server,
            &["-cert", "mail.example.com.crt", "-no_nonce"],
        );
        assert!(text.contains("mail.example.com.crt: revoked"), "{text}");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(str::to_owned))
                .unwrap_or_else(|| panic!("{name}: {text}"))
        };
        (field("Reason: "), field("Revocation Time: "))
    };
    let (reason, at) = answer();
    assert_eq!(reason, "superseded");
    // A reason other than keyCompromise does not replace the first.
    let said = sb.run(&["revoke", &id, "--reason", "affiliationChanged"]);
    let said = String::from_utf8_lossy(&said.stderr);
    assert!(
        said.contains("was already revoked on")
            && said.contains("(superseded); a revocation's reason changes only to keyCompromise"),
        "{said}"
    );
    // Nor is a certificate held (AD CS's certificateHold): revocations are final.
    let said = sb.refused(&["revoke", &id, "--reason", "certificateHold"]);
    assert!(said.contains("revocations here are final"), "{said}");
    // By its code, as `certutil -revoke SERIAL 1` takes it.
    let said = sb.ok(&["revoke", &id, "--reason", "1"]);
    assert!(
        said.contains("revoked at")
            && said.contains("for superseded, is now revoked for keyCompromise"),
        "{said}"
    );
    let (reason, raised_at) = answer();
    assert_eq!(reason, "keyCompromise");
    assert_eq!(raised_at, at, "the date stays");
    let crl = client(&sb)
        .get(format!("{}/certsrv/ca.crl", server.http))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    std::fs::write(sb.file("served.crl"), &crl).unwrap();
    let text = openssl_ok(
        sb.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "served.crl",
            "-noout",
            "-text",
        ],
    );
    let entry = text
        .split("Serial Number: ")
        .find(|entry| entry.to_ascii_lowercase().starts_with(&serial))
        .unwrap_or_else(|| panic!("{serial}: {text}"));
    assert!(entry.contains("Key Compromise"), "{entry}");
    // Once keyCompromise, it stays so; and the key is refused.
    let said = sb.run(&["revoke", &id, "--reason", "keyCompromise"]);
    let said = String::from_utf8_lossy(&said.stderr);
    assert!(
        said.contains("(keyCompromise)") && !said.contains("changes only"),
        "{said}"
    );
    request_for_key(
        sb.path(),
        "mail.example.com.key",
        "mail.example.com",
        "again.csr",
    );
    let said = sb.refused(&["sign", "again.csr", "--out", "again.crt"]);
    assert!(
        said.contains("revoked because its key was compromised"),
        "{said}"
    );
    let row: Value = serde_json::from_str(&sb.ok(&["show", &id, "--json"])).unwrap();
    assert_eq!(row["revocation_reason"], "keyCompromise");
}

/// The first date `openssl` prints after `prefix` on a line of `text` ("Dec  5 21:50:00 2026
/// GMT").
fn openssl_time(text: &str, prefix: &str) -> Option<time::OffsetDateTime> {
    let line = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(prefix))?;
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    time::PrimitiveDateTime::parse(line.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
