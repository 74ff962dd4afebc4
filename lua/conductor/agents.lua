-- Agent terminals: each agent is a PTY session in the Rust engine shown in a Neovim
-- terminal buffer (nvim_open_term). Output arrives raw from the engine in slices; keys
-- and the terminal's own query answers go back through `on_input`. Closing a window
-- never stops an agent: the buffer is hidden, the process runs, `open` shows it again.

local M = {}

local api = vim.api
local engine = require("conductor.engine")
local events = require("conductor.events")
local notify = require("conductor.notify")

--- Built-in agents. `prompt`: how the first prompt is given: "arg" (last argument), a
--- flag such as "-i" (flag then prompt), "send" (typed in once the agent shows its
--- input: it reads its terminal key by key and its screen has settled; after 10 s at the
--- latest), or "none" (the default: the agent takes no prompt, and conductor never types
--- task text, review comments or check output into it — a shell would run them). Each
--- CLI's own first-prompt argument is used where it has one (opencode drops what is
--- typed in its first seconds). Patterns tell the status detector what the agent's
--- screen shows while it works or waits for an answer (menus with a selected numbered
--- choice, "> 1. …", count as waiting by themselves).
M.builtin = {
  codex = {
    -- Without --no-daemon codex leaves a shared server running after its TUI exits,
    -- out of reach of the workspace's process group (archive could not stop it).
    cmd = { "codex", "--no-daemon" },
    prompt = "arg",
    install = "npm install -g @openai/codex",
    trust = "codex",
    resume = { "codex", "--no-daemon", "resume", "--last" },
    working = { "esc to interrupt" },
    waiting = { "Allow command?", "(y/n)", "Press enter to continue", "Press enter to confirm" },
  },
  claude = {
    cmd = { "claude" },
    prompt = "arg",
    install = "npm install -g @anthropic-ai/claude-code",
    trust = "claude",
    resume = { "claude", "--continue" },
    working = { "esc to interrupt" },
    waiting = { "Do you want to proceed?", "Do you want to make this edit", "Enter to confirm" },
    title_idle = { "✳" },
    title_working = { "⠂", "⠐", "✶", "✻", "✽", "✢" },
  },
  gemini = {
    cmd = { "gemini" },
    prompt = "-i",
    install = "npm install -g @google/gemini-cli",
    trust = "gemini",
    resume = { "gemini", "--resume", "latest" },
    working = { "esc to cancel" },
    waiting = { "Allow execution", "Apply this change?", "Do you trust", "How would you like to authenticate" },
  },
  opencode = {
    cmd = { "opencode" },
    prompt = "--prompt",
    install = "npm install -g opencode-ai",
    resume = { "opencode", "--continue" },
    working = { "esc interrupt", "esc to interrupt" },
  },
  -- The fallback when no AI CLI is on PATH: the user's own shell. It is handed no prompt
  -- (a shell would run the task as a command); the task is shown above its prompt.
  -- No screen patterns tell a shell's states: quiet for a moment means idle at its prompt.
  shell = { prompt = "none", idle_after_ms = 500 },
}

local PREFERRED = { "codex", "claude", "gemini", "opencode" }

---@class conductor.Agent
---@field id integer        engine session id
---@field name string       agent name ("codex", "run:web")
---@field label string      what the user sees: the name, numbered from the second running
---                         agent of that name in the workspace ("codex", "codex-2")
---@field kind string       "agent" | "run"
---@field ws conductor.Workspace
---@field buf integer
---@field chan integer
---@field state string      starting | working | waiting | idle | exited
---@field code integer?
---@field size string?      last size sent ("rows x cols")

---@type table<integer, conductor.Agent>
local sessions = {}
-- Output of a session whose start has not been answered yet (run scripts start on a
-- worker thread, and their first output can overtake the answer).
local orphans = {}
-- Sessions of archived or deleted workspaces: their late output is dropped.
local forgotten = {}
local attached = false

