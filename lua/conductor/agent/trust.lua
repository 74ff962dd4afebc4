-- Opt-in (`agents.<name>.trust_worktrees = true`): codex, claude and gemini ask to trust
-- every new folder, so every new worktree. When the user already trusts the root
-- repository in that agent's own trust record, the worktree is marked trusted there too.
-- Each record is the agent's own file; it is only added to, never rewritten otherwise.

local M = {}

local notify = require("conductor.notify")

local function read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

-- Replaces a file's contents through a temporary file, so a crash leaves old or new.
local function write_atomic(path, text)
  local tmp = path .. ".conductor-tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  assert(vim.uv.fs_rename(tmp, path))
end

local function toml_key(path)
  return '[projects."' .. path:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"]'
end

--- codex: `projects."<path>".trust_level = "trusted"` in $CODEX_HOME/config.toml.
function M.codex(root, worktree)
  local file = (vim.env.CODEX_HOME or (vim.env.HOME .. "/.codex")) .. "/config.toml"
  local text = read(file)
  if not text then
    return false
  end
  local section = text:match(vim.pesc(toml_key(root)) .. "%s*\n(.-)\n%s*%[")
    or text:match(vim.pesc(toml_key(root)) .. "%s*\n(.*)$")
  if not section or not section:match('trust_level%s*=%s*"trusted"') then
    return false
  end
  if text:find(toml_key(worktree), 1, true) then
    return true
  end
  local sep = text:sub(-1) == "\n" and "" or "\n"
  write_atomic(file, text .. sep .. "\n" .. toml_key(worktree) .. '\ntrust_level = "trusted"\n')
  return true
end

--- claude: `projects[path].hasTrustDialogAccepted` in ~/.claude.json.
function M.claude(root, worktree)
  local file = vim.env.HOME .. "/.claude.json"
  local text = read(file)
  if not text then
    return false
  end
  local ok, data = pcall(vim.json.decode, text)
  if not ok or type(data) ~= "table" or type(data.projects) ~= "table" then
    return false
  end
  local rootp = data.projects[root]
  if type(rootp) ~= "table" or rootp.hasTrustDialogAccepted ~= true then
    return false
  end
  local wt = data.projects[worktree]
  if type(wt) == "table" and wt.hasTrustDialogAccepted == true then
    return true
  end
  data.projects[worktree] =
    vim.tbl_extend("force", type(wt) == "table" and wt or {}, { hasTrustDialogAccepted = true })
  write_atomic(file, vim.json.encode(data))
  return true
end

--- gemini: trusts the folder it starts in when GEMINI_CLI_TRUST_WORKSPACE=true; given
--- only when the root is in ~/.gemini/trustedFolders.json.
function M.gemini(root)
  local text = read(vim.env.HOME .. "/.gemini/trustedFolders.json")
  local ok, data = pcall(vim.json.decode, text or "")
  if
    ok
    and type(data) == "table"
    and type(data[root]) == "string"
    and data[root]:match("^TRUST")
  then
    return { GEMINI_CLI_TRUST_WORKSPACE = "true" }
  end
  return false
end

--- Applies the agent's trust kind (`def.trust`: "codex" | "claude" | "gemini") for a
--- workspace; returns extra environment for the agent, if any.
---@return table<string,string>?
function M.apply(def, ws)
  if not def.trust_worktrees or not def.trust or not M[def.trust] then
    return nil
  end
  if ws.host then
    -- The agent's trust files are in the host's home, not this one's: there the
    -- agent asks about the worktree itself.
    return nil
  end
  local ok, result = pcall(M[def.trust], ws.repo_root, ws.path)
  if not ok then
    notify.warn(("could not mark %s trusted for %s: %s"):format(ws.path, def.trust, result))
    return nil
  end
  return type(result) == "table" and result or nil
end

return M
