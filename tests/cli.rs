//! The command line of DESIGN §5, checked with `openssl`.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::Value;

use crate::util::{Sandbox, extension, extension_names, openssl, openssl_ok, x509_text};

/// Checks a leaf against DESIGN §3 with `openssl`: it verifies under the root with
/// `-x509_strict`, and carries exactly the listed extensions with the right criticality.
fn assert_server_certificate(sb: &Sandbox, leaf: &str, rsa: bool) {
    crate::util::assert_verifies_strictly(sb, leaf);

    let text = x509_text(sb.path(), leaf);
    let mut names = extension_names(&text);
    names.sort();
    assert_eq!(
        names,
        [
            "Authority Key Identifier",
            "Basic Constraints",
            "Extended Key Usage",
            "Key Usage",
            "Subject Alternative Name",
            "Subject Key Identifier",
        ],
        "{text}"
    );
    assert_eq!(
        extension(&text, "X509v3 Basic Constraints:"),
        Some((true, "CA:FALSE".into()))
    );
    let usage = if rsa {
        "Digital Signature, Key Encipherment"
    } else {
        "Digital Signature"
    };
    assert_eq!(
        extension(&text, "X509v3 Key Usage:"),
        Some((true, usage.into()))
    );
    assert_eq!(
        extension(&text, "X509v3 Extended Key Usage:"),
        Some((false, "TLS Web Server Authentication".into()))
    );
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption")
            || text.contains("ecdsa-with-SHA")
    );

    // AKI of the leaf = SKI of the root.
    let root = sb.data().join("root.crt");
    let root_text = x509_text(sb.path(), root.to_str().unwrap());
    let (_, root_ski) = extension(&root_text, "X509v3 Subject Key Identifier:").unwrap();
    let (aki_critical, aki) = extension(&text, "X509v3 Authority Key Identifier:").unwrap();
    assert!(!aki_critical);
    assert_eq!(aki.trim_start_matches("keyid:"), root_ski);

    // Serial: positive, at least 8 and at most 20 octets.
    let serial = openssl_ok(sb.path(), &["x509", "-in", leaf, "-noout", "-serial"]);
    let hex = serial.trim().strip_prefix("serial=").unwrap();
    assert!(
        hex.len().is_multiple_of(2) && hex.len() / 2 >= 8 && hex.len() / 2 <= 20,
        "{hex}"
    );
    assert!(
        u8::from_str_radix(&hex[..2], 16).unwrap() < 0x80,
        "positive: {hex}"
    );
}

fn assert_root(sb: &Sandbox) {
    let text = x509_text(sb.path(), sb.data().join("root.crt").to_str().unwrap());
    assert_eq!(
        extension(&text, "X509v3 Basic Constraints:"),
        Some((true, "CA:TRUE".into()))
    );
    assert_eq!(
        extension(&text, "X509v3 Key Usage:"),
        Some((true, "Certificate Sign, CRL Sign".into()))
    );
    assert!(extension(&text, "X509v3 Subject Key Identifier:").is_some());
    assert!(text.contains("Subject: CN = "), "the root has a CN: {text}");
}

#[test]
fn issues_rsa_leaf_under_default_rsa_root_that_openssl_verifies() {
    let sb = Sandbox::new();
    // No CA yet: `ca issue` never makes a root by accident (a typo in --data would issue
    // certificates no client trusts); it names the folder and how to make one.
    let stderr = sb.refused(&["issue", "mail.example.com"]);
    assert!(
        stderr.contains(&format!("there is no CA in {}", sb.data().display()))
            && stderr.contains(&format!("`{} init`", sb.said()))
            && stderr.contains("--data"),
        "{stderr}"
    );
    assert!(!sb.data().exists(), "nothing was created");
    assert_eq!(sb.files(), Vec::<String>::new());
    sb.ok(&["init", "--name", "example.com Root CA"]);
    sb.ok(&["issue", "mail.example.com"]);
    assert_root(&sb);
    let root_text = x509_text(sb.path(), sb.data().join("root.crt").to_str().unwrap());
    assert!(
        root_text.contains("Public-Key: (3072 bit)"),
        "RSA-3072 root by default"
    );
    assert!(root_text.contains("Subject: CN = example.com Root CA"));
    assert_server_certificate(&sb, "mail.example.com.crt", true);
    let leaf_text = x509_text(sb.path(), "mail.example.com.crt");
    assert!(
        leaf_text.contains("Public-Key: (2048 bit)"),
        "RSA-2048 leaf by default"
    );
}

#[test]
fn issues_ecdsa_leaf_under_ecdsa_root() {
    for (root_key, leaf_key, curve) in [
        ("ecdsa-p256", "ecdsa-p256", "prime256v1"),
        ("ecdsa-p384", "ecdsa-p384", "secp384r1"),
    ] {
        let sb = Sandbox::new();
        sb.ok(&["init", "--key", root_key, "--name", "Example Root CA"]);
        assert_root(&sb);
        sb.ok(&["issue", "mail.example.com", "--key", leaf_key]);
        assert_server_certificate(&sb, "mail.example.com.crt", false);
        let text = x509_text(sb.path(), "mail.example.com.crt");
        assert!(text.contains(curve), "{text}");
        // The key file is the leaf's key.
        let key_pub = openssl_ok(
            sb.path(),
            &["pkey", "-in", "mail.example.com.key", "-pubout"],
        );
        let cert_pub = openssl_ok(
            sb.path(),
            &["x509", "-in", "mail.example.com.crt", "-noout", "-pubkey"],
        );
        assert_eq!(key_pub, cert_pub);
    }
}

#[test]
fn issues_rsa_leaf_under_ecdsa_root_and_ecdsa_leaf_under_rsa_root() {
    let sb = Sandbox::new();
    sb.ok(&["init", "--key", "rsa2048"]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    assert_server_certificate(&sb, "a.example.com.crt", false);
    sb.ok(&["issue", "b.example.com", "--key", "rsa3072"]);
    assert_server_certificate(&sb, "b.example.com.crt", true);
    assert!(x509_text(sb.path(), "b.example.com.crt").contains("(3072 bit)"));
}

#[test]
fn normalises_names_and_puts_ips_in_ip_address_entries() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "Mail.Example.COM.",
        "192.0.2.10",
        "--key",
        "ecdsa-p256",
    ]);
    let text = x509_text(sb.path(), "mail.example.com.crt");
    assert_eq!(
        extension(&text, "X509v3 Subject Alternative Name:"),
        Some((false, "DNS:mail.example.com, IP Address:192.0.2.10".into()))
    );
    assert!(text.contains("Subject: CN = mail.example.com\n"), "{text}");
    assert_server_certificate(&sb, "mail.example.com.crt", false);
}

#[test]
fn writes_idna_a_label_for_unicode_names() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "bücher.example", "--key", "ecdsa-p256"]);
    let text = x509_text(sb.path(), "xn--bcher-kva.example.crt");
    assert_eq!(
        extension(&text, "X509v3 Subject Alternative Name:"),
        Some((false, "DNS:xn--bcher-kva.example".into()))
    );
    assert_server_certificate(&sb, "xn--bcher-kva.example.crt", false);
    // The note on the certificate that already holds the name shows it as every line does.
    let out = sb.run(&["issue", "bücher.example", "--key", "ecdsa-p256", "--force"]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("certificate 1 for bücher.example is still valid"),
        "{said}"
    );
}

#[test]
fn writes_wildcard_files_under_a_safe_name() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "*.example.com", "--key", "ecdsa-p256"]);
    assert_eq!(
        sb.files(),
        [
            "_wildcard.example.com-chain.pem",
            "_wildcard.example.com.crt",
            "_wildcard.example.com.key"
        ]
    );
    let text = x509_text(sb.path(), "_wildcard.example.com.crt");
    assert!(text.contains("DNS:*.example.com"));
    assert_server_certificate(&sb, "_wildcard.example.com.crt", false);
}

#[test]
fn writes_key_with_mode_0600_and_a_chain_of_leaf_then_root() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let mode = std::fs::metadata(sb.file("mail.example.com.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(sb.file("mail.example.com.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    let chain = std::fs::read_to_string(sb.file("mail.example.com-chain.pem")).unwrap();
    let leaf = std::fs::read_to_string(sb.file("mail.example.com.crt")).unwrap();
    let root = std::fs::read_to_string(sb.data().join("root.crt")).unwrap();
    assert_eq!(chain, format!("{leaf}{root}"));
}

#[test]
fn refuses_each_bad_name_with_its_rule_and_leaves_nothing_behind() {
    let cases: &[(&str, &str)] = &[
        ("*.com", "at least two labels"),
        ("*.co.uk", "co.uk is a public suffix"),
        ("mail.*.example.com", "leftmost label"),
        ("m*.example.com", "leftmost label"),
        ("mail_1.example.com", "'_' is not allowed"),
        ("a..b.com", "empty label"),
        ("-a.example.com", "hyphen"),
        ("MAIL", "clients outside the LAN cannot reach"),
        ("srv01.corp.local", "clients outside the LAN cannot reach"),
        ("nas.lan", "clients outside the LAN cannot reach"),
        ("host.internal", "clients outside the LAN cannot reach"),
        ("printer.home.arpa", "clients outside the LAN cannot reach"),
    ];
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_name = format!("{0}.{0}.{0}.{0}.example.com", "a".repeat(60));
    let mut all: Vec<(String, &str)> = cases.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect();
    all.push((long_label, "63 octets"));
    all.push((long_name, "253 octets"));

    let sb = Sandbox::new();
    sb.init(&[]);
    for (name, rule) in &all {
        // `--` lets a name start with a hyphen, as with any command-line tool.
        let stderr = sb.refused(&["issue", "--key", "ecdsa-p256", "--", name]);
        assert!(
            stderr.contains(&format!("'{}'", name.to_ascii_lowercase()))
                || stderr.contains(&format!("'{name}'")),
            "names the name: {stderr}"
        );
        assert!(
            stderr.contains(rule),
            "{name}: states the rule '{rule}': {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    }
    assert!(sb.files().is_empty(), "no file written: {:?}", sb.files());
    assert_eq!(sb.row_count(), 0, "no row written");

    // A refusal on an empty data folder does not create a CA either.
    let fresh = Sandbox::new();
    fresh.refused(&["issue", "*.com"]);
    assert!(!fresh.data().join("root.crt").exists());
}

#[test]
fn internal_names_are_issued_with_allow_internal() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "srv01.corp.local",
        "MAIL",
        "--allow-internal",
        "--key",
        "ecdsa-p256",
    ]);
    let text = x509_text(sb.path(), "srv01.corp.local.crt");
    assert!(text.contains("DNS:srv01.corp.local, DNS:mail"), "{text}");
}

