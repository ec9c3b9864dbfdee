//! PKCS#7, PFX, DER/PEM exports and `ca sign`, each checked with `openssl`.

use serde_json::Value;

use crate::util::{Sandbox, openssl, openssl_ok, openssl_request};

/// `openssl pkcs12 -info` of `pfx` in the sandbox, its password in the file `pw` there, without
/// `-legacy`: OpenSSL 3 must open it as it is.
pub(crate) fn pkcs12_info(sb: &Sandbox, pfx: &str) -> String {
    let out = openssl(
        sb.path(),
        &[
            "pkcs12", "-info", "-noenc", "-passin", "file:pw", "-in", pfx,
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl pkcs12 -info failed: {text}");
    text
}

fn issue_with_pfx(sb: &Sandbox, name: &str, extra: &[&str]) -> String {
    std::fs::write(sb.file("pw"), "Pfx pässword 1\n").unwrap();
    let mut args = vec!["issue", name, "--pfx-password-file", "pw"];
    args.extend_from_slice(extra);
    sb.ok(&args);
    pkcs12_info(sb, &format!("{name}.pfx"))
}

/// The key and certificates inside a PFX match the files `ca issue` wrote.
fn assert_pfx_holds(sb: &Sandbox, name: &str) {
    let pem = openssl_ok(
        sb.path(),
        &[
            "pkcs12",
            "-in",
            &format!("{name}.pfx"),
            "-passin",
            "file:pw",
            "-noenc",
        ],
    );
    std::fs::write(sb.file("from-pfx.pem"), &pem).unwrap();
    let key_pub = openssl_ok(sb.path(), &["pkey", "-in", "from-pfx.pem", "-pubout"]);
    let leaf_pub = openssl_ok(
        sb.path(),
        &["x509", "-in", &format!("{name}.crt"), "-noout", "-pubkey"],
    );
    assert_eq!(key_pub, leaf_pub, "the PFX's key belongs to the leaf");
    let leaf = std::fs::read_to_string(sb.file(&format!("{name}.crt"))).unwrap();
    let root = std::fs::read_to_string(sb.data().join("root.crt")).unwrap();
    assert!(pem.contains(leaf.trim()), "the PFX holds the leaf");
    assert!(pem.contains(root.trim()), "the PFX holds the root");
}

#[test]
fn compat_pfx_opens_in_openssl_3_without_legacy_and_carries_what_iis_needs() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Example Root CA"]);
    let info = issue_with_pfx(&sb, "mail.example.com", &[]);
    assert!(info.contains("MAC: sha1"), "{info}");
    assert!(
        info.contains("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{info}"
    );
    assert!(
        info.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{info}"
    );
    // Judged on the lines that name algorithms: the PEM blocks' base64 may hold "RC2" by chance.
    let algorithms: Vec<&str> = info
        .lines()
        .filter(|l| l.contains("Encrypted data") || l.contains("Keybag") || l.starts_with("MAC"))
        .collect();
    assert_eq!(algorithms.len(), 4, "{info}");
    assert!(algorithms.iter().all(|l| !l.contains("RC2")), "{info}");
    assert_eq!(
        info.matches("localKeyID:").count(),
        2,
        "on the key and the leaf only: {info}"
    );
    assert_eq!(
        info.matches("friendlyName: mail.example.com").count(),
        2,
        "{info}"
    );
    assert!(
        info.contains("Microsoft CSP Name: Microsoft Enhanced RSA and AES Cryptographic Provider"),
        "{info}"
    );
    // The root's bag carries no attributes at all.
    assert!(
        info.contains("Bag Attributes: <No Attributes>\nsubject=CN = Example Root CA"),
        "{info}"
    );
    assert_pfx_holds(&sb, "mail.example.com");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(sb.file("mail.example.com.pfx"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // Round trip: what OpenSSL takes out, it can put back into a PFX of its own.
    openssl_ok(
        sb.path(),
        &[
            "pkcs12",
            "-in",
            "mail.example.com.pfx",
            "-passin",
            "file:pw",
            "-noenc",
            "-out",
            "all.pem",
        ],
    );
    openssl_ok(
        sb.path(),
        &[
            "pkcs12",
            "-export",
            "-in",
            "all.pem",
            "-passout",
            "file:pw",
            "-out",
            "again.pfx",
        ],
    );
    pkcs12_info(&sb, "again.pfx");
}

#[test]
fn modern_pfx_uses_pbes2_aes_256_and_an_hmac_sha256_mac() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let info = issue_with_pfx(&sb, "mail.example.com", &["--pfx-profile", "modern"]);
    assert!(info.contains("MAC: sha256"), "{info}");
    assert!(
        info.contains("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC")
            && info.contains("PRF hmacWithSHA256"),
        "{info}"
    );
    assert!(
        info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"),
        "{info}"
    );
    assert!(
        !info.contains("Microsoft CSP Name"),
        "the CSP attribute belongs to the compat profile"
    );
    assert_eq!(info.matches("localKeyID:").count(), 2, "{info}");
    assert_pfx_holds(&sb, "mail.example.com");
}

#[test]
fn pfx_for_an_ecdsa_key() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let info = issue_with_pfx(&sb, "mail.example.com", &["--key", "ecdsa-p256"]);
    assert!(
        !info.contains("Microsoft CSP Name"),
        "an RSA provider cannot hold an EC key: {info}"
    );
    assert!(info.contains("friendlyName: mail.example.com"));
    assert_pfx_holds(&sb, "mail.example.com");
}

#[test]
fn refuses_an_empty_pfx_password_before_issuing_anything() {
    let sb = Sandbox::new();
    sb.init(&[]);
    std::fs::write(sb.file("pw"), "\n").unwrap();
    let stderr = sb.refused(&["issue", "mail.example.com", "--pfx-password-file", "pw"]);
    assert!(stderr.contains("PFX password is empty"), "{stderr}");
    let stderr = sb.refused(&[
        "issue",
        "mail.example.com",
        "--pfx-password-file",
        "missing",
    ]);
    assert!(stderr.contains("cannot read the PFX password"), "{stderr}");
    let stderr = sb.refused(&[
        "issue",
        "mail.example.com",
        "--pfx-password-file",
        "pw",
        "--pfx-profile",
        "rc2",
    ]);
    assert!(
        stderr.contains("invalid value 'rc2' for '--pfx-profile")
            && stderr.contains("compat, modern"),
        "{stderr}"
    );
    assert_eq!(sb.files(), ["pw"]);
    assert_eq!(sb.row_count(), 0);
}

fn subjects(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("subject="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn pkcs7_chains_list_leaf_then_root_in_der_and_pem() {
    let sb = Sandbox::new();
    sb.ok(&["init", "--key", "ecdsa-p256", "--name", "Example Root CA"]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["export", "1", "--format", "p7b", "--out", "chain.p7b"]);
    let der = openssl_ok(
        sb.path(),
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "chain.p7b",
            "-print_certs",
            "-noout",
        ],
    );
    assert_eq!(
        subjects(&der),
        ["CN = mail.example.com", "CN = Example Root CA"]
    );
    sb.ok(&["export", "1", "--format", "p7b-pem", "--out", "chain.p7c"]);
    assert!(
        std::fs::read_to_string(sb.file("chain.p7c"))
            .unwrap()
            .starts_with("-----BEGIN PKCS7-----")
    );
    let pem = openssl_ok(
        sb.path(),
        &["pkcs7", "-in", "chain.p7c", "-print_certs", "-noout"],
    );
    assert_eq!(
        subjects(&pem),
        ["CN = mail.example.com", "CN = Example Root CA"]
    );

    sb.ok(&["root", "--format", "p7b", "--out", "root.p7b"]);
    let root = openssl_ok(
        sb.path(),
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "root.p7b",
            "-print_certs",
            "-noout",
        ],
    );
    assert_eq!(subjects(&root), ["CN = Example Root CA"]);
    let root_pem = sb.ok(&["root", "--format", "p7b-pem"]);
    std::fs::write(sb.file("root.p7c"), root_pem).unwrap();
    let root = openssl_ok(
        sb.path(),
        &["pkcs7", "-in", "root.p7c", "-print_certs", "-noout"],
    );
    assert_eq!(subjects(&root), ["CN = Example Root CA"]);
}

#[test]
fn exports_der_and_pem_by_id_and_by_serial() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let row: Value = serde_json::from_str(&sb.ok(&["show", "1", "--json"])).unwrap();
    let serial = row["serial"].as_str().unwrap().to_owned();
    sb.ok(&["export", &serial, "--format", "der", "--out", "leaf.cer"]);
    let from_der = openssl_ok(sb.path(), &["x509", "-inform", "DER", "-in", "leaf.cer"]);
    let leaf = std::fs::read_to_string(sb.file("mail.example.com.crt")).unwrap();
    assert_eq!(from_der, leaf);
    let pem = sb.ok(&["export", "1", "--format", "pem"]);
    let chain = std::fs::read_to_string(sb.file("mail.example.com-chain.pem")).unwrap();
    assert_eq!(pem, chain);
    // crt: the certificate alone in PEM, the very .crt `ca issue` wrote.
    assert_eq!(sb.ok(&["export", &serial, "--format", "crt"]), leaf);
    sb.ok(&["export", "1", "--format", "crt", "--out", "again.crt"]);
    assert_eq!(
        openssl_ok(sb.path(), &["x509", "-in", "again.crt"]),
        from_der
    );
    // PEM unless told otherwise, as `ca root` and `ca crl` write; Base64 in a .cer, as
    // Windows writes it too; but not into a file whose name says another format, unless asked.
    assert_eq!(sb.ok(&["export", "1"]), chain);
    sb.ok(&["export", "1", "--out", "b64.cer"]);
    assert_eq!(std::fs::read_to_string(sb.file("b64.cer")).unwrap(), chain);
    for (out, format) in [
        ("leaf.pfx", "add --format pfx with --key"),
        ("leaf.P12", "add --format pfx with --key"),
        (".pfx", "add --format pfx with --key"),
        ("leaf.der", "add --format der, or --format pem"),
        (
            "leaf.p7b",
            "add --format p7b (or p7b-pem for Base64), or --format pem",
        ),
    ] {
        let said = sb.refused(&["export", "1", "--out", out]);
        assert!(said.contains(format), "{out}: {said}");
        assert!(!sb.file(out).exists(), "{out}");
    }
    sb.ok(&["export", "1", "--format", "pem", "--out", "asked.der"]);
    std::fs::write(sb.file("pw"), "a password\n").unwrap();
    let said = sb.refused(&[
        "export",
        "1",
        "--key",
        "mail.example.com.key",
        "--pfx-password-file",
        "pw",
        "--out",
        "later.pfx",
    ]);
    assert!(said.contains("add --format pfx"), "{said}");
    let said = sb.refused(&["export", "1", "--format", "pem", "--pfx-profile", "modern"]);
    assert!(
        said.contains("--pfx-profile go with --format pfx"),
        "{said}"
    );
    let said = sb.refused(&["export", "1", "--pfx-profile", "modern"]);
    assert!(said.contains("make a PFX: add --format pfx"), "{said}");
    // `--out -` is standard output, as OpenSSL reads it, never a file named `-`.
    assert_eq!(
        sb.ok(&["export", "1", "--format", "pem", "--out", "-"]),
        chain
    );
    let root = std::fs::read_to_string(sb.data().join("root.crt")).unwrap();
    assert_eq!(sb.ok(&["root", "--out", "-"]), root);
    assert!(
        sb.ok(&["crl", "--format", "pem", "--out", "-"])
            .starts_with("-----BEGIN X509 CRL-----")
    );
    assert!(!sb.file("-").exists());
    sb.refused(&["export", "1", "--format", "pfx"]);
    sb.refused(&["export", "7", "--format", "pem"]);
}

/// `ca export ID --format pfx --key KEY --pfx-password-file pw --out OUT EXTRA...`.
fn export_pfx(
    sb: &Sandbox,
    id: &str,
    key: &str,
    out: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "export",
        id,
        "--format",
        "pfx",
        "--key",
        key,
        "--pfx-password-file",
        "pw",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    sb.run(&args)
}

/// What GnuTLS (`certtool --p12-info`) and NSS (`pk12util -l`) read in `pfx`, made with the
/// password in the sandbox's file `pw`: the second opinions on a PFX, beside OpenSSL's.
fn pfx_second_opinions(sb: &Sandbox, pfx: &str, friendly_name: &str) {
    let password = std::fs::read_to_string(sb.file("pw")).unwrap();
    let password = password.trim_end();
    let gnutls = std::process::Command::new("certtool")
        .args([
            "--p12-info",
            "--inder",
            "--infile",
            pfx,
            "--password",
            password,
        ])
        .current_dir(sb.path())
        .output()
        .expect("GnuTLS certtool (Debian's gnutls-bin) reads PFX files");
    let said = String::from_utf8_lossy(&gnutls.stdout);
    assert!(
        gnutls.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&gnutls.stderr)
    );
    assert!(
        said.contains(&format!("Friendly name: {friendly_name}")),
        "{said}"
    );
    assert!(said.contains("Type: PKCS #8 Encrypted key"), "{said}");
    let nss = std::process::Command::new("pk12util")
        .args(["-l", pfx, "-W", password])
        .current_dir(sb.path())
        .output()
        .expect("NSS pk12util (Debian's libnss3-tools) reads PFX files");
    let said = String::from_utf8_lossy(&nss.stdout);
    assert!(
        nss.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&nss.stderr)
    );
    assert!(said.contains("Certificate(has private key)"), "{said}");
    assert!(said.contains("Key(shrouded)"), "{said}");
}

