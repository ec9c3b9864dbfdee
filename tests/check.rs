//! `ca check URL` and the admin page's check, against real TLS servers on 127.0.0.1 that each
//! test starts: `openssl s_server`, Debian's nginx, and a small SMTP server with STARTTLS in
//! Python. Certificates come from `ca` or from the `openssl` command line (other CAs,
//! intermediates, wrong dates, SHA-1, RSA-1024).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{Sandbox, Server, ca_with_localhost, client, free_port, id_of, openssl_ok};

/// A TLS server on 127.0.0.1, stopped on drop.
struct Tls {
    child: Child,
    port: u16,
}

impl Tls {
    /// `openssl s_server` presenting `cert` and `key` (files in `dir`), with `extra` options.
    fn openssl(dir: &Path, cert: &str, key: &str, extra: &[&str]) -> Tls {
        let port = free_port();
        let child = Command::new("openssl")
            .current_dir(dir)
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", cert, "-key", key, "-quiet", "-www"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the openssl command line runs the test servers");
        Tls::ready(child, port)
    }

    /// Debian's nginx presenting `chain` (leaf first) and `key`, with its default protocols.
    fn nginx(dir: &Path, chain: &Path, key: &Path) -> Tls {
        let port = free_port();
        let home = dir.join(format!("nginx-{port}"));
        std::fs::create_dir_all(home.join("logs")).unwrap();
        let d = home.display();
        let conf = format!(
            "events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {chain};
    ssl_certificate_key {key};
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    location / {{ return 200 \"ok\\n\"; }}
  }}
}}
",
            chain = chain.display(),
            key = key.display(),
        );
        std::fs::write(home.join("nginx.conf"), conf).unwrap();
        let binary = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(binary)
            .args(["-p", &d.to_string(), "-c", "nginx.conf", "-g"])
            .arg(format!(
                "daemon off; master_process off; pid {d}/nginx.pid; error_log stderr error;"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (Debian's nginx package) is needed for the check tests");
        Tls::ready(child, port)
    }

    /// An SMTP server that offers STARTTLS (or, with `offer` false, does not), presenting
    /// `cert` and `key`.
    /// `starttls`: `yes` (offered and done), `no` (not offered), `refuse` (offered, then
    /// refused with 454).
    fn smtp(dir: &Path, cert: &str, key: &str, starttls: &str) -> Tls {
        let mut child = Command::new("python3")
            .current_dir(dir)
            .args(["-c", SMTP_SERVER, cert, key, starttls])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("Python 3 runs the test's SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("port: {line:?}"));
        Tls::ready(child, port)
    }

    fn ready(mut child: Child, port: u16) -> Tls {
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Tls { child, port };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the test server on port {port} exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the test server never listened on port {port}");
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SMTP server in the smallest form that speaks STARTTLS (RFC 3207): greeting, EHLO,
/// STARTTLS, then a TLS handshake; it prints its port first.
const SMTP_SERVER: &str = r#"
import socket, ssl, sys
cert, key, offer, refuse = sys.argv[1], sys.argv[2], sys.argv[3] != "no", sys.argv[3] == "refuse"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print(srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    conn.settimeout(10)
    try:
        reader = conn.makefile("rb")
        conn.sendall(b"220 localhost ESMTP test\r\n")
        while True:
            line = reader.readline()
            if not line:
                break
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                conn.sendall(b"250-localhost\r\n" + (b"250-STARTTLS\r\n" if offer else b"") + b"250 SIZE 1000000\r\n")
            elif command == b"STARTTLS" and refuse:
                conn.sendall(b"454 4.7.0 TLS not available due to local problem\r\n")
            elif command == b"STARTTLS" and offer:
                conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                ctx.wrap_socket(conn, server_side=True).close()
                break
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")
    except Exception:
        pass
    finally:
        conn.close()
"#;

/// A server that holds a copy of a certificate but not its key: to every hello it answers
/// a TLS 1.2 ServerHello (ECDHE-RSA-AES128-GCM), the certificate (DER in argv[1]) and
/// ServerHelloDone, and never a key exchange. Prints its port first.
const KEYLESS_SERVER: &str = r#"
import socket, sys, threading, struct, os
der = open(sys.argv[1], "rb").read()
def hs(t, body): return bytes([t]) + len(body).to_bytes(3, "big") + body
hello = hs(2, b"\x03\x03" + os.urandom(32) + b"\x00" + struct.pack(">H", 0xc02f) + b"\x00")
certs = len(der).to_bytes(3, "big") + der
msg = hello + hs(11, len(certs).to_bytes(3, "big") + certs) + hs(14, b"")
record = b"\x16\x03\x03" + struct.pack(">H", len(msg)) + msg
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(50)
print(srv.getsockname()[1], flush=True)
def answer(conn):
    try:
        conn.settimeout(10)
        conn.recv(65536)
        conn.sendall(record)
        conn.recv(100)
    except Exception:
        pass
    conn.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=answer, args=(conn,), daemon=True).start()
"#;

/// `ca check ARGS --json` in the sandbox: its exit status and the report.
fn check(sb: &Sandbox, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = sb.run(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("ca {all:?}: {err}: {stdout}\n{stderr}"));
    (out.status.code().unwrap(), report)
}

/// The findings of `report` with `code`.
fn findings<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// The one finding with `code`, insisting on its verdict.
fn finding<'a>(report: &'a Value, code: &str, verdict: &str) -> &'a Value {
    let found = findings(report, code);
    assert!(!found.is_empty(), "no {code} finding in {report:#}");
    assert!(
        found.iter().all(|f| f["verdict"] == verdict),
        "{code} should be {verdict}: {report:#}"
    );
    found[0]
}

fn codes_failing(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "fail")
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// A CA made with the openssl command line in `dir`: `NAME.crt`, `NAME.key`.
fn openssl_root(dir: &Path, name: &str, cn: &str) {
    openssl_ok(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate `NAME.crt` (key `NAME.key`, RSA of `bits`) for `names`, signed by `ca` with
/// the digest `digest`, `extra` added to the `openssl x509 -req` command line.
fn openssl_leaf(
    dir: &Path,
    name: &str,
    ca: &str,
    bits: &str,
    digest: &str,
    extensions: &str,
    extra: &[&str],
) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl_ok(
        dir,
        &[
            "req",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=localhost",
        ],
    );
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        &format!("{name}.csr"),
        "-CA",
        &format!("{ca}.crt"),
        "-CAkey",
        &format!("{ca}.key"),
        "-CAcreateserial",
        "-out",
        &format!("{name}.crt"),
        &format!("-{digest}"),
        "-extfile",
        &format!("{name}.ext"),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl_ok(dir, &args);
}

const SERVER_EXTENSIONS: &str =
    "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n";

#[test]
fn a_correct_server_behind_nginx_passes_and_says_where_its_chain_ends() {
    let sb = ca_with_localhost(&[]);
    let nginx = Tls::nginx(
        sb.path(),
        &sb.file("localhost-chain.pem"),
        &sb.file("localhost.key"),
    );
    let (status, report) = check(&sb, &[&nginx.url()]);
    assert_eq!(status, 0, "{report:#}");
    assert_eq!(report["clients_connect"], true);
    assert_eq!(report["verdict"], "note", "{report:#}");
    assert_eq!(report["address"], format!("127.0.0.1:{}", nginx.port));
    assert_eq!(report["issued_here"], 1);
    finding(&report, "chain-complete", "ok");
    let trusted = finding(&report, "trusted", "ok");
    assert!(
        trusted["fact"].as_str().unwrap().contains("this CA's root"),
        "{trusted}"
    );
    let name = finding(&report, "name-match", "ok");
    assert!(
        name["fact"].as_str().unwrap().contains("localhost"),
        "{name}"
    );
    finding(&report, "internal-name", "note");
    finding(&report, "valid", "ok");
    finding(&report, "server-auth", "ok");
    let outlook = finding(&report, "msstd", "ok");
    assert!(
        outlook["fact"]
            .as_str()
            .unwrap()
            .contains("msstd:localhost"),
        "{outlook}"
    );
    finding(&report, "no-revocation-info", "note");
    // Debian's nginx asked for every version: OpenSSL 3 at its default security level still
    // refuses TLS 1.0 and 1.1.
    let versions = &report["tls"]["versions"];
    assert_eq!(versions["TLSv1.3"], true, "{report:#}");
    assert_eq!(versions["TLSv1.2"], true, "{report:#}");
    assert_eq!(versions["TLSv1.0"], false, "{report:#}");
    assert_eq!(versions["TLSv1.1"], false, "{report:#}");
    assert_eq!(report["tls"]["version"], "TLSv1.3");
    assert_eq!(report["chain"].as_array().unwrap().len(), 2);
    // The same in words: one line per finding, and the verdict.
    let out = sb.ok(&["check", &nginx.url()]);
    assert!(out.contains("Clients will connect to"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("ok    trust")), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    // Without the URL, the data folder is checked as before.
    assert!(sb.ok(&["check"]).contains("is sound"));
}

#[test]
fn without_a_data_folder_the_chain_is_judged_against_a_root_file_or_reported_unknown() {
    let sb = ca_with_localhost(&[]);
    let server = Tls::openssl(sb.path(), "localhost.crt", "localhost.key", &[]);
    let elsewhere = Sandbox::new();
    std::fs::copy(sb.file("root.pem"), elsewhere.file("root.pem")).unwrap();
    // A data folder named that holds no CA is a mistake, refused as one.
    let err = elsewhere.refused(&["check", &server.url()]);
    assert!(
        err.contains("holds no CA to judge the server against"),
        "{err}"
    );
    // Without one, the chain is judged against this machine's trust store.
    let out = elsewhere
        .ca_bare()
        .args(["check", &server.url(), "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let unknown = finding(&report, "unknown-issuer", "fail");
    assert!(
        unknown["fix"].as_str().unwrap().contains("--root FILE"),
        "{unknown}"
    );
    assert!(!elsewhere.data().exists(), "no data folder is made");
    let (status, report) = check(&elsewhere, &[&server.url(), "--root", "root.pem"]);
    assert_eq!(status, 0, "{report:#}");
    finding(&report, "trusted", "ok");
    assert_eq!(report["trust"], "the root in root.pem");
    // A root file that holds no certificate is refused.
    std::fs::write(elsewhere.file("junk.pem"), "not a certificate").unwrap();
    let err = elsewhere.refused(&["check", &server.url(), "--root", "junk.pem"]);
    assert!(err.contains("holds no certificate"), "{err}");
    let err = elsewhere.refused(&["check", &server.url(), "--root", "missing.pem"]);
    assert!(err.contains("missing.pem"), "{err}");
}

/// A certificate message over 64 KiB (thousands of names) is named as what it is, not as a
/// broken handshake, and TLS 1.3 is not said to be off because of it.
#[test]
fn a_certificate_too_large_for_clients_is_named() {
    let sb = ca_with_localhost(&[]);
    let names: Vec<String> = (0..3500)
        .map(|i| format!("DNS:host{i}.example.com"))
        .collect();
    std::fs::write(
        sb.file("big.cnf"),
        format!(
            "[req]\ndistinguished_name = dn\nx509_extensions = ext\n[dn]\n[ext]\nsubjectAltName = {}\n",
            names.join(",")
        ),
    )
    .unwrap();
    let cert = crate::util::openssl_request(
        sb.path(),
        "big.crt",
        "ec",
        "/CN=localhost",
        &[
            "-x509",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-config",
            "big.cnf",
        ],
    );
    let server = Tls::openssl(sb.path(), &cert, "req.key", &[]);
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 1, "{report:#}");
    let large = finding(&report, "handshake-too-large", "fail");
    assert!(
        large["fact"].as_str().unwrap().contains("64 KiB"),
        "{large}"
    );
    assert!(
        findings(&report, "handshake-failed").is_empty(),
        "{report:#}"
    );
    let text = report.to_string();
    assert!(!text.contains("off: TLSv1.0, TLSv1.1, TLSv1.3"), "{text}");
}

#[test]
fn a_server_that_asks_for_a_client_certificate_is_named() {
    let sb = ca_with_localhost(&[]);
    let plain = Tls::openssl(sb.path(), "localhost.crt", "localhost.key", &[]);
    let (status, report) = check(&sb, &[&plain.url()]);
    assert_eq!(status, 0, "{report:#}");
    assert!(findings(&report, "client-certificate-asked").is_empty());
    // Asked, not required (openssl's -verify): clients without one connect; said as a warning.
    let asking = Tls::openssl(
        sb.path(),
        "localhost.crt",
        "localhost.key",
        &["-verify", "1", "-CAfile", "root.pem"],
    );
    let (status, report) = check(&sb, &[&asking.url()]);
    assert_eq!(status, 0, "{report:#}");
    let asked = finding(&report, "client-certificate-asked", "warn");
    assert!(
        asked["fix"].as_str().unwrap().contains("ssl_verify_client"),
        "{asked}"
    );
    // Required over TLS 1.3 (-Verify): the refusal comes after the handshake, and is found.
    let demanding = Tls::openssl(
        sb.path(),
        "localhost.crt",
        "localhost.key",
        &["-Verify", "1", "-CAfile", "root.pem"],
    );
    let (status, report) = check(&sb, &[&demanding.url()]);
    assert_eq!(status, 1, "{report:#}");
    let required = finding(&report, "client-certificate-required", "fail");
    assert!(
        required["fact"]
            .as_str()
            .unwrap()
            .contains("after the handshake"),
        "{required}"
    );
    assert_eq!(report["clients_connect"], false, "{report:#}");
    // Over TLS 1.2 the refusal ends the handshake: the request is named as its cause.
    let tls12 = Tls::openssl(
        sb.path(),
        "localhost.crt",
        "localhost.key",
        &["-Verify", "1", "-CAfile", "root.pem", "-no_tls1_3"],
    );
    let (status, report) = check(&sb, &[&tls12.url()]);
    assert_eq!(status, 1, "{report:#}");
    let required = finding(&report, "client-certificate-required", "fail");
    assert!(
        required["fix"]
            .as_str()
            .unwrap()
            .contains("ssl_verify_client"),
        "{required}"
    );
    assert!(
        findings(&report, "handshake-failed").is_empty(),
        "{report:#}"
    );
}

#[test]
fn a_server_without_the_certificates_key_fails_though_it_sends_the_certificate() {
    let sb = ca_with_localhost(&[]);
    openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            "localhost.crt",
            "-outform",
            "DER",
            "-out",
            "localhost.der",
        ],
    );
    let mut child = Command::new("python3")
        .current_dir(sb.path())
        .args(["-c", KEYLESS_SERVER, "localhost.der"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!("https://localhost:{}", line.trim());
    let (status, report) = check(&sb, &[&url, "--timeout", "3"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 1, "{report:#}");
    assert_eq!(report["clients_connect"], false, "{report:#}");
    finding(&report, "handshake-failed", "fail");
}

#[test]
fn a_missing_intermediate_or_a_wrong_one_fails_the_chain() {
    let sb = Sandbox::new();
    let dir = sb.path();
    openssl_root(dir, "root", "Test Root");
    openssl_root(dir, "other", "Other Intermediate");
    // An intermediate under the root, and a leaf under the intermediate.
    openssl_ok(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "inter.key",
            "-out",
            "inter.csr",
            "-subj",
            "/CN=Test Intermediate",
        ],
    );
    std::fs::write(
        sb.file("inter.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    openssl_ok(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "inter.csr",
            "-CA",
            "root.crt",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-out",
            "inter.crt",
            "-days",
            "3650",
            "-extfile",
            "inter.ext",
        ],
    );
    openssl_leaf(
        dir,
        "leaf",
        "inter",
        "2048",
        "sha256",
        SERVER_EXTENSIONS,
        &["-days", "90"],
    );
    let root = ["--root", "root.crt"];
    let with_args = |server: &Tls| {
        let url = server.url();
        let mut args = vec![url];
        args.extend(root.iter().map(|a| (*a).to_owned()));
        args
    };
    let run = |server: &Tls| {
        let args = with_args(server);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check(&sb, &args)
    };
    // Only the leaf: the intermediate is missing.
    let alone = Tls::openssl(dir, "leaf.crt", "leaf.key", &[]);
    let (status, report) = run(&alone);
    assert_eq!(status, 1, "{report:#}");
    let incomplete = finding(&report, "chain-incomplete", "fail");
    assert!(
        incomplete["fact"]
            .as_str()
            .unwrap()
            .contains("Test Intermediate"),
        "{incomplete}"
    );
    drop(alone);
    // The leaf and its intermediate: complete, even without the root.
    let whole = Tls::openssl(dir, "leaf.crt", "leaf.key", &["-cert_chain", "inter.crt"]);
    let (status, report) = run(&whole);
    assert_eq!(status, 0, "{report:#}");
    finding(&report, "chain-complete", "ok");
    finding(&report, "trusted", "ok");
    drop(whole);
    // The leaf and another CA's certificate: incomplete, and the stranger named.
    let wrong = Tls::openssl(dir, "leaf.crt", "leaf.key", &["-cert_chain", "other.crt"]);
    let (status, report) = run(&wrong);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "chain-incomplete", "fail");
    let extra = finding(&report, "chain-extra", "warn");
    assert!(
        extra["fact"]
            .as_str()
            .unwrap()
            .contains("Other Intermediate"),
        "{extra}"
    );
}

/// A port on 127.0.0.1 and the count of connections made to it.
fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, connections)
}

#[test]
fn what_an_untrusted_certificate_names_is_never_fetched() {
    let sb = ca_with_localhost(&[]);
    let dir = sb.path();
    // A listener that counts who connects: the address the certificate names.
    let (port, connections) = counting_listener();
    openssl_root(dir, "other", "Other Root CA");
    let extensions = format!(
        "{SERVER_EXTENSIONS}crlDistributionPoints=URI:http://127.0.0.1:{port}/admin?secret=1\n\
         authorityInfoAccess=OCSP;URI:http://127.0.0.1:{port}/ocsp\n"
    );
    openssl_leaf(
        dir,
        "pointing",
        "other",
        "2048",
        "sha256",
        &extensions,
        &["-days", "90"],
    );
    let server = Tls::openssl(dir, "pointing.crt", "pointing.key", &[]);
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "revocation-not-asked", "note");
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{report:#}"
    );
    // Trusted (its root given), the same certificate's pointers are asked.
    let (_, report) = check(&sb, &[&server.url(), "--root", "other.crt"]);
    assert!(
        findings(&report, "revocation-not-asked").is_empty(),
        "{report:#}"
    );
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) > 0);

    // A trusted certificate's CRL that redirects to another port of the same host: the
    // redirect is not followed.
    let (elsewhere_port, landed) = counting_listener();
    let redirecting = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redirecting_port = redirecting.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in redirecting.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{elsewhere_port}/landed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let extensions = format!(
        "{SERVER_EXTENSIONS}crlDistributionPoints=URI:http://127.0.0.1:{redirecting_port}/ca.crl\n"
    );
    openssl_leaf(
        dir,
        "redirected",
        "other",
        "2048",
        "sha256",
        &extensions,
        &["-days", "90"],
    );
    let server = Tls::openssl(dir, "redirected.crt", "redirected.key", &[]);
    let (_, report) = check(&sb, &[&server.url(), "--root", "other.crt"]);
    finding(&report, "crl-unusable", "warn");
    assert_eq!(
        landed.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{report:#}"
    );
}

