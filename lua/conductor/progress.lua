-- What is going on, without spamming: running operations (creation steps) and
-- scripts (elapsed time, last output line) share one message line, redrawn at
-- most every 100 ms and never kept in :messages. Outcomes become one
-- notification each: INFO when a script succeeds, ERROR with the way out when
-- it fails, WARN for engine warnings and skipped scripts.

local M = {}

local config = require("conductor.config")
local engine = require("conductor.engine")
local format = require("conductor.format")
local notify = require("conductor.notify")
local uv = vim.uv

local THROTTLE_MS = 100
-- How long an outcome (a notification) keeps the message line before progress may
-- write over it; with nothing in progress it stays until something else replaces it.
local HOLD_MS = 4000

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
local held_until = 0
local shown = false -- the message line holds our text
local flush_queued = false
local ticker ---@type uv.uv_timer_t?

---@param op conductor.Op
local function text_of(op)
  if op.text then
    return op.text
  end
  local t = ("conductor: %s: %s script running %s"):format(
    op.ws,
    op.kind,
    format.duration(uv.now() - op.started)
  )
  if op.line and op.line ~= "" then
    t = t .. " │ " .. op.line
  end
  return t
end

local function enabled()
  return config.get().progress
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
  -- A selection list or message still on screen would push this line down into a
  -- hit-enter prompt; a redraw clears them first.
  vim.cmd("redraw")
  vim.api.nvim_echo({ { text } }, false, {})
end

local function flush()
  flush_queued = false
  local hold = held_until - uv.now()
  if hold > 0 then
    -- An outcome is on the message line: neither cleared nor overwritten yet.
    if next(ops) then
      flush_queued = true
      vim.defer_fn(flush, hold)
    end
    return
  end
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
    ticker:start(
      1000,
      1000,
      vim.schedule_wrap(function()
        redraw()
        tick()
      end)
    )
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

--- A notification now holds the message line (see notify.lua): progress leaves it
--- alone for a while, and never clears it.
function M.hold()
  shown = false
  held_until = uv.now() + HOLD_MS
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
  local elapsed = ev.elapsed_ms and (" after " .. format.duration(ev.elapsed_ms)) or ""
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
  notify.error(
    ("%s: %s script failed (%s)%s; %s"):format(ev.workspace, ev.kind, why, elapsed, hint)
  )
end

--- One engine request shown on the progress line until it is answered (under
--- `key`, default the request's id). `on_done(err, result)` runs on the main
--- thread; an error it raises is one notification. Returns the request's id.
---@param method string
---@param params table
---@param label string
---@param on_done fun(err: string?, result: any)
---@param key any?
---@return integer id
function M.request(method, params, label, on_done, key)
  local id
  id = engine.request(method, params, function(err, result)
    M.finish(key or id)
    notify.guard(on_done)(err, result)
  end)
  M.begin(key or id, label)
  return id
end

-- Listens to the engine's progress and script events. Idempotent.
-- Wired when this module loads (modules load once).
do
  engine.on("progress", function(ev)
    local where = ev.workspace and (ev.workspace .. ": ") or ""
    local text = "conductor: " .. where .. ev.message
    if ev.request then
      -- Another Neovim's request (events go to every Neovim): not ours to show.
      if engine.pending(ev.request) then
        set(ev.request, { text = text })
      end
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
