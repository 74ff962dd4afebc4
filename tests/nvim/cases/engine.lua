-- Agents outlive the editor: they run in the engine process, and any Neovim shows them.
-- One file, several phases (CONDUCTOR_PHASE), run by tests/e2e/engine_process.rs, some
-- of them in two Neovims at once; they meet through files in CONDUCTOR_SHARED.
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
local phase = vim.env.CONDUCTOR_PHASE
local shared = vim.env.CONDUCTOR_SHARED
require("conductor").setup({
  default_agent = "fake",
  stop_grace_ms = 300,
  agents = { fake = { cmd = { fake }, prompt = "arg" } },
})
local api = vim.api
local engine = require("conductor.engine")
local agents = require("conductor.agent")

local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local function count(haystack, needle)
  local n, from = 0, 1
  while true do
    local at = haystack:find(needle, from, true)
    if not at then
      return n
    end
    n, from = n + 1, at + #needle
  end
end

-- The state of session `id` now (list entries are copies), nil once forgotten.
local function state_of(ws, id)
  for _, e in ipairs(agents.list(ws.id, "agent")) do
    if e.id == id then
      return e.state
    end
  end
end

local function live(ws)
  return vim.tbl_filter(function(e)
    return e.state ~= "exited"
  end, agents.list(ws.id, "agent"))
end

