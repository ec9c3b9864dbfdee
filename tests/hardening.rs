//! `ca serve` against clients that misbehave: connections that say nothing, CPU-heavy requests
//! beside light ones, changed credentials, password guessing, forged log lines, cross-site
//! posts, and requesters who ask for what is not theirs.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use reqwest::StatusCode;
use reqwest::blocking::Client;

use crate::util::{Sandbox, Server, client, id_of, openssl_ok};

fn add_user(sb: &Sandbox, name: &str, role: &str, password: &str) {
    std::fs::write(sb.file("pw"), format!("{password}\n")).unwrap();
    sb.ok(&["user", "add", name, "--role", role, "--password-file", "pw"]);
}

/// An HTTPS client trusting only the sandbox's root, connecting from `source` (an address of
/// 127.0.0.0/8), so that one test can play several machines.
fn client_from(sb: &Sandbox, source: [u8; 4]) -> Client {
    let root = std::fs::read(sb.data().join("root.crt")).unwrap();
    Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&root).unwrap()])
        .local_address(IpAddr::from(source))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Reads from `stream` until the server closes it (or 60 s pass), and returns how long that
/// took and what was read.
fn until_closed(mut stream: impl Read) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return (started.elapsed(), read),
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    }
}

fn tcp(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
}

/// A TLS connection to the server, trusting the sandbox's root, offering `alpn`.
fn tls(
    sb: &Sandbox,
    addr: &str,
    alpn: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(sb.data().join("root.crt")).unwrap();
    use rustls_pki_types::pem::PemObject;
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = tcp(addr);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    rustls::StreamOwned::new(conn, sock)
}

