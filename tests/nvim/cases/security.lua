-- Security (issue 6): task text, prompts and names never reach a shell; workspace paths
-- stay inside the workspaces root whatever the name; repository scripts never run before
-- the user trusts their file, nor after it changed until trusted again. Then the bad
-- agent input handled on the Lua side: unknown agents, missing binaries, a mistyped cmd.
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
local repo = vim.env.CONDUCTOR_TEST_REPO
local markers = vim.env.CONDUCTOR_TEST_MARKERS
local u = vim.env.CONDUCTOR_TEST_UNIQUE
local settings = repo .. "/.conductor/settings.toml"
require("conductor").setup({
  default_agent = "argfake",
  stop_grace_ms = 300,
  agents = {
    argfake = { cmd = { fake }, prompt = "arg" },
    sendfake = { cmd = { fake }, prompt = "send" },
    flagfake = { cmd = { fake }, prompt = "-i" },
    missing = { cmd = { "definitely-not-installed-" .. u }, install = "npm install -g nothing" },
    typo = { cmd = fake }, -- a string where a list is expected
  },
})
T.record("ConductorWorkspaceCreated")
T.record("ConductorWorkspaceArchived")
T.record("ConductorSetupFinished")
local agents = require("conductor.agent")
local conductor = require("conductor")

