-- Workspaces on other machines over a real sshd (tests/e2e/hosts.rs): `:ConductorNew
-- --host` asks about the host's settings file (showing its text there), makes the
-- workspace there and starts the fake agent there in a terminal here that takes keys; the
-- statusline and tab name the host; the picker lists a local and the remote workspace in
-- one list (a host that refuses is named in one warning); `:ConductorOpen` of the remote
-- workspace brings its tab and agent back; :ConductorRun there offers the port forward;
-- :ConductorFanout --host makes its workspaces there; a vimdiff of two remote worktrees.
local T = require("harness")
local api = vim.api
local ssh = vim.json.decode(vim.env.CONDUCTOR_TEST_SSH)
local root = vim.env.CONDUCTOR_TEST_HOST_ROOT
local fake = vim.env.CONDUCTOR_FAKE_AGENT

-- A host that refuses: the same ssh command to a port nobody listens on.
local refused = vim.deepcopy(ssh)
for i, a in ipairs(refused) do
  if a == "-p" then
    refused[i + 1] = vim.env.CONDUCTOR_TEST_CLOSED_PORT
  end
end

T.record("ConductorWorkspaceCreated")
T.ok(
  require("conductor").setup({
    default_agent = "fake",
    fetch = false,
    -- The host's fake agent is the copy in its directory (the same path here and there).
    agents = {
      fake = { cmd = { fake }, prompt = "arg", idle_after_ms = 300 },
      hostfake = { cmd = { root .. "/fake-agent" }, prompt = "arg", idle_after_ms = 300 },
    },
    hosts = {
      box = {
        ssh = ssh,
        repos = { app = root .. "/repo" },
        state_dir = root .. "/state",
        options = { workspaces_root = root .. "/ws", fetch = false },
      },
      down = { ssh = refused, repos = { app = "/nowhere" } },
    },
  }),
  "setup() takes the hosts"
)
local agents = require("conductor.agent")
local conductor = require("conductor")

local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local function wait_text(buf, needle, what)
  local ok = pcall(T.wait, function()
    return text(buf):find(needle, 1, true) ~= nil
  end, needle, 30000)
  T.ok(ok, ("%s: %q not on screen; screen:\n%s"):format(what, needle, text(buf):sub(-1500)))
end

