-- `:ConductorReview`: a workspace's changes in a tab of their own — the file
-- panel on the left (review/panel.lua), the base and worktree versions of one
-- file in vimdiff on the right (review/diff.lua). One review tab per
-- workspace; it never carries the workspace's tab marker, so agents keep
-- opening in the workspace's own tab.
--
-- The first diff shows from the engine's cached change list (no git); the
-- fresh list follows from a worker thread and updates the tab in place, as do
-- later refreshes (a save in the worktree, an agent going idle, `R`).
--
-- Not here: what keys do (review/actions.lua), comments (review/comments.lua).

local M = {}

local api = vim.api
local comments = require("conductor.review.comments")
local config = require("conductor.config")
local diff = require("conductor.review.diff")
local engine = require("conductor.engine")
local events = require("conductor.events")
local format = require("conductor.format")
local keys = require("conductor.review.keys")
local notify = require("conductor.notify")
local panel = require("conductor.review.panel")
local remote_file = require("conductor.review.remote_file")
local tabline = require("conductor.tabline")
local tabs = require("conductor.review.tabs")

---@class conductor.Review
---@field ws conductor.Workspace
---@field tab integer
---@field scope "branch"|"uncommitted"|"commit"
---@field commit? string       the commit reviewed (scope "commit")
---@field changes? table        the engine's Changes
---@field viewed table<string, boolean>
---@field current? string       path of the file to show (kept across refreshes)
---@field file? table           the file shown
---@field shown_base? string    the base revision of the file shown
---@field shown_head? string    its right side's commit (nil: the worktree)
---@field panel_buf integer
---@field panel_win integer
---@field left integer          window of the base version
---@field right integer         window of the worktree version
---@field left_buf? integer
---@field right_buf? integer
---@field loading boolean       a `changes` request is on its way
---@field error? string         why the last one failed
---@field items? table<integer, conductor.PanelItem>
---@field getter fun(): conductor.Review?
---@field group integer         its autocmd group
---@field token? table          the latest `changes` request
---@field view table           this module, for the actions (review/actions.lua)

-- The scopes `s` cycles through; "commit" (one commit against its parent)
-- is chosen with a commit (`--commit=`, `C` in the panel).
local SCOPES = { "branch", "uncommitted" }

---@param scope string?
local function check_scope(scope)
  if scope ~= nil and scope ~= "commit" and not vim.tbl_contains(SCOPES, scope) then
    error(("unknown review scope %q (branch, uncommitted or commit)"):format(tostring(scope)), 0)
  end
end

M.current = tabs.current
M.of_workspace = tabs.of_workspace
M.resolve = tabs.resolve
M.help_lines = keys.help_lines

---@param review conductor.Review
local function update_workspace(review)
  local ok, ws = pcall(engine.call, "get", { workspace = review.ws.id })
  if ok and ws then
    review.ws = ws
    review.viewed = {}
    for _, path in ipairs(ws.viewed or {}) do
      review.viewed[path] = true
    end
  end
end

---@param changes table
---@param path string?
---@return table?, integer?
local function find(changes, path)
  for i, f in ipairs(changes and changes.files or {}) do
    if f.path == path then
      return f, i
    end
  end
end

---@param a table
---@param b table
local function same_file(a, b)
  return a.path == b.path
    and a.status == b.status
    and a.binary == b.binary
    and a.old_path == b.old_path
end

--- Puts a change list on screen: the panel, and the diff of the file shown
--- (again only when what it is diffed against changed).
---@param review conductor.Review
---@param changes table
function M.apply(review, changes)
  if not tabs.valid(review) then
    return
  end
  review.changes = changes
  review.error = nil
  if review.scope == "commit" and changes.head then
    review.commit = changes.head -- `HEAD~1` and friends stay on the commit first meant
  end
  update_workspace(review)
  local files = changes.files or {}
  local file = find(changes, review.current)
  -- A file no longer in the list stays shown, unless the list is measured
  -- from another commit now (another scope, a rebase): then the first one.
  local moved = review.shown_base ~= changes.base or review.shown_head ~= changes.head
  if not file and (not review.file or moved) then
    file = files[1]
  end
  -- The first file of a cached list may not be the first of the fresh one (files
  -- added since): unless the user went elsewhere meanwhile, open on the fresh first.
  if review.provisional and not changes.cached then
    if review.current == review.provisional and files[1] then
      file = files[1]
    end
    review.provisional = nil
  end
  if file then
    review.current = file.path
  end
  panel.render(review)
  if #files == 0 then
    return diff.note(review, "no changes")
  end
  if not file then
    return diff.update(review)
  end
  if review.file and same_file(review.file, file) and not moved then
    review.file = file
    diff.update(review)
  else
    M.show(review, file, { keep_cursor = review.file ~= nil and review.file.path == file.path })
  end
end

