//! `ca` installed like a server: the man pages (`man -l`), the completion scripts loaded by
//! their shells, and the Debian package built from the binary under test, installed with
//! `dpkg -i`, upgraded, removed and purged on this machine, with its systemd unit checked by
//! `systemd-analyze`.
//!
//! The package test installs into /usr, /etc and /var/lib: it needs root (or `sudo -n`), and
//! refuses to run where a package or data folder of `ca` is already installed, so that it
//! never purges a CA someone uses. It packages the debug binary the tests already built
//! (copied into a target folder of its own as `release/ca`), so CI builds no release binary
//! for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::{Sandbox, Server};

/// Runs `cmd`, insists it succeeds, and returns its standard output.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|err| {
        panic!("{cmd:?} cannot run ({err}): tests/run installs what the tests need")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_man_pages_are_read_by_man() {
    let sb = Sandbox::new();
    let dir = sb.file("man/man1");
    let said = sb.ok(&["man", dir.to_str().unwrap()]);
    assert!(said.contains("manual pages into"), "{said}");
    let page = |name: &str| {
        let mut cmd = Command::new("man");
        cmd.arg("-l").arg(dir.join(name)).env("MANWIDTH", "100");
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .expect("man (tests/run installs man-db)");
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            out.stderr.is_empty(),
            "man -l {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ca = page("ca.1");
    for wanted in [
        "ca-serve(1)",
        "ca-user(1)",
        "EXIT STATUS",
        "CA_PASSPHRASE",
        "CREDENTIALS_DIRECTORY",
        "/etc/ca/ca.toml",
    ] {
        assert!(ca.contains(wanted), "ca(1) lacks {wanted}: {ca}");
    }
    let serve = page("ca-serve.1");
    for wanted in [
        "--config <FILE>",
        "--hostname <NAME>",
        "CONFIGURATION FILE",
        "hostname = [\"mail.example.com\"]",
        "SIGHUP",
        "SIGTERM",
    ] {
        assert!(
            serve.contains(wanted),
            "ca-serve(1) lacks {wanted}: {serve}"
        );
    }
    assert!(page("ca-user-add.1").contains("--role"));
    assert!(dir.join("ca-config-set.1").exists());

    // A folder that cannot be made is refused.
    std::fs::write(sb.file("a-file"), "x").unwrap();
    let stderr = sb.refused(&["man", sb.file("a-file/man1").to_str().unwrap()]);
    assert!(stderr.contains("cannot make the folder"), "{stderr}");
    // A file given as the folder is named as what it is.
    let stderr = sb.refused(&["man", sb.file("a-file").to_str().unwrap()]);
    assert!(stderr.contains("a-file is not a folder"), "{stderr}");
}

#[test]
fn each_completion_script_is_loaded_by_its_shell() {
    let sb = Sandbox::new();
    let script = |shell: &str| {
        let path = sb.file(&format!("completion.{shell}"));
        std::fs::write(&path, sb.ok(&["completions", shell])).unwrap();
        path
    };
    // bash: registered for ca, and offers the commands and a command's flags.
    let bash = script("bash");
    let offered = ok(Command::new("bash").arg("-c").arg(format!(
        "source {}; complete -p ca; \
         COMP_WORDS=(ca se); COMP_CWORD=1; _ca ca se ca; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(ca serve --h); COMP_CWORD=2; _ca ca --h serve; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bash.display()
    )));
    assert!(offered.contains(" -F _ca ca"), "{offered}");
    let lines: Vec<&str> = offered.lines().collect();
    for wanted in ["serve", "--http", "--https", "--hostname"] {
        assert!(lines.contains(&wanted), "bash offers {wanted}: {offered}");
    }
    // zsh: compinit loads _ca from $fpath, and sourcing it defines the completer.
    let zsh_dir = sb.file("zsh");
    std::fs::create_dir(&zsh_dir).unwrap();
    std::fs::write(zsh_dir.join("_ca"), sb.ok(&["completions", "zsh"])).unwrap();
    let out = Command::new("zsh")
        .arg("-fc")
        .arg(format!(
            "fpath=({} $fpath); autoload -U compinit; compinit -u -D; print -r -- ${{_comps[ca]}}; \
             source {}/_ca; (( $+functions[_ca] )) && print defined",
            zsh_dir.display(),
            zsh_dir.display()
        ))
        .stdin(Stdio::null())
        .output()
        .expect("zsh (tests/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["_ca", "defined"],
        "{text}"
    );
    // fish: the script loads without an error, and completes commands, flags and values.
    let fish = script("fish");
    let out = Command::new("fish")
        .args(["--no-config", "-c"])
        .arg(format!(
            "source {}; complete -C 'ca se'; complete -C 'ca serve --h'; complete -C 'ca issue x --pfx-profile '",
            fish.display()
        ))
        .stdin(Stdio::null())
        .output()
        .expect("fish (tests/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "fish loads the script cleanly: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words: Vec<&str> = text
        .lines()
        .map(|line| line.split('\t').next().unwrap())
        .collect();
    for wanted in [
        "serve",
        "--http",
        "--https",
        "--hostname",
        "compat",
        "modern",
    ] {
        assert!(words.contains(&wanted), "fish offers {wanted}: {text}");
    }
    // PowerShell is not in Debian's archive: its script registers a completer for ca.
    let ps = std::fs::read_to_string(script("powershell")).unwrap();
    assert!(
        ps.contains("Register-ArgumentCompleter -Native -CommandName 'ca'"),
        "{ps}"
    );
    // An unknown shell is bad usage.
    let stderr = sb.refused(&["completions", "tcsh"]);
    assert!(stderr.contains("bash"), "{stderr}");
}

/// `args` run as root: directly when the tests run as root (as on CI), else through `sudo -n`.
fn as_root(args: &[&str]) -> Command {
    let mut cmd = if rustix::process::getuid().is_root() {
        Command::new(args[0])
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("-n").arg(args[0]);
        sudo
    };
    cmd.args(&args[1..])
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

fn root_ok(args: &[&str]) -> String {
    ok(&mut as_root(args))
}

fn root_run(args: &[&str]) -> Output {
    as_root(args).stdin(Stdio::null()).output().unwrap()
}

/// Mode (octal), owner and group of `path`, by `stat`.
fn stat(path: &str) -> String {
    root_ok(&["stat", "-c", "%a %U %G %F", path])
        .trim()
        .to_owned()
}

fn exists(path: &str) -> bool {
    root_run(&["test", "-e", path]).status.success()
}

/// The state dpkg records for the package `ca`, empty when it knows none.
fn package_state() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status} ${Version}", "ca"])
        .stdin(Stdio::null())
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Builds the package of the binary under test as version 0.1.0-`revision` into `out`.
fn build_package(target: &Path, out: &Path, revision: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The cargo that runs these tests, first in PATH: a wrapper that queues cargo commands
    // behind a lock would wait for this very test run.
    let cargo_dir = Path::new(env!("CARGO")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(cargo_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    ok(Command::new(repo.join("packaging/build-deb"))
        .current_dir(repo)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target)
        .args([
            "--no-build",
            "--fast",
            "--quiet",
            "--deb-revision",
            revision,
            "--output",
        ])
        .arg(out));
    let deb = out.join(format!("ca_0.1.0-{revision}_amd64.deb"));
    assert!(deb.exists(), "{deb:?}");
    deb
}

/// Puts the machine back as the test found it, whatever happened: the package purged, the
/// data folder it made and the user it created removed.
struct Cleanup {
    user_existed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = root_run(&["dpkg", "--purge", "ca"]);
        let _ = root_run(&["rm", "-rf", "/var/lib/ca", "/etc/ca"]);
        if !self.user_existed {
            let _ = root_run(&["userdel", "ca"]);
            let _ = root_run(&["groupdel", "ca"]);
        }
    }
}

#[test]
fn the_debian_package_installs_upgrades_and_purges_cleanly() {
    if !rustix::process::getuid().is_root() {
        assert!(
            root_run(&["true"]).status.success(),
            "the package test installs into /usr, /etc and /var/lib: run the tests as root, or with sudo that needs no password"
        );
    }
    // Never on a machine where ca is installed for real.
    let before = package_state();
    assert!(
        before.is_empty() || before.starts_with("unknown ok not-installed"),
        "the package ca is on this machine ({before}); this test installs and purges it: remove it first (`dpkg --purge ca`) if it is not a CA you use"
    );
    for path in ["/var/lib/ca", "/etc/ca"] {
        assert!(
            !exists(path),
            "{path} exists; this test installs and purges the package ca: move it away first"
        );
    }
    let user_existed = Command::new("getent")
        .args(["passwd", "ca"])
        .output()
        .unwrap()
        .status
        .success();

    // Two versions of the package of the binary under test.
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let target = scratch.path().join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_ca"), target.join("release/ca")).unwrap();
    let debs = scratch.path().join("debs");
    let first = build_package(&target, &debs, "1");
    let second = build_package(&target, &debs, "2");
    let info = ok(Command::new("dpkg-deb").arg("-I").arg(&first));
    assert!(
        info.contains("adduser") && info.contains("init-system-helpers"),
        "{info}"
    );
    let conffiles = ok(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&first)
        .arg("conffiles"));
    assert_eq!(conffiles.trim(), "/etc/ca/ca.toml");

    let _cleanup = Cleanup { user_existed };
    root_ok(&["dpkg", "-i", first.to_str().unwrap()]);
    assert_eq!(package_state(), "install ok installed 0.1.0-1");

    // Files, owners and modes.
    assert_eq!(stat("/usr/bin/ca"), "755 root root regular file");
    assert!(ok(Command::new("/usr/bin/ca").arg("--version")).starts_with("ca 0.1.0"));
    assert_eq!(
        stat("/usr/lib/systemd/system/ca.service"),
        "644 root root regular file"
    );
    assert_eq!(stat("/etc/ca/ca.toml"), "640 root ca regular file");
    assert_eq!(stat("/var/lib/ca"), "700 ca ca directory");
    for page in ["ca.1.gz", "ca-serve.1.gz", "ca-user-add.1.gz"] {
        assert_eq!(
            stat(&format!("/usr/share/man/man1/{page}")),
            "644 root root regular file"
        );
    }
    for script in [
        "/usr/share/bash-completion/completions/ca",
        "/usr/share/zsh/vendor-completions/_ca",
        "/usr/share/fish/vendor_completions.d/ca.fish",
        "/usr/share/ca/completions/ca.ps1",
    ] {
        assert_eq!(stat(script), "644 root root regular file");
    }
    let account = ok(Command::new("getent").args(["passwd", "ca"]));
    let fields: Vec<&str> = account.trim().split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "a system user: {account}");
    assert_eq!(fields[5], "/var/lib/ca", "{account}");
    assert!(fields[6].ends_with("nologin"), "{account}");
    // The installed page is found by name; the installed bash completion loads.
    let page = ok(Command::new("man").arg("ca-serve").env("MANWIDTH", "100"));
    assert!(page.contains("CONFIGURATION FILE"), "{page}");
    let complete = ok(Command::new("bash")
        .arg("-c")
        .arg("source /usr/share/bash-completion/completions/ca; complete -p ca"));
    assert!(complete.contains("_ca"), "{complete}");

    // The unit: what the issue of hardening asks, verified and rated by systemd.
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/ca.service").unwrap();
    for directive in [
        "User=ca",
        "StateDirectory=ca",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "UMask=0077",
        "LoadCredential=ca.passphrase",
        "ExecStart=/usr/bin/ca serve --config /etc/ca/ca.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            unit.lines().any(|line| line == directive),
            "the unit has {directive}"
        );
    }
    assert!(
        !unit.contains("EnvironmentFile") && !unit.contains("CA_PASSPHRASE"),
        "the passphrase never comes from the environment"
    );
    let verify = Command::new("systemd-analyze")
        .args(["verify", "/usr/lib/systemd/system/ca.service"])
        .stdin(Stdio::null())
        .output()
        .expect("systemd-analyze (tests/run installs systemd)");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{complaints}");
    assert!(
        !complaints.contains("ca.service"),
        "systemd-analyze verify: {complaints}"
    );
    let rating = ok(Command::new("systemd-analyze").args([
        "security",
        "--offline=yes",
        "--no-pager",
        "/usr/lib/systemd/system/ca.service",
    ]));
    let overall = rating
        .lines()
        .find(|line| line.contains("Overall exposure level for ca.service"))
        .unwrap_or_else(|| panic!("{rating}"));
    let level: Vec<&str> = overall
        .rsplit(':')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(
        ["SAFE", "OK", "MEDIUM"].contains(&level[1]),
        "exposure at most MEDIUM: {overall}"
    );

    // The administrator edits the configuration; an upgrade keeps the edit.
    let edited = std::fs::read_to_string("/etc/ca/ca.toml")
        .unwrap()
        .replace("http = \"127.0.0.1:8080\"", "http = \"127.0.0.1:0\"")
        .replace("https = \"127.0.0.1:8443\"", "https = \"127.0.0.1:0\"")
        .replace("hostname = []", "hostname = [\"localhost\"]");
    assert!(edited.contains("127.0.0.1:0") && edited.contains("[\"localhost\"]"));
    let mut tee = as_root(&["tee", "/etc/ca/ca.toml"]);
    let mut child = tee
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(edited.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    // An owner and mode the administrator chose are kept too.
    root_ok(&["chown", "ca:ca", "/etc/ca/ca.toml"]);
    root_ok(&["chmod", "0600", "/etc/ca/ca.toml"]);
    root_ok(&["dpkg", "-i", second.to_str().unwrap()]);
    assert_eq!(package_state(), "install ok installed 0.1.0-2");
    assert_eq!(
        root_ok(&["cat", "/etc/ca/ca.toml"]),
        edited,
        "the conffile is kept"
    );
    assert!(!exists("/etc/ca/ca.toml.dpkg-dist") && !exists("/etc/ca/ca.toml.dpkg-new"));
    assert_eq!(stat("/etc/ca/ca.toml"), "600 ca ca regular file");

    // The service's command, as the user ca, reads /etc/ca/ca.toml by default. (setpriv
    // and env exec it, so that the signals the test sends reach it.)
    let mut serve = if rustix::process::getuid().is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "ca", "--regid", "ca", "--init-groups"]);
        cmd
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", "-u", "ca", "--"]);
        cmd
    };
    serve
        .current_dir("/")
        .args(["env", "-i", "PATH=/usr/bin:/bin", "/usr/bin/ca", "serve"])
        .stdin(Stdio::null());
    let server = Server::spawn(serve);
    let banner = server.banner.join("\n");
    assert!(
        banner.contains("Configuration from /etc/ca/ca.toml"),
        "{banner}"
    );
    assert!(banner.contains("in /var/lib/ca"), "{banner}");
    assert!(banner.contains("(certificate for localhost"), "{banner}");
    let root = reqwest::blocking::get(format!(
        "{}/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Enc=b64",
        server.http
    ))
    .unwrap()
    .text()
    .unwrap();
    assert_eq!(root, root_ok(&["cat", "/var/lib/ca/root.crt"]));
    assert!(server.stop().success());
    assert_eq!(stat("/var/lib/ca/root.key"), "600 ca ca regular file");
    assert_eq!(stat("/var/lib/ca/ca.db").split(' ').nth(1), Some("ca"));

    // Removed: the programs go, the configuration and the CA stay.
    root_ok(&["dpkg", "-r", "ca"]);
    assert!(package_state().starts_with("deinstall ok config-files"));
    for gone in [
        "/usr/bin/ca",
        "/usr/lib/systemd/system/ca.service",
        "/usr/share/man/man1/ca.1.gz",
        "/usr/share/bash-completion/completions/ca",
    ] {
        assert!(!exists(gone), "{gone} is removed");
    }
    assert_eq!(root_ok(&["cat", "/etc/ca/ca.toml"]), edited);
    assert!(exists("/var/lib/ca/root.key"));

    // Purged: the configuration goes; a data folder that holds a CA is kept, and said so.
    let purge = root_run(&["dpkg", "--purge", "ca"]);
    let said = String::from_utf8_lossy(&purge.stderr);
    assert!(purge.status.success(), "{said}");
    assert!(
        said.contains("kept /var/lib/ca, which holds a CA"),
        "{said}"
    );
    assert!(!exists("/etc/ca"));
    assert!(exists("/var/lib/ca/root.key"));
    let state = package_state();
    assert!(
        state.is_empty() || state.starts_with("unknown ok not-installed"),
        "{state}"
    );
}