/// The HTTP/2 connection preface, an empty SETTINGS frame, and a HEADERS frame for stream 1
/// without END_HEADERS: headers that never end.
fn h2_unfinished_headers() -> Vec<u8> {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend([0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
    let block = [0x82, 0x87, 0x84]; // :method GET, :scheme https, :path /
    bytes.extend([0, 0, block.len() as u8, 1, 0, 0, 0, 0, 1]); // HEADERS, no flags, stream 1
    bytes.extend(block);
    bytes
}

#[test]
fn every_connection_has_a_deadline() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let (http, https) = (server.http_addr(), server.https_addr());
    let started = Instant::now();
    type Probe = std::thread::JoinHandle<(Duration, Vec<u8>)>;
    let mut probes: Vec<(&str, Probe)> = Vec::new();
    {
        let http = http.clone();
        probes.push((
            "TCP that sends nothing",
            std::thread::spawn(move || until_closed(tcp(&http))),
        ));
    }
    {
        let https = https.clone();
        probes.push((
            "TLS that never starts",
            std::thread::spawn(move || until_closed(tcp(&https))),
        ));
    }
    {
        let stream = tls(&sb, &https, b"http/1.1");
        probes.push((
            "TLS without a request",
            std::thread::spawn(move || until_closed(stream)),
        ));
    }
    {
        let mut stream = tls(&sb, &https, b"h2");
        stream.write_all(&h2_unfinished_headers()).unwrap();
        stream.flush().unwrap();
        probes.push((
            "HTTP/2 headers that never end",
            std::thread::spawn(move || until_closed(stream)),
        ));
    }
    {
        let mut stream = tcp(&http);
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .unwrap();
        stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
        probes.push((
            "h2c with prior knowledge",
            std::thread::spawn(move || until_closed(stream)),
        ));
    }
    {
        let mut stream = tcp(&http);
        stream
            .write_all(b"POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\nMode=newreq")
            .unwrap();
        probes.push((
            "a body that never comes",
            std::thread::spawn(move || until_closed(stream)),
        ));
    }
    // The same to the protocols, answered in their own forms.
    for (what, head) in [
        (
            "an OCSP body that never comes",
            "POST /ocsp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ocsp-request\r\nContent-Length: 1000\r\n\r\n0",
        ),
        (
            "an ACME body that never comes",
            "POST /acme/new-order HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/jose+json\r\nContent-Length: 1000\r\n\r\n{",
        ),
    ] {
        let mut stream = tls(&sb, &https, b"http/1.1");
        stream.write_all(head.as_bytes()).unwrap();
        stream.flush().unwrap();
        probes.push((what, std::thread::spawn(move || until_closed(stream))));
    }
    {
        let mut stream = tcp(&http);
        // Timed from before the request: the server's idle clock starts once it has answered,
        // which may be before the probe's thread starts its own.
        let sent = Instant::now();
        stream
            .write_all(b"GET /certsrv/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        probes.push((
            "an idle keep-alive connection",
            std::thread::spawn(move || {
                let (_, read) = until_closed(stream);
                (sent.elapsed(), read)
            }),
        ));
    }
    for (what, probe) in probes {
        let (waited, read) = probe.join().unwrap();
        let text = String::from_utf8_lossy(&read);
        let limit = if what.ends_with("body that never comes") {
            40
        } else {
            30
        };
        assert!(
            waited < Duration::from_secs(limit),
            "{what}: still open after {waited:?}"
        );
        if what == "a body that never comes" {
            // A readable page, not hyper's or a timeout layer's empty 408.
            assert!(
                text.starts_with("HTTP/1.1 408") && text.contains("Request timed out"),
                "{what}: {text}"
            );
        }
        if what == "an OCSP body that never comes" {
            assert!(
                text.starts_with("HTTP/1.1 408")
                    && text.contains("text/plain")
                    && !text.contains("<html"),
                "{what}: {text}"
            );
        }
        if what == "an ACME body that never comes" {
            assert!(
                text.starts_with("HTTP/1.1 408")
                    && text.contains("application/problem+json")
                    && text.contains("urn:ietf:params:acme:error:malformed"),
                "{what}: {text}"
            );
        }
        if what == "an idle keep-alive connection" {
            assert!(text.starts_with("HTTP/1.1 200"), "{what}: {text}");
            assert!(
                waited >= Duration::from_secs(15),
                "{what}: cut after {waited:?}"
            );
        }
    }
    eprintln!("deadlines: every probe cut within {:?}", started.elapsed());
    // The server still serves everyone else.
    assert_eq!(
        client(&sb)
            .get(format!("{}/certsrv/", server.https()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// Raises this test process's limit on open files, for the thousand sockets of the test.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).unwrap();
}

/// A normal client's work: download the root, and submit a request that is issued.
fn normal_client_works(sb: &Sandbox, server: &Server) {
    let web = client_from(sb, [127, 0, 0, 9]);
    let root = web
        .get(format!(
            "{}/certsrv/certnew.cer?ReqID=CACert&Enc=bin",
            server.https()
        ))
        .send()
        .unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    let csr = std::fs::read_to_string(sb.file("web.csr")).unwrap();
    let answer = web
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[("Mode", "newreq"), ("CertRequest", csr.as_str())])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().unwrap().contains("Certificate Issued"));
}

fn auto_ca_with_alice() -> Sandbox {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "web.key",
            "-subj",
            "/CN=web.example.com",
            "-out",
            "web.csr",
        ],
    );
    sb
}

#[test]
fn a_thousand_idle_connections_do_not_keep_a_client_out() {
    raise_file_limit();
    let sb = auto_ca_with_alice();
    let server = Server::start(&sb);
    let idle: Vec<TcpStream> = (0..1000)
        .map(|i| {
            let addr = if i % 2 == 0 {
                server.http_addr()
            } else {
                server.https_addr()
            };
            TcpStream::connect(addr).unwrap()
        })
        .collect();
    normal_client_works(&sb, &server);
    drop(idle);
}

#[test]
fn a_server_at_its_file_limit_makes_room_instead_of_failing() {
    let sb = auto_ca_with_alice();
    let server = Server::start_wrapped(
        &sb,
        &["prlimit", "--nofile=256:256", "--"],
        &["--hostname", "localhost"],
        "warn",
    );
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.http_addr()).unwrap())
        .collect();
    normal_client_works(&sb, &server);
    std::thread::sleep(Duration::from_millis(500));
    let log = server.log_text();
    let failures = log.matches("accept failed").count();
    assert!(failures <= 2, "{failures} accept failures logged: {log}");
    drop(idle);
}

