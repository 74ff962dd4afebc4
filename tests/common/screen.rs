//! Neovim as a user sees it: a real terminal (tmux, on a private server socket) of a
//! laptop's size running Neovim with the plugin loaded as tests/nvim/init.lua loads it.
//! Tests type keys and read the screen; every wait fails at once when the screen shows a
//! hit-enter prompt, since no command of the plugin may leave one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::nvim::{engine, library, nvim, stop_engine};

pub const WIDTH: u16 = 160;
pub const HEIGHT: u16 = 45;

pub struct Screen {
    socket: PathBuf,
    /// Neovim's own server address, to ask which mode it is in.
    server: PathBuf,
    /// Whose engine to stop at the end.
    home: PathBuf,
}

impl Screen {
    /// Starts Neovim in `cwd` with the XDG dirs under `home` and `env` on top, in a
    /// WIDTH x HEIGHT terminal. `setup` is the JSON of the options given to setup().
    pub fn start(home: &Path, cwd: &Path, setup: &str, env: &[(&str, String)]) -> Screen {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let socket = home.join("tmux.sock");
        let server = home.join("nvim.sock");
        std::fs::create_dir_all(home).unwrap();
        let mut vars: Vec<(String, String)> = vec![
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".into(),
                home.join(".local/share").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".into(),
                home.join(".local/state").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".into(),
                home.join(".cache").display().to_string(),
            ),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_AUTHOR_NAME".into(), "Test".into()),
            ("GIT_AUTHOR_EMAIL".into(), "test@example.com".into()),
            ("GIT_COMMITTER_NAME".into(), "Test".into()),
            ("GIT_COMMITTER_EMAIL".into(), "test@example.com".into()),
            ("CONDUCTOR_PLUGIN_ROOT".into(), root.display().to_string()),
            ("CONDUCTOR_LIB".into(), library().display().to_string()),
            ("CONDUCTOR_ENGINE".into(), engine().display().to_string()),
            ("CONDUCTOR_TEST_SETUP".into(), setup.to_string()),
            ("SHELL".into(), "/bin/sh".into()),
            ("TERM".into(), "tmux-256color".into()),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let mut cmd = Command::new("tmux");
        cmd.arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &WIDTH.to_string(), "-y", &HEIGHT.to_string()])
            .arg("-c")
            .arg(cwd)
            .args(["env", "-u", "NVIM", "-u", "TMUX"]);
        for (k, v) in &vars {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(nvim())
            .arg("--listen")
            .arg(&server)
            .args(["-i", "NONE", "-u"])
            .arg(root.join("tests/nvim/init.lua"));
        let out = cmd
            .output()
            .expect("tmux runs (apt-get install tmux): the screen tests need it");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let screen = Screen {
            socket,
            server,
            home: home.to_path_buf(),
        };
        screen.wait("Neovim to draw its first screen", |s| s.contains('~'));
        screen
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` as it is.
    pub fn keys(&self, text: &str) {
        self.tmux(&["send-keys", "-l", "--", text]);
    }

    /// Presses a named key ("Enter", "Escape", "C-\\").
    pub fn press(&self, key: &str) {
        self.tmux(&["send-keys", key]);
    }

    /// Waits (bounded) until Neovim is in `mode` (as `mode()` says): a terminal enters
    /// Terminal mode a moment after its window shows, and keys typed before that would
    /// go to the wrong mode.
    pub fn wait_mode(&self, mode: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new(nvim())
                .arg("--server")
                .arg(&self.server)
                .args(["--remote-expr", "mode()"])
                .output()
                .expect("nvim --remote-expr runs");
            let now = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if now == mode {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Neovim stayed in mode {now:?}, not {mode:?}; the screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Leaves Terminal mode (or anything else) for Normal mode, as a user would.
    pub fn normal(&self) {
        self.press("C-\\");
        self.press("C-n");
    }

    /// Types an Ex command and Enter, from Normal mode.
    pub fn command(&self, cmd: &str) {
        self.keys(&format!(":{cmd}"));
        self.press("Enter");
    }

    /// What the terminal shows now.
    pub fn text(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// The last line (the command line).
    pub fn message_line(&self) -> String {
        self.text().lines().last().unwrap_or("").to_string()
    }

    /// Waits (bounded) until `ok(screen)`; fails showing the screen when it does not
    /// come, or as soon as a hit-enter prompt shows.
    pub fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text();
            assert!(
                !text.contains("Press ENTER"),
                "a hit-enter prompt while waiting for {what}:\n{text}"
            );
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until Neovim has exited and its terminal is gone.
    pub fn wait_exit(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["has-session"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                Instant::now() < deadline,
                "Neovim did not exit; the screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the command line (the last line) contains `needle`.
    pub fn wait_message(&self, needle: &str) -> String {
        self.wait(&format!("{needle:?} on the message line"), |s| {
            s.lines().last().unwrap_or("").contains(needle)
        })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
        stop_engine(&self.home);
    }
}
