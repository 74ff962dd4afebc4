-- The view that compares a group's workspaces, one task raced across agents
-- (made by compare/start.lua). `:ConductorCompare {group}` shows a group in a tab of its own:
-- each workspace's agent, branch and change stat, the files they changed;
-- `d` opens a vimdiff of one file between two worktrees, `K` keeps the
-- workspace under the cursor and archives the others (archive's rules:
-- their work is snapshotted, their branches kept).
--
-- Not here: making the workspaces (compare/start.lua, fanout/scheduler.lua), the
-- group file (groups.lua).

local M = {}

local api = vim.api
local actions = require("conductor.actions")
local bufs = require("conductor.bufs")
local engine = require("conductor.engine")
local format = require("conductor.format")
local groups = require("conductor.groups")
local notify = require("conductor.notify")
local summary = require("conductor.summary")
local workspace = require("conductor.workspace")

-- The view ------------------------------------------------------------------------

---@class conductor.CompareRow
---@field ws? conductor.Workspace
---@field file? string

---@class conductor.CompareView
---@field group string
---@field buf integer
---@field list conductor.Workspace[]
---@field stats table<string, table|string>  workspace id -> Changes, or why there are none
---@field rows table<integer, conductor.CompareRow> by line number

---@type table<integer, conductor.CompareView> by buffer
local views = {}

