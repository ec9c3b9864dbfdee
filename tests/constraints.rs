//! Roots with name constraints: what they issue verifies in OpenSSL and GnuTLS, and the CA's
//! own server can be run under them.

use std::process::{Command, Stdio};

use crate::util::{Sandbox, Server, openssl, openssl_ok};

/// `certtool --verify` (GnuTLS) of `file` under the sandbox's root, for `host`.
fn certtool_verifies(sb: &Sandbox, file: &str, host: &str) -> bool {
    let out = Command::new("certtool")
        .current_dir(sb.path())
        .args(["--verify", "--load-ca-certificate"])
        .arg(sb.data().join("root.crt"))
        .args(["--infile", file, "--verify-hostname", host])
        .stdin(Stdio::null())
        .output()
        .expect("GnuTLS certtool (Debian's gnutls-bin) is needed to verify what ca writes");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.contains("Chain verification output: Verified.")
}

fn openssl_verifies(sb: &Sandbox, file: &str, check: &[&str]) -> bool {
    let root = sb.data().join("root.crt");
    let mut args = vec!["verify", "-CAfile", root.to_str().unwrap()];
    args.extend_from_slice(check);
    args.push(file);
    openssl(sb.path(), &args).status.success()
}

#[test]
fn leaves_for_ip_addresses_have_no_common_name_and_verify_under_a_constrained_root() {
    let sb = Sandbox::new();
    sb.init(&["--permit", "example.com", "--permit", "192.0.2.0/24"]);
    sb.ok(&["issue", "192.0.2.10", "--key", "ecdsa-p256"]);
    sb.ok(&[
        "issue",
        "mail.example.com",
        "--ip",
        "192.0.2.11",
        "--key",
        "ecdsa-p256",
    ]);
    // An IP address alone: no CN (OpenSSL and GnuTLS would check an IP text in a CN against
    // the DNS constraints, and refuse it).
    let subject = openssl_ok(
        sb.path(),
        &["x509", "-in", "192.0.2.10.crt", "-noout", "-subject"],
    );
    assert_eq!(subject.trim(), "subject=", "{subject}");
    assert!(openssl_verifies(
        &sb,
        "192.0.2.10.crt",
        &["-verify_ip", "192.0.2.10"]
    ));
    assert!(!openssl_verifies(
        &sb,
        "192.0.2.10.crt",
        &["-verify_ip", "192.0.2.12"]
    ));
    assert!(certtool_verifies(&sb, "192.0.2.10.crt", "192.0.2.10"));
    // A DNS name and an IP address: the CN is the DNS name; both verify.
    let subject = openssl_ok(
        sb.path(),
        &["x509", "-in", "mail.example.com.crt", "-noout", "-subject"],
    );
    assert_eq!(subject.trim(), "subject=CN = mail.example.com", "{subject}");
    assert!(openssl_verifies(
        &sb,
        "mail.example.com.crt",
        &["-verify_hostname", "mail.example.com"]
    ));
    assert!(openssl_verifies(
        &sb,
        "mail.example.com.crt",
        &["-verify_ip", "192.0.2.11"]
    ));
    assert!(certtool_verifies(
        &sb,
        "mail.example.com.crt",
        "mail.example.com"
    ));
    assert!(certtool_verifies(&sb, "mail.example.com.crt", "192.0.2.11"));
    assert!(!certtool_verifies(
        &sb,
        "mail.example.com.crt",
        "www.example.com"
    ));
}

