-- Which repository config files the user trusts to run scripts.
--
-- Trust is Neovim's own (`vim.secure`, the `:trust` database), not ours: a file
-- the user allowed once stays allowed until its contents change. The engine
-- gets the contents the user saw and runs a repository script only when the
-- file still has exactly those contents.

local M = {}

---@class conductor.ConfigFile
---@field path string
---@field has_scripts boolean

---@class conductor.Repo
---@field root string
---@field name string
---@field default_branch string
---@field config_files conductor.ConfigFile[]

--- Asks (through `vim.secure.read`, which prompts only for files it does not
--- know yet or whose contents changed) about every config file that defines
--- scripts. Denied, ignored or unreadable files are left out.
---@param repo conductor.Repo resolve_repo's answer
---@return table<string, string> trusted path -> contents
function M.read(repo)
  local trusted = {}
  local asked = false
  for _, file in ipairs(repo.config_files or {}) do
    if file.has_scripts then
      asked = asked or M.status(file.path) ~= "trusted"
      local contents = vim.secure.read(file.path)
      if type(contents) == "string" then
        trusted[file.path] = contents
      end
    end
  end
  if asked then
    -- Clear the question, so the progress message that follows is not a hit-enter prompt.
    vim.cmd("redraw")
  end
  return trusted
end

---@alias conductor.TrustStatus "trusted"|"changed"|"denied"|"unknown"|"missing"

--- The trust of one file as `vim.secure.read` would see it, without asking.
--- For `:checkhealth`, which must not prompt.
---@param path string
---@return conductor.TrustStatus
function M.status(path)
  local full = vim.uv.fs_realpath(vim.fs.normalize(path))
  if not full then
    return "missing"
  end
  local hash
  local db = io.open(vim.fn.stdpath("state") .. "/trust", "r")
  if db then
    for line in db:lines() do
      local h, file = line:match("^(%S+) (.+)$")
      if file == full then
        hash = h
      end
    end
    db:close()
  end
  if not hash then
    return "unknown"
  elseif hash == "!" then
    return "denied"
  end
  local f = io.open(full, "r")
  local contents = f and f:read("*a")
  if f then
    f:close()
  end
  if contents and vim.fn.sha256(contents) == hash then
    return "trusted"
  end
  return "changed"
end

return M
