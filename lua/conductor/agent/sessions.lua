-- The agents and run scripts of this editor: one record per engine session, its
-- label, its state (announced as `ConductorAgentState`), and output that arrived
-- before the session's start was answered.
-- Not here: their windows (agent/window.lua), the engine's events (agent/output.lua).

local M = {}

local api = vim.api
local catalog = require("conductor.agent.catalog")
local events = require("conductor.events")
local format = require("conductor.format")
local notify = require("conductor.notify")

---@class conductor.Agent
---@field id integer        engine session id
---@field name string       agent name ("codex", "run:web")
---@field label string      what the user sees: the name, numbered from the second running
---                         agent of that name in the workspace ("codex", "codex-2")
---@field kind string       "agent" | "run"
---@field ws conductor.Workspace
---@field buf integer
---@field chan integer
---@field state string      starting | working | waiting | idle | exited
---@field code integer?
---@field size string?      last size sent ("rows x cols")
---@field lost boolean?     on another machine whose connection dropped: it runs on there,
---                         this terminal waits for the connection to come back
---@field reconnecting boolean? a key typed into it (lost) is connecting again

---@type table<integer, conductor.Agent>
M.by_id = {}
-- Output of a session whose start has not been answered yet (run scripts start on a
-- worker thread, and their first output can overtake the answer).
local orphans = {}
-- Sessions of archived or deleted workspaces: their late output is dropped.
local forgotten = {}

--- The plain record of a session that listeners and `list` get.
---@param s conductor.Agent
function M.entry(s)
  return {
    id = s.id,
    name = s.name,
    label = s.label or s.name,
    kind = s.kind,
    state = s.state,
    code = s.code,
    buf = s.buf,
    workspace = s.ws.id,
    lost = s.lost or nil,
  }
end

--- The first of `name`, `name-2`, `name-3`… that no running agent of `ws` is labelled.
function M.label_for(ws, name)
  local taken = {}
  for _, s in pairs(M.by_id) do
    if s.ws.id == ws.id and s.state ~= "exited" then
      taken[s.label or s.name] = true
    end
  end
  local label, n = name, 1
  while taken[label] do
    n = n + 1
    label = ("%s-%d"):format(name, n)
  end
  return label
end

--- Sets a session's state, tells the user when an agent they do not see needs them
--- or finished, and fires `ConductorAgentState`.
function M.set_state(s, state, code)
  local before = s.state
  s.state, s.code = state, code
  events.fire("ConductorAgentState", { workspace = s.ws, agent = M.entry(s), previous = before })
  local visible = api.nvim_get_current_buf() == s.buf
  -- "finished" means an agent's task is done: a shell (no prompts) has none.
  if s.kind == "agent" and not visible and catalog.takes_prompts(s.name) then
    if state == "waiting" then
      notify.warn(("%s/%s needs input"):format(format.workspace_ref(s.ws), s.label))
    elseif before == "working" and state == "idle" then
      notify.info(("%s/%s finished"):format(format.workspace_ref(s.ws), s.label))
    end
  end
  if state == "idle" or state == "exited" then
    -- The agent may have changed files open in buffers.
    pcall(vim.cmd, "checktime")
  end
end

--- Output of session `id`: to its terminal, kept when it is not registered yet,
--- dropped when its workspace is gone.
function M.output(id, bytes)
  local s = M.by_id[id]
  if not s then
    if forgotten[id] then
      return
    end
    orphans[id] = orphans[id] or {}
    table.insert(orphans[id], bytes)
    return
  end
  pcall(api.nvim_chan_send, s.chan, bytes)
end

--- Records session `s` under the engine's id `id`, names its buffer and replays
--- the output that came first.
function M.register(s, id)
  s.id = id
  M.by_id[id] = s
  vim.b[s.buf].conductor_session = id
  -- Named by its label; an exited agent's buffer may still hold that name.
  if
    not pcall(
      api.nvim_buf_set_name,
      s.buf,
      ("conductor://%s/%s"):format(format.workspace_ref(s.ws), s.label)
    )
  then
    pcall(
      api.nvim_buf_set_name,
      s.buf,
      ("conductor://%s/%s-%d"):format(format.workspace_ref(s.ws), s.label, id)
    )
  end
  for _, bytes in ipairs(orphans[id] or {}) do
    pcall(api.nvim_chan_send, s.chan, bytes)
  end
  orphans[id] = nil
  events.fire("ConductorAgentState", { workspace = s.ws, agent = M.entry(s) })
end

--- Agents (and run scripts) of workspace `ws_id`, oldest first.
---@return table[]
function M.list(ws_id, kind)
  local out = {}
  for _, s in pairs(M.by_id) do
    if (not ws_id or s.ws.id == ws_id) and (not kind or s.kind == kind) then
      table.insert(out, M.entry(s))
    end
  end
  table.sort(out, function(a, b)
    return a.id < b.id
  end)
  return out
end

--- The local engine went away with every session of its own: each terminal says so
--- and is marked exited, then leaves the table (the next engine's ids start again at 1).
--- Terminals of workspaces on other machines are not its: their engines still run.
function M.engine_lost()
  for id, s in pairs(M.by_id) do
    if s.ws.host then
      goto continue
    end
    if s.state ~= "exited" then
      pcall(
        api.nvim_chan_send,
        s.chan,
        ("\r\n[conductor: the engine stopped; %s is gone]\r\n"):format(s.label)
      )
      M.set_state(s, "exited", nil)
    end
    M.by_id[id] = nil
    pcall(vim.api.nvim_buf_del_var, s.buf, "conductor_session")
    ::continue::
  end
  orphans, forgotten = {}, {}
end

--- The connection to `host` dropped (the ssh client died: the laptop slept, the network
--- changed). Its engine and agents run on there: each of its terminals says so and
--- stays, marked lost, until `agent.reattach` shows its screen again.
---@param host string
function M.host_lost(host)
  for _, s in pairs(M.by_id) do
    if s.ws.host == host and s.state ~= "exited" and not s.lost then
      s.lost = true
      pcall(
        api.nvim_chan_send,
        s.chan,
        ("\r\n[conductor: the connection to %s dropped; %s keeps running there. A key typed here or the next command reconnects (:ConductorOpen %s:%s)]\r\n"):format(
          host,
          s.label,
          host,
          s.ws.name
        )
      )
    end
  end
end

--- Whether terminals of `host` wait for its connection to come back.
---@param host string
---@return boolean
function M.has_lost(host)
  for _, s in pairs(M.by_id) do
    if s.lost and s.ws.host == host then
      return true
    end
  end
  return false
end

--- Drops every agent and run script of workspace `ws_id` (archived or deleted: the
--- engine stopped them) with their terminal buffers; their last events are ignored.
---@param ws_id string
function M.forget_workspace(ws_id)
  for id, s in pairs(M.by_id) do
    if s.ws.id == ws_id then
      M.by_id[id] = nil
      forgotten[id] = true
      pcall(api.nvim_buf_delete, s.buf, { force = true })
    end
  end
end

return M
