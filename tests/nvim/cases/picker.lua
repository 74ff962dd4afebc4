-- Finding and seeing everything: the picker's rows and actions through vim.ui.select (as a
-- user's picker would receive them), the statusline component, highlight groups,
-- :checkhealth (missing default agent, stale library) and the help tags.
local T = require("harness")
local api = vim.api
local repo = vim.env.CONDUCTOR_TEST_REPO
local repo2 = vim.env.CONDUCTOR_TEST_REPO2
local lazy = vim.env.CONDUCTOR_TEST_LAZY -- a copy of the plugin, as lazy.nvim installs it
for _, e in ipairs({
  "ConductorWorkspaceCreated",
  "ConductorWorkspaceArchived",
  "ConductorWorkspaceRestored",
}) do
  T.record(e)
end

local function created(name)
  return T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name == name
  end, "workspace " .. name .. " created")
end

-- Three workspaces in two repositories, made the way a user makes them.
local login, signup, docs
T.case("Three workspaces in two repositories, made the way a user makes them", function()
  vim.cmd("ConductorNew --name=login fix the flaky login test")
  login = created("login")
  vim.cmd("tabfirst")
  vim.cmd("ConductorNew --name=signup add a signup form")
  signup = created("signup")
  vim.cmd("tabnew")
  vim.cmd("tcd " .. vim.fn.fnameescape(repo2))
  vim.cmd("ConductorNew --name=api-docs document the api")
  docs = created("api-docs")
  T.eq(docs.repo_root, repo2, "third workspace is in the second repository")
end)

