-- The workspace lifecycle verbs: new, open, archive, restore, delete, rerun
-- setup. Each asks what only the user can answer (task, trust, confirmation)
-- on the main thread, then hands one request to the engine and, when it
-- answers, updates the screen, fires the `User` event and says what happened.
--
-- Errors never escape as tracebacks: every verb is wrapped so that a failure
-- is one "conductor: ..." error notification, from a command or from Lua.

local M = {}

local agents = require("conductor.agent")
local compare_start = require("conductor.compare.start")
local create = require("conductor.create")
local events = require("conductor.events")
local format = require("conductor.format")
local layout = require("conductor.layout")
local notify = require("conductor.notify")
local picker = require("conductor.picker")
local progress = require("conductor.progress")
local remote_file = require("conductor.review.remote_file")
local trust = require("conductor.trust")
local workspace = require("conductor.workspace")

-- One engine request, shown on the progress line while it runs. `on_ok` runs
-- only on success; an error from the engine (or from `on_ok`) is notified.
---@param method string
---@param params table
---@param label string progress text
---@param on_ok fun(result: any)
local function request(method, params, label, on_ok)
  progress.request(method, params, label, function(err, result)
    if err then
      notify.error(err)
    else
      on_ok(result)
    end
  end)
end

---@param ws conductor.Workspace
local function must_be_active(ws)
  if ws.state == "archived" then
    error(
      ("%s is archived; restore it with :ConductorRestore %s"):format(
        format.workspace(ws),
        format.workspace_ref(ws)
      ),
      0
    )
  elseif ws.state == "creating" then
    error(("%s is still being created"):format(format.workspace(ws)), 0)
  end
end

---@param name string?
---@param command string
local function need_name(name, command)
  if not name or name == "" then
    error(("name a workspace: :%s {workspace}"):format(command), 0)
  end
end