/// A certificate issued without a PFX gets one later, from the key its holder kept (for IIS:
/// `openssl pkcs12 -export` writes AES-256 by default, which Windows before Server 2019 cannot
/// import). Only the certificate's own key goes in, an encrypted one with its passphrase, and
/// only into a new file, mode 0600; every refusal writes nothing.
#[test]
fn a_pfx_is_made_later_from_the_key_the_holder_kept() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "mail.example.com", "--key", "rsa2048"]);
    sb.ok(&["issue", "www.example.com", "--key", "rsa2048"]);
    sb.ok(&["issue", "ec.example.com", "--key", "ecdsa-p256"]);
    std::fs::write(sb.file("pw"), "Pfx pässword 1\n").unwrap();
    let out = export_pfx(
        &sb,
        "1",
        "mail.example.com.key",
        "mail.example.com.pfx",
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_pfx_holds(&sb, "mail.example.com");
    pfx_second_opinions(&sb, "mail.example.com.pfx", "mail.example.com");
    let info = pkcs12_info(&sb, "mail.example.com.pfx");
    assert!(info.contains("friendlyName: mail.example.com"), "{info}");
    assert!(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{info}");
    let mode = std::fs::metadata(sb.file("mail.example.com.pfx"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The key in the structures OpenSSL's older commands write: SEC1 (`openssl ec`,
    // `ecparam -genkey`) and PKCS#1 (`genrsa -traditional`), read as the PKCS#8 they wrap
    // into; encrypted the traditional way, pointed to the conversion.
    openssl_ok(
        sb.path(),
        &["ec", "-in", "ec.example.com.key", "-out", "sec1.key"],
    );
    openssl_ok(
        sb.path(),
        &[
            "rsa",
            "-in",
            "mail.example.com.key",
            "-traditional",
            "-out",
            "pkcs1.key",
        ],
    );
    openssl_ok(
        sb.path(),
        &[
            "rsa",
            "-in",
            "mail.example.com.key",
            "-traditional",
            "-aes256",
            "-passout",
            "pass:old way",
            "-out",
            "traditional.key",
        ],
    );
    for (id, key, name) in [
        ("3", "sec1.key", "ec.example.com"),
        ("1", "pkcs1.key", "mail.example.com"),
    ] {
        assert!(
            std::fs::read_to_string(sb.file(key))
                .unwrap()
                .contains(if id == "3" {
                    "BEGIN EC PRIVATE KEY"
                } else {
                    "BEGIN RSA PRIVATE KEY"
                })
        );
        let _ = std::fs::remove_file(sb.file(&format!("{name}.pfx")));
        let out = export_pfx(&sb, id, key, &format!("{name}.pfx"), &[]);
        assert!(
            out.status.success(),
            "{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_pfx_holds(&sb, name);
    }
    std::fs::write(sb.file("kp"), "key secret\n").unwrap();
    std::fs::write(sb.file("wrong"), "not it\n").unwrap();
    openssl_ok(
        sb.path(),
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "ec.example.com.key",
            "-out",
            "enc.key",
            "-passout",
            "file:kp",
        ],
    );
    for (id, key, out, extra, said) in [
        (
            "1",
            "www.example.com.key",
            "a.pfx",
            &[][..],
            "holds another key than the certificate's",
        ),
        (
            "1",
            "ec.example.com.key",
            "a.pfx",
            &[],
            "does not hold a usable key of the certificate's kind",
        ),
        (
            "1",
            "mail.example.com.crt",
            "a.pfx",
            &[],
            "holds no PEM private key",
        ),
        (
            "3",
            "pkcs1.key",
            "a.pfx",
            &[],
            "does not hold a usable key of the certificate's kind",
        ),
        (
            "1",
            "traditional.key",
            "a.pfx",
            &[],
            "encrypted the traditional OpenSSL way",
        ),
        (
            "3",
            "enc.key",
            "a.pfx",
            &[],
            "is encrypted: give its passphrase",
        ),
        (
            "3",
            "enc.key",
            "a.pfx",
            &["--key-passphrase-file", "wrong"],
            "the passphrase is wrong",
        ),
        (
            "1",
            "mail.example.com.key",
            "mail.example.com.pfx",
            &[],
            "already exists",
        ),
        (
            "1",
            "mail.example.com.key",
            "mail.example.com.crt",
            &[],
            "already exists",
        ),
        (
            "9",
            "mail.example.com.key",
            "a.pfx",
            &[],
            "request 9 was not found",
        ),
    ] {
        let out = export_pfx(&sb, id, key, out, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(said), "{key}: {stderr}");
        assert!(!sb.file("a.pfx").exists(), "{key}: {stderr}");
    }
    for out in ["/dev/stdout", "-"] {
        let out = export_pfx(&sb, "1", "mail.example.com.key", out, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty(), "{stderr}");
    }
    // What is not found is pointed to where it would be listed.
    let stderr = sb.refused(&["export", "9", "--format", "pem"]);
    assert!(
        stderr.contains(&format!(
            "`{} list` shows the requests and certificates there are",
            sb.said()
        )),
        "{stderr}"
    );
    let stderr = sb.refused(&["user", "role", "nobody", "admin"]);
    assert!(
        stderr.contains(&format!("`{} user list` shows the users", sb.said())),
        "{stderr}"
    );
    let crt = std::fs::read_to_string(sb.file("mail.example.com.crt")).unwrap();
    assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"), "{crt}");
    let stderr = sb.refused(&[
        "export",
        "1",
        "--format",
        "pfx",
        "--key",
        "mail.example.com.key",
    ]);
    assert!(stderr.contains("--pfx-password-file"), "{stderr}");
    let stderr = sb.refused(&[
        "export",
        "1",
        "--format",
        "pem",
        "--key",
        "mail.example.com.key",
    ]);
    assert!(stderr.contains("go with --format pfx"), "{stderr}");

    // A revoked certificate's PFX is made, with a warning.
    sb.ok(&["revoke", "2"]);
    let out = export_pfx(&sb, "2", "www.example.com.key", "www.example.com.pfx", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ca: warning: certificate 2 is revoked"),
        "{stderr}"
    );

    // An encrypted key, with its passphrase; in the modern profile.
    std::fs::remove_file(sb.file("ec.example.com.pfx")).unwrap();
    let out = export_pfx(
        &sb,
        "3",
        "enc.key",
        "ec.example.com.pfx",
        &["--key-passphrase-file", "kp", "--pfx-profile", "modern"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_pfx_holds(&sb, "ec.example.com");
    pfx_second_opinions(&sb, "ec.example.com.pfx", "ec.example.com");
    let info = pkcs12_info(&sb, "ec.example.com.pfx");
    assert!(
        info.contains("PBES2") && info.contains("AES-256-CBC"),
        "{info}"
    );
}

fn sign_and_verify(sb: &Sandbox, csr: &str, expect_san: &str) {
    let out = format!("{csr}.crt");
    sb.ok(&["sign", csr, "--out", &out]);
    crate::util::assert_verifies_strictly(sb, &out);
    let text = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            &out,
            "-noout",
            "-ext",
            "subjectAltName,basicConstraints",
        ],
    );
    assert!(text.contains(expect_san), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
}

/// A signed certificate that standard output cannot take (a full disk behind it) is in the log
/// all the same, and the error's `ca export` writes it as `ca sign` does: the certificate
/// alone, for the request's key.
#[test]
fn a_signed_certificate_that_could_not_be_written_is_written_again_as_advised() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let csr = openssl_request(
        sb.path(),
        "full.csr",
        "ec",
        "/CN=full.example.com",
        &["-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let out = sb
        .ca()
        .args(["sign", &csr])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("certificate 1 was issued and is in the log, but could not be written")
            && said.contains(&format!(
                "`ca --data {} export 1 --format crt --out FILE` writes it again",
                sb.data().display()
            ))
            && !said.contains("try again"),
        "{said}"
    );
    sb.ok(&["export", "1", "--format", "crt", "--out", "again.crt"]);
    let again = std::fs::read_to_string(sb.file("again.crt")).unwrap();
    assert_eq!(again.matches("BEGIN CERTIFICATE").count(), 1, "{again}");
    assert_eq!(
        openssl_ok(
            sb.path(),
            &["x509", "-in", "again.crt", "-noout", "-pubkey"]
        ),
        openssl_ok(sb.path(), &["req", "-in", &csr, "-noout", "-pubkey"])
    );
}

/// What a request asks for that a server certificate does not carry (subject attributes
/// besides the CN, an email address, a URI) is named in a note instead of being dropped
/// unseen, with no control character of the request reaching the terminal; a request that
/// asks for nothing more gets no note.
#[test]
fn a_request_is_told_what_it_asked_for_and_did_not_get() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let extra = openssl_request(
        sb.path(),
        "extra.csr",
        "ec",
        "/CN=app.example.com/O=Example Ltd/OU=IT\x1b[31m",
        &[
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-addext",
            "subjectAltName=DNS:app.example.com,email:admin@example.com,URI:https://app.example.com/",
        ],
    );
    let out = sb.run(&["sign", &extra, "--out", "extra.crt"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "ca: note: the request also asked for O=Example Ltd, OU=IT\\u{1b}[31m, email admin@example.com, URI https://app.example.com/, which"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr}");
    let san = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "extra.crt",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(san.contains("DNS:app.example.com"), "{san}");
    assert!(
        !san.contains("admin@") && !san.contains("Example Ltd"),
        "{san}"
    );

    let plain = openssl_request(
        sb.path(),
        "plain.csr",
        "ec",
        "/CN=www.example.com",
        &["-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let out = sb.run(&["sign", &plain, "--out", "plain.crt"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("note"), "{stderr}");
}

#[test]
fn signs_requests_made_by_openssl_in_every_accepted_encoding() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let plain = openssl_request(
        sb.path(),
        "plain.csr",
        "rsa:2048",
        "/CN=Mail.Example.com/O=Example",
        &[],
    );
    sign_and_verify(&sb, &plain, "DNS:mail.example.com");

    let with_san = openssl_request(
        sb.path(),
        "san.csr",
        "rsa:2048",
        "/CN=mail.example.com",
        &[
            "-addext",
            "subjectAltName=DNS:autodiscover.example.com,IP:192.0.2.10",
        ],
    );
    sign_and_verify(
        &sb,
        &with_san,
        "DNS:mail.example.com, DNS:autodiscover.example.com, IP Address:192.0.2.10",
    );

    let ec = openssl_request(
        sb.path(),
        "ec.csr",
        "ec",
        "/CN=ec.example.com",
        &["-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    sign_and_verify(&sb, &ec, "DNS:ec.example.com");

    // IIS's certreq.txt: "NEW CERTIFICATE REQUEST" with CRLF line ends.
    let pem = std::fs::read_to_string(sb.file("plain.csr")).unwrap();
    let iis = pem
        .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
        .replace('\n', "\r\n");
    std::fs::write(sb.file("certreq.txt"), iis).unwrap();
    sign_and_verify(&sb, "certreq.txt", "DNS:mail.example.com");

    // Bare base64 with CRLF, and DER.
    let bare: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    std::fs::write(sb.file("bare.b64"), bare.join("\r\n")).unwrap();
    sign_and_verify(&sb, "bare.b64", "DNS:mail.example.com");
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-in",
            "plain.csr",
            "-outform",
            "DER",
            "-out",
            "plain.der",
        ],
    );
    sign_and_verify(&sb, "plain.der", "DNS:mail.example.com");

    // A request cannot make itself a CA: its extensions are ignored.
    let ca_req = openssl_request(
        sb.path(),
        "ca.csr",
        "rsa:2048",
        "/CN=evil.example.com",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    sign_and_verify(&sb, &ca_req, "DNS:evil.example.com");
    let text = openssl_ok(
        sb.path(),
        &["x509", "-in", "ca.csr.crt", "-noout", "-ext", "keyUsage"],
    );
    assert!(!text.contains("Certificate Sign"), "{text}");

    // Each request and its result are in the log.
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 7);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["source"] == "csr" && r["status"] == "valid")
    );
}

#[test]
fn refuses_weak_forged_wildcard_garbage_and_empty_requests() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let weak = openssl_request(
        sb.path(),
        "weak.csr",
        "rsa:1024",
        "/CN=mail.example.com",
        &[],
    );
    let stderr = sb.refused(&["sign", &weak]);
    assert!(
        stderr.contains("1024 bits")
            && stderr.contains("regenerate the request with a 2048-bit key"),
        "{stderr}"
    );

    let good = openssl_request(
        sb.path(),
        "good.csr",
        "rsa:2048",
        "/CN=mail.example.com",
        &[],
    );
    openssl_ok(
        sb.path(),
        &["req", "-in", &good, "-outform", "DER", "-out", "good.der"],
    );
    let mut der = std::fs::read(sb.file("good.der")).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    std::fs::write(sb.file("forged.der"), der).unwrap();
    let stderr = sb.refused(&["sign", "forged.der"]);
    assert!(stderr.contains("signature does not verify"), "{stderr}");

    let wildcard = openssl_request(sb.path(), "wild.csr", "rsa:2048", "/CN=*.com", &[]);
    let stderr = sb.refused(&["sign", &wildcard]);
    assert!(
        stderr.contains("'*.com'") && stderr.contains("at least two labels"),
        "{stderr}"
    );

    std::fs::write(sb.file("garbage.csr"), "this is not a request\n").unwrap();
    let stderr = sb.refused(&["sign", "garbage.csr"]);
    assert!(
        stderr.contains("certificate request is refused"),
        "{stderr}"
    );
    std::fs::write(sb.file("empty.csr"), "").unwrap();
    let stderr = sb.refused(&["sign", "empty.csr"]);
    assert!(stderr.contains("empty"), "{stderr}");
    let stderr = sb.refused(&["sign", "no-such.csr"]);
    assert!(stderr.contains("cannot read"), "{stderr}");

    // What was read as a request and refused for what it holds is in the log as denied
    // (the weak key, the forged signature, the wildcard); garbage, nothing and no file are
    // no request, and leave nothing.
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.iter().all(|row| row["status"] == "denied"), "{rows:?}");
    assert_eq!(rows.len(), 3, "{rows:?}");
}

#[test]
fn encrypts_the_leaf_key_with_a_passphrase_from_a_file() {
    let sb = Sandbox::new();
    sb.init(&[]);
    std::fs::write(sb.file("kp"), "leaf key passphrase\n").unwrap();
    sb.ok(&[
        "issue",
        "mail.example.com",
        "--key",
        "ecdsa-p256",
        "--key-passphrase-file",
        "kp",
    ]);
    let key = std::fs::read_to_string(sb.file("mail.example.com.key")).unwrap();
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{key}"
    );
    let public = openssl_ok(
        sb.path(),
        &[
            "pkey",
            "-in",
            "mail.example.com.key",
            "-passin",
            "file:kp",
            "-pubout",
        ],
    );
    let cert = openssl_ok(
        sb.path(),
        &["x509", "-in", "mail.example.com.crt", "-noout", "-pubkey"],
    );
    assert_eq!(public, cert);
    assert!(
        !openssl(
            sb.path(),
            &[
                "pkey",
                "-in",
                "mail.example.com.key",
                "-passin",
                "pass:wrong",
                "-noout"
            ]
        )
        .status
        .success()
    );
}

