//! ACME (RFC 8555, RFC 8737, RFC 9773) against a real `ca serve`: certbot (from PyPI) and
//! Debian's lego obtain, renew and revoke with http-01, tls-alpn-01 and dns-01, through a real
//! DNS server (dnsmasq) on loopback, trusting only the CA's root with no verification switched
//! off; and a client written here sends what those clients never would.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::util::{Sandbox, Server, client, openssl_ok};

/// The names the test DNS server answers (with 127.0.0.1).
const NAMES: &[&str] = &[
    "mail.example.com",
    "www.example.com",
    "example.com",
    "autodiscover.example.com",
];

/// A TCP port on 127.0.0.1 nothing listens on now (and, with `udp`, free for UDP too).
fn free_port(udp: bool) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !udp || UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// dnsmasq on loopback, answering A records for [`NAMES`] and the TXT records its hook
/// script adds: `dns-hook present|cleanup FQDN VALUE` (lego's exec provider) or
/// `dns-hook certbot-auth|certbot-cleanup` (certbot's manual hooks, which pass
/// `CERTBOT_DOMAIN` and `CERTBOT_VALIDATION`). dnsmasq does not reload TXT records on SIGHUP,
/// so the hook restarts it.
struct Dns {
    dir: PathBuf,
    port: u16,
}

impl Dns {
    fn start(parent: &Path) -> Dns {
        let dir = parent.join("dns");
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port(true);
        let mut conf = format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
        );
        for name in NAMES {
            conf.push_str(&format!("host-record={name},127.0.0.1\n"));
        }
        // A name this server says does not exist (NXDOMAIN), where it refuses other names.
        conf.push_str("local=/nowhere.example.com/\n");
        std::fs::write(dir.join("dns.conf"), conf).unwrap();
        std::fs::write(dir.join("txt.conf"), "").unwrap();
        let hook = dir.join("dns-hook");
        std::fs::write(
            &hook,
            r#"#!/bin/sh
set -e
cd "$(dirname "$0")"
case "$1" in
  present) echo "txt-record=${2%.},\"$3\"" >> txt.conf ;;
  cleanup) grep -v -F "\"$3\"" txt.conf > txt.new || true; mv txt.new txt.conf ;;
  certbot-auth) echo "txt-record=_acme-challenge.$CERTBOT_DOMAIN,\"$CERTBOT_VALIDATION\"" >> txt.conf ;;
  certbot-cleanup) grep -v -F "\"$CERTBOT_VALIDATION\"" txt.conf > txt.new || true; mv txt.new txt.conf ;;
esac
if [ -f dns.pid ]; then
  old=$(cat dns.pid)
  kill "$old" 2>/dev/null || true
  i=0
  while kill -0 "$old" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
dnsmasq=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
# Between the old server's end and the new one's start, another socket can hold the port for
# a moment (a client's ephemeral port): try again for up to five seconds.
i=0
until "$dnsmasq" --conf-file=dns.conf --conf-file=txt.conf --pid-file="$PWD/dns.pid" 2>>dns.err; do
  i=$((i + 1))
  if [ $i -ge 50 ]; then cat dns.err >&2; exit 1; fi
  sleep 0.1