--- Shows `file` in the diff windows and marks it current in the panel.
---@param review conductor.Review
---@param file table
---@param opts? conductor.ShowOpts
function M.show(review, file, opts)
  review.current = file.path
  local ok, err = pcall(diff.show, review, file, opts)
  if ok then
    review.shown_base = review.changes.base
    review.shown_head = review.changes.head
  else
    diff.note(review, ("could not show %s: %s"):format(file.path, notify.clean(err)))
    notify.error(("could not show %s: %s"):format(file.path, err))
  end
  panel.render(review)
end

--- Asks the engine for a fresh change list; the review updates when it comes.
---@param review conductor.Review
function M.refresh(review)
  if not tabs.valid(review) then
    return
  end
  local token = {}
  review.token = token
  review.loading = true
  panel.render(review)
  local ok, err = pcall(engine.request, "changes", {
    workspace = review.ws.id,
    scope = review.scope,
    commit = review.scope == "commit" and review.commit or nil,
  }, function(e, changes)
    if review.token ~= token or not tabs.valid(review) then
      return
    end
    review.loading = false
    if e then
      review.error = e
      panel.render(review)
      if not review.changes then
        diff.note(review, "could not list the changes: " .. e)
      end
      return notify.error(
        ("%s: could not list the changes: %s"):format(format.workspace(review.ws), e)
      )
    end
    M.apply(review, changes)
  end)
  if not ok then
    review.loading = false
    review.error = notify.clean(err)
    panel.render(review)
    notify.error(err)
  end
end

-- Refreshes soon, once, however many times it is asked meanwhile.
---@param review conductor.Review
function M.refresh_soon(review)
  if review.refresh_queued then
    return
  end
  review.refresh_queued = true
  vim.defer_fn(function()
    review.refresh_queued = false
    M.refresh(review)
  end, 200)
end

--- Redraws the panel and comment marks of workspace `id`'s review, if open.
---@param id string
function M.redraw(id)
  local review = M.of_workspace(id)
  if review then
    update_workspace(review)
    panel.render(review)
    diff.decorate(review)
  end
end

--- Switches the review to another scope ("branch", "uncommitted", or
--- "commit" with `commit`, a revision).
---@param review conductor.Review
---@param scope string
---@param commit? string
function M.set_scope(review, scope, commit)
  check_scope(scope)
  if scope == "commit" and not (commit and commit ~= "") then
    error("the commit scope needs a commit (--commit=<rev>, or C in the panel)", 0)
  end
  review.scope = scope
  review.commit = scope == "commit" and commit or nil
  review.changes = nil
  M.refresh(review)
end

