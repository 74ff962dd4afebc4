-- Tabs named by their workspace. A workspace's tab (and its review tab) is labelled
-- by the workspace's name instead of its current window's buffer ("c//f/shell-1").
-- `require("conductor").tab_label(tabnr)` gives that label to users who draw their own
-- tabline; for everyone else `install()` sets a 'tabline' that looks like Neovim's
-- own, once a workspace tab opens and only when 'tabline' is empty.
--
-- Not here: which tab shows which workspace (layout.lua sets the tab variables).

local M = {}

local api = vim.api
local config = require("conductor.config")

--- The workspace label of tab `tabnr` (default: the current tab), or nil when the tab
--- belongs to no workspace. Never raises; cheap enough for every redraw.
---@param tabnr integer?
---@return string?
function M.tab_label(tabnr)
  local tab = api.nvim_list_tabpages()[tabnr or vim.fn.tabpagenr()]
  if not tab then
    return nil
  end
  local ok, label = pcall(api.nvim_tabpage_get_var, tab, "conductor_label")
  return ok and type(label) == "string" and label or nil
end

-- Neovim's own label: the number of windows when more than one, "+" when a buffer in
-- the tab is modified, then the current window's file name, shortened.
local function default_label(tabnr)
  local bufs = vim.fn.tabpagebuflist(tabnr)
  local modified = false
  for _, b in ipairs(bufs) do
    modified = modified or vim.bo[b].modified
  end
  local prefix = (#bufs > 1 and tostring(#bufs) or "") .. (modified and "+" or "")
  local name = M.tab_label(tabnr)
  if not name then
    local bufname = vim.fn.bufname(bufs[vim.fn.tabpagewinnr(tabnr)])
    name = bufname == "" and "[No Name]" or vim.fn.pathshorten(vim.fn.fnamemodify(bufname, ":~:."))
  end
  return prefix ~= "" and (prefix .. " " .. name) or name
end

--- The 'tabline' expression set by `install()`.
---@return string
function M.render()
  local parts = {}
  local current, last = vim.fn.tabpagenr(), vim.fn.tabpagenr("$")
  for i = 1, last do
    local label = default_label(i):gsub("%%", "%%%%")
    parts[#parts + 1] = ("%s%%%dT %s "):format(
      i == current and "%#TabLineSel#" or "%#TabLine#",
      i,
      label
    )
  end
  parts[#parts + 1] = "%#TabLineFill#%T"
  if last > 1 then
    parts[#parts + 1] = "%=%#TabLine#%999XX"
  end
  return table.concat(parts)
end

local EXPR = "%!v:lua.require'conductor.tabline'.render()"

--- Sets 'tabline' to `render()` when the user has none and the `tabline` option is on.
function M.install()
  if vim.o.tabline == "" and config.get().tabline then
    vim.o.tabline = EXPR
  end
end

--- Marks the current tab as workspace `label`'s and makes sure the tabline shows it.
---@param label string
function M.mark(label)
  vim.t.conductor_label = label
  M.install()
end

return M
