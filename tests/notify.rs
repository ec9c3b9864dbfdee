//! Notices that reach a person: expiry warnings and watched servers' findings, received by a
//! real SMTP server (aiosmtpd, with and without STARTTLS and a login) and by a webhook (a small
//! HTTP server), each once across restarts of `ca serve`; the relay down, then back; hostile
//! settings.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    Sandbox, Server, ca_with_localhost, free_port, id_of, spawn_listening, wait_listening,
};

/// `ca serve` on the sandbox, logging its notice rounds (quiet ones are at debug).
fn serve(sb: &Sandbox) -> Server {
    Server::start_wrapped(
        sb,
        &[],
        &["--hostname", "localhost"],
        "info,ca::cmd::serve=debug",
    )
}

/// The test venv's Python, which has aiosmtpd.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "tests/run makes the venv with aiosmtpd: {}",
        venv.display()
    );
    venv
}

/// An SMTP server (aiosmtpd) on 127.0.0.1 that writes each message it takes into `out`,
/// with STARTTLS required and a login (user `notifier`) when `tls` names a certificate and key.
const SMTP_SERVER: &str = r#"
import email, email.header, email.policy, os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
out, port = sys.argv[1], int(sys.argv[2])
kwargs = {}
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == b"notifier" and data.password == b"pw s3cret"
        return AuthResult(success=ok)
    kwargs = dict(authenticator=authenticate, auth_require_tls=True, auth_required=True)
    if len(sys.argv) > 5 and sys.argv[5] == "implicit":
        # aiosmtpd counts only STARTTLS as TLS for AUTH: here every byte is in TLS.
        kwargs.update(ssl_context=ctx, auth_require_tls=False)
    else:
        kwargs.update(tls_context=ctx, require_starttls=True)
class Handler:
    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(out, "%d.eml" % time.time_ns())
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with open(name + ".tmp", "w") as f:
            f.write("X-Envelope-To: " + ",".join(envelope.rcpt_tos) + "\n")
            f.write("X-Tls: " + ("yes" if session.ssl else "no") + "\n")
            f.write("X-From: " + str(message["From"]) + "\n")
            f.write("X-Subject: " + " ".join(str(message["Subject"]).split()) + "\n")
            f.write("X-Message-Id: " + str(message["Message-ID"]) + "\n\n")
            f.write(message.get_content())
        os.rename(name + ".tmp", name)
        return "250 OK"
controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

/// A webhook: answers every POST with 204 and writes its body into `out`.
const WEBHOOK: &str = r#"
import http.server, os, sys, time
out = sys.argv[1]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        name = os.path.join(out, "%d.json" % time.time_ns())
        with open(name + ".tmp", "wb") as f:
            f.write(body)
        os.rename(name + ".tmp", name)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
print(server.server_port, flush=True)
server.serve_forever()
"#;

