//! What each request does: the typed `Request` to an engine call. Cheap questions and
//! terminal operations are answered on the client's own thread, in order; slow work
//! (git, scripts, fetches) runs on a worker and answers when done.
//!
//! Not here: the socket (server.rs), who sees which terminal (hub.rs).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use conductor::agent_state::AgentState;
use conductor::engine::Engine;
use conductor::error::{Error, Result};
use conductor::protocol::{Request, ServerMessage, SessionEvent, MAX_FRAME, PROTOCOL};
use conductor::pty::{Exit, SessionKind, SessionSink};
use serde_json::{json, Value};

use crate::hub::{Hub, Out, SessionInfo};

/// Everything a request may touch.
pub struct Ctx {
    pub engine: Arc<Engine>,
    pub hub: Arc<Hub>,
    pub runtime: tokio::runtime::Runtime,
    pub started: std::time::Instant,
    /// Set by `engine_stop`: the server exits once the reply is out.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Wakes the server's loop at once when `stopping` is set (it sleeps otherwise).
    pub wake: (std::sync::Mutex<()>, std::sync::Condvar),
    /// The engine is on its way out: new clients are told to retry (with a new engine).
    pub closing: std::sync::atomic::AtomicBool,
}

impl Ctx {
    /// Asks the server to stop now.
    pub fn stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _guard = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.1.notify_all();
    }
}

fn to_json<T: serde::Serialize>(r: Result<T>) -> Result<Value> {
    r.and_then(|v| serde_json::to_value(v).map_err(|e| Error::new(e.to_string())))
}

fn grace(engine: &Engine) -> Duration {
    Duration::from_millis(engine.options().stop_grace_ms)
}

pub fn reply(hub: &Hub, client: u32, id: u64, result: std::result::Result<Value, String>) {
    // An answer too large for one frame is an error, not a broken connection.
    let result = result.and_then(|value| {
        let len = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0);
        if len + 1024 > MAX_FRAME {
            Err(format!(
                "conductor: the answer is too large to send ({} MB)",
                len >> 20
            ))
        } else {
            Ok(value)
        }
    });
    let message = match result {
        Ok(value) => ServerMessage::Reply {
            id,
            ok: true,
            result: Some(value),
            error: None,
        },
        Err(error) => ServerMessage::Reply {
            id,
            ok: false,
            result: None,
            error: Some(error),
        },
    };
    hub.send(client, Out::Json(message));
}

pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

type Job = Box<dyn FnOnce() -> Result<Value> + Send>;

/// Where each of `names` is on this engine's PATH (null: not there), and the user's
/// shell (what the plain shell agent runs on this machine).
fn find_programs(names: &[String]) -> Value {
    let path = std::env::var_os("PATH");
    let found: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| {
            let at = conductor::process::find_program(n, path.as_deref());
            (
                n.clone(),
                at.map_or(Value::Null, |p| Value::from(p.to_string_lossy())),
            )
        })
        .collect();
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    serde_json::json!({ "found": found, "shell": shell })
}