--- The scope after `scope`, for cycling.
---@param scope string
---@return string
function M.next_scope(scope)
  for i, s in ipairs(SCOPES) do
    if s == scope then
      return SCOPES[i % #SCOPES + 1]
    end
  end
  return SCOPES[1]
end

---@param review conductor.Review
local function forget(review)
  if tabs.by_tab[review.tab] ~= review then
    return
  end
  tabs.by_tab[review.tab] = nil
  diff.release(review)
  pcall(api.nvim_del_augroup_by_id, review.group)
end

--- Closes a review: its tab goes, the worktree buffers stay (hidden, with
--- any unsaved changes).
---@param review conductor.Review
function M.close(review)
  local tab = review.tab
  diff.clear_window(review.left)
  diff.clear_window(review.right)
  forget(review)
  if not api.nvim_tabpage_is_valid(tab) then
    return
  end
  if #api.nvim_list_tabpages() == 1 then
    vim.cmd("tabnew")
  end
  vim.cmd("tabclose " .. api.nvim_tabpage_get_number(tab))
end

---@class conductor.ReviewOpts
---@field scope? "branch"|"uncommitted"|"commit"  default "branch" ("commit" when `commit` is given)
---@field commit? string  a revision: review that one commit against its parent

--- Opens the review of a workspace (default: the current tab's) in a new tab,
--- or goes to its review tab when there is one.
---@param name string?
---@param opts conductor.ReviewOpts?
function M.review(name, opts)
  opts = opts or {}
  local ws = M.resolve(name, "ConductorReview")
  if ws.state ~= "active" then
    error(
      ("%s is %s; only an active workspace can be reviewed"):format(format.workspace(ws), ws.state),
      0
    )
  elseif not ws.host and vim.fn.isdirectory(ws.path) == 0 then
    -- (A worktree on another machine is not looked at here: its engine answers for it.)
    error(("worktree of %s is missing: %s"):format(format.workspace(ws), ws.path), 0)
  end
  if opts.commit == "" then
    opts.commit = nil
  end
  local scope = opts.commit and "commit" or opts.scope
  check_scope(scope)
  if scope == "commit" and not opts.commit then
    error("the commit scope needs a commit (--commit=<rev>)", 0)
  end
  local problem, where = keys.check((config.get().review or {}).keys or {})
  if problem then
    error(("option 'review.keys%s' %s"):format(where or "", problem), 0)
  end
  local existing = M.of_workspace(ws.id)
  if existing then
    api.nvim_set_current_tabpage(existing.tab)
    if
      scope and (scope ~= existing.scope or (scope == "commit" and opts.commit ~= existing.commit))
    then
      M.set_scope(existing, scope, opts.commit)
    else
      M.refresh(existing)
    end
    return
  end

  local width = (config.get().review or {}).panel_width or 40
  vim.cmd("tabnew")
  local tab = api.nvim_get_current_tabpage()
  vim.bo.bufhidden = "wipe"
  -- The tab works in the worktree; one on another machine is no directory here.
  if not ws.host then
    vim.cmd("tcd " .. vim.fn.fnameescape(ws.path))
  end
  vim.t.conductor_review = ws.id
  tabline.mark(format.workspace(ws) .. " review")
  local right = api.nvim_get_current_win()
  vim.cmd("leftabove vsplit")
  local left = api.nvim_get_current_win()
  local panel_buf = panel.create(ws)
  vim.cmd(("topleft vertical %dsplit"):format(width))
  local panel_win = api.nvim_get_current_win()
  api.nvim_win_set_buf(panel_win, panel_buf)
  panel.setup_window(panel_win)
  vim.cmd("wincmd =")

  ---@type conductor.Review
  local review = {
    ws = ws,
    tab = tab,
    scope = scope or "branch",
    commit = opts.commit,
    viewed = {},
    panel_buf = panel_buf,
    panel_win = panel_win,
    left = left,
    right = right,
    loading = false,
    group = api.nvim_create_augroup("conductor_review_" .. tab, { clear = true }),
    view = M,
  }
  review.getter = function()
    return tabs.valid(review) and review or nil
  end
  tabs.by_tab[tab] = review
  update_workspace(review)
  keys.attach(panel_buf, "panel", review.getter)

  -- A file of the worktree written (on another machine: through remote_file.lua).
  local written = ws.host and remote_file.prefix(ws) or (ws.path .. "/")
  api.nvim_create_autocmd("BufWritePost", {
    group = review.group,
    callback = function(ev)
      local file = ws.host and ev.match or vim.fn.fnamemodify(ev.match, ":p")
      if vim.startswith(file, written) then
        M.refresh_soon(review)
      end
    end,
  })
  api.nvim_create_autocmd("WinClosed", {
    group = review.group,
    pattern = { tostring(left), tostring(right) },
    callback = function(ev)
      diff.clear_window(tonumber(ev.match))
    end,
  })
  api.nvim_create_autocmd("TabClosed", {
    group = review.group,
    callback = function()
      if not api.nvim_tabpage_is_valid(review.tab) then
        forget(review)
      end
    end,
  })
  api.nvim_create_autocmd("BufWipeout", {
    group = review.group,
    buffer = panel_buf,
    callback = function()
      vim.schedule(function()
        forget(review)
      end)
    end,
  })

  -- First what the engine already knows (no git), then the fresh list.
  local ok, cached = pcall(engine.call, "changes_cached", { workspace = ws.id })
  if ok and type(cached) == "table" and (cached.scope or "branch") == review.scope then
    cached.cached = true
    M.apply(review, cached)
    review.provisional = review.current
  else
    panel.render(review)
    diff.note(review, "loading changes…")
  end
  M.refresh(review)
  api.nvim_set_current_win(panel_win)
  events.fire(
    "ConductorReviewOpened",
    { workspace = review.ws, scope = review.scope, commit = review.commit, tab = tab }
  )
end

--- `:ConductorSendComments`: sends the unsent comments of a workspace
--- (default: the current review's or tab's) to its agent.
---@param name string?
function M.send_comments(name)
  local ws = tabs.resolve(name, "ConductorSendComments")
  comments.send(ws, function()
    M.redraw(ws.id)
  end)
end

M.review = notify.guard(M.review)
M.send_comments = notify.guard(M.send_comments)

-- Wired when this module loads (modules load once).
do
  -- The engine recomputes a workspace's list when one of its agents goes idle
  -- (and after every branch-scope request: skipped while ours is on its way).
  engine.on("changes", function(d)
    for _, review in pairs(tabs.by_tab) do
      if
        review.ws.id == d.workspace_id
        and not review.loading
        and d.changes
        and (d.changes.scope or "branch") == review.scope
      then
        M.apply(review, d.changes)
      end
    end
  end)
  local group = api.nvim_create_augroup("conductor_review", { clear = true })
  -- The connection to a host came back: its reviews list their changes again (what
  -- happened there meanwhile).
  api.nvim_create_autocmd("User", {
    group = group,
    pattern = "ConductorHostReconnected",
    callback = function(ev)
      for _, review in pairs(tabs.by_tab) do
        if ev.data and review.ws.host == ev.data.host and tabs.valid(review) then
          M.refresh(review)
        end
      end
    end,
  })
  -- A workspace that loses its worktree loses its review.
  api.nvim_create_autocmd("User", {
    group = group,
    pattern = { "ConductorWorkspaceArchived", "ConductorWorkspaceDeleted" },
    callback = function(ev)
      local review = ev.data and ev.data.id and M.of_workspace(ev.data.id)
      if review then
        M.close(review)
      end
    end,
  })
end

return M