-- The trust question: what was asked, and the text "view" showed. Each question is
-- answered "view" first, then "allow" once the text is on screen.
local questions, viewed = {}, {}
local real_confirm = vim.fn.confirm
vim.fn.confirm = function(msg, choices, default)
  if msg:find("conductor: ", 1, true) ~= 1 then
    return real_confirm(msg, choices, default)
  end
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(buf):find("^conductor%-trust://") then
      viewed[#viewed + 1] = text(buf)
      return 4
    end
  end
  questions[#questions + 1] = msg
  return 2
end

local here
T.case("a workspace of this machine, for the picker to list beside the remote one", function()
  vim.cmd("ConductorNew --name=here a local task")
  here = T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name == "here"
  end)
  T.eq(here.host, nil, "made here")
end)

local there, agent
T.case(":ConductorNew --host makes it on the host, asking about the host's file", function()
  -- No --repo: the host's repository with this one's origin.
  vim.cmd("ConductorNew --host=box --agent=hostfake --name=there fix it over there")
  there = T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name == "there"
  end, "the remote workspace")
  T.eq(there.host, "box", "its host")
  T.ok(vim.startswith(there.id, "box:"), "its id names the host: " .. there.id)
  T.ok(vim.startswith(there.path, root .. "/ws/"), "its worktree is under the host's root")
  T.eq(#questions, 1, "one trust question (the host's settings.toml)")
  T.contains(questions[1], root .. "/repo/.conductor/settings.toml", "about the host's file")
  T.contains(viewed[1] or "", "REMOTE-SETTINGS-7f3a", "view shows the host's text")
  T.eq(vim.t.conductor_workspace, there.id, "its tab is current")
  T.eq(conductor.tab_label(), "box: there", "the tab names the host")
  T.ok(vim.fn.getcwd() ~= there.path, "no :tcd to the host's path")
end)

T.case("its agent runs on the host, in a terminal here that takes keys", function()
  agent = T.wait(function()
    return agents.list(there.id, "agent")[1]
  end, "the agent")
  wait_text(agent.buf, "FAKE AGENT READY", "banner")
  wait_text(agent.buf, "PROMPT: fix it over there", "the task as first prompt")
  wait_text(agent.buf, "PWD=" .. there.path, "it runs in the worktree on the host")
  T.eq(api.nvim_get_current_buf(), agent.buf, "the agent's terminal is current")
  vim.cmd("startinsert")
  T.wait(function()
    return api.nvim_get_mode().mode == "t"
  end, "terminal mode")
  api.nvim_input("work typed-over-ssh\r")
  wait_text(agent.buf, "DONE WORKING", "the typed command ran")
  -- The host is this machine under another user: its file can be read back here.
  T.eq(T.read(there.path .. "/agent-output.txt"), "typed-over-ssh\n", "written on the host")
  api.nvim_input("<C-\\><C-n>")
  T.wait(function()
    return api.nvim_get_mode().mode == "nt"
  end, "Normal mode again")
end)

T.case("the statusline names the host", function()
  require("conductor.statusline").invalidate()
  T.contains(conductor.statusline(), "⎇ box: there", "statusline")
end)

T.case("one picker lists both, the host shown; the refusing host is named once", function()
  local before = #T.notes
  local shown
  local real_select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    if opts.kind == "conductor_workspace" then
      shown = vim.tbl_map(function(i)
        return { item = i, row = opts.format_item(i) }
      end, items)
      return on_choice(nil)
    end
    return real_select(items, opts, on_choice)
  end
  vim.cmd("Conductor")
  vim.ui.select = real_select
  T.ok(shown, "the picker was shown")
  local rows = {}
  for _, s in ipairs(shown) do
    if s.item.id == here.id then
      rows.here = s.row
    elseif s.item.id == there.id then
      rows.there = s.row
    end
  end
  T.ok(rows.here, "the local workspace is listed")
  T.ok(rows.there, "the remote workspace is listed")
  T.ok(vim.startswith(rows.there, "box: there"), "the row names the host: " .. rows.there)
  T.ok(vim.startswith(rows.here, "here "), "a local row has no host: " .. rows.here)
  local warnings = T.wait(function()
    local out = {}
    for i = before + 1, #T.notes do
      if T.notes[i].level == vim.log.levels.WARN then
        out[#out + 1] = T.notes[i].msg
      end
    end
    return #out > 0 and out
  end, "the warning about the refusing host")
  T.eq(#warnings, 1, "one warning")
  T.contains(warnings[1], "not listed: the workspaces of down (", "names the host")
  T.ok(not warnings[1]:find("box", 1, true), "box is not in it")
  -- Completion names the remote workspace with its host.
  T.ok(
    vim.tbl_contains(vim.fn.getcompletion("ConductorOpen ", "cmdline"), "box:there"),
    "{ws} completion has box:there"
  )
  -- Opened again at once: the host that did not answer is not waited for again.
  local again = require("conductor.workspace")
  local _, unreachable = again.list_all(true)
  T.eq(#unreachable, 1, "still named")
  T.contains(unreachable[1].error, "asked again after 60 s", "not asked again so soon")
end)

T.case(":ConductorOpen of the remote workspace brings its tab and agent back", function()
  vim.cmd("ConductorOpen here")
  T.eq(vim.t.conductor_workspace, here.id, "on the local workspace's tab")
  local tab = T.tab_of(there.id)
  vim.cmd("tabclose " .. api.nvim_tabpage_get_number(tab))
  T.eq(T.tab_of(there.id), nil, "the remote tab is closed (its agent runs on)")
  vim.cmd("ConductorOpen box:there")
  T.wait(function()
    return vim.t.conductor_workspace == there.id
  end, "the remote workspace's tab")
  T.eq(conductor.tab_label(), "box: there", "labelled with its host")
  local shown = T.wait(function()
    for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
      local e = agents.list(there.id, "agent")[1]
      if e and api.nvim_win_get_buf(win) == e.buf then
        return e
      end
    end
  end, "its agent's terminal in the tab")
  wait_text(shown.buf, "DONE WORKING", "the terminal shows what it showed before")
  T.ok(vim.fn.getcwd() ~= there.path, "no :tcd to the host's path")
end)

T.case(":ConductorRun runs there and forwards its ports here; a taken port is left out", function()
  local forward = require("conductor.agent.forward")
  T.ok(there.port, "the workspace has a port block")
  -- The run script (the host's settings.toml) serves the worktree on the host's IPv6
  -- loopback only: 127.0.0.1 reaches it only through the forward.
  local taken = assert(vim.uv.new_tcp())
  assert(taken:bind("127.0.0.1", there.port + 1) == 0, "port+1 free to take")
  assert(taken:listen(1, function() end) == 0)
  local offers = {}
  local real_select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    if opts.kind == "conductor_forward" then
      offers[#offers + 1] = items[1]
      return on_choice(items[1], 1)
    end
    return real_select(items, opts, on_choice)
  end
  local before = #T.notes
  vim.cmd("ConductorRun")
  T.wait(function()
    return forward.ports(there.id)
  end, "the forward to start", 30000)
  vim.ui.select = real_select
  T.eq(#offers, 1, "offered once")
  T.contains(offers[1], ("Forward ports %d-%d of box"):format(there.port, there.port + 9), "offer")
  local ports = forward.ports(there.id)
  T.ok(not vim.tbl_contains(ports, there.port + 1), "the taken port is left out")
  T.eq(#ports, 9, "the other nine are forwarded")
  -- Said from the event loop: waited for.
  T.wait(function()
    for i = before + 1, #T.notes do
      local needle = ("port %d is taken on this machine"):format(there.port + 1)
      if T.notes[i].msg:find(needle, 1, true) then
        return true
      end
    end
  end, "the taken port named")
  -- The run script runs on the host with the workspace's port.
  local run = agents.list(there.id, "run")[1]
  T.ok(run, "the run terminal")
  wait_text(run.buf, ("Serving HTTP on ::1 port %d"):format(there.port), "the dev server there")
  -- ssh listens here on the forwarded ports. (What comes through is not checked: the
  -- test's host is this machine, whose "localhost" is the forward's own end.)
  T.wait(function()
    return not forward.port_free(there.port) and not forward.port_free(there.port + 9)
  end, "ssh listening on the forwarded ports here")
  -- Stopping the runs stops the forward (the ports are free here again).
  vim.cmd("ConductorStop")
  T.wait(function()
    return forward.ports(there.id) == nil and forward.port_free(there.port)
  end, "the forward to stop")
  taken:close()
end)

local far
T.case(":ConductorFanout --host makes its workspaces on the host", function()
  vim.cmd("ConductorOpen here") -- from the local repository: the host's with its origin
  vim.cmd("ConductorFanout --host=box")
  local buf = api.nvim_get_current_buf()
  T.eq(api.nvim_buf_get_name(buf), "conductor://fanout", "the buffer of tasks")
  T.contains(text(buf), "in repo on host box", "its header names the host")
  api.nvim_buf_set_lines(buf, -1, -1, false, { "@hostfake #far a task for the host" })
  vim.cmd("write")
  far = T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name == "far"
  end, "the fanout's workspace")
  T.eq(far.host, "box", "made on the host")
  T.ok(vim.startswith(far.path, root .. "/ws/"), "under the host's root")
end)

T.case("a comparison's vimdiff shows the hosts' files, read there", function()
  require("conductor.compare").diff(there, far, "agent-output.txt")
  local wins = api.nvim_tabpage_list_wins(0)
  T.eq(#wins, 2, "two sides")
  local left, right = api.nvim_win_get_buf(wins[1]), api.nvim_win_get_buf(wins[2])
  T.eq(api.nvim_buf_get_name(left), "conductor://box:there/agent-output.txt", "the left side")
  T.eq(api.nvim_buf_get_lines(left, 0, -1, false), { "typed-over-ssh" }, "its text on the host")
  T.eq(vim.bo[left].modifiable, false, "read-only")
  T.eq(
    api.nvim_buf_get_name(right),
    "conductor://box:far/agent-output.txt (absent)",
    "absent on the other side"
  )
  T.ok(vim.wo[wins[1]].diff and vim.wo[wins[2]].diff, "in diff mode")
end)
