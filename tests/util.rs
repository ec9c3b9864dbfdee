//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// A scratch folder with a data folder inside it, and the `ca` binary pointed at it. When the
/// suite runs against PostgreSQL (`$CA_TEST_POSTGRES`, the URL of a server's maintenance
/// database), each sandbox also gets a database of its own, given to every command as
/// `$CA_DATABASE` and dropped with the sandbox.
pub struct Sandbox {
    pub dir: TempDir,
    /// The sandbox's database, when the suite runs against PostgreSQL.
    pub database: Option<Database>,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("a temporary folder"),
            database: postgres_admin().map(|admin| Database::create(&admin)),
        }
    }

    /// A sandbox whose log is the database at `url`, which others may share (it is not
    /// dropped with the sandbox): a node of several on one database.
    pub fn on_database(url: &str) -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("a temporary folder"),
            database: Some(Database {
                name: url.rsplit('/').next().unwrap_or_default().to_owned(),
                url: url.to_owned(),
                admin: String::new(),
                owned: false,
            }),
        }
    }

    /// True when the log is a PostgreSQL database rather than the SQLite file ca.db.
    pub fn on_postgres(&self) -> bool {
        self.database.is_some()
    }

    /// Points `cmd` (a `ca` command) at this sandbox's log.
    pub fn log_env(&self, cmd: &mut Command) {
        log_env(cmd, self.database_url().as_deref());
    }

    /// The URL of the sandbox's database, when the suite runs against PostgreSQL.
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(|database| database.url.clone())
    }

    /// Runs SQL on the sandbox's log as someone with a hand on it would: `sqlite3` on ca.db,
    /// or `psql` on the database. Returns what it printed, trimmed.
    pub fn alter_log(&self, sql: &str) -> String {
        match &self.database {
            Some(database) => database.sql(sql).trim().to_owned(),
            None => sqlite(&self.data().join("ca.db"), sql),
        }
    }

    /// Switches off the log's guard on its certificates, as someone with the tables' owner's
    /// rights (or the file) could, before altering certificates by hand.
    pub fn unguard_certificates(&self) {
        match &self.database {
            Some(database) => {
                database.sql(UNGUARD_CERTIFICATES_POSTGRES);
            }
            None => {
                sqlite(&self.data().join("ca.db"), UNGUARD_CERTIFICATES_SQLITE);
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("ca-data")
    }

    /// How a message of `ca` run with [`Sandbox::ca`] starts the commands it gives to run:
    /// `ca --data DIR`, so that, pasted, they reach this CA.
    pub fn said(&self) -> String {
        format!("ca --data {}", self.data().display())
    }

    /// `ca` with `--data` set, run in the sandbox folder.
    pub fn ca(&self) -> Command {
        let mut cmd = self.ca_bare();
        cmd.arg("--data").arg(self.data());
        cmd
    }

    /// `ca` run in the sandbox folder with nothing from the machine: no data folder, passphrase
    /// or credentials from the environment, and no configuration file (not even
    /// /etc/ca/ca.toml, which the package test installs while other tests run).
    pub fn ca_bare(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ca"));
        isolate(&mut cmd);
        cmd.current_dir(self.path()).stdin(Stdio::null());
        self.log_env(&mut cmd);
        cmd
    }

    /// Runs `ca ARGS` and returns its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ca().args(args).output().expect("ca runs")
    }

    /// Runs `ca ARGS` and insists it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ca {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Runs `ca ARGS`, insists it exits with status 2, and returns standard error.
    pub fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(2),
            "ca {args:?} should exit 2: {stderr}"
        );
        assert!(
            stderr.starts_with("ca: error: "),
            "one clear error line: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    /// `ca init` with a quick key, for tests that do not care about the root's key type.
    pub fn init(&self, extra: &[&str]) {
        let mut args = vec!["init", "--key", "ecdsa-p256"];
        args.extend_from_slice(extra);
        self.ok(&args);
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The names of the files in the sandbox folder (not the data folder), sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "ca-data")
            .collect();
        names.sort();
        names
    }

    /// How many rows the issuance log holds, read through `ca list --json`.
    pub fn row_count(&self) -> usize {
        if !self.data().join("root.crt").exists() {
            return 0;
        }
        let json: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        json.as_array().unwrap().len()
    }
}

/// Points `cmd` (a `ca` command) at the log in `database`, or at the data folder's own.
pub fn log_env(cmd: &mut Command, database: Option<&str>) {
    cmd.env_remove("CA_DATABASE");
    if let Some(url) = database {
        cmd.env("CA_DATABASE", url);
    }
}

