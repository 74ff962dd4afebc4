-- Command-line side of the user commands: parsing `:ConductorNew`'s flags and
-- completing workspace names, agents and branches. Completion never raises:
-- no engine, no repository, no answer -> no candidates.

local M = {}

local config = require("conductor.config")
local engine = require("conductor.engine")
local format = require("conductor.format")
local groups = require("conductor.groups")
local workspace = require("conductor.workspace")

local FLAGS = { "agent", "base", "name", "host", "repo" }

--- Parses `[--agent=A] [--base=B] [--name=N] [--host=H] [--repo=R] [--] [task text]`. Flags come
--- first; everything from the first other word on is the task, spacing kept.
---@param argstr string
---@return conductor.NewArgs
function M.parse_new(argstr)
  local args = {}
  local rest = argstr
  while true do
    rest = rest:gsub("^%s+", "")
    local token = rest:match("^%S+")
    if not token or not vim.startswith(token, "--") then
      break
    end
    rest = rest:sub(#token + 1)
    if token == "--" then
      break
    end
    local flag, value = token:match("^%-%-([^=]+)=(.*)$")
    if not flag or not vim.tbl_contains(FLAGS, flag) then
      error(
        ("unknown option %s for :ConductorNew (it takes --agent=, --base=, --name=, --host=, --repo=)"):format(
          token
        ),
        0
      )
    end
    if value == "" then
      error(("--%s= needs a value"):format(flag), 0)
    end
    if flag == "host" and not value:match(config.HOST_NAME) then
      error(("--host=%s is not a host name (:help conductor-hosts)"):format(value), 0)
    end
    args[flag] = value
  end
  rest = vim.trim(rest)
  args.task = rest ~= "" and rest or nil
  return args
end

---@param items string[]
---@param lead string
---@return string[]
local function matching(items, lead)
  return vim.tbl_filter(function(s)
    return vim.startswith(s, lead)
  end, items)
end

--- Names of the current workspace's run scripts, for `:ConductorRun`.
---@param lead string
---@return string[]
function M.run_scripts(lead)
  local ok, names = pcall(function()
    local ws = workspace.current()
    local repo = ws and engine.call("resolve_repo", { path = ws.repo_root, workspace = ws.id })
      or workspace.repo()
    return repo.run_scripts
  end)
  return ok and matching(names or {}, lead) or {}
end

--- Workspace names for a {ws} argument.
---@param state? "active"|"archived" only workspaces in this state
---@return fun(lead: string): string[]
function M.workspaces(state)
  return function(lead)
    local ok, list = pcall(function()
      return workspace.list(state ~= "active")
    end)
    if not ok then
      return {}
    end
    local names, seen = {}, {}
    for _, ws in ipairs(list) do
      -- "big:fix-login" for one on host big.
      local ref = format.workspace_ref(ws)
      if (not state or ws.state == state) and not seen[ref] then
        seen[ref] = true
        names[#names + 1] = ref
      end
    end
    return matching(names, lead)
  end
end

-- Local and remote branches of the repository the user is in. git's own
-- answer, because the engine has no branch listing (fast: reads refs only).
---@return string[]
local function branches()
  local cwd = workspace.context_path()
  local ok, res = pcall(function()
    return vim
      .system({
        "git",
        "--no-optional-locks",
        "-C",
        cwd,
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads",
        "refs/remotes",
      }, { text = true })
      :wait(1000)
  end)
  if not ok or res.code ~= 0 then
    return {}
  end
  local out = {}
  for ref in vim.gsplit(res.stdout, "\n", { trimempty = true }) do
    local short = ref:gsub("^refs/heads/", ""):gsub("^refs/remotes/", "")
    if not short:match("/HEAD$") then
      out[#out + 1] = short
    end
  end
  return out
end

---@return string[]
local function agents()
  local cfg = config.get()
  local names = vim.tbl_keys(config.agent_definitions())
  if cfg.default_agent and not vim.tbl_contains(names, cfg.default_agent) then
    names[#names + 1] = cfg.default_agent
  end
  table.sort(names)
  return names
end

--- Completion for `:ConductorNew`: flag names while only flags precede,
--- then the values of `--agent=` and `--base=`.
---@param lead string
---@param cmdline string
---@param pos integer
---@return string[]
function M.complete_new(lead, cmdline, pos)
  local before = cmdline:sub(1, pos - #lead)
  local words = vim.split(vim.trim(before), "%s+")
  table.remove(words, 1) -- the command itself
  local used = {}
  for _, w in ipairs(words) do
    local flag, value = w:match("^%-%-([^=]+)=(.*)$")
    if not flag then
      return {} -- the task text has begun
    end
    used[flag] = value
  end
  local flag, value = lead:match("^%-%-([^=]+)=(.*)$")
  if flag == "agent" then
    -- Several agents, comma-separated, make a comparison: complete the last.
    local done, last = value:match("^(.*,)([^,]*)$")
    done, last = done or "", last or value
    return vim.tbl_map(function(a)
      return "--agent=" .. done .. a
    end, matching(agents(), last))
  elseif flag == "base" then
    return vim.tbl_map(function(b)
      return "--base=" .. b
    end, matching(branches(), value))
  elseif flag == "host" then
    return vim.tbl_map(function(h)
      return "--host=" .. h
    end, matching(config.host_names(), value))
  elseif flag == "repo" then
    -- The short names of the host named before (paths are the user's to type).
    local host = used.host and config.hosts()[used.host]
    local names = host and vim.tbl_keys(host.repos) or {}
    table.sort(names)
    return vim.tbl_map(function(r)
      return "--repo=" .. r
    end, matching(names, value))
  elseif flag then
    return {}
  end
  if lead ~= "" and not vim.startswith(lead, "-") then
    return {}
  end
  local flags = {}
  local has_hosts = #config.host_names() > 0
  for _, f in ipairs(FLAGS) do
    -- --host= only when hosts are configured; --repo= is mostly for them.
    if not used[f] and (f ~= "host" or has_hosts) then
      flags[#flags + 1] = "--" .. f .. "="
    end
  end
  return matching(flags, lead)
end

--- Group names for `:ConductorCompare` (fanouts and comparisons).
---@param lead string
---@return string[]
function M.groups(lead)
  local ok, names = pcall(function()
    return groups.names()
  end)
  return ok and matching(names, lead) or {}
end

return M
