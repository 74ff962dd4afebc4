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

return M