--- The definition of agent `name`: the user's `agents[name]` over the built-in one.
function M.definition(name)
  local user = (require("conductor.config").agent_definitions())[name]
  local def = vim.tbl_deep_extend("force", {}, M.builtin[name] or {}, user or {})
  if name == "shell" and not def.cmd then
    def.cmd = { vim.o.shell }
  end
  if def.cmd ~= nil and not (vim.islist(def.cmd) and #def.cmd > 0 and vim.iter(def.cmd):all(function(a)
    return type(a) == "string"
  end)) then
    error(("agents.%s.cmd must be a list of strings, e.g. { %q }; got %s"):format(
      name, type(def.cmd) == "string" and def.cmd or name, vim.inspect(def.cmd)), 0)
  end
  if not def.cmd or #def.cmd == 0 then
    local known = vim.tbl_keys(vim.tbl_extend("force", {}, M.builtin, require("conductor.config").agent_definitions()))
    table.sort(known)
    error(("unknown agent %q; known: %s (add one with setup({ agents = { %s = { cmd = {...} } } }))"):format(
      name, table.concat(known, ", "), name), 0)
  end
  return def
end

--- Names for `--agent=` completion.
function M.names()
  local names = vim.tbl_keys(vim.tbl_extend("force", {}, M.builtin, require("conductor.config").agent_definitions()))
  table.sort(names)
  return names
end

--- The configured default agent, else the first of codex/claude/gemini/opencode on
--- PATH, else the user's shell.
function M.default_name()
  local configured = require("conductor.config").get().default_agent
  if configured then
    return configured
  end
  for _, name in ipairs(PREFERRED) do
    if vim.fn.executable(M.definition(name).cmd[1]) == 1 then
      return name
    end
  end
  return "shell"
end

--- Whether agent `name` takes prompts (a first prompt, review comments, check output).
--- One that does not, like the plain shell, would run pasted text as commands.
---@param name string
---@return boolean
function M.takes_prompts(name)
  local ok, def = pcall(M.definition, name)
  return ok and def.prompt ~= nil and def.prompt ~= "none"
end

--- Raises a clear error when the agent's program is not installed.
function M.check(name)
  local def = M.definition(name)
  if vim.fn.executable(def.cmd[1]) ~= 1 then
    error(("agent %s: `%s` not found on PATH; %sset agents.%s.cmd in setup()"):format(
      name, def.cmd[1], def.install and ("install it (" .. def.install .. ") or ") or "", name), 0)
  end
  return def
end

-- Why text was not given to agent `name` of `ws`, and what to do instead.
local function no_prompts(ws, name)
  return ("%s/%s takes no prompts (text would run as commands); nothing sent: add an AI agent (:ConductorAgent codex)"):format(
    ws.name, name)
end

local function argv_for(def, prompt, resume)
  if resume and def.resume then
    return vim.deepcopy(def.resume)
  end
  local argv = vim.deepcopy(def.cmd)
  if prompt and prompt ~= "" then
    if def.prompt == "arg" then
      table.insert(argv, prompt)
    elseif type(def.prompt) == "string" and def.prompt:sub(1, 1) == "-" then
      table.insert(argv, def.prompt)
      table.insert(argv, prompt)
    end
  end
  return argv
end

-- Rows and columns a terminal can use: the smallest of the windows showing it.
local function size_of(buf)
  local rows, cols
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local info = vim.fn.getwininfo(win)[1]
    local w = api.nvim_win_get_width(win) - (info and info.textoff or 0)
    local h = api.nvim_win_get_height(win)
    rows, cols = math.min(rows or h, h), math.min(cols or w, w)
  end
  return rows, cols
end

local function resize_all()
  local core = engine.load()
  for id, s in pairs(sessions) do
    if s.state ~= "exited" and api.nvim_buf_is_valid(s.buf) then
      local rows, cols = size_of(s.buf)
      if rows and (rows .. "x" .. cols) ~= s.size then
        s.size = rows .. "x" .. cols
        pcall(core.agent_resize, id, rows, cols)
      end
    end
  end
end

local function entry(s)
  return {
    id = s.id,
    name = s.name,
    label = s.label or s.name,
    kind = s.kind,
    state = s.state,
    code = s.code,
    buf = s.buf,
    workspace = s.ws.id,
  }
end

