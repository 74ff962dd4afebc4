-- :ConductorEngine status|stop|restart: the engine process that runs the agents,
-- terminals and scripts of every workspace, so that they outlive this Neovim.
--
-- Not here: the connection itself (engine.lua), the agents' terminals (agent/).

local engine = require("conductor.engine")
local notify = require("conductor.notify")

local M = {}

---@param s table a session as the engine lists it
---@return boolean
local function running_agent(s)
  return s.kind == "agent" and not s.exited
end

---@param seconds integer
---@return string
local function uptime(seconds)
  if seconds < 60 then
    return seconds .. "s"
  elseif seconds < 3600 then
    return ("%dm"):format(seconds / 60)
  end
  return ("%dh%02dm"):format(seconds / 3600, (seconds % 3600) / 60)
end

--- The engine's own account: what runs in it and who is connected (`host`: the engine
--- of that host).
---@param host string?
---@return string[]
function M.status_lines(host)
  local st = engine.call("engine_status", { host = host })
  local lines = {
    ("%sengine pid %d, %s, protocol %d, up %s"):format(
      host and (host .. ": ") or "",
      st.pid,
      st.version,
      st.protocol,
      uptime(st.uptime_s)
    ),
  }
  local pids = vim.tbl_map(function(c)
    return tostring(c.pid) .. (c.pid == vim.fn.getpid() and " (this Neovim)" or "")
  end, st.clients or {})
  lines[#lines + 1] = ("editors connected: %d (%s)"):format(#pids, table.concat(pids, ", "))
  local sessions = st.sessions or {}
  local live = vim.tbl_filter(function(s)
    return not s.exited
  end, sessions)
  lines[#lines + 1] = ("terminals running: %d"):format(#live)
  for _, s in ipairs(live) do
    lines[#lines + 1] = ("  %s/%s  %s  (%s)"):format(s.workspace, s.label, s.state, s.kind)
  end
  lines[#lines + 1] = ("scripts running: %d"):format(st.scripts or 0)
  if not host and #engine.hosts() > 0 then
    local hosts = vim.tbl_map(function(h)
      return h .. (engine.host_connected(h) and " (connected)" or "")
    end, engine.hosts())
    lines[#lines + 1] = ("hosts: %s (:ConductorEngine status {host})"):format(
      table.concat(hosts, ", ")
    )
  end
  return lines
end

---@param host string?
function M.status(host)
  -- Several lines, as they are (notify.info would make them one).
  vim.notify("conductor: " .. table.concat(M.status_lines(host), "\n"), vim.log.levels.INFO)
end

--- Stops the engine of `host` and everything it runs there; asks first when agents run
--- (unless `force`).
---@param host string
---@param force boolean?
---@return boolean stopped
local function stop_host(host, force)
  if not force then
    local ok, st = pcall(engine.call, "engine_status", { host = host })
    local running = ok and #vim.tbl_filter(running_agent, st.sessions or {}) or 0
    local question = ok
        and running > 0
        and ("Stop the engine on %s and the %d agent(s) running in it?"):format(host, running)
      or (not ok and ("Stop the engine on %s (%s)?"):format(host, st))
    if question and vim.fn.confirm(question, "&Stop them\n&Cancel", 2) ~= 1 then
      return false
    end
  end
  engine.load().host_stop(host)
  return true
end

--- Stops the engine and everything it runs; asks first when agents run (unless `force`).
---@param force boolean?
---@return boolean stopped
function M.stop(force)
  local core = engine.load()
  if not core.engine_running(engine.state_dir()) then
    return true
  end
  if not force then
    local ok, st = pcall(engine.call, "engine_status", {})
    local question
    if not ok then
      -- Another version (a plugin update): it may run agents this one cannot list.
      question = "An engine of another version runs; the agents in it stop with it. Stop it?"
    else
      local running = #vim.tbl_filter(running_agent, st.sessions or {})
      if running > 0 then
        question = ("Stop the engine and the %d agent(s) running in it?"):format(running)
      end
    end
    if question and vim.fn.confirm(question, "&Stop them\n&Cancel", 2) ~= 1 then
      return false
    end
  end
  -- Understood by an engine of any version: also the way out of a protocol mismatch.
  core.engine_stop(engine.state_dir())
  vim.wait(2000, function()
    return next(core.connected()) == nil
  end, 10)
  return true
end

---@param force boolean?
---@param host string?
function M.restart(force, host)
  if host then
    if not stop_host(host, force) then
      return
    end
  elseif not M.stop(force) then
    return
  end
  local st = engine.call("engine_status", { host = host })
  notify.info(("%sengine restarted (pid %d)"):format(host and (host .. ": ") or "", st.pid))
end

--- `:ConductorEngine[!] {status|stop|restart} [host]`; `!` stops without asking.
---@param args string
---@param bang boolean
function M.command(args, bang)
  local words = vim.split(vim.trim(args or ""), "%s+", { trimempty = true })
  local sub, host = words[1] or "status", words[2]
  if host and not vim.tbl_contains(engine.hosts(), host) then
    notify.error(
      ("no host named %q: the hosts are %s"):format(host, table.concat(engine.hosts(), ", "))
    )
  elseif sub == "status" then
    M.status(host)
  elseif sub == "stop" and host then
    if stop_host(host, bang) then
      notify.info(("engine on %s stopped"):format(host))
    end
  elseif sub == "stop" then
    if not engine.load().engine_running(engine.state_dir()) then
      notify.info("no engine runs")
    elseif M.stop(bang) then
      notify.info("engine stopped")
    end
  elseif sub == "restart" then
    M.restart(bang, host)
  else
    notify.error(("unknown :ConductorEngine action %q: status, stop or restart"):format(sub))
  end
end

---@param arglead string?
---@param cmdline string?
---@return string[]
M.complete = function(arglead, cmdline)
  local words = vim.split(cmdline or "", "%s+", { trimempty = true })
  if #words >= 3 or (#words == 2 and (arglead or "") == "") then
    return vim.tbl_filter(function(h)
      return vim.startswith(h, arglead or "")
    end, engine.hosts())
  end
  return { "status", "stop", "restart" }
end

return M
