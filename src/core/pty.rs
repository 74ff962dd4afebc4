//! Programs on a real PTY (portable-pty) in a workspace: agent sessions, and run scripts
//! (they share the machinery; `kind` tells them apart).
//!
//! Each session has five threads: the reader (PTY output → sink, and to the screen
//! model), the screen model (the agent-state detector, `agent_state.rs`, at a lower
//! priority), the quiet timer (quiet output may mean idle), the writer (keys and pastes →
//! PTY, so the main thread never blocks on a full PTY), and the waiter (exit status,
//! announced only after the reader saw the end of the output, so no tail is lost). The
//! child leads its own session and process group, so stopping it stops everything it
//! started. Not here: which program an agent runs (Lua's agent catalog), stopping a
//! process group (`process.rs`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};
use serde::{Deserialize, Serialize};

use crate::agent_state::{AgentState, Detector, Patterns};
use crate::error::{Error, Result};
use crate::process::{find_program, group_alive, stop_group};
use crate::queries::{Background, ColorQueries};

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
/// Reads queued for the screen model before the reader waits for it (1 MB at most).
const SCREEN_QUEUE: usize = 64;
/// How long a first input waits for the program to show its input (reading its terminal
/// key by key, its screen settled); a program that never does gets it after this.
const FIRST_INPUT_WAIT: Duration = Duration::from_secs(10);
/// A screen unchanged for this long, on a terminal read key by key, shows its input.
const SETTLED: Duration = Duration::from_millis(400);

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
    /// The first prompt of an agent that has no argument for it: typed in (pasted, then
    /// Enter) once the program shows its input. See `wait_until_ready`.
    pub first_input: Option<String>,
    /// Neovim's 'termguicolors': `COLORTERM=truecolor` only while it is on, as
    /// `:terminal` does (a program that sees truecolor without it draws without colour).
    /// None: on.
    pub termguicolors: Option<bool>,
    /// Neovim's 'background' ("dark" or "light"): the colours colour queries get.
    pub background: Option<String>,
    /// The environment of the editor that asked (its PATH, keys, ssh agent): the base of
    /// the program's, instead of this process's own. Set by the engine, never by a
    /// request's parameters.
    #[serde(skip)]
    pub base_env: Option<std::collections::BTreeMap<String, String>>,
}

/// What a session runs: an agent, or a run script (they share the machinery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    #[default]
    Agent,
    Run,
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
    kind: SessionKind,
    master: Mutex<Box<dyn MasterPty + Send>>,
    input: mpsc::Sender<Vec<u8>>,
    /// The screen the program shows (its state, its modes).
    detector: Arc<Mutex<Detector>>,
    background: Arc<Mutex<Background>>,
    pgid: i32,
    /// The program exited and was forgotten, but processes it started still run in its
    /// process group: kept (for stopping only) until they are gone. See `forget`.
    gone: std::sync::atomic::AtomicBool,
}

impl Session {
    /// Forgotten, and nothing of it runs any more.
    fn finished(&self) -> bool {
        self.gone.load(std::sync::atomic::Ordering::Relaxed) && !group_alive(self.pgid)
    }
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<u64, Arc<Session>>>,
    next: Mutex<u64>,
}

impl Sessions {
    /// Starts `req.argv` on a new PTY in `cwd` with `env` added to this process's own.
    /// Steps: check it can start, open the PTY and start the program, then the session's
    /// threads (writer, quiet timer, screen model, reader, waiter), then record it.
    pub fn spawn(
        &self,
        workspace: &str,
        kind: SessionKind,
        cwd: &Path,
        env: &[(String, String)],
        req: SpawnRequest,
        sink: Arc<dyn SessionSink>,
    ) -> Result<u64> {
        check_startable(&req, cwd, env)?;
        let size = PtySize {
            rows: req.rows.max(2),
            cols: req.cols.max(10),
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system()
            .openpty(size)
            .map_err(|e| Error::new(format!("cannot open a terminal for {}: {e}", req.name)))?;
        let child = pair
            .slave
            .spawn_command(command(&req, cwd, env))
            .map_err(|e| Error::new(format!("cannot start {}: {e}", req.name)))?;
        // Our copy of the slave would keep the PTY open after the child exits.
        drop(pair.slave);
        let pgid = child.process_id().map_or(0, |p| p as i32);
        let reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| Error::new(e.to_string()))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| Error::new(e.to_string()))?;

