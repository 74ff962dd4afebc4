//! End to end: hostile agent output and hostile agent processes in a real headless Neovim
//! (see tests/nvim/cases/hostile.lua): 1 MB lines, a 200 MB flood, lone and unterminated
//! escape sequences, a 1 MB title, a 64 MB OSC string, a child that closes its terminal
//! and keeps running, children that ignore SIGHUP. The editor must stay responsive and
//! the engine must never report an internal error; no process may be left behind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::nvim::run_case;
use crate::common::Fixture;
use conductor_core::core::agent_state::AgentState;
use conductor_core::core::pty::{Exit, SessionKind, SessionSink, Sessions, SpawnRequest};

/// One part at a time: the responsiveness figures mean nothing while another Neovim
/// floods the same two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_part(part: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let start = std::time::Instant::now();
    let out = run_case(
        "hostile",
        &f.base().join("home"),
        &f.repo,
        &[
            ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
            ("CONDUCTOR_HOSTILE_PART", part.to_string()),
        ],
    );
    for line in out.stderr.lines().filter(|l| l.starts_with("FIGURE ")) {
        eprintln!("{part}: {line}");
    }
    eprintln!("{part}: took {:.1} s", start.elapsed().as_secs_f64());
    assert!(out.success, "case {part} failed:\n{}", out.stderr);
}

#[test]
fn hostile_output_long_lines_escapes_titles_osc() {
    run_part("output");
}

#[test]
fn hostile_output_200mb_flood() {
    run_part("flood");
}

#[test]
fn hostile_processes_detached_and_sighup_ignoring() {
    run_part("processes");
}

/// Keeps only a count and the last bytes of the output: the test measures the engine's
/// memory, so it must not hold the output itself.
#[derive(Default)]
struct Tail {
    seen: Mutex<(usize, Vec<u8>)>,
    exited: Mutex<bool>,
}

impl SessionSink for Tail {
    fn output(&self, _: u64, bytes: Vec<u8>) {
        let mut seen = self.seen.lock().unwrap();
        seen.0 += bytes.len();
        seen.1.extend_from_slice(&bytes);
        let excess = seen.1.len().saturating_sub(256);
        seen.1.drain(..excess);
    }
    fn state(&self, _: u64, _: AgentState) {}
    fn exited(&self, _: u64, _: Exit) {
        *self.exited.lock().unwrap() = true;
    }
}

impl Tail {
    fn wait_for(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let tail = String::from_utf8_lossy(&self.seen.lock().unwrap().1).into_owned();
            if tail.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?}; output ends with {tail:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// An OSC string that goes on for 256 MB: the status detector parses every byte of the
/// output (for OSC 7501 and titles) and must not keep the string (the parser it uses
/// buffered OSC strings without bound: 256 MB here, kept for the session's life).
#[test]
fn engine_memory_stays_bounded_by_an_endless_osc_string() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let sessions = Sessions::default();
    let sink = Arc::new(Tail::default());
    let id = sessions
        .spawn(
            "ws",
            SessionKind::Agent,
            dir.path(),
            &[],
            SpawnRequest {
                argv: vec![fake.display().to_string()],
                rows: 24,
                cols: 80,
                name: "fake".into(),
                ..Default::default()
            },
            sink.clone(),
        )
        .unwrap();
    sink.wait_for("> ", 20); // its prompt
    let before = rss_mb();
    let start = Instant::now();
    sessions.write(id, b"oscflood 256\r".to_vec()).unwrap();
    sink.wait_for("OSCFLOOD DONE", 120);
    let grew = rss_mb() - before;
    eprintln!(
        "engine: 256 MB OSC string in {:.1} s, RSS grew by {grew:.0} MB",
        start.elapsed().as_secs_f64()
    );
    assert!(
        sink.seen.lock().unwrap().0 > 256 << 20,
        "all the output arrived"
    );
    sessions.stop(id, Duration::from_millis(300));
    assert!(
        grew < 32.0,
        "the engine kept the OSC string: RSS grew by {grew:.0} MB"
    );
}
