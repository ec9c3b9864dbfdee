//! The /certsrv pages end to end: the real `ca serve` on 127.0.0.1, over HTTPS with only the
//! root trusted, as scripts written for AD CS Web Enrollment use it.

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

use crate::util::{Sandbox, Server, assert_crl_verifies, client, openssl_ok};

fn make_request(sb: &Sandbox, file: &str, cn: &str) -> String {
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{file}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            file,
        ],
    );
    std::fs::read_to_string(sb.file(file)).unwrap()
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

fn submit(client: &Client, server: &Server, user: &str, password: &str, csr: &str) -> Response {
    client
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth(user, Some(password))
        .form(&[
            ("Mode", "newreq"),
            ("CertRequest", csr),
            (
                "CertAttrib",
                "CertificateTemplate:WebServer\r\nUserAgent:test",
            ),
            ("TargetStoreFlags", "0"),
            ("SaveCert", "yes"),
        ])
        .send()
        .unwrap()
}

fn request_id(body: &str) -> i64 {
    let start =
        body.find("Your Request Id is ").expect("a request id") + "Your Request Id is ".len();
    body[start..]
        .split('.')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The same URL again, unconditionally.
fn first_again(web: &Client, url: &str) -> Response {
    let answer = web.get(url).send().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer
}

/// A CRL download is dated and tagged, so a cache or client may keep it, and revalidated
/// before each use (a revocation publishes a new CRL at once): while it is current the
/// question costs a 304 and no bytes; after a revocation the old tag gets the new CRL.
#[test]
fn crl_downloads_are_dated_tagged_and_revalidated() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let server = Server::start(&sb);
    let web = client(&sb);
    let url = format!("{}/certsrv/ca.crl", server.http);
    let first = web.get(&url).send().unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let tag = header(&first, "etag");
    let modified = header(&first, "last-modified");
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "{tag}"
    );
    assert_eq!(header(&first, "cache-control"), "public, no-cache");
    std::fs::write(sb.file("first.crl"), first.bytes().unwrap()).unwrap();
    // Last-Modified is the CRL's thisUpdate, as openssl reads it ("Dec  6 16:18:32 2026 GMT"
    // against "Sun, 06 Dec 2026 16:18:32 GMT").
    let last_update = openssl_ok(
        sb.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "first.crl",
            "-noout",
            "-lastupdate",
        ],
    );
    let parts: Vec<&str> = modified.split(' ').collect();
    let day: u32 = parts[1].parse().unwrap();
    assert_eq!(
        last_update.trim().strip_prefix("lastUpdate="),
        Some(format!("{} {day:>2} {} {} GMT", parts[2], parts[4], parts[3]).as_str()),
        "{modified}"
    );

    // Asked again with its tag: 304, no body. Another encoding is another tag; a tag that is
    // not the CRL's, or a malformed one, gets the CRL.
    let length: usize = header(&first_again(&web, &url), "content-length")
        .parse()
        .unwrap();
    let again = web.get(&url).header("If-None-Match", &tag).send().unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), tag);
    // A 304 carries no Content-Length, or the 200's (RFC 9110 §8.6), never the empty body's
    // 0 (what HTTP/2 sent).
    let said = header(&again, "content-length");
    assert!(said.is_empty() || said == length.to_string(), "{said}");
    assert!(again.bytes().unwrap().is_empty());
    // Compared weakly (a proxy weakens the tags of answers it alters), in any of the fields;
    // `*` only as a whole field.
    let weak = format!("W/{tag}");
    for fields in [
        vec![weak.as_str()],
        vec!["\"other\"", tag.as_str()],
        vec!["\"other\", W/\"x\"", weak.as_str()],
        vec!["*"],
    ] {
        let mut asked = web.get(&url);
        for field in &fields {
            asked = asked.header("If-None-Match", *field);
        }
        assert_eq!(
            asked.send().unwrap().status(),
            StatusCode::NOT_MODIFIED,
            "{fields:?}"
        );
    }
    let listed_star = web
        .get(&url)
        .header("If-None-Match", "\"other\", *")
        .send()
        .unwrap();
    assert_eq!(listed_star.status(), StatusCode::OK);
    // If-Modified-Since: the very date it was handed out with, and only without
    // If-None-Match; any other date gets the CRL.
    let since = |value: &str, tag: Option<&str>| {
        let mut asked = web.get(&url).header("If-Modified-Since", value);
        if let Some(tag) = tag {
            asked = asked.header("If-None-Match", tag);
        }
        asked.send().unwrap().status()
    };
    assert_eq!(since(&modified, None), StatusCode::NOT_MODIFIED);
    assert_eq!(since(&modified, Some("\"other\"")), StatusCode::OK);
    for other in [
        "Fri, 31 Dec 2100 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "yesterday",
        "",
    ] {
        assert_eq!(since(other, None), StatusCode::OK, "{other}");
    }
    let pem = web
        .get(format!(
            "{}/certsrv/certcrl.crl?Type=base&Enc=b64",
            server.http
        ))
        .header("If-None-Match", &tag)
        .send()
        .unwrap();
    assert_eq!(pem.status(), StatusCode::OK);
    assert_ne!(header(&pem, "etag"), tag);
    let long = "x".repeat(4000);
    for other in [
        b"\"1-der-00\"".as_slice(),
        b"W/",
        b"\xff\xfe",
        b",,,",
        long.as_bytes(),
    ] {
        let answer = web
            .get(&url)
            .header(
                "If-None-Match",
                reqwest::header::HeaderValue::from_bytes(other).unwrap(),
            )
            .send()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{other:?}");
    }

    // Revoked: the old tag gets the new CRL, which lists the serial.
    sb.ok(&["revoke", "1", "--reason", "keyCompromise"]);
    let after = web.get(&url).header("If-None-Match", &tag).send().unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_ne!(header(&after, "etag"), tag);
    // Nor does the old date fetch a 304, though the new CRL was signed within the second.
    assert_ne!(header(&after, "last-modified"), modified);
    assert_eq!(since(&modified, None), StatusCode::OK);
    std::fs::write(sb.file("after.crl"), after.bytes().unwrap()).unwrap();
    // The server's own certificates say what they are in `ca show`.
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let own: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["own"].as_str())
        .collect();
    assert!(
        own.contains(&"https-server") && own.contains(&"ocsp-responder"),
        "{own:?}"
    );
    for row in rows.as_array().unwrap() {
        let shown = sb.ok(&["show", &row["id"].to_string()]);
        match row["own"].as_str() {
            Some("https-server") => assert!(
                shown.contains("  role         the certificate `ca serve` presents over HTTPS")
                    && !shown.contains("Outlook"),
                "{shown}"
            ),
            Some("ocsp-responder") => assert!(
                shown.contains("  names        none: the OCSP responder's certificate")
                    && shown.contains("  role         the OCSP responder's certificate"),
                "{shown}"
            ),
            _ => assert!(!shown.contains("  role "), "{shown}"),
        }
    }
    let (number, serials) = crate::util::crl_contents(sb.path(), "after.crl");
    let (first_number, _) = crate::util::crl_contents(sb.path(), "first.crl");
    assert!(
        number > first_number && serials.len() == 1,
        "{number} {serials:?}"
    );
}