#[test]
fn a_certificate_from_another_ca_is_not_trusted_and_its_issuer_is_named() {
    let sb = ca_with_localhost(&[]);
    let dir = sb.path();
    openssl_root(dir, "other", "Other Root CA");
    openssl_leaf(
        dir,
        "stranger",
        "other",
        "2048",
        "sha256",
        SERVER_EXTENSIONS,
        &["-days", "90"],
    );
    let server = Tls::openssl(dir, "stranger.crt", "stranger.key", &[]);
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 1, "{report:#}");
    let unknown = finding(&report, "unknown-issuer", "fail");
    let fact = unknown["fact"].as_str().unwrap();
    assert!(
        fact.contains("Other Root CA") && fact.contains("this CA's root"),
        "{unknown}"
    );
    assert_eq!(report["issued_here"], Value::Null);
    // The name and dates are still judged: only the trust fails.
    finding(&report, "name-match", "ok");
    assert_eq!(
        codes_failing(&report),
        ["chain-incomplete", "unknown-issuer"],
        "{report:#}"
    );
}

#[test]
fn a_name_mismatch_lists_the_names_held_and_how_to_get_the_right_one() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let server = Tls::openssl(sb.path(), "www.example.com.crt", "www.example.com.key", &[]);
    for url in [server.url(), format!("https://127.0.0.1:{}", server.port)] {
        let (status, report) = check(&sb, &[&url]);
        assert_eq!(status, 1, "{report:#}");
        let mismatch = finding(&report, "name-mismatch", "fail");
        assert!(
            mismatch["fact"]
                .as_str()
                .unwrap()
                .contains("www.example.com"),
            "{mismatch}"
        );
        assert!(
            mismatch["fix"]
                .as_str()
                .unwrap()
                .contains(&format!("`{} issue ", sb.said())),
            "{mismatch}"
        );
        finding(&report, "trusted", "ok");
    }
    let out = sb.run(&["check", &server.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL  name") && l.contains("Fix: ")),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("ca: error: some clients will not connect"),
        "{stderr}"
    );

    // A certificate holding as many names as one can: none holds them and the host too, so
    // no `ca issue` is offered (it would be refused).
    let names: Vec<String> = (0..100).map(|i| format!("h{i}.example.com")).collect();
    let mut args = vec!["issue", "--key", "ecdsa-p256"];
    args.extend(names.iter().map(String::as_str));
    sb.ok(&args);
    let full = Tls::openssl(sb.path(), "h0.example.com.crt", "h0.example.com.key", &[]);
    let (status, report) = check(&sb, &[&full.url()]);
    assert_eq!(status, 1, "{report:#}");
    let mismatch = finding(&report, "name-mismatch", "fail");
    assert!(
        !mismatch["fix"].as_str().unwrap().contains(" issue "),
        "{mismatch}"
    );
}

