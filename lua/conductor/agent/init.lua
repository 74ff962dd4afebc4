-- Agent terminals: each agent is a PTY session in the Rust engine shown in a Neovim
-- terminal buffer (nvim_open_term). Output arrives raw from the engine in slices; keys
-- and the terminal's own query answers go back through `on_input`. Closing a window
-- never stops an agent: the buffer is hidden, the process runs, `open` shows it again.
--
-- This module is the agents' verbs (start, send, show, stop, choose); the parts are
-- agent/builtin.lua and agent/catalog.lua (which agents exist), agent/sessions.lua
-- (the running ones), agent/window.lua (their windows), agent/output.lua (the engine's
-- events), agent/run.lua (run scripts), agent/trust.lua (worktree trust) and
-- agent/commands.lua (the user commands).

local M = {}

local api = vim.api
local catalog = require("conductor.agent.catalog")
local config = require("conductor.config")
local engine = require("conductor.engine")
local format = require("conductor.format")
local notify = require("conductor.notify")
-- Loaded for what it wires: engine output and agent events to the terminals.
require("conductor.agent.output")
-- Loaded for what it wires: the question before quitting (agents.on_editor_exit).
require("conductor.quit")
local run = require("conductor.agent.run")
local sessions = require("conductor.agent.sessions")
local trust = require("conductor.agent.trust")
local window = require("conductor.agent.window")

M.builtin = require("conductor.agent.builtin")
M.definition = catalog.definition
M.names = catalog.names
M.default_name = catalog.default_name
M.takes_prompts = catalog.takes_prompts
M.check = catalog.check
M.list = sessions.list
M.forget_workspace = sessions.forget_workspace
M.run = run.run
M.stop_runs = run.stop_runs

-- Why text was not given to agent `name` of `ws`, and what to do instead.
local function no_prompts(ws, name)
  return ("%s/%s takes no prompts (text would run as commands); nothing sent: add an AI agent (:ConductorAgent codex)"):format(
    ws.name,
    name
  )
end

