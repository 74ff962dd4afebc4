//! Agent sessions: a program on a real PTY (portable-pty) in a workspace.
//!
//! Each session has three threads: the reader (PTY output → sink, and the status
//! detector), the writer (keys and pastes → PTY, so the main thread never blocks on a
//! full PTY), and the waiter (exit status, announced only after the reader saw the end of
//! the output, so no tail is lost). The child leads its own session and process group,
//! so stopping it stops everything it started.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};
use serde::{Deserialize, Serialize};

use crate::core::error::{Error, Result};
use crate::core::process::{group_alive, signal_group};
use crate::core::status::{AgentState, Detector, Patterns};

/// Variables of the editor's own process that must not leak into agents.
const STRIPPED_ENV: &[&str] = &[
    "NVIM_LISTEN_ADDRESS",
    "VIMRUNTIME",
    "VIM",
    "MYVIMRC",
    "CONDUCTOR_LIB",
];
/// Largest piece of output handed over at once (the UI feeds the terminal in slices).
const READ_CHUNK: usize = 16 * 1024;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SpawnRequest {
    /// Program and arguments, never a shell string built from user text.
    pub argv: Vec<String>,
    pub rows: u16,
    pub cols: u16,
    /// Agent name shown to the user ("codex"), and how to get it when it is missing.
    pub name: String,
    pub install_hint: Option<String>,
    pub patterns: Patterns,
    /// Output quiet for this long means idle (when nothing stronger says otherwise).
    pub idle_after_ms: Option<u64>,
    /// This editor's server address, given to the agent as `NVIM`.
    pub nvim: Option<String>,
    /// Variables for this agent only (e.g. a trust switch), over the workspace's.
    pub env: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<String>,
}

/// Where a session's output and changes go (the adapter forwards them to Neovim).
pub trait SessionSink: Send + Sync {
    /// May block: that is how a flood back-pressures the child.
    fn output(&self, session: u64, bytes: Vec<u8>);
    fn state(&self, session: u64, state: AgentState);
    fn exited(&self, session: u64, exit: Exit);
}

struct Session {
    workspace: String,
    /// "agent" or "run" (run scripts share the machinery).
    kind: String,
    master: Mutex<Box<dyn MasterPty + Send>>,
    input: mpsc::Sender<Vec<u8>>,
    pgid: i32,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<u64, Arc<Session>>>,
    next: Mutex<u64>,
}

