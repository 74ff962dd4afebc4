-- Archive as the user meets it at the edges (issue 10, items 8 and 9): the confirmation
-- names the ignored content that goes, largest first, and the files kept; an archive that
-- cannot be recorded fails with one line, leaving the agent running and every file there.
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
require("conductor").setup({
  default_agent = "fake",
  stop_grace_ms = 300,
  agents = { fake = { cmd = { fake }, prompt = "arg" } },
})
T.record("ConductorWorkspaceCreated")
T.record("ConductorWorkspaceArchived")
T.record("ConductorWorkspaceRestored")
local agents = require("conductor.agent")

-- A workspace with its agent running; its .env.local is the root's copy.
local ws
T.case("A workspace with its agent running", function()
  vim.cmd("ConductorNew --name=edges try the edges")
  ws = T.wait_event("ConductorWorkspaceCreated")
  T.eq(T.read(ws.path .. "/.env.local"), "ROOT=1\n", ".env.local copied in")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 1
  end, "the agent to start")
end)
local function running()
  for _, a in ipairs(agents.list(ws.id, "agent")) do
    if a.state ~= "exited" then
      return true
    end
  end
  return false
end

T.write(ws.path .. "/.env.local", "EDITED=1\n")
T.write(ws.path .. "/node_modules/pkg/index.js", string.rep("x", 3000))
T.write(ws.path .. "/debug.log", string.rep("y", 40))

-- The confirmation, answered "Cancel" first: nothing happens.
local asked
T.case('The confirmation, answered "Cancel" first: nothing happens', function()
  vim.fn.confirm = function(q)
    asked = q
    return 2
  end
  vim.cmd("ConductorArchive edges")
  T.wait(function()
    return asked ~= nil
  end, "the archive confirmation")
  T.contains(asked, "Archive edges?")
  T.contains(
    asked,
    "Ignored content is deleted, 3.0 KB in all: node_modules/ (2.9 KB), debug.log (40 B)."
  )
  T.contains(asked, "Kept and restored: .env.local.")
  vim.wait(200)
  T.ok(running(), "cancelled: the agent still runs")
  T.ok(vim.fn.isdirectory(ws.path .. "/node_modules") == 1, "cancelled: nothing deleted")
end)

-- An archive that cannot be recorded (a repository inside the workspace): one error
-- line, the agent still running, every file still there.
T.case("An archive that cannot be recorded (a repository inside the workspace)", function()
  T.write(ws.path .. "/inner/file.txt", "nested\n")
  T.git(ws.path .. "/inner", "init", "-q")
  T.git(ws.path .. "/inner", "add", ".")
  T.git(ws.path .. "/inner", "commit", "-qm", "inner")
  vim.cmd("ConductorArchive! edges")
  T.wait_error("cannot archive edges; nothing was stopped or removed")
  T.ok(running(), "refused: the agent still runs")
  T.eq(T.read(ws.path .. "/inner/file.txt"), "nested\n", "refused: files untouched")
  vim.fn.delete(ws.path .. "/inner", "rf")
end)

-- Archive, then restore: the edited .env.local is the workspace's, not the root's.
T.case("Archive, then restore: the edited .env.local is the workspace's", function()
  vim.fn.confirm = function()
    return 1
  end
  vim.cmd("ConductorArchive edges")
  T.wait_event("ConductorWorkspaceArchived")
  T.eq(vim.fn.isdirectory(ws.path), 0, "archived: worktree removed")
  T.wait(function()
    return not running()
  end, "archived: the agent was stopped")
  vim.cmd("ConductorRestore edges")
  T.wait_event("ConductorWorkspaceRestored")
  T.eq(T.read(ws.path .. "/.env.local"), "EDITED=1\n", "kept and restored")
  T.eq(vim.fn.isdirectory(ws.path .. "/node_modules"), 0, "ignored content went")
end)