-- The first of `name`, `name-2`, `name-3`… that no running agent of `ws` is labelled.
local function label_for(ws, name)
  local taken = {}
  for _, s in pairs(sessions) do
    if s.ws.id == ws.id and s.state ~= "exited" then
      taken[s.label or s.name] = true
    end
  end
  local label, n = name, 1
  while taken[label] do
    n = n + 1
    label = ("%s-%d"):format(name, n)
  end
  return label
end

local function set_state(s, state, code)
  local before = s.state
  s.state, s.code = state, code
  events.fire("ConductorAgentState", { workspace = s.ws, agent = entry(s), previous = before })
  local visible = api.nvim_get_current_buf() == s.buf
  -- "finished" means an agent's task is done: a shell (no prompts) has none.
  if s.kind == "agent" and not visible and M.takes_prompts(s.name) then
    if state == "waiting" then
      notify.warn(("%s/%s needs input"):format(s.ws.name, s.label))
    elseif before == "working" and state == "idle" then
      notify.info(("%s/%s finished"):format(s.ws.name, s.label))
    end
  end
  if state == "idle" or state == "exited" then
    -- The agent may have changed files open in buffers.
    pcall(vim.cmd, "checktime")
  end
end

--- Wires the engine's terminal output and agent events, once.
local function attach()
  if attached then
    return
  end
  attached = true
  local core = engine.ensure()
  core.on_output(function(id, bytes)
    local s = sessions[id]
    if not s then
      if forgotten[id] then
        return
      end
      orphans[id] = orphans[id] or {}
      table.insert(orphans[id], bytes)
      return
    end
    pcall(api.nvim_chan_send, s.chan, bytes)
  end)
  engine.on("agent_state", function(d)
    local s = sessions[d.session]
    -- An exit is announced once, by agent_exited (with its code).
    if s and s.state ~= "exited" and d.state ~= s.state and d.state ~= "exited" then
      set_state(s, d.state, s.code)
    end
  end)
  engine.on("agent_exited", function(d)
    local s = sessions[d.session]
    if not s then
      return
    end
    local how = d.code and ("exit " .. d.code) or ("signal " .. tostring(d.signal))
    pcall(api.nvim_chan_send, s.chan, ("\r\n[conductor: %s exited: %s]\r\n"):format(s.label, how))
    set_state(s, "exited", d.code)
    pcall(engine.load().agent_forget, d.session)
  end)
  local group = api.nvim_create_augroup("conductor_agents", { clear = true })
  api.nvim_create_autocmd({ "WinResized", "VimResized", "BufWinEnter" }, {
    group = group,
    callback = function(ev)
      -- A program shown again repaints its screen: that is not work.
      local id = ev.event == "BufWinEnter" and vim.b[ev.buf].conductor_session
      if id and sessions[id] and sessions[id].state ~= "exited" then
        pcall(engine.load().agent_expect_redraw, id)
      end
      vim.schedule(resize_all)
    end,
  })
  api.nvim_create_autocmd("OptionSet", {
    group = group,
    pattern = "background",
    callback = function()
      pcall(engine.load().agent_background, vim.o.background)
    end,
  })
  api.nvim_create_autocmd("VimLeavePre", {
    group = group,
    callback = function()
      local working = 0
      for _, s in pairs(sessions) do
        if s.state == "working" then
          working = working + 1
        end
      end
      if working > 0 then
        vim.api.nvim_echo({ { ("conductor: stopping %d working agent(s)"):format(working), "WarningMsg" } }, true, {})
      end
      pcall(engine.load().agent_stop_all, true)
    end,
  })
end

