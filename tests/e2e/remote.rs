//! Workspaces on other machines (issue 17), the foundation: the engine of a host reached
//! through the user's own ssh (`ssh HOST conductor-engine stdio --state-dir …`), spoken
//! to in the engine's protocol from here. A real `sshd` on a loopback port logs in as a
//! separate local user (tests/common/sshd.rs); without root or OpenSSH these tests skip.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conductor_core::core::protocol::{self, ClientMessage, Frame, ServerMessage, PROTOCOL};
use serde_json::{json, Value};

use crate::common::nvim::{run_case, CaseOutput};
use crate::common::sshd::{Sshd, ENGINE_DIR};
use crate::common::{git, write};

const WAIT: Duration = Duration::from_secs(30);

/// A client of an engine over a child's stdin and stdout (`ssh … stdio`, or `stdio`
/// itself): what the plugin's connection will do for a remote host.
struct Client {
    child: Child,
    input: Option<ChildStdin>,
    frames: Receiver<Frame>,
    stderr: Arc<Mutex<String>>,
    replies: HashMap<u64, Result<Value, String>>,
    output: HashMap<u64, Vec<u8>>,
    events: Vec<Value>,
    next: u64,
    pub engine_pid: u32,
}

impl Client {
    /// Starts `cmd` and says hello; Err with its stderr when the engine is not reached.
    fn open(mut cmd: Command) -> Result<Client, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the client command starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Ok(Some(frame)) = protocol::read_frame(&mut r) {
                if tx.send(frame).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = Arc::clone(&stderr);
            let mut pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
                stderr.lock().unwrap().push_str(&text);
            });
        }
        let mut c = Client {
            input: child.stdin.take(),
            child,
            frames,
            stderr,
            replies: HashMap::new(),
            output: HashMap::new(),
            events: Vec::new(),
            next: 1,
            engine_pid: 0,
        };
        c.send_json(&ClientMessage::Hello {
            protocol: PROTOCOL,
            version: "remote test".into(),
            pid: std::process::id(),
            // The host's agents get the host's environment, not this one's.
            env: None,
        });
        match c.frames.recv_timeout(WAIT) {
            Ok(Frame::Json(v)) => match serde_json::from_value::<ServerMessage>(v) {
                Ok(ServerMessage::Welcome { pid, .. }) => {
                    c.engine_pid = pid;
                    Ok(c)
                }
                other => Err(format!("not welcomed: {other:?}")),
            },
            other => {
                let _ = c.child.wait();
                Err(format!("{other:?}: {}", c.stderr()))
            }
        }
    }

    fn stderr(&self) -> String {
        // The reader thread has it once the child has exited.
        std::thread::sleep(Duration::from_millis(50));
        self.stderr.lock().unwrap().clone()
    }

    fn send_json(&mut self, m: &ClientMessage) {
        let w = self.input.as_mut().expect("stdin open");
        let _ = protocol::write_json(w, m);
        let _ = w.flush();
    }

    fn keys(&mut self, session: u64, keys: &str) {
        let w = self.input.as_mut().expect("stdin open");
        protocol::write_input(w, session, keys.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    /// Handles one frame; false when none came in `timeout` (panics when the stream ended).
    fn pump(&mut self, timeout: Duration) -> bool {
        let frame = match self.frames.recv_timeout(timeout) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the connection closed: {}", self.stderr())
            }
        };
        match frame {
            Frame::Output { session, bytes } => {
                let len = bytes.len() as u64;
                self.output.entry(session).or_default().extend(bytes);
                if let Some(w) = self.input.as_mut() {
                    let _ = protocol::write_ack(w, session, len);
                    let _ = w.flush();
                }
            }
            Frame::Json(v) => match serde_json::from_value::<ServerMessage>(v) {
                Ok(ServerMessage::Reply {
                    id,
                    ok,
                    result,
                    error,
                }) => {
                    let r = if ok {
                        Ok(result.unwrap_or(Value::Null))
                    } else {
                        Err(error.unwrap_or_default())
                    };
                    self.replies.insert(id, r);
                }
                Ok(ServerMessage::Event { event }) => self.events.push(event),
                other => panic!("unexpected: {other:?}"),
            },
            other => panic!("unexpected frame: {other:?}"),
        }
        true
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next;
        self.next += 1;
        self.send_json(&ClientMessage::Request {
            id,
            method: method.into(),
            params,
        });
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(r) = self.replies.remove(&id) {
                return r;
            }
            assert!(Instant::now() < deadline, "no reply to {method}");
            self.pump(Duration::from_millis(100));
        }
    }

    fn ok(&mut self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn text(&self, session: u64) -> String {
        String::from_utf8_lossy(self.output.get(&session).map_or(&[][..], |v| v)).into_owned()
    }

    /// Waits until the output of `session` holds `needle`; returns all of it.
    fn wait_output(&mut self, session: u64, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(session);
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} from session {session}; it showed:\n{text}"
            );
            self.pump(Duration::from_millis(100));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.input.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `origin` of the repository on the host and of its local clone: the same URL, as
