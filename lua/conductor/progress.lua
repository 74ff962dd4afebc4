-- What is going on, without spamming: running operations (creation steps) and
-- scripts (elapsed time, last output line) share one message line, redrawn at
-- most every 100 ms and never kept in :messages. Outcomes become one
-- notification each: INFO when a script succeeds, ERROR with the way out when
-- it fails, WARN for engine warnings and skipped scripts.

local M = {}

local notify = require("conductor.notify")
local uv = vim.uv

local THROTTLE_MS = 100

---@class conductor.Op
---@field text? string   fixed text (requests)
---@field ws? string     workspace name (scripts)
---@field kind? string   "setup" | "archive" (scripts)
---@field started? integer uv.now() when the script started
---@field line? string   its last output line
---@field touched integer uv.now() of the last update
---@field transient? boolean dropped once shown (progress of no request)

---@type table<any, conductor.Op>
local ops = {}
local last_echo = 0
local shown = false -- the message line holds our text
local flush_queued = false
local ticker ---@type uv.uv_timer_t?

---@param ms integer
---@return string
local function duration(ms)
  local s = math.floor(ms / 1000)
  if ms < 1000 then
    return ("%dms"):format(ms)
  elseif s < 60 then
    return ("%.1fs"):format(ms / 1000)
  end
  return ("%dm%02ds"):format(math.floor(s / 60), s % 60)
end

---@param op conductor.Op
local function text_of(op)
  if op.text then
    return op.text
  end
  local t = ("conductor: %s: %s script running %s"):format(
    op.ws,
    op.kind,
    duration(uv.now() - op.started)
  )
  if op.line and op.line ~= "" then
    t = t .. " │ " .. op.line
  end
  return t
end

local function enabled()
  return require("conductor.config").get().progress
end

-- Echoing while the user types a command or answers a prompt would trample
-- what they see.
local function can_echo()
  local mode = vim.api.nvim_get_mode()
  return not mode.blocking and mode.mode:sub(1, 1) ~= "c"
end

local function echo(text)
  local width = vim.v.echospace - 1
  if vim.fn.strdisplaywidth(text) > width then
    text = vim.fn.strcharpart(text, 0, math.max(width - 1, 0)) .. "…"
  end
  vim.api.nvim_echo({ { text } }, false, {})
end

local function flush()
  flush_queued = false
  local latest
  for _, op in pairs(ops) do
    if not latest or op.touched > latest.touched then
      latest = op
    end
  end
  if enabled() and can_echo() then
    if latest then
      echo(text_of(latest))
      shown = true
    elseif shown then
      echo("")
      shown = false
    end
    last_echo = uv.now()
  end
  for key, op in pairs(ops) do
    if op.transient then
      ops[key] = nil
    end
  end
end

-- Redraws now, or once the throttle interval has passed.
local function redraw()
  if flush_queued then
    return
  end
  local wait = THROTTLE_MS - (uv.now() - last_echo)
  if wait <= 0 then
    flush()
  else
    flush_queued = true
    vim.defer_fn(flush, wait)
  end
end

-- While a script runs its elapsed time keeps moving even when it prints
-- nothing.
local function tick()
  local running = false
  for _, op in pairs(ops) do
    running = running or op.started ~= nil
  end
  if running and not ticker then
    ticker = uv.new_timer()
    ticker:start(1000, 1000, vim.schedule_wrap(function()
      redraw()
      tick()
    end))
  elseif not running and ticker then
    ticker:stop()
    ticker:close()
    ticker = nil
  end
end

local function set(key, op)
  op.touched = uv.now()
  ops[key] = op
  redraw()
  tick()
end

local function remove(key)
  if ops[key] then
    ops[key] = nil
    redraw()
    tick()
  end
end

--- Shows `text` for an operation until `finish(key)`.
---@param key any usually the engine request id
---@param text string
function M.begin(key, text)
  set(key, { text = "conductor: " .. text })
end

---@param key any
function M.finish(key)
  remove(key)
end

local function script_key(ev)
  return ("script:%s:%s"):format(ev.workspace_id or ev.workspace, ev.kind)
end

---@param ev table script_finished
local function report_finished(ev)
  local elapsed = ev.elapsed_ms and (" after " .. duration(ev.elapsed_ms)) or ""
  if ev.ok then
    -- A finished archive script is part of "archived ...", said by its verb.
    if ev.kind ~= "archive" then
      notify.info(("%s: %s script finished%s"):format(ev.workspace, ev.kind, elapsed))
    end
    return
  end
  if ev.kind == "archive" then
    -- The engine's own warning says it, with what happened next ("archiving anyway").
    return
  end
  local why = ev.timed_out and "ran past scripts.setup_timeout and was stopped"
    or ev.signal and ("killed by signal " .. ev.signal)
    or ev.code and ("exit " .. ev.code)
    or "failed"
  local hint = ("see :ConductorLog %s"):format(ev.workspace)
  if ev.kind == "setup" then
    hint = hint .. (", rerun with :ConductorSetup %s"):format(ev.workspace)
  end
  notify.error(("%s: %s script failed (%s)%s; %s"):format(ev.workspace, ev.kind, why, elapsed, hint))
end

local attached = false

--- Listens to the engine's progress and script events. Idempotent.
function M.attach()
  if attached then
    return
  end
  attached = true
  local engine = require("conductor.engine")
  engine.on("progress", function(ev)
    local where = ev.workspace and (ev.workspace .. ": ") or ""
    local text = "conductor: " .. where .. ev.message
    if ev.request then
      set(ev.request, { text = text })
    else
      -- No request to end it: shown once, then dropped.
      set({}, { text = text, transient = true })
    end
  end)
  engine.on("warning", function(ev)
    local where = ev.workspace and (ev.workspace .. ": ") or ""
    notify.warn(where .. ev.message)
  end)
  engine.on("script_started", function(ev)
    set(script_key(ev), { ws = ev.workspace, kind = ev.kind, started = uv.now(), line = "" })
  end)
  engine.on("script_output", function(ev)
    local op = ops[script_key(ev)] or { ws = ev.workspace, kind = ev.kind }
    op.line = ev.line
    -- The engine's clock wins: it knows when the script really started.
    op.started = uv.now() - (ev.elapsed_ms or 0)
    set(script_key(ev), op)
  end)
  engine.on("script_finished", function(ev)
    remove(script_key(ev))
    report_finished(ev)
  end)
  engine.on("script_skipped", function(ev)
    notify.warn(("%s: %s script skipped: %s"):format(ev.workspace, ev.kind, ev.reason))
  end)
end

return M
