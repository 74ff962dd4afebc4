-- Archive and restore of a workspace on another machine (a real sshd,
-- tests/e2e/remote.rs): both run on the host through its engine, uncommitted work
-- included; the messages name the host. tests/e2e/remote.rs checks the worktree and
-- branch on the host afterwards.
local T = require("harness")
local host = require("remote_host")

host.setup()
T.record("ConductorWorkspaceArchived")
T.record("ConductorWorkspaceRestored")
local engine = require("conductor.engine")

local function info_with(needle)
  return T.wait(function()
    for _, n in ipairs(T.notes) do
      if n.level == vim.log.levels.INFO and n.msg:find(needle, 1, true) then
        return n.msg
      end
    end
  end, "a message containing " .. vim.inspect(needle))
end

local ws = host.create("arch")
local worktree, branch = ws.path, ws.branch
-- Uncommitted work, made on the host: the archive keeps it in a snapshot.
host.write(worktree .. "/wip.txt", "work in progress\n")

T.case("Archive asks about the uncommitted work, then archives on the host", function()
  local asked
  local confirm = vim.fn.confirm
  vim.fn.confirm = function(question)
    asked = question
    return 1
  end
  vim.cmd("ConductorArchive box:arch")
  local archived = T.wait_event("ConductorWorkspaceArchived")
  vim.fn.confirm = confirm
  T.eq(archived.id, ws.id, "the event names the workspace")
  T.contains(asked, "Archive box: arch?", "the question names the host")
  T.contains(asked, "uncommitted change", "the preview came from the host")
  local said = info_with("archived box: arch")
  T.contains(said, ":ConductorRestore box:arch", "how to bring it back")
  T.eq(
    host.sh("test -e " .. host.quote(worktree) .. " && echo there || echo gone"),
    "gone\n",
    "worktree"
  )
  T.eq(
    host.git(host.root() .. "/repo", "branch", "--list", "--format=%(refname:short)", branch),
    branch,
    "the branch is kept on the host"
  )
  T.eq(engine.call("get", { workspace = ws.id }).state, "archived", "the host's record")
end)

T.case("An archived remote workspace says how to restore it", function()
  vim.cmd("ConductorReview box:arch")
  local err = T.wait_error("box: arch is archived")
  T.ok(not err:find("\n"), "one line")
end)

T.case("Restore brings it back on the host, uncommitted work included", function()
  vim.cmd("ConductorRestore box:arch")
  local restored = T.wait_event("ConductorWorkspaceRestored")
  T.eq(restored.id, ws.id, "the event names the workspace")
  T.eq(restored.host, "box", "on the host")
  info_with("restored box: arch on branch " .. branch)
  T.eq(host.read(restored.path .. "/wip.txt"), "work in progress\n", "the uncommitted work")
  T.eq(host.git(restored.path, "rev-parse", "--abbrev-ref", "HEAD"), branch, "on its branch")
  T.eq(engine.call("get", { workspace = ws.id }).state, "active", "the host's record")
end)

T.case("Nothing was made here", function()
  T.eq(#engine.call("list", {}), 0, "no workspace in the local engine")
end)
