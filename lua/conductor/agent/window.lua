-- Agent terminals on screen: the window a new terminal goes in, its buffer and
-- channel, the size sent to the engine (the smallest window showing it), and
-- 'showmode' kept quiet while the user types into an agent.
-- Not here: the sessions themselves (agent/sessions.lua).

local M = {}

local api = vim.api
local engine = require("conductor.engine")
local layout = require("conductor.layout")
local notify = require("conductor.notify")
local sessions = require("conductor.agent.sessions")

--- Rows and columns a terminal can use: the smallest of the windows showing it.
function M.size_of(buf)
  local rows, cols
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local info = vim.fn.getwininfo(win)[1]
    local w = api.nvim_win_get_width(win) - (info and info.textoff or 0)
    local h = api.nvim_win_get_height(win)
    rows, cols = math.min(rows or h, h), math.min(cols or w, w)
  end
  return rows, cols
end

--- Sends each running session's size to the engine when it changed.
function M.resize_all()
  -- Nothing to size before a terminal exists (and no library to load for it).
  if next(sessions.by_id) == nil then
    return
  end
  local core = engine.load()
  for id, s in pairs(sessions.by_id) do
    -- (A lost one gets its size when it is attached again.)
    if s.state ~= "exited" and not s.lost and api.nvim_buf_is_valid(s.buf) then
      local rows, cols = M.size_of(s.buf)
      if rows and (rows .. "x" .. cols) ~= s.size then
        s.size = rows .. "x" .. cols
        pcall(core.agent_resize, id, rows, cols)
      end
    end
  end
end

--- A window in the workspace's tab for a new terminal: the tab's empty start window when
--- there is one, else a new vertical (agents) or bottom (run scripts) split.
function M.window_for(ws, kind)
  layout.open(ws)
  local win = api.nvim_get_current_win()
  local buf = api.nvim_win_get_buf(win)
  local empty = api.nvim_buf_get_name(buf) == ""
    and vim.bo[buf].buftype == ""
    and not vim.bo[buf].modified
    and api.nvim_buf_line_count(buf) == 1
    and api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ""
  if empty and #api.nvim_tabpage_list_wins(0) == 1 and kind == "agent" then
    return win
  end
  if kind == "run" then
    vim.cmd("botright 12split")
  else
    local agents = vim.tbl_filter(function(w)
      local ok, v = pcall(api.nvim_buf_get_var, api.nvim_win_get_buf(w), "conductor_session")
      return ok and v and sessions.by_id[v] and sessions.by_id[v].kind == "agent"
    end, api.nvim_tabpage_list_wins(0))
    if #agents > 0 then
      api.nvim_set_current_win(agents[#agents])
    end
    vim.cmd("rightbelow vsplit")
  end
  return api.nvim_get_current_win()
end

-- 'showmode' while the user is in an agent terminal's Terminal mode, to put back on
-- leaving it: with it on, every redraw the agent's output causes writes
-- "-- TERMINAL --" over the message line, and an outcome said meanwhile vanishes.
local saved_showmode ---@type boolean?

function M.showmode_off()
  if saved_showmode == nil then
    saved_showmode = vim.o.showmode
    vim.o.showmode = false
  end
end

function M.showmode_back()
  if saved_showmode ~= nil then
    vim.o.showmode = saved_showmode
    saved_showmode = nil
  end
end

--- A terminal buffer for a new session of `ws` in a window of its own; keys typed in
--- it go to the engine once the session has an id.
---@return conductor.Agent s, integer win
function M.new_terminal(ws, kind, name, label)
  local win = M.window_for(ws, kind)
  local buf = api.nvim_create_buf(false, true)
  api.nvim_win_set_buf(win, buf)
  vim.bo[buf].bufhidden = "hide"
  api.nvim_create_autocmd("TermEnter", { buffer = buf, callback = M.showmode_off })
  api.nvim_create_autocmd("TermLeave", { buffer = buf, callback = M.showmode_back })
  local s = {
    kind = kind,
    name = name,
    label = label or (kind == "agent" and sessions.label_for(ws, name) or name),
    ws = ws,
    buf = buf,
    state = "starting",
  }
  s.chan = api.nvim_open_term(buf, {
    on_input = function(_, _, _, data)
      if s.lost then
        return M.reconnect(s)
      end
      if s.id and s.state ~= "exited" then
        pcall(engine.load().agent_write, s.id, data)
      end
    end,
  })
  return s, win
end

--- A key typed into a terminal whose host connection dropped: connect again (its screen
--- comes back, agent.reattach), saying so; keys typed until then are not sent.
---@param s conductor.Agent
function M.reconnect(s)
  if s.reconnecting then
    return
  end
  s.reconnecting = true
  local host = s.ws.host
  vim.schedule(function()
    api.nvim_echo({
      {
        ("conductor: reconnecting to %s (keys typed until %s is back are not sent)"):format(
          host,
          s.label
        ),
      },
    }, true, {})
    local ok, err = pcall(require("conductor.agent").reattach, host)
    s.reconnecting = nil
    if not ok then
      notify.error(err)
    end
  end)
end

--- Shows session `s` in its workspace's tab (a new split when hidden).
function M.show(s)
  layout.open(s.ws)
  for _, w in ipairs(vim.fn.win_findbuf(s.buf)) do
    if api.nvim_win_get_tabpage(w) == api.nvim_get_current_tabpage() then
      api.nvim_set_current_win(w)
      return
    end
  end
  api.nvim_win_set_buf(M.window_for(s.ws, s.kind), s.buf)
end

return M
