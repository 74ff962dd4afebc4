-- Restore starts the agents the workspace had, with their resume arguments, and lists
-- them with their true states: no "exited" entries left from before the archive
-- (issue 13.8).
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
require("conductor").setup({
  default_agent = "fake",
  stop_grace_ms = 300,
  agents = { fake = { cmd = { fake }, prompt = "arg", resume = { fake, "--resumed" } } },
})
for _, e in ipairs({
  "ConductorWorkspaceCreated",
  "ConductorWorkspaceArchived",
  "ConductorWorkspaceRestored",
}) do
  T.record(e)
end
local agents = require("conductor.agent")
local function text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end
local function live(ws)
  return vim.tbl_filter(function(e)
    return e.state ~= "exited"
  end, agents.list(ws.id, "agent"))
end

-- A workspace with two agents.
local ws
T.case("A workspace with two agents", function()
  vim.cmd("ConductorNew --name=back bring it back")
  ws = T.wait_event("ConductorWorkspaceCreated")
  T.wait(function()
    return #live(ws) == 1
  end, "the first agent")
  vim.cmd("ConductorAgent fake")
  T.wait(function()
    local l = live(ws)
    return #l == 2 and text(l[2].buf):find("FAKE AGENT READY", 1, true)
  end, "the second agent")
end)

-- Archived: none of its agents is listed.
T.case("Archived: none of its agents is listed", function()
  vim.cmd("ConductorArchive! back")
  T.wait_event("ConductorWorkspaceArchived")
  T.eq(agents.list(ws.id), {}, "no agents of the archived workspace are listed")
end)

-- Restored: both agents back with their resume arguments, idle, and no exited ones.
T.case("Restored: both agents back with their resume arguments, idle", function()
  vim.cmd("ConductorRestore back")
  T.wait_event("ConductorWorkspaceRestored")
  -- (Their screens are waited for: a new agent reads as idle before it has drawn anything.)
  local restored = T.wait(function()
    local l = agents.list(ws.id, "agent")
    local drawn = #l == 2
      and text(l[1].buf):find("PROMPT: --resumed", 1, true)
      and text(l[2].buf):find("PROMPT: --resumed", 1, true)
    return drawn and l[1].state == "idle" and l[2].state == "idle" and l
  end, "both agents back with their resume arguments, idle")
  T.eq(
    vim.tbl_map(function(e)
      return e.label
    end, restored),
    { "fake", "fake-2" },
    "labels"
  )
  local line = require("conductor").statusline()
  T.contains(line, "fake:idle fake-2:idle", "the statusline")
  T.eq(line:find("exited", 1, true), nil, "no exited agents in " .. line)
end)