#[test]
fn refuses_more_than_825_days_with_the_reason() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let stderr = sb.refused(&["issue", "mail.example.com", "--days", "900"]);
    assert!(
        stderr.contains("825") && stderr.contains("Apple"),
        "{stderr}"
    );
    assert!(sb.files().is_empty());
    assert_eq!(sb.row_count(), 0);
    // What is no number of days is said in words, not as clap's range of a u32, and a
    // negative number is read as one, not as an option.
    for (days, said) in [
        (vec!["--days=-5"], "1 day or more"),
        (vec!["--days", "-5"], "1 day or more"),
        (vec!["--days", "0"], "1 day or more"),
        (vec!["--days", "ninety"], "a whole number"),
        (vec!["--days", "99999999999"], "longer than any certificate"),
    ] {
        let mut args = vec!["issue", "mail.example.com"];
        args.extend(&days);
        let stderr = sb.refused(&args);
        assert!(
            stderr.contains(said) && !stderr.contains("4294967295") && !stderr.contains("-- -5"),
            "{days:?}: {stderr}"
        );
    }
    // Said first, before anything about where the files would go, by `ca sign` too.
    let stderr = sb.refused(&[
        "issue",
        "mail.example.com",
        "--days",
        "900",
        "--out",
        "nowhere",
    ]);
    assert!(
        stderr.contains("825") && !stderr.contains("nowhere"),
        "{stderr}"
    );
    crate::util::csr(&sb, "r.csr", "mail.example.com");
    let stderr = sb.refused(&["sign", "r.csr", "--days", "900", "--out", "nowhere/r.crt"]);
    assert!(
        stderr.contains("825") && !stderr.contains("nowhere"),
        "{stderr}"
    );
    std::fs::remove_file(sb.file("r.csr")).unwrap();
    std::fs::remove_file(sb.file("r.csr.key")).unwrap();
    // 825 itself is fine, and the dates say so.
    sb.ok(&[
        "issue",
        "mail.example.com",
        "--days",
        "825",
        "--key",
        "ecdsa-p256",
    ]);
    let row: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    let nb = time::OffsetDateTime::parse(
        row["not_before"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let na = time::OffsetDateTime::parse(
        row["not_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((na - nb).whole_days(), 825);
    assert!(
        nb < time::OffsetDateTime::now_utc() - time::Duration::minutes(30),
        "notBefore is backdated"
    );
}

#[test]
fn name_constraints_limit_what_the_root_vouches_for() {
    let sb = Sandbox::new();
    sb.init(&["--permit", "example.com"]);
    let root_text = x509_text(sb.path(), sb.data().join("root.crt").to_str().unwrap());
    assert!(
        root_text.contains("X509v3 Name Constraints: critical"),
        "{root_text}"
    );
    assert!(root_text.contains("DNS:example.com"));
    let stderr = sb.refused(&["issue", "mail.example.org"]);
    assert!(
        stderr.contains("'mail.example.org'") && stderr.contains("permit only example.com"),
        "{stderr}"
    );
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    assert_server_certificate(&sb, "mail.example.com.crt", false);
}

#[test]
fn refuses_addresses_no_client_connects_to() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for address in ["255.255.255.255", "0.0.0.0", "240.1.2.3", "ff02::1"] {
        let stderr = sb.refused(&["issue", address, "--key", "ecdsa-p256"]);
        assert!(stderr.contains("no client connects"), "{address}: {stderr}");
    }
    // A request naming one is refused the same way, before anything is issued.
    let csr = crate::util::openssl_request(
        sb.path(),
        "r.csr",
        "ec",
        "/CN=mail.example.com",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=DNS:mail.example.com,IP:255.255.255.255",
        ],
    );
    let stderr = sb.refused(&["sign", &csr]);
    assert!(
        stderr.contains("no client connects") && stderr.contains("recorded in the log as denied"),
        "{stderr}"
    );
    let listed: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let statuses: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["status"])
        .collect();
    assert_eq!(statuses, ["denied"], "nothing issued: {listed}");
    // --ip takes one address: a range or a host name is said to be none, as such.
    let range = sb.refused(&["issue", "a.example.com", "--ip", "192.0.2.7/24"]);
    assert!(
        range.contains("'192.0.2.7/24' is not an IP address: a certificate holds single addresses")
            && !range.contains("host name"),
        "{range}"
    );
    let name = sb.refused(&["issue", "a.example.com", "--ip", "b.example.com"]);
    assert!(
        name.contains("'b.example.com' is not an IP address; give DNS names without --ip"),
        "{name}"
    );
    let zeros = sb.refused(&["issue", "a.example.com", "--ip", "010.1.2.3"]);
    assert!(zeros.contains("leading zero"), "{zeros}");
    for (value, said) in [
        ("192.0.2.1:443", "is an address with a port"),
        ("[2001:db8::1]:443", "is an address with a port"),
        ("fe80::1%eth0", "leave out the zone"),
        ("10.0.0.1-10.0.0.5", "is not an IP address (as in 192.0.2.1"),
        ("1.2.3.4\u{1b}", "is not an IP address (as in"),
    ] {
        let refused = sb.refused(&["issue", "a.example.com", "--ip", value]);
        assert!(
            refused.contains(said) && !refused.contains("host name"),
            "{value}: {refused}"
        );
    }
    sb.ok(&["issue", "203.0.113.7", "--key", "ecdsa-p256"]);
}

#[test]
fn refuses_a_name_equal_to_the_roots_own() {
    let sb = Sandbox::new();
    sb.ok(&["init", "--key", "ecdsa-p256", "--name", "intranet"]);
    let stderr = sb.refused(&["issue", "intranet", "--allow-internal"]);
    assert!(stderr.contains("root's own name"), "{stderr}");
    let stderr = sb.refused(&["init", "--name", "mail.example.com"]);
    assert!(
        stderr.contains("looks like a host name") || stderr.contains("already exists"),
        "{stderr}"
    );
    let fresh = Sandbox::new();
    let stderr = fresh.refused(&["init", "--name", "mail.example.com"]);
    assert!(stderr.contains("looks like a host name"), "{stderr}");
    // A name that would clear a terminal, forge a line or read backwards is refused, and
    // quoted back inert.
    for name in [
        "Evil\u{1b}[2J Root",
        "Root\nFAKE LINE",
        "A\tB",
        "Root \u{202e}AC",
        "Root \u{61c}AC",
        "Ro\u{ad}ot",
        "Root\u{e0041}",
        "Root \u{3164}",
    ] {
        let stderr = fresh.refused(&["init", "--key", "ecdsa-p256", "--name", name]);
        assert!(stderr.contains("control character"), "{stderr}");
        assert!(
            !stderr.contains('\u{1b}')
                && !stderr.contains('\u{202e}')
                && !stderr.contains('\u{61c}')
                && !stderr.contains('\u{ad}')
                && !stderr.contains('\u{e0041}')
                && !stderr.contains('\u{3164}'),
            "{stderr:?}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert!(!fresh.data().join("root.crt").exists());
}

#[test]
fn refuses_to_overwrite_files_unless_forced() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let before = std::fs::read(sb.file("mail.example.com.key")).unwrap();
    let stderr = sb.refused(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(sb.file("mail.example.com.key")).unwrap(),
        before
    );
    assert_eq!(sb.row_count(), 1);
    sb.ok(&[
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--force",
    ]);
    assert_ne!(
        std::fs::read(sb.file("mail.example.com.key")).unwrap(),
        before
    );
    assert_eq!(sb.row_count(), 2);
}

/// A root named with a comma and quotes is one CN in `ca show`, escaped as RFC 4514 writes
/// it and openssl prints it, not a CN and an attribute of its own.
#[test]
fn show_writes_names_as_rfc_4514_escapes_them() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Contoso, Inc. \"Lab\"+Root CA"]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let shown: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    let issuer = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "mail.example.com.crt",
            "-noout",
            "-issuer",
            "-nameopt",
            "RFC2253",
        ],
    );
    assert_eq!(
        Some(shown["issuer"].as_str().unwrap()),
        issuer.trim().strip_prefix("issuer="),
    );
    assert_eq!(shown["issuer"], "CN=Contoso\\, Inc. \\\"Lab\\\"\\+Root CA");
    assert!(
        sb.ok(&["show", "1"])
            .contains("  issuer       CN=Contoso\\, Inc. \\\"Lab\\\"\\+Root CA\n")
    );
    // Outlook's principal name is the subject's CN: the first DNS name, never an address.
    sb.ok(&[
        "issue",
        "192.0.2.10",
        "web.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        ".",
        "--force",
    ]);
    let shown = sb.ok(&["show", "2"]);
    assert!(
        shown.contains("  subject      CN=web.example.com\n")
            && shown.contains("msstd:web.example.com\n")
            && !shown.contains("msstd:192"),
        "{shown}"
    );
}

#[test]
fn list_and_show_json_carry_the_documented_fields() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "mail.example.com",
        "192.0.2.10",
        "--key",
        "ecdsa-p256",
    ]);
    sb.ok(&[
        "issue",
        "www.example.com",
        "--key",
        "ecdsa-p256",
        "--days",
        "20",
    ]);
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        for field in [
            "id",
            "serial",
            "names",
            "not_before",
            "not_after",
            "status",
            "sha256",
        ] {
            assert!(!row[field].is_null(), "{field} in {row}");
        }
        assert_eq!(row["status"], "valid");
    }
    assert_eq!(
        rows[0]["names"],
        serde_json::json!(["mail.example.com", "192.0.2.10"])
    );

    // The fingerprint and serial are those openssl sees; the text of `ca show` gives the
    // SHA-1 thumbprint Windows names a certificate by (IIS, certutil,
    // Enable-ExchangeCertificate -Thumbprint), as openssl computes it.
    let fingerprint = |digest: &str| {
        let said = openssl_ok(
            sb.path(),
            &[
                "x509",
                "-in",
                "mail.example.com.crt",
                "-noout",
                "-fingerprint",
                digest,
            ],
        );
        said.trim().rsplit('=').next().unwrap().replace(':', "")
    };
    assert_eq!(
        rows[0]["sha256"],
        fingerprint("-sha256").to_ascii_lowercase().as_str()
    );
    let thumbprint = fingerprint("-sha1");
    assert_eq!(thumbprint.len(), 40, "{thumbprint}");
    let shown = sb.ok(&["show", "1"]);
    assert!(
        shown.contains(&format!(
            "  thumbprint   {thumbprint} (SHA-1, as Windows shows it)"
        )),
        "{shown}"
    );
    let serial = openssl_ok(
        sb.path(),
        &["x509", "-in", "mail.example.com.crt", "-noout", "-serial"],
    );
    let serial = serial
        .trim()
        .strip_prefix("serial=")
        .unwrap()
        .to_ascii_lowercase();
    assert_eq!(rows[0]["serial"], serial.as_str());

    // show by id and by serial (as openssl prints it, with colons) give the same object.
    let by_id: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    let with_colons: String = serial
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let by_serial: Value = serde_json::from_str(&sb.ok(&["show", &with_colons, "--json"])).unwrap();
    assert_eq!(by_id, by_serial);
    // What the list leaves out, `ca show` adds, as openssl reads the certificate: its subject
    // and issuer, key usage, purposes and SHA-1 thumbprint.
    let read = |what: &[&str]| {
        let mut args = vec!["x509", "-in", "mail.example.com.crt", "-noout"];
        args.extend_from_slice(what);
        openssl_ok(sb.path(), &args)
    };
    let subject = read(&["-subject", "-nameopt", "RFC2253"]);
    assert_eq!(
        Some(by_id["subject"].as_str().unwrap()),
        subject.trim().strip_prefix("subject=")
    );
    let issuer = read(&["-issuer", "-nameopt", "RFC2253"]);
    assert_eq!(
        Some(by_id["issuer"].as_str().unwrap()),
        issuer.trim().strip_prefix("issuer=")
    );
    let usage = read(&["-ext", "keyUsage"]);
    let words: Vec<&str> = by_id["key_usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bit| bit.as_str().unwrap())
        .collect();
    assert!(
        usage.contains("critical")
            && usage.lines().nth(1).map(str::trim) == Some(&words.join(", ")),
        "{usage} {words:?}"
    );
    let purposes = read(&["-ext", "extendedKeyUsage"]);
    assert_eq!(
        purposes.lines().nth(1).map(str::trim),
        Some("TLS Web Server Authentication")
    );
    assert_eq!(
        by_id["extended_key_usage"],
        serde_json::json!(["Server Authentication (1.3.6.1.5.5.7.3.1)"])
    );
    assert_eq!(by_id["thumbprint_sha1"], thumbprint.as_str());
    for line in [
        format!("  subject      {}", by_id["subject"].as_str().unwrap()),
        format!("  issuer       {}", by_id["issuer"].as_str().unwrap()),
        format!("  key usage    {} (critical)", words.join(", ")),
        "  purposes     Server Authentication (1.3.6.1.5.5.7.3.1)".to_owned(),
    ] {
        assert!(shown.contains(&format!("{line}\n")), "{line} in {shown}");
    }
    assert!(!shown.contains("  CA  "), "{shown}");
    let mut listed_fields = by_id.clone();
    for added in [
        "subject",
        "issuer",
        "key_usage",
        "extended_key_usage",
        "thumbprint_sha1",
    ] {
        listed_fields.as_object_mut().unwrap().remove(added);
    }
    assert_eq!(listed_fields, rows[0]);

    // Filters.
    let expiring: Value =
        serde_json::from_str(&sb.ok(&["list", "--expiring", "30", "--json"])).unwrap();
    assert_eq!(expiring.as_array().unwrap().len(), 1);
    assert_eq!(expiring[0]["names"][0], "www.example.com");
    let revoked: Value =
        serde_json::from_str(&sb.ok(&["list", "--status", "revoked", "--json"])).unwrap();
    assert!(revoked.as_array().unwrap().is_empty());
    sb.refused(&["list", "--status", "bogus"]);
    let stderr = sb.refused(&["show", "99"]);
    assert!(stderr.contains("not found"), "{stderr}");
    sb.refused(&["show", "not-a-serial"]);
}

#[test]
fn names_under_invalid_are_refused_even_for_the_lan() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for args in [
        &["issue", "mail.invalid", "--key", "ecdsa-p256"][..],
        &[
            "issue",
            "mail.invalid",
            "--key",
            "ecdsa-p256",
            "--allow-internal",
        ],
    ] {
        let said = sb.refused(args);
        assert!(said.contains("never resolve"), "{args:?}: {said}");
    }
    assert_eq!(sb.row_count(), 0);
    assert!(!sb.file("mail.invalid.key").exists());
}