#[test]
fn a_server_dns_does_not_point_at_yet_is_checked_at_the_address_given() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let server = Tls::openssl(sb.path(), "www.example.com.crt", "www.example.com.key", &[]);
    // The name leads nowhere here; at the address given, the certificate is judged against it.
    let url = format!("https://www.example.com:{}", server.port);
    let (status, report) = check(&sb, &[&url, "--address", "127.0.0.1"]);
    assert_eq!(status, 0, "{report:#}");
    assert!(codes_failing(&report).is_empty(), "{report:#}");
    assert_eq!(report["address"], format!("127.0.0.1:{}", server.port));
    assert_eq!(report["address_given"], "127.0.0.1");
    let connected = finding(&report, "connected", "ok");
    assert!(
        connected["fact"]
            .as_str()
            .unwrap()
            .contains("the address given in place of www.example.com's own"),
        "{connected}"
    );
    finding(&report, "trusted", "ok");
    // A name the certificate does not hold fails there as it would under DNS.
    let other = format!("https://mail.example.com:{}", server.port);
    let (status, report) = check(&sb, &[&other, "--address", "127.0.0.1"]);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "name-mismatch", "fail");
    let out = sb.run(&["check", &url, "--address", "[127.0.0.1]"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "Checked {url} (127.0.0.1:{}, the address given)",
            server.port
        )) && text.contains(&format!(
            "Clients will connect to {url} once www.example.com leads them to 127.0.0.1."
        )),
        "{text}"
    );
    let (_, report) = check(&sb, &[&url, "--address", "::1", "--timeout", "2"]);
    assert_eq!(report["address_given"], "::1");
    assert_eq!(report["address"], Value::Null);
    // Not an address; one no server listens at; a URL that names one already; no URL at all.
    for bad in [
        "www.example.com",
        "127.0.0.1:443",
        "300.1.1.1",
        "",
        "[[::1]]",
        "::1]",
    ] {
        let said = sb.refused(&["check", &url, "--address", bad]);
        assert!(said.contains("is not an IP address"), "{bad}: {said}");
    }
    let said = sb.refused(&["check", &url, "--address", "fe80::1%lo"]);
    assert!(said.contains("zone index"), "{said}");
    for bad in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255"] {
        let said = sb.refused(&["check", &url, "--address", bad]);
        assert!(said.contains("no client connects"), "{bad}: {said}");
    }
    let said = sb.refused(&[
        "check",
        &format!("https://127.0.0.1:{}", server.port),
        "--address",
        "127.0.0.1",
    ]);
    assert!(
        said.contains("names the address 127.0.0.1 already"),
        "{said}"
    );
    sb.refused(&["check", "--address", "127.0.0.1"]);
}