/// a user's laptop checkout and their clone on the big machine have.
pub(crate) const ORIGIN: &str = "https://example.com/demo/app.git";

/// A host with a repository and the fake agent in the test user's home.
pub(crate) struct Host {
    pub sshd: Sshd,
    pub repo: PathBuf,
    pub state: PathBuf,
    pub agent: PathBuf,
}

impl Host {
    fn new() -> Option<Host> {
        Host::with_engine(EngineOnHost::Installed)
    }

    fn with_engine(engine: EngineOnHost) -> Option<Host> {
        let host = Host::prepare(engine)?;
        host.sshd.give(&host.sshd.root);
        Some(host)
    }

    /// The host's files, still root's (before `give`).
    fn prepare(engine: EngineOnHost) -> Option<Host> {
        let sshd = match engine {
            EngineOnHost::Installed => Sshd::start()?,
            EngineOnHost::Missing => Sshd::start_without_engine()?,
        };
        let repo = sshd.root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        write(&repo, "README.md", "on the host\n");
        let app: String = (1..=12).map(|i| format!("line {i}\n")).collect();
        write(&repo, "src/app.lua", &format!("-- app\n{app}"));
        write(&repo, ".gitignore", ".env*\n*.log\n");
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-qm", "initial"]);
        git(&repo, &["remote", "add", "origin", ORIGIN]);
        let agent = sshd.root.join("fake-agent");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent"),
            &agent,
        )
        .unwrap();
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let state = sshd.root.join("state");
        Some(Host {
            sshd,
            repo,
            state,
            agent,
        })
    }

    fn stdio_command(&self) -> Command {
        let mut c = self.sshd.ssh();
        c.arg(format!(
            "{} stdio --state-dir {}",
            self.sshd.engine.display(),
            self.state.display()
        ));
        c
    }

    /// A connection through ssh, with the options the plugin would send.
    fn connect(&self) -> Client {
        let mut c = Client::open(self.stdio_command())
            .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", self.sshd.log()));
        c.ok(
            "options",
            json!({
                "state_dir": self.state,
                "workspaces_root": self.sshd.root.join("ws"),
                "stop_grace_ms": 300,
                "fetch": false,
            }),
        );
        c
    }

    /// A workspace with the fake agent running in it, shown its first prompt.
    fn workspace_with_agent(&self, c: &mut Client) -> (Value, u64) {
        let ws = c.ok("create", json!({ "path": self.repo, "name": "far-away" }));
        let started = c.ok(
            "agent_start",
            json!({
                "workspace": ws["id"],
                "argv": [self.agent, "hello from afar"],
                "rows": 24,
                "cols": 80,
                "name": "fake",
                "label": "fake",
            }),
        );
        let session = started["session"].as_u64().unwrap();
        let text = c.wait_output(session, "FAKE AGENT READY");
        let text = if text.contains("> ") {
            text
        } else {
            c.wait_output(session, "> ")
        };
        assert!(text.contains("PROMPT: hello from afar"), "{text}");
        (ws, session)
    }
}

/// The engine program on the host when a Neovim case starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineOnHost {
    /// This build's engine at the versioned path (saves each test the copy).
    Installed,
    /// None there: the plugin copies its own (a missing engine copied over).
    Missing,
}

