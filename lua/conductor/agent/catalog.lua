-- Which agents exist and what each one is: the built-in definitions with the user's
-- `agents` option over them, checked; the default agent; whether one takes prompts.
-- Not here: running them (agent/init.lua).

local M = {}

local builtin = require("conductor.agent.builtin")
local config = require("conductor.config")

--- The order in which installed AI CLIs are preferred as the default agent.
M.PREFERRED = { "codex", "claude", "gemini", "opencode" }

-- Built-in and user-defined agent names.
local function known()
  local names = vim.tbl_keys(vim.tbl_extend("force", {}, builtin, config.agent_definitions()))
  table.sort(names)
  return names
end

-- A non-empty list of strings.
local function is_argv(v)
  if not vim.islist(v) or #v == 0 then
    return false
  end
  for _, a in ipairs(v) do
    if type(a) ~= "string" then
      return false
    end
  end
  return true
end

--- The definition of agent `name`: the user's `agents[name]` over the built-in one.
function M.definition(name)
  local user = config.agent_definitions()[name]
  local def = vim.tbl_deep_extend("force", {}, builtin[name] or {}, user or {})
  if name == "shell" and not def.cmd then
    def.cmd = { vim.o.shell }
  end
  if def.cmd ~= nil and not is_argv(def.cmd) then
    error(
      ("agents.%s.cmd must be a list of strings, e.g. { %q }; got %s"):format(
        name,
        type(def.cmd) == "string" and def.cmd or name,
        vim.inspect(def.cmd)
      ),
      0
    )
  end
  if not def.cmd or #def.cmd == 0 then
    error(
      ("unknown agent %q; known: %s (add one with setup({ agents = { %s = { cmd = {...} } } }))"):format(
        name,
        table.concat(known(), ", "),
        name
      ),
      0
    )
  end
  return def
end

--- Names for `--agent=` completion.
function M.names()
  return known()
end

--- The configured default agent, else the first of codex/claude/gemini/opencode on
--- PATH, else the user's shell.
function M.default_name()
  local configured = config.get().default_agent
  if configured then
    return configured
  end
  for _, name in ipairs(M.PREFERRED) do
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

--- Raises a clear error when the agent's program is not installed. For a workspace on
--- another machine (`host`) only the definition is checked: the program runs there, and
--- the engine there says when it is missing.
---@param name string
---@param host? string
function M.check(name, host)
  local def = M.definition(name)
  if not host and vim.fn.executable(def.cmd[1]) ~= 1 then
    error(
      ("agent %s: `%s` not found on PATH; %sset agents.%s.cmd in setup()"):format(
        name,
        def.cmd[1],
        def.install and ("install it (" .. def.install .. ") or ") or "",
        name
      ),
      0
    )
  end
  return def
end

--- The argv that starts agent `def`: its `resume` command when resuming, else its
--- command with the first prompt as its definition says.
function M.argv(def, prompt, resume)
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

return M
