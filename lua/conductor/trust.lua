-- Asking the user whether to trust the repository's config files.
--
-- A repository file (`.conductor/settings.local.toml`, `.conductor/settings.toml` as
-- committed on the workspace's base, `conductor.json`) is trusted or ignored as a whole:
-- until the user allows its exact contents, none of its scripts, environment variables or
-- prompts apply. The engine keeps the decisions, bound to the file's place in this
-- repository and its contents (a symlink to a file trusted elsewhere is not trusted here),
-- and honours Neovim's own `:trust` for a regular file whose text on disk is the same.
-- Not here: what a trusted file changes (the engine merges only trusted files).

local engine = require("conductor.engine")
local notify = require("conductor.notify")
local workspace = require("conductor.workspace")

local M = {}

---@class conductor.ConfigFile
---@field path string      the file's place: inside the repository, or ~/.conductor
---@field kind "local"|"repo"|"user"|"legacy"
---@field origin string    where the text came from: "working tree", "main @ 1a2b3c4"
---@field contents string
---@field sha256 string
---@field trust conductor.TrustStatus
---@field applied boolean
---@field has_scripts boolean
---@field ignored_keys string[]
---@field note? string     why it was not read, when it was not

---@class conductor.Repo
---@field root string
---@field name string
---@field default_branch string
---@field config_files conductor.ConfigFile[]
---@field run_scripts string[]
---@field prompts table<string, string>

---@alias conductor.TrustStatus "trusted"|"changed"|"denied"|"unknown"

---@param file conductor.ConfigFile
---@return string
function M.describe(file)
  if file.origin == "working tree" or file.kind == "user" then
    return file.path
  end
  return ("%s (as on %s)"):format(file.path, file.origin)
end

-- Shows the text the question is about in a read-only tab (it may not be the file on
-- disk: committed settings are read from the base).
---@param file conductor.ConfigFile
local function view(file)
  vim.cmd("tabnew")
  local tab = vim.api.nvim_get_current_tabpage()
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(file.contents, "\n", { plain = true }))
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = file.path:match("%.json$") and "json" or "toml"
  local where = file.origin == "working tree" and "" or (" (" .. file.origin .. ")")
  pcall(
    vim.api.nvim_buf_set_name,
    buf,
    ("conductor-trust://%s%s"):format(vim.fs.basename(file.path), where)
  )
  vim.cmd("redraw")
  return tab
end

--- Asks about one file until the user allows, denies or ignores it (for now).
---@param file conductor.ConfigFile
---@return "allow"|"deny"|"ignore"
function M.ask(file)
  local what = ({
    changed = "has changed since you trusted it",
    trusted = "is trusted",
    denied = "is denied",
  })[file.trust] or "is not trusted"
  local msg = ("conductor: %s %s; its scripts, environment and prompts apply only if you allow it"):format(
    M.describe(file),
    what
  )
  local shown
  while true do
    local choice = vim.fn.confirm(msg, "&ignore\n&view\n&deny\n&allow", 1)
    if choice == 2 then
      shown = shown or view(file)
    else
      -- The text was shown for the question only: the answer closes it.
      if shown and vim.api.nvim_tabpage_is_valid(shown) and #vim.api.nvim_list_tabpages() > 1 then
        vim.cmd("tabclose " .. vim.api.nvim_tabpage_get_number(shown))
      end
      return ({ "ignore", nil, "deny", "allow" })[choice] or "ignore"
    end
  end
end

--- Asks about every repository config file of `repo` that has no decision for its
--- present contents, and records the answers. Denied files are not asked again
--- (`:ConductorTrust` asks about them). A host's repository (`opts.host`): the text
--- shown is the file's on the host, as resolve_repo read it there, and the answer is
--- recorded by the host's engine.
---@param repo conductor.Repo resolve_repo's answer
---@param opts? { all?: boolean, host?: string } `all`: ask about denied and trusted files
---                                               too; `host`: the host `repo` is on
---@return integer asked how many questions were asked
function M.read(repo, opts)
  local asked = 0
  for _, file in ipairs(repo.config_files or {}) do
    local open = file.trust == "unknown" or file.trust == "changed"
    if file.kind ~= "user" and not file.note and (open or (opts and opts.all)) then
      asked = asked + 1
      local answer = M.ask(file)
      if answer ~= "ignore" then
        engine.call("trust", {
          host = opts and opts.host,
          path = file.path,
          sha256 = file.sha256,
          allow = answer == "allow",
        })
      end
    end
  end
  if asked > 0 then
    -- Clear the question, so the progress message that follows is not a hit-enter prompt.
    vim.cmd("redraw")
  end
  return asked
end

--- The repository of a workspace, its files as that workspace reads them, asking about
--- any undecided one.
---@param ws conductor.Workspace
function M.for_workspace(ws)
  M.read(
    engine.call("resolve_repo", { path = ws.repo_root, workspace = ws.id }),
    { host = ws.host }
  )
end

--- `:ConductorTrust [ws]`: asks again about every config file of the workspace (or of
--- the current repository), denied and trusted ones included.
---@param name? string
function M.command(name)
  local ws = (name and name ~= "") and workspace.get(name) or workspace.current()
  local repo = ws and engine.call("resolve_repo", { path = ws.repo_root, workspace = ws.id })
    or workspace.repo()
  if M.read(repo, { all = true, host = ws and ws.host }) == 0 then
    notify.info(("%s has no repository config files to trust"):format(repo.name))
  end
end

return M
