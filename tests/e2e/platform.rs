//! What `:checkhealth conductor` says about the platform and the engine library, and the
//! library names the loader tries (macOS builds `.dylib`; a copy renamed `.so` works too).
//! Runs a real headless Neovim on a plugin copy laid out as a plugin manager installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::copy_dir;
use crate::common::nvim::{engine, library, nvim};

/// Runs `:checkhealth conductor` (and `extra` Lua) on the plugin at `plugin`; returns what
/// it wrote to stderr.
fn health(home: &Path, plugin: &Path, lib: Option<&Path>, extra: &str) -> String {
    let mut cmd = Command::new(nvim());
    cmd.args(["--headless", "-u", "NONE", "-i", "NONE", "--cmd"])
        .arg(format!("set rtp^={}", plugin.display()))
        .args([
            "-c",
            "checkhealth conductor",
            "-c",
            "lua io.stderr:write(table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n'))",
            "-c",
            &format!("lua {extra}"),
            "-c",
            "qa!",
        ])
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env_remove("CONDUCTOR_LIB")
        // An engine this Neovim may start goes away by itself soon after.
        .env("CONDUCTOR_ENGINE", engine())
        .env("CONDUCTOR_ENGINE_IDLE_MS", "2000");
    if let Some(lib) = lib {
        cmd.env("CONDUCTOR_LIB", lib);
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plugin_copy(dir: &Path) -> PathBuf {
    let plugin = dir.join("conductor.nvim");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("lua"), &plugin.join("lua"));
    copy_dir(&root.join("plugin"), &plugin.join("plugin"));
    plugin
}

#[test]
fn health_names_platform_library_and_the_exact_dlopen_error() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let plugin = plugin_copy(dir.path());
    let sysname = String::from_utf8(Command::new("uname").arg("-s").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();

    // Not a library at all: the report carries the loader's own message for it.
    let bogus = dir.path().join("libconductor_core.so");
    std::fs::write(&bogus, "not a shared library\n".repeat(20)).unwrap();
    let report = health(
        &home,
        &plugin,
        Some(&bogus),
        &format!(
            "local _, err = package.loadlib({:?}, 'luaopen_conductor_core') io.stderr:write('\\nLOADLIB=' .. err .. '\\n')",
            bogus.display().to_string()
        ),
    );
    assert!(
        report.contains(&format!("platform: {sysname} ")),
        "{report}"
    );
    let loadlib = report
        .lines()
        .find_map(|l| l.strip_prefix("LOADLIB="))
        .expect("loadlib error printed");
    assert!(!loadlib.is_empty());
    assert!(
        report.contains(&format!("dlopen error for {}: {loadlib}", bogus.display())),
        "{report}"
    );
    assert!(report.contains("engine library not loaded"), "{report}");

    // Built where cargo puts it: the report names the library it loaded.
    std::fs::create_dir_all(plugin.join("target/release")).unwrap();
    let name = library().file_name().unwrap().to_owned();
    let built = plugin.join("target/release").join(name);
    std::fs::copy(library(), &built).unwrap();
    let report = health(
        &home,
        &plugin,
        None,
        "io.stderr:write('\\nMAC=' .. table.concat(require('conductor.engine').candidates(true), ' ') .. '\\nOTHER=' .. table.concat(require('conductor.engine').candidates(false), ' ') .. '\\n')",
    );
    assert!(
        report.contains(&format!("OK library {}, version", built.display())),
        "{report}"
    );
    assert!(!report.contains("dlopen error"), "{report}");

    // On macOS both names are tried, for the copy in lua/ and for cargo's outputs.
    let line = |key: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} missing: {report}"))
            .split(' ')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mac = line("MAC=");
    let p = plugin.display();
    for want in [
        format!("{p}/lua/conductor_core.so"),
        format!("{p}/lua/conductor_core.dylib"),
        format!("{p}/target/release/libconductor_core.dylib"),
        format!("{p}/target/release/libconductor_core.so"),
        format!("{p}/target/debug/libconductor_core.dylib"),
    ] {
        assert!(mac.contains(&want), "{want} not in {mac:?}");
    }
    let other = line("OTHER=");
    assert!(other.iter().all(|c| !c.ends_with(".dylib")), "{other:?}");
    assert!(other.contains(&format!("{p}/target/release/libconductor_core.so")));
}