#[test]
fn ca_certificate_chain_and_crl_downloads_match_ca_root() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Example Root CA"]);
    let server = Server::start(&sb);
    let web = client(&sb);
    let base = server.https();

    let page = web
        .get(format!("{base}/certsrv/certcarc.asp"))
        .send()
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().unwrap().contains("var nRenewals=0;"));

    let der = web
        .get(format!(
            "{base}/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Enc=bin"
        ))
        .send()
        .unwrap();
    assert_eq!(der.status(), StatusCode::OK);
    assert_eq!(header(&der, "content-type"), "application/pkix-cert");
    assert_eq!(
        header(&der, "content-disposition"),
        "attachment; filename=\"root.cer\""
    );
    assert_eq!(header(&der, "x-content-type-options"), "nosniff");
    sb.ok(&["root", "--format", "der", "--out", "root.cer"]);
    assert_eq!(
        der.bytes().unwrap().as_ref(),
        std::fs::read(sb.file("root.cer")).unwrap().as_slice()
    );

    let b64 = web
        .get(format!(
            "{base}/certsrv/certnew.cer?ReqID=CACert&Renewal=-1&Enc=b64"
        ))
        .send()
        .unwrap();
    assert_eq!(b64.text().unwrap(), sb.ok(&["root"]));

    let install = web
        .get(format!(
            "{base}/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Mode=inst&Type=CA"
        ))
        .send()
        .unwrap();
    assert_eq!(
        header(&install, "content-type"),
        "application/x-x509-ca-cert"
    );
    // Opened, not saved: a browser offers a CA certificate it opens for its trust store.
    assert!(
        header(&install, "content-disposition").starts_with("inline"),
        "{}",
        header(&install, "content-disposition")
    );

    let chain = web
        .get(format!(
            "{base}/certsrv/certnew.p7b?ReqID=CACert&Renewal=0&Enc=bin"
        ))
        .send()
        .unwrap();
    assert_eq!(
        header(&chain, "content-type"),
        "application/x-pkcs7-certificates"
    );
    assert_eq!(
        header(&chain, "content-disposition"),
        "attachment; filename=\"root.p7b\""
    );
    sb.ok(&["root", "--format", "p7b", "--out", "root.p7b"]);
    assert_eq!(
        chain.bytes().unwrap().as_ref(),
        std::fs::read(sb.file("root.p7b")).unwrap().as_slice()
    );

    let crl = web
        .get(format!(
            "{base}/certsrv/certcrl.crl?Type=base&Renewal=0&Enc=bin"
        ))
        .send()
        .unwrap();
    assert_eq!(crl.status(), StatusCode::OK);
    assert_eq!(header(&crl, "content-type"), "application/pkix-crl");
    std::fs::write(sb.file("ca.crl"), crl.bytes().unwrap()).unwrap();
    let root = sb.data().join("root.crt");
    assert_crl_verifies(sb.path(), "ca.crl", &root);

    let delta = web
        .get(format!(
            "{base}/certsrv/certcrl.crl?Type=delta&Renewal=0&Enc=bin"
        ))
        .send()
        .unwrap();
    // Not a CRL: a 200 page that says why, as AD CS answers.
    assert_eq!(delta.status(), StatusCode::OK);
    assert!(header(&delta, "content-type").starts_with("text/html"));
    assert!(delta.text().unwrap().contains("no delta CRLs"));
    let renewal = web
        .get(format!(
            "{base}/certsrv/certnew.cer?ReqID=CACert&Renewal=3&Enc=bin"
        ))
        .send()
        .unwrap();
    assert_eq!(renewal.status(), StatusCode::OK);
    assert!(header(&renewal, "content-type").starts_with("text/html"));

    // Plain HTTP serves the same root to anyone (a client must get it before it trusts HTTPS).
    let plain = reqwest::blocking::get(format!(
        "{}/certsrv/certnew.cer?ReqID=CACert&Enc=bin",
        server.http
    ))
    .unwrap();
    assert_eq!(
        plain.bytes().unwrap().as_ref(),
        std::fs::read(sb.file("root.cer")).unwrap().as_slice()
    );
}