-- Every file the hostile text would create if any part of it reached a shell.
local pwned, pwn, nothing_pwned, tail, wait_text, type_keys, sleep, created, agent_of
T.case("Every file the hostile text would create if any part of it reached…", function()
  pwned = {}
  function pwn(tag)
    local path = ("/tmp/pwned-%s-%s"):format(u, tag)
    pwned[#pwned + 1] = path
    return path
  end
  function nothing_pwned()
    for _, p in ipairs(pwned) do
      T.eq(vim.uv.fs_stat(p), nil, "a shell ran the hostile text: " .. p .. " exists")
    end
  end

  function tail(buf)
    return table.concat(vim.api.nvim_buf_get_lines(buf, -40, -1, false), "\n")
  end
  function wait_text(buf, needle)
    local ok = pcall(T.wait, function()
      return tail(buf):find(needle, 1, true) ~= nil
    end, needle)
    T.ok(ok, ("%q not on screen; screen:\n%s"):format(needle, tail(buf)))
  end
  function type_keys(buf, keys)
    vim.api.nvim_set_current_win(vim.fn.win_findbuf(buf)[1])
    vim.cmd("startinsert")
    T.wait(function()
      return vim.api.nvim_get_mode().mode == "t"
    end, "terminal mode")
    vim.api.nvim_input(keys)
  end
  function sleep(ms)
    pcall(T.wait, function()
      return false
    end, "time to pass", ms)
  end
  function created(name)
    return T.wait_event("ConductorWorkspaceCreated", function(d)
      return d.name == name
    end, "workspace " .. name)
  end
  function agent_of(ws)
    T.wait(function()
      return #agents.list(ws.id, "agent") >= 1
    end, "the agent of " .. ws.name)
    return agents.list(ws.id, "agent")[1]
  end
end)
-- The arguments the fake agent was started with, as it saw them.
local function argv_of(ws)
  local a = agent_of(ws)
  wait_text(a.buf, "FAKE AGENT READY")
  type_keys(a.buf, "argv<CR>")
  wait_text(a.buf, "ARGV SAVED")
  vim.cmd("stopinsert")
  return vim.json.decode(T.read(ws.path .. "/argv.json"))
end
local function errors(needle)
  local n = 0
  for _, note in ipairs(T.notes) do
    if note.level == vim.log.levels.ERROR and note.msg:find(needle, 1, true) then
      n = n + 1
    end
  end
  return n
end
local function lines(path)
  local text = T.read(path)
  return text and vim.split(vim.trim(text), "\n") or {}
end

-- The user answers "deny" to every trust question.
local real_confirm = vim.fn.confirm
local asked = 0
vim.fn.confirm = function(msg)
  if msg:find("is not trusted", 1, true) then
    asked = asked + 1
    return 3 -- "deny"
  end
  return real_confirm(msg)
end

---------------------------------------------------------------------------------------
-- Task text through :ConductorNew, as the first argument of an agent (prompt = "arg").
local first
T.case("Task text through :ConductorNew, as the first argument of an agent…", function()
  local hostile = ("$(touch %s) ; `touch %s` \\n rm -rf x \"quotes\" 'single' | touch %s && touch %s"):format(
    pwn("subst"),
    pwn("backtick"),
    pwn("pipe"),
    pwn("and")
  )
  vim.cmd("ConductorNew --agent=argfake " .. hostile)
  first = T.wait_event("ConductorWorkspaceCreated", nil, "the workspace with the hostile task")
  T.eq(first.task, hostile, "task kept verbatim")
  T.eq(argv_of(first), { hostile }, "the agent got the task as one argument, verbatim")
  T.ok(asked > 0, "the user was asked about the repository's config file")
end)
-- Untrusted: its setup never ran, and the workspace is there, saying why.
T.case("Untrusted", function()
  T.eq(first.setup, "untrusted", "setup state")
  T.eq(vim.fn.isdirectory(first.path), 1, "the workspace exists")
end)

-- Through the Lua API with real newlines: pasted (prompt = "send") and after a flag.
local sendws, pasted
T.case("Through the Lua API with real newlines", function()
  local multi = ("$(touch %s)\n`touch %s`; rm -rf x \"quotes\" 'single'\n|| touch %s"):format(
    pwn("nl-subst"),
    pwn("nl-backtick"),
    pwn("nl-or")
  )
  conductor.new({ task = multi, agent = "sendfake", name = "sendfake" })
  sendws = created("sendfake")
  local sendagent = agent_of(sendws)
  pasted = pcall(T.wait, function()
    return T.read(sendws.path .. "/paste.txt")
  end, "the pasted task")
  T.ok(pasted, "the task was not pasted; screen:\n" .. tail(sendagent.buf))
  -- The agent says so once the file is written whole (it exists, empty, a moment before).
  wait_text(sendagent.buf, ("PASTE %d BYTES 3 LINES"):format(#multi))
  T.eq(T.read(sendws.path .. "/paste.txt"), multi, "pasted task, verbatim")
  conductor.new({ task = multi, agent = "flagfake", name = "flagfake" })
  T.eq(argv_of(created("flagfake")), { "-i", multi }, "flag-style prompt, verbatim")
end)

-- Prompts of :ConductorAgent and text of :ConductorSend.
T.case("Prompts of :ConductorAgent and text of :ConductorSend", function()
  vim.cmd("ConductorOpen sendfake")
  local agent_prompt = ("$(touch %s) `touch %s`"):format(pwn("agent"), pwn("agent-bt"))
  vim.cmd("ConductorAgent argfake " .. agent_prompt)
  T.wait(function()
    return #agents.list(sendws.id, "agent") == 2
  end, "the second agent")
  local second = agents.list(sendws.id, "agent")[2]
  wait_text(second.buf, "FAKE AGENT READY")
  type_keys(second.buf, "argv<CR>")
  wait_text(second.buf, "ARGV SAVED")
  vim.cmd("stopinsert")
  T.eq(
    vim.json.decode(T.read(sendws.path .. "/argv.json")),
    { agent_prompt },
    ":ConductorAgent prompt, verbatim"
  )
  local send_text = ("$(touch %s); `touch %s`"):format(pwn("send"), pwn("send-bt"))
  vim.cmd("ConductorSend " .. send_text)
  T.wait(function()
    return T.read(sendws.path .. "/paste.txt") == send_text
  end, ":ConductorSend text pasted verbatim")
end)

---------------------------------------------------------------------------------------
-- Names: refused, nothing made, nothing outside the workspaces root.
local root, repo_dir, entries, before_dirs, before_root, before_parent, before_branches, before_list, bad_names, refused
T.case("Names", function()
  root = require("conductor.config").get().workspaces_root
  repo_dir = root .. "/" .. vim.fs.basename(repo)
  function entries(dir)
    local out = {}
    for name in vim.fs.dir(dir) do
      out[#out + 1] = name
    end
    table.sort(out)
    return out
  end
  before_dirs = entries(repo_dir)
  before_root = entries(root)
  before_parent = entries(vim.fs.dirname(root))
  before_branches = T.git(repo, "branch", "--list")
  before_list = #require("conductor.workspace").list(true)
  bad_names = {
    "..",
    "../escape",
    "../../escape",
    "a/../../escape",
    "x/y",
    "/tmp/pwned-" .. u .. "-abs",
    "~/pwned",
    ".hidden",
    "-rf",
    "a b",
    "tab\there",
    "new\nline",
    ("x"):rep(300),
    "naïve",
    "$(touch " .. pwn("name") .. ")",
    "`touch " .. pwn("name-bt") .. "`",
    "x;touch " .. pwn("name-semi"),
  }
  refused = errors("invalid workspace name")
  for i, bad in ipairs(bad_names) do
    conductor.new({ task = "a task", name = bad })
    T.wait(function()
      return errors("invalid workspace name") >= refused + i
    end, "refusal of name " .. vim.inspect(bad))
  end
end)
-- And typed on the command line (a flag's value ends at the first space).
T.case("And typed on the command line (a flag's value ends at the first space)", function()
  vim.cmd("ConductorNew --name=../escape a task")
  vim.cmd("ConductorNew --name=/tmp/pwned-" .. u .. "-abs a task")
  vim.cmd("ConductorNew --name=$(touch " .. pwn("cmd-name") .. ") a task")
  T.wait(function()
    return errors("invalid workspace name") >= refused + #bad_names + 3
  end, "refusal of the typed names")
  for _, note in ipairs(T.notes) do
    if note.msg:find("invalid workspace name", 1, true) then
      T.ok(not note.msg:find("\n", 1, true), "one line: " .. note.msg)
    end
  end
  sleep(200)
  T.eq(entries(repo_dir), before_dirs, "no directory made for a refused name")
  T.eq(entries(root), before_root, "nothing new in the workspaces root")
  T.eq(entries(vim.fs.dirname(root)), before_parent, "nothing new next to the workspaces root")
  T.eq(vim.uv.fs_stat("/tmp/pwned-" .. u .. "-abs"), nil, "no absolute path made")
  T.eq(T.git(repo, "branch", "--list"), before_branches, "no branch made")
  T.eq(#require("conductor.workspace").list(true), before_list, "no workspace recorded")
end)

---------------------------------------------------------------------------------------
-- Trust. Denied: setup (above), run and archive scripts never run.
T.case("Trust", function()
  vim.cmd("ConductorOpen " .. first.name)
  vim.cmd("ConductorRun")
  T.wait_error("not trusted")
  conductor.archive(first.name, true)
  T.wait_event("ConductorWorkspaceArchived", function(d)
    return d.name == first.name
  end)
  sleep(500)
  T.eq(lines(markers .. "/setup"), {}, "no setup script ran while the file was denied")
  T.eq(lines(markers .. "/run"), {}, "no run script ran while the file was denied")
  T.eq(lines(markers .. "/archive"), {}, "no archive script ran while the file was denied")
end)

-- Trusted through :ConductorTrust, which asks again about a denied file: the setup runs.
T.case("Trusted through :ConductorTrust, which asks again about a denied file", function()
  vim.fn.confirm = function()
    return 4
  end -- "allow"
  vim.cmd("ConductorTrust")
  vim.fn.confirm = real_confirm
  vim.cmd("ConductorNew --name=trusted a task")
  T.wait_event("ConductorSetupFinished", function(d)
    return d.name == "trusted"
  end)
  T.eq(lines(markers .. "/setup"), { "trusted" }, "setup ran once trusted")
end)

-- Changed after it was trusted (a new commit on the base): asked again; ignored means
-- not run, here and on rerun.
local changed
T.case("Changed after it was trusted (a new commit on the base)", function()
  T.write(settings, T.read(settings):gsub("/setup'", "/setup-changed'"))
  T.git(repo, "commit", "-qam", "change the setup")
  local questions = {}
  vim.fn.confirm = function(msg, choices)
    questions[#questions + 1] = msg
    return 1 -- "ignore"
  end
  vim.cmd("ConductorNew --name=changed a task")
  changed = created("changed")
  T.eq(changed.setup, "untrusted", "a changed file is not trusted")
  T.ok(
    #questions >= 1 and questions[1]:find("has changed since you trusted it", 1, true),
    "the user was asked about the changed file"
  )
  vim.cmd("ConductorSetup changed")
  T.wait(function()
    return #questions >= 2
  end, "asked again on :ConductorSetup")
  sleep(500)
  T.eq(lines(markers .. "/setup-changed"), {}, "the changed setup did not run")
  T.eq(require("conductor.workspace").get("changed").setup, "untrusted", "still untrusted")
end)
-- Allowed: it runs.
T.case("Allowed", function()
  vim.fn.confirm = function()
    return 4
  end -- "allow"
  vim.cmd("ConductorSetup changed")
  T.wait_event("ConductorSetupFinished", function(d)
    return d.name == "changed"
  end)
  T.eq(lines(markers .. "/setup-changed"), { "changed" }, "the changed setup ran once allowed")
  vim.fn.confirm = real_confirm
  nothing_pwned()
end)

---------------------------------------------------------------------------------------
-- Bad agent input: one clear line, nothing made.
T.case("Bad agent input", function()
  local count = #require("conductor.workspace").list(true)
  local dirs = entries(repo_dir)
  vim.cmd("ConductorNew --agent=nosuch --name=never1 a task")
  T.contains(T.wait_error("unknown agent"), 'unknown agent "nosuch"; known: ', "unknown agent")
  vim.cmd("ConductorNew --agent=argfake,nosuch --name=never2 a task")
  T.wait(function()
    return errors("unknown agent") >= 2
  end, "unknown agent in a comparison")
  vim.cmd("ConductorNew --agent=argfake,missing --name=never3 a task")
  T.wait(function()
    return errors("not found on PATH") >= 1
  end, "missing binary in a comparison")
  vim.cmd("ConductorNew --agent=typo --name=never4 a task")
  T.contains(T.wait_error("agents.typo.cmd"), "agents.typo.cmd", "a cmd that is not a list")
  vim.cmd("ConductorOpen trusted")
  local before_agents = #agents.list(nil, "agent")
  local wins = #vim.api.nvim_list_wins()
  local bufs = #vim.api.nvim_list_bufs()
  vim.cmd("ConductorAgent nosuch")
  T.wait(function()
    return errors("unknown agent") >= 3
  end, ":ConductorAgent nosuch")
  vim.cmd("ConductorAgent missing")
  T.wait(function()
    return errors("not found on PATH") >= 2
  end, ":ConductorAgent missing")
  vim.cmd("ConductorAgent typo")
  T.wait(function()
    return errors("agents.typo.cmd") >= 2
  end, ":ConductorAgent typo")
  sleep(200)
  T.eq(#agents.list(nil, "agent"), before_agents, "no agent added")
  T.eq(#vim.api.nvim_list_wins(), wins, "no window left behind")
  T.eq(#vim.api.nvim_list_bufs(), bufs, "no buffer left behind")
  T.eq(#require("conductor.workspace").list(true), count, "no workspace made")
  T.eq(entries(repo_dir), dirs, "no directory made")
  for _, note in ipairs(T.notes) do
    local m = note.msg:lower()
    T.ok(
      not (
          m:find("internal error", 1, true)
          or m:find("panic", 1, true)
          or m:find("traceback", 1, true)
        ),
      "engine reported: " .. note.msg
    )
  end
  nothing_pwned()
end)
