-- Options of conductor.nvim, declared once.
--
-- The schema below is the single source for three things: the defaults, the
-- validation of `setup()` (errors name the field), and the options section of
-- doc/conductor.txt (scripts/gen-doc-options.lua reads it), so the help and the
-- behaviour cannot drift apart.
--
-- Not here: the repository's own config files (.conductor/settings*.toml,
-- conductor.json); the engine reads those and layers them over `scripts`,
-- `file_include_globs` and `environment_variables` from this table.

local M = {}

---@class conductor.Options
---@field workspaces_root? string
---@field branch_prefix? string
---@field ports? { first?: integer, last?: integer }
---@field stop_grace_ms? integer
---@field fetch? boolean
---@field shell? string
---@field default_agent? string
---@field agents? table<string, table>
---@field scripts? { setup?: string, run?: string|table<string, {command: string, default?: boolean}>, archive?: string, archive_timeout?: integer, setup_timeout?: integer, run_mode?: "concurrent"|"nonconcurrent" }
---@field file_include_globs? string[]
---@field environment_variables? table<string, string>
---@field open_on_create? boolean
---@field progress? boolean
---@field notify_level? integer
---@field tabline? boolean
---@field start_insert? boolean
---@field confirm_quit? boolean
---@field fanout? { concurrency?: integer }
---@field checks? string[]
---@field gh? string
---@field review? { keys?: table, panel_width?: integer }
---@field merge? { strategy?: "squash"|"ff"|"merge", archive_after?: boolean }
---@field hosts? table<string, { ssh: string|string[], repos?: table<string, string>, engine?: string, state_dir?: string, options?: table }>

---@class conductor.Field
---@field name string          dotted path, e.g. "ports.first"
---@field type string          Lua types joined by "|" ("nil" = may be left unset)
---@field default any          value, or function returning it (resolved at use)
---@field doc_default? string  how the default reads in the help when it is computed
---@field doc_type? string     how the type reads in the help when `type` says too little
---@field desc string          one paragraph for the help
---@field check? fun(v: any): string?, string? extra check: what is wrong (nil when
---                            nothing) and where inside the value (".KEY", "[2]")
---@field free? boolean        a table whose keys are the user's (not checked)

local function is_list_of_strings(v)
  if not vim.islist(v) then
    return "must be a list of strings"
  end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      return ("must be a string, got %s"):format(type(s)), ("[%d]"):format(i)
    end
  end
end

local function is_port(v)
  if v ~= math.floor(v) or v < 1024 or v > 65535 then
    return "must be an integer port between 1024 and 65535"
  end
end

-- The engine options a host may set for its own engine (`hosts.NAME.options`), with
-- their types: the keys of the engine's Options (src/core/engine.rs) but `state_dir`,
-- which is `hosts.NAME.state_dir`.
local HOST_ENGINE_OPTIONS = {
  workspaces_root = "string",
  branch_prefix = "string",
  port_first = "number",
  port_last = "number",
  stop_grace_ms = "number",
  archive_timeout_ms = "number",
  setup_timeout_ms = "number",
  fetch = "boolean",
  fetch_timeout_ms = "number",
  shell = "string",
  gh = "string",
  defaults = "table",
  checkpoints_keep = "number",
  user_settings = "string",
  nvim_trust_db = "string",
}

-- The keys of one host's table.
local HOST_KEYS = { "ssh", "repos", "engine", "state_dir", "options" }

--- Host names: what `NAME:<id>` workspace ids and `--host=` are made of (no ':').
M.HOST_NAME = "^[%w_.-]+$"

