-- What merging and opening a pull request share: one engine request shown on
-- the progress line, and the question asked before shipping a workspace whose
-- latest work is not committed (it would not be part of what is shipped).

local M = {}

local format = require("conductor.format")
local layout = require("conductor.layout")
local notify = require("conductor.notify")
local remote_file = require("conductor.review.remote_file")
local progress = require("conductor.progress")

--- One engine request on the progress line (progress.lua).
M.request = progress.request

---@param ws conductor.Workspace
function M.must_be_active(ws)
  if ws.state ~= "active" then
    error(
      ("%s is %s; only an active workspace can be shipped"):format(format.workspace(ws), ws.state),
      0
    )
  end
end

--- Runs `go()` once the user agreed to ship `ws` without its uncommitted
--- changes and unsaved buffers, if it has any (asked with |confirm()|).
---@param ws conductor.Workspace
---@param what string "merge", "pull request"
---@param go fun()
function M.before(ws, what, go)
  M.request(
    "status",
    { workspace = ws.id },
    ("checking %s…"):format(format.workspace(ws)),
    function(err, status)
      if err then
        return notify.error(err)
      end
      -- Nothing committed means nothing to ship, whatever else the worktree holds: say so
      -- before drafting a message or asking anything.
      if status and status.ahead == 0 then
        local verb = what == "merge" and "merge" or "open a " .. what
        local first = status.dirty
            and ("commit its %d change(s) first, then "):format(status.changes or 0)
          or "commit first, then "
        return notify.error(
          ("%s has no commits that %s does not have; %s%s"):format(
            ws.branch,
            ws.base_branch or "its base",
            first,
            verb
          )
        )
      end
      -- (On another machine, its files' buffers are remote_file.lua's.)
      local unsaved = #layout.modified_buffers(ws) + #remote_file.modified_buffers(ws)
      local dirty = status and status.dirty
      if not dirty and unsaved == 0 then
        return go()
      end
      local parts = {}
      if dirty then
        parts[#parts + 1] = ("%d uncommitted change(s)"):format(status.changes or 0)
      end
      if unsaved > 0 then
        parts[#parts + 1] = ("%d unsaved buffer(s)"):format(unsaved)
      end
      local question = (
        "%s has %s; they are not part of the %s (only commits on %s are).\n"
        .. "Go on with the committed work?"
      ):format(format.workspace(ws), table.concat(parts, " and "), what, ws.branch)
      if vim.fn.confirm(question, "&Go on\n&Cancel", 2) == 1 then
        go()
      end
    end
  )
end

--- Lines of a draft body.
---@param body string?
---@return string[]
function M.lines(body)
  if not body or body == "" then
    return {}
  end
  return vim.split((body:gsub("\n+$", "")), "\n", { plain = true })
end

return M
