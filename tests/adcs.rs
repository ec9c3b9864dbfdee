//! AD CS Web Enrollment on every path, as the scripts and libraries written against
//! Microsoft's pages read it: a 200 page for everything that is not a certificate, a request id
//! for every refusal, dispositions in the layout clients parse, AD CS's words and codes, an
//! optional `Enc`, and paths in any case. certsrv, the Python client, is the judge at the end.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::util::{Sandbox, Server, client, csr, openssl_ok, openssl_request};

fn add_user(sb: &Sandbox, name: &str, role: &str, password: &str) {
    std::fs::write(sb.file("pw"), format!("{password}\n")).unwrap();
    sb.ok(&["user", "add", name, "--role", role, "--password-file", "pw"]);
}

fn submit(web: &Client, server: &Server, csr: &str, attributes: &str) -> Response {
    web.post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[
            ("Mode", "newreq"),
            ("CertRequest", csr),
            ("CertAttrib", attributes),
            ("TargetStoreFlags", "0"),
            ("SaveCert", "yes"),
        ])
        .send()
        .unwrap()
}

fn get(web: &Client, server: &Server, path_and_query: &str) -> Response {
    web.get(format!("{}{path_and_query}", server.https()))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap()
}

/// What clients extract with `LABEL:[^\t]+\t\t([^\r\n]+)`: after the label, characters that
/// are not tabs (at least one), then exactly two tabs, then the message up to the line's end.
fn field(text: &str, label: &str) -> Option<String> {
    let start = text.find(label)? + label.len();
    let rest = &text[start..];
    let tabs = rest.find('\t')?;
    if tabs == 0 || !rest[tabs..].starts_with("\t\t") {
        return None;
    }
    let message = &rest[tabs + 2..];
    let end = message.find(['\r', '\n']).unwrap_or(message.len());
    Some(message[..end].to_owned())
}

