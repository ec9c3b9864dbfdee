//! `ca` installed like a server: the man pages (`man -l`) and the completion scripts loaded by
//! their shells.

use std::process::{Command, Stdio};

use crate::util::Sandbox;

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
