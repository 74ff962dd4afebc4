//! The adapter: the Lua module table that `lua/conductor/engine.lua` loads. It converts
//! Lua values to engine requests, runs them (cheap ones inline, the rest on worker
//! threads) and returns answers through the bridge. Its own decisions are the editor's
//! only: what may run on the main thread, refreshing a workspace's changes when one of
//! its agents goes idle or exits, and how long quitting Neovim waits for agents to stop.
//! Not here: what an operation does (`core`), the main-thread queue (`bridge.rs`).

mod bridge;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use mlua::{Function, Lua, LuaSerdeExt, Table, Value};
use serde::Deserialize;

use crate::core::agent_state::AgentState;
use crate::core::checkpoints::CheckpointRequest;
use crate::core::doctor::DoctorRequest;
use crate::core::engine::{Engine, Options};
use crate::core::error::{Error, Result};
use crate::core::lifecycle::{CreateRequest, WorkspaceRequest};
use crate::core::pty::{Exit, SessionKind, SessionSink};
use crate::core::review::{ChangesRequest, FileRequest, ShipRequest};
use crate::core::spotlight::SpotlightRequest;
use crate::core::terminals::{AgentStart, RunStart};
use bridge::Message;

static ENGINE: Mutex<Option<Arc<Engine>>> = Mutex::new(None);
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CONDUCTOR_COMMIT"),
    ")"
);

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let raw = lua.create_table()?;
    raw.set(
        "start",
        lua.create_function(|lua, (opts, handler): (Value, Function)| {
            guarded(|| start(lua, opts, handler).map(|()| true))
        })?,
    )?;
    raw.set(
        "call",
        lua.create_function(|lua, (method, params): (String, Value)| {
            guarded(|| call(lua, &method, params))
        })?,
    )?;
    raw.set(
        "request",
        lua.create_function(|lua, (method, params): (String, Value)| {
            guarded(|| request(lua, &method, params))
        })?,
    )?;
    raw.set(
        "agent_start",
        lua.create_function(|lua, params: Value| guarded(|| agent_start(lua, params)))?,
    )?;
    raw.set(
        "agent_write",
        lua.create_function(|_, (session, bytes): (u64, mlua::String)| {
            guarded(|| {
                engine()?
                    .sessions
                    .write(session, bytes.as_bytes().to_vec())
                    .map(|()| true)
                    .map_err(lua_err)
            })
        })?,
    )?;
    raw.set(
        "agent_paste",
        lua.create_function(
            |_, (session, text, submit): (u64, mlua::String, Option<bool>)| {
                guarded(|| {
                    let text = String::from_utf8_lossy(&text.as_bytes()).into_owned();
                    engine()?
                        .sessions
                        .paste(session, &text, submit.unwrap_or(false))
                        .map(|()| true)
                        .map_err(lua_err)
                })
            },
        )?,
    )?;
    raw.set(
        "agent_expect_redraw",
        lua.create_function(|_, session: u64| {
            guarded(|| {
                engine()?
                    .sessions
                    .expect_redraw(session)
                    .map(|()| true)
                    .map_err(lua_err)
            })
        })?,
    )?;
    raw.set(
        "agent_screen",
        lua.create_function(|_, session: u64| {
            guarded(|| engine()?.sessions.screen_text(session).map_err(lua_err))
        })?,
    )?;
    raw.set(
        "agent_background",
        lua.create_function(|_, background: Option<String>| {
            guarded(|| {
                engine()?.sessions.set_background(background.as_deref());
                Ok(true)
            })
        })?,
    )?;
    raw.set(
        "agent_resize",
        lua.create_function(|_, (session, rows, cols): (u64, u16, u16)| {
            guarded(|| {
                engine()?
                    .sessions
                    .resize(session, rows, cols)
                    .map(|()| true)
                    .map_err(lua_err)
            })
        })?,
    )?;
    raw.set(
        "agent_stop",
        lua.create_function(|_, session: u64| {
            guarded(|| {
                let engine = engine()?;
                // The grace period must not freeze the editor.
                std::thread::spawn(move || engine.sessions.stop(session, engine_grace(&engine)));
                Ok(true)
            })
        })?,
    )?;
    raw.set(
        "agent_stop_all",
        lua.create_function(|_, ()| {
            guarded(|| {
                // Called as Neovim exits: wait here, or the SIGKILL after the grace period
                // would die with this process and leave agents that ignore SIGHUP behind.
                // Scripts (setup, archive, checks) stop too: none may survive :qa.
                let engine = engine()?;
                let ids = engine.sessions.matching(None, None);
                let grace = engine_grace(&engine).min(std::time::Duration::from_secs(1));
                engine.stop_all_processes(grace);
                Ok(ids.len())
            })
        })?,
    )?;
    raw.set(
        "agent_forget",
        lua.create_function(|_, session: u64| {
            guarded(|| engine().map(|e| e.sessions.forget(session)).map(|()| true))
        })?,
    )?;
    raw.set(
        "on_output",
        lua.create_function(|_, handler: Function| {
            guarded(|| {
                bridge::set_output_handler(handler);
                Ok(true)
            })
        })?,
    )?;
    let core: Table = lua.load(RAISE_PLAIN_ERRORS).call(raw)?;
    core.set("version", lua.create_function(|_, ()| Ok(VERSION))?)?;
    core.set(
        "commit",
        lua.create_function(|_, ()| Ok(env!("CONDUCTOR_COMMIT")))?,
    )?;
    Ok(core)
}

