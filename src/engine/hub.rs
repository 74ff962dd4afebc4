//! Who sees what: the engine's connected Neovims (clients) and, for every terminal
//! session, the screen the engine keeps and the clients that show it.
//!
//! Output of a session goes to each client showing it, at most `WINDOW` bytes ahead of
//! what that client has put in its terminal (it acknowledges as it goes); beyond that
//! the session's reader waits, so a flood slows the agent, not the editor. Attaching
//! takes the session's screen and subscribes in one step under its lock: the replay and
//! the live output meet without a byte missed or doubled.
//!
//! Not here: what requests do (dispatch.rs), the socket (server.rs).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use conductor::protocol::{ServerMessage, SessionEvent, LAG, WINDOW};
use conductor::pty::SessionKind;
use conductor::replay::{Screen, SCROLLBACK};
use serde::Serialize;

/// What a client's writer thread sends, in order.
pub enum Out {
    Json(ServerMessage),
    Output(u64, Vec<u8>),
}

struct Client {
    tx: mpsc::Sender<Out>,
    pid: u32,
    env: Option<BTreeMap<String, String>>,
}

/// A session as every client may see it (`agent_sessions`, `:ConductorEngine status`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct SessionInfo {
    pub session: u64,
    pub workspace_id: String,
    pub workspace: String,
    pub kind: SessionKind,
    pub name: String,
    pub label: String,
    pub state: String,
    pub rows: u16,
    pub cols: u16,
    pub exited: bool,
    pub code: Option<i32>,
    pub signal: Option<String>,
    /// The client that started it.
    #[serde(skip)]
    pub owner: Option<u32>,
}

struct Inner {
    screen: Screen,
    info: SessionInfo,
    /// Client → output bytes sent to it and not yet acknowledged.
    subscribers: HashMap<u32, usize>,
}

struct Shared {
    inner: Mutex<Inner>,
    room: Condvar,
}

#[derive(Default)]
pub struct Hub {
    clients: Mutex<HashMap<u32, Client>>,
    sessions: Mutex<HashMap<u64, Arc<Shared>>>,
    /// Sessions forgotten: late output (a grandchild still holding the terminal) must
    /// not bring them back as phantoms that keep the engine busy forever.
    forgotten: Mutex<HashSet<u64>>,
    next_client: AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A new client; its writer thread drains the receiver.
    pub fn add_client(
        &self,
        pid: u32,
        env: Option<BTreeMap<String, String>>,
    ) -> (u32, mpsc::Receiver<Out>) {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel();
        lock(&self.clients).insert(id, Client { tx, pid, env });
        (id, rx)
    }

    /// The environment `client` said hello with.
    pub fn env_of(&self, client: u32) -> Option<BTreeMap<String, String>> {
        lock(&self.clients).get(&client).and_then(|c| c.env.clone())
    }

    /// The client is gone: nothing waits for it any more.
    pub fn drop_client(&self, client: u32) {
        lock(&self.clients).remove(&client);
        let sessions: Vec<Arc<Shared>> = lock(&self.sessions).values().cloned().collect();
        for s in sessions {
            lock(&s.inner).subscribers.remove(&client);
            s.room.notify_all();
        }
    }

    pub fn clients(&self) -> Vec<(u32, u32)> {
        lock(&self.clients)
            .iter()
            .map(|(id, c)| (*id, c.pid))
            .collect()
    }

    pub fn send(&self, client: u32, out: Out) -> bool {
        lock(&self.clients)
            .get(&client)
            .is_some_and(|c| c.tx.send(out).is_ok())
    }

    /// An engine event, to every client.
    pub fn broadcast(&self, event: serde_json::Value) {
        for c in lock(&self.clients).values() {
            let _ = c.tx.send(Out::Json(ServerMessage::Event {
                event: event.clone(),
            }));
        }
    }

    fn shared(&self, session: u64) -> Option<Arc<Shared>> {
        lock(&self.sessions).get(&session).cloned()
    }

