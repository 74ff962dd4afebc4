-- `require("conductor").statusline()`: the current tab's workspace in a few
-- characters, "⎇ login · codex:working", for 'statusline', lualine & co.
-- A workspace made in a fanout or a comparison names its group:
-- "⎇ login-codex [login] · codex:working"; one on another machine its host:
-- "⎇ big: login · codex:working".
--
-- Called on every redraw, so it answers from a cache per tab page; the cache
-- is dropped when a workspace or an agent changes (`User Conductor*`), when
-- the directory changes or another buffer is entered. A cache miss costs at
-- most one cheap engine call (reading the state file), never git.
--
-- It never loads the engine by itself for a tab that conductor did not open,
-- unless the current file or directory is under `workspaces_root`: a plain
-- Neovim session pays nothing for having the component in its statusline.

local M = {}

local api = vim.api
local config = require("conductor.config")
local format = require("conductor.format")
local groups = require("conductor.groups")
local highlights = require("conductor.highlights")
local spotlight = require("conductor.spotlight")
local summary = require("conductor.summary")
local workspace = require("conductor.workspace")

---@class conductor.StatuslineOpts
---@field highlight? boolean wrap each agent's state in its highlight group
---                           (`%#ConductorWorking#`…`%*`), for 'statusline'

---@type table<integer, table<string, string>> tabpage -> variant -> text
local cache = {}

---@param path string
---@param dir string
local function inside(path, dir)
  return path == dir or vim.startswith(path, dir .. "/")
end

--- Forgets every cached text (the next redraw computes it again).
function M.invalidate()
  cache = {}
end

-- The workspace of the current tab, or nil, without loading the engine when
-- nothing here can be a workspace.
---@return conductor.Workspace?
local function current_workspace()
  if not vim.t.conductor_workspace then
    local root = vim.uv.fs_realpath(vim.fs.normalize(config.get().workspaces_root))
    local here = vim.uv.fs_realpath(workspace.context_path())
    if not (root and here and inside(here, root)) then
      return nil
    end
  end
  return workspace.current()
end

---@param s string
local function escape(s)
  return (s:gsub("%%", "%%%%"))
end

---@param ws conductor.Workspace?
---@param highlight boolean
---@return string
local function render(ws, highlight)
  if not ws then
    return ""
  end
  local parts = { "⎇ " .. escape(format.workspace(ws)) }
  local gok, group = pcall(groups.of, ws.id)
  if gok and group then
    parts[1] = ("%s [%s]"):format(parts[1], escape(group))
  end
  local sok, spot = pcall(spotlight.of, ws)
  if sok and spot then
    parts[1] = parts[1] .. (spot.paused and " ◎spotlight(paused)" or " ◎spotlight")
  end
  if ws.state ~= "active" then
    parts[1] = ("%s (%s)"):format(parts[1], ws.state)
  elseif ws.setup == "failed" then
    parts[#parts + 1] = "setup failed"
  end
  local agents = {}
  for _, agent in ipairs(summary.agents(ws.id)) do
    local text = escape(summary.agent_text(agent))
    local hl = highlight and highlights.group(agent.state)
    agents[#agents + 1] = hl and ("%%#%s#%s%%*"):format(hl, text) or text
  end
  if #agents > 0 then
    parts[#parts + 1] = table.concat(agents, " ")
  end
  return table.concat(parts, " · ")
end

--- The current tab's workspace and its agents' states, e.g.
--- "⎇ login · codex:working claude:waiting"; "" outside a workspace. Never
--- raises. A `%` in a name is doubled, so the text can go into 'statusline'.
---@param opts conductor.StatuslineOpts?
---@return string
function M.statusline(opts)
  local highlight = type(opts) == "table" and opts.highlight == true
  local variant = highlight and "hl" or "plain"
  local tab = api.nvim_get_current_tabpage()
  local entry = cache[tab]
  if entry and entry[variant] then
    return entry[variant]
  end
  local ok, text = pcall(function()
    return render(current_workspace(), highlight)
  end)
  text = ok and text or ""
  cache[tab] = cache[tab] or {}
  cache[tab][variant] = text
  return text
end

-- Wired when this module loads (modules load once).
do
  local group = api.nvim_create_augroup("conductor_statusline", { clear = true })
  api.nvim_create_autocmd("User", {
    group = group,
    pattern = { "ConductorAgent*", "ConductorWorkspace*", "ConductorSetup*", "ConductorSpotlight" },
    callback = function()
      M.invalidate()
      -- A native statusline does not redraw by itself on these events.
      vim.schedule(function()
        pcall(vim.cmd, "redrawstatus!")
      end)
    end,
  })
  api.nvim_create_autocmd({ "DirChanged", "BufEnter", "TabClosed" }, {
    group = group,
    callback = M.invalidate,
  })
end

return M
