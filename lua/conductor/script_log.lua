-- `:ConductorLog`: a workspace's script log in a split, read-only, following
-- the file as scripts append to it (like `tail -f`: windows whose cursor is on
-- the last line stay at the end).

local M = {}

local api = vim.api
local bufs = require("conductor.bufs")
local engine = require("conductor.engine")
local notify = require("conductor.notify")
local workspace = require("conductor.workspace")

local POLL_MS = 500

---@type table<integer, uv.uv_fs_poll_t|uv.uv_timer_t> buffer -> watcher
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

-- Remembers `handle` as what follows `buf`'s log, until the buffer goes.
---@param buf integer
---@param handle uv.uv_fs_poll_t|uv.uv_timer_t
local function keep_watching(buf, handle)
  watchers[buf] = handle
  api.nvim_create_autocmd({ "BufWipeout", "BufUnload" }, {
    buffer = buf,
    once = true,
    callback = function()
      -- Unload and wipeout may both come (`once` is per event).
      if not handle:is_closing() then
        handle:stop()
        handle:close()
      end
      watchers[buf] = nil
    end,
  })
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
  keep_watching(buf, poll)
end

-- Appends `text` to the read-only log buffer `buf`, keeping followers at the end.
---@param buf integer
---@param text string
---@param replace boolean the log was replaced (read from its start)
local function append(buf, text, replace)
  if not api.nvim_buf_is_loaded(buf) then
    return
  end
  local followers = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if api.nvim_win_get_cursor(win)[1] >= api.nvim_buf_line_count(buf) then
      followers[#followers + 1] = win
    end
  end
  local lines = vim.split(text, "\n", { plain = true })
  vim.bo[buf].modifiable = true
  if replace then
    api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  else
    -- The last line so far may have been a partial one: the text continues it.
    local last = api.nvim_buf_get_lines(buf, -2, -1, false)[1] or ""
    lines[1] = last .. lines[1]
    api.nvim_buf_set_lines(buf, -2, -1, false, lines)
  end
  vim.bo[buf].modifiable = false
  local n = api.nvim_buf_line_count(buf)
  for _, win in ipairs(followers) do
    api.nvim_win_set_cursor(win, { n, 0 })
  end
end

--- The log of a workspace on another machine: read through the engine there, and
--- followed (a read of what was added, every second) while its buffer lives.
---@param ws conductor.Workspace
function M.log_remote(ws)
  -- A scheme of its own: no file of a review (`conductor://…/<path>`) can be named so.
  local name = ("conductor-log://%s/%s/%s"):format(ws.host, ws.repo_name, ws.name)
  local buf = bufs.find(name)
  local win = buf and vim.fn.win_findbuf(buf)[1]
  if win and api.nvim_win_get_tabpage(win) == api.nvim_get_current_tabpage() then
    return api.nvim_set_current_win(win)
  end
  local first = engine.call("log_read", { workspace = ws.id })
  if not buf then
    buf = api.nvim_create_buf(true, true)
    api.nvim_buf_set_name(buf, name)
    vim.bo[buf].bufhidden = "hide"
    append(buf, first.text, true)
  end
  vim.cmd("split")
  api.nvim_win_set_buf(0, buf)
  api.nvim_win_set_cursor(0, { api.nvim_buf_line_count(buf), 0 })
  if watchers[buf] then
    return
  end
  local size, asking = first.size, false
  local timer = assert(vim.uv.new_timer())
  timer:start(
    1000,
    1000,
    vim.schedule_wrap(function()
      -- A dropped connection is not made again from here: the next command does that.
      if asking or not api.nvim_buf_is_loaded(buf) or not engine.host_connected(ws.host) then
        return
      end
      asking = true
      local ok = pcall(
        engine.request,
        "log_read",
        { workspace = ws.id, offset = size },
        function(err, part)
          asking = false
          if not err and part.size ~= size then
            append(buf, part.text, part.size < size)
            size = part.size
          end
        end
      )
      asking = ok and asking
    end)
  )
  keep_watching(buf, timer)
end

--- Opens the log of a workspace (default: the current tab's).
---@param name string?
function M.log(name)
  local ws = workspace.resolve(name, "ConductorLog")
  local path = ws.log
  if ws.host then
    return M.log_remote(ws)
  end
  if vim.fn.filereadable(path) == 0 then
    notify.info(("%s has no log yet: no script has run in it"):format(ws.name))
    return
  end
  local buf = bufs.find(vim.fn.fnamemodify(path, ":p"))
  local win = buf and vim.fn.win_findbuf(buf)[1]
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
