-- A tiny test harness for cases run inside a real headless Neovim. A case is a Lua file
-- that drives the user's commands and asserts on buffers, windows, files and git state.
-- Failures print to stderr and exit with code 1; success exits 0 (checked by the Rust side).
local T = {}

T.notes = {} -- every vim.notify call: { msg = ..., level = ... }
local real_notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(T.notes, { msg = msg, level = level or vim.log.levels.INFO })
  io.stderr:write(("[notify %s] %s\n"):format(level or "-", msg))
  return real_notify(msg, level, opts)
end

local function fail(msg)
  error(msg, 3)
end

-- The sub-case running now (`T.case`), named in a failure.
local current_case = nil

--- Runs one named step of a case: a failure inside says which step failed, with its
--- assertion message (and the step's traceback). Steps run in order and share state.
---@param name string
---@param fn fun()
function T.case(name, fn)
  local outer = current_case
  current_case = outer and (outer .. " / " .. name) or name
  io.stderr:write(("case: %s\n"):format(current_case))
  local ok, err = xpcall(fn, debug.traceback)
  local this = current_case
  current_case = outer
  if not ok then
    -- Already named by an inner case: pass it on unchanged.
    if type(err) == "string" and err:find("^sub%-case ") then
      error(err, 0)
    end
    error(("sub-case %q failed: %s"):format(this, tostring(err)), 0)
  end
end

function T.eq(got, want, what)
  if not vim.deep_equal(got, want) then
    fail(("%s: expected %s, got %s"):format(what or "value", vim.inspect(want), vim.inspect(got)))
  end
end

function T.ok(cond, what)
  if not cond then
    fail(what or "assertion failed")
  end
  return cond
end

function T.contains(haystack, needle, what)
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    fail(
      ("%s: %s does not contain %s"):format(
        what or "text",
        vim.inspect(haystack),
        vim.inspect(needle)
      )
    )
  end
end

-- Cases run in a coroutine: waiting yields back to Neovim's main loop, which then also
-- processes typed keys (nvim_input), something `vim.wait` alone never does.
local function pause(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      T.finish(false, err)
    end
  end, ms)
  coroutine.yield()
end

--- Lets the main loop run until `cond()` is true; fails after `ms` (default 20 s).
function T.wait(cond, what, ms)
  local deadline = vim.uv.now() + (ms or 20000)
  while true do
    local good, v = pcall(cond)
    if good and v then
      return v
    end
    if vim.uv.now() > deadline then
      fail("timed out waiting for " .. (what or "condition"))
    end
    pause(10)
  end
end

--- Records `User <pattern>` autocmds with their data, to wait on them.
T.events = {}
function T.record(pattern)
  vim.api.nvim_create_autocmd("User", {
    pattern = pattern,
    callback = function(ev)
      table.insert(T.events, { name = pattern, data = ev.data })
    end,
  })
end

function T.wait_event(pattern, pred, what)
  local found
  T.wait(function()
    for _, e in ipairs(T.events) do
      if e.name == pattern and (not pred or pred(e.data)) then
        found = e
        return true
      end
    end
  end, what or ("User " .. pattern))
  return found.data
end

--- The last error notification that contains `needle` (waits for it).
function T.wait_error(needle)
  local found
  T.wait(function()
    for _, n in ipairs(T.notes) do
      if n.level == vim.log.levels.ERROR and n.msg:find(needle, 1, true) then
        found = n.msg
        return true
      end
    end
  end, "an error notification containing " .. vim.inspect(needle))
  return found
end

function T.git(dir, ...)
  local out = vim.system({ "git", "-C", dir, ... }, { text = true }):wait()
  if out.code ~= 0 then
    fail(("git %s failed: %s"):format(table.concat({ ... }, " "), out.stderr))
  end
  return vim.trim(out.stdout)
end

function T.read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

function T.write(path, text)
  vim.fn.mkdir(vim.fs.dirname(path), "p")
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- Marks a file trusted in Neovim's own trust database, as the user answering "allow".
function T.trust(path)
  vim.cmd.edit(vim.fn.fnameescape(path))
  vim.secure.trust({ action = "allow", bufnr = 0 })
  vim.cmd("bwipeout!")
end

function T.tab_of(ws_id)
  for _, tab in ipairs(vim.api.nvim_list_tabpages()) do
    local ok, id = pcall(vim.api.nvim_tabpage_get_var, tab, "conductor_workspace")
    if ok and id == ws_id then
      return tab
    end
  end
end

function T.finish(ok, err)
  if ok then
    io.stderr:write("CASE PASSED\n")
    vim.cmd("qall!")
  else
    io.stderr:write("CASE FAILED: " .. tostring(err) .. "\n")
    vim.cmd("cquit 1")
  end
end

function T.run(case)
  local co = coroutine.create(function()
    local ok, err = xpcall(function()
      assert(loadfile(case))()
    end, debug.traceback)
    T.finish(ok, err)
  end)
  local ok, err = coroutine.resume(co)
  if not ok then
    T.finish(false, err)
  end
end

return T
