-- Many tasks at once and one task raced across agents: the fanout buffer (agents and
-- names per task, the concurrency limit, a failed task kept and fixed), GitHub issues
-- through a stub `gh`, a two-agent comparison, its view (stats, vimdiff) and keep.
local T = require("harness")
local api = vim.api
local fake = vim.env.CONDUCTOR_FAKE_AGENT
local repo = vim.env.CONDUCTOR_TEST_REPO
local opts = {
  default_agent = "fake",
  agents = {
    fake = { cmd = { fake }, prompt = "arg" },
    fake2 = { cmd = { fake }, prompt = "arg" },
    missing = { cmd = { "definitely-not-installed" } },
  },
  fanout = { concurrency = 2 },
  gh = vim.env.CONDUCTOR_TEST_GH,
}
T.ok(require("conductor").setup(opts), "setup")
for _, e in ipairs({ "ConductorWorkspaceCreated", "ConductorWorkspaceArchived" }) do
  T.record(e)
end
local agents = require("conductor.agent")
local groups = require("conductor.groups")

local function created(name)
  return T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name == name
  end, "workspace " .. name .. " created")
end
local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end
-- The first prompt as the agent printed it in its terminal.
local wait_prompt
T.case("The first prompt as the agent printed it in its terminal", function()
  function wait_prompt(ws, prompt)
    local buf
    local ok = pcall(T.wait, function()
      local list = agents.list(ws.id, "agent")
      buf = list[1] and list[1].buf
      return buf and text(buf):find("PROMPT: " .. prompt, 1, true)
    end, "prompt of " .. ws.name)
    T.ok(
      ok,
      ("%s: %q not on screen:\n%s"):format(ws.name, prompt, buf and text(buf) or "(no agent)")
    )
  end
end)

-- Creations in flight, counted where every workspace is asked for.
local engine = require("conductor.engine")
local inflight, most, creates = 0, 0, 0
local real_request = engine.request
engine.request = function(method, params, cb)
  if method ~= "create" then
    return real_request(method, params, cb)
  end
  creates = creates + 1
  inflight = inflight + 1
  most = math.max(most, inflight)
  return real_request(method, params, function(...)
    inflight = inflight - 1
    return cb(...)
  end)
end

-- The fanout buffer: five tasks, one naming an agent that is not installed.
local buf, summary, alpha, beta, delta, epsilon
T.case("The fanout buffer", function()
  vim.cmd("ConductorFanout")
  buf = api.nvim_get_current_buf()
  T.eq(api.nvim_buf_get_name(buf), "conductor://fanout", "buffer name")
  T.eq(vim.bo[buf].buftype, "acwrite", "written by conductor")
  T.contains(text(buf), "# conductor fanout: one task per paragraph", "header")
  api.nvim_buf_set_lines(buf, -1, -1, false, {
    "#alpha fix the alpha bug",
    "",
    "@fake2 #beta improve beta",
    "with a second line",
    "",
    "@missing #gamma this one cannot start",
    "",
    "#delta @fake2 document delta",
    "",
    "tidy epsilon",
  })
  vim.cmd("write")
  summary = T.wait_error("4 of 5 created")
  T.contains(
    summary,
    '1 failed: "this one cannot start": agent missing: `definitely-not-installed` not found on PATH'
  )
  alpha, beta, delta = created("alpha"), created("beta"), created("delta")
  epsilon = created("tidy-epsilon")
  T.eq(creates, 4, "the missing agent's task asked for nothing")
  T.eq(most, 2, "never more than fanout.concurrency creations at once")
  T.eq(
    { alpha.agent, beta.agent, delta.agent, epsilon.agent },
    { "fake", "fake2", "fake2", "fake" },
    "agents"
  )
  T.eq(beta.task, "improve beta\nwith a second line", "a task's paragraph is its prompt")
  wait_prompt(alpha, "fix the alpha bug")
  wait_prompt(beta, "improve beta")
  wait_prompt(delta, "document delta")
  wait_prompt(epsilon, "tidy epsilon")
  T.eq(agents.list(beta.id, "agent")[1].name, "fake2", "beta runs fake2")
  for _, ws in ipairs({ alpha, beta, delta, epsilon }) do
    T.ok(T.tab_of(ws.id), ws.name .. " has its tab")
  end
end)

-- The failed task stays, marked; the made ones are gone from the buffer.
local left
T.case("The failed task stays, marked", function()
  left = text(buf)
  T.contains(
    left,
    "@missing #gamma this one cannot start\n# failed: agent missing: `definitely-not-installed`"
  )
  for _, gone in ipairs({ "alpha", "beta", "delta", "epsilon" }) do
    T.ok(not left:find(gone, 1, true), gone .. " left the buffer:\n" .. left)
  end
  T.eq(vim.bo[buf].modified, false, "nothing unsaved")
end)

