//! `ca serve` as a service: its configuration file (every key, flags over it, refusals with
//! line numbers), SIGHUP (a new host name while a client keeps downloading the root on one
//! connection), SIGTERM (the request in flight finishes), logs in the journal's form, the
//! start-up lines, and the CA passphrase from a systemd credential.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::util::{Sandbox, Server, client, openssl_ok};

/// `ca serve --config FILE ARGS`, with the sandbox's data folder unless `data` is false, and
/// `$CA_LOG` unset (so that the file's `log` applies).
fn serve_command(sb: &Sandbox, config: &Path, data: bool, args: &[&str]) -> Command {
    let mut cmd = if data { sb.ca() } else { sb.ca_bare() };
    cmd.arg("serve")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("CA_LOG");
    cmd
}

/// The lines of `banner` that start with `prefix`.
fn banner_line<'a>(server: &'a Server, prefix: &str) -> &'a str {
    server
        .banner
        .iter()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {:?}", server.banner))
}

/// Waits (a minute at most) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TLS connection to `addr` that accepts only a certificate for `name` from the sandbox's
/// root.
fn tls_to(
    root_pem: &[u8],
    addr: &str,
    name: &str,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, rustls::Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(root_pem).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server_name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server_name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|err| {
            err.into_inner()
                .and_then(|inner| inner.downcast::<rustls::Error>().ok())
                .map_or_else(|| rustls::Error::General("handshake failed".into()), |e| *e)
        })?;
    }
    Ok(rustls::StreamOwned::new(conn, sock))
}

/// Reads one HTTP/1.1 response (with a Content-Length) from `stream`.
fn read_response(stream: &mut impl Read) -> (u16, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert_eq!(n, 1, "the connection closed in a response's head: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, body)
}

/// The root certificate as DER, read by openssl.
fn root_der(sb: &Sandbox) -> Vec<u8> {
    openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            sb.data().join("root.crt").to_str().unwrap(),
            "-outform",
            "der",
            "-out",
            "root.der",
        ],
    );
    std::fs::read(sb.file("root.der")).unwrap()
}

const ROOT_PATH: &str = "/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Enc=bin";

#[test]
fn serve_takes_every_key_from_the_configuration_file() {
    let sb = Sandbox::new();
    let config = sb.file("ca.toml");
    std::fs::write(
        &config,
        "# every key\n\
         data = \"from-config\"\n\
         http = \"127.0.0.1:0\"\n\
         https = \"127.0.0.1:0\"\n\
         hostname = [\"mail.example.com\", \"ca.example.com\"]\n\
         log = \"warn\"\n",
    )
    .unwrap();
    let data = sb.file("from-config");
    let mut server = Server::spawn(serve_command(&sb, &config, false, &[]));
    let banner = server.banner.join("\n");
    assert!(
        banner.contains(&format!("Configuration from {}", config.display())),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("in {}", data.display())),
        "the data folder is the file's, next to it: {banner}"
    );
    assert!(data.join("root.key").exists());
    assert!(!sb.data().exists(), "no ./ca-data");
    assert!(
        banner_line(&server, "listening on https://")
            .ends_with("(certificate for mail.example.com, ca.example.com, localhost, 127.0.0.1)"),
        "{banner}"
    );
    assert!(
        banner.contains("listening on http://127.0.0.1:"),
        "{banner}"
    );

    // log = "warn": a reload's INFO line is not logged (its warning is), until the file says
    // "info".
    let edit = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace(from, to)).unwrap();
    };
    edit("http = \"127.0.0.1:0\"", "http = \"127.0.0.2:0\"");
    server.signal("HUP");
    server.wait_for_log("http changed");
    edit("log = \"warn\"", "log = \"info\"");
    server.signal("HUP");
    let log = server.wait_for_log("reloaded the configuration");
    assert_eq!(
        log.matches("reloaded the configuration").count(),
        1,
        "the first reload ran at warn: {log}"
    );
    assert!(!log.contains('\u{1b}'), "no colours off a terminal: {log}");
    assert!(
        !log.contains("<6>"),
        "no journal prefixes off the journal: {log}"
    );
    assert!(server.stop().success());

    // Started again: the start-up lines say where the data is and the root's SHA-256.
    let server = Server::spawn(serve_command(&sb, &config, false, &[]));
    let fingerprint = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            data.join("root.crt").to_str().unwrap(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap();
    assert!(
        banner_line(&server, "Serving the CA ").ends_with(&format!("in {}", data.display())),
        "{:?}",
        server.banner
    );
    assert_eq!(
        banner_line(&server, "  root SHA-256 "),
        format!("  root SHA-256 {fingerprint}")
    );
    let log = sb
        .database_url()
        .unwrap_or_else(|| data.join("ca.db").display().to_string());
    assert_eq!(
        banner_line(&server, "  issuance log "),
        format!("  issuance log {log}")
    );
}

