-- Checkpoints: the worktree after every agent turn (recorded by the engine when an
-- agent goes from working to idle or waiting), listed one line a turn, each turn's diff
-- reviewed like a commit, and a revert to any of them that first keeps the present state
-- as a checkpoint of its own.
-- Not here: recording (src/core/checkpoints.rs), the diff view (review).

local engine = require("conductor.engine")
local events = require("conductor.events")
local format = require("conductor.format")
local notify = require("conductor.notify")
local remote_file = require("conductor.review.remote_file")
local review = require("conductor.review")
local sessions = require("conductor.agent.sessions")
local workspace = require("conductor.workspace")

local M = {}

---@class conductor.Checkpoint
---@field turn integer
---@field commit string
---@field parent string
---@field time integer
---@field agent string
---@field insertions integer
---@field deletions integer
---@field files integer

--- Records a checkpoint when an agent's turn ends (from `User ConductorAgentState`).
---@param data { workspace: conductor.Workspace, agent: table, previous?: string }
function M.on_state(data)
  local agent = data.agent or {}
  if data.previous ~= "working" or (agent.state ~= "idle" and agent.state ~= "waiting") then
    return
  end
  if agent.kind and agent.kind ~= "agent" then
    return
  end
  local ws = data.workspace
  pcall(engine.request, "checkpoint", { workspace = ws.id, agent = agent.name }, function(err, turn)
    if err then
      notify.warn(("no checkpoint of %s's turn: %s"):format(format.workspace(ws), err))
    elseif turn then
      events.fire("ConductorCheckpoint", { workspace = ws, turn = turn, agent = agent.name })
    end
  end)
end

---@param c conductor.Checkpoint
---@return string
function M.line(c)
  return ("%4d  %s  %-12s  +%d -%d  %d file%s"):format(
    c.turn,
    os.date("%H:%M:%S", c.time),
    c.agent ~= "" and c.agent or "-",
    c.insertions,
    c.deletions,
    c.files,
    c.files == 1 and "" or "s"
  )
end

--- Reverts `ws` to the state after `turn`, asking first unless `force`.
---@param ws conductor.Workspace
---@param turn integer
---@param done? fun()
function M.revert(ws, turn, done)
  for _, a in ipairs(sessions.list(ws.id, "agent")) do
    if a.state == "working" then
      return notify.error(
        ("%s/%s is working: wait for its turn to end (or stop it) before reverting"):format(
          format.workspace_ref(ws),
          a.label or a.name
        )
      )
    end
  end
  engine.request("revert_to", { workspace = ws.id, turn = turn }, function(err, res)
    if err then
      return notify.error(err)
    end
    pcall(vim.cmd, "checktime")
    remote_file.reload_all(ws)
    notify.info(
      ("%s: back to the state after turn %d; the state before is checkpoint %s"):format(
        format.workspace(ws),
        res.turn,
        tostring(res.saved_as)
      )
    )
    events.fire("ConductorReverted", { workspace = ws, turn = res.turn, saved_as = res.saved_as })
    if done then
      done()
    end
  end)
end

local function render(buf, ws, list)
  if not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  local lines = {
    ("Checkpoints of %s — <CR> diff of the turn, R revert to it, q close"):format(
      format.workspace(ws)
    ),
  }
  for i = #list, 1, -1 do
    lines[#lines + 1] = M.line(list[i])
  end
  if #list == 0 then
    lines[#lines + 1] = "  (none yet: one is recorded each time an agent finishes a turn)"
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.b[buf].conductor_checkpoints = list
end

local function under_cursor(buf)
  local text = vim.api.nvim_get_current_line()
  local turn = tonumber(text:match("^%s*(%d+)%s"))
  for _, c in ipairs(vim.b[buf].conductor_checkpoints or {}) do
    if c.turn == turn then
      return c
    end
  end
end

--- `:ConductorCheckpoints [ws]`: the list, newest first, in a bottom split.
---@param name? string
function M.open(name)
  local ws = workspace.resolve(name, "ConductorCheckpoints")
  engine.request("checkpoints", { workspace = ws.id }, function(err, list)
    if err then
      return notify.error(err)
    end
    vim.cmd("botright new")
    local buf = vim.api.nvim_get_current_buf()
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = "conductor-checkpoints"
    pcall(vim.api.nvim_buf_set_name, buf, "conductor://checkpoints/" .. format.workspace_ref(ws))
    render(buf, ws, list)
    vim.api.nvim_win_set_height(0, math.min(#list + 2, 15))
    local function map(lhs, fn, desc)
      vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, desc = "conductor: " .. desc })
    end
    map("q", "<Cmd>close<CR>", "close")
    map("<CR>", function()
      local c = under_cursor(buf)
      if c then
        notify.guard(review.review)(ws.id, { commit = c.commit })
      end
    end, "the turn's diff")
    map("R", function()
      local c = under_cursor(buf)
      if not c then
        return
      end
      local q = ("Revert %s to the state after turn %d? The present state is kept as a checkpoint first."):format(
        format.workspace(ws),
        c.turn
      )
      if vim.fn.confirm(q, "&Revert\n&Cancel", 2) == 1 then
        M.revert(ws, c.turn, function()
          engine.request("checkpoints", { workspace = ws.id }, function(e, l)
            if not e then
              render(buf, ws, l)
            end
          end)
        end)
      end
    end, "revert to the turn")
  end)
end

--- `:ConductorRevert {n} [ws]`.
---@param args string
function M.revert_command(args)
  local turn, name = args:match("^%s*(%d+)%s*(%S*)%s*$")
  if not turn then
    error("usage: :ConductorRevert {n} [workspace] (:ConductorCheckpoints lists the turns)", 0)
  end
  M.revert(workspace.resolve(name ~= "" and name or nil, "ConductorRevert"), tonumber(turn))
end

return M
