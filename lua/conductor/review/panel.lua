-- The review's file panel: a header (scope, totals, checks, pull request),
-- then one line per changed file — status letter, viewed mark, path, +added
-- -removed, comment count — with that file's comments under it.
--
-- Not here: what its keys do (review/actions.lua). The panel only draws and
-- says what is on a line (`item`).

local M = {}

local api = vim.api
local checks = require("conductor.ship.checks")
local comments = require("conductor.review.comments")
local format = require("conductor.format")
local highlights = require("conductor.highlights")

local ns = api.nvim_create_namespace("conductor_review_panel")

local STATUS_HL = {
  A = "ConductorReviewAdded",
  D = "ConductorReviewRemoved",
  M = "ConductorReviewChanged",
  R = "ConductorReviewChanged",
  T = "ConductorReviewChanged",
}

---@class conductor.PanelItem
---@field kind "file"|"comment"
---@field file? table         the file (of Changes), for both kinds
---@field comment? conductor.Comment

--- Makes the panel's buffer (named `conductor://<ws>/review`).
---@param ws conductor.Workspace
---@return integer buf
function M.create(ws)
  local buf = api.nvim_create_buf(false, true)
  pcall(api.nvim_buf_set_name, buf, ("conductor://%s/review"):format(format.workspace_ref(ws)))
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = "conductor_review"
  return buf
end

--- Window options of the panel.
---@param win integer
function M.setup_window(win)
  local wo = vim.wo[win][0]
  wo.number = false
  wo.relativenumber = false
  wo.signcolumn = "no"
  wo.foldcolumn = "0"
  wo.wrap = false
  wo.list = false
  wo.spell = false
  wo.cursorline = true
  wo.winfixwidth = true
  wo.statuscolumn = ""
end

-- The checks line: running, passed, failed (which command), or not run.
---@param ws conductor.Workspace
---@return string text, string hl
local function checks_line(ws)
  if checks.running(ws.id) then
    return "checks: running…", "ConductorWorking"
  end
  local res = checks.result(ws)
  if not res then
    return "checks: not run (:ConductorCheck)", "Comment"
  elseif #(res.results or {}) == 0 then
    return "checks: none configured", "Comment"
  elseif res.ok then
    return ("checks: ✓ passed %s"):format(format.duration(checks.elapsed(res))),
      "ConductorReviewPass"
  end
  local failed = checks.failure(res) or {}
  local why = failed.code and (" (exit " .. failed.code .. ")") or ""
  return ("checks: ✗ %s failed%s · gF"):format(failed.command or "a check", why),
    "ConductorReviewFail"
end