#[test]
fn flags_and_the_environment_override_the_configuration_file() {
    let sb = Sandbox::new();
    let config = sb.file("ca.toml");
    // Addresses of another machine: listening there fails, so only the flags let it start.
    std::fs::write(
        &config,
        "data = \"from-config\"\n\
         http = \"192.0.2.1:8080\"\n\
         https = \"192.0.2.1:8443\"\n\
         hostname = [\"mail.example.com\"]\n\
         log = \"error\"\n",
    )
    .unwrap();
    let flags = [
        "--http",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
        "--hostname",
        "flag.example.com",
    ];
    let server = Server::spawn(serve_command(&sb, &config, true, &flags));
    let banner = server.banner.join("\n");
    assert!(
        banner.contains(&format!("in {}", sb.data().display())),
        "--data wins: {banner}"
    );
    assert!(!sb.file("from-config").exists());
    assert!(
        banner_line(&server, "listening on https://127.0.0.1:")
            .ends_with("(certificate for flag.example.com, localhost, 127.0.0.1)"),
        "{banner}"
    );
    assert!(server.stop().success());

    // $CA_DATA over the file's data, $CA_LOG over its log.
    let mut cmd = serve_command(&sb, &config, false, &flags);
    cmd.env("CA_DATA", sb.data()).env("CA_LOG", "info");
    let mut server = Server::spawn(cmd);
    assert!(
        server
            .banner
            .join("\n")
            .contains(&format!("in {}", sb.data().display())),
        "{:?}",
        server.banner
    );
    server.signal("HUP");
    server.wait_for_log("reloaded the configuration");
    assert!(server.stop().success());
    assert!(!sb.file("from-config").exists());

    // Without the flags, the file's addresses are used, and fail.
    let out = serve_command(&sb, &config, true, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot listen on 192.0.2.1:8080"),
        "{stderr}"
    );
}

