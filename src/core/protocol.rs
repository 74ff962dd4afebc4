//! What Neovim and the engine process say to each other over the engine's Unix socket.
//!
//! A connection carries frames: a 4-byte little-endian length (of what follows), a kind
//! byte, then the payload. Control messages are JSON (`ClientMessage`, `ServerMessage`);
//! terminal bytes travel as binary frames (an agent's output, the user's keys, and the
//! acknowledgement that output reached a terminal), never through JSON.
//!
//! Stable across versions, so that any plugin can stop any engine: the frame layout, the
//! `hello` message and `stop`. Everything else is checked by `PROTOCOL`: a client whose
//! number differs is refused with a line that says how to restart the engine.
//!
//! Not here: serving (src/engine), Neovim (src/nvim).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoints::CheckpointRequest;
use crate::doctor::DoctorRequest;
use crate::engine::Options;
use crate::lifecycle::{CreateRequest, WorkspaceRequest};
use crate::review::{ChangesRequest, FileRequest, ShipRequest};
use crate::spotlight::SpotlightRequest;
use crate::terminals::{AgentStart, RunStart};

/// Raised whenever a request, reply or event changes shape.
pub const PROTOCOL: u32 = 1;

/// Largest frame either side accepts: a bigger length is a broken or hostile peer.
pub const MAX_FRAME: usize = 64 << 20;

/// Output bytes of one session a client may have received but not yet shown: the engine
/// waits (and so the agent does) beyond it. A flood slows the agent, not the editor.
pub const WINDOW: usize = 1 << 20;

/// How long a client may stay a full window behind before the engine stops waiting for
/// it (a suspended or stuck Neovim must not freeze agents that others watch): it is
/// detached from the session and told so (`agent_detached`), and attaches again.
pub const LAG: std::time::Duration = std::time::Duration::from_secs(5);

const KIND_JSON: u8 = 1;
const KIND_OUTPUT: u8 = 2;
const KIND_INPUT: u8 = 3;
const KIND_ACK: u8 = 4;

/// One frame, decoded.
#[derive(Debug)]
pub enum Frame {
    Json(serde_json::Value),
    /// Engine to client: terminal output of a session.
    Output {
        session: u64,
        bytes: Vec<u8>,
    },
    /// Client to engine: keys (or a terminal's answers) for a session.
    Input {
        session: u64,
        bytes: Vec<u8>,
    },
    /// Client to engine: this many output bytes of `session` reached its terminal.
    Ack {
        session: u64,
        len: u64,
    },
}

pub fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_raw(out, KIND_JSON, &[], &body)
}

pub fn write_output(out: &mut impl Write, session: u64, bytes: &[u8]) -> io::Result<()> {
    write_raw(out, KIND_OUTPUT, &session.to_le_bytes(), bytes)
}

pub fn write_input(out: &mut impl Write, session: u64, bytes: &[u8]) -> io::Result<()> {
    write_raw(out, KIND_INPUT, &session.to_le_bytes(), bytes)
}

pub fn write_ack(out: &mut impl Write, session: u64, len: u64) -> io::Result<()> {
    write_raw(out, KIND_ACK, &session.to_le_bytes(), &len.to_le_bytes())
}

fn write_raw(out: &mut impl Write, kind: u8, head: &[u8], body: &[u8]) -> io::Result<()> {
    let len = 1 + head.len() + body.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(head);
    frame.extend_from_slice(body);
    out.write_all(&frame)
}

/// The next frame; `Ok(None)` at a clean end of the stream.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    let kind = body[0];
    let rest = &body[1..];
    let session = || -> io::Result<u64> {
        rest.get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short frame"))
    };
    Ok(Some(match kind {
        KIND_JSON => Frame::Json(
            serde_json::from_slice(rest)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        ),
        KIND_OUTPUT => Frame::Output {
            session: session()?,
            bytes: rest[8..].to_vec(),
        },
        KIND_INPUT => Frame::Input {
            session: session()?,
            bytes: rest[8..].to_vec(),
        },
        KIND_ACK => Frame::Ack {
            session: session()?,
            len: rest
                .get(8..16)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short ack"))?,
        },
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown frame kind {other}"),
            ))
        }
    }))
}