/// `ca issue --force` (or `ca renew --force`) without a PFX password, where NAME.pfx is left
/// from an earlier certificate, would leave that PFX (the old key, the old certificate)
/// beside the new files, where IIS imports it: refused before anything is issued. With a
/// PFX password it is replaced, and holds the new key.
#[test]
fn a_pfx_left_from_an_earlier_certificate_is_replaced_or_the_issue_refused() {
    let sb = Sandbox::new();
    sb.init(&[]);
    issue_with_pfx(&sb, "mail.example.com", &["--key", "ecdsa-p256"]);
    let (pfx, rows) = (
        std::fs::read(sb.file("mail.example.com.pfx")).unwrap(),
        sb.row_count(),
    );
    for args in [
        vec![
            "issue",
            "mail.example.com",
            "--key",
            "ecdsa-p256",
            "--force",
        ],
        vec!["renew", "1", "--force"],
    ] {
        let refusal = sb.refused(&args);
        assert!(
            refusal.contains("mail.example.com.pfx is there already")
                && refusal.contains("--pfx-password-file"),
            "{args:?}: {refusal}"
        );
    }
    assert_eq!(sb.row_count(), rows, "nothing issued");
    assert_eq!(std::fs::read(sb.file("mail.example.com.pfx")).unwrap(), pfx);
    assert_pfx_holds(&sb, "mail.example.com");
    // Passwords are read last, after what would refuse the command anyway (here the
    // folder), and only one of them from standard input.
    let refusal = sb.refused(&[
        "issue",
        "b.example.com",
        "--pfx-password-file",
        "no-such-file",
        "--out",
        "missing",
    ]);
    assert!(refusal.contains("missing does not exist"), "{refusal}");
    let refusal = sb.refused(&[
        "issue",
        "b.example.com",
        "--pfx-password-file",
        "-",
        "--key-passphrase-file",
        "-",
    ]);
    assert!(
        refusal.contains("cannot both read standard input"),
        "{refusal}"
    );
    issue_with_pfx(&sb, "mail.example.com", &["--key", "ecdsa-p256", "--force"]);
    assert_pfx_holds(&sb, "mail.example.com");
    assert_ne!(std::fs::read(sb.file("mail.example.com.pfx")).unwrap(), pfx);
}

