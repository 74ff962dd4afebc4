-- Review and ship as a user meets them: the review tab (panel + vimdiff), editing the
-- live side, viewed marks, reverting a file and a hunk, comments sent to the agent as
-- one paste, checks, a squash merge (refused on a dirty root first) and a pull request.
local T = require("harness")
local api = vim.api
local fake = vim.env.CONDUCTOR_FAKE_AGENT
local repo = vim.env.CONDUCTOR_TEST_REPO
require("conductor").setup({
  default_agent = "fake",
  agents = { fake = { cmd = { fake }, prompt = "arg" } },
  checks = { "echo checking", "echo something broke; exit 3" },
})
for _, e in ipairs({
  "ConductorWorkspaceCreated",
  "ConductorReviewOpened",
  "ConductorChecksFinished",
  "ConductorMerged",
  "ConductorPR",
}) do
  T.record(e)
end

local function lines(buf)
  return api.nvim_buf_get_lines(buf, 0, -1, false)
end
local function text(buf)
  return table.concat(lines(buf), "\n")
end

vim.cmd("ConductorNew --agent=fake --name=rev review the app")
local ws = T.wait_event("ConductorWorkspaceCreated")
local agents = require("conductor.agent")
T.wait(function()
  return #agents.list(ws.id, "agent") == 1
end, "the agent to start")
local agent = agents.list(ws.id, "agent")[1]
T.wait(function()
  return text(agent.buf):find("FAKE AGENT READY", 1, true)
end, "the agent's banner")

-- The agent's work: one commit, then uncommitted changes (modified, added, deleted).
local app_base = T.read(ws.path .. "/src/app.lua")
T.write(ws.path .. "/src/app.lua", (app_base:gsub("line 8\n", "line 8 changed by the agent\n")))
T.git(ws.path, "commit", "-qam", "change line 8")
local app_head = T.read(ws.path .. "/src/app.lua")
T.write(ws.path .. "/keep.txt", "keep me\nbut changed\n")
T.write(ws.path .. "/new.txt", "a new file\n")
os.remove(ws.path .. "/old.txt")
local merge_base = T.git(ws.path, "merge-base", "HEAD", "main")

