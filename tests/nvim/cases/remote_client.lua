-- The client's side of remote hosts, run by tests/e2e/remote_client.rs against a real
-- sshd: the host's engine copied there on first use, requests routed by `host` and by
-- "host:id", what comes back told apart from the local engine's, a remote file read and
-- written, and a dropped ssh that leaves the agent running for the next connection.
local T = require("harness")
local root = vim.env.CONDUCTOR_TEST_HOST_ROOT
local ssh = vim.json.decode(vim.env.CONDUCTOR_TEST_SSH)
-- An agent program only the host has, on the PATH its login shell gives (~/bin).
local only_there = "conductor-host-only-" .. vim.fn.getpid()
require("conductor").setup({
  agents = {
    hostonly = { cmd = { only_there }, prompt = "arg" },
    nowhere = { cmd = { "conductor-on-no-machine" }, prompt = "arg" },
  },
  stop_grace_ms = 300,
  -- A preference of this Neovim's that the host's engine takes too.
  branch_prefix = "mine/",
  hosts = {
    box = {
      ssh = ssh,
      state_dir = root .. "/state",
      options = { workspaces_root = root .. "/ws", fetch = false, stop_grace_ms = 300 },
    },
  },
})
local engine = require("conductor.engine")

local function wait_reply(method, params)
  local done, err, result = false, nil, nil
  engine.request(method, params, function(e, r)
    done, err, result = true, e, r
  end)
  T.wait(function()
    return done
  end, method .. " answered", 60000)
  T.ok(not err, ("%s: %s"):format(method, err))
  return result
end

local output = {} ---@type table<integer, string>
local lost = {} ---@type table[]
engine.on("engine_lost", function(data)
  lost[#lost + 1] = data
end)

local function screen(session)
  return output[session] or ""
end

local ws, session
T.case("the first request copies the engine there, then reaches it", function()
  local repo = engine.call("resolve_repo", { host = "box", path = root .. "/repo" })
  T.eq(repo.root, root .. "/repo", "the host's repository")
  T.ok(engine.host_connected("box"), "connected to box")
  local function said()
    return #vim.tbl_filter(function(n)
      return n.msg:find("box has no conductor-engine", 1, true) ~= nil
    end, T.notes)
  end
  T.wait(function()
    return said() > 0
  end, "the copy is said")
  T.eq(said(), 1, "the copy is said once")
  T.eq(engine.hosts(), { "box" }, "the configured hosts")
  -- Started from the user's login shell there: its profile's variables, and what the
  -- profile printed did not reach the protocol.
  local pid = engine.call("engine_status", { host = "box" }).pid
  T.contains(T.read("/proc/" .. pid .. "/environ"), "CONDUCTOR_TEST_PROFILE=read")
end)

T.case("agents are looked up on the host's PATH, the shell is the host user's", function()
  local bin = vim.fn.fnamemodify(root, ":h") .. "/bin"
  T.write(bin .. "/" .. only_there, "#!/bin/sh\nexec sleep 60\n")
  vim.fn.setfperm(bin .. "/" .. only_there, "rwxr-xr-x")
  vim.system({ "chown", "-R", "conductor-remote:", bin }):wait()
  -- A new engine (started now, from the login shell) sees ~/bin.
  vim.cmd("ConductorEngine! restart box")
  local agents = require("conductor.agent")
  T.eq(agents.check("hostonly", "box").cmd, { only_there }, "found there")
  local ok, err = pcall(agents.check, "hostonly")
  T.ok(not ok and err:find("not found on PATH", 1, true), "not here: " .. tostring(err))
  ok, err = pcall(agents.check, "nowhere", "box")
  T.ok(not ok and err:find("not found on box's PATH", 1, true), tostring(err))
  T.eq(agents.check("shell", "box").cmd, { "/bin/sh" }, "the host user's shell")
  vim.fn.delete(bin .. "/" .. only_there)
end)

