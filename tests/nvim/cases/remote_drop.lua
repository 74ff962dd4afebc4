-- A dropped connection to a host (a real sshd, tests/e2e/remote.rs): the ssh client
-- is killed while the fake agent runs there. The agent runs on; its terminal here says
-- the connection dropped and stays; the next command that reaches the host (and
-- :ConductorOpen, and a key typed into the terminal) reconnects, the terminal shows the
-- agent's screen again and takes keys; stopping it reconnects first.
local T = require("harness")
local host = require("remote_host")
local api = vim.api

host.setup()
T.record("ConductorHostReconnected")
T.record("ConductorCheckpoint")
local engine = require("conductor.engine")
local agents = require("conductor.agent")
local sessions = require("conductor.agent.sessions")

local lost = {}
engine.on("engine_lost", function(d)
  lost[#lost + 1] = d
end)

local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

-- The pids of this machine's ssh clients that carry the engine's connection to the
-- host: every argument of the host's ssh argv (in whatever order the plugin adds its own
-- options) and the engine's relay (`stdio`) as the remote command.
local function ssh_clients()
  local pids = {}
  for name, kind in vim.fs.dir("/proc") do
    if kind == "directory" and name:match("^%d+$") then
      local argv = vim.split(T.read("/proc/" .. name .. "/cmdline") or "", "\0", { plain = true })
      local has, relay = {}, false
      for _, a in ipairs(argv) do
        has[a] = true
        relay = relay or a:find("stdio", 1, true) ~= nil
      end
      local ours = vim.fs.basename(argv[1]) == "ssh" and relay
      for _, a in ipairs(host.ssh()) do
        ours = ours and has[a] == true
      end
      if ours then
        pids[#pids + 1] = tonumber(name)
      end
    end
  end
  return pids
end

-- Waits until the agent's turn is over and its checkpoint recorded (a request to the
-- host of its own, which would race the drop).
local function settled(turns)
  T.wait(function()
    local n = 0
    for _, e in ipairs(T.events) do
      n = n + (e.name == "ConductorCheckpoint" and 1 or 0)
    end
    return n >= turns
  end, ("checkpoint %d recorded"):format(turns))
end

-- Kills the connection's ssh client (as a laptop going to sleep does, without a word)
-- and waits until this Neovim knows.
local function drop()
  local clients = ssh_clients()
  T.eq(#clients, 1, "one ssh client carries the connection")
  local before = #lost
  vim.uv.kill(clients[1], "sigkill")
  T.wait(function()
    return #lost > before
  end, "engine_lost for the host")
  T.eq(lost[#lost].host, "box", "the lost connection names its host")
  T.eq(engine.host_connected("box"), false, "not connected")
end

local ws = host.create("drop")
local s, agent_pids
T.case("The agent runs on the host in a terminal here", function()
  s = agents.start(ws, "fake", "hello from afar")
  T.wait(function()
    return text(s.buf):find("PROMPT: hello from afar", 1, true)
  end, "the agent's banner")
  engine.load().agent_write(s.id, "work before the drop\r")
  T.wait(function()
    return text(s.buf):find("DONE WORKING", 1, true)
  end, "the agent's work")
  settled(1)
  agent_pids = host.pids(host.root() .. "/fake-agent")
  T.ok(#agent_pids > 0, "the agent's process on the host")
end)

-- After a reconnection: the terminal shows the agent's screen again (over the note
-- about the drop) and takes keys.
local function shows_again(work)
  T.wait(function()
    return sessions.by_id[s.id] and not sessions.by_id[s.id].lost
  end, "the terminal attached again")
  T.wait(function()
    local lines = api.nvim_buf_get_lines(s.buf, 0, -1, false)
    local note, ready = nil, nil
    for i, l in ipairs(lines) do
      if l:find("connection to box dropped", 1, true) then
        note = i
      elseif l:find("FAKE AGENT READY", 1, true) then
        ready = i
      end
    end
    return ready and (not note or ready > note)
  end, "the agent's screen repainted")
  T.eq(sessions.by_id[s.id].state ~= "exited", true, "not exited")
  engine.load().agent_write(s.id, "work " .. work .. "\r")
  T.wait(function()
    return host.read(ws.path .. "/agent-output.txt") == work .. "\n"
  end, "the agent took keys after the reconnection")
end

T.case("Killing the ssh client leaves the agent running there", function()
  drop()
  T.wait(function()
    return text(s.buf):find("connection to box dropped", 1, true)
  end, "the terminal says the connection dropped")
  local entry = sessions.by_id[s.id]
  T.ok(entry and entry.lost, "the terminal waits, marked lost")
  T.ok(entry.state ~= "exited", "not exited")
  T.eq(
    host.pids(host.root() .. "/fake-agent"),
    agent_pids,
    "the same agent process runs on the host"
  )
end)

T.case("The next command reconnects and the screen comes back", function()
  T.eq(engine.call("get", { workspace = ws.id }).name, "drop", "a command that reaches the host")
  local back = T.wait_event("ConductorHostReconnected")
  T.eq(back.host, "box", "for the host")
  shows_again("after the drop")
  settled(2)
end)

T.case(":ConductorOpen reconnects too", function()
  drop()
  vim.cmd("ConductorOpen box:drop")
  shows_again("after the second drop")
  settled(3)
  T.eq(#agents.list(ws.id, "agent"), 1, "the same terminal, no second one")
  local pids = host.pids(host.root() .. "/fake-agent")
  T.eq(
    pids,
    agent_pids,
    "the same agent process; on the host: " .. host.sh('ps -u "$(id -u)" -o pid=,ppid=,args=')
  )
end)

T.case("A key typed into the terminal reconnects, and says so", function()
  drop()
  local win = vim.fn.win_findbuf(s.buf)[1]
  if win then
    api.nvim_set_current_win(win)
  else
    api.nvim_win_set_buf(0, s.buf)
  end
  vim.cmd("startinsert")
  api.nvim_input("x")
  shows_again("after a key")
  api.nvim_input("<C-\\><C-n>")
  T.contains(vim.fn.execute("messages"), "reconnecting to box", "said")
  settled(4)
end)

T.case("Stopping an agent whose connection dropped reaches the host first", function()
  drop()
  agents.kill(s.id)
  T.wait(function()
    return sessions.by_id[s.id] and sessions.by_id[s.id].state == "exited"
  end, "the agent stopped")
  T.wait(function()
    return #host.pids(host.root() .. "/fake-agent") == 0
  end, "no agent process left on the host")
end)
