//! The one way from other threads (the engine connection's reader) back to Neovim's
//! main thread.
//!
//! Workers push messages on a queue and poke a libuv async handle (the only thread-safe
//! entry into Neovim's loop). Its callback runs inside the event loop, where calling Lua
//! is not safe, so it only schedules `drain`, which hands every queued message to the
//! Lua handler set by `core.start`. libuv merges many pokes into one wake-up, so `drain`
//! empties the whole queue each time.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use mlua::{Function, Lua, LuaSerdeExt, SerializeOptions, Value};
use nvim_oxi::libuv::AsyncHandle;

pub enum Message {
    /// The answer to `core.request` number `id`.
    Reply {
        id: u64,
        result: Result<serde_json::Value, String>,
    },
    /// An engine event, already shaped as `{ event = ..., data = ... }`.
    Event(serde_json::Value),
    /// Terminal output of a session, raw bytes, as the engine sent it.
    Output { session: u64, bytes: Vec<u8> },
}

/// Largest write into a terminal at once; after each, `drain` yields to the event loop.
/// About what `:terminal` handles per PTY read: an RPC request never waits behind more
/// than one such write (16 KB slices doubled the latency; a time budget of several
/// slices per turn was far worse; see BENCHMARKS.md). Keep it well under 15 KB: Neovim
/// 0.11 grows its window-title buffer only once per write, so a write carrying more than
/// ~15 KB of an OSC 2 title overflows its heap and aborts the editor (tests/e2e/hostile.rs).
pub const SLICE: usize = 4 * 1024;

static QUEUE: Mutex<VecDeque<Message>> = Mutex::new(VecDeque::new());
static WAKE: OnceLock<AsyncHandle> = OnceLock::new();

thread_local! {
    static HANDLER: RefCell<Option<Function>> = const { RefCell::new(None) };
    static OUTPUT: RefCell<Option<Function>> = const { RefCell::new(None) };
    /// A drain is in Neovim's event queue and has not run yet.
    static SCHEDULED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LUA: RefCell<Option<Lua>> = const { RefCell::new(None) };
}

/// Main thread only: creates the async handle once and remembers the Lua handler.
pub fn install(lua: &Lua, handler: Function) -> mlua::Result<()> {
    LUA.with(|l| *l.borrow_mut() = Some(lua.clone()));
    HANDLER.with(|h| *h.borrow_mut() = Some(handler));
    if WAKE.get().is_none() {
        let handle = AsyncHandle::new(|| {
            // Neovim runs one queued event, then one libuv pass (where this fires), and
            // queues what that pass produced behind everything already queued, RPC
            // requests included. Queue a drain only when none is queued, or every refresh
            // and request leaves one more drain behind and requests wait behind the pile.
            if SCHEDULED.with(|s| s.replace(true)) {
                return;
            }
            nvim_oxi::schedule(|()| {
                // Cleared first, so an early return or a panic cannot wedge the bridge.
                SCHEDULED.with(|s| s.set(false));
                let _ = catch_unwind(drain);
            });
        })
        .map_err(|e| {
            mlua::Error::runtime(format!("conductor: cannot create the wake-up handle: {e}"))
        })?;
        let _ = WAKE.set(handle);
    }
    Ok(())
}

/// Main thread only: the Lua function that feeds terminal output to terminal buffers.
pub fn set_output_handler(handler: Function) {
    OUTPUT.with(|h| *h.borrow_mut() = Some(handler));
}

/// Any thread: queues a message for the main thread.
pub fn post(message: Message) {
    QUEUE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(message);
    if let Some(wake) = WAKE.get() {
        let _ = wake.send();
    }
}

fn drain() {
    let lua = LUA.with(|l| l.borrow().clone());
    let handler = HANDLER.with(|h| h.borrow().clone());
    let output = OUTPUT.with(|h| h.borrow().clone());
    let (Some(lua), Some(handler)) = (lua, handler) else {
        return;
    };
    loop {
        let next = QUEUE.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some(message) = next else { break };
        if let Message::Output { session, mut bytes } = message {
            // Messages come at most a slice long, cut between characters (client.rs):
            // libvterm keeps an escape sequence split between two writes, but not a UTF-8
            // character (Neovim 0.11 shows U+FFFD). Merge small ones up to a slice.
            {
                let mut queue = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
                while let Some(Message::Output {
                    session: s,
                    bytes: more,
                }) = queue.front()
                {
                    if *s != session || bytes.len() + more.len() > SLICE {
                        break;
                    }
                    if let Some(Message::Output { bytes: more, .. }) = queue.pop_front() {
                        bytes.extend_from_slice(&more);
                    }
                }
            }
            let len = bytes.len();
            if let Some(output) = &output {
                let _ = catch_unwind(AssertUnwindSafe(|| -> mlua::Result<()> {
                    output.call::<()>((session, lua.create_string(&bytes)?))
                }));
            }
            // The engine sends at most a window ahead of what reached the terminal.
            super::client::ack(session, len);
            // One slice per turn of the event loop: keys, redraws and RPC requests are
            // handled before the next one.
            if let Some(wake) = WAKE.get() {
                let _ = wake.send();
            }
            return;
        }
        // One message's failure (a Lua error in a listener) must not drop the others.
        let _ = catch_unwind(AssertUnwindSafe(|| deliver(&lua, &handler, message)));
    }
}

fn deliver(lua: &Lua, handler: &Function, message: Message) -> mlua::Result<()> {
    let table = lua.create_table()?;
    match message {
        Message::Reply { id, result } => {
            table.set("id", id)?;
            match result {
                Ok(value) => {
                    table.set("ok", true)?;
                    table.set("result", to_lua(lua, &value)?)?;
                }
                Err(error) => {
                    table.set("ok", false)?;
                    table.set("error", error)?;
                }
            }
        }
        Message::Event(event) => {
            let value = to_lua(lua, &event)?;
            return call_handler(lua, handler, value);
        }
        Message::Output { .. } => return Ok(()),
    }
    call_handler(lua, handler, Value::Table(table))
}

fn call_handler(lua: &Lua, handler: &Function, value: Value) -> mlua::Result<()> {
    if let Err(e) = handler.call::<()>(value) {
        // A broken listener is a bug in Lua code: say so once, keep the loop alive.
        let msg = format!("conductor: event handler failed: {e}");
        if let Ok(notify) = lua
            .load("return function(m) vim.notify(m, vim.log.levels.ERROR) end")
            .eval::<Function>()
        {
            let _ = notify.call::<()>(msg);
        }
    }
    Ok(())
}

/// JSON to Lua, with JSON null as Lua nil (absent keys), not a sentinel userdata.
pub fn to_lua(lua: &Lua, value: &serde_json::Value) -> mlua::Result<Value> {
    lua.to_value_with(
        value,
        SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false),
    )
}
