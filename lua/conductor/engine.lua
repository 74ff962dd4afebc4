-- The Rust engine, seen from Lua: finds and loads the library by explicit
-- path, starts it on first use, matches asynchronous answers to their
-- callbacks and hands events to listeners. Announces its start as the `User`
-- autocmd `ConductorEngineStarted` (the doctor's check listens: plugin/).
--
-- The engine is a process of its own (conductor-engine, started on first use; the
-- library connects to it): agents outlive this Neovim. Methods: `call` and `request`
-- (the typed protocol in src/core/protocol.rs); the agent terminals also use the
-- library's own functions through `load()`/`ensure()` (agent/window.lua,
-- agent/output.lua: agent_write, agent_resize, on_output…), since keystrokes and
-- output travel as raw bytes, not as requests.

local M = {}

local uv = vim.uv
local config = require("conductor.config")
local notify = require("conductor.notify")

---@class conductor.Core
---@field version fun(): string
---@field start fun(opts: table, handler: fun(msg: table))
---@field call fun(method: string, params: table): any
---@field request fun(method: string, params: table): integer
---@field commit fun(): string   the git commit the library was built from
-- The agent terminals' own functions (agent/): keystrokes and output skip the requests.
---@field on_output fun(cb: fun(id: integer, bytes: string))
---@field agent_start fun(opts: table): { session: integer }
---@field agent_write fun(id: integer, data: string)
---@field agent_paste fun(id: integer, text: string, submit: boolean?)
---@field agent_resize fun(id: integer, rows: integer, cols: integer)
---@field agent_expect_redraw fun(id: integer)
---@field agent_background fun(background: string)
---@field agent_stop fun(id: integer)
---@field agent_stop_all fun(mine: boolean?): integer
---@field agent_forget fun(id: integer)
---@field notify fun(method: string, params: table)   a request whose answer nobody needs
---@field connected fun(host: string?): { pid: integer?, version: string?, generation: integer? }   the engine this Neovim talks to (on `host`)
---@field engine_stop fun(state_dir: string): boolean   stops that engine, whatever its version
---@field engine_running fun(state_dir: string): boolean   an engine listens (without starting one)
-- Remote hosts (src/nvim/hosts.rs): requests go to the host their parameters name.
---@field hosts fun(hosts: table)   the configured hosts
---@field host_install fun(name: string, engine: string): string   copies this build's engine there
---@field host_stop fun(name: string): boolean   stops the engine there (and its agents)
---@field host_disconnect fun(name: string): boolean   drops the connection (the engine runs on)

---@type conductor.Core?
local core = nil
---@type string? path the library was loaded from
local loaded_from = nil
local started = false

---@alias conductor.Callback fun(err: string?, result: any)

-- Callbacks of requests not answered yet. Answers always come later, from
-- the event loop, never from inside core.request.
---@type table<integer, conductor.Callback>
local pending = {}
-- The connection each pending request went out on (see `engine_lost`).
---@type table<integer, integer>
local generation_of = {}
---@type table<string, fun(data: table)[]>
local listeners = {}
-- Where terminal output goes (agent/output.lua); set before or after the start.
---@type fun(id: integer, bytes: string)?
local output_handler = nil

--- The plugin checkout: three directories above this file.
---@return string
function M.root()
  local source = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(source, ":p:h:h:h")
end

