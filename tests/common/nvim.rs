//! Runs a Lua test case inside a real headless Neovim with the plugin loaded the way a
//! user loads it: the checkout on the runtimepath, the library built by this `cargo test`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `CONDUCTOR_NVIM`, else `nvim` on PATH when it is 0.11 or newer, else the repo-local
/// one that `./dev test` installs into `.venv/`.
pub fn nvim() -> PathBuf {
    if let Some(p) = std::env::var_os("CONDUCTOR_NVIM") {
        return PathBuf::from(p);
    }
    let ok = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .and_then(|v| v.lines().next().map(str::to_string))
            .and_then(|l| l.strip_prefix("NVIM v").map(str::to_string))
            .and_then(|v| {
                let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                Some((parts.next()?, parts.next()?))
            })
            .is_some_and(|(major, minor)| major > 0 || minor >= 11)
    };
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/nvim");
    if ok(Path::new("nvim")) {
        return "nvim".into();
    }
    assert!(
        ok(&local),
        "Neovim >= 0.11 not found: run the tests with `./dev test`, which installs it into .venv/"
    );
    local
}

/// The cdylib cargo built next to this test binary (target/<profile>/deps).
pub fn library() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let name = if cfg!(target_os = "macos") {
        "libconductor_core.dylib"
    } else {
        "libconductor_core.so"
    };
    let lib = deps.join(name);
    assert!(
        lib.exists(),
        "{} missing: cargo builds it with the tests",
        lib.display()
    );
    lib
}

pub struct CaseOutput {
    pub success: bool,
    pub stderr: String,
}

/// Runs `tests/nvim/cases/<case>.lua` with `env`, in a sandbox of XDG dirs under `home`.
/// The engine program, built with the tests.
pub fn engine() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_conductor-engine"))
}

/// Stops the engine a test's Neovim started under `home` (its agents and scripts too),
/// so no test leaves one behind. Nothing when none runs.
pub fn stop_engine(home: &Path) {
    let _ = Command::new(engine())
        .args(["stop", "--state-dir"])
        .arg(home.join(".local/state/nvim/conductor"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub fn run_case(case: &str, home: &Path, cwd: &Path, env: &[(&str, String)]) -> CaseOutput {
    let out = run_case_keeping_engine(case, home, cwd, env);
    stop_engine(home);
    out
}

/// Runs a case and leaves the engine it started running (its agents outlive this
/// Neovim): for tests where another Neovim comes next. The caller stops it.
pub fn run_case_keeping_engine(
    case: &str,
    home: &Path,
    cwd: &Path,
    env: &[(&str, String)],
) -> CaseOutput {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let case_path = root.join("tests/nvim/cases").join(format!("{case}.lua"));
    let mut cmd = Command::new(nvim());
    cmd.args(["--headless", "-i", "NONE", "-u"])
        .arg(root.join("tests/nvim/init.lua"))
        .current_dir(cwd)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("CONDUCTOR_PLUGIN_ROOT", root)
        .env("CONDUCTOR_LIB", library())
        .env("CONDUCTOR_ENGINE", engine())
        .env("CONDUCTOR_TEST_CASE", &case_path)
        .env_remove("NVIM")
        .env_remove("NVIM_LISTEN_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("nvim starts");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    let success = status.is_some_and(|s| s.success()) && stderr.contains("CASE PASSED");
    CaseOutput { success, stderr }
}