-- Processes whose working directory is inside `dir` (the agent and anything it started),
-- this Neovim left out (its tab's directory is the workspace's).
local function processes_in(dir)
  local found = {}
  for _, link in ipairs(vim.fn.glob("/proc/[0-9]*/cwd", false, true)) do
    local cwd = vim.uv.fs_readlink(link)
    local pid = tonumber(link:match("/proc/(%d+)/"))
    if pid ~= vim.fn.getpid() and cwd and (cwd == dir or vim.startswith(cwd, dir .. "/")) then
      found[#found + 1] = pid
    end
  end
  return found
end

local function wait_file(name)
  T.wait(function()
    return vim.uv.fs_stat(shared .. "/" .. name) ~= nil
  end, "the other Neovim's " .. name, 60000)
  return vim.json.decode(T.read(shared .. "/" .. name))
end

local function say(name, data)
  T.write(shared .. "/" .. name .. ".tmp", vim.json.encode(data or {}))
  vim.uv.fs_rename(shared .. "/" .. name .. ".tmp", shared .. "/" .. name)
end

-- A workspace with a fake agent that has done one turn ("DONE WORKING" on its screen).
local function start_agent(name)
  T.record("ConductorWorkspaceCreated")
  vim.cmd("ConductorNew --name=" .. name .. " outlive the editor")
  local ws = T.wait_event("ConductorWorkspaceCreated")
  local a
  T.wait(function()
    a = live(ws)[1]
    return a and text(a.buf):find("FAKE AGENT READY", 1, true)
  end, "the agent")
  engine.load().agent_write(a.id, "work before the quit\r")
  T.wait(function()
    return text(a.buf):find("DONE WORKING", 1, true)
  end, "the first turn")
  return ws, a
end

-- Opens `name` in this Neovim: its running agent is shown, not started again.
local function reattach(name, session)
  vim.cmd("ConductorOpen " .. name)
  local ws = require("conductor.workspace").get(name)
  local list = live(ws)
  T.eq(#list, 1, "one agent, the one that kept running")
  T.eq(list[1].id, session, "the same engine session")
  local a = list[1]
  T.wait(function()
    local t = text(a.buf)
    return t:find("FAKE AGENT READY", 1, true) and t:find("DONE WORKING", 1, true)
  end, "its screen and scrollback shown again")
  return ws, a
end

if phase == "quit" or phase == "kill" then
  T.case("an agent works, then Neovim " .. (phase == "quit" and "quits" or "is killed"), function()
    local ws, a = start_agent("keep")
    say("started", { session = a.id, engine = engine.load().connected().pid, path = ws.path })
    if phase == "kill" then
      vim.uv.kill(vim.fn.getpid(), "sigkill")
    end
  end)
elseif phase == "back" then
  T.case("another Neovim shows the agent, which takes keys", function()
    local before = wait_file("started")
    local ws, a = reattach("keep", before.session)
    T.eq(engine.load().connected().pid, before.engine, "the same engine")
    T.eq(#processes_in(ws.path) > 0, true, "the agent still runs")
    engine.load().agent_write(a.id, "work after the reattach\r")
    T.wait(function()
      return count(text(a.buf), "DONE WORKING") >= 2
    end, "the second turn")
    T.eq(T.read(ws.path .. "/agent-output.txt"), "after the reattach\n", "its work")
  end)
elseif phase == "share-a" then
  T.case("two Neovims show one agent: the first", function()
    local ws, a = start_agent("shared")
    say("a-ready", { session = a.id, path = ws.path })
    -- The other Neovim types `size`: its answer shows here too.
    T.wait(function()
      return text(a.buf):find("SIZE %d+ %d+")
    end, "the other Neovim's keys answered here", 60000)
    T.wait(function()
      return text(a.buf):find("PASTE 7 BYTES 2 LINES", 1, true)
    end, "the other Neovim's paste answered here", 60000)
    engine.load().agent_write(a.id, "invalid\r")
    say("a-typed")
    -- The other Neovim archives the workspace: the agent stops here too, and nothing of
    -- it runs on in the removed worktree.
    T.wait(function()
      local state = state_of(ws, a.id)
      return state == nil or state == "exited"
    end, "the agent stopped by the other Neovim's archive", 60000)
    T.wait(function()
      return #processes_in(ws.path) == 0
    end, "no process left in the archived worktree")
  end)
elseif phase == "share-b" then
  T.case("two Neovims show one agent: the second", function()
    local ready = wait_file("a-ready")
    local ws, a = reattach("shared", ready.session)
    -- The size is this Neovim's now (it attached last): the agent sees it.
    local rows, cols = require("conductor.agent.window").size_of(a.buf)
    engine.load().agent_write(a.id, "size\r")
    T.wait(function()
      return text(a.buf):find(("SIZE %d %d"):format(rows, cols), 1, true)
    end, ("the agent sized %dx%d, this Neovim's window"):format(rows, cols))
    -- A paste from here arrives whole (as a bracketed paste).
    agents.paste(a.id, "one\ntwo", false)
    T.wait(function()
      return text(a.buf):find("PASTE 7 BYTES 2 LINES", 1, true)
    end, "the paste from this Neovim")
    wait_file("a-typed")
    T.wait(function()
      return text(a.buf):find("INVALID DONE", 1, true)
    end, "the first Neovim's keys answered here")
    T.record("ConductorWorkspaceArchived")
    vim.cmd("ConductorArchive! shared")
    T.wait_event("ConductorWorkspaceArchived")
    T.eq(#processes_in(ws.path), 0, "the agent stopped with the archive")
  end)
elseif phase == "engine-killed" then
  T.case("the engine is killed: the agent is marked gone, no work is lost", function()
    local ws, a = start_agent("lost")
    local old = engine.load().connected().pid
    T.ok(#processes_in(ws.path) > 0, "the agent runs")
    vim.uv.kill(old, "sigkill")
    T.wait(function()
      return state_of(ws, a.id) == nil
    end, "the agent gone from the list when the engine went")
    T.wait(function()
      return text(a.buf):find("the engine stopped", 1, true)
    end, "its terminal says why")
    -- The next command starts a new engine; the workspace and its work are there.
    local list = engine.call("list", {})
    T.eq(#list, 1, "the workspace is still listed")
    local new = engine.load().connected().pid
    T.ok(new ~= nil and new ~= old, "a new engine")
    T.eq(T.read(ws.path .. "/agent-output.txt"), "before the quit\n", "the agent's work")
    T.wait(function()
      return #processes_in(ws.path) == 0
    end, "the lost agent's processes gone (no orphan)")
    -- Opening it starts the agent again (resumed), in the new engine.
    vim.cmd("ConductorOpen lost")
    T.wait(function()
      return #live(ws) == 1
    end, "the agent started again")
  end)
elseif phase == "exit-stop" then
  T.case('agents.on_editor_exit = "stop": quitting stops the agent', function()
    require("conductor").setup({
      default_agent = "fake",
      stop_grace_ms = 300,
      agents = { fake = { cmd = { fake }, prompt = "arg" }, on_editor_exit = "stop" },
    })
    local ws = start_agent("stopped")
    say("started", { path = ws.path })
  end)
elseif phase == "tui-quit" then
  T.case("a full-screen agent, then Neovim quits", function()
    require("conductor").setup({
      default_agent = "tui",
      stop_grace_ms = 300,
      agents = { tui = { cmd = { fake, "--tui" }, prompt = "none" } },
    })
    T.record("ConductorWorkspaceCreated")
    vim.cmd("ConductorNew --name=fullscreen draw")
    local ws = T.wait_event("ConductorWorkspaceCreated")
    local a
    T.wait(function()
      a = live(ws)[1]
      return a and text(a.buf):find("SIZE %d+ %d+")
    end, "the full-screen agent drawn")
    say("started", { session = a.id })
  end)
elseif phase == "tui-back" then
  T.case("its screen comes back: the alternate screen, as drawn", function()
    require("conductor").setup({
      default_agent = "tui",
      stop_grace_ms = 300,
      agents = { tui = { cmd = { fake, "--tui" }, prompt = "none" } },
    })
    local before = wait_file("started")
    vim.cmd("ConductorOpen fullscreen")
    local ws = require("conductor.workspace").get("fullscreen")
    local a = live(ws)[1]
    T.eq(a.id, before.session, "the same session")
    T.wait(function()
      return text(a.buf):find("FAKE TUI", 1, true)
    end, "the full-screen agent's screen shown again")
    -- Only its screen: the alternate screen keeps no scrollback of its own.
    T.eq(count(text(a.buf), "FAKE TUI"), 1, "drawn once")
    -- It redraws at this Neovim's size, and takes keys.
    engine.load().agent_write(a.id, "size\r")
    local rows, cols = require("conductor.agent.window").size_of(a.buf)
    T.wait(function()
      return text(a.buf):find(("SIZE %d %d"):format(rows, cols), 1, true)
    end, "the agent at this Neovim's size")
  end)
elseif phase == "env-first" or phase == "env-second" then
  T.case("an agent gets the environment of the Neovim that starts it (" .. phase .. ")", function()
    require("conductor").setup({
      default_agent = "printenv",
      stop_grace_ms = 300,
      agents = {
        printenv = {
          cmd = { "/bin/sh", "-c", "echo MARK=$CONDUCTOR_TEST_MARK; exec sleep 600" },
          prompt = "none",
        },
      },
    })
    local name = phase == "env-first" and "envfirst" or "envsecond"
    T.record("ConductorWorkspaceCreated")
    vim.cmd("ConductorNew --name=" .. name .. " print it")
    local ws = T.wait_event("ConductorWorkspaceCreated")
    local a
    T.wait(function()
      a = live(ws)[1]
      return a and text(a.buf):find("MARK=%a")
    end, "the agent's line")
    -- The engine was started by the first Neovim (its MARK); the second's agent has the
    -- second's.
    T.contains(text(a.buf), "MARK=" .. vim.env.CONDUCTOR_TEST_MARK)
    say(phase, { engine = engine.load().connected().pid })
  end)
elseif phase == "command" then
  T.case(":ConductorEngine status, stop (asking first) and restart", function()
    local ws, a = start_agent("admin")
    local core = engine.load()
    local first = core.connected().pid
    local function note_with(needle)
      local found
      T.wait(function()
        for _, n in ipairs(T.notes) do
          if n.msg:find(needle, 1, true) then
            found = n.msg
            return true
          end
        end
      end, "a message with " .. needle)
      return found
    end
    vim.cmd("ConductorEngine status")
    local said = note_with("engine pid")
    T.contains(said, ("engine pid %d"):format(first))
    T.contains(said, "editors connected: 1")
    T.contains(said, "admin/fake  idle  (agent)")
    -- Working agents: quitting says how many keep running (the default, "keep").
    core.agent_write(a.id, "busy\r")
    T.wait(function()
      return state_of(ws, a.id) == "working"
    end, "the agent working")
    api.nvim_exec_autocmds("VimLeavePre", {})
    T.contains(vim.fn.execute("messages"), "1 working agent(s) keep running in the engine")
    T.eq(core.connected().pid, first, "quitting's hook stopped nothing")
    -- Stop asks first while an agent runs: "Cancel" leaves everything running.
    local asked
    local confirm = vim.fn.confirm
    vim.fn.confirm = function(question)
      asked = question
      return 2
    end
    vim.cmd("ConductorEngine stop")
    vim.fn.confirm = confirm
    T.contains(asked, "the 1 agent(s) running in it")
    T.eq(core.connected().pid, first, "still running after Cancel")
    vim.cmd("ConductorEngine! stop")
    T.wait(function()
      return state_of(ws, a.id) == nil
    end, "the agent gone with the engine")
    -- The engine stopped it before going: its terminal says it exited.
    T.wait(function()
      return text(a.buf):find("[conductor: fake exited", 1, true)
    end, "its terminal says it exited")
    T.eq(core.connected().pid, nil, "no engine")
    T.wait(function()
      return #processes_in(ws.path) == 0
    end, "nothing left running")
    vim.cmd("ConductorEngine restart")
    local second = core.connected().pid
    T.ok(second and second ~= first, "a new engine")
    note_with(("engine restarted (pid %d)"):format(second))
  end)
elseif phase == "upgrade" then
  T.case("an engine of another protocol: said, and restarted when the user says so", function()
    -- tests/e2e/engine_process.rs runs an "old engine" on this Neovim's socket: it
    -- refuses every client with reason "protocol", and stops when told to.
    local chosen
    vim.ui.select = function(items, opts, on_choice)
      chosen = opts.prompt
      on_choice(items[1], 1)
    end
    local ok, err = pcall(engine.call, "list", {})
    T.eq(ok, false, "refused")
    T.contains(err, "does not speak this plugin's protocol")
    T.contains(err, ":ConductorEngine restart")
    T.wait(function()
      return chosen ~= nil
    end, "the restart offered")
    T.contains(chosen, "does not speak this plugin's protocol")
    -- The offer was taken: the old engine stopped and a new one runs.
    T.wait(function()
      return engine.load().connected().pid ~= nil
    end, "the new engine")
    T.eq(engine.call("list", {}), {}, "the new engine answers")
  end)
else
  error("unknown phase " .. tostring(phase))
end
