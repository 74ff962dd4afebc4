-- conductor.nvim: user commands and a few autocmds only. Everything else (the Lua
-- modules, the Rust engine) loads on first use, so startup pays for a few command
-- definitions and nothing more: every `require` in this file sits inside a callback
-- on purpose (startup cost), and none may move to the top.

if vim.g.loaded_conductor then
  return
end
vim.g.loaded_conductor = true

-- `:help conductor` needs doc/tags, which neither `cargo build` (the usual build step)
-- nor a plain packpath install makes. Two stats at startup; `:helptags` only when the
-- tags are missing or older than the help file (a failure, e.g. a read-only
-- install, leaves things as they were).
do
  local doc = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h") .. "/doc"
  local help, tags = vim.uv.fs_stat(doc .. "/conductor.txt"), vim.uv.fs_stat(doc .. "/tags")
  if
    help
    and (
      not tags
      or tags.mtime.sec < help.mtime.sec
      or (tags.mtime.sec == help.mtime.sec and tags.mtime.nsec < help.mtime.nsec)
    )
  then
    pcall(vim.cmd.helptags, vim.fn.fnameescape(doc))
  end
end

local function command(name, fn, opts)
  vim.api.nvim_create_user_command(name, fn, opts)
end

local function conductor()
  return require("conductor")
end

-- Completion of {ws} arguments; `state` keeps only active or archived ones.
local function workspaces(state)
  return function(lead)
    return require("conductor.cli").workspaces(state)(lead)
  end
end

command("ConductorNew", function(o)
  local ok, args = pcall(require("conductor.cli").parse_new, o.args)
  if not ok then
    return require("conductor.notify").error(args)
  end
  conductor().new(args)
end, {
  nargs = "*",
  desc = "conductor: new workspace for a task",
  complete = function(...)
    return require("conductor.cli").complete_new(...)
  end,
})

command("Conductor", function(o)
  conductor().pick({ archived = o.bang })
end, { nargs = 0, bang = true, desc = "conductor: pick a workspace (! for archived ones)" })

command("ConductorOpen", function(o)
  conductor().open(o.args)
end, { nargs = 1, complete = workspaces("active"), desc = "conductor: open a workspace" })

command("ConductorArchive", function(o)
  conductor().archive(o.args, o.bang)
end, {
  nargs = "?",
  bang = true,
  complete = workspaces("active"),
  desc = "conductor: archive a workspace (! skips the question)",
})

command("ConductorRestore", function(o)
  conductor().restore(o.args)
end, { nargs = 1, complete = workspaces("archived"), desc = "conductor: restore a workspace" })

command("ConductorDelete", function(o)
  if not o.bang then
    return require("conductor.notify").error(
      ":ConductorDelete deletes the workspace's branch; use :ConductorDelete! {workspace}"
    )
  end
  conductor().delete(o.args)
end, {
  nargs = 1,
  bang = true,
  complete = workspaces(),
  desc = "conductor: delete a workspace and its branch",
})

command("ConductorLog", function(o)
  conductor().log(o.args)
end, { nargs = "?", complete = workspaces(), desc = "conductor: open a workspace's script log" })

command("ConductorSetup", function(o)
  conductor().rerun_setup(o.args)
end, {
  nargs = "?",
  complete = workspaces("active"),
  desc = "conductor: run a workspace's setup script again",
})

-- A command calling `require(module)[fn]` with `args(o)` (default: the command's
-- table); an error becomes one notification, never a traceback.
local function guarded(module, fn, args)
  return function(o)
    require("conductor.notify").guard(require(module)[fn])(unpack(args and args(o) or { o }))
  end
end

-- Agents and run scripts (lua/conductor/agent/commands.lua).
local function agent_verb(verb, args)
  return guarded("conductor.agent.commands", verb, args)
end