/// `program` as found on PATH (or as given, when it has a slash).
pub fn find_program(program: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Sessions {
    /// Starts `req.argv` on a new PTY in `cwd` with `env` added to this process's own.
    pub fn spawn(
        &self,
        workspace: &str,
        kind: &str,
        cwd: &Path,
        env: &[(String, String)],
        req: SpawnRequest,
        sink: Arc<dyn SessionSink>,
    ) -> Result<u64> {
        let program = req
            .argv
            .first()
            .ok_or_else(|| Error::new(format!("agent {}: empty command", req.name)))?;
        if !cwd.is_dir() {
            return Err(Error::new(format!(
                "cannot start {}: the workspace directory {} does not exist",
                req.name,
                cwd.display()
            )));
        }
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| OsString::from(v))
            .or_else(|| std::env::var_os("PATH"));
        if find_program(program, path_var.as_deref()).is_none() {
            let hint = req
                .install_hint
                .as_deref()
                .map(|h| format!("install it ({h}) or "))
                .unwrap_or_default();
            return Err(Error::new(format!(
                "agent {}: `{program}` not found on PATH; {hint}set agents.{}.cmd in setup()",
                req.name, req.name
            )));
        }
        let size = PtySize {
            rows: req.rows.max(2),
            cols: req.cols.max(10),
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system()
            .openpty(size)
            .map_err(|e| Error::new(format!("cannot open a terminal for {}: {e}", req.name)))?;
        let mut cmd = CommandBuilder::from_argv(req.argv.iter().map(OsString::from).collect());
        cmd.cwd(cwd);
        for key in STRIPPED_ENV {
            cmd.env_remove(key);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("COLORTERM", "truecolor");
        match &req.nvim {
            Some(addr) => cmd.env("NVIM", addr),
            None => cmd.env_remove("NVIM"),
        }
        for (k, v) in env.iter().map(|(k, v)| (k, v)).chain(req.env.iter()) {
            cmd.env(k, v);
        }
        let mut child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| Error::new(format!("cannot start {}: {e}", req.name)))?;
        // Our copy of the slave would keep the PTY open after the child exits.
        drop(pair.slave);
        let pgid = child.process_id().map_or(0, |p| p as i32);
        let mut reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| Error::new(e.to_string()))?;
        let mut writer = pair
            .master
            .take_writer()
            .map_err(|e| Error::new(e.to_string()))?;

        let id = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let (input, input_rx) = mpsc::channel::<Vec<u8>>();
        // The writer lives as long as the child: dropping it would send EOF to the agent.
        std::thread::Builder::new()
            .name(format!("agent-{id}-writer"))
            .spawn(move || {
                for bytes in input_rx {
                    if writer
                        .write_all(&bytes)
                        .and_then(|_| writer.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            })
            .map_err(|e| Error::new(e.to_string()))?;

        let (activity, activity_rx) = mpsc::channel::<()>();
        let detector = Arc::new(Mutex::new(Detector::new(req.patterns.clone())));
        let idle_after = Duration::from_millis(req.idle_after_ms.unwrap_or(3000));
        {
            let (detector, sink) = (Arc::clone(&detector), Arc::clone(&sink));
            std::thread::Builder::new()
                .name(format!("agent-{id}-quiet"))
                .spawn(move || loop {
                    match activity_rx.recv_timeout(idle_after) {
                        Ok(()) => continue,
                        Err(RecvTimeoutError::Timeout) => {
                            let changed =
                                detector.lock().unwrap_or_else(|e| e.into_inner()).quiet();
                            if let Some(state) = changed {
                                sink.state(id, state);
                            }
                            // Sleep until the next output: nothing can change before it.
                            if activity_rx.recv().is_err() {
                                break;
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                })
                .map_err(|e| Error::new(e.to_string()))?;
        }

        let (eof_tx, eof_rx) = mpsc::channel::<()>();
        {
            let sink = Arc::clone(&sink);
            std::thread::Builder::new()
                .name(format!("agent-{id}-reader"))
                .spawn(move || {
                    let mut buf = vec![0u8; READ_CHUNK];
                    loop {
                        match reader.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let changed = detector
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .feed(&buf[..n]);
                                let _ = activity.send(());
                                sink.output(id, buf[..n].to_vec());
                                for state in changed {
                                    sink.state(id, state);
                                }
                            }
                        }
                    }
                    let _ = eof_tx.send(());
                })
                .map_err(|e| Error::new(e.to_string()))?;
        }
        {
            let sink = Arc::clone(&sink);
            std::thread::Builder::new()
                .name(format!("agent-{id}-waiter"))
                .spawn(move || {
                    let status = child.wait();
                    // A grandchild may hold the PTY open; do not wait for it forever.
                    let _ = eof_rx.recv_timeout(Duration::from_secs(2));
                    let exit = match status {
                        Ok(s) => match s.signal() {
                            Some(sig) => Exit {
                                code: None,
                                signal: Some(sig.to_string()),
                            },
                            None => Exit {
                                code: Some(s.exit_code() as i32),
                                signal: None,
                            },
                        },
                        Err(e) => Exit {
                            code: None,
                            signal: Some(e.to_string()),
                        },
                    };
                    sink.state(id, AgentState::Exited);
                    sink.exited(id, exit);
                })
                .map_err(|e| Error::new(e.to_string()))?;
        }

        let session = Session {
            workspace: workspace.to_string(),
            kind: kind.to_string(),
            master: Mutex::new(pair.master),
            input,
            pgid,
        };
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::new(session));
        Ok(id)
    }

    fn get(&self, id: u64) -> Result<Arc<Session>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::new(format!("no agent session {id}")))
    }

    /// Queues bytes for the PTY; never blocks.
    pub fn write(&self, id: u64, bytes: Vec<u8>) -> Result<()> {
        self.get(id)?
            .input
            .send(bytes)
            .map_err(|_| Error::new("the agent has exited"))
    }

    pub fn resize(&self, id: u64, rows: u16, cols: u16) -> Result<()> {
        let session = self.get(id)?;
        let master = session.master.lock().unwrap_or_else(|e| e.into_inner());
        master
            .resize(PtySize {
                rows: rows.max(2),
                cols: cols.max(10),
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| Error::new(format!("cannot resize the terminal: {e}")))
    }

    /// SIGHUP to the session's process group, `grace`, then SIGKILL. Blocks up to `grace`.
    pub fn stop(&self, id: u64, grace: Duration) {
        if let Ok(session) = self.get(id) {
            stop_group(session.pgid, grace);
        }
    }

    /// Forgets a session whose process has exited (its buffer may stay open).
    pub fn forget(&self, id: u64) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    pub fn workspace_of(&self, id: u64) -> Option<String> {
        self.get(id).ok().map(|s| s.workspace.clone())
    }

    /// Sessions of `workspace` (any when None) of `kind` (any when None).
    pub fn matching(&self, workspace: Option<&str>, kind: Option<&str>) -> Vec<u64> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, s)| {
                workspace.is_none_or(|w| s.workspace == w) && kind.is_none_or(|k| s.kind == k)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Stops several sessions at once (one shared grace period).
    pub fn stop_many(&self, ids: &[u64], grace: Duration) {
        let pgids: Vec<i32> = ids
            .iter()
            .filter_map(|id| self.get(*id).ok())
            .map(|s| s.pgid)
            .collect();
        std::thread::scope(|scope| {
            for pgid in pgids {
                scope.spawn(move || stop_group(pgid, grace));
            }
        });
    }

    pub fn all(&self) -> Vec<u64> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

pub fn stop_group(pgid: i32, grace: Duration) {
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, libc::SIGHUP);
    let deadline = std::time::Instant::now() + grace;
    while group_alive(pgid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
    }
}