/// The Rust functions answer `ok, value_or_message`; these wrappers raise the message as a
/// plain string, so Lua callers see "not a git repository: ..." and not mlua's wrapped error
/// with its "runtime error:" prefix and traceback.
const RAISE_PLAIN_ERRORS: &str = r#"
local raw = ...
local function wrap(f)
  return function(...)
    local ok, value = f(...)
    if not ok then error(value, 0) end
    return value
  end
end
local core = {}
for name, f in pairs(raw) do core[name] = wrap(f) end
return core
"#;

/// Runs `f`, turning its error or panic into `(false, message)` for the Lua wrappers.
fn guarded<T: mlua::IntoLua>(
    f: impl FnOnce() -> mlua::Result<T>,
) -> mlua::Result<(bool, mlua::Either<T, String>)> {
    Ok(match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => (true, mlua::Either::Left(v)),
        Ok(Err(e)) => (false, mlua::Either::Right(plain(&e))),
        Err(panic) => (
            false,
            mlua::Either::Right(format!("conductor: internal error: {}", panic_text(&panic))),
        ),
    })
}

fn plain(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn lua_err(e: Error) -> mlua::Error {
    mlua::Error::runtime(e.to_string())
}

fn start(lua: &Lua, opts: Value, handler: Function) -> mlua::Result<()> {
    let options: Options = lua
        .from_value(opts)
        .map_err(|e| mlua::Error::runtime(format!("conductor: invalid engine options: {e}")))?;
    bridge::install(lua, handler)?;
    let mut engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    match engine.as_ref() {
        Some(e) => e.set_options(options),
        None => {
            let sink = Arc::new(|event| {
                if let Ok(json) = serde_json::to_value(&event) {
                    bridge::post(Message::Event(json));
                }
            });
            *engine = Some(Engine::new(options, sink));
        }
    }
    Ok(())
}

fn engine() -> mlua::Result<Arc<Engine>> {
    ENGINE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| mlua::Error::runtime("conductor: engine not started (call setup() first)"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("conductor-worker")
            .enable_time()
            .build()
            .expect("a tokio runtime can always be built")
    })
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct PathParams {
    path: PathBuf,
    base: Option<String>,
    workspace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct TrustParams {
    path: PathBuf,
    sha256: String,
    allow: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ListParams {
    repo: Option<PathBuf>,
    include_archived: bool,
}

fn params<T: for<'de> Deserialize<'de> + Default>(
    lua: &Lua,
    method: &str,
    value: Value,
) -> mlua::Result<T> {
    if value.is_nil() {
        return Ok(T::default());
    }
    lua.from_value(value).map_err(|e| {
        mlua::Error::runtime(format!("conductor: invalid parameters for {method}: {e}"))
    })
}

fn to_json<T: serde::Serialize>(r: Result<T>) -> Result<serde_json::Value> {
    r.and_then(|v| serde_json::to_value(v).map_err(|e| Error::new(e.to_string())))
}

/// Cheap, synchronous questions (completion, the picker's cached list).
fn call(lua: &Lua, method: &str, value: Value) -> mlua::Result<Value> {
    let engine = engine()?;
    let json = match method {
        "resolve_repo" => {
            let p: PathParams = params(lua, method, value)?;
            to_json(engine.resolve_repo(&p.path, p.base.as_deref(), p.workspace.as_deref()))
        }
        "spotlights" => to_json(engine.store().and_then(|s| s.read()).map(|s| s.spotlights)),
        "trust" => {
            let p: TrustParams = params(lua, method, value)?;
            to_json(engine.trust_file(&p.path, &p.sha256, p.allow))
        }
        "list" => {
            let p: ListParams = params(lua, method, value)?;
            to_json(engine.list(p.repo.as_deref(), p.include_archived))
        }
        "get" => {
            let p: WorkspaceRequest = params(lua, method, value)?;
            to_json(engine.get(&p.workspace, p.repo.as_deref()))
        }
        "run_scripts" => {
            // The names of the workspace's run scripts (none: no run action to offer).
            let p: WorkspaceRequest = params(lua, method, value)?;
            to_json(engine.run_scripts(&p.workspace, p.repo.as_deref()))
        }
        "changes_cached" => {
            let p: WorkspaceRequest = params(lua, method, value)?;
            to_json(engine.changes_cached(&p.workspace, p.repo.as_deref()))
        }
        "set_viewed" => {
            let p: FileRequest = params(lua, method, value)?;
            to_json(engine.set_viewed(&p))
        }
        "blob" => {
            // File contents go to Lua as bytes, not through JSON (they need not be UTF-8).
            let p: FileRequest = params(lua, method, value)?;
            return match engine.blob(&p).map_err(lua_err)? {
                None => Ok(Value::Nil),
                Some(blob) => {
                    let t = lua.create_table()?;
                    t.set("text", lua.create_string(&blob.bytes)?)?;
                    t.set("binary", blob.binary)?;
                    Ok(Value::Table(t))
                }
            };
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "conductor: unknown call {other:?}"
            )))
        }
    }
    .map_err(lua_err)?;
    bridge::to_lua(lua, &json)
}