#[test]
fn making_rsa_4096_keys_does_not_stall_other_clients() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let url = format!(
        "{}/certsrv/certnew.cer?ReqID=CACert&Enc=bin",
        server.https()
    );
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let downloader = {
        let (done, web) = (done.clone(), client(&sb));
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut count = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let started = Instant::now();
                let answer = web.get(&url).send().unwrap();
                assert_eq!(answer.status(), StatusCode::OK);
                answer.bytes().unwrap();
                slowest = slowest.max(started.elapsed());
                count += 1;
            }
            (count, slowest)
        })
    };
    let makers: Vec<_> = (0..3)
        .map(|i| {
            let web = client(&sb);
            let url = format!("{}/certsrv/certrqma.asp", server.https());
            let password = server.admin_password.clone();
            std::thread::spawn(move || {
                let answer = web
                    .post(&url)
                    .basic_auth("admin", Some(password.as_str()))
                    .header("Origin", url.split("/certsrv").next().unwrap())
                    .form(&[
                        ("names", format!("big{i}.example.com").as_str()),
                        ("key", "rsa4096"),
                        ("password", "pfx password"),
                    ])
                    .send()
                    .unwrap();
                assert_eq!(answer.status(), StatusCode::OK);
                answer.bytes().unwrap().len()
            })
        })
        .collect();
    for maker in makers {
        assert!(maker.join().unwrap() > 1000, "a PFX came back");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (count, slowest) = downloader.join().unwrap();
    assert!(count >= 10, "{count} downloads while the keys were made");
    assert!(
        slowest < Duration::from_secs(1),
        "a root download took {slowest:?} while keys were made"
    );
}

