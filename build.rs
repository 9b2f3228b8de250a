//! Release link of the `lilt` binary: places the functions listed in `link-order.txt`
//! (what start-up and `alpha tiltfile-result` run, written by `scripts/link-order.sh`)
//! next to each other, so a short-lived `lilt` maps a few hundred KB of code instead of
//! most of its text section. Names missing from a build are skipped silently.

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=LILT_NO_LINK_ORDER");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // rust-lld is this target's default linker (Rust 1.90+); GNU ld has no such option.
    let lld_default = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let opted_out = std::env::var_os("LILT_NO_LINK_ORDER").is_some();
    if !release || !lld_default || opted_out {
        return;
    }
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link-order.txt");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
