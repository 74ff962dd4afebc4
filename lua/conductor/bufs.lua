-- Buffers looked up by their exact name. `vim.fn.bufnr(name)` takes a pattern and
-- accepts a partial match (`conductor://big/fix/log` finds `conductor://big/fix/login.ts`
-- when there is no log buffer), so names this plugin builds are compared whole here.

local M = {}

local api = vim.api

--- The valid buffer named exactly `name`, or nil.
---@param name string
---@return integer?
function M.find(name)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_valid(buf) and api.nvim_buf_get_name(buf) == name then
      return buf
    end
  end
end

--- Lines of a file's text, as Neovim reads a file: CRLF endings dropped (and `dos` true)
--- when every line has one, no last line for the final newline (`eol`). An empty file
--- has no lines at all.
---@param text string
---@return string[] lines, boolean dos, boolean eol
function M.split(text)
  if text == "" then
    return {}, false, true
  end
  local lines = vim.split(text, "\n", { plain = true })
  local eol = lines[#lines] == ""
  if eol then
    lines[#lines] = nil
  end
  local dos = #lines > 0
  for _, l in ipairs(lines) do
    if l:sub(-1) ~= "\r" then
      dos = false
      break
    end
  end
  if dos then
    for i, l in ipairs(lines) do
      lines[i] = l:sub(1, -2)
    end
  end
  return lines, dos, eol
end

return M