#[test]
fn auto_policy_issues_a_submitted_request_at_once() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let csr = make_request(&sb, "mail.csr", "mail.example.com");

    let answer = submit(&web, &server, "alice", "alice password", &csr);
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header(&answer, "cache-control"), "no-store, private");
    let body = answer.text().unwrap();
    assert!(body.contains("Certificate Issued"), "{body}");
    let id = request_id(&body);
    assert!(
        body.contains(&format!("certnew.cer?ReqID={id}&amp;Enc=bin")),
        "{body}"
    );
    assert!(body.contains(&format!("certnew.cer?ReqID={id}&amp;Enc=b64")));
    assert!(body.contains(&format!("certnew.p7b?ReqID={id}&amp;Enc=bin")));

    let cert = web
        .get(format!(
            "{}/certsrv/certnew.cer?ReqID={id}&Enc=b64",
            server.https()
        ))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(cert.status(), StatusCode::OK);
    std::fs::write(sb.file("mail.crt"), cert.text().unwrap()).unwrap();
    crate::util::assert_verifies_strictly(&sb, "mail.crt");
    let key_pub = openssl_ok(sb.path(), &["pkey", "-in", "mail.csr.key", "-pubout"]);
    let cert_pub = openssl_ok(sb.path(), &["x509", "-in", "mail.crt", "-noout", "-pubkey"]);
    assert_eq!(key_pub, cert_pub);

    let chain = web
        .get(format!(
            "{}/certsrv/certnew.p7b?ReqID={id}&Enc=bin",
            server.https()
        ))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    std::fs::write(sb.file("mail.p7b"), chain.bytes().unwrap()).unwrap();
    let listed = openssl_ok(
        sb.path(),
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "mail.p7b",
            "-print_certs",
            "-noout",
        ],
    );
    let subjects: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with("subject="))
        .collect();
    assert_eq!(subjects.len(), 2);
    assert_eq!(subjects[0], "subject=CN = mail.example.com");

    // The log has it, with the web as its source and alice as requester.
    let row: Value = serde_json::from_str(&sb.ok(&["show", &id.to_string(), "--json"])).unwrap();
    assert_eq!(row["status"], "valid");
    assert_eq!(row["requester"], "alice");
    assert_eq!(row["source"], "web");

    // A user removed and added again under the name is someone else: the requests made
    // before are not theirs to see (the log keeps times in seconds: one goes by first).
    let seen_by = |password: &str, path: &str| {
        web.get(format!("{}{path}", server.https()))
            .basic_auth("alice", Some(password))
            .send()
            .unwrap()
    };
    let listed = seen_by("alice password", "/certsrv/certckpn.asp");
    let mine = format!("<a href=\"/certsrv/cert/{id}\">");
    assert!(listed.text().unwrap().contains(&mine));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sb.ok(&["user", "remove", "alice"]);
    add_user(&sb, "alice", "requester", "another alice password");
    let later = "another alice password";
    let cert = seen_by(later, &format!("/certsrv/certnew.cer?ReqID={id}&Enc=b64"));
    assert!(cert.text().unwrap().contains("0x80094004"));
    let page = seen_by(later, &format!("/certsrv/cert/{id}"));
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let listed = seen_by(later, "/certsrv/certckpn.asp").text().unwrap();
    assert!(!listed.contains(&mine), "{listed}");
    assert!(listed.contains("There are no certificate requests of yours."));
}

