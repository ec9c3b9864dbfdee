//! The data folder: a log that is never replaced, backups taken while the CA works, folder
//! permissions, and the command line's edges (closed pipes, existing files, failed writes).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    Sandbox, Server, assert_crl_verifies, chown_to_nobody, client, crl_contents, given_to_nobody,
    issue_where_a_file_cannot_be_replaced, openssl_ok, root, unprivileged,
};

/// Runs `ca ARGS`, insists it exits with status 1 (a failure of the folder, not of the input)
/// in one `ca: error:` line, and returns standard error.
fn failed(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "ca {args:?}: {stderr}");
    assert!(stderr.starts_with("ca: error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

/// A CA with three certificates, one revoked and on a CRL.
fn populated() -> Sandbox {
    let sb = Sandbox::new();
    sb.init(&[]);
    for name in ["a.example.com", "b.example.com", "c.example.com"] {
        sb.ok(&["issue", name, "--key", "ecdsa-p256"]);
    }
    sb.ok(&["revoke", "2", "--reason", "keyCompromise"]);
    sb.ok(&["crl", "--out", "before.crl"]);
    sb
}

/// Every command that opens the CA, as a script would run them.
const COMMANDS: &[&[&str]] = &[
    &["list"],
    &["show", "1"],
    &["crl"],
    &["check"],
    &["root"],
    &["revoke", "1"],
    &["issue", "d.example.com"],
    &["config", "show"],
    &["pending"],
    &["backup", "some-backup"],
    &[
        "serve",
        "--http",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
        "--hostname",
        "localhost",
    ],
];

fn log_files(sb: &Sandbox) -> Vec<PathBuf> {
    ["ca.db", "ca.db-wal", "ca.db-shm"]
        .iter()
        .map(|f| sb.data().join(f))
        .collect()
}

/// How many tables the sandbox's PostgreSQL database holds.
fn tables_in(database: &crate::util::Database) -> String {
    database.sql("SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'")
}

#[test]
fn a_missing_log_is_refused_by_every_command_and_never_recreated() {
    let sb = populated();
    if let Some(database) = &sb.database {
        // The database itself is gone: nothing is made in its place.
        crate::util::psql(
            &crate::util::postgres_admin().unwrap(),
            &format!("DROP DATABASE {} WITH (FORCE)", database.name),
        );
        for args in COMMANDS.iter().chain([&["init"][..]].iter()) {
            let stderr = failed(&sb, args);
            assert!(
                stderr.contains("cannot connect") && stderr.contains("does not exist"),
                "{args:?}: {stderr}"
            );
        }
        let exists = crate::util::psql(
            &crate::util::postgres_admin().unwrap(),
            &format!(
                "SELECT COUNT(*) FROM pg_database WHERE datname = '{}'",
                database.name
            ),
        );
        assert_eq!(exists.trim(), "0", "a command made the database again");
        return;
    }
    for file in log_files(&sb) {
        let _ = std::fs::remove_file(file);
    }
    for args in COMMANDS {
        let stderr = failed(&sb, args);
        assert!(
            stderr.contains("ca.db is missing") && stderr.contains("ca restore"),
            "{args:?}: {stderr}"
        );
        assert!(!sb.data().join("ca.db").exists(), "{args:?} made a new log");
    }
    // `ca init` refuses too: the folder holds a CA (its root), whose log must be restored.
    let stderr = failed(&sb, &["init"]);
    assert!(stderr.contains("ca.db is missing"), "{stderr}");
    assert!(!sb.data().join("ca.db").exists());
}

/// Empties the sandbox's log: an empty ca.db, or its database dropped and made again empty.
fn empty_log(sb: &Sandbox) {
    match &sb.database {
        Some(database) => {
            let admin = crate::util::postgres_admin().unwrap();
            crate::util::psql(
                &admin,
                &format!("DROP DATABASE {} WITH (FORCE)", database.name),
            );
            crate::util::psql(&admin, &format!("CREATE DATABASE {}", database.name));
        }
        None => {
            for file in log_files(sb) {
                let _ = std::fs::remove_file(file);
            }
            std::fs::write(sb.data().join("ca.db"), b"").unwrap();
        }
    }
}

#[test]
fn an_emptied_log_is_refused_by_every_command() {
    let sb = populated();
    empty_log(&sb);
    if let Some(database) = &sb.database {
        for args in COMMANDS {
            let stderr = failed(&sb, args);
            assert!(
                stderr.contains("is empty") && stderr.contains("ca restore"),
                "{args:?}: {stderr}"
            );
        }
        assert_eq!(
            tables_in(database).trim(),
            "0",
            "the empty database was left as it was"
        );
        return;
    }
    for args in COMMANDS {
        let stderr = failed(&sb, args);
        assert!(
            stderr.contains("is empty") && stderr.contains("ca restore"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::metadata(sb.data().join("ca.db")).unwrap().len(),
        0,
        "the empty file was left as it was"
    );
}

#[test]
fn a_log_made_for_another_root_is_refused() {
    let sb = populated();
    let other = Sandbox::new();
    other.init(&[]);
    other.ok(&["issue", "x.example.com", "--key", "ecdsa-p256"]);
    // A log that belongs to another CA, copied in by mistake.
    other.ok(&["backup", "bk"]);
    if sb.on_postgres() {
        // Restored into this CA's database through a scratch folder.
        empty_log(&sb);
        let mut restore = std::process::Command::new(env!("CARGO_BIN_EXE_ca"));
        restore
            .current_dir(sb.path())
            .env_remove("CA_DATA")
            .args(["--data", "scratch", "restore"])
            .arg(other.file("bk"));
        sb.log_env(&mut restore);
        let out = restore.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        for file in log_files(&sb) {
            let _ = std::fs::remove_file(file);
        }
        std::fs::copy(other.file("bk/ca.db"), sb.data().join("ca.db")).unwrap();
    }
    for args in COMMANDS {
        let stderr = failed(&sb, args);
        assert!(stderr.contains("another root"), "{args:?}: {stderr}");
    }
}

/// A root.key that is not root.crt's key (another CA's, of the same kind or another) signs
/// nothing: a certificate or CRL it signed would verify nowhere, and stay in the log.
#[test]
fn a_root_key_that_is_not_the_roots_signs_nothing() {
    let sb = populated();
    let same_kind = Sandbox::new();
    same_kind.init(&[]);
    let other_kind = Sandbox::new();
    other_kind.ok(&["init", "--key", "ecdsa-p384"]);
    let key = sb.data().join("root.key");
    let own = std::fs::read(&key).unwrap();
    let before = sb.row_count();
    for other in [&same_kind, &other_kind] {
        std::fs::write(&key, std::fs::read(other.data().join("root.key")).unwrap()).unwrap();
        for args in [
            &["issue", "d.example.com", "--key", "ecdsa-p256"][..],
            &["crl", "--new", "--out", "after.crl"],
        ] {
            let stderr = failed(&sb, args);
            assert!(
                stderr.contains("root.key is not the key of root.crt")
                    && stderr.contains("nothing was signed"),
                "{args:?}: {stderr}"
            );
        }
        let said = check_fails(&sb);
        assert!(
            said.contains("root.key is not the key of root.crt"),
            "{said}"
        );
        // Damage, which a backup mends.
        assert!(said.contains("(`ca restore`)"), "{said}");
        assert_eq!(sb.row_count(), before);
        assert!(!sb.path().join("after.crl").exists());
        assert!(!sb.path().join("d.example.com.crt").exists());
    }
    std::fs::write(&key, own).unwrap();
    sb.ok(&["issue", "d.example.com", "--key", "ecdsa-p256"]);
}

/// `ca init` makes nothing through a link under a CA's file names (the log would land where
/// it points, readable there), nor in a folder others may change.
#[test]
fn init_refuses_links_and_a_folder_others_may_change() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let data = sb.data();
    for name in ["ca.db", "root.key", "ca.db-wal"] {
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let target = sb.path().join(format!("elsewhere-{name}"));
        std::os::unix::fs::symlink(&target, data.join(name)).unwrap();
        let said = sb.refused(&["init", "--key", "ecdsa-p256"]);
        assert!(said.contains("is a link"), "{name}: {said}");
        assert!(!target.exists(), "{name}: made through the link");
        assert!(!data.join("root.crt").exists());
        std::fs::remove_file(data.join(name)).unwrap();
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = sb.run(&["init", "--key", "ecdsa-p256"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("chmod go-w"), "{said}");
    for name in ["root.key", "root.crt", "ca.db"] {
        assert!(!data.join(name).exists(), "{name} written");
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    sb.init(&[]);
}

#[test]
fn a_folder_whose_root_went_missing_is_refused_and_not_reinitialised() {
    let sb = populated();
    std::fs::remove_file(sb.data().join("root.crt")).unwrap();
    let stderr = failed(&sb, &["list"]);
    assert!(stderr.contains("no root certificate"), "{stderr}");
    let stderr = failed(&sb, &["init"]);
    assert!(stderr.contains("no root certificate"), "{stderr}");
    assert!(!sb.data().join("root.crt").exists());
}

/// A root key without its certificate (the certificate deleted, with or without the log; a
/// key copied alone into a folder) is never replaced by a new CA, by `ca init` or by `ca serve`
/// starting on the folder: clients trust the root that key signs for.
#[test]
fn a_root_key_without_its_certificate_is_never_replaced() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let key = sb.data().join("root.key");
    let kept = std::fs::read(&key).unwrap();
    std::fs::remove_file(sb.data().join("root.crt")).unwrap();
    if !sb.on_postgres() {
        std::fs::remove_file(sb.data().join("ca.db")).unwrap();
    }
    for args in [
        &["init", "--key", "ecdsa-p256"][..],
        &["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"],
    ] {
        let stderr = failed(&sb, args);
        // (On PostgreSQL the database still names the root: refused as the log's.)
        let said = if sb.on_postgres() {
            "the log is never replaced"
        } else {
            "only if no client trusts that root, move root.key out"
        };
        assert!(
            stderr.contains("but no root certificate (root.crt)") && stderr.contains(said),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read(&key).unwrap(),
            kept,
            "{args:?}: the key was replaced"
        );
        assert!(!sb.data().join("root.crt").exists(), "{args:?}");
    }
    // A key alone in a new folder.
    let other = Sandbox::new();
    std::fs::create_dir_all(other.data()).unwrap();
    std::fs::set_permissions(other.data(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(other.data().join("root.key"), &kept).unwrap();
    let stderr = failed(&other, &["init", "--key", "ecdsa-p256"]);
    assert!(stderr.contains("but no root certificate"), "{stderr}");
    assert_eq!(std::fs::read(other.data().join("root.key")).unwrap(), kept);
}

#[test]
fn serve_on_an_empty_folder_creates_the_ca_and_says_where() {
    let sb = Sandbox::new();
    let server = Server::start(&sb);
    let banner = server.banner.join("\n");
    let root = std::fs::read(sb.data().join("root.crt")).unwrap();
    assert!(
        banner.contains(&format!("in {}", sb.data().display())),
        "{banner}"
    );
    let fingerprint = openssl_ok(
        sb.path(),
        &[
            "x509",
            "-in",
            sb.data().join("root.crt").to_str().unwrap(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    let fingerprint = fingerprint.trim().split('=').nth(1).unwrap();
    assert!(banner.contains(fingerprint), "{banner}");
    assert!(!root.is_empty());
    // Standard output is a pipe here, not a terminal: the admin's password is not in it, but
    // in a file of the data folder (mode 0600, checked as it is read), which signs in and
    // which a new password takes away.
    let file = sb.data().join("admin-password.txt");
    assert!(
        !server.admin_password.is_empty() && !banner.contains(&server.admin_password),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("its password is in {}", file.display())),
        "{banner}"
    );
    let admin = client(&sb)
        .get(format!("{}/certsrv/admin", server.https()))
        .basic_auth("admin", Some(&server.admin_password))
        .send()
        .unwrap();
    assert_eq!(admin.status(), 200);
    // Each later start recalls the file while it is there.
    server.stop();
    let mut server = Server::start(&sb);
    let log = server.wait_for_log("still holds the password the user admin was first given");
    assert!(log.contains(&file.display().to_string()), "{log}");
    server.stop();
    std::fs::write(sb.file("new-password"), "a new password for admin\n").unwrap();
    sb.ok(&["user", "passwd", "admin", "--password-file", "new-password"]);
    assert!(!file.exists());
    let server = Server::start(&sb);
    let log = server.stop_and_log();
    assert!(!log.contains("admin-password.txt"), "{log}");
}

/// Where the first admin's password cannot be written (its file's name taken by a folder),
/// the server stops before making the user: no password is lost, and the next start, with
/// the way clear, makes it.
#[test]
fn the_first_admin_is_made_only_once_its_password_is_written() {
    let sb = Sandbox::new();
    sb.init(&[]);
    std::fs::create_dir(sb.data().join("admin-password.txt")).unwrap();
    let out = sb.run(&["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no user was made"), "{stderr}");
    assert!(!sb.ok(&["user", "list"]).contains("admin"));
    std::fs::remove_dir(sb.data().join("admin-password.txt")).unwrap();
    let server = Server::start(&sb);
    assert!(!server.admin_password.is_empty(), "{:?}", server.banner);
}

#[test]
fn backup_during_concurrent_issuance_restores_every_certificate_handed_out_before_it() {
    let sb = Sandbox::new();
    sb.init(&["--policy", "auto"]);
    std::fs::write(sb.file("pw"), "load password\n").unwrap();
    sb.ok(&[
        "user",
        "add",
        "load",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ]);
    let server = Server::start(&sb);
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
    let csr = std::fs::read_to_string(sb.file("web.csr")).unwrap();
    // (request id, when the client had the answer)
    let received: Arc<Mutex<Vec<(i64, std::time::Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (received, stop, csr) = (received.clone(), stop.clone(), csr.clone());
            let web = client(&sb);
            let url = format!("{}/certsrv/certfnsh.asp", server.https());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let body = web
                        .post(&url)
                        .basic_auth("load", Some("load password"))
                        .form(&[("Mode", "newreq"), ("CertRequest", csr.as_str())])
                        .send()
                        .unwrap()
                        .text()
                        .unwrap();
                    let start =
                        body.find("certnew.cer?ReqID=").unwrap() + "certnew.cer?ReqID=".len();
                    let id: i64 = body[start..].split('&').next().unwrap().parse().unwrap();
                    received
                        .lock()
                        .unwrap()
                        .push((id, std::time::Instant::now()));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let began = std::time::Instant::now();
    let backup = sb.run(&["backup", "bk"]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    drop(server);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert_eq!(
        std::fs::metadata(sb.file("bk/root.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let before: Vec<i64> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        before.len() >= 5,
        "requests answered before the backup: {before:?}"
    );
    // Restore into a new, empty folder and look for each of them.
    let restored = Sandbox::new();
    let out = restored
        .ca()
        .args(["restore"])
        .arg(sb.file("bk"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both ends are in the audit trails: the backup in the CA's, the restore in the copy's.
    let backed_up = sb.ok(&["audit", "--action", "backup"]);
    assert!(
        backed_up.contains(&sb.file("bk").display().to_string()),
        "{backed_up}"
    );
    let restored_from = restored.ok(&["audit", "--action", "restore"]);
    assert!(
        restored_from.contains(&sb.file("bk").display().to_string())
            && restored_from.contains("into "),
        "{restored_from}"
    );
    // The CA it was taken from is still there: two working copies of one CA, said.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "Note: the CA this backup was taken from is still in {}",
            std::path::absolute(sb.data()).unwrap().display()
        )),
        "{said}"
    );
    // So is a restore straight from the CA's own folder (a copy, not a backup), which
    // would otherwise be a second CA without a word (on SQLite: a folder on PostgreSQL holds
    // no log to restore).
    if !sb.on_postgres() {
        let cloned = Sandbox::new();
        let out = cloned.ca().arg("restore").arg(sb.data()).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains(&format!(
                "Note: {} is not a backup but a CA's own data folder, which still holds this CA",
                sb.data().display()
            )) && said.contains("`ca backup` it"),
            "{said}"
        );
    }
    let original: Value = serde_json::from_str(&sb.ok(&["list", "--json"])).unwrap();
    let copy: Value = serde_json::from_str(&restored.ok(&["list", "--json"])).unwrap();
    let by_id = |list: &Value| -> BTreeMap<i64, String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sha256"].is_string())
            .map(|r| {
                (
                    r["id"].as_i64().unwrap(),
                    r["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (original, copy) = (by_id(&original), by_id(&copy));
    for id in &before {
        assert_eq!(copy.get(id), original.get(id), "certificate {id}");
    }
    assert!(restored.ok(&["check"]).contains("is sound"));
    // The restored CA is the same CA: same root, and it goes on issuing after the last id.
    assert_eq!(
        std::fs::read(restored.data().join("root.crt")).unwrap(),
        std::fs::read(sb.data().join("root.crt")).unwrap()
    );
    // A restore never lands on a CA, and a backup never overwrites one.
    let again = restored
        .ca()
        .args(["restore"])
        .arg(sb.file("bk"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let stderr = sb.refused(&["backup", "bk"]);
    assert!(stderr.contains("already holds a backup"), "{stderr}");
    // A link to nothing is named as what it is.
    std::os::unix::fs::symlink(sb.file("nowhere"), sb.file("dangling")).unwrap();
    let stderr = sb.refused(&["backup", "dangling"]);
    assert!(stderr.contains("is a link to nothing"), "{stderr}");
    assert!(!sb.file("nowhere").exists());
    // Once the folder it was taken from holds another CA (or none: the usual restore, after a
    // loss), no note.
    std::fs::rename(sb.data(), sb.file("moved-aside")).unwrap();
    if !sb.on_postgres() {
        // (On PostgreSQL the database holds the first CA still: no other is made in it.)
        sb.init(&[]);
    }
    let elsewhere = Sandbox::new();
    let out = elsewhere
        .ca()
        .args(["restore"])
        .arg(sb.file("bk"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Note: the CA this backup"));
}

#[test]
fn crl_numbers_grow_and_each_crl_lists_every_revocation_a_lower_one_listed() {
    const CERTIFICATES: usize = 40;
    let sb = Sandbox::new();
    sb.init(&[]);
    for i in 0..CERTIFICATES {
        sb.ok(&["issue", &format!("h{i}.example.com"), "--key", "ecdsa-p256"]);
    }
    let server = Server::start(&sb);
    let crl_url = format!("{}/certsrv/ca.crl", server.https());
    // Two processes revoking, one process and one server handing out CRLs, at once.
    let revokers: Vec<_> = (0..2)
        .map(|r| {
            let ids: Vec<usize> = (1..=CERTIFICATES).filter(|i| i % 2 == r).collect();
            let (data, database) = (sb.data(), sb.database_url());
            std::thread::spawn(move || {
                for id in ids {
                    let mut revoke = std::process::Command::new(env!("CARGO_BIN_EXE_ca"));
                    crate::util::log_env(&mut revoke, database.as_deref());
                    let out = revoke
                        .args(["--data"])
                        .arg(&data)
                        .args(["revoke", &id.to_string(), "--reason", "superseded"])
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{out:?}");
                }
            })
        })
        .collect();
    // (which fetcher, the DER it got)
    type Fetched = Vec<(usize, Vec<u8>)>;
    let fetched: Arc<Mutex<Fetched>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fetchers: Vec<_> = (0..2)
        .map(|f| {
            let (fetched, done, data) = (fetched.clone(), done.clone(), sb.data());
            let database = sb.database_url();
            let web = client(&sb);
            let url = crl_url.clone();
            std::thread::spawn(move || {
                let mut rounds = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) || rounds < 100 {
                    let der = if f == 0 {
                        let mut crl = std::process::Command::new(env!("CARGO_BIN_EXE_ca"));
                        crate::util::log_env(&mut crl, database.as_deref());
                        let out = crl
                            .arg("--data")
                            .arg(&data)
                            .arg("crl")
                            .stdin(Stdio::null())
                            .output()
                            .unwrap();
                        assert!(out.status.success(), "{out:?}");
                        out.stdout
                    } else {
                        web.get(&url).send().unwrap().bytes().unwrap().to_vec()
                    };
                    fetched.lock().unwrap().push((f, der));
                    rounds += 1;
                }
            })
        })
        .collect();
    for r in revokers {
        r.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for f in fetchers {
        f.join().unwrap();
    }
    // The final CRL lists every revocation.
    let last = sb.ok(&["list", "--status", "revoked", "--json"]);
    let revoked: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(revoked.as_array().unwrap().len(), CERTIFICATES);
    let fetched = fetched.lock().unwrap();
    let mut by_number: BTreeMap<i64, (Vec<u8>, BTreeSet<String>)> = BTreeMap::new();
    let mut last_seen = [0i64; 2];
    for (i, (fetcher, der)) in fetched.iter().enumerate() {
        let file = format!("crl{i}.der");
        std::fs::write(sb.file(&file), der).unwrap();
        let (number, serials) = crl_contents(sb.path(), &file);
        // Each client sees numbers that never go back.
        assert!(
            number >= last_seen[*fetcher],
            "CRL {number} after {}",
            last_seen[*fetcher]
        );
        last_seen[*fetcher] = number;
        // One number, one CRL, whoever signed it.
        if let Some((seen, _)) = by_number.get(&number) {
            assert_eq!(seen, der, "two different CRLs numbered {number}");
        }
        by_number.insert(number, (der.clone(), serials));
    }
    let numbers: Vec<i64> = by_number.keys().copied().collect();
    assert!(numbers.len() >= 10, "CRLs seen: {numbers:?}");
    for pair in numbers.windows(2) {
        let (lower, higher) = (&by_number[&pair[0]].1, &by_number[&pair[1]].1);
        assert!(
            lower.is_subset(higher),
            "CRL {} lacks {:?} that CRL {} listed",
            pair[1],
            lower.difference(higher).collect::<Vec<_>>(),
            pair[0]
        );
    }
    // And it is signed by the root.
    assert_crl_verifies(sb.path(), "crl0.der", &sb.data().join("root.crt"));
    eprintln!(
        "CRL test: {} CRLs fetched, numbers {}..{}",
        fetched.len(),
        numbers[0],
        numbers[numbers.len() - 1]
    );
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let sb = populated();
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["root"],
        &["show", "1"],
    ] {
        // Standard output is a pipe whose reader is already gone: the first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = sb
            .ca()
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn sign_out_refuses_to_overwrite_without_force() {
    let sb = Sandbox::new();
    sb.init(&[]);
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "r.key",
            "-subj",
            "/CN=mail.example.com",
            "-out",
            "r.csr",
        ],
    );
    std::fs::write(sb.file("mail.crt"), "keep me").unwrap();
    let stderr = sb.refused(&["sign", "r.csr", "--out", "mail.crt"]);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(sb.file("mail.crt")).unwrap(),
        "keep me"
    );
    assert_eq!(sb.row_count(), 0, "nothing was issued");
    sb.ok(&["sign", "r.csr", "--out", "mail.crt", "--force"]);
    assert!(
        std::fs::read_to_string(sb.file("mail.crt"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
}

#[test]
fn a_write_that_fails_after_the_commit_says_the_certificate_exists_and_what_to_do() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let out = issue_where_a_file_cannot_be_replaced(&sb);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate 1 was issued and is in the log")
            && stderr.contains("kept under temporary names")
            && stderr.contains("rename "),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Operation not permitted").count(),
        1,
        "the OS's reason once: {stderr}"
    );
    assert_eq!(sb.row_count(), 1);
}

/// A key that cannot be written (a full disk) stops `ca issue` and `ca renew` before the
/// certificate is committed: no row, nothing left in the folder. Certificate files that cannot
/// be written after it (the disk filled between) leave the key in place and say how the log
/// writes the certificate again.
#[test]
fn a_full_disk_loses_no_key_and_writes_no_certificate_the_log_lacks() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    let full = sb.file("full");
    std::fs::create_dir(&full).unwrap();
    let mounted = Mounted::tmpfs(&full, "16k");
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&full)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "filler")
            .collect();
        names.sort();
        names
    };
    std::fs::write(full.join("filler"), vec![0u8; 16 * 1024]).unwrap();
    for args in [
        &[
            "issue",
            "b.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            "full",
        ][..],
        &["renew", "1", "--out", "full"],
    ] {
        let out = sb.ca().args(args).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains("No space left on device") && said.contains("make room"),
            "{said}"
        );
        assert!(!said.contains("was issued"), "{said}");
        assert!(files().is_empty(), "{args:?}: {:?}", files());
    }
    assert_eq!(sb.row_count(), 1);
    // Room for one page: the key goes in, its certificate does not.
    std::fs::write(full.join("filler"), vec![0u8; 12 * 1024]).unwrap();
    let out = sb
        .ca()
        .args([
            "issue",
            "c.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            "full",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("certificate 2 was issued and is in the log, but its certificate files could not be written")
            && said.contains("could not be written (full/c.example.com.crt: No space left on device")
            && said.contains("nothing in the folder was replaced")
            && said.contains(&format!(
                "`ca --data {} export 2 --format crt --out full/c.example.com.crt`",
                sb.data().display()
            ))
            && said.contains(&format!(
                "`ca --data {} export 2 --format pem --out full/c.example.com-chain.pem`",
                sb.data().display()
            ))
            && !said.contains("try again"),
        "{said}"
    );
    let left = files();
    assert_eq!(left.len(), 1, "{left:?}");
    let key = left[0].as_str();
    assert!(
        key.starts_with(".c.example.com.key.") && key.ends_with(".tmp"),
        "{key}"
    );
    assert!(
        said.contains(&format!("rename full/{key} to full/c.example.com.key")),
        "{said}"
    );
    assert_eq!(sb.row_count(), 2);
    std::fs::remove_file(full.join("filler")).unwrap();
    sb.ok(&[
        "export",
        "2",
        "--format",
        "pem",
        "--out",
        "full/c.example.com-chain.pem",
    ]);
    assert_key_of(&full, key, "c.example.com-chain.pem");
    drop(mounted);
}

/// `ca ARGS` in the sandbox's folder, under `strace -f -o /dev/null STRACE` (which injects the
/// faults STRACE names), with the sandbox's environment.
fn under_strace(sb: &Sandbox, strace: &[&str], args: &[&str]) -> Output {
    let ca = sb.ca();
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-o", "/dev/null"])
        .args(strace)
        .arg(ca.get_program())
        .args(ca.get_args())
        .args(args)
        .current_dir(sb.path())
        .stdin(Stdio::null());
    for (name, value) in ca.get_envs() {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    cmd.output().expect("strace runs")
}

/// A shared library that, preloaded into `ca`, fails with EIO the fsync of every file whose
/// path holds the text in `FAIL_FSYNC_OF` (an I/O error the disk would give), and makes the
/// fsync of every file whose path holds `SLOW_FSYNC_OF` take three more seconds (a slow disk),
/// creating the file `SLOW_FSYNC_MARK` as it begins; every other call goes to the C library.
/// It picks a file by its name, where strace's injection counts calls (per thread). Built in
/// the sandbox with the C compiler.
fn fsync_shim(sb: &Sandbox) -> PathBuf {
    let source = sb.file("fsync-shim.c");
    std::fs::write(
        &source,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int holds(const char *path, const char *variable) {
    const char *text = getenv(variable);
    return text && *text && strstr(path, text);
}
int fsync(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    if (holds(path, "FAIL_FSYNC_OF")) {
        errno = EIO;
        return -1;
    }
    if (holds(path, "SLOW_FSYNC_OF")) {
        const char *mark = getenv("SLOW_FSYNC_MARK");
        if (mark) close(open(mark, O_CREAT | O_WRONLY, 0600));
        sleep(3);
    }
    int (*next)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return next(fd);
}
"#,
    )
    .unwrap();
    let library = sb.file("fsync-shim.so");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("cc runs");
    assert!(built.status.success(), "{built:?}");
    library
}

/// `ca issue f.example.com --key ecdsa-p256 --out out` (a new folder), the flush of each file
/// whose path holds `failing` failing with EIO.
fn issue_failing_fsync_of(sb: &Sandbox, failing: &str) -> Output {
    let library = fsync_shim(sb);
    std::fs::create_dir(sb.file("out")).unwrap();
    sb.ca()
        .args([
            "issue",
            "f.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            "out",
        ])
        .env("LD_PRELOAD", &library)
        .env("FAIL_FSYNC_OF", failing)
        .output()
        .unwrap()
}

/// A key whose flush fails (an I/O error; the key is flushed before its certificate's rows are
/// written) stops the issuance before the commit: nothing in the log, no file left, and the
/// error names the key's file.
#[test]
fn a_key_that_cannot_be_flushed_issues_nothing() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let run = issue_failing_fsync_of(&sb, "/.f.example.com.key.");
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("out/f.example.com.key: Input/output error"),
        "{said}"
    );
    assert!(!said.contains("certificate 1"), "{said}");
    assert_eq!(sb.row_count(), 0);
    let left: Vec<_> = std::fs::read_dir(sb.file("out")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The next issuance goes in whole.
    sb.ok(&["issue", "f.example.com", "--out", "out"]);
    assert_eq!(sb.row_count(), 1);
}

/// Certificate files written after the commit whose flush fails (an I/O error, here the
/// certificate's) are removed as unwritten ones are: the key alone is kept, and the error
/// offers it alone for renaming, never a file the disk may not hold whole.
#[test]
fn certificate_files_that_cannot_be_flushed_are_removed_and_the_key_kept() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let run = issue_failing_fsync_of(&sb, "/.f.example.com.crt.");
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("certificate 1 was issued and is in the log, but its certificate files could not be written")
            && said.contains("f.example.com.crt: Input/output error"),
        "{said}"
    );
    let out = sb.file("out");
    let key = kept_key(&out, "f.example.com", &said);
    assert!(!said.contains(".f.example.com.crt."), "{said}");
    assert!(!said.contains(".f.example.com-chain.pem."), "{said}");
    assert_eq!(sb.row_count(), 1);
    export_beside_kept_key(&sb, &out, "1", "f.example.com", &key);
}

/// A key whose flush is slow (three seconds, as on a loaded or network disk) keeps no other
/// writer of the log waiting: the command flushes it before it takes the log's write lock, and
/// another issuance meanwhile goes in at once; the slow one then goes in too. A signal that
/// comes during the flush stops the issuance before its commit: nothing issued, the key
/// removed, exit status 130.
#[test]
fn a_slow_key_flush_holds_no_writer_back_and_a_signal_during_it_issues_nothing() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let library = fsync_shim(&sb);
    let mark = sb.file("slow-flush-began");
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // `ca issue NAME --out DIR`, its key's flush slow, once that flush has begun. The signals
    // are first set back to their defaults: a suite run in the background has SIGINT ignored.
    let slow = |name: &str, dir: &str| {
        let _ = std::fs::remove_file(&mark);
        std::fs::create_dir(sb.file(dir)).unwrap();
        let mut cmd = std::process::Command::new("/usr/bin/env");
        crate::util::isolate(&mut cmd);
        sb.log_env(&mut cmd);
        let child = cmd
            .current_dir(sb.path())
            .env("LD_PRELOAD", &library)
            .env("SLOW_FSYNC_OF", format!("/.{name}.key."))
            .env("SLOW_FSYNC_MARK", &mark)
            .arg("--default-signal=INT,TERM,HUP")
            .arg(env!("CARGO_BIN_EXE_ca"))
            .arg("--data")
            .arg(sb.data())
            .args(["issue", name, "--key", "ecdsa-p256", "--out", dir])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !mark.exists() {
            assert!(std::time::Instant::now() < deadline, "no key was flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    };
    // Another issuance while the key's flush goes on goes in before it ends.
    let mut child = slow("slow.example.com", "slow");
    std::thread::sleep(Duration::from_millis(200));
    sb.ok(&["issue", "quick.example.com", "--out", "."]);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the other issuance waited for the slow flush"
    );
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(sb.row_count(), 2);
    assert_eq!(
        names(&sb.file("slow")),
        [
            "slow.example.com-chain.pem",
            "slow.example.com.crt",
            "slow.example.com.key"
        ]
    );
    assert_key_of(
        &sb.file("slow"),
        "slow.example.com.key",
        "slow.example.com.crt",
    );
    // A signal during the flush: nothing issued.
    for signal in ["INT", "TERM"] {
        let dir = format!("stopped-{signal}");
        let child = slow("stopped.example.com", &dir);
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let output = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{signal}: {said}");
        assert!(
            said.contains("interrupted before the certificate was issued: nothing was issued, and the new key was removed"),
            "{signal}: {said}"
        );
        assert!(
            names(&sb.file(&dir)).is_empty(),
            "{signal}: {:?}",
            names(&sb.file(&dir))
        );
    }
    assert_eq!(sb.row_count(), 2);
}

/// Leaves frames in the log's write-ahead log, from a sqlite3 killed before it could fold them
/// back, so that the next issuance commits on the ordinary path: the write-ahead log's path.
fn leave_frames(sb: &Sandbox) -> PathBuf {
    let killed = std::process::Command::new("sqlite3")
        .arg(sb.data().join("ca.db"))
        .args([
            "PRAGMA user_version = 1;",
            "PRAGMA user_version = 0;",
            ".system kill -9 $PPID",
        ])
        .status()
        .unwrap();
    assert!(!killed.success());
    let wal = sb.data().join("ca.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    wal
}

/// `ca issue f.example.com --out OUT` (a new folder) with the flushes of the write-ahead log
/// `wal` failing as strace's `inject` says (`fdatasync:error=EIO:when=1`: the first only).
fn issue_with_failed_flushes(sb: &Sandbox, wal: &Path, out: &str, inject: &str) -> Output {
    std::fs::create_dir(sb.file(out)).unwrap();
    under_strace(
        sb,
        &[
            "-P",
            &wal.to_string_lossy(),
            "-e",
            "trace=fdatasync",
            "-e",
            &format!("inject={inject}"),
        ],
        &["issue", "f.example.com", "--out", out],
    )
}

/// The one file `ca` left in `dir` (a key kept under its temporary name, for `name`), which
/// the error `said` offers to rename into place: its name, after checking it is readable by
/// its owner alone.
fn kept_key(dir: &Path, name: &str, said: &str) -> String {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let key = left[0].clone();
    assert!(
        key.starts_with(&format!(".{name}.key.")) && key.ends_with(".tmp"),
        "{key}"
    );
    let mode = std::fs::metadata(dir.join(&key))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{key}");
    let folder = dir.file_name().unwrap().to_string_lossy();
    assert!(
        said.contains(&format!("rename {folder}/{key} to {folder}/{name}.key")),
        "{said}"
    );
    key
}

/// The serial of the certificate an error says to look for with `ca --data DIR show SERIAL`.
fn advised_serial(said: &str) -> String {
    let (_, after) = said.split_once("`ca --data ").expect(said);
    let (_, after) = after.split_once(" show ").expect(said);
    let (serial, _) = after.split_once('`').expect(said);
    assert!(serial.bytes().all(|b| b.is_ascii_hexdigit()), "{said}");
    serial.to_owned()
}

/// Follows the advice for a key kept beside certificate `which` (its id or serial), which the
/// log holds: the key renamed into place, the certificate alone and its chain exported into
/// `dir`; all three match, as `ca issue` would have written them.
fn export_beside_kept_key(sb: &Sandbox, dir: &Path, which: &str, name: &str, key: &str) {
    let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::rename(dir.join(key), dir.join(format!("{name}.key"))).unwrap();
    let leaf = format!("{folder}/{name}.crt");
    let chain = format!("{folder}/{name}-chain.pem");
    sb.ok(&["export", which, "--format", "crt", "--out", &leaf]);
    sb.ok(&["export", which, "--format", "pem", "--out", &chain]);
    assert_key_of(dir, &format!("{name}.key"), &format!("{name}.crt"));
    assert_key_of(dir, &format!("{name}.key"), &format!("{name}-chain.pem"));
    let leaf = std::fs::read_to_string(dir.join(format!("{name}.crt"))).unwrap();
    let chain = std::fs::read_to_string(dir.join(format!("{name}-chain.pem"))).unwrap();
    assert_eq!(leaf.matches("BEGIN CERTIFICATE").count(), 1, "{leaf}");
    assert!(chain.starts_with(&leaf), "{chain}");
}

/// An issuance whose write to the log the disk does not confirm (an I/O error, injected by
/// strace into every sync of the write-ahead log, after a commit made without one) is reported
/// as in the log but unconfirmed, not as a commit that failed, and its certificate is not
/// handed out: no certificate file, no key in place. Its key, flushed before the commit, is
/// kept under its temporary name (the certificate is valid: it is never lost with its key),
/// and the advice given writes the certificate beside it. A renewal then, whose commit's
/// flush fails (the reads that followed left the write-ahead log its frames), keeps its key
/// too, the certificate perhaps in the log, as it is.
#[test]
fn an_issuance_the_disk_does_not_confirm_is_not_handed_out() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let wal = sb.data().join("ca.db-wal");
    let wal = wal.to_string_lossy();
    let unconfirmed = [
        "-P",
        &wal,
        "-e",
        "trace=fsync,fdatasync",
        "-e",
        "inject=fsync,fdatasync:error=EIO",
    ];
    let runs: [(&str, &[&str], &[&str]); 2] = [
        (
            "1",
            &[
                "issue",
                "f.example.com",
                "--pfx-password-file",
                "pw",
                "--pfx-profile",
                "modern",
                "--out",
                "out",
            ],
            &[
                "certificate 1 (serial ",
                ") is in the log, but the disk did not confirm writing it",
                "its certificate files were not written",
                "its key is kept under a temporary name",
            ],
        ),
        (
            "2",
            &["renew", "1", "--out", "renewed"],
            &[
                "may be in the log all the same once it is opened again",
                "the certificate's key is kept under a temporary name in case it is",
                "says whether the log holds it: if it does, and nothing was issued into that folder since, rename",
            ],
        ),
    ];
    std::fs::write(sb.file("pw"), "a password\n").unwrap();
    for (id, args, words) in runs {
        let out = sb.file(args.last().unwrap());
        std::fs::create_dir(&out).unwrap();
        let run = under_strace(&sb, &unconfirmed, args);
        let said = String::from_utf8_lossy(&run.stderr);
        if sb.on_postgres() {
            // The log is in the database: nothing of it is flushed here.
            assert!(run.status.success(), "{said}");
            return;
        }
        assert_eq!(run.status.code(), Some(1), "{said}");
        assert!(words.iter().all(|words| said.contains(words)), "{said}");
        let key = kept_key(&out, "f.example.com", &said);
        let serial = advised_serial(&said);
        let shown: Value = serde_json::from_str(&sb.ok(&["show", &serial, "--json"])).unwrap();
        assert_eq!(shown["id"].to_string(), id, "{shown}");
        export_beside_kept_key(&sb, &out, &serial, "f.example.com", &key);
        if args.contains(&"--pfx-profile") {
            // The PFX asked for, in the profile asked for, its password from the file it came
            // from.
            assert!(
                said.contains(&format!(
                    "`ca --data {} export {serial} --format pfx --key out/f.example.com.key --pfx-password-file pw --pfx-profile modern --out out/f.example.com.pfx` its PFX; if not",
                    sb.data().display()
                )),
                "{said}"
            );
            sb.ok(&[
                "export",
                &serial,
                "--format",
                "pfx",
                "--key",
                "out/f.example.com.key",
                "--pfx-password-file",
                "pw",
                "--pfx-profile",
                "modern",
                "--out",
                "out/f.example.com.pfx",
            ]);
            let info = crate::exports::pkcs12_info(&sb, "out/f.example.com.pfx");
            assert!(info.contains("AES-256-CBC"), "{info}");
        }
    }
}

/// A commit whose flush fails, on the ordinary path (a write-ahead log with frames in it, left
/// by a process that was killed), is reported as failed but as possibly in the log all the
/// same: SQLite wrote its frames, and the next opening recovers them when they reached the
/// disk, as they do here (strace fails the flush, not the write). The key is kept, as for an
/// issuance the disk did not confirm, and matches the certificate the log then holds.
#[test]
fn a_commit_whose_flush_fails_says_it_may_be_in_the_log_all_the_same() {
    let sb = Sandbox::new();
    sb.init(&[]);
    if sb.on_postgres() {
        // The log is in the database: nothing of it is flushed here.
        return;
    }
    let wal = leave_frames(&sb);
    let out = sb.file("out");
    let run = issue_with_failed_flushes(&sb, &wal, "out", "fdatasync:error=EIO");
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the issuance log could not commit: disk I/O error")
            && said.contains("may be in the log all the same once it is opened again")
            && said.contains("the certificate's key is kept under a temporary name in case it is"),
        "{said}"
    );
    let key = kept_key(&out, "f.example.com", &said);
    // Opened again, the log has it: the warning was due, and the key is its key.
    assert_eq!(sb.row_count(), 1);
    export_beside_kept_key(&sb, &out, &advised_serial(&said), "f.example.com", &key);
}

/// A commit whose first flush fails but whose log then closes soundly (the write-ahead log
/// checkpointed and removed without the frames of the commit that failed) holds no such
/// certificate: the advice given then says the key is to be removed, and it is the one file
/// it names.
#[test]
fn a_key_kept_for_a_commit_that_did_not_stand_is_named_for_removal() {
    let sb = Sandbox::new();
    sb.init(&[]);
    if sb.on_postgres() {
        // The log is in the database: nothing of it is flushed here.
        return;
    }
    let wal = leave_frames(&sb);
    let out = sb.file("o u t");
    let run = issue_with_failed_flushes(&sb, &wal, "o u t", "fdatasync:error=EIO:when=1");
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{said}");
    // Its close checkpointed what was committed and removed the write-ahead log.
    assert!(!wal.exists());
    let key = kept_key(&out, "f.example.com", &said.replace('\'', ""));
    let serial = advised_serial(&said);
    assert!(
        said.contains(&format!("if not, it was not issued: remove 'o u t/{key}'")),
        "{said}"
    );
    sb.refused(&["show", &serial]);
    assert_eq!(sb.row_count(), 0);
}

#[test]
fn der_requests_are_read_as_der_whatever_their_last_byte() {
    let sb = Sandbox::new();
    sb.init(&[]);
    openssl_ok(
        sb.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "r.key",
        ],
    );
    // A request's last byte is the last byte of its signature's s, random with each signing:
    // one in about 51 ends in one of the five whitespace bytes, so 4,000 signings find two
    // (about a hundred on average) but for a chance of ~1e-32.
    let mut signed = 0;
    for i in 0..4000 {
        let file = format!("r{i}.der");
        openssl_ok(
            sb.path(),
            &[
                "req",
                "-new",
                "-key",
                "r.key",
                "-subj",
                "/CN=mail.example.com",
                "-outform",
                "DER",
                "-out",
                &file,
            ],
        );
        let der = std::fs::read(sb.file(&file)).unwrap();
        if matches!(der.last(), Some(0x09 | 0x0a | 0x0c | 0x0d | 0x20)) {
            sb.ok(&["sign", &file]);
            signed += 1;
            if signed == 2 {
                return;
            }
        }
        std::fs::remove_file(sb.file(&file)).unwrap();
    }
    panic!("no DER request ended in a whitespace byte in 4,000 signings ({signed} found)");
}

#[test]
fn a_data_folder_or_log_others_can_change_is_refused_with_the_fix() {
    let sb = populated();
    std::fs::set_permissions(sb.data(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let stderr = failed(&sb, &["list"]);
    assert!(
        stderr.contains(&format!("chmod go-w {}", sb.data().display())),
        "{stderr}"
    );
    std::fs::set_permissions(sb.data(), std::fs::Permissions::from_mode(0o700)).unwrap();
    if sb.on_postgres() {
        // The log is in the database: the folder's mode is all there is to check here.
        sb.ok(&["list"]);
        return;
    }
    let log = sb.data().join("ca.db");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
    let stderr = failed(&sb, &["issue", "x.example.com"]);
    assert!(
        stderr.contains(&format!("chmod go-w {}", log.display())),
        "{stderr}"
    );
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    sb.ok(&["list"]);
}

/// True when the tests run as root, who can give files to other users.

#[test]
fn a_root_key_owned_by_another_user_is_refused() {
    let sb = populated();
    let key = sb.data().join("root.key");
    // Only root can give a file to another user; CI runs as root. (The rule itself is also
    // covered by ca-core's unit tests.)
    if !root() {
        eprintln!("not root: the key cannot be given to another user here");
        return;
    }
    std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
    let stderr = failed(&sb, &["issue", "x.example.com"]);
    assert!(
        stderr.contains("belongs to another user") && stderr.contains("chown"),
        "{stderr}"
    );
    // Reading needs no key.
    sb.ok(&["list"]);
}

/// Another user's CA (a data folder of mode 0700; a log only its owner reads) is said to be
/// unreadable by this user, naming whose it is, not taken for a folder without a CA or for a
/// broken log.
#[test]
fn another_users_ca_is_said_to_be_unreadable() {
    let sb = populated();
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(sb.data()).unwrap());
    let refused = |args: &[&str], what: &Path| {
        let out = unprivileged(&sb, true, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{} cannot be read by the user running this command (it belongs to uid {owner})",
                what.display()
            )) && stderr.contains("sudo -u"),
            "{args:?}: {stderr}"
        );
    };
    refused(&["list"], &sb.data());
    refused(&["revoke", "1"], &sb.data());
    if !sb.on_postgres() {
        std::fs::set_permissions(sb.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
        refused(&["list"], &sb.data().join("ca.db"));
    }
}

#[test]
fn list_show_check_and_root_work_on_a_read_only_data_folder() {
    let sb = populated();
    // The folder's lock files are the CA's user's alone: no other user can open one to hold
    // it, and stall its commands, in a folder others may read.
    for lock in ["init.lock", "ca.lock"] {
        if let Ok(meta) = std::fs::metadata(sb.data().join(lock)) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{lock}");
        }
    }
    assert!(sb.data().join("init.lock").exists());
    // As root, permissions do not stop writes: the folder is given to an unprivileged user who
    // then cannot write it (no w bits); otherwise it is simply made read-only.
    let as_root = root();
    let data = sb.data();
    let run = |args: &[&str]| unprivileged(&sb, as_root, args);
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let chmod = |mode: &str| {
        assert!(
            std::process::Command::new("chmod")
                .args(["-R", mode])
                .arg(&data)
                .status()
                .unwrap()
                .success()
        );
    };
    // The CRL the log keeps, signed while the folder could be written.
    let kept = sb.ok(&["crl", "--format", "pem"]);
    if as_root {
        chown_to_nobody(&data);
    }
    chmod("a-w");
    for args in [
        &["list"][..],
        &["show", "2"],
        &["root"],
        &["check"],
        &["list", "--json"],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        // No log line of the store's watch of the log, which serves a server's OCSP answers.
        assert!(
            !stderr.contains(" WARN ") && !stderr.contains("watch for changes"),
            "{args:?}: {stderr}"
        );
    }
    let check = String::from_utf8_lossy(&run(&["check"]).stdout).into_owned();
    assert!(check.contains("is sound"), "{check}");
    let out = run(&["revoke", "1"]);
    if sb.on_postgres() {
        // The log is in the database, which a read-only folder does not make read-only.
        assert!(out.status.success(), "{out:?}");
        chmod("u+w");
        assert!(sb.ok(&["show", "1"]).contains("revoked"));
        return;
    }
    // Writing is refused with a clear error, which says what stops it, rather than SQLite's
    // "attempt to write a readonly database" alone, and the folder is as it was.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.starts_with("ca: error: the issuance log failed: attempt to write a readonly database: ca.db or the data folder cannot be written by the user running ca")
            && said.contains("`chmod u+w` lets the owner write them")
            && !said.contains("(code: "),
        "{said}"
    );
    // The CRL it keeps is handed out while it is current, as the server would; a new one
    // cannot be signed, and that is said.
    let out = run(&["crl", "--format", "pem"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), kept);
    let out = run(&["crl", "--new", "--format", "pem"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("attempt to write a readonly database"),
        "{out:?}"
    );
    chmod("u+w");
    assert!(sb.ok(&["show", "1"]).contains("valid"));
}

/// A full disk under the log does not keep `ca crl` from handing out the CRL the log keeps
/// while it is current (every revocation on it, its next update ahead), as the server would,
/// and it says that the disk is full and no new one can be signed; `ca crl --new` is refused
/// with what to do, and signs again once there is room. (On PostgreSQL the log is not on that
/// disk: the CRL is the log's as ever, with nothing to warn of.)
#[test]
fn crl_on_a_full_disk_hands_out_the_kept_one_and_says_the_disk_is_full() {
    let sb = Sandbox::new();
    let (disk, _mounted) = small_disk(&sb);
    let data = disk.join("data");
    let ca = |args: &[&str]| ca_on(&sb, &data, args);
    assert!(ca(&["init", "--key", "ecdsa-p256"]).status.success());
    let out = sb.file("out");
    std::fs::create_dir(&out).unwrap();
    let issued = ca(&[
        "issue",
        "a.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(issued.status.success(), "{issued:?}");
    assert!(
        ca(&["revoke", "1", "--reason", "keyCompromise"])
            .status
            .success()
    );
    let kept = ca(&["crl", "--format", "pem"]);
    assert!(kept.status.success(), "{kept:?}");
    let filler = disk.join("filler");
    fill_disk(&filler, 0);
    let out = ca(&["crl", "--format", "pem"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(out.stdout, kept.stdout, "{said}");
    assert_eq!(
        said.contains("ca: warning: the disk that holds the issuance log is full"),
        !sb.on_postgres(),
        "{said}"
    );
    let new = ca(&["crl", "--new", "--format", "pem"]);
    let said = String::from_utf8_lossy(&new.stderr);
    if sb.on_postgres() {
        assert!(new.status.success(), "{said}");
    } else {
        assert_eq!(new.status.code(), Some(1), "{said}");
        assert!(said.contains("make room"), "{said}");
    }
    std::fs::remove_file(&filler).unwrap();
    let new = ca(&["crl", "--new", "--format", "pem"]);
    assert!(new.status.success(), "{new:?}");
    assert_ne!(new.stdout, kept.stdout);
    if sb.on_postgres() {
        return;
    }
    // The kept CRL past half its life (a new one due, the kept one still current): with a
    // little room, the log starts to sign and then meets the full disk after PEM's first line
    // was written; what comes out is still one CRL, the kept one, whatever the room left.
    sqlite(
        &data.join("ca.db"),
        "DROP TRIGGER crl_number_only_grows;
         UPDATE crl SET this_update = this_update - 8 * 86400;
         CREATE TRIGGER crl_number_only_grows BEFORE UPDATE ON crl WHEN NEW.number <= OLD.number
BEGIN SELECT RAISE(ABORT, 'the CRL number only grows'); END;",
    );
    for kib in (0..=96).step_by(4) {
        fill_disk(&filler, kib);
        let out = ca(&["crl", "--format", "pem"]);
        let pem = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            assert_eq!(
                pem.matches("-----BEGIN X509 CRL-----").count(),
                1,
                "{kib} KiB free: {pem}"
            );
            assert!(pem.ends_with("-----END X509 CRL-----\n"), "{pem}");
        } else {
            assert!(pem.is_empty(), "{kib} KiB free: {pem}");
        }
    }
}

/// A data folder on a full disk: `ca init` fails with what to do and leaves no log behind,
/// wherever in its making the disk ran out (its tables, the root's key or certificate, the
/// log's claim), so the folder is one with no CA in it (not a CA whose root went missing, as
/// a half-made log once made every command say), and the next `ca init` with room succeeds;
/// then the log's disk filling refuses an issuance with the same advice, and leaves nothing.
#[test]
fn init_on_a_full_disk_leaves_no_log_and_says_to_make_room() {
    let sb = Sandbox::new();
    let (disk, _mounted) = small_disk(&sb);
    let data = disk.join("data");
    let ca = |args: &[&str]| {
        let out = ca_on(&sb, &data, args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let filler = disk.join("filler");
    let leave_free = |kib: u64| fill_disk(&filler, kib);
    let mut failed_in_the_log = 0;
    let mut made = false;
    for kib in (0..=2000).step_by(20) {
        leave_free(kib);
        let out = ca_on(&sb, &data, &["init", "--key", "ecdsa-p256"]);
        let (code, said) = (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        if code == Some(0) {
            // Made on a disk it nearly fills: said, where the log is a file there.
            let told = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                told.contains("Note: the disk that holds ")
                    && told.contains(" KiB free: the log grows"),
                !sb.on_postgres(),
                "{told}"
            );
            made = true;
            break;
        }
        assert_eq!(code, Some(1), "{kib} KiB free: {said}");
        assert!(
            said.contains("make room") && !said.contains("(code: "),
            "{kib} KiB free: {said}"
        );
        if said.contains("the disk that holds the issuance log is full: make room on it")
            || said.contains("make room on the disk that holds the issuance log")
        {
            failed_in_the_log += 1;
        }
        let mut left: Vec<String> = std::fs::read_dir(&data)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".lock"))
            .collect();
        left.sort();
        assert!(left.is_empty(), "{kib} KiB free: left {left:?}");
        let (code, said) = ca(&["list"]);
        assert_eq!(code, Some(2), "{said}");
        assert!(said.contains("there is no CA in"), "{kib} KiB free: {said}");
    }
    assert!(made, "no room made a CA");
    if !sb.on_postgres() {
        assert!(
            failed_in_the_log >= 2,
            "the log's making never met the full disk: {failed_in_the_log}"
        );
    }
    std::fs::remove_file(&filler).unwrap();
    let (code, said) = ca(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    assert_eq!(code, Some(0), "{said}");
    if sb.on_postgres() {
        return;
    }
    let out = sb.file("out");
    std::fs::create_dir(&out).unwrap();
    let issue_b = [
        "issue",
        "b.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        out.to_str().unwrap(),
    ];
    leave_free(0);
    let (code, said) = ca(&issue_b);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        (said.contains("the disk that holds the issuance log is full: make room on it")
            || said.contains(
                "database or disk is full: make room on the disk that holds the issuance log"
            ))
            && !said.contains("(code: "),
        "{said}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    std::fs::remove_file(&filler).unwrap();
    let (code, said) = ca(&issue_b);
    assert_eq!(code, Some(0), "{said}");
}

#[test]
fn ca_crl_hands_out_the_current_crl_until_a_revocation() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["crl", "--out", "one.crl"]);
    sb.ok(&["crl", "--out", "two.crl"]);
    assert_eq!(
        std::fs::read(sb.file("one.crl")).unwrap(),
        std::fs::read(sb.file("two.crl")).unwrap(),
        "no revocation, the same CRL"
    );
    sb.ok(&["revoke", "1"]);
    sb.ok(&["crl", "--out", "three.crl"]);
    let (first, _) = crl_contents(sb.path(), "one.crl");
    let (third, serials) = crl_contents(sb.path(), "three.crl");
    assert!(third > first);
    assert_eq!(serials.len(), 1);
}

#[test]
fn refusals_that_come_before_anything_is_made_leave_nothing_behind() {
    let sb = Sandbox::new();
    // A refused init makes no folder.
    sb.refused(&["init", "--days", "0"]);
    assert!(!sb.data().exists());
    sb.init(&[]);
    // A sign whose output folder does not exist issues nothing.
    openssl_ok(
        sb.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "r.key",
            "-subj",
            "/CN=mail.example.com",
            "-out",
            "r.csr",
        ],
    );
    let stderr = sb.refused(&["sign", "r.csr", "--out", "missing/mail.crt"]);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert_eq!(sb.row_count(), 0);
    // Nor does any other output into a missing folder: a bad argument, not a damaged data
    // folder to restore from a backup.
    for args in [
        &["root", "--out", "missing/root.crt"][..],
        &["crl", "--out", "missing/ca.crl"],
    ] {
        let stderr = sb.refused(args);
        assert!(stderr.contains("missing does not exist"), "{stderr}");
        assert!(!stderr.contains("restore"), "{stderr}");
    }
    // An --out that names a file is called a file, not a missing folder, and issues nothing.
    std::fs::write(sb.file("a-file"), "").unwrap();
    let a_file = sb.file("a-file");
    let stderr = sb.refused(&[
        "issue",
        "mail.example.com",
        "--out",
        a_file.to_str().unwrap(),
    ]);
    assert!(stderr.contains("a-file is not a folder"), "{stderr}");
    assert!(!stderr.contains("does not exist"), "{stderr}");
    assert_eq!(sb.row_count(), 0);
    // A restore from a folder that holds no backup says so.
    std::fs::create_dir(sb.file("empty")).unwrap();
    let other = Sandbox::new();
    let out = other
        .ca()
        .arg("restore")
        .arg(sb.file("empty"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("holds no backup"), "{stderr}");
    assert!(!other.data().exists());
    // A backup inside the data folder is refused, however the path reaches it: through
    // `..` after a folder that does not exist, or through a link to the folder.
    std::os::unix::fs::symlink(sb.data(), sb.file("link")).unwrap();
    for target in [
        sb.data().join("bk"),
        sb.file("nowhere/../ca-data/bk"),
        sb.file("link/bk"),
        sb.file("link"),
    ] {
        let stderr = sb.refused(&["backup", target.to_str().unwrap()]);
        assert!(
            stderr.contains("inside the data folder"),
            "{target:?}: {stderr}"
        );
    }
    assert!(!sb.data().join("bk").exists() && !sb.file("nowhere").exists());
    // A restore into a folder holding what an earlier log left (a crash) is refused: SQLite
    // would apply that write-ahead log to the restored log.
    let target = Sandbox::new();
    if target.on_postgres() {
        return; // The log goes into the database: nothing in the folder is applied to it.
    }
    std::fs::create_dir_all(target.data()).unwrap();
    std::fs::write(target.data().join("ca.db-wal"), b"left by a crash").unwrap();
    sb.ok(&["backup", "bk2"]);
    let out = target
        .ca()
        .arg("restore")
        .arg(sb.file("bk2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("holds ca.db-wal, left by a log that was there before"),
        "{stderr}"
    );
    assert!(!target.data().join("ca.db").exists() && !target.data().join("root.crt").exists());
}

/// `--out /dev/stdout` with standard output redirected to a file, as a shell's `>` leaves it:
/// the output lands where the shell's own writes stand (after what was written before it,
/// before what is written after), and neither /dev/stdout nor the file is replaced.
#[test]
fn out_dev_stdout_redirected_to_a_file_lands_between_the_shells_writes() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["root", "--out", "root.pem"]);
    let root = std::fs::read(sb.file("root.pem")).unwrap();
    let path = sb.file("redirected.txt");
    let mut shell = std::fs::File::create(&path).unwrap();
    shell.write_all(b"before\n").unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    for out in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
        let status = sb
            .ca()
            .args(["root", "--out", out])
            .stdout(shell.try_clone().unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "{out}");
        shell.write_all(b"after\n").unwrap();
    }
    let mut expected = b"before\n".to_vec();
    for _ in 0..3 {
        expected.extend_from_slice(&root);
        expected.extend_from_slice(b"after\n");
    }
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(&path).unwrap()),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    assert!(
        std::fs::symlink_metadata("/dev/stdout")
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // Any other descriptor of the command may be its own log or key: refused, and the log
    // is as it was.
    for n in 0..=12 {
        if n == 1 || n == 2 {
            continue;
        }
        for command in ["root", "crl"] {
            let stderr = sb.refused(&[command, "--out", &format!("/dev/fd/{n}")]);
            assert!(
                stderr.contains("descriptor"),
                "{command} /dev/fd/{n}: {stderr}"
            );
        }
    }
    assert!(sb.ok(&["check"]).contains("is sound"));
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(&path).unwrap()),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn serve_on_an_address_in_use_fails_and_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let sb = Sandbox::new();
    let out = sb.run(&[
        "serve",
        "--http",
        &format!("127.0.0.1:{port}"),
        "--https",
        "127.0.0.1:0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--http"), "{stderr}");
    assert!(!sb.data().exists(), "no CA was made");
}

#[test]
fn check_reports_an_encrypted_key_as_unread_not_as_a_problem() {
    let sb = Sandbox::new();
    let out = sb
        .ca()
        .env("CA_PASSPHRASE", "correct horse battery")
        .args(["init", "--key", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let check = sb.ok(&["check"]);
    assert!(
        check.contains("is sound") && check.contains("encrypted"),
        "{check}"
    );
}

#[test]
fn a_root_key_others_can_read_is_refused_with_the_chmod_that_mends_it() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.init(&[]);
    let key = sb.data().join("root.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mend = format!("chmod 600 {}", key.display());
    // A failure of the folder, not of what was asked (DESIGN §5: 1).
    let out = sb.run(&["issue", "mail.example.com"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&mend), "{stderr}");
    // `ca check` names the same mend, not a restore: nothing is damaged.
    let stderr = check_fails(&sb);
    assert!(
        stderr.contains("can be read by other users (mode 644)") && stderr.contains(&mend),
        "{stderr}"
    );
    assert!(
        stderr.contains("nothing in the log or the key is damaged")
            && !stderr.contains("ca restore"),
        "{stderr}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(sb.ok(&["check"]).contains("is sound"));
}

#[test]
fn user_names_are_echoed_without_control_characters_and_unique_whatever_their_case() {
    let sb = Sandbox::new();
    sb.init(&[]);
    std::fs::write(sb.file("pw"), "a password\n").unwrap();
    let stderr = sb.refused(&[
        "user",
        "add",
        "eve\u{1b}[2J\nca: error: forged",
        "--role",
        "requester",
        "--password-file",
        "pw",
    ]);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.contains("\\u{1b}[2J\\nca: error: forged"),
        "{stderr:?}"
    );
    let add = |name: &str| {
        sb.run(&[
            "user",
            "add",
            name,
            "--role",
            "requester",
            "--password-file",
            "pw",
        ])
    };
    assert!(add("alice").status.success());
    let out = add("Alice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("alice") && stderr.contains("case"),
        "{stderr}"
    );
    let list = sb.ok(&["user", "list"]);
    assert!(!list.contains("Alice"), "{list}");
    // The same name is refused too, pointing to the commands that change a user; its role
    // and password stay, and the audit trail records no change.
    let audited = sb.ok(&["audit"]).lines().count();
    std::fs::write(sb.file("pw2"), "another password\n").unwrap();
    let out = sb.run(&[
        "user",
        "add",
        "alice",
        "--role",
        "admin",
        "--password-file",
        "pw2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the user alice exists already")
            && stderr.contains(&format!("`{} user role alice ROLE`", sb.said()))
            && stderr.contains(&format!("`{} user passwd alice`", sb.said())),
        "{stderr}"
    );
    let list = sb.ok(&["user", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("alice ") && l.contains("requester")),
        "{list}"
    );
    assert_eq!(sb.ok(&["audit"]).lines().count(), audited);
}

/// How many rows `ca list --json` shows in `data`, whose log is its own ca.db.
fn rows_in(data: &Path) -> usize {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ca"))
        .env_remove("CA_DATA")
        .env_remove("CA_DATABASE")
        .arg("--data")
        .arg(data)
        .args(["list", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().len()
}

#[test]
fn restore_from_a_live_folder_or_a_plain_copy_of_one_takes_what_is_in_its_write_ahead_log() {
    let sb = Sandbox::new();
    sb.init(&[]);
    if sb.on_postgres() {
        return backup_of_a_live_database_restores_into_either_backend(&sb);
    }
    // A running server keeps the log open, so what commands write stays in ca.db-wal.
    let server = Server::start(&sb);
    for name in ["a.example.com", "b.example.com", "c.example.com"] {
        sb.ok(&["issue", name, "--key", "ecdsa-p256"]);
    }
    let wal = sb.data().join("ca.db-wal");
    assert!(
        std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
        "the test needs changes in the write-ahead log"
    );
    let expected = rows_in(&sb.data());
    assert!(expected >= 3, "{expected} rows");
    // A plain copy of the live folder, write-ahead log and all.
    let copy = sb.file("copy");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(sb.data())
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    // Restored from the live folder, while the server runs ...
    let live = Sandbox::new();
    let out = live.ca().arg("restore").arg(sb.data()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        rows_in(&live.data()),
        expected,
        "restored from the live folder"
    );
    assert!(live.ok(&["check"]).contains("is sound"));
    drop(server);
    // ... and from the copy: every certificate is there.
    let copied = Sandbox::new();
    let out = copied.ca().arg("restore").arg(&copy).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows_in(&copied.data()), expected, "restored from a copy");
    assert!(copied.ok(&["check"]).contains("is sound"));
    // The restored log stands alone: no write-ahead log was needed beside it.
    assert!(
        !copied.data().join("ca.db-wal").exists()
            || std::fs::metadata(copied.data().join("ca.db-wal"))
                .unwrap()
                .len()
                == 0
    );
}

/// On PostgreSQL the folder holds no log, so a live folder is no backup; a backup taken while
/// a server runs is one snapshot of the database, as a SQLite file, that restores into a
/// folder of its own and into an empty database alike.
fn backup_of_a_live_database_restores_into_either_backend(sb: &Sandbox) {
    let server = Server::start(sb);
    for name in ["a.example.com", "b.example.com", "c.example.com"] {
        sb.ok(&["issue", name, "--key", "ecdsa-p256"]);
    }
    let expected = sb.row_count();
    assert!(expected >= 3, "{expected} rows");
    let live = Sandbox::new();
    let out = live.ca().arg("restore").arg(sb.data()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a folder without ca.db is no backup"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no backup"));
    sb.ok(&["backup", "bk"]);
    drop(server);
    assert!(
        sb.file("bk/ca.db").is_file(),
        "the backup's log is a SQLite file"
    );
    // Into an empty database (the new sandbox's own) ...
    let database = Sandbox::new();
    let out = database
        .ca()
        .arg("restore")
        .arg(sb.file("bk"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(database.row_count(), expected);
    assert!(database.ok(&["check"]).contains("is sound"));
    // ... and into a folder of its own, without a database.
    let folder = std::process::Command::new(env!("CARGO_BIN_EXE_ca"))
        .env_remove("CA_DATA")
        .env_remove("CA_DATABASE")
        .arg("--data")
        .arg(sb.file("restored"))
        .arg("restore")
        .arg(sb.file("bk"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        folder.status.success(),
        "{}",
        String::from_utf8_lossy(&folder.stderr)
    );
    assert_eq!(rows_in(&sb.file("restored")), expected);
}

/// A backup is never a live CA: named by --data, it is read where it is, and what would
/// change its log refuses (so that it never issues beside the CA it copies, under the same
/// ids); restored, the copy is a CA again, and the backup stays as it was.
#[test]
fn a_backup_is_read_where_it_is_and_changed_only_once_restored() {
    let sb = populated();
    sb.ok(&["backup", "bk"]);
    let note = std::fs::read_to_string(sb.file("bk/backup.txt")).unwrap();
    assert!(
        note.contains("is a backup of the certificate authority in") && note.contains("Restore it"),
        "{note}"
    );
    let bk = sb.file("bk");
    let on_backup = |args: &[&str]| {
        sb.ca_bare()
            .arg("--data")
            .arg(&bk)
            .args(args)
            .output()
            .unwrap()
    };
    let listed = on_backup(&["list"]);
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("a.example.com"));
    assert!(on_backup(&["show", "1"]).status.success());
    let before = std::fs::read(bk.join("ca.db")).unwrap();
    // The CRL it keeps is handed out as the CA signed it (a backup signs nothing), to a file
    // or as PEM, while it lists every revocation and its next update is ahead.
    let kept = on_backup(&["crl", "--out", sb.file("kept.crl").to_str().unwrap()]);
    assert!(kept.status.success(), "{kept:?}");
    assert_eq!(
        std::fs::read(sb.file("kept.crl")).unwrap(),
        std::fs::read(sb.file("before.crl")).unwrap()
    );
    assert_crl_verifies(sb.path(), "kept.crl", &bk.join("root.crt"));
    let pem = on_backup(&["crl", "--format", "pem"]);
    assert!(
        String::from_utf8_lossy(&pem.stdout).starts_with("-----BEGIN X509 CRL-----"),
        "{pem:?}"
    );
    for args in [
        &["issue", "d.example.com", "--key", "ecdsa-p256"][..],
        &["revoke", "1", "--reason", "superseded"],
        &["renew", "3", "--force"],
        &["crl", "--new", "--out", "new.crl"],
        &["config", "set", "url", "http://ca.example.com"],
    ] {
        let out = on_backup(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is a backup of a CA, not its data folder")
                && stderr.contains("`ca restore "),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read(bk.join("ca.db")).unwrap(),
        before,
        "nothing changed"
    );
    assert!(
        note.contains(&format!("in {}", sb.data().display())),
        "an absolute path: {note}"
    );
    // Not restored into a folder holding a backup's note: the CA would refuse every change.
    let noted = Sandbox::new();
    std::fs::create_dir_all(noted.data()).unwrap();
    std::fs::write(noted.data().join("backup.txt"), "stray").unwrap();
    let refused = noted.refused(&["restore", bk.to_str().unwrap()]);
    assert!(refused.contains("holds backup.txt"), "{refused}");
    let target = Sandbox::new();
    let out = target.ca().arg("restore").arg(&bk).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!target.data().join("backup.txt").exists());
    target.ok(&["issue", "d.example.com", "--key", "ecdsa-p256"]);
    assert!(bk.join("backup.txt").exists(), "the backup stays one");

    // A backup whose log holds a revocation its CRL does not list hands out nothing, and
    // says why and what to do; the file named is not made.
    sb.ok(&["revoke", "3", "--reason", "superseded"]);
    sb.ok(&["backup", "bk2"]);
    for args in [
        &["crl", "--out", "behind.crl"][..],
        &["crl"],
        &["crl", "--format", "pem"],
    ] {
        let behind = sb
            .ca_bare()
            .arg("--data")
            .arg(sb.file("bk2"))
            .args(args)
            .current_dir(sb.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&behind.stderr);
        assert_eq!(behind.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("does not list every revocation of the backup's log")
                && stderr.contains("`ca restore "),
            "{stderr}"
        );
        // Nothing at all, not even PEM's first line.
        assert!(behind.stdout.is_empty(), "{args:?}");
    }
    assert!(!sb.file("behind.crl").exists());
    assert!(
        left_in(sb.path())
            .iter()
            .all(|name| !name.contains("behind"))
    );
}

#[test]
fn backup_and_restore_refuse_files_and_broken_backups_as_input() {
    let sb = populated();
    sb.ok(&["backup", "bk"]);
    // A backup into a file.
    std::fs::write(sb.file("afile"), "x").unwrap();
    let stderr = sb.refused(&["backup", sb.file("afile").to_str().unwrap()]);
    assert!(stderr.contains("is a file"), "{stderr}");
    // A restore into a data folder that is a file.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ca"))
        .current_dir(sb.path())
        .env_remove("CA_DATA")
        .args(["--data", "afile", "restore", "bk"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a file"), "{stderr}");
    // Backups whose root is another CA's or garbage, or whose log is cut short.
    let broken = |name: &str, damage: &dyn Fn(&Path)| {
        let dir = sb.file(name);
        assert!(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(sb.file("bk"))
                .arg(&dir)
                .status()
                .unwrap()
                .success()
        );
        damage(&dir);
        let target = Sandbox::new();
        let out = target.ca().arg("restore").arg(&dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.starts_with("ca: error: "), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(!target.data().join("root.crt").exists(), "{name}");
    };
    let other = Sandbox::new();
    other.init(&[]);
    let other_root = other.data().join("root.crt");
    broken("swapped", &|dir| {
        std::fs::copy(&other_root, dir.join("root.crt")).unwrap();
    });
    broken("garbage", &|dir| {
        std::fs::write(dir.join("root.crt"), "not a certificate\n").unwrap();
    });
    broken("truncated", &|dir| {
        let db = dir.join("ca.db");
        let len = std::fs::metadata(&db).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.set_len(len / 2).unwrap();
    });
    broken("truncated to a page", &|dir| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("ca.db"))
            .unwrap();
        file.set_len(4096).unwrap();
    });
}

/// The lines that say what was written show a folder named with an escape sequence, a
/// reordering mark, a tab and a line break as escapes: printed, the name moves no cursor,
/// colours nothing, reorders nothing and breaks no line, while the output keeps its own line
/// breaks.
#[test]
fn what_was_written_is_said_without_the_controls_of_its_name() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let folder = "o\u{1b}[2Ju\u{202e}t\tx\ny";
    std::fs::create_dir(sb.file(folder)).unwrap();
    let said = sb.ok(&[
        "issue",
        "w.example.com",
        "--key",
        "ecdsa-p256",
        "--out",
        folder,
    ]);
    assert!(
        !said.contains('\u{1b}') && !said.contains('\u{202e}'),
        "{said:?}"
    );
    assert!(
        said.contains("Wrote o\\u{1b}[2Ju\\u{202e}t\\tx\\ny/w.example.com.crt\n"),
        "{said}"
    );
    // Each file on a line of its own, whole.
    assert!(
        said.lines()
            .all(|line| !line.starts_with("y/") && !line.contains('\t')),
        "{said}"
    );
    assert!(sb.file(folder).join("w.example.com.crt").exists());
}

/// A data folder whose name holds a line break or a tab opens its own log, never that of the
/// folder named without them (a URL's parser drops both, and the log is opened by URL).
#[test]
fn a_data_folder_named_with_a_line_break_opens_its_own_log() {
    let sb = Sandbox::new();
    if sb.on_postgres() {
        // The log is in the database.
        return;
    }
    let ca = |data: &str, args: &[&str]| {
        let out = sb
            .ca_bare()
            .arg("--data")
            .arg(data)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{data:?} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    for data in ["a\nb", "ab", "c\td", "cd"] {
        ca(data, &["init", "--key", "ecdsa-p256"]);
    }
    ca("a\nb", &["issue", "x.example.com", "--key", "ecdsa-p256"]);
    ca("c\td", &["user", "add", "bob", "--role", "admin"]);
    let listed = |data: &str| -> usize {
        serde_json::from_str::<Vec<Value>>(&ca(data, &["list", "--json"]))
            .unwrap()
            .len()
    };
    assert_eq!((listed("a\nb"), listed("ab")), (1, 0));
    let users = |data: &str| ca(data, &["user", "list"]);
    assert!(users("c\td").contains("bob") && !users("cd").contains("bob"));
    ca("a\nb", &["check"]);
}

#[test]
fn a_data_folder_that_is_a_file_is_refused_as_input_by_every_command() {
    let sb = Sandbox::new();
    std::fs::write(sb.file("afile"), "x").unwrap();
    let serve = [
        "serve",
        "--http",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
        "--hostname",
        "localhost",
    ];
    for args in [
        &["init", "--key", "ecdsa-p256"][..],
        &serve[..],
        &["list"][..],
        &["check"][..],
        &["user", "list"][..],
        &["restore", "elsewhere"][..],
    ] {
        // Under `timeout`: a server that does not refuse would otherwise never end.
        let out = std::process::Command::new("timeout")
            .arg("60")
            .arg(env!("CARGO_BIN_EXE_ca"))
            .current_dir(sb.path())
            .env_remove("CA_DATA")
            .env_remove("CA_PASSPHRASE")
            .args(["--data", "afile"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("ca: error: ") && stderr.contains("afile is a file, not a folder"),
            "{args:?}: {stderr}"
        );
        assert_eq!(std::fs::read_to_string(sb.file("afile")).unwrap(), "x");
    }
}

use crate::util::{UNGUARD_CERTIFICATES_SQLITE, sqlite};
use std::path::{Path, PathBuf};

#[test]
fn a_log_altered_after_issuance_fails_check_and_restore_and_cannot_put_a_forged_serial_on_the_crl()
{
    for (column, change) in [
        // A first byte it did not have (a change that changes nothing would test nothing).
        (
            "serial",
            "serial = CASE WHEN substr(serial, 1, 2) = '7f' THEN '7e' ELSE '7f' END || substr(serial, 3)",
        ),
        ("not_after", "not_after = not_after + 86400 * 365"),
        ("not_before", "not_before = not_before - 86400"),
        ("names", "names = '[\"forged.example.com\"]'"),
        (
            "sha256",
            "sha256 = CASE WHEN substr(sha256, 1, 2) = '00' THEN 'ff' ELSE '00' END || substr(sha256, 3)",
        ),
    ] {
        let sb = populated();
        sb.ok(&["backup", "bk"]);
        let db = sb.file("bk").join("ca.db");
        sqlite(
            &db,
            &format!(
                "{UNGUARD_CERTIFICATES_SQLITE}; UPDATE certificates SET {change} WHERE request_id = 1"
            ),
        );
        let after = sqlite(&db, "SELECT serial FROM certificates WHERE request_id = 1");
        // `ca check` on the altered folder names the row and the column.
        let altered = Sandbox::new();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ca"))
            .env_remove("CA_DATA")
            .arg("--data")
            .arg(sb.file("bk"))
            .arg("check")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{column}: {stderr}");
        assert!(stderr.contains("certificate 1"), "{column}: {stderr}");
        let named = if column == "sha256" {
            "SHA-256"
        } else {
            column
        };
        assert!(stderr.contains(named), "{column}: {stderr}");
        // `ca restore` refuses it.
        let out = altered
            .ca()
            .arg("restore")
            .arg(sb.file("bk"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{column}: {stderr}");
        assert!(stderr.contains("not sound"), "{column}: {stderr}");
        assert!(!altered.data().join("root.crt").exists());
        // Revoking the altered row is refused: the revocation could name a certificate
        // the root never signed. (The backup's folder is used as a CA's here, its note taken
        // out: a backup refuses every change by itself.)
        std::fs::remove_file(sb.file("bk").join("backup.txt")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ca"))
            .env_remove("CA_DATA")
            .arg("--data")
            .arg(sb.file("bk"))
            .args(["revoke", &after])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{column}: {stderr}");
        assert!(stderr.contains("altered"), "{column}: {stderr}");
    }
    // A revocation recorded on an altered row (by hand, in the log) still puts the serial the
    // root signed on the CRL, not the forged one.
    let sb = populated();
    let real = sb.alter_log("SELECT serial FROM certificates WHERE request_id = 3");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A forged first byte that differs from the real one (1 serial in 128 starts with 7f).
    let forged = if real.starts_with("7f") { "7e" } else { "7f" };
    sb.unguard_certificates();
    sb.alter_log(&format!(
        "UPDATE certificates SET serial = '{forged}' || substr(serial, 3) WHERE request_id = 3"
    ));
    sb.alter_log(&format!(
        "INSERT INTO revocations (request_id, revoked_at, reason) VALUES (3, {now}, 'keyCompromise')"
    ));
    sb.ok(&["crl", "--out", "after.crl"]);
    let (_, serials) = crl_contents(sb.path(), "after.crl");
    assert!(serials.contains(&real), "{serials:?} {real}");
    let forged_serial = format!("{forged}{}", &real[2..]);
    assert!(!serials.contains(&forged_serial), "{serials:?}");
}

/// A database password is refused on the command line, and never printed: not by the parser,
/// not for a URL the driver cannot read, not when the server cannot be reached.
#[test]
fn a_database_password_is_never_printed_nor_taken_from_the_command_line() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let run = |env: Option<&str>, args: &[&str]| {
        let mut cmd = sb.ca();
        if let Some(url) = env {
            cmd.env("CA_DATABASE", url);
        }
        let out = cmd.args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} {env:?}");
        assert!(!stderr.contains("SECRET"), "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code(), stderr)
    };
    // On the command line, in the URL's user part or its query (decoded as the driver does).
    for url in [
        "postgres://ca:SECRET@127.0.0.1:1/ca",
        "postgres://ca@127.0.0.1:1/ca?password=SECRET",
        "postgres://ca@127.0.0.1:1/ca?pass%77ord=SECRET",
    ] {
        let (code, stderr) = run(None, &["--database", url, "list"]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("PGPASSWORD"), "{stderr}");
        let (code, stderr) = run(None, &["migrate", "--to", url]);
        assert_eq!(code, Some(2), "{stderr}");
    }
    // From the environment: malformed, unreadable by the driver, or unreachable.
    for url in [
        "postgres://ca:SECRET@/ca",
        "postgres://ca:pa/ssSECRET@127.0.0.1:1/ca",
        "postgres://ca:pa#ssSECRET@127.0.0.1:1/ca",
        "postgres://ca:SECRET ca@127.0.0.1:1/ca",
    ] {
        let (code, stderr) = run(Some(url), &["list"]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
    }
    let (_, stderr) = run(Some("postgres://ca:SECRET@127.0.0.1:1/ca"), &["list"]);
    assert!(stderr.contains("ca:***@127.0.0.1:1/ca"), "{stderr}");
    // Why it cannot be reached, not only that the time ran out, and what to look at.
    assert!(
        stderr.contains("Connection refused") && !stderr.contains("time allowed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check that the database server is running"),
        "{stderr}"
    );
    // A parameter the driver would ignore (and log with its value), and a URL too long to
    // echo: refused, without the value.
    for url in [
        "postgres://ca@127.0.0.1:1/ca?sslpassword=SECRET",
        "postgres://ca@127.0.0.1:1/ca?sslmode=disable&passwd=SECRET",
    ] {
        let (code, stderr) = run(Some(url), &["list"]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert!(stderr.contains("not one ca passes"), "{url}: {stderr}");
        let (code, stderr) = run(None, &["--database", url, "serve"]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
    }
    let long = format!(
        "postgres://ca@127.0.0.1:1/ca?sslmode={}",
        "SECRET".repeat(20_000)
    );
    let (code, stderr) = run(Some(&long), &["list"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.len() < 1000, "{}", stderr.len());
}

/// What a `ca init` killed half way leaves (an empty log, or one whose tables hold nothing;
/// the root's key and certificate under temporary names) is said to be that, with the
/// command that starts over, rather than a CA whose root went missing; `ca init` then makes
/// the CA and takes out the stopped one's files. A write-ahead log whose log is gone is
/// never taken over or removed by a new CA.
#[test]
fn a_stopped_init_is_said_and_made_again_and_an_orphan_wal_is_kept() {
    use std::os::unix::fs::DirBuilderExt;
    let sb = Sandbox::new();
    if sb.on_postgres() {
        // The log is in the database, which a stopped creation leaves unclaimed (tested
        // with the folder that cannot take the key).
        return;
    }
    let data = sb.data();
    let stopped = |log: &[u8]| {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&data)
            .unwrap();
        std::fs::write(data.join("ca.db"), log).unwrap();
        std::fs::set_permissions(data.join("ca.db"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        for left in [
            ".root.key.0123456789abcdef.tmp",
            ".root.crt.0123456789abcdef.tmp",
        ] {
            std::fs::write(data.join(left), b"left by a stopped init").unwrap();
        }
    };
    // An empty log (killed as it was made), then one whose tables were made but hold
    // nothing (killed before the root was claimed).
    let tables = sb.file("tables.db");
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript('CREATE TABLE requests (id INTEGER); CREATE TABLE users (name TEXT);')\nc.close()",
        ])
        .arg(&tables)
        .status()
        .unwrap();
    assert!(made.success());
    for log in [Vec::new(), std::fs::read(&tables).unwrap()] {
        stopped(&log);
        let out = sb.run(&["list"]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(
            said.contains("what the making of a CA that was stopped half way leaves")
                && said.contains(&format!("`{} init` there makes the CA again", sb.said()))
                && !said.contains("restore this CA's backup with"),
            "{said}"
        );
        sb.init(&[]);
        let mut left: Vec<String> = std::fs::read_dir(&data)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        left.sort();
        assert!(left.is_empty(), "left: {left:?}");
        sb.ok(&[
            "issue",
            "again.example.com",
            "--key",
            "ecdsa-p256",
            "--force",
        ]);
    }
    // A CA's root files gone, its log used: still a CA whose root went missing.
    std::fs::remove_file(data.join("root.crt")).unwrap();
    std::fs::remove_file(data.join("root.key")).unwrap();
    let out = sb.run(&["list"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("restore this CA's backup"), "{said}");
    // The log moved away, its write-ahead log left behind.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&data)
        .unwrap();
    std::fs::write(data.join("ca.db-wal"), vec![7u8; 4096]).unwrap();
    let said = sb.refused(&["init", "--key", "ecdsa-p256"]);
    assert!(
        said.contains("is the write-ahead log of an issuance log that is not there"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(data.join("ca.db-wal")).unwrap(),
        vec![7u8; 4096]
    );
    assert!(!data.join("ca.db").exists());
}

/// A data folder that cannot take the new root's key fails `ca init` before the log is
/// claimed: on PostgreSQL the database stays free for the next attempt, not claimed by a root
/// whose key nobody holds; nothing half-written is left in the folder.
#[test]
fn init_into_a_folder_that_cannot_take_the_key_leaves_the_log_unclaimed() {
    let sb = Sandbox::new();
    let data = sb.data();
    std::fs::create_dir(&data).unwrap();
    // The folder's lock file is there from an earlier attempt (so the lock is taken); the
    // folder itself may not be written by the user running `ca`.
    let lock = data.join("init.lock");
    std::fs::write(&lock, b"").unwrap();
    let as_root = crate::util::is_root();
    let mut init = if as_root {
        // Root writes anywhere: `ca` runs as nobody, who may reach the folder but not write it.
        for dir in [sb.path(), data.as_path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let nobody = std::process::Command::new("id")
            .args(["-u", "nobody"])
            .output()
            .unwrap();
        let uid: u32 = String::from_utf8_lossy(&nobody.stdout)
            .trim()
            .parse()
            .unwrap();
        std::os::unix::fs::chown(&lock, Some(uid), None).unwrap();
        let mut cmd = std::process::Command::new("runuser");
        crate::util::isolate(&mut cmd);
        cmd.args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_ca"), "--data"])
            .arg(&data)
            .current_dir(sb.path())
            .stdin(Stdio::null());
        sb.log_env(&mut cmd);
        cmd
    } else {
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).unwrap();
        sb.ca()
    };
    let out = init.args(["init", "--key", "ecdsa-p256"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("ca: error: ") && stderr.contains("ermission denied"),
        "{stderr}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "init.lock")
        .collect();
    left.sort();
    assert!(left.is_empty(), "left in the folder: {left:?}");
    if let Some(database) = &sb.database {
        assert_eq!(
            database.sql("SELECT count(*) FROM settings").trim(),
            "0",
            "the database was claimed"
        );
    }
    // Once the folder may be written, the next attempt makes the CA on the same log.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    sb.init(&[]);
    sb.ok(&["issue", "after.example.com", "--key", "ecdsa-p256"]);
}

/// A value that is not a database URL may be a password typed in the wrong place: no part of
/// it is echoed, wherever it came from, and the refusal names where it came from.
#[test]
fn a_bad_database_value_is_never_echoed_and_its_source_is_named() {
    let sb = Sandbox::new();
    let refused = |mut cmd: std::process::Command| {
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with("ca: error: "), "{stderr}");
        for part in ["hunter", "SECRET", "pa/ss", "//c"] {
            assert!(!stderr.contains(part), "{part} echoed: {stderr}");
        }
        stderr
    };
    for value in ["hunter2SECRET", "postgres://ca:pa/ssSECRET@db/ca"] {
        let mut cmd = sb.ca();
        cmd.env("CA_DATABASE", value).arg("list");
        let stderr = refused(cmd);
        assert!(
            stderr.contains("invalid value for $CA_DATABASE"),
            "{stderr}"
        );
        assert!(!stderr.contains("--database"), "{stderr}");

        let mut cmd = sb.ca();
        cmd.env_remove("CA_DATABASE")
            .args(["--database", value, "list"]);
        let stderr = refused(cmd);
        assert!(
            stderr.contains("invalid value for '--database <URL>'"),
            "{stderr}"
        );

        let config = sb.file("ca.toml");
        std::fs::write(&config, format!("# ca\ndatabase = \"{value}\"\n")).unwrap();
        let mut cmd = sb.ca_bare();
        cmd.env_remove("CA_DATABASE")
            .env("CA_CONFIG", &config)
            .arg("list");
        let stderr = refused(cmd);
        assert!(
            stderr.contains(&format!(
                "the configuration file {} is refused at line 2: database:",
                config.display()
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("--database"), "{stderr}");
    }
}

/// A backup taken by the release before the newest migration (that release's schema, without
/// the migration's record) restores into this one, brought up to date in a copy of its own:
/// the backup stays as it was, and a command that only reads it says what to do.
#[test]
fn a_backup_from_the_release_before_restores_and_stays_as_it_was() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&[
        "issue",
        "a.example.com",
        "b.example.com",
        "--key",
        "ecdsa-p256",
    ]);
    let backup = sb.file("bk");
    sb.ok(&["backup", backup.to_str().unwrap()]);
    as_the_release_before_left_it(&backup);
    let before = std::fs::read(backup.join("ca.db")).unwrap();
    let mut read = sb.ca_bare();
    read.env_remove("CA_DATABASE");
    let out = read
        .arg("--data")
        .arg(&backup)
        .args(["list"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("needs an upgrade, which a command that only reads does not make")
            && said.contains(&format!(
                "`ca --data {} crl --out /dev/null`",
                backup.display()
            )),
        "{said}"
    );
    let restored = Sandbox::new();
    let out = restored.ca().arg("restore").arg(&backup).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(restored.ok(&["check"]).contains("is sound"));
    // The restored log is current, and works as one: the note on the names' holders reads
    // the backup's rows.
    let issued = restored.ok(&["issue", "b.example.com", "--key", "ecdsa-p256"]);
    assert!(
        issued.contains("for b.example.com is still valid"),
        "{issued}"
    );
    assert_eq!(
        std::fs::read(backup.join("ca.db")).unwrap(),
        before,
        "the backup was changed"
    );
    // Reading it may leave SQLite's empty write-ahead log beside it, never a change.
    assert!(
        std::fs::metadata(backup.join("ca.db-wal")).map_or(true, |wal| wal.len() == 0),
        "the backup has changes beside it: {:?}",
        std::fs::metadata(backup.join("ca.db-wal")).map(|wal| wal.len())
    );
    let left: Vec<String> = std::fs::read_dir(restored.data())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left in the restored folder: {left:?}");
}

/// Makes the backup in `backup` one the release before the newest migration took: that
/// release's schema, without the migration's record.
fn as_the_release_before_left_it(backup: &Path) {
    sqlite(
        &backup.join("ca.db"),
        "DROP INDEX certificates_renewed_from;
         CREATE INDEX certificates_renewed_from ON certificates (renewed_from);
         DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations);",
    );
}

/// Such a backup that cannot be used is refused as the backup it is (exit 2, its own file
/// named, never the copy its log was brought up to date in), and the target folder, made for
/// the copy, is gone again.
#[test]
fn a_broken_backup_from_the_release_before_is_refused_by_its_own_name() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let backup = sb.file("bk");
    sb.ok(&["backup", backup.to_str().unwrap()]);
    as_the_release_before_left_it(&backup);
    for (file, text) in [
        ("root.key", "not a key\n"),
        ("root.crt", "not a certificate\n"),
    ] {
        let broken = sb.file(&format!("broken-{file}"));
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&backup)
            .arg(&broken)
            .status()
            .unwrap();
        assert!(copied.success());
        std::fs::write(broken.join(file), text).unwrap();
        let restored = Sandbox::new();
        let said = restored.refused(&["restore", broken.to_str().unwrap()]);
        assert!(
            said.contains(&broken.join(file).display().to_string()) && !said.contains(".upgrade."),
            "{said}"
        );
        assert!(!restored.data().exists(), "{said}");
    }
}

/// A CRL written to a file that cannot take it names the file with the system's reason.
#[test]
fn a_crl_that_cannot_be_written_names_the_file() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let out = sb.run(&["crl", "--out", "/dev/full"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot write /dev/full: No space left on device"),
        "{said}"
    );
}

#[test]
fn an_issuance_whose_report_cannot_be_written_says_it_was_issued_all_the_same() {
    let sb = Sandbox::new();
    sb.init(&[]);
    // Standard output on a full disk: exit status 1 and what was done, on standard error.
    let to_a_full_disk = |args: &[&str]| {
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = sb.ca().args(args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        stderr
    };
    let stderr = to_a_full_disk(&["issue", "mail.example.com"]);
    assert!(
        stderr.contains(
            "the report of certificate 1 could not be written to standard output (No space left on device"
        ) && stderr.contains("the certificate was issued, is in the log and its files are written")
            && stderr.contains("mail.example.com.key")
            && stderr.contains("do not run this command again")
            && stderr.contains(&format!("`{} show 1`", sb.said())),
        "{stderr}"
    );
    assert_eq!(sb.row_count(), 1);
    assert!(sb.file("mail.example.com.crt").exists() && sb.file("mail.example.com.key").exists());
    let stderr = to_a_full_disk(&["renew", "1", "--force"]);
    assert!(
        stderr.contains("the report of certificate 2 could not be written")
            && stderr.contains("do not run this command again"),
        "{stderr}"
    );
    // With standard error on a full disk too, nothing can be said, but the exit status says it:
    // 1 for the report, 2 for a refused name, never a panic's 101.
    for (args, status) in [
        (&["issue", "www.example.org"][..], 1),
        (&["issue", "a_b.example.com"][..], 2),
    ] {
        let full = || {
            std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap()
        };
        let out = sb
            .ca()
            .args(args)
            .stdout(full())
            .stderr(full())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(status), "{args:?}");
    }
    assert_eq!(sb.row_count(), 3);
    // A reader that goes away (`| head -1`) is still no failure.
    let mut reader = sb
        .ca()
        .args(["issue", "www.example.com"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(reader.stdout.take());
    let out = reader.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
    assert_eq!(sb.row_count(), 4);
}

/// `ca check` on `sb`'s folder, which fails: what it printed on standard error.
fn check_fails(sb: &Sandbox) -> String {
    let out = sb.run(&["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// A backup of `sb`, refused by `ca restore` before anything is made: what it said.
fn restore_refused(sb: &Sandbox) -> String {
    sb.ok(&["backup", "bk"]);
    let target = Sandbox::new();
    let out = target
        .ca()
        .arg("restore")
        .arg(sb.file("bk"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not sound"), "{stderr}");
    assert!(!target.data().exists(), "nothing restored");
    stderr
}

/// What someone with a hand on the log file could do to forget a revocation, found by
/// `ca check` and refused by `ca restore`: the revocation removed (its guard dropped and put
/// back as it was), then the guard rewritten to undo every revocation as it is made.
#[test]
fn a_revocation_removed_or_a_guard_rewritten_is_found_and_not_restored() {
    let sb = Sandbox::new();
    if sb.on_postgres() {
        return; // The tables' owner can do as much there; the file is SQLite's case.
    }
    sb.init(&[]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    sb.ok(&["revoke", "1", "--reason", "keyCompromise"]);
    sb.ok(&["crl", "--out", "ca.crl"]);
    // The revocation changed (its guard dropped and put back): the CRL the root signed says
    // otherwise.
    let update = sb.alter_log(
        "SELECT sql FROM sqlite_master WHERE name = 'revocations_are_append_only_update'",
    );
    sb.alter_log(&format!(
        "DROP TRIGGER revocations_are_append_only_update; \
         UPDATE revocations SET reason = 'superseded', revoked_at = 0; {update};"
    ));
    let stderr = check_fails(&sb);
    assert!(
        stderr.contains("for keyCompromise, but the log holds certificate 1 as revoked at 1970-01-01 00:00 UTC for superseded (a revocation was altered in the log)"),
        "{stderr}"
    );
    // A reason raised to keyCompromise after the CRL was signed is the one change allowed.
    let raised = Sandbox::new();
    raised.init(&[]);
    raised.ok(&["issue", "b.example.com", "--key", "ecdsa-p256"]);
    raised.ok(&["revoke", "1", "--reason", "superseded"]);
    raised.ok(&["crl", "--out", "ca.crl"]);
    raised.ok(&["revoke", "1", "--reason", "keyCompromise"]);
    assert!(raised.ok(&["check"]).contains("is sound"));
    let guard = sb.alter_log(
        "SELECT sql FROM sqlite_master WHERE name = 'revocations_are_append_only_delete'",
    );
    assert!(guard.starts_with("CREATE TRIGGER"), "{guard}");
    sb.alter_log(&format!(
        "DROP TRIGGER revocations_are_append_only_delete; DELETE FROM revocations WHERE request_id = 1; {guard};"
    ));
    let removed = "as revoked, but the log holds certificate 1 as not revoked (a revocation was removed from the log)";
    let stderr = check_fails(&sb);
    assert!(stderr.contains(removed), "{stderr}");
    assert!(
        !stderr.contains("trigger"),
        "the guard is back as it was: {stderr}"
    );
    let stderr = restore_refused(&sb);
    assert!(stderr.contains(removed), "{stderr}");

    // The guard rewritten: a revocation made now would be undone as it is written.
    let other = Sandbox::new();
    other.init(&[]);
    other.alter_log(
        "DROP TRIGGER revocations_are_append_only_delete; \
         CREATE TRIGGER revocations_are_append_only_delete AFTER INSERT ON revocations \
         BEGIN DELETE FROM revocations WHERE request_id = NEW.request_id; END; \
         CREATE TABLE kept (x);",
    );
    for stderr in [check_fails(&other), restore_refused(&other)] {
        assert!(
            stderr.contains("the trigger revocations_are_append_only_delete is not as this release made it (the log was altered)")
                && stderr.contains("the log holds a table kept that this release never made"),
            "{stderr}"
        );
    }
}

/// Runs both commands at once: one succeeds, the other is refused (exit 2) saying `refusal`.
/// Which one succeeded.
fn one_of_two_at_once(commands: [std::process::Command; 2], refusal: &str, round: usize) -> usize {
    let outs = at_once(commands);
    let won: Vec<usize> = (0..2).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(won.len(), 1, "round {round}: {outs:?}");
    let lost = String::from_utf8_lossy(&outs[1 - won[0]].stderr);
    assert_eq!(outs[1 - won[0]].status.code(), Some(2), "{lost}");
    assert!(lost.contains(refusal), "{lost}");
    won[0]
}

#[test]
fn two_restores_into_one_folder_at_once_restore_one_whole() {
    let (one, two) = (Sandbox::new(), Sandbox::new());
    one.init(&["--name", "Root One"]);
    two.init(&["--name", "Root Two"]);
    for sb in [&one, &two] {
        sb.ok(&["issue", "mail.example.com", "--key", "ecdsa-p256"]);
        sb.ok(&["backup", "bk"]);
    }
    for round in 0..4 {
        let target = Sandbox::new();
        let restore = |from: &Sandbox| {
            let mut command = target.ca();
            command.arg("restore").arg(from.file("bk"));
            command
        };
        let won = one_of_two_at_once([restore(&one), restore(&two)], "already exists", round);
        // The folder holds the winner's CA, whole.
        let winner = [&one, &two][won];
        assert_eq!(
            std::fs::read(target.data().join("root.crt")).unwrap(),
            std::fs::read(winner.data().join("root.crt")).unwrap()
        );
        target.ok(&["check"]);
    }
}

#[test]
fn two_backups_into_one_folder_at_once_leave_one_whole_backup() {
    let (one, two) = (Sandbox::new(), Sandbox::new());
    one.init(&["--name", "Root One"]);
    two.init(&["--name", "Root Two"]);
    let shared = tempfile::tempdir().unwrap();
    for round in 0..4 {
        let folder = shared.path().join(format!("bk{round}"));
        let backup = |from: &Sandbox| {
            let mut command = from.ca();
            command.arg("backup").arg(&folder);
            command
        };
        let won = one_of_two_at_once(
            [backup(&one), backup(&two)],
            "already holds a backup",
            round,
        );
        // What is there is the winner's backup, whole: it restores, as that CA.
        let winner = [&one, &two][won];
        let target = Sandbox::new();
        let out = target.ca().arg("restore").arg(&folder).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            std::fs::read(target.data().join("root.crt")).unwrap(),
            std::fs::read(winner.data().join("root.crt")).unwrap()
        );
    }
}

/// Runs `ca --data DATA ARGS` for `sb`'s log with writes past `blocks` 512-byte blocks of any
/// one file failing (EFBIG, as on a full disk: `ulimit -f`, with the signal that would
/// otherwise end the process ignored).
fn with_file_size_limit(sb: &Sandbox, data: &Path, blocks: u32, args: &[&str]) -> Output {
    let cmd = sb.ca_bare();
    let program = cmd.get_program().to_owned();
    let mut limited = std::process::Command::new("sh");
    limited
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(program)
        .arg("--data")
        .arg(data)
        .args(args)
        .current_dir(sb.path())
        .stdin(Stdio::null());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => limited.env(key, value),
            None => limited.env_remove(key),
        };
    }
    limited.output().unwrap()
}

/// [`populated`], its root file padded with 750 KB of text after its certificate: large
/// enough for a file-size limit to stop its copy after the log's.
fn populated_with_a_large_root_file() -> Sandbox {
    let sb = populated();
    let root = sb.data().join("root.crt");
    let mut padded = std::fs::read_to_string(&root).unwrap();
    padded.push_str(&"# not part of the certificate\n".repeat(25_000));
    std::fs::write(&root, padded).unwrap();
    sb
}

/// The names in `dir` (none when it does not exist), lock files aside, and SQLite's index
/// and empty write-ahead log beside a log that a command only read (it cannot remove them).
fn left_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let empty = entry.metadata().is_ok_and(|meta| meta.len() == 0);
            !(name.ends_with(".lock")
                || name.ends_with("-shm")
                || (name.ends_with("-wal") && empty))
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A restore that fails leaves the folder as it found it, so that it can be tried again: what
/// would stop the CA from opening where it lands (a log from a newer release, a folder others
/// may change) is refused before anything is copied, and a copy cut short (a root file that
/// does not fit) is taken out again.
#[test]
fn a_restore_that_fails_leaves_nothing_behind_and_can_be_tried_again() {
    let sb = populated_with_a_large_root_file();
    sb.ok(&["backup", "bk"]);
    let backup = sb.file("bk");

    // A backup whose log records a change this release does not know.
    let newer = sb.file("newer");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&backup)
            .arg(&newer)
            .status()
            .unwrap()
            .success()
    );
    sqlite(
        &newer.join("ca.db"),
        "INSERT INTO _sqlx_migrations SELECT version + 1, 'later', installed_on, success, checksum, \
         execution_time FROM _sqlx_migrations ORDER BY version DESC LIMIT 1",
    );
    let target = Sandbox::new();
    let said = target.refused(&["restore", newer.to_str().unwrap()]);
    assert!(said.contains("newer release"), "{said}");
    assert_eq!(left_in(&target.data()), Vec::<String>::new());
    target.ok(&["restore", backup.to_str().unwrap()]);
    assert!(target.ok(&["check"]).contains("is sound"));

    // A folder other users may change: refused before anything is copied into it.
    let exposed = Sandbox::new();
    std::fs::create_dir(exposed.data()).unwrap();
    std::fs::set_permissions(exposed.data(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let said = failed(&exposed, &["restore", backup.to_str().unwrap()]);
    assert!(said.contains("can be changed by other users"), "{said}");
    assert_eq!(left_in(&exposed.data()), Vec::<String>::new());
    std::fs::set_permissions(exposed.data(), std::fs::Permissions::from_mode(0o700)).unwrap();
    exposed.ok(&["restore", backup.to_str().unwrap()]);

    // The root certificate's copy fails after the log's: both go again.
    let cut = Sandbox::new();
    let out = with_file_size_limit(
        &cut,
        &cut.data(),
        1200,
        &["restore", backup.to_str().unwrap()],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("root.crt") && said.contains("File too large"),
        "{said}"
    );
    assert_eq!(left_in(&cut.data()), Vec::<String>::new(), "{said}");
    // On PostgreSQL the log was copied into the database, which now holds it: only the
    // root files were this folder's to take out.
    if !cut.on_postgres() {
        cut.ok(&["restore", backup.to_str().unwrap()]);
        assert!(cut.ok(&["check"]).contains("is sound"));
    }
}

/// A backup that fails on the way (its log's copy, or a root file after it, does not fit)
/// leaves nothing in its folder: the next backup into it is not refused as "already holds a
/// backup", and the message names the copy, not the live log.
#[test]
fn a_backup_that_fails_leaves_nothing_behind_and_can_be_tried_again() {
    let sb = populated_with_a_large_root_file();
    let target = sb.file("bk");
    for (blocks, what) in [
        (64, "the copy could not be written"),
        (1200, "File too large"),
    ] {
        let out = with_file_size_limit(
            &sb,
            &sb.data(),
            blocks,
            &["backup", target.to_str().unwrap()],
        );
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        // From PostgreSQL the copy is written row by row, in a file larger than VACUUM
        // INTO's: the limit may stop it before the root file.
        assert!(
            said.contains(what)
                || (sb.on_postgres() && said.contains("the copy could not be written")),
            "{blocks}: {said}"
        );
        assert!(!said.contains("issuance log failed"), "{said}");
        assert_eq!(left_in(&target), Vec::<String>::new(), "{said}");
    }
    sb.ok(&["backup", target.to_str().unwrap()]);
    let restored = Sandbox::new();
    restored.ok(&["restore", target.to_str().unwrap()]);
    assert!(restored.ok(&["check"]).contains("is sound"));
}

/// The root file is what administrators install on clients: a second certificate or a key
/// after the root (a tampered backup, a file put together by hand) is reported by `ca check`
/// and refused by `ca restore`, and a file of more than a megabyte is not read at all.
#[test]
fn a_root_file_holding_more_than_the_root_fails_check_and_restore() {
    let sb = populated();
    let root_file = sb.data().join("root.crt");
    let root = std::fs::read_to_string(&root_file).unwrap();
    let other = Sandbox::new();
    other.init(&[]);
    let foreign = std::fs::read(other.data().join("root.crt")).unwrap();
    let key = std::fs::read(other.data().join("root.key")).unwrap();
    // The other root in DER right after this one's PEM: Java's reader takes it for a
    // second certificate.
    let der = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(other.data().join("root.crt"))
        .output()
        .unwrap()
        .stdout;
    for (extra, label) in [
        (&foreign, "CERTIFICATE"),
        (&key, "PRIVATE KEY"),
        (&der, "binary data"),
    ] {
        std::fs::write(&root_file, [root.as_bytes(), extra].concat()).unwrap();
        let said = check_fails(&sb);
        assert!(
            said.contains(&format!(
                "root.crt holds more than the root certificate (also: {label})"
            )),
            "{said}"
        );
        std::fs::remove_dir_all(sb.file("bk")).ok();
        sb.ok(&["backup", "bk"]);
        let target = Sandbox::new();
        let said = target.refused(&["restore", sb.file("bk").to_str().unwrap()]);
        assert!(
            said.contains("is not sound") && said.contains(label),
            "{said}"
        );
        assert_eq!(left_in(&target.data()), Vec::<String>::new(), "{said}");
    }
    // Text around the root (comments, in any script) is no certificate, and no problem.
    std::fs::write(
        &root_file,
        format!("# the root\n{root}# end, f\u{fc}r alle\n"),
    )
    .unwrap();
    assert!(sb.ok(&["check"]).contains("is sound"));
    // Past a megabyte the file is not read.
    let mut padded = root.clone();
    padded.push_str(&"#".repeat(1024 * 1024));
    std::fs::write(&root_file, padded).unwrap();
    let out = sb.run(&["list"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("larger than 1024 KiB"), "{said}");
}

/// A restore stopped half-way (killed; the machine going down would stop it the same way)
/// leaves its mark: nothing opens the folder meanwhile, `ca init` does not begin a CA in it,
/// and the next restore takes out what the stopped one placed and restores.
#[test]
fn a_restore_stopped_half_way_is_finished_by_the_next_and_nothing_opens_meanwhile() {
    let sb = populated();
    sb.ok(&["backup", "bk"]);
    let backup = sb.file("bk");

    // What a restore stopped after its log and key were in place leaves, written here.
    let target = Sandbox::new();
    std::fs::create_dir(target.data()).unwrap();
    std::fs::write(target.data().join("restore.unfinished"), "").unwrap();
    if !target.on_postgres() {
        std::fs::copy(backup.join("ca.db"), target.data().join("ca.db")).unwrap();
    }
    std::fs::copy(backup.join("root.key"), target.data().join("root.key")).unwrap();
    std::fs::write(target.data().join(".root.crt.0123456789abcdef.tmp"), "half").unwrap();
    let said = failed(&target, &["list"]);
    assert!(
        said.contains("did not finish")
            && said.contains(&format!("`{} restore BACKUP_DIR` again", target.said())),
        "{said}"
    );
    let said = failed(&target, &["init", "--key", "ecdsa-p256"]);
    assert!(said.contains("did not finish"), "{said}");
    target.ok(&["restore", backup.to_str().unwrap()]);
    assert!(target.ok(&["check"]).contains("is sound"));
    let mut left = vec!["root.crt", "root.key"];
    if !target.on_postgres() {
        left.insert(0, "ca.db");
    }
    assert_eq!(left_in(&target.data()), left);

    // Killed at moments along the way, for real: whatever it left, the next restore
    // finishes the job and leaves nothing of the stopped one. (On PostgreSQL a restore
    // killed after its log's transaction committed leaves the database filled.)
    if sb.on_postgres() {
        return;
    }
    for delay in [2, 5, 10, 20, 40, 80, 160] {
        let target = Sandbox::new();
        let mut child = target
            .ca()
            .arg("restore")
            .arg(&backup)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        let done = target.data().join("root.crt").exists()
            && !target.data().join("restore.unfinished").exists();
        if !done {
            target.ok(&["restore", backup.to_str().unwrap()]);
        }
        assert!(target.ok(&["check"]).contains("is sound"), "{delay} ms");
        // Killed as the finished restore closed its log, it may leave SQLite's write-ahead
        // log beside it: committed rows the next opening reads, not a piece of the restore.
        let left: Vec<String> = left_in(&target.data())
            .into_iter()
            .filter(|name| name != "ca.db-wal" && name != "ca.db-shm")
            .collect();
        assert_eq!(
            left,
            ["ca.db", "root.crt", "root.key"],
            "killed after {delay} ms"
        );
    }
}

/// A backup stopped half-way leaves its mark: a restore from it is refused, and the next
/// backup into the folder takes out what the stopped one placed. A backup waits for a
/// restore (or another backup) into the same folder to end, and then finds it taken; a
/// folder other users may change is refused, as a restore would refuse the backup later.
#[test]
fn a_backup_stopped_half_way_is_no_backup_and_the_next_one_replaces_it() {
    let sb = populated();
    let target = sb.file("bk");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("backup.unfinished"), "").unwrap();
    std::fs::copy(sb.data().join("root.key"), target.join("root.key")).unwrap();
    std::fs::write(target.join(".ca.db.0123456789abcdef.tmp"), "half").unwrap();
    let restored = Sandbox::new();
    let said = restored.refused(&["restore", target.to_str().unwrap()]);
    assert!(said.contains("did not finish"), "{said}");
    // Nor is it a folder to begin a CA in, or to restore into (the next backup would take
    // that CA's files out).
    for args in [
        &["init", "--key", "ecdsa-p256"][..],
        &["list"],
        &["restore", sb.file("never").to_str().unwrap()],
    ] {
        let mut cmd = sb.ca_bare();
        let out = cmd.arg("--data").arg(&target).args(args).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains("holds a backup that did not finish"),
            "{args:?}: {said}"
        );
    }
    sb.ok(&["backup", target.to_str().unwrap()]);
    assert_eq!(
        left_in(&target),
        ["backup.txt", "ca.db", "root.crt", "root.key"]
    );
    restored.ok(&["restore", target.to_str().unwrap()]);

    // A restore holding the folder (its init lock) while it places its files: the backup
    // waits for it, then finds the folder taken rather than mixing two CAs' files.
    let busy = sb.file("busy");
    std::fs::create_dir(&busy).unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(busy.join("init.lock"))
        .arg("-c")
        .arg(format!(
            "sleep 1 && cp {0}/ca.db {0}/root.key {0}/root.crt {1}/",
            target.display(),
            busy.display()
        ))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let said = sb.refused(&["backup", busy.to_str().unwrap()]);
    assert!(said.contains("already holds a backup"), "{said}");
    assert!(holder.wait().unwrap().success());

    // What a log left in an empty folder is refused: SQLite would apply it to the copy.
    let stale = sb.file("stale");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("ca.db-wal"), "left").unwrap();
    let said = sb.refused(&["backup", stale.to_str().unwrap()]);
    assert!(said.contains("holds ca.db-wal"), "{said}");

    let exposed = sb.file("exposed");
    std::fs::create_dir(&exposed).unwrap();
    std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o777)).unwrap();
    let said = failed(&sb, &["backup", exposed.to_str().unwrap()]);
    assert!(said.contains("can be changed by other users"), "{said}");
    assert_eq!(left_in(&exposed), Vec::<String>::new());
}

/// What already lies in a restore's folder under the CA's file names (a link, even one that
/// leads nowhere, a named pipe) refuses the restore before anything is written, and stays.
#[test]
fn a_restore_into_a_folder_with_odd_entries_under_the_ca_names_is_refused_and_they_stay() {
    let sb = populated();
    sb.ok(&["backup", "bk"]);
    for (name, make) in [
        ("root.crt", "ln -s /dev/null root.crt"),
        ("root.key", "ln -s nowhere root.key"),
        ("root.crt", "mkfifo root.crt"),
    ] {
        let target = Sandbox::new();
        std::fs::create_dir(target.data()).unwrap();
        assert!(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(make)
                .current_dir(target.data())
                .status()
                .unwrap()
                .success()
        );
        let said = target.refused(&["restore", sb.file("bk").to_str().unwrap()]);
        assert!(said.contains("already exists"), "{make}: {said}");
        assert!(
            std::fs::symlink_metadata(target.data().join(name)).is_ok(),
            "{make}: removed"
        );
        assert_eq!(left_in(&target.data()), [name], "{make}");
    }
}

/// `ca issue` and `ca renew` into a folder they cannot write refuse before anything is
/// issued: the certificate was otherwise in the log with its key lost.
#[test]
fn an_output_folder_that_cannot_be_written_is_refused_before_anything_is_issued() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "a.example.com", "--key", "ecdsa-p256"]);
    // As root, permissions do not stop writes: the CA is given to an unprivileged user, who
    // runs the commands; the output folder stays root's, without write bits either way.
    crate::util::csr(&sb, "c.csr", "c.example.com");
    let as_root = given_to_nobody(&sb);
    let closed = sb.file("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = |args: &[&str]| unprivileged(&sb, as_root, args);
    for args in [
        &[
            "issue",
            "b.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            "closed",
        ][..],
        &["renew", "1", "--out", "closed"],
        // One file into it: refused before anything is done (for `ca sign`, issued).
        &["sign", "c.csr", "--out", "closed/c.crt"],
        &["export", "1", "--format", "pem", "--out", "closed/a.pem"],
        &["crl", "--out", "closed/ca.crl"],
        &["root", "--out", "closed/root.crt"],
    ] {
        let out = run(args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("closed cannot be written"), "{said}");
        assert!(!said.contains("is lost"), "{said}");
    }
    // Another user's file in a folder with the sticky bit (/tmp's): its rename would be
    // refused after the issuing.
    if as_root {
        let sticky = sb.file("sticky");
        std::fs::create_dir(&sticky).unwrap();
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::write(sticky.join("c.crt"), "root's").unwrap();
        for (args, said) in [
            (
                vec!["sign", "c.csr", "--force", "--out", "sticky/c.crt"],
                "sticky/c.crt",
            ),
            (
                vec![
                    "issue",
                    "c.example.com",
                    "--key",
                    "ecdsa-p256",
                    "--force",
                    "--out",
                    "sticky",
                ],
                "sticky/c.example.com.crt",
            ),
        ] {
            std::fs::write(sticky.join("c.example.com.crt"), "root's").unwrap();
            let out = run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("{said} belongs to another user")),
                "{stderr}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(sticky.join("c.crt")).unwrap(),
            "root's"
        );
    }
    let out = run(&["list", "--json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert!(std::fs::read_dir(&closed).unwrap().next().is_none());
}

/// A backup or restore refuses a folder someone else could swap for a link while it works
/// (its failure would then take files out of wherever the link leads, a live CA's): one,
/// or one on the way to it, that belongs to another user, or that others may write
/// without the sticky bit of /tmp.
#[test]
fn a_backup_or_restore_into_a_folder_another_user_controls_is_refused() {
    let sb = populated();
    sb.ok(&["backup", "bk"]);
    let before = left_in(&sb.data());
    // Open to everyone, not sticky: anyone may rename what is in it.
    let open = sb.file("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut targets = vec![open.join("bk"), open.join("ca")];
    if root() {
        // Another user's folder (mode 755: only its owner may change it), and a folder in it.
        let theirs = sb.file("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::create_dir(theirs.join("made")).unwrap();
        chown_to_nobody(&theirs);
        targets.extend([theirs.clone(), theirs.join("made"), theirs.join("new")]);
        // A link of ours that leads through a link of theirs to a folder of ours: they could
        // point theirs elsewhere (a live CA's folder) while the command works.
        let ours = sb.file("ours");
        std::fs::create_dir(&ours).unwrap();
        let hop = sb.file("hop");
        std::os::unix::fs::symlink(&ours, &hop).unwrap();
        std::os::unix::fs::lchown(&hop, Some(65534), Some(65534)).unwrap();
        let link = sb.file("link");
        std::os::unix::fs::symlink(&hop, &link).unwrap();
        targets.extend([link.clone(), link.join("new")]);
    }
    for target in &targets {
        let said = failed(&sb, &["backup", target.to_str().unwrap()]);
        assert!(
            said.contains("belongs to another user")
                || said.contains("can be changed by other users"),
            "{}: {said}",
            target.display()
        );
        let restore = Sandbox::new();
        let out = restore
            .ca_bare()
            .arg("--data")
            .arg(target)
            .arg("restore")
            .arg(sb.file("bk"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {said}", target.display());
        assert!(
            said.contains("belongs to another user")
                || said.contains("can be changed by other users"),
            "{}: {said}",
            target.display()
        );
        let placed: Vec<String> = left_in(target)
            .into_iter()
            .filter(|name| name != "made")
            .collect();
        assert_eq!(placed, Vec::<String>::new(), "{}", target.display());
    }
    assert_eq!(left_in(&sb.data()), before);
    // /tmp's sticky bit is no reason to refuse: the sandboxes live there.
    sb.ok(&["backup", sb.file("fine").to_str().unwrap()]);
}

/// What would stop `ca issue` from writing its files after issuing is refused before: file
/// names too long for the file system (a long first name), a link where a file goes (even
/// one that leads nowhere), a folder where --force would replace a file.
#[test]
fn output_files_that_could_not_be_written_refuse_the_issue_before_it_is_made() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let long = format!(
        "{}.{}.{}.{}.example.com",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(20)
    );
    std::os::unix::fs::symlink("nowhere", sb.file("x.example.com.key")).unwrap();
    std::fs::create_dir(sb.file("y.example.com.key")).unwrap();
    for (args, said) in [
        (vec![long.as_str()], "too long for a file name"),
        (vec!["x.example.com"], "x.example.com.key already exists"),
        (
            vec!["y.example.com", "--force"],
            "is a folder, which --force does not replace",
        ),
    ] {
        let mut all = vec!["issue", "--key", "ecdsa-p256"];
        all.extend(&args);
        let refusal = sb.refused(&all);
        assert!(refusal.contains(said), "{args:?}: {refusal}");
    }
    // A CA's data folder as --out: `root` with --force would replace its own root key. This
    // one, another CA's, and this one's through a bind mount.
    let key = std::fs::read(sb.data().join("root.key")).unwrap();
    let other = Sandbox::new();
    other.init(&[]);
    std::fs::create_dir(sb.file("alias")).unwrap();
    let alias = Mounted::bind(&sb.data(), &sb.file("alias"));
    for out in [sb.data(), other.data(), sb.file("alias")] {
        let refusal = sb.refused(&[
            "issue",
            "root",
            "--allow-internal",
            "--key",
            "ecdsa-p256",
            "--out",
            out.to_str().unwrap(),
            "--force",
        ]);
        assert!(refusal.contains("is a CA's data folder"), "{refusal}");
    }
    drop(alias);
    assert_eq!(std::fs::read(sb.data().join("root.key")).unwrap(), key);
    // The current folder removed under the command (--out is `.` by default).
    std::fs::create_dir(sb.file("gone")).unwrap();
    let mut gone = std::process::Command::new("sh");
    sb.log_env(&mut gone);
    let out = gone
        .current_dir(sb.path())
        .arg("-c")
        .arg(format!(
            "cd gone && rmdir ../gone && exec {} --data {} issue gone.example.com --key ecdsa-p256",
            env!("CARGO_BIN_EXE_ca"),
            sb.data().display()
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("was removed"), "{said}");
    assert_eq!(sb.row_count(), 0);
    // A file mounted over a file's name (a container's single-file mount): a rename
    // cannot replace it, even with --force.
    std::fs::write(sb.file("bind.example.com.key"), "").unwrap();
    std::fs::write(sb.file("elsewhere"), "mounted").unwrap();
    let mounted = Mounted::bind(&sb.file("elsewhere"), &sb.file("bind.example.com.key"));
    let refusal = sb.refused(&[
        "issue",
        "bind.example.com",
        "--key",
        "ecdsa-p256",
        "--force",
    ]);
    assert!(
        refusal.contains("is mounted there from elsewhere"),
        "{refusal}"
    );
    drop(mounted);
    assert_eq!(sb.row_count(), 0);
    // The same long name, second, names no file: it is issued.
    sb.ok(&["issue", "z.example.com", &long, "--key", "ecdsa-p256"]);
    assert_eq!(sb.row_count(), 1);
}

/// A bind mount of `from` over `to`, undone when dropped (as root, or through `sudo -n`).
/// A disk of 2 MiB of its own in `sb` (a tmpfs on its folder `disk`), and its mount, which
/// goes with the value.
fn small_disk(sb: &Sandbox) -> (PathBuf, Mounted) {
    let disk = sb.file("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Mounted::tmpfs(&disk, "2m");
    (disk, mounted)
}

/// `ca --data DATA ARGS` in `sb`, with nothing from the machine (see `Sandbox::ca_bare`).
fn ca_on(sb: &Sandbox, data: &Path, args: &[&str]) -> Output {
    sb.ca_bare()
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

/// Fills the disk under `filler` to its last page with that file, then gives `kib` back.
fn fill_disk(filler: &Path, kib: u64) {
    use std::io::Write;
    let mut file = std::fs::File::create(filler).unwrap();
    let page = [0u8; 4096];
    while file.write_all(&page).is_ok() {}
    let filled = file.metadata().unwrap().len();
    file.set_len(filled.saturating_sub(kib * 1024)).unwrap();
}

struct Mounted(PathBuf);

impl Mounted {
    fn bind(from: &Path, to: &Path) -> Mounted {
        assert!(
            crate::util::privileged("mount")
                .arg("--bind")
                .arg(from)
                .arg(to)
                .status()
                .unwrap()
                .success()
        );
        Mounted(to.to_owned())
    }

    /// A tmpfs of `size` (as `mount -o size=` takes it) on `on`.
    fn tmpfs(on: &Path, size: &str) -> Mounted {
        assert!(
            crate::util::privileged("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(on)
                .status()
                .unwrap()
                .success()
        );
        Mounted(on.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = crate::util::privileged("umount").arg(&self.0).status();
    }
}

/// Two `ca issue` of one name into one folder at once, without --force: one issues and writes
/// its files; the other waits for the folder, finds them, and is refused before it issues:
/// never a certificate in the log whose files could not be put in place (its key left under a
/// temporary name), never both saying "Wrote" and the second's replacing the first's key.
#[test]
fn two_issues_of_one_name_into_one_folder_at_once_issue_it_once() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for round in 0..8 {
        let before = sb.row_count();
        let out = sb.file(&format!("race{round}"));
        std::fs::create_dir(&out).unwrap();
        let issue = || {
            let mut cmd = sb.ca();
            cmd.args(["issue", "dup.example.com", "--key", "ecdsa-p256", "--out"])
                .arg(&out);
            cmd
        };
        let outs = at_once([issue(), issue()]);
        let wrote = outs.iter().filter(|out| out.status.success()).count();
        assert_eq!(wrote, 1, "round {round}: {outs:?}");
        assert_key_of(&out, "dup.example.com.key", "dup.example.com.crt");
        let refused = outs.iter().find(|out| !out.status.success()).unwrap();
        let said = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "round {round}: {said}");
        assert!(
            said.contains("already exists: move it away"),
            "round {round}: {said}"
        );
        assert_eq!(sb.row_count(), before + 1, "round {round}: {said}");
        let left = std::fs::read_dir(&out)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect::<Vec<_>>();
        assert!(left.is_empty(), "round {round}: {left:?}");
    }
}

/// Four `ca issue --force` of one name into one folder at once: each replaces the files, one
/// set after the other, so that what stays is one certificate's key, certificate and chain.
#[test]
fn issues_replacing_the_same_files_at_once_leave_one_certificates_files() {
    let sb = Sandbox::new();
    sb.init(&[]);
    for round in 0..12 {
        let out = sb.file(&format!("force{round}"));
        std::fs::create_dir(&out).unwrap();
        let issue = || {
            let mut cmd = sb.ca();
            cmd.args([
                "issue",
                "dup.example.com",
                "--key",
                "ecdsa-p256",
                "--force",
                "--out",
            ])
            .arg(&out);
            cmd
        };
        let outs = at_once([issue(), issue(), issue(), issue()]);
        assert!(outs.iter().all(|out| out.status.success()), "{outs:?}");
        for file in ["dup.example.com.crt", "dup.example.com-chain.pem"] {
            assert_key_of(&out, "dup.example.com.key", file);
        }
    }
}

/// Insists, by `openssl`, that the key in `dir/key` is the one whose public key the (first)
/// certificate in `dir/certificate` holds.
fn assert_key_of(dir: &Path, key: &str, certificate: &str) {
    assert_eq!(
        openssl_ok(dir, &["pkey", "-in", key, "-pubout"]),
        openssl_ok(dir, &["x509", "-in", certificate, "-noout", "-pubkey"]),
        "{key} and {certificate} in {}",
        dir.display()
    );
}

/// Runs `commands` at once and waits for each, their output captured.
fn at_once<const N: usize>(commands: [std::process::Command; N]) -> Vec<Output> {
    let children: Vec<std::process::Child> = commands
        .into_iter()
        .map(|mut command| {
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

/// A file that --out would put into a CA's data folder is refused before anything is done:
/// `ca crl --out DATA/ca.db` replaced the whole log with a CRL, `ca export ID --out
/// DATA/root.crt` the root with a leaf, both saying nothing. This CA's folder by its own path,
/// another spelling of it, a link to it, and another CA's folder; `ca sign` issues nothing.
#[test]
fn files_named_into_a_data_folder_are_refused_and_the_cas_own_files_kept() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    let other = Sandbox::new();
    other.init(&[]);
    std::os::unix::fs::symlink(sb.data(), sb.file("link")).unwrap();
    crate::util::csr(&sb, "request.csr", "web.example.com");
    let own = |data: &Path| {
        ["root.crt", "root.key", "ca.db"].map(|name| std::fs::read(data.join(name)).ok())
    };
    let (before, others_before, rows) = (own(&sb.data()), own(&other.data()), sb.row_count());
    let data = sb.data().display().to_string();
    let spelled = format!("{}/../ca-data", data);
    let others = other.data().display().to_string();
    for folder in [data.as_str(), &spelled, "link", &others] {
        for (args, file) in [
            (vec!["crl"], "ca.db"),
            (vec!["crl", "--format", "pem"], "root.crt"),
            (vec!["export", "1", "--format", "pem"], "root.crt"),
            (vec!["export", "1", "--format", "der"], "new.der"),
            (vec!["root"], "root.crt"),
            (vec!["sign", "request.csr"], "web.crt"),
        ] {
            let out = format!("{folder}/{file}");
            let mut all = args.clone();
            all.extend(["--out", out.as_str()]);
            let refusal = sb.refused(&all);
            assert!(
                refusal.contains("a CA's data folder")
                    && refusal.contains("write it somewhere else"),
                "{all:?}: {refusal}"
            );
        }
    }
    assert_eq!(own(&sb.data()), before);
    assert_eq!(own(&other.data()), others_before);
    assert!(!sb.data().join("new.der").exists() && !other.data().join("web.crt").exists());
    assert_eq!(sb.row_count(), rows, "ca sign issued nothing");
    // Elsewhere, the same commands write.
    sb.ok(&["crl", "--out", "ca.crl"]);
    sb.ok(&["export", "1", "--format", "pem", "--out", "www.pem"]);
    sb.ok(&["sign", "request.csr", "--out", "web.crt"]);
    openssl_ok(
        sb.path(),
        &["crl", "-inform", "DER", "-in", "ca.crl", "-noout"],
    );
    openssl_ok(sb.path(), &["x509", "-in", "web.crt", "-noout"]);
}

/// The folder --out names is opened once, before anything is issued: the files go into the
/// folder that was checked even when its path is changed meanwhile (its owner renames it and
/// puts a link to the CA's data folder in its place, while the command waits for the key's
/// passphrase or the request): nothing goes into the data folder, whose root key stays.
#[test]
fn files_go_into_the_folder_that_was_checked_whatever_its_path_names_meanwhile() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let key = std::fs::read(sb.data().join("root.key")).unwrap();
    let data_files = || {
        let mut names: Vec<String> = std::fs::read_dir(sb.data())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("ca.db-"))
            .collect();
        names.sort();
        names
    };
    let before = data_files();
    let fifo = sb.file("waits");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let csr = crate::util::csr(&sb, "request.csr", "web.example.com").into_bytes();
    for (round, (args, feed)) in [
        (
            vec![
                "issue",
                "root",
                "--allow-internal",
                "--key",
                "ecdsa-p256",
                "--force",
                "--key-passphrase-file",
                "waits",
                "--out",
                "swapped",
            ],
            b"a passphrase long enough\n".as_slice(),
        ),
        (
            vec![
                "sign",
                "waits",
                "--allow-internal",
                "--force",
                "--out",
                "swapped/root.crt",
            ],
            csr.as_slice(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let moved = sb.file(&format!("moved{round}"));
        std::fs::create_dir(sb.file("swapped")).unwrap();
        let command = sb
            .ca()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Waits until the command holds the pipe open for reading, past its checks.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        std::fs::rename(sb.file("swapped"), &moved).unwrap();
        std::os::unix::fs::symlink(sb.data(), sb.file("swapped")).unwrap();
        std::io::Write::write_all(&mut writer, feed).unwrap();
        drop(writer);
        let out = command.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(sb.file("swapped")).unwrap();
        assert_eq!(data_files(), before, "{args:?}");
        assert_eq!(
            std::fs::read(sb.data().join("root.key")).unwrap(),
            key,
            "{args:?}"
        );
        openssl_ok(&moved, &["x509", "-in", "root.crt", "-noout"]);
    }
    let moved = sb.file("moved0");
    assert_eq!(
        openssl_ok(
            &moved,
            &[
                "pkey",
                "-in",
                "root.key",
                "-passin",
                "pass:a passphrase long enough",
                "-pubout"
            ]
        ),
        openssl_ok(&moved, &["x509", "-in", "root.crt", "-noout", "-pubkey"])
    );
}

/// A file that holds a private key in any encoding is never written over by `--out`: DER
/// (PKCS#8 plain and encrypted, SEC1, PKCS#1), PKCS#12 under any name, and PEM however far
/// into the file the key starts (a certificate bundle before it); certificates, CRLs and
/// requests in DER are replaced as asked.
#[test]
fn a_private_key_in_any_encoding_is_never_written_over() {
    let sb = Sandbox::new();
    sb.init(&[]);
    sb.ok(&["issue", "www.example.com", "--key", "ecdsa-p256"]);
    for command in [
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem",
        "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem",
        "pkey -in ec.pem -outform DER -out pkcs8.der",
        "ec -in ec.pem -outform DER -out sec1.der",
        "rsa -in rsa.pem -traditional -outform DER -out pkcs1.der",
        "pkcs8 -topk8 -in ec.pem -outform DER -passout pass:secret -out encrypted.der",
        "pkcs12 -export -inkey rsa.pem -nocerts -passout pass:secret -out bundle.bin",
        "x509 -in www.example.com.crt -outform DER -out cert.der",
        "req -new -key ec.pem -subj /CN=x.example.com -outform DER -out request.der",
    ] {
        let args: Vec<&str> = command.split(' ').collect();
        openssl_ok(sb.path(), &args);
    }
    let chain = std::fs::read_to_string(sb.file("www.example.com-chain.pem")).unwrap();
    let ec = std::fs::read_to_string(sb.file("ec.pem")).unwrap();
    std::fs::write(sb.file("bundle.pem"), format!("{}{ec}", chain.repeat(60))).unwrap();
    assert!(chain.len() * 60 > 64 * 1024);
    // As other tools leave them: a line break or more after the DER, BER's indefinite
    // length (older Windows and Java PKCS#12), UTF-16 PEM, a Java key store, a PGP key.
    let der = |name: &str| std::fs::read(sb.file(name)).unwrap();
    let trailing = |name: &str, tail: &[u8]| [der(name), tail.to_vec()].concat();
    let indefinite = |name: &str| {
        let der = der(name);
        let header = if der[1] < 0x80 {
            2
        } else {
            2 + usize::from(der[1] & 0x7f)
        };
        [&[0x30, 0x80][..], &der[header..], &[0, 0]].concat()
    };
    let utf16: Vec<u8> = ec.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (name, bytes) in [
        ("trailing.der", trailing("pkcs8.der", b"\0\0more")),
        ("pfx-and-line.bin", trailing("bundle.bin", b"\n")),
        ("sec1.ber", indefinite("sec1.der")),
        ("pkcs12.ber", indefinite("bundle.bin")),
        ("utf16.pem", [&[0xff, 0xfe][..], &utf16].concat()),
        (
            "store.jks",
            vec![0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 1],
        ),
        (
            "pgp.asc",
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF...\n".to_vec(),
        ),
    ] {
        std::fs::write(sb.file(name), bytes).unwrap();
    }
    openssl_ok(
        sb.path(),
        &["ec", "-inform", "DER", "-in", "sec1.ber", "-noout"],
    );
    let keys = [
        "pkcs8.der",
        "sec1.der",
        "pkcs1.der",
        "encrypted.der",
        "bundle.bin",
        "bundle.pem",
        "trailing.der",
        "pfx-and-line.bin",
        "sec1.ber",
        "pkcs12.ber",
        "utf16.pem",
        "store.jks",
        "pgp.asc",
    ];
    for key in keys {
        let before = std::fs::read(sb.file(key)).unwrap();
        for args in [
            vec!["root", "--format", "der"],
            vec!["crl"],
            vec!["export", "1", "--format", "der"],
        ] {
            let mut all = args.clone();
            all.extend(["--out", key]);
            let refusal = sb.refused(&all);
            assert!(
                refusal.contains("holds a private key"),
                "{all:?}: {refusal}"
            );
        }
        assert_eq!(std::fs::read(sb.file(key)).unwrap(), before, "{key}");
    }
    sb.ok(&["root", "--format", "der", "--out", "cert.der"]);
    sb.ok(&["crl", "--out", "request.der"]);
    assert_eq!(
        openssl_ok(sb.path(), &["x509", "-inform", "DER", "-in", "cert.der"]),
        std::fs::read_to_string(sb.data().join("root.crt")).unwrap()
    );
    openssl_ok(
        sb.path(),
        &["crl", "-inform", "DER", "-in", "request.der", "-noout"],
    );
}

/// A command that writes a set of files holds a lock on their folder from its check that the
/// names are free to their placing; a lock held by another process (a folder's owner, on
/// purpose) stops the command after a few seconds, not for good, and before it issues: nothing
/// in the log, nothing left in the folder.
#[test]
fn a_folder_locked_by_another_process_does_not_stall_an_issue_for_good() {
    let sb = Sandbox::new();
    sb.init(&[]);
    let folder = sb.file("held");
    std::fs::create_dir(&folder).unwrap();
    let held = std::fs::File::open(&folder).unwrap();
    held.lock().unwrap();
    let started = std::time::Instant::now();
    let mut command = sb
        .ca()
        .args([
            "issue",
            "held.example.com",
            "--key",
            "ecdsa-p256",
            "--out",
            "held",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while command.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = started.elapsed();
    let _ = command.kill();
    let out = command.wait_with_output().unwrap();
    drop(held);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        waited < Duration::from_secs(60),
        "still waiting after {waited:?}"
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("locked"), "{said}");
    assert_eq!(sb.row_count(), 0);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0, "{said}");
}

/// Ctrl-C or SIGTERM while `ca issue` waits for the log's write lock (another process holds
/// it), its new key already written under a temporary name: the wait is given up, the key
/// removed, nothing issued, exit status 130 with a sentence that says so. A signal it was
/// started ignoring stays ignored, and the issuance goes on once the log is free.
#[test]
fn a_signal_while_an_issue_waits_for_the_log_removes_its_key_and_issues_nothing() {
    use std::io::{BufRead, Write};
    let sb = Sandbox::new();
    sb.init(&[]);
    if sb.on_postgres() {
        // The write lock held here is SQLite's.
        return;
    }
    // Another process holds the log's write lock until its standard input closes.
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('held', flush=True)\nsys.stdin.read()",
        ])
        .arg(sb.data().join("ca.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let out = sb.file("out");
    std::fs::create_dir(&out).unwrap();
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    // `ca issue` started (by a shell that first sets `ignoring` to be ignored, as `nohup`
    // does SIGHUP), once its key is written and it waits for the log. The signals are first
    // set back to their defaults: a suite run in the background has SIGINT ignored, and so
    // would the command.
    let waiting = |ignoring: Option<&str>| {
        let mut cmd = std::process::Command::new("/usr/bin/env");
        crate::util::isolate(&mut cmd);
        sb.log_env(&mut cmd);
        let trap = ignoring.map_or(String::new(), |signal| format!("trap '' {signal}; "));
        let child = cmd
            .current_dir(sb.path())
            .args(["--default-signal=INT,TERM,HUP", "sh"])
            .args(["-c", &format!("{trap}exec \"$0\" \"$@\"")])
            .arg(env!("CARGO_BIN_EXE_ca"))
            .arg("--data")
            .arg(sb.data())
            .args([
                "issue",
                "wait.example.com",
                "--key",
                "ecdsa-p256",
                "--out",
                "out",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !names(&out).iter().any(|name| name.ends_with(".tmp")) {
            assert!(std::time::Instant::now() < deadline, "no key was written");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        child
    };
    let send = |signal: &str, child: &std::process::Child| {
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    for signal in ["INT", "TERM"] {
        let child = waiting(None);
        let started = std::time::Instant::now();
        send(signal, &child);
        let output = child.wait_with_output().unwrap();
        let took = started.elapsed();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{signal}: {said}");
        assert!(
            said.contains("interrupted before the certificate was issued: nothing was issued, and the new key was removed"),
            "{signal}: {said}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{signal}: stopped after {took:?}"
        );
        assert!(names(&out).is_empty(), "{signal}: left {:?}", names(&out));
    }
    assert_eq!(sb.row_count(), 0, "nothing was issued");
    // A signal the command was started ignoring (`nohup`'s SIGHUP) stays ignored: it goes on
    // waiting, and issues once the log is free.
    let mut child = waiting(Some("HUP"));
    send("HUP", &child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stopped by an ignored signal"
    );
    holder.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(holder.wait().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(sb.row_count(), 1);
    let mut placed = names(&out);
    placed.sort();
    assert_eq!(
        placed,
        [
            "wait.example.com-chain.pem",
            "wait.example.com.crt",
            "wait.example.com.key"
        ]
    );
}