#[test]
fn a_constrained_root_serves_its_own_pages_with_a_certificate_clients_accept() {
    let sb = Sandbox::new();
    sb.init(&["--permit", "example.com"]);
    // Outside the constraints: refused before anything starts, naming the flag.
    let stderr = sb.refused(&[
        "serve",
        "--http",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
        "--hostname",
        "ca.example.org",
    ]);
    assert!(
        stderr.contains("--hostname ca.example.org is outside") && stderr.contains("example.com"),
        "{stderr}"
    );
    let server = Server::start_with(&sb, &["--hostname", "mail.example.com"]);
    let banner = server.banner.join("\n");
    assert!(
        banner.contains("Left localhost and 127.0.0.1 out of the server's certificate"),
        "{banner}"
    );
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", server.https_port))
        .args([
            "-servername",
            "mail.example.com",
            "-verify_hostname",
            "mail.example.com",
            "-verify_return_error",
            "-brief",
            "-CAfile",
        ])
        .arg(sb.data().join("root.crt"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Verification: OK"), "{text}");
    // The certificate holds only what the root permits.
    let served = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            sb.data().join("https.crt").to_str().unwrap(),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(served.contains("DNS:mail.example.com"), "{served}");
    assert!(
        !served.contains("localhost") && !served.contains("127.0.0.1"),
        "{served}"
    );
}

/// A root limited to an IP range vouches for no host name: a certificate its key signs for
/// one (as a thief of the key would, with OpenSSL) fails in OpenSSL and GnuTLS, while its own
/// certificates for its range verify. A range written with host bits is refused.
#[test]
fn a_root_limited_to_addresses_vouches_for_no_host_name() {
    let sb = Sandbox::new();
    let said = sb.refused(&["init", "--key", "ecdsa-p256", "--permit", "192.0.2.1/24"]);
    assert!(said.contains("192.0.2.0/24"), "{said}");
    assert!(!sb.data().join("root.crt").exists());
    sb.init(&["--permit", "192.0.2.0/24"]);
    let text = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "ca-data/root.crt",
            "-noout",
            "-ext",
            "nameConstraints",
        ],
    );
    assert!(
        text.contains("Excluded:") && text.contains("DNS:"),
        "{text}"
    );
    sb.ok(&["issue", "192.0.2.10", "--key", "ecdsa-p256"]);
    assert!(openssl_verifies(
        &sb,
        "192.0.2.10.crt",
        &["-verify_ip", "192.0.2.10"]
    ));
    assert!(certtool_verifies(&sb, "192.0.2.10.crt", "192.0.2.10"));
    // What a thief of the root key would sign for a host name, CN and SAN alike (OpenSSL 3's
    // `req -CA` writes a certificate).
    let root = sb.data().join("root.crt");
    let key = sb.data().join("root.key");
    let forged = crate::util::openssl_request(
        sb.path(),
        "forged.crt",
        "ec",
        "/CN=www.example.org",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=DNS:www.example.org",
            "-CA",
            root.to_str().unwrap(),
            "-CAkey",
            key.to_str().unwrap(),
        ],
    );
    assert!(!openssl_verifies(
        &sb,
        "forged.crt",
        &["-verify_hostname", "www.example.org"]
    ));
    assert!(!openssl_verifies(&sb, &forged, &[]));
    assert!(!certtool_verifies(&sb, &forged, "www.example.org"));
    // The same made for an address in the range verifies: the constraint, nothing else, is
    // what refuses the host name.
    let inside = crate::util::openssl_request(
        sb.path(),
        "inside.crt",
        "ec",
        "/",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=IP:192.0.2.20",
            "-CA",
            root.to_str().unwrap(),
            "-CAkey",
            key.to_str().unwrap(),
        ],
    );
    assert!(openssl_verifies(
        &sb,
        &inside,
        &["-verify_ip", "192.0.2.20"]
    ));
}

