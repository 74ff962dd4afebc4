-- The shell fallback (issue 13.6, issue 10.3): with no AI CLI on PATH the agent is the
-- user's shell, which takes no prompts. The task is shown on its screen, never typed in;
-- sends that would submit text to it are refused; `:ConductorFanout --gh` refuses to
-- hand issue bodies to it.
local T = require("harness")
local pwned = vim.env.CONDUCTOR_TEST_PWNED
require("conductor").setup({ gh = "/bin/true", stop_grace_ms = 300 })
T.record("ConductorWorkspaceCreated")
local agents = require("conductor.agent")

-- No AI CLI on PATH: the default agent is the shell, which takes no prompts.
T.case("No AI CLI on PATH: the default agent is the shell", function()
  T.eq(agents.default_name(), "shell", "no AI CLI on PATH: the default agent is the shell")
  T.eq(agents.takes_prompts("shell"), false, "the shell takes no prompts")
end)

-- The terminal's text with its lines joined: a long line wraps at the window's width.
local function screen(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "")
end
local function wait_screen(buf, needle)
  local ok = pcall(T.wait, function()
    return screen(buf):find(needle, 1, true)
  end, needle)
  T.ok(
    ok,
    ("%q not on the shell's screen; it shows:\n%s"):format(
      needle,
      table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
    )
  )
end

-- The task is shown on the shell's screen and as its title, never typed in.
local ws, agent
T.case("The task is shown on the shell's screen, never typed in", function()
  vim.cmd("ConductorNew --name=plain touch " .. pwned .. "-task")
  ws = T.wait_event("ConductorWorkspaceCreated")
  agent = T.wait(function()
    return agents.list(ws.id, "agent")[1]
  end, "the shell agent")
  T.eq(agent.name, "shell", "the agent")
  wait_screen(agent.buf, "this agent is your shell (/bin/sh)")
  wait_screen(agent.buf, "task: touch " .. pwned .. "-task")
  -- A fresh shell waiting at its prompt is idle, not working, and not "finished".
  T.wait(function()
    return agents.list(ws.id, "agent")[1].state == "idle"
  end, "the fresh shell idle")
  for _, n in ipairs(T.notes) do
    T.eq(n.msg:find("finished", 1, true), nil, "no 'finished' for a shell: " .. n.msg)
  end
  T.eq(
    vim.b[agent.buf].term_title,
    "task: touch " .. pwned .. "-task",
    "the task is the terminal's title"
  )
end)

-- The shell reads what is typed in order: once a marker typed after its start has run,
-- a task typed in at its start would have run too.
T.case("The shell reads what is typed in order: the task did not run", function()
  require("conductor.engine").load().agent_write(agent.id, "echo marker-$((6*7))\r")
  wait_screen(agent.buf, "marker-42")
  T.eq(vim.uv.fs_stat(pwned .. "-task"), nil, "the task did not run in the shell")
end)

-- Review comments, check output and :ConductorSend submit text: refused for a shell.
T.case("Review comments, check output and :ConductorSend: refused for a shell", function()
  vim.cmd("ConductorSend touch " .. pwned .. "-send")
  T.wait_error("plain/shell takes no prompts")
  local ok, err = pcall(agents.paste, agent.id, "touch " .. pwned .. "-paste", true)
  T.eq(ok, false, "a submitted paste into the shell is refused")
  T.contains(err, "takes no prompts")
  -- :ConductorSend! only pastes (no Enter): the user sees it at their prompt and decides.
  vim.cmd("ConductorSend! echo pasted-$((2*3))")
  wait_screen(agent.buf, "echo pasted-$((2*3))")
  require("conductor.engine").load().agent_write(agent.id, "\21echo marker-$((7*7))\r")
  wait_screen(agent.buf, "marker-49")
  T.eq(screen(agent.buf):find("pasted-6", 1, true), nil, "the paste was not submitted")
  T.eq(vim.uv.fs_stat(pwned .. "-send"), nil, ":ConductorSend did not run in the shell")
  T.eq(vim.uv.fs_stat(pwned .. "-paste"), nil, "the paste did not run in the shell")
end)

-- Issue bodies from GitHub would be prompts: refused before `gh` runs.
T.case("Issue bodies from GitHub would be prompts: refused before gh runs", function()
  vim.cmd("ConductorFanout --gh")
  T.wait_error(
    "fanout --gh gives each issue's text to the agent as its prompt, and shell takes no prompts"
  )
end)
