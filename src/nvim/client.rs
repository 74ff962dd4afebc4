//! This Neovim's connection to the engine process: started on first use when none runs,
//! spoken to in frames (src/core/protocol.rs). A reader thread hands replies, events
//! and terminal output to the bridge (the main thread); a writer thread sends what the
//! main thread queues, so the editor never blocks on the socket. Cheap calls wait here
//! for their reply; everything else answers through the bridge.
//!
//! When the engine goes away (stopped, killed), every waiting call fails, Lua hears
//! `engine_lost`, and the next call connects again (starting a new engine).
//!
//! Not here: what the engine does (src/engine), the Lua side (lua/conductor/engine.lua).

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::core::protocol::{
    self, read_frame, ClientMessage, Frame, Request, ServerMessage, PROTOCOL,
};

use super::bridge::{self, Message};

use crate::core::protocol::START_TIMEOUT;
/// How long a cheap call may wait for its reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Waiters = Mutex<HashMap<u64, mpsc::Sender<Result<serde_json::Value, String>>>>;

pub struct Connection {
    out: mpsc::Sender<Vec<u8>>,
    client: u32,
    pub engine_pid: u32,
    pub engine_version: String,
    pub generation: u64,
    waiters: Arc<Waiters>,
    alive: Arc<AtomicBool>,
}

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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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

/// The live connection, without making one.
pub fn current() -> Option<Arc<Connection>> {
    lock(&CONNECTION).clone().filter(|c| c.alive())
}

/// Output bytes of `session` reached its terminal: the engine may send more.
pub fn ack(session: u64, len: usize) {
    if let Some(c) = current() {
        let mut frame = Vec::new();
        let _ = protocol::write_ack(&mut frame, session, len as u64);
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
        let mut w = stream.try_clone().map_err(|e| e.to_string())?;
        protocol::write_json(
            &mut w,
            &ClientMessage::Hello {
                protocol: PROTOCOL,
                version: super::VERSION.into(),
                pid: std::process::id(),
                env: Some(std::env::vars().collect()),
            },
        )
        .map_err(|e| format!("conductor: the engine closed the connection: {e}"))?;
        let mut reader =
            BufReader::with_capacity(64 * 1024, stream.try_clone().map_err(|e| e.to_string())?);
        let _ = stream.set_read_timeout(Some(START_TIMEOUT));
        let welcome = match read_frame(&mut reader) {
            Ok(Some(Frame::Json(v))) => serde_json::from_value::<ServerMessage>(v)
                .map_err(|e| format!("conductor: the engine said something unexpected: {e}"))?,
            _ => return Err("conductor: the engine closed the connection".into()),
        };
        let _ = stream.set_read_timeout(None);
        let (client, engine_pid, engine_version) = match welcome {
            ServerMessage::Welcome {
                client,
                pid,
                version,
                ..
            } => (client, pid, version),
            ServerMessage::Refused { message, reason } => {
                // Lua recognises the reason and offers the restart.
                return Err(if reason == "protocol" || reason == "closing" {
                    format!("{message} [{reason}]")
                } else {
                    message
                });
            }
            _ => return Err("conductor: the engine said something unexpected".into()),
        };
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
        let (out, rx) = mpsc::channel::<Vec<u8>>();
        let alive = Arc::new(AtomicBool::new(true));
        let waiters: Arc<Waiters> = Arc::default();
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
        {
            let (alive, waiters) = (Arc::clone(&alive), Arc::clone(&waiters));
            std::thread::Builder::new()
                .name("conductor-engine-reader".into())
                .spawn(move || read_loop(reader, alive, waiters, generation))
                .map_err(|e| e.to_string())?;
        }
        Ok(Connection {
            out,
            client,
            engine_pid,
            engine_version,
            generation,
            waiters,
            alive,
        })
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

    /// Sends a request; its reply comes through the bridge (Lua matches the id).
    pub fn request(&self, method: &str, params: serde_json::Value) -> Result<u64, String> {
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
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&self.waiters).remove(&id);
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
        let _ = protocol::write_input(&mut frame, session, bytes);
        self.out
            .send(frame)
            .map_err(|_| "conductor: the engine stopped".to_string())
    }
}

fn read_loop(
    mut reader: BufReader<UnixStream>,
    alive: Arc<AtomicBool>,
    waiters: Arc<Waiters>,
    generation: u64,
) {
    loop {
        match read_frame(&mut reader) {
            Ok(Some(Frame::Output { session, bytes })) => {
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
                    let waiter = lock(&waiters).remove(&id);
                    match waiter {
                        Some(tx) => {
                            let _ = tx.send(result);
                        }
                        None => bridge::post(Message::Reply { id, result }),
                    }
                }
                Ok(ServerMessage::Event { event }) => bridge::post(Message::Event(event)),
                _ => {}
            },
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    alive.store(false, Ordering::SeqCst);
    // Every waiting call fails now (their senders drop).
    lock(&waiters).clear();
    bridge::post(Message::Event(
        crate::core::protocol::SessionEvent::EngineLost { generation }.to_json(),
    ));
}
