-- Groups of workspaces made together: a fanout (many tasks at once) or a
-- comparison (one task raced across agents). The engine's store knows nothing
-- of them; they live in one small JSON file next to it,
-- `stdpath("state")/conductor/groups.json`: group name -> { kind, task,
-- workspaces = { id, ... } }, replaced atomically on every change.
--
-- Reads are cached by the file's modification time, so the picker and the
-- statusline can ask for a workspace's group on every row or redraw.
--
-- Not here: making the workspaces (fanout/, compare/start.lua), showing a group
-- (compare/init.lua).

local M = {}

local uv = vim.uv

---@class conductor.Group
---@field kind "fanout"|"compare"
---@field task? string        the task of a comparison
---@field workspaces string[] workspace ids, in the order they were made

---@return string
function M.path()
  return vim.fn.stdpath("state") .. "/conductor/groups.json"
end

---@type { mtime: string?, size: integer?, data: table<string, conductor.Group> }
local cache = { data = {} }

-- The file's identity as cached: a change of either means read again.
local function stamp()
  local st = uv.fs_stat(M.path())
  if not st then
    return nil
  end
  return ("%d.%d"):format(st.mtime.sec, st.mtime.nsec), st.size
end

--- Every group by name. A missing or unreadable file is no group.
---@return table<string, conductor.Group>
function M.all()
  local mtime, size = stamp()
  if mtime == cache.mtime and size == cache.size then
    return cache.data
  end
  local data = {}
  local f = mtime and io.open(M.path(), "r")
  if f then
    local text = f:read("*a")
    f:close()
    local ok, decoded = pcall(vim.json.decode, text)
    if ok and type(decoded) == "table" then
      data = decoded
    end
  end
  cache = { mtime = mtime, size = size, data = data }
  return data
end

---@param data table<string, conductor.Group>
local function save(data)
  local path = M.path()
  vim.fn.mkdir(vim.fs.dirname(path), "p")
  local tmp = ("%s.%d.tmp"):format(path, uv.os_getpid())
  local f = assert(io.open(tmp, "w"))
  f:write(vim.json.encode(next(data) and data or vim.empty_dict()))
  f:close()
  assert(uv.fs_rename(tmp, path))
  cache = { data = {} } -- read again next time
  local statusline = package.loaded["conductor.statusline"]
  if statusline then
    statusline.invalidate()
  end
end

-- Read, change, write: always on the file's current contents, so another
-- Neovim's groups are kept.
---@param fn fun(data: table<string, conductor.Group>)
local function update(fn)
  cache = { data = {} }
  local data = vim.deepcopy(M.all())
  fn(data)
  save(data)
end

--- A group by name, or nil.
---@param name string
---@return conductor.Group?
function M.get(name)
  return M.all()[name]
end

--- Group names, sorted.
---@return string[]
function M.names()
  local names = vim.tbl_keys(M.all())
  table.sort(names)
  return names
end

--- `base`, or `base-2`, `base-3`… when a group already has that name.
---@param base string
---@return string
function M.unique_name(base)
  local all = M.all()
  if not all[base] then
    return base
  end
  local n = 2
  while all[("%s-%d"):format(base, n)] do
    n = n + 1
  end
  return ("%s-%d"):format(base, n)
end

--- Makes group `name` (empty) unless it exists.
---@param name string
---@param kind "fanout"|"compare"
---@param task string?
function M.create(name, kind, task)
  update(function(data)
    data[name] = data[name] or { kind = kind, task = task, workspaces = {} }
  end)
end

--- Adds workspace `id` to group `name`.
---@param name string
---@param id string
function M.add(name, id)
  update(function(data)
    local g = data[name]
    if g and not vim.tbl_contains(g.workspaces, id) then
      table.insert(g.workspaces, id)
    end
  end)
end

--- Removes group `name` (its workspaces stay).
---@param name string
function M.remove(name)
  update(function(data)
    data[name] = nil
  end)
end

--- The group workspace `id` belongs to (the first by name when several), or nil.
---@param id string
---@return string? name
---@return conductor.Group?
function M.of(id)
  local best
  for name, g in pairs(M.all()) do
    if type(g.workspaces) == "table" and vim.tbl_contains(g.workspaces, id) then
      if not best or name < best then
        best = name
      end
    end
  end
  if best then
    return best, M.all()[best]
  end
end

--- A short slug of a task, as the engine makes workspace names: its first
--- words, lower case, joined by '-' (at most 5 words, 40 characters). Nil
--- when the text has no ASCII letters or digits.
---@param text string
---@return string?
function M.slug(text)
  local out = ""
  local n = 0
  for word in text:gmatch("%w+") do
    word = word:lower()
    if #out > 0 and #out + #word + 1 > 40 then
      break
    end
    out = out == "" and word or (out .. "-" .. word)
    n = n + 1
    if n == 5 then
      break
    end
  end
  out = out:sub(1, 40):gsub("^%-+", ""):gsub("%-+$", "")
  return out ~= "" and out or nil
end

return M
