-- Finding workspaces: by name or id, the one of the current tab, and the
-- repository the user is "in". Thin wrappers over the engine's synchronous
-- methods; nothing here changes anything.
--
-- A workspace on another machine (|conductor-hosts|) has `host` set, its id is
-- "NAME:<id>" and its paths are paths there: it is found by "NAME:<id or name>", never
-- by a local path.

local M = {}

local config = require("conductor.config")
local engine = require("conductor.engine")

---@class conductor.Workspace
---@field id string        "NAME:<id>" for a workspace on host NAME
---@field host? string     the host it lives on (|conductor-hosts|); nil: this machine
---@field name string
---@field repo_root string
---@field repo_name string
---@field path string
---@field branch string
---@field base_branch string
---@field base_commit string
---@field task? string
---@field agent? string
---@field port? integer
---@field state "active"|"archived"|"creating"
---@field created_at integer
---@field archived_at? integer
---@field snapshot_ref? string
---@field log string
---@field setup "none"|"running"|"ok"|"failed"|"untrusted"
---@field viewed? table<string, boolean> paths marked viewed in the review
---@field checks? table   the last :ConductorCheck: { ok, finished_at, results }
---@field pr_url? string  its pull request's URL
---@field backup_ref? string the ref keeping a deleted workspace's branch

--- Where the repository is looked up from: the current file's directory, or
--- the (tab- or window-local) working directory for other buffers.
---@return string
function M.context_path()
  if vim.bo.buftype == "" then
    local name = vim.api.nvim_buf_get_name(0)
    if name ~= "" then
      local dir = vim.fs.dirname(name)
      if vim.fn.isdirectory(dir) == 1 then
        return dir
      end
    end
  end
  return vim.fn.getcwd()
end

--- The repository the user is in. Raises "not a git repository" and the like.
---@return conductor.Repo
function M.repo()
  return engine.call("resolve_repo", { path = M.context_path() })
end

--- Root of the repository the user is in, or nil outside one.
---@return string?
function M.repo_root()
  local ok, repo = pcall(M.repo)
  return ok and repo.root or nil
end

--- The host a workspace reference names: "big" for "big:fix-login" when big is a
--- configured host, else nil (a workspace of this machine).
---@param ref string
---@return string?
function M.host_of(ref)
  local host = ref:match("^([%w_.-]+):.")
  return host and config.hosts()[host] and host or nil
end

--- A workspace by name or id; names are looked up in the current repository
--- first. "NAME:<id or name>" is one on host NAME. Raises when unknown or ambiguous.
---@param ws string
---@return conductor.Workspace
function M.get(ws)
  if M.host_of(ws) then
    -- The engine routes it by its prefix; the local repository means nothing there.
    return engine.call("get", { workspace = ws })
  end
  return engine.call("get", { workspace = ws, repo = M.repo_root() })
end

--- Whether this Neovim is connected to host `name` (asking never connects).
---@param name string
---@return boolean
function M.host_connected(name)
  return engine.host_connected(name)
end

--- The workspaces of the current repository, then those of the hosts this Neovim is
--- connected to (completion must not wait on ssh: |M.list_all| connects).
---@param include_archived boolean?
---@return conductor.Workspace[]
function M.list(include_archived)
  local out =
    engine.call("list", { repo = M.repo_root(), include_archived = include_archived == true })
  for _, host in ipairs(config.host_names()) do
    if M.host_connected(host) then
      local ok, there =
        pcall(engine.call, "list", { host = host, include_archived = include_archived == true })
      vim.list_extend(out, ok and there or {})
    end
  end
  return out
end

-- Hosts whose list failed, and when (see `list_all`).
---@type table<string, { at: integer, error: string }>
local unreachable_since = {}
local RETRY_AFTER_S = 60

--- Every workspace of every repository, here and on every configured host (connecting
--- to them), and the hosts that could not be reached, each with its one-line error.
--- With `connected_only`, only the hosts this Neovim is connected to are asked (a
--- refresh must not wait on ssh to a host that is down). A host that did not answer in
--- the last minute is not asked again (it is listed as unreachable, with when).
---@param include_archived boolean?
---@param connected_only boolean?
---@return conductor.Workspace[] list, { host: string, error: string }[] unreachable
function M.list_all(include_archived, connected_only)
  local out = engine.call("list", { include_archived = include_archived == true })
  local unreachable = {}
  for _, host in ipairs(config.host_names()) do
    local failed = unreachable_since[host]
    local ago = failed and os.time() - failed.at
    if ago and ago < RETRY_AFTER_S and not M.host_connected(host) then
      -- A host that did not answer a moment ago is not waited for again by every list
      -- (ssh waits up to 15 s); a command naming it still tries.
      unreachable[#unreachable + 1] = {
        host = host,
        error = ("%s (%d s ago; asked again after %d s)"):format(failed.error, ago, RETRY_AFTER_S),
      }
    elseif not connected_only or M.host_connected(host) then
      local ok, there =
        pcall(engine.call, "list", { host = host, include_archived = include_archived == true })
      if ok then
        unreachable_since[host] = nil
        vim.list_extend(out, there)
      else
        unreachable_since[host] = { at = os.time(), error = tostring(there) }
        unreachable[#unreachable + 1] = { host = host, error = tostring(there) }
      end
    end
  end
  return out, unreachable
end

---@param path string
---@param dir string
local function inside(path, dir)
  return path == dir or vim.startswith(path, dir .. "/")
end

--- The workspace of the current tab: the one it was opened for, else the one
--- whose worktree holds the current file or directory (e.g. Neovim started
--- inside a worktree). Nil when there is none.
---@return conductor.Workspace?
function M.current()
  local id = vim.t.conductor_workspace
  if id then
    local ok, ws = pcall(engine.call, "get", { workspace = id })
    if ok then
      return ws
    end
  end
  local here = vim.uv.fs_realpath(M.context_path())
  if not here then
    return nil
  end
  -- This machine's workspaces only: a host's paths are not paths here.
  local ok, all = pcall(engine.call, "list", {})
  for _, ws in ipairs(ok and all or {}) do
    local path = ws.state == "active" and not ws.host and vim.uv.fs_realpath(ws.path)
    if path and inside(here, path) then
      return ws
    end
  end
end

--- `ws` by name, or the current tab's workspace when `ws` is nil or empty.
--- Raises with a hint naming the command when there is none.
---@param ws string?
---@param command string e.g. "ConductorArchive", for the hint
---@return conductor.Workspace
function M.resolve(ws, command)
  if ws and ws ~= "" then
    return M.get(ws)
  end
  local cur = M.current()
  if not cur then
    error(("no workspace in this tab; name one: :%s {workspace}"):format(command), 0)
  end
  return cur
end

--- `text` with the repository's prompt of `kind` (`[prompts]` in its trusted settings:
--- code_review, fix_errors, resolve_conflicts) after it, as Conductor sends them.
---@param ws conductor.Workspace
---@param kind string
---@param text string
---@return string
function M.with_prompt(ws, kind, text)
  local ok, repo = pcall(engine.call, "resolve_repo", { path = ws.repo_root, workspace = ws.id })
  local extra = ok and repo.prompts and repo.prompts[kind]
  if type(extra) == "string" and vim.trim(extra) ~= "" then
    return text .. "\n\n" .. vim.trim(extra)
  end
  return text
end

return M
