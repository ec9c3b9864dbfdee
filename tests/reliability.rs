//! Concurrency, crashes, and the CA key: a CA that loses a log row, hands out a certificate it
//! did not record, or leaks its key is worse than none.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{Sandbox, Server, client, openssl_ok};

fn requester(sb: &Sandbox) {
    std::fs::write(sb.file("user-pw"), "load password\n").unwrap();
    sb.ok(&[
        "user",
        "add",
        "load",
        "--role",
        "requester",
        "--password-file",
        "user-pw",
    ]);
}

fn csr(sb: &Sandbox, name: &str) -> String {
    crate::util::csr(sb, &format!("{name}.csr"), name)
}

fn issued_id(body: &str) -> Option<i64> {
    let start = body.find("certnew.cer?ReqID=")? + "certnew.cer?ReqID=".len();
    body[start..].split('&').next()?.parse().ok()
}

/// Two servers starting at once on one data folder (as a unit restarted while another runs,
/// or two started by hand) make one administrator and one HTTPS certificate between them,
/// and both start: each checks and makes them holding the log's write lock or the folder's
/// HTTPS lock, never from what it read before.
#[test]
fn two_servers_starting_at_once_make_one_admin_and_one_https_certificate() {
    for round in 0..3 {
        let sb = Sandbox::new();
        sb.init(&[]);
        let servers: Vec<Server> = std::thread::scope(|scope| {
            let started: Vec<_> = (0..2).map(|_| scope.spawn(|| Server::start(&sb))).collect();
            started.into_iter().map(|s| s.join().unwrap()).collect()
        });
        let shown = servers
            .iter()
            .filter(|server| !server.admin_password.is_empty())
            .count();
        assert_eq!(shown, 1, "round {round}: one server made the admin");
        let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
        let https = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["requester"] == "ca serve")
            .count();
        assert_eq!(https, 1, "round {round}: {rows}");
    }
}

#[test]
fn five_hundred_web_requests_from_32_clients_while_other_processes_write() {
    const REQUESTS: usize = 500;
    const CLIENTS: usize = 32;
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    requester(&sb);
    let server = Server::start(&sb);
    let csrs: Vec<String> = (0..4)
        .map(|i| csr(&sb, &format!("load{i}.example.com")))
        .collect();
    let sent = Arc::new(AtomicUsize::new(0));
    let answers: Arc<Mutex<Vec<(StatusCode, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (sent, answers, csrs) = (sent.clone(), answers.clone(), csrs.clone());
            let web = client(&sb);
            let url = format!("{}/certsrv/certfnsh.asp", server.https());
            std::thread::spawn(move || {
                loop {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    if n >= REQUESTS {
                        break;
                    }
                    let answer = web
                        .post(&url)
                        .basic_auth("load", Some("load password"))
                        .form(&[
                            ("Mode", "newreq"),
                            ("CertRequest", csrs[n % csrs.len()].as_str()),
                        ])
                        .send()
                        .unwrap();
                    let status = answer.status();
                    answers
                        .lock()
                        .unwrap()
                        .push((status, answer.text().unwrap()));
                }
            })
        })
        .collect();
    // Meanwhile, other processes on the same data folder.
    let mut outputs = Vec::new();
    for i in 0..10 {
        let out = sb.path().join(format!("cli{i}"));
        std::fs::create_dir(&out).unwrap();
        let issue = sb
            .ca()
            .args([
                "issue",
                &format!("cli{i}.example.com"),
                "--key",
                "ecdsa-p256",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        let list = sb.run(&["list", "--json"]);
        let revoke = sb.run(&["revoke", &(i + 2).to_string(), "--reason", "superseded"]);
        outputs.push(issue);
        outputs.push(list);
        outputs.push(revoke);
    }
    for c in clients {
        c.join().unwrap();
    }
    for (i, out) in outputs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if i % 3 == 2 {
            // A revoke may meet a request that is not yet issued or already revoked: a refusal.
            assert!(
                out.status.success()
                    || (out.status.code() == Some(2) && stderr.starts_with("ca: error: ")),
                "{stderr}"
            );
        } else {
            assert!(out.status.success(), "{stderr}");
        }
    }
    let answers = answers.lock().unwrap();
    assert_eq!(answers.len(), REQUESTS);
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let rows = list.as_array().unwrap();
    let by_id: std::collections::HashMap<i64, &Value> = rows
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    let mut issued = HashSet::new();
    for (status, body) in answers.iter() {
        // Under load, every request is answered and issued: no server error, no refusal.
        assert_eq!(*status, StatusCode::OK, "{body}");
        let id = issued_id(body).expect("an issued page names its request id");
        let row = by_id
            .get(&id)
            .expect("every certificate handed out is in the log");
        assert!(row["serial"].is_string());
        assert!(issued.insert(id), "request ids are unique");
    }
    assert_eq!(issued.len(), REQUESTS);
    let serials: HashSet<&str> = rows.iter().filter_map(|r| r["serial"].as_str()).collect();
    assert_eq!(
        serials.len(),
        rows.iter().filter(|r| r["serial"].is_string()).count(),
        "serials are unique"
    );
    let check = sb.ok(&["check"]);
    assert!(check.contains("is sound"), "{check}");
    eprintln!(
        "reliability: {} web issuances, {} rows in the log",
        issued.len(),
        rows.len()
    );
}

