//! conductor.nvim's engine, loaded by Neovim as a Lua module (`luaopen_conductor_core`).
//! `core` is the engine (no Neovim types); `nvim` adapts it to Lua.

/// The engine's logic (the `conductor` crate, src/core), under its old path.
pub use conductor as core;
mod nvim;

use std::ffi::c_int;

use nvim_oxi::lua::ffi::{lua_getfield, State, LUA_REGISTRYINDEX};

/// The module table, handed to Lua through nvim-oxi's entry point (which also sets up
/// nvim-oxi's own state, needed for the libuv handle and `schedule`).
struct Module;

const REGISTRY_KEY: &std::ffi::CStr = c"conductor_core.module";

impl nvim_oxi::lua::Pushable for Module {
    unsafe fn push(self, lstate: *mut State) -> Result<c_int, nvim_oxi::lua::Error> {
        let lua = nvim_oxi::mlua::lua();
        let table = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| nvim::module(&lua)))
            .map_err(|_| {
                nvim_oxi::lua::Error::RuntimeError("conductor: panic while loading".into())
            })?
            .map_err(|e| nvim_oxi::lua::Error::RuntimeError(e.to_string()))?;
        lua.set_named_registry_value(REGISTRY_KEY.to_str().unwrap_or_default(), table)
            .map_err(|e| nvim_oxi::lua::Error::RuntimeError(e.to_string()))?;
        // SAFETY: the value was just stored under this key in the registry of this state.
        unsafe { lua_getfield(lstate, LUA_REGISTRYINDEX, REGISTRY_KEY.as_ptr()) };
        Ok(1)
    }
}

#[nvim_oxi::plugin]
fn conductor_core() -> Module {
    Module
}