done
"#,
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dns = Dns { dir, port };
        let status = Command::new(dns.hook()).arg("restart").status().unwrap();
        assert!(status.success(), "dnsmasq starts");
        dns
    }

    fn hook(&self) -> PathBuf {
        self.dir.join("dns-hook")
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("dns.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// A CA serving ACME, with its validator pointed at the test's ports and DNS server.
struct Acme {
    // Fields drop in this order: the DNS server and `ca serve` stop while the sandbox's
    // folder (which holds dnsmasq's pid file) still exists.
    dns: Dns,
    server: Server,
    sb: Sandbox,
    http_port: u16,
    tls_port: u16,
    /// The HTTPS origin clients use.
    origin: String,
}

impl Acme {
    /// A new CA and its server (`localhost` and 127.0.0.1).
    fn start() -> Acme {
        let sb = Sandbox::new();
        let server = Server::start(&sb);
        let origin = server.https();
        Self::around(sb, server, origin)
    }

    fn around(sb: Sandbox, server: Server, origin: String) -> Acme {
        let dns = Dns::start(sb.path());
        let (http_port, tls_port) = (free_port(false), free_port(false));
        for (key, value) in [
            ("acme-http-port", http_port.to_string()),
            ("acme-tls-port", tls_port.to_string()),
            ("acme-dns", format!("127.0.0.1:{}", dns.port)),
        ] {
            sb.ok(&["config", "set", key, &value]);
        }
        Acme {
            dns,
            server,
            sb,
            http_port,
            tls_port,
            origin,
        }
    }

    fn directory(&self) -> String {
        format!("{}/acme/directory", self.origin)
    }

    fn root(&self) -> PathBuf {
        self.sb.data().join("root.crt")
    }

    /// lego with its account and certificates in `path`, trusting only the CA's root.
    fn lego(&self, path: &str, args: &[&str]) -> Output {
        Command::new("lego")
            .current_dir(self.sb.path())
            .env("LEGO_CA_CERTIFICATES", self.root())
            .env("EXEC_PATH", self.dns.hook())
            .env("EXEC_PROPAGATION_TIMEOUT", "30")
            .env("EXEC_POLLING_INTERVAL", "1")
            .env("EXEC_SEQUENCE_INTERVAL", "1")
            .args(["--server", &self.directory(), "--accept-tos"])
            .args(["--email", "hostmaster@example.com", "--path", path])
            .args(args)
            .output()
            .expect("lego runs (tests/run installs it)")
    }

    fn lego_ok(&self, path: &str, args: &[&str]) -> String {
        let out = self.lego(path, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "lego {args:?} failed:\n{text}");
        text
    }

    /// certbot from the tests' virtual environment, with its folders in the sandbox.
    fn certbot(&self, args: &[&str]) -> Output {
        let certbot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/certbot");
        let folder = self.sb.file("certbot");
        Command::new(certbot)
            .current_dir(self.sb.path())
            .env("REQUESTS_CA_BUNDLE", self.root())
            .env_remove("CURL_CA_BUNDLE")
            .args(args)
            .args(["--server", &self.directory(), "--non-interactive"])
            .arg("--config-dir")
            .arg(folder.join("config"))
            .arg("--work-dir")
            .arg(folder.join("work"))
            .arg("--logs-dir")
            .arg(folder.join("logs"))
            .output()
            .expect("certbot runs (tests/run installs it)")
    }

    fn certbot_ok(&self, args: &[&str]) -> String {
        let out = self.certbot(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "certbot {args:?} failed:\n{text}");
        text
    }

    /// The rows of `ca list --json`.
    fn rows(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.sb.ok(&["list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The ACME rows of the log.
    fn acme_rows(&self) -> Vec<Value> {
        self.rows()
            .into_iter()
            .filter(|r| r["source"] == "acme")
            .collect()
    }

    /// `openssl verify` of a PEM file against the root alone, and its SAN line.
    fn verify(&self, pem: &Path) -> String {
        let root = self.root();
        let out = openssl_ok(
            self.sb.path(),
            &[
                "verify",
                "-CAfile",
                root.to_str().unwrap(),
                "-purpose",
                "sslserver",
                pem.to_str().unwrap(),
            ],
        );
        assert!(out.contains(": OK"), "{out}");
        openssl_ok(
            self.sb.path(),
            &[
                "x509",
                "-in",
                pem.to_str().unwrap(),
                "-noout",
                "-ext",
                "subjectAltName",
                "-serial",
            ],
        )
    }

    /// The serials the current CRL lists, lowercase hex.
    fn crl_serials(&self) -> String {
        self.sb.ok(&["crl", "--format", "pem", "--out", "crl.pem"]);
        openssl_ok(
            self.sb.path(),
            &["crl", "-in", "crl.pem", "-noout", "-text"],
        )
        .to_lowercase()
    }
}

/// The serial of a row, as `openssl x509 -serial` prints it (uppercase, no leading zero byte).
fn openssl_serial(row: &Value) -> String {
    row["serial"]
        .as_str()
        .unwrap()
        .trim_start_matches("00")
        .to_uppercase()
}

#[test]
fn lego_obtains_with_http01_renews_with_tls_alpn01_and_revokes() {
    let acme = Acme::start();
    let http = format!("127.0.0.1:{}", acme.http_port);
    let tls = format!("127.0.0.1:{}", acme.tls_port);
    acme.lego_ok(
        "lego",
        &[
            "-d",
            "mail.example.com",
            "-d",
            "autodiscover.example.com",
            "--http",
            "--http.port",
            &http,
            "run",
        ],
    );
    let cert = acme.sb.file("lego/certificates/mail.example.com.crt");
    let text = acme.verify(&cert);
    assert!(
        text.contains("DNS:mail.example.com") && text.contains("DNS:autodiscover.example.com"),
        "{text}"
    );
    let rows = acme.acme_rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0]["requester"]
            .as_str()
            .unwrap()
            .starts_with("acme account "),
        "{rows:?}"
    );
    assert!(text.contains(&openssl_serial(&rows[0])), "{text} {rows:?}");
    // The lifetime is the ACME default: 90 days.
    let days = (time::OffsetDateTime::parse(
        rows[0]["not_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
        - time::OffsetDateTime::now_utc())
    .whole_days();
    assert!((88..=90).contains(&days), "{days} days");

    // A renewal through tls-alpn-01 (the certificate has fewer than 100 days left).
    acme.lego_ok(
        "lego",
        &[
            "-d",
            "mail.example.com",
            "-d",
            "autodiscover.example.com",
            "--tls",
            "--tls.port",
            &tls,
            "renew",
            "--days",
            "100",
            "--no-random-sleep",
        ],
    );
    let renewed = acme.verify(&cert);
    let rows = acme.acme_rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_ne!(renewed, text, "a new certificate");

    acme.lego_ok(
        "lego",
        &["-d", "mail.example.com", "revoke", "--reason", "4"],
    );
    let rows = acme.acme_rows();
    let revoked: Vec<&Value> = rows.iter().filter(|r| r["status"] == "revoked").collect();
    assert_eq!(revoked.len(), 1, "{rows:?}");
    assert_eq!(revoked[0]["revocation_reason"], "superseded", "{rows:?}");
    assert!(
        acme.crl_serials()
            .contains(&openssl_serial(revoked[0]).to_lowercase()),
        "the CRL lists the revoked certificate"
    );
}

#[test]
fn lego_gets_a_wildcard_through_dns01_from_a_real_dns_server() {
    let acme = Acme::start();
    let resolver = format!("127.0.0.1:{}", acme.dns.port);
    acme.lego_ok(
        "lego",
        &[
            "-d",
            "example.com",
            "-d",
            "*.example.com",
            "--dns",
            "exec",
            "--dns.resolvers",
            &resolver,
            "--dns.disable-cp",
            "run",
        ],
    );
    let text = acme.verify(&acme.sb.file("lego/certificates/example.com.crt"));
    assert!(
        text.contains("DNS:example.com") && text.contains("DNS:*.example.com"),
        "{text}"
    );
    // The validator read the TXT records: without them, the same order fails as a DNS problem.
    let out = acme.lego(
        "lego-failing",
        &["-d", "*.example.com", "--dns", "manual", "run"],
    );
    assert!(!out.status.success());
}

#[test]
fn certbot_http01_renews_when_renewal_information_says_so_and_revokes() {
    let acme = Acme::start();
    let port = acme.http_port.to_string();
    acme.certbot_ok(&[
        "certonly",
        "--standalone",
        "--http-01-port",
        &port,
        "--http-01-address",
        "127.0.0.1",
        "--agree-tos",
        "--register-unsafely-without-email",
        "--key-type",
        "ecdsa",
        "-d",
        "mail.example.com",
    ]);
    let live = acme.sb.file("certbot/config/live/mail.example.com");
    acme.verify(&live.join("cert.pem"));
    // The chain is the leaf, then the root.
    let chain = std::fs::read_to_string(live.join("fullchain.pem")).unwrap();
    let root = std::fs::read_to_string(acme.root()).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(chain.trim_end().ends_with(root.trim_end()), "{chain}");

    // Not due: certbot asks the renewal information and leaves it.
    let renew = [
        "renew",
        "--no-random-sleep-on-renew",
        "--http-01-port",
        &port,
        "--http-01-address",
        "127.0.0.1",
    ];
    let out = acme.certbot_ok(&renew);
    assert!(out.contains("not due for renewal"), "{out}");
    let log = std::fs::read_to_string(acme.sb.file("certbot/logs/letsencrypt.log")).unwrap();
    assert!(log.contains("/acme/renewal-info/"), "certbot asked ARI");
    assert_eq!(acme.acme_rows().len(), 1);

    // Revoked by the administrator: the window opens now, and certbot renews at once (once the
    // Retry-After it remembered from the last answer is forgotten).
    let id = acme.acme_rows()[0]["id"].to_string();
    acme.sb.ok(&["revoke", &id, "--reason", "key-compromise"]);
    let conf = acme.sb.file("certbot/config/renewal/mail.example.com.conf");
    let kept: String = std::fs::read_to_string(&conf)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("ari_retry_after"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&conf, kept).unwrap();
    let out = acme.certbot_ok(&renew);
    assert!(out.contains("all renewals succeeded"), "{out}");
    let rows = acme.acme_rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    acme.verify(&live.join("cert.pem"));

    acme.certbot_ok(&[
        "revoke",
        "--cert-name",
        "mail.example.com",
        "--no-delete-after-revoke",
    ]);
    let rows = acme.acme_rows();
    assert!(rows.iter().all(|r| r["status"] == "revoked"), "{rows:?}");
}

#[test]
fn certbot_dns01_with_manual_hooks_gets_a_wildcard() {
    let acme = Acme::start();
    let auth = format!("{} certbot-auth", acme.dns.hook().display());
    let cleanup = format!("{} certbot-cleanup", acme.dns.hook().display());
    acme.certbot_ok(&[
        "certonly",
        "--manual",
        "--preferred-challenges",
        "dns",
        "--manual-auth-hook",
        &auth,
        "--manual-cleanup-hook",
        &cleanup,
        "--agree-tos",
        "--register-unsafely-without-email",
        "-d",
        "*.example.com",
    ]);
    let text = acme.verify(&acme.sb.file("certbot/config/live/example.com/cert.pem"));
    assert!(text.contains("DNS:*.example.com"), "{text}");
}

#[test]
fn external_account_binding_when_required_ties_each_account_to_a_user() {
    let acme = Acme::start();
    acme.sb.ok(&["config", "set", "acme-eab", "required"]);
    let http = format!("127.0.0.1:{}", acme.http_port);
    let order = [
        "-d",
        "mail.example.com",
        "--http",
        "--http.port",
        &http,
        "run",
    ];
    let out = acme.lego("lego", &order);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("External Account Binding"), "{said}");
    assert!(acme.acme_rows().is_empty());

    std::fs::write(acme.sb.file("pw"), "a long enough password\n").unwrap();
    acme.sb.ok(&[
        "user",
        "add",
        "bob",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ]);
    let (kid, key) = eab_key(&acme.sb, "bob");
    let mut bound = vec!["--eab", "--kid", &kid, "--hmac", &key];
    bound.extend_from_slice(&order);
    acme.lego_ok("lego-bob", &bound);
    let rows = acme.acme_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["requester"], "bob", "the log names the user");

    // A key binds one account: another account cannot reuse it.
    let out = acme.lego("lego-mallory", &bound);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("already bound"), "{said}");
    // The audit trail holds the key's id, never the key.
    let audit = acme
        .sb
        .alter_log("SELECT actor, action, subject, detail FROM audit");
    assert!(audit.contains("eab"), "{audit}");
    assert!(!audit.contains(&key));
}

#[test]
fn names_outside_the_constraints_or_the_rules_are_refused_with_the_reason() {
    let sb = Sandbox::new();
    sb.init(&[
        "--permit",
        "example.com",
        "--permit",
        "127.0.0.1/32",
        "--permit",
        "192.0.2.0/24",
    ]);
    let server = Server::start_with(&sb, &["--hostname", "ca.example.com"]);
    let origin = format!("https://127.0.0.1:{}", server.https_port);
    let acme = Acme::around(sb, server, origin);
    let http = format!("127.0.0.1:{}", acme.http_port);
    for (name, reason) in [
        ("mail.example.org", "permit only example.com"),
        ("ca.example.com", "own web server"),
        ("*.example.com", "own web server"),
        ("printer.local", "internal name"),
    ] {
        let out = acme.lego("lego", &["-d", name, "--http", "--http.port", &http, "run"]);
        assert!(!out.status.success(), "{name}");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(said.contains("rejectedIdentifier"), "{name}: {said}");
        assert!(
            said.contains(name) && said.contains(reason),
            "{name}: {said}"
        );
    }
    assert!(acme.acme_rows().is_empty());
    // Names and addresses past acme-domains, which holds a name and a range the rules and the
    // constraints allow: refused, naming the setting; those inside it make an order.
    acme.sb.ok(&[
        "config",
        "set",
        "acme-domains",
        "www.example.com,192.0.2.0/28",
    ]);
    for name in ["mail.example.com", "192.0.2.99"] {
        let out = acme.lego("lego", &["-d", name, "--http", "--http.port", &http, "run"]);
        assert!(!out.status.success(), "{name}");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(said.contains("rejectedIdentifier"), "{name}: {said}");
        assert!(
            said.contains(&format!(
                "{name} is refused: ACME accounts may ask only for names under www.example.com and addresses in 192.0.2.0/28 (acme-domains)"
            )),
            "{name}: {said}"
        );
    }
    let mut raw = Raw::new(&acme);
    raw.register();
    let order = json!({ "identifiers": [
        { "type": "dns", "value": "www.example.com" },
        { "type": "ip", "value": "192.0.2.7" },
    ] });
    let (status, made) = raw.json(&raw.url("newOrder"), Some(&order));
    assert_eq!(status, StatusCode::CREATED, "{made}");
    // The admin's view lists the ACME settings.
    let shown = acme.sb.ok(&["acme"]);
    assert!(
        shown.contains("acme-domains    names under www.example.com and addresses in 192.0.2.0/28"),
        "{shown}"
    );
    assert!(shown.contains("acme            on"), "{shown}");
    assert!(shown.contains("www.example.com, 192.0.2.7"), "{shown}");
}

// ---------------------------------------------------------------------------------------
// A client written here, for requests real clients never send.

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 key with its JWK.
struct Key {
    pair: rcgen::KeyPair,
    jwk: Value,
}

impl Key {
    fn new() -> Key {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw();
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(&raw[1..33]),
            "y": b64(&raw[33..65]),
        });
        Key { pair, jwk }
    }

    fn thumbprint(&self) -> String {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(self.jwk.clone()).unwrap();
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    }

    /// A flattened JWS of `payload` (`None`: POST-as-GET) under `protected`.
    fn sign(&self, protected: &Value, payload: Option<&Value>) -> Value {
        let protected = b64(protected.to_string().as_bytes());
        let payload = payload.map_or(String::new(), |p| b64(p.to_string().as_bytes()));
        let key = jsonwebtoken::EncodingKey::from_ec_der(&self.pair.serialize_der());
        let signature = jsonwebtoken::crypto::sign(
            format!("{protected}.{payload}").as_bytes(),
            &key,
            jsonwebtoken::Algorithm::ES256,
        )
        .unwrap();
        json!({ "protected": protected, "payload": payload, "signature": signature })
    }
}