/// What clients extract with `The disposition message is "([^"]+)`.
fn quoted_disposition(text: &str) -> Option<String> {
    let start = text.find("The disposition message is \"")? + "The disposition message is \"".len();
    let rest = &text[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

fn request_id(text: &str) -> i64 {
    let start = text.find("Your Request Id is ").unwrap() + "Your Request Id is ".len();
    text[start..].split('.').next().unwrap().parse().unwrap()
}

/// A page, not a certificate: 200, HTML, and a disposition and status in the clients' layout.
fn assert_page(response: Response, disposition: &str, status: &str) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let text = response.text().unwrap();
    assert_eq!(
        field(&text, "Disposition message:").as_deref(),
        Some(disposition),
        "{text}"
    );
    let last = field(&text, "LastStatus:").unwrap_or_default();
    assert!(
        last.starts_with(status),
        "LastStatus {last:?} should start {status:?}"
    );
    text
}

/// A request for the key of a certificate revoked for keyCompromise is denied on the pages as
/// from the command line: a page scripts read, the reason in its disposition, and no
/// certificate.
#[test]
fn a_request_for_a_compromised_key_is_denied() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["revoke", "1", "--reason", "keyCompromise"]);
    let again = openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-key",
            "mail.example.com.key",
            "-subj",
            "/CN=mail.example.com",
        ],
    );
    let server = Server::start(&sb);
    let web = client(&sb);
    let text = submit(&web, &server, &again, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    let disposition = quoted_disposition(&text).unwrap_or_default();
    assert!(
        text.contains("Certificate Request Denied")
            && disposition.contains("its key is that of certificate 1, which was revoked because its key was compromised"),
        "{text}"
    );
    let valid = sb.ok(&["list", "--status", "valid"]);
    assert!(!valid.contains("mail.example.com"), "{valid}");
    // Where requests wait for an administrator, it is denied at once too, not queued.
    sb.ok(&["config", "set", "policy", "pending"]);
    let text = submit(&web, &server, &again, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    assert!(
        text.contains("Certificate Request Denied")
            && quoted_disposition(&text)
                .unwrap_or_default()
                .contains("revoked because its key was compromised"),
        "{text}"
    );
    // A request left pending whose key was compromised since cannot be approved: the
    // refusal says how to take it off the queue.
    let later = csr(&sb, "later.csr", "later.example.com");
    let text = submit(&web, &server, &later, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    let id = request_id(&text).to_string();
    sb.ok(&["sign", "later.csr", "--out", "later.crt"]);
    let signed = crate::util::id_of(&sb, "later.example.com");
    sb.ok(&["revoke", &signed, "--reason", "keyCompromise"]);
    let refused = sb.refused(&["approve", &id]);
    assert!(
        refused.contains("revoked because its key was compromised")
            && refused.contains(&format!("`{} deny {id} --reason ...`", sb.said())),
        "{refused}"
    );
    assert!(sb.ok(&["pending"]).contains("later.example.com"));
}

#[test]
fn every_outcome_is_a_page_scripts_can_read() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "pending"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let good = csr(&sb, "good.csr", "mail.example.com");

    // Pending.
    let pending = submit(&web, &server, &good, "CertificateTemplate:WebServer");
    assert_eq!(pending.status(), StatusCode::OK);
    let pending_id = request_id(&pending.text().unwrap());
    for file in ["certnew.cer", "certnew.p7b"] {
        assert_page(
            get(
                &web,
                &server,
                &format!("/certsrv/{file}?ReqID={pending_id}&Enc=bin"),
            ),
            "Taken Under Submission",
            "The operation completed successfully. 0x0",
        );
    }

    // Refused at submission: a request id, a logged denied row, AD CS's code and our reason.
    let refused = submit(&web, &server, &good, "CertificateTemplate:NoSuchTemplate");
    assert_eq!(refused.status(), StatusCode::OK);
    let text = refused.text().unwrap();
    let refused_id = request_id(&text);
    let expected = "Denied by Policy Module  0x80094800, the request was for a certificate template that is not supported by this CA: NoSuchTemplate; use WebServer";
    assert_eq!(
        quoted_disposition(&text).as_deref(),
        Some(expected),
        "{text}"
    );
    assert_eq!(
        field(&text, "Disposition message:").as_deref(),
        Some(expected)
    );
    assert!(
        !text.contains("&#39;") && !text.contains("&quot;"),
        "{text}"
    );
    assert!(
        field(&text, "LastStatus:")
            .unwrap()
            .starts_with("The requested certificate template is not supported by this CA. 0x80094800 (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE)")
    );
    assert_page(
        get(
            &web,
            &server,
            &format!("/certsrv/certnew.cer?ReqID={refused_id}&Enc=b64"),
        ),
        expected,
        "The requested certificate template is not supported by this CA. 0x80094800",
    );
    let denied: Value =
        serde_json::from_str(&sb.ok(&["list", "--status", "denied", "--json"])).unwrap();
    let row = denied
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == refused_id)
        .expect("the refusal is in the log");
    assert_eq!(row["requester"], "alice");
    assert!(
        row["disposition"]
            .as_str()
            .unwrap()
            .contains("NoSuchTemplate")
    );

    // Each kind of refusal has its code, and the sentence says why in words for a web user.
    let weak = {
        openssl_ok(
            sb.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:1024",
                "-nodes",
                "-keyout",
                "weak.key",
                "-subj",
                "/CN=weak.example.com",
                "-out",
                "weak.csr",
            ],
        );
        std::fs::read_to_string(sb.file("weak.csr")).unwrap()
    };
    let internal = csr(&sb, "internal.csr", "nas.lan");
    for (request, code, words) in [
        (weak.as_str(), "0x80094811", "1024 bits"),
        (
            internal.as_str(),
            "0x80094001",
            "an administrator of this CA can issue",
        ),
        ("not a request at all", "0x8009310b", "not a PKCS#10"),
    ] {
        let text = submit(&web, &server, request, "").text().unwrap();
        let disposition = quoted_disposition(&text).unwrap_or_default();
        assert!(
            disposition.starts_with(&format!("Denied by Policy Module  {code}, ")),
            "{disposition}"
        );
        assert!(disposition.contains(words), "{disposition}");
        assert!(
            !disposition.contains("--"),
            "no command-line flag on a page: {disposition}"
        );
        // The log's row shows the names asked for, even of a request refused as it was read.
        let id = request_id(&text).to_string();
        let row: Value = serde_json::from_str(&sb.ok(&["show", &id, "--json"])).unwrap();
        let names = &row["names"];
        match request {
            r if r == weak => assert_eq!(names, &json!(["weak.example.com"]), "{row}"),
            r if r == internal => assert_eq!(names, &json!(["nas.lan"]), "{row}"),
            _ => assert_eq!(names, &json!([]), "{row}"),
        }
    }

    // More names than one certificate holds: the request's CN and a hundred in the attributes.
    let many: Vec<String> = (0..100).map(|i| format!("dns=h{i}.example.com")).collect();
    let text = submit(&web, &server, &good, &format!("san:{}", many.join("&")))
        .text()
        .unwrap();
    let disposition = quoted_disposition(&text).unwrap_or_default();
    assert!(
        disposition.starts_with(
            "Denied by Policy Module  0x80094001, 101 different names: a certificate holds at most 100 "
        ),
        "{disposition}"
    );
    request_id(&text);

    // Denied by an administrator.
    let officer = submit(&web, &server, &good, "").text().unwrap();
    let officer_id = request_id(&officer);
    sb.ok(&["deny", &officer_id.to_string(), "--reason", "Not this one"]);
    assert_page(
        get(
            &web,
            &server,
            &format!("/certsrv/certnew.p7b?ReqID={officer_id}&Enc=bin"),
        ),
        "Denied by Policy Module  0x80094014, Not this one",
        "The request was denied by a certificate manager or CA administrator. 0x80094014",
    );

    // Unknown.
    assert_page(
        get(&web, &server, "/certsrv/certnew.cer?ReqID=424242&Enc=bin"),
        "The requested property value is empty. 0x80094004 (CERTSRV_E_PROPERTY_EMPTY)",
        "The requested property value is empty. 0x80094004 (-2146877436 CERTSRV_E_PROPERTY_EMPTY)",
    );
    // ca's own certificate page is no AD CS answer: an unknown request there is a missing
    // page (404), with the same explanation, while a denied one keeps its page.
    let unknown = get(&web, &server, "/certsrv/cert/424242");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let said = unknown.text().unwrap();
    assert!(
        said.contains("The requested property value is empty."),
        "{said}"
    );
    // An id that is not UTF-8 once decoded, or no number: refused on a page of its own.
    for odd in ["%c3%28", "%ff", "abc"] {
        let refused = get(&web, &server, &format!("/certsrv/cert/{odd}"));
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{odd}");
        assert!(
            refused.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{odd}"
        );
        let said = refused.text().unwrap();
        assert!(
            said.contains("a request id is a positive number"),
            "{odd}: {said}"
        );
    }
    let denied = get(&web, &server, &format!("/certsrv/cert/{officer_id}"));
    assert_eq!(denied.status(), StatusCode::OK);
    assert!(denied.text().unwrap().contains("Not this one"));

    // Issued, once approved: the certificate, and nothing else.
    sb.ok(&["approve", &pending_id.to_string()]);
    let issued = get(
        &web,
        &server,
        &format!("/certsrv/certnew.cer?ReqID={pending_id}&Enc=bin"),
    );
    assert_eq!(issued.status(), StatusCode::OK);
    assert_eq!(issued.headers()["content-type"], "application/pkix-cert");

    // The inventory lists the failed and denied requests, with why.
    add_user(&sb, "boss", "admin", "boss password");
    let admin = client(&sb)
        .get(format!("{}/certsrv/admin?status=denied", server.https()))
        .basic_auth("boss", Some("boss password"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(admin.contains("NoSuchTemplate"), "{admin}");
}

#[test]
fn the_issued_page_enc_and_paths_are_as_ad_cs_has_them() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let good = csr(&sb, "good.csr", "mail.example.com");
    let issued = submit(&web, &server, &good, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    let id = request_id(&issued);
    assert!(
        issued.contains(&format!("location=\"certnew.cer?ReqID={id}&Enc=b64\"")),
        "{issued}"
    );
    assert!(
        issued.contains(&format!("certnew.cer?ReqID={id}&amp;Enc=bin")),
        "{issued}"
    );
    assert!(!issued.contains("Note:"), "{issued}");
    // A request for more than a server certificate carries is told what was left out, in
    // text escaped like everything a request brings.
    openssl_request(
        sb.path(),
        "extra.csr",
        "ec",
        "/CN=app.example.com/O=<b>Example",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=DNS:app.example.com,email:admin@example.com",
        ],
    );
    let extra = std::fs::read_to_string(sb.file("extra.csr")).unwrap();
    let page = submit(&web, &server, &extra, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    assert!(page.contains("Certificate Issued"), "{page}");
    assert!(
        page.contains(
            "Note: the request also asked for O=&#60;b&#62;Example, email admin@example.com, which"
        ),
        "{page}"
    );

    // No Enc: Base 64, for the CA certificate and for an issued one.
    for query in ["ReqID=CACert", &format!("ReqID={id}")] {
        let answer = get(&web, &server, &format!("/certsrv/certnew.cer?{query}"));
        assert_eq!(answer.status(), StatusCode::OK, "{query}");
        assert_eq!(answer.headers()["content-type"], "application/pkix-cert");
        assert!(
            answer
                .text()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----"),
            "{query}"
        );
    }

    // Paths and parameter names in any case, as on IIS.
    for path in [
        "/CertSrv/",
        "/certsrv/CertCarc.asp",
        &format!("/CERTSRV/CertNew.cer?reqid={id}&ENC=B64"),
        "/certsrv/CertNew.P7B?ReqID=CACert&Enc=bin",
    ] {
        let answer = get(&web, &server, path);
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
    }
}

/// A request left pending is told what its certificate will not carry, and the
/// administrator who approves it is told again; a plain request gets no note on either.
#[test]
fn a_pending_request_and_its_approval_say_what_is_left_out() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "pending"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let web = client(&sb);
    openssl_request(
        sb.path(),
        "extra.csr",
        "ec",
        "/CN=app.example.com/OU=IT",
        &["-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let extra = std::fs::read_to_string(sb.file("extra.csr")).unwrap();
    let plain = csr(&sb, "plain.csr", "www.example.com");
    let mut ids = Vec::new();
    for (request, note) in [(&extra, true), (&plain, false)] {
        let page = submit(&web, &server, request, "CertificateTemplate:WebServer")
            .text()
            .unwrap();
        assert!(page.contains("Certificate Pending"), "{page}");
        assert_eq!(
            page.contains("Note: the request also asked for OU=IT, which"),
            note,
            "{page}"
        );
        ids.push(request_id(&page));
    }
    // Said before it is decided, by `ca pending`, and kept for later: `ca show` and the
    // certificate's page.
    let pending = sb.ok(&["pending"]);
    assert!(
        pending.contains("note: the request also asked for OU=IT, which"),
        "{pending}"
    );
    let approved = sb.ok(&["approve", &ids[0].to_string()]);
    assert!(
        approved.contains("Note: the request also asked for OU=IT, which"),
        "{approved}"
    );
    let shown = sb.ok(&["show", &ids[0].to_string()]);
    assert!(
        shown.contains("note         the request also asked for OU=IT, which"),
        "{shown}"
    );
    let page = get(&web, &server, &format!("/certsrv/cert/{}", ids[0]))
        .text()
        .unwrap();
    assert!(
        page.contains("<dt>Left out</dt><dd>the request also asked for OU=IT, which"),
        "{page}"
    );
    let plain_shown = sb.ok(&["show", &ids[1].to_string()]);
    assert!(!plain_shown.contains("left out"), "{plain_shown}");
    assert!(!plain_shown.contains("added"), "{plain_shown}");
    // Names the requester adds in the request's attributes, which the CSR's key did not
    // sign, are told apart before it is decided (`ca pending`, `ca show`), when it is
    // approved, and on the certificate's page.
    let shop = csr(&sb, "shop.csr", "shop.example.com");
    let page = submit(
        &web,
        &server,
        &shop,
        "CertificateTemplate:WebServer\r\nsan:dns=bank.example.com&dns=admin.example.com",
    )
    .text()
    .unwrap();
    let shop_id = request_id(&page).to_string();
    let added =
        "bank.example.com, admin.example.com (by its requester, not in the CSR its key signed)";
    let pending = sb.ok(&["pending"]);
    assert!(pending.contains(&format!("added: {added}")), "{pending}");
    let listed: Value = serde_json::from_str(&sb.ok(&["pending", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|row| row["status"] == "pending")
            && listed[1]["id"].as_i64().map(|id| id.to_string()) == Some(shop_id.clone())
            && listed[1]["names"][1] == "bank.example.com"
            && listed[1]["added_names"] == json!(["bank.example.com", "admin.example.com"])
            && listed[0]["added_names"] == json!([]),
        "{listed:?}"
    );
    let shown = sb.ok(&["show", &shop_id]);
    assert!(shown.contains(&format!("added        {added}")), "{shown}");
    add_user(&sb, "carol", "admin", "carol password");
    let as_carol = |path: &str| {
        web.get(format!("{}{path}", server.https()))
            .basic_auth("carol", Some("carol password"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let inventory = as_carol("/certsrv/admin");
    assert!(
        inventory.contains(
            "Added by the requester, not in the request its key signed: bank.example.com, admin.example.com</p>"
        ),
        "{inventory}"
    );
    assert!(inventory.contains("Waiting for a decision"), "{inventory}");
    // A filtered list (or a later page) is not headed by the waiting requests, whose buttons
    // would stand above rows they are not; each pending row of its own has Issue and Deny.
    let filtered = as_carol("/certsrv/admin?name=shop.example.com");
    assert!(!filtered.contains("Waiting for a decision"), "{filtered}");
    let row = filtered
        .split("<tr")
        .find(|row| row.contains(&format!("<td>{shop_id}</td>")))
        .unwrap_or_else(|| panic!("{filtered}"));
    for form in ["/certsrv/admin/approve", "/certsrv/admin/deny"] {
        assert!(row.contains(form), "{form}: {row}");
    }
    let approved = sb.ok(&["approve", &shop_id]);
    // The audit trail records it as an approval, not as an issuance of the administrator's.
    let approvals: Value =
        serde_json::from_str(&sb.ok(&["audit", "--action", "approve", "--json"])).unwrap();
    let approvals = approvals.as_array().unwrap();
    assert!(
        approvals
            .last()
            .is_some_and(|e| e["subject"] == shop_id.as_str()),
        "{approvals:?}"
    );
    assert!(
        approved.contains("  serial   ")
            && approved.contains(&format!("`{} export {shop_id}`", sb.said())),
        "{approved}"
    );
    let page = get(&web, &server, &format!("/certsrv/cert/{shop_id}"))
        .text()
        .unwrap();
    assert!(
        page.contains("<dt>Added by the requester</dt><dd>bank.example.com, admin.example.com"),
        "{page}"
    );
    let approved = sb.ok(&["approve", &ids[1].to_string()]);
    assert!(!approved.contains("Note:"), "{approved}");
    // A second request for names a valid certificate holds: approving it says so, as
    // `ca issue` and `ca sign` do.
    let page = submit(&web, &server, &plain, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    let again = request_id(&page);
    let approved = sb.ok(&["approve", &again.to_string()]);
    // Its key is the server's: the way to replace the old one is to withdraw it, not to
    // renew it (which makes a key).
    assert!(
        approved.contains(&format!(
            "Note: certificate {} for www.example.com is still valid",
            ids[1]
        )) && approved.contains("once its server has the new one")
            && !approved.contains("ca renew"),
        "{approved}"
    );
    // Denied from a filtered list: back to it, which says what was done.
    let page = submit(&web, &server, &plain, "CertificateTemplate:WebServer")
        .text()
        .unwrap();
    let denied = request_id(&page);
    let answer = web
        .post(format!("{}/certsrv/admin/deny", server.https()))
        .basic_auth("carol", Some("carol password"))
        .form(&[
            ("id", denied.to_string().as_str()),
            ("reason", "not ours"),
            ("back", "status=pending"),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let back = answer.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        back,
        format!("/certsrv/admin?status=pending&done=denied-{denied}")
    );
    let listed = as_carol(&back);
    assert!(
        listed.contains(&format!("Request {denied} was denied.")),
        "{listed}"
    );
}

/// The Python interpreter of the test venv `tests/run` makes, with certsrv installed.
fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: tests/run installs certsrv (PyPI) there",
        venv.display()
    );
    venv
}

fn run_certsrv_client(sb: &Sandbox, server: &Server, extra: &[&str]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/adcs_client.py");
    let out = Command::new(python())
        .arg(script)
        .arg(format!("localhost:{}", server.https_port))
        .arg(sb.data().join("root.crt"))
        .arg(sb.file("client.csr"))
        .args(extra)
        // requests lets these override the CA file the client is given (requests issue 3829).
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    text
}

#[test]
fn certsrv_the_python_client_gets_certificates_and_reads_every_refusal() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    csr(&sb, "client.csr", "mail.example.com");
    let server = Server::start(&sb);
    let text = run_certsrv_client(&sb, &server, &[]);
    assert_eq!(
        text.matches("\nok ").count() + usize::from(text.starts_with("ok ")),
        7,
        "{text}"
    );
}

#[test]
fn certsrv_the_python_client_waits_for_a_pending_request() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "pending"]);
    add_user(&sb, "alice", "requester", "alice password");
    csr(&sb, "client.csr", "mail.example.com");
    let server = Server::start(&sb);
    let text = run_certsrv_client(&sb, &server, &["pending"]);
    assert!(
        text.contains("ok a pending certificate is Taken Under Submission"),
        "{text}"
    );
}
