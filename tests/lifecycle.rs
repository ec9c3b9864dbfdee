//! Revocation, CRLs, CRL distribution points, renewal and expiry, checked with `openssl`.

use serde_json::Value;

use crate::util::{
    Sandbox, Server, assert_crl_verifies, client, openssl, openssl_ok, request_for_key,
};

fn crl_verify(sb: &Sandbox, crl: &str, leaf: &str) -> (bool, String) {
    let root = sb.data().join("root.crt");
    let out = openssl(
        sb.path(),
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            crl,
            "-CAfile",
            root.to_str().unwrap(),
            leaf,
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn crl_number(sb: &Sandbox, crl: &str) -> u64 {
    let text = openssl_ok(sb.path(), &["crl", "-in", crl, "-noout", "-crlnumber"]);
    let hex = text
        .trim()
        .strip_prefix("crlNumber=0x")
        .or_else(|| text.trim().strip_prefix("crlNumber="))
        .unwrap();
    u64::from_str_radix(hex, 16).unwrap()
}

/// A request for a key known to be exposed (that of a certificate revoked for keyCompromise)
/// or for the root's own key is refused and nothing is issued; the same request is signed
/// while the certificate is revoked for another reason.
#[test]
fn a_compromised_key_or_the_roots_is_never_certified() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["issue", "b.example.com", "--key", "ecdsa-p256"]);
    let request = |key: &str, file: &str| request_for_key(sb.path(), key, "c.example.com", file);
    let exposed = request("a.example.com.key", "exposed.csr");
    let moved_on = request("b.example.com.key", "moved-on.csr");
    let root_key = sb.data().join("root.key");
    let roots = request(root_key.to_str().unwrap(), "root.csr");
    // Renewed keeping its key (as IIS may): certificate 3 has certificate 1's key. Revoked
    // for keyCompromise, it names certificate 1, renewed but still valid, to revoke too.
    request_for_key(sb.path(), "a.example.com.key", "a.example.com", "kept.csr");
    sb.ok(&["sign", "kept.csr", "--renews", "1", "--out", "kept.crt"]);
    let said = sb.ok(&["revoke", "3", "--reason", "keyCompromise"]);
    assert!(
        said.contains("Note: the same key is in certificate 1, still valid: revoke it too"),
        "{said}"
    );
    let said = sb.ok(&["revoke", "1", "--reason", "keyCompromise"]);
    assert!(!said.contains("the same key"), "{said}");
    let said = sb.ok(&["revoke", "2", "--reason", "superseded"]);
    assert!(!said.contains("the same key"), "{said}");
    let rows = sb.row_count();
    let said = sb.refused(&["sign", &exposed, "--out", "x.crt"]);
    assert!(
        said.contains(
            "its key is that of certificate 1, which was revoked because its key was compromised"
        ),
        "{said}"
    );
    let said = sb.refused(&["sign", &roots, "--out", "x.crt"]);
    assert!(said.contains("its key is the root's own"), "{said}");
    assert!(!sb.file("x.crt").exists());
    // Both in the log as denied requests, neither issued.
    assert_eq!(sb.row_count(), rows + 2);
    let denied = sb.ok(&["list", "--status", "denied"]);
    assert_eq!(denied.lines().count(), 3, "{denied}");
    sb.ok(&["sign", &moved_on, "--out", "y.crt"]);
}

/// Writes `to`, an RSA key over the modulus of the key in `from` with public exponent 65539
/// (what whoever holds the first key can make: its factors give the private exponent for
/// any public one), computed by Python's integers and written by `openssl asn1parse`.
fn same_modulus_other_exponent(sb: &Sandbox, from: &str, to: &str) {
    let text = openssl_ok(sb.path(), &["rsa", "-in", from, "-noout", "-text"]);
    let script = r#"
import math, re, subprocess, sys
text, out = sys.stdin.read(), sys.argv[1]
def field(name):
    found = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return int(re.sub(r"[\s:]", "", found.group(1)), 16)
n, p, q, e = field("modulus"), field("prime1"), field("prime2"), 65539
d = pow(e, -1, (p - 1) * (q - 1) // math.gcd(p - 1, q - 1))
values = [0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)]
conf = "asn1=SEQUENCE:k\n[k]\n" + "".join(f"f{i}=INTEGER:{hex(v)}\n" for i, v in enumerate(values))
open(out + ".conf", "w").write(conf)
subprocess.run(["openssl", "asn1parse", "-genconf", out + ".conf", "-out", out + ".der", "-noout"], check=True)
subprocess.run(["openssl", "rsa", "-inform", "DER", "-in", out + ".der", "-out", out], check=True, capture_output=True)
"#;
    let mut python = std::process::Command::new("python3")
        .current_dir(sb.path())
        .args(["-c", script, to])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(python.wait().unwrap().success());
    openssl_ok(sb.path(), &["rsa", "-in", to, "-noout", "-check"]);
    let modulus = |file: &str| openssl_ok(sb.path(), &["rsa", "-in", file, "-noout", "-modulus"]);
    assert_eq!(modulus(from), modulus(to));
}

