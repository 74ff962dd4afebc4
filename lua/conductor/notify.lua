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
  local line = "conductor: " .. M.clean(msg)
  vim.schedule(function()
    vim.notify(line, level)
  end)
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
