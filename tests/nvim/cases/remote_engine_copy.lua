-- A host without the engine (a real sshd, tests/e2e/remote.rs): the first command that
-- reaches it copies this build's engine to the versioned path there (saying so once)
-- and goes on; a workspace made there runs the fake agent. tests/e2e/remote.rs checks
-- the copied file on the host.
local T = require("harness")
local host = require("remote_host")

host.setup()
local engine = require("conductor.engine")

-- ~/.local/share/conductor/<version>-<commit>/conductor-engine (tests/common/sshd.rs).
local versioned = vim.env.CONDUCTOR_TEST_ENGINE_DIR .. "/conductor-engine"

T.case("The host has no engine", function()
  T.eq(
    host.sh("test -e ~/" .. versioned .. " && echo there || echo missing"),
    "missing\n",
    "engine"
  )
end)

T.case("The first command copies it and goes on", function()
  T.eq(#engine.call("list", { host = "box" }), 0, "the host's engine answers")
  T.eq(host.sh("test -x ~/" .. versioned .. " && echo there || echo missing"), "there\n", "engine")
  local function said()
    local n = 0
    for _, note in ipairs(T.notes) do
      if note.msg:find("box has no conductor-engine", 1, true) then
        n = n + 1
      end
    end
    return n
  end
  T.wait(function()
    return said() > 0
  end, "the copy said")
  T.eq(said(), 1, "said once that it copies the engine to box")
end)

T.case("A workspace made there runs an agent", function()
  local ws = host.create("copied")
  local s = require("conductor.agent").start(ws, "fake", "on a fresh host")
  T.wait(function()
    local text = table.concat(vim.api.nvim_buf_get_lines(s.buf, 0, -1, false), "\n")
    return text:find("PROMPT: on a fresh host", 1, true)
  end, "the agent's banner")
end)