-- An agent that takes no prompts gets its task on the terminal's screen only (written to
-- the buffer's channel, which draws; the program never reads it) and as the terminal
-- title. Control characters are dropped so the task cannot drive the terminal.
local function show_task(s, task)
  local clean = task:gsub("[%z\1-\8\11-\31\127]", "")
  local lines = vim.split(clean, "\n", { plain = true, trimempty = true })
  local out = {}
  if s.name == "shell" then
    out[#out + 1] = ("conductor: no AI CLI (%s) is on PATH, so this agent is your shell (%s)."):format(
      table.concat(catalog.PREFERRED, ", "),
      vim.o.shell
    )
    out[#out + 1] =
      "The task below is not typed in; install one or set default_agent to get an AI agent."
  else
    out[#out + 1] = ("conductor: %s takes no prompts; the task below is not typed in."):format(
      s.name
    )
  end
  for _, line in ipairs(lines) do
    out[#out + 1] = "task: " .. line
  end
  pcall(api.nvim_chan_send, s.chan, "\27[1m" .. table.concat(out, "\r\n") .. "\27[0m\r\n\r\n")
  vim.b[s.buf].term_title = "task: " .. (lines[1] or "")
end

--- Starts agent `name` in workspace `ws` with `prompt` as its first prompt.
---@param ws conductor.Workspace
---@param name string?
---@param prompt string?
---@param opts { resume?: boolean, label?: string }?
---@return conductor.Agent
function M.start(ws, name, prompt, opts)
  name = name or ws.agent or catalog.default_name(ws.host)
  local def = catalog.check(name, ws.host)
  local extra_env = trust.apply(def, ws)
  local s, win = window.new_terminal(ws, "agent", name, opts and opts.label)
  if prompt and prompt ~= "" and not catalog.takes_prompts(name) and not (opts and opts.resume) then
    show_task(s, prompt)
  end
  local rows, cols = window.size_of(s.buf)
  -- A "send" prompt is typed by the engine once the agent shows its input: sent at its
  -- first output, it met a terminal still in line mode and was lost.
  local first_input
  if prompt and prompt ~= "" and def.prompt == "send" and not (opts and opts.resume) then
    first_input = prompt
  end
  local ok, started = pcall(engine.ensure().agent_start, {
    first_input = first_input,
    env = extra_env or vim.empty_dict(),
    workspace = ws.id,
    label = s.label,
    argv = catalog.argv(def, prompt, opts and opts.resume),
    rows = rows,
    cols = cols,
    name = name,
    install_hint = def.install,
    patterns = {
      working = def.working or {},
      waiting = def.waiting or {},
      title_working = def.title_working or {},
      title_idle = def.title_idle or {},
    },
    idle_after_ms = def.idle_after_ms,
    -- A socket path on this machine: meaningless to a program on another one.
    nvim = not ws.host and vim.v.servername or nil,
    termguicolors = vim.o.termguicolors,
    background = vim.o.background,
  })
  if not ok then
    pcall(api.nvim_win_close, win, true)
    pcall(api.nvim_buf_delete, s.buf, { force = true })
    error(started, 0)
  end
  sessions.register(s, started.session)
  s.size = rows .. "x" .. cols
  if config.get().start_insert and api.nvim_get_current_win() == win then
    -- Off before Terminal mode starts: its first "-- TERMINAL --" would wipe the
    -- "created …" about to be said.
    window.showmode_off()
    vim.cmd("startinsert")
    vim.defer_fn(function()
      if api.nvim_get_mode().mode ~= "t" then
        window.showmode_back() -- Terminal mode did not start after all (the window changed)
      end
    end, 500)
  end
  return s
end

--- Sends `text` to session `id` in one piece, then Enter when `submit`: as a bracketed
--- paste when the program turned bracketed paste on, else as plain text.
function M.paste(id, text, submit)
  local s = sessions.by_id[id]
  -- The last line of defence: text submitted to a shell runs as a command.
  if submit and s and not catalog.takes_prompts(s.name) then
    error(no_prompts(s.ws, s.label), 0)
  end
  engine.load().agent_paste(id, text, submit)
end

--- Shows session `id` in its workspace's tab (a new split when hidden).
function M.show(id)
  window.show(assert(sessions.by_id[id], "no such agent"))
end

--- Stops session `id` (SIGHUP to its process group, grace, SIGKILL). One on a host
--- whose connection dropped is reached again first; raises (one line) when it cannot be.
function M.kill(id)
  local s = sessions.by_id[id]
  if s and s.lost then
    local ok, err = pcall(M.reattach, s.ws.host)
    if not ok then
      error(
        ("cannot stop %s/%s: %s"):format(format.workspace_ref(s.ws), s.label, notify.clean(err)),
        0
      )
    end
    if s.lost or s.state == "exited" then
      return -- (ended while the connection was down: reattach said so)
    end
  end
  engine.load().agent_stop(id)
end

--- Kills and starts again the agent of session `id`, in a fresh terminal.
function M.restart(id)
  local s = assert(sessions.by_id[id], "no such agent")
  if s.state ~= "exited" then
    M.kill(id)
  end
  -- Same label: the one stopped may not have exited yet.
  return M.start(s.ws, s.name, nil, { resume = true, label = s.label })
end

--- The agent the user means: the current terminal's, else the workspace's only agent,
--- else asks (vim.ui.select) and calls `cb`. With `opts.prompts` only agents that take
--- prompts count (text is about to be submitted to it).
---@param opts { prompts?: boolean }?
function M.choose(ws, cb, opts)
  local want_prompts = opts and opts.prompts
  local function usable(s)
    return s.kind == "agent"
      and s.state ~= "exited"
      and (not want_prompts or catalog.takes_prompts(s.name))
  end
  local cur = vim.b.conductor_session
  if cur and sessions.by_id[cur] and usable(sessions.by_id[cur]) then
    return cb(sessions.by_id[cur])
  end
  local running = vim.tbl_filter(function(e)
    return e.state ~= "exited"
  end, M.list(ws.id, "agent"))
  local live = vim.tbl_filter(function(e)
    return usable(sessions.by_id[e.id])
  end, running)
  if #live == 0 and #running > 0 then
    error(no_prompts(ws, running[1].label), 0)
  elseif #live == 0 then
    error(("%s has no running agent; start one with :ConductorAgent"):format(ws.name), 0)
  elseif #live == 1 then
    return cb(sessions.by_id[live[1].id])
  end
  vim.ui.select(live, {
    prompt = "conductor: send to which agent?",
    format_item = function(e)
      return ("%s [%s]"):format(e.label, e.state)
    end,
  }, function(e)
    if e then
      cb(sessions.by_id[e.id])
    end
  end)
end

--- Shows here the terminals of `ws` that run in the engine but not in this Neovim
--- (started by another Neovim, or by this one before it quit): each gets a terminal
--- with its screen and scrollback as they are now, then its live output.
---@param ws conductor.Workspace
---@return integer adopted how many
function M.adopt(ws)
  if ws.host and sessions.has_lost(ws.host) then
    -- (Unreachable still: they stay lost, and the call below fails the same way.)
    pcall(M.reattach, ws.host)
  end
  local ok, list = pcall(engine.call, "agent_sessions", { workspace = ws.id })
  if not ok then
    return 0
  end
  local adopted = 0
  for _, info in ipairs(list) do
    if not info.exited and not sessions.by_id[info.session] then
      local s, win = window.new_terminal(ws, info.kind, info.name, info.label)
      s.state = info.state ~= "" and info.state or "starting"
      sessions.register(s, info.session)
      local rows, cols = window.size_of(s.buf)
      s.size = rows and (rows .. "x" .. cols) or nil
      local shown = pcall(
        engine.call,
        "agent_attach",
        { session = info.session, rows = rows or 0, cols = cols or 0 }
      )
      if shown then
        adopted = adopted + 1
      else
        -- It ended in between: nothing to show.
        sessions.by_id[info.session] = nil
        pcall(api.nvim_win_close, win, true)
        pcall(api.nvim_buf_delete, s.buf, { force = true })
      end
    end
  end
  return adopted
end

--- Shows again the terminals of `host` that lost their connection (agent/sessions.lua
--- `host_lost`), connecting to it when needed: each is cleared and gets its screen and
--- scrollback as they are now, then its live output; one that ended meanwhile says so.
--- Raises (one line) when the host cannot be reached; they stay lost then.
---@param host string
---@return integer reattached how many
function M.reattach(host)
  local list = engine.call("agent_sessions", { host = host })
  local running = {}
  for _, info in ipairs(list or {}) do
    running[info.session] = info
  end
  local reattached = 0
  for id, s in pairs(sessions.by_id) do
    if s.lost and s.ws.host == host then
      s.lost = nil
      -- The same session only: after the host's engine restarted, its numbers start
      -- again at 1 and that number may be another agent (or another workspace's).
      local info = running[id]
      if info and (info.workspace_id ~= s.ws.id or info.label ~= s.label) then
        info = nil
      end
      local rows, cols = window.size_of(s.buf)
      local shown = false
      if info and not info.exited then
        -- The replay is the whole screen and scrollback: over a clean terminal.
        pcall(api.nvim_chan_send, s.chan, "\27[H\27[2J\27[3J")
        shown =
          pcall(engine.call, "agent_attach", { session = id, rows = rows or 0, cols = cols or 0 })
      end
      if shown then
        s.size = rows and (rows .. "x" .. cols) or nil
        reattached = reattached + 1
        if info and info.state and info.state ~= "" and info.state ~= s.state then
          sessions.set_state(s, info.state, s.code)
        end
      elseif info then
        pcall(
          api.nvim_chan_send,
          s.chan,
          ("\r\n[conductor: %s ended on %s while the connection was down]\r\n"):format(
            s.label,
            host
          )
        )
        sessions.set_state(s, "exited", info.code)
      else
        -- Not there any more (its engine there restarted): as for a lost local engine,
        -- the terminal stays to read and leaves the table, whose number may now be
        -- another session's.
        pcall(
          api.nvim_chan_send,
          s.chan,
          ("\r\n[conductor: %s is no longer running on %s (its engine there restarted)]\r\n"):format(
            s.label,
            host
          )
        )
        sessions.set_state(s, "exited", nil)
        sessions.by_id[id] = nil
        pcall(api.nvim_buf_del_var, s.buf, "conductor_session")
      end
    end
  end
  return reattached
end

--- The next agent that needs attention (waiting first, then finished), after the
--- current one.
function M.next()
  local list = M.list(nil, "agent")
  local cur = vim.b.conductor_session
  local function pick(state)
    local start = 0
    for i, e in ipairs(list) do
      if e.id == cur then
        start = i
      end
    end
    for k = 1, #list do
      local e = list[(start + k - 1) % #list + 1]
      if e.state == state and e.id ~= cur then
        return e
      end
    end
  end
  local e = pick("waiting") or pick("idle")
  if not e then
    error("no agent needs attention", 0)
  end
  M.show(e.id)
end

return M
