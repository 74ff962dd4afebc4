-- `:ConductorCheck`: the workspace's checks (option `checks`, or `checks` in
-- the repository's config files), run one after another by the engine in the
-- worktree with the workspace's environment. Progress on the message line,
-- the outcome as one notification, in the review panel and in the
-- workspace's record; a failure can go to the agent with its log's tail.

local M = {}

local agents = require("conductor.agent")
local engine = require("conductor.engine")
local events = require("conductor.events")
local format = require("conductor.format")
local notify = require("conductor.notify")
local progress = require("conductor.progress")
local tabs = require("conductor.review.tabs")
local trust = require("conductor.trust")
local workspace = require("conductor.workspace")

local TAIL_LINES = 80
local TAIL_BYTES = 8000

---@type table<string, integer> workspace id -> request id of the running checks
local running = {}
---@type table<string, table> workspace id -> last result seen in this editor
local last = {}

---@param id string
---@return boolean
function M.running(id)
  return running[id] ~= nil
end

--- The last checks result of `ws`: this editor's, else the workspace record's.
---@param ws conductor.Workspace
---@return table?
function M.result(ws)
  return last[ws.id] or ws.checks
end

--- Total milliseconds of a result.
---@param res table
---@return integer
function M.elapsed(res)
  if res.elapsed_ms then
    return res.elapsed_ms
  end
  local ms = 0
  for _, r in ipairs(res.results or {}) do
    ms = ms + (r.elapsed_ms or 0)
  end
  return ms
end

--- The first failed check of a result, or nil.
---@param res table
---@return table?
function M.failure(res)
  for _, r in ipairs(res.results or {}) do
    if not r.ok then
      return r
    end
  end
end

-- Whether a check's log is a file on another machine (the workspace's host): its path
-- means nothing here.
---@param check table
---@param ws? conductor.Workspace
---@return boolean
local function log_elsewhere(check, ws)
  local log = check.log or ""
  return ws ~= nil and ws.host ~= nil and not log:find("\n") and log:sub(1, 1) == "/"
end