-- Each `command("Name", …` starts a line (tests/readme.rs reads the names from there), so
-- StyLua leaves alone the calls it would break before the name.
-- stylua: ignore
command("ConductorAgent", agent_verb("agent", function(o)
  return { o.args:match("^(%S*)%s*(.-)$") }
end), {
  nargs = "*",
  desc = "conductor: add an agent to the current workspace",
  complete = function(lead, line)
    if line:match("^%S+%s+%S*$") then
      return vim.tbl_filter(function(n)
        return vim.startswith(n, lead)
      end, require("conductor.agent").names())
    end
    return {}
  end,
})
command("ConductorSend", agent_verb("send"), {
  nargs = "*",
  range = true,
  bang = true,
  desc = "conductor: send text or lines to the agent (! leaves it unsubmitted)",
})
-- stylua: ignore
command("ConductorAgents", agent_verb("list"), { nargs = 0, desc = "conductor: list agents and their state" })
-- stylua: ignore
command("ConductorNext", agent_verb("next"), { nargs = 0, desc = "conductor: go to the next agent needing attention" })
-- stylua: ignore
command("ConductorAgentKill", agent_verb("kill"), { nargs = 0, desc = "conductor: stop the current agent" })
-- stylua: ignore
command("ConductorAgentRestart", agent_verb("restart"), { nargs = 0, desc = "conductor: restart the current agent" })
-- stylua: ignore
command("ConductorRun", agent_verb("run", function(o)
  return { o.args }
end), {
  nargs = "?",
  desc = "conductor: run the workspace's run script",
  complete = function(lead)
    return require("conductor.cli").run_scripts(lead)
  end,
})
-- stylua: ignore
command("ConductorTrust", guarded("conductor.trust", "command", function(o)
  return { o.args }
end), {
  nargs = "?",
  complete = workspaces("active"),
  desc = "conductor: ask again whether to trust the repository's config files",
})
-- stylua: ignore
command("ConductorStop", agent_verb("stop"), { nargs = 0, desc = "conductor: stop the workspace's run scripts" })

-- Once per session, when the engine starts: say so when the state file disagrees with
-- git (lua/conductor/doctor.lua; :ConductorDoctor shows and repairs).
vim.api.nvim_create_autocmd("User", {
  pattern = "ConductorEngineStarted",
  group = vim.api.nvim_create_augroup("conductor_doctor", { clear = true }),
  callback = function()
    require("conductor.doctor").check_on_start()
  end,
})

-- Turns: checkpoints after each agent turn, and the terminal told when an agent needs
-- the user (lua/conductor/checkpoints.lua, attention.lua). Only ever fired once agents run.
vim.api.nvim_create_autocmd("User", {
  pattern = "ConductorAgentState",
  group = vim.api.nvim_create_augroup("conductor_turns", { clear = true }),
  callback = function(ev)
    require("conductor.checkpoints").on_state(ev.data)
    require("conductor.attention").on_state(ev.data)
    require("conductor.spotlight").on_state(ev.data)
  end,
})
-- stylua: ignore
command("ConductorCheckpoints", guarded("conductor.checkpoints", "open", function(o)
  return { o.args }
end), {
  nargs = "?",
  complete = workspaces("active"),
  desc = "conductor: list a workspace's checkpoints (one per agent turn)",
})
-- stylua: ignore
command("ConductorSpotlight", guarded("conductor.spotlight", "command", function(o)
  return { o.args, o.bang }
end), {
  nargs = "?",
  bang = true,
  complete = workspaces("active"),
  desc = "conductor: put a workspace's changes in the root checkout (! puts the root back)",
})
-- stylua: ignore
command("ConductorRevert", guarded("conductor.checkpoints", "revert_command", function(o)
  return { o.args }
end), {
  nargs = "+",
  desc = "conductor: revert a workspace to the state after an agent turn",
})

-- <Plug> mappings: map your own keys to them; conductor maps no keys by itself.
local function plug(name, modes, rhs, desc)
  vim.keymap.set(
    modes,
    "<Plug>(conductor-" .. name .. ")",
    rhs,
    { desc = "conductor: " .. desc, silent = true }
  )
end
plug("new", "n", "<Cmd>ConductorNew<CR>", "new workspace (asks for the task)")
plug("pick", "n", "<Cmd>Conductor<CR>", "pick a workspace")
plug("agents", "n", "<Cmd>ConductorAgents<CR>", "list agents")
plug("next", { "n", "t" }, "<Cmd>ConductorNext<CR>", "next agent needing attention")
plug("send", "x", ":ConductorSend<CR>", "send the selection to the agent")
plug("send-line", "n", "<Cmd>.ConductorSend<CR>", "send the current line to the agent")
plug("review", "n", "<Cmd>ConductorReview<CR>", "review the current workspace")
plug("run", "n", "<Cmd>ConductorRun<CR>", "run the workspace's run script")
plug("archive", "n", "<Cmd>ConductorArchive<CR>", "archive the current workspace")
plug("fanout", "n", "<Cmd>ConductorFanout<CR>", "open the fanout buffer of tasks")
plug("check", "n", "<Cmd>ConductorCheck<CR>", "run the workspace's checks")

