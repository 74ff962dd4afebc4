-- Workspaces on other machines, the parts that need no ssh: the `hosts` option's
-- validation (one clear error per mistake), config.hosts(), origin URL matching and the
-- choice of a host's repository, `--host=`/`--repo=` parsing and completion, the ssh
-- command of a port forward, and a remote workspace's tab (no :tcd to a host path).
local T = require("harness")
local config = require("conductor.config")
local conductor = require("conductor")
local repo = vim.env.CONDUCTOR_TEST_REPO
local other = vim.env.CONDUCTOR_TEST_OTHER -- a second clone of the same origin
local unrelated = vim.env.CONDUCTOR_TEST_UNRELATED -- a repository of another origin

-- setup() with `hosts`: nil when taken, else the error it notified (errors are said from
-- the event loop: waited for).
local function setup_error(hosts)
  local before = #T.notes
  if conductor.setup({ hosts = hosts }) then
    return nil
  end
  return T.wait(function()
    for i = before + 1, #T.notes do
      if T.notes[i].level == vim.log.levels.ERROR then
        return T.notes[i].msg
      end
    end
  end, "the error of setup()")
end

T.case("each mistake in hosts gets its own error naming the field", function()
  local bad = {
    {
      { ["a:b"] = { ssh = "x" } },
      "option 'hosts' has a bad host name \"a:b\": use letters, digits, '_', '.' and '-'",
    },
    {
      { big = "big" },
      "option 'hosts.big' must be a table { ssh = …, repos = … }, got string",
    },
    {
      { big = { ssh = "big", sssh = "x" } },
      "option 'hosts.big' has an unknown key 'sssh' (a host takes ssh, repos, engine, state_dir, options)",
    },
    { { big = { repos = {} } }, "option 'hosts.big.ssh' is missing" },
    {
      { big = { ssh = 22 } },
      "option 'hosts.big.ssh' must be a string (an ssh alias) or a list of strings, got number",
    },
    { { big = { ssh = { "ssh", 2222 } } }, "option 'hosts.big.ssh[2]' must be a non-empty string" },
    { { big = { ssh = {} } }, "option 'hosts.big.ssh' must be a non-empty list of strings" },
    { { big = { ssh = "me big" } }, "option 'hosts.big.ssh' must be an ssh alias (one word)" },
    {
      { big = { ssh = "big", repos = { "/src/app" } } },
      "option 'hosts.big.repos' must map short names to paths on the host",
    },
    {
      { big = { ssh = "big", repos = { app = true } } },
      "option 'hosts.big.repos.app' must be a path on the host (a string), got true",
    },
    {
      { big = { ssh = "big", repos = { ["my/app"] = "/src/app" } } },
      "option 'hosts.big.repos' has a bad short name \"my/app\"",
    },
    {
      { big = { ssh = "big", engine = 1 } },
      "option 'hosts.big.engine' must be a path on the host (a string), got 1",
    },
    {
      { big = { ssh = "big", options = { state_dir = "/x" } } },
      "option 'hosts.big.options.state_dir' is not an engine option here: set hosts.big.state_dir",
    },
    {
      { big = { ssh = "big", options = { fetch = "no" } } },
      "option 'hosts.big.options.fetch' must be a boolean, got string",
    },
    {
      { big = { ssh = "big", options = { workspace_root = "/x" } } },
      "option 'hosts.big.options' has an unknown engine option 'workspace_root'",
    },
    { { "big" }, "option 'hosts' must map host names to tables" },
  }
  for _, b in ipairs(bad) do
    local err = setup_error(b[1])
    T.ok(err, "refused: " .. vim.inspect(b[1]))
    T.contains(err, "conductor: " .. b[2], vim.inspect(b[1]))
    T.eq(#vim.split(err, "\n"), 1, "one line")
  end
end)

T.case("config.hosts() gives each host with its ssh argv", function()
  T.eq(
    setup_error({
      big = {
        ssh = "big",
        repos = { app = "/srv/app", clone = "/srv/clone", lib = "/srv/lib" },
        options = { workspaces_root = "/data/ws", fetch = false },
      },
      small = { ssh = { "ssh", "-p", "2222", "me@small" }, engine = "/opt/conductor-engine" },
    }),
    nil,
    "a valid config"
  )
  local hosts = config.hosts()
  T.eq(hosts.big.ssh, { "ssh", "big" }, "an alias becomes the ssh argv")
  T.eq(hosts.small.ssh, { "ssh", "-p", "2222", "me@small" }, "a list stays as it is")
  T.eq(hosts.big.repos.app, "/srv/app", "repos")
  T.eq(hosts.small.repos, {}, "no repos: an empty table")
  T.eq(hosts.big.options, { workspaces_root = "/data/ws", fetch = false }, "engine options")
  T.eq(hosts.small.engine, "/opt/conductor-engine", "engine")
  T.eq(config.host_names(), { "big", "small" }, "sorted names")
  T.ok(
    vim.fn.getcompletion("conductor-hosts", "help")[1] == "conductor-hosts",
    ":help conductor-hosts"
  )
end)

T.case("origin URLs compare by what names the repository", function()
  local hosts = require("conductor.hosts")
  local same = {
    { "git@github.com:a/b.git", "https://github.com/a/b" },
    { "git@github.com:a/b.git", "ssh://git@github.com/a/b" },
    { "https://github.com/a/b/", "https://GitHub.com/a/b.git" },
    { "ssh://git@github.com:22/a/b.git", "git@github.com:a/b" },
    { "https://user@gitlab.example.com/g/sub/p.git", "git@gitlab.example.com:g/sub/p" },
    { "/srv/git/app.git", "/srv/git/app" },
  }
  for _, p in ipairs(same) do
    T.ok(hosts.same_origin(p[1], p[2]), ("%s == %s"):format(p[1], p[2]))
  end
  local different = {
    { "git@github.com:a/b.git", "git@github.com:a/c.git" },
    { "git@github.com:a/b.git", "git@gitlab.com:a/b.git" },
    { "https://github.com/a/b", "https://github.com/A/b" },
    { "/srv/git/app", "/srv/other/app" },
  }
  for _, p in ipairs(different) do
    T.ok(not hosts.same_origin(p[1], p[2]), ("%s ~= %s"):format(p[1], p[2]))
  end
  T.ok(not hosts.same_origin(nil, "x"), "no origin matches nothing")
end)

T.case("the host's repository: named, a path, or the one with this origin", function()
  local hosts = require("conductor.hosts")
  local engine = require("conductor.engine")
  -- The host's engine answers resolve_repo from the repositories at these paths (what
  -- over ssh it reads there): their origin, as git has it.
  local asked = {}
  local real_call = engine.call
  local at = { ["/srv/app"] = repo, ["/srv/clone"] = other, ["/srv/lib"] = unrelated }
  engine.call = function(method, params)
    if method ~= "resolve_repo" then
      return real_call(method, params)
    end
    local dir = params.host and at[params.path] or params.path
    asked[#asked + 1] = params.host or "local"
    local ok, url = pcall(T.git, dir, "remote", "get-url", "origin")
    return { root = dir, name = vim.fs.basename(dir), origin = ok and url or nil }
  end
  local ok, err = pcall(function()
    local big = hosts.get("big")
    T.eq(hosts.repo_path(big, "lib", repo), "/srv/lib", "a short name")
    T.eq(hosts.repo_path(big, "/elsewhere/app", repo), "/elsewhere/app", "a path")
    T.eq(hosts.repo_path(big, "~/src/app", repo), "~/src/app", "a path from home")
    local e = select(2, pcall(hosts.repo_path, big, "nope", repo))
    T.eq(
      e,
      "host big has no repository named nope: name one with --repo= (app, clone, lib)",
      "unknown short name"
    )
    -- Two listed clones share this origin: which one is for the user to say.
    e = select(2, pcall(hosts.repo_path, big, nil, repo))
    T.contains(e, "several repositories of host big have the origin ", "ambiguous")
    T.contains(e, "(app, clone); name one with --repo=", "ambiguous: names the matches")
    T.ok(vim.tbl_contains(asked, "big"), "the host was asked")
    -- From the unrelated repository: exactly one match.
    T.eq(hosts.repo_path(big, nil, unrelated), "/srv/lib", "the one with this origin")
    -- A host that lists none of this origin.
    conductor.setup({ hosts = { big = { ssh = "big", repos = { app = "/srv/app" } } } })
    e = select(2, pcall(hosts.repo_path, hosts.get("big"), nil, unrelated))
    T.contains(e, "no repository of host big has the origin ", "no match")
    T.contains(e, "; name one with --repo= (app)", "no match: lists the short names")
    conductor.setup({ hosts = { big = { ssh = "big" } } })
    e = select(2, pcall(hosts.repo_path, hosts.get("big"), nil, repo))
    T.eq(
      e,
      "which repository on big? hosts.big.repos lists none; give a path there: --repo=/path/on/big",
      "no repos listed"
    )
    e = select(2, pcall(hosts.get, "nope"))
    T.eq(e, "unknown host nope (configured: big)", "unknown host")
  end)
  engine.call = real_call
  T.ok(ok, tostring(err))
end)

T.case("--host= and --repo= are parsed and completed", function()
  conductor.setup({
    hosts = {
      big = { ssh = "big", repos = { app = "/srv/app", lib = "/srv/lib" } },
      small = { ssh = "small" },
    },
  })
  local cli = require("conductor.cli")
  T.eq(
    cli.parse_new("--host=big --repo=app --agent=x fix it"),
    { host = "big", repo = "app", agent = "x", task = "fix it" },
    "parsed"
  )
  local ok, err = pcall(cli.parse_new, "--host=a:b task")
  T.ok(not ok, "a bad host name is refused")
  T.contains(err, "--host=a:b is not a host name", "its error")
  T.eq(
    vim.fn.getcompletion("ConductorNew --host=", "cmdline"),
    { "--host=big", "--host=small" },
    "hosts"
  )
  T.eq(
    vim.fn.getcompletion("ConductorNew --host=big --repo=", "cmdline"),
    { "--repo=app", "--repo=lib" },
    "the host's short names"
  )
  T.eq(vim.fn.getcompletion("ConductorNew --host=small --repo=", "cmdline"), {}, "none listed")
  T.ok(
    vim.tbl_contains(vim.fn.getcompletion("ConductorNew --", "cmdline"), "--host="),
    "--host= among the flags"
  )
  T.eq(
    vim.fn.getcompletion("ConductorFanout --h", "cmdline"),
    { "--host=big", "--host=small" },
    "fanout completes hosts"
  )
  -- An unknown host: one error, nothing asked, nothing made.
  vim.cmd("ConductorNew --host=nope a task")
  T.wait_error("conductor: unknown host nope (configured: big, small)")
  vim.cmd("ConductorFanout --host=nope")
  T.wait_error("conductor: unknown host nope (configured: big, small)")
  T.eq(#vim.api.nvim_list_tabpages(), 1, "nothing opened")
end)

T.case("a port forward's ssh command and a taken port", function()
  local forward = require("conductor.agent.forward")
  T.eq(forward.command({ ssh = { "ssh", "-p", "2222", "me@big" } }, { 55000, 55001 }), {
    "ssh",
    "-p",
    "2222",
    "-N",
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
    "-L",
    "127.0.0.1:55000:localhost:55000",
    "-L",
    "127.0.0.1:55001:localhost:55001",
    "me@big",
  }, "the host's argv, -N -L before the destination")
  T.eq(
    forward.ranges({ 55000, 55002, 55003, 55004, 55009 }),
    "55000, 55002-55004, 55009",
    "ports as runs"
  )
  local server = assert(vim.uv.new_tcp())
  assert(server:bind("127.0.0.1", 0) == 0)
  assert(server:listen(1, function() end) == 0)
  local port = server:getsockname().port
  T.eq(forward.port_free(port), false, "a listening port is taken")
  server:close()
  T.wait(function()
    return forward.port_free(port)
  end, "the port free once closed", 2000)
end)

T.case("a remote workspace's tab: labelled with its host, no :tcd, no local buffers", function()
  local layout = require("conductor.layout")
  local workspace = require("conductor.workspace")
  local cwd = vim.fn.getcwd()
  local ws = {
    id = "big:0123abcd",
    host = "big",
    name = "fix-login",
    path = cwd .. "/remote-only",
    repo_root = cwd,
    state = "active",
  }
  T.eq(workspace.host_of("big:fix-login"), "big", "a host's reference")
  T.eq(workspace.host_of("nope:fix-login"), nil, "not a configured host")
  T.eq(
    require("conductor.format").workspace_ref(ws),
    "big:fix-login",
    "completion names it with its host"
  )
  local tab = layout.open(ws)
  T.eq(vim.t.conductor_workspace, "big:0123abcd", "the tab is marked with its id")
  T.eq(conductor.tab_label(), "big: fix-login", "labelled with its host")
  T.eq(vim.fn.getcwd(), cwd, "no :tcd to a host path")
  T.eq(vim.fn.haslocaldir(-1, 0), 0, "no tab-local directory")
  -- A local buffer whose name is under the host path is another file.
  vim.cmd("edit " .. vim.fn.fnameescape(ws.path .. "/a.txt"))
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "local text" })
  T.eq(layout.modified_buffers(ws), {}, "not the workspace's")
  local buf = vim.api.nvim_get_current_buf()
  layout.close(ws)
  T.ok(not vim.api.nvim_tabpage_is_valid(tab), "its tab closed")
  T.ok(vim.api.nvim_buf_is_valid(buf), "the local buffer kept")
  vim.api.nvim_buf_delete(buf, { force = true })
end)

