-- `:ConductorPR`: a pull request for the workspace's branch. The engine
-- drafts a title and body from the branch's commits; the user edits them in
-- a buffer (title on the first line, then a blank line, then the body);
-- `:w` has the engine push the branch with the `git` CLI and run
-- `gh pr create` (without gh: the compare URL to open). The URL is kept with
-- the workspace.

local M = {}

local common = require("conductor.ship.common")
local events = require("conductor.events")
local format = require("conductor.format")
local message = require("conductor.ship.message")
local notify = require("conductor.notify")
local tabs = require("conductor.review.tabs")

---@param ws conductor.Workspace
---@param lines string[]
local function edit(ws, lines)
  message.open({
    name = ("conductor://%s/PULL_REQUEST"):format(format.workspace_ref(ws)),
    filetype = "markdown",
    lines = lines,
    hint = ("pull request %s → %s · line 1 is the title · :w pushes and opens it · :q cancels"):format(
      ws.branch,
      ws.base_branch or "base"
    ),
    on_write = function(edited, buf)
      local title = vim.trim(edited[1] or "")
      if title == "" then
        error("the first line is the pull request's title, and it is empty", 0)
      end
      local body = table.concat(message.trim(vim.list_slice(edited, 2)), "\n")
      local label = ("pushing %s and opening a pull request…"):format(ws.branch)
      common.request(
        "pr",
        { workspace = ws.id, title = title, body = body },
        label,
        function(err, res)
          if err then
            notify.error(
              ("could not open a pull request for %s: %s"):format(format.workspace(ws), err)
            )
            if not vim.api.nvim_buf_is_valid(buf) then
              edit(ws, edited)
            end
            return
          end
          message.close(buf)
          if res.created then
            notify.info(("opened the pull request of %s: %s"):format(format.workspace(ws), res.url))
          else
            notify.info(("pushed %s; create the pull request at %s"):format(ws.branch, res.url))
          end
          events.fire(
            "ConductorPR",
            { workspace = ws, url = res.url, created = res.created == true }
          )
          local open = tabs.of_workspace(ws.id)
          if open then
            open.view.redraw(ws.id)
          end
        end
      )
    end,
  })
end

--- Drafts a pull request for a workspace (default: the current tab's or
--- review's) and opens it for editing.
---@param name string?
function M.pr(name)
  local ws = tabs.resolve(name, "ConductorPR")
  common.must_be_active(ws)
  if ws.pr_url then
    notify.info(("%s already has a pull request: %s"):format(format.workspace(ws), ws.pr_url))
    return
  end
  common.before(ws, "pull request", function()
    common.request(
      "draft_message",
      { workspace = ws.id },
      ("drafting the pull request of %s…"):format(format.workspace(ws)),
      function(err, draft)
        if err then
          return notify.error(
            ("could not draft the pull request of %s: %s"):format(format.workspace(ws), err)
          )
        end
        local lines = { draft.title or "", "" }
        vim.list_extend(lines, common.lines(draft.body))
        edit(ws, lines)
      end
    )
  end)
end

M.pr = notify.guard(M.pr)

return M
