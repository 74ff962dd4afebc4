-- `:ConductorLog`: a workspace's script log in a split, read-only, following
-- the file as scripts append to it (like `tail -f`: windows whose cursor is on
-- the last line stay at the end).

local M = {}

local api = vim.api
local notify = require("conductor.notify")
local workspace = require("conductor.workspace")

local POLL_MS = 500

---@type table<integer, uv.uv_fs_poll_t> buffer -> watcher
local watchers = {}

-- Reloads `buf` from disk, keeping followers at the end.
---@param buf integer
local function reload(buf)
  if not api.nvim_buf_is_loaded(buf) or vim.bo[buf].modified then
    return
  end
  local followers = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if api.nvim_win_get_cursor(win)[1] >= api.nvim_buf_line_count(buf) then
      followers[#followers + 1] = win
    end
  end
  vim.cmd("checktime " .. buf)
  local last = api.nvim_buf_line_count(buf)
  for _, win in ipairs(followers) do
    api.nvim_win_set_cursor(win, { last, 0 })
  end
end

---@param buf integer
---@param path string
local function watch(buf, path)
  if watchers[buf] then
    return
  end
  local poll = assert(vim.uv.new_fs_poll())
  poll:start(path, POLL_MS, function(err)
    if not err then
      vim.schedule(function()
        reload(buf)
      end)
    end
  end)
  watchers[buf] = poll
  api.nvim_create_autocmd({ "BufWipeout", "BufUnload" }, {
    buffer = buf,
    once = true,
    callback = function()
      poll:stop()
      poll:close()
      watchers[buf] = nil
    end,
  })
end

--- Opens the log of a workspace (default: the current tab's).
---@param name string?
function M.log(name)
  local ws = workspace.resolve(name, "ConductorLog")
  local path = ws.log
  if ws.host then
    -- Local-only for now: the engine has no request that follows a file outside the
    -- worktree, and the path is one on the host.
    error(
      ("the script log of %s:%s is on that machine: %s (read it there, e.g. ssh … tail -f)"):format(
        ws.host,
        ws.name,
        path
      ),
      0
    )
  end
  if vim.fn.filereadable(path) == 0 then
    notify.info(("%s has no log yet: no script has run in it"):format(ws.name))
    return
  end
  local buf = vim.fn.bufnr(path)
  local win = buf ~= -1 and vim.fn.win_findbuf(buf)[1]
  if win and api.nvim_win_get_tabpage(win) == api.nvim_get_current_tabpage() then
    api.nvim_set_current_win(win)
  else
    vim.cmd("noswapfile split " .. vim.fn.fnameescape(path))
    buf = api.nvim_get_current_buf()
  end
  -- Read-only: the engine owns this file.
  vim.bo[buf].readonly = true
  vim.bo[buf].modifiable = false
  vim.bo[buf].autoread = true
  vim.bo[buf].bufhidden = "hide"
  api.nvim_win_set_cursor(0, { api.nvim_buf_line_count(buf), 0 })
  watch(buf, path)
end

M.log = notify.guard(M.log)

return M
