//! What an administrator and a scraper see: `/metrics` read by Prometheus' own parser and
//! checked against what the test did, the install page and the names its downloads are saved
//! under, its QR code decoded by ZXing, the signed-in line on error pages, a refused form that
//! keeps what was typed, and `ca issue`'s pointer to `ca renew`. A real `ca serve` on
//! 127.0.0.1 each time.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};

use crate::util::{Sandbox, Server, client, crl_contents, csr};

fn python() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
}

fn tools() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pages_tools.py")
}

/// The samples of an exposition, as Prometheus' parser reads it: `name{a="b",...}` → value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut child = Command::new(python())
        .arg(tools())
        .arg("metrics")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test venv's python (tests/run makes it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    samples
        .into_iter()
        .map(|(name, labels, value)| {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            if labels.is_empty() {
                (name, value)
            } else {
                (format!("{name}{{{}}}", labels.join(",")), value)
            }
        })
        .collect()
}

/// The sum of the samples of `name` over all its labels.
fn total(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    samples
        .iter()
        .filter(|(key, _)| *key == name || key.starts_with(&format!("{name}{{")))
        .map(|(_, value)| value)
        .sum()
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {samples:?}"))
}

fn add_user(sb: &Sandbox, name: &str, role: &str, password: &str) {
    std::fs::write(sb.file("user-pw"), format!("{password}\n")).unwrap();
    sb.ok(&[
        "user",
        "add",
        name,
        "--role",
        role,
        "--password-file",
        "user-pw",
    ]);
}

/// An administrator's credentials on `request` (`boss`, added by [`users`]).
fn admin(request: RequestBuilder, _server: &Server) -> RequestBuilder {
    request.basic_auth("boss", Some("boss password"))
}

/// A requester, alice, and an administrator, boss.
fn users(sb: &Sandbox) {
    add_user(sb, "alice", "requester", "alice password");
    add_user(sb, "boss", "admin", "boss password");
}

fn scrape(web: &Client, server: &Server) -> BTreeMap<String, f64> {
    let response = admin(web.get(format!("{}/metrics", server.https())), server)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_metrics(&response.text().unwrap())
}