T.case("reconnected terminals take back only their own session (workspace and label)", function()
  local engine = require("conductor.engine")
  local agents = require("conductor.agent")
  local sessions = require("conductor.agent.sessions")
  local ws = { id = "big:0123abcd", host = "big", name = "fix-login", state = "active" }
  local function lost_terminal(id, label)
    local buf = vim.api.nvim_create_buf(false, true)
    local s = { kind = "agent", name = "fake", label = label, ws = ws, buf = buf }
    s.state = "working"
    s.chan = vim.api.nvim_open_term(buf, {})
    sessions.register(s, id)
    s.lost = true
    return s
  end
  local base = 3 * 2 ^ 40
  local same = lost_terminal(base + 1, "fake")
  local other = lost_terminal(base + 2, "fake-2")
  -- The host's engine restarted: number 2 is now another workspace's agent.
  local attached = {}
  local call = engine.call
  engine.call = function(method, params)
    if method == "agent_sessions" then
      return {
        { session = base + 1, workspace_id = ws.id, label = "fake", state = "idle" },
        { session = base + 2, workspace_id = "big:ffff0000", label = "fake-2", state = "working" },
      }
    elseif method == "agent_attach" then
      attached[#attached + 1] = params.session
      return true
    end
    return call(method, params)
  end
  local ok, n = pcall(agents.reattach, "big")
  engine.call = call
  T.ok(ok, tostring(n))
  T.eq(n, 1, "one reattached")
  T.eq(attached, { base + 1 }, "only the session of the same workspace and label")
  T.eq(same.lost, nil, "the first shows again")
  T.eq(same.state, "idle", "with its state")
  T.eq(other.state, "exited", "the other is marked exited")
  T.eq(sessions.by_id[base + 2], nil, "and leaves the table (its number is another's)")
  T.wait(function()
    local text = table.concat(vim.api.nvim_buf_get_lines(other.buf, 0, -1, false), "\n")
    return text:find("no longer running on big", 1, true)
  end, "its terminal says so")
  sessions.forget_workspace(ws.id)
end)