#[test]
fn pending_policy_waits_for_approve_and_shows_denials() {
    let sb = Sandbox::new();
    sb.init(&[]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let csr = make_request(&sb, "mail.csr", "mail.example.com");

    let body = submit(&web, &server, "alice", "alice password", &csr)
        .text()
        .unwrap();
    assert!(body.contains("Certificate Pending"), "{body}");
    let id = request_id(&body);
    assert!(body.contains(&format!("Your Request Id is {id}.")));

    let url = format!("{}/certsrv/certnew.cer?ReqID={id}&Enc=bin", server.https());
    let waiting = web
        .get(&url)
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(waiting.status(), StatusCode::OK);
    assert!(header(&waiting, "content-type").starts_with("text/html"));
    assert!(waiting.text().unwrap().contains("Taken Under Submission"));

    let pending = sb.ok(&["pending"]);
    assert!(
        pending.contains("mail.example.com") && pending.contains("alice"),
        "{pending}"
    );
    sb.ok(&["approve", &id.to_string()]);
    let issued = web
        .get(&url)
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(issued.status(), StatusCode::OK);
    assert_eq!(header(&issued, "content-type"), "application/pkix-cert");
    std::fs::write(sb.file("mail.cer"), issued.bytes().unwrap()).unwrap();
    openssl_ok(
        sb.path(),
        &[
            "x509", "-inform", "DER", "-in", "mail.cer", "-out", "mail.pem",
        ],
    );
    let root = sb.data().join("root.crt");
    openssl_ok(
        sb.path(),
        &["verify", "-CAfile", root.to_str().unwrap(), "mail.pem"],
    );

    // A second request, denied with a reason the requester then reads.
    let other = make_request(&sb, "www.csr", "www.example.com");
    let denied_id = request_id(
        &submit(&web, &server, "alice", "alice password", &other)
            .text()
            .unwrap(),
    );
    // A reason with control characters is refused: it would reach terminals and pages.
    let stderr = sb.refused(&[
        "deny",
        &denied_id.to_string(),
        "--reason",
        "bad\u{1b}[2J\u{7}",
    ]);
    assert!(stderr.contains("control characters"), "{stderr:?}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    // At most 500 characters, counted as characters: 501 'é' are refused, 500 would do.
    let stderr = sb.refused(&["deny", &denied_id.to_string(), "--reason", &"é".repeat(501)]);
    assert!(stderr.contains("longer than 500 characters"), "{stderr}");
    let long = format!("{}<", "é".repeat(499));
    sb.ok(&["deny", &denied_id.to_string(), "--reason", &long]);
    let denied = sb.ok(&["show", &denied_id.to_string(), "--json"]);
    assert!(denied.contains(&"é".repeat(499)), "{denied}");
    let other = make_request(&sb, "www2.csr", "www.example.com");
    let denied_id = request_id(
        &submit(&web, &server, "alice", "alice password", &other)
            .text()
            .unwrap(),
    );
    sb.ok(&[
        "deny",
        &denied_id.to_string(),
        "--reason",
        "Use the <public> name",
    ]);
    let page = web
        .get(format!(
            "{}/certsrv/certnew.cer?ReqID={denied_id}&Enc=bin",
            server.https()
        ))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let text = page.text().unwrap();
    assert!(
        text.contains("Disposition message:")
            && text.contains("Denied by Policy Module  0x80094014, Use the &#60;public&#62; name"),
        "{text}"
    );
    assert!(!text.contains("<public>"), "the reason is escaped: {text}");
    // Decided once: approving or denying it again says, in the same words, what it is now.
    let said = format!("request {denied_id} is not pending: it is denied");
    let twice = sb.refused(&["deny", &denied_id.to_string()]);
    assert!(twice.contains(&said), "{twice}");
    let approved = sb.refused(&["approve", &denied_id.to_string()]);
    assert!(approved.contains(&said), "{approved}");

    // certckpn lists both for alice.
    let status = web
        .get(format!("{}/certsrv/certckpn.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        status.contains("mail.example.com") && status.contains("denied"),
        "{status}"
    );
}

#[test]
fn credentials_are_checked_and_anonymous_callers_cannot_submit() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let before = sb.row_count();
    let web = client(&sb);
    let base = server.https();

    let wrong = web
        .get(format!("{base}/certsrv/"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&wrong, "www-authenticate").starts_with("Basic realm="));
    let right = web
        .get(format!("{base}/certsrv/"))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    let anonymous = web.get(format!("{base}/certsrv/")).send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);

    let csr = make_request(&sb, "mail.csr", "mail.example.com");
    // Without credentials: a page of this site asks for them...
    let no_auth = web
        .post(format!("{base}/certsrv/certfnsh.asp"))
        .header("Origin", format!("https://localhost:{}", server.https_port))
        .form(&[("Mode", "newreq"), ("CertRequest", csr.as_str())])
        .send()
        .unwrap();
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    // ... and so does a post that says nothing of where it comes from (a script's).
    let unknown = web
        .post(format!("{base}/certsrv/certfnsh.asp"))
        .form(&[("Mode", "newreq"), ("CertRequest", csr.as_str())])
        .send()
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    // A requester is not an admin.
    let admin_page = web
        .get(format!("{base}/certsrv/admin"))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(admin_page.status(), StatusCode::FORBIDDEN);
    let approve = web
        .post(format!("{base}/certsrv/admin/approve"))
        .basic_auth("alice", Some("alice password"))
        .form(&[("id", "1")])
        .send()
        .unwrap();
    assert_eq!(approve.status(), StatusCode::FORBIDDEN);
    assert_eq!(sb.row_count(), before, "nothing was submitted");
}

#[test]
fn bad_input_gets_a_clear_page_and_only_submissions_are_logged() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let before = sb.row_count();
    let web = client(&sb);
    let base = server.https();

    let garbage = submit(
        &web,
        &server,
        "alice",
        "alice password",
        "this is not a request",
    );
    // Refused, as AD CS refuses: a 200 page with a request id and the reason.
    assert_eq!(garbage.status(), StatusCode::OK);
    let text = garbage.text().unwrap();
    assert!(
        text.contains("Certificate Request Denied") && text.contains("The disposition message is"),
        "{text}"
    );

    let wildcard = make_request(&sb, "wild.csr", "*.com");
    let refused = submit(&web, &server, "alice", "alice password", &wildcard);
    assert_eq!(refused.status(), StatusCode::OK);
    assert!(refused.text().unwrap().contains("at least two labels"));
    let refusals = sb.row_count();
    assert_eq!(refusals, before + 2, "each refusal is a logged request");

    let huge = "A".repeat(100 * 1024);
    let too_large = submit(&web, &server, "alice", "alice password", &huge);
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_large.text().unwrap().contains("64 KiB"));

    for query in [
        "ReqID=999&Enc=bin",
        "ReqID=-1&Enc=bin",
        "ReqID=abc&Enc=bin",
        "ReqID=CACert&Enc=hex",
        "Enc=bin",
    ] {
        let answer = web
            .get(format!("{base}/certsrv/certnew.cer?{query}"))
            .basic_auth("alice", Some("alice password"))
            .send()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{query}");
        assert!(
            header(&answer, "content-type").starts_with("text/html"),
            "{query}"
        );
        let text = answer.text().unwrap();
        assert!(
            text.contains("<h1>") && text.contains("Disposition message:"),
            "a readable page for {query}: {text}"
        );
    }
    // A long bad value is quoted back cut short, as the admin pages quote theirs.
    let long = "9x".repeat(2500);
    let answer = web
        .get(format!("{base}/certsrv/certnew.cer?ReqID={long}&Enc=bin"))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        answer.contains(&format!("ReqID={}", &long[..64]))
            && !answer.contains(&long[..65])
            && answer.contains("is neither CACert nor a request id"),
        "{answer}"
    );
    let traversal = web
        .get(format!("{base}/certsrv/static/../../ca-data/root.key"))
        .send()
        .unwrap();
    assert_eq!(traversal.status(), StatusCode::NOT_FOUND);
    let encoded = web
        .get(format!(
            "{base}/certsrv/static/..%2f..%2fca-data%2froot.key"
        ))
        .send()
        .unwrap();
    assert_eq!(encoded.status(), StatusCode::NOT_FOUND);
    assert_eq!(sb.row_count(), refusals, "only submissions reach the log");
}