/// Runs `sqlite3 DB SQL`, as someone with a hand on the log would. A missing `sqlite3` is a
/// failure, never a skip.
/// What the tables' owner runs to alter certificates despite the log's guard.
pub const UNGUARD_CERTIFICATES_SQLITE: &str = "DROP TRIGGER certificates_are_append_only_update";
pub const UNGUARD_CERTIFICATES_POSTGRES: &str =
    "ALTER TABLE certificates DISABLE TRIGGER certificates_are_append_only";

pub fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .expect("the sqlite3 command line is needed to alter a log as an attacker would");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The URL of the PostgreSQL server's maintenance database the suite runs against, if any.
pub fn postgres_admin() -> Option<String> {
    std::env::var("CA_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database of its own for one sandbox, dropped with it.
pub struct Database {
    pub name: String,
    /// Its URL, as `ca` takes it.
    pub url: String,
    admin: String,
    /// Dropped with this value: false for a database several sandboxes share.
    owned: bool,
}

impl Database {
    /// Creates an empty database on the server `admin` names.
    pub fn create(admin: &str) -> Database {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "ca_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql(admin, &format!("CREATE DATABASE {name}"));
        let base = admin
            .rsplit_once('/')
            .map_or(admin, |(server, _)| server)
            .to_owned();
        Database {
            url: format!("{base}/{name}"),
            name,
            admin: admin.to_owned(),
            owned: true,
        }
    }

    /// Runs SQL in this database as its owner would, with `psql`.
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = Command::new("psql")
            .args([
                &self.admin,
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdin(Stdio::null())
            .output();
    }
}

/// Runs `psql URL -c SQL`, insists it succeeds, and returns what it printed (unaligned, tuples
/// only). A missing `psql` is a failure when the suite runs against PostgreSQL.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql is needed to run the suite against PostgreSQL");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keeps the machine's settings for `ca` out of `cmd`.
pub fn isolate(cmd: &mut Command) {
    cmd.env_remove("CA_PASSPHRASE")
        .env_remove("CA_DATA")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .env("CA_CONFIG", "/dev/null");
}

/// Insists that `openssl crl` finds the DER CRL `file` (in `dir`) signed by the root `root`.
pub fn assert_crl_verifies(dir: &Path, file: &str, root: &Path) {
    let verified = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            file,
            "-CAfile",
            root.to_str().unwrap(),
            "-noout",
        ],
    );
    assert!(
        String::from_utf8_lossy(&verified.stderr).contains("verify OK"),
        "{file}: {verified:?}"
    );
}

/// The serials a DER CRL lists and its number, as `openssl crl` reads them.
pub fn crl_contents(dir: &Path, file: &str) -> (i64, std::collections::BTreeSet<String>) {
    let text = openssl_ok(
        dir,
        &["crl", "-inform", "DER", "-in", file, "-noout", "-text"],
    );
    let mut lines = text.lines();
    let mut number = None;
    let mut serials = std::collections::BTreeSet::new();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.starts_with("X509v3 CRL Number:") {
            number = lines.next().map(|n| n.trim().parse::<i64>().unwrap());
        }
        if let Some(serial) = line.strip_prefix("Serial Number: ") {
            serials.insert(serial.to_ascii_lowercase());
        }
    }
    (number.expect("a CRL number"), serials)
}

/// True when the tests run as root (as CI does).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs `openssl ARGS` in `dir`. A missing `openssl` is a failure, never a skip.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command line is needed to verify what ca writes")
}

/// Runs `openssl ARGS`, insists it succeeds, and returns standard output.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PEM certificate request for `cn` (no other name), made by `openssl req` with a new P-256
/// key, written to `file` in the sandbox (its key to `file.key`) and returned.
pub fn csr(sb: &Sandbox, file: &str, cn: &str) -> String {
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
            &format!("{file}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            file,
        ],
    );
    std::fs::read_to_string(sb.file(file)).unwrap()
}

/// Makes a request with `openssl req` (its key in req.key) and returns its file name.
pub fn openssl_request(dir: &Path, file: &str, key: &str, subject: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "req", "-new", "-newkey", key, "-nodes", "-keyout", "req.key", "-subj", subject, "-out",
        file,
    ];
    args.extend_from_slice(extra);
    openssl_ok(dir, &args);
    file.to_owned()
}

