-- `:Conductor`: every workspace of every repository in one `vim.ui.select`
-- list (so the user's picker UI — telescope, fzf-lua, snacks, dressing —
-- shows it), then what to do with the chosen one in a second list. Workspaces
-- on other machines (|conductor-hosts|) are in the same list, named "big: name";
-- a host that cannot be reached is named in one warning and left out.
--
-- Also the data the telescope extension shows: the workspaces in picker
-- order, a row's cells and a workspace's actions. Opening the picker reads
-- the state file through the engine and the agents' states from memory; it
-- never waits on git.

local M = {}

local agent_commands = require("conductor.agent.commands")
local conductor = require("conductor")
local engine = require("conductor.engine")
local format = require("conductor.format")
local groups = require("conductor.groups")
local notify = require("conductor.notify")
local summary = require("conductor.summary")
local workspace = require("conductor.workspace")

---@param path string
---@param dir string
local function inside(path, dir)
  return path == dir or vim.startswith(path, dir .. "/")
end

-- The repository root the user is in, found among the known workspaces by
-- path alone (no git): the repository, or one of its worktrees, that holds
-- the current file or directory.
---@param list conductor.Workspace[]
---@return string?
local function current_repo(list)
  local raw = workspace.context_path()
  local real = vim.uv.fs_realpath(raw) or raw
  local best, best_len = nil, -1
  for _, ws in ipairs(list) do
    -- A host's paths are not paths here.
    local dirs = ws.host and {} or { ws.repo_root, ws.state ~= "archived" and ws.path or nil }
    for _, dir in ipairs(dirs) do
      if (inside(raw, dir) or inside(real, dir)) and #dir > best_len then
        best, best_len = ws.repo_root, #dir
      end
    end
  end
  return best
end

--- Every workspace, here and on the configured hosts, in picker order: the
--- current repository's first, then the others by repository name (this
--- machine's before the hosts'); in each repository active ones (oldest first),
--- then archived ones. Also the hosts that could not be reached.
---@param opts? { connected_only?: boolean } only the hosts already connected (a refresh)
---@return conductor.Workspace[] list, { host: string, error: string }[] unreachable
function M.items(opts)
  local list, unreachable = workspace.list_all(true, opts and opts.connected_only)
  local here = current_repo(list)
  local rank = {}
  for i, ws in ipairs(list) do
    rank[ws] = {
      (not ws.host and ws.repo_root == here) and 0 or 1,
      ws.repo_name or "",
      ws.host or "",
      ws.repo_root or "",
      ws.state == "archived" and 1 or 0,
      i,
    }
  end
  table.sort(list, function(a, b)
    local x, y = rank[a], rank[b]
    for k = 1, #x do
      if x[k] ~= y[k] then
        return x[k] < y[k]
      end
    end
    return false
  end)
  return list, unreachable
end

--- Says, in one warning, which hosts could not be reached (their workspaces are not
--- listed), with the first one's reason.
---@param unreachable { host: string, error: string }[]
function M.warn_unreachable(unreachable)
  if #unreachable == 0 then
    return
  end
  local names = vim.tbl_map(function(u)
    return u.host
  end, unreachable)
  notify.warn(
    ("not listed: the workspaces of %s (%s)"):format(
      table.concat(names, ", "),
      unreachable[1].error
    )
  )
end

---@class conductor.Cells
---@field name string
---@field group string    "⊞login": the fanout or comparison it was made in, or ""
---@field repo string
---@field branch string
---@field agents string   "codex:working claude:idle", or ""
---@field stat string     "+12 -3" from the last change list, or ""
---@field port string     ":55000", or ""
---@field checks string   "checks ok" / "checks failed", or ""
---@field pr string       "PR" when a pull request was opened, or ""
---@field state string    "active", "active, setup failed", "archived", …

--- What a picker row shows of a workspace.
---@param ws conductor.Workspace
---@return conductor.Cells
function M.cells(ws)
  local ok, group = pcall(function()
    return groups.of(ws.id)
  end)
  return {
    name = format.workspace(ws),
    group = ok and group and ("⊞" .. group) or "",
    repo = ws.repo_name or "",
    branch = ws.branch or "",
    agents = summary.agents_text(summary.agents(ws.id)),
    stat = summary.stat_text(ws),
    port = ws.port and (":" .. ws.port) or "",
    checks = ws.checks and (ws.checks.ok and "checks ok" or "checks failed") or "",
    pr = ws.pr_url and "PR" or "",
    state = summary.state_text(ws),
  }
end

M.columns = { "name", "group", "repo", "branch", "agents", "stat", "port", "checks", "pr", "state" }