/// Seconds since 1970 of an RFC 3339 time, by `date`.
fn unix(rfc3339: &str) -> f64 {
    let out = Command::new("date")
        .args(["-u", "-d", rfc3339, "+%s"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn metrics_count_what_the_log_holds_whoever_wrote_it() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    users(&sb);
    let server = Server::start(&sb);
    let web = client(&sb);
    let before = scrape(&web, &server);
    for family in [
        "ca_build_info",
        "ca_certificates",
        "ca_issuances_total",
        "ca_refusals_total",
    ] {
        assert!(
            total(&before, family) > 0.0 || family == "ca_refusals_total",
            "{family}: {before:?}"
        );
    }

    // Three issued by another process (the command line, on the same log), one of them for
    // ten days; one refused on the web form.
    std::fs::create_dir(sb.file("out")).unwrap();
    for (name, days) in [
        ("one.example.com", "397"),
        ("two.example.com", "10"),
        ("three.example.com", "397"),
    ] {
        sb.ok(&[
            "issue",
            name,
            "--days",
            days,
            "--key",
            "ecdsa-p256",
            "--out",
            "out",
        ]);
    }
    let refused = web
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[
            ("Mode", "newreq"),
            (
                "CertRequest",
                csr(&sb, "bad.csr", "bad!name.example.com").as_str(),
            ),
            ("CertAttrib", ""),
        ])
        .send()
        .unwrap();
    // The page keeps what was sent, to correct and send again.
    let denied = refused.text().unwrap();
    assert!(denied.contains("Certificate Request Denied"), "{denied}");
    let sent = std::fs::read_to_string(sb.file("bad.csr")).unwrap();
    assert!(
        denied.contains(&format!(">{sent}</textarea>"))
            || denied.contains(&format!(">{}</textarea>", sent.trim_end())),
        "{denied}"
    );
    assert!(
        denied.contains("Signed in as <strong>alice</strong>"),
        "{denied}"
    );

    let after = scrape(&web, &server);
    let delta = |key: &str| value(&after, key) - before.get(key).copied().unwrap_or(0.0);
    assert_eq!(delta("ca_issuances_total{source=\"cli\"}"), 3.0);
    assert_eq!(
        total(&after, "ca_issuances_total") - total(&before, "ca_issuances_total"),
        3.0
    );
    assert_eq!(delta("ca_refusals_total{source=\"web\"}"), 1.0);
    assert_eq!(
        total(&after, "ca_refusals_total") - total(&before, "ca_refusals_total"),
        1.0
    );
    assert_eq!(delta("ca_certificates{status=\"valid\"}"), 3.0);
    assert_eq!(delta("ca_certificates{status=\"denied\"}"), 1.0);

    // The soonest expiry is the ten-day certificate's notAfter (the server's own certificate
    // renews itself and is left out).
    let list: serde_json::Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let short = list
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["names"][0] == "two.example.com")
        .unwrap();
    assert_eq!(
        value(&after, "ca_certificate_soonest_expiry_timestamp_seconds"),
        unix(short["not_after"].as_str().unwrap())
    );

    // A revocation moves a certificate from valid to revoked, and the CRL's number is the one
    // clients are handed.
    let id = short["id"].as_i64().unwrap().to_string();
    sb.ok(&["revoke", &id, "--reason", "superseded"]);
    let crl = web
        .get(format!("{}/certsrv/ca.crl", server.http))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    std::fs::write(sb.file("ca.crl"), &crl).unwrap();
    let (number, _) = crl_contents(sb.path(), "ca.crl");
    let revoked = scrape(&web, &server);
    assert_eq!(
        value(&revoked, "ca_certificates{status=\"valid\"}"),
        value(&after, "ca_certificates{status=\"valid\"}") - 1.0
    );
    assert_eq!(
        value(&revoked, "ca_certificates{status=\"revoked\"}"),
        value(&after, "ca_certificates{status=\"revoked\"}") + 1.0
    );
    assert_eq!(value(&revoked, "ca_crl_number"), number as f64);
    // Its thisUpdate is an hour before it was signed (slow clocks), a moment ago.
    let age = value(&revoked, "ca_crl_age_seconds");
    assert!((3600.0..3720.0).contains(&age), "{age}");
    assert!(
        value(&revoked, "ca_certificate_soonest_expiry_timestamp_seconds")
            > unix(short["not_after"].as_str().unwrap()),
        "a revoked certificate is no longer the soonest to expire"
    );
    // Nor is a renewed one; but one whose renewal was revoked is again.
    sb.ok(&[
        "issue",
        "soon.example.com",
        "--days",
        "2",
        "--key",
        "ecdsa-p256",
    ]);
    let soon: serde_json::Value =
        serde_json::from_str(&sb.ok(&["list", "--name", "soon.example.com", "--json"])).unwrap();
    let (soon_id, soon_expiry) = (
        soon[0]["id"].as_i64().unwrap().to_string(),
        unix(soon[0]["not_after"].as_str().unwrap()),
    );
    let soonest = || {
        value(
            &scrape(&web, &server),
            "ca_certificate_soonest_expiry_timestamp_seconds",
        )
    };
    assert_eq!(soonest(), soon_expiry);
    let renewed = sb.ok(&["renew", &soon_id, "--days", "30", "--force"]);
    assert!(soonest() > soon_expiry, "{renewed}");
    let renewal: serde_json::Value =
        serde_json::from_str(&sb.ok(&["show", &soon_id, "--json"])).unwrap();
    let renewal = renewal["renewed_by"].as_i64().unwrap().to_string();
    sb.ok(&["revoke", &renewal, "--reason", "superseded"]);
    assert_eq!(soonest(), soon_expiry);
    // This process's latencies: the scrapes and the form above were timed.
    assert!(
        value(
            &revoked,
            "ca_http_request_duration_seconds_count{group=\"metrics\"}"
        ) >= 2.0
    );
    assert!(
        value(
            &revoked,
            "ca_http_request_duration_seconds_count{group=\"enrollment\"}"
        ) >= 1.0
    );
}