/// An RSA key is its modulus: one revoked for keyCompromise, or the root's, is refused again
/// when a request brings it with another public exponent (whoever holds the key can make
/// it), and the note at the revocation finds the certificates with that modulus.
#[test]
fn an_rsa_key_is_refused_whatever_its_exponent() {
    let sb = Sandbox::new();
    sb.ok(&["init", "--key", "rsa-2048"]);
    sb.ok(&["issue", "a.example.com", "--key", "rsa-2048"]);
    same_modulus_other_exponent(&sb, "a.example.com.key", "a65539.key");
    let root_key = sb.data().join("root.key");
    same_modulus_other_exponent(&sb, root_key.to_str().unwrap(), "root65539.key");
    let request = |key: &str, file: &str| request_for_key(sb.path(), key, "a.example.com", file);
    let other = request("a65539.key", "other.csr");
    let roots = request("root65539.key", "root.csr");
    let said = sb.refused(&["sign", &roots, "--out", "x.crt"]);
    assert!(
        said.contains("request 2 is refused") && said.contains("its key is the root's own"),
        "{said}"
    );
    // The same modulus renewed with another exponent: one key, so the note names it.
    sb.ok(&["sign", &other, "--renews", "1", "--out", "other.crt"]);
    let said = sb.ok(&["revoke", "3", "--reason", "keyCompromise"]);
    assert!(
        said.contains("Note: the same key is in certificate 1, still valid: revoke it too"),
        "{said}"
    );
    let again = request("a65539.key", "again.csr");
    let rows = sb.row_count();
    let said = sb.refused(&["sign", &again, "--out", "x.crt"]);
    assert!(
        said.contains(
            "its key is that of certificate 3, which was revoked because its key was compromised"
        ),
        "{said}"
    );
    assert!(!sb.file("x.crt").exists());
    // Recorded as a denied request, never issued.
    assert_eq!(sb.row_count(), rows + 1);
    assert!(
        sb.ok(&["show", &rows.saturating_add(1).to_string()])
            .contains("denied")
    );
}