#[test]
fn credential_changes_take_effect_at_once_in_a_running_server() {
    let sb = Sandbox::new();
    sb.init(&[]);
    add_user(&sb, "boss", "admin", "boss password");
    add_user(&sb, "carol", "admin", "carol password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let admin_page = |password: &str| {
        web.get(format!("{}/certsrv/admin", server.https()))
            .basic_auth("carol", Some(password))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(admin_page("carol password"), StatusCode::OK);
    // Demoted: the remembered admin credentials stop working at once.
    sb.ok(&["user", "role", "carol", "requester"]);
    assert_eq!(admin_page("carol password"), StatusCode::FORBIDDEN);
    // A new password: the old one stops working at once.
    std::fs::write(sb.file("new-pw"), "carol second\n").unwrap();
    sb.ok(&["user", "passwd", "carol", "--password-file", "new-pw"]);
    assert_eq!(admin_page("carol password"), StatusCode::UNAUTHORIZED);
    assert_eq!(admin_page("carol second"), StatusCode::FORBIDDEN);
    // Disabled, enabled, removed.
    sb.ok(&["user", "disable", "carol"]);
    assert_eq!(admin_page("carol second"), StatusCode::UNAUTHORIZED);
    let list = sb.ok(&["user", "list"]);
    assert!(
        list.contains("carol") && list.contains("disabled"),
        "{list}"
    );
    sb.ok(&["user", "enable", "carol"]);
    assert_eq!(admin_page("carol second"), StatusCode::FORBIDDEN);
    sb.ok(&["user", "remove", "carol"]);
    assert_eq!(admin_page("carol second"), StatusCode::UNAUTHORIZED);
    let stderr = sb.refused(&["user", "disable", "carol"]);
    assert!(stderr.contains("not found"), "{stderr}");
    // The last administrator who can sign in stays one.
    let stderr = sb.refused(&["user", "remove", "boss"]);
    assert!(stderr.contains("last administrator"), "{stderr}");
}

#[test]
fn guessing_passwords_is_slowed_down_without_locking_the_owner_out() {
    let sb = Sandbox::new();
    sb.init(&[]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let url = format!("{}/certsrv/", server.https());
    // Alice signs in from her machine before the attack.
    let alice = client_from(&sb, [127, 0, 0, 2]);
    let sign_in = |web: &Client, password: &str| {
        web.get(&url)
            .basic_auth("alice", Some(password))
            .send()
            .unwrap()
    };
    assert_eq!(sign_in(&alice, "alice password").status(), StatusCode::OK);
    // One machine guessing: after a few tries, it is told to wait, without a check.
    let guesser = client_from(&sb, [127, 0, 0, 3]);
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        statuses.push(sign_in(&guesser, &format!("guess {}", statuses.len())));
    }
    let checked = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let throttled: Vec<_> = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(checked <= 6, "{checked} guesses were checked in 3 s");
    assert!(!throttled.is_empty());
    assert!(throttled[0].headers().contains_key("retry-after"));
    // Sixteen machines guessing at once: Alice still signs in, quickly.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (10..26)
        .map(|last| {
            let (stop, web, url) = (
                stop.clone(),
                client_from(&sb, [127, 0, 0, last]),
                url.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = web.get(&url).basic_auth("alice", Some("wrong")).send();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        // A fresh client: no connection or cached session to help it.
        let fresh = client_from(&sb, [127, 0, 0, 2]);
        assert_eq!(sign_in(&fresh, "alice password").status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for a in attackers {
        a.join().unwrap();
    }
    assert!(slowest < Duration::from_secs(1), "Alice waited {slowest:?}");
}

#[test]
fn logs_hold_no_forged_line_and_no_typed_password() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start_wrapped(&sb, &[], &["--hostname", "localhost"], "info");
    let web = client(&sb);
    let forged = "mallory\n2026-11-25T00:00:00Z  INFO forged: admin signed in\u{1b}[2J";
    let _ = web
        .get(format!("{}/certsrv/", server.https()))
        .basic_auth(forged, Some("x"))
        .send()
        .unwrap();
    let _ = web
        .get(format!("{}/certsrv/", server.https()))
        .basic_auth("MySecretP@ssw0rd!", Some("x"))
        .send()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log_text();
    assert!(log.contains("wrong credentials"), "{log}");
    assert!(!log.contains("MySecretP@ssw0rd!"), "{log}");
    assert!(
        !log.contains("mallory"),
        "an unknown name is never logged: {log}"
    );
    assert!(!log.contains('\u{1b}'), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("2026-11-25T00:00:00Z")),
        "{log}"
    );
    assert!(log.contains("unknown user "), "{log}");
}

#[test]
fn cross_site_posts_are_refused_however_they_come() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let web = client(&sb);
    let url = format!("{}/certsrv/admin/deny", server.https());
    let post = |headers: &[(&str, &str)], auth: bool| {
        let mut request = web.post(&url).form(&[("id", "999"), ("reason", "x")]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if auth {
            request = request.basic_auth("admin", Some(server.admin_password.as_str()));
        }
        request.send().unwrap().status()
    };
    let here = format!("https://localhost:{}/certsrv/admin", server.https_port);
    assert_eq!(
        post(&[("Referer", "https://evil.example/page")], true),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&[("Origin", "https://evil.example")], true),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&[("Sec-Fetch-Site", "cross-site")], true),
        StatusCode::FORBIDDEN
    );
    // A script's post, without credentials: the challenge it waits for before sending them
    // (.NET, PowerShell's -Credential, curl --anyauth), not a refusal.
    assert_eq!(post(&[], false), StatusCode::UNAUTHORIZED);
    // From this site, or a script with its own credentials: decided on the merits (request 999
    // does not exist).
    assert_eq!(
        post(&[("Referer", here.as_str())], true),
        StatusCode::NOT_FOUND
    );
    assert_eq!(post(&[], true), StatusCode::NOT_FOUND);
}

#[test]
fn requesters_cannot_get_the_servers_names_or_private_addresses() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start_with(&sb, &["--hostname", "ca.example.com"]);
    let web = client(&sb);
    let reserved = "only an administrator may issue";
    // (subject CN, subjectAltName extension of the CSR, CertAttrib, why)
    for (cn, san, attributes, why) in [
        ("ca.example.com", None, "", reserved),
        ("10.1.2.3", None, "", "private, loopback or link-local"),
        // A wildcard that covers the server's name, wherever it is asked for.
        ("*.example.com", None, "", reserved),
        (
            "web.example.com",
            Some("DNS:web.example.com,DNS:*.example.com"),
            "",
            reserved,
        ),
        ("web.example.com", None, "san:dns=*.EXAMPLE.com", reserved),
    ] {
        let subject = format!("/CN={cn}");
        let mut args = vec![
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "r.key",
            "-subj",
            &subject,
            "-out",
            "r.csr",
        ];
        let extension = san.map(|san| format!("subjectAltName={san}"));
        if let Some(extension) = &extension {
            args.extend(["-addext", extension.as_str()]);
        }
        openssl_ok(sb.path(), &args);
        let csr = std::fs::read_to_string(sb.file("r.csr")).unwrap();
        let answer = web
            .post(format!("{}/certsrv/certfnsh.asp", server.https()))
            .basic_auth("alice", Some("alice password"))
            .form(&[
                ("Mode", "newreq"),
                ("CertRequest", csr.as_str()),
                ("CertAttrib", attributes),
            ])
            .send()
            .unwrap();
        let text = answer.text().unwrap();
        assert!(
            text.contains("Certificate Request Denied"),
            "{cn} {san:?} {attributes}: {text}"
        );
        assert!(text.contains(why), "{cn} {san:?} {attributes}: {text}");
        assert!(!text.contains("--allow-internal"), "{cn}: {text}");
    }
    // Each denied row lists the names asked for, CertAttrib's included: the wildcard three
    // times (as CN, in the request's extension, in CertAttrib).
    let denied: serde_json::Value =
        serde_json::from_str(&sb.ok(&["list", "--status", "denied", "--json"])).unwrap();
    let wildcards = denied
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| {
            row["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|name| name == "*.example.com")
        })
        .count();
    assert_eq!(wildcards, 3, "{denied:#}");
    // A wildcard one level further down does not cover the server's name.
    let answer = web
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[
            ("Mode", "newreq"),
            (
                "CertRequest",
                std::fs::read_to_string(sb.file("r.csr")).unwrap().as_str(),
            ),
            ("CertAttrib", "san:dns=*.web.example.com"),
        ])
        .send()
        .unwrap();
    assert!(answer.text().unwrap().contains("Certificate Issued"));
    // An administrator can: on the pages, with a request of their own, and on the command line.
    add_user(&sb, "carol", "admin", "carol password");
    let own = crate::util::csr(&sb, "own.csr", "ca.example.com");
    let answer = web
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("carol", Some("carol password"))
        .form(&[
            ("Mode", "newreq"),
            ("CertRequest", own.as_str()),
            ("CertAttrib", ""),
        ])
        .send()
        .unwrap();
    let text = answer.text().unwrap();
    assert!(text.contains("Certificate Issued"), "{text}");
    sb.ok(&["issue", "ca.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&[
        "issue",
        "10.1.2.3",
        "--allow-internal",
        "--key",
        "ecdsa-p256",
    ]);
}

