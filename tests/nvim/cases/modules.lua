-- Every Lua module loads on its own, and the static dependency graph (the requires at
-- the top of each file) has no loop. A require inside a function is not an edge here:
-- those are kept only for startup cost (plugin/, the front door), each with a comment.
-- A loop is reported with its path, e.g. "conductor.a -> conductor.b -> conductor.a".
local T = require("harness")

local root = vim.env.CONDUCTOR_PLUGIN_ROOT

-- The module name of a file under lua/.
local function module_of(path)
  local rel = path:sub(#root + #"/lua/" + 1):gsub("%.lua$", ""):gsub("/", ".")
  return (rel:gsub("%.init$", ""))
end

-- Modules that need a plugin that is not installed here (tests/e2e_telescope.rs loads it).
local EXTERNAL = { ["telescope._extensions.conductor"] = true }

--- The top-level requires of each file (a `require("…")` on a line that starts at
--- column 0: `local x = require("…")`, `M.x = require("…")`), ours only.
---@return table<string, string[]>, string[]
local function graph()
  local edges, names = {}, {}
  for _, path in ipairs(vim.fn.globpath(root .. "/lua", "**/*.lua", false, true)) do
    local name = module_of(path)
    names[#names + 1] = name
    edges[name] = {}
    for line in io.lines(path) do
      if line:match("^[%w_.]") then
        for dep in line:gmatch("require%(%s*[\"']([%w_.]+)[\"']%)") do
          if dep == "conductor" or dep:match("^conductor%.") then
            table.insert(edges[name], dep)
          end
        end
      end
    end
  end
  table.sort(names)
  return edges, names
end

--- The first loop found, as a path that ends where it starts, or nil.
---@param edges table<string, string[]>
---@param names string[]
---@return string[]?
local function find_cycle(edges, names)
  local state, stack = {}, {} -- state: nil unseen, 1 on the stack, 2 done
  local function visit(n)
    state[n] = 1
    stack[#stack + 1] = n
    for _, d in ipairs(edges[n] or {}) do
      if state[d] == 1 then
        local from = 1
        for i, m in ipairs(stack) do
          if m == d then
            from = i
          end
        end
        local loop = vim.list_slice(stack, from)
        loop[#loop + 1] = d
        return loop
      elseif state[d] == nil then
        local loop = visit(d)
        if loop then
          return loop
        end
      end
    end
    stack[#stack] = nil
    state[n] = 2
  end
  for _, n in ipairs(names) do
    if state[n] == nil then
      local loop = visit(n)
      if loop then
        return loop
      end
    end
  end
end

T.case("the cycle check finds a planted loop", function()
  local loop = find_cycle({ a = { "b" }, b = { "c" }, c = { "a" }, d = {} }, { "a", "b", "c", "d" })
  T.eq(loop, { "a", "b", "c", "a" }, "planted loop")
  T.eq(find_cycle({ a = { "b" }, b = {}, c = { "a", "b" } }, { "a", "b", "c" }), nil, "no loop")
end)

local edges, names = graph()

T.case("every module names only modules that exist", function()
  local known = {}
  for _, n in ipairs(names) do
    known[n] = true
  end
  for _, n in ipairs(names) do
    for _, d in ipairs(edges[n]) do
      T.ok(known[d], ("%s requires %s, which is no file under lua/"):format(n, d))
    end
  end
end)

T.case("no dependency cycle among the top-level requires", function()
  local loop = find_cycle(edges, names)
  T.ok(not loop, "dependency cycle: " .. table.concat(loop or {}, " -> "))
end)

T.case("every module loads on its own", function()
  T.ok(#names > 40, ("found %d modules under lua/"):format(#names))
  for _, n in ipairs(names) do
    if not EXTERNAL[n] then
      -- Each from scratch: a module that only loads after another one has is found.
      for loaded in pairs(package.loaded) do
        if loaded == "conductor" or loaded:match("^conductor%.") then
          package.loaded[loaded] = nil
        end
      end
      local ok, err = pcall(require, n)
      T.ok(ok, ("require(%q) failed: %s"):format(n, tostring(err)))
    end
  end
end)

T.case("plugin/ requires nothing at startup", function()
  local n = 0
  for line in io.lines(root .. "/plugin/conductor.lua") do
    n = n + 1
    T.ok(
      not line:match("^[%w_.].*require%("),
      ("plugin/conductor.lua:%d requires at startup: %s"):format(n, line)
    )
  end
end)
