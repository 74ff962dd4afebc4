-- What a new user meets in the first hour (issue 13), headless: distinct agent labels
-- (13.7), tabs named by their workspace (13.7), messages naming the file that counts
-- (13.11), review opening on the panel's first file (13.9), new terminals in Terminal
-- mode (13.13).
local T = require("harness")
local api = vim.api
local fake = vim.env.CONDUCTOR_FAKE_AGENT
local repo = vim.env.CONDUCTOR_TEST_REPO
require("conductor").setup({
  default_agent = "fake",
  agents = { fake = { cmd = { fake }, prompt = "arg", idle_after_ms = 300 } },
})
T.record("ConductorWorkspaceCreated")
local agents = require("conductor.agent")
local conductor = require("conductor")

local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

-- Of messages said at once, the most severe is said last: the one left on screen.
local ws, first
T.case("Of messages said at once, the most severe is said last", function()
  local notify = require("conductor.notify")
  notify.warn("first-hour: skipped")
  notify.info("first-hour: created")
  T.wait(function()
    return #T.notes >= 2
  end, "both messages")
  T.eq(
    { T.notes[1].msg, T.notes[2].msg },
    { "conductor: first-hour: created", "conductor: first-hour: skipped" },
    "the warning comes last"
  )

  T.eq(vim.o.tabline, "", "no tabline before a workspace opens")
  vim.cmd("ConductorNew --name=labels try labels")
  ws = T.wait_event("ConductorWorkspaceCreated")
  first = T.wait(function()
    return agents.list(ws.id, "agent")[1]
  end, "the first agent")
  T.wait(function()
    return text(first.buf):find("FAKE AGENT READY", 1, true)
  end, "the agent's banner")
end)

-- A new agent terminal starts in Terminal mode, ready for keys.
T.case("A new agent terminal starts in Terminal mode, ready for keys", function()
  T.eq(api.nvim_get_current_buf(), first.buf, "the agent's terminal is current")
  T.wait(function()
    return api.nvim_get_mode().mode == "t"
  end, "Terminal mode in the new agent terminal")
  api.nvim_input("<C-\\><C-n>")
  T.wait(function()
    return api.nvim_get_mode().mode == "nt"
  end, "Normal mode again")
end)

-- Tabs: the workspace's tab is labelled by its name, in the tabline set by conductor
-- (there was none) and for users' own tablines.
T.case("Tabs", function()
  T.eq(conductor.tab_label(), "labels", "tab_label() of the workspace's tab")
  T.eq(conductor.tab_label(1), nil, "tab_label() of a tab of no workspace")
  T.contains(vim.o.tabline, "conductor.tabline", "conductor's tabline is set")
  local line = require("conductor.tabline").render()
  T.contains(line, " labels ", "the tabline names the workspace")
  T.eq(line:find("fake", 1, true), nil, "the tabline does not show the agent's buffer name")
end)

-- Two agents of one kind get distinct labels, in the list and in "send to which agent?".
local second, shown
T.case("Two agents of one kind get distinct labels, in the list and in…", function()
  vim.cmd("ConductorAgent fake")
  T.wait(function()
    return #agents.list(ws.id, "agent") == 2
  end, "the second agent")
  second = agents.list(ws.id, "agent")[2]
  T.wait(function()
    return text(second.buf):find("FAKE AGENT READY", 1, true)
  end, "the second banner")
  T.eq({ first.label, second.label }, { "fake", "fake-2" }, "labels")
  T.eq(api.nvim_buf_get_name(second.buf), "conductor://labels/fake-2", "the second terminal's name")
  vim.ui.select = function(items, opts, on_choice)
    shown = {}
    for i, item in ipairs(items) do
      shown[i] = opts.format_item(item)
    end
    on_choice(nil)
  end
end)
-- Out of the agent's terminal (into a new window of the workspace's tab): two to choose.
T.case("Out of the agent's terminal (into a new window of the workspace's tab)", function()
  api.nvim_input("<C-\\><C-n>")
  T.wait(function()
    return api.nvim_get_mode().mode == "nt"
  end, "Normal mode in the second terminal")
  vim.cmd("new")
  vim.cmd("ConductorSend hello")
  T.wait(function()
    return shown
  end, "send to which agent?")
  T.ok(
    shown[1]:find("^fake %[") and shown[2]:find("^fake%-2 %["),
    "send choices: " .. vim.inspect(shown)
  )
  shown = nil
  vim.cmd("ConductorAgents")
  T.wait(function()
    return shown
  end, ":ConductorAgents")
  T.ok(
    shown[1]:find(" fake ", 1, true) and shown[2]:find(" fake-2 ", 1, true),
    ":ConductorAgents: " .. vim.inspect(shown)
  )
end)

-- No checks anywhere: the message names, in full, the root checkout's file that takes
-- effect for this workspace at once (its committed settings.toml is read from the base).
T.case("No checks anywhere", function()
  vim.cmd("ConductorCheck")
  T.wait_error("in " .. repo .. "/.conductor/settings.local.toml")
end)

-- Review opens on the first file of its panel, also when the engine's cached list
-- (from an earlier review) lacks a file added since.
T.case("Review opens on the first file of its panel, also when the…", function()
  T.write(ws.path .. "/b.txt", "b\n")
  T.git(ws.path, "add", "b.txt")
  T.git(ws.path, "commit", "-qm", "b")
  local review = require("conductor.review")
  vim.cmd("ConductorReview")
  T.wait(function()
    local r = review.of_workspace(ws.id)
    return r and not r.loading and r.changes and #r.changes.files == 1
  end, "the first review's list")
  review.close(review.of_workspace(ws.id))
  T.write(ws.path .. "/a.txt", "a\n")
  T.git(ws.path, "add", "a.txt")
  T.git(ws.path, "commit", "-qm", "a")
  vim.cmd("ConductorReview labels")
  local r = T.wait(function()
    local r = review.of_workspace(ws.id)
    return r and not r.loading and r.changes and #r.changes.files == 2 and r
  end, "the second review's fresh list")
  T.eq(r.changes.files[1].path, "a.txt", "the panel's first file")
  T.eq(r.current, "a.txt", "the review shows the panel's first file")
  T.eq(conductor.tab_label(), "labels review", "the review tab's label")
end)