fn engine_grace(engine: &Engine) -> std::time::Duration {
    std::time::Duration::from_millis(engine.options().stop_grace_ms)
}

/// Terminal output and agent changes, from PTY threads to the main thread.
struct TerminalSink;

impl SessionSink for TerminalSink {
    fn output(&self, session: u64, bytes: Vec<u8>) {
        bridge::post_output(session, bytes);
    }

    fn state(&self, session: u64, state: AgentState) {
        // An agent that stops working has probably changed files: refresh its list.
        if state == AgentState::Idle {
            if let Ok(engine) = engine() {
                if let Some(ws) = engine.sessions.workspace_of(session) {
                    engine.refresh_changes(&ws);
                }
            }
        }
        bridge::post(Message::Event(serde_json::json!({
            "event": "agent_state", "data": { "session": session, "state": state }
        })));
    }

    fn exited(&self, session: u64, exit: Exit) {
        // A program that ended has probably changed files too.
        if let Ok(engine) = engine() {
            if let Some(ws) = engine.sessions.workspace_of(session) {
                engine.refresh_changes(&ws);
            }
        }
        bridge::post(Message::Event(serde_json::json!({
            "event": "agent_exited", "data": { "session": session, "code": exit.code, "signal": exit.signal }
        })));
    }
}

