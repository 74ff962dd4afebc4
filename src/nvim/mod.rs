//! The adapter: the Lua module table that `lua/conductor/engine.lua` loads. It turns Lua
//! values into requests for the engine process (client.rs) and hands its replies,
//! events and terminal output back to Lua (bridge.rs). The engine's work happens there.

mod bridge;
mod client;
mod hosts;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mlua::{Function, Lua, LuaSerdeExt, Table, Value};

use crate::core::engine::Options;

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
            guarded(|| {
                let mut params = json_params(lua, params)?;
                let host = hosts::pick(&mut params).map_err(mlua::Error::runtime)?;
                conn(host.as_deref())?
                    .request(&method, params)
                    .map_err(mlua::Error::runtime)
            })
        })?,
    )?;
    // Fire and forget: the reply (if any) finds no callback and is dropped. Nothing to
    // do without an engine (its sessions went with it): never starts one.
    raw.set(
        "notify",
        lua.create_function(|lua, (method, params): (String, Value)| {
            guarded(|| {
                let mut params = json_params(lua, params)?;
                let host = hosts::pick(&mut params).map_err(mlua::Error::runtime)?;
                let Some(c) = client::current_to(host.as_deref()) else {
                    return Ok(false);
                };
                c.request(&method, params)
                    .map(|_| true)
                    .map_err(mlua::Error::runtime)
            })
        })?,
    )?;
    raw.set(
        "agent_write",
        lua.create_function(|_, (session, bytes): (u64, mlua::String)| {
            guarded(|| {
                let host = hosts::session_route(session).0;
                let Some(c) = client::current_to(host.as_deref()) else {
                    return Ok(false);
                };
                c.input(session, &bytes.as_bytes())
                    .map(|()| true)
                    .map_err(mlua::Error::runtime)
            })
        })?,
    )?;
    raw.set(
        "connected",
        lua.create_function(|lua, host: Option<String>| {
            guarded(|| {
                let t = lua.create_table()?;
                if let Some(c) = client::current_to(host.as_deref()) {
                    t.set("pid", c.engine_pid)?;
                    t.set("version", c.engine_version.clone())?;
                    t.set("generation", c.generation)?;
                }
                Ok(t)
            })
        })?,
    )?;
    raw.set(
        "engine_running",
        lua.create_function(|_, state_dir: String| {
            guarded(|| {
                Ok(
                    crate::core::protocol::EnginePaths::for_state_dir(std::path::Path::new(
                        &state_dir,
                    ))
                    .is_ok_and(|p| p.connect().is_some()),
                )
            })
        })?,
    )?;
    raw.set(
        "engine_stop",
        lua.create_function(|_, state_dir: String| {
            guarded(|| {
                crate::core::protocol::stop_engine(
                    std::path::Path::new(&state_dir),
                    std::time::Duration::from_secs(10),
                )
                .map_err(mlua::Error::runtime)
            })
        })?,
    )?;
    // Remote hosts (hosts.rs): their settings, and what Lua does about a host's engine.
    raw.set(
        "hosts",
        lua.create_function(|lua, value: Value| {
            guarded(|| {
                let hosts = if value.is_nil() {
                    Default::default()
                } else {
                    lua.from_value(value).map_err(|e| {
                        mlua::Error::runtime(format!("conductor: invalid hosts: {e}"))
                    })?
                };
                hosts::configure(hosts)
                    .map(|()| true)
                    .map_err(mlua::Error::runtime)
            })
        })?,
    )?;
    raw.set(
        "host_install",
        lua.create_function(|_, (name, engine): (String, String)| {
            guarded(|| hosts::install(&name, Path::new(&engine)).map_err(mlua::Error::runtime))
        })?,
    )?;
    raw.set(
        "host_stop",
        lua.create_function(|_, name: String| {
            guarded(|| {
                client::disconnect(&name);
                hosts::stop(&name)
                    .map(|()| true)
                    .map_err(mlua::Error::runtime)
            })
        })?,
    )?;
    raw.set(
        "host_disconnect",
        lua.create_function(|_, name: String| {
            guarded(|| {
                client::disconnect(&name);
                Ok(true)
            })
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
-- Terminal operations, by name: a session's keys go as raw bytes (agent_write), the rest
-- as requests. Those whose answer nobody needs do not wait for it.
function core.agent_start(params) return core.call("agent_start", params) end
function core.agent_paste(id, text, submit)
  return core.call("agent_paste", { session = id, text = text, submit = submit or false })
end
function core.agent_screen(id) return core.call("agent_screen", { session = id }) end
function core.agent_resize(id, rows, cols)
  return core.notify("agent_resize", { session = id, rows = rows, cols = cols })
end
function core.agent_expect_redraw(id) return core.notify("agent_expect_redraw", { session = id }) end
function core.agent_background(bg) return core.notify("agent_background", { background = bg }) end
function core.agent_stop(id) return core.notify("agent_stop", { session = id }) end
function core.agent_forget(id) return core.notify("agent_forget", { session = id }) end
function core.agent_stop_all(mine) return core.call("agent_stop_all", { mine = mine or false }) end
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

fn conn(host: Option<&str>) -> mlua::Result<std::sync::Arc<client::Connection>> {
    client::connection_to(host).map_err(mlua::Error::runtime)
}

/// Lua parameters as JSON (nil and an empty table are both "no parameters").
fn json_params(lua: &Lua, value: Value) -> mlua::Result<serde_json::Value> {
    if value.is_nil() {
        return Ok(serde_json::json!({}));
    }
    let json: serde_json::Value = lua
        .from_value(value)
        .map_err(|e| mlua::Error::runtime(format!("conductor: parameters are not data: {e}")))?;
    Ok(match json {
        serde_json::Value::Array(a) if a.is_empty() => serde_json::json!({}),
        other => other,
    })
}

/// Remembers where the engine is and its options; connects on first use, not here
/// (the engine starts on the first command, not at startup).
fn start(lua: &Lua, opts: Value, handler: Function) -> mlua::Result<()> {
    let mut options = json_params(lua, opts)?;
    let engine_bin = options
        .as_object_mut()
        .and_then(|o| o.remove("engine_bin"))
        .and_then(|v| v.as_str().map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty());
    // Checked here, so a bad option is said at setup, not at the engine.
    let typed: Options = serde_json::from_value(options.clone())
        .map_err(|e| mlua::Error::runtime(format!("conductor: invalid engine options: {e}")))?;
    bridge::install(lua, handler)?;
    client::configure(client::Target {
        state_dir: typed.state_dir,
        engine_bin,
        options,
    })
    .map_err(mlua::Error::runtime)
}

/// A request answered before this returns: cheap questions, and terminal operations.
fn call(lua: &Lua, method: &str, value: Value) -> mlua::Result<Value> {
    let mut params = json_params(lua, value)?;
    let host = hosts::pick(&mut params).map_err(mlua::Error::runtime)?;
    let json = conn(host.as_deref())?
        .call(method, params)
        .map_err(mlua::Error::runtime)?;
    if method == "blob" || method == "file_read" {
        // File contents go to Lua as bytes (they need not be UTF-8).
        return match json {
            serde_json::Value::Null => Ok(Value::Nil),
            blob => {
                let bytes: Vec<u8> = match blob.get("bytes") {
                    Some(serde_json::Value::String(text)) => text.clone().into_bytes(),
                    Some(other) => serde_json::from_value(other.clone()).unwrap_or_default(),
                    None => Vec::new(),
                };
                let t = lua.create_table()?;
                t.set("text", lua.create_string(&bytes)?)?;
                t.set(
                    "binary",
                    blob.get("binary")
                        .and_then(|b| b.as_bool())
                        .unwrap_or(false),
                )?;
                if let Some(sha) = blob.get("sha").and_then(|s| s.as_str()) {
                    t.set("sha", sha)?;
                }
                Ok(Value::Table(t))
            }
        };
    }
    bridge::to_lua(lua, &json)
}