/// A request for the key in the file `key` with the subject `/CN=cn`, made by `openssl req`
/// in `dir` and written to `file` (PEM), whose name is returned.
pub fn request_for_key(dir: &Path, key: &str, cn: &str, file: &str) -> String {
    let subject = format!("/CN={cn}");
    openssl_ok(
        dir,
        &["req", "-new", "-key", key, "-subj", &subject, "-out", file],
    );
    file.to_owned()
}

/// The text `openssl x509 -text` prints for a PEM certificate file.
pub fn x509_text(dir: &Path, file: &str) -> String {
    openssl_ok(dir, &["x509", "-in", file, "-noout", "-text"])
}

/// The value lines under an extension heading of `openssl x509 -text`, and whether the heading
/// says "critical". `None` when the extension is absent.
pub fn extension(text: &str, heading: &str) -> Option<(bool, String)> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix(heading) {
            let critical = rest.contains("critical");
            let value = lines
                .next()
                .map(|l| l.trim().to_owned())
                .unwrap_or_default();
            return Some((critical, value));
        }
    }
    None
}

/// The names of all X509v3 extensions in `openssl x509 -text` output, in order.
pub fn extension_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("X509v3 "))
        .map(|l| l.split(':').next().unwrap_or_default().trim().to_owned())
        .filter(|n| n != "extensions")
        .collect()
}

/// A running `ca serve` on 127.0.0.1 with ports chosen by the system; stopped on drop.
pub struct Server {
    child: std::process::Child,
    pub http: String,
    pub https_port: u16,
    pub admin_password: String,
    /// What the server printed before it listened.
    pub banner: Vec<String>,
    /// Everything the server wrote to its log (standard error) so far.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    /// The server's standard output after the start-up lines, read on a thread.
    _reader: std::thread::JoinHandle<()>,
    /// The thread that reads its log, done once the server exits.
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `ca serve` on the sandbox's data folder (creating the CA if there is none).
    pub fn start(sb: &Sandbox) -> Server {
        Self::start_with(sb, &["--hostname", "localhost"])
    }

    /// Starts `ca serve` with `args` after its listening addresses.
    pub fn start_with(sb: &Sandbox, args: &[&str]) -> Server {
        Self::start_wrapped(sb, &[], args, "warn")
    }