/// Starting a PTY takes a few milliseconds, so it is done inline: the Lua side gets the
/// session id before any output can arrive for it.
fn agent_start(lua: &Lua, value: Value) -> mlua::Result<Value> {
    let req: AgentStart = params(lua, "agent_start", value)?;
    let started = engine()?
        .agent_start(req, Arc::new(TerminalSink))
        .map_err(lua_err)?;
    let json = to_json(Ok(started)).map_err(lua_err)?;
    bridge::to_lua(lua, &json)
}

type Job = Box<dyn FnOnce() -> Result<serde_json::Value> + Send>;

/// Slow work: runs on a worker thread, answers through the bridge. Returns the request id.
fn request(lua: &Lua, method: &str, value: Value) -> mlua::Result<u64> {
    let engine = engine()?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let job: Job = match method {
        "create" => {
            let req: CreateRequest = params(lua, method, value)?;
            Box::new(move || to_json(engine.create(req, Some(id))))
        }
        "run_setup" | "status" | "archive_preview" | "archive" | "restore" | "delete" => {
            let req: WorkspaceRequest = params(lua, method, value)?;
            match method {
                "run_setup" => Box::new(move || to_json(engine.run_setup(req))),
                "status" => Box::new(move || to_json(engine.status(req))),
                "archive_preview" => Box::new(move || to_json(engine.archive_preview(req))),
                "archive" => Box::new(move || to_json(engine.archive(req))),
                "restore" => Box::new(move || to_json(engine.restore(req, Some(id)))),
                _ => Box::new(move || to_json(engine.delete(req))),
            }
        }
        "doctor" => {
            let req: DoctorRequest = params(lua, method, value)?;
            Box::new(move || to_json(engine.doctor(&req)))
        }
        "changes" => {
            let req: ChangesRequest = params(lua, method, value)?;
            Box::new(move || to_json(engine.changes(&req)))
        }
        "revert_file" => {
            let req: FileRequest = params(lua, method, value)?;
            Box::new(move || to_json(engine.revert_file(&req)))
        }
        "spotlight_on" | "spotlight_sync" | "spotlight_off" => {
            let req: SpotlightRequest = params(lua, method, value)?;
            match method {
                "spotlight_on" => Box::new(move || to_json(engine.spotlight_on(&req))),
                "spotlight_sync" => Box::new(move || to_json(engine.spotlight_sync(&req))),
                _ => Box::new(move || to_json(engine.spotlight_off(&req))),
            }
        }
        "checkpoint" | "checkpoints" | "revert_to" => {
            let req: CheckpointRequest = params(lua, method, value)?;
            match method {
                "checkpoint" => Box::new(move || to_json(engine.checkpoint(&req))),
                "checkpoints" => Box::new(move || to_json(engine.checkpoints(&req))),
                _ => Box::new(move || to_json(engine.revert_to(&req))),
            }
        }
        "checks" | "merge" | "draft_message" | "pr" => {
            let req: ShipRequest = params(lua, method, value)?;
            match method {
                "checks" => Box::new(move || to_json(engine.run_checks(&req))),
                "merge" => Box::new(move || to_json(engine.merge(&req))),
                "draft_message" => Box::new(move || to_json(engine.draft_message(&req))),
                _ => Box::new(move || to_json(engine.pull_request(&req))),
            }
        }
        "run_start" => {
            let req: RunStart = params(lua, method, value)?;
            Box::new(move || to_json(engine.run_start(req, Arc::new(TerminalSink))))
        }
        "stop_runs" => {
            let req: WorkspaceRequest = params(lua, method, value)?;
            Box::new(move || to_json(engine.stop_sessions(&req, Some(SessionKind::Run))))
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "conductor: unknown request {other:?}"
            )))
        }
    };
    runtime().spawn_blocking(move || {
        let result = match catch_unwind(AssertUnwindSafe(job)) {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(panic) => Err(format!("internal error: {}", panic_text(&panic))),
        };
        bridge::post(Message::Reply { id, result });
    });
    Ok(id)
}