#[test]
fn a_revoked_certificate_fails_crl_checks_with_its_reason() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["crl", "--format", "pem", "--out", "before.pem"]);
    let (ok, text) = crl_verify(&sb, "before.pem", "mail.example.com.crt");
    assert!(ok, "{text}");

    // cACompromise is a CA's reason (BR §7.2.2), refused for a server's certificate, which
    // stays valid.
    let refused = sb.refused(&["revoke", "1", "--reason", "cACompromise"]);
    assert!(
        refused.contains("the reason for revoking a CA's certificate"),
        "{refused}"
    );
    assert!(sb.ok(&["show", "1"]).contains("(valid)"));
    let out = sb.ok(&["revoke", "1", "--reason", "keyCompromise"]);
    assert!(out.contains("Revoked certificate 1"), "{out}");
    let twice = sb.refused(&["revoke", "1"]);
    assert!(twice.contains("already revoked"), "{twice}");
    sb.refused(&["revoke", "1", "--reason", "bogus"]);
    sb.refused(&["revoke", "99"]);

    sb.ok(&["crl", "--format", "pem", "--out", "after.pem"]);
    let (ok, text) = crl_verify(&sb, "after.pem", "mail.example.com.crt");
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    let crl = openssl_ok(sb.path(), &["crl", "-in", "after.pem", "-noout", "-text"]);
    assert!(crl.contains("Key Compromise"), "{crl}");
    let serial = openssl_ok(
        sb.path(),
        &["x509", "-in", "mail.example.com.crt", "-noout", "-serial"],
    );
    assert!(
        crl.to_ascii_uppercase()
            .contains(serial.trim().strip_prefix("serial=").unwrap()),
        "{crl}"
    );
    assert!(crl_number(&sb, "after.pem") > crl_number(&sb, "before.pem"));
    assert!(crl.contains("Next Update:"), "{crl}");
    let root = sb.data().join("root.crt");
    let root_text = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            root.to_str().unwrap(),
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
        ],
    );
    let ski = root_text.lines().nth(1).unwrap().trim().to_owned();
    assert!(crl.contains(&ski), "the CRL's AKI is the root's SKI: {crl}");
    let verified = openssl(
        sb.path(),
        &[
            "crl",
            "-in",
            "after.pem",
            "-CAfile",
            root.to_str().unwrap(),
            "-noout",
        ],
    );
    assert!(String::from_utf8_lossy(&verified.stderr).contains("verify OK"));

    // DER too, and the log and list agree.
    sb.ok(&["crl", "--out", "after.crl"]);
    openssl_ok(
        sb.path(),
        &["crl", "-inform", "DER", "-in", "after.crl", "-noout"],
    );
    let row: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revocation_reason"], "keyCompromise");
    let revoked: Value =
        serde_json::from_str(&sb.ok(&["list", "--status", "revoked", "--json"])).unwrap();
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    // Its disposition is AD CS's for a revoked row, in the list and in `ca show`.
    assert_eq!(row["disposition"], "Revoked");
    assert_eq!(revoked[0]["disposition"], "Revoked");
    assert!(
        sb.ok(&["show", "1"]).contains("  disposition  Revoked\n"),
        "{}",
        sb.ok(&["show", "1"])
    );
    // The list says when and why, as AD CS's view of revoked certificates does.
    let listed = sb.ok(&["list", "--status", "revoked"]);
    let at = &row["revoked_at"].as_str().unwrap()[..16].replace('T', " ");
    assert!(
        listed.contains(&format!("(revoked {at} UTC for keyCompromise)")),
        "{listed}"
    );
    sb.refused(&["crl", "--format", "txt"]);
}

/// The CRL's lifetime is the setting's, counted from when it is signed; its thisUpdate is an
/// hour before that, as certificates' notBefore and OCSP answers' thisUpdate are, so that a
/// client whose clock is slow does not find a new CRL not yet valid.
#[test]
fn crl_lifetime_is_configurable() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["config", "set", "crl-days", "2"]);
    let signed = time::OffsetDateTime::now_utc();
    sb.refused(&["config", "set", "crl-days", "0"]);
    sb.refused(&["config", "set", "colour", "blue"]);
    sb.ok(&["crl", "--format", "pem", "--out", "c.pem"]);
    let text = openssl_ok(
        sb.path(),
        &[
            "crl",
            "-in",
            "c.pem",
            "-noout",
            "-lastupdate",
            "-nextupdate",
        ],
    );
    let date = |prefix: &str| {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        let value = line.split_once('=').unwrap().1.trim().to_owned();
        let format = time::macros::format_description!(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
        );
        time::PrimitiveDateTime::parse(&value, &format).unwrap()
    };
    let after = time::OffsetDateTime::now_utc();
    let at = |prefix: &str| date(prefix).assume_utc();
    let second = time::Duration::seconds(1);
    let hour = time::Duration::hours(1);
    assert!(
        at("lastUpdate") >= signed - hour - second && at("lastUpdate") <= after - hour,
        "lastUpdate {} for a CRL signed between {signed} and {after}",
        at("lastUpdate")
    );
    let two_days = time::Duration::days(2);
    assert!(
        at("nextUpdate") >= signed + two_days - second && at("nextUpdate") <= after + two_days,
        "nextUpdate {}",
        at("nextUpdate")
    );
}

