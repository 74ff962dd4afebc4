-- A setup script that never ends (and ignores SIGHUP) must not survive :qa, even with
-- no agent started in this session. The Rust side checks the process after Neovim exits.
local T = require("harness")
T.record("ConductorWorkspaceCreated")
require("conductor").setup({
  stop_grace_ms = 200,
  open_on_create = false,
  agents = { idle = { cmd = { "sleep", "60" }, prompt = "none" } },
  default_agent = "idle",
  scripts = {
    setup = [[echo $$ > "$CONDUCTOR_TEST_PIDFILE"; trap '' HUP; while :; do sleep 1; done]],
  },
})
T.case("A workspace whose setup script never ends", function()
  vim.cmd("ConductorNew --name=forever a task")
  T.wait_event("ConductorWorkspaceCreated")
  T.wait(function()
    return (T.read(vim.env.CONDUCTOR_TEST_PIDFILE) or ""):match("%d+")
  end, "the setup script started")
end)
