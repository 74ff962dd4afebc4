-- Many tasks at once: `:ConductorFanout` opens a buffer of tasks, one per
-- paragraph; writing it makes one workspace per task (its agent started with
-- the task as first prompt), a few at a time. `:ConductorFanout --gh` does the
-- same for GitHub issues chosen from a list.
--
-- Every workspace is made the way |:ConductorNew| makes one
-- (actions.create); this module only decides how many run at once, keeps the
-- group (groups.lua) and tells how it went: one progress line while it runs,
-- one summary at the end. A failed task never stops the others and stays in
-- the buffer, marked, to be fixed and written again.
--
-- Not here: one task raced across agents (compare.lua), which uses `run`.

local M = {}

local api = vim.api
local config = require("conductor.config")
local engine = require("conductor.engine")
local groups = require("conductor.groups")
local notify = require("conductor.notify")
local progress = require("conductor.progress")
local workspace = require("conductor.workspace")

local BUF_NAME = "conductor://fanout"
local ns = api.nvim_create_namespace("conductor_fanout")

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
---@field on_each? fun(i: integer, err: string?, ws: conductor.Workspace?)
---@field on_done? fun(results: conductor.FanoutResult[])
---@field hint? string          added to the summary when something was made

-- "a task that…" for the summary: the first line, shortened.
---@param text string
---@return string
local function short(text)
  local first = vim.split(vim.trim(text), "\n", { plain = true })[1] or ""
  if vim.fn.strchars(first) > 40 then
    first = vim.fn.strcharpart(first, 0, 39) .. "…"
  end
  return first
end

