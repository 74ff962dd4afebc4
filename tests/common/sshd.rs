//! A real OpenSSH server for the remote tests (issue 17): `sshd -D` on a free loopback
//! port with a throwaway host key and user key, its own config in a temp dir, logging in
//! as a separate local user (`conductor-remote`, created once when missing). Never the
//! machine's own sshd, its config or port 22.
//!
//! Needs root (to create the user and run sshd) and OpenSSH (`.ci/run` installs Debian's
//! `openssh-server`): without them `Sshd::start` says why and returns None, and the test
//! skips.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The local user the tests log in as.
pub const USER: &str = "conductor-remote";

/// Where the engine goes on the host, as issue 17 describes.
pub const ENGINE_DIR: &str = concat!(
    ".local/share/conductor/",
    env!("CARGO_PKG_VERSION"),
    "-",
    env!("CONDUCTOR_COMMIT")
);

/// The engine on the host is one file shared by every test of a binary (the versioned
/// path in the test user's home): a test with it holds this for reading; one without it
/// (the plugin copies it there) holds it for writing, so that no other test installs it
/// meanwhile, or finds it missing.
static ENGINE_FILE: RwLock<()> = RwLock::new(());

enum EngineGuard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// The test user's `~/.profile`.
pub const PROFILE: &str =
    "echo 'a chatty profile says hello'\nexport CONDUCTOR_TEST_PROFILE=read\n";

pub struct Sshd {
    /// Config, keys, authorized_keys, pid file and log (removed on drop).
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    pub key: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// This test's own directory in the user's home (removed on drop).
    pub root: PathBuf,
    /// The engine program on the host (in the user's home).
    pub engine: PathBuf,
    /// Dropped last, after the engine this test started there is stopped.
    _engine_file: EngineGuard,
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn skip(why: &str) -> Option<Sshd> {
    eprintln!("SKIPPED (no sshd for the remote tests): {why}");
    None
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// uid, gid and home of `name`, when it exists.
fn user(name: &str) -> Option<(u32, u32, PathBuf)> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once. Tests
    // calling it run under USER_LOCK.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        if pw.is_null() {
            return None;
        }
        let home = std::ffi::CStr::from_ptr((*pw).pw_dir).to_string_lossy();
        Some(((*pw).pw_uid, (*pw).pw_gid, PathBuf::from(home.as_ref())))
    }
}

static USER_LOCK: Mutex<()> = Mutex::new(());

/// The test user, created (once) when missing. Its password is `*` (no password login,
/// but not "locked": sshd without PAM refuses even keys to a locked account).
fn ensure_user() -> Result<(u32, u32, PathBuf), String> {
    let _guard = USER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if user(USER).is_none() {
        let useradd = which("useradd").ok_or("useradd not found")?;
        let r = run(Command::new(useradd).args(["-m", "-p", "*", "-s", "/bin/sh", USER]));
        // Another test binary may have made it just now.
        if user(USER).is_none() {
            r?;
        }
    }
    user(USER).ok_or_else(|| format!("user {USER} missing after useradd"))
}