/// A receiver (SMTP server or webhook) run by Python, stopped on drop.
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    /// aiosmtpd on `port`; with `tls` (certificate and key), STARTTLS and a login are
    /// required, or with `implicit`, TLS from the first byte and a login.
    fn smtp(dir: &Path, port: u16, tls: Option<(&str, &str)>, implicit: bool) -> Receiver {
        let out = dir.join(format!("mail-{port}"));
        std::fs::create_dir_all(&out).unwrap();
        let mut command = Command::new(python());
        command
            .current_dir(dir)
            .args(["-c", SMTP_SERVER])
            .arg(&out)
            .arg(port.to_string());
        if let Some((cert, key)) = tls {
            command.args([cert, key]);
            if implicit {
                command.arg("implicit");
            }
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the venv's Python runs aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd started");
        wait_listening(port);
        Receiver { child, port, out }
    }

    fn webhook(dir: &Path) -> Receiver {
        let out = dir.join("hook");
        std::fs::create_dir_all(&out).unwrap();
        let (child, port) =
            spawn_listening(Command::new("python3").args(["-c", WEBHOOK]).arg(&out));
        Receiver { child, port, out }
    }

    /// What it received, oldest first.
    fn received(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e != "tmp"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits until it received `count` messages (a minute at most), and returns them.
    fn wait_for(&self, count: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "received {} of {count}: {got:#?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA with certificates in each state: 5 days left (7-day window), 20 days (30-day
/// window), 100 days (none), 5 days but renewed (`ca renew` keeps the lifetime: that renewal
/// is then issued again for 100 days), 5 days but revoked. Returns the ids of the
/// two that are to be warned about.
fn ca_with_expiring_certificates() -> (Sandbox, String, String) {
    let sb = Sandbox::new();
    sb.init(&[]);
    issue_for_days(&sb, "soon.example.com", "5");
    issue_for_days(&sb, "later.example.com", "20");
    issue_for_days(&sb, "far.example.com", "100");
    issue_for_days(&sb, "renewed.example.com", "5");
    let renewed = id_of(&sb, "renewed.example.com");
    sb.ok(&["renew", &renewed, "--force"]);
    sb.ok(&[
        "issue",
        "renewed.example.com",
        "--days",
        "100",
        "--key",
        "ecdsa-p256",
        "--force",
    ]);
    issue_for_days(&sb, "revoked.example.com", "5");
    let revoked = id_of(&sb, "revoked.example.com");
    sb.ok(&["revoke", &revoked, "--reason", "superseded"]);
    let soon = id_of(&sb, "soon.example.com");
    let later = id_of(&sb, "later.example.com");
    (sb, soon, later)
}

/// `ca issue NAME --days DAYS` with a quick key.
fn issue_for_days(sb: &Sandbox, name: &str, days: &str) {
    sb.ok(&["issue", name, "--days", days, "--key", "ecdsa-p256"]);
}

fn subjects(messages: &[String]) -> Vec<String> {
    let mut subjects: Vec<String> = messages
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("X-Subject: "))
                .map(str::to_owned)
        })
        .collect();
    subjects.sort();
    subjects
}

