-- conductor.nvim's public Lua API.
--
-- `require("conductor")` loads nothing else: each verb's module (and the Rust
-- engine behind it) loads on first use, through the metatable below. Calling
-- `setup()` is optional; without it the defaults apply.
--
-- Every verb reports its errors as one "conductor: ..." notification and
-- returns nothing; what happens later is announced by `User` autocmds
-- (see |conductor-events|).

---@class conductor
---@field new fun(args?: conductor.NewArgs)        Create a workspace for a task.
---@field open fun(ws?: string)                    Go to a workspace's tab (picker without a name).
---@field pick fun(opts?: conductor.PickOpts)      Pick a workspace, then an action (vim.ui.select).
---@field archive fun(ws?: string, force?: boolean) Archive a workspace (default: current tab's).
---@field restore fun(ws: string)                  Restore an archived workspace.
---@field delete fun(ws: string)                   Delete a workspace and its branch, after asking.
---@field log fun(ws?: string)                     Open a workspace's script log.
---@field rerun_setup fun(ws?: string)             Run a workspace's setup script again.
---@field statusline fun(opts?: conductor.StatuslineOpts): string Current tab's workspace, agents.
---@field tab_label fun(tabnr?: integer): string? Workspace name of a tab, for your own tabline.
---@field fanout fun(opts?: conductor.FanoutArgs)   The buffer of tasks (`gh`: GitHub issues) to make many workspaces.
---@field compare fun(group?: string)              Compare a group's workspaces in a tab.
---@field review fun(ws?: string, opts?: conductor.ReviewOpts) Review a workspace's changes in a tab.
---@field send_comments fun(ws?: string)           Send the unsent review comments to the agent.
---@field check fun(ws?: string)                   Run a workspace's checks.
---@field merge fun(ws?: string, strategy?: "squash"|"ff"|"merge") Merge into the base branch.
---@field pr fun(ws?: string)                      Open a pull request for a workspace's branch.
local M = {}

--- Sets the options (see |conductor-options|). Invalid options are reported
--- (naming the field) and leave the previous ones in place.
---@param opts conductor.Options?
---@return boolean ok
function M.setup(opts)
  -- Required here, not at the top: `require("conductor")` must load nothing (startup).
  local config = require("conductor.config")
  local err = config.set(opts)
  if err then
    require("conductor.notify").error(err)
    return false
  end
  -- A running engine takes the new options; a stopped one reads them at start.
  local engine = package.loaded["conductor.engine"]
  if engine then
    local ok, e = pcall(engine.update)
    if not ok then
      require("conductor.notify").error(e)
      return false
    end
  end
  return true
end

-- Which module provides each verb.
local provider = {
  new = "conductor.actions",
  open = "conductor.actions",
  archive = "conductor.actions",
  restore = "conductor.actions",
  delete = "conductor.actions",
  rerun_setup = "conductor.actions",
  pick = "conductor.picker",
  statusline = "conductor.statusline",
  tab_label = "conductor.tabline",
  log = "conductor.script_log",
  fanout = "conductor.fanout",
  compare = "conductor.compare",
  review = "conductor.review",
  send_comments = "conductor.review",
  check = "conductor.ship.checks",
  merge = "conductor.ship.merge",
  pr = "conductor.ship.pr",
}

--- The workspace of the current tab (or whose worktree holds the current
--- file), or nil. Never raises.
---@return conductor.Workspace?
function M.current()
  -- Lazy for startup, like the verbs below.
  local ok, ws = pcall(require("conductor.workspace").current)
  return ok and ws or nil
end

return setmetatable(M, {
  __index = function(t, key)
    local mod = provider[key]
    if mod then
      -- The one place a verb's module loads: on its first use, never at startup.
      local fn = require(mod)[key]
      rawset(t, key, fn)
      return fn
    end
  end,
})
