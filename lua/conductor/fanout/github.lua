-- `:ConductorFanout --gh`: the repository's open GitHub issues (`gh issue list`),
-- chosen from a list, each made a workspace (fanout/scheduler.lua) with the issue
-- as its agent's first prompt.

local M = {}

local agents = require("conductor.agent")
local config = require("conductor.config")
local engine = require("conductor.engine")
local groups = require("conductor.groups")
local notify = require("conductor.notify")
local progress = require("conductor.progress")
local scheduler = require("conductor.fanout.scheduler")
local workspace = require("conductor.workspace")

---@class conductor.Issue
---@field number integer
---@field title string
---@field body? string

--- The workspace name and first prompt of an issue: `<number>-<slug of title>`,
--- "#<number> <title>", a blank line and its body.
---@param issue conductor.Issue
---@return conductor.FanoutJob
function M.issue_job(issue)
  local slug = groups.slug(issue.title or "")
  local body = vim.trim(type(issue.body) == "string" and issue.body or "")
  local task = ("#%d %s"):format(issue.number, issue.title or "")
  if body ~= "" then
    task = task .. "\n\n" .. body
  end
  return {
    name = slug and ("%d-%s"):format(issue.number, slug) or ("issue-%d"):format(issue.number),
    task = task,
    label = "#" .. issue.number,
  }
end

-- The multi-select: vim.ui.select shown again after each choice, an issue
-- toggling its mark, the first row making the workspaces.
---@param issues conductor.Issue[]
---@param on_done fun(chosen: conductor.Issue[])
local function choose(issues, on_done)
  local picked = {} ---@type table<integer, boolean>
  local function show()
    local count = 0
    for _ in pairs(picked) do
      count = count + 1
    end
    local items = { { action = "create", count = count }, { action = "all" } }
    for _, issue in ipairs(issues) do
      items[#items + 1] = { issue = issue }
    end
    vim.ui.select(items, {
      prompt = "conductor: issues to make workspaces for (choose to mark, then the first row)",
      kind = "conductor_issue",
      format_item = function(item)
        if item.action == "create" then
          return ("▶ make %d workspace%s"):format(item.count, item.count == 1 and "" or "s")
        elseif item.action == "all" then
          return "  mark all / none"
        end
        return ("%s #%d %s"):format(
          picked[item.issue.number] and "[x]" or "[ ]",
          item.issue.number,
          item.issue.title
        )
      end,
    }, function(item)
      if not item then
        return
      end
      if item.action == "create" then
        local chosen = vim.tbl_filter(function(issue)
          return picked[issue.number]
        end, issues)
        if #chosen == 0 then
          notify.warn("fanout: no issue marked; nothing made")
          return
        end
        return on_done(chosen)
      elseif item.action == "all" then
        local all = vim.tbl_count(picked) < #issues
        picked = {}
        for _, issue in ipairs(issues) do
          picked[issue.number] = all or nil
        end
      else
        picked[item.issue.number] = not picked[item.issue.number] or nil
      end
      -- After this list has closed: a picker UI may not open another from
      -- inside its own callback.
      vim.schedule(show)
    end)
  end
  show()
end

--- `:ConductorFanout --gh`: the repository's open issues (`gh issue list`),
--- marked in a list, each becoming a workspace with the default agent.
---@param host? string make the workspaces on this host (|conductor-hosts|)
function M.from_github(host)
  local gh = config.get().gh
  if vim.fn.executable(gh) ~= 1 then
    error(
      (
        "fanout --gh needs GitHub's CLI: `%s` not found; install it (https://cli.github.com)"
        .. " or set the `gh` option to its path"
      ):format(gh),
      0
    )
  end
  -- Each issue's body becomes its agent's first prompt: an agent that takes none (the
  -- plain shell) would be handed text written by anyone who can open an issue.
  local agent = agents.default_name()
  if not agents.takes_prompts(agent) then
    error(
      (
        "fanout --gh gives each issue's text to the agent as its prompt, and %s takes no prompts"
        .. " (no AI CLI on PATH?): install one (codex, claude, gemini, opencode) or set default_agent"
      ):format(agent),
      0
    )
  end
  local path = workspace.context_path()
  local repo = engine.call("resolve_repo", { path = path })
  local key = {}
  progress.begin(key, ("listing the GitHub issues of %s…"):format(repo.name))
  vim.system(
    { gh, "issue", "list", "--json", "number,title,body" },
    { cwd = repo.root, text = true },
    vim.schedule_wrap(function(res)
      progress.finish(key)
      if res.code ~= 0 then
        local why = vim.trim(res.stderr or "")
        why = why ~= "" and why or ("exit " .. res.code)
        return notify.error(("fanout --gh: `gh issue list` failed: %s"):format(why))
      end
      local ok, issues = pcall(vim.json.decode, res.stdout or "")
      if not ok or not vim.islist(issues) then
        return notify.error("fanout --gh: `gh issue list` gave no JSON list of issues")
      end
      if #issues == 0 then
        return notify.info(("fanout --gh: %s has no open issues"):format(repo.name))
      end
      choose(issues, function(chosen)
        local jobs = vim.tbl_map(M.issue_job, chosen)
        notify.guard(scheduler.run)(jobs, {
          group = groups.unique_name("issues"),
          kind = "fanout",
          path = path,
          host = host,
        })
      end)
    end)
  )
end

M.from_github = notify.guard(M.from_github)

return M
