-- Conductor's files as a user moving from Conductor meets them: precedence, settings read
-- from the base, one trust question per content that covers every key, run completion
-- and the health report.
local T = require("harness")
local repo = vim.env.CONDUCTOR_TEST_REPO
for _, e in ipairs({ "ConductorWorkspaceCreated", "ConductorSetupFinished" }) do
  T.record(e)
end
require("conductor").setup({
  -- The user's own script: trusted, but it must see only trusted variables.
  scripts = { setup = "env | sort > setup-env.txt" },
  agents = { idle = { cmd = { "sleep", "60" }, prompt = "none" } },
  default_agent = "idle",
})

local questions, answer = {}, 4 -- "allow"
local real_confirm = vim.fn.confirm
vim.fn.confirm = function(msg, choices)
  if msg:find("conductor: ", 1, true) == 1 then
    questions[#questions + 1] = msg
    return answer
  end
  return real_confirm(msg, choices)
end

local function env_of(path)
  local out = {}
  for line in (T.read(path) or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then
      out[k] = v
    end
  end
  return out
end

local function new(name)
  vim.cmd(("ConductorNew --base=main --name=%s a task"):format(name))
  local ws = T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name == name
  end)
  T.wait_event("ConductorSetupFinished", function(d)
    return d.name == name
  end)
  return ws
end

-- Asked about the two repository files (local, and settings.toml as on main), once each.
local first, env
T.case("Asked about the two repository files (local, and settings.toml as…", function()
  first = new("first")
  T.eq(#questions, 2, "one question per repository file")
  T.ok(
    questions[1]:find(repo .. "/.conductor/settings.local.toml is not trusted", 1, true),
    questions[1]
  )
  T.ok(questions[2]:find(repo .. "/.conductor/settings.toml (as on main @ ", 1, true), questions[2])

  env = env_of(first.path .. "/setup-env.txt")
  T.eq(env.FROM_REPO, "main", "the base's settings.toml, over ~/.conductor, not the root's branch")
  T.eq(env.FROM_LOCAL, "local", "settings.local.toml applies")
  T.eq(env.SHADOWED, "local", "settings.local.toml wins over settings.toml")
  T.eq(env.LOCAL_ONE, "yes", "[environment_variables.local] applies")
  T.eq(env.CLOUD_ONE, nil, "[environment_variables.cloud] never applies")
  T.eq(env.FROM_HOME, "home", "~/.conductor/settings.toml applies below the repository")
  T.eq(env.CONDUCTOR_DEFAULT_BRANCH, "main", "the repository's default branch")
end)

-- Same contents, new worktree: no new question.
T.case("Same contents, new worktree", function()
  new("second")
  T.eq(#questions, 2, "trust is asked once per content, not per worktree")
end)

-- :ConductorRun completes the named run scripts; the default one runs.
T.case(":ConductorRun completes the named run scripts", function()
  vim.cmd("ConductorOpen first")
  T.eq(vim.fn.getcompletion("ConductorRun ", "cmdline"), { "api", "web" }, "run completion")
  vim.cmd("ConductorRun")
  T.wait(function()
    return (T.read(first.path .. "/run-env.txt") or ""):find("PWD=", 1, true)
  end, "the run script's output")
  T.eq(env_of(first.path .. "/run-env.txt").FROM_LOCAL, "local", "run scripts get the variables")
end)

-- The repository's code_review prompt goes with review comments.
T.case("The repository's code_review prompt goes with review comments", function()
  T.ok(
    require("conductor.workspace")
      .with_prompt(first, "code_review", "X")
      :find("REPO REVIEW RULES", 1, true),
    "[prompts] code_review is used"
  )
end)

-- The health report: files in order, what was applied, the keys that do nothing here.
T.case("The health report", function()
  vim.cmd("checkhealth conductor")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout!")
  T.contains(
    report,
    "1. " .. repo .. "/.conductor/settings.local.toml [local]: applied",
    "local first"
  )
  T.contains(report, "2. " .. repo .. "/.conductor/settings.toml (as on main @ ", "repo second")
  T.contains(report, "[user]: applied (your own file)", "user file")
  T.contains(report, "ignored key environment_variables.cloud", "cloud reported")
  T.contains(report, "ignored key enterprise_data_privacy", "privacy reported")
end)

-- Denied: nothing of the files applies, not even to the user's own setup script.
T.case("Denied", function()
  answer = 3 -- "deny"
  vim.cmd("ConductorTrust")
  T.eq(#questions, 4, ":ConductorTrust asks about both files again")
  local denied = new("denied")
  env = env_of(denied.path .. "/setup-env.txt")
  T.eq(env.FROM_REPO, "home", "the denied settings.toml does not apply")
  T.eq(env.FROM_LOCAL, nil, "the denied settings.local.toml does not apply")
  T.eq(env.LOCAL_ONE, nil, "none of a denied file applies")
  T.eq(#questions, 4, "a denied file is not asked about again")
  vim.fn.confirm = real_confirm
end)
