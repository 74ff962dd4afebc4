-- Review comments: notes on a line range of a changed file (or on the whole
-- file), kept per workspace until they are sent to the workspace's agent as
-- one prompt. Sent comments stay listed, marked sent, until deleted. They are
-- saved per workspace under stdpath("state")/conductor/comments/, so they
-- survive a restart of Neovim.
--
-- Not here: where comments are shown (review/panel.lua, review/diff.lua).

local M = {}

local agents = require("conductor.agent")
local format = require("conductor.format")
local notify = require("conductor.notify")
local workspace = require("conductor.workspace")

---@class conductor.Comment
---@field id integer
---@field path string          path in the worktree
---@field base_path? string    path in the base, when it was renamed
---@field line1? integer       first line (nil: about the whole file)
---@field line2? integer       last line
---@field side "worktree"|"base" which version the lines are of
---@field rev? string          the base revision, for side "base"
---@field code string[]        the quoted lines
---@field text string
---@field sent boolean

---@type table<string, conductor.Comment[]> workspace id -> comments, oldest first
local by_ws = setmetatable({}, {
  -- A workspace's comments are read from disk the first time they are asked for.
  __index = function(t, ws_id)
    local list = {}
    local f = io.open(M.file(ws_id), "r")
    if f then
      local ok, saved = pcall(vim.json.decode, f:read("*a"))
      f:close()
      list = ok and type(saved) == "table" and saved or {}
    end
    rawset(t, ws_id, list)
    return list
  end,
})

--- Where a workspace's comments are saved.
---@param ws_id string
---@return string
function M.file(ws_id)
  return ("%s/conductor/comments/%s.json"):format(vim.fn.stdpath("state"), ws_id)
end

--- Saves a workspace's comments (after any change to them), replacing the file whole.
---@param ws_id string
function M.save(ws_id)
  local path = M.file(ws_id)
  vim.fn.mkdir(vim.fs.dirname(path), "p")
  local list = by_ws[ws_id]
  if #list == 0 then
    os.remove(path)
    return
  end
  local tmp = path .. ".tmp"
  local f = io.open(tmp, "w")
  if not f then
    return
  end
  f:write(vim.json.encode(list))
  f:close()
  vim.uv.fs_rename(tmp, path)
end

--- Adds a comment to workspace `ws_id`.
---@param ws_id string
---@param c { path: string, base_path?: string, line1?: integer, line2?: integer, side?: string, rev?: string, code?: string[], text: string }
---@return conductor.Comment
function M.add(ws_id, c)
  local next_id = 1
  for _, old in ipairs(by_ws[ws_id]) do
    next_id = math.max(next_id, old.id + 1)
  end
  local comment = {
    id = next_id,
    path = c.path,
    base_path = c.base_path,
    line1 = c.line1,
    line2 = c.line2 or c.line1,
    side = c.side or "worktree",
    rev = c.rev,
    code = c.code or {},
    text = c.text,
    sent = false,
  }
  table.insert(by_ws[ws_id], comment)
  M.save(ws_id)
  return comment
end

--- The comments of a workspace, oldest first; with `path`, of that file only;
--- with `unsent`, only those not sent yet.
---@param ws_id string
---@param opts? { path?: string, unsent?: boolean }
---@return conductor.Comment[]
function M.list(ws_id, opts)
  opts = opts or {}
  return vim.tbl_filter(function(c)
    return (not opts.path or c.path == opts.path) and not (opts.unsent and c.sent)
  end, by_ws[ws_id] or {})
end

---@param ws_id string
---@param id integer
---@return conductor.Comment?
function M.get(ws_id, id)
  for _, c in ipairs(by_ws[ws_id] or {}) do
    if c.id == id then
      return c
    end
  end
end

--- Removes comment `id` of workspace `ws_id`.
---@param ws_id string
---@param id integer
function M.remove(ws_id, id)
  by_ws[ws_id] = vim.tbl_filter(function(c)
    return c.id ~= id
  end, by_ws[ws_id] or {})
  M.save(ws_id)
end

--- Forgets the sent comments of a workspace.
---@param ws_id string
function M.forget_sent(ws_id)
  by_ws[ws_id] = M.list(ws_id, { unsent = true })
  M.save(ws_id)
end

--- "src/app.lua:12-14", "src/app.lua:12", "src/app.lua"; " (base)" for lines
--- of the base version.
---@param c conductor.Comment
---@return string
function M.where(c)
  local path = c.side == "base" and c.base_path or c.path
  local at = path
  if c.line1 then
    at = c.line1 == c.line2 and ("%s:%d"):format(path, c.line1)
      or ("%s:%d-%d"):format(path, c.line1, c.line2)
  end
  if c.side == "base" then
    at = at .. (" (before your changes%s)"):format(c.rev and (", at " .. c.rev:sub(1, 7)) or "")
  end
  return at
end

-- A fence longer than any run of backticks in the code.
---@param code string[]
---@return string
local function fence(code)
  local longest = 2
  for _, line in ipairs(code) do
    for run in line:gmatch("`+") do
      longest = math.max(longest, #run)
    end
  end
  return ("`"):rep(longest + 1)
end

--- One prompt for all of `list`: each comment's place, its code in a fenced
--- block, its text.
---@param list conductor.Comment[]
---@return string
function M.format(list)
  local parts = { "Review comments on your changes. Please address each one:" }
  for i, c in ipairs(list) do
    local block = { ("%d. %s"):format(i, M.where(c)) }
    if #c.code > 0 then
      local f = fence(c.code)
      local lang = vim.filetype.match({ filename = c.path }) or ""
      block[#block + 1] = f .. lang
      vim.list_extend(block, c.code)
      block[#block + 1] = f
    end
    block[#block + 1] = c.text
    parts[#parts + 1] = table.concat(block, "\n")
  end
  return table.concat(parts, "\n\n")
end

--- Sends the unsent comments of `ws` to its agent as one paste (submitted),
--- then marks them sent. Raises when there is nothing to send or no agent.
---@param ws conductor.Workspace
---@param done? fun(n: integer) after the paste
function M.send(ws, done)
  local list = M.list(ws.id, { unsent = true })
  if #list == 0 then
    error(
      ("%s has no unsent review comments; add one with gC in :ConductorReview"):format(
        format.workspace(ws)
      ),
      0
    )
  end
  local text = workspace.with_prompt(ws, "code_review", M.format(list))
  agents.choose(ws, function(s)
    agents.paste(s.id, text, true)
    for _, c in ipairs(list) do
      c.sent = true
    end
    M.save(ws.id)
    notify.info(
      ("sent %d review comment%s to %s/%s"):format(
        #list,
        #list == 1 and "" or "s",
        format.workspace_ref(ws),
        s.name
      )
    )
    if done then
      done(#list)
    end
  end, { prompts = true })
end

return M
