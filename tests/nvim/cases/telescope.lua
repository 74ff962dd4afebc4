-- :Telescope conductor with a real telescope.nvim checkout (given by the environment):
-- rows, preview, the default action (open) and the archive / show archived / restore keys.
local T = require("harness")
local api = vim.api
local repo = vim.env.CONDUCTOR_TEST_REPO
vim.opt.runtimepath:append(vim.env.CONDUCTOR_PLENARY)
vim.opt.runtimepath:append(vim.env.CONDUCTOR_TELESCOPE)
vim.cmd("runtime! plugin/plenary.vim plugin/telescope.lua")
vim.o.columns, vim.o.lines = 200, 50 -- room for the preview (telescope hides it below 120 columns)
require("conductor").setup({ checks = { "true" } })
for _, e in ipairs({ "ConductorWorkspaceCreated", "ConductorWorkspaceArchived", "ConductorWorkspaceRestored" }) do
  T.record(e)
end

vim.cmd("ConductorNew --name=login fix the flaky login test")
local login = T.wait_event("ConductorWorkspaceCreated", function(d)
  return d.name == "login"
end)
vim.cmd("tabfirst")
vim.cmd("ConductorNew --name=signup add a signup form")
local signup = T.wait_event("ConductorWorkspaceCreated", function(d)
  return d.name == "signup"
end)
vim.cmd("tabfirst")

-- The telescope window showing a buffer of filetype `ft`, and its lines.
local function telescope_buf(ft)
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    local buf = api.nvim_win_get_buf(win)
    if vim.bo[buf].filetype == ft then
      return buf, win
    end
  end
end
local function lines(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end
local function results()
  local buf = telescope_buf("TelescopeResults")
  return buf and lines(buf) or ""
end
-- Types `text` into the (empty) prompt, as a user does, and waits until the selection
-- is workspace `name`.
local function select(text, name)
  T.ok(telescope_buf("TelescopePrompt"), "the telescope prompt")
  api.nvim_input(text)
  T.wait(function()
    local entry = require("telescope.actions.state").get_selected_entry()
    return entry and entry.value.name == name
  end, "selection " .. name)
end
local function press(keys)
  api.nvim_input(keys)
end

vim.cmd("Telescope conductor")
T.wait(function()
  return results():find("signup", 1, true) and results():find("login", 1, true)
end, "both workspaces listed")
local rows = results()
T.contains(rows, "conductor/login", "branch column")
T.contains(rows, ":" .. login.port, "port column")
T.contains(rows, vim.fs.basename(repo), "repository column")
T.contains(rows, "active", "state column")

-- While the picker is open, rows refresh in place: the checks of login finish (run in
-- the background) and its row shows them without reopening the picker.
T.ok(not rows:find("checks ok", 1, true), "no checks yet")
T.record("ConductorChecksFinished")
require("conductor").check(login.id)
T.wait_event("ConductorChecksFinished", nil, "the checks to finish")
T.wait(function()
  return results():find("checks ok", 1, true)
end, "the row refreshed in place with the checks' result")
T.ok(telescope_buf("TelescopePrompt"), "the picker stayed open")

-- The preview shows the selected workspace's details.
select("signup", "signup")
T.wait(function()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    local text = lines(api.nvim_win_get_buf(win))
    if text:find("worktree    " .. signup.path, 1, true) then
      return true
    end
  end
end, "the preview of signup")

-- Default action: open the workspace's tab.
press("<CR>")
T.wait(function()
  return T.tab_of(signup.id) == api.nvim_get_current_tabpage()
end, "signup's tab is current after <CR>")
T.eq(telescope_buf("TelescopePrompt"), nil, "the picker closed")

-- <C-a> archives the selected workspace.
vim.cmd("tabfirst")
vim.cmd("Telescope conductor")
T.wait(function()
  return results():find("login", 1, true)
end, "the picker again")
select("login", "login")
press("<C-a>")
local archived = T.wait_event("ConductorWorkspaceArchived")
T.eq(archived.name, "login", "<C-a> archived the selection")

-- Archived ones are hidden until <C-t>; <C-r> restores.
vim.cmd("tabfirst")
vim.cmd("Telescope conductor")
T.wait(function()
  return results():find("signup", 1, true)
end, "the picker without archived")
T.ok(not results():find("login", 1, true), "archived login hidden")
press("<C-t>")
T.wait(function()
  return results():find("login", 1, true)
end, "<C-t> shows archived ones")
select("login", "login")
press("<C-r>")
local restored = T.wait_event("ConductorWorkspaceRestored")
T.eq(restored.name, "login", "<C-r> restored it")
T.eq(vim.fn.isdirectory(login.path), 1, "worktree back")