        let id = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let (input, input_rx) = mpsc::channel::<Vec<u8>>();
        let detector = Arc::new(Mutex::new(Detector::with_size(
            req.patterns.clone(),
            size.rows,
            size.cols,
        )));
        let background = Arc::new(Mutex::new(Background::parse(req.background.as_deref())));
        let last_output = Arc::new(Mutex::new(std::time::Instant::now()));
        // Our own handle on the terminal, to see its mode while the first input waits.
        let tty = req.first_input.as_ref().and_then(|_| {
            let fd = pair.master.as_raw_fd()?;
            // SAFETY: dup(2) of a descriptor the master owns; the copy is owned below.
            let copy = unsafe { libc::dup(fd) };
            // SAFETY: `copy` is a fresh descriptor that nothing else owns.
            (copy >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(copy) })
        });
        let first_input = req.first_input.clone().map(|prompt| FirstInput {
            prompt,
            tty,
            detector: Arc::clone(&detector),
            last_output: Arc::clone(&last_output),
        });
        start_writer(id, writer, input_rx, first_input)?;
        let (activity, activity_rx) = mpsc::channel::<()>();
        let idle_after = Duration::from_millis(req.idle_after_ms.unwrap_or(3000));
        start_quiet_timer(id, activity_rx, idle_after, &detector, &sink)?;
        let (to_screen, screen_rx) = mpsc::sync_channel::<Vec<u8>>(SCREEN_QUEUE);
        start_screen_model(id, screen_rx, &detector, last_output, activity, &sink)?;
        let (eof_tx, eof_rx) = mpsc::channel::<()>();
        start_reader(
            id,
            reader,
            to_screen,
            input.clone(),
            &background,
            eof_tx,
            &sink,
        )?;
        start_waiter(id, child, eof_rx, &sink)?;

        let session = Session {
            workspace: workspace.to_string(),
            kind,
            master: Mutex::new(pair.master),
            input,
            detector,
            background,
            pgid,
            gone: Default::default(),
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

    /// `text` for the program's input: one bracketed paste when the program turned
    /// bracketed paste on (it then takes newlines as text), else the plain text; then
    /// Enter when `submit`. Never fragmented.
    pub fn paste(&self, id: u64, text: &str, submit: bool) -> Result<()> {
        let session = self.get(id)?;
        let bracketed = session
            .detector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bracketed_paste();
        session
            .input
            .send(paste_bytes(text, bracketed, submit))
            .map_err(|_| Error::new("the agent has exited"))
    }

    /// The program is about to redraw what it shows (its window was shown again): that
    /// output is not work.
    pub fn expect_redraw(&self, id: u64) -> Result<()> {
        self.get(id)?
            .detector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expect_redraw();
        Ok(())
    }

    /// The text the program's screen shows now (for tests and diagnostics).
    pub fn screen_text(&self, id: u64) -> Result<String> {
        Ok(self
            .get(id)?
            .detector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .screen_text())
    }

    /// Neovim's 'background' changed: colour queries get the other colours.
    pub fn set_background(&self, background: Option<&str>) {
        let bg = Background::parse(background);
        for session in self.map.lock().unwrap_or_else(|e| e.into_inner()).values() {
            *session.background.lock().unwrap_or_else(|e| e.into_inner()) = bg;
        }
    }

    pub fn resize(&self, id: u64, rows: u16, cols: u16) -> Result<()> {
        let session = self.get(id)?;
        session
            .detector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resize(rows.max(2), cols.max(10));
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

    /// Forgets a session whose process has exited (its buffer may stay open). When the
    /// program left processes behind in its group (ignoring the SIGHUP the kernel sent as
    /// its terminal session ended, e.g. `nohup cmd &`), the session is kept until they
    /// end, so that archive, delete and quitting Neovim still stop them; otherwise they
    /// would outlive the workspace, running in a directory that no longer exists.
    pub fn forget(&self, id: u64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = map.get(&id) {
            session
                .gone
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        map.retain(|_, s| !s.finished());
    }

    /// The process group a session's program leads.
    pub fn pgid(&self, id: u64) -> Option<i32> {
        self.get(id).ok().map(|s| s.pgid).filter(|p| *p > 1)
    }

    pub fn workspace_of(&self, id: u64) -> Option<String> {
        self.get(id).ok().map(|s| s.workspace.clone())
    }

    /// Sessions of `workspace` (any when None) of `kind` (any when None).
    pub fn matching(&self, workspace: Option<&str>, kind: Option<SessionKind>) -> Vec<u64> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| !s.finished());
        map.iter()
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

/// Refuses early, with the agent's name and what to do: an empty command, a workspace
/// directory that is gone (portable-pty would silently start in $HOME), a program that is
/// not on the PATH the program will get.
fn check_startable(req: &SpawnRequest, cwd: &Path, env: &[(String, String)]) -> Result<()> {
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
        .or_else(|| {
            req.base_env
                .as_ref()
                .map(|base| base.get("PATH").map(OsString::from).unwrap_or_default())
        })
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
    Ok(())
}

/// The program's command line, directory and environment: this process's own, less the
/// editor's variables, plus the terminal's, the workspace's and the agent's own.
fn command(req: &SpawnRequest, cwd: &Path, env: &[(String, String)]) -> CommandBuilder {
    let mut cmd = CommandBuilder::from_argv(req.argv.iter().map(OsString::from).collect());
    cmd.cwd(cwd);
    if let Some(base) = &req.base_env {
        cmd.env_clear();
        for (k, v) in base {
            cmd.env(k, v);
        }
    }
    for key in STRIPPED_ENV {
        cmd.env_remove(key);
    }
    cmd.env("TERM", "xterm-256color");
    if req.termguicolors.unwrap_or(true) {
        cmd.env("COLORTERM", "truecolor");
    } else {
        cmd.env_remove("COLORTERM");
    }
    // A shell keeps the PWD it inherits when it names the directory it starts in;
    // Neovim's own would be stale here.
    cmd.env("PWD", cwd);
    match &req.nvim {
        Some(addr) => cmd.env("NVIM", addr),
        None => cmd.env_remove("NVIM"),
    }
    for (k, v) in env.iter().map(|(k, v)| (k, v)).chain(req.env.iter()) {
        cmd.env(k, v);
    }
    cmd
}

/// The first prompt of an agent that takes it typed in, and what tells when to type it.
struct FirstInput {
    prompt: String,
    tty: Option<std::os::fd::OwnedFd>,
    detector: Arc<Mutex<Detector>>,
    last_output: Arc<Mutex<std::time::Instant>>,
}

/// The writer: keys and pastes to the PTY, so the main thread never blocks on a full
/// PTY. It lives as long as the child: dropping it would send EOF to the agent.
fn start_writer(
    id: u64,
    mut writer: Box<dyn Write + Send>,
    input_rx: mpsc::Receiver<Vec<u8>>,
    first_input: Option<FirstInput>,
) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("agent-{id}-writer"))
        .spawn(move || {
            if let Some(first) = first_input {
                if let Some(tty) = &first.tty {
                    wait_until_ready(tty, &first.detector, &first.last_output, FIRST_INPUT_WAIT);
                }
                let bracketed = first
                    .detector
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .bracketed_paste();
                let text = paste_bytes(&first.prompt, bracketed, true);
                if writer
                    .write_all(&text)
                    .and_then(|_| writer.flush())
                    .is_err()
                {
                    return;
                }
            }
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
        .map(drop)
        .map_err(|e| Error::new(e.to_string()))
}

/// The quiet timer: output quiet for `idle_after` may mean idle (the detector decides).
fn start_quiet_timer(
    id: u64,
    activity_rx: mpsc::Receiver<()>,
    idle_after: Duration,
    detector: &Arc<Mutex<Detector>>,
    sink: &Arc<dyn SessionSink>,
) -> Result<()> {
    let (detector, sink) = (Arc::clone(detector), Arc::clone(sink));
    std::thread::Builder::new()
        .name(format!("agent-{id}-quiet"))
        .spawn(move || loop {
            match activity_rx.recv_timeout(idle_after) {
                Ok(()) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    let changed = detector.lock().unwrap_or_else(|e| e.into_inner()).quiet();
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
        .map(drop)
        .map_err(|e| Error::new(e.to_string()))
}

/// The screen model reads the output on a thread of its own, at a lower priority:
/// parsing every byte costs about as much CPU as Neovim's own terminal, and on a busy
/// machine the editor's main thread must win (a 200 MB flood froze it for over 500 ms
/// when the reader parsed inline). Its queue is bounded, so a model that falls behind
/// slows the program's output rather than growing memory.
fn start_screen_model(
    id: u64,
    screen_rx: mpsc::Receiver<Vec<u8>>,
    detector: &Arc<Mutex<Detector>>,
    last_output: Arc<Mutex<std::time::Instant>>,
    activity: mpsc::Sender<()>,
    sink: &Arc<dyn SessionSink>,
) -> Result<()> {
    let (detector, sink) = (Arc::clone(detector), Arc::clone(sink));
    std::thread::Builder::new()
        .name(format!("agent-{id}-screen"))
        .spawn(move || {
            lower_this_thread_priority();
            while let Ok(mut bytes) = screen_rx.recv() {
                while bytes.len() < READ_CHUNK * 4 {
                    match screen_rx.try_recv() {
                        Ok(more) => bytes.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                let changed = detector
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .feed(&bytes);
                *last_output.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
                let _ = activity.send(());
                for state in changed {
                    sink.state(id, state);
                }
            }
        })
        .map(drop)
        .map_err(|e| Error::new(e.to_string()))
}

/// The reader: PTY output to the sink (whole characters only) and to the screen model;
/// colour queries answered through `answers`. Says `eof` when the output has ended.
fn start_reader(
    id: u64,
    mut reader: Box<dyn Read + Send>,
    to_screen: mpsc::SyncSender<Vec<u8>>,
    answers: mpsc::Sender<Vec<u8>>,
    background: &Arc<Mutex<Background>>,
    eof: mpsc::Sender<()>,
    sink: &Arc<dyn SessionSink>,
) -> Result<()> {
    let (background, sink) = (Arc::clone(background), Arc::clone(sink));
    std::thread::Builder::new()
        .name(format!("agent-{id}-reader"))
        .spawn(move || {
            let mut buf = vec![0u8; READ_CHUNK];
            // The start of a UTF-8 character cut off by the end of a read, kept for the
            // next one (at most 3 bytes): see `utf8_complete_len`.
            let mut carry: Vec<u8> = Vec::new();
            let mut queries = ColorQueries::default();
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let bg = *background.lock().unwrap_or_else(|e| e.into_inner());
                        let (shown, replies) = queries.filter(&buf[..n], bg);
                        if !replies.is_empty() {
                            let _ = answers.send(replies);
                        }
                        // Blocks while the screen model is a full queue behind.
                        let _ = to_screen.send(shown.clone());
                        let mut bytes = std::mem::take(&mut carry);
                        bytes.extend_from_slice(&shown);
                        carry = bytes.split_off(utf8_complete_len(&bytes));
                        if !bytes.is_empty() {
                            sink.output(id, bytes);
                        }
                    }
                }
            }
            carry.extend(queries.finish());
            if !carry.is_empty() {
                sink.output(id, carry);
            }
            let _ = eof.send(());
        })
        .map(drop)
        .map_err(|e| Error::new(e.to_string()))
}

/// The waiter: the exit status, announced only after the reader saw the end of the
/// output (so no tail is lost), as one event with its code.
fn start_waiter(
    id: u64,
    mut child: Box<dyn portable_pty::Child + Send + Sync>,
    eof: mpsc::Receiver<()>,
    sink: &Arc<dyn SessionSink>,
) -> Result<()> {
    let sink = Arc::clone(sink);
    std::thread::Builder::new()
        .name(format!("agent-{id}-waiter"))
        .spawn(move || {
            let status = child.wait();
            // A grandchild may hold the PTY open; do not wait for it forever.
            let _ = eof.recv_timeout(Duration::from_secs(2));
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
            // The exit is one event (with its code), not a state change and then an exit.
            sink.exited(id, exit);
        })
        .map(drop)
        .map_err(|e| Error::new(e.to_string()))
}

/// Lets the editor's threads go first when the CPU is busy (Linux: a thread has its own
/// nice value; elsewhere the call would change the whole process, so nothing is done).
fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority(2) on this thread's own id; it only lowers its priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}

/// `text` as the program should get it: inside bracketed-paste markers only when it
/// turned mode 2004 on (a program that did not shows the markers as `^[[200~`).
fn paste_bytes(text: &str, bracketed: bool, submit: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 13);
    if bracketed {
        out.extend_from_slice(b"\x1b[200~");
    }
    out.extend_from_slice(text.as_bytes());
    if bracketed {
        out.extend_from_slice(b"\x1b[201~");
    }
    if submit {
        out.push(b'\r');
    }
    out
}

/// Waits (bounded) until the program shows its input: it reads its terminal key by key
/// (canonical mode off, as every TUI and line editor does while it waits for input), its
/// screen has stopped changing and its cursor shows (TUIs hide it while they draw). Input typed before that meets the terminal in line
/// mode: the kernel echoes it, cuts it at each newline, and throws it away when the
/// program switches modes (`tcsetattr` with TCSAFLUSH, which Python's `tty.setraw` and
/// many others use) — a first prompt sent as soon as the agent printed its banner was
/// lost that way; and a TUI still drawing its first screen may drop what arrives.
fn wait_until_ready(
    tty: &std::os::fd::OwnedFd,
    detector: &Mutex<Detector>,
    last_output: &Mutex<std::time::Instant>,
    limit: Duration,
) {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        // SAFETY: tcgetattr(3) fills a termios struct we own, on a descriptor we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut t) } != 0 {
            return;
        }
        let settled = last_output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            >= SETTLED;
        let cursor = !detector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cursor_hidden();
        if t.c_lflag & libc::ICANON == 0 && settled && cursor {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How much of `bytes` can be handed to the terminal now: all of it, less a UTF-8
/// character cut off at the end (its first 1–3 bytes). Neovim 0.11's terminal turns a
/// character split across two writes into U+FFFD (neovim/neovim#37721, fixed later), and a
/// PTY read ends wherever the child's write did. Only the last 3 bytes are looked at, so
/// invalid input is passed on as it is and never held back for more than one read.
pub fn utf8_complete_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for its lead byte
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return len, // ASCII or not a lead byte: nothing to wait for
        };
        return if back < need { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::utf8_complete_len;

    #[test]
    fn utf8_cut_keeps_whole_characters_only() {
        let euro = "€".as_bytes(); // e2 82 ac
        assert_eq!(utf8_complete_len(b"abc"), 3);
        assert_eq!(utf8_complete_len(b""), 0);
        assert_eq!(utf8_complete_len(&[b'a', euro[0]]), 1);
        assert_eq!(utf8_complete_len(&[b'a', euro[0], euro[1]]), 1);
        assert_eq!(utf8_complete_len(&[b'a', euro[0], euro[1], euro[2]]), 4);
        let smile = "😀".as_bytes(); // 4 bytes
        assert_eq!(utf8_complete_len(&smile[..3]), 0);
        assert_eq!(utf8_complete_len(smile), 4);
        assert_eq!(utf8_complete_len("é".as_bytes()), 2);
        // Invalid input passes: stray continuation bytes, bytes that lead nothing.
        assert_eq!(utf8_complete_len(&[0x80, 0x80, 0x80, 0x80]), 4);
        assert_eq!(utf8_complete_len(&[b'a', 0xFF]), 2);
        assert_eq!(utf8_complete_len(&[b'a', 0xC0]), 2);
        assert_eq!(utf8_complete_len(&[0xE2, 0xE2, 0xE2]), 2);
    }
}