#[test]
fn distribution_point_in_new_certificates_serves_a_crl_that_verifies() {
    let sb = Sandbox::new();
    sb.refused(&["init", "--url", "ftp://mail.example.com"]);
    // A password in the URL would be in every certificate: refused, and not repeated; so is
    // a port that cannot be.
    let refusal = sb.refused(&["init", "--url", "http://admin:s3cret@mail.example.com"]);
    assert!(
        refusal.contains("user name or password") && !refusal.contains("s3cret"),
        "{refusal}"
    );
    sb.refused(&["init", "--url", "http://mail.example.com:99999"]);
    assert!(!sb.data().join("root.crt").exists());
    let server = Server::start(&sb);
    // The server's own port is the public URL here.
    sb.ok(&["config", "set", "url", &format!("{}/", server.http)]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let ext = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "mail.example.com.crt",
            "-noout",
            "-ext",
            "crlDistributionPoints,authorityInfoAccess",
        ],
    );
    let cdp = format!("{}/certsrv/ca.crl", server.http);
    let aia = format!("{}/certsrv/ca.cer", server.http);
    assert!(ext.contains(&format!("URI:{cdp}")), "{ext}");
    assert!(ext.contains(&format!("CA Issuers - URI:{aia}")), "{ext}");

    let fetch = |url: &str| {
        reqwest::blocking::get(url)
            .unwrap()
            .bytes()
            .unwrap()
            .to_vec()
    };
    std::fs::write(sb.file("cdp.crl"), fetch(&cdp)).unwrap();
    let root = sb.data().join("root.crt");
    assert_crl_verifies(sb.path(), "cdp.crl", &root);
    sb.ok(&["root", "--format", "der", "--out", "root.cer"]);
    assert_eq!(fetch(&aia), std::fs::read(sb.file("root.cer")).unwrap());
    openssl_ok(
        sb.path(),
        &["crl", "-inform", "DER", "-in", "cdp.crl", "-out", "cdp.pem"],
    );
    let (ok, text) = crl_verify(&sb, "cdp.pem", "mail.example.com.crt");
    assert!(ok, "{text}");

    // A revocation by another process shows in the server's next answer.
    let id = serde_json::from_str::<Value>(&sb.ok(&["list", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    sb.ok(&["revoke", &id.to_string(), "--reason", "superseded"]);
    std::fs::write(sb.file("cdp2.crl"), fetch(&cdp)).unwrap();
    openssl_ok(
        sb.path(),
        &[
            "crl", "-inform", "DER", "-in", "cdp2.crl", "-out", "cdp2.pem",
        ],
    );
    let (ok, text) = crl_verify(&sb, "cdp2.pem", "mail.example.com.crt");
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // An admin revokes from the certificate's page.
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let www = id + 1;
    let web = client(&sb);
    let answer = web
        .post(format!("{}/certsrv/admin/revoke", server.https()))
        .basic_auth("admin", Some(server.admin_password.as_str()))
        .form(&[
            ("id", www.to_string()),
            ("reason", "cessationOfOperation".to_owned()),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::SEE_OTHER);
    let row: Value = serde_json::from_str(&sb.ok(&["show", &www.to_string(), "--json"])).unwrap();
    assert_eq!(row["revocation_reason"], "cessationOfOperation");

    // The running server issues with the URL set after it started.
    let pfx = web
        .post(format!("{}/certsrv/certrqma.asp", server.https()))
        .basic_auth("admin", Some(server.admin_password.as_str()))
        .form(&[
            ("names", "owa.example.com"),
            ("key", "ecdsa-p256"),
            ("password", "pfx secret"),
        ])
        .send()
        .unwrap();
    assert_eq!(pfx.status(), reqwest::StatusCode::OK);
    std::fs::write(sb.file("owa.pfx"), pfx.bytes().unwrap()).unwrap();
    std::fs::write(sb.file("pw"), "pfx secret").unwrap();
    openssl_ok(
        sb.path(),
        &[
            "pkcs12", "-in", "owa.pfx", "-passin", "file:pw", "-nokeys", "-clcerts", "-out",
            "owa.pem",
        ],
    );
    let ext = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "owa.pem",
            "-noout",
            "-ext",
            "crlDistributionPoints",
        ],
    );
    assert!(ext.contains(&format!("URI:{cdp}")), "{ext}");
}

#[test]
fn renew_makes_a_new_key_and_serial_for_the_same_names_linked_to_the_old() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "mail.example.com",
        "192.0.2.10",
        "--key",
        "ecdsa-p384",
        "--days",
        "90",
    ]);
    std::fs::create_dir(sb.file("renewed")).unwrap();
    let out = sb.ok(&["renew", "1", "--out", "renewed"]);
    assert!(out.contains("It renews certificate 1"), "{out}");
    let old: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    let new: Value = serde_json::from_str(&sb.ok(&["show", "2", "--json"])).unwrap();
    assert_eq!(new["names"], old["names"]);
    assert_eq!(new["key_algorithm"], "ecdsa-p384");
    assert_ne!(new["serial"], old["serial"]);
    assert_eq!(new["renewed_from"], 1);
    assert_eq!(new["source"], "renewal");
    // The text says both ends of the link, as --json does.
    let shown = sb.ok(&["show", "1"]);
    assert!(shown.contains("renewed by   2"), "{shown}");
    assert!(sb.ok(&["show", "2"]).contains("renews       1"));
    let old_key = openssl_ok(
        sb.path(),
        &["pkey", "-in", "mail.example.com.key", "-pubout"],
    );
    let new_key = openssl_ok(
        sb.path(),
        &["pkey", "-in", "renewed/mail.example.com.key", "-pubout"],
    );
    assert_ne!(old_key, new_key, "a new key");
    crate::util::assert_verifies_strictly(&sb, "renewed/mail.example.com.crt");
    let text = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "renewed/mail.example.com.crt",
            "-noout",
            "-dates",
        ],
    );
    assert!(text.contains("notAfter"), "{text}");
    // Renewed already: said first, before the files in the way; nothing changed.
    let refused = sb.refused(&["renew", "1"]);
    assert!(
        refused.contains("renewed already, as certificate 2"),
        "{refused}"
    );
    // The renewal renewed into the folder of the first files, without --force: refused.
    let refused = sb.refused(&["renew", "2"]);
    assert!(refused.contains("already exists"), "{refused}");
    assert_eq!(sb.row_count(), 2);
    sb.refused(&["renew", "42"]);
    // As long as the old one (90 days), unless --days says otherwise; checked as ca issue
    // checks it, before anything is made.
    let length = |id: &str| {
        let row: Value = serde_json::from_str(&sb.ok(&["show", id, "--json"])).unwrap();
        let at = |field: &str| {
            time::OffsetDateTime::parse(
                row[field].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        (at("not_after") - at("not_before")).whole_days()
    };
    assert_eq!(length("2"), 90);
    let refused = sb.refused(&["renew", "2", "--days", "900", "--force"]);
    assert!(refused.contains("825"), "{refused}");
    assert_eq!(sb.row_count(), 2);
    sb.ok(&["renew", "2", "--days", "30", "--force"]);
    assert_eq!(length("3"), 30);
}

/// A CRL longer than one part of the log (64 KiB, ~1,600 entries) is stored in
/// parts and written out whole by the command line: openssl reads every entry and verifies the
/// signature, and DER, PEM and standard output carry the same CRL.
#[test]
fn a_crl_of_thousands_of_entries_is_written_out_whole_and_verifies() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "fill.example.com"]);
    // Thousands of revoked copies of that certificate, added by hand as the log would hold them.
    let last: i64 = sb
        .alter_log("SELECT MAX(request_id) FROM certificates")
        .parse()
        .unwrap();
    let copies = 3000;
    // Hex of the columns' lengths (32 and 64 digits), each copy's own.
    let (serial, sha256) = (
        "7f".repeat(27)[..27].to_owned(),
        "ee".repeat(30)[..59].to_owned(),
    );
    let numbers = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies})"
    );
    sb.alter_log(&format!(
        "{numbers} INSERT INTO requests (id, created_at, requester, source, names, status, disposition)
         SELECT {last} + n.i, r.created_at, r.requester, r.source, r.names, r.status, r.disposition
         FROM n, requests r WHERE r.id = {last}"
    ));
    sb.alter_log(&format!(
        "{numbers} INSERT INTO certificates (request_id, serial, names, not_before, not_after, key_algorithm, sha256, der)
         SELECT {last} + n.i, '{serial}' || (10000 + n.i), c.names, c.not_before, c.not_after, c.key_algorithm,
             '{sha256}' || (10000 + n.i), c.der
         FROM n, certificates c WHERE c.request_id = {last}"
    ));
    sb.alter_log(&format!(
        "{numbers} INSERT INTO revocations (request_id, revoked_at, reason)
         SELECT {last} + n.i, c.not_before, 'keyCompromise' FROM n, certificates c WHERE c.request_id = {last}"
    ));

    sb.ok(&["crl", "--new", "--out", "big.crl"]);
    let der = std::fs::read(sb.file("big.crl")).unwrap();
    assert!(der.len() > 64 * 1024 * 3 / 2, "{} octets", der.len());
    let root = sb.data().join("root.crt");
    assert_crl_verifies(sb.path(), "big.crl", &root);
    let text = openssl_ok(
        sb.path(),
        &["crl", "-inform", "DER", "-in", "big.crl", "-noout", "-text"],
    );
    assert_eq!(text.matches("Serial Number:").count(), copies);

    sb.ok(&["crl", "--format", "pem", "--out", "big.pem"]);
    openssl_ok(
        sb.path(),
        &[
            "crl", "-in", "big.pem", "-outform", "DER", "-out", "back.der",
        ],
    );
    assert_eq!(std::fs::read(sb.file("back.der")).unwrap(), der);
    let printed = sb.ok(&["crl", "--format", "pem"]);
    assert_eq!(
        printed,
        std::fs::read_to_string(sb.file("big.pem")).unwrap()
    );

    // A part of it removed from the log by hand: `ca check` says so, and a new CRL mends it.
    // (It also names every copy made above, whose serial and fingerprint columns are not
    // their certificate's.)
    let crl_problem = |sb: &Sandbox| {
        let out = sb.run(&["check"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("certificate {}", last + 1)),
            "{stderr}"
        );
        stderr.contains("the CRL kept in the log")
    };
    assert!(!crl_problem(&sb));
    sb.alter_log("DELETE FROM crl_parts WHERE part = 1");
    assert!(crl_problem(&sb));
    sb.ok(&["crl", "--new", "--out", "mended.crl"]);
    assert!(!crl_problem(&sb));

    // A folder is refused before anything is written, and nothing is left behind.
    let before = sb.files();
    let refused = sb.refused(&["crl", "--out", "."]);
    assert!(refused.contains("is a folder"), "{refused}");
    assert_eq!(sb.files(), before);
}

