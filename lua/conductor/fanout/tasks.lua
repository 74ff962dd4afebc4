-- The buffer of tasks behind `:ConductorFanout`: one task per paragraph; writing it
-- makes one workspace per task (fanout/scheduler.lua). A task that failed stays in
-- the buffer, marked, to be fixed and written again.

local M = {}

local api = vim.api
local catalog = require("conductor.agent.catalog")
local bufs = require("conductor.bufs")
local config = require("conductor.config")
local engine = require("conductor.engine")
local groups = require("conductor.groups")
local notify = require("conductor.notify")
local scheduler = require("conductor.fanout.scheduler")
local workspace = require("conductor.workspace")

local BUF_NAME = "conductor://fanout"
local ns = api.nvim_create_namespace("conductor_fanout")

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
---@param host? string where the workspaces are made
---@return string[]
local function header(repo_name, host)
  local cfg = config.get()
  if host then
    repo_name = ("%s on host %s"):format(repo_name, host)
  end
  local ok, default = pcall(catalog.default_name, host)
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
    local out = header(repo.name, vim.b[buf].conductor_fanout_host)
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

  local ok, err = pcall(scheduler.run, jobs, {
    group = group,
    kind = "fanout",
    path = path,
    host = vim.b[buf].conductor_fanout_host,
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

--- The fanout buffer, made on first use, for the repository the user is in; its
--- tasks are made on `host` when given (|conductor-hosts|), else here.
---@param host? string
---@return integer buf
function M.buffer(host)
  local path = workspace.context_path()
  local repo = engine.call("resolve_repo", { path = path }) -- outside a repository: its error
  local buf = bufs.find(BUF_NAME)
  if not buf then
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
    api.nvim_buf_set_lines(buf, 0, -1, false, header(repo.name, host))
    vim.bo[buf].modified = false
    highlight(buf)
  elseif
    not busy[buf]
    and (vim.b[buf].conductor_fanout_path ~= path or vim.b[buf].conductor_fanout_host ~= host)
  then
    -- Another repository: the header says which.
    local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
    local n = 0
    while n < #lines and is_comment(lines[n + 1]) do
      n = n + 1
    end
    local modified = vim.bo[buf].modified
    api.nvim_buf_set_lines(
      buf,
      0,
      n + ((lines[n + 1] == "") and 1 or 0),
      false,
      header(repo.name, host)
    )
    vim.bo[buf].modified = modified
  end
  if not busy[buf] then
    vim.b[buf].conductor_fanout_path = path
    vim.b[buf].conductor_fanout_host = host
  end
  return buf
end

return M