/// Runs `req` for `client` and sends the reply (now or when the work is done).
pub fn dispatch(ctx: &Arc<Ctx>, client: u32, id: u64, req: Request) {
    let engine = Arc::clone(&ctx.engine);
    let inline = |r: Result<Value>| reply(&ctx.hub, client, id, r.map_err(|e| e.to_string()));
    let job: Job = match req {
        Request::ResolveRepo(p) => {
            return inline(to_json(engine.resolve_repo(
                &p.path,
                p.base.as_deref(),
                p.workspace.as_deref(),
            )))
        }
        Request::Spotlights(_) => {
            return inline(to_json(
                engine.store().and_then(|s| s.read()).map(|s| s.spotlights),
            ))
        }
        Request::Trust(p) => {
            return inline(to_json(engine.trust_file(&p.path, &p.sha256, p.allow)))
        }
        Request::List(p) => {
            return inline(to_json(engine.list(p.repo.as_deref(), p.include_archived)))
        }
        Request::Get(p) => return inline(to_json(engine.get(&p.workspace, p.repo.as_deref()))),
        Request::RunScripts(p) => {
            return inline(to_json(engine.run_scripts(&p.workspace, p.repo.as_deref())))
        }
        Request::ChangesCached(p) => {
            return inline(to_json(
                engine.changes_cached(&p.workspace, p.repo.as_deref()),
            ))
        }
        Request::SetViewed(p) => return inline(to_json(engine.set_viewed(&p))),
        Request::Blob(p) => return inline(to_json(engine.blob(&p))),
        Request::FileRead(p) => return inline(to_json(engine.file_read(&p))),
        Request::FileWrite(p) => return inline(to_json(engine.file_write(&p))),
        Request::LogRead(p) => return inline(to_json(engine.log_read(&p))),
        Request::Commits(p) => return inline(to_json(engine.commits(&p))),
        Request::FindPrograms(p) => return inline(Ok(find_programs(&p.names))),
        Request::AgentStart(req) => return inline(agent_start(ctx, client, req)),
        Request::AgentPaste(p) => {
            return inline(to_json(engine.sessions.paste(p.session, &p.text, p.submit)))
        }
        Request::AgentExpectRedraw(p) => {
            return inline(to_json(engine.sessions.expect_redraw(p.session)))
        }
        Request::AgentScreen(p) => return inline(to_json(engine.sessions.screen_text(p.session))),
        Request::AgentBackground(p) => {
            engine.sessions.set_background(p.background.as_deref());
            return inline(Ok(Value::Bool(true)));
        }
        Request::AgentResize(p) => {
            ctx.hub.resize(p.session, p.rows, p.cols);
            return inline(to_json(engine.sessions.resize(p.session, p.rows, p.cols)));
        }
        Request::AgentStop(p) => {
            // The grace period must not hold this client's other requests.
            std::thread::spawn(move || engine.sessions.stop(p.session, grace(&engine)));
            return inline(Ok(Value::Bool(true)));
        }
        Request::AgentStopAll(p) => {
            let hub = Arc::clone(&ctx.hub);
            Box::new(move || {
                let grace = grace(&engine).min(Duration::from_secs(1));
                // An editor stops what it started that no other editor shows; the last
                // editor, everything.
                if p.mine && hub.clients().len() > 1 {
                    let ids = hub.owned_alone(client);
                    engine.sessions.stop_many(&ids, grace);
                    Ok(json!(ids.len()))
                } else {
                    let ids = engine.sessions.matching(None, None);
                    engine.stop_all_processes(grace);
                    Ok(json!(ids.len()))
                }
            })
        }
        Request::AgentForget(p) => {
            engine.sessions.forget(p.session);
            ctx.hub.forget(p.session);
            return inline(Ok(Value::Bool(true)));
        }
        Request::AgentSessions(p) => {
            return inline(to_json(Ok(ctx.hub.list(p.workspace.as_deref()))))
        }
        Request::AgentAttach(p) => {
            // The screen takes the new size first, then the program hears of it.
            let lines = p.scrollback.unwrap_or(conductor::replay::REPLAY_LINES);
            let r = ctx.hub.attach(client, p.session, (p.rows, p.cols), lines);
            if r.is_ok() && p.rows > 0 && p.cols > 0 {
                let _ = engine.sessions.resize(p.session, p.rows, p.cols);
            }
            if r.is_ok() {
                let _ = engine.sessions.expect_redraw(p.session);
            }
            return reply(&ctx.hub, client, id, r.map(|()| Value::Bool(true)));
        }
        Request::AgentDetach(p) => {
            ctx.hub.detach(client, p.session);
            return inline(Ok(Value::Bool(true)));
        }
        Request::Options(update) => {
            engine.update_options(update.options, &update.keys);
            return inline(Ok(Value::Bool(true)));
        }
        Request::EngineStatus(_) => return inline(Ok(status(ctx))),
        Request::EngineStop(p) => {
            let running = ctx
                .hub
                .list(None)
                .into_iter()
                .filter(|s| !s.exited && s.kind == SessionKind::Agent)
                .count();
            if running > 0 && !p.force {
                return inline(Err(Error::new(format!(
                    "{running} agent(s) run in the engine: stopping it stops them"
                ))));
            }
            // The reply first: the server exits soon after it is told to stop.
            inline(Ok(json!(running)));
            ctx.stop();
            return;
        }
        Request::Create(req) => Box::new(move || to_json(engine.create(req, Some(id)))),
        Request::RunSetup(req) => Box::new(move || to_json(engine.run_setup(req))),
        Request::Status(req) => Box::new(move || to_json(engine.status(req))),
        Request::ArchivePreview(req) => Box::new(move || to_json(engine.archive_preview(req))),
        Request::Archive(req) => Box::new(move || to_json(engine.archive(req))),
        Request::Restore(req) => Box::new(move || to_json(engine.restore(req, Some(id)))),
        Request::Delete(req) => Box::new(move || to_json(engine.delete(req))),
        Request::Doctor(req) => Box::new(move || to_json(engine.doctor(&req))),
        Request::Changes(req) => Box::new(move || to_json(engine.changes(&req))),
        Request::RevertFile(req) => Box::new(move || to_json(engine.revert_file(&req))),
        Request::SpotlightOn(req) => Box::new(move || to_json(engine.spotlight_on(&req))),
        Request::SpotlightSync(req) => Box::new(move || to_json(engine.spotlight_sync(&req))),
        Request::SpotlightOff(req) => Box::new(move || to_json(engine.spotlight_off(&req))),
        Request::Checkpoint(req) => Box::new(move || to_json(engine.checkpoint(&req))),
        Request::Checkpoints(req) => Box::new(move || to_json(engine.checkpoints(&req))),
        Request::RevertTo(req) => Box::new(move || to_json(engine.revert_to(&req))),
        Request::Checks(req) => Box::new(move || to_json(engine.run_checks(&req))),
        Request::Merge(req) => Box::new(move || to_json(engine.merge(&req))),
        Request::DraftMessage(req) => Box::new(move || to_json(engine.draft_message(&req))),
        Request::Pr(req) => Box::new(move || to_json(engine.pull_request(&req))),
        Request::RunStart(mut req) => {
            req.base_env = ctx.hub.env_of(client);
            let sink = Arc::new(HubSink {
                ctx: Arc::clone(ctx),
                owner: client,
                size: (req.rows, req.cols),
            });
            let hub = Arc::clone(&ctx.hub);
            Box::new(move || {
                let label = req.script.clone();
                let started = engine.run_start(req, sink)?;
                hub.register(
                    info_of(&started, SessionKind::Run, label, (0, 0)),
                    Some(client),
                );
                to_json(Ok(started))
            })
        }
        Request::StopRuns(req) => {
            Box::new(move || to_json(engine.stop_sessions(&req, Some(SessionKind::Run))))
        }
    };
    let hub = Arc::clone(&ctx.hub);
    ctx.runtime.spawn_blocking(move || {
        let result = match catch_unwind(AssertUnwindSafe(job)) {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(panic) => Err(format!("internal error: {}", panic_text(&panic))),
        };
        reply(&hub, client, id, result);
    });
}

