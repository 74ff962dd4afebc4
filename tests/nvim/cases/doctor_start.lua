-- A new session whose state file disagrees with git (a worktree made by hand under the
-- workspaces root): the first use of the engine warns once and points at :ConductorDoctor.
-- The engine is first used from inside this case's coroutine on purpose: the library
-- must still be loaded on the main thread.
local T = require("harness")
T.case("The first use of the engine warns and points at :ConductorDoctor", function()
  require("conductor.engine").ensure()
  local warning
  T.wait(function()
    for _, n in ipairs(T.notes) do
      if n.level == vim.log.levels.WARN and n.msg:find(":ConductorDoctor", 1, true) then
        warning = n.msg
        return true
      end
    end
  end, "the start-up warning")
  T.contains(
    warning,
    "by-hand is a worktree under the workspaces root that conductor does not know"
  )
end)
