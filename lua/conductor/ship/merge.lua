-- `:ConductorMerge`: the workspace's branch into its base branch in the root
-- repository, by the engine (which refuses a dirty root checkout, keeps a
-- backup ref of the base and changes nothing on a conflict). A squash merge
-- first drafts its commit message from the branch's commits, in a buffer the
-- user edits; `:w` merges. On a conflict the user may ask the agent to rebase.

local M = {}

local actions = require("conductor.actions")
local agents = require("conductor.agent")
local common = require("conductor.ship.common")
local config = require("conductor.config")
local events = require("conductor.events")
local format = require("conductor.format")
local message = require("conductor.ship.message")
local notify = require("conductor.notify")
local tabs = require("conductor.review.tabs")
local workspace = require("conductor.workspace")

M.strategies = { "squash", "ff", "merge" }

---@param ws conductor.Workspace
local function offer_rebase(ws)
  local base = ws.base_branch or "the base branch"
  local question = (
    "Merging %s into %s conflicts; nothing was changed.\n"
    .. "Ask the agent to rebase on %s and resolve the conflicts?"
  ):format(ws.branch, base, base)
  if vim.fn.confirm(question, "&Ask the agent\n&Cancel", 1) ~= 1 then
    return
  end
  notify.guard(agents.choose)(ws, function(s)
    local text = ("Rebase this branch (%s) on %s and resolve the conflicts, then commit the result."):format(
      ws.branch,
      base
    )
    agents.paste(s.id, workspace.with_prompt(ws, "resolve_conflicts", text), true)
    notify.info(("asked %s/%s to rebase on %s"):format(format.workspace_ref(ws), s.name, base))
  end, { prompts = true })
end

-- Merges; `message` for a squash. `lines` is the edited message, brought
-- back in a buffer when the merge fails after its buffer was closed.
---@param ws conductor.Workspace
---@param strategy string
---@param msg string?
---@param buf integer?
---@param lines string[]?
local function run(ws, strategy, msg, buf, lines)
  local params = { workspace = ws.id, strategy = strategy, message = msg }
  local label = ("merging %s into %s (%s)…"):format(ws.branch, ws.base_branch or "base", strategy)
  common.request("merge", params, label, function(err, res)
    if err then
      notify.error(("could not merge %s: %s"):format(format.workspace(ws), err))
      if lines and not (buf and vim.api.nvim_buf_is_valid(buf)) then
        M.edit_message(ws, lines)
      end
      if err:lower():find("conflict", 1, true) then
        offer_rebase(ws)
      end
      return
    end
    if buf then
      message.close(buf)
    end
    local commit = type(res) == "table" and res.commit or nil
    local left = res and res.uncommitted or 0
    notify.info(
      ("merged %s into %s%s (%s)%s%s%s"):format(
        ws.branch,
        ws.base_branch or "base",
        ws.host and (" on " .. ws.host) or "",
        res and res.strategy or strategy,
        commit and (" at " .. commit:sub(1, 7)) or "",
        res
            and res.backup_ref
            and ("; the old %s is kept at %s"):format(ws.base_branch or "base", res.backup_ref)
          or "",
        left > 0 and ("; %d uncommitted change(s) stay in the workspace"):format(left) or ""
      )
    )
    events.fire("ConductorMerged", {
      workspace = ws,
      strategy = res and res.strategy or strategy,
      commit = commit,
      backup_ref = res and res.backup_ref,
    })
    local open = tabs.of_workspace(ws.id)
    if open then
      open.view.refresh(open)
    end
    if config.get().merge.archive_after then
      actions.archive(ws.id, true)
    end
  end)
end

--- Opens the squash commit message of `ws` for editing; `:w` merges.
---@param ws conductor.Workspace
---@param lines string[]
function M.edit_message(ws, lines)
  message.open({
    name = ("conductor://%s/COMMIT_MSG"):format(format.workspace_ref(ws)),
    filetype = "gitcommit",
    lines = lines,
    hint = ("squash %s into %s · :w merges · :q cancels"):format(
      ws.branch,
      ws.base_branch or "base"
    ),
    on_write = function(edited, buf)
      local text = table.concat(message.trim(edited), "\n")
      if text == "" then
        error("the commit message is empty; nothing was merged", 0)
      end
      run(ws, "squash", text, buf, edited)
    end,
  })
end

--- Merges a workspace (default: the current tab's or review's) into its base
--- branch. `strategy`: "squash" (default: option `merge.strategy`), "ff"
--- (fast-forward only) or "merge" (a merge commit).
---@param name string?
---@param strategy string?
function M.merge(name, strategy)
  local ws = tabs.resolve(name, "ConductorMerge")
  common.must_be_active(ws)
  strategy = strategy or config.get().merge.strategy
  if not vim.tbl_contains(M.strategies, strategy) then
    error(("unknown merge strategy %q (squash, ff or merge)"):format(tostring(strategy)), 0)
  end
  common.before(ws, "merge", function()
    if strategy == "squash" then
      common.request(
        "draft_message",
        { workspace = ws.id },
        ("drafting the message of %s…"):format(format.workspace(ws)),
        function(err, draft)
          if err then
            return notify.error(
              ("could not draft the commit message of %s: %s"):format(format.workspace(ws), err)
            )
          end
          local lines = { draft.title or "" }
          local body = common.lines(draft.body)
          if #body > 0 then
            lines[#lines + 1] = ""
            vim.list_extend(lines, body)
          end
          M.edit_message(ws, lines)
        end
      )
      return
    end
    local question = ("Merge %s into %s (%s)?"):format(
      ws.branch,
      ws.base_branch or "its base",
      strategy
    )
    if vim.fn.confirm(question, "&Merge\n&Cancel", 2) == 1 then
      run(ws, strategy)
    end
  end)
end

M.merge = notify.guard(M.merge)

--- Parses `[--ff|--squash|--merge] [ws]` of `:ConductorMerge`.
---@param args string
---@return string? ws, string? strategy
function M.parse(args)
  local ws, strategy
  for _, word in ipairs(vim.split(vim.trim(args), "%s+", { trimempty = true })) do
    local flag = word:match("^%-%-(.+)$")
    if flag then
      if not vim.tbl_contains(M.strategies, flag) then
        error(
          ("unknown option %s for :ConductorMerge (it takes --squash, --ff or --merge)"):format(
            word
          ),
          0
        )
      end
      strategy = flag
    elseif ws then
      error("name one workspace: :ConductorMerge [--squash|--ff|--merge] [{workspace}]", 0)
    else
      ws = word
    end
  end
  return ws, strategy
end

return M