/// A certificate whose renewal was revoked is the one in use again: its expiry gets a notice;
/// one whose renewal stands does not (the renewal's own expiry does).
#[test]
fn a_certificate_whose_renewal_was_revoked_still_gets_its_expiry_notice() {
    let sb = Sandbox::new();
    sb.init(&[]);
    issue_for_days(&sb, "abandoned.example.com", "5");
    sb.ok(&["renew", "1", "--force"]);
    sb.ok(&["revoke", "2", "--reason", "superseded"]);
    issue_for_days(&sb, "kept.example.com", "5");
    sb.ok(&["renew", "3", "--force"]);
    let hook = Receiver::webhook(sb.path());
    let hook_url = format!("http://127.0.0.1:{}/hooks/T0/token-123", hook.port);
    sb.ok(&["config", "set", "webhook", &hook_url]);
    let mut server = serve(&sb);
    let posts = hook.wait_for(2);
    server.wait_for_log("notice round");
    std::thread::sleep(Duration::from_secs(1));
    let mut about: Vec<i64> = hook
        .received()
        .iter()
        .map(|p| {
            let json: Value = serde_json::from_str(p).unwrap();
            json["request_id"].as_i64().unwrap()
        })
        .collect();
    about.sort_unstable();
    assert_eq!(about, [1, 4], "{posts:#?}");
    // The command it gives is one that runs: certificate 1 was renewed once already, so
    // the revoked renewal is the one to renew.
    let first: Value = serde_json::from_str(
        posts
            .iter()
            .find(|p| p.contains("abandoned.example.com"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["renew"], "ca renew 2");
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("renewed as certificate 2, which was revoked"),
        "{first}"
    );
    assert!(server.stop().success());
    sb.refused(&["renew", "1", "--force"]);
    sb.ok(&["renew", "2", "--force"]);
}

#[test]
fn expiry_notices_reach_the_relay_and_the_webhook_once_across_restarts() {
    let (sb, soon, later) = ca_with_expiring_certificates();
    let smtp = Receiver::smtp(sb.path(), free_port(), None, false);
    let hook = Receiver::webhook(sb.path());
    let port = smtp.port.to_string();
    sb.ok(&["config", "set", "smtp-host", "127.0.0.1"]);
    sb.ok(&["config", "set", "smtp-tls", "none"]);
    sb.ok(&["config", "set", "smtp-port", &port]);
    sb.ok(&["config", "set", "smtp-from", "Example CA <ca@example.com>"]);
    sb.ok(&[
        "config",
        "set",
        "smtp-to",
        "admin@example.com,ops@example.net",
    ]);
    let hook_url = format!("http://127.0.0.1:{}/hooks/T0/token-123", hook.port);
    sb.ok(&["config", "set", "webhook", &hook_url]);
    // The audit trail, which every administrator reads, holds its origin only.
    let audit = sb.alter_log("SELECT detail FROM audit WHERE subject = 'webhook'");
    assert!(
        audit.contains(&format!("http://127.0.0.1:{}", hook.port)) && !audit.contains("token-123"),
        "{audit}"
    );
    let shown = sb.ok(&["config", "show"]);
    assert!(shown.contains("smtp-host        127.0.0.1"), "{shown}");
    assert!(
        shown.contains("smtp-to          admin@example.com,ops@example.net"),
        "{shown}"
    );
    assert!(shown.contains("notify-days      30,7,1"), "{shown}");
    // The webhook's path may hold a token: it is shown as its origin only.
    assert!(!shown.contains("token-123"), "{shown}");

    let mut server = serve(&sb);
    let mail = smtp.wait_for(2);
    let posts = hook.wait_for(2);
    server.wait_for_log("notice round");
    let subjects = subjects(&mail);
    assert_eq!(subjects.len(), 2, "{mail:#?}");
    assert!(
        subjects.iter().any(|s| s.contains(&format!(
            "Certificate {soon} for soon.example.com expires in 4 days"
        ))),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains(&format!(
            "Certificate {later} for later.example.com expires in 19 days"
        ))),
        "{subjects:?}"
    );
    for message in &mail {
        assert!(message.contains("X-Envelope-To: admin@example.com,ops@example.net"));
        let id = message
            .lines()
            .find_map(|l| l.strip_prefix("X-Message-Id: "))
            .unwrap();
        assert!(
            id.starts_with('<') && id.ends_with("@example.com>") && id.len() > 30,
            "{message}"
        );
        assert!(
            message.contains("X-From: Example CA <ca@example.com>"),
            "{message}"
        );
    }
    let soon_mail = mail
        .iter()
        .find(|m| m.contains("soon.example.com"))
        .unwrap();
    assert!(
        soon_mail.contains(&format!("ca renew {soon}")),
        "{soon_mail}"
    );
    let mut windows: Vec<(i64, i64)> = posts
        .iter()
        .map(|p| {
            let json: Value = serde_json::from_str(p).unwrap();
            assert_eq!(json["kind"], "expiry", "{json}");
            (
                json["request_id"].as_i64().unwrap(),
                json["window"].as_i64().unwrap(),
            )
        })
        .collect();
    windows.sort_unstable();
    assert_eq!(
        windows,
        vec![(soon.parse().unwrap(), 7), (later.parse().unwrap(), 30)]
    );
    let first: Value = serde_json::from_str(
        posts
            .iter()
            .find(|p| p.contains("soon.example.com"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["names"], serde_json::json!(["soon.example.com"]));
    // Whole days, as `ca list --json` counts them: --days 5 from an hour ago.
    assert_eq!(first["days_left"], 4);
    let listed: Value = serde_json::from_str(&sb.ok(&["show", &soon, "--json"])).unwrap();
    assert_eq!(listed["days_left"], first["days_left"]);
    assert!(server.stop().success());

    // A restart sends nothing again.
    let mut server = serve(&sb);
    server.wait_for_log("notice round");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(smtp.received().len(), 2, "{:#?}", smtp.received());
    assert_eq!(hook.received().len(), 2);
    assert!(server.stop().success());
    let status = sb.ok(&["notify", "show"]);
    assert!(status.contains("4 notices sent, 0 waiting"), "{status}");

    // `ca notify test` goes through both channels.
    let out = sb.ok(&["notify", "test"]);
    assert!(
        out.contains("email    sent to admin@example.com, ops@example.net"),
        "{out}"
    );
    assert!(out.contains("webhook  sent to http://127.0.0.1:"), "{out}");
    assert!(!out.contains("token-123"), "{out}");
    assert_eq!(smtp.wait_for(3).len(), 3);
    let test: Value = serde_json::from_str(&hook.wait_for(3)[2]).unwrap();
    assert_eq!(test["kind"], "test");
}

#[test]
fn a_relay_that_is_down_loses_nothing_and_gets_the_notice_when_back() {
    let sb = Sandbox::new();
    sb.init(&[]);
    issue_for_days(&sb, "soon.example.com", "5");
    let port = free_port();
    sb.ok(&["config", "set", "smtp-host", "localhost"]);
    sb.ok(&["config", "set", "smtp-tls", "none"]);
    sb.ok(&["config", "set", "smtp-port", &port.to_string()]);
    sb.ok(&["config", "set", "smtp-from", "ca@example.com"]);
    sb.ok(&["config", "set", "smtp-to", "admin@example.com"]);

    // Nobody listens: the test says so (exit 1), the server logs it and keeps the notice.
    let out = sb.run(&["notify", "test"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("email    FAILED: the SMTP relay localhost:"),
        "{said}"
    );
    let mut server = serve(&sb);
    let log = server.wait_for_log("notice not sent");
    assert!(log.contains("tried again at the next round"), "{log}");
    assert!(server.stop().success());
    let status = sb.ok(&["notify", "show"]);
    assert!(status.contains("0 notices sent, 1 waiting"), "{status}");

    // The relay is back: the next round (here, at the next start) sends it, once.
    let smtp = Receiver::smtp(sb.path(), port, None, false);
    let mut server = serve(&sb);
    let mail = smtp.wait_for(1);
    server.wait_for_log("notice sent");
    assert!(server.stop().success());
    assert_eq!(mail.len(), 1);
    assert!(
        subjects(&mail)[0].contains("soon.example.com expires in 4 days"),
        "{mail:?}"
    );
    let mut server = serve(&sb);
    server.wait_for_log("notice round");
    std::thread::sleep(Duration::from_secs(1));
    assert!(server.stop().success());
    assert_eq!(smtp.received().len(), 1);
}

#[test]
fn a_relay_with_starttls_and_a_login_takes_the_notice_and_the_password_is_never_shown() {
    let sb = ca_with_localhost(&[]);
    issue_for_days(&sb, "soon.example.com", "1");
    let smtp = Receiver::smtp(
        sb.path(),
        free_port(),
        Some(("localhost-chain.pem", "localhost.key")),
        false,
    );
    sb.ok(&["config", "set", "smtp-host", "localhost"]);
    sb.ok(&["config", "set", "smtp-port", &smtp.port.to_string()]);
    sb.ok(&["config", "set", "smtp-user", "notifier"]);
    sb.ok(&["config", "set", "smtp-from", "ca@example.com"]);
    sb.ok(&["config", "set", "smtp-to", "admin@example.com"]);
    // Without the password, the settings are incomplete: exit 2.
    let refused = sb.refused(&["notify", "test"]);
    assert!(refused.contains("smtp-password"), "{refused}");
    // A password file that is missing: a clear error, nothing set.
    let missing = sb.refused(&["config", "set", "smtp-password", "nowhere.txt"]);
    assert!(
        missing.contains("cannot read the SMTP password: no such file"),
        "{missing}"
    );
    // An empty file is refused, as a mistake, not taken as "no password".
    std::fs::write(sb.file("empty.txt"), "").unwrap();
    let empty = sb.refused(&["config", "set", "smtp-password", "empty.txt"]);
    assert!(empty.contains("holds no SMTP password"), "{empty}");
    std::fs::write(sb.file("password.txt"), "pw s3cret\n").unwrap();
    let out = sb.ok(&["config", "set", "smtp-password", "password.txt"]);
    assert!(!out.contains("s3cret"), "{out}");
    // Only the setting changed is shown.
    assert_eq!(out.trim(), "smtp-password    (set)", "{out}");
    assert!(
        sb.ok(&["config", "show"])
            .contains("smtp-tls         starttls")
    );
    let out = sb.ok(&["notify", "test"]);
    assert!(
        out.contains("email    sent to admin@example.com via localhost:"),
        "{out}"
    );
    let mut server = serve(&sb);
    let mail = smtp.wait_for(2);
    let log = server.wait_for_log("notice sent");
    assert!(server.stop().success());
    assert!(!log.contains("s3cret"), "{log}");
    assert!(mail.iter().all(|m| m.contains("X-Tls: yes")), "{mail:#?}");
    assert!(
        subjects(&mail)
            .iter()
            .any(|s| s.contains("soon.example.com expires within a day")),
        "{mail:#?}"
    );
    // The audit trail says the password changed, never what it is.
    let audit = sb.alter_log("SELECT detail FROM audit WHERE subject = 'smtp_password'");
    assert!(
        audit.contains("(changed)") && !audit.contains("s3cret"),
        "{audit}"
    );
}

#[test]
fn hostile_notice_settings_are_refused_with_a_reason() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for (key, value, said) in [
        ("smtp-host", "not a host!", "not a host name"),
        ("smtp-host", "*.example.com", "wildcard"),
        ("smtp-port", "0", "not a port"),
        ("smtp-port", "70000", "not a port"),
        ("smtp-tls", "maybe", "starttls"),
        ("smtp-from", "nobody", "not an e-mail address"),
        (
            "smtp-to",
            "a@example.com\r\nBcc: x@example.com",
            "not an e-mail address",
        ),
        (
            "smtp-to",
            "a@example.com,@example.com",
            "not an e-mail address",
        ),
        ("webhook", "http://hooks.example.com/x", "on this machine"),
        ("webhook", "http://localhost./x", "on this machine"),
        ("webhook", "http://LOCALHOST.:8080/x", "on this machine"),
        ("webhook", "ftp://hooks.example.com/", "scheme"),
        ("watch", "ftp://mail.example.com", "ftp"),
        ("notify-days", "0,7", "not a number of days"),
        ("notify-interval", "0", "not an interval"),
    ] {
        let refused = sb.refused(&["config", "set", key, value]);
        assert!(refused.contains(said), "{key} {value:?}: {refused}");
    }
    // A relay in the clear beyond this machine, whichever setting comes last.
    sb.ok(&["config", "set", "smtp-host", "mail.example.com"]);
    let refused = sb.refused(&["config", "set", "smtp-tls", "none"]);
    assert!(refused.contains("must be on this machine"), "{refused}");
    // No channel: `ca notify test` has nothing to do.
    sb.ok(&["config", "set", "smtp-host", ""]);
    let refused = sb.refused(&["notify", "test"]);
    assert!(refused.contains("no notice channel is set up"), "{refused}");
    // The password never comes from the command line: a value is a file's name.
    // A password typed where its file's name goes is not repeated.
    let refused = sb.refused(&["config", "set", "smtp-password", "s3cret"]);
    assert!(
        refused.contains("cannot read the SMTP password: no such file")
            && !refused.contains("s3cret"),
        "{refused}"
    );
    // Nor one typed after a mistyped key.
    let refused = sb.refused(&["config", "set", "smtp-pasword", "s3cret"]);
    assert!(!refused.contains("s3cret"), "{refused}");
    let shown = sb.ok(&["config", "show"]);
    assert!(shown.contains("smtp-password    (not set)"), "{shown}");
}

#[test]
fn a_watched_server_is_reported_when_its_verdict_changes_and_only_then() {
    let sb = ca_with_localhost(&[]);
    let hook = Receiver::webhook(sb.path());
    sb.ok(&[
        "config",
        "set",
        "webhook",
        &format!("http://127.0.0.1:{}/", hook.port),
    ]);
    // Nothing listens there yet: the first check fails, and says so.
    let port = free_port();
    let url = format!("https://localhost:{port}");
    sb.ok(&["config", "set", "watch", &url]);
    let mut server = serve(&sb);
    let posts = hook.wait_for(1);
    server.wait_for_log("notice sent");
    assert!(server.stop().success());
    let first: Value = serde_json::from_str(&posts[0]).unwrap();
    assert_eq!(first["kind"], "watch", "{first}");
    assert_eq!(first["verdict"], "fail", "{first}");
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .starts_with("The first check of https://localhost:"),
        "{first}"
    );
    assert_eq!(first["url"], format!("https://localhost:{port}"));

    // Unchanged after a restart: nothing new.
    let mut server = serve(&sb);
    server.wait_for_log("notice round");
    assert!(server.stop().success());
    assert_eq!(hook.received().len(), 1);

    // The server comes up with a good certificate: the change is reported, with findings.
    let mut tls = Command::new("openssl")
        .current_dir(sb.path())
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .args([
            "-cert",
            "localhost-chain.pem",
            "-key",
            "localhost.key",
            "-quiet",
            "-www",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    let mut server = serve(&sb);
    let posts = hook.wait_for(2);
    server.wait_for_log("notice sent");
    let second: Value = serde_json::from_str(&posts[1]).unwrap();
    assert_eq!(second["previous"], "fail", "{second}");
    assert!(
        second["text"].as_str().unwrap().contains("(was fail)"),
        "{second}"
    );
    assert_ne!(second["verdict"], "fail", "{second}");
    assert!(
        second["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "trusted" && f["topic"] == "trust"),
        "{second}"
    );

    // A server added to the watch while `ca serve` runs is checked within seconds, not at the
    // end of the interval (an hour by default).
    let other = format!("https://localhost:{}", free_port());
    sb.ok(&["config", "set", "watch", &format!("{url},{other}")]);
    let posts = hook.wait_for(3);
    let third: Value = serde_json::from_str(&posts[2]).unwrap();
    assert_eq!(third["url"], other, "{third}");
    assert_eq!(third["verdict"], "fail", "{third}");
    server.wait_for_log("the notice settings changed");
    // A reload checks every watched server again at once.
    let before = server.log_text().matches("checked=2").count();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log_text().matches("checked=2").count() == before {
        assert!(
            Instant::now() < deadline,
            "no round after the reload: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stop().success());
    assert_eq!(
        hook.received().len(),
        3,
        "verdicts unchanged: no new notice"
    );
    let _ = tls.kill();
    let _ = tls.wait();
}

/// A hostile SMTP server on 127.0.0.1 that prints its port, then answers every connection
/// as `mode` says: `line`, an endless greeting line; `lines`, a greeting of endless short
/// lines; `tls-line`, a proper greeting and
/// STARTTLS (with the certificate and key given), then an endless line inside TLS; `echo`,
/// a relay that refuses the login and echoes the AUTH command.
const HOSTILE_SMTP: &str = r#"
import socket, ssl, sys, threading
mode = sys.argv[1]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print(srv.getsockname()[1], flush=True)
def endless(conn, start):
    conn.sendall(start)
    chunk = b"A" * 65536
    while True:
        conn.sendall(chunk)
def serve(conn):
    try:
        if mode == "line":
            endless(conn, b"220-")
        if mode == "lines":
            while True:
                conn.sendall(b"220-\r\n" * 16384)
        f = conn.makefile("rb")
        conn.sendall(b"220 fake ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.strip()
            up = cmd.upper()
            if up.startswith(b"EHLO") and mode == "tls-line" and isinstance(conn, ssl.SSLSocket):
                endless(conn, b"250-")
            elif up.startswith(b"EHLO"):
                conn.sendall(b"250-fake\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")
            elif up.startswith(b"STARTTLS"):
                conn.sendall(b"220 go ahead\r\n")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(sys.argv[2], sys.argv[3])
                conn = ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
            elif up.startswith(b"AUTH"):
                conn.sendall(b"535 5.7.8 Authentication failed for " + cmd + b"\r\n")
            elif up.startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")
    except OSError:
        pass
    finally:
        conn.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// The hostile server, stopped on drop.
struct Hostile {
    child: Child,
    port: u16,
}

impl Hostile {
    fn start(dir: &Path, args: &[&str]) -> Hostile {
        let (child, port) = spawn_listening(
            Command::new("python3")
                .current_dir(dir)
                .args(["-c", HOSTILE_SMTP])
                .args(args),
        );
        Hostile { child, port }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets up e-mail through `host:port`, with `tls`.
fn mail_through(sb: &Sandbox, host: &str, port: u16, tls: &str) {
    sb.ok(&["config", "set", "smtp-host", host]);
    sb.ok(&["config", "set", "smtp-tls", tls]);
    sb.ok(&["config", "set", "smtp-port", &port.to_string()]);
    sb.ok(&["config", "set", "smtp-from", "ca@example.com"]);
    sb.ok(&["config", "set", "smtp-to", "admin@example.com"]);
}

/// `ca notify test`, which must fail (exit 1) within 20 seconds: what it said.
fn failed_test_notice(sb: &Sandbox) -> String {
    let start = Instant::now();
    let out = sb.run(&["notify", "test"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}: {said}",
        start.elapsed()
    );
    said
}

#[test]
fn a_relay_sending_an_endless_line_is_cut_off_in_the_test_and_in_the_server() {
    let sb = Sandbox::new();
    sb.init(&[]);
    issue_for_days(&sb, "soon.example.com", "5");
    let hostile = Hostile::start(sb.path(), &["line"]);
    mail_through(&sb, "127.0.0.1", hostile.port, "none");
    let said = failed_test_notice(&sb);
    assert!(
        said.contains(&format!(
            "the mail server 127.0.0.1:{} sent a reply line of more than 1024 bytes; notice not sent",
            hostile.port
        )),
        "{said}"
    );
    let mut server = serve(&sb);
    let log = server.wait_for_log("notice not sent");
    assert!(server.stop().success());
    assert!(
        log.contains("sent a reply line of more than 1024 bytes"),
        "{log}"
    );
    let status = sb.ok(&["notify", "show"]);
    assert!(status.contains("0 notices sent, 1 waiting"), "{status}");
}

#[test]
fn a_relay_sending_endless_short_lines_is_cut_off_at_once() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let hostile = Hostile::start(sb.path(), &["lines"]);
    mail_through(&sb, "127.0.0.1", hostile.port, "none");
    let said = failed_test_notice(&sb);
    assert!(
        said.contains(&format!(
            "the mail server 127.0.0.1:{} sent more than 256 reply lines; notice not sent",
            hostile.port
        )),
        "{said}"
    );
}

#[test]
fn a_relay_sending_an_endless_line_inside_tls_is_cut_off() {
    let sb = ca_with_localhost(&[]);
    let hostile = Hostile::start(
        sb.path(),
        &["tls-line", "localhost-chain.pem", "localhost.key"],
    );
    mail_through(&sb, "localhost", hostile.port, "starttls");
    let said = failed_test_notice(&sb);
    assert!(
        said.contains(&format!(
            "the mail server localhost:{} sent more than 32 KiB; notice not sent",
            hostile.port
        )),
        "{said}"
    );
}

#[test]
fn a_relay_echoing_the_login_in_its_refusal_does_not_put_the_password_in_the_log() {
    let sb = Sandbox::new();
    sb.init(&[]);
    issue_for_days(&sb, "soon.example.com", "5");
    let hostile = Hostile::start(sb.path(), &["echo"]);
    mail_through(&sb, "localhost", hostile.port, "none");
    sb.ok(&["config", "set", "smtp-user", "notifier"]);
    std::fs::write(sb.file("password.txt"), "pw s3cret\n").unwrap();
    sb.ok(&["config", "set", "smtp-password", "password.txt"]);
    // What AUTH PLAIN sends: the user and password in base64.
    let plain = "AG5vdGlmaWVyAHB3IHMzY3JldA==";
    let said = failed_test_notice(&sb);
    assert!(said.contains("permanent error (535)"), "{said}");
    assert!(said.contains("Authentication failed"), "{said}");
    assert!(!said.contains(plain) && !said.contains("s3cret"), "{said}");
    let mut server = serve(&sb);
    let log = server.wait_for_log("notice not sent");
    assert!(server.stop().success());
    assert!(log.contains("(535)"), "{log}");
    assert!(!log.contains(plain) && !log.contains("s3cret"), "{log}");
    let stored = sb.alter_log("SELECT last_error FROM notices");
    assert!(stored.contains("(535)"), "{stored}");
    assert!(!stored.contains(plain), "{stored}");
}

#[test]
fn a_relay_with_tls_from_the_first_byte_takes_the_notice() {
    let sb = ca_with_localhost(&[]);
    let smtp = Receiver::smtp(
        sb.path(),
        free_port(),
        Some(("localhost-chain.pem", "localhost.key")),
        true,
    );
    mail_through(&sb, "localhost", smtp.port, "tls");
    sb.ok(&["config", "set", "smtp-user", "notifier"]);
    std::fs::write(sb.file("password.txt"), "pw s3cret\n").unwrap();
    sb.ok(&["config", "set", "smtp-password", "password.txt"]);
    let out = sb.ok(&["notify", "test"]);
    assert!(
        out.contains("email    sent to admin@example.com via localhost:"),
        "{out}"
    );
    assert!(subjects(&smtp.wait_for(1))[0].contains("Test notice"));
}
