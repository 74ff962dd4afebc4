-- The review's two diff windows: on the left the base version of a file in a
-- read-only scratch buffer named `conductor://<ws>/<rev>/<path>`, on the
-- right the real file in the worktree (`:edit`ed: the user's LSP, keymaps
-- and `:w` work as anywhere; on another machine, a buffer read and written
-- through its engine, review/remote_file.lua), both in Neovim's own diff mode. Reviewing one
-- commit (changes.head set), the right side is that commit's blob, read-only. An added file
-- has an empty left side, a deleted one an empty read-only right side; a
-- binary file a one-line note instead of a diff.
--
-- Not here: which file is shown (review/init.lua) and the keys (review/keys.lua).

local M = {}

local api = vim.api
local bufs = require("conductor.bufs")
local comments = require("conductor.review.comments")
local engine = require("conductor.engine")
local format = require("conductor.format")
local keys = require("conductor.review.keys")
local remote_file = require("conductor.review.remote_file")

local ns = api.nvim_create_namespace("conductor_review_comments")

--- A read-only scratch buffer `name` holding `lines` (reused when one by that
--- name exists), its filetype detected from `path`.
---@param name string
---@param lines string[]
---@param path? string
---@param dos? boolean the lines had CRLF endings
---@return integer buf
function M.scratch(name, lines, path, dos)
  local buf = bufs.find(name)
  if not buf then
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, name)
  end
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].fileformat = dos and "dos" or "unix"
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  if path then
    local ok, ft = pcall(vim.filetype.match, { filename = path, buf = buf })
    if ok and ft and vim.bo[buf].filetype ~= ft then
      vim.bo[buf].filetype = ft
    end
  end
  return buf
end

--- The buffer of `path` at `rev` (empty when the path is not there).
---@param review conductor.Review
---@param rev string
---@param path string
---@return integer buf, boolean binary
local function blob_buf(review, rev, path)
  local name = ("conductor://%s/%s/%s"):format(format.workspace_ref(review.ws), rev:sub(1, 7), path)
  local blob = engine.call("blob", { workspace = review.ws.id, rev = rev, path = path })
  if blob and blob.binary then
    return M.scratch(name, { ("binary file %s at %s: not shown"):format(path, rev:sub(1, 7)) }),
      true
  end
  local lines, dos = bufs.split(blob and blob.text or "")
  return M.scratch(name, lines, path, dos), false
end

---@param s string
local function esc(s)
  return (s:gsub("%%", "%%%%"))
end

---@param win integer
---@param text string
local function winbar(win, text)
  vim.wo[win][0].winbar = esc(text)
end

---@param win integer
local function diffoff(win)
  if api.nvim_win_is_valid(win) and vim.wo[win].diff then
    api.nvim_win_call(win, function()
      vim.cmd("diffoff")
    end)
  end
end

--- Takes the review's window options off a diff window while its buffer is
--- still in it: a window-local option set for a buffer follows that buffer
--- into the next window that shows it.
---@param win integer
function M.clear_window(win)
  if api.nvim_win_is_valid(win) then
    diffoff(win)
    vim.wo[win][0].winbar = ""
  end
end

-- Takes the review's keys and comment marks off the worktree buffer that
-- leaves the review.
---@param review conductor.Review
function M.release(review)
  local buf = review.right_buf
  review.right_buf = nil
  if buf and api.nvim_buf_is_valid(buf) then
    keys.detach(buf)
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  end
end

--- Marks the lines that have comments, in the buffers of the shown file.
---@param review conductor.Review
function M.decorate(review)
  local file = review.file
  if not file then
    return
  end
  local list = comments.list(review.ws.id, { path = file.path })
  for side, buf in pairs({ worktree = review.right_buf, base = review.left_buf }) do
    if buf and api.nvim_buf_is_valid(buf) then
      api.nvim_buf_clear_namespace(buf, ns, 0, -1)
      local count = api.nvim_buf_line_count(buf)
      for _, c in ipairs(list) do
        if c.side == side and c.line1 and c.line2 <= count then
          api.nvim_buf_set_extmark(buf, ns, c.line1 - 1, 0, {
            end_row = c.line2 - 1,
            sign_text = c.sent and "✓" or "✎",
            sign_hl_group = c.sent and "Comment" or "DiagnosticInfo",
            virt_text = { { "  " .. c.text, c.sent and "Comment" or "DiagnosticInfo" } },
            virt_text_pos = "eol",
          })
        end
      end
    end
  end
end

---@class conductor.ShowOpts
---@field keep_cursor? boolean  keep the cursor where it is (a refresh of the same file)