/// Cross-site posts are refused however they say where they come from; scripts post,
/// including those that send their credentials only once challenged (.NET's `HttpClient`,
/// PowerShell's `Invoke-WebRequest -Credential`, `curl --anyauth`): their first post, without
/// any, gets 401 and the challenge, not a cross-site refusal.
#[test]
fn cross_site_posts_are_refused_while_scripts_keep_working() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let before = sb.row_count();
    let web = client(&sb);
    let csr = make_request(&sb, "mail.csr", "mail.example.com");
    let post_as = |credentials: bool, extra: &[(&str, &str)]| {
        let mut request = web
            .post(format!("{}/certsrv/certfnsh.asp", server.https()))
            .form(&[("Mode", "newreq"), ("CertRequest", csr.as_str())]);
        if credentials {
            request = request.basic_auth("alice", Some("alice password"));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        request.send().unwrap()
    };
    let post = |extra: &[(&str, &str)]| post_as(true, extra);
    let challenged = post_as(false, &[]);
    assert_eq!(challenged.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenged.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert_eq!(
        post(&[("Sec-Fetch-Site", "cross-site")]).status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&[("Origin", "https://evil.example")]).status(),
        StatusCode::FORBIDDEN
    );
    // A page on the same host and port served over plain HTTP is another origin: anyone on
    // the path can write it, and a browser sends it the same Basic credentials.
    let plain = format!("http://localhost:{}", server.https_port);
    assert_eq!(
        post(&[("Origin", plain.as_str())]).status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&[("Referer", format!("{plain}/certsrv/").as_str())]).status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(sb.row_count(), before);
    let same = post(&[("Sec-Fetch-Site", "same-origin")]);
    assert_eq!(same.status(), StatusCode::OK);
    let origin = format!("https://localhost:{}", server.https_port);
    assert_eq!(
        post(&[("Origin", origin.as_str())]).status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&[]).status(),
        StatusCode::OK,
        "a script sends neither header"
    );
    assert_eq!(sb.row_count(), before + 3);
}