#[test]
fn metrics_answer_the_token_or_an_administrator_and_no_one_else() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    users(&sb);
    let token = "3f1c0a9be27d4c56a1f08e9d7b6c5a4f3e2d1c0b";
    std::fs::write(sb.file("token"), format!("{token}\n")).unwrap();
    // Too short to be a secret: refused, and nothing set.
    std::fs::write(sb.file("short"), "abc\n").unwrap();
    sb.refused(&["config", "set", "metrics-token-file", "short"]);
    // Shown as whether there is one, with the command that sets one.
    let none = sb.ok(&["config", "show"]);
    assert!(
        none.contains(&format!(
            "(none: /metrics answers administrators only; `{} config set metrics-token-file FILE` sets one)",
            sb.said()
        )),
        "{none}"
    );
    sb.ok(&["config", "set", "metrics-token-file", "token"]);
    let shown = sb.ok(&["config", "show"]);
    assert!(
        !shown.contains(token) && shown.contains("metrics-token"),
        "{shown}"
    );

    let server = Server::start(&sb);
    let web = client(&sb);
    let url = format!("{}/metrics", server.https());
    let status = |request: RequestBuilder| request.send().unwrap().status();

    let good = web.get(&url).bearer_auth(token).send().unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    assert!(total(&parse_metrics(&good.text().unwrap()), "ca_certificates") >= 1.0);
    assert_eq!(status(admin(web.get(&url), &server)), StatusCode::OK);

    assert_eq!(status(web.get(&url)), StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(web.get(&url).bearer_auth(&token[..token.len() - 1])),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(web.get(&url).bearer_auth(format!("{token}0"))),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(web.get(&url).basic_auth("alice", Some("alice password"))),
        StatusCode::FORBIDDEN
    );
    // In the address the token would end up in logs: refused, even next to a good one.
    for query in [format!("?token={token}"), format!("?access_token={token}")] {
        assert_eq!(
            status(web.get(format!("{url}{query}"))),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(web.get(format!("{url}{query}")).bearer_auth(token)),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        status(web.post(&url).bearer_auth(token)),
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Over plain HTTP from this machine the token is taken, as passwords are.
    assert_eq!(
        status(
            web.get(format!("{}/metrics", server.http))
                .bearer_auth(token)
        ),
        StatusCode::OK
    );

    // A new token holds at once, on a running server; the old one no longer does.
    let second = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";
    std::fs::write(sb.file("token"), format!("{second}\n")).unwrap();
    sb.ok(&["config", "set", "metrics-token-file", "token"]);
    assert_eq!(
        status(web.get(&url).bearer_auth(token)),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status(web.get(&url).bearer_auth(second)), StatusCode::OK);
    // Removed: administrators only.
    sb.ok(&["config", "set", "metrics-token-file", ""]);
    assert_eq!(
        status(web.get(&url).bearer_auth(second)),
        StatusCode::UNAUTHORIZED
    );

    // Wrong guesses from one address slow that address down, never the holder of the token.
    sb.ok(&["config", "set", "metrics-token-file", "token"]);
    let from = |addr: [u8; 4]| {
        let root = std::fs::read(sb.data().join("root.crt")).unwrap();
        Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&root).unwrap()])
            .local_address(std::net::IpAddr::from(addr))
            .build()
            .unwrap()
    };
    let guesser = from([127, 0, 0, 2]);
    let mut refused = Vec::new();
    for _ in 0..6 {
        refused.push(status(guesser.get(&url).bearer_auth(format!("{second}0"))));
    }
    assert!(
        refused.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{refused:?}"
    );
    assert_eq!(
        status(from([127, 0, 0, 3]).get(&url).bearer_auth(second)),
        StatusCode::OK
    );

    let log = server.log_text();
    assert!(!log.contains(token) && !log.contains(second), "{log}");
    let audit = sb.alter_log("SELECT detail FROM audit WHERE subject = 'metrics_token_sha256'");
    assert!(!audit.contains(token) && !audit.contains(second), "{audit}");
}

