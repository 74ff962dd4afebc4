-- One task raced across agents: `:ConductorNew --agent=codex,claude {task}` makes one
-- workspace per agent (`<slug>-<agent>`), a few at a time like a fanout, in a group
-- named after the task, for `:ConductorCompare` (compare/init.lua) to show.

local M = {}

local agents = require("conductor.agent")
local groups = require("conductor.groups")
local scheduler = require("conductor.fanout.scheduler")
local workspace = require("conductor.workspace")

--- The agents an `--agent=` value names, each as often as named: `a,b`, `a,a,b`, `a*3`.
---@param spec string
---@return string[]
function M.agent_list(spec)
  local names = {}
  for _, a in ipairs(vim.split(spec or "", ",", { trimempty = true })) do
    a = vim.trim(a)
    local name, times = a:match("^(.-)%s*%*%s*(%d+)$")
    name, times = name or a, tonumber(times) or 1
    if times < 1 or times > 20 then
      error(("--agent=%s: a count from 1 to 20, as in codex*3"):format(a), 0)
    end
    for _ = 1, name ~= "" and times or 0 do
      names[#names + 1] = name
    end
  end
  return names
end

--- `:ConductorNew` with several agents (best of N): one workspace per entry for the same
--- task, the same agent as many times as named (`codex,codex,claude`, `codex*3`). Every
--- agent is checked first: a missing one means nothing is made.
---@param args conductor.NewArgs
---@param names string[] at least two: `agent_list(args.agent)`
function M.new(args, names)
  for _, a in ipairs(names) do
    agents.check(a, args.host)
  end
  local task = vim.trim(args.task)
  local group = groups.unique_name(args.name or groups.slug(task) or "compare")
  -- Names and labels: `<group>-codex`, or `<group>-codex-2` where an agent runs twice.
  local jobs, count, seen = {}, {}, {}
  for _, a in ipairs(names) do
    count[a] = (count[a] or 0) + 1
  end
  for i, a in ipairs(names) do
    seen[a] = (seen[a] or 0) + 1
    local label = count[a] > 1 and ("%s-%d"):format(a, seen[a]) or a
    jobs[i] =
      { task = task, agent = a, base = args.base, name = group .. "-" .. label, label = label }
  end
  scheduler.run(jobs, {
    group = group,
    kind = "compare",
    task = task,
    path = workspace.context_path(),
    host = args.host,
    repo = args.repo,
    hint = (":ConductorCompare %s compares them"):format(group),
  })
end

return M
