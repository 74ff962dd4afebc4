-- The open review tabs: which review a tab page shows, the review of a workspace,
-- and the workspace a review-aware command means.
-- Not here: what a review shows (review/init.lua).

local M = {}

local api = vim.api
local engine = require("conductor.engine")
local workspace = require("conductor.workspace")

---@type table<integer, conductor.Review> tabpage -> review
M.by_tab = {}

---@param review conductor.Review
---@return boolean
function M.valid(review)
  return M.by_tab[review.tab] == review and api.nvim_tabpage_is_valid(review.tab)
end

--- The review of the current tab page, or nil.
---@return conductor.Review?
function M.current()
  local review = M.by_tab[api.nvim_get_current_tabpage()]
  return review and M.valid(review) and review or nil
end

--- The open review of workspace `id`, or nil.
---@param id string
---@return conductor.Review?
function M.of_workspace(id)
  for _, review in pairs(M.by_tab) do
    if review.ws.id == id and M.valid(review) then
      return review
    end
  end
end

--- `name`, else the workspace of the current review tab, else the current
--- tab's workspace. Raises with a hint naming `command` when there is none.
---@param name string?
---@param command string
---@return conductor.Workspace
function M.resolve(name, command)
  if name and name ~= "" then
    return workspace.get(name)
  end
  local review = M.current()
  if review then
    return engine.call("get", { workspace = review.ws.id })
  end
  return workspace.resolve(nil, command)
end

return M
