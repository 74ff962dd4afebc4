-- An editable message before shipping: the squash commit message of
-- `:ConductorMerge --squash`, the title and body of `:ConductorPR`. A scratch
-- buffer in a split (`conductor://<ws>/<NAME>`) whose `:w` hands the text to
-- the caller instead of writing a file; `:q` (unchanged) cancels.

local M = {}

local api = vim.api
local notify = require("conductor.notify")

---@class conductor.MessageOpts
---@field name string          buffer name
---@field filetype string
---@field lines string[]
---@field hint string          shown in the winbar, e.g. ":w merges · :q cancels"
---@field on_write fun(lines: string[], buf: integer)

--- Opens (or goes to) the message buffer `opts.name`.
---@param opts conductor.MessageOpts
---@return integer buf
function M.open(opts)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_valid(b) and api.nvim_buf_get_name(b) == opts.name then
      local wins = vim.fn.win_findbuf(b)
      if #wins > 0 then
        api.nvim_set_current_win(wins[1])
        return b
      end
      pcall(api.nvim_buf_delete, b, { force = true })
    end
  end
  vim.cmd("botright 14new")
  local buf = api.nvim_get_current_buf()
  vim.bo[buf].buftype = "acwrite"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  api.nvim_buf_set_name(buf, opts.name)
  api.nvim_buf_set_lines(buf, 0, -1, false, opts.lines)
  vim.bo[buf].modified = false
  vim.bo[buf].filetype = opts.filetype
  vim.wo[0][0].winbar = opts.hint:gsub("%%", "%%%%")
  api.nvim_create_autocmd("BufWriteCmd", {
    buffer = buf,
    callback = function()
      local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
      vim.bo[buf].modified = false
      notify.guard(opts.on_write)(lines, buf)
    end,
  })
  api.nvim_win_set_cursor(0, { 1, 0 })
  return buf
end

--- Closes the message buffer after it did its work.
---@param buf integer
function M.close(buf)
  if not api.nvim_buf_is_valid(buf) then
    return
  end
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if #api.nvim_tabpage_list_wins(api.nvim_win_get_tabpage(win)) > 1 then
      pcall(api.nvim_win_close, win, true)
    end
  end
  if api.nvim_buf_is_valid(buf) then
    pcall(api.nvim_buf_delete, buf, { force = true })
  end
end

--- Text lines without the trailing blank ones.
---@param lines string[]
---@return string[]
function M.trim(lines)
  local out = vim.deepcopy(lines)
  while #out > 0 and vim.trim(out[#out]) == "" do
    out[#out] = nil
  end
  while #out > 0 and vim.trim(out[1]) == "" do
    table.remove(out, 1)
  end
  return out
end

return M
