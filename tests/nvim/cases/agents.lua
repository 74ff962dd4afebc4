-- Agents in real PTYs shown in terminal buffers: first prompt, keys, states, resize,
-- a 20 MB flood, hidden-but-alive terminals, one-paste sends, exit codes, missing
-- binaries and run scripts.
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
require("conductor").setup({
  default_agent = "fake",
  agents = {
    fake = {
      cmd = { fake },
      prompt = "arg",
      working = { "esc to interrupt" },
      waiting = { "(y/n)" },
      idle_after_ms = 300,
    },
    missing = { cmd = { "definitely-not-installed-xyz" }, install = "npm install -g xyz" },
    codexlike = { cmd = { fake }, prompt = "arg", trust = "codex", trust_worktrees = true },
    claudelike = { cmd = { fake }, prompt = "arg", trust = "claude", trust_worktrees = true },
    shy = { cmd = { fake }, prompt = "arg", trust = "claude" },
  },
  scripts = { run = "echo RUN PORT=$CONDUCTOR_PORT; sleep 60" },
})
-- Truecolor is announced only while 'termguicolors' is on (tests/nvim/cases/fidelity.lua
-- checks it off, against :terminal).
local states, text, wait_text
T.case("Truecolor is announced only while 'termguicolors' is on…", function()
  vim.o.termguicolors = true
  T.record("ConductorWorkspaceCreated")
  states = {}
  vim.api.nvim_create_autocmd("User", {
    pattern = "ConductorAgentState",
    callback = function(ev)
      table.insert(
        states,
        { state = ev.data.agent.state, code = ev.data.agent.code, id = ev.data.agent.id }
      )
    end,
  })

  function text(buf)
    return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
  end
  function wait_text(buf, needle, ms)
    local ok = pcall(T.wait, function()
      return text(buf):find(needle, 1, true) ~= nil
    end, needle, ms)
    T.ok(ok, ("%q not on screen; screen:\n%s"):format(needle, text(buf):sub(-1500)))
  end
end)
-- Keys as the user types them in terminal mode (waits until terminal mode is on).
local type_keys, saw_state, ws, agents, agent, buf
T.case("Keys as the user types them in terminal mode (waits until terminal…", function()
  function type_keys(keys)
    vim.cmd("startinsert")
    T.wait(function()
      return vim.api.nvim_get_mode().mode == "t"
    end, "terminal mode")
    vim.api.nvim_input(keys)
  end
  function saw_state(id, state)
    for _, s in ipairs(states) do
      if s.id == id and s.state == state then
        return true
      end
    end
  end

  vim.cmd("ConductorNew --name=agent1 fix the login test")
  ws = T.wait_event("ConductorWorkspaceCreated")
  agents = require("conductor.agent")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 1
  end, "the agent to start")
  agent = agents.list(ws.id, "agent")[1]
  buf = agent.buf
  T.eq(vim.bo[buf].buftype, "terminal", "agent buffer is a terminal")
  T.eq(vim.api.nvim_win_get_buf(0), buf, "the agent's terminal is in the workspace's window")
  wait_text(buf, "PROMPT: fix the login test")
  wait_text(buf, "PORT=" .. ws.port)
  wait_text(buf, "TERM=xterm-256color COLORTERM=truecolor")
  wait_text(buf, "NVIM=set VIMRUNTIME=unset")
end)

-- Typed keys reach the agent; OSC 7501 drives the state: working, then idle.
T.case("Typed keys reach the agent", function()
  type_keys("work<CR>")
  wait_text(buf, "DONE WORKING")
  T.eq(
    T.read(ws.path .. "/agent-output.txt"),
    "written by the fake agent\n",
    "the agent wrote in its worktree"
  )
  T.wait(function()
    return saw_state(agent.id, "working") and saw_state(agent.id, "idle")
  end, "working then idle")
end)

-- A question: needs input, then the answer arrives.
T.case("A question", function()
  type_keys("ask<CR>")
  T.wait(function()
    return agents.list(ws.id, "agent")[1].state == "waiting"
  end, "waiting state")
  type_keys("y")
  wait_text(buf, "ANSWER y")
end)

