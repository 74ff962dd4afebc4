//! This Neovim's connection to the engine process: started on first use when none runs,
//! spoken to in frames (src/core/protocol.rs). A reader thread hands replies, events
//! and terminal output to the bridge (the main thread); a writer thread sends what the
//! main thread queues, so the editor never blocks on the socket. Cheap calls wait here
//! for their reply; everything else answers through the bridge.
//!
//! When the engine goes away (stopped, killed), every waiting call fails, Lua hears
//! `engine_lost`, and the next call connects again (starting a new engine).
//!
//! Besides the local engine, one connection per remote host (issue 17), over the user's
//! own ssh (hosts.rs): a request goes to the host its parameters name, and what comes back
//! from a host is made unique here (its workspace ids and session numbers).
//!
//! Not here: what the engine does (src/engine), the Lua side (lua/conductor/engine.lua).

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::core::protocol::{
    self, read_frame, ClientMessage, Frame, Request, ServerMessage, PROTOCOL,
};

use super::bridge::{self, Message};
use super::hosts::{self, Route};

use crate::core::protocol::START_TIMEOUT;
/// How long a cheap call may wait for its reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Waiters = Mutex<HashMap<u64, mpsc::Sender<Result<serde_json::Value, String>>>>;

pub struct Connection {
    out: mpsc::Sender<Vec<u8>>,
    /// The host it reaches; None for this machine's engine.
    pub route: Option<Route>,
    client: u32,
    pub engine_pid: u32,
    pub engine_version: String,
    pub generation: u64,
    waiters: Arc<Waiters>,
    alive: Arc<AtomicBool>,
    /// The ssh of a connection to a host.
    child: ChildSlot,
}

type ChildSlot = Arc<Mutex<Option<std::process::Child>>>;

/// Where to find and how to start the engine, from `core.start`.
#[derive(Clone, Default)]
pub struct Target {
    pub state_dir: PathBuf,
    pub engine_bin: Option<PathBuf>,
    /// The engine options (`setup()`), sent on every connect.
    pub options: serde_json::Value,
}

static TARGET: Mutex<Option<Target>> = Mutex::new(None);
/// Request ids never repeat in this Neovim, whichever connection sends them (a reply of
/// a lost engine must not answer a newer request).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Connections made so far: `engine_lost` names the one that was lost.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static CONNECTION: Mutex<Option<Arc<Connection>>> = Mutex::new(None);
/// The connections to remote hosts, by host name.
static REMOTE: Mutex<Option<HashMap<String, Arc<Connection>>>> = Mutex::new(None);

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remembers the target; a live connection gets the new options.
pub fn configure(target: Target) -> Result<(), String> {
    let options = target.options.clone();
    *lock(&TARGET) = Some(target);
    let live = lock(&CONNECTION).clone().filter(|c| c.alive());
    if let Some(c) = live {
        c.call("options", options)?;
    }
    Ok(())
}

/// The live connection, made (and the engine started) when there is none.
pub fn connection() -> Result<Arc<Connection>, String> {
    let mut current = lock(&CONNECTION);
    if let Some(c) = current.as_ref().filter(|c| c.alive()) {
        return Ok(Arc::clone(c));
    }
    let target = lock(&TARGET)
        .clone()
        .ok_or("conductor: engine not started (call setup() first)")?;
    // An engine that is closing refuses with "closing": the next attempt starts (or
    // finds) its successor.
    let mut tries = 0;
    let c = loop {
        match Connection::open(&target) {
            Err(e) if e.ends_with("[closing]") && tries < 25 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            other => break Arc::new(other?),
        }
    };
    *current = Some(Arc::clone(&c));
    drop(current);
    c.call("options", target.options)?;
    Ok(c)
}

/// This machine's engine program (the one copied to hosts), from `core.start`.
pub fn local_engine() -> Option<PathBuf> {
    lock(&TARGET).as_ref().and_then(|t| t.engine_bin.clone())
}

/// The live connection, without making one.
pub fn current() -> Option<Arc<Connection>> {
    lock(&CONNECTION).clone().filter(|c| c.alive())
}