--- Where the library is looked for, in order. Cargo names it `libconductor_core.so` on
--- Linux and `libconductor_core.dylib` on macOS; on macOS a copy renamed to `.so` (the
--- name Lua's own loader looks for) is accepted too.
---@param mac boolean? whether to look for macOS names (default: this system)
---@return string[]
function M.candidates(mac)
  if mac == nil then
    mac = vim.fn.has("mac") == 1
  end
  local root = M.root()
  local exts = mac and { "dylib", "so" } or { "so" }
  local paths = {}
  local env = os.getenv("CONDUCTOR_LIB")
  if env and env ~= "" then
    paths[#paths + 1] = env
  end
  for _, ext in ipairs(exts) do
    paths[#paths + 1] = root .. "/lua/conductor_core." .. ext
  end
  for _, profile in ipairs({ "release", "debug" }) do
    for _, ext in ipairs(exts) do
      paths[#paths + 1] = root .. "/target/" .. profile .. "/libconductor_core." .. ext
    end
  end
  return paths
end

-- Candidates that exist but did not load, with the loader's (dlopen's) own message.
---@type { path: string, error: string }[]
local failures = {}

--- Libraries that were found but failed to load, each with dlopen's exact error.
---@return { path: string, error: string }[]
function M.failures()
  return failures
end

--- Loads the library (once). Raises one line listing every path tried and
--- how to build the library when none loads.
---@return conductor.Core
function M.load()
  if core then
    return core
  end
  if coroutine.running() then
    -- Loaded inside a coroutine (plenary.async, a test harness…), the library would
    -- remember that coroutine's Lua state as Neovim's and later call into it while it
    -- is suspended. Load it on the main thread instead (luaeval runs there).
    vim.fn.luaeval("require('conductor.engine').load() and nil")
    return core
  end
  local tried = {}
  failures = {}
  for _, path in ipairs(M.candidates()) do
    if not uv.fs_stat(path) then
      tried[#tried + 1] = path .. " (missing)"
    else
      local open, err = package.loadlib(path, "luaopen_conductor_core")
      local ok, mod = false, err
      if open then
        ok, mod = pcall(open)
      end
      if ok and type(mod) == "table" then
        core, loaded_from = mod, path
        if path ~= os.getenv("CONDUCTOR_LIB") then
          vim.schedule(function()
            M.warn_if_stale(mod)
          end)
        end
        return mod
      end
      failures[#failures + 1] = { path = path, error = tostring(mod) }
      tried[#tried + 1] = ("%s (%s)"):format(path, notify.clean(mod))
    end
  end
  error(
    ("engine library not loaded; tried %s. Build it with `cargo build --release` in %s"):format(
      table.concat(tried, ", "),
      M.root()
    ),
    0
  )
end

-- The checkout's HEAD commit, read from .git's files (no git process: this runs on the
-- first command). nil when the plugin is not a git checkout of its own.
---@param root string
---@return string?
local function checkout_head(root)
  local function read(path)
    local f = io.open(path, "r")
    if not f then
      return nil
    end
    local text = f:read("*a")
    f:close()
    return vim.trim(text)
  end
  local head = read(root .. "/.git/HEAD")
  if not head then
    return nil
  end
  local ref = head:match("^ref: (.+)$")
  if not ref then
    return head
  end
  local sha = read(root .. "/.git/" .. ref)
  if sha then
    return sha
  end
  for line in (read(root .. "/.git/packed-refs") or ""):gmatch("[^\n]+") do
    local id, name = line:match("^(%x+) (.+)$")
    if name == ref then
      return id
    end
  end
end

--- Warns once when the library was built from another commit than the checkout's
--- (a plugin update without a rebuild), with the command that fixes it.
---@param mod conductor.Core
function M.warn_if_stale(mod)
  local ok, built = pcall(mod.commit)
  local head = checkout_head(M.root())
  if not ok or type(built) ~= "string" or not built:match("^%x+$") or not head then
    return
  end
  if not vim.startswith(head, built) then
    notify.warn(
      ("the engine library was built from %s but the plugin is at %s: run `cargo build --release` in %s and restart Neovim"):format(
        built,
        head:sub(1, #built),
        M.root()
      )
    )
  end
end

--- Path of the loaded library, or nil before it is loaded.
---@return string?
function M.path()
  return loaded_from
end

-- Runs a listener or callback so that its error never travels back into
-- the engine (which called us) and is shown like any other error.
local function run(what, fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then
    notify.error(("internal error in %s: %s"):format(what, err))
  end
end

---@param msg table
local function handle(msg)
  if msg.id ~= nil then
    local cb = pending[msg.id]
    pending[msg.id], generation_of[msg.id] = nil, nil
    if not cb then
      return
    elseif msg.ok then
      run("request " .. msg.id, cb, nil, msg.result)
    else
      run("request " .. msg.id, cb, notify.clean(msg.error), nil)
    end
  elseif msg.event then
    if msg.event == "engine_lost" then
      -- No answer will come for what was asked of the engine that went away (and only
      -- of that one: a request may already have gone to the next).
      local lost = (msg.data or {}).generation
      for id, cb in pairs(pending) do
        if generation_of[id] == lost then
          pending[id], generation_of[id] = nil, nil
          run("request " .. id, cb, "the engine stopped before answering", nil)
        end
      end
    end
    for _, fn in ipairs(listeners[msg.event] or {}) do
      run(msg.event .. " listener", fn, msg.data or {})
    end
  end
end

-- An engine of another protocol runs (the plugin was updated while it ran), here or on
-- `host`: its restart is offered once at a time, as the error that says so is raised. On
-- a host, this build's engine is copied there first.
local offering = false
---@param message string
---@param host string?
local function offer_restart(message, host)
  if offering then
    return
  end
  offering = true
  vim.schedule(function()
    vim.ui.select({
      ("Restart the engine%s now (the agents in it stop)"):format(host and (" on " .. host) or ""),
      "Not now",
    }, { prompt = message }, function(_, choice)
      offering = false
      if choice ~= 1 then
        return
      elseif not host then
        return require("conductor.engine_command").restart(true)
      end
      local ok, err = pcall(function()
        local c = M.load()
        c.host_install(host, M.engine_bin() or "")
        c.host_stop(host)
      end)
      if ok then
        notify.info(("restarted the engine on %s: run the command again"):format(host))
      else
        notify.error(notify.clean(err))
      end
    end)
  end)
end

-- Lets any Lua error from the library read as one clean line.
local function protect(fn, ...)
  local ok, res = pcall(fn, ...)
  if not ok then
    local message = notify.clean(res)
    local mismatch = message:match("^(.*) %[protocol%]$")
    if mismatch then
      message = mismatch
      offer_restart(message, message:match("%(on host ([%w_.-]+)%)$"))
    end
    error(message, 0)
  end
  return res
end

-- Hosts this Neovim copied the engine to: true, or why it could not (said once each).
local installed = {} ---@type table<string, true|string>

-- Runs `fn(...)`; when it fails because a host has no engine of this build, copies this
-- build's engine there (saying so) and runs it once more. A host of another system gets
-- the line that says what to install there.
local function with_engine_on_host(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then
    return res
  end
  local message = notify.clean(res)
  local host = message:match("host ([%w_.-]+) has no conductor%-engine .*%[no%-engine")
  if not host then
    error(message, 0)
  end
  local before = installed[host]
  if before == true then
    error((message:gsub(" %[no%-engine.*%]$", "")), 0)
  elseif before then
    error(before, 0)
  end
  local c = M.load()
  notify.info(
    ("%s has no conductor-engine %s: copying this one to ~/.local/share/conductor/ there"):format(
      host,
      c.version()
    )
  )
  vim.cmd.redraw()
  local copied, err = pcall(protect, c.host_install, host, M.engine_bin() or "")
  installed[host] = copied or notify.clean(err)
  if not copied then
    error(installed[host], 0)
  end
  return fn(...)
end

--- The engine program (`conductor-engine`), built beside the library by the same
--- `cargo build`: $CONDUCTOR_ENGINE, else next to the loaded library, else the checkout's
--- target/release or target/debug.
---@return string?
function M.engine_bin()
  local env = os.getenv("CONDUCTOR_ENGINE")
  if env and env ~= "" then
    return env
  end
  local paths = {}
  if loaded_from then
    paths[#paths + 1] = vim.fn.fnamemodify(loaded_from, ":h") .. "/conductor-engine"
  end
  for _, profile in ipairs({ "release", "debug" }) do
    paths[#paths + 1] = M.root() .. "/target/" .. profile .. "/conductor-engine"
  end
  for _, path in ipairs(paths) do
    if uv.fs_access(path, "X") then
      return path
    end
  end
end

--- The state directory whose engine this Neovim uses.
---@return string
function M.state_dir()
  return config.engine_opts().state_dir
end

local function start_opts()
  local opts = config.engine_opts()
  opts.engine_bin = M.engine_bin()
  return opts
end

-- The hosts of `setup()` (config.lua validated them), as the library takes them.
-- The engine options a host gets from this Neovim's `setup()`: the user's preferences
-- (branch names, ports, timeouts, the default scripts, checks and variables), not what
-- names a place or a program on this machine (state_dir, workspaces_root, shell, gh,
-- the trust database). `hosts.{name}.options` go over them.
local SHARED_OPTIONS = {
  "branch_prefix",
  "port_first",
  "port_last",
  "stop_grace_ms",
  "archive_timeout_ms",
  "setup_timeout_ms",
  "fetch",
  "checkpoints_keep",
  "defaults",
}

local function hosts_opts()
  local hosts = config.hosts()
  if next(hosts) == nil then
    return vim.empty_dict()
  end
  local here = config.engine_opts()
  for _, host in pairs(hosts) do
    local shared = {}
    for _, key in ipairs(SHARED_OPTIONS) do
      shared[key] = here[key]
    end
    host.options = vim.tbl_deep_extend("force", shared, host.options or {})
  end
  return hosts
end

--- Starts the engine with the current options, on first use.
---@return conductor.Core
function M.ensure()
  local c = M.load()
  if not started then
    protect(c.start, start_opts(), handle)
    protect(c.hosts, hosts_opts())
    c.on_output(function(id, bytes)
      if output_handler then
        output_handler(id, bytes)
      end
    end)
    started = true
    vim.api.nvim_create_autocmd("VimLeavePre", {
      group = vim.api.nvim_create_augroup("conductor_engine", { clear = true }),
      callback = function()
        -- With "keep" (the default) the agents run on in the engine, for the next
        -- Neovim. Only an engine this Neovim talks to: quitting must not start one.
        if config.on_editor_exit() == "stop" then
          if next(c.connected()) then
            pcall(c.agent_stop_all, true)
          end
          for _, host in ipairs(M.hosts()) do
            if next(c.connected(host)) then
              pcall(c.call, "agent_stop_all", { mine = true, host = host })
            end
          end
        end
      end,
    })
    -- Listeners run outside this call: the doctor's check (plugin/conductor.lua) says
    -- when the state file disagrees with git (a crash, a worktree removed by hand).
    vim.schedule(function()
      vim.api.nvim_exec_autocmds("User", { pattern = "ConductorEngineStarted", modeline = false })
    end)
  end
  return c
end

--- Passes changed options to a running engine; a stopped one reads them at start.
function M.update()
  if started and core then
    protect(core.start, start_opts(), handle)
    protect(core.hosts, hosts_opts())
  end
end

-- The connections whose engine was checked against this build (see `check_version`).
local checked = {} ---@type table<integer, true>

-- An engine of the same protocol but another build (the plugin was updated and rebuilt
-- while it ran) works, but runs the old code: said once per connection.
---@param c conductor.Core
---@param host string?
local function check_version(c, host)
  local info = c.connected(host)
  if not info.generation or checked[info.generation] then
    return
  end
  checked[info.generation] = true
  if info.version and info.version ~= c.version() then
    notify.warn(
      ("the running engine%s is %s, this plugin %s: :ConductorEngine restart%s runs the new one (the agents in it stop)"):format(
        host and (" on " .. host) or "",
        info.version,
        c.version(),
        host and (" " .. host) or ""
      )
    )
  end
end

-- The host a request goes to (nil: this machine), as the library routes it: `host`, else
-- a workspace id or name of the form "host:…".
---@param params table?
---@return string?
local function host_of(params)
  params = params or {}
  if type(params.host) == "string" and params.host ~= "" then
    return params.host
  end
  return type(params.workspace) == "string" and params.workspace:match("^([%w_.-]+):") or nil
end

--- A synchronous, cheap engine method. Raises a one-line error on failure.
---@param method string
---@param params table?
---@return any
function M.call(method, params)
  local c = M.ensure()
  local result = with_engine_on_host(protect, c.call, method, params or {})
  check_version(c, host_of(params))
  return result
end

--- The configured hosts' names, sorted.
---@return string[]
function M.hosts()
  local names = vim.tbl_keys(hosts_opts())
  table.sort(names)
  return names
end

--- Whether this Neovim has a live connection to `host` (never connects).
---@param host string
---@return boolean
function M.host_connected(host)
  return started and core ~= nil and next(core.connected(host)) ~= nil
end

-- File contents as `call` gives them, `{ text = <bytes>, binary }`, from an answer that
-- came through the bridge as the engine sent it (`bytes`: text, or numbers when the file
-- is not UTF-8).
---@param result any
---@return any
local function as_file(result)
  if type(result) ~= "table" or result.bytes == nil then
    return result
  end
  local bytes = result.bytes
  if type(bytes) == "table" then
    local parts = {}
    for i = 1, #bytes, 4096 do
      parts[#parts + 1] = string.char(unpack(bytes, i, math.min(i + 4095, #bytes)))
    end
    bytes = table.concat(parts)
  end
  return { text = bytes, binary = result.binary, sha = result.sha }
end

--- An asynchronous engine method; `cb(err, result)` runs on the main thread.
--- Raises (without calling `cb`) when the engine cannot start or rejects the
--- call outright (unknown method, malformed parameters).
---@param method string
---@param params table?
---@param cb conductor.Callback
---@return integer id
function M.request(method, params, cb)
  local c = M.ensure()
  local id = with_engine_on_host(protect, c.request, method, params or {})
  if method == "blob" or method == "file_read" then
    local done = cb
    cb = function(err, result)
      done(err, as_file(result))
    end
  end
  pending[id] = cb
  local host = host_of(params)
  generation_of[id] = c.connected(host).generation
  check_version(c, host)
  return id
end

--- Whether request `id` is this Neovim's and not answered yet (events of the engine go
--- to every Neovim; each shows progress only for its own requests).
---@param id integer
---@return boolean
function M.pending(id)
  return pending[id] ~= nil
end

--- Where terminal output goes: `fn(session, bytes)` (one handler: the agent terminals).
---@param fn fun(id: integer, bytes: string)
function M.on_output(fn)
  output_handler = fn
end

--- Calls `fn(data)` for every engine event named `event`.
---@param event string
---@param fn fun(data: table)
function M.on(event, fn)
  listeners[event] = listeners[event] or {}
  table.insert(listeners[event], fn)
end

return M