/// A Neovim case run against a real host: the host (its sshd, repository, fake agent and
/// engine state, kept until this drops so the test can look at them), the local clone the
/// Neovim ran in, and what the case printed.
pub(crate) struct RemoteRun {
    pub host: Host,
    /// The local checkout (same `origin` as the host's repository).
    #[allow(dead_code)]
    pub clone: PathBuf,
    /// The local Neovim's HOME (its state, data and logs).
    #[allow(dead_code)]
    pub home: PathBuf,
    pub out: CaseOutput,
    _local: tempfile::TempDir,
}

impl RemoteRun {
    /// Fails the test (with the case's output and the sshd log) unless the case passed.
    pub(crate) fn assert_passed(&self) {
        assert!(
            self.out.success,
            "case failed:\n{}\nsshd log:\n{}",
            self.out.stderr,
            self.host.sshd.log()
        );
    }

    /// Runs `script` on the host as its user (`sh -c` over ssh); its stdout.
    pub(crate) fn sh(&self, script: &str) -> String {
        self.host.sshd.sh(script)
    }
}

/// The ssh argv (program first, destination last) that reaches the test host, as a user
/// writes it in `hosts.NAME.ssh`.
pub(crate) fn ssh_argv(sshd: &Sshd) -> Vec<String> {
    let cmd = sshd.ssh();
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// Local processes (this machine's, any user) whose argv holds `needle`.
pub(crate) fn local_processes_with(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let argv = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
        if argv.contains(needle) && running(pid) {
            found.push((pid, argv));
        }
    }
    found
}

/// Runs `tests/nvim/cases/<case>.lua` in a real headless Neovim whose host `box` is a
/// real sshd on this machine (None, after saying why, when this machine cannot run one:
/// the test skips). On the host, owned by its user, under `$ROOT`: a repository
/// `repo` (a commit on `main`, `origin` = ORIGIN), the fake agent `fake-agent`, the
/// engine state `state`. Locally: a clone of it with the same `origin`, where Neovim
/// starts. The case gets `CONDUCTOR_TEST_SSH` (the ssh argv as JSON, destination last),
/// `CONDUCTOR_TEST_HOST_ROOT` (`$ROOT`) and `env`; tests/nvim/lua/remote_host.lua
/// turns those into `setup({ hosts = … })`.
///
/// Afterwards the host's engine is stopped over ssh and no process of the test may be
/// left: neither on the host (its user's, working in or naming `$ROOT`) nor here (an ssh
/// client with this test's key). Whether the case passed is the caller's to assert
/// (`RemoteRun::assert_passed`), after which it can look at the host.
pub(crate) fn run_remote_case(
    case: &str,
    engine: EngineOnHost,
    env: &[(&str, String)],
) -> Option<RemoteRun> {
    let host = Host::prepare(engine)?;
    let local = tempfile::tempdir().unwrap();
    let base = local.path().canonicalize().unwrap();
    let clone = base.join("app");
    git(
        &base,
        &[
            "clone",
            "-q",
            host.repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    git(&clone, &["remote", "set-url", "origin", ORIGIN]);
    let home = base.join("home");
    std::fs::create_dir_all(&home).unwrap();
    // Then the host's files are its user's (git reads another user's repository only
    // when told it is safe).
    host.sshd.give(&host.sshd.root);

    let mut all_env = vec![
        (
            "CONDUCTOR_TEST_SSH",
            serde_json::to_string(&ssh_argv(&host.sshd)).unwrap(),
        ),
        (
            "CONDUCTOR_TEST_HOST_ROOT",
            host.sshd.root.display().to_string(),
        ),
    ];
    all_env.extend(env.iter().map(|(k, v)| (*k, v.clone())));
    let out = run_case(case, &home, &clone, &all_env);

    // The host's engine (and the agents and scripts it runs), then anything of the test.
    let _ = host
        .sshd
        .ssh()
        .arg(format!(
            "{} stop --state-dir {}",
            host.sshd.engine.display(),
            host.state.display()
        ))
        .stdin(Stdio::null())
        .output();
    let key = host.sshd.key.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let remote = host.sshd.processes();
        let local_ssh = local_processes_with(&key);
        if remote.is_empty() && local_ssh.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let remote: Vec<String> = remote
                .iter()
                .map(|pid| {
                    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&argv).replace('\0', " ")
                    )
                })
                .collect();
            panic!(
                "processes of the test left after the case and the host's engine stopped:\n\
                 on the host: {remote:#?}\nhere: {local_ssh:#?}\ncase output:\n{}",
                out.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(RemoteRun {
        host,
        clone,
        home,
        out,
        _local: local,
    })
}

/// Exists and is not a zombie (an engine is nobody's child: it may stay unreaped here).
fn running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .map(|(_, r)| r.trim_start())
        .unwrap_or("");
    !state.is_empty() && !state.starts_with('Z')
}