--- Draws the panel of `review` and records what each line is.
---@param review conductor.Review
function M.render(review)
  local buf = review.panel_buf
  if not (buf and api.nvim_buf_is_valid(buf)) then
    return
  end
  highlights.ensure()
  local ws, changes = review.ws, review.changes
  local lines, hls, items = {}, {}, {}
  local function add(text, hl, item)
    lines[#lines + 1] = text
    if hl then
      hls[#hls + 1] = { #lines - 1, 0, -1, hl }
    end
    items[#lines] = item
  end

  local scope = review.scope == "uncommitted" and "uncommitted changes"
    or review.scope == "commit" and ("commit %s"):format(
      (changes and changes.head or review.commit or "?"):sub(1, 7)
    )
    or "branch changes"
  add(
    ("%s · %s%s"):format(format.workspace(ws), scope, review.loading and " (updating…)" or ""),
    "ConductorReviewHeader"
  )
  if changes then
    local against = review.scope == "uncommitted" and "HEAD"
      or review.scope == "commit" and "its parent"
      or ws.base_branch
    add(("vs %s @ %s"):format(against or "base", (changes.base or ""):sub(1, 7)), "Comment")
    local viewed = 0
    for _, f in ipairs(changes.files) do
      if review.viewed[f.path] then
        viewed = viewed + 1
      end
    end
    add(
      ("%d file%s  +%d -%d  · %d/%d viewed"):format(
        #changes.files,
        #changes.files == 1 and "" or "s",
        changes.added or 0,
        changes.removed or 0,
        viewed,
        #changes.files
      )
    )
  elseif review.error then
    add("error: " .. review.error, "ConductorReviewFail")
  else
    add("loading…", "Comment")
  end
  local text, hl = checks_line(ws)
  add(text, hl)
  if ws.pr_url then
    add("PR: " .. ws.pr_url, "Underlined")
  end
  add("")

  local files = changes and changes.files or {}
  if changes and #files == 0 then
    add("no changes", "Comment")
  end
  local width = 0
  for _, f in ipairs(files) do
    width = math.max(width, vim.fn.strdisplaywidth(f.path))
  end
  local panel_width = review.panel_win
      and api.nvim_win_is_valid(review.panel_win)
      and api.nvim_win_get_width(review.panel_win)
    or 40
  width = math.min(width, math.max(panel_width - 18, 10))
  local current_line
  for _, f in ipairs(files) do
    local list = comments.list(ws.id, { path = f.path })
    local unsent = #vim.tbl_filter(function(c)
      return not c.sent
    end, list)
    local mark = review.viewed[f.path] and "✓" or " "
    local path = f.path
    if vim.fn.strdisplaywidth(path) < width then
      path = path .. (" "):rep(width - vim.fn.strdisplaywidth(path))
    end
    local prefix = ("%s %s %s  "):format(f.status, mark, path)
    local a, r = tostring(f.added or 0), tostring(f.removed or 0)
    local line = prefix .. (f.binary and "binary" or ("+%s -%s"):format(a, r))
    if #list > 0 then
      line = line .. ("  ✎%d"):format(unsent > 0 and unsent or #list)
    end
    add(line, review.viewed[f.path] and "ConductorReviewViewed" or nil, { kind = "file", file = f })
    local row = #lines - 1
    hls[#hls + 1] = { row, 0, 1, STATUS_HL[f.status] or "ConductorReviewChanged" }
    if not f.binary then
      hls[#hls + 1] = { row, #prefix, #prefix + 1 + #a, "ConductorReviewAdded" }
      hls[#hls + 1] = { row, #prefix + 2 + #a, #prefix + 3 + #a + #r, "ConductorReviewRemoved" }
    end
    if f.path == review.current then
      current_line = #lines
      hls[#hls + 1] = { row, 0, -1, "ConductorReviewCurrent" }
    end
    for _, c in ipairs(list) do
      local where = c.line1
          and (c.line1 == c.line2 and ("%d"):format(c.line1) or ("%d-%d"):format(c.line1, c.line2))
        or "file"
      if c.side == "base" then
        where = where .. " (base)"
      end
      add(
        ("    %s %s: %s"):format(c.sent and "✓" or "✎", where, c.text:gsub("\n", " ")),
        c.sent and "Comment" or "ConductorReviewComment",
        { kind = "comment", file = f, comment = c }
      )
    end
  end

  -- Keep the cursor on the same file or comment across redraws.
  local win = review.panel_win
  local keep, on_item = nil, false
  if win and api.nvim_win_is_valid(win) and api.nvim_win_get_buf(win) == buf then
    local old = review.items and review.items[api.nvim_win_get_cursor(win)[1]]
    on_item = old ~= nil
    if old then
      for i, it in pairs(items) do
        if
          it.kind == old.kind
          and it.file.path == old.file.path
          and (it.kind == "file" or it.comment.id == old.comment.id)
        then
          keep = i
        end
      end
    end
  end

  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  for _, h in ipairs(hls) do
    local row, col, end_col, group = h[1], h[2], h[3], h[4]
    if end_col == -1 then
      api.nvim_buf_set_extmark(
        buf,
        ns,
        row,
        0,
        { line_hl_group = group, priority = group == "ConductorReviewCurrent" and 50 or 100 }
      )
    else
      pcall(api.nvim_buf_set_extmark, buf, ns, row, col, { end_col = end_col, hl_group = group })
    end
  end
  review.items = items
  if win and api.nvim_win_is_valid(win) and api.nvim_win_get_buf(win) == buf then
    -- From the header (first draw), go to the shown file.
    local target = keep or (not on_item and current_line) or nil
    if target then
      api.nvim_win_set_cursor(win, { target, 0 })
    end
  end
end

--- What is on `line` of the panel (nil for header lines).
---@param review conductor.Review
---@param line integer
---@return conductor.PanelItem?
function M.item(review, line)
  return review.items and review.items[line]
end

--- The panel line of file `path`, or nil.
---@param review conductor.Review
---@param path string
---@return integer?
function M.line_of(review, path)
  for i, it in pairs(review.items or {}) do
    if it.kind == "file" and it.file.path == path then
      return i
    end
  end
end

return M