#[test]
fn downloads_are_saved_under_the_names_the_install_page_gives() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    users(&sb);
    let server = Server::start(&sb);
    let web = client(&sb);
    let page = web
        .get(format!("{}/certsrv/install", server.https()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let disposition = |path: &str| {
        let response = web.get(format!("{}{path}", server.https())).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    for (link, file) in [
        (
            "/certsrv/certnew.cer?ReqID=CACert&amp;Renewal=0&amp;Enc=bin",
            "root.cer",
        ),
        (
            "/certsrv/certnew.cer?ReqID=CACert&amp;Renewal=0&amp;Enc=b64",
            "root.crt",
        ),
        ("/certsrv/ca.mobileconfig", "root.mobileconfig"),
    ] {
        assert!(
            page.contains(&format!("<a href=\"{link}\">{file}")),
            "the page names {link} {file}"
        );
        assert_eq!(
            disposition(&link.replace("&amp;", "&")),
            format!("attachment; filename=\"{file}\"")
        );
    }
    assert_eq!(
        disposition("/certsrv/certnew.p7b?ReqID=CACert&Enc=bin"),
        "attachment; filename=\"root.p7b\""
    );

    // A certificate's files are named after its first name, as `ca issue` names them.
    let submitted = web
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[
            ("Mode", "newreq"),
            (
                "CertRequest",
                csr(&sb, "mail.csr", "mail.example.com").as_str(),
            ),
            ("CertAttrib", ""),
        ])
        .send()
        .unwrap()
        .text()
        .unwrap();
    let start = submitted.find("ReqID=").unwrap() + "ReqID=".len();
    let id: String = submitted[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    for (query, file) in [
        ("certnew.cer?Enc=bin", "mail.example.com.cer"),
        ("certnew.cer?Enc=b64", "mail.example.com.crt"),
        ("certnew.p7b?Enc=bin", "mail.example.com.p7b"),
    ] {
        let response = web
            .get(format!("{}/certsrv/{query}&ReqID={id}", server.https()))
            .basic_auth("alice", Some("alice password"))
            .send()
            .unwrap();
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment; filename=\"{file}\"").as_str()
        );
    }
}