fn chown_r(path: &Path, uid: u32, gid: u32) {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .output()
        .expect("chown runs");
    assert!(out.status.success(), "{out:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Sshd {
    /// A server that lets the test user in with `self.key`, the engine (this build's)
    /// copied into the user's home; None (after saying why) when this machine cannot.
    pub fn start() -> Option<Sshd> {
        let guard = EngineGuard::Shared(ENGINE_FILE.read().unwrap_or_else(|e| e.into_inner()));
        Sshd::start_with(guard)
    }

    /// The same, but the host has no engine of this build (`self.engine` is missing): for
    /// the test of the plugin copying its own. No other test runs one meanwhile.
    pub fn start_without_engine() -> Option<Sshd> {
        let guard = EngineGuard::Alone(ENGINE_FILE.write().unwrap_or_else(|e| e.into_inner()));
        let sshd = Sshd::start_with(guard)?;
        std::fs::remove_dir_all(sshd.engine.parent().unwrap()).unwrap();
        Some(sshd)
    }

    fn start_with(guard: EngineGuard) -> Option<Sshd> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return skip("not root: cannot create the test user or run sshd");
        }
        let Some(sshd) = which("sshd") else {
            return skip("sshd not found (apt-get install openssh-server; .ci/run does)");
        };
        for tool in ["ssh", "ssh-keygen"] {
            if which(tool).is_none() {
                return skip(&format!("{tool} not found"));
            }
        }
        let (uid, gid, home) = match ensure_user() {
            Ok(u) => u,
            Err(e) => return skip(&format!("cannot create the user {USER}: {e}")),
        };
        let dir = tempfile::Builder::new()
            .prefix("conductor-sshd-")
            .tempdir()
            .unwrap();
        let d = dir.path().to_path_buf();
        // sshd reads the authorized keys as the user: it must reach them.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let keygen = |file: &Path, kind: &str| {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", kind, "-N", "", "-C", "conductor-test", "-f"])
                .arg(file))
            .unwrap();
        };
        let host_key = d.join("host_ed25519");
        let key = d.join("user_ed25519");
        keygen(&host_key, "ed25519");
        keygen(&key, "ed25519");
        let authorized = d.join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).unwrap();
        std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o644)).unwrap();
        // The privilege separation directory sshd insists on (an empty root-owned
        // directory; the package makes it only when its service starts).
        let _ = std::fs::create_dir_all("/run/sshd");

        // This test's directory and the engine, in the user's home.
        static N: AtomicU32 = AtomicU32::new(0);
        let root = home.join(format!(
            "t-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        chown_r(&root, uid, gid);
        let engine = home.join(ENGINE_DIR).join("conductor-engine");
        {
            let _guard = USER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            std::fs::create_dir_all(engine.parent().unwrap()).unwrap();
            // A new file renamed over the old: an engine running the old one keeps it.
            let tmp = engine.with_extension(format!("tmp-{}", std::process::id()));
            std::fs::copy(super::nvim::engine(), &tmp).unwrap();
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::rename(&tmp, &engine).unwrap();
            chown_r(&home.join(".local"), uid, gid);
            // A login profile as users have: a variable the engine must get (it runs in
            // the login shell, as a terminal there would), and a line printed that must
            // not reach the protocol.
            std::fs::write(home.join(".profile"), PROFILE).unwrap();
            chown_r(&home.join(".profile"), uid, gid);
        }

        // A port found free may be taken before sshd binds it: a few tries.
        for _ in 0..5 {
            let port = free_port();
            let config = d.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\n\
                     Port {port}\n\
                     HostKey {host}\n\
                     AuthorizedKeysFile {auth}\n\
                     PidFile {pid}\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\n\
                     AllowUsers {USER}\n\
                     StrictModes no\n\
                     UsePAM no\n\
                     PrintMotd no\n\
                     LogLevel VERBOSE\n",
                    host = host_key.display(),
                    auth = authorized.display(),
                    pid = d.join("sshd.pid").display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(d.join("sshd.log")).unwrap();
            let mut child = Command::new(&sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let up = loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break true;
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if up {
                return Some(Sshd {
                    dir,
                    child: Some(child),
                    port,
                    key,
                    uid,
                    gid,
                    home,
                    root,
                    engine,
                    _engine_file: guard,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
            if !log.contains("Address already in use") {
                panic!("sshd did not start:\n{log}");
            }
        }
        panic!("sshd found no free port");
    }

    /// `ssh` to the test user on this server, with no user or system config; the
    /// remote command is appended by the caller.
    pub fn ssh(&self) -> Command {
        self.ssh_with(&self.key, self.port)
    }

    /// The same with another key or port (a host that refuses).
    pub fn ssh_with(&self, key: &Path, port: u16) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-i"])
            .arg(key)
            .args(["-p", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
            ])
            .arg(format!("{USER}@127.0.0.1"));
        c
    }

    /// Runs `script` with `sh -c` on the host as the user; its output, or a panic.
    pub fn sh(&self, script: &str) -> String {
        let out = self.ssh().arg(script).output().expect("ssh runs");
        assert!(
            out.status.success(),
            "{script}: {}{}\nsshd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Hands what the test wrote under `self.root` to the user.
    pub fn give(&self, path: &Path) {
        chown_r(path, self.uid, self.gid);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Pids of the user's processes whose command line or directory mentions this
    /// test's root.
    pub fn processes(&self) -> Vec<i32> {
        let root = self.root.to_string_lossy().into_owned();
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let owner = std::fs::metadata(e.path()).map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.uid()
            });
            if owner.ok() != Some(self.uid) {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&root) || cwd.starts_with(&self.root) {
                found.push(pid);
            }
        }
        found
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The engines this test started (and their agents), then anything left of them.
        let state = self.root.join("state");
        let _ = self
            .ssh()
            .arg(format!(
                "{} stop --state-dir {}",
                self.engine.display(),
                state.display()
            ))
            .stdin(Stdio::null())
            .output();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.processes();
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                for pid in left {
                    // SAFETY: a pid of the test user's, found just now.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut child) = self.child.take() {
            // Its connections first (one process each; the listener reaps those that end
            // by themselves, so wait for them a little), then the listener.
            let parent = child.id().to_string();
            let children = || -> Vec<i32> {
                std::fs::read_dir("/proc")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| {
                        let stat =
                            std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                        // pid (comm) state ppid ...
                        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                        after.split_whitespace().nth(1) == Some(parent.as_str())
                    })
                    .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                    .collect()
            };
            let deadline = Instant::now() + Duration::from_secs(3);
            while !children().is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            for pid in children() {
                // SAFETY: a child of the sshd this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