/// JSON messages from a client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message of every connection.
    Hello {
        protocol: u32,
        version: String,
        pid: u32,
        /// The client's environment: the base of the agents and run scripts it starts
        /// (its PATH, keys, ssh agent), not the environment the engine started with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<std::collections::BTreeMap<String, String>>,
    },
    /// Understood by every engine whatever its protocol: stop now (agents too).
    Stop,
    Request {
        id: u64,
        method: String,
        #[serde(default)]
        params: serde_json::Value,
    },
}

/// JSON messages from the engine.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        protocol: u32,
        version: String,
        /// This connection's number: the client's request ids start with it, so they are
        /// unique across clients (events name the request they belong to).
        client: u32,
        pid: u32,
    },
    /// The connection is not served; `message` says why and what to do.
    Refused {
        message: String,
        /// "protocol" when a restart of the engine would fix it.
        reason: String,
    },
    Reply {
        id: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An engine event, shaped `{ event = ..., data = ... }`.
    Event { event: serde_json::Value },
}

/// Events about terminal sessions and the connection, beside the engine's own
/// (`engine::Event`): the same `{ event = ..., data = ... }` shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A session's state changed (starting, working, waiting, idle).
    AgentState {
        session: u64,
        state: crate::agent_state::AgentState,
    },
    /// A session's program ended.
    AgentExited {
        session: u64,
        code: Option<i32>,
        signal: Option<String>,
    },
    /// This client fell a whole window behind and was detached: attach again.
    AgentDetached { session: u64 },
    /// Made by the client, not sent: the connection to the engine was lost.
    EngineLost {
        generation: u64,
        /// The remote host whose connection it was; None for this machine's engine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
}

impl SessionEvent {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A list in a request: Lua has one kind of table, and an empty one arrives as a map.
pub fn list_or_empty_table<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Object(m) if m.is_empty() => Ok(Vec::new()),
        serde_json::Value::Null => Ok(Vec::new()),
        other => serde_json::from_value(other).map_err(serde::de::Error::custom),
    }
}

/// New engine options, and which of them the client named: an engine may serve
/// several machines' Neovims (one on a host, one reaching it over ssh), each naming only
/// what is theirs to set; the others keep their values.
#[derive(Debug, Clone, Default)]
pub struct OptionsUpdate {
    pub options: Options,
    pub keys: Vec<String>,
}

impl<'de> Deserialize<'de> for OptionsUpdate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let keys = value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let options = serde_json::from_value(value).map_err(serde::de::Error::custom)?;
        Ok(OptionsUpdate { options, keys })
    }
}

