//! Stamps the git commit into the library so that `:checkhealth conductor` can tell a
//! library built from another checkout (a stale build) from the current one, and adds
//! the linker arguments the target OS needs for the library (see src/core/platform/link_args.rs).
use std::process::Command;

#[path = "src/core/platform/link_args.rs"]
mod link_args;

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    for arg in link_args::link_args(&target_os) {
        println!("cargo:rustc-cdylib-link-arg={arg}");
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
    // Tests that need something from outside (the agent CLIs, telescope checkouts) are
    // marked ignored, with the reason, when it is not there — not "ok" after skipping.
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    for (cfg, vars) in [
        ("conductor_real_agents", &["CONDUCTOR_REAL_AGENTS"][..]),
        (
            "conductor_telescope",
            &["CONDUCTOR_TELESCOPE", "CONDUCTOR_PLENARY"][..],
        ),
    ] {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
        for var in vars {
            println!("cargo:rerun-if-env-changed={var}");
        }
        if vars.iter().all(|v| set(v)) {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
