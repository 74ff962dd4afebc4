//! A plugin updated without rebuilding its library: the first command says so, with
//! the build command. The plugin here is a git checkout of its own (as lazy.nvim makes
//! it) whose HEAD is not the commit the library was built from.

use std::path::Path;
use std::process::Command;

use crate::common::{copy_dir, git, nvim::engine, nvim::library, nvim::nvim};

#[test]
fn first_command_warns_about_a_stale_library() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("conductor.nvim");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("lua"), &plugin.join("lua"));
    copy_dir(&root.join("plugin"), &plugin.join("plugin"));
    std::fs::create_dir_all(plugin.join("target/release")).unwrap();
    let ext = if cfg!(target_os = "macos") {
        "dylib"
    } else {
        "so"
    };
    std::fs::copy(
        library(),
        plugin.join(format!("target/release/libconductor_core.{ext}")),
    )
    .unwrap();
    git(&plugin, &["init", "-q"]);
    git(&plugin, &["add", "."]);
    git(&plugin, &["commit", "-qm", "a newer plugin"]);
    let head = git(&plugin, &["rev-parse", "--short=12", "HEAD"]);

    let out = Command::new(nvim())
        .args(["--headless", "-u", "NONE", "-i", "NONE", "--cmd"])
        .arg(format!("set rtp^={}", plugin.display()))
        .args([
            "-c",
            "lua require('conductor.engine').ensure()",
            "-c",
            "sleep 100m",
            "-c",
            "lua io.stderr:write(vim.fn.execute('messages'))",
            "-c",
            "qa!",
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env_remove("CONDUCTOR_LIB")
        // An engine this Neovim may start goes away by itself soon after.
        .env("CONDUCTOR_ENGINE", engine())
        .env("CONDUCTOR_ENGINE_IDLE_MS", "2000")
        .output()
        .unwrap();
    let messages = String::from_utf8_lossy(&out.stderr);
    assert!(
        messages.contains("the engine library was built from"),
        "{messages}"
    );
    assert!(
        messages.contains(&format!("but the plugin is at {head}")),
        "{messages}"
    );
    assert!(
        messages.contains(&format!(
            "run `cargo build --release` in {}",
            plugin.display()
        )),
        "{messages}"
    );
}