#[test]
fn acme_domains_the_root_may_not_vouch_for_are_refused_as_a_setting() {
    let sb = Sandbox::new();
    sb.init(&["--permit", "example.com", "--permit", "192.0.2.0/24"]);
    // A domain no name of which the root may vouch for: every order would be refused.
    let said = sb.refused(&["config", "set", "acme-domains", "example.org"]);
    assert!(
        said.contains(
            "example.org lies outside the names the root may vouch for (example.com, 192.0.2.0/24)"
        ),
        "{said}"
    );
    let said = sb.refused(&[
        "config",
        "set",
        "acme-domains",
        "mail.example.com,example.net",
    ]);
    assert!(said.contains("example.net"), "{said}");
    assert!(!sb.ok(&["config", "show"]).contains("example.net"));
    // Within the constraints, or around them (the constraints then narrow it): taken.
    for domains in ["mail.example.com", "example.com", "com"] {
        sb.ok(&["config", "set", "acme-domains", domains]);
    }
    assert!(sb.ok(&["config", "show"]).contains("acme-domains    com"));
    // Addresses and ranges, held to the root's ranges the same way; one address alone is kept
    // as written.
    for outside in ["198.51.100.7", "198.51.100.0/24", "2001:db8::1"] {
        let said = sb.refused(&["config", "set", "acme-domains", outside]);
        assert!(
            said.contains(&format!("{outside} lies outside")),
            "{outside}: {said}"
        );
    }
    let said = sb.refused(&["config", "set", "acme-domains", "192.0.2.1/24"]);
    assert!(said.contains("the range is 192.0.2.0/24"), "{said}");
    sb.ok(&[
        "config",
        "set",
        "acme-domains",
        "example.com, 192.0.2.7 192.0.0.0/16",
    ]);
    assert!(
        sb.ok(&["config", "show"])
            .contains("acme-domains    example.com,192.0.2.7,192.0.0.0/16")
    );
    // Entries under which ACME could issue nothing are refused, each saying why; duplicates
    // fold, any white space separates, an IPv6 address may come in brackets.
    for (never, why) in [
        ("192.0.2.0/024", "without leading zeros"),
        ("192.0.2.0/+24", "without leading zeros"),
        ("fe80::1%eth0", "zone index"),
        ("::ffff:192.0.2.0/120", "give 192.0.2.0/24"),
    ] {
        let said = sb.refused(&["config", "set", "acme-domains", never]);
        assert!(said.contains(why), "{never}: {said}");
    }
    let unconstrained = Sandbox::new();
    unconstrained.init(&[]);
    for internal in [
        "10.0.0.0/8",
        "192.168.1.0/24",
        "::1",
        "fe80::/10",
        "corp.local",
        "224.0.0.1",
        "example.invalid",
    ] {
        let said = unconstrained.refused(&["config", "set", "acme-domains", internal]);
        assert!(
            said.contains("holds only internal names or addresses"),
            "{internal}: {said}"
        );
    }
    unconstrained.ok(&[
        "config",
        "set",
        "acme-domains",
        "192.0.2.1,192.0.2.1 [2001:db8::1]\n192.0.2.1",
    ]);
    assert!(
        unconstrained
            .ok(&["config", "show"])
            .contains("acme-domains    192.0.2.1,2001:db8::1\n")
    );
    assert!(
        unconstrained
            .ok(&["acme"])
            .contains("acme-domains    addresses in 192.0.2.1, 2001:db8::1; no DNS name")
    );
    // What an earlier version took stays readable, refused or not now.
    unconstrained.alter_log("UPDATE settings SET value = 'corp.local' WHERE key = 'acme_domains'");
    assert!(
        unconstrained
            .ok(&["acme"])
            .contains("acme-domains    names under corp.local; no IP address")
    );
    assert!(
        unconstrained
            .ok(&["acme"])
            .contains("Note: ACME issues for no name under corp.local")
    );
    unconstrained.alter_log(
        "UPDATE settings SET value = 'example.com,192.0.2.0/024' WHERE key = 'acme_domains'",
    );
    assert!(
        unconstrained
            .ok(&["acme"])
            .contains("acme-domains    names under example.com and addresses in 192.0.2.0/24")
    );
    unconstrained.ok(&["config", "set", "acme-domains", ""]);
    // A root limited to addresses vouches for no domain at all.
    let addresses = Sandbox::new();
    addresses.init(&["--permit", "192.0.2.0/24"]);
    let said = addresses.refused(&["config", "set", "acme-domains", "example.com"]);
    assert!(said.contains("(192.0.2.0/24)"), "{said}");
}
