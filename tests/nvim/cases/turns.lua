-- Agent turns: a checkpoint after each turn that changed files, the list, the turn's
-- diff, a revert that keeps the present state, and the terminal told of a turn that
-- ended while its tab was not shown (checked by the Rust side on stderr).
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
require("conductor").setup({
  default_agent = "fake",
  agents = { fake = { cmd = { fake }, prompt = "arg", working = { "esc to interrupt" }, idle_after_ms = 300 } },
})
for _, e in ipairs({ "ConductorWorkspaceCreated", "ConductorCheckpoint", "ConductorReverted", "ConductorReviewOpened" }) do
  T.record(e)
end
local agents = require("conductor.agents")
local engine = require("conductor.engine")

vim.cmd("ConductorNew --name=turns start")
local ws = T.wait_event("ConductorWorkspaceCreated")
T.wait(function() return #agents.list(ws.id, "agent") == 1 end, "the agent to start")
local agent = agents.list(ws.id, "agent")[1]
T.wait(function()
  return table.concat(vim.api.nvim_buf_get_lines(agent.buf, 0, -1, false), "\n"):find("> ", 1, true)
end, "the agent's prompt")
local function turn(text)
  engine.load().agent_write(agent.id, "work " .. text .. "\r")
end
local function checkpoints()
  return #vim.tbl_filter(function(e) return e.name == "ConductorCheckpoint" end, T.events)
end

-- Turn 1, seen (its tab is current): a checkpoint, no terminal notification.
turn("one")
local first = T.wait_event("ConductorCheckpoint", function(d) return d.turn == 1 end)
T.eq(first.agent, "fake", "the agent of the turn")
T.eq(T.read(ws.path .. "/agent-output.txt"), "one\n", "turn 1 wrote")

-- Turn 2 while another tab is shown: a checkpoint, and the terminal is told.
vim.cmd("tabfirst")
turn("two")
T.wait_event("ConductorCheckpoint", function(d) return d.turn == 2 end)

-- A turn that changes nothing records nothing.
turn("two")
T.wait(function()
  local s = agents.list(ws.id, "agent")[1]
  return s.state == "idle"
end, "the third turn to end")
vim.wait(300)
T.eq(checkpoints(), 2, "no checkpoint for a turn without changes")

-- The list, newest first; <CR> reviews the turn's diff.
vim.cmd("ConductorOpen turns")
vim.cmd("ConductorCheckpoints")
local list
T.wait(function()
  list = vim.bo.filetype == "conductor-checkpoints" and vim.api.nvim_buf_get_lines(0, 0, -1, false)
  return list
end, "the checkpoints list")
T.eq(#list, 3, "a header and two turns")
T.ok(list[2]:match("^%s+2%s") and list[2]:find("fake", 1, true) and list[2]:find("+1 -1", 1, true), list[2])
T.ok(list[3]:match("^%s+1%s") and list[3]:find("+1 -0", 1, true), list[3])
vim.api.nvim_win_set_cursor(0, { 3, 0 })
vim.api.nvim_feedkeys(vim.keycode("<CR>"), "x", false)
local review = T.wait_event("ConductorReviewOpened")
T.eq(review.scope, "commit", "the turn is reviewed as a commit")
vim.cmd("tabclose")

-- Revert to turn 1 from the command line: the file as it was; the present state kept.
vim.cmd("ConductorOpen turns")
vim.cmd("ConductorRevert 1")
local reverted = T.wait_event("ConductorReverted")
T.eq(reverted.turn, 1, "reverted turn")
T.eq(reverted.saved_as, 2, "the present state was checkpoint 2")
T.eq(T.read(ws.path .. "/agent-output.txt"), "one\n", "the file is back to turn 1")
vim.cmd("ConductorRevert 2")
T.wait_event("ConductorReverted", function(d) return d.turn == 2 end)
T.eq(T.read(ws.path .. "/agent-output.txt"), "two\n", "and forward again: nothing lost")