/// `openssl ca` in `dir` with `root` as the CA: a leaf `NAME.crt` for localhost valid from
/// `start` to `end` (YYYYMMDDHHMMSSZ).
fn dated_leaf(dir: &Path, name: &str, start: &str, end: &str) {
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\npolicy = p\n\
         default_md = sha256\nunique_subject = no\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    std::fs::write(dir.join("server.ext"), SERVER_EXTENSIONS).unwrap();
    openssl_ok(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl_ok(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "root.crt",
            "-keyfile",
            "root.key",
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.crt"),
            "-notext",
            "-startdate",
            start,
            "-enddate",
            end,
            "-extfile",
            "server.ext",
        ],
    );
}

#[test]
fn expired_not_yet_valid_and_overlong_certificates_fail_with_their_dates() {
    let sb = Sandbox::new();
    let dir = sb.path();
    openssl_root(dir, "root", "Dates Root");
    let stamp = |at: time::OffsetDateTime| {
        let f = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
        at.format(&f).unwrap()
    };
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    let cases = [
        ("expired", stamp(now - day * 60), stamp(now - day * 2)),
        ("not-yet-valid", stamp(now + day * 3), stamp(now + day * 90)),
        (
            "validity-too-long",
            stamp(now - day),
            stamp(now + day * 900),
        ),
        ("expires-soon", stamp(now - day), stamp(now + day * 10)),
    ];
    for (code, start, end) in cases {
        dated_leaf(dir, code, &start, &end);
        let server = Tls::openssl(dir, &format!("{code}.crt"), &format!("{code}.key"), &[]);
        let (status, report) = check(&sb, &[&server.url(), "--root", "root.crt"]);
        let verdict = if code == "expires-soon" {
            "warn"
        } else {
            "fail"
        };
        finding(&report, code, verdict);
        assert_eq!(status, if verdict == "fail" { 1 } else { 0 }, "{report:#}");
        assert_eq!(
            codes_failing(&report),
            if verdict == "fail" {
                vec![code.to_owned()]
            } else {
                vec![]
            },
            "{report:#}"
        );
    }
}