--- Makes one workspace per job in `opts.path`'s repository, never more than
--- `fanout.concurrency` creations at once. The trust question (if any) is
--- asked once for all. Shows "n of N created" while it runs and one summary
--- at the end (an error naming each failure and its reason, when there is
--- one). Raises only when the repository cannot be resolved.
---@param jobs conductor.FanoutJob[]
---@param opts conductor.FanoutOpts
function M.run(jobs, opts)
  local repo = engine.call("resolve_repo", { path = opts.path, base = jobs[1] and jobs[1].base })
  require("conductor.trust").read(repo)
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
  -- `actions.create` and pumps again.
  pump = function()
    while running < limit and next_job <= #jobs do
      local i = next_job
      next_job = i + 1
      running = running + 1
      local job = vim.tbl_extend("force", { path = opts.path, asked = true }, jobs[i])
      if job.error then
        finish(i, job.error)
      else
        require("conductor.actions").create(job, function(err, ws)
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

-- The buffer of tasks ---------------------------------------------------------

---@class conductor.FanoutTask
---@field task string
---@field agent? string
---@field name? string
---@field error? string   why it cannot be made (e.g. no text)
---@field lines string[]  its paragraph as written, old failure marks left out
---@field row integer     0-based row of its first line

-- "#" alone or "# text": a comment. "#name" is a prefix.
---@param line string
local function is_comment(line)
  return line:match("^#%s") ~= nil or line == "#"
end

--- The tasks of the buffer's lines: paragraphs separated by blank lines,
--- comment lines ("# …") left out; the first line may start with `@agent`
--- and `#name`, in any order.
---@param lines string[]
---@return conductor.FanoutTask[]
function M.parse(lines)
  local tasks = {}
  local para, first_row = {}, nil
  local function flush()
    local body, kept = {}, {}
    for _, l in ipairs(para) do
      if not l:match("^# failed:") then
        kept[#kept + 1] = l
      end
      if not is_comment(l) then
        body[#body + 1] = l
      end
    end
    if #body > 0 then
      local t = { lines = kept, row = first_row }
      local line = body[1]
      while true do
        local agent, rest = line:match("^@(%S+)%s*(.*)$")
        if agent then
          t.agent, line = agent, rest
        else
          local name, rest2 = line:match("^#([^%s#]%S*)%s*(.*)$")
          if not name then
            break
          end
          t.name, line = name, rest2
        end
      end
      body[1] = line
      t.task = vim.trim(table.concat(body, "\n"))
      if t.task == "" then
        t.error = "no task text after @agent / #name"
      end
      tasks[#tasks + 1] = t
    end
    para, first_row = {}, nil
  end
  for i, l in ipairs(lines) do
    if vim.trim(l) == "" then
      flush()
    else
      first_row = first_row or (i - 1)
      para[#para + 1] = l
    end
  end
  flush()
  return tasks
end

---@param repo_name string
---@return string[]
local function header(repo_name)
  local cfg = config.get()
  local ok, default = pcall(require("conductor.agents").default_name)
  return {
    "# conductor fanout: one task per paragraph (a blank line between tasks).",
    "# A task's first line may start with @agent and #name: @claude #login fix the login",
    ("# :w makes one workspace per task in %s, %d at a time (default agent: %s)."):format(
      repo_name,
      cfg.fanout.concurrency,
      ok and default or "?"
    ),
    "# A task that fails stays here, marked; fix it and :w again. '# ' lines are ignored.",
    "",
  }
end

---@param buf integer
local function highlight(buf)
  api.nvim_buf_call(buf, function()
    vim.cmd([[
      syntax clear
      syntax match ConductorFanoutComment /^#\( .*\)\=$/
      syntax match ConductorFanoutFailed /^# failed:.*$/
      syntax match ConductorFanoutPrefix /^\%(@\S\+\|#[^ #]\S*\)\%(\s\+\%(@\S\+\|#[^ #]\S*\)\)\=/
      highlight default link ConductorFanoutComment Comment
      highlight default link ConductorFanoutFailed DiagnosticError
      highlight default link ConductorFanoutPrefix Identifier
    ]])
  end)
end

-- Buffers whose tasks are being made: no second write meanwhile.
local busy = {} ---@type table<integer, boolean>

---@param buf integer
---@param row integer
---@param text string
---@param group string
local function mark(buf, row, text, group)
  if api.nvim_buf_is_valid(buf) then
    pcall(api.nvim_buf_set_extmark, buf, ns, row, 0, {
      id = row + 1,
      virt_text = { { text, group } },
      virt_text_pos = "eol",
    })
  end
end

--- What `:w` does in the fanout buffer.
---@param buf integer
function M.write(buf)
  if busy[buf] then
    error("fanout: the last tasks are still being made; write again when they are done", 0)
  end
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  local tasks = M.parse(lines)
  if #tasks == 0 then
    vim.bo[buf].modified = false
    notify.info("fanout: no tasks; write one per paragraph")
    return
  end
  local path = vim.b[buf].conductor_fanout_path or workspace.context_path()
  local repo = engine.call("resolve_repo", { path = path })
  local group = vim.b[buf].conductor_fanout_group
  if not group or not groups.get(group) then
    group = groups.unique_name("fanout")
    vim.b[buf].conductor_fanout_group = group
  end
  local jobs = {}
  for i, t in ipairs(tasks) do
    jobs[i] = {
      task = t.task,
      agent = t.agent,
      name = t.name,
      error = t.error,
      label = ("%q"):format(short(t.task ~= "" and t.task or table.concat(t.lines, " "))),
    }
  end
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  for _, t in ipairs(tasks) do
    mark(buf, t.row, "… waiting", "Comment")
  end
  busy[buf] = true
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false

  local function finished(results)
    busy[buf] = nil
    if not api.nvim_buf_is_valid(buf) then
      return
    end
    -- What is left: the header and the failed tasks, each with its reason.
    local out = header(repo.name)
    for i, r in ipairs(results) do
      if r.err then
        vim.list_extend(out, tasks[i].lines)
        out[#out + 1] = "# failed: " .. r.err
        out[#out + 1] = ""
      end
    end
    vim.bo[buf].modifiable = true
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    api.nvim_buf_set_lines(buf, 0, -1, false, out)
    vim.bo[buf].modified = false
  end

  local ok, err = pcall(M.run, jobs, {
    group = group,
    kind = "fanout",
    path = path,
    on_each = function(i, e, ws)
      if e then
        mark(buf, tasks[i].row, "✗ " .. e, "DiagnosticError")
      else
        mark(buf, tasks[i].row, ("✓ %s (%s)"):format(ws.name, ws.agent or "?"), "DiagnosticOk")
      end
    end,
    on_done = finished,
    hint = (":ConductorCompare %s shows them side by side"):format(group),
  })
  if not ok then
    busy[buf] = nil
    vim.bo[buf].modifiable = true
    vim.bo[buf].modified = true
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    error(err, 0)
  end
end

--- The fanout buffer, made on first use, for the repository the user is in.
---@return integer buf
function M.buffer()
  local path = workspace.context_path()
  local repo = engine.call("resolve_repo", { path = path }) -- outside a repository: its error
  local buf = vim.fn.bufnr(BUF_NAME)
  if buf == -1 or not api.nvim_buf_is_valid(buf) then
    buf = api.nvim_create_buf(true, false)
    api.nvim_buf_set_name(buf, BUF_NAME)
    vim.bo[buf].buftype = "acwrite"
    vim.bo[buf].bufhidden = "hide"
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = "conductor_fanout"
    api.nvim_create_autocmd("BufWriteCmd", {
      buffer = buf,
      callback = function(ev)
        notify.guard(M.write)(ev.buf)
      end,
    })
    api.nvim_buf_set_lines(buf, 0, -1, false, header(repo.name))
    vim.bo[buf].modified = false
    highlight(buf)
  elseif not busy[buf] and vim.b[buf].conductor_fanout_path ~= path then
    -- Another repository: the header says which.
    local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
    local n = 0
    while n < #lines and is_comment(lines[n + 1]) do
      n = n + 1
    end
    local modified = vim.bo[buf].modified
    api.nvim_buf_set_lines(buf, 0, n + ((lines[n + 1] == "") and 1 or 0), false, header(repo.name))
    vim.bo[buf].modified = modified
  end
  if not busy[buf] then
    vim.b[buf].conductor_fanout_path = path
  end
  return buf
end

---@class conductor.FanoutArgs
---@field gh? boolean choose GitHub issues instead of writing tasks

--- `:ConductorFanout`: shows the buffer of tasks (a split, or its window when
--- it is already on screen). With `gh`: GitHub issues instead (see
--- |:ConductorFanout|).
---@param opts conductor.FanoutArgs?
function M.fanout(opts)
  if type(opts) == "table" and opts.gh then
    return M.from_github()
  end
  local buf = M.buffer()
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

-- From GitHub -------------------------------------------------------------------

---@class conductor.Issue
---@field number integer
---@field title string
---@field body? string

--- The workspace name and first prompt of an issue: `<number>-<slug of title>`,
--- "#<number> <title>", a blank line and its body.
---@param issue conductor.Issue
---@return conductor.FanoutJob
function M.issue_job(issue)
  local slug = groups.slug(issue.title or "")
  local body = vim.trim(type(issue.body) == "string" and issue.body or "")
  local task = ("#%d %s"):format(issue.number, issue.title or "")
  if body ~= "" then
    task = task .. "\n\n" .. body
  end
  return {
    name = slug and ("%d-%s"):format(issue.number, slug) or ("issue-%d"):format(issue.number),
    task = task,
    label = "#" .. issue.number,
  }
end

-- The multi-select: vim.ui.select shown again after each choice, an issue
-- toggling its mark, the first row making the workspaces.
---@param issues conductor.Issue[]
---@param on_done fun(chosen: conductor.Issue[])
local function choose(issues, on_done)
  local picked = {} ---@type table<integer, boolean>
  local function show()
    local count = 0
    for _ in pairs(picked) do
      count = count + 1
    end
    local items = { { action = "create", count = count }, { action = "all" } }
    for _, issue in ipairs(issues) do
      items[#items + 1] = { issue = issue }
    end
    vim.ui.select(items, {
      prompt = "conductor: issues to make workspaces for (choose to mark, then the first row)",
      kind = "conductor_issue",
      format_item = function(item)
        if item.action == "create" then
          return ("▶ make %d workspace%s"):format(item.count, item.count == 1 and "" or "s")
        elseif item.action == "all" then
          return "  mark all / none"
        end
        return ("%s #%d %s"):format(picked[item.issue.number] and "[x]" or "[ ]", item.issue.number, item.issue.title)
      end,
    }, function(item)
      if not item then
        return
      end
      if item.action == "create" then
        local chosen = vim.tbl_filter(function(issue)
          return picked[issue.number]
        end, issues)
        if #chosen == 0 then
          notify.warn("fanout: no issue marked; nothing made")
          return
        end
        return on_done(chosen)
      elseif item.action == "all" then
        local all = vim.tbl_count(picked) < #issues
        picked = {}
        for _, issue in ipairs(issues) do
          picked[issue.number] = all or nil
        end
      else
        picked[item.issue.number] = not picked[item.issue.number] or nil
      end
      -- After this list has closed: a picker UI may not open another from
      -- inside its own callback.
      vim.schedule(show)
    end)
  end
  show()
end

--- `:ConductorFanout --gh`: the repository's open issues (`gh issue list`),
--- marked in a list, each becoming a workspace with the default agent.
function M.from_github()
  local gh = config.get().gh
  if vim.fn.executable(gh) ~= 1 then
    error(
      ("fanout --gh needs GitHub's CLI: `%s` not found; install it (https://cli.github.com)"
        .. " or set the `gh` option to its path"):format(gh),
      0
    )
  end
  -- Each issue's body becomes its agent's first prompt: an agent that takes none (the
  -- plain shell) would be handed text written by anyone who can open an issue.
  local agents = require("conductor.agents")
  local agent = agents.default_name()
  if not agents.takes_prompts(agent) then
    error(
      ("fanout --gh gives each issue's text to the agent as its prompt, and %s takes no prompts"
        .. " (no AI CLI on PATH?): install one (codex, claude, gemini, opencode) or set default_agent"):format(agent),
      0
    )
  end
  local path = workspace.context_path()
  local repo = engine.call("resolve_repo", { path = path })
  local key = {}
  progress.begin(key, ("listing the GitHub issues of %s…"):format(repo.name))
  vim.system(
    { gh, "issue", "list", "--json", "number,title,body" },
    { cwd = repo.root, text = true },
    vim.schedule_wrap(function(res)
      progress.finish(key)
      if res.code ~= 0 then
        local why = vim.trim(res.stderr or "")
        why = why ~= "" and why or ("exit " .. res.code)
        return notify.error(("fanout --gh: `gh issue list` failed: %s"):format(why))
      end
      local ok, issues = pcall(vim.json.decode, res.stdout or "")
      if not ok or not vim.islist(issues) then
        return notify.error("fanout --gh: `gh issue list` gave no JSON list of issues")
      end
      if #issues == 0 then
        return notify.info(("fanout --gh: %s has no open issues"):format(repo.name))
      end
      choose(issues, function(chosen)
        local jobs = vim.tbl_map(M.issue_job, chosen)
        notify.guard(M.run)(jobs, {
          group = groups.unique_name("issues"),
          kind = "fanout",
          path = path,
        })
      end)
    end)
  )
end

for _, name in ipairs({ "fanout", "from_github" }) do
  M[name] = notify.guard(M[name])
end

return M
