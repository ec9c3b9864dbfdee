//! Links GCC's unwinder into the `ca` binary, as `gcc -static-libgcc` does for a C++ program,
//! instead of loading libgcc_s.so.1 at every start. Loading it cost each command ~0.25 ms of
//! its ~5.5 ms (`ca issue`, BENCHMARKS.md): mapping and relocating one more library, and its
//! constructor's CPU-feature probe, whose `cpuid` instructions trap to the hypervisor on a
//! virtual machine. Rust asks the linker for `-lgcc_s` on GNU/Linux; a linker script of that
//! name in a folder searched first hands it GCC's static unwinder (libgcc_eh.a) instead. Panics
//! unwind as before (the web server catches a handler's panic; tests/cli.rs checks both).
//!
//! Done only where it is known to work: a native GNU/Linux build whose C compiler (the linker
//! driver rustc runs) has libgcc_eh.a. Anywhere else the binary loads libgcc_s.so.1 as usual.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native_gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("HOST") == var("TARGET");
    // With crt-static, Rust links the static unwinder itself and asks for no libgcc_s.
    let crt_static = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|feature| feature == "crt-static");
    if !native_gnu_linux || crt_static {
        return;
    }
    let Some(unwinder) = static_unwinder() else {
        return;
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let script = format!("INPUT(\"{}\")\n", unwinder.display());
    if std::fs::write(out.join("libgcc_s.so"), script).is_ok() {
        println!("cargo:rustc-link-search=native={}", out.display());
    }
}

/// The absolute path of libgcc_eh.a as the linker driver finds it (`cc`, or the linker Cargo
/// was told to use), if it has one.
fn static_unwinder() -> Option<PathBuf> {
    let driver = std::env::var_os("RUSTC_LINKER").unwrap_or_else(|| "cc".into());
    let output = Command::new(driver)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    let usable = output.status.success()
        && path.is_absolute()
        && path.is_file()
        && !path.to_string_lossy().contains('"');
    usable.then_some(path)
}