fn info_of(
    started: &conductor::terminals::Started,
    kind: SessionKind,
    label: Option<String>,
    size: (u16, u16),
) -> SessionInfo {
    SessionInfo {
        session: started.session,
        workspace_id: started.workspace.id.clone(),
        workspace: started.workspace.name.clone(),
        kind,
        name: started.name.clone(),
        label: label.unwrap_or_else(|| started.name.clone()),
        state: String::new(),
        rows: size.0,
        cols: size.1,
        ..Default::default()
    }
}

/// Starting a PTY takes a few milliseconds: done inline, so the client knows the session
/// before any of its output can arrive.
fn agent_start(
    ctx: &Arc<Ctx>,
    client: u32,
    mut req: conductor::terminals::AgentStart,
) -> Result<Value> {
    req.spawn.base_env = ctx.hub.env_of(client);
    let size = (req.spawn.rows, req.spawn.cols);
    let label = req.label.clone();
    let sink = Arc::new(HubSink {
        ctx: Arc::clone(ctx),
        owner: client,
        size,
    });
    let started = ctx.engine.agent_start(req, sink)?;
    ctx.hub.register(
        info_of(&started, SessionKind::Agent, label, size),
        Some(client),
    );
    to_json(Ok(started))
}

/// A session's output and changes: into the hub, and as events to every client.
struct HubSink {
    ctx: Arc<Ctx>,
    owner: u32,
    size: (u16, u16),
}

impl SessionSink for HubSink {
    fn output(&self, session: u64, bytes: Vec<u8>) {
        self.ctx
            .hub
            .output(session, bytes, Some(self.owner), self.size);
    }

    fn state(&self, session: u64, state: AgentState) {
        let engine = &self.ctx.engine;
        // An agent that stops working has probably changed files: refresh its list.
        if state == AgentState::Idle {
            if let Some(ws) = engine.sessions.workspace_of(session) {
                engine.refresh_changes(&ws);
            }
        }
        let name = serde_json::to_value(state).unwrap_or_default();
        self.ctx
            .hub
            .set_state(session, name.as_str().unwrap_or_default(), Some(self.owner));
        self.ctx
            .hub
            .broadcast(SessionEvent::AgentState { session, state }.to_json());
    }

    fn exited(&self, session: u64, exit: Exit) {
        let engine = &self.ctx.engine;
        // A program that ended has probably changed files too.
        if let Some(ws) = engine.sessions.workspace_of(session) {
            engine.refresh_changes(&ws);
        }
        let code = exit.code;
        self.ctx
            .hub
            .set_exited(session, exit.code, exit.signal.clone(), Some(self.owner));
        self.ctx.hub.broadcast(
            SessionEvent::AgentExited {
                session,
                code,
                signal: exit.signal,
            }
            .to_json(),
        );
    }
}

/// What `:ConductorEngine status` shows.
#[derive(serde::Serialize)]
struct EngineStatus {
    pid: u32,
    version: &'static str,
    protocol: u32,
    uptime_s: u64,
    clients: Vec<ClientInfo>,
    sessions: Vec<SessionInfo>,
    /// Setup, archive and check scripts running.
    scripts: usize,
}

#[derive(serde::Serialize)]
struct ClientInfo {
    client: u32,
    pid: u32,
}

pub fn status(ctx: &Ctx) -> Value {
    let status = EngineStatus {
        pid: std::process::id(),
        version: crate::VERSION,
        protocol: PROTOCOL,
        uptime_s: ctx.started.elapsed().as_secs(),
        clients: ctx
            .hub
            .clients()
            .into_iter()
            .map(|(client, pid)| ClientInfo { client, pid })
            .collect(),
        sessions: ctx.hub.list(None),
        scripts: ctx.engine.processes_running(),
    };
    serde_json::to_value(status).unwrap_or_default()
}
