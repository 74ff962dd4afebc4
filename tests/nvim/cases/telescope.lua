-- :Telescope conductor with a real telescope.nvim checkout (given by the environment):
-- rows, preview, the default action (open) and the archive / show archived / restore keys.
local T = require("harness")
local api = vim.api
local repo = vim.env.CONDUCTOR_TEST_REPO
vim.opt.runtimepath:append(vim.env.CONDUCTOR_PLENARY)
vim.opt.runtimepath:append(vim.env.CONDUCTOR_TELESCOPE)
vim.cmd("runtime! plugin/plenary.vim plugin/telescope.lua")
vim.o.columns, vim.o.lines = 200, 50 -- room for the preview (telescope hides it below 120 columns)
require("conductor").setup({
  checks = { "true" },
  -- An agent whose screen is taller than the preview, its input on the last line.
  default_agent = "tall",
  agents = {
    tall = {
      cmd = {
        "sh",
        "-c",
        "i=1; while [ $i -le 80 ]; do echo screen line $i; i=$((i+1)); done; printf 'INPUT BOTTOM'; exec sleep 600",
      },
    },
  },
})
for _, e in ipairs({
  "ConductorWorkspaceCreated",
  "ConductorWorkspaceArchived",
  "ConductorWorkspaceRestored",
}) do
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
-- A realistic long name and branch (the rows must still show the state at 200 columns).
vim.cmd("ConductorNew --name=fix-the-flaky-oauth-test-on-ci-runner make the oauth test pass on CI")
T.wait_event("ConductorWorkspaceCreated", function(d)
  return d.name == "fix-the-flaky-oauth-test-on-ci-runner"
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
-- Every row shows its state inside the results window (at 200 columns).
local res_buf, res_win = telescope_buf("TelescopeResults")
local res_width = api.nvim_win_get_width(res_win)
for _, line in ipairs(api.nvim_buf_get_lines(res_buf, 0, -1, false)) do
  local _, e = line:find("active", 1, true)
  if e then
    T.ok(
      vim.fn.strdisplaywidth(line:sub(1, e)) <= res_width,
      ("the state is cut off at %d columns: %q"):format(res_width, line)
    )
  end
end

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
-- The agent's screen fits the preview: its bottom line (the agent's input) is shown.
local preview_win
for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
  if lines(api.nvim_win_get_buf(win)):find("worktree    " .. signup.path, 1, true) then
    preview_win = win
  end
end
T.wait(function()
  return lines(api.nvim_win_get_buf(preview_win)):find("INPUT BOTTOM", 1, true)
end, "the agent's screen in the preview")
local preview = api.nvim_buf_get_lines(api.nvim_win_get_buf(preview_win), 0, -1, false)
T.ok(
  #preview <= api.nvim_win_get_height(preview_win),
  ("the preview has %d lines, its window %d"):format(#preview, api.nvim_win_get_height(preview_win))
)
T.contains(preview[#preview], "INPUT BOTTOM", "the last line of the preview")

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
