//! Agents outlive the editor (issue 15): they run in the engine process, and any Neovim
//! shows them. Each test drives real Neovims (one after the other, or two at once) over
//! one HOME, through the phases of tests/nvim/cases/engine.lua.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conductor_core::core::protocol::{self, ClientMessage, EnginePaths, Frame, ServerMessage};

use crate::common::nvim::{engine, run_case_keeping_engine, stop_engine};
use crate::common::Fixture;

fn env(phase: &str, shared: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("CONDUCTOR_PHASE", phase.to_string()),
        ("CONDUCTOR_SHARED", shared.display().to_string()),
        (
            "CONDUCTOR_FAKE_AGENT",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/agents/fake-agent")
                .display()
                .to_string(),
        ),
    ]
}

struct Setup {
    f: Fixture,
    home: std::path::PathBuf,
    shared: std::path::PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let f = Fixture::new();
        let home = f.base().join("home");
        let shared = f.base().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        Setup { f, home, shared }
    }

    fn run(&self, phase: &str) -> crate::common::nvim::CaseOutput {
        run_case_keeping_engine(
            "engine",
            &self.home,
            &self.f.repo,
            &env(phase, &self.shared),
        )
    }

    fn started(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.shared.join("started")).unwrap())
            .unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        stop_engine(&self.home);
    }
}

fn pid_alive(pid: i64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[test]
fn an_agent_keeps_working_after_quit_and_the_next_neovim_shows_it() {
    let s = Setup::new();
    let out = s.run("quit");
    assert!(out.success, "first Neovim:\n{}", out.stderr);
    let engine_pid = s.started()["engine"].as_i64().unwrap();
    assert!(
        pid_alive(engine_pid),
        "the engine outlives the Neovim that started it"
    );
    let out = s.run("back");
    assert!(out.success, "second Neovim:\n{}", out.stderr);
}

#[test]
fn an_agent_survives_kill_9_of_neovim() {
    let s = Setup::new();
    let out = s.run("kill");
    assert!(!out.success, "the first Neovim was killed");
    assert!(s.shared.join("started").exists(), "{}", out.stderr);
    let out = s.run("back");
    assert!(out.success, "second Neovim:\n{}", out.stderr);
}

#[test]
fn two_neovims_show_one_agent_and_an_archive_in_one_stops_it_in_both() {
    let s = Setup::new();
    let (home, repo, shared) = (s.home.clone(), s.f.repo.clone(), s.shared.clone());
    let first = std::thread::spawn(move || {
        run_case_keeping_engine("engine", &home, &repo, &env("share-a", &shared))
    });
    let second = s.run("share-b");
    let first = first.join().unwrap();
    assert!(first.success, "first Neovim:\n{}", first.stderr);
    assert!(second.success, "second Neovim:\n{}", second.stderr);
}

#[test]
fn a_killed_engine_loses_its_agents_but_no_work_and_the_next_command_starts_another() {
    let s = Setup::new();
    let out = s.run("engine-killed");
    assert!(out.success, "{}", out.stderr);
}

#[test]
fn on_editor_exit_stop_stops_the_agents_with_neovim() {
    let s = Setup::new();
    let out = s.run("exit-stop");
    assert!(out.success, "{}", out.stderr);
    let path = s.started()["path"].as_str().unwrap().to_string();
    // Nothing runs in the worktree any more once that Neovim has exited.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&path))
            })
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left in {path}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts an engine for `state_dir` as a child of the test (not detached).
fn serve(state_dir: &Path, runtime: &Path) -> (std::process::Child, EnginePaths) {
    let child = Command::new(engine())
        .args(["serve", "--state-dir"])
        .arg(state_dir)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let paths = EnginePaths::in_runtime_dir(&runtime.join("conductor"), state_dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&paths.socket).is_err() {
        assert!(Instant::now() < deadline, "the engine listens");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, paths)
}

fn first_reply(stream: UnixStream) -> ServerMessage {
    let mut r = BufReader::new(stream);
    match protocol::read_frame(&mut r).unwrap() {
        Some(Frame::Json(v)) => serde_json::from_value(v).unwrap(),
        other => panic!("no JSON frame: {other:?}"),
    }
}

