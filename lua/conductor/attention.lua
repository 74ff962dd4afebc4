-- Never miss a waiting agent: when an agent needs input or finishes a turn while its tab
-- is not shown, tell the terminal Neovim runs in (a desktop notification by OSC 777 and
-- OSC 9, and a bell), so tmux, kitty, wezterm and iTerm2 can alert outside Neovim.
-- Not here: the notification inside Neovim (agent/sessions.lua), the states themselves (engine).

local M = {}

local catalog = require("conductor.agent.catalog")
local config = require("conductor.config")

-- Whether the agent's terminal is in a window of the current tab.
local function shown(agent)
  local buf = agent and agent.buf
  if not buf then
    return false
  end
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.api.nvim_win_get_buf(win) == buf then
      return true
    end
  end
  return false
end

--- The bytes sent to the terminal for `text`.
---@param text string
---@return string
function M.sequence(text)
  -- Control characters would end the sequence early.
  text = text:gsub("[%c;]", " ")
  return ("\27]777;notify;conductor;%s\7\27]9;conductor: %s\7\7"):format(text, text)
end

---@param data { workspace: conductor.Workspace, agent: table, previous?: string }
function M.on_state(data)
  local agent = data.agent or {}
  if not config.notify_terminal() or (agent.kind and agent.kind ~= "agent") then
    return
  end
  -- A shell (an agent that takes no prompts) "finishes a turn" at every command.
  local ok, prompts = pcall(catalog.takes_prompts, agent.name)
  if ok and not prompts then
    return
  end
  local who = ("%s/%s"):format(data.workspace.name, agent.label or agent.name)
  local text
  if agent.state == "waiting" and data.previous ~= "waiting" then
    text = who .. " needs input"
  elseif agent.state == "idle" and data.previous == "working" then
    text = who .. " finished"
  end
  if text and not shown(agent) then
    -- Channel 2 is the terminal Neovim's UI runs in (as for OSC 52 in vim.ui.clipboard).
    pcall(vim.api.nvim_chan_send, 2, M.sequence(text))
  end
end

return M