-- Resize follows the windows: the child sees the smallest window showing its terminal.
T.case("Resize follows the windows", function()
  vim.cmd("stopinsert")
  vim.cmd("vsplit")
  vim.cmd("vertical resize 47")
  local rows, cols = math.huge, math.huge
  for _, w in ipairs(vim.fn.win_findbuf(buf)) do
    rows = math.min(rows, vim.api.nvim_win_get_height(w))
    cols = math.min(cols, vim.api.nvim_win_get_width(w) - vim.fn.getwininfo(w)[1].textoff)
  end
  T.ok(cols < 47, "two windows, the other one narrower")
  wait_text(buf, ("SIZE %d %d"):format(rows, cols))
  vim.cmd("close")
  T.eq(#vim.fn.win_findbuf(buf), 1, "back to one window")
  local full = vim.api.nvim_win_get_width(vim.fn.win_findbuf(buf)[1])
  wait_text(buf, ("SIZE %d %d"):format(rows, full))
end)

-- 20 MB arrive complete: the last line before the marker is the last one printed.
T.case("20 MB arrive complete", function()
  type_keys("flood 20<CR>")
  wait_text(buf, "FLOOD DONE", 120000)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local done_at
  for i = #lines, 1, -1 do
    if lines[i]:find("FLOOD DONE", 1, true) then
      done_at = i
      break
    end
  end
  local total = tonumber(lines[done_at]:match("FLOOD DONE (%d+) LINES"))
  T.contains(lines[done_at - 1], ("flood line %08d"):format(total - 1), "last flood line")
  T.contains(lines[done_at - 2], ("flood line %08d"):format(total - 2), "line before it")
end)

-- Invalid UTF-8 and lone escapes do not break the terminal.
type_keys("invalid<CR>")
wait_text(buf, "INVALID DONE")
vim.cmd("stopinsert")

-- Closing the window keeps the agent; opening the workspace shows it again.
T.case("Closing the window keeps the agent", function()
  vim.cmd("tabfirst")
  for _, w in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_close(w, true)
  end
  T.ok(vim.api.nvim_buf_is_valid(buf), "buffer kept")
  T.eq(agents.list(ws.id, "agent")[1].state ~= "exited", true, "process still running")
  vim.cmd("ConductorOpen agent1")
  T.wait(function()
    return #vim.fn.win_findbuf(buf) == 1
  end, "the agent shown again")
  T.eq(#agents.list(ws.id, "agent"), 1, "no second agent was started")
end)
-- A 100 KB selection arrives as one paste, with its path:line context.
local big
T.case("A 100 KB selection arrives as one paste, with its path:line context", function()
  vim.cmd("new " .. vim.fn.fnameescape(ws.path .. "/big.txt"))
  big = {}
  for i = 1, 2000 do
    big[i] = ("%04d %s"):format(i, ("y"):rep(45))
  end
  vim.api.nvim_buf_set_lines(0, 0, -1, false, big)
  vim.cmd("silent write")
  vim.cmd("%ConductorSend review this")
  local body = "review this\n\nbig.txt:1-2000\n```text\n" .. table.concat(big, "\n") .. "\n```"
  T.ok(#body > 100000, "the selection is over 100 KB")
  wait_text(buf, ("PASTE %d BYTES %d LINES"):format(#body, 2005))
  T.eq(T.read(ws.path .. "/paste.txt"), body, "paste content")
end)
-- The <Plug> mapping sends the current line, with its context.
T.case("The <Plug> mapping sends the current line, with its context", function()
  vim.api.nvim_win_set_cursor(0, { 7, 0 })
  vim.api.nvim_feedkeys(vim.keycode("<Plug>(conductor-send-line)"), "m", false)
  local line7 = "big.txt:7\n```text\n" .. big[7] .. "\n```"
  wait_text(buf, ("PASTE %d BYTES 4 LINES"):format(#line7))
  T.eq(T.read(ws.path .. "/paste.txt"), line7, "line sent through <Plug>(conductor-send-line)")
end)
-- A program that turned bracketed paste off gets plain text, no markers.
T.case("A program that turned bracketed paste off gets plain text, no markers", function()
  vim.cmd("wincmd p")
  type_keys("paste off<CR>")
  wait_text(buf, "PASTE MODE OFF")
  vim.cmd("stopinsert")
  vim.cmd("ConductorSend plain words")
  wait_text(buf, "UNKNOWN plain words")
  T.ok(not text(buf):find("200~", 1, true), "no paste markers on screen:\n" .. text(buf):sub(-500))
  vim.cmd("wincmd p")
  vim.cmd("close")
end)

-- A second agent in the same workspace: its own vertical split.
local second
T.case("A second agent in the same workspace", function()
  vim.cmd("ConductorAgent fake second prompt")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 2
  end, "second agent")
  second = agents.list(ws.id, "agent")[2]
  wait_text(second.buf, "PROMPT: second prompt")
  T.eq(#vim.fn.win_findbuf(second.buf), 1, "second agent visible")
  T.ok(
    vim.api.nvim_win_get_width(vim.fn.win_findbuf(second.buf)[1]) < vim.o.columns,
    "in a vertical split"
  )
end)

-- Exit code shows in the buffer and the state.
T.case("Exit code shows in the buffer and the state", function()
  vim.api.nvim_set_current_win(vim.fn.win_findbuf(second.buf)[1])
  type_keys("exit 3<CR>")
  T.wait(function()
    return saw_state(second.id, "exited")
  end, "exited state")
  wait_text(second.buf, "exited: exit 3")
  T.eq(agents.list(ws.id, "agent")[2].code, 3, "exit code")
end)
-- One exit, one event, with its code.
T.case("One exit, one event, with its code", function()
  local exits = vim.tbl_filter(function(s)
    return s.id == second.id and s.state == "exited"
  end, states)
  T.eq(#exits, 1, "ConductorAgentState events for the exit")
  T.eq(exits[1].code, 3, "the exit event carries the code")
  vim.cmd("stopinsert")
end)

-- Opt-in trust: the worktree is marked trusted where the root already is, only then.
T.case("Opt-in trust", function()
  local codex_cfg = vim.env.HOME .. "/.codex/config.toml"
  T.write(
    codex_cfg,
    ('model = "o3"\n\n[projects."%s"]\ntrust_level = "trusted"\n'):format(ws.repo_root)
  )
  local claude_cfg = vim.env.HOME .. "/.claude.json"
  local claude_before = vim.json.encode({
    projects = { [ws.repo_root] = { hasTrustDialogAccepted = true } },
    userID = "u",
  })
  T.write(claude_cfg, claude_before)
  vim.cmd("ConductorAgent shy")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 3
  end, "third agent")
  T.eq(T.read(claude_cfg), claude_before, "no trust change without trust_worktrees")
  vim.cmd("ConductorAgent codexlike")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 4
  end, "fourth agent")
  T.contains(
    T.read(codex_cfg),
    ('[projects."%s"]\ntrust_level = "trusted"'):format(ws.path),
    "codex trust record"
  )
  T.contains(T.read(codex_cfg), 'model = "o3"', "the rest of codex's config kept")
  vim.cmd("ConductorAgent claudelike")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 5
  end, "fifth agent")
  local claude = vim.json.decode(T.read(claude_cfg))
  T.eq(claude.projects[ws.path].hasTrustDialogAccepted, true, "claude trust record")
  T.eq(claude.userID, "u", "the rest of claude's config kept")
end)
-- An untrusted root gives nothing.
T.case("An untrusted root gives nothing", function()
  local other = vim.env.HOME .. "/.codex/config.toml"
  T.write(other, '[projects."/elsewhere"]\ntrust_level = "trusted"\n')
  vim.cmd("ConductorAgent codexlike")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 6
  end, "sixth agent")
  T.eq(
    T.read(other),
    '[projects."/elsewhere"]\ntrust_level = "trusted"\n',
    "root not trusted: record unchanged"
  )
end)

-- Missing binaries: one clear error, nothing made.
T.case("Missing binaries", function()
  vim.cmd("ConductorAgent missing")
  T.contains(
    T.wait_error("definitely-not-installed-xyz"),
    "not found on PATH; install it (npm install -g xyz)"
  )
  T.eq(#agents.list(ws.id, "agent"), 6, "no agent added")
  vim.cmd("ConductorNew --agent=missing --name=never a task")
  T.wait_error("agent missing: `definitely-not-installed-xyz` not found on PATH")
  T.eq(vim.fn.isdirectory(vim.fs.dirname(ws.path) .. "/never"), 0, "no workspace made")
end)

-- Run script: bottom terminal with the workspace's port; :ConductorStop stops it.
T.case("Run script", function()
  vim.cmd("ConductorRun")
  T.wait(function()
    return #agents.list(ws.id, "run") == 1
  end, "run session")
  local run = agents.list(ws.id, "run")[1]
  wait_text(run.buf, "RUN PORT=" .. ws.port)
  vim.cmd("ConductorStop")
  T.wait(function()
    return agents.list(ws.id, "run")[1].state == "exited"
  end, "run script stopped")
end)
