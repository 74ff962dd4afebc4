-- `:checkhealth conductor`: everything conductor needs, each with how to fix
-- it. Reads only; never prompts (trust is looked up, not asked).

local M = {}

local builtin = require("conductor.agent.builtin")
local catalog = require("conductor.agent.catalog")
local config = require("conductor.config")
local engine = require("conductor.engine")
local trust = require("conductor.trust")
local workspace = require("conductor.workspace")

local health = vim.health

-- The commit the library was built from (stamped by build.rs as a 12-char
-- short sha) against the checkout's: a mismatch means the library is stale.
-- Done here, not at startup, because asking git costs a process.
---@param core conductor.Core
---@param root string
local function check_stamp(core, root)
  local built
  if type(core.commit) == "function" then
    local ok, commit = pcall(core.commit)
    built = ok and type(commit) == "string" and commit:match("^%x+$") and commit or nil
  else
    local ok, version = pcall(core.version)
    built = ok and tostring(version):match("%((%x+)%)") or nil
  end
  if not built then
    health.info("the library carries no commit stamp: cannot tell whether it is stale")
    return
  end
  local res = vim
    .system({ "git", "-C", root, "rev-parse", "--show-toplevel", "HEAD" }, { text = true })
    :wait(2000)
  local lines = res.code == 0 and vim.split(vim.trim(res.stdout or ""), "\n") or {}
  local top, head = lines[1], lines[2]
  -- Not a git checkout of its own (a packaged install, or a copy inside some other
  -- repository such as a dotfiles one): nothing to compare.
  if not (top and head and vim.uv.fs_realpath(top) == vim.uv.fs_realpath(root)) then
    health.info(("%s is not a git checkout: the library (%s) is not compared"):format(root, built))
    return
  end
  if vim.startswith(head, built) then
    health.ok("library matches the checkout (" .. built .. ")")
  else
    health.warn(
      ("library is stale: built from %s, the checkout is at %s"):format(built, head:sub(1, #built)),
      { ("rebuild with `cargo build --release` in %s and restart Neovim"):format(root) }
    )
  end
end

local function check_library()
  local uname = vim.uv.os_uname()
  health.info(("platform: %s %s (%s)"):format(uname.sysname, uname.release, uname.machine))
  local ok, core = pcall(engine.load)
  -- The loader's exact message for every library that exists but did not load
  -- (wrong architecture, missing symbols, not a library at all).
  local report = ok and health.warn or health.error
  for _, f in ipairs(engine.failures()) do
    report(("dlopen error for %s: %s"):format(f.path, f.error))
  end
  if not ok then
    health.error(tostring(core), { "or point $CONDUCTOR_LIB at a built libconductor_core" })
    return false
  end
  local vok, version = pcall(core.version)
  version = vok and tostring(version) or "unknown"
  health.ok(("library %s, version %s"):format(engine.path(), version))
  check_stamp(core, engine.root())
  local bin = engine.engine_bin()
  if not bin then
    health.error("the engine program (conductor-engine) was not found", {
      "build it with `cargo build --release` in " .. engine.root(),
      "or point $CONDUCTOR_ENGINE at it",
    })
    return false
  end
  health.ok("engine program " .. bin)
  local running = core.connected()
  if running.pid then
    health.ok(
      ("engine running: pid %d, %s (:ConductorEngine status)"):format(running.pid, running.version)
    )
  else
    health.info("no engine connected yet: the first command starts it")
  end
  return true
end

-- The hosts of `setup({ hosts = … })`: their ssh, and the engine there when connected
-- (never connects: a host may be asleep).
---@param loaded boolean
local function check_hosts(loaded)
  local hosts = config.hosts()
  for _, name in ipairs(engine.hosts()) do
    local ssh = hosts[name].ssh
    if vim.fn.executable(ssh[1]) == 0 then
      health.error(("%s: %s is not on PATH"):format(name, ssh[1]), { "install OpenSSH's client" })
    elseif loaded and engine.host_connected(name) then
      local info = engine.load().connected(name)
      health.ok(
        ("%s: engine pid %d, %s (%s)"):format(name, info.pid, info.version, table.concat(ssh, " "))
      )
    else
      health.info(
        ("%s: not connected; the first command on it runs `%s … conductor-engine stdio`"):format(
          name,
          table.concat(ssh, " ")
        )
      )
    end
  end
end

local function check_git()
  if vim.fn.executable("git") == 0 then
    health.error("git not found on PATH", { "install git; fetch and push use it" })
    return
  end
  local res = vim.system({ "git", "--version" }, { text = true }):wait(2000)
  health.ok(vim.trim(res.stdout or "git"))
end

local function check_gh()
  if vim.fn.executable("gh") == 0 then
    health.warn("gh (GitHub CLI) not found on PATH: pull requests (:ConductorPR) need it", {
      "install it from https://cli.github.com, then run `gh auth login`",
    })
    return
  end
  local res = vim.system({ "gh", "--version" }, { text = true }):wait(2000)
  local first = vim.split(res.stdout or "", "\n")[1]
  health.ok(first ~= "" and first or "gh found")
end

-- The program an agent definition runs: the first word of `cmd` (a list or
-- a string), else the agent's name.
---@param name string
---@param def any
---@return string
local function agent_binary(name, def)
  local cmd = type(def) == "table" and def.cmd or nil
  if type(cmd) == "table" then
    cmd = cmd[1]
  end
  if type(cmd) == "string" and vim.trim(cmd) ~= "" then
    return vim.split(vim.trim(cmd), "%s+")[1]
  end
  return name
end

---@class conductor.HealthAgent
---@field binary string
---@field install? string

-- Every agent the user can start, by name: the built-in ones and those of
-- `agents` in setup(), each with the program it runs.
---@return table<string, conductor.HealthAgent>
local function known_agents()
  local out = {}
  for name, def in pairs(builtin) do
    -- "shell" has no `cmd`: it runs the user's 'shell'.
    local cmd = def.cmd or vim.o.shell
    out[name] = { binary = agent_binary(name, { cmd = cmd }), install = def.install }
  end
  for name, def in pairs(config.agent_definitions()) do
    local base = out[name] or {}
    local binary = base.binary or name
    if type(def) == "table" and def.cmd then
      binary = agent_binary(name, def)
    end
    -- The install hint holds only while the program is the built-in one.
    out[name] = { binary = binary, install = binary == base.binary and base.install or nil }
  end
  return out
end

-- Each agent's program, found or not (information); an error only when the
-- configured default agent cannot start.
local function check_agents()
  local default = config.get().default_agent
  local agents = known_agents()
  if default then
    health.info("default agent: " .. default)
  else
    local ok, chosen = pcall(catalog.default_name)
    chosen = ok and chosen
    health.info(
      (
        "no default_agent set: :ConductorNew starts %s (the first of codex, claude,"
        .. " gemini, opencode on PATH, else a shell)"
      ):format(type(chosen) == "string" and chosen or "the first agent found")
    )
  end
  if default and not agents[default] then
    health.error(("default_agent %s is not defined"):format(default), {
      ("define it: setup({ agents = { [%q] = { cmd = { ... } } } })"):format(default),
    })
  end
  local names = vim.tbl_keys(agents)
  table.sort(names, function(a, b)
    if (a == default) ~= (b == default) then
      return a == default
    end
    return a < b
  end)
  for _, name in ipairs(names) do
    local a = agents[name]
    local path = vim.fn.exepath(a.binary)
    if path ~= "" then
      local line = ("agent %s: %s"):format(name, path)
      if name == default then
        health.ok(line)
      else
        health.info(line)
      end
    else
      local line = ("agent %s: %s not found on PATH"):format(name, a.binary)
      if name == default then
        health.error(line, {
          a.install and ("install it: `%s`"):format(a.install)
            or ("install %s, or fix `agents[%q].cmd` in setup()"):format(a.binary, name),
          "or choose another default_agent",
        })
      else
        health.info(line .. (a.install and (" (install: `%s`)"):format(a.install) or ""))
      end
    end
  end
end

-- Writable, or creatable: its nearest existing ancestor is writable.
---@param label string
---@param dir string
local function check_writable(label, dir)
  local existing = dir
  while vim.fn.isdirectory(existing) == 0 and existing ~= "/" do
    existing = vim.fs.dirname(existing)
  end
  if vim.fn.filewritable(existing) == 2 then
    health.ok(("%s %s is writable"):format(label, dir))
  else
    health.error(("%s %s is not writable (%s)"):format(label, dir, existing), {
      "fix the permissions, or choose another directory",
    })
  end
end

local advice = {
  changed = "changed since you trusted it: ignored as a whole until you trust it again (:ConductorTrust)",
  denied = "denied: ignored as a whole (:ConductorTrust asks again)",
  unknown = "not trusted yet: ignored as a whole; conductor asks before a workspace uses it",
}

-- One repository's config files: which were read, highest first, what became of each,
-- and every key that has no effect here.
---@param repo conductor.Repo
local function report_repo(repo)
  health.info(("repository %s (default branch %s)"):format(repo.root, repo.default_branch))
  if #(repo.config_files or {}) == 0 then
    health.info(
      "no config files (.conductor/settings.local.toml, .conductor/settings.toml, ~/.conductor/settings.toml, conductor.json)"
    )
  end
  local describe = trust.describe
  for i, file in ipairs(repo.config_files or {}) do
    local name = ("%d. %s [%s]"):format(i, describe(file), file.kind)
    if file.note then
      health.info(name .. ": " .. file.note)
    elseif file.applied then
      health.ok(name .. ": applied" .. (file.kind == "user" and " (your own file)" or ", trusted"))
    else
      health.warn(name .. ": " .. (advice[file.trust] or file.trust))
    end
    for _, key in ipairs(file.ignored_keys or {}) do
      health.info(("   ignored key %s"):format(key))
    end
  end
end

-- Every repository conductor knows (its workspaces') and the current one.
local function check_repos()
  local roots, seen = {}, {}
  local ok_here, here = pcall(workspace.repo)
  if ok_here then
    roots[1], seen[here.root] = here.root, true
  else
    health.info("not in a git repository here (" .. tostring(here) .. ")")
  end
  local ok, list = pcall(workspace.list, true)
  for _, ws in ipairs(ok and list or {}) do
    if not seen[ws.repo_root] then
      seen[ws.repo_root] = true
      roots[#roots + 1] = ws.repo_root
    end
  end
  for _, root in ipairs(roots) do
    local good, repo = pcall(engine.call, "resolve_repo", { path = root })
    if good then
      report_repo(repo)
    else
      health.error(("repository %s: %s"):format(root, repo))
    end
  end
end

function M.check()
  health.start("conductor.nvim")
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.11 or newer is required, this is " .. tostring(vim.version()))
  end
  check_git()
  check_gh()
  check_writable("state directory", vim.fn.stdpath("state") .. "/conductor")
  check_writable("workspaces_root", vim.fs.normalize(config.get().workspaces_root))

  health.start("conductor.nvim: engine")
  local loaded = check_library()

  health.start("conductor.nvim: agents")
  check_agents()

  if #engine.hosts() > 0 then
    health.start("conductor.nvim: hosts")
    check_hosts(loaded)
  end

  if loaded then
    health.start("conductor.nvim: repositories and their config files")
    check_repos()
  end
end

return M