    /// The session's record, made when its first output, state, exit or start comes
    /// (whichever is first: the state is read on another thread and can come before the
    /// output), with the client that started it already showing it.
    fn entry(&self, session: u64, owner: Option<u32>, rows: u16, cols: u16) -> Option<Arc<Shared>> {
        if lock(&self.forgotten).contains(&session) {
            return None;
        }
        // Not known yet (a state before the first output): a usual size until the start
        // says which.
        let (rows, cols) = if rows == 0 || cols == 0 {
            (24, 80)
        } else {
            (rows, cols)
        };
        let mut sessions = lock(&self.sessions);
        Some(Arc::clone(sessions.entry(session).or_insert_with(|| {
            let mut subscribers = HashMap::new();
            if let Some(owner) = owner {
                subscribers.insert(owner, 0);
            }
            Arc::new(Shared {
                inner: Mutex::new(Inner {
                    screen: Screen::new(rows, cols, SCROLLBACK),
                    info: SessionInfo {
                        session,
                        rows,
                        cols,
                        state: "starting".into(),
                        owner,
                        ..Default::default()
                    },
                    subscribers,
                }),
                room: Condvar::new(),
            })
        })))
    }

    /// The start of a session is known: who started it, what it is.
    pub fn register(&self, info: SessionInfo, owner: Option<u32>) {
        let Some(s) = self.entry(info.session, owner, info.rows, info.cols) else {
            return;
        };
        let mut inner = lock(&s.inner);
        if info.rows > 0 && info.cols > 0 && inner.screen.size() != (info.rows, info.cols) {
            inner.screen.resize(info.rows, info.cols);
        }
        // What came first (its state, its exit) stays.
        let before = std::mem::take(&mut inner.info);
        inner.info = SessionInfo {
            state: if before.state.is_empty() {
                info.state.clone()
            } else {
                before.state
            },
            exited: before.exited || info.exited,
            code: before.code.or(info.code),
            signal: before.signal.or(info.signal.clone()),
            owner: owner.or(before.owner),
            ..info
        };
    }

