-- The agent and run-script verbs behind :ConductorAgent, :ConductorSend, :ConductorNext,
-- :ConductorAgents, :ConductorRun and :ConductorStop. Each works on the current tab's
-- workspace; errors become one notification (the command wrappers catch them).

local M = {}

local agents = require("conductor.agent")
local notify = require("conductor.notify")
local remote_file = require("conductor.review.remote_file")
local trust = require("conductor.trust")
local workspace = require("conductor.workspace")

local function current(command)
  return workspace.resolve(nil, command)
end

--- Adds an agent to the current workspace, in a new vertical split.
function M.agent(name, prompt)
  local ws = current("ConductorAgent")
  agents.start(ws, name ~= "" and name or nil, prompt)
end

--- `:[range]ConductorSend[!] [text]`: the text, or the lines of the range with their
--- `path:line` context, to the workspace's agent as one bracketed paste, then Enter to
--- submit it; with `!` the paste is left in the agent's prompt for you to edit.
function M.send(opts)
  local ws = current("ConductorSend")
  local text = opts.args
  if opts.range > 0 then
    local buf = vim.api.nvim_get_current_buf()
    local lines = vim.api.nvim_buf_get_lines(buf, opts.line1 - 1, opts.line2, false)
    local name = vim.api.nvim_buf_get_name(buf)
    -- A file of a workspace on another machine is a remote_file.lua buffer: its path.
    local remote = remote_file.of_buf(buf)
    local rel = remote and remote.path
      or (name ~= "" and vim.fs.relpath and vim.fs.relpath(ws.path, name) or nil)
    rel = rel or (name ~= "" and vim.fn.fnamemodify(name, ":~:.") or "[No Name]")
    local where = opts.line1 == opts.line2 and ("%s:%d"):format(rel, opts.line1)
      or ("%s:%d-%d"):format(rel, opts.line1, opts.line2)
    local ft = vim.bo[buf].filetype
    text = ("%s%s\n```%s\n%s\n```"):format(
      text ~= "" and (text .. "\n\n") or "",
      where,
      ft,
      table.concat(lines, "\n")
    )
  end
  if text == "" then
    error("nothing to send: give text or a range (:'<,'>ConductorSend)", 0)
  end
  -- With ! the text is only pasted, not submitted: the user may still edit or drop it,
  -- so even an agent without prompt support (a shell) may get it.
  agents.choose(ws, function(s)
    agents.paste(s.id, text, not opts.bang)
  end, { prompts = not opts.bang })
end

--- Lists the agents of every workspace with their state; choosing one shows it.
function M.list()
  local list = agents.list(nil, nil)
  if #list == 0 then
    return notify.info("no agents running")
  end
  vim.ui.select(list, {
    prompt = "conductor agents",
    format_item = function(e)
      local ws = workspace.get(e.workspace)
      return ("%-20s %-10s %s%s"):format(
        ws.name,
        e.label,
        e.state,
        e.code and (" (" .. e.code .. ")") or ""
      )
    end,
  }, function(e)
    if e then
      agents.show(e.id)
    end
  end)
end

function M.next()
  agents.next()
end

--- Stops (kills) the agent in the current terminal, or the workspace's only agent.
function M.kill()
  agents.choose(current("ConductorAgentKill"), function(s)
    agents.kill(s.id)
  end)
end

function M.restart()
  agents.choose(current("ConductorAgentRestart"), function(s)
    agents.restart(s.id)
  end)
end

function M.run(script)
  local ws = current("ConductorRun")
  trust.for_workspace(ws)
  agents.run(ws, script ~= "" and script or nil)
end

function M.stop()
  agents.stop_runs(current("ConductorStop"))
end

return M