---@param group string
---@return conductor.Workspace[]
local function members(group)
  local g = groups.get(group)
  local list = {}
  for _, id in ipairs(g and g.workspaces or {}) do
    local ok, ws = pcall(engine.call, "get", { workspace = id })
    if ok then
      list[#list + 1] = ws
    end
  end
  -- Made side by side, they joined in any order: by name, always the same.
  table.sort(list, function(x, y)
    return x.name < y.name
  end)
  return list
end

---@param v conductor.CompareView
---@return string[] files changed in any active workspace, sorted
local function changed_files(v)
  local set = {}
  for _, ws in ipairs(v.list) do
    local c = v.stats[ws.id]
    if type(c) == "table" then
      for _, f in ipairs(c.files or {}) do
        set[f.path] = true
      end
    end
  end
  local files = vim.tbl_keys(set)
  table.sort(files)
  return files
end

---@param rows string[][]
---@return string[]
local function align(rows)
  local width = {}
  for _, r in ipairs(rows) do
    for j, cell in ipairs(r) do
      width[j] = math.max(width[j] or 0, vim.fn.strdisplaywidth(cell))
    end
  end
  local out = {}
  for i, r in ipairs(rows) do
    local parts = {}
    for j, cell in ipairs(r) do
      parts[j] = j == #r and cell or cell .. (" "):rep(width[j] - vim.fn.strdisplaywidth(cell))
    end
    out[i] = "  " .. table.concat(parts, "  ")
  end
  return out
end

---@param v conductor.CompareView
local function render(v)
  if not api.nvim_buf_is_valid(v.buf) then
    return
  end
  local g = groups.get(v.group) or {}
  local lines = {
    ("⊞ %s — %s of %d workspace%s%s"):format(
      v.group,
      g.kind == "compare" and "comparison" or (g.kind or "group"),
      #v.list,
      #v.list == 1 and "" or "s",
      g.task and (": " .. vim.split(g.task, "\n")[1]) or ""
    ),
    "  d diff a file between two   K keep this one, archive the others   <CR> open   r refresh   q close",
    "",
  }
  v.rows = {}
  local cells = {}
  for i, ws in ipairs(v.list) do
    local c = v.stats[ws.id]
    local stat
    if ws.state ~= "active" then
      stat = ""
    elseif type(c) == "table" then
      stat = ("+%d -%d  %d file%s"):format(
        c.added or 0,
        c.removed or 0,
        #(c.files or {}),
        #(c.files or {}) == 1 and "" or "s"
      )
    else
      stat = c or "…"
    end
    local agent = ws.agent or "-"
    local live = summary.agents(ws.id)
    if #live > 0 then
      agent = summary.agents_text(live)
    end
    cells[i] = { ws.name, agent, ws.branch or "", stat, summary.state_text(ws) }
  end
  for i, line in ipairs(align(cells)) do
    lines[#lines + 1] = line
    v.rows[#lines] = { ws = v.list[i] }
  end
  local files = changed_files(v)
  if #files > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Changed files"
    local frows = {}
    for i, path in ipairs(files) do
      local r = { path }
      for _, ws in ipairs(v.list) do
        local c = v.stats[ws.id]
        if type(c) == "table" then
          for _, f in ipairs(c.files or {}) do
            if f.path == path then
              r[#r + 1] = ("%s %s +%d -%d"):format(ws.name, f.status, f.added or 0, f.removed or 0)
            end
          end
        end
      end
      frows[i] = r
    end
    for i, line in ipairs(align(frows)) do
      lines[#lines + 1] = line
      v.rows[#lines] = { file = files[i] }
    end
  end
  vim.bo[v.buf].modifiable = true
  api.nvim_buf_set_lines(v.buf, 0, -1, false, lines)
  vim.bo[v.buf].modifiable = false
  vim.bo[v.buf].modified = false
end

--- Reads the group again and asks for each active workspace's changes.
---@param v conductor.CompareView
local function refresh(v)
  v.list = members(v.group)
  for _, ws in ipairs(v.list) do
    if ws.state == "active" then
      if v.stats[ws.id] == nil then
        local ok, cached = pcall(engine.call, "changes_cached", { workspace = ws.id })
        v.stats[ws.id] = ok and type(cached) == "table" and cached or nil
      end
      local ok, err = pcall(engine.request, "changes", { workspace = ws.id }, function(e, changes)
        v.stats[ws.id] = e and ("changes: " .. e) or changes
        render(v)
      end)
      if not ok then
        v.stats[ws.id] = "changes: " .. notify.clean(err)
      end
    else
      v.stats[ws.id] = nil
    end
  end
  render(v)
end

---@param v conductor.CompareView
---@return conductor.Workspace[]
local function active(v)
  return vim.tbl_filter(function(ws)
    return ws.state == "active"
  end, v.list)
end

-- A read-only scratch buffer named `name` holding `lines`, in the current window.
---@param name string
---@param lines string[]
---@param path string the file's path, for its filetype
local function show_scratch(name, lines, path)
  local buf = bufs.find(name)
  if not buf then
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, name)
    api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].modifiable = false
    local ft = vim.filetype.match({ filename = path })
    if ft then
      vim.bo[buf].filetype = ft
    end
  end
  api.nvim_win_set_buf(0, buf)
end

-- A buffer with a worktree's version of `path`: the file itself (editable,
-- with your LSP), or an empty scratch buffer when it does not exist there. A
-- workspace on another machine: its file as the engine there reads it, read-only
-- (its path is not a path here).
---@param ws conductor.Workspace
---@param path string
local function show_side(ws, path)
  if ws.host then
    local label = format.workspace_ref(ws)
    local file = engine.call("file_read", { workspace = ws.id, path = path })
    if type(file) ~= "table" then
      show_scratch(("conductor://%s/%s (absent)"):format(label, path), {}, path)
    elseif file.binary then
      show_scratch(("conductor://%s/%s (binary)"):format(label, path), {}, path)
    else
      local lines = vim.split(file.text or "", "\n", { plain = true })
      if lines[#lines] == "" then
        lines[#lines] = nil
      end
      show_scratch(("conductor://%s/%s"):format(label, path), lines, path)
    end
  else
    local full = ws.path .. "/" .. path
    if vim.uv.fs_stat(full) then
      vim.cmd("edit " .. vim.fn.fnameescape(full))
    else
      show_scratch(("conductor://%s/%s (absent)"):format(ws.name, path), {}, path)
    end
  end
  vim.cmd("diffthis")
end

--- A vimdiff of `path` between the worktrees of `a` and `b`, in a new tab.
---@param a conductor.Workspace
---@param b conductor.Workspace
---@param path string
function M.diff(a, b, path)
  vim.cmd("tabnew")
  show_side(a, path)
  vim.cmd("rightbelow vsplit")
  show_side(b, path)
end

-- Two workspaces, then `cb(a, b)`: the two there are, else the one under the
-- cursor and another, else two asked for.
---@param v conductor.CompareView
---@param first conductor.Workspace?
---@param cb fun(a: conductor.Workspace, b: conductor.Workspace)
local function pick_two(v, first, cb)
  local list = active(v)
  if #list < 2 then
    error(("%s has fewer than two active workspaces to compare"):format(v.group), 0)
  end
  local function second(a)
    local rest = vim.tbl_filter(function(ws)
      return ws.id ~= a.id
    end, list)
    if #rest == 1 then
      return cb(a, rest[1])
    end
    vim.ui.select(rest, {
      prompt = ("conductor: compare %s with"):format(a.name),
      kind = "conductor_workspace",
      format_item = function(ws)
        return ("%s (%s)"):format(ws.name, ws.agent or "-")
      end,
    }, function(b)
      if b then
        vim.schedule(function()
          notify.guard(cb)(a, b)
        end)
      end
    end)
  end
  if first and first.state == "active" then
    return second(first)
  elseif #list == 2 then
    return cb(list[1], list[2])
  end
  vim.ui.select(list, {
    prompt = "conductor: compare which workspace",
    kind = "conductor_workspace",
    format_item = function(ws)
      return ("%s (%s)"):format(ws.name, ws.agent or "-")
    end,
  }, function(a)
    if a then
      vim.schedule(function()
        notify.guard(second)(a)
      end)
    end
  end)
end

---@param v conductor.CompareView
local function diff_key(v)
  local row = v.rows[api.nvim_win_get_cursor(0)[1]] or {}
  local function with_file(path)
    pick_two(v, row.ws, function(a, b)
      M.diff(a, b, path)
    end)
  end
  if row.file then
    return with_file(row.file)
  end
  local files = changed_files(v)
  if #files == 0 then
    error(("no changed files in %s yet"):format(v.group), 0)
  end
  vim.ui.select(
    files,
    { prompt = "conductor: diff which file", kind = "conductor_file" },
    function(path)
      if path then
        vim.schedule(function()
          notify.guard(with_file)(path)
        end)
      end
    end
  )
end

--- Keeps `keep` and archives the group's other active workspaces, after
--- asking. Archive's rules hold: processes stopped, uncommitted work
--- snapshotted, branches kept.
---@param group string
---@param keep conductor.Workspace
function M.keep(group, keep)
  local others = vim.tbl_filter(function(ws)
    return ws.state == "active" and ws.id ~= keep.id
  end, members(group))
  if #others == 0 then
    notify.info(("%s: nothing else to archive"):format(group))
    return
  end
  local names = vim.tbl_map(function(ws)
    return ws.name
  end, others)
  local question = (
    "Keep %s and archive %s?\nTheir uncommitted work is kept in snapshots and"
    .. " their branches stay; :ConductorRestore brings one back."
  ):format(keep.name, table.concat(names, ", "))
  if vim.fn.confirm(question, "&Keep\n&Cancel", 2) ~= 1 then
    return
  end
  for _, ws in ipairs(others) do
    actions.archive(ws.id, true)
  end
end

---@param v conductor.CompareView
local function keep_key(v)
  local row = v.rows[api.nvim_win_get_cursor(0)[1]] or {}
  if not row.ws then
    error("put the cursor on the line of the workspace to keep", 0)
  end
  M.keep(v.group, row.ws)
end

---@param v conductor.CompareView
local function open_key(v)
  local row = v.rows[api.nvim_win_get_cursor(0)[1]] or {}
  if row.ws then
    actions.open(row.ws.id)
  elseif row.file then
    pick_two(v, nil, function(a, b)
      M.diff(a, b, row.file)
    end)
  end
end

---@param v conductor.CompareView
local function map_keys(v)
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, function()
      notify.guard(fn)(v)
    end, { buffer = v.buf, nowait = true, desc = "conductor: " .. desc })
  end
  map("d", diff_key, "diff a file between two workspaces")
  map("K", keep_key, "keep this workspace, archive the others")
  map("<CR>", open_key, "open the workspace (or diff the file)")
  map("r", refresh, "refresh")
  map("q", function()
    if #api.nvim_list_tabpages() > 1 then
      vim.cmd("tabclose")
    else
      api.nvim_buf_delete(v.buf, { force = true })
    end
  end, "close")
end

-- Workspace changes (archive, restore, delete) show in every open view.

-- The group meant when none is named: the current workspace's, else the only
-- one there is.
---@return string
local function default_group()
  local ok, ws = pcall(workspace.current)
  ws = ok and ws or nil
  local name = ws and groups.of(ws.id)
  if name then
    return name
  end
  local names = groups.names()
  if #names == 1 then
    return names[1]
  elseif #names == 0 then
    error("no groups yet; make one with :ConductorNew --agent=A,B {task} or :ConductorFanout", 0)
  end
  error(("name a group: :ConductorCompare {group} (%s)"):format(table.concat(names, ", ")), 0)
end

--- `:ConductorCompare [group]`: the group's view in a tab of its own (the
--- same tab when it is open already, refreshed).
---@param group string?
function M.compare(group)
  if not group or group == "" then
    group = default_group()
  end
  if not groups.get(group) then
    local names = groups.names()
    error(
      ("no group named %q%s"):format(
        group,
        #names > 0 and ("; groups: " .. table.concat(names, ", ")) or ""
      ),
      0
    )
  end
  local name = "conductor://compare/" .. group
  for buf, v in pairs(views) do
    if api.nvim_buf_is_valid(buf) and v.group == group then
      local win = vim.fn.win_findbuf(buf)[1]
      if win then
        api.nvim_set_current_win(win)
      else
        vim.cmd("tabnew")
        api.nvim_win_set_buf(0, buf)
      end
      refresh(v)
      return
    end
  end
  vim.cmd("tabnew")
  local buf = api.nvim_get_current_buf()
  api.nvim_buf_set_name(buf, name)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "conductor_compare"
  vim.wo.cursorline = true
  local v = { group = group, buf = buf, list = {}, stats = {}, rows = {} }
  views[buf] = v
  api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    callback = function()
      views[buf] = nil
    end,
  })
  map_keys(v)
  refresh(v)
  -- The cursor on the first workspace.
  local first
  for line, row in pairs(v.rows) do
    if row.ws and (not first or line < first) then
      first = line
    end
  end
  if first then
    api.nvim_win_set_cursor(0, { first, 0 })
  end
end

--- The view's rows, for tests and extensions: the workspace or file of each
--- line of the current compare buffer.
---@param buf integer?
---@return table<integer, conductor.CompareRow>?
function M.rows(buf)
  local v = views[buf or api.nvim_get_current_buf()]
  return v and v.rows
end

M.compare = notify.guard(M.compare)

-- Wired when this module loads (modules load once).
do
  api.nvim_create_autocmd("User", {
    group = api.nvim_create_augroup("conductor_compare", { clear = true }),
    pattern = { "ConductorWorkspace*", "ConductorAgentState" },
    callback = function(ev)
      for buf, v in pairs(views) do
        if not api.nvim_buf_is_valid(buf) then
          views[buf] = nil
        elseif ev.match == "ConductorAgentState" then
          render(v)
        else
          refresh(v)
        end
      end
    end,
  })
end

return M
