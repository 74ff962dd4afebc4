-- A workspace in a few words, for the picker, the telescope extension and the
-- statusline: its agents with their states, and its own state. Reads only
-- what is in memory (agent/sessions.lua, the workspace record); never asks git
-- or the engine.

local M = {}

local sessions = require("conductor.agent.sessions")

---@class conductor.AgentEntry
---@field id any        session id
---@field name string   agent name, e.g. "codex"
---@field state "starting"|"working"|"waiting"|"idle"|"exited"
---@field code? integer exit code once exited
---@field buf? integer  its terminal buffer

--- The agents of a workspace, or {} when there are none.
---@param ws_id string
---@return conductor.AgentEntry[]
function M.agents(ws_id)
  local list = sessions.list(ws_id, "agent")
  -- Run scripts are sessions too; only agents are summed up here.
  return vim.tbl_filter(function(a)
    return a.kind == nil or a.kind == "agent"
  end, list)
end

--- "codex:working", or "codex:exited(1)" for a failed exit.
---@param agent conductor.AgentEntry
---@return string
function M.agent_text(agent)
  local text = ("%s:%s"):format(agent.label or agent.name or "agent", agent.state or "?")
  if agent.state == "exited" and agent.code and agent.code ~= 0 then
    text = ("%s(%d)"):format(text, agent.code)
  end
  return text
end

--- Every agent's text, space-separated ("" when none).
---@param list conductor.AgentEntry[]
---@return string
function M.agents_text(list)
  local parts = {}
  for i, agent in ipairs(list) do
    parts[i] = M.agent_text(agent)
  end
  return table.concat(parts, " ")
end

--- "+12 -3" from the engine's last change list of the workspace (in memory: never
--- runs git), or "" when none was computed yet.
---@param ws conductor.Workspace
---@return string
function M.stat_text(ws)
  local engine = package.loaded["conductor.engine"]
  if not engine or ws.state ~= "active" then
    return ""
  end
  local ok, changes = pcall(engine.call, "changes_cached", { workspace = ws.id })
  if not ok or type(changes) ~= "table" then
    return ""
  end
  return ("+%d -%d"):format(changes.added or 0, changes.removed or 0)
end

--- The workspace's state, with its setup's outcome when that needs attention:
--- "active", "active, setup failed", "archived", "creating".
---@param ws conductor.Workspace
---@return string
function M.state_text(ws)
  local setup = ws.setup
  if ws.state == "active" and (setup == "failed" or setup == "running" or setup == "untrusted") then
    return ("%s, setup %s"):format(ws.state, setup)
  end
  return ws.state
end

return M
