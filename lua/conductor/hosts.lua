-- Workspaces on other machines (|conductor-hosts|), the Lua side: which host a
-- workspace lives on and how it is labelled, and which repository of a host
-- `:ConductorNew --host=NAME` means (a short name, a path, or the one whose `origin`
-- matches the current repository's).
--
-- Not here: the connection to a host's engine (engine.lua routes a request by its
-- `host` param or its "NAME:<id>" workspace), port forwarding (agent/forward.lua).

local M = {}

local config = require("conductor.config")
local engine = require("conductor.engine")

--- Whether the workspace lives on another machine (its paths are paths there).
---@param ws conductor.Workspace?
---@return boolean
function M.is_remote(ws)
  return ws ~= nil and ws.host ~= nil
end

--- A configured host by name. Raises one line listing the configured ones.
---@param name string
---@return conductor.Host
function M.get(name)
  local host = config.hosts()[name]
  if not host then
    local names = config.host_names()
    error(
      #names == 0
          and ("unknown host %s: no hosts are configured (setup({ hosts = … }), :help conductor-hosts)"):format(
            name
          )
        or ("unknown host %s (configured: %s)"):format(name, table.concat(names, ", ")),
      0
    )
  end
  return host
end

--- A git remote URL reduced to what names the repository, so that the forms of one
--- remote compare equal: `git@github.com:a/b.git`, `ssh://git@github.com/a/b` and
--- `https://github.com/a/b/` all give "github.com/a/b". The host part is lowercased
--- (hostnames are not case-sensitive; paths may be); a local path stays a path.
---@param url string
---@return string
function M.normalize_url(url)
  local u = vim.trim(url)
  local host, path ---@type string, string
  local after_scheme = u:match("^%a[%w+.-]*://(.*)$")
  if after_scheme then
    -- scheme://[user[:pass]@]host[:port]/path
    local authority = after_scheme:match("^[^/]*") or ""
    path = after_scheme:sub(#authority + 1)
    host = authority:gsub("^.*@", ""):gsub(":%d*$", "")
  elseif not u:match("^[/.~]") and u:match("^[^/]+:") then
    -- scp-like: [user@]host:path
    local colon = u:find(":", 1, true) or #u
    host = u:sub(1, colon - 1):gsub("^.*@", "")
    path = u:sub(colon + 1)
  else
    return (u:gsub("/+$", ""):gsub("%.git$", ""))
  end
  path = path:gsub("^/+", ""):gsub("^~/", ""):gsub("/+$", ""):gsub("%.git$", "")
  return host:lower() .. "/" .. path
end

--- Whether two remote URLs name the same repository (|M.normalize_url|).
---@param a string?
---@param b string?
---@return boolean
function M.same_origin(a, b)
  return type(a) == "string" and type(b) == "string" and M.normalize_url(a) == M.normalize_url(b)
end

---@param host conductor.Host
---@return string[]
local function short_names(host)
  local names = vim.tbl_keys(host.repos)
  table.sort(names)
  return names
end

-- Why a short name is needed, and which there are.
---@param host conductor.Host
---@return string
local function listing(host)
  local names = short_names(host)
  if #names == 0 then
    return ("hosts.%s.repos lists none; give a path there: --repo=/path/on/%s"):format(
      host.name,
      host.name
    )
  end
  return ("name one with --repo= (%s)"):format(table.concat(names, ", "))
end

--- The path on `host` of the repository `:ConductorNew --host` means: `repo` as a path
--- (it holds a '/' or starts with '~'), or `repo` as one of the host's short names; without
--- `repo`, the listed repository whose `origin` matches the one of the local repository
--- at `here`, when exactly one does. Raises one line saying what to give instead.
---@param host conductor.Host
---@param repo string? --repo=
---@param here string where the local repository is looked up
---@return string path on the host
function M.repo_path(host, repo, here)
  if repo and repo ~= "" then
    if repo:find("/", 1, true) or vim.startswith(repo, "~") then
      return repo
    end
    local path = host.repos[repo]
    if not path then
      error(("host %s has no repository named %s: %s"):format(host.name, repo, listing(host)), 0)
    end
    return path
  end
  local names = short_names(host)
  if #names == 0 then
    error(("which repository on %s? %s"):format(host.name, listing(host)), 0)
  end
  local ok, mine = pcall(engine.call, "resolve_repo", { path = here })
  local origin = ok and type(mine) == "table" and mine.origin or nil
  if type(origin) ~= "string" then
    error(
      ("which repository on %s? %s (the current repository has no origin to match)"):format(
        host.name,
        listing(host)
      ),
      0
    )
  end
  local matches = {}
  for _, short in ipairs(names) do
    local path = host.repos[short]
    -- A host that cannot be reached raises here: its error says so.
    local there = engine.call("resolve_repo", { host = host.name, path = path })
    if M.same_origin(there.origin, origin) then
      matches[#matches + 1] = short
    end
  end
  if #matches == 1 then
    return host.repos[
      matches[1] --[[@as string]]
    ]
  elseif #matches == 0 then
    error(
      ("no repository of host %s has the origin %s; %s"):format(host.name, origin, listing(host)),
      0
    )
  end
  error(
    ("several repositories of host %s have the origin %s (%s); name one with --repo="):format(
      host.name,
      origin,
      table.concat(matches, ", ")
    ),
    0
  )
end

return M