/// The page's QR code, decoded by ZXing.
fn decode_qr(sb: &Sandbox, page: &str) -> String {
    let start = page.find("<svg").expect("a QR code on the page");
    let end = page[start..].find("</svg>").unwrap() + start + "</svg>".len();
    std::fs::write(sb.file("qr.svg"), &page[start..end]).unwrap();
    let out = Command::new(python())
        .arg(tools())
        .arg("qr")
        .arg(sb.file("qr.svg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_install_page_serves_android_chrome_on_linux_and_phones() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    let server = Server::start(&sb);
    let web = client(&sb);

    // The QR code holds the address the page was read at, over HTTP or HTTPS.
    let over_http = web
        .get(format!("{}/certsrv/install", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!over_http.contains("<script"), "no script");
    assert_eq!(
        decode_qr(&sb, &over_http),
        format!("{}/certsrv/install", server.http)
    );
    let over_https = web
        .get(format!("{}/certsrv/install", server.https()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        decode_qr(&sb, &over_https),
        format!("{}/certsrv/install", server.https())
    );
    // Once the CA has a public URL, that is the address every phone is given.
    sb.ok(&["config", "set", "url", "http://ca.example.com"]);
    let public = web
        .get(format!("{}/certsrv/install", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        decode_qr(&sb, &public),
        "http://ca.example.com/certsrv/install"
    );
    assert!(public.contains("id=\"android\""), "an Android section");

    // The NSS command of the page, run as written on a new store, trusts the root for TLS.
    let start = public
        .find("certutil -d sql:$HOME/.pki/nssdb -A")
        .expect("the NSS command");
    let end = public[start..].find("</code>").unwrap() + start;
    let command = public[start..end]
        .replace("&quot;", "\"")
        .replace("&#34;", "\"");
    let home = sb.file("home");
    std::fs::create_dir_all(home.join(".pki/nssdb")).unwrap();
    let certutil = |args: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(args)
            .env("HOME", &home)
            .current_dir(sb.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    certutil("certutil -N -d sql:$HOME/.pki/nssdb --empty-password");
    std::fs::copy(sb.data().join("root.crt"), sb.file("root.crt")).unwrap();
    certutil(&command);
    let listed = certutil("certutil -d sql:$HOME/.pki/nssdb -L");
    let line = listed
        .lines()
        .find(|l| l.trim_end().ends_with("C,,"))
        .unwrap_or_else(|| panic!("the root trusted C,,: {listed}"));
    assert!(!line.trim().is_empty());
}

#[test]
fn every_page_says_who_is_signed_in_and_a_refused_form_keeps_what_was_typed() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    users(&sb);
    let server = Server::start(&sb);
    let web = client(&sb);
    let https = server.https();

    // Error pages: a page that is not there, a page for administrators only, and a form
    // refused before any handler read it.
    let missing = admin(web.get(format!("{https}/certsrv/no-such-page")), &server)
        .send()
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing
            .text()
            .unwrap()
            .contains("Signed in as <strong>boss</strong> (administrator)")
    );
    let forbidden = web
        .get(format!("{https}/certsrv/admin"))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden
            .text()
            .unwrap()
            .contains("Signed in as <strong>alice</strong> (requester)")
    );
    let cross_site = web
        .post(format!("{https}/certsrv/admin/revoke"))
        .basic_auth("alice", Some("alice password"))
        .header("origin", "https://elsewhere.example")
        .form(&[("id", "1")])
        .send()
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(
        cross_site
            .text()
            .unwrap()
            .contains("Signed in as <strong>alice</strong>")
    );
    let anonymous = web.get(format!("{https}/certsrv/nope")).send().unwrap();
    assert!(anonymous.text().unwrap().contains("Not signed in"));
    let wrong = web
        .get(format!("{https}/certsrv/nope"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .unwrap();
    assert!(!wrong.text().unwrap().contains("Signed in as"));

    // The issue form, refused for a name: back with the names, days, key, protection and box
    // as typed, and without the password.
    let password = "the pfx password 7";
    let refused = admin(web.post(format!("{https}/certsrv/certrqma.asp")), &server)
        .form(&[
            ("names", "mail.example.com\nbad name!.example.com"),
            ("key", "ecdsa-p384"),
            ("days", "45"),
            ("profile", "modern"),
            ("allow_internal", "yes"),
            ("password", password),
        ])
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let page = refused.text().unwrap();
    for kept in [
        "mail.example.com\nbad name!.example.com</textarea>",
        "value=\"45\"",
        "<option value=\"ecdsa-p384\" selected>",
        "<option value=\"modern\" selected>",
        "value=\"yes\" checked>",
        "Signed in as <strong>boss</strong>",
        "class=\"refused\"",
    ] {
        assert!(page.contains(kept), "{kept} in {page}");
    }
    assert!(!page.contains(password), "the password is not sent back");
    // Typed twice on the page, the two must agree: the PFX is downloaded once.
    let differ = admin(web.post(format!("{https}/certsrv/certrqma.asp")), &server)
        .form(&[
            ("names", "mail.example.com"),
            ("password", password),
            ("password_again", "the pfx password 8"),
        ])
        .send()
        .unwrap();
    assert_eq!(differ.status(), StatusCode::BAD_REQUEST);
    let said = differ.text().unwrap();
    assert!(
        said.contains("The two PFX passwords typed differ"),
        "{said}"
    );
    assert!(!said.contains(password), "{said}");
    // The reason ends as a sentence before the page goes on.
    assert!(
        page.contains("§2.1). Correct the form and submit it again"),
        "{page}"
    );
    assert!(
        !page.contains("<option value=\"rsa2048\" selected>"),
        "{page}"
    );
    // Nothing was issued.
    assert!(!sb.ok(&["list"]).contains("mail.example.com"));
}

#[test]
fn issuing_a_name_that_has_a_valid_certificate_points_to_ca_renew() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    for dir in [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
    ] {
        std::fs::create_dir(sb.file(dir)).unwrap();
    }
    let first = sb.ok(&[
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "first",
    ]);
    assert!(!first.contains("ca renew"), "{first}");
    let id: String = first
        .trim_start_matches("Issued certificate ")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // Asked again, with another name: issued all the same, with the pointer.
    let second = sb.ok(&[
        "issue",
        "mail.example.com",
        "owa.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "second",
    ]);
    assert!(second.starts_with("Issued certificate "), "{second}");
    assert!(sb.file("second/mail.example.com.crt").exists());
    assert!(
        second.contains(&format!(
            "Note: certificate {id} for mail.example.com is still valid (until "
        )) && second.contains(&format!("`{} renew {id}`", sb.said())),
        "{second}"
    );
    // The date is written as everywhere else: `2027-12-27 10:04 UTC`.
    let until = second.split("(until ").nth(1).unwrap();
    let date = &until[..until.find(')').unwrap()];
    assert_eq!(date.len(), "2027-12-27 10:04 UTC".len(), "{date}");
    assert!(
        date.ends_with(" UTC") && first.contains(date),
        "{date}: {first}"
    );

    // Revoked certificates hold nothing.
    sb.ok(&["revoke", &id, "--reason", "superseded"]);
    let third = sb.ok(&[
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "third",
    ]);
    assert!(!third.contains(&format!("certificate {id} ")), "{third}");
    assert!(
        third.contains(&format!("`{} renew", sb.said())),
        "the second still holds it: {third}"
    );

    // Past three holders, one note counts them and says how to list them, the newest named.
    let mut newest = Vec::new();
    for out in ["fifth", "sixth"] {
        let issued = sb.ok(&[
            "issue",
            "mail.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            out,
        ]);
        newest.push(
            issued
                .trim_start_matches("Issued certificate ")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>(),
        );
    }
    let seventh = sb.ok(&[
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "seventh",
    ]);
    assert!(!seventh.contains("Note: certificate"), "{seventh}");
    assert_eq!(seventh.matches("Note: ").count(), 1, "{seventh}");
    assert!(
        seventh
            .contains("Note: 4 certificates for mail.example.com are still valid (the newest 3: ")
            && newest.iter().all(|id| seventh.contains(&format!(", {id}")))
            && seventh.contains(&format!(
                "`{} list --status valid --name mail.example.com`",
                sb.said()
            ))
            && seventh.contains(&format!("`{} renew ID`", sb.said())),
        "{seventh}"
    );
    let listed = sb.ok(&["list", "--status", "valid", "--name", "mail.example.com"]);
    for id in &newest {
        assert!(
            listed
                .lines()
                .any(|line| line.trim_start().starts_with(id.as_str())),
            "{listed}"
        );
    }
    // Holders of different names: no one name's list shows them all, and the note says so.
    for out in ["eighth", "ninth"] {
        std::fs::create_dir(sb.file(out)).unwrap();
    }
    sb.ok(&[
        "issue",
        "autodiscover.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "eighth",
    ]);
    let both = sb.ok(&[
        "issue",
        "mail.example.com",
        "autodiscover.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "ninth",
    ]);
    assert!(
        both.contains("still valid (the newest 3: ")
            && both.contains(&format!(
                "`{} list --status valid --name NAME` lists those of each name",
                sb.said()
            ))
            && !both.contains("--name mail.example.com`"),
        "{both}"
    );

    // The CA's own web server's certificate (for localhost here) is no holder to renew.
    let ca = Server::start(&sb);
    drop(ca);
    let fourth = sb.ok(&[
        "issue",
        "localhost",
        "--allow-internal",
        "--key",
        "ecdsa-p256",
        "--out",
        "fourth",
    ]);
    assert!(!fourth.contains("Note: certificate"), "{fourth}");
}
