//! Several `ca serve` nodes on one PostgreSQL database, as an organisation runs them behind
//! one name: one truth across nodes (ids, serials, CRL numbers), and faults that lose nothing
//! a client received. Each test runs its own PostgreSQL server (Debian's binaries), which it
//! stops, starts and cuts off as a failing machine would.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Sandbox, Server, crl_contents};

/// A PostgreSQL server of a test's own, on a loopback port, stopped when dropped.
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    /// As root, the server runs as the user `postgres` (it refuses to run as root).
    as_postgres: bool,
}

impl Cluster {
    fn start() -> Cluster {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = crate::util::is_root();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let uid: u32 = String::from_utf8(
                Command::new("id")
                    .args(["-u", "postgres"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap()
            .trim()
            .parse()
            .expect("a user postgres to run the server as (Debian's postgresql package makes it)");
            std::os::unix::fs::chown(&data, Some(uid), None).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            _dir: dir,
            data,
            bin,
            port,
            as_postgres,
        };
        let out = cluster
            .pg("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        cluster.up();
        cluster
    }

    /// A PostgreSQL program, run as the server's user.
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd.stdin(Stdio::null());
            cmd
        } else {
            let mut cmd = Command::new(path);
            cmd.stdin(Stdio::null());
            cmd
        }
    }

    /// Starts the server and waits until it accepts connections.
    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
            self.port,
            self.data.display()
        );
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(self.data.join("server.log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    /// Stops the server as an administrator would (fast: connections are cut).
    fn down(&self) {
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database.
    fn database(&self, name: &str) -> String {
        crate::util::psql(&self.url("postgres"), &format!("CREATE DATABASE {name}"));
        self.url(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// Where Debian's PostgreSQL programs are (`tests/run` installs them). Missing ones fail the
/// test: it is never skipped.
fn postgres_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("CA_TEST_PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs (Debian's postgresql package) are needed")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL's initdb (Debian's postgresql package) is needed")
}

/// Two nodes on one database: the CA made on the first, whose root and key the second gets
/// (as an administrator copies them), both serving, with a requester `load`.
struct Nodes {
    one: Sandbox,
    two: Sandbox,
}

impl Nodes {
    fn on(url: &str) -> Nodes {
        let one = Sandbox::on_database(url);
        one.init(&["--policy", "auto"]);
        std::fs::write(one.file("pw"), "load password\n").unwrap();
        one.ok(&[
            "user",
            "add",
            "load",
            "--role",
            "requester",
            "--password-file",
            "pw",
        ]);
        let two = Sandbox::on_database(url);
        copy_ca(&one.data(), &two.data());
        Nodes { one, two }
    }
}

/// Copies the root and its key into a new node's data folder.
fn copy_ca(from: &Path, to: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(to).unwrap();
    for file in ["root.crt", "root.key"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

/// A certificate request for `name`, made with openssl.
fn csr(sb: &Sandbox, name: &str) -> String {
    crate::util::csr(sb, &format!("{name}.csr"), name)
}

fn issued_id(body: &str) -> Option<i64> {
    let start = body.find("certnew.cer?ReqID=")? + "certnew.cer?ReqID=".len();
    body[start..].split('&').next()?.parse().ok()
}

/// A plain-HTTP client for a node (passwords are accepted over HTTP from this machine).
fn web() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What a node answered to a submission.
#[derive(Debug)]
enum Answer {
    /// "Certificate Issued", with the request id.
    Issued(i64),
    /// Another status; `Retry-After` when it came with one.
    Status(u16, Option<String>),
    /// No answer at all (the node is gone).
    Nothing,
}

fn submit(client: &reqwest::blocking::Client, node: &str, csr: &str) -> Answer {
    let sent = client
        .post(format!("{node}/certsrv/certfnsh.asp"))
        .basic_auth("load", Some("load password"))
        .form(&[("Mode", "newreq"), ("CertRequest", csr)])
        .send();
    let Ok(answer) = sent else {
        return Answer::Nothing;
    };
    let status = answer.status().as_u16();
    let retry = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Ok(body) = answer.text() else {
        return Answer::Nothing;
    };
    match (status, issued_id(&body)) {
        (200, Some(id)) => Answer::Issued(id),
        _ => Answer::Status(status, retry),
    }
}

/// Every row of the log: request id → (serial, status).
fn rows(sb: &Sandbox) -> BTreeMap<i64, (String, String)> {
    let list: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["id"].as_i64().unwrap(),
                (
                    row["serial"].as_str().unwrap_or_default().to_owned(),
                    row["status"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn two_nodes_share_one_log_under_load_and_a_node_killed_loses_nothing_it_answered() {
    const REQUESTS: usize = 1000;
    const CLIENTS: usize = 12;
    let cluster = Cluster::start();
    let url = cluster.database("ca");
    let nodes = Nodes::on(&url);
    let one = Server::start(&nodes.one);
    let two = Server::start(&nodes.two);
    let urls = [one.http.clone(), two.http.clone()];
    let csrs: Vec<String> = (0..3)
        .map(|i| csr(&nodes.one, &format!("load{i}.example.com")))
        .collect();
    let sent = Arc::new(AtomicUsize::new(0));
    // (node, answer), in the order received.
    let answers: Arc<Mutex<Vec<(usize, Answer)>>> = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (sent, answers, csrs, urls) =
                (sent.clone(), answers.clone(), csrs.clone(), urls.clone());
            std::thread::spawn(move || {
                let client = web();
                loop {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    if n >= REQUESTS {
                        break;
                    }
                    let node = n % 2;
                    let answer = submit(&client, &urls[node], &csrs[n % csrs.len()]);
                    answers.lock().unwrap().push((node, answer));
                }
            })
        })
        .collect();
    // Meanwhile: revocations by commands on both nodes' folders, and CRLs from both servers.
    let done = Arc::new(AtomicBool::new(false));
    let revoked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let revokers: Vec<_> = [nodes.one.data(), nodes.two.data()]
        .into_iter()
        .enumerate()
        .map(|(r, data)| {
            let (answers, revoked, done, url) =
                (answers.clone(), revoked.clone(), done.clone(), url.clone());
            std::thread::spawn(move || {
                let mut next = r;
                while !done.load(Ordering::SeqCst) {
                    let target = answers
                        .lock()
                        .unwrap()
                        .iter()
                        .filter_map(|(_, a)| match a {
                            Answer::Issued(id) => Some(*id),
                            _ => None,
                        })
                        .nth(next);
                    let Some(id) = target else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    next += 10;
                    let mut revoke = Command::new(env!("CARGO_BIN_EXE_ca"));
                    crate::util::isolate(&mut revoke);
                    crate::util::log_env(&mut revoke, Some(&url));
                    let out = revoke
                        .arg("--data")
                        .arg(&data)
                        .args(["revoke", &id.to_string(), "--reason", "superseded"])
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{out:?}");
                    revoked.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    let crls: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let fetchers: Vec<_> = urls
        .iter()
        .map(|node| {
            let (crls, done, node) = (crls.clone(), done.clone(), node.clone());
            std::thread::spawn(move || {
                let client = web();
                while !done.load(Ordering::SeqCst) {
                    if let Ok(answer) = client
                        .get(format!("{node}/certsrv/certcrl.crl?Type=base&Enc=bin"))
                        .send()
                        && answer.status().as_u16() == 200
                        && let Ok(der) = answer.bytes()
                    {
                        crls.lock().unwrap().push(der.to_vec());
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
            })
        })
        .collect();
    // Node two dies in the middle, without a chance to finish anything.
    while sent.load(Ordering::SeqCst) < REQUESTS / 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Instant::now();
    drop(two);
    for c in clients {
        c.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for t in revokers.into_iter().chain(fetchers) {
        t.join().unwrap();
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let log = rows(&nodes.one);
    // Every certificate a client received is in the log, whichever node answered.
    let mut ids = HashSet::new();
    let mut by_node = [0, 0];
    for (node, answer) in &answers {
        match answer {
            Answer::Issued(id) => {
                assert!(
                    log.contains_key(id),
                    "request {id} answered by node {node} is not in the log"
                );
                assert!(ids.insert(*id), "request id {id} answered twice");
                by_node[*node] += 1;
            }
            Answer::Nothing => {
                assert_eq!(*node, 1, "only the killed node leaves a client unanswered")
            }
            Answer::Status(status, _) => panic!("node {node} answered {status}"),
        }
    }
    assert!(by_node[0] >= REQUESTS / 2 - 1, "{by_node:?}");
    assert!(
        by_node[1] > 50,
        "node two answered before it was killed: {by_node:?}"
    );
    assert!(killed.elapsed() < Duration::from_secs(300));
    // Serials unique across the whole log.
    let serials: Vec<&String> = log.values().map(|(serial, _)| serial).collect();
    let unique: HashSet<&&String> = serials.iter().collect();
    assert_eq!(unique.len(), serials.len(), "a serial appears twice");
    // Every CRL from either node: numbers shared and growing, and a higher number lists every
    // revocation a lower one listed.
    let crls = std::mem::take(&mut *crls.lock().unwrap());
    assert!(crls.len() > 20, "{} CRLs fetched", crls.len());
    let mut by_number: BTreeMap<i64, (Vec<u8>, BTreeSet<String>)> = BTreeMap::new();
    for (i, der) in crls.iter().enumerate() {
        let file = format!("crl{i}.der");
        std::fs::write(nodes.one.file(&file), der).unwrap();
        let (number, listed) = crl_contents(nodes.one.path(), &file);
        if let Some((seen, _)) = by_number.get(&number) {
            assert_eq!(seen, der, "two different CRLs with number {number}");
        }
        by_number.insert(number, (der.clone(), listed));
    }
    let ordered: Vec<&BTreeSet<String>> = by_number.values().map(|(_, s)| s).collect();
    for pair in ordered.windows(2) {
        assert!(
            pair[0].is_subset(pair[1]),
            "a higher CRL number dropped a revocation"
        );
    }
    // The current CRL lists every revocation the commands made.
    let revoked = revoked.lock().unwrap().clone();
    assert!(revoked.len() >= 10, "{} revocations", revoked.len());
    nodes
        .one
        .ok(&["crl", "--out", "last.crl", "--format", "der"]);
    let (_, last) = crl_contents(nodes.one.path(), "last.crl");
    for id in &revoked {
        let serial = &log[id].0;
        assert!(
            last.contains(serial),
            "request {id} (serial {serial}) is not on the CRL"
        );
        assert_eq!(log[id].1, "revoked");
    }
    // The log's audit trail refuses to be rewritten on PostgreSQL too.
    let refused = Command::new("psql")
        .args([url.as_str(), "-qAtX", "-c", "DELETE FROM audit"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("append-only"));
    drop(one);
}

#[test]
fn a_database_restarted_under_load_gets_503_with_retry_after_then_service_without_a_restart() {
    let cluster = Cluster::start();
    let url = cluster.database("ca");
    let nodes = Nodes::on(&url);
    let one = Server::start(&nodes.one);
    let two = Server::start(&nodes.two);
    let urls = [one.http.clone(), two.http.clone()];
    let csr = csr(&nodes.one, "restart.example.com");
    let client = web();
    for node in &urls {
        assert!(matches!(submit(&client, node, &csr), Answer::Issued(_)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(usize, Answer)>>> = Arc::default();
    let load: Vec<_> = (0..4)
        .map(|c| {
            let (stop, answers, urls, csr) =
                (stop.clone(), answers.clone(), urls.clone(), csr.clone());
            std::thread::spawn(move || {
                let client = web();
                let mut n = c;
                while !stop.load(Ordering::SeqCst) {
                    let node = n % 2;
                    let answer = submit(&client, &urls[node], &csr);
                    answers.lock().unwrap().push((node, answer));
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Away for longer than a request waits for a connection (5 s): some are answered 503;
    // requests during a shorter absence only wait.
    cluster.down();
    std::thread::sleep(Duration::from_secs(8));
    cluster.up();
    // Both nodes issue again, without being restarted.
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in &urls {
        loop {
            if let Answer::Issued(_) = submit(&client, node, &csr) {
                break;
            }
            assert!(Instant::now() < deadline, "{node} did not recover");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.join().unwrap();
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let log = rows(&nodes.one);
    let mut unavailable = 0;
    for (node, answer) in &answers {
        match answer {
            Answer::Issued(id) => assert!(log.contains_key(id), "request {id} is not in the log"),
            Answer::Status(503, retry) => {
                assert!(retry.is_some(), "node {node}: 503 without Retry-After");
                unavailable += 1;
            }
            other => panic!("node {node} answered {other:?} while the database was away"),
        }
    }
    assert!(
        unavailable > 0,
        "no answer saw the database away: {answers:?}"
    );
    drop((one, two));
}

/// A TCP proxy between a node and the database, which the test can cut: the node's
/// connections are closed and new ones refused, as when a network splits.
struct Link {
    port: u16,
    open: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    fn to(upstream: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accepting, held) = (open.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !accepting.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut held = held.lock().unwrap();
                held.push(client.try_clone().unwrap());
                held.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Link {
            port,
            open,
            streams,
        }
    }

    /// Cuts every connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn mend(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0_u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn a_node_cut_off_from_the_database_answers_503_while_the_other_serves() {
    let cluster = Cluster::start();
    let url = cluster.database("ca");
    let link = Link::to(cluster.port);
    let nodes = Nodes::on(&url);
    // Node two reaches the database through the link.
    let through = format!("postgres://postgres@127.0.0.1:{}/ca", link.port);
    let two = Sandbox::on_database(&through);
    copy_ca(&nodes.one.data(), &two.data());
    let one = Server::start(&nodes.one);
    let cut_off = Server::start(&two);
    let csr = csr(&nodes.one, "split.example.com");
    let client = web();
    assert!(matches!(
        submit(&client, &cut_off.http, &csr),
        Answer::Issued(_)
    ));
    link.cut();
    let mut served = Vec::new();
    // Each answer of the cut-off node waits for a connection first (a few seconds).
    for _ in 0..3 {
        match submit(&client, &cut_off.http, &csr) {
            Answer::Status(503, Some(_)) => {}
            other => panic!("the cut-off node answered {other:?}"),
        }
        match submit(&client, &one.http, &csr) {
            Answer::Issued(id) => served.push(id),
            other => panic!("the other node answered {other:?}"),
        }
    }
    // The page says the log is away, and that the caller's sign-in could not be checked,
    // not that they are not signed in (with a link to sign in again).
    let page = client
        .post(format!("{}/certsrv/certfnsh.asp", cut_off.http))
        .basic_auth("load", Some("load password"))
        .form(&[("Mode", "newreq"), ("CertRequest", csr.as_str())])
        .send()
        .unwrap();
    assert_eq!(page.status(), 503);
    let body = page.text().unwrap();
    assert!(
        body.contains("cannot reach its issuance log just now")
            && body.contains("Your sign-in cannot be checked just now")
            && !body.contains("Not signed in"),
        "{body}"
    );
    let log = rows(&nodes.one);
    assert!(served.iter().all(|id| log.contains_key(id)));
    // Once the network is back, the node serves again without a restart.
    link.mend();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(submit(&client, &cut_off.http, &csr), Answer::Issued(_)) {
        assert!(Instant::now() < deadline, "the node did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `ca migrate` copies a SQLite log into an empty database: refused while a `ca serve` runs on
/// the folder (it would go on writing to the SQLite log after the copy), done once it stops;
/// afterwards the folder's old log is refused and the database holds every certificate.
#[test]
fn a_log_migrates_only_while_no_server_writes_to_it() {
    let cluster = Cluster::start();
    let mut sb = Sandbox {
        dir: tempfile::tempdir().unwrap(),
        database: None,
    };
    sb.init(&[]);
    sb.ok(&["issue", "before.example.com", "--key", "ecdsa-p256"]);
    let target = cluster.database("moved");
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";

    let server = Server::start(&sb);
    let refused = sb.refused(&["migrate", "--to", &target]);
    assert!(refused.contains("a server is running"), "{refused}");
    assert_eq!(crate::util::psql(&target, tables).trim(), "0");
    server.stop();

    sb.ok(&["migrate", "--to", &target]);
    let old = sb.refused(&["list"]);
    assert!(old.contains("moved"), "{old}");
    // From now on the folder's commands and servers are given the database.
    sb.database = Sandbox::on_database(&target).database;
    let rows: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|row| row.to_string().contains("before.example.com")),
        "{rows}"
    );
    let server = Server::start(&sb);
    let crl = web()
        .get(format!("http://{}/certsrv/certcrl.crl", server.http_addr()))
        .send()
        .unwrap();
    assert_eq!(crl.status(), 200);
    server.stop();
}

/// Runs `sql` with `psql` at `url` and returns whether it succeeded, and what it printed.
fn psql_try(url: &str, sql: &str) -> (bool, String) {
    let out = Command::new("psql")
        .args([url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql is needed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The two roles of the README's "PostgreSQL roles": one owns the database and its tables and
/// runs `ca migrate`, the other runs servers and commands. Named uniquely and dropped after.
struct Roles {
    admin: String,
    owner: String,
    runtime: String,
    database: String,
    port: u16,
}

impl Roles {
    fn create(cluster: &Cluster, tag: &str) -> Roles {
        let unique = format!("{tag}_{}", std::process::id());
        let roles = Roles {
            admin: cluster.url("postgres"),
            owner: format!("ca_owner_{unique}"),
            runtime: format!("ca_runtime_{unique}"),
            database: format!("ca_log_{unique}"),
            port: cluster.port,
        };
        // As the README has the administrator do it.
        for sql in [
            format!("CREATE ROLE {} LOGIN", roles.owner),
            format!("CREATE ROLE {} LOGIN", roles.runtime),
            format!("CREATE DATABASE {} OWNER {}", roles.database, roles.owner),
        ] {
            crate::util::psql(&roles.admin, &sql);
        }
        roles
    }

    fn url(&self, role: &str) -> String {
        format!(
            "postgres://{role}@127.0.0.1:{}/{}",
            self.port, self.database
        )
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        for sql in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            format!("DROP ROLE IF EXISTS {}", self.runtime),
            format!("DROP ROLE IF EXISTS {}", self.owner),
        ] {
            let _ = psql_try(&self.admin, &sql);
        }
    }
}

/// With the owner and runtime roles set up as the README says, servers and commands work as
/// the runtime role, which can neither change nor empty the audit trail nor switch off the
/// trigger that keeps it append-only; run as the owner, `ca serve` and `ca check` warn.
#[test]
fn the_runtime_role_only_adds_to_the_audit_trail_and_the_owner_is_warned() {
    let cluster = Cluster::start();
    let roles = Roles::create(&cluster, "audit");
    let owner_url = roles.url(&roles.owner);
    let runtime_url = roles.url(&roles.runtime);

    // The runtime role cannot make the tables itself, nor use them until they are granted to
    // it: the owner must.
    let owner = Sandbox::on_database(&owner_url);
    let node = Sandbox::on_database(&runtime_url);
    let not_granted = |node: &Sandbox| {
        let out = node.run(&["init", "--key", "ecdsa-p256"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("ca: error: ")
                && stderr.contains("only the role that owns them")
                && stderr.contains("ca migrate --grant"),
            "{stderr}"
        );
        assert!(!node.data().join("root.crt").exists());
    };
    not_granted(&node);

    // Hostile or mistaken roles are refused before anything is granted.
    for (role, reason) in [
        ("ca\"; DROP TABLE audit; --", "a role name is"),
        ("no_such_role", "there is no role no_such_role"),
        (roles.owner.as_str(), "owns the log's tables"),
        ("postgres", "owns the log's tables"),
    ] {
        let stderr = owner.refused(&["migrate", "--grant", role]);
        assert!(stderr.contains(reason), "{role}: {stderr}");
    }
    not_granted(&node);

    let said = owner.ok(&["migrate", "--grant", &roles.runtime]);
    assert!(said.contains(&roles.runtime), "{said}");
    // Run again (after an upgrade), it changes nothing that works.
    owner.ok(&["migrate", "--grant", &roles.runtime]);

    node.init(&["--policy", "auto"]);
    node.ok(&["issue", "cli.example.com", "--key", "ecdsa-p256"]);
    node.ok(&["revoke", "1", "--reason", "superseded"]);
    std::fs::write(node.file("pw"), "load password\n").unwrap();
    node.ok(&[
        "user",
        "add",
        "load",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ]);
    let checked = node.run(&["check"]);
    let checked_err = String::from_utf8_lossy(&checked.stderr).into_owned();
    assert!(checked.status.success(), "{checked_err}");
    assert!(!checked_err.contains("not protected"), "{checked_err}");

    let server = Server::start(&node);
    let issued = submit(&web(), &server.http, &csr(&node, "web.example.com"));
    assert!(matches!(issued, Answer::Issued(_)), "{issued:?}");
    let crl = web()
        .get(format!("http://{}/certsrv/certcrl.crl", server.http_addr()))
        .send()
        .unwrap();
    assert_eq!(crl.status(), 200);
    let log = server.log.clone();
    server.stop();
    let log = log.lock().unwrap().clone();
    assert!(!log.contains("not protected"), "{log}");

    let audit = "SELECT count(*) FROM audit";
    let before = crate::util::psql(&runtime_url, audit);
    assert!(before.trim().parse::<u32>().unwrap() >= 4, "{before}");
    for attack in [
        "UPDATE audit SET actor = 'nobody'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "ALTER TABLE audit DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_is_append_only_change ON audit",
        "DROP TABLE audit",
        "ALTER TABLE audit OWNER TO CURRENT_USER",
        "CREATE TABLE evidence (id int)",
    ] {
        let (done, said) = psql_try(&runtime_url, attack);
        assert!(!done, "the runtime role could {attack}: {said}");
        assert!(
            said.contains("permission denied") || said.contains("must be owner"),
            "{attack}: {said}"
        );
    }
    assert_eq!(crate::util::psql(&runtime_url, audit), before);
    // Adding to it is what the role is for.
    let (added, said) = psql_try(
        &runtime_url,
        "INSERT INTO audit (at, actor, action) VALUES (0, 'x', 'y')",
    );
    assert!(added, "{said}");

    // Nor can it unrevoke a certificate, change or remove what was issued or asked for, or
    // make a CRL number be used again.
    let revoked =
        "SELECT serial FROM certificates c JOIN revocations r ON r.request_id = c.request_id";
    let revoked_before = crate::util::psql(&runtime_url, revoked);
    assert!(!revoked_before.trim().is_empty());
    let crl_number = "SELECT number FROM crl";
    let number_before = crate::util::psql(&runtime_url, crl_number);
    for attack in [
        "DELETE FROM revocations WHERE request_id = 1",
        "UPDATE revocations SET revoked_at = 0",
        "UPDATE revocations SET reason = 'unspecified'",
        "TRUNCATE revocations",
        "DELETE FROM certificates WHERE request_id = 1",
        "UPDATE certificates SET not_after = not_after + 86400",
        "TRUNCATE certificates CASCADE",
        "DELETE FROM requests WHERE id = 1",
        "UPDATE requests SET status = 'denied' WHERE id = 1",
        "UPDATE crl SET number = 0",
        "UPDATE crl SET number = number",
        "DELETE FROM crl",
        "ALTER TABLE revocations DISABLE TRIGGER USER",
        "DROP TRIGGER revocations_are_append_only ON revocations",
    ] {
        let (done, said) = psql_try(&runtime_url, attack);
        assert!(!done, "the runtime role could {attack}: {said}");
        assert!(
            said.contains("permission denied")
                || said.contains("must be owner")
                || said.contains("append-only")
                || said.contains("only grows"),
            "{attack}: {said}"
        );
    }
    assert_eq!(crate::util::psql(&runtime_url, revoked), revoked_before);
    assert_eq!(crate::util::psql(&runtime_url, crl_number), number_before);
    // And the program still does all it did: issue, revoke, sign a CRL with a higher number.
    node.ok(&["issue", "after.example.com", "--key", "ecdsa-p256"]);
    let after = crate::util::psql(&runtime_url, "SELECT max(request_id) FROM certificates");
    node.ok(&["revoke", after.trim(), "--reason", "superseded"]);
    // A log upgraded without `ca migrate --grant` lacks the grant the raise needs: said,
    // with what to run, and nothing changed.
    crate::util::psql(
        &owner_url,
        &format!(
            "REVOKE UPDATE (reason) ON revocations FROM {}",
            roles.runtime
        ),
    );
    let refused = node.run(&["revoke", after.trim(), "--reason", "keyCompromise"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("PostgreSQL refused the role this runs as")
            && stderr.contains("`ca migrate --grant ROLE`"),
        "{stderr}"
    );
    let reason = format!(
        "SELECT reason FROM revocations WHERE request_id = {}",
        after.trim()
    );
    assert_eq!(
        crate::util::psql(&runtime_url, &reason).trim(),
        "superseded"
    );
    owner.ok(&["migrate", "--grant", &roles.runtime]);
    // The one change a revocation takes: its reason raised to keyCompromise.
    let said = node.ok(&["revoke", after.trim(), "--reason", "keyCompromise"]);
    assert!(said.contains("is now revoked for keyCompromise"), "{said}");
    node.ok(&["crl", "--new", "--out", "after.crl"]);
    let (_, serials) = crl_contents(node.path(), "after.crl");
    for serial in revoked_before.lines() {
        assert!(serials.contains(serial.trim()), "{serials:?} {serial}");
    }
    assert_eq!(
        serials.len(),
        revoked_before.lines().count() + 1,
        "{serials:?}"
    );
    let number_after = crate::util::psql(&runtime_url, crl_number);
    assert!(
        number_after.trim().parse::<i64>().unwrap() > number_before.trim().parse::<i64>().unwrap()
    );
    node.ok(&["check"]);

    // A role that can make itself anything (CREATEROLE) is no runtime role: refused by
    // --grant, and warned about once it is given the right.
    let creator = format!("{}_creator", roles.runtime);
    crate::util::psql(
        &roles.admin,
        &format!("CREATE ROLE {creator} LOGIN CREATEROLE"),
    );
    let stderr = owner.refused(&["migrate", "--grant", &creator]);
    assert!(stderr.contains("CREATEROLE"), "{stderr}");
    crate::util::psql(
        &roles.admin,
        &format!("ALTER ROLE {} CREATEROLE", roles.runtime),
    );
    let checked = node.run(&["check"]);
    let checked_err = String::from_utf8_lossy(&checked.stderr).into_owned();
    assert!(
        checked_err.contains(&format!(
            "ca: warning: the audit trail is not protected against the role {}",
            roles.runtime
        )),
        "{checked_err}"
    );
    crate::util::psql(
        &roles.admin,
        &format!("ALTER ROLE {} NOCREATEROLE", roles.runtime),
    );
    crate::util::psql(&roles.admin, &format!("DROP ROLE {creator}"));

    // A CA moved into a database of the owner's and granted in the same go is told to run as
    // the runtime role from then on, not as the owner.
    let second = format!("{}_moved", roles.database);
    crate::util::psql(
        &roles.admin,
        &format!("CREATE DATABASE {second} OWNER {}", roles.owner),
    );
    let moved = Sandbox::new();
    moved.init(&[]);
    let target = format!(
        "postgres://{}@127.0.0.1:{}/{second}",
        roles.owner, roles.port
    );
    let migrated = moved.run(&["migrate", "--to", &target, "--grant", &roles.runtime]);
    let said = String::from_utf8_lossy(&migrated.stdout).into_owned();
    let warned = String::from_utf8_lossy(&migrated.stderr);
    assert!(migrated.status.success(), "{warned}");
    // Nothing but its own lines: no notice of PostgreSQL's on tables not the log's.
    assert!(warned.trim().is_empty(), "{warned}");
    let runtime_target = format!(
        "postgres://{}@127.0.0.1:{}/{second}",
        roles.runtime, roles.port
    );
    assert!(
        said.contains(&format!("--database {runtime_target}")),
        "{said}"
    );
    assert!(!said.contains(&format!("--database {target}")), "{said}");
    // And a command that still opens the folder's SQLite log is told the same.
    let stderr = moved.refused(&["list"]);
    assert!(
        stderr.contains(&format!("--database {runtime_target}")),
        "{stderr}"
    );
    assert!(!stderr.contains(&roles.owner), "{stderr}");

    // A backup restored into a database of the owner's, granted in the same go: the runtime
    // role runs it at once; without --grant, the restore says what the role still needs.
    let backup = node.file("bk").to_str().unwrap().to_owned();
    node.ok(&["backup", &backup]);
    for (tag, grant) in [("restored", true), ("ungranted", false)] {
        let database = format!("{}_{tag}", roles.database);
        crate::util::psql(
            &roles.admin,
            &format!("CREATE DATABASE {database} OWNER {}", roles.owner),
        );
        let at = |role: &str| format!("postgres://{role}@127.0.0.1:{}/{database}", roles.port);
        let restorer = Sandbox::on_database(&at(&roles.owner));
        let mut args = vec!["restore", backup.as_str()];
        if grant {
            args.extend(["--grant", roles.runtime.as_str()]);
        }
        let said = restorer.ok(&args);
        let runtime = Sandbox::on_database(&at(&roles.runtime));
        copy_ca(&restorer.data(), &runtime.data());
        if grant {
            assert!(
                said.contains(&format!("the role {} may read and write it", roles.runtime)),
                "{said}"
            );
            runtime.ok(&["check"]);
        } else {
            assert!(said.contains("migrate --grant ROLE"), "{said}");
            let stderr = String::from_utf8_lossy(&runtime.run(&["list"]).stderr).into_owned();
            assert!(stderr.contains("ca migrate --grant"), "{stderr}");
        }
    }

    // The same CA run as the owner: warned at start-up and by `ca check`.
    let as_owner = Sandbox::on_database(&owner_url);
    copy_ca(&node.data(), &as_owner.data());
    let checked = as_owner.run(&["check"]);
    let checked_err = String::from_utf8_lossy(&checked.stderr).into_owned();
    assert!(checked.status.success(), "{checked_err}");
    assert!(
        checked_err.contains(&format!(
            "ca: warning: the audit trail is not protected against the role {}",
            roles.owner
        )) && checked_err.contains("ca migrate --grant"),
        "{checked_err}"
    );
    let mut server = Server::start(&as_owner);
    let log = server.wait_for_log("not protected");
    assert!(log.contains(&roles.owner), "{log}");
    server.stop();
}
