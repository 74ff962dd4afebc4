-- Many tasks at once: `:ConductorFanout` opens a buffer of tasks, one per
-- paragraph; writing it makes one workspace per task (its agent started with
-- the task as first prompt), a few at a time. `:ConductorFanout --gh` does the
-- same for GitHub issues chosen from a list.
--
-- The parts: fanout/tasks.lua (the buffer of tasks), fanout/github.lua (the issue
-- picker), fanout/scheduler.lua (making the workspaces a few at a time, the way
-- |:ConductorNew| makes one: create.lua).
--
-- Not here: one task raced across agents (compare/start.lua), which uses the scheduler.

local M = {}

local api = vim.api
local github = require("conductor.fanout.github")
local hosts = require("conductor.hosts")
local notify = require("conductor.notify")
local scheduler = require("conductor.fanout.scheduler")
local tasks = require("conductor.fanout.tasks")

M.run = scheduler.run
M.parse = tasks.parse
M.write = tasks.write
M.buffer = tasks.buffer
M.issue_job = github.issue_job
M.from_github = github.from_github

---@class conductor.FanoutArgs
---@field gh? boolean choose GitHub issues instead of writing tasks
---@field host? string make the workspaces on this host (|conductor-hosts|)

--- `:ConductorFanout`: shows the buffer of tasks (a split, or its window when
--- it is already on screen). With `gh`: GitHub issues instead (see
--- |:ConductorFanout|).
---@param opts conductor.FanoutArgs?
function M.fanout(opts)
  opts = type(opts) == "table" and opts or {}
  if opts.host then
    hosts.get(opts.host) -- an unknown host is refused before anything opens
  end
  if opts.gh then
    return github.from_github(opts.host)
  end
  local buf = tasks.buffer(opts.host)
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(win) == buf then
      api.nvim_set_current_win(win)
      return
    end
  end
  vim.cmd("split")
  api.nvim_win_set_buf(0, buf)
  local last = api.nvim_buf_line_count(buf)
  api.nvim_win_set_cursor(0, { last, 0 })
end

M.fanout = notify.guard(M.fanout)

return M
