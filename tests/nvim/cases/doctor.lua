-- :ConductorDoctor in a session: a workspace whose directory was removed by hand is
-- found at the engine's start, shown, and repaired after the question.
local T = require("harness")
T.record("ConductorWorkspaceCreated")
T.record("ConductorDoctor")
require("conductor").setup({
  agents = { idle = { cmd = { "sleep", "60" }, prompt = "none" } },
  default_agent = "idle",
})
T.case("A workspace whose directory was removed by hand is found and shown", function()
  vim.cmd("ConductorNew --name=gone a task")
  local ws = T.wait_event("ConductorWorkspaceCreated")
  vim.fn.delete(ws.path, "rf")
  vim.cmd("ConductorDoctor")
  T.wait(function()
    local buf = vim.fn.bufnr("conductor://doctor")
    local lines = buf ~= -1 and vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    return lines and table.concat(lines, "\n"):find("missing%-directory")
  end, "the doctor's findings")
end)

-- The question was answered "No" (headless confirm): nothing repaired yet.
T.case('The question was answered "No": nothing repaired yet', function()
  T.eq(
    require("conductor.engine").call("get", { workspace = "gone" }).state,
    "active",
    "not repaired without a yes"
  )
end)

-- Answered "Yes": repaired (archived), its branch kept.
T.case('Answered "Yes": archived, its branch kept', function()
  vim.fn.confirm = function()
    return 1
  end
  vim.cmd("ConductorDoctor")
  local done = T.wait_event("ConductorDoctor")
  T.eq(done.findings[1].kind, "missing-directory", "finding")
  T.eq(done.findings[1].repaired, true, "repaired")
  T.eq(
    require("conductor.engine").call("get", { workspace = "gone" }).state,
    "archived",
    "archived, branch kept"
  )
  T.contains(
    T.git(vim.env.CONDUCTOR_TEST_REPO, "branch", "--list", "conductor/gone"),
    "conductor/gone",
    "branch kept"
  )
end)
