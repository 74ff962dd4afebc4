-- A real agent CLI (codex, claude, gemini or opencode) in a workspace terminal: its first
-- screen renders and it takes a key. No credentials or network are assumed: a sign-in
-- menu, a trust question or the prompt all count as a first screen.
local T = require("harness")
local name = vim.env.CONDUCTOR_REAL_AGENT
T.record("ConductorWorkspaceCreated")
vim.cmd("ConductorNew --agent=" .. name .. " --name=real-" .. name .. " say hello")
local ws = T.wait_event("ConductorWorkspaceCreated")
local agents = require("conductor.agents")
T.wait(function() return #agents.list(ws.id, "agent") == 1 end, "the agent to start")
local buf = agents.list(ws.id, "agent")[1].buf
local function screen()
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end
local function visible_chars()
  return #(screen():gsub("%s", ""))
end
T.wait(function() return visible_chars() > 40 end, name .. "'s first screen", 60000)
local before = screen()
vim.cmd("startinsert")
T.wait(function() return vim.api.nvim_get_mode().mode == "t" end, "terminal mode")
-- A printable key lands in a prompt; on a menu, Down moves the selection.
vim.api.nvim_input("x<Down>")
T.wait(function() return screen() ~= before end, name .. " reacting to keys", 30000)
io.stderr:write(("REAL AGENT %s OK, state %s\n"):format(name, agents.list(ws.id, "agent")[1].state))
