-- :ConductorDoctor — what the state file, git and the disk disagree on (after a crash,
-- a worktree removed by hand, one made by hand under the workspaces root), and, after
-- asking, the engine's repairs. Repairs never remove work: see src/core/doctor.rs.

local M = {}

local bufs = require("conductor.bufs")
local engine = require("conductor.engine")
local events = require("conductor.events")
local notify = require("conductor.notify")

local BUF_NAME = "conductor://doctor"

local function show(findings, title)
  local lines = { title, "" }
  for _, f in ipairs(findings) do
    lines[#lines + 1] = ("%s %s%s"):format(
      f.repaired and "✓" or "•",
      f.kind,
      f.workspace and (" · " .. f.workspace) or ""
    )
    lines[#lines + 1] = "    " .. f.problem
    lines[#lines + 1] = "    repair: " .. f.repair
  end
  local buf = bufs.find(BUF_NAME)
  if not buf then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, BUF_NAME)
    vim.bo[buf].bufhidden = "wipe"
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if #vim.fn.win_findbuf(buf) == 0 then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, buf)
  end
  return buf
end

local function fixable(findings)
  return #vim.tbl_filter(function(f)
    -- The engine says which findings it can repair (src/core/doctor.rs, FindingKind).
    return f.fixable
  end, findings)
end

--- Shows the findings; asks before repairing what can be repaired.
function M.run()
  engine.request("doctor", { repair = false }, function(err, findings)
    if err then
      return notify.error(err)
    end
    if #findings == 0 then
      return notify.info("everything agrees: state file, worktrees, branches")
    end
    show(findings, ("conductor doctor: %d problem(s)"):format(#findings))
    local n = fixable(findings)
    if
      n == 0
      or vim.fn.confirm(
          ("Repair %d problem(s)? Nothing holding work is removed."):format(n),
          "&Yes\n&No",
          2
        )
        ~= 1
    then
      return
    end
    engine.request("doctor", { repair = true }, function(err2, done)
      if err2 then
        return notify.error(err2)
      end
      show(done, "conductor doctor: repaired")
      local repaired = #vim.tbl_filter(function(f)
        return f.repaired
      end, done)
      notify.info(("repaired %d problem(s)"):format(repaired))
      events.fire("ConductorDoctor", { findings = done })
    end)
  end)
end

--- Once per session, when the engine starts: a warning when something disagrees.
function M.check_on_start()
  pcall(engine.request, "doctor", { repair = false }, function(err, findings)
    if not err and type(findings) == "table" and #findings > 0 then
      notify.warn(
        ("%d problem(s) between the state file and git (e.g. %s); :ConductorDoctor shows and repairs them"):format(
          #findings,
          findings[1].problem
        )
      )
    end
  end)
end

return M
