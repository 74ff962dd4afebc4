-- The review's named actions, what review/keys.lua binds keys to. Each takes
-- the review and works on what the cursor is on: in the panel, the file (or
-- comment) of the cursor's line; in a diff window, the file shown and the
-- cursor's line or visual range.

local M = {}

local api = vim.api
local checks = require("conductor.ship.checks")
local comments = require("conductor.review.comments")
local engine = require("conductor.engine")
local format = require("conductor.format")
local notify = require("conductor.notify")
local panel = require("conductor.review.panel")
local remote_file = require("conductor.review.remote_file")

---@type table<string, fun(review: conductor.Review)>
local actions = {}

---@return string[]
function M.names()
  local names = vim.tbl_keys(actions)
  table.sort(names)
  return names
end

--- Runs action `name` on `review`; an error is one notification.
---@param name string
---@param review conductor.Review
function M.run(name, review)
  local fn = actions[name]
  if not fn then
    return notify.error(("unknown review action %q"):format(name))
  end
  notify.guard(fn)(review)
end

---@param review conductor.Review
local function in_panel(review)
  return api.nvim_get_current_win() == review.panel_win
end

-- The panel item under the cursor (panel only).
---@param review conductor.Review
---@return conductor.PanelItem?
local function item(review)
  if not in_panel(review) then
    return nil
  end
  return panel.item(review, api.nvim_win_get_cursor(0)[1])
end

-- The file the user means: the panel's line, else the one shown.
---@param review conductor.Review
---@return table
local function target_file(review)
  local it = item(review)
  local file = it and it.file or (not in_panel(review) and review.file) or nil
  if not file then
    error("no file here: put the cursor on a file of the panel", 0)
  end
  return file
end

---@param review conductor.Review
---@return table[]
local function files(review)
  return review.changes and review.changes.files or {}
end

---@param review conductor.Review
---@param file table
local function focus_panel_line(review, file)
  local line = panel.line_of(review, file.path)
  if line and api.nvim_win_is_valid(review.panel_win) then
    api.nvim_win_set_cursor(review.panel_win, { line, 0 })
  end
end

---@param review conductor.Review
---@param focus boolean move to the worktree side
local function open(review, focus)
  local it = item(review)
  if not it then
    return
  end
  if not (review.file and review.file.path == it.file.path) then
    review.view.show(review, it.file)
  end
  if focus or it.kind == "comment" then
    local c = it.comment
    local win = c and c.side == "base" and review.left or review.right
    api.nvim_set_current_win(win)
    if c and c.line1 then
      pcall(api.nvim_win_set_cursor, win, { c.line1, 0 })
    end
  end
end

--- Open the file (or go to the comment) under the cursor; focus the diff.
function actions.open(review)
  open(review, true)
end

--- Show the file under the cursor; stay in the panel.
function actions.preview(review)
  open(review, false)
end