#[test]
fn root_is_written_as_pem_or_der() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let pem = sb.ok(&["root"]);
    assert_eq!(
        pem,
        std::fs::read_to_string(sb.data().join("root.crt")).unwrap()
    );
    sb.ok(&["root", "--format", "der", "--out", "root.cer"]);
    let from_der = openssl_ok(sb.path(), &["x509", "-inform", "DER", "-in", "root.cer"]);
    assert_eq!(from_der, pem);
    sb.refused(&["root", "--format", "pfx"]);
    // PEM by default, but not into a file whose name says another format unless asked.
    for (out, said) in [
        ("root.der", "add --format der"),
        ("root.P7B", "add --format p7b"),
        ("root.pfx", "ca root writes no PFX"),
        (".p12", "ca root writes no PFX"),
    ] {
        let refused = sb.refused(&["root", "--out", out]);
        assert!(refused.contains(said), "{out}: {refused}");
        assert!(!sb.file(out).exists(), "{out}");
    }
    sb.ok(&["root", "--format", "pem", "--out", "asked.der"]);
    sb.ok(&["root", "--out", "root-b64.cer"]);
    assert_eq!(
        std::fs::read_to_string(sb.file("root-b64.cer")).unwrap(),
        pem
    );
}

#[test]
fn commands_on_an_empty_data_folder_say_to_run_init() {
    let sb = Sandbox::new();
    let stderr = sb.refused(&["list"]);
    assert!(
        stderr.contains(&format!("`{} init`", sb.said())),
        "{stderr}"
    );
    let out = sb.run(&["issue"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

/// bash, to run `command` as it runs a line pasted into it in `dir`: with this build of ca
/// first on the path, and no configuration file, data folder or passphrase from the machine.
fn pasted(command: &str, dir: &std::path::Path) -> std::process::Command {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ca"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = std::process::Command::new("bash");
    crate::util::isolate(&mut bash);
    bash.args(["-c", command])
        .env("PATH", path)
        .current_dir(dir)
        .stdin(Stdio::null());
    bash
}

/// The commands a message gives to run reach the CA the command that gave them did: they name
/// the data folder given with --data (as a shell word: pasted into bash, the advice makes the
/// CA there, whatever its name), and leave it out when $CA_DATA named it, as the shell that
/// runs them names it too.
#[test]
fn the_commands_messages_give_name_the_data_folder_given() {
    let sb = Sandbox::new();
    let folder = "a CA's $(touch PWNED)";
    let given = sb
        .ca_bare()
        .args(["--data", folder, "list"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&given.stderr);
    assert_eq!(given.status.code(), Some(2), "{said}");
    let command = said
        .split("run `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("a command to run: {said}"));
    assert_eq!(
        command, "ca --data 'a CA'\\''s $(touch PWNED)' init",
        "{said}"
    );
    // Pasted as it is.
    let mut bash = pasted(command, sb.path());
    sb.log_env(&mut bash);
    let pasted = bash.output().unwrap();
    assert!(
        pasted.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&pasted.stderr)
    );
    assert!(sb.file(folder).join("root.crt").exists());
    assert!(!sb.file("PWNED").exists() && !sb.data().exists());
    // Named by $CA_DATA instead: the same advice, bare.
    let named = sb
        .ca_bare()
        .env("CA_DATA", "another")
        .args(["list"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&named.stderr);
    assert!(said.contains("run `ca init` to create one there"), "{said}");
    // A database given on the command line is repeated whole, its options too (shown as ***
    // elsewhere): it holds no password, which is refused there.
    let url = "postgres://ca@127.0.0.1:1/ca?options=-c%20statement_timeout%3D5000";
    let given = sb
        .ca_bare()
        .args(["--data", "empty", "--database", url, "list"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&given.stderr);
    assert!(
        said.contains(&format!("run `ca --data empty --database '{url}' init`")),
        "{said}"
    );
}

/// A data folder whose path is not UTF-8 (which the log's driver cannot open) is refused by
/// `ca init` before anything is made: no folder left holding an empty log and a lock, which
/// every later command would take for a CA whose root went missing.
#[test]
fn a_data_folder_whose_path_is_not_utf8_is_refused_before_anything_is_made() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    if sb.on_postgres() {
        // The log is in the database: the folder holds the root and its key, any name.
        return;
    }
    let folder = std::ffi::OsStr::from_bytes(b"ca-\xff\xfe");
    let made = sb
        .ca_bare()
        .arg("--data")
        .arg(folder)
        .args(["init", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&made.stderr);
    assert_eq!(made.status.code(), Some(2), "{said}");
    assert!(said.contains("is not a UTF-8 path"), "{said}");
    assert!(!sb.path().join(folder).exists(), "{said}");
}

/// `ca serve --config FILE` finds its CA through a file that a command does not read (it reads
/// $CA_CONFIG or /etc/ca/ca.toml): the commands it gives to run name the folder it serves,
/// whole, and its database, and, pasted anywhere, reach the served CA (bare, they would look
/// in the default folder, or in another CA's configuration).
#[test]
fn the_commands_a_server_gives_reach_the_ca_its_configuration_file_names() {
    use std::io::BufRead;
    let sb = Sandbox::new();
    let config = sb.file("served.toml");
    std::fs::write(
        &config,
        "data = \"served\"\nhttp = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nhostname = [\"localhost\"]\n",
    )
    .unwrap();
    let mut serve = sb
        .ca_bare()
        .args(["serve", "--config", "served.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = Vec::new();
    for line in std::io::BufReader::new(serve.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
    {
        let last = line.starts_with("OCSP responder on");
        banner.push(line);
        if last {
            break;
        }
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    let banner = banner.join("\n");
    let command = banner
        .split("set another password with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("a command to run: {banner}"));
    let served = format!("ca --data {}", sb.file("served").display());
    match sb.database_url() {
        None => assert_eq!(command, format!("{served} user passwd admin"), "{banner}"),
        Some(_) => assert!(
            command.starts_with(&format!("{served} --database "))
                && command.ends_with(" user passwd admin"),
            "{banner}"
        ),
    }
    // Pasted in another folder, with neither the configuration nor $CA_DATABASE.
    let elsewhere = sb.file("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let pasted = pasted(command, &elsewhere)
        .env_remove("CA_DATABASE")
        .output()
        .unwrap();
    assert!(
        pasted.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&pasted.stderr)
    );
    // It changed the served CA's admin, whose password file it removed.
    assert!(!sb.file("served/admin-password.txt").exists());
    assert!(!sb.data().exists() && !elsewhere.join("ca-data").exists());
}

/// A passphrase variable that is set but holds nothing (`CA_PASSPHRASE="$PW"` with PW unset)
/// or no text is refused before anything is made, never taken for "no passphrase": `ca init`
/// would write the root key unencrypted without a word.
#[test]
fn an_empty_or_unreadable_passphrase_is_refused_not_taken_for_none() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    for (value, said) in [
        (std::ffi::OsStr::new(""), "$CA_PASSPHRASE is set but empty"),
        (
            std::ffi::OsStr::from_bytes(b"caf\xe9"),
            "$CA_PASSPHRASE is not UTF-8 text",
        ),
    ] {
        let out = sb
            .ca()
            .env("CA_PASSPHRASE", value)
            .args(["init", "--key", "ecdsa-p256"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(!sb.data().join("root.key").exists(), "{stderr}");
    }
    // Unset, the key is made unencrypted, as asked.
    sb.ok(&["init", "--key", "ecdsa-p256"]);
    let key = std::fs::read_to_string(sb.data().join("root.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
}

/// A password file of more lines than one (a key given by mistake, whose first line would have
/// been the password) or holding a control character (a NUL no prompt could take) is refused
/// before anything is issued, without repeating what it holds; one line with its line end, and
/// blank lines after it, is the password.
#[test]
fn a_password_file_of_two_lines_or_with_a_nul_is_refused() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let issue = [
        "issue",
        "p3.example.com",
        "--key",
        "ecdsa-p256",
        "--pfx-password-file",
        "pw",
    ];
    for (content, said) in [
        ("secret line1\nline2\n", "holds more than one line"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n",
            "holds more than one line",
        ),
        ("pw\0tail\n", "holds a control character"),
        ("pw\u{1b}[2Jtail", "holds a control character"),
    ] {
        std::fs::write(sb.file("pw"), content).unwrap();
        let stderr = sb.refused(&issue);
        assert!(stderr.contains(said), "{content:?}: {stderr}");
        for held in ["line1", "line2", "tail", "BEGIN", "MIGH"] {
            assert!(!stderr.contains(held), "{content:?}: {stderr}");
        }
    }
    assert_eq!(sb.row_count(), 0);
    std::fs::write(sb.file("pw"), "one line\r\n\n").unwrap();
    sb.ok(&issue);
    openssl_ok(
        sb.path(),
        &[
            "pkcs12",
            "-in",
            "p3.example.com.pfx",
            "-passin",
            "pass:one line",
            "-noout",
        ],
    );
}

/// A passphrase the CA key could not be given back with is refused before anything is made
/// (one holding a line break: the systemd credential gives only its first line), and a
/// missing or wrong one is the caller's input, refused with exit status 2; `ca check` says the
/// passphrase is wrong instead of finding a problem in the folder and advising a restore.
#[test]
fn a_passphrase_on_two_lines_missing_or_wrong_is_refused_input() {
    let sb = Sandbox::new();
    let run = |passphrase: Option<&str>, args: &[&str]| {
        let mut cmd = sb.ca();
        if let Some(passphrase) = passphrase {
            cmd.env("CA_PASSPHRASE", passphrase);
        }
        let out = cmd.args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for two_lines in ["correct horse\nbattery staple", "correct horse\r"] {
        let (code, stderr) = run(Some(two_lines), &["init", "--key", "ecdsa-p256"]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("holds a line break"), "{stderr}");
        assert!(!sb.data().exists(), "{stderr}");
    }
    let right = "correct horse battery staple";
    let (code, stderr) = run(Some(right), &["init", "--key", "ecdsa-p256"]);
    assert_eq!(code, Some(0), "{stderr}");
    let issue = ["issue", "mail.example.com", "--key", "ecdsa-p256"];
    for (passphrase, said) in [
        (None, "is encrypted and no passphrase was given"),
        (Some("wrong horse"), "the passphrase is wrong"),
    ] {
        let (code, stderr) = run(passphrase, &issue);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(sb.files().is_empty(), "{stderr}");
    }
    let (code, stderr) = run(Some("wrong horse"), &["check"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("the passphrase is wrong"), "{stderr}");
    assert!(!stderr.contains("restore"), "{stderr}");
    // Opened with the right one, the folder is sound and the key is the root's.
    let out = sb
        .ca()
        .env("CA_PASSPHRASE", right)
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("the key is the root's"), "{stdout}");
}

/// The root key's passphrase, when neither the environment nor the service manager gives it,
/// is asked at a terminal (not shown, three tries) by the commands that sign, before anything
/// is done; a command that signs nothing does not ask; without a terminal, nothing is asked.
#[test]
fn the_root_keys_passphrase_is_asked_at_a_terminal() {
    let sb = Sandbox::new();
    let right = "correct horse battery staple";
    let out = sb
        .ca()
        .env("CA_PASSPHRASE", right)
        .args(["init", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let issue = [
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--force",
    ];
    let (status, said) = crate::util::at_a_terminal(&sb, right, &issue, &[]);
    assert_eq!(status, Some(0), "{said}");
    assert!(
        said.contains("Passphrase of the root key ")
            && said.contains("root.key (not shown as you type):")
            && said.contains("Issued certificate 1")
            && !said.contains("correct horse"),
        "{said}"
    );
    // Asked at the terminal itself when standard error goes elsewhere (a file, a pipe).
    let (status, said) = crate::util::at_a_terminal(
        &sb,
        right,
        &[
            "--sh",
            "exec \"$0\" --data \"$1\" crl --new --out new.crl 2>errors.txt",
        ],
        &[],
    );
    assert_eq!(status, Some(0), "{said}");
    assert!(said.contains("root.key (not shown as you type):"), "{said}");
    // A wrong one is said, and asked again.
    let (status, said) = crate::util::at_a_terminal(
        &sb,
        &format!("wrong horse|{right}"),
        &["revoke", "1", "--reason", "superseded"],
        &[],
    );
    assert_eq!(status, Some(0), "{said}");
    assert!(said.contains("that passphrase does not decrypt"), "{said}");
    // Three wrong ones: refused, nothing done, the terminal's echo on again.
    let rows = sb.row_count();
    let (status, said) = crate::util::at_a_terminal(&sb, "a1||c3", &issue, &[]);
    assert_eq!(status, Some(2), "{said}");
    assert!(
        said.contains("none of the 3 passphrases typed decrypts") && said.ends_with("[echo on]"),
        "{said}"
    );
    assert_eq!(sb.row_count(), rows);
    // Given by the environment, it is not asked; a command that signs nothing does not ask.
    let (status, said) = crate::util::at_a_terminal(&sb, "", &issue, &[("CA_PASSPHRASE", right)]);
    assert_eq!(status, Some(0), "{said}");
    assert!(!said.contains("Passphrase of the root key"), "{said}");
    let (status, said) = crate::util::at_a_terminal(&sb, "", &["list"], &[]);
    assert_eq!(status, Some(0), "{said}");
    assert!(!said.contains("Passphrase"), "{said}");
    // Without a terminal, the refusal says both ways.
    let refused = sb.refused(&issue);
    assert!(
        refused.contains("no passphrase was given")
            && refused.contains("at a terminal, where it is asked"),
        "{refused}"
    );
}

/// What a `ca serve` on `sb` prints at start, up to the line of its OCSP responder, and the
/// `more` lines after it; the server is stopped then.
fn serve_banner(sb: &Sandbox, more: usize) -> Vec<String> {
    use std::io::BufRead;
    let mut serve = sb
        .ca()
        .args(["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(serve.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap);
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let last = line.starts_with("OCSP responder on");
        banner.push(line);
        if last {
            break;
        }
    }
    banner.extend(lines.take(more));
    serve.kill().unwrap();
    serve.wait().unwrap();
    banner
}

/// A CA whose certificates will not let clients learn of a revocation says so when it is
/// made: without a URL they carry no CRL or OCSP address, and with an https one they send
/// clients where they must validate a server before they can check revocation. `ca config`
/// repeats the https note; an http URL gets none.
#[test]
fn a_new_ca_says_when_clients_cannot_learn_of_revocations() {
    for (url, said) in [
        (
            None,
            Some("certificates carry no CRL or OCSP address while the CA has no URL"),
        ),
        (
            Some("https://ca.example.com"),
            Some("certificates will send clients to https://ca.example.com for the CRL and OCSP"),
        ),
        (Some("http://ca.example.com"), None),
    ] {
        let sb = Sandbox::new();
        let mut args = vec!["init", "--key", "ecdsa-p256"];
        if let Some(url) = url {
            args.extend(["--url", url]);
        }
        let made = sb.ok(&args);
        let shown = sb.ok(&["config", "show"]);
        match said {
            Some(said) => {
                assert!(made.contains(&format!("Note: {said}")), "{made}");
                assert!(
                    made.contains(&format!("`{} config set url http://HOST`", sb.said())),
                    "{made}"
                );
            }
            None => assert!(!made.contains("Note: certificates"), "{made}"),
        }
        // The addresses certificates will carry, shown where they are chosen.
        assert_eq!(
            made.contains(&format!(
                "  CRL          {}/certsrv/ca.crl\n  OCSP         {}/ocsp\n",
                url.unwrap_or("-"),
                url.unwrap_or("-")
            )),
            url.is_some(),
            "{made}"
        );
        assert_eq!(
            shown.contains("Note: certificates will send clients"),
            url.is_some_and(|url| url.starts_with("https")),
            "{shown}"
        );
        // And every `ca serve` after says it again, right after the responder it starts; an
        // http URL, where the links go, beside where the server listens.
        {
            let mut banner = serve_banner(&sb, 1);
            let next = banner.pop().unwrap_or_default();
            assert!(
                banner.iter().any(|l| l.starts_with("Serving the CA")),
                "{banner:?}"
            );
            match said {
                Some(said) => assert!(
                    next.starts_with(&format!("Note: {said}")),
                    "{banner:?} {next}"
                ),
                None => assert!(
                    next.starts_with(
                        "Certificates send clients to http://ca.example.com/certsrv/ca.crl and http://ca.example.com/ocsp: that address must reach this server's HTTP listener (127.0.0.1:"
                    ),
                    "{banner:?} {next}"
                ),
            }
        }
    }
}

/// Where requests over the web wait for an administrator (policy pending, the default) while
/// ACME issues at once to anonymous accounts, `ca config` and `ca acme` say so, and how to
/// close it; binding ACME accounts to users, turning ACME off or the policy to auto ends the
/// note.
#[test]
fn acme_issuing_past_a_pending_policy_is_said() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let said = "Note: requests over the web pages wait for an administrator (policy pending), but ACME issues at once";
    assert!(sb.ok(&["config", "show"]).contains(said));
    assert!(sb.ok(&["acme"]).contains(said));
    let set = sb.ok(&["config", "set", "acme-eab", "required"]);
    assert!(!set.contains("Note:"), "{set}");
    assert!(!sb.ok(&["config", "show"]).contains(said));
    assert!(!sb.ok(&["acme"]).contains(said));
    assert!(
        sb.ok(&["config", "set", "acme-eab", "optional"])
            .contains(said)
    );
    // Shown after a change of what it is about, not of another setting.
    assert!(!sb.ok(&["config", "set", "crl-days", "5"]).contains(said));
    assert!(!sb.ok(&["config", "set", "acme", "off"]).contains(said));
    sb.ok(&["config", "set", "acme", "on"]);
    let auto = sb.ok(&["config", "set", "policy", "auto"]);
    assert!(!auto.contains(said));
    assert!(!sb.ok(&["config", "show"]).contains(said));
    // Issuing at once on the pages is said to be for requesters trusted with every name.
    let every_name = "issued at once, for any name the rules allow, to every signed-in user";
    assert!(auto.contains(every_name), "{auto}");
    assert!(sb.ok(&["config", "show"]).contains(every_name));
    assert!(
        !sb.ok(&["config", "set", "policy", "pending"])
            .contains(every_name)
    );
    // Chosen when the CA is made, it is said then; so is ACME issuing past a pending
    // policy, also when the server starts.
    let made = Sandbox::new().ok(&["init", "--key", "ecdsa-p256", "--policy", "auto"]);
    assert!(made.contains(every_name) && !made.contains(said), "{made}");
    let pending = Sandbox::new();
    let made = pending.ok(&["init", "--key", "ecdsa-p256"]);
    assert!(made.contains(said), "{made}");
    let banner = |sb: &Sandbox| serve_banner(sb, 0).join("\n");
    let shown = banner(&pending);
    assert_eq!(shown.matches(said).count(), 1, "{shown}");
    // A server that makes the CA says it once, with what it made.
    let shown = banner(&Sandbox::new());
    assert!(shown.contains("Created the CA"), "{shown}");
    assert_eq!(shown.matches(said).count(), 1, "{shown}");
}

/// A passphrase given for a root key that is not encrypted protects nothing: the command says
/// so, and the way it gives to encrypt the key works (the key then opens with it, silently).
#[test]
fn a_passphrase_for_an_unencrypted_root_key_is_pointed_out() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let issue = |passphrase: Option<&str>, name: &str| {
        let mut cmd = sb.ca();
        if let Some(passphrase) = passphrase {
            cmd.env("CA_PASSPHRASE", passphrase);
        }
        let out = cmd
            .args(["issue", name, "--key", "ecdsa-p256"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let warned = "root.key is not encrypted, so the passphrase given";
    let stderr = issue(Some("correct horse"), "a.example.com");
    assert!(stderr.contains(warned), "{stderr}");
    assert!(!issue(None, "b.example.com").contains(warned));
    // The way the warning gives.
    assert!(
        stderr.contains(&format!("`{} passphrase` encrypts the key", sb.said())),
        "{stderr}"
    );
    let said = with_input(
        &sb,
        &["passphrase", "--new-passphrase-file", "-"],
        "correct horse\n",
    );
    assert!(said.contains("Encrypted "), "{said}");
    let stderr = issue(Some("correct horse"), "c.example.com");
    assert!(!stderr.contains(warned), "{stderr}");
}

/// Runs `ca ARGS` with `input` on its standard input; asserts that it succeeded and returns
/// what it wrote on standard output.
fn with_input(sb: &Sandbox, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = sb
        .ca()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ca init --key-passphrase-file` encrypts the new root key (asked twice at a terminal, two
/// that differ refused before anything is made); `ca passphrase` changes the passphrase (the
/// present one asked as signing asks it, the new one twice), and `--remove` stores the key
/// unencrypted. Each change replaces the file whole, mode 0600, opens in openssl with the new
/// passphrase and not the old, and is in the audit trail; what is refused changes nothing.
#[test]
fn the_root_keys_passphrase_is_set_at_init_and_changed_later() {
    let sb = Sandbox::new();
    let key = sb.data().join("root.key");
    let opens_with = |passphrase: Option<&str>| {
        let mut args = vec!["pkey", "-in", key.to_str().unwrap(), "-noout"];
        let pass = format!("pass:{}", passphrase.unwrap_or_default());
        if passphrase.is_some() {
            args.extend(["-passin", pass.as_str()]);
        }
        openssl(sb.path(), &args).status.success()
    };
    let key_state = || {
        let bytes = std::fs::read(&key).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        (bytes, mode)
    };
    // At a terminal: two that differ are refused, and nothing is made.
    let init = ["init", "--key", "ecdsa-p256", "--key-passphrase-file", "-"];
    let (status, said) = crate::util::at_a_terminal(&sb, "first horse|other horse", &init, &[]);
    assert_eq!(status, Some(2), "{said}");
    assert!(
        said.contains("the passphrase of the new root key was typed differently the second time")
            && !said.contains("first horse"),
        "{said}"
    );
    assert!(!key.exists() && !sb.data().join("root.crt").exists());
    // With $CA_PASSPHRASE as well: two passphrases, refused.
    let file = sb.path().join("passphrase.txt");
    std::fs::write(&file, "first horse\n").unwrap();
    let out = sb
        .ca()
        .env("CA_PASSPHRASE", "other horse")
        .args(&init[..4])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("two passphrases for the new root key"));
    assert!(!key.exists());
    let (status, said) = crate::util::at_a_terminal(&sb, "first horse|first horse", &init, &[]);
    assert_eq!(status, Some(0), "{said}");
    assert!(opens_with(Some("first horse")) && !opens_with(None));
    assert_eq!(key_state().1, 0o600);

    // Changed at a terminal: the present passphrase, then the new one twice.
    let (status, said) = crate::util::at_a_terminal(
        &sb,
        "first horse|second horse|second horse",
        &["passphrase"],
        &[],
    );
    assert_eq!(status, Some(0), "{said}");
    assert!(
        said.contains("Passphrase of the root key")
            && said.contains("New passphrase of the root key again:")
            && said.contains("Changed the passphrase of ")
            && said.contains("ca.passphrase")
            && !said.contains("horse"),
        "{said}"
    );
    assert!(opens_with(Some("second horse")) && !opens_with(Some("first horse")));
    assert_eq!(key_state().1, 0o600);
    let issued = sb
        .ca()
        .env("CA_PASSPHRASE", "second horse")
        .args(["issue", "mail.example.com", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(issued.status.success(), "{issued:?}");

    // What is refused leaves the key as it was: a wrong present passphrase, an empty new
    // one, a new one from a file that is not there, no terminal and no file for the new one.
    let before = key_state();
    let attempts: [(&[&str], Option<&str>, &str, &str); 4] = [
        (
            &["passphrase", "--new-passphrase-file", "-"],
            Some("first horse"),
            "x\n",
            "the passphrase is wrong",
        ),
        (
            &["passphrase", "--new-passphrase-file", "-"],
            Some("second horse"),
            "\n",
            "the passphrase is empty",
        ),
        (
            &["passphrase", "--new-passphrase-file", "third horse"],
            Some("second horse"),
            "",
            "no such file",
        ),
        (
            &["passphrase"],
            Some("second horse"),
            "",
            "no terminal to ask the new passphrase",
        ),
    ];
    for (args, present, input, said) in attempts {
        use std::io::Write;
        let mut cmd = sb.ca();
        if let Some(present) = present {
            cmd.env("CA_PASSPHRASE", present);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(said) && !stderr.contains("third horse"),
            "{args:?}: {stderr}"
        );
        assert_eq!(key_state(), before, "{args:?}");
    }
    let conflict = sb.run(&["passphrase", "--remove", "--new-passphrase-file", "-"]);
    assert_eq!(conflict.status.code(), Some(2));
    assert_eq!(key_state(), before);
    // A server does not start on a key it cannot read: no passphrase, no terminal.
    let serve = sb.run(&["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"]);
    assert_eq!(serve.status.code(), Some(2), "{serve:?}");
    assert!(
        String::from_utf8_lossy(&serve.stderr).contains("no passphrase was given"),
        "{serve:?}"
    );
    // A key file that is a link is not written through (the file it points to would keep
    // the key as it was); a copy a stopped change left is flagged by `ca check`, and taken
    // out by the next change.
    let elsewhere = sb.path().join("root.key.elsewhere");
    std::fs::rename(&key, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &key).unwrap();
    let linked = sb
        .ca()
        .env("CA_PASSPHRASE", "second horse")
        .args(["passphrase", "--remove"])
        .output()
        .unwrap();
    assert_eq!(linked.status.code(), Some(2), "{linked:?}");
    assert!(
        String::from_utf8_lossy(&linked.stderr).contains("is a link"),
        "{linked:?}"
    );
    std::fs::remove_file(&key).unwrap();
    std::fs::rename(&elsewhere, &key).unwrap();
    let left = sb.data().join(".root.key.0123456789abcdef.tmp");
    std::fs::copy(&key, &left).unwrap();
    let checked = sb
        .ca()
        .env("CA_PASSPHRASE", "second horse")
        .arg("check")
        .output()
        .unwrap();
    assert!(
        !checked.status.success()
            && String::from_utf8_lossy(&checked.stderr)
                .contains("is a copy of the root key that a stopped command left"),
        "{checked:?}"
    );

    // Removed: unencrypted, still 0600; removing again has nothing to remove.
    let mut remove = sb.ca();
    let out = remove
        .env("CA_PASSPHRASE", "second horse")
        .args(["passphrase", "--remove"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("unencrypted: whoever can read it"));
    let (bytes, mode) = key_state();
    assert!(bytes.starts_with(b"-----BEGIN PRIVATE KEY-----") && mode == 0o600);
    assert!(
        !left.exists(),
        "the copy a stopped change left is still there"
    );
    assert!(opens_with(None));
    assert!(
        sb.refused(&["passphrase", "--remove"])
            .contains("has no passphrase to remove")
    );
    // No temporary file left beside it; every change in the audit trail, no secret in it.
    let names: Vec<String> = std::fs::read_dir(sb.data())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|name| name.contains(".tmp")), "{names:?}");
    let audit = sb.ok(&["audit"]);
    let changes: Vec<&str> = audit
        .lines()
        .filter(|line| line.contains("root key"))
        .collect();
    assert!(
        changes.len() == 2
            && changes[0].contains("passphrase changed")
            && changes[1].contains("stored unencrypted")
            && !audit.contains("horse"),
        "{audit}"
    );
}

#[test]
fn encrypts_the_ca_key_when_a_passphrase_is_set() {
    let sb = Sandbox::new();
    let out = sb
        .ca()
        .env("CA_PASSPHRASE", "correct horse battery staple")
        .args(["init", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = std::fs::read_to_string(sb.data().join("root.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let mode = std::fs::metadata(sb.data().join("root.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // openssl opens it with the passphrase, and finds PBES2 with PBKDF2 and AES-256-CBC.
    let parsed = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-in",
            sb.data().join("root.key").to_str().unwrap(),
            "-noout",
            "-passin",
            "env:CA_PASSPHRASE",
        ])
        .env("CA_PASSPHRASE", "correct horse battery staple")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let asn1 = openssl_ok(
        sb.path(),
        &[
            "asn1parse",
            "-in",
            sb.data().join("root.key").to_str().unwrap(),
        ],
    );
    assert!(
        asn1.contains("PBES2") && asn1.contains("PBKDF2") && asn1.contains("aes-256-cbc"),
        "{asn1}"
    );

    // Signing needs the passphrase; reading does not.
    let out = sb.run(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CA_PASSPHRASE"));
    assert!(sb.files().is_empty());
    sb.ok(&["root"]);
    let out = sb
        .ca()
        .env("CA_PASSPHRASE", "correct horse battery staple")
        .args(["issue", "mail.example.com", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_server_certificate(&sb, "mail.example.com.crt", false);

    // Restored without the passphrase, the key cannot be compared with the root: the restore
    // says so rather than "passes every check"; with it, it compares and says that.
    sb.ok(&["backup", "bk"]);
    for (passphrase, said) in [
        (
            None,
            "every check of `{}` but one: the root key is encrypted",
        ),
        (
            Some("correct horse battery staple"),
            "It passes every check of `{}`.",
        ),
    ] {
        let target = Sandbox::new();
        // The check to run names the folder restored into.
        let said = said.replace("{}", &format!("{} check", target.said()));
        let mut restore = target.ca();
        if let Some(passphrase) = passphrase {
            restore.env("CA_PASSPHRASE", passphrase);
        }
        let out = restore.arg("restore").arg(sb.file("bk")).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&said), "{stdout}");
    }
}

#[test]
fn fifty_parallel_issuances_against_one_data_folder() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let children: Vec<_> = (0..50)
        .map(|i| {
            let out = sb.path().join(format!("out{i}"));
            std::fs::create_dir(&out).unwrap();
            sb.ca()
                .args([
                    "issue",
                    &format!("host{i}.example.com"),
                    "--key",
                    "ecdsa-p256",
                    "--out",
                ])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
    }
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 50);
    let serials: HashSet<&str> = rows.iter().map(|r| r["serial"].as_str().unwrap()).collect();
    assert_eq!(serials.len(), 50);
    let ids: HashSet<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 50);
    // Every certificate handed out is the one in the log.
    for i in 0..50 {
        let dir = sb.path().join(format!("out{i}"));
        let fp = openssl_ok(
            &dir,
            &[
                "x509",
                "-in",
                &format!("host{i}.example.com.crt"),
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
        );
        let fp = fp
            .trim()
            .split('=')
            .nth(1)
            .unwrap()
            .replace(':', "")
            .to_ascii_lowercase();
        assert!(
            rows.iter().any(|r| r["sha256"] == fp.as_str()),
            "host{i} is in the log"
        );
    }
    let _ = openssl;
}

/// `ca renew` writes its files under the names `ca issue` gave them (after the first DNS name,
/// even when an address comes first), so that `--force` replaces what the server uses.
#[test]
fn a_renewal_writes_the_files_its_certificate_was_written_to() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "192.0.2.7",
        "mixed.example.com",
        "--key",
        "ecdsa-p256",
    ]);
    sb.ok(&["renew", "1", "--force"]);
    let serial = openssl_ok(
        sb.path(),
        &["x509", "-in", "mixed.example.com.crt", "-noout", "-serial"],
    );
    let shown = sb.ok(&["show", "2"]);
    let renewed = serial.trim().trim_start_matches("serial=").to_lowercase();
    assert!(shown.to_lowercase().contains(&renewed), "{serial} {shown}");
    assert!(!sb.file("192.0.2.7.crt").exists());
    assert!(!sb.file("192.0.2.7.key").exists());
}

#[test]
fn a_renewed_certificate_is_marked_renewed_and_not_expiring() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for name in ["old.example.com", "kept.example.com"] {
        sb.ok(&["issue", name, "--days", "5", "--key", "ecdsa-p256"]);
    }
    sb.ok(&["renew", "1", "--force"]);
    let expiring: Value =
        serde_json::from_str(&sb.ok(&["list", "--expiring", "30", "--json"])).unwrap();
    let ids: Vec<i64> = expiring
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&2) && !ids.contains(&1), "{expiring}");
    let old: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    assert_eq!(old["renewed_by"], 3, "{old}");
    assert!(old["days_left"].is_null(), "{old}");
    let table = sb.ok(&["list"]);
    let row = |id: &str| {
        table
            .lines()
            .find(|line| line.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("row {id}: {table}"))
            .to_owned()
    };
    assert!(row("1").ends_with("(renewed by 3)"), "{table}");
    assert!(row("2").contains("days left"), "{table}");
}

/// A certificate whose renewals were all revoked is still the one its server holds: it is
/// expiring again, in the list, `ca show` and the holders' note, and renewing the newest
/// renewal carries its line on. Two revoked renewals in a row leave it tracked too.
#[test]
fn a_certificate_whose_renewals_were_revoked_is_expiring_again() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "old.example.com",
        "--days",
        "5",
        "--key",
        "ecdsa-p256",
    ]);
    let expiring = || -> Vec<i64> {
        let rows: Value =
            serde_json::from_str(&sb.ok(&["list", "--expiring", "30", "--json"])).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .collect()
    };
    let days_left = |id: &str| {
        let row: Value = serde_json::from_str(&sb.ok(&["show", id, "--json"])).unwrap();
        row["days_left"].as_i64()
    };
    // What scripts read: the first renewal, and whether the line is carried on.
    let renewal = |id: &str| {
        let row: Value = serde_json::from_str(&sb.ok(&["show", id, "--json"])).unwrap();
        (
            row["renewed_by"].as_i64(),
            row["renewal_in_force"].as_bool(),
        )
    };
    assert_eq!(renewal("1"), (None, Some(false)));
    sb.ok(&["renew", "1", "--days", "5", "--force"]);
    assert_eq!(expiring(), [2]);
    assert_eq!(days_left("1"), None);
    assert_eq!(renewal("1"), (Some(2), Some(true)));
    sb.ok(&["revoke", "2", "--reason", "superseded"]);
    assert_eq!(expiring(), [1]);
    assert!(days_left("1").is_some());
    assert_eq!(renewal("1"), (Some(2), Some(false)));
    let listed: Value =
        serde_json::from_str(&sb.ok(&["list", "--expiring", "30", "--json"])).unwrap();
    assert_eq!(
        (&listed[0]["renewed_by"], &listed[0]["renewal_in_force"]),
        (&Value::from(2), &Value::from(false))
    );
    let shown = sb.ok(&["show", "1"]);
    assert!(
        shown.contains(&format!("  renewed by   2, but no certificate later in its line is in force for as long (each was revoked, or ends sooner): this certificate is still the one in force; `{} renew 2` carries its line on\n", sb.said())),
        "{shown}"
    );
    let table = sb.ok(&["list"]);
    assert!(
        table.contains("renewed by 2, not carrying it on"),
        "{table}"
    );
    // Another certificate for its names is told of it, as of any certificate in force.
    std::fs::create_dir(sb.file("other")).unwrap();
    let issued = sb.ok(&[
        "issue",
        "old.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        "other",
    ]);
    assert!(
        issued.contains("Note: certificate 1 for old.example.com is still valid")
            && issued.contains(&format!(
                "It was renewed, but no renewal carries it on (each was revoked, or ends sooner): to replace it, `{} renew 2` gives",
                sb.said()
            ))
            && issued.contains(&format!("`{} revoke 1 --reason superseded`", sb.said())),
        "{issued}"
    );
    sb.ok(&["revoke", "3", "--reason", "superseded"]);

    // The line goes on from its newest renewal, and is carried on again; revoked, it is not.
    sb.refused(&["renew", "1", "--force"]);
    sb.ok(&["renew", "2", "--days", "5", "--force"]);
    assert_eq!(expiring(), [4]);
    // Its first renewal is revoked, the next one carries the line on: the holder is sent there.
    let shown = sb.ok(&["show", "1"]);
    assert!(
        shown.contains(&format!("  renewed by   2, which is not in force; certificate 4, later in its line, is: the holder should use that one (`{} show 4`)\n", sb.said())),
        "{shown}"
    );
    sb.ok(&["revoke", "4", "--reason", "superseded"]);
    assert_eq!(expiring(), [1]);
    let shown = sb.ok(&["show", "1"]);
    assert!(
        shown.contains(&format!("`{} renew 4` carries its line on", sb.said())),
        "{shown}"
    );
    // A revoked certificate's line is nothing to act on.
    assert!(sb.ok(&["show", "2"]).contains("  renewed by   4\n"));

    // A renewal that ends sooner (`--days`) does not carry on a certificate that outlives it:
    // both are expiring, the renewal first; a longer renewal of the renewal carries both on.
    sb.ok(&[
        "issue",
        "long.example.com",
        "--days",
        "20",
        "--key",
        "ecdsa-p256",
    ]);
    sb.ok(&["renew", "5", "--days", "3", "--force"]);
    assert_eq!(expiring(), [1, 5, 6]);
    let shown = sb.ok(&["show", "5"]);
    assert!(
        shown.contains(&format!("`{} renew 6` carries its line on", sb.said())),
        "{shown}"
    );
    // The renewal is valid: the list says it does not carry the line on, not that it ended.
    let table = sb.ok(&["list", "--name", "long.example.com"]);
    assert!(
        table.contains("renewed by 6, not carrying it on"),
        "{table}"
    );
    sb.ok(&["renew", "6", "--days", "60", "--force"]);
    assert_eq!(expiring(), [1]);
}

/// Files that cannot be put in place once the certificate is committed are kept under their
/// temporary names, which the error gives: the key is never lost with them.
#[test]
fn a_certificate_whose_files_cannot_be_put_in_place_is_in_the_log_and_its_files_are_kept() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let out = sb.file("out");
    let run = crate::util::issue_where_a_file_cannot_be_replaced(&sb);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "certificate 1 was issued and is in the log, but not all its files could be put in place"
        ) && !stderr.contains("ca renew"),
        "{stderr}"
    );
    if !sb.on_postgres() {
        assert!(
            !sb.data().join("ca.db-wal").exists(),
            "the log was left open with its write-ahead log"
        );
    }
    let shown = crate::util::unprivileged(&sb, true, &["show", "1"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("mail.example.com"));
    // The key went in first; the certificate, which could not replace root's, is kept under
    // the temporary name the error gives, and belongs with that key.
    let kept: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let certificate = kept
        .iter()
        .find(|name| name.starts_with(".mail.example.com.crt."))
        .unwrap();
    assert!(
        stderr.contains(&format!(
            "rename out/{certificate} to out/mail.example.com.crt"
        )),
        "{stderr}"
    );
    // The key is nobody's, readable by its owner only: read as root.
    let public_key = |args: &[&str]| {
        let read = crate::util::privileged("openssl")
            .args(args)
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(read.status.success(), "{read:?}");
        read.stdout
    };
    let passphrase = format!("pass:{}", crate::util::KEPT_KEY_PASSPHRASE);
    assert_eq!(
        public_key(&[
            "pkey",
            "-in",
            "mail.example.com.key",
            "-passin",
            &passphrase,
            "-pubout"
        ]),
        public_key(&["x509", "-in", certificate, "-noout", "-pubkey"])
    );
    assert_eq!(
        std::fs::read_to_string(out.join("mail.example.com.crt")).unwrap(),
        "root's"
    );
}

#[test]
fn commands_that_write_leave_the_log_whole_in_its_file() {
    let sb = Sandbox::new();
    if sb.on_postgres() {
        return; // A database has no write-ahead log beside the folder.
    }
    let wal = sb.data().join("ca.db-wal");
    sb.init(&[]);
    assert!(!wal.exists(), "init left the write-ahead log behind");
    std::fs::write(sb.file("pw"), "a long password\n").unwrap();
    let commands: [&[&str]; 9] = [
        &["issue", "mail.example.com", "--key", "ecdsa-p256"],
        &["config", "set", "url", "http://ca.example.com"],
        &["backup", "a-backup"],
        &["renew", "1", "--force"],
        &["revoke", "1", "--reason", "superseded"],
        &["crl", "--new", "--out", "ca.crl"],
        &[
            "user",
            "add",
            "alice",
            "--role",
            "requester",
            "--password-file",
            "pw",
        ],
        &["user", "disable", "alice"],
        &["user", "remove", "alice"],
    ];
    for args in commands {
        sb.ok(args);
        // Closed last by a connection that may write, the log put its write-ahead log back
        // into the file: the next command has nothing to recover, and a copy of the file
        // alone holds everything.
        assert!(!wal.exists(), "{args:?} left the write-ahead log behind");
    }
    let copy = sb.file("copy.db");
    std::fs::copy(sb.data().join("ca.db"), &copy).unwrap();
    assert_eq!(
        crate::util::sqlite(&copy, "SELECT value FROM settings WHERE key = 'url'"),
        "http://ca.example.com"
    );
    assert_eq!(
        crate::util::sqlite(&copy, "SELECT COUNT(*) FROM revocations"),
        "1"
    );
}

/// The binary carries GCC's unwinder instead of loading libgcc_s.so.1 at every start
/// (build.rs): `ca` names no such library, and a panic still unwinds, dropping what it leaves,
/// through the unwinder linked the same way into this test binary (which has no libgcc_s
/// mapped either), as the web server's catching of a handler's panic needs.
#[test]
fn the_binary_carries_its_own_unwinder_and_a_panic_still_unwinds() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dynamic = std::process::Command::new("readelf")
        .args(["--dynamic", env!("CARGO_BIN_EXE_ca")])
        .output()
        .unwrap();
    assert!(dynamic.status.success(), "{dynamic:?}");
    let dynamic = String::from_utf8_lossy(&dynamic.stdout);
    assert!(
        dynamic.contains("(NEEDED)") && dynamic.contains("[libc.so.6]"),
        "{dynamic}"
    );
    assert!(!dynamic.contains("libgcc_s"), "{dynamic}");

    struct Guard<'a>(&'a AtomicBool);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = AtomicBool::new(false);
    let caught = std::panic::catch_unwind(|| {
        let _guard = Guard(&dropped);
        panic!("a panic this test catches on purpose");
    });
    assert!(caught.is_err());
    assert!(dropped.load(Ordering::SeqCst));
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(!maps.contains("libgcc_s"), "{maps}");
}

/// A mistyped command, option or value is answered on the one error line with what was meant,
/// and a name that starts with '-' with how to pass it: clap's tips, kept on the same line.
#[test]
fn a_mistyped_command_or_option_is_answered_with_the_one_meant() {
    let sb = Sandbox::new();
    for (args, said, meant) in [
        (
            &["isue", "mail.example.com"][..],
            "unrecognized subcommand 'isue'",
            "(a similar subcommand exists: 'issue')",
        ),
        (
            &["frobnicate"][..],
            "unrecognized subcommand 'frobnicate'",
            "(`ca --help` lists the commands)",
        ),
        (
            &["issue", "mail.example.com", "--forse"],
            "unexpected argument '--forse'",
            "(a similar argument exists: '--force')",
        ),
        (
            &["issue", "--key", "ecdsa", "mail.example.com"],
            "invalid value 'ecdsa' for '--key <ALG>'",
            "a similar value exists: 'ecdsa-p",
        ),
        (
            &["issue", "-x.example.com"],
            "unexpected argument '-x'",
            "use '-- -x'",
        ),
    ] {
        let stderr = sb.refused(args);
        assert!(stderr.contains(said) && stderr.contains(meant), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            !stderr.contains("tip:") && !stderr.contains("Usage:"),
            "{stderr}"
        );
    }
    assert!(!sb.data().exists());
}

/// A name with a line break in it is refused for its white space, named as such: the one-line
/// error shows the break as a space, so "cannot contain spaces" alone read as a false claim.
#[test]
fn a_name_with_a_line_break_is_refused_for_white_space() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for name in ["a\nb.example.com", "a\tb.example.com", "a b.example.com"] {
        let stderr = sb.refused(&["issue", name]);
        assert!(
            stderr.contains("cannot contain white space (a space, tab or line break)"),
            "{stderr}"
        );
    }
    assert_eq!(sb.row_count(), 0);
}

#[test]
fn a_certificate_holds_at_most_a_hundred_names() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let names: Vec<String> = (0..101).map(|i| format!("h{i}.example.com")).collect();
    let mut args = vec!["issue"];
    args.extend(names.iter().map(String::as_str));
    // Each given twice, and one in capitals: the count is of different names.
    args.extend(names.iter().map(String::as_str));
    args.push("H5.EXAMPLE.COM.");
    let stderr = sb.refused(&args);
    assert!(
        stderr.contains(
            "101 different names: a certificate holds at most 100 DNS names and IP addresses"
        ),
        "{stderr}"
    );
    args.truncate(102);
    assert_eq!(sb.row_count(), 0);
    assert!(sb.files().is_empty(), "{:?}", sb.files());
    // A hundred, one of them given twice, make one certificate that names them all.
    args.pop();
    args.push("h7.example.com");
    sb.ok(&args);
    crate::util::assert_verifies_strictly(&sb, "h0.example.com.crt");
    let text = x509_text(sb.path(), "h0.example.com.crt");
    let (_, san) = extension(&text, "X509v3 Subject Alternative Name").unwrap();
    let held: Vec<&str> = san.split(", ").collect();
    assert_eq!(held.len(), 100, "{san}");
    assert_eq!(held[99], "DNS:h99.example.com", "{san}");
}

#[test]
fn a_refused_value_is_quoted_once_and_a_long_one_shortened() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let stderr = sb.refused(&["issue", "a_b.example.com"]);
    assert_eq!(stderr.matches("'a_b.example.com'").count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ca: error: 'a_b.example.com' is refused"),
        "{stderr}"
    );
    // A file's contents pasted as a name: its beginning and its length, once.
    let pasted = "a.".repeat(50_000) + "com";
    let stderr = sb.refused(&["issue", &pasted]);
    assert!(stderr.len() < 400, "{} bytes: {stderr:.400}", stderr.len());
    assert_eq!(
        stderr
            .matches("...' (100003 characters) is refused")
            .count(),
        1,
        "{stderr}"
    );
    // A value the parser's reason does not quote is still shown, shortened the same way.
    let stderr = sb.refused(&["issue", "mail.example.com", "--days", &"9".repeat(5000)]);
    assert!(
        stderr.contains("invalid value '9999")
            && stderr.contains("...' (5000 characters) for '--days"),
        "{stderr}"
    );
    assert!(stderr.len() < 400, "{stderr}");
    // clap's other refusals of a value, or of an argument, shorten it too.
    let pasted = "x".repeat(100_000);
    for args in [
        vec!["issue", "mail.example.com", "--key", pasted.as_str()],
        vec![pasted.as_str()],
        vec!["issue", "mail.example.com", &format!("--{pasted}")],
    ] {
        let stderr = sb.refused(&args);
        assert!(stderr.len() < 800, "{} bytes: {stderr:.800}", stderr.len());
        assert!(stderr.contains("... (10000"), "{stderr}");
    }
    // --grant of a restore needs a PostgreSQL log to restore into.
    if crate::util::postgres_admin().is_none() {
        let stderr = sb.refused(&["restore", "backup", "--grant", "ca"]);
        assert!(
            stderr.contains("--grant works on a PostgreSQL log"),
            "{stderr}"
        );
    }
    // A reason that holds the value only by chance does not stand in for it.
    let stderr = sb.refused(&["migrate", "--grant", "public"]);
    assert!(
        stderr.contains("invalid value 'public' for '--grant"),
        "{stderr}"
    );
    assert_eq!(sb.row_count(), 0);
}

/// A PostgreSQL server that answers and refuses the login is not taken for one that is down:
/// a role or a database the server does not have is said to be missing, with what creates it,
/// and nothing is made in the data folder. (The suite's server trusts every role it has; a
/// refused password is told by PostgreSQL's words in `explain`'s unit test.)
#[test]
fn a_login_postgresql_refuses_says_what_to_mend() {
    let Some(admin) = crate::util::postgres_admin() else {
        // The run on SQLite has no server to ask; the run on PostgreSQL checks this.
        return;
    };
    let server = admin.rsplit_once('/').map(|(server, _)| server).unwrap();
    let sb = Sandbox::new();
    let no_role = server.replacen("postgres://postgres@", "postgres://no_such_role@", 1);
    for (url, advice) in [
        (format!("{no_role}/postgres"), "`CREATE ROLE NAME LOGIN`"),
        (
            format!("{server}/no_such_database"),
            "`CREATE DATABASE NAME",
        ),
    ] {
        let out = sb
            .ca_bare()
            .arg("--data")
            .arg(sb.path().join("node"))
            .args(["--database", &url, "init", "--key", "ecdsa-p256"])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(
            said.contains(advice) && !said.contains("pg_isready"),
            "{said}"
        );
        assert!(!sb.path().join("node").join("root.key").exists(), "{said}");
    }
}

/// A mistyped --out never replaces a private key with a certificate or a CRL: the CA keeps
/// no server's key, so that file would be its only copy.
#[test]
fn export_root_and_crl_do_not_write_over_a_private_key() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let key = std::fs::read(sb.file("mail.example.com.key")).unwrap();
    std::fs::write(sb.file("old.pfx"), b"\x30\x82pkcs12").unwrap();
    for out in ["mail.example.com.key", "old.pfx"] {
        for args in [
            &["export", "1", "--format", "pem", "--out", out][..],
            &["root", "--format", "pem", "--out", out],
            &["crl", "--out", out],
        ] {
            let said = sb.refused(args);
            assert!(said.contains("holds a private key"), "{args:?}: {said}");
        }
    }
    assert_eq!(std::fs::read(sb.file("mail.example.com.key")).unwrap(), key);
    // A file only its owner may read, kept as a secret is (an age or WireGuard key, a .env),
    // is not replaced either, unless it holds what these commands write (their own files,
    // written under a umask of 077, are replaced again: PEM or DER).
    use std::os::unix::fs::PermissionsExt;
    let owner_only = |name: &str, bytes: &[u8]| {
        std::fs::write(sb.file(name), bytes).unwrap();
        std::fs::set_permissions(sb.file(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let root = std::fs::read_to_string(sb.data().join("root.crt")).unwrap();
    // Secrets beside a certificate: an OpenVPN profile, a .env quoting one.
    let ovpn = format!("<ca>\n{root}</ca>\n<tls-crypt>\nhunter2\n</tls-crypt>\n");
    let env = format!("CA_CERT=\"{root}\"\nAPI_TOKEN=hunter2\n");
    // A binary secret opening as DER does.
    let mut binary = vec![0x30, 0x82, 0x01, 0x00];
    binary.extend(b"hunter2\x00\x01\x02");
    for (name, secret) in [
        (
            "age.txt",
            &b"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"[..],
        ),
        ("wg0.key", b"0HqXqOs3lMIu0rhP2VKFTQPSKfSG1bSl6aZPeSD1X3A=\n"),
        (".env", b"DB_PASSWORD=hunter2\n"),
        ("client.ovpn", ovpn.as_bytes()),
        ("app.env", env.as_bytes()),
        ("blob.bin", &binary),
    ] {
        owner_only(name, secret);
        for args in [
            &["export", "1", "--format", "pem", "--out", name][..],
            &["root", "--out", name],
            &["crl", "--out", name],
        ] {
            let said = sb.refused(args);
            assert!(
                said.contains(
                    "is readable by its owner only, as a secret is, and holds more than certificates or CRLs"
                ),
                "{args:?}: {said}"
            );
            assert!(!said.contains("hunter2"), "{said}");
        }
        assert_eq!(std::fs::read(sb.file(name)).unwrap(), secret);
    }
    for (name, args) in [
        ("own.pem", &["root", "--out", "own.pem"][..]),
        ("own.der", &["root", "--format", "der", "--out", "own.der"]),
        ("own.crl", &["crl", "--out", "own.crl"]),
        (
            "own.der.crl",
            &["crl", "--format", "der", "--out", "own.der.crl"],
        ),
        (
            "own.p7b",
            &["export", "1", "--format", "p7b", "--out", "own.p7b"],
        ),
        (
            "own.p7b.pem",
            &["export", "1", "--format", "p7b-pem", "--out", "own.p7b.pem"],
        ),
    ] {
        sb.ok(args);
        let first = std::fs::read(sb.file(name)).unwrap();
        owner_only(name, &first);
        sb.ok(args);
    }
    // Any other file is replaced, as before.
    std::fs::write(sb.file("root.pem"), "old").unwrap();
    sb.ok(&["root", "--out", "root.pem"]);
    assert!(
        std::fs::read_to_string(sb.file("root.pem"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
}

#[test]
fn a_new_url_says_which_certificates_keep_the_old_links_and_ca_ocsp_shows_theirs() {
    let sb = Sandbox::new();
    sb.init(&["--url", "http://old.example.com"]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    let changed = sb.ok(&["config", "set", "url", "http://new.example.com"]);
    assert!(
        changed.contains(
            "valid certificates issued before do not name the OCSP responder of this URL (1 names http://old.example.com/ocsp)"
        ) && changed.contains(&format!("`{} renew ID`", sb.said())),
        "{changed}"
    );
    // Set again to the same: nothing changed, nothing said.
    let again = sb.ok(&["config", "set", "url", "http://new.example.com"]);
    assert!(!again.contains("Note:"), "{again}");
    // Back to the old URL: the certificate names it, nothing is left behind.
    let back = sb.ok(&["config", "set", "url", "http://old.example.com"]);
    assert!(!back.contains("Note:"), "{back}");
    sb.ok(&["config", "set", "url", "http://new.example.com"]);
    let old = sb.ok(&["ocsp", "1"]);
    assert!(
        old.contains("this certificate names http://old.example.com/ocsp, where its clients ask")
            && old.contains("http://new.example.com/ocsp"),
        "{old}"
    );
    sb.ok(&["issue", "b.example.com", "--key", "ecdsa-p256"]);
    let new = sb.ok(&["ocsp", "2"]);
    assert!(
        new.contains("responder: http://new.example.com/ocsp\n"),
        "{new}"
    );

    let bare = Sandbox::new();
    bare.init(&[]);
    bare.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    bare.ok(&["issue", "b.example.com", "--key", "ecdsa-p256"]);
    let set = bare.ok(&["config", "set", "url", "http://ca.example.com"]);
    assert!(set.contains("(2 carry no address)"), "{set}");
    // A certificate issued under this URL, then another URL: both kinds counted apart.
    bare.ok(&["issue", "c.example.com", "--key", "ecdsa-p256"]);
    let set = bare.ok(&["config", "set", "url", "http://other.example.com"]);
    assert!(
        set.contains("(2 carry no address; 1 names http://ca.example.com/ocsp)"),
        "{set}"
    );
    let shown = bare.ok(&["ocsp", "1"]);
    assert!(
        shown.contains("but this certificate names none")
            && shown.contains(&format!(
                "`{} renew 1` gives one that names it",
                bare.said()
            )),
        "{shown}"
    );
    // Renewed, the renewal is the one to install, not a second renewal.
    bare.ok(&["renew", "1", "--force"]);
    let shown = bare.ok(&["ocsp", "1"]);
    assert!(
        shown.contains("certificate 4, its renewal, is the one to install"),
        "{shown}"
    );
    // A URL with a path: `ca serve` answers at the root of its address, so the links work
    // only behind a proxy that takes the path off; said, and not said for a bare host.
    let proxied = bare.ok(&["config", "set", "url", "http://ca.example.com/pki/"]);
    assert!(
        proxied.contains(
            "http://ca.example.com/pki/certsrv/ca.crl and http://ca.example.com/pki/ocsp"
        ) && proxied.contains("reverse proxy that takes /pki off"),
        "{proxied}"
    );
    let bare_host = bare.ok(&["config", "set", "url", "http://ca.example.com/"]);
    assert!(!bare_host.contains("reverse proxy"), "{bare_host}");
}

/// The IIS cycle from the command line: a request for one name signed with the names
/// Exchange needs too (`--san`, checked as the request's own are), renewed with the server's
/// next request (`--renews`: the line of renewals goes on, once), and `ca renew` of a
/// certificate signed from a request says that its key is new and made here.
#[test]
fn a_request_is_signed_with_more_names_and_renewed_with_the_next_request() {
    let sb = Sandbox::new();
    sb.init(&["--permit", "example.com", "--permit", "192.0.2.0/24"]);
    let request = |file: &str| {
        crate::util::openssl_request(
            sb.path(),
            file,
            "rsa:2048",
            "/C=US/ST=WA/L=Redmond/O=Example/OU=IT/CN=mail.example.com",
            &[],
        )
    };
    let first = request("first.csr");
    let signed = sb.run(&[
        "sign",
        &first,
        "--san",
        "autodiscover.example.com",
        "--san",
        "192.0.2.25",
        "--out",
        "first.crt",
    ]);
    assert!(signed.status.success(), "{signed:?}");
    let text = x509_text(sb.path(), "first.crt");
    assert!(
        text.contains("Subject: CN = mail.example.com")
            && text.contains(
                "DNS:mail.example.com, DNS:autodiscover.example.com, IP Address:192.0.2.25"
            ),
        "{text}"
    );
    // Added names meet the rules the request's own do: outside the root's constraints, or
    // not a name at all, refused and nothing issued (the first recorded as a denied request,
    // the second refused as the command line is read).
    let rows = sb.row_count();
    for (name, said) in [
        ("autodiscover.example.org", "example.com"),
        ("not a name", "NAME"),
    ] {
        let refused = sb.run(&["sign", &first, "--san", name, "--out", "x.crt"]);
        assert_eq!(refused.status.code(), Some(2), "{name}: {refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(said),
            "{refused:?}"
        );
    }
    assert_eq!(sb.row_count(), rows + 1);
    assert!(
        sb.ok(&["show", &(rows + 1).to_string()]).contains("denied"),
        "the added name's refusal is recorded"
    );

    // The server's next request renews certificate 1: said, and not taken for a second
    // holder of its names.
    let next = request("next.csr");
    let renewed = sb.run(&["sign", &next, "--renews", "1", "--out", "next.crt"]);
    let stderr = String::from_utf8_lossy(&renewed.stderr);
    assert!(renewed.status.success(), "{stderr}");
    assert!(
        stderr.contains("it renews certificate 1, which stays valid")
            && !stderr.contains("certificate 1 for mail.example.com is still valid"),
        "{stderr}"
    );
    let old: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    let new_id = old["renewed_by"].as_i64().expect("renewed_by");
    // Listed among renewals (as `ca renew`'s are), with the request it was made from kept.
    let renewals: Value =
        serde_json::from_str(&sb.ok(&["list", "--source", "renewal", "--json"])).unwrap();
    let renewals = renewals.as_array().unwrap();
    assert_eq!(renewals.len(), 1, "{renewals:?}");
    assert_eq!(renewals[0]["id"].as_i64(), Some(new_id));
    assert_eq!(renewals[0]["renewed_from"].as_i64(), Some(1));
    // Once: certificate 1 is renewed already; a certificate that is not there is said so.
    let again = sb.refused(&["sign", &next, "--renews", "1", "--out", "again.crt"]);
    assert!(
        again.contains(&format!("renewed already, as certificate {new_id}")),
        "{again}"
    );
    assert!(
        sb.refused(&["sign", &next, "--renews", "99", "--out", "again.crt"])
            .contains("99")
    );
    // A request for none of a certificate's names renews another server's: a mistyped id.
    sb.ok(&["issue", "other.example.com", "--key", "ecdsa-p256"]);
    let other = crate::util::id_of(&sb, "other.example.com");
    let typo = sb.refused(&["sign", &next, "--renews", &other, "--out", "again.crt"]);
    assert!(
        typo.contains(&format!(
            "certificate {other} is for other.example.com, and the request names another:"
        )),
        "{typo}"
    );
    assert!(!sb.file("again.crt").exists());

    // `ca renew` of a certificate signed from a request: its new key is made here, said.
    let out = sb.ok(&["renew", &new_id.to_string(), "--force"]);
    assert!(
        out.contains(&format!(
            "certificate {new_id} was signed from a request, so its key is on the server that made the request"
        )) && out.contains(&format!("`{} sign REQUEST --renews ID`", sb.said())),
        "{out}"
    );
    // The PFX command it gives runs as given, and makes a PFX openssl opens.
    export_as_noted(&sb, &out);
    // With the key written encrypted, the command reads its passphrase from the same file.
    crate::util::csr(&sb, "enc.csr", "enc.example.com");
    sb.ok(&["sign", "enc.csr", "--out", "enc.crt"]);
    let enc = crate::util::id_of(&sb, "enc.example.com");
    std::fs::write(sb.file("kp"), "a key passphrase\n").unwrap();
    let out = sb.ok(&["renew", &enc, "--key-passphrase-file", "kp", "--force"]);
    assert!(out.contains("--key-passphrase-file kp "), "{out}");
    export_as_noted(&sb, &out);
    // Not for a certificate whose key the CA made.
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let id = crate::util::id_of(&sb, "www.example.com");
    let out = sb.ok(&["renew", &id, "--force"]);
    assert!(!out.contains("signed from a request"), "{out}");
}

/// Runs the `ca export` command that `said` gives (a PFX password on standard input), and
/// opens the PFX it writes with openssl.
fn export_as_noted(sb: &Sandbox, said: &str) {
    // The command names the CA's folder, as every command a message gives to run does.
    let command = said
        .split(&format!("`ca --data {} export ", sb.data().display()))
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("an export command: {said}"));
    let args: Vec<&str> = std::iter::once("export")
        .chain(command.split_whitespace())
        .collect();
    let mut export = sb
        .ca()
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = export.stdin.take().unwrap();
        stdin.write_all(b"a pfx password\n").unwrap();
    }
    let exported = export.wait_with_output().unwrap();
    assert!(
        exported.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let pfx = args[args.iter().position(|a| *a == "--out").unwrap() + 1];
    openssl_ok(
        sb.path(),
        &[
            "pkcs12",
            "-in",
            pfx,
            "-passin",
            "pass:a pfx password",
            "-noout",
        ],
    );
}

/// `ca sign` says which valid certificates already hold the request's names, as `ca issue`
/// does (on standard error: standard output may be the certificate), and leaves out, with a
/// word, a subject CN that is no host name beside the names of the subjectAltName.
#[test]
fn signing_says_who_holds_the_names_already_and_what_was_left_out() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let csr = crate::util::openssl_request(
        sb.path(),
        "r.csr",
        "ec",
        "/O=Example/CN=Exchange Server 2019",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=DNS:mail.example.com,DNS:owa.example.com",
        ],
    );
    // `ca sign ARGS`, which must succeed: what it said on standard error.
    let signed = |args: &[&str]| {
        let out = sb.run(&[&["sign"], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let stderr = signed(&[&csr, "--out", "signed.crt"]);
    assert!(
        stderr.contains("ca: note: certificate 1 for mail.example.com is still valid")
            && stderr.contains(&format!(
                "If this certificate replaces it, `{} revoke 1 --reason superseded` withdraws the old one once its server has the new one.",
                sb.said()
            ))
            && !stderr.contains("ca renew"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the request also asked for CN=Exchange Server 2019, O=Example")
            && stderr.contains("left out"),
        "named first: {stderr}"
    );
    let text = x509_text(sb.path(), "signed.crt");
    assert!(
        text.contains("Subject: CN = mail.example.com")
            && text.contains("DNS:mail.example.com, DNS:owa.example.com"),
        "{text}"
    );
    assert!(!stderr.contains("--client-auth"), "{stderr}");
    // A request that asks to be a CA, and for client authentication and code signing (as
    // certreq's and IIS's often ask for clientAuth): a server's certificate, and said so,
    // with the option that adds client authentication.
    let usages = crate::util::openssl_request(
        sb.path(),
        "u.csr",
        "ec",
        "/CN=vpn.example.com",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth,codeSigning",
        ],
    );
    let stderr = signed(&[&usages, "--out", "u.crt"]);
    assert!(
        stderr.contains(
            "the request also asked to be a CA (basicConstraints CA:TRUE) and for TLS client authentication, code signing, \
             which this certificate is not: it is a server's (TLS server authentication, CA:FALSE)"
        ) && stderr.contains("sign the request again with --client-auth"),
        "{stderr}"
    );
    let text = x509_text(sb.path(), "u.crt");
    assert!(
        text.contains("CA:FALSE")
            && text.contains("TLS Web Server Authentication")
            && !text.contains("Client Authentication")
            && !text.contains("Code Signing"),
        "{text}"
    );
    // With --client-auth, only what it still is not.
    let stderr = signed(&[&usages, "--out", "u2.crt", "--client-auth"]);
    assert!(
        stderr.contains("asked to be a CA (basicConstraints CA:TRUE) and for code signing, which")
            && stderr.contains("(TLS server and client authentication, CA:FALSE)")
            && !stderr.contains("sign the request again"),
        "{stderr}"
    );
    let text = x509_text(sb.path(), "u2.crt");
    assert!(
        text.contains("CA:FALSE")
            && text.contains("TLS Web Server Authentication, TLS Web Client Authentication")
            && !text.contains("Code Signing"),
        "{text}"
    );
}

/// An elliptic-curve key in compressed form (which some clients do not read, and which
/// would let one key pass for another) is refused, with what to do.
#[test]
fn a_request_with_a_compressed_key_is_refused() {
    let sb = Sandbox::new();
    sb.init(&[]);
    openssl_ok(
        sb.path(),
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "k.pem",
        ],
    );
    openssl_ok(
        sb.path(),
        &[
            "ec",
            "-in",
            "k.pem",
            "-conv_form",
            "compressed",
            "-out",
            "kc.pem",
        ],
    );
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-key",
            "kc.pem",
            "-subj",
            "/CN=x.example.com",
            "-out",
            "c.csr",
        ],
    );
    let stderr = sb.refused(&["sign", "c.csr"]);
    assert!(stderr.contains("compressed or hybrid form"), "{stderr}");
    assert_eq!(sb.row_count(), 0);
    // The same key, uncompressed, is signed.
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            "/CN=x.example.com",
            "-out",
            "u.csr",
        ],
    );
    sb.ok(&["sign", "u.csr", "--out", "u.crt"]);
}

/// A request signed with SHA-1 is taken as proof of possession (old IIS and Windows tools
/// still sign so); one signed with a digest or padding the CA cannot check is refused naming
/// it and the command to make it again, not reported as altered.
#[test]
fn request_signatures_are_checked_or_named() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let old = crate::util::openssl_request(
        sb.path(),
        "sha1.csr",
        "rsa:2048",
        "/CN=old.example.com",
        &["-sha1"],
    );
    sb.ok(&["sign", &old]);
    for (file, extra, named) in [
        ("md5.csr", &["-md5"][..], "MD5"),
        (
            "pss.csr",
            &["-sha256", "-sigopt", "rsa_padding_mode:pss"][..],
            "RSA-PSS",
        ),
    ] {
        let csr =
            crate::util::openssl_request(sb.path(), file, "rsa:2048", "/CN=new.example.com", extra);
        let said = sb.refused(&["sign", &csr]);
        assert!(
            said.contains(named) && said.contains("-sha256"),
            "{file}: {said}"
        );
        assert!(!said.contains("altered"), "{said}");
    }
    // A key of a kind the CA does not sign for is named as administrators know it.
    let csr =
        crate::util::openssl_request(sb.path(), "ed.csr", "ed25519", "/CN=ed.example.com", &[]);
    let said = sb.refused(&["sign", &csr]);
    assert!(
        said.contains("an Ed25519 key") && !said.contains("1.3.101"),
        "{said}"
    );
}

/// A request `ca sign` refuses for what it holds (a weak key, a name the rules refuse) is in
/// the log as a denied request, with its names, why, and an audit entry, as one refused on
/// the pages is: the log holds every request. A file that is no request is not one.
#[test]
fn a_request_refused_by_ca_sign_is_in_the_log_as_denied() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let weak = crate::util::openssl_request(
        sb.path(),
        "weak.csr",
        "rsa:1024",
        "/CN=weak.example.com",
        &[],
    );
    let said = sb.refused(&["sign", &weak]);
    assert!(
        said.starts_with("ca: error: request 1 is refused (recorded in the log as denied): the RSA key has 1024 bits"),
        "{said}"
    );
    let internal = crate::util::openssl_request(
        sb.path(),
        "int.csr",
        "ec",
        "/CN=srv01.corp.local",
        &["-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let said = sb.refused(&["sign", &internal, "--san", "www.corp.local"]);
    assert!(
        said.contains("request 2 is refused (recorded in the log as denied)")
            && said.contains("or pass --allow-internal"),
        "{said}"
    );
    // Where it cannot be recorded (a backup, which takes no writes), the refusal is said
    // all the same, with why it is not recorded.
    sb.ok(&["backup", "bk"]);
    let out = sb
        .ca_bare()
        .args(["--data", "bk", "sign", &weak])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("the request is refused (and could not be recorded in the log: ")
            && said.contains("the RSA key has 1024 bits"),
        "{said}"
    );
    // Not a request: refused, and nothing recorded.
    let said = sb.refused(&["sign", "ca-data/root.crt"]);
    assert!(
        said.contains("it is a certificate, not a certificate request"),
        "{said}"
    );
    sb.ok(&["sign", &internal, "--allow-internal", "--out", "int.crt"]);
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let denied: Vec<(i64, String, String)> = rows
        .iter()
        .filter(|row| row["status"] == "denied")
        .map(|row| {
            (
                row["id"].as_i64().unwrap(),
                row["source"].as_str().unwrap().to_owned(),
                row["names"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        denied,
        [
            (1, "csr".to_owned(), r#"["weak.example.com"]"#.to_owned()),
            (
                2,
                "csr".to_owned(),
                r#"["srv01.corp.local","www.corp.local"]"#.to_owned()
            ),
        ],
        "{rows:?}"
    );
    let shown = sb.ok(&["show", "1"]);
    assert!(
        shown.contains("denied") && shown.contains("the RSA key has 1024 bits"),
        "{shown}"
    );
    let audit = sb.ok(&["audit"]);
    assert!(
        audit.contains("refused: the RSA key has 1024 bits")
            && audit.contains("refused: 'srv01.corp.local' is refused"),
        "{audit}"
    );
}

#[test]
fn a_root_shorter_than_a_servers_certificate_is_said_at_init() {
    let short = Sandbox::new();
    let said = short.ok(&["init", "--key", "ecdsa-p256", "--days", "30"]);
    assert!(
        said.contains(
            "Note: the root is valid for 30 days only: every certificate it signs ends by then"
        ),
        "{said}"
    );
    let usual = Sandbox::new();
    let said = usual.ok(&["init", "--key", "ecdsa-p256", "--days", "400"]);
    assert!(!said.contains("the root is valid for"), "{said}");
}

/// A certificate is named by its thumbprint as Windows shows it (SHA-1, in the certificate's
/// details, IIS's bindings and PowerShell's `Cert:\`) or as `openssl x509 -fingerprint
/// -sha256` prints it, in any case, with or without colons or spaces: `ca show`, `ca revoke`
/// and `ca ocsp` find it. A thumbprint no certificate has is not found, and says so.
#[test]
fn a_certificate_is_named_by_its_thumbprint() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["issue", "autodiscover.example.com", "--key", "ecdsa-p256"]);
    let fingerprint = |algorithm: &str| {
        let out = openssl_ok(
            sb.path(),
            &[
                "x509",
                "-in",
                "www.example.com.crt",
                "-noout",
                "-fingerprint",
                algorithm,
            ],
        );
        out.trim().split_once('=').unwrap().1.to_owned()
    };
    let sha1 = fingerprint("-sha1");
    let sha256 = fingerprint("-sha256");
    assert_eq!((sha1.len(), sha256.len()), (59, 95), "{sha1} {sha256}");
    let windows = sha1.replace(':', "");
    let certutil = sha1.replace(':', " ").to_ascii_lowercase();
    let id_of = |reference: &str| {
        let shown: Value = serde_json::from_str(&sb.ok(&["show", reference, "--json"])).unwrap();
        shown["id"].as_i64().unwrap()
    };
    for reference in [
        &sha1,
        &windows,
        &certutil,
        &sha256,
        &sha256.replace(':', ""),
    ] {
        assert_eq!(id_of(reference), 2, "{reference}");
    }
    let shown = sb.ok(&["show", &windows]);
    assert!(shown.starts_with("Request 2 (valid)"), "{shown}");

    sb.ok(&[
        "revoke",
        &sha256.to_ascii_lowercase(),
        "--reason",
        "superseded",
    ]);
    let answer = sb.ok(&["ocsp", &windows]);
    assert!(answer.contains("revoked"), "{answer}");
    let statuses: Vec<String> = (1..=3)
        .map(|id| {
            let row: Value =
                serde_json::from_str(&sb.ok(&["show", &id.to_string(), "--json"])).unwrap();
            row["status"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(statuses, ["valid", "revoked", "valid"]);

    // Hostile and mistyped: none is found, each says what it looked for.
    let unknown_sha1 = "ab".repeat(20);
    let stderr = sb.refused(&["show", &unknown_sha1]);
    assert!(
        stderr.contains(&format!(
            "a certificate with serial number or SHA-1 thumbprint {unknown_sha1}"
        )) && stderr.contains("not found"),
        "{stderr}"
    );
    let stderr = sb.refused(&["revoke", &"cd".repeat(32)]);
    assert!(
        stderr.contains(&format!("SHA-256 thumbprint {}", "cd".repeat(32))),
        "{stderr}"
    );
    // A serial this CA never issued is the responder's "unknown", thumbprint-long or not.
    let answer = sb.ok(&["ocsp", &unknown_sha1]);
    assert!(answer.contains("unknown"), "{answer}");
    for mistyped in [
        &sha256[..sha256.len() - 1],
        "zz".repeat(20).as_str(),
        &"ab".repeat(33),
    ] {
        let stderr = sb.refused(&["show", mistyped]);
        assert!(
            stderr.contains("thumbprint (40 or 64 hex digits)"),
            "{stderr}"
        );
    }
    // A thumbprint copied a digit short is a serial number this CA never issued: the refusal
    // says how long a thumbprint is; a short serial's does not.
    let stderr = sb.refused(&["show", &windows[..39]]);
    assert!(
        stderr.contains("(a thumbprint has 40 hex digits, SHA-1, or 64, SHA-256"),
        "{stderr}"
    );
    // One in 256 thumbprints starts with two zeros, which a serial number leaves out: the
    // refusal still says how long a thumbprint is, and shows the digits as they were typed.
    let zeros = format!("0000{}", &windows[4..39]);
    let stderr = sb.refused(&["show", &zeros]);
    assert!(
        stderr.contains(&format!(
            "a certificate with serial {} was not found (a thumbprint has 40 hex digits",
            zeros.to_ascii_lowercase()
        )),
        "{stderr}"
    );
    let stderr = sb.refused(&["show", "abcdef"]);
    assert!(
        stderr.contains("a certificate with serial") && !stderr.contains("a thumbprint has"),
        "{stderr}"
    );
    assert_eq!(sb.row_count(), 3);
}
