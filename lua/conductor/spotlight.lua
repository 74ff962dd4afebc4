-- Spotlight: a workspace's changes in the repository's root checkout, for projects that
-- only run from there; kept in sync when an agent's turn ends and when a file of the
-- workspace is written; turned off with the root put back byte for byte.
-- Not here: the file work (src/core/spotlight.rs).

local engine = require("conductor.engine")
local events = require("conductor.events")
local notify = require("conductor.notify")
local workspace = require("conductor.workspace")

local M = {}

--- Spotlights that are on, by repository root: { workspace_id, workspace, paused }.
---@type table<string, table>
local on = {}
local loaded = false

-- The key of a workspace's repository in `on`: its root, "host:root" for one on another
-- machine (the same path there is another repository).
---@param ws conductor.Workspace
---@return string
local function root_key(ws)
  return ws.host and (ws.host .. ":" .. ws.repo_root) or ws.repo_root
end

local watch

local function load()
  if loaded then
    return
  end
  loaded = true
  local ok, list = pcall(engine.call, "spotlights", {})
  for _, s in ipairs(ok and list or {}) do
    on[s.repo_root] = s
  end
  if next(on) then
    watch() -- a spotlight left on by an earlier session follows writes here too
  end
end

--- The spotlight a workspace is in, if any (for the statusline and the picker).
---@param ws conductor.Workspace
---@return table?
function M.of(ws)
  load()
  local s = on[root_key(ws)]
  return s and s.workspace_id == ws.id and s or nil
end

local group = vim.api.nvim_create_augroup("conductor_spotlight", { clear = true })
-- One sync at a time per repository; a request meanwhile runs once more after it.
local syncing, again = {}, {}

local function changed(ws, s)
  on[root_key(ws)] = s
  events.fire("ConductorSpotlight", { workspace = ws, spotlight = s })
end

--- Brings the root up to date with `ws` when it is spotlighted; one sync at a time.
---@param ws conductor.Workspace
function M.sync(ws)
  if not M.of(ws) then
    return
  end
  local root = root_key(ws)
  if syncing[root] then
    again[root] = true
    return
  end
  syncing[root] = true
  engine.request("spotlight_sync", { workspace = ws.id }, function(err, s)
    syncing[root] = nil
    local was = on[root_key(ws)]
    if err then
      notify.error(err)
    elseif s then
      if s.paused and not (was and was.paused) then
        notify.warn(
          ("spotlight of %s: %s; :ConductorSpotlight! puts the root back"):format(ws.name, s.paused)
        )
      end
      changed(ws, s)
    end
    if again[root] then
      again[root] = nil
      M.sync(ws)
    end
  end)
end

-- Writes of a spotlighted workspace's files sync the root.
function watch()
  vim.api.nvim_clear_autocmds({ group = group })
  vim.api.nvim_create_autocmd("BufWritePost", {
    group = group,
    callback = function(ev)
      local file = vim.fs.normalize(vim.api.nvim_buf_get_name(ev.buf))
      for _, s in pairs(on) do
        local ok, ws = pcall(workspace.get, s.workspace_id)
        if ok and vim.startswith(file, ws.path .. "/") then
          M.sync(ws)
        end
      end
    end,
  })
end

--- `User ConductorAgentState`: a turn that ends syncs the root.
---@param data { workspace: conductor.Workspace, agent: table, previous?: string }
function M.on_state(data)
  local agent = data.agent or {}
  if data.previous == "working" and (agent.state == "idle" or agent.state == "waiting") then
    M.sync(data.workspace)
  end
end

--- `:ConductorSpotlight[!] [ws]`.
---@param name? string
---@param off? boolean
function M.command(name, off)
  load()
  local ws = (name and name ~= "") and workspace.get(name) or workspace.current()
  if off then
    local params = ws and { workspace = ws.id } or { repo = workspace.context_path() }
    engine.request("spotlight_off", params, function(err, res)
      if err then
        return notify.error(err)
      end
      local root = ws and root_key(ws) or workspace.repo_root()
      on[root or ""] = nil
      for r, s in pairs(on) do
        if s.workspace_id == res.workspace_id then
          on[r] = nil
        end
      end
      pcall(vim.cmd, "checktime")
      local kept = res.edits_ref
          and ("; your edits made there meanwhile are kept on " .. res.edits_ref)
        or ""
      notify.info(("spotlight of %s off: the root is back as it was%s"):format(res.workspace, kept))
      events.fire("ConductorSpotlight", { workspace = ws, spotlight = vim.NIL })
    end)
    return
  end
  if not ws then
    error("no workspace in this tab; name one: :ConductorSpotlight {workspace}", 0)
  end
  engine.request("spotlight_on", { workspace = ws.id }, function(err, s)
    if err then
      return notify.error(err)
    end
    changed(ws, s)
    watch()
    pcall(vim.cmd, "checktime")
    notify.info(
      ("spotlight: %s's changes are in %s; they follow the workspace until :ConductorSpotlight!"):format(
        ws.name,
        root_key(ws)
      )
    )
  end)
end

return M