---@param name string
---@param host any
---@return string? problem, string? where
local function check_host(name, host)
  local at = "." .. name
  if type(host) ~= "table" or vim.islist(host) and #host > 0 then
    return ("must be a table { ssh = …, repos = … }, got %s"):format(type(host)), at
  end
  for key in pairs(host) do
    if not vim.tbl_contains(HOST_KEYS, key) then
      return ("has an unknown key '%s' (a host takes %s)"):format(
        tostring(key),
        table.concat(HOST_KEYS, ", ")
      ),
        at
    end
  end
  local ssh = host.ssh
  if ssh == nil then
    return 'is missing: an ssh alias ("big") or the ssh command as a list ({ "ssh", "-p", "2222", "me@big" })',
      at .. ".ssh"
  elseif type(ssh) == "string" then
    if vim.trim(ssh) == "" or ssh:find("%s") then
      return "must be an ssh alias (one word), or the ssh command as a list of strings",
        at .. ".ssh"
    end
  elseif type(ssh) == "table" then
    if not vim.islist(ssh) or #ssh == 0 then
      return 'must be a non-empty list of strings, e.g. { "ssh", "me@big" }', at .. ".ssh"
    end
    for i, s in ipairs(ssh) do
      if type(s) ~= "string" or s == "" then
        return ("must be a non-empty string, got %s"):format(vim.inspect(s)),
          ("%s.ssh[%d]"):format(at, i)
      end
    end
  else
    return ("must be a string (an ssh alias) or a list of strings, got %s"):format(type(ssh)),
      at .. ".ssh"
  end
  local repos = host.repos
  if repos ~= nil then
    if type(repos) ~= "table" or (vim.islist(repos) and #repos > 0) then
      return ('must map short names to paths on the host, e.g. { app = "/home/me/src/app" }, got %s'):format(
        vim.islist(repos) and "a list" or type(repos)
      ),
        at .. ".repos"
    end
    for short, path in pairs(repos) do
      if type(short) ~= "string" or not short:match(M.HOST_NAME) then
        return ("has a bad short name %s: use letters, digits, '_', '.' and '-'"):format(
          vim.inspect(short)
        ),
          at .. ".repos"
      elseif type(path) ~= "string" or path == "" then
        return ("must be a path on the host (a string), got %s"):format(vim.inspect(path)),
          ("%s.repos.%s"):format(at, short)
      end
    end
  end
  for _, key in ipairs({ "engine", "state_dir" }) do
    local v = host[key]
    if v ~= nil and (type(v) ~= "string" or v == "") then
      return ("must be a path on the host (a string), got %s"):format(vim.inspect(v)),
        at .. "." .. key
    end
  end
  local options = host.options
  if options ~= nil then
    if type(options) ~= "table" or (vim.islist(options) and #options > 0) then
      return ("must be a table of engine options, got %s"):format(type(options)), at .. ".options"
    end
    for key, v in pairs(options) do
      local want = HOST_ENGINE_OPTIONS[key]
      if key == "state_dir" then
        return ("is not an engine option here: set hosts.%s.state_dir"):format(name),
          at .. ".options.state_dir"
      elseif not want then
        local keys = vim.tbl_keys(HOST_ENGINE_OPTIONS)
        table.sort(keys)
        return ("has an unknown engine option '%s' (it takes %s)"):format(
          tostring(key),
          table.concat(keys, ", ")
        ),
          at .. ".options"
      elseif type(v) ~= want then
        return ("must be a %s, got %s"):format(want, type(v)), ("%s.options.%s"):format(at, key)
      end
    end
  end
end

---@param v table
---@return string? problem, string? where
local function check_hosts(v)
  if vim.islist(v) and #v > 0 then
    return 'must map host names to tables, e.g. { big = { ssh = "big" } }, got a list'
  end
  local names = vim.tbl_keys(v)
  table.sort(names, function(a, b)
    return tostring(a) < tostring(b)
  end)
  for _, name in ipairs(names) do
    if type(name) ~= "string" or not name:match(M.HOST_NAME) then
      return ("has a bad host name %s: use letters, digits, '_', '.' and '-' (':' separates a host from a workspace)"):format(
        vim.inspect(name)
      )
    end
    local problem, where = check_host(name, v[name])
    if problem then
      return problem, where
    end
  end
end

---@type conductor.Field[]
M.schema = {
  {
    name = "workspaces_root",
    type = "string",
    default = function()
      return vim.fn.stdpath("data") .. "/conductor/workspaces"
    end,
    doc_default = 'stdpath("data") .. "/conductor/workspaces"',
    desc = "Directory that holds the worktrees, one per workspace, as"
      .. " `<workspaces_root>/<repo>/<name>`. `~` is expanded.",
  },
  {
    name = "branch_prefix",
    type = "string",
    default = "conductor/",
    desc = "Prefix of the branch each workspace gets: `<branch_prefix><name>`.",
  },
  {
    name = "ports.first",
    type = "number",
    default = 55000,
    check = is_port,
    desc = "First port of the range from which each workspace gets a block of"
      .. " 10 ports (`$CONDUCTOR_PORT` .. `$CONDUCTOR_PORT`+9).",
  },
  {
    name = "ports.last",
    type = "number",
    default = 64999,
    check = is_port,
    desc = "Last port of that range. Must leave room for at least one block of 10.",
  },
  {
    name = "stop_grace_ms",
    type = "number",
    default = 2000,
    check = function(v)
      if v < 0 or v ~= math.floor(v) then
        return "must be a non-negative integer"
      end
    end,
    desc = "When a workspace's processes are stopped they get SIGHUP (to their"
      .. " process group), then SIGKILL after this many milliseconds.",
  },
  {
    name = "fetch",
    type = "boolean",
    default = true,
    desc = "Fetch the base branch from `origin` before creating a workspace, so it"
      .. " starts from the remote tip. A failed fetch is a warning, not a failure.",
  },
  {
    name = "shell",
    type = "string",
    default = "/bin/sh",
    desc = "Shell that runs the setup, run and archive scripts, as" .. " `{shell} -c {script}`.",
  },
  {
    name = "default_agent",
    type = "string|nil",
    default = nil,
    desc = "Agent used when |:ConductorNew| is given no `--agent=`.",
  },
  {
    name = "agents",
    type = "table",
    default = {},
    free = true,
    check = function(v)
      local exit = v.on_editor_exit
      if exit ~= nil and exit ~= "keep" and exit ~= "stop" then
        return ('must be "keep" or "stop", got %s'):format(vim.inspect(exit)), ".on_editor_exit"
      end
    end,
    desc = "Agent definitions by name (see |conductor-agents|). Their names are"
      .. " what `--agent=` completes. Two keys are settings, not agents:"
      .. " `agents.notify_terminal` (a boolean) sets `notify_terminal` for all of them;"
      .. " `agents.on_editor_exit` says what quitting Neovim does to the agents it shows:"
      .. ' "keep" (the default: they run on in the engine, |conductor-engine|) or "stop".',
  },
  {
    name = "scripts.setup",
    type = "string|nil",
    default = nil,
    desc = "Setup script run in a new (or restored) workspace, unless the"
      .. " repository's config files define one. Scripts from `setup()` are trusted.",
  },
  {
    name = "scripts.run",
    type = "string|table|nil",
    default = nil,
    desc = "Run script: a string, or named runs"
      .. " `{ id = { command = '...', default = true } }`.",
  },
  {
    name = "scripts.archive",
    type = "string|nil",
    default = nil,
    desc = "Script run in a workspace before it is archived.",
  },
  {
    name = "scripts.archive_timeout",
    type = "number",
    default = 120,
    check = function(v)
      if v < 0 or v ~= math.floor(v) then
        return "must be a non-negative integer (seconds)"
      end
    end,
    desc = "Seconds an archive script may run. Past that its process group is"
      .. " stopped (SIGHUP, then SIGKILL after `stop_grace_ms`) and the archive goes"
      .. " on, saying so. 0 means no limit.",
  },
  {
    name = "scripts.setup_timeout",
    type = "number",
    default = 0,
    check = function(v)
      if v < 0 or v ~= math.floor(v) then
        return "must be a non-negative integer (seconds)"
      end
    end,
    desc = "Seconds a setup script may run before its process group is stopped and"
      .. " the setup marked failed (|:ConductorSetup| reruns it). 0, the default,"
      .. " means no limit: setup runs in the background and may be long.",
  },
  {
    name = "scripts.run_mode",
    type = "string|nil",
    default = nil,
    check = function(v)
      if v ~= "concurrent" and v ~= "nonconcurrent" then
        return "must be 'concurrent' or 'nonconcurrent'"
      end
    end,
    desc = "`'concurrent'` (run scripts may run side by side) or `'nonconcurrent'`"
      .. " (starting a run script stops the one already running).",
  },
  {
    name = "checks",
    type = "table|nil",
    doc_type = "string[]",
    default = nil,
    check = is_list_of_strings,
    desc = "Commands that check a workspace (|:ConductorCheck|), run one after"
      .. " another in its worktree, e.g. `{ 'cargo test' }`. A repository's"
      .. " `checks` key wins over this.",
  },
  {
    name = "gh",
    type = "string",
    default = "gh",
    desc = "GitHub's CLI, used by |:ConductorPR| and |:ConductorFanout| `--gh`: a"
      .. " name looked up on PATH or a path. Without it the pull request's"
      .. " compare URL is given.",
  },
  {
    name = "file_include_globs",
    type = "table|nil",
    doc_type = "string[]",
    default = nil,
    check = is_list_of_strings,
    desc = "Globs of git-ignored files copied into a new worktree when the"
      .. " repository has no `.worktreeinclude`. When neither is set: `.env*`.",
  },
  {
    name = "environment_variables",
    type = "table|nil",
    doc_type = "table<string, string>",
    default = nil,
    check = function(v)
      for k, s in pairs(v) do
        if type(k) ~= "string" then
          return "must map names to strings"
        elseif type(s) ~= "string" then
          return ("must be a string, got %s"):format(type(s)), "." .. k
        end
      end
    end,
    desc = "Extra environment of every script, agent and terminal of a workspace,"
      .. " as `{ NAME = 'value' }`.",
  },
  {
    name = "open_on_create",
    type = "boolean",
    default = true,
    desc = "Open a workspace's tab as soon as |:ConductorNew| has made it.",
  },
  {
    name = "progress",
    type = "boolean",
    default = true,
    desc = "Show creation steps and running scripts on the message line.",
  },
  {
    name = "notify_level",
    type = "number",
    default = vim.log.levels.INFO,
    doc_default = "vim.log.levels.INFO",
    desc = "Least level of the notifications conductor sends (|vim.log.levels|)."
      .. " Errors are always shown.",
  },
  {
    name = "notify_terminal",
    type = "boolean",
    default = true,
    desc = "When an agent needs input or finishes a turn while its tab is not shown,"
      .. " also tell the terminal Neovim runs in: a desktop notification (OSC 777"
      .. " and OSC 9) and a bell, so tmux, kitty, wezterm and iTerm2 can alert"
      .. " outside Neovim (|conductor-attention|).",
  },
  {
    name = "checkpoints.keep",
    type = "number",
    default = 100,
    check = function(v)
      if v < 1 or v ~= math.floor(v) then
        return "must be a positive integer"
      end
    end,
    desc = "How many agent turns each workspace keeps as checkpoints"
      .. " (|:ConductorCheckpoints|); older ones are dropped.",
  },
  {
    name = "tabline",
    type = "boolean",
    default = true,
    desc = "Name each workspace's tab by its workspace: when 'tabline' is empty,"
      .. " conductor sets one that looks like Neovim's own. With a tabline of your"
      .. " own, use `require('conductor').tab_label(tabnr)` in it (|conductor-tabline|).",
  },
  {
    name = "start_insert",
    type = "boolean",
    default = true,
    desc = "Start a new agent terminal in Terminal mode (insert), ready for keys, as"
      .. " most terminal plugins do. `false` leaves it in Normal mode.",
  },
  {
    name = "confirm_quit",
    type = "boolean",
    default = true,
    desc = 'With `agents.on_editor_exit = "stop"`, ask before quitting Neovim while'
      .. " agents run (quitting stops them), saying how many and which. (By default"
      .. " they keep running in the engine, and nothing is asked.)",
  },
  {
    name = "review.keys",
    type = "table",
    default = {},
    free = true,
    -- The actions are checked when a review opens (review/keys.lua): setup() does
    -- not load the review to know them.
    desc = "Keys of |:ConductorReview| over the defaults (|conductor-review-keys|):"
      .. " `{ panel = { [key] = action }, diff = { [key] = action } }`, where an"
      .. " action is an action's name, a function given the review, or `false` to"
      .. " leave the key unmapped.",
  },
  {
    name = "review.panel_width",
    type = "number",
    default = 40,
    check = function(v)
      if v < 10 or v ~= math.floor(v) then
        return "must be an integer of at least 10"
      end
    end,
    desc = "Width of the review's file panel, in columns.",
  },
  {
    name = "merge.strategy",
    type = "string",
    default = "squash",
    check = function(v)
      if v ~= "squash" and v ~= "ff" and v ~= "merge" then
        return "must be 'squash', 'ff' or 'merge'"
      end
    end,
    desc = "How |:ConductorMerge| merges when given no flag: `'squash'` (one commit,"
      .. " its message edited first), `'ff'` (fast-forward only) or `'merge'`"
      .. " (a merge commit).",
  },
  {
    name = "merge.archive_after",
    type = "boolean",
    default = false,
    desc = "Archive the workspace after a successful |:ConductorMerge|.",
  },
  {
    name = "hosts",
    type = "table",
    doc_type = "table<string, table>",
    default = {},
    free = true,
    check = check_hosts,
    desc = "Other machines whose engine runs workspaces, reached over your own `ssh`"
      .. " (|conductor-hosts|), by host name (letters, digits, `_ . -`): `{ big = {"
      .. " ssh = 'big', repos = { app = '/home/me/src/app' } } }`. Per host: `ssh`,"
      .. " an ssh alias or the whole command as a list (`{ 'ssh', '-p', '2222',"
      .. " 'me@big' }`, destination last); `repos`, short names of repositories"
      .. " on the host and their paths there; optional `engine` (the"
      .. " conductor-engine program there; by default the plugin copies its own),"
      .. " `state_dir` (the engine's state directory there) and `options` (engine"
      .. " options for that host, in host paths: `workspaces_root`, `fetch`,"
      .. " `port_first`, `port_last`, …).",
  },
  {
    name = "fanout.concurrency",
    type = "number",
    default = 2,
    check = function(v)
      if v < 1 or v ~= math.floor(v) then
        return "must be a positive integer"
      end
    end,
    desc = "How many workspaces |:ConductorFanout| and a comparison"
      .. " (`:ConductorNew --agent=A,B`) create at once; the others wait. Setup"
      .. " scripts such as `npm install` are heavy: keep it small.",
  },
}

local by_name = {} ---@type table<string, conductor.Field>
for _, f in ipairs(M.schema) do
  by_name[f.name] = f
end

---@param t table
---@param path string dotted
local function get_path(t, path)
  local v = t
  for key in path:gmatch("[^.]+") do
    if type(v) ~= "table" then
      return nil
    end
    v = v[key]
  end
  return v
end

local function set_path(t, path, value)
  local keys = vim.split(path, ".", { plain = true })
  for i = 1, #keys - 1 do
    t[keys[i]] = t[keys[i]] or {}
    t = t[keys[i]]
  end
  t[keys[#keys]] = value
end

---@param f conductor.Field
local function default_of(f)
  if type(f.default) == "function" then
    return f.default()
  end
  return vim.deepcopy(f.default)
end

-- Whether `path` is a group of fields ("ports" for "ports.first").
local function is_group(path)
  local prefix = path .. "."
  for name in pairs(by_name) do
    if vim.startswith(name, prefix) then
      return true
    end
  end
  return false
end

---@param opts table
---@param prefix string
local function find_unknown(opts, prefix)
  for k, v in pairs(opts) do
    local path = prefix .. tostring(k)
    if by_name[path] then
      -- a leaf; `free` tables belong to the user
    elseif is_group(path) then
      if type(v) ~= "table" then
        return ("conductor: option '%s' must be a table, got %s"):format(path, type(v))
      end
      local err = find_unknown(v, path .. ".")
      if err then
        return err
      end
    else
      return ("conductor: unknown option '%s'"):format(path)
    end
  end
end

--- Checks user options against the schema.
---@param opts table?
---@return string? err one line naming the field, or nil when valid
function M.validate(opts)
  if opts == nil then
    return nil
  end
  if type(opts) ~= "table" then
    return ("conductor: setup() takes a table, got %s"):format(type(opts))
  end
  local err = find_unknown(opts, "")
  if err then
    return err
  end
  for _, f in ipairs(M.schema) do
    local v = get_path(opts, f.name)
    if v ~= nil then
      local allowed = vim.split(f.type, "|", { plain = true })
      if not vim.tbl_contains(allowed, type(v)) then
        local want = vim.tbl_filter(function(t)
          return t ~= "nil"
        end, allowed)
        return ("conductor: option '%s' must be a %s, got %s"):format(
          f.name,
          table.concat(want, " or "),
          type(v)
        )
      end
      if f.check then
        local problem, where = f.check(v)
        if problem then
          return ("conductor: option '%s%s' %s"):format(f.name, where or "", problem)
        end
      end
    end
  end
  local first = get_path(opts, "ports.first") or by_name["ports.first"].default
  local last = get_path(opts, "ports.last") or by_name["ports.last"].default
  if last - first + 1 < 10 then
    return ("conductor: option 'ports' must hold at least one block of 10 ports, got %d..%d"):format(
      first,
      last
    )
  end
end

---@type table? the user's options, validated
local user = nil

--- Validates and keeps the user's options.
---@param opts conductor.Options?
---@return string? err
function M.set(opts)
  local err = M.validate(opts)
  if err then
    return err
  end
  user = vim.deepcopy(opts or {})
end

--- The effective options: defaults overlaid with the user's.
---@return conductor.Options
function M.get()
  local out = {}
  for _, f in ipairs(M.schema) do
    local v = user and get_path(user, f.name)
    if v == nil then
      v = default_of(f)
    end
    if v ~= nil then
      set_path(out, f.name, v)
    end
  end
  return out
end

--- Keys of `agents` that are settings of all agents, not agent definitions.
M.agent_settings = { notify_terminal = "boolean", on_editor_exit = "string" }

--- The agent definitions of the `agents` option (its setting keys left out).
---@return table<string, table>
function M.agent_definitions()
  local out = {}
  for name, def in pairs(M.get().agents or {}) do
    if not M.agent_settings[name] then
      out[name] = def
    end
  end
  return out
end

--- Whether to tell Neovim's terminal when an agent needs the user: `agents.notify_terminal`
--- when set, else `notify_terminal`.
---@return boolean
function M.notify_terminal()
  local o = M.get()
  local v = (o.agents or {}).notify_terminal
  if type(v) == "boolean" then
    return v
  end
  return o.notify_terminal ~= false
end

--- What quitting Neovim does to the agents it shows: "keep" (they run on in the engine)
--- or "stop".
---@return "keep"|"stop"
function M.on_editor_exit()
  return (M.get().agents or {}).on_editor_exit == "stop" and "stop" or "keep"
end

---@class conductor.Host
---@field name string
---@field ssh string[]               the ssh command, destination last
---@field repos table<string, string> short name -> path on the host
---@field engine? string             the engine program on the host
---@field state_dir? string          the engine's state directory on the host
---@field options table              engine options for that host

--- The configured hosts (|conductor-hosts|), validated: name -> host, an ssh alias
--- turned into `{ "ssh", alias }`.
---@return table<string, conductor.Host>
function M.hosts()
  local out = {}
  for name, h in pairs(M.get().hosts or {}) do
    out[name] = {
      name = name,
      ssh = type(h.ssh) == "string" and { "ssh", h.ssh } or vim.deepcopy(h.ssh),
      repos = vim.deepcopy(h.repos or {}),
      engine = h.engine,
      state_dir = h.state_dir,
      options = vim.deepcopy(h.options or {}),
    }
  end
  return out
end

--- The configured host names, sorted.
---@return string[]
function M.host_names()
  local names = vim.tbl_keys(M.get().hosts or {})
  table.sort(names)
  return names
end

--- The options the engine's `core.start` takes (see the protocol).
---@return table
function M.engine_opts()
  local o = M.get()
  local scripts = o.scripts or {}
  return {
    state_dir = vim.fn.stdpath("state") .. "/conductor",
    nvim_trust_db = vim.fn.stdpath("state") .. "/trust",
    workspaces_root = vim.fs.normalize(o.workspaces_root),
    branch_prefix = o.branch_prefix,
    port_first = o.ports.first,
    port_last = o.ports.last,
    stop_grace_ms = o.stop_grace_ms,
    archive_timeout_ms = scripts.archive_timeout * 1000,
    setup_timeout_ms = scripts.setup_timeout * 1000,
    fetch = o.fetch,
    shell = o.shell,
    gh = o.gh,
    checkpoints_keep = o.checkpoints.keep,
    defaults = {
      scripts = {
        setup = scripts.setup,
        run = scripts.run,
        archive = scripts.archive,
        run_mode = scripts.run_mode,
      },
      file_include_globs = o.file_include_globs,
      environment_variables = o.environment_variables,
      checks = o.checks,
    },
  }
end

return M