#[test]
fn a_certificate_made_with_the_root_key_outside_the_log_is_flagged() {
    let sb = ca_with_localhost(&[]);
    let dir = sb.path();
    let issued = Tls::openssl(dir, "localhost.crt", "localhost.key", &[]);
    let (_, report) = check(&sb, &[&issued.url()]);
    assert!(findings(&report, "not-in-log").is_empty(), "{report:#}");
    // The same root and key, used by the openssl command line: a certificate no log holds.
    std::fs::copy(sb.data().join("root.crt"), dir.join("root.crt")).unwrap();
    std::fs::copy(sb.data().join("root.key"), dir.join("root.key")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let f = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let start = (now - time::Duration::days(1)).format(&f).unwrap();
    let end = (now + time::Duration::days(90)).format(&f).unwrap();
    dated_leaf(dir, "outside", &start, &end);
    let outside = Tls::openssl(dir, "outside.crt", "outside.key", &[]);
    let (status, report) = check(&sb, &[&outside.url()]);
    assert_eq!(status, 0, "clients connect: {report:#}");
    finding(&report, "trusted", "ok");
    let flagged = finding(&report, "not-in-log", "warn");
    assert!(
        flagged["fact"].as_str().unwrap().contains("not in its log"),
        "{flagged}"
    );
    assert_eq!(report["issued_here"], Value::Null);
}

#[test]
fn a_revoked_certificate_is_seen_by_its_crl_and_its_ocsp_responder() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let ca = Server::start(&sb);
    sb.ok(&["config", "set", "url", &ca.http]);
    sb.ok(&[
        "issue",
        "localhost",
        "--key",
        "ecdsa-p256",
        "--allow-internal",
    ]);
    let server = Tls::openssl(sb.path(), "localhost.crt", "localhost.key", &[]);
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 0, "{report:#}");
    let crl = finding(&report, "crl-good", "ok");
    assert!(
        crl["fact"].as_str().unwrap().contains("/certsrv/ca.crl"),
        "{crl}"
    );
    let ocsp = finding(&report, "ocsp-good", "ok");
    assert!(ocsp["fact"].as_str().unwrap().contains("/ocsp"), "{ocsp}");
    let id = id_of(&sb, "localhost");
    let said = sb.ok(&["revoke", &id, "--reason", "keyCompromise"]);
    assert!(
        said.contains("The OCSP responder answers \"revoked\" at once"),
        "{said}"
    );
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 1, "{report:#}");
    let revoked = findings(&report, "revoked");
    assert_eq!(revoked.len(), 2, "the CRL and OCSP both say so: {report:#}");
    for finding in revoked {
        assert_eq!(finding["verdict"], "fail");
        // The reason as RFC 5280 and OpenSSL name it, by the CRL as by OCSP.
        assert!(
            finding["fact"]
                .as_str()
                .unwrap()
                .contains("(keyCompromise)"),
            "{finding}"
        );
        let renew = format!(
            "`{} renew {id}` writes a new certificate and key",
            sb.said()
        );
        assert!(
            finding["fix"].as_str().unwrap().contains(&renew),
            "{finding}"
        );
    }
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fact"].as_str().unwrap().contains("keyCompromise")),
        "{report:#}"
    );
    // With the CA's server stopped, nothing answers: Outlook and its kind refuse.
    drop(ca);
    let (status, report) = check(&sb, &[&server.url(), "--timeout", "3"]);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "revocation-unreachable", "fail");
    finding(&report, "crl-unusable", "warn");
    finding(&report, "ocsp-unusable", "warn");
}

#[test]
fn sha1_and_rsa_1024_certificates_fail_and_tls_1_0_still_on_is_a_fact() {
    let sb = Sandbox::new();
    let dir = sb.path();
    openssl_ok(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.crt",
            "-subj",
            "/CN=Legacy Root",
            "-days",
            "3650",
            "-sha256",
        ],
    );
    openssl_leaf(
        dir,
        "old",
        "root",
        "1024",
        "sha1",
        SERVER_EXTENSIONS,
        &["-days", "90"],
    );
    // OpenSSL 3 serves RSA-1024, SHA-1 and TLS 1.0 only at security level 0.
    let server = Tls::openssl(
        dir,
        "old.crt",
        "old.key",
        &["-cipher", "DEFAULT@SECLEVEL=0", "-min_protocol", "TLSv1"],
    );
    let (status, report) = check(&sb, &[&server.url(), "--root", "root.crt"]);
    assert_eq!(status, 1, "{report:#}");
    let weak = finding(&report, "weak-key", "fail");
    assert!(
        weak["fact"].as_str().unwrap().contains("1024 bits"),
        "{weak}"
    );
    let sha1 = finding(&report, "sha1", "fail");
    assert!(
        sha1["fact"]
            .as_str()
            .unwrap()
            .contains("sha1WithRSAEncryption"),
        "{sha1}"
    );
    assert_eq!(codes_failing(&report), ["weak-key", "sha1"], "{report:#}");
    // The chain itself is followed to the root despite its weak signature.
    finding(&report, "trusted", "ok");
    assert_eq!(report["tls"]["versions"]["TLSv1.0"], true, "{report:#}");
    assert_eq!(report["tls"]["versions"]["TLSv1.1"], true, "{report:#}");
    finding(&report, "legacy-versions", "note");

    // A modern server on the same root: TLS 1.0 and 1.1 off, and no note about them.
    openssl_leaf(
        dir,
        "new",
        "root",
        "2048",
        "sha256",
        SERVER_EXTENSIONS,
        &["-days", "90"],
    );
    let modern = Tls::openssl(dir, "new.crt", "new.key", &["-min_protocol", "TLSv1.2"]);
    let (status, report) = check(&sb, &[&modern.url(), "--root", "root.crt"]);
    assert_eq!(status, 0, "{report:#}");
    assert_eq!(report["tls"]["versions"]["TLSv1.0"], false, "{report:#}");
    assert!(
        findings(&report, "legacy-versions").is_empty(),
        "{report:#}"
    );
    finding(&report, "key", "ok");
}

#[test]
fn smtp_is_checked_after_starttls_and_a_server_without_it_is_named() {
    let sb = ca_with_localhost(&[]);
    let smtp = Tls::smtp(sb.path(), "localhost-chain.pem", "localhost.key", "yes");
    let url = format!("smtp://localhost:{}", smtp.port);
    let (status, report) = check(&sb, &[&url]);
    assert_eq!(status, 0, "{report:#}");
    let connected = finding(&report, "connected", "ok");
    assert!(
        connected["fact"].as_str().unwrap().contains("STARTTLS"),
        "{connected}"
    );
    finding(&report, "trusted", "ok");
    finding(&report, "name-match", "ok");
    assert!(
        findings(&report, "msstd").is_empty(),
        "Outlook Anywhere is HTTPS only"
    );
    assert_eq!(report["scheme"], "smtp");
    drop(smtp);
    let plain = Tls::smtp(sb.path(), "localhost-chain.pem", "localhost.key", "no");
    let (status, report) = check(&sb, &[&format!("smtp://localhost:{}", plain.port)]);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "no-starttls", "fail");
    // Offered, then refused: the server's TLS set-up is broken, not the protocol wrong.
    let refusing = Tls::smtp(sb.path(), "localhost-chain.pem", "localhost.key", "refuse");
    let (status, report) = check(&sb, &[&format!("smtp://localhost:{}", refusing.port)]);
    assert_eq!(status, 1, "{report:#}");
    let refused = finding(&report, "starttls-refused", "fail");
    assert!(
        refused["fact"].as_str().unwrap().contains("454 4.7.0"),
        "{refused}"
    );
    // Checked as TLS from the first byte, the SMTP greeting is no handshake.
    let (status, report) = check(
        &sb,
        &[&format!("localhost:{}", plain.port), "--timeout", "3"],
    );
    assert_eq!(status, 1, "{report:#}");
    let not_tls = finding(&report, "not-tls", "fail");
    assert!(
        not_tls["fix"].as_str().unwrap().contains("smtp://"),
        "{not_tls}"
    );
}

