-- Run scripts (`scripts.run`): a workspace's named or default script in a bottom
-- terminal, as an engine session like an agent's; stopping them. On another machine
-- (|conductor-hosts|) the script runs there (the request routes by the workspace id),
-- and forwarding its port block here is offered (agent/forward.lua).

local M = {}

local engine = require("conductor.engine")
local forward = require("conductor.agent.forward")
local notify = require("conductor.notify")
-- Loaded for what it wires: engine output and agent events to the terminals.
require("conductor.agent.output")
local sessions = require("conductor.agent.sessions")
local window = require("conductor.agent.window")

--- Runs the workspace's run script (named, or the default one) in a bottom terminal.
function M.run(ws, script)
  local s, win = window.new_terminal(ws, "run", "run:" .. (script or "default"))
  local rows, cols = window.size_of(s.buf)
  engine.request("run_start", {
    workspace = ws.id,
    script = script,
    rows = rows,
    cols = cols,
    -- A socket path on this machine: meaningless to a script on another one.
    nvim = not ws.host and vim.v.servername or nil,
    termguicolors = vim.o.termguicolors,
    background = vim.o.background,
  }, function(err, started)
    if err then
      pcall(vim.api.nvim_win_close, win, true)
      pcall(vim.api.nvim_buf_delete, s.buf, { force = true })
      return notify.error(err)
    end
    s.name = "run:" .. started.name
    s.label = s.name
    sessions.register(s, started.session)
    for _, sid in ipairs(started.stopped or {}) do
      local other = sessions.by_id[sid]
      if other and other.buf ~= s.buf then
        notify.info(("stopped %s/%s (run mode is nonconcurrent)"):format(other.ws.name, other.name))
      end
    end
    forward.offer(ws)
  end)
  return s
end

--- Stops the workspace's run scripts.
function M.stop_runs(ws)
  engine.request("stop_runs", { workspace = ws.id }, function(err, n)
    forward.stop(ws.id)
    if err then
      return notify.error(err)
    end
    notify.info(
      n > 0 and ("stopped %d run script(s) of %s"):format(n, ws.name)
        or ("%s has no running script"):format(ws.name)
    )
  end)
end

return M
