//! Stamps the git commit into the library so that `:checkhealth conductor` can tell a
//! library built from another checkout (a stale build) from the current one, and adds
//! the linker arguments the target OS needs (see src/core/platform/link_args.rs).
use std::process::Command;

#[path = "src/core/platform/link_args.rs"]
mod link_args;

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    for arg in link_args::link_args(&target_os) {
        println!("cargo:rustc-link-arg={arg}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CONDUCTOR_COMMIT={commit}");
    for path in [
        ".git/HEAD",
        ".git/refs/heads",
        ".git/packed-refs",
        "src/core/platform/link_args.rs",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
