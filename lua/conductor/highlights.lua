-- Highlight groups for agent and workspace states, each linked (`default`) to
-- a standard group so any colour scheme colours them and a user's own
-- definition wins. Defined on first use, not at startup, and again after a
-- `:colorscheme` (which clears links a plugin made).

local M = {}

-- Group -> the standard group it links to.
M.links = {
  ConductorWorking = "DiagnosticInfo", -- an agent is busy
  ConductorWaiting = "DiagnosticWarn", -- an agent needs input
  ConductorIdle = "DiagnosticOk", -- an agent is done, at its prompt
  ConductorExited = "Comment", -- an agent's process ended
  ConductorArchived = "NonText", -- an archived workspace
  ConductorReviewHeader = "Title", -- the review panel's first line
  ConductorReviewAdded = "Added", -- status A, +added
  ConductorReviewChanged = "Changed", -- status M, R, T
  ConductorReviewRemoved = "Removed", -- status D, -removed
  ConductorReviewViewed = "Comment", -- a file marked viewed
  ConductorReviewCurrent = "Visual", -- the file shown in the diff
  ConductorReviewComment = "DiagnosticInfo", -- an unsent comment
  ConductorReviewPass = "DiagnosticOk", -- checks passed
  ConductorReviewFail = "DiagnosticError", -- checks failed
}

-- Agent or workspace state -> group.
local by_state = {
  starting = "ConductorWorking",
  working = "ConductorWorking",
  waiting = "ConductorWaiting",
  idle = "ConductorIdle",
  exited = "ConductorExited",
  archived = "ConductorArchived",
}

local function define()
  for group, link in pairs(M.links) do
    vim.api.nvim_set_hl(0, group, { link = link, default = true })
  end
end

local defined = false

--- Defines the groups (once; again after every `:colorscheme`).
function M.ensure()
  if defined then
    return
  end
  defined = true
  define()
  vim.api.nvim_create_autocmd("ColorScheme", {
    group = vim.api.nvim_create_augroup("conductor_highlights", { clear = true }),
    callback = define,
  })
end

--- The group for an agent state ("working", "waiting", …) or "archived", or
--- nil for a state that has none. Defines the groups on first use.
---@param state string?
---@return string?
function M.group(state)
  M.ensure()
  return by_state[state or ""]
end

return M