fn uid_of(pid: i32) -> Option<u32> {
    std::fs::metadata(format!("/proc/{pid}"))
        .ok()
        .map(|m| m.uid())
}

/// The pids of the user's processes working in `dir`.
fn working_in(host: &Host, dir: &Path) -> Vec<i32> {
    host.sshd
        .processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}

#[test]
fn an_agent_on_a_host_runs_in_its_workspace_and_takes_keys_through_ssh() {
    let Some(host) = Host::new() else { return };
    let mut c = host.connect();
    let status = c.ok("engine_status", json!({}));
    assert_eq!(
        status["pid"].as_u64(),
        Some(u64::from(c.engine_pid)),
        "{status}"
    );
    assert_eq!(
        uid_of(c.engine_pid as i32),
        Some(host.sshd.uid),
        "the engine runs as the host's user"
    );
    assert_eq!(c.ok("list", json!({})), json!([]));

    let (ws, session) = host.workspace_with_agent(&mut c);
    let path = PathBuf::from(ws["path"].as_str().unwrap());
    assert!(path.starts_with(&host.sshd.root), "{}", path.display());
    let listed = c.ok("list", json!({}));
    assert_eq!(listed[0]["name"], "far-away", "{listed}");

    c.keys(session, "work typed on the laptop\r");
    c.wait_output(session, "DONE WORKING");
    let written = path.join("agent-output.txt");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "typed on the laptop\n"
    );
    assert_eq!(
        std::fs::metadata(&written).unwrap().uid(),
        host.sshd.uid,
        "the agent wrote as the host's user"
    );
    let agents = working_in(&host, &path);
    assert!(!agents.is_empty(), "the agent runs in its worktree");
}

#[test]
fn a_dropped_connection_leaves_the_agent_running_and_the_next_one_shows_its_screen() {
    let Some(host) = Host::new() else { return };
    let mut c = host.connect();
    let (ws, session) = host.workspace_with_agent(&mut c);
    c.keys(session, "work before the drop\r");
    c.wait_output(session, "DONE WORKING");
    let path = PathBuf::from(ws["path"].as_str().unwrap());
    let agents = working_in(&host, &path);
    assert!(!agents.is_empty(), "the agent runs");
    let engine = c.engine_pid as i32;

    // The laptop sleeps: its ssh client dies without a word.
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    drop(c);

    // The relay on the host sees its stdin close and goes; the engine and agent stay.
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.sshd.processes().iter().any(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.windows(5).any(|w| w == b"stdio"))
    }) {
        assert!(Instant::now() < deadline, "the relay on the host is left");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(running(engine), "the engine outlives the connection");
    for pid in &agents {
        assert!(running(*pid), "agent process {pid} outlives the connection");
        assert_eq!(uid_of(*pid), Some(host.sshd.uid));
    }

    // The next connection finds the same engine, the session, and its screen.
    let mut c = host.connect();
    assert_eq!(c.engine_pid as i32, engine, "the same engine");
    let sessions = c.ok("agent_sessions", json!({}));
    let listed = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["session"].as_u64() == Some(session))
        .unwrap_or_else(|| panic!("session {session} not listed: {sessions}"))
        .clone();
    assert_eq!(listed["exited"], false, "{listed}");
    assert_eq!(listed["workspace"], "far-away", "{listed}");
    c.ok(
        "agent_attach",
        json!({ "session": session, "rows": 24, "cols": 80 }),
    );
    let replay = c.wait_output(session, "DONE WORKING");
    assert!(replay.contains("FAKE AGENT READY"), "{replay}");
    // And it takes keys from the new connection.
    c.keys(session, "work after the drop\r");
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(path.join("agent-output.txt")).unwrap_or_default()
        != "after the drop\n"
    {
        assert!(
            Instant::now() < deadline,
            "the agent took no keys after the drop"
        );
        c.pump(Duration::from_millis(100));
    }
}