/// A method with no parameters still takes (and ignores) a table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathParams {
    pub path: PathBuf,
    pub base: Option<String>,
    pub workspace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgramsParams {
    #[serde(deserialize_with = "list_or_empty_table")]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustParams {
    pub path: PathBuf,
    pub sha256: String,
    pub allow: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListParams {
    pub repo: Option<PathBuf>,
    pub include_archived: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionParams {
    pub session: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasteParams {
    pub session: u64,
    pub text: String,
    pub submit: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResizeParams {
    pub session: u64,
    pub rows: u16,
    pub cols: u16,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachParams {
    pub session: u64,
    /// This client's size for it (0: keep the session's).
    pub rows: u16,
    pub cols: u16,
    /// Lines of scrollback to replay (default `replay::REPLAY_LINES`).
    pub scrollback: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundParams {
    pub background: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsParams {
    /// Only this workspace's sessions (its id).
    pub workspace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopAllParams {
    /// What this editor answers for: the sessions it shows, and everything (scripts
    /// too) when no other editor is connected. Else every session and script.
    pub mine: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineStopParams {
    /// Stop even while agents run.
    pub force: bool,
}

/// Every method a client may call, with its parameters.
// Each request is parsed once and handed on: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    // Cheap questions, answered at once.
    ResolveRepo(PathParams),
    Spotlights(NoParams),
    Trust(TrustParams),
    List(ListParams),
    Get(WorkspaceRequest),
    RunScripts(WorkspaceRequest),
    ChangesCached(WorkspaceRequest),
    SetViewed(FileRequest),
    Blob(FileRequest),
    /// A worktree file as on disk, and writing one: the live side of a review of a
    /// workspace on another machine.
    FileRead(FileRequest),
    FileWrite(FileRequest),
    /// A workspace's script or checks log (from a byte on): `:ConductorLog` and a failed
    /// check's output for a workspace on another machine.
    LogRead(WorkspaceRequest),
    /// The commits of a workspace's branch since its base (the review's commit list).
    Commits(WorkspaceRequest),
    /// Which of these programs the engine's PATH has, and its user's shell: the agents
    /// of a workspace on another machine are looked up there.
    FindPrograms(ProgramsParams),
    // Slow work, answered when done.
    Create(CreateRequest),
    RunSetup(WorkspaceRequest),
    Status(WorkspaceRequest),
    ArchivePreview(WorkspaceRequest),
    Archive(WorkspaceRequest),
    Restore(WorkspaceRequest),
    Delete(WorkspaceRequest),
    Doctor(DoctorRequest),
    Changes(ChangesRequest),
    RevertFile(FileRequest),
    SpotlightOn(SpotlightRequest),
    SpotlightSync(SpotlightRequest),
    SpotlightOff(SpotlightRequest),
    Checkpoint(CheckpointRequest),
    Checkpoints(CheckpointRequest),
    RevertTo(CheckpointRequest),
    Checks(ShipRequest),
    Merge(ShipRequest),
    DraftMessage(ShipRequest),
    Pr(ShipRequest),
    RunStart(RunStart),
    StopRuns(WorkspaceRequest),
    // Agent terminals.
    AgentStart(AgentStart),
    AgentPaste(PasteParams),
    AgentExpectRedraw(SessionParams),
    AgentScreen(SessionParams),
    AgentBackground(BackgroundParams),
    AgentResize(ResizeParams),
    AgentStop(SessionParams),
    AgentStopAll(StopAllParams),
    AgentForget(SessionParams),
    /// The sessions the engine runs (for a Neovim that opens a workspace).
    AgentSessions(SessionsParams),
    /// Show a running session here: its screen and scrollback now, then its output.
    AgentAttach(AttachParams),
    AgentDetach(SessionParams),
    // The engine itself.
    Options(OptionsUpdate),
    EngineStatus(NoParams),
    EngineStop(EngineStopParams),
}

impl Request {
    /// `method` with `params` (nil or an empty table for none), as a typed request.
    pub fn parse(method: &str, params: serde_json::Value) -> Result<Request, String> {
        let params = match params {
            serde_json::Value::Null => serde_json::json!({}),
            // Lua's empty table arrives as an empty array.
            serde_json::Value::Array(a) if a.is_empty() => serde_json::json!({}),
            other => other,
        };
        serde_json::from_value(serde_json::json!({ "method": method, "params": params })).map_err(
            |e| {
                let text = e.to_string();
                if text.starts_with("unknown variant") {
                    format!("conductor: unknown method {method:?}")
                } else {
                    format!("conductor: invalid parameters for {method}: {text}")
                }
            },
        )
    }
}

/// The folder under a remote host's `~/.local/share/conductor/` that holds the engine
/// program `engine` when the plugin copies it there: the version and a hash of the
/// program itself, so that a host never runs another build by mistake (a rebuild at the
/// same commit, a debug build of it).
pub fn install_dir_name(engine: &Path) -> io::Result<String> {
    let bytes = std::fs::read(engine)?;
    // FNV-1a (64 bits): stable across builds of this code, fast enough for 40 MB.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Ok(format!("{}-{hash:016x}", env!("CARGO_PKG_VERSION")))
}

/// The private directory that holds engine sockets: `$XDG_RUNTIME_DIR/conductor`, else
/// `/tmp/conductor-<uid>`. Made 0700; one that another user owns, or that others can
/// enter, is refused rather than used (a socket there could be anyone's).
pub fn runtime_dir() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("conductor"),
        _ => std::env::temp_dir().join(format!("conductor-{}", current_uid())),
    };
    private_dir(&dir)?;
    Ok(dir)
}

fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Makes `dir` (0700) or checks the one there is ours and private.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot make {}: {e}", dir.display()),
            ))
        }
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != current_uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory of this user's: remove it or set XDG_RUNTIME_DIR",
                dir.display()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The engine of `state_dir` (one per user and state directory: tests and demos with
/// their own state get their own engine). The name is short: socket paths are limited
/// to about 100 bytes.
pub fn socket_name(state_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(state_dir.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("engine-{hex}")
}

/// Where the engine of `state_dir` listens, and its files. The lock is in the state
/// directory (what it protects): two Neovims whose runtime directories differ (an ssh
/// session, `su`) still share one engine, found through the socket path it records.
pub struct EnginePaths {
    pub socket: PathBuf,
    pub pid: PathBuf,
    pub lock: PathBuf,
    /// The socket path of the engine that runs, in the state directory.
    pub record: PathBuf,
    pub log: PathBuf,
}

impl EnginePaths {
    pub fn for_state_dir(state_dir: &Path) -> io::Result<EnginePaths> {
        Ok(EnginePaths::in_runtime_dir(&runtime_dir()?, state_dir))
    }

    /// The same, under a runtime directory given (`runtime_dir()` reads the environment).
    pub fn in_runtime_dir(dir: &Path, state_dir: &Path) -> EnginePaths {
        let name = socket_name(state_dir);
        EnginePaths {
            socket: dir.join(format!("{name}.sock")),
            pid: dir.join(format!("{name}.pid")),
            lock: state_dir.join("engine.lock"),
            record: state_dir.join("engine.socket"),
            log: state_dir.join("engine.log"),
        }
    }

    /// The sockets to try, in order: this runtime directory's, then the one the running
    /// engine recorded (when it differs).
    pub fn sockets(&self) -> Vec<PathBuf> {
        let mut list = vec![self.socket.clone()];
        if let Ok(text) = std::fs::read_to_string(&self.record) {
            let recorded = PathBuf::from(text.trim());
            if !recorded.as_os_str().is_empty() && recorded != self.socket {
                list.push(recorded);
            }
        }
        list
    }

    /// A connection to the engine that runs, when one does (never starts one).
    pub fn connect(&self) -> Option<std::os::unix::net::UnixStream> {
        self.sockets()
            .iter()
            .find_map(|s| std::os::unix::net::UnixStream::connect(s).ok())
    }
}

/// How long a new engine may take to listen (it may wait for a stopping one's lock).
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts `engine_bin serve --state-dir STATE_DIR --detach` in a session of its own, its
/// output to the engine's log, and waits for that first process (which forks the engine
/// and exits at once).
pub fn spawn_engine(
    engine_bin: &Path,
    state_dir: &Path,
    paths: &EnginePaths,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let _ = std::fs::create_dir_all(state_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(|e| format!("conductor: cannot open {}: {e}", paths.log.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("conductor: {}: {e}", paths.log.display()))?;
    let mut cmd = std::process::Command::new(engine_bin);
    cmd.arg("serve")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--detach")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Neovim's own variables are not the engine's (agents get theirs per start).
        .env_remove("NVIM")
        .env_remove("NVIM_LISTEN_ADDRESS");
    // SAFETY: setsid is async-signal-safe; the child only execs after it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let status = cmd
        .status()
        .map_err(|e| format!("conductor: cannot start {}: {e}", engine_bin.display()))?;
    if !status.success() {
        return Err(format!(
            "conductor: the engine did not start ({status}); see {}",
            paths.log.display()
        ));
    }
    Ok(())
}

/// A connection to the engine of `state_dir`, started (`spawn_engine`) when none listens;
/// waits up to `timeout` for a new one. The error is one line that says why, with the
/// engine's own last words when it did not start. Without `engine_bin` it only connects.
pub fn connect_or_start(
    state_dir: &Path,
    engine_bin: Option<&Path>,
    timeout: std::time::Duration,
) -> Result<std::os::unix::net::UnixStream, String> {
    use std::os::unix::net::UnixStream;
    let paths = EnginePaths::for_state_dir(state_dir).map_err(|e| format!("conductor: {e}"))?;
    if let Some(s) = paths.connect() {
        return Ok(s);
    }
    let engine_bin = engine_bin.ok_or_else(|| {
        "conductor: the engine program (conductor-engine) was not found: build it with `cargo build --release`".to_string()
    })?;
    spawn_engine(engine_bin, state_dir, &paths)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match UnixStream::connect(&paths.socket) {
            Ok(s) => return Ok(s),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => {
                // Its own last words say why (a socket path too long, a directory refused).
                let log = std::fs::read_to_string(&paths.log).unwrap_or_default();
                let last = log.lines().last().unwrap_or("").trim().to_string();
                return Err(format!(
                    "conductor: the engine did not start listening on {} ({e}){}; see {}",
                    paths.socket.display(),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    },
                    paths.log.display()
                ));
            }
        }
    }
}

/// Asks the engine of `state_dir` to stop (whatever its protocol: `stop` is stable) and
/// waits until it has: its connection closes as the process exits. False when none runs.
pub fn stop_engine(state_dir: &Path, timeout: std::time::Duration) -> Result<bool, String> {
    let paths = EnginePaths::for_state_dir(state_dir).map_err(|e| e.to_string())?;
    let Some(mut s) = paths.connect() else {
        return Ok(false);
    };
    write_json(&mut s, &ClientMessage::Stop).map_err(|e| e.to_string())?;
    let _ = s.set_read_timeout(Some(timeout));
    let mut r = io::BufReader::new(s);
    while let Ok(Some(_)) = read_frame(&mut r) {}
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_json(&mut buf, &serde_json::json!({"a": 1})).unwrap();
        write_output(&mut buf, 7, b"hi\x1b[0m").unwrap();
        write_input(&mut buf, 9, b"\r").unwrap();
        write_ack(&mut buf, 7, 5).unwrap();
        let mut r = &buf[..];
        assert!(matches!(read_frame(&mut r).unwrap(), Some(Frame::Json(v)) if v["a"] == 1));
        assert!(
            matches!(read_frame(&mut r).unwrap(), Some(Frame::Output { session: 7, bytes }) if bytes == b"hi\x1b[0m")
        );
        assert!(
            matches!(read_frame(&mut r).unwrap(), Some(Frame::Input { session: 9, bytes }) if bytes == b"\r")
        );
        assert!(matches!(
            read_frame(&mut r).unwrap(),
            Some(Frame::Ack { session: 7, len: 5 })
        ));
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn session_events_have_the_shape_lua_reads() {
        let exited = SessionEvent::AgentExited {
            session: 3,
            code: Some(0),
            signal: None,
        };
        assert_eq!(
            exited.to_json(),
            serde_json::json!({"event": "agent_exited", "data": {"session": 3, "code": 0, "signal": null}})
        );
        let state = SessionEvent::AgentState {
            session: 1,
            state: crate::agent_state::AgentState::Waiting,
        };
        assert_eq!(
            state.to_json(),
            serde_json::json!({"event": "agent_state", "data": {"session": 1, "state": "waiting"}})
        );
    }

    #[test]
    fn a_huge_length_is_refused() {
        let mut buf = (u32::MAX).to_le_bytes().to_vec();
        buf.push(KIND_JSON);
        assert!(read_frame(&mut &buf[..]).is_err());
    }

    #[test]
    fn methods_parse_into_typed_requests() {
        assert!(matches!(
            Request::parse("list", serde_json::json!([])),
            Ok(Request::List(_))
        ));
        assert!(matches!(
            Request::parse(
                "agent_resize",
                serde_json::json!({"session": 3, "rows": 5, "cols": 20})
            ),
            Ok(Request::AgentResize(ResizeParams {
                session: 3,
                rows: 5,
                cols: 20
            }))
        ));
        let unknown = Request::parse("nope", serde_json::Value::Null).unwrap_err();
        assert_eq!(unknown, "conductor: unknown method \"nope\"");
        let bad = Request::parse("agent_resize", serde_json::json!({"session": "x"})).unwrap_err();
        assert!(
            bad.starts_with("conductor: invalid parameters for agent_resize"),
            "{bad}"
        );
    }
}
