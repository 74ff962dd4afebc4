-- Agent turns: a checkpoint after each turn that changed files, the list, the turn's
-- diff, a revert that keeps the present state, and the terminal told of a turn that
-- ended while its tab was not shown (checked by the Rust side on stderr).
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
require("conductor").setup({
  default_agent = "fake",
  agents = {
    fake = { cmd = { fake }, prompt = "arg", working = { "esc to interrupt" }, idle_after_ms = 300 },
  },
})
for _, e in ipairs({
  "ConductorWorkspaceCreated",
  "ConductorCheckpoint",
  "ConductorReverted",
  "ConductorReviewOpened",
}) do
  T.record(e)
end
local agents = require("conductor.agent")
local engine = require("conductor.engine")

vim.cmd("ConductorNew --name=turns start")
local ws = T.wait_event("ConductorWorkspaceCreated")
T.wait(function()
  return #agents.list(ws.id, "agent") == 1
end, "the agent to start")
local agent = agents.list(ws.id, "agent")[1]
T.wait(function()
  return table.concat(vim.api.nvim_buf_get_lines(agent.buf, 0, -1, false), "\n"):find("> ", 1, true)
end, "the agent's prompt")
local function turn(text)
  engine.load().agent_write(agent.id, "work " .. text .. "\r")
end
local function checkpoints()
  return #vim.tbl_filter(function(e)
    return e.name == "ConductorCheckpoint"
  end, T.events)
end

-- Turn 1, seen (its tab is current): a checkpoint, no terminal notification.
local first
T.case("Turn 1, seen (its tab is current)", function()
  turn("one")
  first = T.wait_event("ConductorCheckpoint", function(d)
    return d.turn == 1
  end)
  T.eq(first.agent, "fake", "the agent of the turn")
  T.eq(T.read(ws.path .. "/agent-output.txt"), "one\n", "turn 1 wrote")
end)

-- Turn 2 while another tab is shown: a checkpoint, and the terminal is told.
T.case("Turn 2 while another tab is shown", function()
  vim.cmd("tabfirst")
  turn("two")
  T.wait_event("ConductorCheckpoint", function(d)
    return d.turn == 2
  end)
end)

-- A turn that changes nothing records nothing.
T.case("A turn that changes nothing records nothing", function()
  turn("two")
  T.wait(function()
    local s = agents.list(ws.id, "agent")[1]
    return s.state == "idle"
  end, "the third turn to end")
  vim.wait(300)
  T.eq(checkpoints(), 2, "no checkpoint for a turn without changes")
end)