    /// Starts `ca serve` with `args`, through `wrapper` (a command such as `prlimit ... --`,
    /// empty for none), logging at `level`.
    pub fn start_wrapped(sb: &Sandbox, wrapper: &[&str], args: &[&str], level: &str) -> Server {
        let mut command = match wrapper.split_first() {
            None => sb.ca(),
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                isolate(&mut cmd);
                cmd.current_dir(sb.path())
                    .args(rest)
                    .arg(env!("CARGO_BIN_EXE_ca"))
                    .arg("--data")
                    .arg(sb.data())
                    .stdin(Stdio::null());
                sb.log_env(&mut cmd);
                cmd
            }
        };
        command
            .args(["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
            .args(args)
            .env("CA_LOG", level);
        Self::spawn(command)
    }

    /// Starts `command`, a `ca serve` whose output is not redirected yet, and reads its
    /// start-up lines up to both listening addresses.
    pub fn spawn(mut command: Command) -> Server {
        use std::io::BufRead;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ca serve starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let log_reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("ca serve: {line}");
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut http, mut https, mut password) = (None, None, String::new());
        let mut banner = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            banner.push(line.clone());
            if let Some(given) = admin_password(&line) {
                password = given;
            }
            if let Some(rest) = line.strip_prefix("listening on http://") {
                http = Some(format!("http://{}", rest.split('/').next().unwrap()));
            }
            if let Some(rest) = line.strip_prefix("listening on https://") {
                let addr = rest.split('/').next().unwrap();
                https = Some(addr.rsplit(':').next().unwrap().parse::<u16>().unwrap());
            }
            if http.is_some() && https.is_some() {
                break;
            }
        }
        let reader = std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            http: http.unwrap_or_else(|| panic!("ca serve printed its HTTP address: {banner:?}")),
            https_port: https.expect("ca serve printed its HTTPS address"),
            admin_password: password,
            banner,
            log,
            _reader: reader,
            log_reader: Some(log_reader),
        }
    }

    /// The server's HTTP address, `127.0.0.1:PORT`.
    pub fn http_addr(&self) -> String {
        self.http.trim_start_matches("http://").to_owned()
    }

    /// The server's HTTPS address, `127.0.0.1:PORT`.
    pub fn https_addr(&self) -> String {
        format!("127.0.0.1:{}", self.https_port)
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends the server `signal` (`HUP`, `TERM`, ...).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits until the server's log holds `text` (or the server exits, or a minute passes),
    /// and returns the log.
    pub fn wait_for_log(&mut self, text: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            let log = self.log_text();
            if log.contains(text) {
                return log;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ca serve exited ({status}) before logging {text:?}: {log}");
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "ca serve did not log {text:?}: {log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Asks the server to stop (SIGTERM, as Ctrl-C or a service manager would) and returns its
    /// exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// [`Server::stop`], then the whole of what the server logged.
    pub fn stop_and_log(mut self) -> String {
        let reader = self.log_reader.take();
        let log = self.log.clone();
        self.stop();
        if let Some(reader) = reader {
            reader.join().unwrap();
        }
        log.lock().unwrap().clone()
    }

    /// Waits for the server to exit (after a signal sent with [`Server::signal`]).
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// The HTTPS base URL, by the name the server's certificate carries.
    pub fn https(&self) -> String {
        format!("https://localhost:{}", self.https_port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client that trusts only the sandbox's root, and follows no redirects.
pub fn client(sb: &Sandbox) -> reqwest::blocking::Client {
    let root = std::fs::read(sb.data().join("root.crt")).unwrap();
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&root).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on 127.0.0.1:`port` (5 seconds at most).
pub fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("nothing listens on port {port}");
}

/// Starts `command`, a server that prints the port it listens on as its first line, and
/// waits until it listens.
pub fn spawn_listening(command: &mut Command) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test server starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap();
    wait_listening(port);
    (child, port)
}

/// The request id of the newest certificate whose first name is `name`.
pub fn id_of(sb: &Sandbox, name: &str) -> String {
    let rows: serde_json::Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|row| row["names"][0] == name)
        .map(|row| row["id"].as_i64().unwrap().to_string())
        .unwrap()
}

/// A CA whose data folder holds the sandbox's, and a leaf for `localhost` from it
/// (`localhost.crt`, `localhost.key`, `localhost-chain.pem`).
pub fn ca_with_localhost(extra: &[&str]) -> Sandbox {
    let sb = Sandbox::new();
    sb.init(extra);
    sb.ok(&[
        "issue",
        "localhost",
        "--key",
        "ecdsa-p256",
        "--allow-internal",
    ]);
    sb.ok(&["root", "--out", "root.pem"]);
    sb
}

/// Gives `path` and everything in it to the user nobody.
pub fn chown_to_nobody(path: &Path) {
    assert!(
        privileged("chown")
            .args(["-R", "65534:65534"])
            .arg(path)
            .status()
            .unwrap()
            .success()
    );
}

/// Makes `sb`'s data folder the user nobody's when running as root (whose writes
/// permissions do not stop), the sandbox folder open to it: what [`unprivileged`] runs as.
/// True when running as root.
pub fn given_to_nobody(sb: &Sandbox) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let as_root = root();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if as_root {
        chown_to_nobody(&sb.data());
    }
    as_root
}

/// Runs `ca ARGS` on `sb`'s data folder in the sandbox folder, as the user nobody when
/// `as_root` (root's writes are not stopped by permissions), else as this user.
pub fn unprivileged(sb: &Sandbox, as_root: bool, args: &[&str]) -> Output {
    unprivileged_command(sb, as_root, args).output().unwrap()
}

/// The command [`unprivileged`] runs, to be spawned.
pub fn unprivileged_command(sb: &Sandbox, as_root: bool, args: &[&str]) -> Command {
    let ca = env!("CARGO_BIN_EXE_ca");
    let mut cmd = if as_root {
        let mut cmd = privileged("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", ca]);
        cmd
    } else {
        Command::new(ca)
    };
    sb.log_env(&mut cmd);
    cmd.env_remove("CA_DATA")
        .current_dir(sb.path())
        .arg("--data")
        .arg(sb.data())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

pub fn root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program` run as root: directly when the tests run as root (as on CI), else through
/// `sudo -n`.
pub fn privileged(program: &str) -> Command {
    if root() {
        Command::new(program)
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", program]);
        cmd
    }
}

/// Runs `ca issue mail.example.com --force` on `sb` so that its files cannot be put in place
/// once the certificate is committed: as the user nobody (the data folder given to it, run
/// as root or through `sudo -n`), into `out`, a sticky folder open to all (as /tmp is) where
/// `mail.example.com.crt` already stands, root's: there only its owner may replace it, and
/// nothing before the commit can tell.
pub fn issue_where_a_file_cannot_be_replaced(sb: &Sandbox) -> Output {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_to_nobody(&sb.data());
    let out = sb.file("out");
    std::fs::create_dir(&out).unwrap();
    assert!(
        privileged("chmod")
            .arg("1777")
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    // The command checks its folder first (another user's file there would be refused), then
    // reads the key's passphrase from this pipe: root's file appears in between.
    let fifo = sb.file("passphrase");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let command = unprivileged_command(
        sb,
        true,
        &[
            "issue",
            "mail.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            "out",
            "--force",
            "--key-passphrase-file",
            "passphrase",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::fs::write(out.join("mail.example.com.crt"), "root's").unwrap();
    assert!(
        privileged("chown")
            .args(["0:0"])
            .arg(out.join("mail.example.com.crt"))
            .status()
            .unwrap()
            .success()
    );
    std::io::Write::write_all(&mut writer, format!("{KEPT_KEY_PASSPHRASE}\n").as_bytes()).unwrap();
    drop(writer);
    command.wait_with_output().unwrap()
}

/// The passphrase of the key [`issue_where_a_file_cannot_be_replaced`] writes.
pub const KEPT_KEY_PASSPHRASE: &str = "kept key passphrase";

/// Insists `openssl verify -x509_strict` accepts the certificate in `file` (in `sb`'s folder)
/// as issued by `sb`'s root.
pub fn assert_verifies_strictly(sb: &Sandbox, file: &str) {
    let root = sb.data().join("root.crt");
    let verified = openssl_ok(
        sb.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            root.to_str().unwrap(),
            file,
        ],
    );
    assert_eq!(verified.trim(), format!("{file}: OK"));
}

/// Runs `ca --data DATA ARGS` at a pseudo-terminal (Python's pty module), with `env` set,
/// typing the answers (separated by `|`; none when empty) one per prompt as each comes (a prompt ends in "not
/// shown as you type" or " again:"); an answer ending in Ctrl-C is sent without a line end.
/// Returns the exit status and all the terminal showed, followed by whether its echo was on
/// at the end (`[echo on]`, `[echo off]`). `ARGS` of `["--sh", SCRIPT]` run SCRIPT with sh
/// instead, `$0` being ca and `$1` the data folder (to redirect what ca writes).
pub fn at_a_terminal(
    sb: &Sandbox,
    answers: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    const AT_A_TERMINAL: &str = r#"
import os, pty, select, signal, sys, termios, time
answers = sys.argv[1].encode().split(b"|") if sys.argv[1] else []
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out, deadline = b"", time.monotonic() + 30
def more():
    global out
    if not select.select([fd], [], [], max(0, deadline - time.monotonic()))[0]:
        os.kill(pid, signal.SIGKILL)
        sys.stdout.buffer.write(out + b"\n(still waiting after 30 s: killed)")
        sys.exit(124)
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    out += chunk
    return bool(chunk)
def prompts():
    return out.count(b"not shown as you type") + out.count(b" again:")
for number, answer in enumerate(answers):
    while prompts() <= number and more():
        pass
    os.write(fd, answer if answer.endswith(b"\x03") else answer + b"\n")
while more():
    pass
echo = termios.tcgetattr(fd)[3] & termios.ECHO
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out + (b"[echo on]" if echo else b"[echo off]"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut command = vec![
        std::ffi::OsString::from(env!("CARGO_BIN_EXE_ca")),
        "--data".into(),
        sb.data().into(),
    ];
    command.extend(args.iter().map(std::ffi::OsString::from));
    if args.first() == Some(&"--sh") {
        // `--sh SCRIPT`: the script, run by sh with ca and the data folder as $0 and $1.
        command = vec![
            "/bin/sh".into(),
            "-c".into(),
            args[1].into(),
            command[0].clone(),
            command[2].clone(),
        ];
    }
    let mut python = Command::new("python3");
    isolate(&mut python);
    sb.log_env(&mut python);
    let out = python
        .current_dir(sb.path())
        .envs(env.iter().copied())
        .args(["-c", AT_A_TERMINAL, answers])
        .args(command)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The first admin's password from a line `ca serve` printed: shown at a terminal, else
/// written to the file the line names (standard output is not one here); `None` for any
/// other line.
pub fn admin_password(line: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(shown) = line.strip_prefix("Created the user admin with the password ") {
        return Some(shown.trim().to_owned());
    }
    let (path, _) = line
        .strip_prefix("Created the user admin; its password is in ")?
        .split_once(" (mode 0600")?;
    let written = std::fs::read_to_string(path).unwrap();
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{path}");
    Some(written.trim_end().to_owned())
}