---@class conductor.NewArgs
---@field task? string   what the agent should do; asked for when missing
---@field name? string   workspace name (default: from the task)
---@field base? string   base branch (default: the repository's default branch)
---@field agent? string  agent to start (default: `default_agent`); several,
---                      comma-separated, make a comparison (|:ConductorCompare|)
---@field host? string   make it on this configured host (|conductor-hosts|)
---@field repo? string   the repository: a path, or with `host` one of its short names

M.create = create.create

--- Creates a workspace for a task: a worktree on a new branch, from the
--- repository of the current file (or cwd). Asks for the task when none is
--- given; an empty or cancelled answer does nothing. Several agents
--- (`agent = "codex,claude"`) make one workspace each, as a comparison.
---@param args conductor.NewArgs?
function M.new(args)
  args = args or {}
  if not args.task or vim.trim(args.task) == "" then
    vim.ui.input({ prompt = "conductor task: " }, function(input)
      if input and vim.trim(input) ~= "" then
        M.new(vim.tbl_extend("force", args, { task = input }))
      end
    end)
    return
  end
  if args.agent and args.agent:find("[,*]") then
    local names = compare_start.agent_list(args.agent)
    if #names >= 2 then
      return compare_start.new(args, names)
    end
    args = vim.tbl_extend("force", args, { agent = names[1] })
  end
  create.create(args --[[@as conductor.CreateArgs]], function(err, ws)
    if err then
      return notify.error(err)
    end
    local where = ws.host and ("%s:%s"):format(ws.host, ws.path) or ws.path
    notify.info(("created %s on branch %s (%s)"):format(ws.name, ws.branch, where))
  end)
end

--- Goes to a workspace's tab (made on first open, `:tcd` to its worktree).
--- Without a name, shows the picker.
---@param name string?
function M.open(name)
  if not name or name == "" then
    return picker.pick()
  end
  local ws = workspace.get(name)
  must_be_active(ws)
  layout.open(ws)
  M.resume_agent(ws)
end

--- Shows the workspace's terminals that run in the engine (another Neovim's, or this
--- one's from before a restart); when none of its agents runs at all, starts them again
--- with their resume arguments: the ones that ran when it was archived, else the one it
--- was made with.
---@param ws conductor.Workspace
function M.resume_agent(ws)
  agents.adopt(ws)
  local live = vim.tbl_filter(function(e)
    return e.state ~= "exited"
  end, agents.list(ws.id, "agent"))
  if #live > 0 then
    -- Its terminal may have been closed: closing a window never stops an agent.
    if #vim.fn.win_findbuf(live[1].buf) == 0 then
      agents.show(live[1].id)
    end
    return
  end
  local names = ws.agents and #ws.agents > 0 and ws.agents or { ws.agent }
  for _, name in ipairs(names) do
    notify.guard(agents.start)(ws, name, nil, { resume = true })
  end
end

---@param bytes integer
---@return string
local function size(bytes)
  local units = { "B", "KB", "MB", "GB", "TB" }
  local i = 1
  while bytes >= 1024 and i < #units do
    bytes, i = bytes / 1024, i + 1
  end
  return i == 1 and ("%d B"):format(bytes) or ("%.1f %s"):format(bytes, units[i])
end

--- The confirmation archive asks, from the engine's preview: uncommitted
--- changes (kept), ignored content that goes (largest first, with sizes) and
--- ignored files kept in the snapshot. Nil when there is nothing to say.
--- (Not on `M`: its functions are wrapped as verbs, which return nothing.)
---@param ws conductor.Workspace
---@param preview { dirty: boolean, changes: integer, ignored: { path: string, bytes: integer }[], ignored_bytes: integer, kept: string[] }
---@return string?
local function archive_question(ws, preview)
  local lines = {}
  if preview.dirty then
    lines[#lines + 1] = (
      "%s has %d uncommitted change(s); they are kept in a snapshot"
      .. " and come back on :ConductorRestore."
    ):format(format.workspace(ws), preview.changes or 0)
  end
  local ignored = preview.ignored or {}
  if #ignored > 0 then
    local shown = {}
    for i = 1, math.min(#ignored, 5) do
      shown[i] = ("%s (%s)"):format(ignored[i].path, size(ignored[i].bytes))
    end
    if #ignored > 5 then
      shown[#shown + 1] = ("and %d more"):format(#ignored - 5)
    end
    lines[#lines + 1] = ("Ignored content is deleted, %s in all: %s."):format(
      size(preview.ignored_bytes or 0),
      table.concat(shown, ", ")
    )
  end
  if #lines == 0 then
    return nil
  end
  local kept = preview.kept or {}
  if #kept > 0 then
    lines[#lines + 1] = ("Kept and restored: %s."):format(table.concat(kept, ", "))
  end
  return ("Archive %s?\n%s"):format(format.workspace(ws), table.concat(lines, "\n"))
end

--- Archives a workspace (default: the current tab's): stops its processes,
--- runs the archive script, snapshots uncommitted work, removes the worktree,
--- keeps the branch. Asks first when it has uncommitted changes or ignored
--- content that would be deleted, and refuses while its files have unsaved
--- buffers, unless `force`.
---@param name string?
---@param force boolean?
function M.archive(name, force)
  local ws = workspace.resolve(name, "ConductorArchive")
  must_be_active(ws)
  -- (On another machine, its files' buffers are remote_file.lua's.)
  local unsaved = #layout.modified_buffers(ws) + #remote_file.modified_buffers(ws)
  if unsaved > 0 and not force then
    error(
      ("%s has %d unsaved buffer(s): write them (:wall) or use :ConductorArchive! %s"):format(
        format.workspace(ws),
        unsaved,
        format.workspace_ref(ws)
      ),
      0
    )
  end

  local function archive()
    trust.for_workspace(ws)
    local running = {}
    for _, e in ipairs(agents.list(ws.id, "agent")) do
      if e.state ~= "exited" then
        running[#running + 1] = e.name
      end
    end
    -- (None: no key, as an empty table would go as a map, not a list.)
    local params = { workspace = ws.id, agents = #running > 0 and running or nil }
    request("archive", params, ("archiving %s…"):format(format.workspace(ws)), function(archived)
      -- Its agents were stopped with it: no "exited" entries left behind in lists.
      agents.forget_workspace(ws.id)
      layout.close(archived)
      events.fire("ConductorWorkspaceArchived", archived)
      notify.info(
        ("archived %s; branch %s kept, :ConductorRestore %s brings it back"):format(
          format.workspace(archived),
          archived.branch,
          format.workspace_ref(archived)
        )
      )
    end)
  end

  if force then
    return archive()
  end
  request(
    "archive_preview",
    { workspace = ws.id },
    ("checking %s…"):format(format.workspace(ws)),
    function(preview)
      local question = archive_question(ws, preview)
      if question and vim.fn.confirm(question, "&Archive\n&Cancel", 2) ~= 1 then
        return
      end
      archive()
    end
  )
end

--- Brings an archived workspace back exactly (uncommitted work included),
--- reruns its setup and opens it.
---@param name string
function M.restore(name)
  need_name(name, "ConductorRestore")
  local ws = workspace.get(name)
  if ws.state ~= "archived" then
    error(
      ("%s is not archived; open it with :ConductorOpen %s"):format(
        format.workspace(ws),
        format.workspace_ref(ws)
      ),
      0
    )
  end
  trust.for_workspace(ws)
  local params = { workspace = ws.id }
  request("restore", params, ("restoring %s…"):format(format.workspace(ws)), function(restored)
    layout.open(restored)
    M.resume_agent(restored)
    events.fire("ConductorWorkspaceRestored", restored)
    notify.info(("restored %s on branch %s"):format(format.workspace(restored), restored.branch))
  end)
end

--- Deletes a workspace for good, branch included, after asking. A backup ref
--- keeps the branch's commits reachable.
---@param name string
function M.delete(name)
  need_name(name, "ConductorDelete!")
  local ws = workspace.get(name)
  local worktree = ws.state == "archived" and ""
    or ("Its worktree %s will be removed.\n"):format(
      ws.host and (ws.host .. ":" .. ws.path) or ws.path
    )
  local question = (
    "Delete workspace %s?\n%sIts branch %s will be deleted;"
    .. " a backup ref (refs/conductor/deleted/%s) is kept."
  ):format(format.workspace(ws), worktree, ws.branch, ws.id)
  if vim.fn.confirm(question, "&Delete\n&Cancel", 2) ~= 1 then
    return
  end
  request(
    "delete",
    { workspace = ws.id },
    ("deleting %s…"):format(format.workspace(ws)),
    function(res)
      agents.forget_workspace(ws.id)
      layout.close(ws)
      local backup = res.backup_ref
      ws.backup_ref = backup
      events.fire("ConductorWorkspaceDeleted", ws)
      if backup then
        notify.info(
          ("deleted %s and branch %s; `git branch %s %s` brings the branch back"):format(
            format.workspace(ws),
            ws.branch,
            ws.branch,
            backup
          )
        )
      else
        notify.info(("deleted %s and branch %s"):format(format.workspace(ws), ws.branch))
      end
    end
  )
end

--- Runs the setup script of a workspace (default: the current tab's) again.
---@param name string?
function M.rerun_setup(name)
  local ws = workspace.resolve(name, "ConductorSetup")
  must_be_active(ws)
  trust.for_workspace(ws)
  local params = { workspace = ws.id }
  -- The script's own events report how it goes.
  request(
    "run_setup",
    params,
    ("starting setup of %s…"):format(format.workspace(ws)),
    function() end
  )
end

for name, fn in pairs(M) do
  M[name] = notify.guard(fn)
end

return M