/// An ACME client that signs what it is told to.
struct Raw {
    http: Client,
    directory: Value,
    key: Key,
    kid: Option<String>,
}

impl Raw {
    fn new(acme: &Acme) -> Raw {
        let http = client(&acme.sb);
        let directory = http.get(acme.directory()).send().unwrap().json().unwrap();
        Raw {
            http,
            directory,
            key: Key::new(),
            kid: None,
        }
    }

    fn url(&self, name: &str) -> String {
        self.directory[name].as_str().unwrap().to_owned()
    }

    fn nonce(&self) -> String {
        let response = self.http.head(self.url("newNonce")).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["replay-nonce"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn header(&self, url: &str, nonce: &str) -> Value {
        let mut header = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match &self.kid {
            Some(kid) => header["kid"] = json!(kid),
            None => header["jwk"] = self.key.jwk.clone(),
        }
        header
    }

    fn send(&self, url: &str, body: &Value) -> Response {
        self.http
            .post(url)
            .header("content-type", "application/jose+json")
            .body(body.to_string())
            .send()
            .unwrap()
    }

    /// POSTs `payload` to `url`, signed as this client is.
    fn post(&self, url: &str, payload: Option<&Value>) -> Response {
        let body = self.key.sign(&self.header(url, &self.nonce()), payload);
        self.send(url, &body)
    }

    fn register(&mut self) {
        let response = self.post(
            &self.url("newAccount"),
            Some(&json!({ "termsOfServiceAgreed": true, "contact": ["mailto:hostmaster@example.com"] })),
        );
        assert_eq!(response.status(), StatusCode::CREATED);
        self.kid = Some(response.headers()["location"].to_str().unwrap().to_owned());
    }

    fn json(&self, url: &str, payload: Option<&Value>) -> (StatusCode, Value) {
        let response = self.post(url, payload);
        let status = response.status();
        (status, response.json().unwrap_or(Value::Null))
    }
}

/// The problem document of a refusal: its status, type (after the ACME URN) and detail; and
/// the refusal carried a fresh nonce and the problem media type.
fn problem(response: Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        headers.contains_key("replay-nonce"),
        "a refusal carries a nonce"
    );
    let body: Value = response.json().unwrap();
    let kind = body["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:ietf:params:acme:error:")
        .to_owned();
    (
        status,
        kind,
        body["detail"].as_str().unwrap_or("").to_owned(),
    )
}

/// Answers http-01 challenges on `port` with the key authorizations in `answers` (token →
/// key authorization), as a web server would.
fn http01_responder(port: u16, answers: Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let token = path.trim_start_matches("/.well-known/acme-challenge/");
            let answer = answers
                .lock()
                .unwrap()
                .iter()
                .find(|(t, _)| t == token)
                .map(|(_, a)| a.clone());
            let response = match answer {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
}

/// Polls `url` until its status is not `pending` or `processing` (at most 30 s).
/// The challenge of `kind` (`http-01`, `tls-alpn-01`, `dns-01`) an authorization offers.
fn challenge(authz: &Value, kind: &str) -> Value {
    authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} challenge in {authz}"))
        .clone()
}

fn settle(raw: &Raw, url: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = raw.json(url, None);
        assert_eq!(status, StatusCode::OK, "{body}");
        let state = body["status"].as_str().unwrap();
        if state != "pending" && state != "processing" {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A CSR for `names` under a new key.
fn csr(names: &[&str]) -> (String, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let der = params.serialize_request(&key).unwrap();
    (b64(der.der()), key)
}

/// Orders `names` over http-01 and returns the order's URL and its body once ready.
fn ready_order(
    raw: &Raw,
    answers: &Arc<Mutex<Vec<(String, String)>>>,
    names: &[&str],
) -> (String, Value) {
    let identifiers: Vec<Value> = names
        .iter()
        .map(|n| json!({ "type": "dns", "value": n }))
        .collect();
    ready_order_of(raw, answers, &json!({ "identifiers": identifiers }))
}

/// Places the newOrder `payload`, proves each of its names over http-01, and returns the
/// order's URL and its body once ready.
fn ready_order_of(
    raw: &Raw,
    answers: &Arc<Mutex<Vec<(String, String)>>>,
    payload: &Value,
) -> (String, Value) {
    let response = raw.post(&raw.url("newOrder"), Some(payload));
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = response.json().unwrap();
    assert_eq!(order["status"], "pending");
    for authz_url in order["authorizations"].as_array().unwrap() {
        let (_, authz) = raw.json(authz_url.as_str().unwrap(), None);
        let http01 = challenge(&authz, "http-01");
        let token = http01["token"].as_str().unwrap().to_owned();
        answers
            .lock()
            .unwrap()
            .push((token.clone(), format!("{token}.{}", raw.key.thumbprint())));
        let response = raw.post(http01["url"].as_str().unwrap(), Some(&json!({})));
        assert_eq!(response.status(), StatusCode::OK);
        let up = response.headers()["link"].to_str().unwrap().to_owned();
        assert!(
            up.contains(authz_url.as_str().unwrap()) && up.contains("rel=\"up\""),
            "{up}"
        );
        let authz = settle(raw, authz_url.as_str().unwrap());
        assert_eq!(authz["status"], "valid", "{authz}");
    }
    let (_, order) = raw.json(&location, None);
    (location, order)
}

#[test]
fn an_order_moves_from_pending_to_valid_and_replaces_links_the_old_certificate() {
    let acme = Acme::start();
    let answers = Arc::new(Mutex::new(Vec::new()));
    http01_responder(acme.http_port, Arc::clone(&answers));
    let mut raw = Raw::new(&acme);
    raw.register();

    // finalize before the authorizations are valid: orderNotReady.
    let response = raw.post(
        &raw.url("newOrder"),
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "www.example.com" }] })),
    );
    let early: Value = response.json().unwrap();
    let (status, kind, detail) = problem(raw.post(
        early["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": csr(&["www.example.com"]).0 })),
    ));
    assert_eq!((status, kind.as_str()), (403, "orderNotReady"));
    assert!(
        detail.contains("every authorization must be valid first"),
        "{detail}"
    );

    let (location, order) = ready_order(&raw, &answers, &["mail.example.com"]);
    assert_eq!(order["status"], "ready", "{order}");
    // A CSR that names more than the order: badCSR, and the order stays ready.
    let (status, kind, _) = problem(raw.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": csr(&["mail.example.com", "www.example.com"]).0 })),
    ));
    assert_eq!((status, kind.as_str()), (400, "badCSR"));
    // One that also asks for an email address, which the certificate would not carry: badCSR,
    // naming it, rather than a certificate without it.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
        "admin@example.com".try_into().unwrap(),
    ));
    let with_email = b64(params.serialize_request(&key).unwrap().der());
    let (status, kind, detail) = problem(raw.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": with_email })),
    ));
    assert_eq!((status, kind.as_str()), (400, "badCSR"), "{detail}");
    assert!(detail.contains("email admin@example.com"), "{detail}");
    // One whose key is the account key: badCSR (a leaked server key would hold the account).
    let mut params = rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let with_account_key = b64(params.serialize_request(&raw.key.pair).unwrap().der());
    let (status, kind, detail) = problem(raw.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": with_account_key })),
    ));
    assert_eq!((status, kind.as_str()), (400, "badCSR"), "{detail}");
    assert!(detail.contains("account key"), "{detail}");
    // The field is DER: the same request as PEM text, or DER behind a byte-order mark, is
    // badCSR, whatever key it holds (the account's, as PEM, once got past that check).
    let request = params.serialize_request(&raw.key.pair).unwrap();
    let (csr_b64, _) = csr(&["mail.example.com"]);
    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(URL_SAFE_NO_PAD.decode(&csr_b64).unwrap());
    for text in [b64(request.pem().unwrap().as_bytes()), b64(&with_bom)] {
        let (status, kind, detail) = problem(raw.post(
            order["finalize"].as_str().unwrap(),
            Some(&json!({ "csr": text })),
        ));
        assert_eq!((status, kind.as_str()), (400, "badCSR"), "{detail}");
        assert!(detail.contains("DER in base64url"), "{detail}");
    }
    let (csr_b64, cert_key) = csr(&["mail.example.com"]);
    let response = raw.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": csr_b64 })),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["location"], location.as_str());
    let order = settle(&raw, &location);
    assert_eq!(order["status"], "valid", "{order}");
    // Finalized again: orderNotReady, saying where the certificate is.
    let (status, kind, detail) = problem(raw.post(
        order["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": csr(&["mail.example.com"]).0 })),
    ));
    assert_eq!((status, kind.as_str()), (403, "orderNotReady"));
    assert!(detail.contains("valid already"), "{detail}");

    // The certificate: leaf then root, with an alternate (the leaf alone).
    let response = raw.post(order["certificate"].as_str().unwrap(), None);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/pem-certificate-chain"
    );
    let links: Vec<String> = response
        .headers()
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        links.iter().any(|l| l.contains("rel=\"alternate\"")),
        "{links:?}"
    );
    assert!(
        links.iter().any(|l| l.contains("rel=\"index\"")),
        "{links:?}"
    );
    let chain = response.text().unwrap();
    let root = std::fs::read_to_string(acme.root()).unwrap();
    assert!(chain.trim_end().ends_with(root.trim_end()));
    std::fs::write(acme.sb.file("acme.pem"), &chain).unwrap();
    acme.verify(&acme.sb.file("acme.pem"));
    let old = acme.acme_rows()[0].clone();

    // Another account sees none of it.
    let mut other = Raw::new(&acme);
    other.register();
    let (status, _, _) = problem(other.post(&location, None));
    assert_eq!(status, 404);
    let (status, _, _) = problem(other.post(order["certificate"].as_str().unwrap(), None));
    assert_eq!(status, 404);

    // Renewal information (RFC 9773): the window is within the certificate's life.
    let leaf_der = pem_der(&chain);
    let cert_id = ari_id(&acme, &leaf_der);
    let info: Value = raw
        .http
        .get(format!("{}/{cert_id}", raw.url("renewalInfo")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let start = parse_time(&info["suggestedWindow"]["start"]);
    let end = parse_time(&info["suggestedWindow"]["end"]);
    assert!(
        start < end && start > time::OffsetDateTime::now_utc(),
        "{info}"
    );

    // An order that replaces it: the new certificate is linked to the old one in the log.
    let identifiers = json!([{ "type": "dns", "value": "mail.example.com" }]);
    // Each order proves the names again, though the account proved them minutes ago.
    let replacing_order = || {
        ready_order_of(
            &raw,
            &answers,
            &json!({ "identifiers": identifiers, "replaces": cert_id }),
        )
    };
    let (location, replacing) = replacing_order();
    // A second order for the same replacement, placed before the first is finalized.
    let (_, second) = replacing_order();
    let response = raw.post(
        replacing["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": csr(&["mail.example.com"]).0 })),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(settle(&raw, &location)["status"], "valid");
    let rows = acme.acme_rows();
    let new = rows.iter().find(|r| r["id"] != old["id"]).unwrap();
    assert_eq!(new["renewed_from"], old["id"], "{rows:?}");
    // A certificate is replaced once: by no new order, nor by the one placed before.
    let (status, kind, _) = problem(raw.post(
        &raw.url("newOrder"),
        Some(&json!({ "identifiers": identifiers, "replaces": cert_id })),
    ));
    assert_eq!((status, kind.as_str()), (409, "alreadyReplaced"));
    let (status, kind, _) = problem(raw.post(
        second["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": csr(&["mail.example.com"]).0 })),
    ));
    assert_eq!((status, kind.as_str()), (409, "alreadyReplaced"));
    assert_eq!(acme.acme_rows().len(), rows.len(), "nothing issued");

    // Revocation signed by the certificate's own key, not an account.
    let cert_signer = Key {
        jwk: {
            let raw_key = cert_key.public_key_raw();
            json!({ "kty": "EC", "crv": "P-256", "x": b64(&raw_key[1..33]), "y": b64(&raw_key[33..65]) })
        },
        pair: cert_key,
    };
    let url = raw.url("revokeCert");
    // A number that is no reason code is badRevocationReason, however large or negative
    // (7 is unused, RFC 5280 §5.3.1), and revokes nothing; so is cACompromise (2), a CA's.
    for reason in [json!(-1), json!(2), json!(7), json!(99_999_999_999_i64)] {
        let header =
            json!({ "alg": "ES256", "nonce": raw.nonce(), "url": url, "jwk": cert_signer.jwk });
        let body = cert_signer.sign(
            &header,
            Some(&json!({ "certificate": b64(&leaf_der), "reason": reason })),
        );
        let (status, kind, _) = problem(raw.send(&url, &body));
        assert_eq!(
            (status, kind.as_str()),
            (400, "badRevocationReason"),
            "{reason}"
        );
    }
    // Revoked as superseded (4), then, the key found exposed, for keyCompromise (1) by the
    // key's holder: the reason is raised, its date kept.
    let revoke = |reason: u8| {
        let header =
            json!({ "alg": "ES256", "nonce": raw.nonce(), "url": url, "jwk": cert_signer.jwk });
        let body = cert_signer.sign(
            &header,
            Some(&json!({ "certificate": b64(&leaf_der), "reason": reason })),
        );
        raw.send(&url, &body)
    };
    let shown = || -> Value {
        serde_json::from_str(&acme.sb.ok(&["show", &old["id"].to_string(), "--json"])).unwrap()
    };
    let response = revoke(4);
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text());
    let superseded = shown();
    assert_eq!(superseded["revocation_reason"], "superseded");
    let (_, kind, _) = problem(revoke(5));
    assert_eq!(kind, "alreadyRevoked", "only keyCompromise raises a reason");
    let response = revoke(1);
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text());
    let row = shown();
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revocation_reason"], "keyCompromise");
    assert_eq!(row["revoked_at"], superseded["revoked_at"]);
    // Its key, known compromised now, is not certified again: badCSR, nothing issued.
    let rows = acme.acme_rows().len();
    let (_, fresh) = ready_order(&raw, &answers, &["mail.example.com"]);
    let mut params = rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let exposed = b64(params.serialize_request(&cert_signer.pair).unwrap().der());
    let (status, kind, detail) = problem(raw.post(
        fresh["finalize"].as_str().unwrap(),
        Some(&json!({ "csr": exposed })),
    ));
    assert_eq!((status, kind.as_str()), (400, "badCSR"), "{detail}");
    assert!(
        detail.contains("revoked because its key was compromised"),
        "{detail}"
    );
    assert_eq!(acme.acme_rows().len(), rows, "nothing issued");
    // Again: alreadyRevoked, for keyCompromise too. And the renewal window of a revoked
    // certificate has begun.
    let header =
        json!({ "alg": "ES256", "nonce": raw.nonce(), "url": url, "jwk": cert_signer.jwk });
    let body = cert_signer.sign(&header, Some(&json!({ "certificate": b64(&leaf_der) })));
    let (_, kind, _) = problem(raw.send(&url, &body));
    assert_eq!(kind, "alreadyRevoked");
    let (_, kind, _) = problem(revoke(1));
    assert_eq!(kind, "alreadyRevoked");
    let info: Value = raw
        .http
        .get(format!("{}/{cert_id}", raw.url("renewalInfo")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(parse_time(&info["suggestedWindow"]["start"]) <= time::OffsetDateTime::now_utc());
    // `ca acme` lists the orders.
    let shown = acme.sb.ok(&["acme"]);
    assert!(
        shown.contains("valid") && shown.contains("mail.example.com"),
        "{shown}"
    );
}

fn parse_time(value: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        value.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// The DER of the first certificate in `pem`.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// The ARI id of a certificate (RFC 9773 §4.1), read with openssl: base64url of the
/// authority key identifier, a dot, base64url of the serial's DER bytes.
fn ari_id(acme: &Acme, der: &[u8]) -> String {
    std::fs::write(acme.sb.file("leaf.der"), der).unwrap();
    let text = openssl_ok(
        acme.sb.path(),
        &[
            "x509",
            "-inform",
            "der",
            "-in",
            "leaf.der",
            "-noout",
            "-serial",
            "-ext",
            "authorityKeyIdentifier",
        ],
    );
    let hex_of = |s: &str| -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap();
    let mut serial = hex_of(serial);
    if serial[0] & 0x80 != 0 {
        serial.insert(0, 0);
    }
    let aki = text
        .lines()
        .skip_while(|l| !l.contains("Authority Key Identifier"))
        .nth(1)
        .unwrap()
        .trim()
        .trim_start_matches("keyid:");
    format!("{}.{}", b64(&hex_of(aki)), b64(&serial))
}

#[test]
fn hostile_requests_get_the_acme_error_that_names_them() {
    let acme = Acme::start();
    let mut raw = Raw::new(&acme);
    raw.register();
    let new_order = raw.url("newOrder");
    let order = json!({ "identifiers": [{ "type": "dns", "value": "mail.example.com" }] });

    // A replayed nonce: badNonce, with a fresh nonce to retry with.
    let body = raw
        .key
        .sign(&raw.header(&new_order, &raw.nonce()), Some(&order));
    assert_eq!(raw.send(&new_order, &body).status(), StatusCode::CREATED);
    let (status, kind, _) = problem(raw.send(&new_order, &body));
    assert_eq!((status, kind.as_str()), (400, "badNonce"));
    // A nonce the server never made: badNonce.
    let body = raw.key.sign(
        &raw.header(&new_order, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Some(&order),
    );
    assert_eq!(problem(raw.send(&new_order, &body)).1, "badNonce");

    // Signed for another URL: unauthorized.
    let body = raw.key.sign(
        &raw.header(&raw.url("revokeCert"), &raw.nonce()),
        Some(&order),
    );
    let (status, kind, detail) = problem(raw.send(&new_order, &body));
    assert_eq!((status, kind.as_str()), (403, "unauthorized"), "{detail}");

    // The account's kid, signed by another key: unauthorized, and the nonce is not used up.
    let mallory = Key::new();
    let nonce = raw.nonce();
    let body = mallory.sign(&raw.header(&new_order, &nonce), Some(&order));
    let (status, kind, _) = problem(raw.send(&new_order, &body));
    assert_eq!((status, kind.as_str()), (403, "unauthorized"));
    let body = raw.key.sign(&raw.header(&new_order, &nonce), Some(&order));
    assert_eq!(raw.send(&new_order, &body).status(), StatusCode::CREATED);

    // An identifier with spaces or a line break around the name: malformed, not trimmed.
    for value in [
        "mail.example.com\n",
        " mail.example.com",
        "mail.example.com\t",
    ] {
        let odd = json!({ "identifiers": [{ "type": "dns", "value": value }] });
        let body = raw
            .key
            .sign(&raw.header(&new_order, &raw.nonce()), Some(&odd));
        let (status, kind, detail) = problem(raw.send(&new_order, &body));
        assert_eq!(
            (status, kind.as_str()),
            (400, "malformed"),
            "{value:?}: {detail}"
        );
        assert!(
            !detail.contains('\n') && detail.contains("name alone"),
            "{detail}"
        );
    }

    // A body over the limit: 413 malformed.
    let big = json!({ "identifiers": [{ "type": "dns", "value": "x".repeat(70 * 1024) }] });
    let body = raw
        .key
        .sign(&raw.header(&new_order, &raw.nonce()), Some(&big));
    let (status, kind, _) = problem(raw.send(&new_order, &body));
    assert_eq!((status, kind.as_str()), (413, "malformed"));

    // Not JOSE: 415 malformed.
    let body = raw
        .key
        .sign(&raw.header(&new_order, &raw.nonce()), Some(&order));
    let response = raw
        .http
        .post(&new_order)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(problem(response).0, 415);

    // alg none: badSignatureAlgorithm.
    let mut header = raw.header(&new_order, &raw.nonce());
    header["alg"] = json!("none");
    let body = json!({
        "protected": b64(header.to_string().as_bytes()),
        "payload": b64(order.to_string().as_bytes()),
        "signature": "",
    });
    assert_eq!(
        problem(raw.send(&new_order, &body)).1,
        "badSignatureAlgorithm"
    );
    // A signature written with padding or another alphabet: malformed.
    for signature in ["AAAA==", "a+b/"] {
        let header = raw.header(&new_order, &raw.nonce());
        let body = json!({
            "protected": b64(header.to_string().as_bytes()),
            "payload": b64(order.to_string().as_bytes()),
            "signature": signature,
        });
        let (status, kind, detail) = problem(raw.send(&new_order, &body));
        assert_eq!((status, kind.as_str()), (400, "malformed"), "{detail}");
    }

    // One key written as another JWK (its curve renamed, a coordinate padded) is no new
    // account: the account is the key's thumbprint, so a key has one JWK (badPublicKey).
    let twin = Raw::new(&acme);
    let new_account = raw.url("newAccount");
    let terms = json!({ "termsOfServiceAgreed": true });
    let coordinate = URL_SAFE_NO_PAD
        .decode(twin.key.jwk["x"].as_str().unwrap())
        .unwrap();
    for jwk in [
        json!({ "kty": "EC", "crv": "P-384", "x": twin.key.jwk["x"], "y": twin.key.jwk["y"] }),
        json!({ "kty": "EC", "crv": "P-521", "x": twin.key.jwk["x"], "y": twin.key.jwk["y"] }),
        json!({ "kty": "EC", "crv": "P-256", "x": b64(&[&[0][..], &coordinate].concat()), "y": twin.key.jwk["y"] }),
    ] {
        let mut header = json!({ "alg": "ES256", "nonce": twin.nonce(), "url": new_account });
        header["jwk"] = jwk.clone();
        let (status, kind, detail) =
            problem(twin.send(&new_account, &twin.key.sign(&header, Some(&terms))));
        assert_eq!(
            (status, kind.as_str()),
            (400, "badPublicKey"),
            "{jwk}: {detail}"
        );
    }
    // An RSA key whose exponent is 1 (or even) signs nothing: badPublicKey, before any
    // signature is looked at; so is a 2047-bit modulus, counted in bits, not octets.
    let mut modulus = vec![0x7f];
    modulus.extend([0xc3; 255]);
    for (n, e) in [
        (vec![0xc3; 256], "AQ"),
        (vec![0xc3; 256], "Ag"),
        (modulus, "AQAB"),
    ] {
        let mut header = json!({ "alg": "RS256", "nonce": twin.nonce(), "url": new_account });
        header["jwk"] = json!({ "kty": "RSA", "n": b64(&n), "e": e });
        let (status, kind, detail) =
            problem(twin.send(&new_account, &twin.key.sign(&header, Some(&terms))));
        assert_eq!(
            (status, kind.as_str()),
            (400, "badPublicKey"),
            "{e}: {detail}"
        );
        if e == "AQAB" {
            assert!(detail.contains("has 2047 bits"), "{detail}");
        }
    }
    // ES384 named over a P-256 key: the key is not one ES384 signs with (badPublicKey).
    let mut header = json!({ "alg": "ES384", "nonce": twin.nonce(), "url": new_account });
    header["jwk"] = twin.key.jwk.clone();
    let (_, kind, detail) = problem(twin.send(&new_account, &twin.key.sign(&header, Some(&terms))));
    assert_eq!(kind, "badPublicKey", "{detail}");

    // An account that does not exist; a jwk where a kid is due; not JSON at all.
    let mut ghost = Raw::new(&acme);
    ghost.kid = Some(raw.kid.as_ref().unwrap().replace("/account/", "/account/x"));
    assert_eq!(
        problem(ghost.post(&new_order, Some(&order))).1,
        "accountDoesNotExist"
    );
    let stranger = Raw::new(&acme);
    assert_eq!(
        problem(stranger.post(&new_order, Some(&order))).1,
        "malformed"
    );
    let response = raw
        .http
        .post(&new_order)
        .header("content-type", "application/jose+json")
        .body("{\"protected\":")
        .send()
        .unwrap();
    assert_eq!(problem(response).1, "malformed");

    // Dates the CA sets itself; identifiers of no known type; too many identifiers.
    let dated = json!({ "identifiers": order["identifiers"], "notAfter": "2099-01-01T00:00:00Z" });
    assert_eq!(problem(raw.post(&new_order, Some(&dated))).1, "malformed");
    let odd = json!({ "identifiers": [{ "type": "email", "value": "a@example.com" }] });
    assert_eq!(problem(raw.post(&new_order, Some(&odd))).1, "malformed");
    let many: Vec<Value> = (0..101)
        .map(|i| json!({ "type": "dns", "value": format!("h{i}.example.com") }))
        .collect();
    assert_eq!(
        problem(raw.post(&new_order, Some(&json!({ "identifiers": many })))).1,
        "malformed"
    );
    // A name the rules refuse: rejectedIdentifier, with a subproblem naming it.
    let response = raw.post(
        &new_order,
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "localhost" }, { "type": "dns", "value": "mail.example.com" }] })),
    );
    let body: Value = response.json().unwrap();
    assert_eq!(
        body["type"], "urn:ietf:params:acme:error:rejectedIdentifier",
        "{body}"
    );
    assert_eq!(
        body["subproblems"][0]["identifier"]["value"], "localhost",
        "{body}"
    );
    // A name in its Unicode form, or with the root's final dot, is refused with the form a
    // certificate holds (RFC 8555 §7.1.4), rather than ordered, authorized and issued under a
    // name the client never sent.
    for (sent, form) in [
        ("bücher.example.com", "xn--bcher-kva.example.com"),
        ("mail.example.com.", "mail.example.com"),
    ] {
        let (status, kind, detail) = problem(raw.post(
            &new_order,
            Some(&json!({ "identifiers": [{ "type": "dns", "value": sent }] })),
        ));
        assert_eq!(
            (status, kind.as_str()),
            (400, "rejectedIdentifier"),
            "{sent}: {detail}"
        );
        assert!(detail.contains(&format!("send \"{form}\"")), "{detail}");
    }
    // The A-label form is ordered under that same form.
    let (status, ordered) = raw.json(
        &new_order,
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "xn--bcher-kva.example.com" }] })),
    );
    assert_eq!(status.as_u16(), 201, "{ordered}");
    assert_eq!(
        ordered["identifiers"][0]["value"], "xn--bcher-kva.example.com",
        "{ordered}"
    );

    // GET where a signed POST is due; a path that is no resource; plain HTTP.
    let response = raw.http.get(&new_order).send().unwrap();
    assert_eq!(problem(response).0, 405);
    let response = raw
        .http
        .get(format!("{}/acme/nothing", acme.origin))
        .send()
        .unwrap();
    assert_eq!(problem(response).0, 404);
    let response = raw
        .http
        .get(format!("{}/acme/directory", acme.server.http))
        .send()
        .unwrap();
    let (status, _, detail) = problem(response);
    assert_eq!(status, 403);
    assert!(detail.contains("HTTPS"), "{detail}");

    // A deactivated account can do nothing more.
    let (status, account) = raw.json(
        raw.kid.as_deref().unwrap(),
        Some(&json!({ "status": "deactivated" })),
    );
    assert_eq!(
        (status, account["status"].as_str()),
        (StatusCode::OK, Some("deactivated"))
    );
    assert_eq!(
        problem(raw.post(&new_order, Some(&order))).1,
        "unauthorized"
    );
    // Nor does its key find it again through newAccount (onlyReturnExisting or not).
    raw.kid = None;
    for payload in [
        json!({ "onlyReturnExisting": true }),
        json!({ "termsOfServiceAgreed": true }),
    ] {
        let (status, kind, detail) = problem(raw.post(&raw.url("newAccount"), Some(&payload)));
        assert_eq!((status, kind.as_str()), (403, "unauthorized"), "{detail}");
        assert!(detail.contains("deactivated"), "{detail}");
    }

    // Addresses whose id is not UTF-8 once decoded name no object: the 404 problem document
    // of any unknown address, not the router's plain text.
    let base = raw.url("newNonce").replace("/new-nonce", "");
    for path in [
        "order/%ff",
        "order/%ff/finalize",
        "authz/%c3%28",
        "chall/%ff",
        "account/%ff",
        "account/%ff/orders",
        "cert/%ff",
        "cert/%ff/leaf",
    ] {
        let url = format!("{base}/{path}");
        let body = raw.key.sign(&raw.header(&url, &raw.nonce()), None);
        let (status, kind, detail) = problem(raw.send(&url, &body));
        assert_eq!(
            (status, kind.as_str()),
            (404, "malformed"),
            "{path}: {detail}"
        );
        assert!(detail.contains("no ACME resource"), "{path}: {detail}");
    }
    let info = raw
        .http
        .get(format!("{base}/renewal-info/%00%ff"))
        .send()
        .unwrap();
    assert_eq!(problem(info).0, 404);
    assert!(!acme.server.log_text().contains("panicked"));
}

