-- The harness for cases over ssh (tests/e2e/remote.rs `run_remote_case`) gives what it
-- promises: the host reached with the ssh argv, its repository with the same `origin`
-- as the local clone Neovim runs in, and the fake agent there.
local T = require("harness")
local host = require("remote_host")

T.case("The host answers as its own user", function()
  local root = host.root()
  T.eq(vim.trim(host.sh("id -un")), "conductor-remote", "the host's user")
  T.eq(vim.trim(host.sh("stat -c %U " .. host.quote(root .. "/repo"))), "conductor-remote", "owner")
  T.ok(
    host.sh("test -x " .. host.quote(root .. "/fake-agent") .. " && echo yes"):find("yes"),
    "agent"
  )
end)

T.case("The same origin here and there", function()
  local here = T.git(vim.fn.getcwd(), "remote", "get-url", "origin")
  T.eq(host.git(host.root() .. "/repo", "remote", "get-url", "origin"), here, "origin")
  T.contains(host.read(host.root() .. "/repo/README.md"), "on the host", "the host's file")
  host.write(host.root() .. "/note.txt", "written 'there'\n")
  T.eq(host.read(host.root() .. "/note.txt"), "written 'there'\n", "a file written there")
  T.eq(host.read(host.root() .. "/no-such-file"), nil, "a missing file")
end)

T.case("The setup options name the host", function()
  local opts = host.options()
  T.eq(opts.hosts.box.repos.app, host.root() .. "/repo", "the repository")
  T.eq(opts.hosts.box.ssh, host.ssh(), "the ssh argv")
end)