-- One group for the fanout, shown by the picker and the statusline.
local group
T.case("One group for the fanout, shown by the picker and the statusline", function()
  group = groups.of(alpha.id)
  T.eq(group, "fanout", "group name")
  T.eq(groups.get("fanout").kind, "fanout", "group kind")
  T.eq(#groups.get("fanout").workspaces, 4, "group members")
  T.eq(require("conductor.picker").cells(delta).group, "⊞fanout", "picker cell")
  api.nvim_set_current_tabpage(T.tab_of(delta.id))
  T.contains(require("conductor").statusline(), "⎇ delta [fanout]", "statusline")
end)

-- Fixed and written again: only that task is made.
T.case("Fixed and written again", function()
  vim.cmd("tabfirst")
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  for i, l in ipairs(lines) do
    lines[i] = l:gsub("^@missing ", "@fake2 ")
  end
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  api.nvim_buf_call(buf, function()
    vim.cmd("write")
  end)
  local gamma = created("gamma")
  T.eq(gamma.agent, "fake2", "fixed agent")
  wait_prompt(gamma, "this one cannot start")
  T.wait(function()
    return not text(buf):find("gamma", 1, true)
  end, "the buffer emptied")
  T.eq(creates, 5, "one more creation")
  T.eq(#groups.get("fanout").workspaces, 5, "the same group")
end)

-- GitHub issues through the stub gh: marked in the list, made with the default agent.
T.case("GitHub issues through the stub gh", function()
  local answers = { "#12 ", "#15 ", "make 2 workspaces" }
  local prompts = {}
  vim.ui.select = function(items, o, on_choice)
    local want = table.remove(answers, 1)
    prompts[#prompts + 1] = o.prompt
    for i, item in ipairs(items) do
      if o.format_item(item):find(want, 1, true) then
        return on_choice(item, i)
      end
    end
    error("no row " .. want)
  end
  vim.cmd("tabfirst")
  vim.cmd("ConductorFanout --gh")
  local issue12 = created("12-login-fails-on-safari")
  local issue15 = created("15-add-dark-mode")
  T.eq(#answers, 0, "every answer used")
  T.eq(issue12.task, "#12 Login fails on Safari\n\nSteps: open the page", "issue text as the task")
  T.eq(issue15.task, "#15 Add dark mode", "an issue without a body")
  wait_prompt(issue12, "#12 Login fails on Safari")
  T.eq(
    vim.trim(T.read(vim.fs.dirname(opts.gh) .. "/gh-args")),
    "issue list --json number,title,body",
    "gh's arguments"
  )
  local members = vim.deepcopy(groups.get("issues").workspaces)
  table.sort(members)
  local want = { issue12.id, issue15.id }
  table.sort(want)
  T.eq(members, want, "the issues' group")
  T.wait(function()
    for _, n in ipairs(T.notes) do
      if n.msg:find("issues: 2 of 2 created", 1, true) then
        return true
      end
    end
  end, "the issues' summary")
end)

-- Without gh: one clear error.
T.case("Without gh", function()
  require("conductor").setup(vim.tbl_extend("force", opts, { gh = repo .. "/no-such-gh" }))
  vim.cmd("ConductorFanout --gh")
  T.contains(T.wait_error("needs GitHub's CLI"), "no-such-gh` not found")
  require("conductor").setup(opts)
end)

-- A comparison: the same task for two agents, one group.
local a, b, names
T.case("A comparison", function()
  vim.cmd("tabfirst")
  vim.cmd("ConductorNew --agent=fake,fake2 same task")
  a, b = created("same-task-fake"), created("same-task-fake2")
  T.eq({ a.agent, b.agent }, { "fake", "fake2" }, "one workspace per agent")
  wait_prompt(a, "same task")
  wait_prompt(b, "same task")
  local cmp = groups.get("same-task")
  T.eq(cmp.kind, "compare", "comparison group")
  T.eq(cmp.task, "same task", "its task")
  T.eq(#cmp.workspaces, 2, "two workspaces")
  names = vim.fn.getcompletion("ConductorCompare ", "cmdline")
  table.sort(names)
  T.eq(names, { "fanout", "issues", "same-task" }, "group completion")
end)

-- Their work differs; the view shows each one's stat and the files they changed.
local view, line_of, _, la
T.case("Their work differs", function()
  T.write(a.path .. "/README.md", "hello\nfrom fake\n")
  T.write(b.path .. "/README.md", "hello\nfrom fake2\nand more\n")
  T.write(b.path .. "/notes.txt", "uncommitted work of fake2\n")
  vim.cmd("ConductorCompare same-task")
  view = api.nvim_get_current_buf()
  T.eq(api.nvim_buf_get_name(view), "conductor://compare/same-task", "view buffer")
  function line_of(needle)
    for i, l in ipairs(api.nvim_buf_get_lines(view, 0, -1, false)) do
      if l:find(needle, 1, true) then
        return i, l
      end
    end
  end
  local ok = pcall(T.wait, function()
    local _, la = line_of("same-task-fake ")
    local _, lb = line_of("same-task-fake2 ")
    return la and lb and la:find("+1 -0  1 file", 1, true) and lb:find("+3 -0  2 files", 1, true)
  end, "stats")
  T.ok(ok, "stats in the view:\n" .. text(view))
  _, la = line_of("same-task-fake ")
  T.contains(la, "conductor/same-task-fake", "branch")
  T.contains(la, "fake:", "agent")
  T.ok(line_of("notes.txt"), "changed files listed")
end)

-- d on a file: a vimdiff of the two worktrees' versions.
local view_tab, wins
T.case("d on a file", function()
  view_tab = api.nvim_get_current_tabpage()
  api.nvim_win_set_cursor(0, { (line_of("README.md")), 0 })
  vim.cmd("normal d")
  T.wait(function()
    return api.nvim_get_current_tabpage() ~= view_tab
  end, "the diff tab")
  wins = api.nvim_tabpage_list_wins(0)
  T.eq(#wins, 2, "two sides")
  T.eq(api.nvim_buf_get_name(api.nvim_win_get_buf(wins[1])), a.path .. "/README.md", "left side")
  T.eq(api.nvim_buf_get_name(api.nvim_win_get_buf(wins[2])), b.path .. "/README.md", "right side")
  T.eq({ vim.wo[wins[1]].diff, vim.wo[wins[2]].diff }, { true, true }, "diff mode")
  vim.cmd("tabclose")
  api.nvim_set_current_tabpage(view_tab)
end)
-- A file only one of them has: the other side is empty.
T.case("A file only one of them has", function()
  api.nvim_win_set_cursor(0, { (line_of("notes.txt")), 0 })
  vim.cmd("normal d")
  T.wait(function()
    return api.nvim_get_current_tabpage() ~= view_tab
  end, "the second diff tab")
  wins = api.nvim_tabpage_list_wins(0)
  T.contains(
    api.nvim_buf_get_name(api.nvim_win_get_buf(wins[1])),
    "same-task-fake/notes.txt (absent)",
    "absent side"
  )
  T.eq(api.nvim_buf_get_name(api.nvim_win_get_buf(wins[2])), b.path .. "/notes.txt", "present side")
  vim.cmd("tabclose")
  api.nvim_set_current_tabpage(view_tab)
end)

-- The statusline of a compared workspace names its group.
T.case("The statusline of a compared workspace names its group", function()
  api.nvim_set_current_tabpage(T.tab_of(b.id))
  T.contains(require("conductor").statusline(), "⎇ same-task-fake2 [same-task]", "statusline")
  api.nvim_set_current_tabpage(view_tab)
end)

-- K keeps one and archives the other, its uncommitted work snapshotted.
T.case("K keeps one and archives the other, its uncommitted work snapshotted", function()
  local asked
  vim.fn.confirm = function(q)
    asked = q
    return 1
  end
  api.nvim_win_set_cursor(0, { (line_of("same-task-fake ")), 0 })
  vim.cmd("normal K")
  local archived = T.wait_event("ConductorWorkspaceArchived", function(d)
    return d.id == b.id
  end)
  T.contains(asked, "Keep same-task-fake and archive same-task-fake2?", "asked first")
  T.eq(archived.snapshot_ref, "refs/conductor/" .. b.id .. "/snapshot", "snapshot ref")
  T.eq(
    T.git(repo, "show", "refs/conductor/" .. b.id .. "/snapshot:notes.txt"),
    "uncommitted work of fake2",
    "work kept"
  )
  T.eq(vim.fn.isdirectory(b.path), 0, "its worktree removed")
  T.contains(
    T.git(repo, "branch", "--list", "conductor/same-task-fake2"),
    "conductor/same-task-fake2",
    "branch kept"
  )
  T.eq(require("conductor.workspace").get(a.id).state, "active", "the kept one stays")
  T.eq(T.read(a.path .. "/README.md"), "hello\nfrom fake\n", "its work untouched")
  T.wait(function()
    local _, lb = line_of("same-task-fake2 ")
    return lb and lb:find("archived", 1, true)
  end, "the view shows the archived one")
  for _, e in ipairs(T.events) do
    if e.name == "ConductorWorkspaceArchived" then
      T.eq(e.data.id, b.id, "nothing else archived")
    end
  end
end)