    /// Output of `session`: into its screen, then to every client showing it. Waits
    /// while a client is a full window behind.
    pub fn output(&self, session: u64, bytes: Vec<u8>, owner: Option<u32>, size: (u16, u16)) {
        let Some(s) = self.entry(session, owner, size.0, size.1) else {
            return;
        };
        let mut inner = lock(&s.inner);
        let waiting_since = Instant::now();
        while inner.subscribers.values().any(|n| *n >= WINDOW) {
            // Timed, so that a client that vanished without a word is noticed.
            inner = s
                .room
                .wait_timeout(inner, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            let clients = lock(&self.clients);
            inner.subscribers.retain(|c, _| clients.contains_key(c));
            drop(clients);
            if waiting_since.elapsed() >= LAG {
                // Stuck (suspended, blocked): stop waiting for it; it attaches again.
                let stuck: Vec<u32> = inner
                    .subscribers
                    .iter()
                    .filter(|(_, n)| **n >= WINDOW)
                    .map(|(c, _)| *c)
                    .collect();
                for client in stuck {
                    eprintln!(
                        "conductor-engine: client {client} a window behind on session {session} for {:?}: detached",
                        waiting_since.elapsed()
                    );
                    inner.subscribers.remove(&client);
                    self.send(
                        client,
                        Out::Json(ServerMessage::Event {
                            event: SessionEvent::AgentDetached { session }.to_json(),
                        }),
                    );
                }
            }
        }
        inner.screen.feed(&bytes);
        let subscribers: Vec<u32> = inner.subscribers.keys().copied().collect();
        for client in subscribers {
            if self.send(client, Out::Output(session, bytes.clone())) {
                *inner.subscribers.entry(client).or_insert(0) += bytes.len();
            } else {
                inner.subscribers.remove(&client);
            }
        }
    }

    pub fn ack(&self, client: u32, session: u64, len: u64) {
        if let Some(s) = self.shared(session) {
            if let Some(n) = lock(&s.inner).subscribers.get_mut(&client) {
                *n = n.saturating_sub(len as usize);
            }
            s.room.notify_all();
        }
    }

    /// Shows `session` in `client`: the screen now (after a resize to the client's size,
    /// when given), then its output.
    pub fn attach(
        &self,
        client: u32,
        session: u64,
        (rows, cols): (u16, u16),
        scrollback: usize,
    ) -> Result<(), String> {
        let s = self
            .shared(session)
            .ok_or_else(|| format!("conductor: no session {session} in the engine"))?;
        let mut inner = lock(&s.inner);
        if rows > 0 && cols > 0 && inner.screen.size() != (rows, cols) {
            inner.screen.resize(rows, cols);
            inner.info.rows = rows;
            inner.info.cols = cols;
        }
        let replay = inner.screen.replay(scrollback);
        let len = replay.len();
        if !self.send(client, Out::Output(session, replay)) {
            return Err("conductor: client gone".into());
        }
        *inner.subscribers.entry(client).or_insert(0) += len;
        Ok(())
    }

    pub fn detach(&self, client: u32, session: u64) {
        if let Some(s) = self.shared(session) {
            lock(&s.inner).subscribers.remove(&client);
            s.room.notify_all();
        }
    }

    pub fn resize(&self, session: u64, rows: u16, cols: u16) {
        if let Some(s) = self.shared(session) {
            let mut inner = lock(&s.inner);
            inner.screen.resize(rows, cols);
            inner.info.rows = rows;
            inner.info.cols = cols;
        }
    }

    pub fn set_state(&self, session: u64, state: &str, owner: Option<u32>) {
        if let Some(s) = self.entry(session, owner, 0, 0) {
            lock(&s.inner).info.state = state.to_string();
        }
    }

    pub fn set_exited(
        &self,
        session: u64,
        code: Option<i32>,
        signal: Option<String>,
        owner: Option<u32>,
    ) {
        // Made when unknown: an exit may come before the start is registered.
        if let Some(s) = self.entry(session, owner, 0, 0) {
            let mut inner = lock(&s.inner);
            inner.info.state = "exited".into();
            inner.info.exited = true;
            inner.info.code = code;
            inner.info.signal = signal;
        }
    }

    pub fn forget(&self, session: u64) {
        lock(&self.forgotten).insert(session);
        lock(&self.sessions).remove(&session);
    }

    /// Every session, or a workspace's (by id).
    pub fn list(&self, workspace: Option<&str>) -> Vec<SessionInfo> {
        let sessions: Vec<Arc<Shared>> = lock(&self.sessions).values().cloned().collect();
        let mut list: Vec<SessionInfo> = sessions
            .iter()
            .map(|s| lock(&s.inner).info.clone())
            .filter(|i| workspace.is_none_or(|w| i.workspace_id == w || i.workspace == w))
            .collect();
        list.sort_by_key(|i| i.session);
        list
    }

    /// Sessions `client` started and no other client shows: what it answers for alone.
    pub fn owned_alone(&self, client: u32) -> Vec<u64> {
        let sessions: Vec<(u64, Arc<Shared>)> = lock(&self.sessions)
            .iter()
            .map(|(id, s)| (*id, Arc::clone(s)))
            .collect();
        sessions
            .into_iter()
            .filter(|(_, s)| {
                let inner = lock(&s.inner);
                inner.info.owner == Some(client) && inner.subscribers.keys().all(|c| *c == client)
            })
            .map(|(id, _)| id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_output(rx: &mpsc::Receiver<Out>) -> Option<(u64, Vec<u8>)> {
        rx.try_iter().find_map(|out| match out {
            Out::Output(session, bytes) => Some((session, bytes)),
            Out::Json(_) => None,
        })
    }

    #[test]
    fn a_state_before_the_first_output_leaves_the_starting_client_subscribed() {
        let hub = Hub::default();
        let (client, rx) = hub.add_client(1, None);
        // The screen thread can report a state before the reader's first output.
        hub.set_state(7, "working", Some(client));
        hub.output(7, b"hello".to_vec(), Some(client), (24, 80));
        assert_eq!(next_output(&rx), Some((7, b"hello".to_vec())));
    }

    #[test]
    fn an_exit_before_the_start_is_kept_and_output_after_forget_makes_no_phantom() {
        let hub = Hub::default();
        let (client, _rx) = hub.add_client(1, None);
        hub.set_exited(3, Some(0), None, Some(client));
        hub.register(
            SessionInfo {
                session: 3,
                name: "fake".into(),
                ..Default::default()
            },
            Some(client),
        );
        assert!(hub.list(None)[0].exited, "the exit that came first stays");
        hub.forget(3);
        hub.output(3, b"late".to_vec(), Some(client), (24, 80));
        assert!(hub.list(None).is_empty(), "no phantom session");
    }
}