#[test]
fn hostile_urls_are_refused_and_dead_or_silent_servers_fail_in_bounded_time() {
    let sb = ca_with_localhost(&[]);
    let huge = format!("https://{}.example.com", "a".repeat(5000));
    for bad in [
        "https://",
        "http://localhost",
        "gopher://localhost",
        "https://user:secret@localhost",
        "https://localhost:99999",
        "https://*.example.com",
        "https://bad_name.example.com",
        huge.as_str(),
        "\u{1b}[2Jhttps://localhost",
    ] {
        let err = sb.refused(&["check", bad]);
        assert!(!err.contains("secret"), "{err}");
        assert!(err.len() < 600, "{err}");
    }
    sb.refused(&["check", "--json"]);
    sb.refused(&["check", "--root", "root.pem"]);
    sb.refused(&["check", "https://localhost", "--timeout", "0"]);
    // Nobody listens.
    let dead = free_port();
    let (status, report) = check(&sb, &[&format!("https://127.0.0.1:{dead}")]);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "unreachable", "fail");
    assert_eq!(report["tls"], Value::Null);
    // A server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        while let Ok((stream, _)) = silent.accept() {
            kept.push(stream);
            if kept.len() >= 8 {
                break;
            }
        }
    });
    let (status, report) = check(
        &sb,
        &[&format!("https://127.0.0.1:{port}"), "--timeout", "1"],
    );
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "no-answer", "fail");
    drop(held);
    // A name that does not resolve.
    let (status, report) = check(&sb, &["https://no-such-host.invalid", "--timeout", "3"]);
    assert_eq!(status, 1, "{report:#}");
    finding(&report, "dns", "fail");
}

#[test]
fn admins_check_a_server_from_the_admin_page_and_the_certificate_page() {
    let sb = Sandbox::new();
    let ca = Server::start(&sb);
    std::fs::write(sb.file("pw"), "alice password\n").unwrap();
    sb.ok(&[
        "user",
        "add",
        "alice",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ]);
    sb.ok(&[
        "issue",
        "localhost",
        "--key",
        "ecdsa-p256",
        "--allow-internal",
    ]);
    let id = id_of(&sb, "localhost");
    let server = Tls::openssl(sb.path(), "localhost.crt", "localhost.key", &[]);
    let web = client(&sb);
    let page = |url: &str| {
        web.post(format!("{}/certsrv/admin/check", ca.https()))
            .basic_auth("admin", Some(&ca.admin_password))
            .form(&[("url", url)])
            .send()
            .unwrap()
    };
    let form = web
        .get(format!("{}/certsrv/admin/check", ca.https()))
        .basic_auth("admin", Some(&ca.admin_password))
        .send()
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().unwrap().contains("name=\"url\""));
    let admin = web
        .get(format!("{}/certsrv/admin", ca.https()))
        .basic_auth("admin", Some(&ca.admin_password))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(admin.contains("href=\"/certsrv/admin/check\""), "{admin}");

    let good = page(&server.url());
    assert_eq!(good.status(), StatusCode::OK);
    let text = good.text().unwrap();
    assert!(text.contains("Clients will connect."), "{text}");
    assert!(
        text.contains(&format!("href=\"/certsrv/cert/{id}\"")),
        "{text}"
    );
    assert!(text.contains("msstd:localhost"), "{text}");

    // The certificate page offers the check of its host.
    let cert_page = web
        .get(format!("{}/certsrv/cert/{id}", ca.https()))
        .basic_auth("admin", Some(&ca.admin_password))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        cert_page.contains("action=\"/certsrv/admin/check\""),
        "{cert_page}"
    );
    assert!(
        cert_page.contains("value=\"https://localhost\""),
        "{cert_page}"
    );

    // At an address given in place of the host's own, judged against the host; an address
    // that is none, or one no server is reached at, refused readably.
    let at = |url: &str, address: &str| {
        web.post(format!("{}/certsrv/admin/check", ca.https()))
            .basic_auth("admin", Some(&ca.admin_password))
            .form(&[("url", url), ("address", address)])
            .send()
            .unwrap()
    };
    let given = at(&format!("https://localhost:{}", server.port), "127.0.0.1");
    assert_eq!(given.status(), StatusCode::OK);
    let text = given.text().unwrap();
    assert!(
        text.contains("Clients will connect once localhost leads them to 127.0.0.1.")
            && text.contains(&format!("(127.0.0.1:{}, the address given)", server.port))
            && text.contains("value=\"127.0.0.1\""),
        "{text}"
    );
    for (bad, said) in [
        ("<script>alert(1)</script>", "is not an IP address"),
        ("0.0.0.0", "no client connects"),
        (
            "\u{1b}[2J\u{202e}1.2.3.4",
            "&#39;\\u{1b}[2J\\u{202e}1.2.3.4&#39; is not an IP address",
        ),
    ] {
        let refused = at(&server.url(), bad);
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let text = refused.text().unwrap();
        assert!(
            text.contains(said) && !text.contains("<script>alert"),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        // Said on the form, with the URL kept to be mended.
        assert!(
            text.contains("Not checked:")
                && text.contains(&format!("name=\"url\" value=\"{}\"", server.url())),
            "{text}"
        );
    }
    // What the form gives back repeats no password or query, and no more than fits.
    let secret = format!(
        "https://user:hunter2@localhost:{}/owa?token=s3cret",
        server.port
    );
    let refused = at(&secret, "127.0.0.1");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let text = refused.text().unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(
        text.contains(&format!("value=\"https://localhost:{}/owa\"", server.port)),
        "{text}"
    );
    let slashed = format!("https://user:pa/ss?w#rd@localhost:{}/", server.port);
    let text = at(&slashed, "127.0.0.1").text().unwrap();
    assert!(!text.contains("pa/ss") && !text.contains("w#rd"), "{text}");
    let long = "1".repeat(60_000);
    let refused = at(&server.url(), &long);
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let text = refused.text().unwrap();
    assert!(text.len() < 20_000, "{} bytes", text.len());

    // A port nobody listens on: a page that says so.
    let dead = page(&format!("https://127.0.0.1:{}", free_port()));
    assert_eq!(dead.status(), StatusCode::OK);
    let text = dead.text().unwrap();
    assert!(text.contains("Some clients will not connect"), "{text}");
    assert!(text.contains("cannot be reached"), "{text}");

    // Hostile input: a readable refusal, nothing echoed unescaped.
    for bad in [
        "<script>alert(1)</script>",
        "https://user:pw@localhost",
        "gopher://x",
    ] {
        let refused = page(bad);
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let text = refused.text().unwrap();
        assert!(!text.contains("<script>alert"), "{text}");
    }
    let huge = format!("https://{}.example", "a".repeat(10_000));
    assert_eq!(page(&huge).status(), StatusCode::BAD_REQUEST);
    let oversized = format!("https://{}.example", "a".repeat(70_000));
    assert_eq!(page(&oversized).status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Admins only, and only from this site.
    let as_requester = web
        .post(format!("{}/certsrv/admin/check", ca.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[("url", server.url())])
        .send()
        .unwrap();
    assert_eq!(as_requester.status(), StatusCode::FORBIDDEN);
    let anonymous = web
        .post(format!("{}/certsrv/admin/check", ca.https()))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("url", server.url())])
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let cross_site = web
        .post(format!("{}/certsrv/admin/check", ca.https()))
        .basic_auth("admin", Some(&ca.admin_password))
        .header("Origin", "https://evil.example")
        .form(&[("url", server.url())])
        .send()
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

    // A server that never answers: the page comes back before the request's deadline.
    let port = silent_server();
    let stalled = page(&format!("https://127.0.0.1:{port}"));
    assert_eq!(stalled.status(), StatusCode::OK);
    let text = stalled.text().unwrap();
    assert!(text.contains("did not complete a TLS handshake"), "{text}");
}