/// A tiny deterministic generator, so a failing run can be repeated from its printed seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn sigkill_at_random_points_of_100_issuances_loses_nothing_handed_out() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = Lcg(seed);
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    requester(&sb);
    let out = sb.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let request = csr(&sb, "web.example.com");
    let mut received: Vec<i64> = Vec::new();
    let mut unanswered: Vec<String> = Vec::new();
    let mut killed = 0;
    let mut server = Some(Server::start(&sb));
    for i in 0..100 {
        if i % 2 == 0 {
            // The command line, killed at a random point (or not at all).
            let mut child = sb
                .ca()
                .args([
                    "issue",
                    &format!("host{i}.example.com"),
                    "--key",
                    "ecdsa-p256",
                    "--out",
                ])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // One command in four is left to finish, so that the files are checked on a loaded
            // machine too, where every command may take longer than the kills' 40 ms.
            if rng.next(4) == 0 {
                let status = child.wait().unwrap();
                assert!(status.success(), "host{i}: a command left alone issues");
                continue;
            }
            std::thread::sleep(Duration::from_millis(rng.next(40)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed += 1;
            }
            child.wait().unwrap();
        } else {
            // The server, killed while a request is in flight every few rounds.
            let running = server.take().unwrap_or_else(|| Server::start(&sb));
            let web = client(&sb);
            let url = format!("{}/certsrv/certfnsh.asp", running.https());
            let body = request.clone();
            let sender = std::thread::spawn(move || {
                web.post(&url)
                    .basic_auth("load", Some("load password"))
                    .form(&[("Mode", "newreq"), ("CertRequest", body.as_str())])
                    .send()
                    .and_then(|a| a.text())
                    .map_err(|err| format!("{err:?}"))
            });
            std::thread::sleep(Duration::from_millis(rng.next(30)));
            let kill = rng.next(3) == 0;
            if kill {
                drop(running); // SIGKILL
                killed += 1;
            } else {
                server = Some(running);
            }
            match sender.join().unwrap() {
                Ok(body) if issued_id(&body).is_some() => received.extend(issued_id(&body)),
                // A server left running answers every request with its certificate.
                answer if !kill => unanswered.push(format!("round {i}: {answer:?}")),
                _ => {}
            }
        }
    }
    drop(server);
    assert!(
        !received.is_empty() && unanswered.is_empty(),
        "every web request to a server left running was answered with a certificate: {unanswered:#?}"
    );
    let check = sb.ok(&["check"]);
    assert!(check.contains("is sound"), "{check}");
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let rows = list.as_array().unwrap();
    let fingerprints: HashSet<&str> = rows.iter().filter_map(|r| r["sha256"].as_str()).collect();
    // Every certificate a client received over the web is in the log.
    for id in &received {
        assert!(
            rows.iter()
                .any(|r| r["id"] == *id && r["serial"].is_string()),
            "request {id} is in the log"
        );
    }
    // Every certificate file under its final name is whole, and in the log.
    let mut files = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // a temporary file a killed process left: never under a final name
        }
        if let Some(stem) = name.strip_suffix(".crt") {
            files += 1;
            let fp = openssl_ok(
                &out,
                &["x509", "-in", &name, "-noout", "-fingerprint", "-sha256"],
            );
            let fp = fp
                .trim()
                .split('=')
                .nth(1)
                .unwrap()
                .replace(':', "")
                .to_ascii_lowercase();
            assert!(
                fingerprints.contains(fp.as_str()),
                "{stem}.crt is in the log"
            );
            let key = openssl_ok(&out, &["pkey", "-in", &format!("{stem}.key"), "-pubout"]);
            let cert = openssl_ok(&out, &["x509", "-in", &name, "-noout", "-pubkey"]);
            assert_eq!(
                key, cert,
                "{stem}: the key file is whole and belongs to the certificate"
            );
        }
    }
    assert!(files > 0, "some command-line issuances finished");
    eprintln!(
        "crash test: {killed} processes killed, {files} certificate files, {} web answers, {} rows, 0 lost",
        received.len(),
        rows.len()
    );
}

