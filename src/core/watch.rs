//! Noticing what another Neovim did to the shared state file. Until one engine process
//! owns every agent, each Neovim runs its own: when another one archives (or deletes) a
//! workspace whose agents or terminals run here, this engine sees the state file change,
//! stops its own processes of that workspace and says so. (The archiving engine also stops
//! every process carrying the workspace's id before it snapshots; see `leftovers`.)
//!
//! Polled, not watched with inotify/kqueue: one `stat` every 300 ms, the same on every OS.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use crate::engine::{Engine, Event};
use crate::store::WorkspaceState;

const EVERY: Duration = Duration::from_millis(300);

/// Workspaces whose agents or terminals this engine started (and has not stopped itself
/// since).
#[derive(Default)]
pub struct Watch {
    ran_here: Mutex<HashSet<String>>,
}

impl Watch {
    pub(crate) fn ran(&self, id: &str) {
        self.lock().insert(id.to_string());
    }

    /// This engine stopped everything of `id` itself (its own archive or delete).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.ran_here.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the thread that watches the state file for as long as `engine` lives.
pub fn start(engine: &Arc<Engine>) {
    let weak: Weak<Engine> = Arc::downgrade(engine);
    let _ = std::thread::Builder::new()
        .name("conductor-watch".into())
        .spawn(move || {
            let mut last: Option<(SystemTime, u64)> = None;
            loop {
                std::thread::sleep(EVERY);
                let Some(engine) = weak.upgrade() else { return };
                engine.check_store(&mut last);
            }
        });
}

impl Engine {
    fn check_store(&self, last: &mut Option<(SystemTime, u64)>) {
        if self.watch.lock().is_empty() {
            return;
        }
        let Ok(store) = self.store() else { return };
        let stamp = std::fs::metadata(store.path())
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp == *last {
            return;
        }
        *last = stamp;
        // No state file (moved away after it was corrupt, say) says nothing about any
        // workspace: never a reason to stop agents.
        if stamp.is_none() {
            return;
        }
        let Ok(state) = store.read() else { return };
        if state.workspaces.is_empty() {
            return;
        }
        let ran: Vec<String> = self.watch.lock().iter().cloned().collect();
        for id in ran {
            let ws = state.find(&id);
            if ws.is_some_and(|w| w.state != WorkspaceState::Archived) {
                continue;
            }
            self.watch.forget(&id);
            let sessions = self.sessions.matching(Some(&id), None);
            std::thread::scope(|s| {
                s.spawn(|| self.sessions.stop_many(&sessions, self.grace()));
                self.processes.stop_all(&id, self.grace());
            });
            let (name, what) = match ws {
                Some(w) => (w.name.clone(), "archived"),
                None => (id.clone(), "deleted"),
            };
            self.emit(Event::Warning {
                request: None,
                workspace: Some(name),
                message: format!(
                    "{what} by another Neovim: its agents and terminals here are stopped"
                ),
            });
        }
    }
}