#[test]
fn a_certificate_is_renewed_once_even_when_asked_at_once() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let server = Server::start(&sb);
    let admin = server.admin_password.clone();
    let base = server.https();
    // Eight renewals at once from the admin pages (a double-click, two admins): one PFX;
    // the others are refused with 409 and say which certificate renewed it.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let answers: Vec<(reqwest::StatusCode, Vec<u8>)> = (0..8)
        .map(|_| {
            let (barrier, web, admin, base) =
                (barrier.clone(), client(&sb), admin.clone(), base.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let answer = web
                    .post(format!("{base}/certsrv/admin/renew"))
                    .basic_auth("admin", Some(admin))
                    .form(&[
                        ("id", "1"),
                        ("password", "a pfx password"),
                        ("profile", "modern"),
                    ])
                    .send()
                    .unwrap();
                (answer.status(), answer.bytes().unwrap().to_vec())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let renewals: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["renewed_from"] == 1)
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    assert_eq!(renewals.len(), 1, "{rows:#}");
    let renewal = renewals[0];
    let refusal = format!(
        "certificate 1 was renewed already, as certificate {renewal}: renew certificate {renewal} instead"
    );
    for (status, body) in &answers {
        if *status != reqwest::StatusCode::OK {
            let body = String::from_utf8_lossy(body);
            assert_eq!(*status, reqwest::StatusCode::CONFLICT, "{body}");
            assert!(body.contains(&refusal), "{body}");
        }
    }
    // The certificate page says so and offers no second renewal.
    let page = client(&sb)
        .get(format!("{base}/certsrv/cert/1"))
        .basic_auth("admin", Some(&admin))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(&format!(
            "<dt>Renewed by</dt><dd><a href=\"/certsrv/cert/{renewal}\">certificate {renewal}</a>"
        )),
        "{page}"
    );
    assert!(!page.contains("action=\"/certsrv/admin/renew\""), "{page}");
    drop(server);
    // The audit trail says what the renewal renewed.
    let audit = sb.ok(&["audit"]);
    assert!(audit.contains(", renewing certificate 1"), "{audit}");
    // The command line is refused the same way and writes nothing; the renewal renews.
    std::fs::create_dir(sb.file("again")).unwrap();
    let stderr = sb.refused(&["renew", "1", "--out", "again"]);
    assert!(stderr.contains(&refusal), "{stderr}");
    assert_eq!(std::fs::read_dir(sb.file("again")).unwrap().count(), 0);
    sb.ok(&["renew", &renewal.to_string(), "--out", "again"]);
}