-- A window in the workspace's tab for a new terminal: the tab's empty start window when
-- there is one, else a new vertical (agents) or bottom (run scripts) split.
local function window_for(ws, kind)
  require("conductor.layout").open(ws)
  local win = api.nvim_get_current_win()
  local buf = api.nvim_win_get_buf(win)
  local empty = api.nvim_buf_get_name(buf) == "" and vim.bo[buf].buftype == "" and not vim.bo[buf].modified
    and api.nvim_buf_line_count(buf) == 1 and api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ""
  if empty and #api.nvim_tabpage_list_wins(0) == 1 and kind == "agent" then
    return win
  end
  if kind == "run" then
    vim.cmd("botright 12split")
  else
    local agents = vim.tbl_filter(function(w)
      local ok, v = pcall(api.nvim_buf_get_var, api.nvim_win_get_buf(w), "conductor_session")
      return ok and v and sessions[v] and sessions[v].kind == "agent"
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

local function showmode_off()
  if saved_showmode == nil then
    saved_showmode = vim.o.showmode
    vim.o.showmode = false
  end
end

local function showmode_back()
  if saved_showmode ~= nil then
    vim.o.showmode = saved_showmode
    saved_showmode = nil
  end
end

local function quiet_mode_line(buf)
  api.nvim_create_autocmd("TermEnter", { buffer = buf, callback = showmode_off })
  api.nvim_create_autocmd("TermLeave", { buffer = buf, callback = showmode_back })
end

local function new_terminal(ws, kind, name, label)
  local win = window_for(ws, kind)
  local buf = api.nvim_create_buf(false, true)
  api.nvim_win_set_buf(win, buf)
  vim.bo[buf].bufhidden = "hide"
  quiet_mode_line(buf)
  local s = { kind = kind, name = name, label = label or (kind == "agent" and label_for(ws, name) or name), ws = ws, buf = buf, state = "starting" }
  s.chan = api.nvim_open_term(buf, {
    on_input = function(_, _, _, data)
      if s.id and s.state ~= "exited" then
        pcall(engine.load().agent_write, s.id, data)
      end
    end,
  })
  return s, win
end

local function register(s, id)
  s.id = id
  sessions[id] = s
  vim.b[s.buf].conductor_session = id
  -- Named by its label; an exited agent's buffer may still hold that name.
  if not pcall(api.nvim_buf_set_name, s.buf, ("conductor://%s/%s"):format(s.ws.name, s.label)) then
    pcall(api.nvim_buf_set_name, s.buf, ("conductor://%s/%s-%d"):format(s.ws.name, s.label, id))
  end
  for _, bytes in ipairs(orphans[id] or {}) do
    pcall(api.nvim_chan_send, s.chan, bytes)
  end
  orphans[id] = nil
  events.fire("ConductorAgentState", { workspace = s.ws, agent = entry(s) })
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
      table.concat(PREFERRED, ", "), vim.o.shell)
    out[#out + 1] = "The task below is not typed in; install one or set default_agent to get an AI agent."
  else
    out[#out + 1] = ("conductor: %s takes no prompts; the task below is not typed in."):format(s.name)
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
  attach()
  name = name or ws.agent or M.default_name()
  local def = M.check(name)
  local extra_env = require("conductor.agent_trust").apply(def, ws)
  local s, win = new_terminal(ws, "agent", name, opts and opts.label)
  if prompt and prompt ~= "" and not M.takes_prompts(name) and not (opts and opts.resume) then
    show_task(s, prompt)
  end
  local rows, cols = size_of(s.buf)
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
    argv = argv_for(def, prompt, opts and opts.resume),
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
    nvim = vim.v.servername,
    termguicolors = vim.o.termguicolors,
    background = vim.o.background,
  })
  if not ok then
    pcall(api.nvim_win_close, win, true)
    pcall(api.nvim_buf_delete, s.buf, { force = true })
    error(started, 0)
  end
  register(s, started.session)
  s.size = rows .. "x" .. cols
  require("conductor.quit").attach()
  if require("conductor.config").get().start_insert and api.nvim_get_current_win() == win then
    -- Off before Terminal mode starts: its first "-- TERMINAL --" would wipe the
    -- "created …" about to be said.
    showmode_off()
    vim.cmd("startinsert")
    vim.defer_fn(function()
      if api.nvim_get_mode().mode ~= "t" then
        showmode_back() -- Terminal mode did not start after all (the window changed)
      end
    end, 500)
  end
  return s
end

--- Sends `text` to session `id` in one piece, then Enter when `submit`: as a bracketed
--- paste when the program turned bracketed paste on, else as plain text.
function M.paste(id, text, submit)
  local s = sessions[id]
  -- The last line of defence: text submitted to a shell runs as a command.
  if submit and s and not M.takes_prompts(s.name) then
    error(no_prompts(s.ws, s.label), 0)
  end
  engine.load().agent_paste(id, text, submit)