#[test]
fn a_key_change_moves_the_account_to_the_new_key() {
    let acme = Acme::start();
    let mut raw = Raw::new(&acme);
    raw.register();
    let kid = raw.kid.clone().unwrap();
    let url = raw.url("keyChange");
    // The inner JWS names its key by jwk alone, and rolls over to another key.
    let same = raw.key.sign(
        &json!({ "alg": "ES256", "jwk": raw.key.jwk, "url": url }),
        Some(&json!({ "account": kid, "oldKey": raw.key.jwk })),
    );
    assert_eq!(problem(raw.post(&url, Some(&same))).1, "malformed");
    let new_key = Key::new();
    let both = new_key.sign(
        &json!({ "alg": "ES256", "jwk": new_key.jwk, "kid": kid, "url": url }),
        Some(&json!({ "account": kid, "oldKey": raw.key.jwk })),
    );
    assert_eq!(problem(raw.post(&url, Some(&both))).1, "malformed");
    let inner = new_key.sign(
        &json!({ "alg": "ES256", "jwk": new_key.jwk, "url": url }),
        Some(&json!({ "account": kid, "oldKey": raw.key.jwk })),
    );
    let (status, _) = raw.json(&url, Some(&inner));
    assert_eq!(status, StatusCode::OK);
    // The old key no longer signs for the account; the new one does.
    assert_eq!(problem(raw.post(&kid, None)).1, "unauthorized");
    raw.key = new_key;
    let (status, account) = raw.json(&kid, None);
    assert_eq!(status, StatusCode::OK, "{account}");
    // newAccount with the new key finds the same account (200, same Location).
    raw.kid = None;
    let response = raw.post(
        &raw.url("newAccount"),
        Some(&json!({ "onlyReturnExisting": true })),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["location"], kid.as_str());
}