/// A port on 127.0.0.1 where connections are accepted and never answered.
fn silent_server() -> u16 {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        while let Ok((stream, _)) = silent.accept() {
            kept.push(stream);
        }
    });
    port
}

#[test]
fn the_admin_page_runs_a_few_checks_at_once_and_says_when_it_is_busy() {
    let sb = Sandbox::new();
    let ca = Server::start(&sb);
    // A server that accepts and never answers: each check waits out its handshake step.
    let port = silent_server();
    let url = format!("https://127.0.0.1:{port}");
    let post = {
        let web = client(&sb);
        let base = ca.https();
        let password = ca.admin_password.clone();
        move |url: String| {
            web.post(format!("{base}/certsrv/admin/check"))
                .basic_auth("admin", Some(&password))
                .form(&[("url", url)])
                .send()
                .unwrap()
        }
    };
    let running: Vec<_> = (0..4)
        .map(|_| {
            let post = post.clone();
            let url = url.clone();
            std::thread::spawn(move || post(url).status())
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let busy = post(url.clone());
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key("retry-after"));
    let text = busy.text().unwrap();
    assert!(
        text.contains("checks of live servers are running"),
        "{text}"
    );
    for check in running {
        assert_eq!(check.join().unwrap(), StatusCode::OK);
    }
    // Once they are done, a check runs again.
    assert_eq!(post(url).status(), StatusCode::OK);
}

#[test]
fn the_servers_own_certificate_revoked_is_replaced_on_reload_and_the_check_says_so() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let port = free_port();
    sb.ok(&["config", "set", "url", &format!("http://127.0.0.1:{port}")]);
    let mut command = sb.ca();
    command
        .args(["serve", "--http", &format!("127.0.0.1:{port}")])
        .args(["--https", "127.0.0.1:0", "--hostname", "localhost"])
        .env("CA_LOG", "info");
    let mut ca = Server::spawn(command);
    let url = format!("https://localhost:{}", ca.https_port);
    let (status, report) = check(&sb, &[&url]);
    assert_eq!(status, 0, "{report:#}");
    let id = report["issued_here"].as_i64().unwrap().to_string();

    // Its page warns what revoking it does; an ordinary certificate's page does not.
    let web = client(&sb);
    let cert_page = |id: &str| {
        web.get(format!("{}/certsrv/cert/{id}", ca.https()))
            .basic_auth("admin", Some(&ca.admin_password))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let warning = "This is a certificate of this CA&#39;s own web server";
    assert!(cert_page(&id).contains(warning), "{}", cert_page(&id));
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let other = id_of(&sb, "www.example.com");
    assert!(!cert_page(&other).contains(warning));

    // Revoking it says what it breaks and what happens next.
    let out = sb.run(&["revoke", &id, "--reason", "keyCompromise"]);
    assert!(out.status.success());
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        warned.contains("warning: that is the HTTPS certificate `ca serve` presents")
            && warned.contains("next start or reload"),
        "{warned}"
    );
    let (status, report) = check(&sb, &[&url]);
    assert_eq!(status, 1, "{report:#}");
    for finding in findings(&report, "revoked") {
        let fix = finding["fix"].as_str().unwrap();
        assert!(fix.contains("`ca serve`'s own certificate"), "{fix}");
        assert!(!fix.contains("ca renew"), "{fix}");
    }
    // The admin page gives the same advice in its own words: a reload, not a renewal.
    let text = admin_check(&web, &ca.https(), &ca, &url);
    assert!(
        text.contains("own web server&#39;s certificate") && text.contains("reload the server"),
        "{text}"
    );
    assert!(!text.contains("Renew it on its certificate page"), "{text}");

    // A reload replaces it, and says so.
    ca.signal("HUP");
    let log = ca.wait_for_log("presenting a new HTTPS certificate");
    assert_eq!(log.matches("was revoked").count(), 1, "said once: {log}");
    let (status, report) = check(&sb, &[&url]);
    assert_eq!(status, 0, "{report:#}");
    assert_ne!(report["issued_here"].as_i64().unwrap().to_string(), id);
    assert!(ca.stop().success());
}

#[test]
fn the_servers_own_certificate_checked_by_another_name_gets_the_servers_names_as_fix() {
    let sb = Sandbox::new();
    sb.init(&[]);
    // On 127.0.0.2: the server's certificate names 127.0.0.1 and localhost, not that address.
    let mut command = sb.ca();
    command
        .args(["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.2:0"])
        .args(["--hostname", "mail.example.com"])
        .env("CA_LOG", "warn");
    let ca = Server::spawn(command);
    let url = format!("https://127.0.0.2:{}", ca.https_port);
    let fix = mismatch_fix(&sb, &url);
    // An issuance would not change what the server presents: its names would.
    assert!(
        fix.contains("add 127.0.0.2 to them (`hostname` in ca.toml, or --hostname)"),
        "{fix}"
    );
    assert!(!fix.contains("ca issue"), "{fix}");
    let text = admin_check_page(&sb, &ca, [127, 0, 0, 2], &url);
    assert!(text.contains("add 127.0.0.2 to them"), "{text}");
    assert!(!text.contains("Issue a server certificate"), "{text}");
}