-- vim.ui.select as a user's picker receives it: every call recorded; `answer(kind, items,
-- rows)` picks the item (nil = cancel).
local calls = {}
local answer = function() end
vim.ui.select = function(items, opts, on_choice)
  local rows = {}
  for i, item in ipairs(items) do
    rows[i] = opts.format_item and opts.format_item(item) or tostring(item)
  end
  calls[#calls + 1] = { kind = opts.kind, items = items, rows = rows, prompt = opts.prompt }
  on_choice(answer(opts.kind, items, rows))
end
local function pick_row(needle)
  return function(_, items, rows)
    for i, row in ipairs(rows) do
      if row:find(needle, 1, true) then
        return items[i], i
      end
    end
    error("no row contains " .. needle .. " in " .. vim.inspect(rows))
  end
end
local function last(kind)
  for i = #calls, 1, -1 do
    if calls[i].kind == kind then
      return calls[i]
    end
  end
end

-- Rows: one per workspace of both repositories, the current repository's first, with
-- name, repository, branch, port and state. Cancelling does nothing.
local first
T.case("Rows", function()
  vim.cmd("tabfirst")
  T.eq(vim.fn.getcwd(), repo, "the first tab is in the first repository")
  vim.cmd("Conductor")
  first = T.ok(last("conductor_workspace"), "the picker called vim.ui.select")
  T.eq(#first.rows, 3, "one row per workspace")
  T.contains(first.rows[1] .. first.rows[2], "login")
  T.contains(first.rows[1] .. first.rows[2], "signup")
  T.contains(first.rows[3], "api-docs", "the other repository's workspace comes last")
  local repo_name = vim.fs.basename(repo)
  local repo2_name = vim.fs.basename(repo2)
  for i = 1, 2 do
    T.contains(first.rows[i], "  " .. repo_name .. "  ", "repository column")
  end
  T.contains(first.rows[3], "  " .. repo2_name .. "  ", "repository column")
  local login_row = first.rows[first.rows[1]:find("login", 1, true) and 1 or 2]
  T.contains(login_row, "conductor/login", "branch column")
  T.contains(login_row, ":" .. login.port, "port column")
  T.contains(login_row, "active", "state column")
  T.ok(vim.startswith(login_row, "login "), "name first: " .. login_row)
end)
-- In the second repository's worktree, its workspace comes first.
T.case("In the second repository's worktree, its workspace comes first", function()
  vim.cmd("ConductorOpen api-docs")
  vim.cmd("Conductor")
  T.contains(last("conductor_workspace").rows[1], "api-docs", "current repository first")
  vim.cmd("tabfirst")
end)

-- Second step: the actions of the chosen workspace, open first; archive through it.
local before, ids, has_agent_actions, agent_actions
T.case("Second step", function()
  answer = function(kind, items, rows)
    if kind == "conductor_workspace" then
      return pick_row("signup")(kind, items, rows)
    end
    return pick_row("archive")(kind, items, rows)
  end
  before = #calls
  vim.cmd("Conductor")
  T.wait(function()
    return last("conductor_action") and #calls > before + 1
  end, "the action list")
  local acts = last("conductor_action")
  ids = vim.tbl_map(function(a)
    return a.id
  end, acts.items)
  T.eq(ids[1], "open", "open is the first (default) action")
  T.ok(
    vim.tbl_contains(ids, "archive") and vim.tbl_contains(ids, "delete"),
    "archive and delete offered"
  )
  T.ok(not vim.tbl_contains(ids, "restore"), "no restore for an active workspace")
  T.contains(acts.rows[1], "open signup", "action rows name the workspace")
  has_agent_actions, agent_actions = pcall(require, "conductor.agent.commands")
  for _, optional in ipairs({ "review", "agent" }) do
    local exists = type(require("conductor")[optional]) == "function"
      or (
        optional ~= "review"
        and has_agent_actions
        and type(agent_actions[optional]) == "function"
      )
    T.eq(
      vim.tbl_contains(ids, optional),
      exists,
      optional .. " offered exactly when the verb exists"
    )
  end
end)
-- "run" only where there is a run script: none in this repository, until setup() has one.
local archived
T.case('"run" only where there is a run script', function()
  T.ok(not vim.tbl_contains(ids, "run"), "no run action without a run script")
  local function action_ids(ws)
    return vim.tbl_map(function(a)
      return a.id
    end, require("conductor.picker").actions(ws))
  end
  require("conductor").setup({ scripts = { run = "echo serving" } })
  T.ok(vim.tbl_contains(action_ids(login), "run"), "run offered once there is a run script")
  require("conductor").setup({})
  T.ok(not vim.tbl_contains(action_ids(login), "run"), "and not after it is gone")
  archived = T.wait_event("ConductorWorkspaceArchived")
  T.eq(archived.name, "signup", "the action archived the chosen workspace")
  T.eq(vim.fn.isdirectory(signup.path), 0, "its worktree is gone")
  T.contains(T.git(repo, "branch", "--list", "conductor/signup"), "conductor/signup", "branch kept")
end)

-- Archived ones are shown on request: a last row leads to them; restore is their action.
local rows
T.case("Archived ones are shown on request", function()
  answer = function()
    return nil
  end
  vim.cmd("Conductor")
  rows = last("conductor_workspace").rows
  T.eq(#rows, 3, "two active rows and the archived row")
  T.contains(rows[3], "1 archived workspace")
  T.ok(not table.concat(rows, "\n"):find("signup", 1, true), "the archived workspace is not listed")
  vim.cmd("Conductor!")
  rows = last("conductor_workspace").rows
  T.eq(#rows, 1, ":Conductor! lists the archived ones only")
  T.contains(rows[1], "signup")
  T.contains(rows[1], "archived")
  answer = function(kind, items, r)
    if kind == "conductor_workspace" then
      if r[#r]:find("archived workspace", 1, true) then
        return items[#items], #items
      end
      return pick_row("signup")(kind, items, r)
    end
    return pick_row("restore")(kind, items, r)
  end
  before = #calls
  vim.cmd("Conductor")
  T.wait(function()
    return last("conductor_action") and #calls >= before + 3
  end, "archived list, then its actions")
  local archived_list = calls[before + 2]
  T.eq(archived_list.kind, "conductor_workspace", "second list: the archived workspaces")
  T.eq(#archived_list.rows, 1, "only archived ones")
  T.contains(archived_list.rows[1], "archived")
  ids = vim.tbl_map(function(a)
    return a.id
  end, last("conductor_action").items)
  T.eq(ids[1], "restore", "restore is an archived workspace's default")
  T.ok(
    not vim.tbl_contains(ids, "archive") and not vim.tbl_contains(ids, "open"),
    "no open/archive"
  )
  local restored = T.wait_event("ConductorWorkspaceRestored")
  T.eq(restored.name, "signup", "restored through the picker")
  T.eq(vim.fn.isdirectory(signup.path), 1, "worktree back")
end)
-- "new agent" (when the agents feature is there) starts another agent in the workspace.
T.case('"new agent" (when the agents feature is there) starts another…', function()
  if has_agent_actions then
    local agents = require("conductor.agent")
    local count = #agents.list(login.id, "agent")
    answer = function(kind, items, r)
      if kind == "conductor_workspace" then
        return pick_row("login ")(kind, items, r)
      end
      return pick_row("new agent in login")(kind, items, r)
    end
    vim.cmd("Conductor")
    T.wait(function()
      return #agents.list(login.id, "agent") == count + 1
    end, "an agent started through the picker")
    T.eq(vim.t.conductor_workspace, login.id, "in the workspace's tab")
  end

  answer = function()
    return nil
  end
  before = #calls
  vim.cmd("Conductor!")
  T.eq(#calls, before, ":Conductor! with nothing archived shows no list")
  T.wait(function()
    return T.notes[#T.notes].msg:find("no archived workspaces", 1, true)
  end, "a note that nothing is archived")
  vim.cmd("tabfirst")
end)

-- Statusline: "" outside a workspace, "⎇ name" in one, then its agents' states.
local conductor, line
T.case("Statusline", function()
  conductor = require("conductor")
  T.eq(conductor.statusline(), "", "no workspace in the first tab")
  vim.cmd("ConductorOpen login")
  local real_agents = package.loaded["conductor.agent"]
    or select(2, pcall(require, "conductor.agent"))
  local has_agents = type(real_agents) == "table" and type(real_agents.list) == "function"
  line = conductor.statusline()
  local running = has_agents and real_agents.list(login.id, "agent") or {}
  if #running > 0 then
    -- The agents feature started the default agent: its state follows the name.
    T.ok(vim.startswith(line, "⎇ login · "), "workspace then agents: " .. line)
    for _, agent in ipairs(running) do
      T.contains(line, agent.name .. ":", "each agent in the statusline")
    end
  else
    T.eq(line, "⎇ login", "a workspace without agents")
  end
  T.eq(
    api.nvim_eval_statusline("%!v:lua.require'conductor'.statusline()", {}).str,
    line,
    "works as a 'statusline' expression"
  )
end)

-- Cheap on every redraw: answered from the cache, no engine call.
local engine, real_call, engine_calls
T.case("Cheap on every redraw", function()
  engine = require("conductor.engine")
  real_call, engine_calls = engine.call, 0
  engine.call = function(...)
    engine_calls = engine_calls + 1
    return real_call(...)
  end
  for _ = 1, 200 do
    conductor.statusline()
  end
  T.eq(engine_calls, 0, "no engine call per redraw")
end)

-- Each agent state, as the agents module reports it (a stand-in module that follows its
-- documented API; ConductorAgentState drops the cache).
local fake = { entries = {} }
function fake.list(id)
  return id == login.id and fake.entries or {}
end
local sessions, real_list, groups
T.case("each agent state in the statusline", function()
  -- summary.lua reads the sessions through agent/sessions.lua's `list`.
  sessions = require("conductor.agent.sessions")
  real_list = sessions.list
  sessions.list = fake.list
  local function set_state(entries)
    fake.entries = entries
    api.nvim_exec_autocmds("User", {
      pattern = "ConductorAgentState",
      data = { workspace = login, agent = entries[#entries] },
    })
  end
  for _, state in ipairs({ "starting", "working", "waiting", "idle" }) do
    set_state({ { id = 1, name = "codex", state = state, buf = 0 } })
    T.eq(conductor.statusline(), "⎇ login · codex:" .. state, "statusline when " .. state)
  end
  set_state({ { id = 1, name = "codex", state = "exited", code = 0 } })
  T.eq(conductor.statusline(), "⎇ login · codex:exited", "clean exit")
  set_state({
    { id = 1, name = "codex", state = "exited", code = 1 },
    { id = 2, name = "claude", state = "waiting" },
  })
  T.eq(
    conductor.statusline(),
    "⎇ login · codex:exited(1) claude:waiting",
    "two agents, failed exit"
  )
  local hl = api.nvim_eval_statusline(
    "%{%v:lua.require'conductor'.statusline({'highlight': v:true})%}",
    { highlights = true }
  )
  T.eq(hl.str, "⎇ login · codex:exited(1) claude:waiting", "highlighted variant, same text")
  groups = vim.tbl_map(function(h)
    return h.group
  end, hl.highlights)
  T.ok(
    vim.tbl_contains(groups, "ConductorExited") and vim.tbl_contains(groups, "ConductorWaiting"),
    "agent states highlighted: " .. vim.inspect(groups)
  )
end)
-- The picker shows the agents too.
T.case("The picker shows the agents too", function()
  answer = function()
    return nil
  end
  vim.cmd("Conductor")
  local login_rows = vim.tbl_filter(function(r)
    return r:find("^login ") ~= nil
  end, last("conductor_workspace").rows)
  T.contains(login_rows[1], "codex:exited(1) claude:waiting", "agents column")
  sessions.list = real_list
  engine.call = real_call
  vim.cmd("tabfirst")
  T.eq(conductor.statusline(), "", "back in a tab without workspace")
end)
-- A tab conductor did not open, whose directory is a worktree, shows that workspace.
T.case("A tab conductor did not open, whose directory is a worktree, shows…", function()
  vim.cmd("tabnew")
  vim.cmd("tcd " .. vim.fn.fnameescape(login.path))
  line = conductor.statusline()
  T.ok(
    line == "⎇ login" or vim.startswith(line, "⎇ login · "),
    "a tab whose directory is a worktree: " .. line
  )
  vim.cmd("tabclose")
end)

-- Highlight groups: linked to standard groups, kept across :colorscheme.
T.case("Highlight groups", function()
  local links = {
    ConductorWorking = "DiagnosticInfo",
    ConductorWaiting = "DiagnosticWarn",
    ConductorIdle = "DiagnosticOk",
    ConductorExited = "Comment",
    ConductorArchived = "NonText",
  }
  for group, link in pairs(links) do
    T.eq(api.nvim_get_hl(0, { name = group }).link, link, group)
  end
  vim.cmd.colorscheme("default")
  T.eq(
    api.nvim_get_hl(0, { name = "ConductorWaiting" }).link,
    "DiagnosticWarn",
    "after :colorscheme"
  )
end)

-- :checkhealth conductor, with a default agent whose program does not exist.
local report
T.case(":checkhealth conductor, with a default agent whose program does…", function()
  T.ok(
    conductor.setup({
      default_agent = "nonexistent-agent-xyz",
      agents = { ["nonexistent-agent-xyz"] = { cmd = { "nonexistent-agent-xyz" } } },
    }),
    "setup() accepts an agent definition"
  )
  vim.cmd("tabnew")
  vim.cmd("checkhealth conductor")
  T.eq(vim.bo.filetype, "checkhealth", "the health buffer is shown")
  report = table.concat(api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  for _, section in ipairs({
    "conductor.nvim ~",
    "conductor.nvim: engine ~",
    "conductor.nvim: agents ~",
    "conductor.nvim: repositories and their config files ~",
  }) do
    T.contains(report, section, "health sections")
  end
  T.contains(report, "OK Neovim 0.11")
  T.contains(report, "OK git version")
  T.contains(report, "library matches the checkout", "library built from this checkout")
  T.contains(
    report,
    "ERROR agent nonexistent-agent-xyz: nonexistent-agent-xyz not found on PATH",
    "missing default agent is an error"
  )
  T.contains(report, "or choose another default_agent")
  for _, builtin in ipairs({ "codex", "claude", "gemini", "opencode" }) do
    T.contains(report, "agent " .. builtin .. ": ", "built-in agent " .. builtin .. " reported")
    T.ok(not report:find("ERROR agent " .. builtin, 1, true), builtin .. " missing is not an error")
  end
  T.contains(report, "state directory")
  T.contains(report, "repository " .. repo)
  T.ok(report:find("gh", 1, true), "gh reported")
  vim.cmd("tabclose")
  conductor.setup({})
end)

-- A lazy.nvim-style install (its own checkout, at another commit than the library's):
-- loads with no errors and :checkhealth says the library is stale and how to rebuild.
T.case("A lazy.nvim-style install (its own checkout, at another commit…", function()
  local out = vim.fn.tempname()
  local init = vim.fn.tempname() .. ".lua"
  T.write(
    init,
    ([[
vim.opt.rtp:prepend(%q)
require("conductor").setup({})
vim.api.nvim_create_autocmd("VimEnter", { callback = function()
  local report = { "errmsg=" .. vim.v.errmsg, "command=" .. vim.fn.exists(":ConductorNew") }
  -- The statusline component outside any workspace must not load the engine library.
  report[#report + 1] = "statusline=" .. require("conductor").statusline()
  report[#report + 1] = "library=" .. tostring(require("conductor.engine").path())
  vim.cmd("checkhealth conductor")
  vim.list_extend(report, vim.api.nvim_buf_get_lines(0, 0, -1, false))
  vim.fn.writefile(report, %q)
  vim.cmd("qall!")
end })
]]):format(lazy, out)
  )
  local res = vim
    .system({ vim.v.progpath, "--headless", "-i", "NONE", "-u", init }, { text = true })
    :wait(30000)
  T.eq(res.code, 0, "the lazy-style instance exits cleanly: " .. (res.stderr or ""))
  local stale = T.read(out) or ""
  T.contains(stale, "errmsg=\n", "no error at startup")
  T.contains(stale, "command=2", "commands defined")
  T.contains(stale, "statusline=\n", "empty statusline outside a workspace")
  T.contains(stale, "library=nil\n", "the statusline did not load the engine library")
  T.contains(stale, "library is stale: built from ", "stale library reported")
  T.contains(stale, "rebuild with `cargo build --release` in " .. lazy .. " and restart Neovim")
end)

-- The help builds its tags without error, and has the new sections.
T.case("The help builds its tags without error, and has the new sections", function()
  vim.v.errmsg = ""
  local ok, err = pcall(vim.cmd, "helptags " .. vim.fn.fnameescape(lazy .. "/doc"))
  T.ok(ok, "helptags: " .. tostring(err))
  T.eq(vim.v.errmsg, "", "no error message from :helptags")
  local tags = T.read(lazy .. "/doc/tags")
  for _, tag in ipairs({
    "conductor-statusline",
    "conductor.statusline()",
    "conductor-highlights",
    "ConductorWorking",
    "conductor-telescope",
    "conductor-health",
    "ConductorAgentState",
  }) do
    T.ok(
      tags:find("\n" .. vim.pesc(tag) .. "\t") or vim.startswith(tags, tag .. "\t"),
      "help tag " .. tag
    )
  end
end)