-- The list, newest first; <CR> reviews the turn's diff.
T.case("The list, newest first", function()
  vim.cmd("ConductorOpen turns")
  vim.cmd("ConductorCheckpoints")
  local list
  T.wait(function()
    list = vim.bo.filetype == "conductor-checkpoints"
      and vim.api.nvim_buf_get_lines(0, 0, -1, false)
    return list
  end, "the checkpoints list")
  T.eq(#list, 3, "a header and two turns")
  T.ok(
    list[2]:match("^%s+2%s") and list[2]:find("fake", 1, true) and list[2]:find("+1 -1", 1, true),
    list[2]
  )
  T.ok(list[3]:match("^%s+1%s") and list[3]:find("+1 -0", 1, true), list[3])
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  vim.api.nvim_feedkeys(vim.keycode("<CR>"), "x", false)
  local review = T.wait_event("ConductorReviewOpened")
  T.eq(review.scope, "commit", "the turn is reviewed as a commit")
  vim.cmd("tabclose")
end)

-- Revert to turn 1 from the command line: the file as it was; the present state kept.
T.case("Revert to turn 1 from the command line", function()
  vim.cmd("ConductorOpen turns")
  vim.cmd("ConductorRevert 1")
  local reverted = T.wait_event("ConductorReverted")
  T.eq(reverted.turn, 1, "reverted turn")
  T.eq(reverted.saved_as, 2, "the present state was checkpoint 2")
  T.eq(T.read(ws.path .. "/agent-output.txt"), "one\n", "the file is back to turn 1")
  vim.cmd("ConductorRevert 2")
  T.wait_event("ConductorReverted", function(d)
    return d.turn == 2
  end)
  T.eq(T.read(ws.path .. "/agent-output.txt"), "two\n", "and forward again: nothing lost")
end)

---------------------------------------------------------------------------------------
-- Spotlight: the workspace's changes in the root, following it, then the root back
-- exactly (its own dirty file included).
local root, fingerprint, before
T.case("Spotlight", function()
  T.record("ConductorSpotlight")
  root = vim.fn.getcwd(-1, 1)
  function fingerprint(dir)
    local out = {}
    for name, kind in
      vim.fs.dir(dir, {
        depth = 20,
        skip = function(n)
          return n ~= ".git"
        end,
      })
    do
      if kind == "file" then
        out[name] = T.read(dir .. "/" .. name)
      end
    end
    out["<status>"] = T.git(dir, "status", "--porcelain=v1", "--untracked-files=all")
    out["<head>"] = T.git(dir, "rev-parse", "HEAD")
    return out
  end
  T.write(root .. "/README.md", "the root's own edit\n")
  before = fingerprint(root)
  vim.cmd("ConductorOpen turns")
  vim.cmd("ConductorSpotlight")
  T.wait_event("ConductorSpotlight")
  T.eq(T.read(root .. "/agent-output.txt"), "two\n", "the workspace's file is in the root")
  T.eq(T.read(root .. "/README.md"), "the root's own edit\n", "the root's own work stays")
  T.ok(require("conductor").statusline():find("◎spotlight", 1, true), "the statusline shows it")
end)

-- A turn of the agent, then a write from Neovim, reach the root.
T.case("A turn of the agent, then a write from Neovim, reach the root", function()
  turn("three")
  T.wait(function()
    return T.read(root .. "/agent-output.txt") == "three\n"
  end, "the turn to reach the root")
  vim.cmd.edit(vim.fn.fnameescape(ws.path .. "/written.txt"))
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "from a buffer" })
  vim.cmd("write")
  T.wait(function()
    return T.read(root .. "/written.txt") == "from a buffer\n"
  end, "the write to reach the root")

  vim.cmd("ConductorSpotlight!")
  T.wait_event("ConductorSpotlight", function(d)
    return d.spotlight == vim.NIL
  end, "spotlight off")
  T.eq(fingerprint(root), before, "the root is back byte for byte")
  T.ok(
    not require("conductor").statusline():find("spotlight", 1, true),
    "the statusline no longer shows it"
  )
end)

---------------------------------------------------------------------------------------
-- Best of N: the same agent as many times as named, one workspace each, one group.
local names
T.case("Best of N: the same agent as many times as named, one workspace…", function()
  vim.cmd("ConductorNew --agent=fake*2 --name=best race the task")
  local made = {}
  T.wait(function()
    made = vim.tbl_filter(function(e)
      return e.name == "ConductorWorkspaceCreated" and e.data.name:find("^best%-") ~= nil
    end, T.events)
    return #made == 2
  end, "two workspaces for fake*2")
  names = { made[1].data.name, made[2].data.name }
  table.sort(names)
  T.eq(names, { "best-fake-1", "best-fake-2" }, "one workspace per run, told apart")
  T.eq(require("conductor.groups").of(made[1].data.id), "best", "grouped for :ConductorCompare")
  vim.cmd("ConductorNew --agent=fake,fake --name=twice race again")
  T.wait(function()
    return #vim.tbl_filter(function(e)
      return e.name == "ConductorWorkspaceCreated" and e.data.name:find("^twice%-") ~= nil
    end, T.events) == 2
  end, "two workspaces for fake,fake")
end)

---------------------------------------------------------------------------------------
-- agents.notify_terminal = false (the issue's spelling): an unseen turn end tells the
-- terminal nothing (the Rust side counts the sequences), and it is no agent.
T.case("agents.notify_terminal = false (the issue's spelling)", function()
  require("conductor").setup({
    default_agent = "fake",
    agents = {
      notify_terminal = false,
      fake = {
        cmd = { fake },
        prompt = "arg",
        working = { "esc to interrupt" },
        idle_after_ms = 300,
      },
    },
  })
  T.eq(vim.tbl_contains(agents.names(), "notify_terminal"), false, "a setting, not an agent")
  local before_four = checkpoints()
  vim.cmd("tabfirst")
  turn("four")
  T.wait(function()
    return checkpoints() > before_four
  end, "the unseen fourth turn recorded")
end)