#[test]
fn a_host_that_refuses_says_so_in_one_line_and_leaves_nothing() {
    let Some(host) = Host::new() else { return };
    let before = host.sshd.processes();

    // A key the host does not know.
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("stranger");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut cmd = host.sshd.ssh_with(&key, host.sshd.port);
    cmd.arg(format!(
        "{} stdio --state-dir {}",
        host.sshd.engine.display(),
        host.state.display()
    ));
    let err = Client::open(cmd).err().expect("refused");
    assert!(err.contains("Permission denied"), "{err}");

    // A closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut cmd = host.sshd.ssh_with(&host.sshd.key, port);
    cmd.arg("true");
    let err = Client::open(cmd).err().expect("refused");
    assert!(err.contains("Connection refused"), "{err}");

    // Nothing started there: no engine, no state.
    assert!(!host.state.exists(), "no state made on the host");
    assert_eq!(host.sshd.processes(), before, "no process left on the host");

    // An engine that cannot start there: one line on stderr, a non-zero exit.
    let out = host
        .sshd
        .ssh()
        .arg(format!(
            "{} stdio --state-dir /root/not-yours",
            host.sshd.engine.display()
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/root/not-yours"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// The relay itself, on this machine (runs without sshd): starts the engine when none
/// runs, passes frames both ways, exits 0 when stdin closes, and the engine stays.
#[test]
fn stdio_starts_the_engine_relays_frames_and_exits_when_stdin_closes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = dir.path().join("state");
    let stdio = || {
        let mut c = Command::new(crate::common::nvim::engine());
        c.arg("stdio")
            .arg("--state-dir")
            .arg(&state)
            .env("XDG_RUNTIME_DIR", &runtime);
        c
    };
    let mut c = Client::open(stdio()).unwrap();
    let engine = c.engine_pid as i32;
    assert_eq!(c.ok("list", json!({})), json!([]));
    c.input.take();
    let status = c.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", c.stderr());
    assert!(running(engine), "the engine stays");
    // The next one finds it.
    let c2 = Client::open(stdio()).unwrap();
    assert_eq!(c2.engine_pid as i32, engine);
    drop(c2);
    let out = Command::new(crate::common::nvim::engine())
        .args(["stop", "--state-dir"])
        .arg(&state)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(engine) {
        assert!(Instant::now() < deadline, "the engine stops");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);
}

/// The harness itself: a case reaches the host as its user, finds the repository (same
/// `origin` as the local clone) and the fake agent, and leaves nothing behind.
#[test]
fn a_neovim_case_reaches_the_test_host() {
    let Some(run) = run_remote_case("remote_harness", EngineOnHost::Installed, &[]) else {
        return;
    };
    run.assert_passed();
    assert_eq!(
        std::fs::read_to_string(run.host.sshd.root.join("note.txt")).unwrap(),
        "written 'there'\n"
    );
    assert_eq!(
        std::fs::metadata(run.host.sshd.root.join("note.txt"))
            .unwrap()
            .uid(),
        run.host.sshd.uid
    );
}

/// Files named `name` under `dir` (a worktree on the host, read as root).
fn find_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                found.push(p);
            }
        }
    }
    found
}