#[test]
fn a_bad_configuration_file_is_refused_with_its_line_and_nothing_is_created() {
    let sb = Sandbox::new();
    let config = sb.file("ca.toml");
    let cases: &[(&[u8], &str)] = &[
        (
            b"http = \"127.0.0.1:0\"\n\nhtps = \"127.0.0.1:0\"\n",
            "at line 3: unknown key `htps`",
        ),
        (
            b"[serve]\nhttp = \"127.0.0.1:0\"\n",
            "at line 1: unknown key `serve`",
        ),
        (b"data = \"\"\n", "at line 1: data is empty"),
        (
            b"\nhttp = \"localhost:80\"\n",
            "at line 2: http = \"localhost:80\" is not an address",
        ),
        (b"https = 8443\n", "at line 1: invalid type"),
        (
            b"hostname = [\n \"ok.example.com\",\n \"*.com\",\n]\n",
            "at line 3: hostname: '*.com' is refused",
        ),
        (
            b"log = \"ca=[\"\n",
            "at line 1: log = \"ca=[\" is not a log filter",
        ),
        (
            b"log = \"info\"\nlog = \"warn\"\n",
            "at line 2: duplicate key",
        ),
        (
            b"data = \"/x\"\n\xff\xfe = 1\n",
            "at line 2: it is not UTF-8 text",
        ),
        (b"http = \"127.0.0.1:0\nhttps = 1\n", "at line 1:"),
        (b"\x1b[2J = 1\n", "at line 1:"),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        let out = serve_command(&sb, &config, true, &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        let line = stderr.trim_end();
        assert!(!line.contains('\n'), "one line: {stderr}");
        assert!(
            !line.contains('\u{1b}'),
            "control characters escaped: {stderr}"
        );
        assert!(
            line.starts_with(&format!(
                "ca: error: the configuration file {} is refused {expected}",
                config.display()
            )),
            "{text:?}: {stderr}"
        );
        assert!(!sb.data().exists(), "{text:?} created the data folder");
    }
    // Not a file, missing, too large.
    let big = sb.file("big.toml");
    std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).unwrap();
    for (path, expected) in [
        (
            sb.path().to_path_buf(),
            "cannot read the configuration file",
        ),
        (
            sb.file("missing.toml"),
            "cannot read the configuration file",
        ),
        (big, "is too large to be a configuration file"),
    ] {
        let out = serve_command(&sb, &path, true, &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {stderr}");
        assert!(stderr.contains(expected), "{path:?}: {stderr}");
        assert!(!sb.data().exists());
    }
}

#[test]
fn sighup_takes_a_new_host_name_while_a_client_keeps_downloading_the_root() {
    let sb = Sandbox::new();
    let config = sb.file("ca.toml");
    std::fs::write(
        &config,
        "http = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nhostname = [\"first.example.com\"]\n",
    )
    .unwrap();
    let mut cmd = serve_command(&sb, &config, true, &[]);
    // The server's own lines, not one per download.
    cmd.env("CA_LOG", "warn,ca=info");
    let mut server = Server::spawn(cmd);
    let root_pem = std::fs::read(sb.data().join("root.crt")).unwrap();
    let root = root_der(&sb);
    let addr = server.https_addr();

    // A client downloads the root again and again on one keep-alive connection.
    let downloads = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let downloader = {
        let (downloads, stop, root, root_pem, addr) = (
            Arc::clone(&downloads),
            Arc::clone(&stop),
            root.clone(),
            root_pem.clone(),
            addr.clone(),
        );
        std::thread::spawn(move || {
            let mut conn = tls_to(&root_pem, &addr, "first.example.com").unwrap();
            while !stop.load(Ordering::SeqCst) {
                let request =
                    format!("GET {ROOT_PATH} HTTP/1.1\r\nHost: first.example.com\r\n\r\n");
                conn.write_all(request.as_bytes()).unwrap();
                let (status, body) = read_response(&mut conn);
                assert_eq!(status, 200);
                assert_eq!(body, root, "the root, whole");
                downloads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_until("the client downloads the root", || {
        downloads.load(Ordering::SeqCst) >= 3
    });

    // A new name, and an address that needs a restart.
    std::fs::write(
        &config,
        "http = \"127.0.0.2:0\"\nhttps = \"127.0.0.1:0\"\nhostname = [\"second.example.com\"]\n",
    )
    .unwrap();
    server.signal("HUP");
    let log = server.wait_for_log("reloaded the configuration");
    assert!(
        log.contains("the HTTPS certificate is for second.example.com, localhost, 127.0.0.1"),
        "{log}"
    );
    assert!(
        log.contains("http changed: that takes effect when the server restarts"),
        "{log}"
    );

    // The open connection carries on, with the certificate it started with.
    let before = downloads.load(Ordering::SeqCst);
    wait_until(
        "the same connection keeps downloading after the reload",
        || downloads.load(Ordering::SeqCst) >= before + 5,
    );
    // New connections get the new certificate, and the old name no longer matches.
    let mut fresh = tls_to(&root_pem, &addr, "second.example.com")
        .expect("a certificate for second.example.com after SIGHUP");
    let (status, body) = {
        let request = format!("GET {ROOT_PATH} HTTP/1.1\r\nHost: second.example.com\r\n\r\n");
        fresh.write_all(request.as_bytes()).unwrap();
        read_response(&mut fresh)
    };
    assert_eq!((status, body), (200, root.clone()));
    let old = tls_to(&root_pem, &addr, "first.example.com");
    assert!(
        matches!(old, Err(rustls::Error::InvalidCertificate(_))),
        "first.example.com is no longer on the certificate: {:?}",
        old.err()
    );
    stop.store(true, Ordering::SeqCst);
    downloader.join().expect("no download failed");

    // The certificate in the data folder is the new one; plain HTTP stays where it was.
    let san = openssl_ok(
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
    assert!(san.contains("DNS:second.example.com"), "{san}");
    assert!(!san.contains("first.example.com"), "{san}");
    let http = reqwest::blocking::get(format!("{}{ROOT_PATH}", server.http)).unwrap();
    assert_eq!(http.bytes().unwrap().to_vec(), root);
    assert!(server.stop().success());
}

#[test]
fn a_refused_reload_keeps_the_server_as_it_was_and_logs_for_the_journal() {
    let sb = Sandbox::new();
    let config = sb.file("ca.toml");
    std::fs::write(
        &config,
        "http = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nhostname = [\"localhost\"]\n",
    )
    .unwrap();
    // Standard output and error are the file JOURNAL_STREAM names, as under systemd.
    let journal = sb.file("journal");
    let stderr = std::fs::File::create(&journal).unwrap();
    let meta = stderr.metadata().unwrap();
    let mut child = serve_command(&sb, &config, true, &[])
        .env("CA_LOG", "info")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(stderr.try_clone().unwrap())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&journal).unwrap();
    wait_until("ca serve listens", || {
        read().contains("listening on https://")
    });
    let text = read();
    let https = text
        .lines()
        .find_map(|line| line.strip_prefix("listening on https://"))
        .map(|rest| rest.split('/').next().unwrap().to_owned())
        .unwrap();
    let port = https.rsplit(':').next().unwrap();
    // admin's password never goes to the journal.
    assert!(
        text.contains("Created the user admin with a random password that is shown nowhere"),
        "{text}"
    );
    assert!(!text.contains("with the password"), "{text}");

    std::fs::write(
        &config,
        "hostname = [\"elsewhere.example.com\"]\nhtps = 1\n",
    )
    .unwrap();
    let kill = |signal: &str| {
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    kill("HUP");
    wait_until("the refused reload is logged", || {
        read().contains("was not reloaded")
    });
    // Still the old certificate, still serving.
    let page = client(&sb)
        .get(format!("https://localhost:{port}/certsrv/"))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        tls_to(
            &std::fs::read(sb.data().join("root.crt")).unwrap(),
            &https,
            "elsewhere.example.com"
        )
        .is_err()
    );
    kill("TERM");
    assert!(child.wait().unwrap().success());

    let text = read();
    let error = text
        .lines()
        .find(|line| line.contains("was not reloaded"))
        .unwrap();
    assert!(error.starts_with("<3>"), "an error for journald: {error}");
    assert!(
        error.contains("is refused at line 2: unknown key `htps`"),
        "{error}"
    );
    let stopping = text
        .lines()
        .find(|line| line.contains("shutting down"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(stopping.starts_with("<6>"), "{stopping}");
    // Every log line carries the priority of its level, and no time stamp of its own (the
    // journal keeps one); standard output's lines are the journal's default, info.
    for line in text.lines() {
        assert!(!line.contains('\u{1b}'), "no colours: {line:?}");
        let level = ["ERROR", "WARN", "INFO", "DEBUG"]
            .into_iter()
            .find(|level| {
                line.split_whitespace()
                    .next()
                    .is_some_and(|w| w.ends_with(level))
            });
        let Some(level) = level else { continue };
        let priority = match level {
            "ERROR" => "<3>",
            "WARN" => "<4>",
            "INFO" => "<6>",
            _ => "<7>",
        };
        assert!(
            line.starts_with(priority),
            "{level} is {priority}: {line:?}"
        );
        assert!(
            !line[3..]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit()),
            "no time stamp: {line:?}"
        );
    }
    assert!(
        text.lines().filter(|line| line.starts_with('<')).count() >= 3,
        "{text}"
    );
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let sb = Sandbox::new();
    let mut server = Server::start_wrapped(&sb, &[], &["--hostname", "localhost"], "info");
    let data = sb.data();
    openssl_ok(
        sb.path(),
        &[
            "ocsp",
            "-issuer",
            data.join("root.crt").to_str().unwrap(),
            "-cert",
            data.join("https.crt").to_str().unwrap(),
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let body = std::fs::read(sb.file("req.der")).unwrap();

    // The request's head is in; the server asks for its body (100 Continue): it is in flight.
    let mut conn = TcpStream::connect(server.http_addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut continued = Vec::new();
    let mut byte = [0u8; 1];
    while !continued.ends_with(b"\r\n\r\n") {
        assert_eq!(conn.read(&mut byte).unwrap(), 1);
        continued.push(byte[0]);
    }
    assert!(
        continued.starts_with(b"HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&continued)
    );

    server.signal("TERM");
    server.wait_for_log("shutting down");
    // No new connections...
    wait_until("the server stops listening", || {
        TcpStream::connect(server.http_addr()).is_err()
    });
    // ...but the request in flight gets its answer.
    conn.write_all(&body).unwrap();
    let (status, answer) = read_response(&mut conn);
    assert_eq!(status, 200);
    std::fs::write(sb.file("resp.der"), &answer).unwrap();
    let text = openssl_ok(
        sb.path(),
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            data.join("root.crt").to_str().unwrap(),
            "-CAfile",
            data.join("root.crt").to_str().unwrap(),
            "-reqin",
            "req.der",
            "-resp_text",
        ],
    );
    assert!(text.contains("Cert Status: good"), "{text}");
    let status = server.wait_exit();
    assert!(status.success(), "{status}");
    // Stopped, it closed the log: everything it wrote (its own certificate, the OCSP
    // responses it signed ahead) is in ca.db, with no write-ahead log left beside it for a
    // copy of the file alone to miss.
    if !sb.on_postgres() {
        assert!(
            !data.join("ca.db-wal").exists(),
            "the server left its write-ahead log"
        );
    }
}

/// Another process with the log open keeps the stopping server from putting the write-ahead
/// log back into ca.db: it says so, and that a copy of ca.db alone would miss those writes.
#[test]
fn a_server_that_cannot_fold_its_log_back_says_so_as_it_stops() {
    let sb = Sandbox::new();
    if sb.on_postgres() {
        return; // A database has no write-ahead log beside the folder.
    }
    let mut server = Server::start_wrapped(&sb, &[], &["--hostname", "localhost"], "info");
    // A reader that stays: sqlite3 with its standard input open, after one read.
    let mut reader = Command::new("sqlite3")
        .arg(sb.data().join("ca.db"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = reader.stdin.take().unwrap();
    writeln!(input, "SELECT COUNT(*) FROM certificates;").unwrap();
    let mut counted = [0u8; 1];
    reader
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut counted)
        .unwrap();
    server.signal("TERM");
    let log = server.wait_for_log("still holds the log's latest writes");
    assert!(server.wait_exit().success());
    let wal = sb.data().join("ca.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the reader kept the log open"
    );
    assert!(
        log.contains(&format!(
            "{} still holds the log's latest writes",
            wal.display()
        )) && log.contains("a copy of that file alone would miss them"),
        "{log}"
    );
    drop(input);
    reader.wait().unwrap();
}

#[test]
fn the_ca_passphrase_comes_from_the_systemd_credential() {
    let sb = Sandbox::new();
    let credentials = sb.file("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let credential = credentials.join("ca.passphrase");
    std::fs::write(&credential, "correct horse battery staple\n").unwrap();
    let with_credential = |args: &[&str]| {
        sb.ca()
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .args(args)
            .output()
            .unwrap()
    };
    let out = with_credential(&["init", "--key", "ecdsa-p256"]);
    assert!(out.status.success(), "{out:?}");
    let key = std::fs::read_to_string(sb.data().join("root.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    // The passphrase is the credential's first line, without its line end.
    openssl_ok(
        sb.path(),
        &[
            "pkey",
            "-in",
            sb.data().join("root.key").to_str().unwrap(),
            "-noout",
            "-passin",
            "pass:correct horse battery staple",
        ],
    );

    let out = sb.run(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ca.passphrase"), "{stderr}");
    let out = with_credential(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
    assert!(out.status.success(), "{out:?}");
    assert!(sb.file("mail.example.com.crt").exists());

    // A wrong credential fails; an empty one is refused; none at all falls back to the
    // environment.
    std::fs::write(&credential, "wrong\n").unwrap();
    let out = with_credential(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("passphrase"), "{stderr}");
    std::fs::write(&credential, "").unwrap();
    let out = with_credential(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is empty"), "{stderr}");
    std::fs::remove_file(&credential).unwrap();
    let out = sb
        .ca()
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env("CA_PASSPHRASE", "correct horse battery staple")
        .args(["issue", "www.example.com", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Every command that opens the CA reads the data folder and the database from the same
/// file `ca serve` reads, so that on an installed server `ca list` needs no `--data`; a flag
/// still wins, and a file that is refused stops the command with its line, creating nothing.
#[test]
fn commands_take_the_data_folder_and_database_from_the_configuration_file() {
    let sb = Sandbox::new();
    sb.init(&["--name", "Configured Root"]);
    let config = sb.file("ca.toml");
    let mut text = format!("data = {:?}\n", sb.data().display().to_string());
    if let Some(url) = sb.database_url() {
        text.push_str(&format!("database = {url:?}\n"));
    }
    std::fs::write(&config, text).unwrap();
    // No --data, no $CA_DATA, no $CA_DATABASE: everything comes from the file.
    // Run from another folder, where the default ca-data holds nothing.
    let elsewhere = tempfile::tempdir().unwrap();
    let bare = |args: &[&str]| {
        let mut cmd = sb.ca_bare();
        cmd.current_dir(elsewhere.path())
            .env("CA_CONFIG", &config)
            .env_remove("CA_DATABASE")
            .args(args);
        cmd.output().unwrap()
    };
    let out = bare(&["issue", "configured.example.com", "--key", "ecdsa-p256"]);
    assert!(out.status.success(), "{out:?}");
    let listed = bare(&["list"]);
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("configured.example.com"));
    let shown = bare(&["root"]);
    assert!(shown.status.success(), "{shown:?}");
    assert!(
        !elsewhere.path().join("ca-data").exists(),
        "the default folder was used"
    );
    // --data wins over the file: this folder holds no CA.
    let empty = sb.file("empty");
    let out = bare(&["--data", empty.to_str().unwrap(), "list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // A refused file stops the command, naming its line.
    std::fs::write(&config, "data = \"/x\"\nhtps = 1\n").unwrap();
    let out = bare(&["list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is refused at line 2: unknown key `htps`"),
        "{stderr}"
    );
}

/// Only what opens the data folder reads the configuration file: `ca check URL` works for a
/// user who may not read it (the packaged file is 0640 root:ca); a command that cannot read it
/// is told what it can do (only `ca serve` has --config); and help shows no variable's value.
#[test]
fn check_url_reads_no_configuration_file_and_refusals_say_what_each_command_can_do() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    // A configuration file that cannot be read (root reads any file: a folder stands in).
    let unreadable = sb.file("unreadable.toml");
    std::fs::create_dir(&unreadable).unwrap();
    let bare = |args: &[&str]| {
        let mut cmd = sb.ca_bare();
        cmd.env("CA_CONFIG", &unreadable).args(args);
        cmd.output().unwrap()
    };
    let url = format!("https://127.0.0.1:{}", server.https_port);
    let out = bare(&[
        "check",
        &url,
        "--root",
        sb.data().join("root.crt").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("configuration file"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("chain"),
        "the server was checked: {stdout}{stderr}"
    );
    // Without --root, away from the default data folder, an unreadable file lends no root; a
    // readable one lends the CA's.
    let untrusted = sb
        .ca_bare()
        .env("CA_CONFIG", &unreadable)
        .current_dir("/")
        .args(["check", &url])
        .output()
        .unwrap();
    assert_ne!(untrusted.status.code(), out.status.code(), "{untrusted:?}");
    let readable = sb.file("readable.toml");
    std::fs::write(
        &readable,
        format!("data = \"{}\"\n", sb.data().to_str().unwrap()),
    )
    .unwrap();
    let lent = sb
        .ca_bare()
        .env("CA_CONFIG", &readable)
        .current_dir("/")
        .args(["check", &url])
        .output()
        .unwrap();
    assert_eq!(lent.status.code(), out.status.code(), "{lent:?}");
    server.stop();

    let out = bare(&["list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the configuration file")
            && stderr.contains("$CA_CONFIG")
            && stderr.contains("--data")
            && !stderr.contains("--config"),
        "{stderr}"
    );
    let mut serve = serve_command(&sb, &unreadable, true, &[]);
    let out = serve.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("give --config"), "{stderr}");

    for args in [&["--help"][..], &["serve", "--help"]] {
        let mut cmd = sb.ca_bare();
        cmd.env("CA_DATA", "/secret-folder")
            .env("CA_CONFIG", "/secret.toml")
            .env("CA_DATABASE", "postgres://ca@db.example.com/secret")
            .args(args);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(!help.contains("secret"), "{help}");
        assert!(!help.contains("[env: CA_DATA="), "{help}");
        for variable in ["[env: CA_DATA]", "[env: CA_DATABASE]"] {
            assert!(help.contains(variable), "{variable}: {help}");
        }
    }
}
