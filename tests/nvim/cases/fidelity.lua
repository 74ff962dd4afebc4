-- Agents as in a terminal: every query a program sends its terminal gets the answer
-- :terminal gives (run side by side in the same Neovim), COLORTERM follows
-- 'termguicolors' as in :terminal, a typed-in first prompt waits until the program shows
-- its input, a repaint after a resize or a reopen is not work, and a menu waiting for a
-- choice is "waiting".
local T = require("harness")
local api = vim.api
local fake = vim.env.CONDUCTOR_FAKE_AGENT
local probe = vim.env.CONDUCTOR_QUERY_PROBE
require("conductor").setup({
  default_agent = "tui",
  agents = {
    probe = { cmd = { probe }, prompt = "arg" },
    tui = { cmd = { fake, "--tui" }, prompt = "send", idle_after_ms = 300 },
    -- No shell in between: a shell would correct PWD by itself.
    pwd = { cmd = { "printenv", "PWD" } },
  },
})
T.record("ConductorWorkspaceCreated")
local states = {}
api.nvim_create_autocmd("User", {
  pattern = "ConductorAgentState",
  callback = function(ev)
    table.insert(states, { id = ev.data.agent.id, state = ev.data.agent.state })
  end,
})
local agents = require("conductor.agent")
local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end
local function wait_text(buf, needle, ms)
  local ok = pcall(T.wait, function()
    return text(buf):find(needle, 1, true) ~= nil
  end, needle, ms)
  T.ok(ok, ("%q not on screen; screen:\n%s"):format(needle, text(buf):sub(-1500)))
end
local function type_keys(buf, keys)
  api.nvim_set_current_win(vim.fn.win_findbuf(buf)[1])
  vim.cmd("startinsert")
  T.wait(function()
    return api.nvim_get_mode().mode == "t"
  end, "terminal mode")
  api.nvim_input(keys)
end
local function states_of(id)
  return vim.tbl_map(
    function(s)
      return s.state
    end,
    vim.tbl_filter(function(s)
      return s.id == id
    end, states)
  )
end

-- A first prompt typed into a program that reads key by key at once but shows its
-- input only after a second of drawing (and drops what came before): it arrives.
local ws, tui
T.case("A first prompt typed into a program that reads key by key at once…", function()
  vim.cmd("ConductorNew --name=fid fix the colours")
  ws = T.wait_event("ConductorWorkspaceCreated")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 1
  end, "the agent to start")
  tui = agents.list(ws.id, "agent")[1]
  wait_text(tui.buf, "PASTE 15 BYTES 1 LINES", 15000)
  T.eq(
    T.read(ws.path .. "/paste.txt"),
    "fix the colours",
    "the first prompt, typed in once the input showed"
  )
end)

-- A repaint after a resize is not work; neither is one after a reopen.
local seen, size_line
T.case("A repaint after a resize is not work", function()
  T.wait(function()
    return agents.list(ws.id, "agent")[1].state == "idle"
  end, "idle after start-up")
  seen = #states_of(tui.id)
  vim.cmd("vsplit")
  vim.cmd("vertical resize 30")
  function size_line()
    local rows, cols = math.huge, math.huge
    for _, w in ipairs(vim.fn.win_findbuf(tui.buf)) do
      rows = math.min(rows, api.nvim_win_get_height(w))
      cols = math.min(cols, api.nvim_win_get_width(w) - vim.fn.getwininfo(w)[1].textoff)
    end
    return ("SIZE %d %d"):format(rows, cols)
  end
  wait_text(tui.buf, size_line())
  vim.cmd("close")
  wait_text(tui.buf, size_line())
end)
-- Hidden, then shown again in a window of another size.
for _, w in ipairs(vim.fn.win_findbuf(tui.buf)) do
  api.nvim_win_close(w, true)