-- The review tab: panel, base (left) and worktree (right), both in diff mode.
local R, review
T.case("The review tab", function()
  local tabs_before = #api.nvim_list_tabpages()
  vim.cmd("ConductorReview")
  local opened = T.wait_event("ConductorReviewOpened")
  T.eq(opened.workspace.id, ws.id, "event names the workspace")
  T.eq(#api.nvim_list_tabpages(), tabs_before + 1, "a new tab")
  R = require("conductor.review")
  review = T.wait(function()
    local r = R.current()
    return r and r.changes and not r.loading and #r.changes.files == 4 and r
  end, "the change list")
  T.eq(vim.fn.getcwd(-1, vim.fn.tabpagenr()), ws.path, "the review tab's directory is the worktree")
  local wins = api.nvim_tabpage_list_wins(0)
  T.eq(#wins, 3, "panel + two diff windows")
  T.eq(api.nvim_get_current_win(), review.panel_win, "the panel has the focus")
  T.eq(
    api.nvim_buf_get_name(api.nvim_win_get_buf(review.panel_win)),
    "conductor://rev/review",
    "panel buffer"
  )
  local by_path = {}
  for _, f in ipairs(review.changes.files) do
    by_path[f.path] = f
  end
  T.eq(by_path["src/app.lua"].status, "M", "committed change")
  T.eq(by_path["keep.txt"].status, "M", "uncommitted change")
  T.eq(by_path["new.txt"].status, "A", "untracked file")
  T.eq(by_path["old.txt"].status, "D", "deleted file")
  T.eq(review.changes.base, merge_base, "the left side is the merge-base")
  local panel_text = text(review.panel_buf)
  T.contains(panel_text, "rev · branch changes")
  T.contains(panel_text, "4 files")
  T.contains(panel_text, "src/app.lua")
end)

-- Open src/app.lua from the panel.
local panel, panel_key, left_buf, right_buf
T.case("Open src/app.lua from the panel", function()
  panel = require("conductor.review.panel")
  function panel_key(path, keys)
    api.nvim_set_current_win(review.panel_win)
    api.nvim_win_set_cursor(review.panel_win, { panel.line_of(review, path), 0 })
    api.nvim_input(keys)
  end
  panel_key("src/app.lua", "<CR>")
  T.wait(function()
    return review.file and review.file.path == "src/app.lua"
  end, "src/app.lua shown")
  T.eq(api.nvim_get_current_win(), review.right, "<CR> moves to the worktree side")
  left_buf, right_buf = api.nvim_win_get_buf(review.left), api.nvim_win_get_buf(review.right)
  T.eq(
    api.nvim_buf_get_name(left_buf),
    ("conductor://rev/%s/src/app.lua"):format(merge_base:sub(1, 7)),
    "base buffer name"
  )
  T.eq(api.nvim_buf_get_name(right_buf), ws.path .. "/src/app.lua", "the real file on the right")
  T.eq(vim.wo[review.left].diff, true, "diff on the left")
  T.eq(vim.wo[review.right].diff, true, "diff on the right")
  T.eq(vim.bo[left_buf].buftype, "nofile", "base is a scratch buffer")
  T.eq(vim.bo[left_buf].bufhidden, "wipe", "wiped when hidden")
  T.eq(vim.bo[left_buf].modifiable, false, "base is read-only")
  T.eq(vim.bo[left_buf].filetype, "lua", "base filetype detected")
  T.eq(vim.bo[right_buf].buftype, "", "worktree side is a file buffer")
  T.eq(text(left_buf) .. "\n", app_base, "left = base content")
  T.eq(text(right_buf) .. "\n", app_head, "right = worktree content")
end)

-- Editing and saving the right side is just saving the file.
T.case("Editing and saving the right side is just saving the file", function()
  api.nvim_buf_set_lines(right_buf, 0, 1, false, { "-- edited in review" })
  api.nvim_buf_call(right_buf, function()
    vim.cmd("silent write")
  end)
  T.eq(
    T.read(ws.path .. "/src/app.lua"),
    (app_head:gsub("^%-%- app\n", "-- edited in review\n")),
    "saved to disk"
  )
end)

-- Revert the hunk under the cursor (line 1) with gR, then save: the edit is gone, the
-- agent's committed change on line 9 stays.
T.case("Revert the hunk under the cursor (line 1) with gR, then save", function()
  api.nvim_set_current_win(review.right)
  api.nvim_win_set_cursor(review.right, { 1, 0 })
  api.nvim_input("gR")
  T.wait(function()
    return lines(right_buf)[1] == "-- app"
  end, "hunk reverted in the buffer")
  T.eq(lines(right_buf)[9], "line 8 changed by the agent", "other hunk kept")
  api.nvim_buf_call(right_buf, function()
    vim.cmd("silent write")
  end)
  T.eq(T.read(ws.path .. "/src/app.lua"), app_head, "file back to the committed version")
end)

-- Viewed marks persist in the workspace's record.
T.case("Viewed marks persist in the workspace's record", function()
  panel_key("src/app.lua", "v")
  T.wait(function()
    return review.viewed["src/app.lua"]
  end, "marked viewed")
  local stored = require("conductor.engine").call("get", { workspace = ws.id })
  T.eq(stored.viewed, { "src/app.lua" }, "viewed mark stored")
  T.contains(
    lines(review.panel_buf)[panel.line_of(review, "src/app.lua")],
    "✓",
    "viewed mark in the panel"
  )
  panel_key("src/app.lua", "v")
  T.wait(function()
    return not review.viewed["src/app.lua"]
  end, "viewed mark toggled off")
  T.eq(
    require("conductor.engine").call("get", { workspace = ws.id }).viewed or {},
    {},
    "unmarked in the record"
  )
  panel_key("src/app.lua", "v")
  T.wait(function()
    return review.viewed["src/app.lua"]
  end, "marked viewed again")
end)

-- Added and deleted files: an empty side each; ]f walks the files.
local after
T.case("Added and deleted files", function()
  panel_key("new.txt", "o")
  T.wait(function()
    return review.file and review.file.path == "new.txt"
  end, "new.txt shown")
  T.eq(api.nvim_get_current_win(), review.panel_win, "o keeps the focus in the panel")
  T.eq(lines(api.nvim_win_get_buf(review.left)), { "" }, "added file: empty base")
  T.eq(text(api.nvim_win_get_buf(review.right)), "a new file", "added file: worktree content")
  panel_key("old.txt", "o")
  T.wait(function()
    return review.file and review.file.path == "old.txt"
  end, "old.txt shown")
  local deleted_buf = api.nvim_win_get_buf(review.right)
  T.eq(
    api.nvim_buf_get_name(deleted_buf),
    "conductor://rev/deleted/old.txt",
    "deleted file: scratch right side"
  )
  T.eq(vim.bo[deleted_buf].modifiable, false, "deleted side is read-only")
  T.eq(lines(deleted_buf), { "" }, "deleted file: empty right side")
  T.eq(text(api.nvim_win_get_buf(review.left)), "old file\nto delete", "deleted file: base content")
  local order = vim.tbl_map(function(f)
    return f.path
  end, review.changes.files)
  local at
  for i, p in ipairs(order) do
    if p == "old.txt" then
      at = i
    end
  end
  api.nvim_set_current_win(review.right)
  api.nvim_input("]f")
  after = order[at % #order + 1]
  T.wait(function()
    return review.file and review.file.path == after
  end, "]f shows the next file")
end)

-- Revert a whole file (after confirming): the worktree file is the base version again.
local asked
T.case("Revert a whole file (after confirming)", function()
  vim.fn.confirm = function(msg)
    asked = msg
    return 1
  end
  panel_key("keep.txt", "X")
  T.wait(function()
    return T.read(ws.path .. "/keep.txt") == "keep me\nas I am\n"
  end, "keep.txt reverted")
  T.contains(asked, "Revert keep.txt?")
  T.wait(function()
    return not review.loading and #review.changes.files == 3
  end, "list refreshed")
  T.eq(panel.line_of(review, "keep.txt"), nil, "keep.txt left the list")
end)

-- s switches to the uncommitted changes (the committed src/app.lua drops out) and back.
T.case("s switches to the uncommitted changes (the committed src/app.lua…", function()
  panel_key("new.txt", "s")
  T.wait(function()
    return review.scope == "uncommitted"
      and review.changes
      and review.changes.scope == "uncommitted"
  end, "uncommitted scope")
  T.eq(panel.line_of(review, "src/app.lua"), nil, "committed change not in the uncommitted scope")
  T.wait(function()
    return review.file and review.file.path ~= "src/app.lua"
  end, "a file of the new scope shown")
  T.ok(panel.line_of(review, "new.txt"), "uncommitted file listed")
  T.contains(text(review.panel_buf), "rev · uncommitted changes")
  T.eq(review.changes.base, T.git(ws.path, "rev-parse", "HEAD"), "uncommitted: against HEAD")
  panel_key("new.txt", "s")
  T.wait(function()
    return review.scope == "branch" and review.changes and review.changes.scope == "branch"
  end, "branch scope")
end)

-- One commit (--commit=, or C in the panel): both sides read-only blobs, the right one
-- the commit's version; reverting is refused.
local real_select, listed
T.case("One commit (--commit=, or C in the panel)", function()
  local head = T.git(ws.path, "rev-parse", "HEAD")
  local function check_commit_scope(how)
    T.wait(function()
      return review.scope == "commit"
        and review.changes
        and review.changes.scope == "commit"
        and review.changes.head == head
        and review.file
        and review.file.path == "src/app.lua"
        and api.nvim_win_get_buf(review.right) ~= right_buf
    end, "the commit scope (" .. how .. ")")
    T.eq(
      vim.tbl_map(function(f)
        return f.path
      end, review.changes.files),
      { "src/app.lua" },
      how .. ": the commit's files"
    )
    local cbuf = api.nvim_win_get_buf(review.right)
    T.eq(
      api.nvim_buf_get_name(cbuf),
      ("conductor://rev/%s/src/app.lua"):format(head:sub(1, 7)),
      how .. ": right buffer name"
    )
    T.eq(
      text(cbuf) .. "\n",
      T.git(ws.path, "show", head .. ":src/app.lua") .. "\n",
      how .. ": right = the commit's version"
    )
    T.eq(
      text(api.nvim_win_get_buf(review.left)) .. "\n",
      app_base,
      how .. ": left = the parent's version"
    )
    api.nvim_set_current_win(review.right)
    T.eq(vim.bo.modifiable, false, how .. ": the commit side is read-only")
    T.contains(text(review.panel_buf), "rev · commit " .. head:sub(1, 7))
    local errors = #T.notes
    api.nvim_input("gR")
    T.wait(function()
      return #T.notes > errors
    end, how .. ": gR refused")
    T.contains(T.notes[#T.notes].msg, "cannot revert while reviewing one commit")
  end
  vim.cmd("ConductorReview --commit=HEAD")
  check_commit_scope("--commit=HEAD")
  T.eq(T.read(ws.path .. "/src/app.lua"), app_head, "the worktree file untouched")
  panel_key("src/app.lua", "s")
  T.wait(function()
    return review.scope == "branch"
      and review.changes
      and review.changes.scope == "branch"
      and review.file
      and api.nvim_win_get_buf(review.right) ~= api.nvim_win_get_buf(review.left)
  end, "back to the branch")
  real_select, listed = vim.ui.select, nil
  vim.ui.select = function(items, opts, cb)
    listed = vim.tbl_map(opts.format_item, items)
    cb(items[1])
  end
  panel_key("src/app.lua", "C")
  check_commit_scope("C")
  T.eq(
    listed,
    { head:sub(1, #vim.split(listed[1], " ")[1]) .. "  change line 8" },
    "C lists the branch's commits"
  )
  vim.ui.select = real_select
  panel_key("src/app.lua", "s")
  T.wait(function()
    return review.scope == "branch" and review.changes and review.changes.scope == "branch"
  end, "branch again")
end)

-- Comments on a line and on a visual range, then one paste to the agent.
local paste
T.case("Comments on a line and on a visual range, then one paste to the agent", function()
  local answers = { "rename this line", "these two lines need a test" }
  vim.ui.input = function(opts, cb)
    T.ok(opts.prompt:find("src/app.lua", 1, true), "the prompt names the file")
    cb(table.remove(answers, 1))
  end
  panel_key("src/app.lua", "<CR>")
  T.wait(function()
    return review.file
      and review.file.path == "src/app.lua"
      and api.nvim_get_current_win() == review.right
  end, "app shown")
  api.nvim_win_set_cursor(review.right, { 9, 0 })
  api.nvim_input("gC")
  local comments = require("conductor.review.comments")
  T.wait(function()
    return #comments.list(ws.id) == 1
  end, "first comment")
  api.nvim_win_set_cursor(review.right, { 3, 0 })
  api.nvim_input("VjgC")
  T.wait(function()
    return #comments.list(ws.id) == 2
  end, "second comment")
  local c1, c2 = unpack(comments.list(ws.id))
  T.eq({ c1.line1, c1.line2, c1.code }, { 9, 9, { "line 8 changed by the agent" } }, "line comment")
  T.eq({ c2.line1, c2.line2, c2.code }, { 3, 4, { "line 2", "line 3" } }, "range comment")
  T.contains(text(review.panel_buf), "9: rename this line", "comment listed in the panel")
  T.contains(text(review.panel_buf), "3-4: these two lines need a test", "range comment listed")
  vim.cmd("ConductorSendComments")
  T.wait(function()
    return (T.read(ws.path .. "/paste.txt") or ""):find("need a test", 1, true)
  end, "the paste")
  paste = T.read(ws.path .. "/paste.txt")
  T.contains(paste, "src/app.lua:9\n```lua\nline 8 changed by the agent\n```\nrename this line")
  T.contains(paste, "src/app.lua:3-4\n```lua\nline 2\nline 3\n```\nthese two lines need a test")
  T.eq(#comments.list(ws.id, { unsent = true }), 0, "comments marked sent")
  T.wait(function()
    return text(agent.buf):find("PASTE " .. #paste .. " BYTES", 1, true)
  end, "one paste")
end)

-- Checks: the result in the panel and an event; the failure goes to the agent.
local offered
T.case("Checks", function()
  vim.ui.select = function(items, opts, cb)
    offered = opts.prompt
    cb(items[1])
  end
  vim.cmd("ConductorCheck")
  local checked = T.wait_event("ConductorChecksFinished")
  T.eq(checked.ok, false, "a check failed")
  T.eq(#checked.results, 2, "both checks ran")
  T.eq(checked.results[2].code, 3, "exit code")
end)
-- (Offered once the outcome is on screen, after the event.)
T.case("(Offered once the outcome is on screen, after the event.)", function()
  T.wait(function()
    return offered
  end, "the choices for the failed check")
  T.contains(offered, "failed")
  T.wait(function()
    return (T.read(ws.path .. "/paste.txt") or ""):find("something broke", 1, true)
  end, "log sent")
  T.contains(
    T.read(ws.path .. "/paste.txt"),
    "The check `echo something broke; exit 3` fails (exit code 3)"
  )
  T.contains(text(review.panel_buf), "checks: ✗ echo something broke; exit 3 failed (exit 3)")
end)

-- Squash merge: refused while the root checkout is dirty, then done with the edited message.
local message_buf
T.case("Squash merge", function()
  function message_buf(name)
    for _, b in ipairs(api.nvim_list_bufs()) do
      if api.nvim_buf_get_name(b) == name then
        return b
      end
    end
  end
  T.write(repo .. "/README.md", "dirty root\n")
  vim.cmd("ConductorMerge --squash")
  local msg = T.wait(function()
    return message_buf("conductor://rev/COMMIT_MSG")
  end, "the commit message buffer")
  T.eq(vim.bo[msg].filetype, "gitcommit", "gitcommit buffer")
  T.eq(lines(msg)[1], "change line 8", "drafted from the branch's commit")
  api.nvim_buf_set_lines(msg, 0, -1, false, { "Squashed review work", "", "From the review test." })
  api.nvim_buf_call(msg, function()
    vim.cmd("write")
  end)
  T.contains(T.wait_error("could not merge rev"), "uncommitted change")
  T.eq(T.git(repo, "rev-list", "--count", "main"), "2", "main did not move")
  T.ok(api.nvim_buf_is_valid(msg), "the message stays for another try")
  T.git(repo, "checkout", "README.md")
  api.nvim_buf_call(msg, function()
    vim.cmd("write")
  end)
  local merged = T.wait_event("ConductorMerged")
  T.eq(merged.strategy, "squash", "strategy")
  T.eq(merged.workspace.id, ws.id, "event names the workspace")
  T.eq(
    T.git(repo, "log", "-1", "--format=%s", "main"),
    "Squashed review work",
    "main has the squash commit"
  )
  T.eq(T.git(repo, "rev-parse", "main"), merged.commit, "the commit in the event")
  T.ok(not api.nvim_buf_is_valid(msg), "message buffer closed")
end)

-- Pull request: pushed to origin, gh gets the edited title and body.
T.case("Pull request", function()
  vim.cmd("ConductorPR")
  local pr = T.wait(function()
    return message_buf("conductor://rev/PULL_REQUEST")
  end, "the pull request buffer")
  T.eq(lines(pr)[1], "change line 8", "drafted title")
  api.nvim_buf_set_lines(pr, 0, -1, false, { "Review the app", "", "Body of the pull request." })
  api.nvim_buf_call(pr, function()
    vim.cmd("write")
  end)
  local opened_pr = T.wait_event("ConductorPR")
  T.eq(opened_pr.url, "https://github.com/me/repo/pull/7", "URL from gh")
  T.eq(opened_pr.created, true, "created by gh")
  T.eq(
    require("conductor.engine").call("get", { workspace = ws.id }).pr_url,
    opened_pr.url,
    "URL kept"
  )
  T.wait(function()
    return text(review.panel_buf):find("PR: https://github.com/me/repo/pull/7", 1, true)
  end, "PR in the panel")
end)

-- A conflict leaves main as it is, and the agent can be asked to rebase.
T.case("A conflict leaves main as it is, and the agent can be asked to rebase", function()
  T.write(repo .. "/src/app.lua", (app_base:gsub("line 8\n", "line 8 from main\n")))
  T.git(repo, "commit", "-qam", "conflicting change on main")
  local main_before = T.git(repo, "rev-parse", "main")
  vim.cmd("ConductorMerge --merge")
  T.contains(T.wait_error("conflicts in src/app.lua"), "could not merge rev")
  T.wait(function()
    return (T.read(ws.path .. "/paste.txt") or ""):find("Rebase this branch", 1, true)
  end, "asked to rebase")
  T.eq(
    T.read(ws.path .. "/paste.txt"),
    "Rebase this branch (conductor/rev) on main and resolve the conflicts, then commit the result."
  )
  T.eq(T.git(repo, "rev-parse", "main"), main_before, "main untouched by the conflict")
end)

-- q closes the review tab; the worktree buffer stays, without the review's keys.
T.case("q closes the review tab", function()
  api.nvim_set_current_win(review.panel_win)
  api.nvim_input("q")
  T.wait(function()
    return not api.nvim_tabpage_is_valid(review.tab)
  end, "review tab closed")
  T.eq(R.of_workspace(ws.id), nil, "review forgotten")
  T.ok(api.nvim_buf_is_valid(right_buf), "the worktree buffer stays")
  T.eq(
    api.nvim_buf_call(right_buf, function()
      return vim.fn.maparg("gC", "n", false, true).buffer
    end),
    nil,
    "its review keys are gone"
  )
  vim.cmd("split " .. vim.fn.fnameescape(ws.path .. "/src/app.lua"))
  T.eq(api.nvim_get_current_buf(), right_buf, "the same buffer")
  T.eq(vim.wo.winbar, "", "no review winbar follows the buffer")
  T.eq(vim.wo.diff, false, "no diff mode follows the buffer")
end)
