-- How conductor talks to the user: one `vim.notify` line per message, always
-- prefixed "conductor: ", so every engine error reads the same way.

local M = {}

local levels = vim.log.levels

-- Engine errors may carry a "runtime error: " prefix or a traceback (mlua);
-- the user gets the message alone, on one line.
---@param msg any
---@return string
function M.clean(msg)
  msg = tostring(msg)
  msg = msg:gsub("\nstack traceback:.*$", "")
  msg = msg:gsub("^runtime error: ", "")
  msg = msg:gsub("^conductor: ", "")
  msg = msg:gsub("%s*\n%s*", " ")
  return vim.trim(msg)
end

-- Whether vim.notify is Neovim's own (a message on the command line), not a plugin's
-- (nvim-notify, noice), which shows messages its own way.
local function builtin_notify()
  local info = debug.getinfo(vim.notify, "S")
  return info and info.source:find("vim/_editor.lua", 1, true) ~= nil
end

local queue = {} ---@type { line: string, level: integer }[]
local draining = false

-- Shows one message on the command line with Neovim's own vim.notify without a
-- hit-enter prompt: the screen is redrawn first (a selection list or message still on
-- screen would push this one down), and a message wider than the room left by the
-- ruler (v:echospace) is shown cut to one line, the whole of it going to :messages
-- ('messagesopt' "wait:0" for that one message, else Neovim stops at hit-enter).
local function show_builtin(line, level)
  vim.cmd("redraw")
  local room = vim.v.echospace
  if vim.fn.strdisplaywidth(line) <= room then
    return vim.notify(line, level)
  end
  local saved = vim.o.messagesopt
  local nowait = saved:gsub("hit%-enter", "wait:0"):gsub("wait:%d+", "wait:0")
  vim.cmd("noautocmd set messagesopt=" .. nowait)
  local ok, err = pcall(vim.notify, line, level)
  vim.cmd("noautocmd set messagesopt=" .. saved)
  if not ok then
    error(err, 0)
  end
  vim.cmd("redraw")
  local hl = level >= levels.ERROR and "ErrorMsg" or level == levels.WARN and "WarningMsg" or nil
  vim.api.nvim_echo({ { vim.fn.strcharpart(line, 0, room - 1) .. "…", hl } }, false, {})
end

local function drain()
  local mode = vim.api.nvim_get_mode()
  if mode.blocking or mode.mode:sub(1, 1) == "c" or mode.mode:sub(1, 1) == "r" then
    -- A prompt waits for the user (confirm(), a selection list, hit-enter, the command
    -- line): a message now would land in it, and an error message would abort it as a
    -- Vim exception. Said once the prompt is answered.
    vim.defer_fn(drain, 50)
    return
  end

  draining = false
  local batch = queue
  queue = {}
  -- One line shows only the last of several messages said at once: make it the most
  -- severe (a failure, not the "created" said with it); the rest are in :messages.
  for i, m in ipairs(batch) do
    m.order = i
  end
  table.sort(batch, function(a, b)
    return a.level < b.level or (a.level == b.level and a.order < b.order)
  end)
  local builtin = builtin_notify()
  for _, m in ipairs(batch) do
    if builtin then
      show_builtin(m.line, m.level)
    else
      vim.notify(m.line, m.level)
    end
  end
  -- The message line now holds an outcome: progress must not clear it at once.
  local progress = package.loaded["conductor.progress"]
  if progress and #batch > 0 then
    progress.hold()
  end
end

---@param msg any
---@param level integer
function M.notify(msg, level)
  if level < levels.ERROR then
    local ok, config = pcall(require, "conductor.config")
    if ok and level < config.get().notify_level then
      return
    end
  end
  -- Sent from the event loop, not from inside the command that failed: an
  -- error message given while a command runs under vim.cmd() becomes a Vim
  -- exception, so the caller would get the same line a second time, as a
  -- traceback. Scheduling keeps the order of messages.
  queue[#queue + 1] = { line = "conductor: " .. M.clean(msg), level = level }
  if not draining then
    draining = true
    vim.schedule(drain)
  end
end

---@param msg any
function M.error(msg)
  M.notify(msg, levels.ERROR)
end

---@param msg any
function M.warn(msg)
  M.notify(msg, levels.WARN)
end

---@param msg any
function M.info(msg)
  M.notify(msg, levels.INFO)
end

--- Runs `fn`; an error it raises becomes one error notification instead of a
--- traceback. Verbs are wrapped in this so that a Lua caller and a command
--- behave alike.
---@generic F: function
---@param fn F
---@return F
function M.guard(fn)
  return function(...)
    local ok, err = pcall(fn, ...)
    if not ok then
      M.error(err)
    end
  end
end

return M