end

--- Agents (and run scripts) of workspace `ws_id`, oldest first.
---@return table[]
function M.list(ws_id, kind)
  local out = {}
  for _, s in pairs(sessions) do
    if (not ws_id or s.ws.id == ws_id) and (not kind or s.kind == kind) then
      table.insert(out, entry(s))
    end
  end
  table.sort(out, function(a, b)
    return a.id < b.id
  end)
  return out
end

--- Shows session `id` in its workspace's tab (a new split when hidden).
function M.show(id)
  local s = assert(sessions[id], "no such agent")
  require("conductor.layout").open(s.ws)
  local wins = vim.fn.win_findbuf(s.buf)
  for _, w in ipairs(wins) do
    if api.nvim_win_get_tabpage(w) == api.nvim_get_current_tabpage() then
      api.nvim_set_current_win(w)
      return
    end
  end
  local win = window_for(s.ws, s.kind)
  api.nvim_win_set_buf(win, s.buf)
end

--- Drops every agent and run script of workspace `ws_id` (archived or deleted: the
--- engine stopped them) with their terminal buffers; their last events are ignored.
---@param ws_id string
function M.forget_workspace(ws_id)
  for id, s in pairs(sessions) do
    if s.ws.id == ws_id then
      sessions[id] = nil
      forgotten[id] = true
      pcall(api.nvim_buf_delete, s.buf, { force = true })
    end
  end
end

--- Stops session `id` (SIGHUP to its process group, grace, SIGKILL).
function M.kill(id)
  engine.load().agent_stop(id)
end

--- Kills and starts again the agent of session `id`, in a fresh terminal.
function M.restart(id)
  local s = assert(sessions[id], "no such agent")
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
    return s.kind == "agent" and s.state ~= "exited" and (not want_prompts or M.takes_prompts(s.name))
  end
  local cur = vim.b.conductor_session
  if cur and sessions[cur] and usable(sessions[cur]) then
    return cb(sessions[cur])
  end
  local running = vim.tbl_filter(function(e)
    return e.state ~= "exited"
  end, M.list(ws.id, "agent"))
  local live = vim.tbl_filter(function(e)
    return usable(sessions[e.id])
  end, running)
  if #live == 0 and #running > 0 then
    error(no_prompts(ws, running[1].label), 0)
  elseif #live == 0 then
    error(("%s has no running agent; start one with :ConductorAgent"):format(ws.name), 0)
  elseif #live == 1 then
    return cb(sessions[live[1].id])
  end
  vim.ui.select(live, {
    prompt = "conductor: send to which agent?",
    format_item = function(e)
      return ("%s [%s]"):format(e.label, e.state)
    end,
  }, function(e)
    if e then
      cb(sessions[e.id])
    end
  end)
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

--- Runs the workspace's run script (named, or the default one) in a bottom terminal.
function M.run(ws, script)
  attach()
  local s, win = new_terminal(ws, "run", "run:" .. (script or "default"))
  local rows, cols = size_of(s.buf)
  local early = {}
  s.pending = early
  engine.request("run_start", {
    workspace = ws.id,
    script = script,
    rows = rows,
    cols = cols,
    nvim = vim.v.servername,
    termguicolors = vim.o.termguicolors,
    background = vim.o.background,
  }, function(err, started)
    if err then
      pcall(api.nvim_win_close, win, true)
      pcall(api.nvim_buf_delete, s.buf, { force = true })
      return notify.error(err)
    end
    s.name = "run:" .. started.name
    s.label = s.name
    register(s, started.session)
    for _, sid in ipairs(started.stopped or {}) do
      if sessions[sid] and sessions[sid].buf ~= s.buf then
        notify.info(("stopped %s/%s (run mode is nonconcurrent)"):format(sessions[sid].ws.name, sessions[sid].name))
      end
    end
  end)
  return s
end

function M.stop_runs(ws)
  engine.request("stop_runs", { workspace = ws.id }, function(err, n)
    if err then
      return notify.error(err)
    end
    notify.info(n > 0 and ("stopped %d run script(s) of %s"):format(n, ws.name) or ("%s has no running script"):format(ws.name))
  end)
end

return M