---@param review conductor.Review
---@param step integer
local function move(review, step)
  local list = files(review)
  if #list == 0 then
    return
  end
  local from = review.current
  local it = item(review)
  if it then
    from = it.file.path
  end
  local index = 0
  for i, f in ipairs(list) do
    if f.path == from then
      index = i
    end
  end
  if index == 0 and step < 0 then
    index = #list + 1
  end
  local next = list[(index - 1 + step) % #list + 1]
  review.view.show(review, next)
  if in_panel(review) then
    focus_panel_line(review, next)
  end
end

function actions.next_file(review)
  move(review, 1)
end

function actions.prev_file(review)
  move(review, -1)
end

--- Mark the file viewed, or not viewed (kept in the workspace's record).
function actions.toggle_viewed(review)
  local file = target_file(review)
  local viewed = not review.viewed[file.path]
  local ws = engine.call("set_viewed", {
    workspace = review.ws.id,
    path = file.path,
    viewed = viewed,
  })
  if type(ws) == "table" and ws.id then
    review.ws = ws
  end
  review.viewed[file.path] = viewed or nil
  panel.render(review)
end

-- Reverting is for the worktree: reviewing one commit, both sides are that
-- commit's history and read-only.
---@param review conductor.Review
local function no_revert_in_commit(review)
  if review.scope == "commit" then
    error(
      "cannot revert while reviewing one commit (both sides are read-only); switch to the branch scope with s",
      0
    )
  end
end

-- The loaded buffer of file `abs`, or nil.
---@param abs string
---@return integer?
local function buf_of(abs)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(b) and api.nvim_buf_get_name(b) == abs then
      return b
    end
  end
end

--- Put the file back to its base version, after asking.
function actions.revert_file(review)
  no_revert_in_commit(review)
  local file = target_file(review)
  local ws, base = review.ws, review.changes.base
  -- The file's buffer: on another machine, the one remote_file.lua reads and writes.
  local abs = ws.host and remote_file.name(ws, file.path) or (ws.path .. "/" .. file.path)
  local buf = buf_of(abs)
  local unsaved = buf and vim.bo[buf].modified
  local what = file.status == "A" and "delete it (it is not in the base)"
    or ("put it back as it is at %s"):format(base:sub(1, 7))
  local question = ("Revert %s? This will %s;\nits changes in the worktree%s are lost."):format(
    file.path,
    what,
    unsaved and ", and the unsaved ones in its buffer," or ""
  )
  if vim.fn.confirm(question, "&Revert\n&Cancel", 2) ~= 1 then
    return
  end
  local paths = { file.path }
  if file.old_path and file.old_path ~= file.path then
    paths[#paths + 1] = file.old_path
  end
  -- The file to show next: this one is about to leave the list.
  local list, next = files(review), nil
  for i, f in ipairs(list) do
    if f.path == file.path then
      next = list[i + 1] or list[i - 1]
    end
  end
  local left, failed = #paths, false
  for _, path in ipairs(paths) do
    engine.request("revert_file", { workspace = ws.id, path = path, rev = base }, function(err)
      left = left - 1
      if err then
        failed = true
        notify.error(("could not revert %s: %s"):format(path, err))
      end
      if left > 0 then
        return
      end
      if not failed then
        notify.info(("reverted %s to %s"):format(file.path, base:sub(1, 7)))
      end
      if review.file and review.file.path == file.path and next and not failed then
        review.view.show(review, next)
      end
      local b = buf_of(abs)
      if b and ws.host then
        -- Read again from the host: the base version replaces its changes (as `:edit!`
        -- does below); a file the revert removed loses its hidden buffer.
        vim.bo[b].modified = false
        if not remote_file.reload(b) and #vim.fn.win_findbuf(b) == 0 then
          pcall(api.nvim_buf_delete, b, { force = true })
        end
      elseif b then
        if vim.uv.fs_stat(abs) then
          api.nvim_buf_call(b, function()
            vim.cmd("silent edit!")
          end)
        elseif #vim.fn.win_findbuf(b) == 0 then
          pcall(api.nvim_buf_delete, b, { force = true })
        else
          vim.bo[b].modified = false
        end
      end
      review.view.refresh(review)
    end)
  end
end

--- Put the change under the cursor back to its base version (`:diffget`
--- into the worktree side, `:diffput` from the base side). Write to keep it.
function actions.revert_hunk(review)
  no_revert_in_commit(review)
  local win = api.nvim_get_current_win()
  local rbuf = review.right_buf
  if not rbuf or not api.nvim_buf_is_valid(rbuf) or not vim.bo[rbuf].modifiable then
    error("this side cannot be edited; revert the whole file with X in the panel", 0)
  end
  local cmd
  if win == review.right then
    cmd = "diffget"
  elseif win == review.left then
    cmd = "diffput"
  else
    error("put the cursor on a change in the diff", 0)
  end
  local ok, err = pcall(vim.cmd, cmd)
  if not ok then
    error(("no change under the cursor to revert (%s)"):format(notify.clean(err)), 0)
  end
  vim.cmd("diffupdate")
end

-- The line range of a comment made in a diff window: the visual selection
-- (which is left), else the cursor's line.
---@return integer, integer
local function range()
  local mode = api.nvim_get_mode().mode
  local l1, l2 = vim.fn.line("."), vim.fn.line(".")
  if mode == "v" or mode == "V" or mode == "\22" then
    l1 = vim.fn.line("v")
    api.nvim_feedkeys(api.nvim_replace_termcodes("<Esc>", true, false, true), "nx", false)
  end
  if l1 > l2 then
    l1, l2 = l2, l1
  end
  return l1, l2
end

---@param review conductor.Review
local function changed(review)
  local r = review.view
  r.redraw(review.ws.id)
end

--- Comment on the line or visual range (diff windows), on the file (panel),
--- or change the comment under the cursor (panel).
function actions.comment(review)
  local it = item(review)
  if it and it.kind == "comment" then
    local c = it.comment
    vim.ui.input(
      { prompt = ("comment on %s: "):format(comments.where(c)), default = c.text },
      function(text)
        if text and vim.trim(text) ~= "" then
          c.text = vim.trim(text)
          c.sent = false
          comments.save(review.ws.id)
          changed(review)
        end
      end
    )
    return
  end
  local win = api.nvim_get_current_win()
  local c = { side = "worktree" }
  if it then
    c.path = it.file.path
  elseif (win == review.left or win == review.right) and review.file then
    local buf = api.nvim_win_get_buf(win)
    c.path = review.file.path
    c.line1, c.line2 = range()
    c.code = api.nvim_buf_get_lines(buf, c.line1 - 1, c.line2, false)
    if win == review.left then
      c.side, c.rev, c.base_path = "base", review.changes.base, review.file.old_path
    end
  else
    error("put the cursor on a file of the panel or a line of the diff", 0)
  end
  local where = comments.where(vim.tbl_extend("force", { line2 = c.line1 }, c))
  vim.ui.input({ prompt = ("comment on %s: "):format(where) }, function(text)
    if text and vim.trim(text) ~= "" then
      c.text = vim.trim(text)
      comments.add(review.ws.id, c)
      changed(review)
    end
  end)
end

--- Delete the comment under the cursor (panel).
function actions.delete_comment(review)
  local it = item(review)
  if not (it and it.kind == "comment") then
    error("put the cursor on a comment of the panel", 0)
  end
  comments.remove(review.ws.id, it.comment.id)
  changed(review)
end

--- Send the unsent comments to the workspace's agent, as one prompt.
function actions.send_comments(review)
  comments.send(review.ws, function()
    changed(review)
  end)
end

--- Switch between the branch's changes and the uncommitted ones (from one
--- commit: to the branch's).
function actions.cycle_scope(review)
  review.view.set_scope(review, review.view.next_scope(review.scope))
end

--- Review one commit of the branch (against its parent), chosen from a list.
function actions.pick_commit(review)
  local ws = review.ws
  -- From the engine (the worktree may be on another machine).
  engine.request("commits", { workspace = ws.id }, function(err, commits)
    if err then
      return notify.error(("%s: the branch's commits: %s"):format(format.workspace(ws), err))
    end
    if #commits == 0 then
      return notify.info(
        ("%s: no commits on the branch since %s"):format(
          format.workspace(ws),
          ws.base_branch or "its base"
        )
      )
    end
    vim.ui.select(commits, {
      prompt = "Review the commit",
      format_item = function(c)
        return c.sha .. "  " .. c.subject
      end,
    }, function(choice)
      if choice and review.getter() then
        notify.guard(review.view.set_scope)(review, "commit", choice.sha)
      end
    end)
  end)
end

--- List the changes again.
function actions.refresh(review)
  review.view.refresh(review)
end

--- Send the log of the failed check to the agent.
function actions.send_check_failure(review)
  checks.send_failure(review.ws)
end

--- Close the review tab.
function actions.close(review)
  review.view.close(review)
end

--- Show the keys.
function actions.help(review)
  local lines = review.view.help_lines()
  api.nvim_echo({ { table.concat(lines, "\n") } }, false, {})
end

return M
