-- Making many workspaces at once: a few creations at a time (`fanout.concurrency`),
-- one progress line while they run, one summary at the end. A failed job never
-- stops the others. Used by the buffer of tasks, GitHub issues and compare.

local M = {}

local config = require("conductor.config")
local create = require("conductor.create")
local engine = require("conductor.engine")
local groups = require("conductor.groups")
local hosts = require("conductor.hosts")
local notify = require("conductor.notify")
local progress = require("conductor.progress")
local trust = require("conductor.trust")

---@class conductor.FanoutJob: conductor.CreateArgs
---@field label string   how the summary names the task
---@field error? string  why it cannot be made at all (it is then not tried)

---@class conductor.FanoutResult
---@field job conductor.FanoutJob
---@field err? string
---@field ws? conductor.Workspace

---@class conductor.FanoutOpts
---@field group string          group the workspaces join (made when missing)
---@field kind "fanout"|"compare"
---@field task? string          the comparison's task
---@field path string           where the repository is looked up
---@field host? string          make them on this host (|conductor-hosts|): its repository
---                             named by `repo`, or the one with `path`'s origin
---@field repo? string          with `host`: a short name or a path there
---@field on_each? fun(i: integer, err: string?, ws: conductor.Workspace?)
---@field on_done? fun(results: conductor.FanoutResult[])
---@field hint? string          added to the summary when something was made

--- Makes one workspace per job in `opts.path`'s repository (or on `opts.host`), never more than
--- `fanout.concurrency` creations at once. The trust question (if any) is
--- asked once for all. Shows "n of N created" while it runs and one summary
--- at the end (an error naming each failure and its reason, when there is
--- one). Raises only when the repository cannot be resolved.
---@param jobs conductor.FanoutJob[]
---@param opts conductor.FanoutOpts
function M.run(jobs, opts)
  local path, where = opts.path, {}
  if opts.host then
    -- Resolved once for all: each job names the host's repository by its path there.
    path = hosts.repo_path(hosts.get(opts.host), opts.repo, opts.path)
    where = { host = opts.host, repo = path }
  end
  local repo =
    engine.call("resolve_repo", { host = opts.host, path = path, base = jobs[1] and jobs[1].base })
  trust.read(repo, { host = opts.host })
  local limit = math.max(1, config.get().fanout.concurrency)
  groups.create(opts.group, opts.kind, opts.task)
  local key = {} -- this run's progress line
  local results = {} ---@type conductor.FanoutResult[]
  local next_job, running, finished, made = 1, 0, 0, 0

  local function show()
    progress.begin(
      key,
      ("%s: %d of %d created, %d in progress…"):format(opts.group, made, #jobs, running)
    )
  end

  local function summary()
    progress.finish(key)
    local failed = {}
    local names = {}
    for _, r in ipairs(results) do
      if r.err then
        failed[#failed + 1] = ("%s: %s"):format(r.job.label, r.err)
      else
        names[#names + 1] = r.ws.name
      end
    end
    local msg = ("%s: %d of %d created"):format(opts.group, made, #jobs)
    if #names > 0 then
      msg = ("%s (%s)"):format(msg, table.concat(names, ", "))
    end
    if #failed > 0 then
      msg = ("%s; %d failed: %s"):format(msg, #failed, table.concat(failed, "; "))
    end
    if made > 0 and opts.hint then
      msg = msg .. "; " .. opts.hint
    end
    if made == 0 then
      local g = groups.get(opts.group)
      if g and #g.workspaces == 0 then
        groups.remove(opts.group)
      end
    end
    if #failed > 0 then
      notify.error(msg)
    else
      notify.info(msg)
    end
  end

  local pump
  local function finish(i, err, ws)
    running = running - 1
    finished = finished + 1
    results[i] = { job = jobs[i], err = err, ws = ws }
    if ws then
      made = made + 1
      pcall(groups.add, opts.group, ws.id)
    end
    if opts.on_each then
      notify.guard(opts.on_each)(i, err, ws)
    end
    if finished == #jobs then
      summary()
      if opts.on_done then
        notify.guard(opts.on_done)(results)
      end
    else
      show()
      pump()
    end
  end

  -- Re-entrant: a job refused at once (missing agent) finishes inside
  -- `create.create` and pumps again.
  pump = function()
    while running < limit and next_job <= #jobs do
      local i = next_job
      next_job = i + 1
      running = running + 1
      local job = vim.tbl_extend("force", { path = opts.path, asked = true }, where, jobs[i])
      if job.error then
        finish(i, job.error)
      else
        create.create(job, function(err, ws)
          finish(i, err, ws)
        end)
      end
    end
  end

  if #jobs == 0 then
    return
  end
  pump()
  if finished < #jobs then
    show()
  end
end

return M