#[test]
fn a_client_of_another_protocol_is_refused_with_the_way_out() {
    let f = Fixture::new();
    let runtime = f.base().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let (mut child, paths) = serve(&f.base().join("state"), &runtime);
    let mut s = UnixStream::connect(&paths.socket).unwrap();
    protocol::write_json(
        &mut s,
        &ClientMessage::Hello {
            protocol: 999,
            version: "a future plugin".into(),
            pid: 1,
            env: None,
        },
    )
    .unwrap();
    s.flush().unwrap();
    match first_reply(s) {
        ServerMessage::Refused { message, reason } => {
            assert_eq!(reason, "protocol");
            assert!(message.contains("protocol 999"), "{message}");
            assert!(message.contains(":ConductorEngine restart"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
    // Whatever the protocol, `stop` stops it.
    let mut s = UnixStream::connect(&paths.socket).unwrap();
    protocol::write_json(&mut s, &ClientMessage::Stop).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!paths.socket.exists(), "the socket is removed");
}

#[test]
fn a_client_of_another_user_is_refused() {
    // SAFETY: getuid cannot fail.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let f = Fixture::new();
    let runtime = f.base().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let (mut child, paths) = serve(&f.base().join("state"), &runtime);
    // Open the way on purpose, so the engine's own check is what refuses (the private
    // directory alone keeps other users out).
    let mut dir = paths.socket.parent().unwrap().to_path_buf();
    loop {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        if dir == f.base() || !dir.pop() {
            break;
        }
    }
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "import socket,struct,json\n\
         s=socket.socket(socket.AF_UNIX)\n\
         s.connect({:?})\n\
         body=json.dumps({{'type':'hello','protocol':{},'version':'x','pid':1}}).encode()\n\
         s.sendall(struct.pack('<I',len(body)+1)+b'\\x01'+body)\n\
         data=b''\n\
         while True:\n\
         \x20   chunk=s.recv(65536)\n\
         \x20   if not chunk: break\n\
         \x20   data+=chunk\n\
         print(data[5:].decode())\n",
        paths.socket.display().to_string(),
        protocol::PROTOCOL
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("\"refused\""),
        "not refused: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("\"user\""), "{said}");
    let mut s = UnixStream::connect(&paths.socket).unwrap();
    protocol::write_json(&mut s, &ClientMessage::Stop).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_engine_command_shows_stops_after_asking_and_restarts() {
    let s = Setup::new();
    let out = s.run("command");
    assert!(out.success, "{}", out.stderr);
}

/// An engine of an older protocol, as a plugin update leaves it running: it refuses
/// every client with reason "protocol" and stops when told to (the stable `stop`).
const OLD_ENGINE: &str = r#"
import json, os, socket, struct, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(8)
open(sys.argv[2], "w").close()
def frame(conn):
    head = b""
    while len(head) < 4:
        more = conn.recv(4 - len(head))
        if not more:
            return None
        head += more
    n = struct.unpack("<I", head)[0]
    body = b""
    while len(body) < n:
        body += conn.recv(n - len(body))
    return json.loads(body[1:])
while True:
    conn, _ = server.accept()
    msg = frame(conn)
    if msg and msg.get("type") == "stop":
        os.unlink(path)
        sys.exit(0)
    body = json.dumps({"type": "refused", "reason": "protocol",
        "message": "conductor: the running engine (0.0.1 (old), protocol 0) does not speak this plugin's protocol 1: restart it with :ConductorEngine restart"}).encode()
    conn.sendall(struct.pack("<I", len(body) + 1) + b"\x01" + body)
    conn.shutdown(socket.SHUT_WR)
    conn.close()
"#;

#[test]
fn an_engine_of_another_protocol_is_said_and_restarted_on_request() {
    use std::os::unix::fs::DirBuilderExt;
    let s = Setup::new();
    let runtime = s.f.base().join("run");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runtime.join("conductor"))
        .unwrap();
    let state_dir = s.home.join(".local/state/nvim/conductor");
    let paths = EnginePaths::in_runtime_dir(&runtime.join("conductor"), &state_dir);
    let ready = s.f.base().join("old-engine-ready");
    let mut old = Command::new("python3")
        .args(["-c", OLD_ENGINE])
        .arg(&paths.socket)
        .arg(&ready)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the old engine listens");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut vars = env("upgrade", &s.shared);
    vars.push(("XDG_RUNTIME_DIR", runtime.display().to_string()));
    let out = run_case_keeping_engine("engine", &s.home, &s.f.repo, &vars);
    // The old engine was told to stop, and did.
    let stopped = old.try_wait().unwrap().is_some() || {
        std::thread::sleep(Duration::from_secs(1));
        old.try_wait().unwrap().is_some()
    };
    if !stopped {
        let _ = old.kill();
    }
    let _ = Command::new(engine())
        .args(["stop", "--state-dir"])
        .arg(&state_dir)
        .env("XDG_RUNTIME_DIR", &runtime)
        .status();
    assert!(out.success, "{}", out.stderr);
    assert!(stopped, "the old engine was stopped");
}

#[test]
fn a_full_screen_agent_comes_back_as_drawn() {
    let s = Setup::new();
    let out = s.run("tui-quit");
    assert!(out.success, "first Neovim:\n{}", out.stderr);
    let out = s.run("tui-back");
    assert!(out.success, "second Neovim:\n{}", out.stderr);
}

#[test]
fn an_engine_with_nothing_to_do_exits_by_itself() {
    let f = Fixture::new();
    let runtime = f.base().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let state = f.base().join("state");
    let mut child = Command::new(engine())
        .args(["serve", "--state-dir"])
        .arg(&state)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("CONDUCTOR_ENGINE_IDLE_MS", "300")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let paths = EnginePaths::in_runtime_dir(&runtime.join("conductor"), &state);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the idle engine is still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(!paths.socket.exists(), "its socket is removed");
    assert!(!paths.record.exists(), "its record is removed");
}

#[test]
fn an_agent_gets_the_environment_of_the_neovim_that_starts_it() {
    let s = Setup::new();
    let run = |phase: &str, mark: &str| {
        let mut vars = env(phase, &s.shared);
        vars.push(("CONDUCTOR_TEST_MARK", mark.to_string()));
        run_case_keeping_engine("engine", &s.home, &s.f.repo, &vars)
    };
    let out = run("env-first", "first");
    assert!(out.success, "first Neovim:\n{}", out.stderr);
    let out = run("env-second", "second");
    assert!(out.success, "second Neovim:\n{}", out.stderr);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(s.shared.join(name)).unwrap()).unwrap()
    };
    assert_eq!(
        read("env-first")["engine"],
        read("env-second")["engine"],
        "one engine, started by the first Neovim, served both"
    );
}