/// The live connection to `host` (None: this machine's engine), made when there is none.
pub fn connection_to(host: Option<&str>) -> Result<Arc<Connection>, String> {
    let Some(name) = host else {
        return connection();
    };
    let mut remote = lock(&REMOTE);
    let map = remote.get_or_insert_with(HashMap::new);
    if let Some(c) = map.get(name).filter(|c| c.alive()) {
        return Ok(Arc::clone(c));
    }
    let spec = hosts::spec(name)?;
    let route = hosts::route(name);
    let (reader, writer, child) = hosts::spawn(name, &spec)?;
    let c = Arc::new(Connection::open_on(
        reader,
        writer,
        Some(child),
        Some(route),
    )?);
    map.insert(name.to_string(), Arc::clone(&c));
    drop(remote);
    if let Some(options) = spec.options.clone() {
        c.call("options", options)?;
    }
    // Terminals of this host that lost their connection attach again (agent/output.lua).
    bridge::post(Message::Event(serde_json::json!({
        "event": "host_connected",
        "data": { "host": name, "generation": c.generation },
    })));
    Ok(c)
}

/// The live connection to `host` (None: this machine's), without making one.
pub fn current_to(host: Option<&str>) -> Option<Arc<Connection>> {
    match host {
        None => current(),
        Some(name) => lock(&REMOTE)
            .as_ref()
            .and_then(|m| m.get(name).cloned())
            .filter(|c| c.alive()),
    }
}

/// Drops the connection to `host` (its ssh ends; the engine there runs on).
pub fn disconnect(host: &str) {
    let c = lock(&REMOTE).as_mut().and_then(|m| m.remove(host));
    if let Some(c) = c {
        c.close();
    }
}

/// Output bytes of `session` reached its terminal: the engine may send more.
pub fn ack(session: u64, len: usize) {
    let (host, remote_session) = hosts::session_route(session);
    if let Some(c) = current_to(host.as_deref()) {
        let mut frame = Vec::new();
        let _ = protocol::write_ack(&mut frame, remote_session, len as u64);
        let _ = c.out.send(frame);
    }
}

impl Connection {
    fn open(target: &Target) -> Result<Connection, String> {
        let stream = protocol::connect_or_start(
            &target.state_dir,
            target.engine_bin.as_deref(),
            START_TIMEOUT,
        )?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Connection::open_on(Box::new(stream), Box::new(writer), None, None)
    }

