-- The test host for cases run over a real sshd (tests/e2e/remote.rs `run_remote_case`):
-- the ssh argv and the host's test directory come from the environment; this turns them
-- into the `hosts` part of setup() and runs commands there as the host's user.
local M = {}

--- The host's name in the cases.
M.name = "box"

--- The ssh argv that reaches the host (program first, destination last).
---@return string[]
function M.ssh()
  local json = assert(vim.env.CONDUCTOR_TEST_SSH, "CONDUCTOR_TEST_SSH is not set")
  return vim.json.decode(json)
end

--- The test's directory on the host ($ROOT): repo/, fake-agent, state/, ws/.
---@return string
function M.root()
  return assert(vim.env.CONDUCTOR_TEST_HOST_ROOT, "CONDUCTOR_TEST_HOST_ROOT is not set")
end

--- The host's entry in `hosts`: its repository as `app`, workspaces and engine state in
--- the test's directory (the harness stops that engine and removes it all), no fetch.
---@param extra? table merged over it (e.g. another `ssh`)
---@return table
function M.host_config(extra)
  local root = M.root()
  return vim.tbl_deep_extend("force", {
    ssh = M.ssh(),
    repos = { app = root .. "/repo" },
    state_dir = root .. "/state",
    options = { workspaces_root = root .. "/ws", fetch = false, stop_grace_ms = 300 },
  }, extra or {})
end

--- setup() options with the host `box` and the fake agent there as the default agent;
--- `opts` merged over them.
---@param opts? table
---@return table
function M.options(opts)
  return vim.tbl_deep_extend("force", {
    default_agent = "fake",
    agents = { fake = { cmd = { M.root() .. "/fake-agent" }, prompt = "arg" } },
    hosts = { [M.name] = M.host_config() },
  }, opts or {})
end

--- Calls setup() with `M.options(opts)`.
---@param opts? table
function M.setup(opts)
  return require("conductor").setup(M.options(opts))
end

--- Runs `script` with sh on the host as its user; its stdout. Fails the case when it
--- fails.
---@param script string
---@return string
function M.sh(script)
  local argv = M.ssh()
  table.insert(argv, script)
  local out = vim.system(argv, { text = true, stdin = false }):wait(30000)
  if out.code ~= 0 then
    error(("on the host: %s: exit %s: %s%s"):format(script, out.code, out.stdout, out.stderr), 2)
  end
  return out.stdout
end

--- Single-quotes `s` for sh.
---@param s string
---@return string
function M.quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

--- The text of a file on the host (nil when it does not exist).
---@param path string
---@return string?
function M.read(path)
  local q = M.quote(path)
  local out = M.sh(("if [ -e %s ]; then printf x; cat %s; fi"):format(q, q))
  if out == "" then
    return nil
  end
  return out:sub(2)
end

--- Writes `text` to a file on the host, as its user (an edit made there, not here).
---@param path string
---@param text string
function M.write(path, text)
  local argv = M.ssh()
  table.insert(argv, "cat > " .. M.quote(path))
  local out = vim.system(argv, { text = true, stdin = text }):wait(30000)
  if out.code ~= 0 then
    error(("on the host: writing %s: %s"):format(path, out.stderr), 2)
  end
end

--- git on the host in `dir`; its output, trimmed.
---@param dir string
---@param ... string
---@return string
function M.git(dir, ...)
  local args = { "git", "-C", dir, ... }
  for i, a in ipairs(args) do
    args[i] = M.quote(a)
  end
  return vim.trim(M.sh(table.concat(args, " ")))
end

--- Creates workspace `name` of the host's repository through the host's engine (as
--- :ConductorNew --host does, without its tab and agent); waits for it.
---@param name string
---@return table ws
function M.create(name)
  local T = require("harness")
  local done, err, ws = false, nil, nil
  require("conductor.engine").request(
    "create",
    { host = M.name, path = M.root() .. "/repo", name = name },
    function(e, w)
      done, err, ws = true, e, w
    end
  )
  T.wait(function()
    return done
  end, "the workspace " .. name .. " made on the host", 60000)
  T.ok(not err, "create on the host: " .. tostring(err))
  T.eq(ws.host, M.name, "the record names its host")
  T.eq(ws.id:sub(1, #M.name + 1), M.name .. ":", "the id names its host")
  return ws
end

--- Pids of the host user's processes running the program at `path` (its command, or
--- the script an interpreter runs: the fake agent is `python3 $ROOT/fake-agent …`). By
--- path: the user is shared with the other tests running meanwhile.
---@param path string
---@return integer[]
function M.pids(path)
  local out = M.sh('ps -u "$(id -u)" -o pid=,args=')
  local pids = {}
  for line in out:gmatch("[^\n]+") do
    local pid, cmd, arg = line:match("^%s*(%d+)%s+(%S+)%s*(%S*)")
    if pid and (cmd == path or arg == path) then
      pids[#pids + 1] = tonumber(pid)
    end
  end
  return pids
end

return M
