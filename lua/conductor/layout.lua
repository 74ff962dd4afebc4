-- Where a workspace lives on screen: one tabpage per open workspace, marked
-- with the tab variable `conductor_workspace` (= workspace id), its tab-local
-- directory (`:tcd`) set to the worktree. A workspace on another machine
-- (|conductor-hosts|) gets its tab too, labelled "big: name", but no `:tcd`: its
-- worktree is a path there, not here.
--
-- Not here: agent and run-script windows (their own modules fill the tab).

local M = {}

local api = vim.api
local format = require("conductor.format")
local hosts = require("conductor.hosts")
local tabline = require("conductor.tabline")

--- The tabpage showing workspace `id`, or nil.
---@param id string
---@return integer?
function M.tab_of(id)
  for _, tab in ipairs(api.nvim_list_tabpages()) do
    local ok, v = pcall(api.nvim_tabpage_get_var, tab, "conductor_workspace")
    if ok and v == id then
      return tab
    end
  end
end

--- Goes to the workspace's tab, making it when there is none.
---@param ws conductor.Workspace
---@return integer tabpage
function M.open(ws)
  local tab = M.tab_of(ws.id)
  if tab then
    api.nvim_set_current_tabpage(tab)
    return tab
  end
  local remote = hosts.is_remote(ws)
  if not remote and vim.fn.isdirectory(ws.path) == 0 then
    error(("worktree of %s is missing: %s"):format(ws.name, ws.path), 0)
  end
  vim.cmd("tabnew")
  if not remote then
    vim.cmd("tcd " .. vim.fn.fnameescape(ws.path))
  end
  vim.t.conductor_workspace = ws.id
  tabline.mark(format.workspace(ws))
  return api.nvim_get_current_tabpage()
end

---@param path string
---@param dir string
local function inside(path, dir)
  return path == dir or vim.startswith(path, dir .. "/")
end

--- Buffers of files in the worktree with unsaved changes: archiving or
--- deleting would lose them. None for a workspace on another machine: a local
--- buffer whose name is its host path is another file.
---@param ws conductor.Workspace
---@return integer[]
function M.modified_buffers(ws)
  local out = {}
  if hosts.is_remote(ws) then
    return out
  end
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if vim.bo[buf].modified and inside(api.nvim_buf_get_name(buf), ws.path) then
      out[#out + 1] = buf
    end
  end
  return out
end

--- Takes a workspace whose worktree is gone off the screen: closes its tab
--- (or, when it is the last tab, turns it back to the repository) and wipes
--- the unmodified buffers of its files.
---@param ws conductor.Workspace
function M.close(ws)
  local tab = M.tab_of(ws.id)
  if tab then
    if #api.nvim_list_tabpages() > 1 then
      pcall(vim.cmd, "tabclose " .. api.nvim_tabpage_get_number(tab))
    end
    if api.nvim_tabpage_is_valid(tab) then
      pcall(api.nvim_tabpage_del_var, tab, "conductor_workspace")
      pcall(api.nvim_tabpage_del_var, tab, "conductor_label")
      if
        tab == api.nvim_get_current_tabpage()
        and not hosts.is_remote(ws)
        and vim.fn.isdirectory(ws.repo_root) == 1
      then
        vim.cmd("tcd " .. vim.fn.fnameescape(ws.repo_root))
      end
    end
  end
  if hosts.is_remote(ws) then
    return -- its files are there, not in buffers named by their host paths
  end
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if
      api.nvim_buf_is_valid(buf)
      and vim.bo[buf].buftype == ""
      and not vim.bo[buf].modified
      and inside(api.nvim_buf_get_name(buf), ws.path)
    then
      pcall(api.nvim_buf_delete, buf, {})
    end
  end
end

return M