end
vim.cmd("botright 15split")
api.nvim_win_set_buf(0, tui.buf)
wait_text(tui.buf, size_line())
-- Longer than the agent's idle delay (300 ms) and the redraw grace: any "working" from
-- the repaints would have been announced by now.
T.case("Longer than the agent's idle delay (300 ms) and the redraw grace", function()
  local t0 = vim.uv.now()
  T.wait(function()
    return vim.uv.now() - t0 > 2000
  end, "two seconds")
  T.eq(vim.list_slice(states_of(tui.id), seen + 1), {}, "state changes from repaints")
end)

-- A menu waiting for a choice is "waiting"; answered, the agent works, then is idle.
T.case('A menu waiting for a choice is "waiting"', function()
  type_keys(tui.buf, "menu<CR>")
  T.wait(function()
    return agents.list(ws.id, "agent")[1].state == "waiting"
  end, "waiting on the menu")
  api.nvim_input("2")
  wait_text(tui.buf, "PICKED 2")
  T.wait(function()
    return agents.list(ws.id, "agent")[1].state == "idle"
  end, "idle after the choice")
  vim.cmd("stopinsert")
end)

-- Every query the agent CLIs send at start-up, answered as :terminal answers it; the
-- environment as :terminal's (COLORTERM only while 'termguicolors' is on).
local report
T.case("Every query the agent CLIs send at start-up, answered as :terminal…", function()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, "p")
  report = {}
  local function compare(tag)
    local ours, theirs = dir .. "/ours-" .. tag .. ".json", dir .. "/term-" .. tag .. ".json"
    vim.cmd("ConductorOpen fid")
    vim.cmd("ConductorAgent probe " .. ours)
    vim.cmd("tabnew")
    vim.fn.jobstart({ probe, theirs }, { term = true, cwd = ws.path })
    T.wait(function()
      return T.read(ours) and T.read(theirs)
    end, "both probes", 30000)
    local a, b = vim.json.decode(T.read(ours)), vim.json.decode(T.read(theirs))
    for name, answer in pairs(b.answers) do
      T.eq(a.answers[name], answer, ("%s answer (%s)"):format(name, tag))
      table.insert(report, ("%-8s %-15s %s"):format(tag, name, vim.inspect(answer)))
    end
    T.eq(a.env.COLORTERM, b.env.COLORTERM, "COLORTERM (" .. tag .. ")")
    T.eq(a.env.TERM, "xterm-256color", "TERM")
    T.eq(a.env.PWD, ws.path, "PWD is the worktree")
    vim.cmd("tabclose!")
    return a
  end
  vim.o.termguicolors, vim.o.background = true, "dark"
  local dark = compare("tgc-dark")
  T.eq(dark.answers["OSC 11"], "\27]11;rgb:0000/0000/0000\7", "a dark background's colour")
  T.eq(dark.env.COLORTERM, "truecolor", "truecolor while termguicolors is on")
  vim.o.termguicolors, vim.o.background = false, "light"
  local light = compare("notgc-light")
  T.eq(light.answers["OSC 11"], "\27]11;rgb:ffff/ffff/ffff\7", "a light background's colour")
  T.eq(light.env.COLORTERM, vim.NIL, "no truecolor while termguicolors is off")
end)
-- PWD names the worktree, not Neovim's own directory (the one this test started in).
local pwd_buf
T.case("PWD names the worktree, not Neovim's own directory (the one this…", function()
  T.ok(vim.env.PWD ~= ws.path, "Neovim's PWD is elsewhere")
  vim.cmd("ConductorOpen fid")
  vim.cmd("ConductorAgent pwd")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 4
  end, "the pwd agent")
  pwd_buf = agents.list(ws.id, "agent")[4].buf
  T.wait(function()
    return text(pwd_buf):find("exited", 1, true)
  end, "printenv to finish")
end)
-- The window is narrow: the path is wrapped over several lines.
T.case("The window is narrow", function()
  T.contains(text(pwd_buf):gsub("\n", ""), ws.path .. "[conductor", "PWD given to the agent")
  table.sort(report)
  io.stderr:write(
    "QUERY ANSWERS (same in :terminal and ours)\n" .. table.concat(report, "\n") .. "\n"
  )
end)
