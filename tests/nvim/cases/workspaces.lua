-- The workspace spine as a user meets it: create, see, open, log, archive, restore, delete,
-- and the errors that must leave nothing behind.
local T = require("harness")
local repo = vim.env.CONDUCTOR_TEST_REPO
local settings = repo .. "/.conductor/settings.toml"
for _, e in ipairs({
  "ConductorWorkspaceCreated",
  "ConductorWorkspaceArchived",
  "ConductorWorkspaceRestored",
  "ConductorWorkspaceDeleted",
  "ConductorSetupFinished",
}) do
  T.record(e)
end
T.trust(settings)
T.eq(vim.fn.getcwd(), repo, "Neovim starts in the repository")

-- Create: a new tab whose tab-local cwd is the fresh worktree on its own branch.
local ws, tab
T.case("Create", function()
  vim.cmd("ConductorNew --name=login fix the flaky login test")
  ws = T.wait_event("ConductorWorkspaceCreated")
  T.eq(ws.name, "login", "name")
  T.eq(ws.branch, "conductor/login", "branch")
  T.eq(ws.task, "fix the flaky login test", "task")
  T.eq(#vim.api.nvim_list_tabpages(), 2, "tabs")
  tab = T.ok(T.tab_of(ws.id), "the workspace has a tab")
  T.eq(vim.api.nvim_get_current_tabpage(), tab, "its tab is current")
  T.eq(vim.fn.getcwd(-1, vim.fn.tabpagenr()), ws.path, "tab-local cwd is the worktree")
  T.eq(vim.fn.haslocaldir(-1, vim.fn.tabpagenr()), 1, ":tcd, not :cd")
  T.eq(vim.fn.getcwd(-1, 1), repo, "the first tab keeps its directory")
  T.eq(T.git(ws.path, "rev-parse", "--abbrev-ref", "HEAD"), "conductor/login", "checked-out branch")
  T.eq(T.read(ws.path .. "/.env"), "API_KEY=secret\n", ".env copied into the worktree")
  T.eq(T.read(ws.path .. "/scratch.txt"), nil, "untracked work stays in the root checkout")
end)

-- The setup script ran in the worktree with the CONDUCTOR_* environment, logged.
T.case("The setup script ran in the worktree with the CONDUCTOR_*…", function()
  local setup = T.wait_event("ConductorSetupFinished")
  T.eq(setup.ok, true, "setup succeeded")
  local seen = T.read(ws.path .. "/setup-env.txt")
  T.contains(seen, "CONDUCTOR_WORKSPACE_NAME=login\n")
  T.contains(seen, "CONDUCTOR_WORKSPACE_PATH=" .. ws.path .. "\n")
  T.contains(seen, "CONDUCTOR_ROOT_PATH=" .. repo .. "\n")
  T.contains(seen, "CONDUCTOR_DEFAULT_BRANCH=main\n")
  T.contains(seen, "CONDUCTOR_PORT=" .. ws.port .. "\n")
  T.contains(seen, "CONDUCTOR_WORKSPACE_ID=" .. ws.id .. "\n")
  T.contains(seen, "CONDUCTOR_IS_LOCAL=1\n")
  T.contains(seen, "FROM_CONFIG=yes\n")

  vim.cmd("ConductorLog login")
  T.wait(function()
    return table
      .concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
      :find("installing deps", 1, true)
  end, "the log buffer shows the setup output")
  T.contains(vim.api.nvim_buf_get_name(0), ws.id .. ".log", "log buffer name")
  vim.cmd("close")
end)

-- A second workspace named after its task, and the picker listing both.
local dark
T.case("A second workspace named after its task, and the picker listing both", function()
  vim.cmd("tabfirst")
  vim.cmd("ConductorNew add dark mode")
  dark = T.wait_event("ConductorWorkspaceCreated", function(d)
    return d.name ~= "login"
  end)
  T.eq(dark.name, "add-dark-mode", "name from the task")
  T.ok(dark.port ~= ws.port, "distinct port blocks")

  local items, formatted
  vim.ui.select = function(list, opts, on_choice)
    items, formatted = list, {}
    for i, item in ipairs(list) do
      formatted[i] = opts.format_item and opts.format_item(item) or tostring(item)
    end
    for i, item in ipairs(list) do
      if formatted[i]:find("login", 1, true) then
        return on_choice(item, i)
      end
    end
  end
  vim.cmd("tabfirst")
  vim.cmd("Conductor")
  T.wait(function()
    return items ~= nil
  end, "the picker")
  T.eq(#items, 2, "picker rows")
  local all = table.concat(formatted, "\n")
  T.contains(all, "conductor/login")
  T.contains(all, "conductor/add-dark-mode")
  T.wait(function()
    return vim.api.nvim_get_current_tabpage() == tab
  end, "choosing a row opens its tab")
  T.eq(#vim.api.nvim_list_tabpages(), 3, "the existing tab is reused")
end)

-- Completion of workspace names.
T.case("Completion of workspace names", function()
  local completions = vim.fn.getcompletion("ConductorOpen ", "cmdline")
  table.sort(completions)
  T.eq(completions, { "add-dark-mode", "login" }, "completion")
end)

-- Archive (with uncommitted work) and restore: exact, tab closed and reopened.
T.case("Archive (with uncommitted work) and restore", function()
  T.write(ws.path .. "/src/login.lua", "-- agent's unfinished fix\n")
  T.write(ws.path .. "/README.md", "edited in the workspace\n")
  vim.cmd("ConductorArchive! login")
  local archived = T.wait_event("ConductorWorkspaceArchived")
  T.eq(archived.state, "archived", "state")
  T.eq(vim.fn.isdirectory(ws.path), 0, "worktree removed")
  T.eq(T.tab_of(ws.id), nil, "its tab closed")
  T.contains(T.git(repo, "branch", "--list", "conductor/login"), "conductor/login", "branch kept")
  T.eq(T.read(repo .. "/README.md"), "hello\n", "root checkout untouched")
  T.contains(T.read(repo .. "/scratch.txt"), "mine", "root's untracked work untouched")

  vim.cmd("ConductorRestore login")
  local restored = T.wait_event("ConductorWorkspaceRestored")
  T.eq(restored.state, "active", "restored state")
  T.eq(T.read(ws.path .. "/src/login.lua"), "-- agent's unfinished fix\n", "new file back")
  T.eq(T.read(ws.path .. "/README.md"), "edited in the workspace\n", "modified file back")
  T.eq(T.read(ws.path .. "/.env"), "API_KEY=secret\n", ".env copied again")
end)

-- Errors: one clear notification, nothing made.
T.case("Errors", function()
  vim.cmd("ConductorNew --name=a/b whatever")
  T.wait_error("invalid workspace name")
  vim.cmd("ConductorNew --base=does-not-exist something")
  T.wait_error('base branch "does-not-exist" not found')
  vim.cmd("ConductorDelete login")
  T.wait_error("!")
  vim.cmd("tabnew")
  vim.cmd("tcd " .. vim.fn.fnameescape(vim.env.CONDUCTOR_TEST_OUTSIDE))
  vim.cmd("ConductorNew outside any repository")
  T.wait_error("not a git repository")
  T.eq(
    #vim.fn.getcompletion("ConductorOpen ", "cmdline"),
    2,
    "no workspace was added by the failures"
  )
end)

-- Delete!: asks, then removes the branch and keeps a backup ref.
T.case("Delete!: asks, then removes the branch and keeps a backup ref", function()
  vim.fn.confirm = function()
    return 1
  end
  vim.cmd("ConductorDelete! add-dark-mode")
  local deleted = T.wait_event("ConductorWorkspaceDeleted")
  T.eq(deleted.name, "add-dark-mode", "deleted workspace")
  T.eq(T.git(repo, "branch", "--list", "conductor/add-dark-mode"), "", "branch deleted")
  T.eq(vim.fn.isdirectory(dark.path), 0, "directory removed")
  T.ok(
    T.git(repo, "rev-parse", "--verify", "refs/conductor/deleted/" .. dark.id) ~= "",
    "backup ref kept"
  )
end)