#[test]
fn the_ca_key_never_appears_in_a_response_or_a_log() {
    let sb = Sandbox::new();
    let server_out = sb
        .ca()
        .env("CA_LOG", "debug")
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--hostname",
            "localhost",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Started by hand rather than with `Server`, to keep its log (standard error) for reading.
    use std::io::BufRead;
    let mut child = server_out;
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut https = String::new();
    let mut password = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(given) = crate::util::admin_password(&line) {
            password = given;
        }
        if let Some(rest) = line.strip_prefix("listening on https://") {
            https = rest
                .split('/')
                .next()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned();
            break;
        }
    }
    let web = client(&sb);
    let base = format!("https://localhost:{https}");
    let mut bodies = Vec::new();
    for path in [
        "/certsrv/",
        "/certsrv/certcarc.asp",
        "/certsrv/install",
        "/certsrv/admin",
        "/certsrv/certnew.cer?ReqID=CACert&Enc=b64",
        "/certsrv/certnew.p7b?ReqID=CACert&Enc=b64",
        "/certsrv/certcrl.crl?Type=base&Enc=b64",
        "/certsrv/ca.mobileconfig",
        "/certsrv/certrqma.asp",
    ] {
        let answer = web
            .get(format!("{base}{path}"))
            .basic_auth("admin", Some(password.as_str()))
            .send()
            .unwrap();
        bodies.push(answer.text().unwrap());
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    child.wait().unwrap();
    let key = std::fs::read_to_string(sb.data().join("root.key")).unwrap();
    let body_line = key.lines().nth(1).unwrap();
    for body in &bodies {
        assert!(
            !body.contains("PRIVATE KEY") && !body.contains(body_line),
            "no key in a response"
        );
    }
    assert!(
        !stderr.contains(body_line) && !stderr.contains("PRIVATE KEY"),
        "no key in the log"
    );
    assert!(!stderr.contains(&password), "no password in the log");
    assert!(!stderr.is_empty(), "the log was written");
}

#[test]
fn slow_clients_are_cut_off() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    sb.init(&[]);
    let server = Server::start(&sb);
    let http = server.http.trim_start_matches("http://").to_owned();
    let https = format!("127.0.0.1:{}", server.https_port);
    let started = std::time::Instant::now();
    let root = b"GET /certsrv/certnew.cer?ReqID=CACert&Enc=bin HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let probes: Vec<_> = [
        (
            http.clone(),
            b"GET /certsrv/ HTTP/1.1\r\nHost: localhost\r\n".to_vec(),
        ),
        (https, Vec::new()),
        // A whole request answered on a kept-alive connection, then headers that never end.
        (
            http,
            [&root[..], b"GET /certsrv/ HTTP/1.1\r\nHost: localhost\r\n"].concat(),
        ),
    ]
    .into_iter()
    .map(|(addr, partial)| {
        std::thread::spawn(move || {
            // Headers that never end, or a TLS handshake that never starts.
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(40)))
                .unwrap();
            stream.write_all(&partial).unwrap();
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    })
    .collect();
    for (n, probe) in probes.into_iter().enumerate() {
        let answer = probe.join().unwrap();
        // The kept-alive connection got its first answer, and nothing after it.
        let answer = match n {
            2 => {
                let (head, rest) = answer.split_once("\r\n\r\n").unwrap_or_default();
                assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
                rest.split_once("HTTP/1.1 ")
                    .map_or(String::new(), |(_, next)| format!("HTTP/1.1 {next}"))
            }
            _ => answer,
        };
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(35),
        "the server closed the connections itself ({waited:?})"
    );
    // It still serves everyone else.
    let web = client(&sb);
    assert_eq!(
        web.get(format!("{}/certsrv/", server.https()))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
