-- Making one workspace: the agent checked, the repository resolved, the trust
-- question asked, the engine's `create` on the progress line, then its tab and
-- agent. The verbs (`new`, fanout, compare) are elsewhere; this is what they share.

local M = {}

local agents = require("conductor.agent")
local config = require("conductor.config")
local engine = require("conductor.engine")
local events = require("conductor.events")
local hosts = require("conductor.hosts")
local layout = require("conductor.layout")
local notify = require("conductor.notify")
local progress = require("conductor.progress")
local trust = require("conductor.trust")
local workspace = require("conductor.workspace")

---@class conductor.CreateArgs: conductor.NewArgs
---@field task string
---@field path? string   where the repository is looked up (default: the current file's;
---                      with `host`, the host's repository: see hosts.repo_path)
---@field asked? boolean the trust question was asked already (|conductor-trust|)

--- The core of `new`, for callers that make workspaces themselves (fanout,
--- compare): checks the agent, resolves the repository, asks about trust,
--- requests the creation and, once made, opens its tab and starts its agent
--- with the task as first prompt. Never raises and never notifies the
--- outcome: `done(err, ws)` runs exactly once, with a one-line error when
--- nothing was made (possibly before this returns), else with the
--- workspace. An agent that fails to start after that is reported alone.
---@param args conductor.CreateArgs
---@param done fun(err: string?, ws: conductor.Workspace?)
function M.create(args, done)
  local ok, err = pcall(function()
    local path = args.path or workspace.context_path()
    if args.host then
      -- The repository on the host: named, or the one with the current one's origin.
      path = hosts.repo_path(hosts.get(args.host), args.repo, path)
    elseif args.repo then
      path = vim.fs.normalize(args.repo)
    end
    local repo = engine.call("resolve_repo", { host = args.host, path = path, base = args.base })
    local agent = args.agent or agents.default_name()
    -- A missing agent is refused before anything is made.
    agents.check(agent, args.host)
    local params = {
      path = path,
      task = vim.trim(args.task),
      name = args.name,
      base = args.base,
      agent = agent,
      host = args.host,
    }
    if not args.asked then
      trust.read(repo, { host = args.host })
    end
    local id
    id = engine.request("create", params, function(e, ws)
      progress.finish(id)
      if e then
        return done(e)
      end
      if config.get().open_on_create then
        local opened, oerr = pcall(layout.open, ws)
        if opened then
          notify.guard(agents.start)(ws, agent, ws.task)
        else
          notify.error(oerr)
        end
      end
      events.fire("ConductorWorkspaceCreated", ws)
      done(nil, ws)
    end)
    local where = args.host and ("%s on %s"):format(repo.name, args.host) or repo.name
    progress.begin(id, ("creating a workspace in %s…"):format(where))
  end)
  if not ok then
    done(notify.clean(err))
  end
end

return M