T.case("a workspace on the host names its host", function()
  ws = wait_reply("create", { host = "box", path = root .. "/repo", name = "far-away" })
  T.eq(ws.host, "box", "host")
  T.eq(ws.branch, "mine/far-away", "setup()'s branch_prefix reached the host")
  T.ok(vim.startswith(ws.id, "box:"), "id names the host: " .. ws.id)
  T.ok(vim.startswith(ws.path, root .. "/ws/"), "a path on the host: " .. ws.path)
  local again = engine.call("get", { workspace = ws.id })
  T.eq(again.id, ws.id, "get by host:id")
  T.eq(engine.call("get", { workspace = "box:far-away" }).id, ws.id, "get by host:name")
  local listed = engine.call("list", { host = "box" })
  T.eq(#listed, 1, "the host lists it")
  T.eq(listed[1].id, ws.id, "listed with its host id")
  T.eq(#engine.call("list", {}), 0, "this machine has none")
end)

T.case("an agent there takes keys and shows its output here", function()
  local core = engine.ensure()
  core.on_output(function(id, bytes)
    output[id] = (output[id] or "") .. bytes
  end)
  session = core.agent_start({
    workspace = ws.id,
    argv = { root .. "/fake-agent", "hello from afar" },
    rows = 24,
    cols = 80,
    name = "fake",
    label = "fake",
  }).session
  T.ok(session >= 2 ^ 40, "a session number of the host's own range: " .. session)
  T.wait(function()
    return screen(session):find("PROMPT: hello from afar", 1, true)
  end, "the agent's first screen", 30000)
  core.agent_write(session, "work typed here\r")
  T.wait(function()
    return screen(session):find("DONE WORKING", 1, true)
  end, "the agent worked", 30000)
  T.eq(T.read(ws.path .. "/agent-output.txt"), "typed here\n", "written on the host")
  local state = wait_reply("agent_sessions", { workspace = ws.id })
  T.eq(state[1].session, session, "the session as this Neovim numbers it")
  T.eq(state[1].workspace_id, ws.id, "its workspace with the host")
  vim.cmd("checkhealth conductor")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  T.contains(report, "box: engine pid", "the health check shows the host's engine")
  vim.cmd("bwipeout!")
end)

T.case("the live side of a remote file reads and writes through the engine", function()
  T.eq(engine.call("file_read", { workspace = ws.id, path = "README.md" }).text, "on the host\n")
  T.eq(engine.call("file_read", { workspace = ws.id, path = "nope.txt" }), nil, "missing")
  local read = engine.call("file_read", { workspace = ws.id, path = "README.md" })
  local written = engine.call(
    "file_write",
    { workspace = ws.id, path = "README.md", text = "edited here\n", expect = read.sha }
  )
  T.ok(written.sha ~= read.sha, "a new blob id")
  T.eq(T.read(ws.path .. "/README.md"), "edited here\n", "on the host's disk")
  -- The same shape whether asked for now or later.
  T.eq(wait_reply("file_read", { workspace = ws.id, path = "README.md" }).text, "edited here\n")
  -- Changed there since it was read (the agent wrote it): not written over.
  T.write(ws.path .. "/README.md", "the agent's version\n")
  local ok, err = pcall(
    engine.call,
    "file_write",
    { workspace = ws.id, path = "README.md", text = "mine\n", expect = written.sha }
  )
  T.ok(not ok and err:find("changed on the host since it was read", 1, true), tostring(err))
  T.eq(T.read(ws.path .. "/README.md"), "the agent's version\n", "the agent's text kept")
  T.eq(
    wait_reply("file_read", { workspace = ws.id, path = "README.md" }).sha,
    engine.call("file_read", { workspace = ws.id, path = "README.md" }).sha,
    "the same blob id asked now or later"
  )
  engine.call("file_write", { workspace = ws.id, path = "README.md", text = "edited here\n" })
  ok, err = pcall(engine.call, "file_write", { workspace = ws.id, path = "../x", text = "" })
  T.ok(not ok and err:find("not a path inside the worktree", 1, true), tostring(err))
end)

T.case("a dropped ssh leaves the agent running; the next request reconnects", function()
  local me = tostring(vim.fn.getpid())
  -- Only this drop (the restart above lost a connection too).
  for i = #lost, 1, -1 do
    lost[i] = nil
  end
  local killed = 0
  for _, dir in ipairs(vim.fn.glob("/proc/[0-9]*", false, true)) do
    local stat = T.read(dir .. "/stat") or ""
    local ppid = stat:match("^%d+ %b() %S+ (%d+)")
    local cmdline = (T.read(dir .. "/cmdline") or ""):gsub("%z", " ")
    if ppid == me and cmdline:find("stdio", 1, true) and cmdline:find("^ssh ") then
      vim.uv.kill(tonumber(dir:match("%d+$")), "sigkill")
      killed = killed + 1
    end
  end
  T.eq(killed, 1, "one ssh to the host")
  T.wait(function()
    return #lost > 0
  end, "engine_lost", 10000)
  T.eq(lost[1].host, "box", "the lost connection names its host")
  T.ok(not engine.host_connected("box"), "not connected now")
  local sessions = wait_reply("agent_sessions", { workspace = ws.id })
  T.eq(#sessions, 1, "the session is still there")
  T.eq(sessions[1].exited, false, "and still running")
  output[session] = nil
  wait_reply("agent_attach", { session = session, rows = 24, cols = 80, scrollback = 100 })
  T.wait(function()
    return screen(session):find("DONE WORKING", 1, true)
  end, "the screen repainted after the reconnect", 30000)
  engine.ensure().agent_write(session, "exit 0\r")
end)

T.case(":ConductorEngine status, stop and restart of a host", function()
  local command = require("conductor.engine_command")
  local lines = command.status_lines("box")
  T.contains(lines[1], "box: engine pid")
  T.contains(table.concat(command.status_lines(), "\n"), "hosts: box (connected)")
  local before = engine.call("engine_status", { host = "box" }).pid
  vim.cmd("ConductorEngine! restart box")
  local after = engine.call("engine_status", { host = "box" }).pid
  T.ok(after ~= before, ("a new engine on the host (%d, then %d)"):format(before, after))
  T.ok(not vim.uv.fs_stat("/proc/" .. before .. "/cwd"), "the old one is gone")
  vim.cmd("ConductorEngine! stop box")
  T.wait(function()
    return not engine.host_connected("box")
  end, "disconnected from the stopped engine")
  T.ok(not vim.uv.fs_stat("/proc/" .. after .. "/cwd"), "the engine on the host stopped")
end)

T.case("a host not configured is named in one line", function()
  local ok, err = pcall(engine.call, "list", { host = "nowhere" })
  T.ok(not ok and err:find('no host named "nowhere"', 1, true), tostring(err))
  ok, err = pcall(engine.call, "get", { workspace = "nowhere:x" })
  T.ok(not ok and err:find('no host named "nowhere"', 1, true), tostring(err))
end)