#[test]
fn install_page_shows_fingerprints_and_offers_a_profile() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let web = client(&sb);
    let page = web
        .get(format!("{}/certsrv/install", server.https()))
        .send()
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let text = page.text().unwrap();
    let root = sb.data().join("root.crt");
    for digest in ["-sha256", "-sha1"] {
        let fp = openssl_ok(
            sb.path(),
            &[
                "x509",
                "-in",
                root.to_str().unwrap(),
                "-noout",
                "-fingerprint",
                digest,
            ],
        );
        let fp = fp.trim().split('=').nth(1).unwrap().to_owned();
        assert!(text.contains(&fp), "{digest} {fp} on the page");
    }
    for platform in [
        "certutil",
        "Certificate Trust Settings",
        "update-ca-certificates",
        "Firefox",
        ".mobileconfig",
    ] {
        assert!(
            text.contains(platform) || text.contains("mobileconfig"),
            "{platform}"
        );
    }
    let profile = web
        .get(format!("{}/certsrv/ca.mobileconfig", server.https()))
        .send()
        .unwrap();
    assert_eq!(
        header(&profile, "content-type"),
        "application/x-apple-aspen-config"
    );
    let body = profile.text().unwrap();
    assert!(body.contains("com.apple.security.root"));
    let der = std::fs::read(sb.data().join("root.crt")).unwrap();
    let pem = String::from_utf8(der).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(body.contains(&b64), "the profile carries the root");
}

