-- Port forwarding for a run script on another machine (|conductor-hosts|): a dev server
-- there listens on the workspace's port block ($CONDUCTOR_PORT .. +9); one `ssh -N -L`
-- job per workspace brings those ports to this machine's localhost, so a browser here
-- reaches it. Offered once per workspace when `:ConductorRun` starts there; stopped when
-- its runs stop or exit, when it is archived or deleted, and when Neovim quits.
--
-- Not here: the run script itself (agent/run.lua, which routes to the host by itself).

local M = {}

local api = vim.api
local config = require("conductor.config")
local notify = require("conductor.notify")
local sessions = require("conductor.agent.sessions")

-- How many ports a workspace's block holds (the engine hands them out by tens).
local BLOCK = 10

---@class conductor.Forward
---@field job integer     the ssh job
---@field ports integer[] the ports it forwards

---@type table<string, conductor.Forward> workspace id -> its forward
local active = {}
---@type table<string, boolean> workspaces whose forward was offered already
local offered = {}

--- Whether `port` can be listened on here (on the loopback, as ssh -L does by default).
---@param port integer
---@return boolean
function M.port_free(port)
  local tcp = vim.uv.new_tcp()
  if not tcp then
    return false
  end
  -- libuv may defer a bind error to listen(): both must succeed.
  local ok = tcp:bind("127.0.0.1", port) == 0 and tcp:listen(1, function() end) == 0
  tcp:close()
  return ok
end

--- The ssh command that forwards `ports` of `host`: the host's own ssh argv with
--- `-N -L p:localhost:p …` before its destination (the last word).
---@param host conductor.Host
---@param ports integer[]
---@return string[]
function M.command(host, ports)
  local argv = vim.list_slice(host.ssh, 1, #host.ssh - 1)
  -- After the user's own options (ssh keeps the first value given): a job has no
  -- terminal to ask a password in, and a forward that cannot bind should end, not linger.
  -- A link that went dead (the laptop slept) ends it rather than leaving it hung.
  vim.list_extend(argv, {
    "-N",
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
  })
  for _, p in ipairs(ports) do
    -- This machine's loopback only, whatever GatewayPorts says.
    vim.list_extend(argv, { "-L", ("127.0.0.1:%d:localhost:%d"):format(p, p) })
  end
  argv[#argv + 1] = host.ssh[#host.ssh]
  return argv
end

--- Ports as runs, "55000, 55002-55009".
---@param ports integer[] ascending
---@return string
function M.ranges(ports)
  local out, first = {}, nil
  for i, p in ipairs(ports) do
    first = first or p
    if ports[i + 1] ~= p + 1 then
      out[#out + 1] = first == p and tostring(p) or ("%d-%d"):format(first, p)
      first = nil
    end
  end
  return table.concat(out, ", ")
end

--- The ports of `ws`'s forward, when one runs.
---@param ws_id string
---@return integer[]?
function M.ports(ws_id)
  local f = active[ws_id]
  return f and f.ports or nil
end

--- Starts forwarding `ws`'s port block from its host to localhost; a local port that
--- is taken is named and left out, the others forwarded.
---@param ws conductor.Workspace
function M.start(ws)
  if active[ws.id] or not (ws.host and ws.port) then
    return
  end
  local host = config.hosts()[ws.host]
  if not host then
    error(("host %s is no longer configured"):format(ws.host), 0)
  end
  local ports, taken = {}, {}
  for p = ws.port, ws.port + BLOCK - 1 do
    if M.port_free(p) then
      ports[#ports + 1] = p
    else
      taken[#taken + 1] = p
    end
  end
  if #taken > 0 then
    notify.warn(
      ("%s %s %s taken on this machine: not forwarded from %s"):format(
        #taken == 1 and "port" or "ports",
        M.ranges(taken),
        #taken == 1 and "is" or "are",
        ws.host
      )
    )
  end
  if #ports == 0 then
    return
  end
  local stderr = {}
  local job = vim.fn.jobstart(M.command(host, ports), {
    on_stderr = function(_, data)
      for _, line in ipairs(data or {}) do
        if vim.trim(line) ~= "" then
          stderr[#stderr + 1] = vim.trim(line)
        end
      end
    end,
    on_exit = function(job_id, code)
      -- A forward stopped on purpose is gone from `active` already.
      local f = active[ws.id]
      if not f or f.job ~= job_id then
        return
      end
      active[ws.id] = nil
      -- Ended (the link dropped, the runs stopped): the next run offers it again.
      offered[ws.id] = nil
      notify.warn(
        ("port forwarding of %s:%s stopped (ssh exit %d)%s"):format(
          ws.host,
          ws.name,
          code,
          #stderr > 0 and (": " .. stderr[#stderr]) or ""
        )
      )
    end,
  })
  if job <= 0 then
    error(("cannot start ssh to forward the ports of %s:%s"):format(ws.host, ws.name), 0)
  end
  active[ws.id] = { job = job, ports = ports }
  notify.info(
    ("forwarding %s %s of %s:%s to localhost"):format(
      #ports == 1 and "port" or "ports",
      M.ranges(ports),
      ws.host,
      ws.name
    )
  )
end

--- Stops `ws`'s forward, if one runs.
---@param ws_id string
function M.stop(ws_id)
  local f = active[ws_id]
  if f then
    active[ws_id] = nil
    pcall(vim.fn.jobstop, f.job)
  end
end

--- Offers (once per workspace) to forward a remote workspace's port block.
---@param ws conductor.Workspace
function M.offer(ws)
  if not (ws.host and ws.port) or offered[ws.id] or active[ws.id] then
    return
  end
  offered[ws.id] = true
  local yes = ("Forward ports %d-%d of %s to localhost (ssh -L)"):format(
    ws.port,
    ws.port + BLOCK - 1,
    ws.host
  )
  vim.ui.select({ yes, "No" }, {
    prompt = ("%s:%s runs on %s"):format(ws.host, ws.name, ws.host),
    kind = "conductor_forward",
  }, function(_, choice)
    if choice == 1 then
      notify.guard(M.start)(ws)
    end
  end)
end

-- Wired when this module loads (modules load once).
do
  local group = api.nvim_create_augroup("conductor_forward", { clear = true })
  api.nvim_create_autocmd("User", {
    group = group,
    pattern = { "ConductorWorkspaceArchived", "ConductorWorkspaceDeleted" },
    callback = function(ev)
      if type(ev.data) == "table" and ev.data.id then
        M.stop(ev.data.id)
      end
    end,
  })
  -- A run that exits (stopped, or done by itself) ends the forward once no other run of
  -- its workspace is left.
  api.nvim_create_autocmd("User", {
    group = group,
    pattern = "ConductorAgentState",
    callback = function(ev)
      local d = ev.data
      if type(d) ~= "table" or not d.agent or d.agent.kind ~= "run" or not d.workspace then
        return
      end
      local id = d.workspace.id
      if not active[id] then
        return
      end
      for _, e in ipairs(sessions.list(id, "run")) do
        if e.state ~= "exited" then
          return
        end
      end
      M.stop(id)
    end,
  })
  api.nvim_create_autocmd("VimLeavePre", {
    group = group,
    callback = function()
      for id in pairs(active) do
        M.stop(id)
      end
    end,
  })
end

return M
