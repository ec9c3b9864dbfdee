//! Links GCC's unwinder into the `ca` binary, as `gcc -static-libgcc` does for a C++ program,
//! instead of loading libgcc_s.so.1 at every start. Loading it cost each command ~0.25 ms of
//! its ~5.5 ms (`ca issue`, BENCHMARKS.md): mapping and relocating one more library, and its
//! constructor's CPU-feature probe, whose `cpuid` instructions trap to the hypervisor on a
//! virtual machine. Rust asks the linker for `-lgcc_s` on GNU/Linux (and links without the C
//! compiler's default libraries); a linker script of that name in a folder searched first
//! hands it GCC's static unwinder (libgcc_eh.a) and GCC's support library (libgcc.a, which
//! GCC's own libgcc_s.so script names too) instead. Panics unwind as before (the web server
//! catches a handler's panic; tests/cli.rs checks the binary and the unwinding).
//!
//! The unwinder of GCC 12 and later finds its tables with glibc's `_dl_find_object`, so a
//! binary built with one needs glibc 2.35 (Debian 12 has 2.36); the symbol's version says so,
//! and the Debian package's dependency on libc6 follows it (dpkg-shlibdeps reads it).
//!
//! Done only where it is known to work: a native GNU/Linux build whose C compiler (the linker
//! driver rustc runs) has both archives. Anywhere else the binary loads libgcc_s.so.1 as usual.

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
    let (Some(unwinder), Some(support)) = (
        driver_file("-print-file-name=libgcc_eh.a"),
        driver_file("-print-libgcc-file-name"),
    ) else {
        return;
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    // Found again after a compiler upgrade moves them.
    println!("cargo:rerun-if-changed={}", unwinder.display());
    println!("cargo:rerun-if-changed={}", support.display());
    let script = format!(
        "GROUP ( \"{}\" \"{}\" )\n",
        unwinder.display(),
        support.display()
    );
    if std::fs::write(out.join("libgcc_s.so"), script).is_ok() {
        println!("cargo:rustc-link-search=native={}", out.display());
    }
}

/// The absolute path of a file of the C compiler's that the linker driver (`cc`, or the linker
/// Cargo was told to use) prints when asked with `option`, if it has it.
fn driver_file(option: &str) -> Option<PathBuf> {
    let driver = std::env::var_os("RUSTC_LINKER").unwrap_or_else(|| "cc".into());
    let output = Command::new(driver).arg(option).output().ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    let usable = output.status.success()
        && path.is_absolute()
        && path.is_file()
        && !path.to_string_lossy().contains('"');
    usable.then_some(path)
}
