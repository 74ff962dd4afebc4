-- With `agents.on_editor_exit = "stop"`, quitting Neovim while agents run stops them:
-- say how many are running and ask first. (With "keep", the default, they run on in the
-- engine and nothing is asked.) Cancelling closes the window the quit was for and shows
-- its buffer in a new one, the one way an ExitPre autocmd can stop a quit. Without a UI
-- (headless, scripts) nothing is asked.

local M = {}

local api = vim.api
local config = require("conductor.config")
local notify = require("conductor.notify")
local sessions = require("conductor.agent.sessions")
local workspace = require("conductor.workspace")

local function ask()
  if
    #api.nvim_list_uis() == 0
    or not config.get().confirm_quit
    or config.on_editor_exit() ~= "stop"
  then
    return
  end
  local running = vim.tbl_filter(function(e)
    return e.state ~= "exited"
  end, sessions.list(nil, "agent"))
  if #running == 0 then
    return
  end
  local names = {}
  for _, e in ipairs(running) do
    local ok, ws = pcall(workspace.get, e.workspace)
    names[#names + 1] = (ok and ws.name or "?") .. "/" .. e.label
  end
  local question = ("%d agent%s still running (%s); quitting stops %s. Quit?"):format(
    #running,
    #running == 1 and " is" or "s are",
    table.concat(names, ", "),
    #running == 1 and "it" or "them"
  )
  if vim.fn.confirm(question, "&Quit\n&Cancel", 2) ~= 1 then
    local win = api.nvim_get_current_win()
    vim.cmd("split")
    api.nvim_win_close(win, true)
  end
end

-- Asks before Neovim exits with running agents. Idempotent.
-- Wired when this module loads (modules load once).
do
  api.nvim_create_autocmd("ExitPre", {
    group = api.nvim_create_augroup("conductor_quit", { clear = true }),
    callback = function()
      local ok, err = pcall(ask)
      if not ok then
        notify.error(err)
      end
    end,
  })
end

return M