--- The last lines of a check's log (`log` is the output itself, or the path
--- of a file holding it, read through the engine of `ws`'s host when it is there); nil
--- when it cannot be read.
---@param check table
---@param ws? conductor.Workspace
---@return string?
function M.log_tail(check, ws)
  local log = check.log or ""
  if log_elsewhere(check, ws) then
    -- On the workspace's machine: read through the engine there.
    local ok, part = pcall(engine.call, "log_read", { workspace = ws.id, log = "checks" })
    if not ok or part.path ~= log then
      return nil
    end
    log = part.text
  elseif not log:find("\n") and log:sub(1, 1) == "/" and vim.uv.fs_stat(log) then
    local f = io.open(log, "rb")
    log = f and f:read("*a") or ""
    if f then
      f:close()
    end
  end
  local lines = vim.split(log, "\n", { plain = true, trimempty = false })
  while #lines > 0 and vim.trim(lines[#lines]) == "" do
    lines[#lines] = nil
  end
  local tail = table.concat(vim.list_slice(lines, math.max(1, #lines - TAIL_LINES + 1)), "\n")
  if #tail > TAIL_BYTES then
    tail = "…" .. tail:sub(-TAIL_BYTES)
  end
  return tail
end

--- The prompt that asks the agent to fix a failed check.
---@param check table
---@param ws? conductor.Workspace
---@return string
function M.failure_prompt(check, ws)
  local why = check.code and ("exit code " .. check.code) or "it failed"
  local tail = M.log_tail(check, ws)
  if not tail then
    -- The log is on the agent's machine, not this one: the agent reads it there.
    return ("The check `%s` fails (%s). Please fix it. Its output is in the file %s (read its end)."):format(
      check.command or "?",
      why,
      check.log
    )
  end
  return ("The check `%s` fails (%s). Please fix it. The end of its output:\n```\n%s\n```"):format(
    check.command or "?",
    why,
    tail
  )
end

--- Sends the failed check of `ws`'s last result to its agent.
---@param ws conductor.Workspace
function M.send_failure(ws)
  local res = M.result(ws)
  local failed = res and M.failure(res)
  if not failed then
    error(("%s has no failed check to send; run :ConductorCheck"):format(format.workspace(ws)), 0)
  end
  agents.choose(ws, function(s)
    agents.paste(s.id, workspace.with_prompt(ws, "fix_errors", M.failure_prompt(failed, ws)), true)
    notify.info(
      ("sent the failure of `%s` to %s/%s"):format(failed.command, format.workspace_ref(ws), s.name)
    )
  end, { prompts = true })
end

-- Offers what to do about a failed check.
---@param ws conductor.Workspace
---@param failed table
local function offer(ws, failed)
  local choices = {
    { id = "send", label = ("send the end of its log to %s's agent"):format(format.workspace(ws)) },
  }
  choices[#choices + 1] = { id = "log", label = "show its log" }
  vim.ui.select(choices, {
    prompt = ("conductor: `%s` failed"):format(failed.command),
    kind = "conductor_check_failed",
    format_item = function(c)
      return c.label
    end,
  }, function(choice)
    if not choice then
      return
    end
    if choice.id == "send" then
      notify.guard(M.send_failure)(ws)
    else
      vim.cmd("botright 15new")
      local buf = vim.api.nvim_get_current_buf()
      vim.bo[buf].buftype = "nofile"
      vim.bo[buf].bufhidden = "wipe"
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(M.log_tail(failed, ws) or "", "\n"))
      vim.bo[buf].modifiable = false
      vim.cmd("normal! G")
    end
  end)
end

---@param id string
local function redraw(id)
  local open = tabs.of_workspace(id)
  if open then
    open.view.redraw(id)
  end
end

--- Runs the checks of a workspace (default: the current tab's or review's).
---@param name string?
function M.check(name)
  local ws = tabs.resolve(name, "ConductorCheck")
  if running[ws.id] then
    error(("the checks of %s are already running"):format(format.workspace(ws)), 0)
  end
  trust.for_workspace(ws)
  local label = ("%s: running checks…"):format(format.workspace(ws))
  running[ws.id] = progress.request("checks", { workspace = ws.id }, label, function(err, res)
    running[ws.id] = nil
    if err then
      redraw(ws.id)
      return notify.error(("%s: checks could not run: %s"):format(format.workspace(ws), err))
    end
    res.elapsed_ms = res.elapsed_ms or M.elapsed(res)
    res.finished_at = res.finished_at or os.time()
    last[ws.id] = res
    redraw(ws.id)
    local results = res.results or {}
    local failed = M.failure(res)
    if #results == 0 then
      notify.warn(
        ("%s has no checks; set `checks` in setup() or in %s/.conductor/settings.toml%s"):format(
          format.workspace(ws),
          ws.repo_root,
          ws.host and (" on " .. ws.host) or ""
        )
      )
    elseif res.ok then
      notify.info(
        ("%s: checks passed (%d, %s)"):format(
          format.workspace(ws),
          #results,
          format.duration(res.elapsed_ms)
        )
      )
    else
      notify.error(
        ("%s: check `%s` failed (%s) after %s"):format(
          format.workspace(ws),
          failed and failed.command or "?",
          failed and failed.code and ("exit " .. failed.code) or "failed",
          format.duration(res.elapsed_ms)
        )
      )
    end
    events.fire("ConductorChecksFinished", {
      workspace = ws,
      ok = res.ok,
      results = results,
      elapsed_ms = res.elapsed_ms,
    })
    if failed then
      -- Not from inside this engine callback: the choice list waits for the user, and
      -- the outcome above should be on screen before it.
      vim.schedule(function()
        notify.guard(offer)(ws, failed)
      end)
    end
  end, "checks:" .. ws.id)
  redraw(ws.id)
end

M.check = notify.guard(M.check)

-- Wired when this module loads (modules load once).
do
  engine.on("check_started", function(ev)
    -- Another Neovim's checks (events go to every Neovim): not ours to show.
    if not running[ev.workspace_id] then
      return
    end
    progress.begin(
      "checks:" .. (ev.workspace_id or ev.workspace),
      ("%s: check `%s` running…"):format(ev.workspace, ev.command)
    )
  end)
end

return M
