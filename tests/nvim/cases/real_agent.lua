-- A real agent CLI (codex, claude, gemini or opencode) in a workspace terminal, offline
-- with a fake key (tests/e2e/real_agents.rs prepares its home): the first prompt is
-- delivered through the CLI's own argument, the screen renders, keys and a paste arrive,
-- a resize repaints, and the state after start-up is what the screen shows.
-- CONDUCTOR_REAL_EXPECT=waiting: no credentials, a sign-in or auth menu must read as
-- waiting (and nothing else is checked).
local T = require("harness")
local api = vim.api
local name = vim.env.CONDUCTOR_REAL_AGENT
local expect = vim.env.CONDUCTOR_REAL_EXPECT
local task = "reply with the word pineapple"
vim.o.termguicolors = true
require("conductor").setup({
  agents = { codex = { trust_worktrees = true }, claude = { trust_worktrees = true } },
})
T.record("ConductorWorkspaceCreated")
local agents = require("conductor.agent")

-- The CLI starts in a new workspace.
local ws, agent, buf
T.case("The CLI starts in a new workspace", function()
  vim.cmd("ConductorNew --agent=" .. name .. " --name=real-" .. name .. " " .. task)
  ws = T.wait_event("ConductorWorkspaceCreated")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 1
  end, "the agent to start")
  agent = agents.list(ws.id, "agent")[1]
  buf = agent.buf
end)
local function screen()
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end
local function state()
  return agents.list(ws.id, "agent")[1].state
end
local function check(cond, what, ms)
  local ok = pcall(T.wait, cond, what, ms or 60000)
  T.ok(ok, ("%s: %s; screen:\n%s"):format(name, what, screen()))
end

if expect == "waiting" then
  T.case("No credentials: its sign-in menu reads as waiting", function()
    check(function()
      return state() == "waiting"
    end, "its sign-in menu reads as waiting")
    -- And stays so while the menu waits (past the 3 s after which quiet output reads as idle).
    local t0 = vim.uv.now()
    T.wait(function()
      return vim.uv.now() - t0 > 4000
    end, "four seconds")
    T.eq(state(), "waiting", name .. " still waiting on its menu")
    io.stderr:write(("REAL AGENT %s: menu on screen, state %s\n"):format(name, state()))
  end)
  return
end

-- The first prompt, delivered through the CLI's own argument, on its screen.
local after_start
T.case("The first prompt on its screen, then a state after start-up", function()
  check(function()
    return screen():find("pineapple", 1, true)
  end, "the first prompt on its screen")
  check(function()
    return state() ~= "starting"
  end, "a state after start-up")
  after_start = state()
end)

-- Keys reach its input. A CLI still starting may drop what arrives (opencode drops input
-- in its first seconds, longer on a busy machine): like a user, type again, and say so.
local tries = {}
local function until_shown(what, send, needle)
  for attempt = 1, 4 do
    send()
    if
      pcall(T.wait, function()
        return screen():find(needle, 1, true)
      end, what, 15000)
    then
      tries[#tries + 1] = ("%s %d"):format(what, attempt)
      return
    end
  end
  T.ok(false, ("%s: %s never showed; screen:\n%s"):format(name, what, screen()))
end
local before
T.case("Keys reach its input", function()
  before = screen()
  vim.cmd("startinsert")
  T.wait(function()
    return api.nvim_get_mode().mode == "t"
  end, "terminal mode")
  until_shown("keys", function()
    api.nvim_input("zqx")
  end, "zqx")
  api.nvim_input("<BS><BS><BS>")
  vim.cmd("stopinsert")
end)

-- A paste (not submitted) arrives whole.
T.case("A paste (not submitted) arrives whole", function()
  until_shown("paste", function()
    vim.cmd("ConductorSend! pasted-banana-text")
  end, "pasted-banana-text")
end)

-- A narrower window: it repaints at the new width.
T.case("A narrower window: it repaints at the new width", function()
  before = screen()
  vim.cmd("vsplit")
  vim.cmd("vertical resize 60")
  -- The terminal takes the size of the smallest window showing it.
  local cols = math.huge
  for _, w in ipairs(vim.fn.win_findbuf(buf)) do
    cols = math.min(cols, api.nvim_win_get_width(w) - vim.fn.getwininfo(w)[1].textoff)
  end
  local function widest()
    local w = 0
    for _, l in ipairs(vim.split(require("conductor.engine").load().agent_screen(agent.id), "\n")) do
      w = math.max(w, vim.fn.strdisplaywidth(l))
    end
    return w
  end
  check(function()
    return screen() ~= before and widest() <= cols
  end, ("a repaint at the new width (%d columns)"):format(cols))
end)
io.stderr:write(
  ("REAL AGENT %s OK: prompt delivered, keys, paste, resize; state after start-up %s, now %s; attempts: %s\n"):format(
    name,
    after_start,
    state(),
    table.concat(tries, ", ")
  )
)