/// http-01 follows no redirect to an IP address or to localhost, and says why; a name the
/// DNS does not hold is said to be that, in words.
#[test]
fn http01_follows_no_redirect_to_an_ip_address() {
    let acme = Acme::start();
    // The client's web server sends the validator to an address of the CA's own network.
    let listener = TcpListener::bind(("127.0.0.1", acme.http_port)).unwrap();
    let probed = TcpListener::bind(("127.0.0.2", acme.http_port)).unwrap();
    probed.set_nonblocking(true).unwrap();
    let port = acme.http_port;
    // Where it sends the validator: an address, then this machine's own name.
    let targets = [
        format!("http://127.0.0.2:{port}/internal"),
        format!("http://LocalHost.:{port}/internal"),
    ];
    let asked = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut asked = counted.lock().unwrap();
            let target = &targets[(*asked).min(1)];
            *asked += 1;
            let _ = stream.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    let mut raw = Raw::new(&acme);
    raw.register();
    for (name, refusal) in [
        ("mail.example.com", "a redirect to an IP address"),
        ("www.example.com", "a redirect to localhost"),
    ] {
        validation_refused(&raw, name, refusal);
    }
    assert_eq!(*asked.lock().unwrap(), 2, "one request per validation");
    // A name the DNS does not hold: said in words, not as the resolver's dump of its query.
    let detail = validation_refused(
        &raw,
        "nowhere.example.com",
        "nowhere.example.com: no address: ",
    );
    assert!(
        !detail.contains("Query {") && !detail.contains("Name(") && detail.contains("DNS"),
        "{detail}"
    );
    // Nothing reached the address.
    assert!(
        probed.accept().is_err(),
        "the validator connected to 127.0.0.2"
    );
    // The administrator's list shows each order as it stands, though no client asked for it
    // since: the failed ones invalid with the reason, a new one pending (not ready).
    let response = raw.post(
        &raw.url("newOrder"),
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "pop.example.com" }] })),
    );
    assert_eq!(response.status(), StatusCode::CREATED);
    let shown = acme.sb.ok(&["acme"]);
    let lines: Vec<&str> = shown.lines().collect();
    let row = |name: &str| {
        let at = lines
            .iter()
            .position(|line| line.ends_with(&format!("  {name}")))
            .unwrap_or_else(|| panic!("no order for {name}: {shown}"));
        (lines[at], lines.get(at + 1).copied().unwrap_or_default())
    };
    for (name, refusal) in [
        ("mail.example.com", "a redirect to an IP address"),
        ("www.example.com", "a redirect to localhost"),
    ] {
        let (order, why) = row(name);
        assert!(order.contains("  invalid  "), "{name}: {shown}");
        assert!(
            why.trim_start().starts_with("why: ") && why.contains(refusal),
            "{name}: {shown}"
        );
    }
    assert!(row("pop.example.com").0.contains("  pending  "), "{shown}");
    assert!(!shown.contains(" ready "), "{shown}");
}

