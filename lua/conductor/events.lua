-- `User` autocmds that let the user's config react to workspaces:
--   ConductorWorkspaceCreated / Archived / Restored / Deleted  data = workspace
--   ConductorSetupFinished   data = workspace + { ok, code, signal }
-- A Lua callback finds the workspace in `args.data`.

local M = {}

local engine = require("conductor.engine")

---@param name string e.g. "ConductorWorkspaceCreated"
---@param data table
function M.fire(name, data)
  vim.api.nvim_exec_autocmds("User", { pattern = name, data = data, modeline = false })
end

-- Turns the engine's `script_finished` (kind "setup") into
-- `ConductorSetupFinished`. Idempotent.
-- Wired when this module loads (modules load once).
do
  engine.on("script_finished", function(ev)
    if ev.kind ~= "setup" then
      return
    end
    -- The event names the workspace; listeners get the whole record.
    local ok, ws = pcall(engine.call, "get", { workspace = ev.workspace_id or ev.workspace })
    local data = ok and ws or { id = ev.workspace_id, name = ev.workspace }
    data.ok = ev.ok
    data.code = ev.code
    data.signal = ev.signal
    M.fire("ConductorSetupFinished", data)
  end)
end

return M
