-- `:Conductor`: every workspace in one `vim.ui.select` list (the current
-- repository's first, archived ones included), so any picker UI the user has
-- (telescope, fzf-lua, snacks, dressing) shows it. Choosing an active one opens
-- it; choosing an archived one offers to restore it.

local M = {}

local workspace = require("conductor.workspace")

-- The state column, with the setup outcome when it needs attention.
---@param ws conductor.Workspace
local function state_of(ws)
  local setup = ws.setup
  if ws.state == "active" and (setup == "failed" or setup == "running" or setup == "untrusted") then
    return ("%s, setup %s"):format(ws.state, setup)
  end
  return ws.state
end

--- Rows "name  branch  repo  state", columns aligned.
---@param list conductor.Workspace[]
---@return string[]
function M.rows(list)
  local cols = { "name", "branch", "repo_name" }
  local width = {}
  for _, key in ipairs(cols) do
    width[key] = 0
    for _, ws in ipairs(list) do
      width[key] = math.max(width[key], vim.fn.strdisplaywidth(ws[key] or ""))
    end
  end
  local rows = {}
  for i, ws in ipairs(list) do
    local cells = {}
    for _, key in ipairs(cols) do
      local s = ws[key] or ""
      cells[#cells + 1] = s .. (" "):rep(width[key] - vim.fn.strdisplaywidth(s))
    end
    cells[#cells + 1] = state_of(ws)
    rows[i] = table.concat(cells, "  ")
  end
  return rows
end

---@param ws conductor.Workspace
local function choose(ws)
  local conductor = require("conductor")
  if ws.state == "archived" then
    local question = ("%s is archived. Restore it?"):format(ws.name)
    if vim.fn.confirm(question, "&Restore\n&Cancel", 1) == 1 then
      conductor.restore(ws.id)
    end
  else
    conductor.open(ws.id)
  end
end

--- Shows the workspace picker.
function M.pick()
  local list = workspace.list(true)
  if #list == 0 then
    require("conductor.notify").info("no workspaces yet; make one with :ConductorNew {task}")
    return
  end
  local rows = M.rows(list)
  local row_of = {}
  for i, ws in ipairs(list) do
    row_of[ws] = rows[i]
  end
  vim.ui.select(list, {
    prompt = "conductor workspaces",
    kind = "conductor_workspace",
    format_item = function(ws)
      return row_of[ws]
    end,
  }, function(ws)
    if ws then
      require("conductor.notify").guard(choose)(ws)
    end
  end)
end

M.pick = require("conductor.notify").guard(M.pick)

return M
