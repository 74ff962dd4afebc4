//! Shared fixtures: real git repositories in temp dirs and an engine whose events are
//! collected for assertions.
#![allow(dead_code)]

pub mod nvim;
pub mod screen;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conductor_core::core::engine::{Engine, Event, Options};

/// Runs git with a fixed identity and no user config; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A temp dir holding `repo/` (one commit on `main`), `state/` and `ws/`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub engine: Arc<Engine>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let repo = base.join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        write(&repo, "README.md", "hello\n");
        write(&repo, ".gitignore", ".env*\nnode_modules/\n*.log\n");
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-qm", "initial"]);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink_events = Arc::clone(&events);
        let engine = Engine::new(
            options(&base),
            Arc::new(move |e| sink_events.lock().unwrap().push(e)),
        );
        Fixture {
            dir,
            repo,
            events,
            engine,
        }
    }

    pub fn base(&self) -> PathBuf {
        self.repo.parent().unwrap().to_path_buf()
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (bounded) until an event matches; panics with all events seen otherwise.
    pub fn wait_event(&self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.events().into_iter().find(|e| matches(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} event; saw {:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Records that the user trusts the repository file `rel` with its contents on disk.
    pub fn trust(&self, rel: &str) {
        self.decide(rel, true);
    }

    pub fn decide(&self, rel: &str, allow: bool) {
        let path = self.repo.join(rel);
        let text = std::fs::read(&path).unwrap();
        let sha = conductor_core::core::trust::sha256_hex(&text);
        self.engine.trust_file(&path, &sha, allow).unwrap();
    }

    /// Creates workspace `name` of the fixture's repository from its default branch.
    pub fn create(&self, name: &str) -> conductor_core::core::store::Workspace {
        self.engine
            .create(
                conductor_core::core::lifecycle::CreateRequest {
                    path: self.repo.clone(),
                    name: Some(name.into()),
                    ..Default::default()
                },
                None,
            )
            .unwrap_or_else(|e| panic!("creating {name}: {e}"))
    }

    pub fn commit_all(&self, msg: &str) {
        git(&self.repo, &["add", "-A"]);
        git(&self.repo, &["commit", "-qm", msg]);
    }
}

pub fn options(base: &Path) -> Options {
    Options {
        state_dir: base.join("state"),
        workspaces_root: base.join("ws"),
        stop_grace_ms: 300,
        ..Options::default()
    }
}

/// Copies a directory tree (a plugin checkout, as a plugin manager installs it).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
