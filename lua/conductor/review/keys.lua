-- The review's keys: which key runs which named action, in the file panel and
-- in the two diff windows. The defaults below are the documentation's table
-- (|conductor-review-keys|); the option `review.keys` overrides them per key:
-- an action name, a function (given the review), or `false` to leave the key
-- alone.
--
-- The worktree side of the diff is the user's own file buffer: its keys are
-- set while the file is shown in the review and removed when it leaves.
--
-- Not here: what the actions do (review/actions.lua).

local M = {}

local api = vim.api
local actions = require("conductor.review.actions")
local config = require("conductor.config")
local notify = require("conductor.notify")

---@alias conductor.ReviewKeyMap table<string, string|fun(review: conductor.Review)|false>

--- Default keys. `diff` keys apply in both diff windows, in normal mode and
--- (for actions that take a range) in visual mode.
---@type { panel: table<string, string>, diff: table<string, string> }
M.defaults = {
  panel = {
    ["<CR>"] = "open",
    o = "preview",
    ["]f"] = "next_file",
    ["[f"] = "prev_file",
    v = "toggle_viewed",
    X = "revert_file",
    c = "comment",
    d = "delete_comment",
    gS = "send_comments",
    s = "cycle_scope",
    C = "pick_commit",
    R = "refresh",
    gF = "send_check_failure",
    q = "close",
    ["g?"] = "help",
  },
  diff = {
    ["]f"] = "next_file",
    ["[f"] = "prev_file",
    gC = "comment",
    gR = "revert_hunk",
    gS = "send_comments",
    gV = "toggle_viewed",
  },
}

-- Actions that take a line range in visual mode.
local RANGED = { comment = true }

---@param side "panel"|"diff"
---@return conductor.ReviewKeyMap
function M.keymap(side)
  local user = (config.get().review or {}).keys or {}
  return vim.tbl_extend("force", {}, M.defaults[side], user[side] or {})
end

--- What `review.keys` may hold; nil when valid, else the problem and where.
---@param v table
---@return string?, string?
function M.check(v)
  local names = actions.names()
  for side, map in pairs(v) do
    if side ~= "panel" and side ~= "diff" then
      return "has only the fields 'panel' and 'diff'", "." .. tostring(side)
    elseif type(map) ~= "table" then
      return "must be a table of key = action", "." .. side
    end
    for key, action in pairs(map) do
      local where = ("%s[%q]"):format("." .. side, tostring(key))
      if type(action) == "string" then
        if not vim.tbl_contains(names, action) then
          return ("names an unknown action %q (known: %s)"):format(
            action,
            table.concat(names, ", ")
          ),
            where
        end
      elseif action ~= false and type(action) ~= "function" then
        return "must be an action name, a function or false", where
      end
    end
  end
end

---@param action string|function
---@return string
local function desc(action)
  return "conductor review: "
    .. (type(action) == "string" and action:gsub("_", " ") or "custom action")
end

-- Buffers that got our keys, and which: buffer -> { {mode, lhs}... }.
---@type table<integer, {[1]: string, [2]: string}[]>
local mapped = {}

--- Sets the keys of `side` on `buf`, running actions on the review `get()`
--- returns when the key is pressed.
---@param buf integer
---@param side "panel"|"diff"
---@param get fun(): conductor.Review?
function M.attach(buf, side, get)
  if mapped[buf] then
    return
  end
  mapped[buf] = {}
  for lhs, action in pairs(M.keymap(side)) do
    if action then
      local modes = { "n" }
      if side == "diff" and (type(action) == "function" or RANGED[action]) then
        modes = { "n", "x" }
      end
      for _, mode in ipairs(modes) do
        vim.keymap.set(mode, lhs, function()
          local review = get()
          if not review then
            return
          end
          if type(action) == "function" then
            return notify.guard(action)(review)
          end
          actions.run(action, review)
        end, { buffer = buf, nowait = side == "panel", silent = true, desc = desc(action) })
        table.insert(mapped[buf], { mode, lhs })
      end
    end
  end
end

--- Removes the keys `attach` set on `buf` (a user's own buffer-local mapping
--- of the same key, made since, is left alone).
---@param buf integer
function M.detach(buf)
  local list = mapped[buf]
  mapped[buf] = nil
  if not list or not api.nvim_buf_is_valid(buf) then
    return
  end
  api.nvim_buf_call(buf, function()
    for _, m in ipairs(list) do
      local cur = vim.fn.maparg(m[2], m[1], false, true)
      if
        cur.buffer == 1
        and type(cur.desc) == "string"
        and vim.startswith(cur.desc, "conductor review: ")
      then
        pcall(vim.keymap.del, m[1], m[2], { buffer = buf })
      end
    end
  end)
end

--- Whether `buf` has review keys.
---@param buf integer
---@return boolean
function M.attached(buf)
  return mapped[buf] ~= nil
end

--- Lines "key  action" for the help (`g?`), panel keys then diff keys.
---@return string[]
function M.help_lines()
  local out = {}
  for _, side in ipairs({ "panel", "diff" }) do
    out[#out + 1] = side == "panel" and "file panel:" or "diff windows:"
    local keys = {}
    for lhs, action in pairs(M.keymap(side)) do
      if action then
        keys[#keys + 1] = { lhs, type(action) == "string" and action or "(custom)" }
      end
    end
    table.sort(keys, function(a, b)
      return a[2] == b[2] and a[1] < b[1] or a[2] < b[2]
    end)
    for _, k in ipairs(keys) do
      out[#out + 1] = ("  %-6s %s"):format(k[1], k[2]:gsub("_", " "))
    end
  end
  return out
end

return M
