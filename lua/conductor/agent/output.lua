-- The engine's side of agent terminals, wired when this module loads (once): raw
-- output to each terminal, state changes and exits, sizes sent when windows change,
-- what quitting Neovim means for them said as it quits. It has no functions.

local M = {}

local api = vim.api
local config = require("conductor.config")
local engine = require("conductor.engine")
local events = require("conductor.events")
local notify = require("conductor.notify")
local sessions = require("conductor.agent.sessions")
local window = require("conductor.agent.window")

-- Whatever reconnects to a host (any command that reaches it: the picker, a review, a
-- key typed into one of its terminals; the library says `host_connected`), its lost
-- terminals are shown again and `User ConductorHostReconnected` says so.
---@type table<string, true> hosts whose connection dropped
local dropped = {}

---@param host string
local function host_connected(host)
  if not dropped[host] then
    return
  end
  dropped[host] = nil
  if sessions.has_lost(host) then
    local reattached, err = pcall(require("conductor.agent").reattach, host)
    if not reattached then
      notify.error(err)
    end
  end
  events.fire("ConductorHostReconnected", { host = host })
end

do
  engine.on_output(sessions.output)
  engine.on("host_connected", function(d)
    -- After the request that connected has returned (its caller may be mid-way).
    vim.schedule(function()
      host_connected(d.host)
    end)
  end)
  engine.on("agent_state", function(d)
    local s = sessions.by_id[d.session]
    -- An exit is announced once, by agent_exited (with its code).
    if s and s.state ~= "exited" and d.state ~= s.state and d.state ~= "exited" then
      sessions.set_state(s, d.state, s.code)
    end
  end)
  engine.on("agent_exited", function(d)
    local s = sessions.by_id[d.session]
    if not s then
      return
    end
    local how = d.code and ("exit " .. d.code) or ("signal " .. tostring(d.signal))
    pcall(api.nvim_chan_send, s.chan, ("\r\n[conductor: %s exited: %s]\r\n"):format(s.label, how))
    sessions.set_state(s, "exited", d.code)
    pcall(engine.load().agent_forget, d.session)
  end)
  engine.on("engine_lost", function(d)
    if d.host then
      -- Only the connection to that machine went (its ssh client died): the engine and
      -- agents there run on. Its terminals wait; the next command that reaches the
      -- host brings their screens back.
      dropped[d.host] = true
      return sessions.host_lost(d.host)
    end
    -- The engine stopped (or was killed): its terminals went with it. Their buffers stay
    -- (scrollback to read) but leave the session table: a new engine numbers its
    -- sessions from 1 again, and must not find them taken.
    sessions.engine_lost()
  end)
  engine.on("agent_detached", function(d)
    -- This Neovim fell a whole window behind (suspended, blocked) and the engine
    -- stopped waiting for it: show the terminal's screen again, then its output.
    local s = sessions.by_id[d.session]
    if s and s.state ~= "exited" and api.nvim_buf_is_valid(s.buf) then
      local rows, cols = window.size_of(s.buf)
      pcall(
        engine.call,
        "agent_attach",
        { session = d.session, rows = rows or 0, cols = cols or 0 }
      )
    end
  end)
  local group = api.nvim_create_augroup("conductor_agents", { clear = true })
  -- Several Neovims may show one agent: its size follows the one the user is in.
  api.nvim_create_autocmd({ "FocusGained", "BufEnter" }, {
    group = group,
    callback = function(ev)
      for _, s in pairs(sessions.by_id) do
        if ev.event == "FocusGained" or s.buf == ev.buf then
          s.size = nil
        end
      end
      vim.schedule(window.resize_all)
    end,
  })
  api.nvim_create_autocmd({ "WinResized", "VimResized", "BufWinEnter" }, {
    group = group,
    callback = function(ev)
      -- A program shown again repaints its screen: that is not work.
      local id = ev.event == "BufWinEnter" and vim.b[ev.buf].conductor_session
      if id and sessions.by_id[id] and sessions.by_id[id].state ~= "exited" then
        pcall(engine.load().agent_expect_redraw, id)
      end
      vim.schedule(window.resize_all)
    end,
  })
  api.nvim_create_autocmd("OptionSet", {
    group = group,
    pattern = "background",
    callback = function()
      -- Only to an engine this Neovim uses: never loads the library for it.
      if next(sessions.by_id) ~= nil then
        pcall(engine.load().agent_background, vim.o.background)
      end
    end,
  })
  api.nvim_create_autocmd("VimLeavePre", {
    group = group,
    callback = function()
      local working = 0
      for _, s in pairs(sessions.by_id) do
        if s.state == "working" then
          working = working + 1
        end
      end
      if working == 0 then
        return
      end
      -- The engine stops them, or not (engine.lua); either way the user hears which.
      local text = config.on_editor_exit() == "stop" and "conductor: stopping %d working agent(s)"
        or "conductor: %d working agent(s) keep running in the engine (:ConductorEngine status)"
      api.nvim_echo({ { text:format(working), "WarningMsg" } }, true, {})
    end,
  })
end

return M
