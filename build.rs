//! Links the `ca` binary with its relative relocations packed (DT_RELR) where the toolchain
//! and the C library take them (GNU ld 2.38 or later, glibc 2.36 or later: Debian 12 on).
//!
//! `ca` is a position-independent executable whose 23,000 relative relocations (pointers in
//! its read-only data: vtables, tables of names) the dynamic loader reads and applies at every
//! start. Packed, their table is 6 KB instead of 550 KB, and a command that runs once
//! (`ca issue`) spends ~0.3 ms less CPU starting (BENCHMARKS.md). A binary linked so needs a C
//! library that knows the format, so it is linked so only when a program linked the same way
//! here also runs here: with an older linker or C library, `ca` is linked as before.

use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let variable = |name: &str| std::env::var(name).unwrap_or_default();
    // A program linked for another machine cannot be run here to check it.
    let (target, host) = (variable("TARGET"), variable("HOST"));
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    if packs_relative_relocations(Path::new(&out)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// True when a position-independent program with a relative relocation, linked with its
/// relocations packed by the C compiler that links Rust programs here (`cc`, or `$CC`), links
/// without a warning and runs.
fn packs_relative_relocations(dir: &Path) -> bool {
    let source = dir.join("relr-probe.c");
    let program = dir.join("relr-probe");
    let text = "static int value;\nint *pointer = &value;\nint main(void) { return *pointer; }\n";
    if std::fs::write(&source, text).is_err() {
        return false;
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let quiet = |command: &mut Command| {
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    quiet(
        Command::new(compiler)
            .args(["-fPIE", "-pie", "-Wl,--fatal-warnings"])
            .arg("-Wl,-z,pack-relative-relocs")
            .arg(&source)
            .arg("-o")
            .arg(&program),
    ) && quiet(&mut Command::new(&program))
}