/// A password read from standard input that is a terminal (`--pfx-password-file -`) is not
/// shown as it is typed, and is asked twice: two that differ issue nothing. Typed through a
/// real pseudo-terminal (Python's pty module).
#[test]
fn a_password_typed_at_a_terminal_is_not_shown_and_asked_twice() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let typed = |answers: &str, name: &str| {
        crate::util::at_a_terminal(
            &sb,
            answers,
            &[
                "issue",
                name,
                "--key",
                "ecdsa-p256",
                "--pfx-password-file",
                "-",
            ],
            &[],
        )
    };
    let (status, said) = typed("Typed säcret 7|Typed säcret 7", "tty.example.com");
    assert_eq!(status, Some(0), "{said}");
    assert!(
        said.contains("PFX password (not shown as you type):"),
        "{said}"
    );
    assert!(said.contains("PFX password again:"), "{said}");
    assert!(
        !said.contains("säcret"),
        "the password is not shown: {said}"
    );
    std::fs::write(sb.file("pw"), "Typed säcret 7\n").unwrap();
    assert_pfx_holds(&sb, "tty.example.com");

    let rows = sb.row_count();
    let (status, said) = typed("one säcret|another", "tty2.example.com");
    assert_eq!(status, Some(2), "{said}");
    assert!(
        said.contains("the PFX password was typed differently the second time"),
        "{said}"
    );
    assert!(
        !said.contains("säcret") && !said.contains("another"),
        "{said}"
    );
    assert_eq!(sb.row_count(), rows, "nothing issued");
    assert!(!sb.file("tty2.example.com.key").exists());

    // Ctrl-C at the prompt: the command stops by itself, nothing done, the terminal's echo
    // on again (a signal would have left it off).
    let (status, said) = typed("half typed\u{3}", "tty3.example.com");
    assert_eq!(status, Some(2), "{said}");
    assert!(
        said.contains("stopped at the PFX password: nothing was done"),
        "{said}"
    );
    assert!(
        said.ends_with("[echo on]") && !said.contains("half"),
        "{said}"
    );
    assert_eq!(sb.row_count(), rows, "nothing issued");
    // Lines longer than a terminal's line (4095 bytes) are read whole; an erased character
    // is not part of the password.
    let long = "L".repeat(5000);
    let (status, said) = typed(&format!("{long}x\u{7f}|{long}"), "tty4.example.com");
    assert_eq!(status, Some(0), "{said}");
    let pass = format!("pass:{long}");
    let args = [
        "pkcs12",
        "-in",
        "tty4.example.com.pfx",
        "-passin",
        &pass,
        "-noout",
    ];
    openssl_ok(sb.path(), &args);
}