/// Orders `name`, asks for its http-01 validation, and checks that it fails with `refusal`.
fn validation_refused(raw: &Raw, name: &str, refusal: &str) -> String {
    let response = raw.post(
        &raw.url("newOrder"),
        Some(&json!({ "identifiers": [{ "type": "dns", "value": name }] })),
    );
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().unwrap();
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let (_, authz) = raw.json(&authz_url, None);
    let http01 = challenge(&authz, "http-01");
    raw.post(http01["url"].as_str().unwrap(), Some(&json!({})));
    let authz = settle(raw, &authz_url);
    assert_eq!(authz["status"], "invalid", "{authz}");
    let failed = challenge(&authz, "http-01");
    let detail = failed["error"]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(refusal), "{name}: {failed}");
    detail.to_owned()
}

#[test]
fn accounts_and_orders_past_an_addresses_hourly_rate_are_refused_until_retry_after() {
    let acme = Acme::start();
    for bad in ["-1", "many", "1000001", "2.5"] {
        let stderr = acme
            .sb
            .refused(&["config", "set", "acme-accounts-per-hour", bad]);
        assert!(stderr.contains("0 (no limit)"), "{bad}: {stderr}");
    }
    acme.sb
        .ok(&["config", "set", "acme-accounts-per-hour", "2"]);
    acme.sb.ok(&["config", "set", "acme-orders-per-hour", "1"]);
    let shown = acme.sb.ok(&["acme"]);
    assert!(
        shown.contains("acme-accounts-per-hour  2 (per client address)")
            && shown.contains("acme-orders-per-hour    1 (per client address)"),
        "{shown}"
    );
    let mut first = Raw::new(&acme);
    first.register();
    let mut second = Raw::new(&acme);
    second.register();
    // A third account from the same address: refused, with when to try again.
    let third = Raw::new(&acme);
    let response = third.post(
        &third.url("newAccount"),
        Some(&json!({ "termsOfServiceAgreed": true })),
    );
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1801).contains(&retry), "{retry}");
    let (status, kind, detail) = problem(response);
    assert_eq!((status, kind.as_str()), (429, "rateLimited"), "{detail}");
    assert!(
        detail.contains("acme-accounts-per-hour") && detail.contains(&format!("{retry} seconds")),
        "{detail}"
    );
    // An account that exists is found all the same: its key makes no new one.
    let kid = first.kid.take().unwrap();
    let found = first.post(
        &first.url("newAccount"),
        Some(&json!({ "onlyReturnExisting": true })),
    );
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(found.headers()["location"], kid.as_str());
    first.kid = Some(kid);
    // One order an hour, counting those made only (a refused one takes nothing): the second,
    // by another account of the address, waits.
    let refused = first.post(
        &first.url("newOrder"),
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "*.co.uk" }] })),
    );
    assert_eq!(problem(refused).1, "rejectedIdentifier");
    let order = json!({ "identifiers": [{ "type": "dns", "value": "rate.example.com" }] });
    let (status, made) = first.json(&first.url("newOrder"), Some(&order));
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let refused = second.post(&second.url("newOrder"), Some(&order));
    assert!(refused.headers().contains_key("retry-after"));
    let (status, kind, detail) = problem(refused);
    assert_eq!((status, kind.as_str()), (429, "rateLimited"), "{detail}");
    assert!(detail.contains("acme-orders-per-hour"), "{detail}");
    // 0 lifts a limit, at the next request.
    acme.sb
        .ok(&["config", "set", "acme-accounts-per-hour", "0"]);
    let mut fourth = Raw::new(&acme);
    fourth.register();
}