/// An HTTP/2 (h2c, prior knowledge) connection to `addr` that asks for `/certsrv/` and then
/// never lets the answer through: its flow-control window is zero. Its driver answers the
/// server's PINGs, as h2hold.py did. Returns what keeps it open, and the driver, which ends
/// when the server closes the connection.
async fn h2_that_never_reads(
    addr: &str,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    h2::RecvStream,
    tokio::task::JoinHandle<()>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::get(format!("http://{addr}/certsrv/"))
        .body(())
        .unwrap();
    let (response, _) = send.send_request(request, true).unwrap();
    // The headers come (they are not flow-controlled); the page cannot.
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    (send, response.into_body(), driver)
}

#[test]
fn an_http2_client_that_never_takes_its_answer_is_cut_off() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let addr = server.http_addr();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let waited = runtime.block_on(async {
        let (_send, _body, driver) = h2_that_never_reads(&addr).await;
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(50), driver)
            .await
            .expect("the server closed the connection")
            .unwrap();
        started.elapsed()
    });
    // Not before the client had a fair chance (20 s to take an answer) ...
    assert!(waited >= Duration::from_secs(15), "cut after {waited:?}");
    // ... and the server still serves everyone else.
    assert_eq!(
        client(&sb)
            .get(format!("{}/certsrv/", server.https()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[test]
fn http2_clients_that_never_take_their_answers_do_not_keep_a_client_out() {
    let sb = auto_ca_with_alice();
    // 96 files: room for 32 connections.
    let server = Server::start_wrapped(
        &sb,
        &["prlimit", "--nofile=96:96", "--"],
        &["--hostname", "localhost"],
        "warn",
    );
    let addr = server.http_addr();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // More stalled connections than the server has room for, each with an answer it will
    // never take, answering PINGs all along.
    let stalled = runtime.block_on(async {
        let mut held = Vec::new();
        for _ in 0..40 {
            held.push(h2_that_never_reads(&addr).await);
        }
        held
    });
    // A normal client still gets its pages and its certificate, at once.
    let started = Instant::now();
    normal_client_works(&sb, &server);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
}

#[test]
fn an_http2_connection_carries_only_a_few_requests_at_once() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let addr = server.http_addr();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let limit = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (mut send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // One round trip, so the server's SETTINGS have arrived.
        let request = http::Request::get(format!("http://{addr}/certsrv/"))
            .body(())
            .unwrap();
        let (response, _) = send.send_request(request, true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
        send.current_max_send_streams()
    });
    assert!(limit <= 8, "{limit} streams at once");
}

#[test]
fn same_origin_posts_over_http2_are_accepted_and_cross_site_ones_refused() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let addr = server.http_addr();
    let credentials = format!("admin:{}", server.admin_password);
    let authorization = format!("Basic {}", BASE64_STANDARD.encode(credentials));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let post = |origin: &str| {
        runtime.block_on(async {
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let (send, connection) = h2::client::handshake(tcp).await.unwrap();
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let mut send = send.ready().await.unwrap();
            // No Host header: HTTP/2 carries the authority in the request line.
            let request = http::Request::post(format!("http://{addr}/certsrv/admin/deny"))
                .header("origin", origin)
                .header("authorization", authorization.as_str())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(())
                .unwrap();
            let (response, mut body) = send.send_request(request, false).unwrap();
            body.send_data(bytes::Bytes::from_static(b"id=999&reason=x"), true)
                .unwrap();
            response.await.unwrap().status().as_u16()
        })
    };
    // From the page itself: decided on the merits (there is no request 999).
    assert_eq!(post(&format!("http://{addr}")), 404);
    // From elsewhere: refused.
    assert_eq!(post("https://evil.example"), 403);
    assert_eq!(post(&format!("http://{addr}.evil.example")), 403);
}

#[test]
fn a_parameter_given_twice_with_different_values_is_refused() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let web = client(&sb);
    for (query, name) in [
        ("ReqID=CACert&Enc=bin&enc=b64", "enc"),
        ("reqid=3&REQID=4", "reqid"),
        ("ReqID=CACert&REQID=3&Enc=bin", "reqid"),
    ] {
        // Asked many times, the answer is always the same refusal.
        for _ in 0..5 {
            let answer = web
                .get(format!("{}/certsrv/certnew.cer?{query}", server.https()))
                .basic_auth("alice", Some("alice password"))
                .send()
                .unwrap();
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{query}");
            let text = answer.text().unwrap().to_ascii_lowercase();
            assert!(
                text.contains(&format!("the parameter {name} is given more than once")),
                "{query}: {text}"
            );
        }
    }
    // The same value twice says the same thing twice: accepted.
    let answer = web
        .get(format!(
            "{}/certsrv/certnew.cer?ReqID=CACert&reqid=CACert&Enc=bin",
            server.https()
        ))
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // Forms too.
    let answer = web
        .post(format!("{}/certsrv/certfnsh.asp", server.https()))
        .basic_auth("alice", Some("alice password"))
        .form(&[
            ("Mode", "newreq"),
            ("CertRequest", "x"),
            ("certrequest", "y"),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.text().unwrap().contains("certrequest"));
    // The admin pages' forms too: neither of two certificates named is revoked.
    add_user(&sb, "boss", "admin", "boss password");
    for name in ["a.example.com", "b.example.com"] {
        sb.ok(&["issue", name, "--key", "ecdsa-p256"]);
    }
    let (a, b) = (id_of(&sb, "a.example.com"), id_of(&sb, "b.example.com"));
    let answer = web
        .post(format!("{}/certsrv/admin/revoke", server.https()))
        .basic_auth("boss", Some("boss password"))
        .form(&[
            ("id", a.as_str()),
            ("ID", b.as_str()),
            ("reason", "superseded"),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let text = answer.text().unwrap();
    assert!(
        text.contains("The parameter ID is given more than once"),
        "{text}"
    );
    assert_eq!(
        sb.ok(&["list", "--status", "revoked", "--json"]).trim(),
        "[]",
        "none revoked"
    );
}

#[test]
fn a_body_declared_larger_than_the_limit_is_refused_at_once() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let mut stream = tcp(&server.http_addr());
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999999\r\n\r\nM")
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Declared over the limit but not sent: answered after a short wait for what comes, not
    // after the request's 30 seconds; a client waiting for 100 Continue is answered at once,
    // with no 100 Continue first.
    for (expect, within) in [("", 10), ("Expect: 100-continue\r\n", 1)] {
        let mut stream = tcp(&server.http_addr());
        stream
            .set_read_timeout(Some(Duration::from_secs(within)))
            .unwrap();
        stream
            .write_all(format!("POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n{expect}Content-Length: 100000\r\n\r\n").as_bytes())
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(
            &head,
            b"HTTP/1.1 413",
            "{expect}: {}",
            String::from_utf8_lossy(&head)
        );
    }
}

#[test]
fn a_protocol_body_over_the_limit_gets_the_protocols_answer_not_a_broken_pipe() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    // Sent whole before anything is read, as curl --data-binary sends it, a piece at a time
    // as over a network: the server reads it before it answers, or closes with it unread and
    // the client, still sending, gets a broken pipe instead of the answer.
    let body = vec![b'A'; 100 * 1024];
    for (path, media, answer) in [
        ("/ocsp", "application/ocsp-request", "HTTP/1.1 200"),
        ("/acme/new-order", "application/jose+json", "HTTP/1.1 413"),
    ] {
        for round in 0..3 {
            let mut stream = tls(&sb, &server.https_addr(), b"http/1.1");
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {media}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            for (piece, bytes) in body.chunks(8 * 1024).enumerate() {
                let sent = stream.write_all(bytes).and_then(|()| stream.flush());
                assert!(
                    sent.is_ok(),
                    "{path}, round {round}, piece {piece}: {sent:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut read = Vec::new();
            let got = stream.read_to_end(&mut read);
            let text = String::from_utf8_lossy(&read);
            assert!(
                got.is_ok() && text.starts_with(answer),
                "{path}, round {round}: {got:?} {text}"
            );
            if path == "/ocsp" {
                // OCSPResponse { responseStatus malformedRequest (1) }.
                assert!(read.ends_with(&[0x30, 0x03, 0x0a, 0x01, 0x01]), "{text}");
            } else {
                assert!(text.contains("application/problem+json"), "{text}");
            }
        }
    }
}

#[test]
fn a_user_removed_and_added_again_gets_the_new_role_at_once() {
    let sb = Sandbox::new();
    sb.init(&[]);
    add_user(&sb, "boss", "admin", "boss password");
    add_user(&sb, "carol", "admin", "carol password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let admin_page = || {
        web.get(format!("{}/certsrv/admin", server.https()))
            .basic_auth("carol", Some("carol password"))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(admin_page(), StatusCode::OK);
    sb.ok(&["user", "remove", "carol"]);
    add_user(&sb, "carol", "requester", "carol password");
    assert_eq!(admin_page(), StatusCode::FORBIDDEN);
}

#[test]
fn guesses_sent_at_once_are_checked_no_faster_than_guesses_sent_in_turn() {
    let sb = Sandbox::new();
    sb.init(&[]);
    add_user(&sb, "alice", "requester", "alice password");
    let server = Server::start(&sb);
    let url = format!("{}/certsrv/certckpn.asp", server.http);
    const AT_ONCE: usize = 60;
    let barrier = Arc::new(std::sync::Barrier::new(AT_ONCE));
    let guesses: Vec<_> = (0..AT_ONCE)
        .map(|i| {
            let (barrier, url) = (barrier.clone(), url.clone());
            let web = Client::builder()
                .local_address(IpAddr::from([127, 0, 0, 5]))
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            std::thread::spawn(move || {
                barrier.wait();
                web.get(&url)
                    .basic_auth("alice", Some(format!("guess {i}")))
                    .send()
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let statuses: Vec<StatusCode> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, AT_ONCE, "{statuses:?}");
    // As many as one address may try in turn before it must wait: three free, and a fourth.
    assert!(
        checked <= 5,
        "{checked} of {AT_ONCE} guesses sent at once were checked"
    );
    // Alice, from her own machine, is not kept out.
    let alice = Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 6]))
        .build()
        .unwrap();
    let status = alice
        .get(&url)
        .basic_auth("alice", Some("alice password"))
        .send()
        .unwrap()
        .status();
    assert!(
        status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
        "{status}"
    );
}

#[test]
fn marks_a_requester_slips_into_a_refusal_are_escaped_on_every_page_and_in_the_trail() {
    let sb = Sandbox::new();
    sb.init(&[]);
    add_user(&sb, "alice", "requester", "alice password");
    add_user(&sb, "carol", "admin", "carol password");
    let server = Server::start(&sb);
    let web = client(&sb);
    let csr = crate::util::csr(&sb, "r.csr", "web.example.com");
    // A name that reads backwards past U+202E, a line broken by U+2028, a hidden U+200B, and a
    // template name with U+2066.
    let hostile = [
        (
            "CertAttrib",
            "san:dns=x.example.com\u{202e}moc.evil\u{2028}\u{200b}",
        ),
        ("CertAttrib", "CertificateTemplate:Web\u{2066}Server"),
    ];
    let marks = ['\u{202e}', '\u{2028}', '\u{200b}', '\u{2066}'];
    for (field, value) in hostile {
        let page = web
            .post(format!("{}/certsrv/certfnsh.asp", server.https()))
            .basic_auth("alice", Some("alice password"))
            .form(&[
                ("Mode", "newreq"),
                ("CertRequest", csr.as_str()),
                (field, value),
            ])
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(page.contains("Certificate Request Denied"), "{page}");
        // The form given back to the requester holds what they typed, as they typed it.
        let shown: String = page
            .split("<textarea")
            .map(|part| {
                part.split_once("</textarea>")
                    .map_or(part, |(_, after)| after)
            })
            .collect();
        assert!(!shown.contains(&marks[..]), "{value:?}: {page}");
        assert!(page.contains("\\u{20"), "written as an escape: {page}");
    }
    let inventory = web
        .get(format!("{}/certsrv/admin?status=denied", server.https()))
        .basic_auth("carol", Some("carol password"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(inventory.contains("\\u{202e}"), "{inventory}");
    assert!(!inventory.contains(&marks[..]), "{inventory}");
    let trail = sb.ok(&["audit"]);
    assert!(trail.contains("\\u{202e}"), "{trail}");
    assert!(!trail.contains(&marks[..]), "{trail}");
    let listed = sb.ok(&["list", "--status", "denied"]);
    assert!(!listed.contains(&marks[..]), "{listed}");
    // A link made to show an administrator reversed text: its value is quoted escaped.
    let refused = web
        .get(format!(
            "{}/certsrv/admin?status=%E2%80%AEdilav",
            server.https()
        ))
        .basic_auth("carol", Some("carol password"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(refused.contains("\\u{202e}dilav"), "{refused}");
    assert!(!refused.contains(&marks[..]), "{refused}");
    // An administrator's reason for a denial, shown to the requester, may not hold them.
    let stderr = sb.refused(&["deny", "1", "--reason", "bad \u{202e}evil"]);
    assert!(stderr.contains("marks that reorder"), "{stderr}");
}