/// The fix `ca check URL` gives for the name mismatch it finds.
fn mismatch_fix(sb: &Sandbox, url: &str) -> String {
    let (_, report) = check(sb, &[url]);
    finding(&report, "name-mismatch", "fail")["fix"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The admin page's check of `url`, asked of the `ca serve` at `base` through `web`.
fn admin_check(web: &reqwest::blocking::Client, base: &str, ca: &Server, url: &str) -> String {
    web.post(format!("{base}/certsrv/admin/check"))
        .basic_auth("admin", Some(&ca.admin_password))
        .form(&[("url", url)])
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// The admin page's check of `url`, asked of the sandbox's `ca serve` by the name
/// mail.example.com, at `ip`.
fn admin_check_page(sb: &Sandbox, ca: &Server, ip: [u8; 4], url: &str) -> String {
    let root = std::fs::read(sb.data().join("root.crt")).unwrap();
    let web = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&root).unwrap()])
        .resolve(
            "mail.example.com",
            std::net::SocketAddr::from((ip, ca.https_port)),
        )
        .build()
        .unwrap();
    let base = format!("https://mail.example.com:{}", ca.https_port);
    admin_check(&web, &base, ca, url)
}

/// A wildcard in the suggested command is quoted: pasted into a shell, it expands no files.
#[test]
fn a_wildcard_in_the_suggested_command_is_quoted() {
    let sb = ca_with_localhost(&[]);
    sb.ok(&["issue", "*.example.com", "--key", "ecdsa-p256"]);
    let server = Tls::openssl(
        sb.path(),
        "_wildcard.example.com.crt",
        "_wildcard.example.com.key",
        &[],
    );
    let fix = mismatch_fix(&sb, &format!("https://127.0.0.1:{}", server.port));
    assert!(
        fix.contains(&format!(
            "`{} issue '*.example.com' 127.0.0.1 --allow-internal`",
            sb.said()
        )),
        "{fix}"
    );
}

#[test]
fn a_name_the_cas_constraints_refuse_gets_no_ca_issue_advice() {
    let sb = ca_with_localhost(&[]);
    let server = Tls::openssl(sb.path(), "localhost.crt", "localhost.key", &[]);
    let url = format!("https://127.0.0.1:{}", server.port);
    let fix = mismatch_fix(&sb, &url);
    // The names the certificate holds stay: the clients that use them keep working.
    assert!(
        fix.contains(&format!(
            "`{} issue localhost 127.0.0.1 --allow-internal` (it keeps the names the certificate holds now, for the clients that use them; internal names need --allow-internal)",
            sb.said()
        )),
        "{fix}"
    );

    let constrained = Sandbox::new();
    constrained.init(&["--permit", "example.com"]);
    let (_, report) = check(&constrained, &[&url]);
    let mismatch = finding(&report, "name-mismatch", "fail");
    assert!(
        !mismatch["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("ca issue"),
        "{mismatch}"
    );

    // The admin page of the constrained CA does not offer the issuance either.
    let ca = Server::start_with(&constrained, &["--hostname", "mail.example.com"]);
    let text = admin_check_page(&constrained, &ca, [127, 0, 0, 1], &url);
    assert!(text.contains("does not cover 127.0.0.1"), "{text}");
    assert!(!text.contains("Issue a server certificate"), "{text}");
}

/// The fix `ca check URL` gives for the certificate at `url`, revoked in the log.
fn revoked_fix(sb: &Sandbox, url: &str) -> String {
    let (_, report) = check(sb, &[url]);
    finding(&report, "revoked-in-log", "warn")["fix"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_certificate_revoked_in_the_log_is_reported_even_where_clients_cannot_learn_it() {
    // A CA without a public URL: its certificates point to no CRL and no OCSP responder.
    let sb = ca_with_localhost(&[]);
    let id = id_of(&sb, "localhost");
    let server = Tls::openssl(sb.path(), "localhost.crt", "localhost.key", &[]);
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 0, "{report:#}");
    finding(&report, "no-revocation-info", "note");
    assert!(findings(&report, "revoked-in-log").is_empty(), "{report:#}");

    let said = sb.ok(&["revoke", &id, "--reason", "superseded"]);
    assert!(
        said.contains("names no OCSP responder and no CRL (the CA has no public URL")
            && !said.contains("answers \"revoked\""),
        "{said}"
    );
    let (status, report) = check(&sb, &[&server.url()]);
    assert_eq!(status, 0, "clients still connect: {report:#}");
    let revoked = finding(&report, "revoked-in-log", "warn");
    assert!(
        revoked["fact"].as_str().unwrap().contains("superseded"),
        "{revoked}"
    );
    assert!(
        revoked["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("`{} renew {id}`", sb.said())),
        "{revoked}"
    );
    let out = sb.run(&["check", &server.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("WARN  revocation") && l.contains("revoked on")),
        "{text}"
    );
    assert!(text.contains("1 warning above"), "{text}");
    let renewed = sb.ok(&["renew", &id, "--out", ".", "--force"]);
    assert!(
        renewed.contains(&format!("It renews certificate {id}, which is revoked.")),
        "{renewed}"
    );
    // The server still presents the old certificate: a second renewal of it would be
    // refused, so the advice is to install the renewal, the newest one of a chain of them.
    let mut renewal = id_of(&sb, "localhost");
    std::fs::create_dir(sb.file("again")).unwrap();
    for round in 0..2 {
        assert_ne!(renewal, id);
        let fix = revoked_fix(&sb, &server.url());
        assert!(
            fix.contains(&format!("renewed it already, as certificate {renewal}"))
                && fix.contains(&format!("`{} renew {renewal}`", sb.said()))
                && !fix.contains(&format!("renew {id}`")),
            "{round}: {fix}"
        );
        // The command it gives to write that certificate again runs as written.
        let export = format!("`{} export {renewal} --format pem --out FILE`", sb.said());
        assert!(fix.contains(&export), "{fix}");
        let file = format!("again/{round}.pem");
        sb.ok(&["export", &renewal, "--format", "pem", "--out", &file]);
        assert!(
            std::fs::read_to_string(sb.file(&file))
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        sb.ok(&["renew", &renewal, "--out", "again", "--force"]);
        renewal = id_of(&sb, "localhost");
    }
    // The administrator's check page gives the same advice.
    let ca = Server::start_with(&sb, &["--hostname", "mail.example.com"]);
    let text = admin_check_page(&sb, &ca, [127, 0, 0, 1], &server.url());
    assert!(
        text.contains(&format!("renewed already, as certificate {renewal}"))
            && !text.contains(&format!(
                "Renew it on its certificate page (certificate {id})"
            )),
        "{text}"
    );
    drop(ca);
    // Renewing the first of the chain names the newest renewal, not the next link.
    let said = sb.refused(&["renew", &id, "--out", "again", "--force"]);
    assert!(
        said.contains(&format!(
            "renew certificate {renewal}, the newest of its renewals, instead"
        )),
        "{said}"
    );
    // The newest renewal revoked too: it is the one to renew, not to install.
    sb.ok(&["revoke", &renewal, "--reason", "keyCompromise"]);
    let fix = revoked_fix(&sb, &server.url());
    assert!(
        fix.contains(&format!(
            "`{} renew {renewal}` writes a new certificate",
            sb.said()
        )) && !fix.contains("install that one"),
        "{fix}"
    );
}