-- Review and ship (lua/conductor/review/, lua/conductor/ship/).
command("ConductorReview", function(o)
  local name, opts = nil, o.bang and { scope = "uncommitted" } or {}
  for _, arg in ipairs(o.fargs) do
    local rev = arg:match("^%-%-commit=(.*)$")
    if rev then
      opts.commit = rev
    elseif arg:sub(1, 2) == "--" or name then
      return require("conductor.notify").error(
        ("ConductorReview: unexpected argument %q"):format(arg)
      )
    else
      name = arg
    end
  end
  conductor().review(name, opts)
end, {
  nargs = "*",
  bang = true,
  complete = workspaces("active"),
  desc = "conductor: review a workspace's changes (! for the uncommitted ones, --commit=<rev> for one commit)",
})
command("ConductorSendComments", function(o)
  conductor().send_comments(o.args)
end, {
  nargs = "?",
  complete = workspaces("active"),
  desc = "conductor: send the review comments to the agent",
})
command("ConductorCheck", function(o)
  conductor().check(o.args)
end, { nargs = "?", complete = workspaces("active"), desc = "conductor: run a workspace's checks" })
command("ConductorMerge", function(o)
  local ok, ws, strategy = pcall(require("conductor.ship.merge").parse, o.args)
  if not ok then
    return require("conductor.notify").error(ws)
  end
  conductor().merge(ws, strategy)
end, {
  nargs = "*",
  desc = "conductor: merge a workspace into its base branch",
  complete = function(lead, line)
    if vim.startswith(lead, "-") then
      return vim.tbl_filter(function(f)
        return vim.startswith(f, lead) and not line:find(f, 1, true)
      end, { "--squash", "--ff", "--merge" })
    end
    return workspaces("active")(lead)
  end,
})
command("ConductorPR", function(o)
  conductor().pr(o.args)
end, {
  nargs = "?",
  complete = workspaces("active"),
  desc = "conductor: open a pull request for a workspace",
})

-- Fanout and compare (lua/conductor/fanout/, lua/conductor/compare/).
command("ConductorFanout", function(o)
  local opts = {}
  for _, word in ipairs(o.fargs) do
    local host = word:match("^%-%-host=(.+)$")
    if word == "--gh" then
      opts.gh = true
    elseif host then
      opts.host = host
    else
      return require("conductor.notify").error(
        ("unknown argument %s for :ConductorFanout (it takes --gh and --host=NAME)"):format(word)
      )
    end
  end
  conductor().fanout(opts)
end, {
  nargs = "*",
  desc = "conductor: many tasks at once (--gh: from GitHub issues; --host=NAME: on that host)",
  complete = function(lead)
    local words = { "--gh" }
    for _, h in ipairs(require("conductor.config").host_names()) do
      words[#words + 1] = "--host=" .. h
    end
    return vim.tbl_filter(function(w)
      return vim.startswith(w, lead)
    end, words)
  end,
})
command("ConductorCompare", function(o)
  conductor().compare(o.args)
end, {
  nargs = "?",
  desc = "conductor: compare a group's workspaces",
  complete = function(lead)
    return require("conductor.cli").groups(lead)
  end,
})

-- stylua: ignore
command("ConductorEngine", guarded("conductor.engine_command", "command", function(o)
  return { o.args, o.bang }
end), {
  nargs = "*",
  bang = true,
  complete = function(lead, line)
    return require("conductor.engine_command").complete(lead, line)
  end,
  desc = "conductor: the engine process that runs the agents (status, stop, restart [host])",
})

-- stylua: ignore
command("ConductorDoctor", guarded("conductor.doctor", "run", function()
  return {}
end), { nargs = 0, desc = "conductor: reconcile the state file with git and the disk" })