/// :ConductorReview of a workspace on the host, with edits made there and `:w` from the
/// review writing there (tests/nvim/cases/remote_review.lua).
#[test]
fn a_review_of_a_remote_workspace_reads_and_writes_its_files_on_the_host() {
    let Some(run) = run_remote_case("remote_review", EngineOnHost::Installed, &[]) else {
        return;
    };
    run.assert_passed();
    // On disk there: the review's last act reverted src/app.lua to its base; the new
    // file written on the host is still there; all of it the host user's.
    let ws = run.host.sshd.root.join("ws");
    let apps = find_files(&ws, "app.lua");
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(
        std::fs::read_to_string(&apps[0]).unwrap(),
        std::fs::read_to_string(run.host.repo.join("src/app.lua")).unwrap()
    );
    let notes = find_files(&ws, "notes.txt");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        std::fs::metadata(&apps[0]).unwrap().uid(),
        run.host.sshd.uid
    );
}

/// Archive and restore of a workspace on the host (tests/nvim/cases/remote_archive.lua).
#[test]
fn archive_and_restore_of_a_remote_workspace_run_on_the_host() {
    let Some(run) = run_remote_case("remote_archive", EngineOnHost::Installed, &[]) else {
        return;
    };
    run.assert_passed();
    let repo = run.host.repo.display().to_string();
    let branches = run.sh(&format!(
        "git -C {repo} for-each-ref --format='%(refname:short)' refs/heads"
    ));
    assert!(
        branches.lines().any(|b| b.ends_with("arch")),
        "the workspace's branch on the host: {branches}"
    );
    let wip = find_files(&run.host.sshd.root.join("ws"), "wip.txt");
    assert_eq!(
        wip.len(),
        1,
        "the restored worktree holds the work: {wip:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&wip[0]).unwrap(),
        "work in progress\n"
    );
    let worktrees = run.sh(&format!("git -C {repo} worktree list --porcelain"));
    assert!(
        worktrees.contains(wip[0].parent().unwrap().to_str().unwrap()),
        "the worktree is registered again: {worktrees}"
    );
}

/// The ssh client killed under a running agent (tests/nvim/cases/remote_drop.lua).
#[test]
fn a_dropped_connection_to_a_host_leaves_its_agent_running_and_the_next_command_reattaches() {
    let Some(run) = run_remote_case("remote_drop", EngineOnHost::Installed, &[]) else {
        return;
    };
    run.assert_passed();
}

/// A host without the engine gets this build's, at the versioned path
/// (tests/nvim/cases/remote_engine_copy.lua).
#[test]
fn a_missing_engine_is_copied_to_the_host() {
    let Some(run) = run_remote_case(
        "remote_engine_copy",
        EngineOnHost::Missing,
        &[("CONDUCTOR_TEST_ENGINE_DIR", ENGINE_DIR.to_string())],
    ) else {
        return;
    };
    run.assert_passed();
    let copied = &run.host.sshd.engine;
    let meta = std::fs::metadata(copied).expect("the engine copied to the versioned path");
    assert_eq!(meta.uid(), run.host.sshd.uid, "the host user's");
    assert!(meta.permissions().mode() & 0o100 != 0, "executable");
    assert!(
        std::fs::read(copied).unwrap() == std::fs::read(crate::common::nvim::engine()).unwrap(),
        "this build's engine"
    );
}

/// A host on a closed port (tests/nvim/cases/remote_refused.lua).
#[test]
fn a_host_that_refuses_gives_one_line_and_nothing_is_made() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let Some(run) = run_remote_case(
        "remote_refused",
        EngineOnHost::Installed,
        &[("CONDUCTOR_TEST_CLOSED_PORT", port.to_string())],
    ) else {
        return;
    };
    run.assert_passed();
    assert!(!run.host.state.exists(), "no engine state on the host");
    assert!(
        !run.host.sshd.root.join("ws").exists(),
        "no workspace on the host"
    );
}

/// Checks, pull request and merge of a workspace on the host
/// (tests/nvim/cases/remote_ship.lua).
#[test]
fn checks_pull_request_and_merge_of_a_remote_workspace_run_on_the_host() {
    let Some(run) = run_remote_case("remote_ship", EngineOnHost::Installed, &[]) else {
        return;
    };
    run.assert_passed();
    let repo = run.host.repo.display().to_string();
    assert_eq!(
        run.sh(&format!("git -C {repo} log -1 --format=%s main"))
            .trim(),
        "Add the feature"
    );
}