#[test]
fn admin_issues_a_pfx_made_by_the_ca_and_approves_from_the_page() {
    let sb = Sandbox::new();
    sb.init(&[]);
    // On a fresh data folder the server makes the admin and prints the password once.
    let server = Server::start(&sb);
    let admin = server.admin_password.clone();
    assert_eq!(admin.len(), 20);
    add_user(&sb, "alice", "requester", "alice password");
    let web = client(&sb);
    let base = server.https();

    let pfx = web
        .post(format!("{base}/certsrv/certrqma.asp"))
        .basic_auth("admin", Some(admin.as_str()))
        .form(&[
            ("names", "mail.example.com\r\nautodiscover.example.com"),
            ("key", "rsa2048"),
            ("days", "397"),
            ("profile", "compat"),
            ("password", "pfx secret"),
        ])
        .send()
        .unwrap();
    assert_eq!(pfx.status(), StatusCode::OK);
    assert_eq!(header(&pfx, "content-type"), "application/x-pkcs12");
    assert_eq!(
        header(&pfx, "content-disposition"),
        "attachment; filename=\"mail.example.com.pfx\""
    );
    std::fs::write(sb.file("mail.pfx"), pfx.bytes().unwrap()).unwrap();
    std::fs::write(sb.file("pw"), "pfx secret").unwrap();
    let info = openssl_ok(
        sb.path(),
        &[
            "pkcs12", "-in", "mail.pfx", "-passin", "file:pw", "-noenc", "-info",
        ],
    );
    assert!(info.contains("friendlyName: mail.example.com"), "{info}");
    // The log says where it was made: on the pages, by the admin.
    let made: Value = serde_json::from_str(&sb.ok(&[
        "list",
        "--source",
        "web",
        "--name",
        "autodiscover.example.com",
        "--json",
    ]))
    .unwrap();
    let made = made.as_array().unwrap();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["source"], "web", "{made:?}");
    assert_eq!(made[0]["requester"], "admin", "{made:?}");

    // A requester cannot reach the key-making form.
    let form = web
        .get(format!("{base}/certsrv/certrqma.asp"))
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);

    // Approve a pending request from the admin page.
    let csr = make_request(&sb, "www.csr", "www.example.com");
    let id = request_id(
        &submit(&web, &server, "alice", "alice password", &csr)
            .text()
            .unwrap(),
    );
    let overview = web
        .get(format!("{base}/certsrv/admin"))
        .basic_auth("admin", Some(admin.as_str()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(overview.contains("www.example.com"), "{overview}");
    let approved = web
        .post(format!("{base}/certsrv/admin/approve"))
        .basic_auth("admin", Some(admin.as_str()))
        .form(&[("id", id.to_string())])
        .send()
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let cert_page = web
        .get(format!("{base}/certsrv/cert/{id}"))
        .basic_auth("admin", Some(admin.as_str()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(cert_page.contains("msstd:www.example.com"), "{cert_page}");
    let title = cert_page
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next()
        .unwrap();
    assert!(
        title.starts_with(&format!("Certificate {id}")) && !title.contains('<'),
        "{title}"
    );
    assert_eq!(
        cert_page
            .matches("action=\"/certsrv/admin/revoke\"")
            .count(),
        1,
        "one revoke form for the admin"
    );
    let row: Value = serde_json::from_str(&sb.ok(&["show", &id.to_string(), "--json"])).unwrap();
    assert_eq!(row["status"], "valid");
}

#[test]
fn stops_gracefully_and_keeps_its_certificate_across_restarts() {
    let sb = Sandbox::new();
    let server = Server::start(&sb);
    let web = client(&sb);
    assert_eq!(
        web.get(format!("{}/certsrv/", server.https()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let first = std::fs::read(sb.data().join("https.crt")).unwrap();
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    let again = Server::start(&sb);
    assert!(again.admin_password.is_empty(), "the admin is created once");
    assert_eq!(std::fs::read(sb.data().join("https.crt")).unwrap(), first);
    let web = client(&sb);
    assert_eq!(
        web.get(format!("{}/certsrv/", again.https()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[test]
fn a_method_a_page_does_not_take_gets_a_page_saying_which_it_takes() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let web = client(&sb);
    for (request, allowed) in [
        (
            web.get(format!("{}/certsrv/certfnsh.asp", server.https())),
            "POST",
        ),
        (
            web.delete(format!("{}/certsrv/certckpn.asp", server.https())),
            "GET, HEAD",
        ),
        (web.put(format!("{}/certsrv/", server.https())), "GET, HEAD"),
    ] {
        let answer = request.send().unwrap();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
        let allow = answer.headers()["allow"].to_str().unwrap().to_owned();
        let page = answer.text().unwrap();
        assert!(
            page.contains("Method not allowed")
                && page.contains(&format!("This address answers {allowed} only.")),
            "{allow}: {page}"
        );
        assert_eq!(allow.replace(", ", ","), allowed.replace(", ", ","));
    }
    // ACME answers in its own terms, a problem document.
    let answer = web
        .get(format!("{}/acme/new-order", server.https()))
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
}