#[test]
fn accounts_act_only_while_what_let_them_in_holds_and_authorizations_stay_as_clients_leave_them() {
    let acme = Acme::start();
    let answers = Arc::new(Mutex::new(Vec::new()));
    http01_responder(acme.http_port, Arc::clone(&answers));

    // Requests for one new key that race each other make one account, and all succeed.
    let racer = Raw::new(&acme);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    racer
                        .post(
                            &racer.url("newAccount"),
                            Some(&json!({ "termsOfServiceAgreed": true })),
                        )
                        .status()
                        .as_u16()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );

    // Two challenges of one authorization: only the first is attempted. An authorization the
    // client deactivates stays deactivated, whatever the validation in flight finds.
    let mut raw = Raw::new(&acme);
    raw.register();
    let response = raw.post(
        &raw.url("newOrder"),
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "mail.example.com" }] })),
    );
    assert_eq!(response.status(), StatusCode::CREATED);
    let order_url = response.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = response.json().unwrap();
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let (_, authz) = raw.json(&authz_url, None);
    let (http01, tls) = (
        challenge(&authz, "http-01"),
        challenge(&authz, "tls-alpn-01"),
    );
    let token = http01["token"].as_str().unwrap().to_owned();
    answers
        .lock()
        .unwrap()
        .push((token.clone(), format!("{token}.{}", raw.key.thumbprint())));
    // While the test holds the answers, the responder waits: the validation stays in flight.
    let held = answers.lock().unwrap();
    let (status, first) = raw.json(http01["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["status"], "processing", "{first}");
    let (status, second) = raw.json(tls["url"].as_str().unwrap(), Some(&json!({})));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["status"], "pending", "{second}");
    let (status, body) = raw.json(&authz_url, Some(&json!({ "status": "deactivated" })));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "deactivated");
    drop(held);
    // The validation then succeeds, and changes nothing.
    let started = Instant::now();
    loop {
        let (_, now) = raw.json(http01["url"].as_str().unwrap(), None);
        if now["status"] != "processing" {
            assert_eq!(now["status"], "valid", "{now}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{now}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, authz) = raw.json(&authz_url, None);
    assert_eq!(authz["status"], "deactivated", "{authz}");
    let (_, order) = raw.json(&order_url, None);
    assert_ne!(order["status"], "ready", "{order}");
    let (_, tls_now) = raw.json(tls["url"].as_str().unwrap(), None);
    assert_eq!(tls_now["status"], "pending", "{tls_now}");
    // The administrator sees the order as it stands, and why.
    let shown = acme.sb.ok(&["acme"]);
    assert!(
        shown.contains("invalid")
            && shown.contains("why: the authorization of mail.example.com is deactivated"),
        "{shown}"
    );

    // Contacts are plain addresses.
    let (status, body) = raw.json(
        raw.kid.as_deref().unwrap(),
        Some(&json!({ "contact": ["mailto:<script>x</script>@example.com"] })),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Once bindings are required, an account made without one acts no more.
    acme.sb.ok(&["config", "set", "acme-eab", "required"]);
    let (code, kind, detail) = problem(raw.post(
        &raw.url("newOrder"),
        Some(&json!({ "identifiers": [{ "type": "dns", "value": "mail.example.com" }] })),
    ));
    assert_eq!(
        (code, kind.as_str()),
        (400, "externalAccountRequired"),
        "{detail}"
    );

    // A bound account acts while its user is enabled, and not once the user is disabled
    // or removed and added again.
    std::fs::write(acme.sb.file("pw"), "a long enough password\n").unwrap();
    let add = [
        "user",
        "add",
        "bob",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ];
    acme.sb.ok(&add);
    let (kid, key) = eab_key(&acme.sb, "bob");
    let (spare_kid, spare_key) = eab_key(&acme.sb, "bob");
    let mut bob = Raw::new(&acme);
    let url = bob.url("newAccount");
    // A binding of the account's key, signed with `alg` under the key `ca user eab` gave.
    let bind = |alg: jsonwebtoken::Algorithm| eab_binding((&kid, &key), &url, &bob.key.jwk, alg);
    let binding = bind(jsonwebtoken::Algorithm::HS256);
    // A binding signed with no MAC at all is told which algorithm a binding takes.
    let unsigned = json!({
        "protected": b64(json!({ "alg": "none", "kid": kid, "url": url }).to_string().as_bytes()),
        "payload": binding["payload"],
        "signature": "",
    });
    let (code, kind, detail) = problem(bob.post(
        &url,
        Some(&json!({ "termsOfServiceAgreed": true, "externalAccountBinding": unsigned })),
    ));
    assert_eq!(
        (code, kind.as_str()),
        (400, "badSignatureAlgorithm"),
        "{detail}"
    );
    assert!(detail.contains("HS256"), "{detail}");
    // A binding with another MAC (HS512, the right key): the same problem.
    let hs512 = bind(jsonwebtoken::Algorithm::HS512);
    let (code, kind, detail) = problem(bob.post(
        &url,
        Some(&json!({ "termsOfServiceAgreed": true, "externalAccountBinding": hs512 })),
    ));
    assert_eq!(
        (code, kind.as_str()),
        (400, "badSignatureAlgorithm"),
        "{detail}"
    );
    let response = bob.post(
        &url,
        Some(&json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding })),
    );
    assert_eq!(response.status(), StatusCode::CREATED);
    bob.kid = Some(response.headers()["location"].to_str().unwrap().to_owned());
    let account = bob.kid.clone().unwrap();
    assert_eq!(bob.json(&account, None).0, StatusCode::OK);
    acme.sb.ok(&["user", "disable", "bob"]);
    let said = acme.sb.refused(&["user", "eab", "bob"]);
    assert!(said.contains("disabled"), "{said}");
    let (code, kind, detail) = problem(bob.post(&account, None));
    assert_eq!((code, kind.as_str()), (403, "unauthorized"), "{detail}");
    assert!(
        detail.contains("bob") && detail.contains("disabled"),
        "{detail}"
    );
    acme.sb.ok(&["user", "enable", "bob"]);
    assert_eq!(bob.json(&account, None).0, StatusCode::OK);
    acme.sb.ok(&["user", "remove", "bob"]);
    std::thread::sleep(Duration::from_millis(1100));
    acme.sb.ok(&add);
    let (code, kind, _) = problem(bob.post(&account, None));
    assert_eq!((code, kind.as_str()), (403, "unauthorized"));
    // A key made for the removed bob and never used is not the new bob's.
    let carol = Raw::new(&acme);
    let binding = eab_binding(
        (&spare_kid, &spare_key),
        &url,
        &carol.key.jwk,
        jsonwebtoken::Algorithm::HS256,
    );
    let (code, kind, detail) = problem(carol.post(
        &url,
        Some(&json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding })),
    ));
    assert_eq!((code, kind.as_str()), (403, "unauthorized"), "{detail}");
    assert!(detail.contains("made for an earlier user"), "{detail}");
}

/// A new external account binding key for `user`, as `ca user eab` shows it: (key id, HMAC
/// key in base64url).
fn eab_key(sb: &Sandbox, user: &str) -> (String, String) {
    let shown = sb.ok(&["user", "eab", user]);
    let field = |label: &str| {
        shown
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap()
            .trim()
            .to_owned()
    };
    (field("key id"), field("HMAC key"))
}

/// An external account binding of `jwk` for the newAccount `url`, signed with `alg` under the
/// key (id, HMAC key in base64url) `ca user eab` gave.
fn eab_binding(
    (kid, key): (&str, &str),
    url: &str,
    jwk: &Value,
    alg: jsonwebtoken::Algorithm,
) -> Value {
    let protected = b64(json!({ "alg": format!("{alg:?}"), "kid": kid, "url": url })
        .to_string()
        .as_bytes());
    let payload = b64(jwk.to_string().as_bytes());
    let signature = jsonwebtoken::crypto::sign(
        format!("{protected}.{payload}").as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(key).unwrap()),
        alg,
    )
    .unwrap();
    json!({ "protected": protected, "payload": payload, "signature": signature })
}