--- Rows "name  repo  branch  agents  port  state", columns aligned; a
--- column that is empty in every row is left out.
---@param list conductor.Workspace[]
---@return string[]
function M.rows(list)
  local cells, width = {}, {}
  for i, ws in ipairs(list) do
    cells[i] = M.cells(ws)
  end
  local cols = {}
  for _, key in ipairs(M.columns) do
    local w = 0
    for _, c in ipairs(cells) do
      w = math.max(w, vim.fn.strdisplaywidth(c[key]))
    end
    if w > 0 then
      cols[#cols + 1], width[key] = key, w
    end
  end
  local rows = {}
  for i, c in ipairs(cells) do
    local parts = {}
    for j, key in ipairs(cols) do
      local s = c[key]
      parts[j] = j == #cols and s or s .. (" "):rep(width[key] - vim.fn.strdisplaywidth(s))
    end
    rows[i] = table.concat(parts, "  ")
  end
  return rows
end

---@class conductor.Action
---@field id string      "open", "agent", "review", "run", "log", "archive", "restore", "delete"
---@field label string   what the action list shows
---@field run fun()

-- A verb of the front door (init.lua: the picker offers every feature's verb, so it
-- goes through the one table that names them all), or the agent commands' own
-- (`agent`, `run`: they act on the current workspace).
---@param name string
---@return function
local function verb(name)
  if name == "agent" or name == "run" then
    return agent_commands[name]
  end
  return conductor[name]
end

--- What can be done with a workspace, the default (open, or restore for an
--- archived one) first.
---@param ws conductor.Workspace
---@return conductor.Action[]
function M.actions(ws)
  local out = {}
  local function add(id, label, run)
    out[#out + 1] = { id = id, label = ("%s %s"):format(label, format.workspace(ws)), run = run }
  end
  if ws.state == "active" then
    add("open", "open", function()
      conductor.open(ws.id)
    end)
    local agent, review, run = verb("agent"), verb("review"), verb("run")
    if agent then
      add("agent", "new agent in", function()
        conductor.open(ws.id)
        agent()
      end)
    end
    if review then
      add("review", "review", function()
        review(ws.id)
      end)
    end
    -- Only where the repository (or setup()) has a run script to run.
    local rok, runs = pcall(engine.call, "run_scripts", { workspace = ws.id })
    if run and rok and type(runs) == "table" and #runs > 0 then
      add("run", "run the run script of", function()
        conductor.open(ws.id)
        run()
      end)
    end
    add("archive", "archive", function()
      conductor.archive(ws.id)
    end)
  elseif ws.state == "archived" then
    add("restore", "restore", function()
      conductor.restore(ws.id)
    end)
  end
  add("log", "script log of", function()
    conductor.log(ws.id)
  end)
  add("delete", "delete", function()
    conductor.delete(ws.id)
  end)
  return out
end

--- The action list for one workspace.
---@param ws conductor.Workspace
function M.choose_action(ws)
  local actions = M.actions(ws)
  vim.ui.select(actions, {
    prompt = format.workspace(ws),
    kind = "conductor_action",
    format_item = function(a)
      return a.label
    end,
  }, function(action)
    if action then
      notify.guard(action.run)()
    end
  end)
end

---@class conductor.PickOpts
---@field archived? boolean list the archived workspaces instead of the others

-- The last row of the list when archived workspaces are left out.
---@class conductor.MoreRow
---@field more integer how many are archived

--- Shows the workspace picker: active (and creating) workspaces, plus a last
--- row leading to the archived ones; with `archived`, the archived ones only.
---@param opts conductor.PickOpts?
function M.pick(opts)
  local archived = type(opts) == "table" and opts.archived == true
  local all, unreachable = M.items()
  M.warn_unreachable(unreachable)
  if #all == 0 then
    notify.info("no workspaces yet; make one with :ConductorNew {task}")
    return
  end
  local shown, hidden = {}, 0
  for _, ws in ipairs(all) do
    if (ws.state == "archived") == archived then
      shown[#shown + 1] = ws
    else
      hidden = hidden + 1
    end
  end
  if #shown == 0 then
    if archived then
      notify.info("no archived workspaces")
      return
    end
    return M.pick({ archived = true })
  end
  local rows = M.rows(shown)
  local row_of = {}
  for i, ws in ipairs(shown) do
    row_of[ws] = rows[i]
  end
  local choices = vim.list_extend({}, shown)
  if not archived and hidden > 0 then
    choices[#choices + 1] = { more = hidden }
  end
  vim.ui.select(choices, {
    prompt = archived and "conductor: archived workspaces" or "conductor workspaces",
    kind = "conductor_workspace",
    format_item = function(item)
      if item.more then
        return ("… %d archived workspace%s"):format(item.more, item.more == 1 and "" or "s")
      end
      return row_of[item]
    end,
  }, function(item)
    if not item then
      return
    end
    -- After this picker has closed: a picker UI may not open another from
    -- inside its own callback.
    vim.schedule(function()
      if item.more then
        M.pick({ archived = true })
      else
        M.choose_action(item)
      end
    end)
  end)
end

M.pick = notify.guard(M.pick)

return M