--- Shows `file` of the review's changes in its two windows.
---@param review conductor.Review
---@param file table a file of Changes
---@param opts? conductor.ShowOpts
function M.show(review, file, opts)
  opts = opts or {}
  local ws, changes = review.ws, review.changes
  local left, right = review.left, review.right
  local cursor = opts.keep_cursor
    and api.nvim_win_is_valid(right)
    and api.nvim_win_get_cursor(right)
  M.clear_window(left)
  M.clear_window(right)

  local base_path = file.old_path or file.path
  local base_short = changes.base:sub(1, 7)
  local binary = file.binary
  local lbuf
  if file.status == "A" then
    lbuf = M.scratch(
      ("conductor://%s/%s/%s"):format(format.workspace_ref(ws), base_short, base_path),
      {},
      file.path
    )
  else
    local b
    lbuf, b = blob_buf(review, changes.base, base_path)
    binary = binary or b
  end

  local rbuf, real
  local remote_why
  if ws.host and not binary and not changes.head and file.status ~= "D" then
    rbuf, remote_why = remote_file.open(ws, file.path)
    binary = remote_why == "binary"
  end
  if binary then
    local note = file.status == "D" and "deleted" or (file.status == "A" and "added" or "changed")
    rbuf = M.scratch(("conductor://%s/binary/%s"):format(format.workspace_ref(ws), file.path), {
      ("binary file %s %s: not shown"):format(file.path, note),
    })
  elseif changes.head then
    rbuf = blob_buf(review, changes.head, file.path)
  elseif file.status == "D" or remote_why == "missing" then
    -- (A file gone from the host since the list was made shows as deleted.)
    rbuf = M.scratch(
      ("conductor://%s/deleted/%s"):format(format.workspace_ref(ws), file.path),
      {},
      file.path
    )
  elseif not rbuf then
    real = true
  end

  local previous = review.right_buf
  api.nvim_win_set_buf(left, lbuf)
  if real then
    local abs = ws.path .. "/" .. file.path
    api.nvim_win_call(right, function()
      local cur = api.nvim_buf_get_name(0)
      if cur ~= abs then
        vim.cmd("keepalt hide edit " .. vim.fn.fnameescape(abs))
      else
        vim.cmd("silent! checktime")
      end
    end)
    rbuf = api.nvim_win_get_buf(right)
  else
    api.nvim_win_set_buf(right, rbuf)
  end
  if previous and previous ~= rbuf then
    M.release(review)
  end
  review.left_buf, review.right_buf, review.file = lbuf, rbuf, file
  keys.attach(lbuf, "diff", review.getter)
  keys.attach(rbuf, "diff", review.getter)

  local what = ({ A = "added", D = "deleted", M = "modified", R = "renamed", T = "type changed" })[file.status]
    or file.status
  winbar(
    left,
    ("%s @ %s%s"):format(base_path, base_short, file.status == "A" and " (not there)" or "")
  )
  winbar(
    right,
    ("%s · %s%s"):format(
      file.path,
      changes.head and ("@ " .. changes.head:sub(1, 7)) or "worktree",
      what and (" · " .. what) or ""
    )
  )

  if binary then
    return
  end
  for _, win in ipairs({ left, right }) do
    api.nvim_win_call(win, function()
      vim.cmd("diffthis")
    end)
  end
  M.decorate(review)
  if cursor then
    pcall(api.nvim_win_set_cursor, right, cursor)
  else
    -- Start at the first change.
    api.nvim_win_call(right, function()
      api.nvim_win_set_cursor(0, { 1, 0 })
      if vim.fn.diff_hlID(1, 1) == 0 then
        pcall(vim.cmd, "silent! normal! ]c")
      end
    end)
  end
end

--- Shows a one-line note in both windows (no changes, loading, an error).
---@param review conductor.Review
---@param text string
function M.note(review, text)
  M.clear_window(review.left)
  M.clear_window(review.right)
  M.release(review)
  local buf =
    M.scratch(("conductor://%s/review-note"):format(format.workspace_ref(review.ws)), { text })
  for _, win in ipairs({ review.left, review.right }) do
    if api.nvim_win_is_valid(win) then
      api.nvim_win_set_buf(win, buf)
    end
  end
  review.left_buf, review.right_buf, review.file = nil, nil, nil
end

--- Refreshes the diff of the shown file after its buffers changed on disk.
---@param review conductor.Review
function M.update(review)
  if
    review.right_buf
    and api.nvim_buf_is_valid(review.right_buf)
    and vim.bo[review.right_buf].buftype == ""
  then
    api.nvim_win_call(review.right, function()
      vim.cmd("silent! checktime")
    end)
  elseif review.right_buf and remote_file.of_buf(review.right_buf) then
    pcall(remote_file.reload, review.right_buf) -- (the host unreachable: as it was)
  end
  if
    review.file
    and not review.file.binary
    and api.nvim_win_is_valid(review.right)
    and vim.wo[review.right].diff
  then
    api.nvim_win_call(review.right, function()
      vim.cmd("diffupdate")
    end)
  end
  M.decorate(review)
end

return M
