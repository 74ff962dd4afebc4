-- A host that refuses (a real sshd, tests/e2e/remote.rs, reached on a closed port):
-- commands for it fail with one clear line naming the host and ssh's reason; nothing
-- is made here (tests/e2e/remote.rs checks that nothing is made there either).
local T = require("harness")
local host = require("remote_host")

local ssh = host.ssh()
-- The port after -p: a closed one.
for i, a in ipairs(ssh) do
  if a == "-p" then
    ssh[i + 1] = vim.env.CONDUCTOR_TEST_CLOSED_PORT
  end
end
host.setup({ hosts = { box = { ssh = ssh } } })
local engine = require("conductor.engine")

T.case("A request for the host fails in one line", function()
  local ok, err = pcall(engine.call, "list", { host = "box" })
  T.eq(ok, false, "refused")
  T.contains(err, "cannot reach host box", "names the host")
  T.contains(err, "Connection refused", "ssh's reason")
  T.ok(not vim.trim(err):find("\n"), "one line: " .. err)
end)

T.case("A command for a workspace there says the same", function()
  vim.cmd("ConductorReview box:nothing")
  local err = T.wait_error("cannot reach host box")
  T.ok(not vim.trim(err):find("\n"), "one line: " .. err)
  vim.cmd("ConductorArchive box:nothing")
  T.wait(function()
    local n = 0
    for _, note in ipairs(T.notes) do
      if note.msg:find("cannot reach host box", 1, true) then
        n = n + 1
      end
    end
    return n >= 2
  end, "the archive refused the same way")
end)

T.case("Nothing was made here", function()
  T.eq(#engine.call("list", {}), 0, "no workspace in the local engine")
  T.eq(#vim.api.nvim_list_tabpages(), 1, "no tab")
  T.eq(engine.host_connected("box"), false, "not connected")
end)