    /// Says hello over `reader`/`writer` (a socket, or an ssh's pipes) and waits for the
    /// welcome; then the reader and writer threads take over.
    fn open_on(
        reader: Box<dyn Read + Send>,
        mut w: Box<dyn Write + Send>,
        child: Option<std::process::Child>,
        route: Option<Route>,
    ) -> Result<Connection, String> {
        let remote = route.is_some();
        let mut child = child;
        let closed = |child: &mut Option<std::process::Child>| match child.take() {
            Some(c) => {
                let id = c.id();
                let why = hosts::why_closed(route.as_ref(), c);
                hosts::forget(id);
                why
            }
            None => "conductor: the engine closed the connection".to_string(),
        };
        // An ssh given up on is stopped and reaped.
        let give_up = |child: &mut Option<std::process::Child>| {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
                hosts::forget(c.id());
            }
        };
        let hello = protocol::write_json(
            &mut w,
            &ClientMessage::Hello {
                protocol: PROTOCOL,
                version: super::VERSION.into(),
                pid: std::process::id(),
                // A host's agents get that host's environment: nothing of this machine's
                // (its paths, its keys) goes there.
                env: (!remote).then(|| std::env::vars().collect()),
            },
        )
        .and_then(|()| w.flush());
        if hello.is_err() {
            return Err(closed(&mut child));
        }
        // The welcome is read on the reader thread, so that a host that never answers
        // (an ssh that hangs) is given up on here.
        let (welcome_tx, welcome_rx) = mpsc::channel();
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
        let alive = Arc::new(AtomicBool::new(true));
        let waiters: Arc<Waiters> = Arc::default();
        let child_slot: ChildSlot = Arc::default();
        {
            let (alive, waiters, route, child_slot) = (
                Arc::clone(&alive),
                Arc::clone(&waiters),
                route.clone(),
                Arc::clone(&child_slot),
            );
            std::thread::Builder::new()
                .name("conductor-engine-reader".into())
                .spawn(move || {
                    let mut reader = BufReader::with_capacity(64 * 1024, reader);
                    // What a host's shell printed before the engine started is not ours.
                    if let Some(Err(e)) = route.as_ref().map(|_| hosts::skip_to_ready(&mut reader))
                    {
                        let _ = welcome_tx.send(Err(e));
                        alive.store(false, Ordering::SeqCst);
                        return;
                    }
                    let welcome = match read_frame(&mut reader) {
                        Ok(Some(Frame::Json(v))) => serde_json::from_value::<ServerMessage>(v)
                            .map_err(|e| {
                                format!("conductor: the engine said something unexpected: {e}")
                            }),
                        _ => Err(String::new()),
                    };
                    let welcomed = matches!(welcome, Ok(ServerMessage::Welcome { .. }));
                    if welcome_tx.send(welcome).is_err() || !welcomed {
                        alive.store(false, Ordering::SeqCst);
                        return;
                    }
                    read_loop(reader, &alive, &waiters, generation, route.as_ref());
                    let ssh = lock(&child_slot).take();
                    if let Some(mut c) = ssh {
                        let _ = c.kill();
                        let _ = c.wait();
                        hosts::forget(c.id());
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        let wait = if remote {
            hosts::CONNECT_TIMEOUT
        } else {
            START_TIMEOUT
        };
        let welcome = match welcome_rx.recv_timeout(wait) {
            Ok(Ok(w)) => w,
            Ok(Err(e)) if !e.is_empty() => {
                give_up(&mut child);
                return Err(e);
            }
            Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(closed(&mut child))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                give_up(&mut child);
                return Err(match &route {
                    Some(r) => format!(
                        "conductor: host {} did not answer in {} s (ssh or the engine there hangs)",
                        r.name,
                        wait.as_secs()
                    ),
                    None => "conductor: the engine did not answer".into(),
                });
            }
        };
        let (client, engine_pid, engine_version) = match welcome {
            ServerMessage::Welcome {
                client,
                pid,
                version,
                ..
            } => (client, pid, version),
            ServerMessage::Refused { message, reason } => {
                give_up(&mut child);
                let message = match &route {
                    Some(r) => format!("{message} (on host {})", r.name),
                    None => message,
                };
                // Lua recognises the reason and offers the restart.
                return Err(if reason == "protocol" || reason == "closing" {
                    format!("{message} [{reason}]")
                } else {
                    message
                });
            }
            _ => {
                give_up(&mut child);
                return Err("conductor: the engine said something unexpected".into());
            }
        };
        let (out, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("conductor-engine-writer".into())
            .spawn(move || {
                let mut w = std::io::BufWriter::with_capacity(64 * 1024, w);
                while let Ok(first) = rx.recv() {
                    if w.write_all(&first).is_err() {
                        return;
                    }
                    while let Ok(more) = rx.try_recv() {
                        if w.write_all(&more).is_err() {
                            return;
                        }
                    }
                    if w.flush().is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        // The reader reaps an ssh when its connection ends; one that ended already is
        // reaped here.
        *lock(&child_slot) = child;
        if !alive.load(Ordering::SeqCst) {
            let mut ended = lock(&child_slot).take();
            give_up(&mut ended);
        }
        Ok(Connection {
            out,
            route,
            client,
            engine_pid,
            engine_version,
            generation,
            waiters,
            alive,
            child: child_slot,
        })
    }

    /// Ends a connection to a host: its ssh is stopped (the engine there runs on).
    fn close(&self) {
        if let Some(c) = lock(&self.child).as_mut() {
            let _ = c.kill();
        }
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn next_id(&self) -> u64 {
        (u64::from(self.client) << 32) | NEXT_ID.fetch_add(1, Ordering::Relaxed)
    }

    fn send_request(&self, id: u64, method: &str, params: serde_json::Value) -> Result<(), String> {
        let mut frame = Vec::new();
        let _ = protocol::write_json(
            &mut frame,
            &ClientMessage::Request {
                id,
                method: method.into(),
                params,
            },
        );
        self.out
            .send(frame)
            .map_err(|_| "conductor: the engine stopped".to_string())
    }

    /// Parameters as this connection's engine knows them: a host's own workspace ids
    /// and session numbers.
    fn for_engine(&self, mut params: serde_json::Value) -> serde_json::Value {
        if let Some(route) = &self.route {
            hosts::untag(&mut params, route);
        }
        params
    }

    /// What the engine answered, as Lua knows it (see `for_engine`).
    fn for_lua(&self, mut value: serde_json::Value) -> serde_json::Value {
        if let Some(route) = &self.route {
            hosts::tag(&mut value, route);
        }
        value
    }

    /// Sends a request; its reply comes through the bridge (Lua matches the id).
    pub fn request(&self, method: &str, params: serde_json::Value) -> Result<u64, String> {
        let params = self.for_engine(params);
        // Checked here too, so a mistake raises at the call, not later in a callback.
        Request::parse(method, params.clone())?;
        let id = self.next_id();
        self.send_request(id, method, params)?;
        Ok(id)
    }

    /// Sends a request and waits for its reply.
    pub fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let params = self.for_engine(params);
        Request::parse(method, params.clone())?;
        let id = self.next_id();
        let (tx, rx) = mpsc::channel();
        lock(&self.waiters).insert(id, tx);
        if !self.alive() {
            lock(&self.waiters).remove(&id);
            return Err("conductor: the engine stopped".into());
        }
        if let Err(e) = self.send_request(id, method, params) {
            lock(&self.waiters).remove(&id);
            return Err(e);
        }
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(r) => r.map(|v| self.for_lua(v)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&self.waiters).remove(&id);
                if let Some(route) = &self.route {
                    // A half-dead link (the laptop slept): the next call connects again
                    // instead of waiting as long once more.
                    self.close();
                    return Err(format!(
                        "conductor: host {} did not answer {method} in {} s; its connection was dropped (the next command connects again)",
                        route.name,
                        CALL_TIMEOUT.as_secs()
                    ));
                }
                Err(format!(
                    "conductor: the engine did not answer {method} in time"
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("conductor: the engine stopped".into())
            }
        }
    }

    /// Keys (or a terminal's answers) for a session.
    pub fn input(&self, session: u64, bytes: &[u8]) -> Result<(), String> {
        let mut frame = Vec::new();
        let _ = protocol::write_input(&mut frame, hosts::session_route(session).1, bytes);
        self.out
            .send(frame)
            .map_err(|_| "conductor: the engine stopped".to_string())
    }
}

fn read_loop(
    mut reader: BufReader<Box<dyn Read + Send>>,
    alive: &AtomicBool,
    waiters: &Waiters,
    generation: u64,
    route: Option<&Route>,
) {
    loop {
        match read_frame(&mut reader) {
            Ok(Some(Frame::Output { session, bytes })) => {
                let session = route.map_or(session, |r| r.session(session));
                // A replay is one big frame: queued in slices (between characters), so
                // the main thread writes them one by one without copying the rest.
                let mut at = 0;
                while bytes.len() - at > bridge::SLICE {
                    let piece = &bytes[at..at + bridge::SLICE];
                    let cut = match crate::core::pty::utf8_complete_len(piece) {
                        0 => bridge::SLICE,
                        n => n,
                    };
                    bridge::post(Message::Output {
                        session,
                        bytes: bytes[at..at + cut].to_vec(),
                    });
                    at += cut;
                }
                let bytes = if at == 0 { bytes } else { bytes[at..].to_vec() };
                bridge::post(Message::Output { session, bytes })
            }
            Ok(Some(Frame::Json(v))) => match serde_json::from_value::<ServerMessage>(v) {
                Ok(ServerMessage::Reply {
                    id,
                    ok,
                    result,
                    error,
                }) => {
                    let result = if ok {
                        Ok(result.unwrap_or(serde_json::Value::Null))
                    } else {
                        Err(error.unwrap_or_default())
                    };
                    let waiter = lock(waiters).remove(&id);
                    match waiter {
                        // A waiting call tags its own result (`call`).
                        Some(tx) => {
                            let _ = tx.send(result);
                        }
                        None => {
                            let result = result.map(|mut v| {
                                if let Some(route) = route {
                                    hosts::tag(&mut v, route);
                                }
                                v
                            });
                            bridge::post(Message::Reply { id, result })
                        }
                    }
                }
                Ok(ServerMessage::Event { mut event }) => {
                    if let Some(route) = route {
                        hosts::tag(&mut event, route);
                    }
                    bridge::post(Message::Event(event))
                }
                _ => {}
            },
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    alive.store(false, Ordering::SeqCst);
    // Every waiting call fails now (their senders drop).
    lock(waiters).clear();
    bridge::post(Message::Event(
        crate::core::protocol::SessionEvent::EngineLost {
            generation,
            host: route.map(|r| r.name.clone()),
        }
        .to_json(),
    ));
}
