//! What a workspace's processes leave behind: scripts that never end, process groups
//! after a crash, daemons that left their group, agents of a workspace archived by
//! another Neovim. Real processes, real repositories.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::Fixture;
use conductor_core::core::engine::Event;
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::platform::groups::running;
use conductor_core::core::store::WorkspaceState;

fn set_scripts(
    f: &Fixture,
    scripts: serde_json::Value,
    change: impl FnOnce(&mut conductor_core::core::engine::Options),
) {
    let mut opts = crate::common::options(&f.base());
    opts.defaults.scripts = Some(serde_json::from_value(scripts).unwrap());
    change(&mut opts);
    f.engine.set_options(opts);
}

fn req(name: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        workspace: name.into(),
        ..Default::default()
    }
}

/// Runs `op` on a thread; panics when it does not end within `limit`.
fn bounded<T: Send + 'static>(limit: Duration, op: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(op());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

/// Waits (bounded) until the pid written to `file` exists; returns it.
fn pid_in(file: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) {
        if Instant::now() > deadline {
            // SAFETY: our own test process; do not leave it behind.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn an_archive_script_that_never_ends_is_stopped_at_its_timeout() {
    let f = Fixture::new();
    let pidfile = f.base().join("archive.pid");
    set_scripts(
        &f,
        serde_json::json!({
            "archive": format!("echo $$ > {}; trap '' HUP; while :; do sleep 1; done", pidfile.display())
        }),
        |o| o.archive_timeout_ms = 500,
    );
    let ws = f.create("stuck");
    let engine = Arc::clone(&f.engine);
    let archived = bounded(Duration::from_secs(30), move || {
        engine.archive(req("stuck"))
    });
    let archived = archived.unwrap();
    assert_eq!(archived.state, WorkspaceState::Archived);
    assert!(!ws.path.exists());
    let pid = pid_in(&pidfile);
    assert!(wait_gone(pid), "the archive script {pid} is still running");
    let warning = f.wait_event("warning", |e| matches!(e, Event::Warning { .. }));
    let Event::Warning { message, .. } = warning else {
        unreachable!()
    };
    assert!(
        message.contains("ran longer than 500ms (scripts.archive_timeout) and was stopped"),
        "{message}"
    );
    assert!(message.contains("archiving anyway"), "{message}");
    assert!(f.events().iter().any(|e| matches!(
        e,
        Event::ScriptFinished { kind, timed_out: true, ok: false, .. } if kind == "archive"
    )));
    let log = std::fs::read_to_string(&ws.log).unwrap();
    assert!(log.contains("==> archive ran longer than 500ms"), "{log}");
}

/// A shell line that starts `sleep 1000` as a daemon in a session of its own (what
/// `setsid` or a daemonizing dev server does) and writes its pid to `file`.
fn daemon_line(file: &Path) -> String {
    format!(
        "perl -MPOSIX -e 'setsid(); exec @ARGV' sh -c 'echo $$ > {}; exec sleep 1000' </dev/null >/dev/null 2>&1 &",
        file.display()
    )
}

#[test]
fn archive_stops_a_daemon_that_left_its_process_group() {
    let f = Fixture::new();
    let pidfile = f.base().join("daemon.pid");
    set_scripts(
        &f,
        serde_json::json!({ "setup": daemon_line(&pidfile) }),
        |_| {},
    );
    let ws = f.create("daemonic");
    let pid = pid_in(&pidfile);
    f.wait_event(
        "setup finished",
        |e| matches!(e, Event::ScriptFinished { kind, ok: true, .. } if kind == "setup"),
    );
    // It left the setup's group: stopping that group does not reach it.
    // SAFETY: getpgid only reads.
    assert_eq!(
        unsafe { libc::getpgid(pid) },
        pid,
        "the daemon leads its own group"
    );
    assert!(running(pid));
    f.engine.archive(req("daemonic")).unwrap();
    assert!(!ws.path.exists());
    assert!(wait_gone(pid), "the daemon {pid} survived the archive");
}

/// Child side of the crash test: creates a workspace whose setup never ends, then waits
/// to be killed (as Neovim is, with kill -9).
#[test]
#[ignore = "helper: run as a child process by setup_groups_of_a_killed_neovim_are_stopped_by_the_doctor"]
fn setup_forever_child() {
    let Some(base) = std::env::var_os("CONDUCTOR_TEST_BASE") else {
        return;
    };
    let base = std::path::PathBuf::from(base);
    let mut opts = crate::common::options(&base);
    let script = format!(
        "echo $$ > {}; trap '' HUP; while :; do sleep 1; done",
        base.join("setup.pid").display()
    );
    opts.defaults.scripts =
        Some(serde_json::from_value(serde_json::json!({ "setup": script })).unwrap());
    let engine = conductor_core::core::engine::Engine::new(opts, Arc::new(|_| {}));
    engine
        .create(
            CreateRequest {
                path: base.join("repo"),
                name: Some("killed".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn setup_groups_of_a_killed_neovim_are_stopped_by_the_doctor() {
    use conductor_core::core::doctor::{DoctorRequest, FindingKind};
    let f = Fixture::new();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "processes::setup_forever_child",
            "--nocapture",
        ])
        .env("CONDUCTOR_TEST_BASE", f.base())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = pid_in(&f.base().join("setup.pid"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(running(pid), "the setup script outlives its killed engine");

    let findings = f.engine.doctor(&DoctorRequest { repair: false }).unwrap();
    let leftover = findings
        .iter()
        .find(|x| x.kind == FindingKind::LeftoverProcesses)
        .unwrap_or_else(|| panic!("no leftover finding in {findings:#?}"));
    assert_eq!(leftover.workspace.as_deref(), Some("killed"));
    assert!(
        leftover.problem.contains(&pid.to_string()),
        "{}",
        leftover.problem
    );
    assert!(running(pid), "nothing is stopped without repair");
    let repaired = f.engine.doctor(&DoctorRequest { repair: true }).unwrap();
    assert!(repaired
        .iter()
        .any(|x| x.kind == FindingKind::LeftoverProcesses && x.repaired));
    assert!(
        wait_gone(pid),
        "the doctor left the setup script {pid} running"
    );
    // Nothing left to say afterwards.
    let again = f.engine.doctor(&DoctorRequest { repair: false }).unwrap();
    assert!(
        again
            .iter()
            .all(|x| x.kind != FindingKind::LeftoverProcesses),
        "{again:#?}"
    );
}

#[derive(Default)]
struct Exits(std::sync::Mutex<Vec<u64>>);

impl conductor_core::core::pty::SessionSink for Exits {
    fn output(&self, _: u64, _: Vec<u8>) {}
    fn state(&self, _: u64, _: conductor_core::core::agent_state::AgentState) {}
    fn exited(&self, session: u64, _: conductor_core::core::pty::Exit) {
        self.0.lock().unwrap().push(session);
    }
}

#[test]
fn an_archive_by_another_neovim_stops_the_agents_here_first() {
    use conductor_core::core::pty::SpawnRequest;
    use conductor_core::core::terminals::AgentStart;
    let f = Fixture::new();
    let ws = f.create("shared");
    // This Neovim's agent: writes into the worktree until it is stopped (ignoring
    // SIGHUP, as a busy agent may), so it would recreate the directory after an archive.
    let pidfile = f.base().join("agent.pid");
    let exits = Arc::new(Exits::default());
    let started = f
        .engine
        .agent_start(
            AgentStart {
                workspace: "shared".into(),
                repo: None,
                label: None,
                spawn: SpawnRequest {
                    argv: vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        format!(
                            "echo $$ > {}; trap '' HUP; while :; do mkdir -p {dir} && date > {dir}/agent-notes.txt; sleep 0.05; done",
                            pidfile.display(),
                            dir = ws.path.display()
                        ),
                    ],
                    rows: 24,
                    cols: 80,
                    name: "busy".into(),
                    ..Default::default()
                },
            },
            exits.clone(),
        )
        .unwrap();
    let agent = pid_in(&pidfile);

    // Another Neovim: its own engine on the same state file.
    let other = conductor_core::core::engine::Engine::new(
        crate::common::options(&f.base()),
        Arc::new(|_| {}),
    );
    let archived = other.archive(req("shared")).unwrap();
    assert_eq!(archived.state, WorkspaceState::Archived);
    assert!(
        wait_gone(agent),
        "the agent {agent} kept running after the archive"
    );
    assert!(!ws.path.exists(), "nothing recreated the directory");
    // This engine noticed and says so.
    let warning = f.wait_event("archived elsewhere", |e| {
        matches!(e, Event::Warning { message, .. } if message.contains("archived by another Neovim"))
    });
    let Event::Warning { workspace, .. } = warning else {
        unreachable!()
    };
    assert_eq!(workspace.as_deref(), Some("shared"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exits.0.lock().unwrap().contains(&started.session) {
        assert!(Instant::now() < deadline, "no exit for the agent's session");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Nothing in the way of a restore.
    let restored = other.restore(req("shared"), None).unwrap();
    assert_eq!(restored.state, WorkspaceState::Active);
}

#[test]
fn restore_moves_files_written_after_the_archive_aside() {
    let f = Fixture::new();
    let ws = f.create("late");
    std::fs::write(ws.path.join("work.txt"), "uncommitted\n").unwrap();
    f.engine.archive(req("late")).unwrap();
    // An agent that kept running elsewhere recreated the directory and wrote into it.
    std::fs::create_dir_all(ws.path.join("notes")).unwrap();
    std::fs::write(ws.path.join("notes/late.md"), "written after the archive\n").unwrap();

    let restored = f.engine.restore(req("late"), None).unwrap();
    assert_eq!(restored.state, WorkspaceState::Active);
    assert_eq!(
        std::fs::read_to_string(ws.path.join("work.txt")).unwrap(),
        "uncommitted\n"
    );
    assert!(
        !ws.path.join("notes").exists(),
        "restored exactly as archived"
    );
    let warning = f.wait_event("kept aside", |e| {
        matches!(e, Event::Warning { message, .. } if message.contains("after late was archived"))
    });
    let Event::Warning { message, .. } = warning else {
        unreachable!()
    };
    let refname = message
        .split_whitespace()
        .find(|w| w.starts_with("refs/conductor/"))
        .unwrap()
        .to_string();
    assert_eq!(
        crate::common::git(&f.repo, &["show", &format!("{refname}:notes/late.md")]),
        "written after the archive"
    );
}

#[test]
fn restore_refuses_a_directory_holding_older_files_and_changes_nothing() {
    let f = Fixture::new();
    let ws = f.create("old");
    f.engine.archive(req("old")).unwrap();
    std::fs::create_dir_all(&ws.path).unwrap();
    let file = ws.path.join("mine.txt");
    std::fs::write(&file, "someone's own\n").unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let e = f.engine.restore(req("old"), None).unwrap_err().to_string();
    assert!(
        e.contains("already exists") && e.contains("move it away"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "someone's own\n");
    assert_eq!(
        f.engine.get("old", None).unwrap().state,
        WorkspaceState::Archived
    );
}

#[test]
fn a_setup_script_past_its_timeout_is_stopped_and_marked_failed() {
    let f = Fixture::new();
    let pidfile = f.base().join("setup.pid");
    set_scripts(
        &f,
        serde_json::json!({
            "setup": format!("echo $$ > {}; trap '' HUP; while :; do sleep 1; done", pidfile.display())
        }),
        |o| o.setup_timeout_ms = 300,
    );
    f.create("slow");
    let pid = pid_in(&pidfile);
    f.wait_event("setup timed out", |e| {
        matches!(e, Event::ScriptFinished { kind, timed_out: true, ok: false, .. } if kind == "setup")
    });
    assert!(wait_gone(pid), "the setup script {pid} is still running");
    assert_eq!(
        f.engine.get("slow", None).unwrap().setup,
        conductor_core::core::store::SetupState::Failed
    );
}

#[test]
fn a_setup_that_leaves_a_background_process_on_its_output_still_finishes() {
    let f = Fixture::new();
    let pidfile = f.base().join("bg.pid");
    // `sleep` inherits the script's stdout and keeps the pipe open after the shell exits.
    set_scripts(
        &f,
        serde_json::json!({
            "setup": format!("sleep 1000 & echo $! > {}; echo ready", pidfile.display())
        }),
        |_| {},
    );
    f.create("bg");
    let pid = pid_in(&pidfile);
    let done = f.wait_event(
        "setup finished",
        |e| matches!(e, Event::ScriptFinished { kind, .. } if kind == "setup"),
    );
    assert!(
        matches!(done, Event::ScriptFinished { ok: true, .. }),
        "{done:?}"
    );
    assert!(running(pid), "the background process is the user's to keep");
    f.engine.archive(req("bg")).unwrap();
    assert!(wait_gone(pid), "archive left {pid} running");
}

#[test]
fn an_archive_script_that_closes_its_output_still_times_out() {
    let f = Fixture::new();
    let pidfile = f.base().join("quiet.pid");
    set_scripts(
        &f,
        serde_json::json!({
            "archive": format!("echo $$ > {}; exec >/dev/null 2>&1; trap '' HUP; while :; do sleep 1; done", pidfile.display())
        }),
        |o| o.archive_timeout_ms = 500,
    );
    f.create("quiet");
    let engine = Arc::clone(&f.engine);
    let archived = bounded(Duration::from_secs(30), move || {
        engine.archive(req("quiet"))
    });
    assert_eq!(archived.unwrap().state, WorkspaceState::Archived);
    let pid = pid_in(&pidfile);
    assert!(wait_gone(pid), "the archive script {pid} is still running");
}

/// The state file moved away (as the message for a corrupt one says to do): that says
/// nothing about any workspace, so the agents running here keep running.
#[test]
fn a_state_file_moved_away_stops_no_agent() {
    use conductor_core::core::pty::SpawnRequest;
    use conductor_core::core::terminals::AgentStart;
    let f = Fixture::new();
    let _ws = f.create("kept");
    let pidfile = f.base().join("agent.pid");
    let exits = Arc::new(Exits::default());
    f.engine
        .agent_start(
            AgentStart {
                workspace: "kept".into(),
                repo: None,
                label: None,
                spawn: SpawnRequest {
                    argv: vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        format!("echo $$ > {}; exec sleep 60", pidfile.display()),
                    ],
                    rows: 24,
                    cols: 80,
                    name: "sleeper".into(),
                    ..Default::default()
                },
            },
            exits.clone(),
        )
        .unwrap();
    let agent = pid_in(&pidfile);
    // The watcher looks every 300 ms: let it see the file once, as it has in any Neovim
    // that ran for a while.
    std::thread::sleep(Duration::from_millis(700));
    let state = f.base().join("state/state.json");
    std::fs::rename(&state, f.base().join("state/state.json.corrupt")).unwrap();
    // The watcher looks every 300 ms: give it several looks.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        running(agent),
        "the agent was stopped because the state file was moved away"
    );
    assert!(exits.0.lock().unwrap().is_empty());
    // SAFETY: our own test process; do not leave it behind.
    unsafe { libc::kill(agent, libc::SIGKILL) };
}
