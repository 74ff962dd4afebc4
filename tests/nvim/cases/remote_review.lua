-- :ConductorReview of a workspace on another machine (a real sshd, tests/e2e/remote.rs):
-- the base side through the host's engine (`blob`), the live side through `file_read`
-- into a `conductor://box/<repo>/<ws>/<path>` buffer whose `:w` writes the file there
-- (`file_write`) unless it changed there since it was read (`:w!` writes over it); a
-- write that fails says so and keeps the buffer modified. Viewed marks,
-- reverting and the commit list go through the host too; nothing here looks at its paths.
local T = require("harness")
local host = require("remote_host")
local api = vim.api

host.setup()
T.record("ConductorReviewOpened")
local engine = require("conductor.engine")
local remote_file = require("conductor.review.remote_file")
local cwd = vim.fn.getcwd()

local function text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local ws = host.create("rev")
local app = ws.path .. "/src/app.lua"
local app_base = host.read(app)
T.ok(app_base, "the worktree on the host has src/app.lua")

-- The agent's work, done on the host as its user: a changed file and a new one.
local app_agent = app_base:gsub("line 8\n", "line 8 changed on the host\n")
host.write(app, app_agent)
host.write(ws.path .. "/notes.txt", "written on the host\n")

local R, review, panel
local function panel_key(path, keys)
  api.nvim_set_current_win(review.panel_win)
  api.nvim_win_set_cursor(review.panel_win, { panel.line_of(review, path), 0 })
  api.nvim_input(keys)
end

T.case("The review tab of a remote workspace", function()
  vim.cmd("ConductorReview box:rev")
  local opened = T.wait_event("ConductorReviewOpened")
  T.eq(opened.workspace.id, ws.id, "the event names the workspace")
  R = require("conductor.review")
  panel = require("conductor.review.panel")
  review = T.wait(function()
    local r = R.current()
    return r
      and r.changes
      and not r.loading
      and not r.changes.cached
      and #r.changes.files == 2
      and r
  end, "the change list from the host")
  -- Its worktree is on the host: the tab stays where Neovim was.
  T.eq(vim.fn.getcwd(-1, vim.fn.tabpagenr()), cwd, "no :tcd to a path on the host")
  T.eq(
    api.nvim_buf_get_name(review.panel_buf),
    "conductor://box:rev/review",
    "the panel names the host"
  )
  T.contains(text(review.panel_buf), "box: rev · branch changes", "the panel's title")
end)

local right
T.case("The live side is read through the host's engine", function()
  panel_key("src/app.lua", "<CR>")
  T.wait(function()
    return review.file and review.file.path == "src/app.lua"
  end, "src/app.lua shown")
  right = api.nvim_win_get_buf(review.right)
  T.eq(
    api.nvim_buf_get_name(right),
    ("conductor://box/%s/rev/src/app.lua"):format(ws.repo_name),
    "the live buffer's name: host, repository, workspace, path"
  )
  T.eq(vim.bo[right].buftype, "acwrite", "written through the engine")
  T.eq(vim.bo[right].modified, false, "not modified")
  T.eq(vim.bo[right].filetype, "lua", "filetype from the path")
  T.eq(text(right) .. "\n", app_agent, "the host's edit is on the right")
  local left = api.nvim_win_get_buf(review.left)
  T.eq(text(left) .. "\n", app_base, "the base on the left")
  T.eq(vim.wo[review.left].diff and vim.wo[review.right].diff, true, "in diff mode")
  for _, buf in ipairs(api.nvim_list_bufs()) do
    T.ok(
      not vim.startswith(api.nvim_buf_get_name(buf), ws.path),
      "no buffer of a host path here: " .. api.nvim_buf_get_name(buf)
    )
  end
end)

T.case("An edit made on the host meanwhile shows on refresh", function()
  app_agent = app_agent:gsub("line 2\n", "line 2 changed on the host too\n")
  host.write(app, app_agent)
  api.nvim_set_current_win(review.panel_win)
  api.nvim_input("R")
  T.wait(function()
    return text(right) .. "\n" == app_agent
  end, "the buffer read again from the host")
end)

T.case(":edit! reads it from the host again", function()
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- to be thrown away" })
  api.nvim_buf_call(right, function()
    vim.cmd("edit!")
  end)
  T.eq(text(right) .. "\n", app_agent, "the host's text")
  T.eq(vim.bo[right].modified, false, "not modified")
  T.eq(vim.bo[right].buftype, "acwrite", "still written through the engine")
end)

T.case(":w on the live side writes the file on the host", function()
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- edited in the review" })
  T.eq(vim.bo[right].modified, true, "modified")
  api.nvim_buf_call(right, function()
    vim.cmd("write")
  end)
  local want = app_agent:gsub("^%-%- app\n", "-- edited in the review\n")
  T.eq(host.read(app), want, "the file on the host")
  T.eq(vim.bo[right].modified, false, "written")
  T.eq(
    vim.trim(host.sh("stat -c %U " .. host.quote(app))),
    "conductor-remote",
    "the host's user wrote it"
  )
  app_agent = want
end)

-- How many notes said since note `from` contain `needle` (notes are sent from the event
-- loop: waits for the first, then a little for more).
local function said_since(from, needle)
  local function count()
    local n = 0
    for i = from + 1, #T.notes do
      if T.notes[i].msg:find(needle, 1, true) then
        n = n + 1
      end
    end
    return n
  end
  vim.wait(2000, function()
    return count() > 0
  end)
  vim.wait(100)
  return count()
end

T.case("An automatic reload keeps the undo history", function()
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- undoable" })
  api.nvim_buf_call(right, function()
    vim.cmd("write")
  end)
  app_agent = host.read(app)
  T.ok(#vim.fn.undotree(right).entries > 0, "an undo history")
  app_agent = app_agent:gsub("line 3\n", "line 3 changed on the host\n")
  host.write(app, app_agent)
  remote_file.reload(right)
  T.eq(text(right) .. "\n", app_agent, "read again")
  T.eq(vim.bo[right].modified, false, "not modified")
  T.ok(#vim.fn.undotree(right).entries > 0, "the undo history is still there")
  T.eq(
    vim.b[right].conductor_remote_sha,
    vim.trim(host.git(ws.path, "hash-object", "src/app.lua")),
    "the buffer knows the blob id of what it was read from"
  )
end)

T.case("A file changed on the host since it was read is not written over", function()
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- edited here meanwhile" })
  local there = app_agent:gsub("line 4\n", "line 4 changed there meanwhile\n")
  local notes = #T.notes
  host.write(app, there)
  -- A refresh says so, once.
  remote_file.reload(right)
  remote_file.reload(right)
  T.eq(
    said_since(notes, "changed on the host and this buffer has unsaved changes"),
    1,
    "warned once"
  )
  T.eq(vim.bo[right].modified, true, "the buffer keeps its changes")
  notes = #T.notes
  api.nvim_buf_call(right, function()
    vim.cmd("write")
  end)
  local err = T.wait_error("changed on the host since it was read")
  T.ok(not err:find("\n"), "one line: " .. err)
  T.contains(err, ":e! reads it again, :w! writes over it")
  T.ok(#T.notes > notes, "said now")
  T.eq(host.read(app), there, "the file on the host is unchanged")
  T.eq(vim.bo[right].modified, true, "still modified")
  api.nvim_buf_call(right, function()
    vim.cmd("write!")
  end)
  T.eq(vim.bo[right].modified, false, ":w! wrote it")
  app_agent = app_agent:gsub("^[^\n]*\n", "-- edited here meanwhile\n")
  T.eq(host.read(app), app_agent, "over the host's change")
  -- The next :w goes from what :w! wrote.
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- and again" })
  api.nvim_buf_call(right, function()
    vim.cmd("write")
  end)
  T.eq(vim.bo[right].modified, false, "written")
  app_agent = app_agent:gsub("^[^\n]*\n", "-- and again\n")
  T.eq(host.read(app), app_agent, "on the host")
end)

T.case(":w {file} writes a copy here, not the host file", function()
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- the copy's" })
  local copy = vim.fn.tempname() .. ".lua"
  api.nvim_buf_call(right, function()
    vim.cmd("write " .. vim.fn.fnameescape(copy))
  end)
  local want = app_agent:gsub("^[^\n]*\n", "-- the copy's\n")
  T.eq(T.read(copy), want, "the copy here")
  T.eq(host.read(app), app_agent, "the host file untouched")
  T.eq(vim.bo[right].modified, true, "the buffer still differs from the host file")
  api.nvim_buf_call(right, function()
    vim.cmd("edit!")
  end)
end)

T.case("A file that is one newline stays one newline", function()
  host.write(ws.path .. "/nl.txt", "\n")
  local buf = assert(remote_file.open(ws, "nl.txt"))
  T.eq(api.nvim_buf_get_lines(buf, 0, -1, false), { "" }, "one empty line")
  api.nvim_buf_call(buf, function()
    vim.cmd("write")
  end)
  T.eq(host.read(ws.path .. "/nl.txt"), "\n", "written back as it was")
  host.write(ws.path .. "/empty.txt", "")
  local empty = assert(remote_file.open(ws, "empty.txt"))
  api.nvim_buf_call(empty, function()
    vim.cmd("write")
  end)
  T.eq(host.read(ws.path .. "/empty.txt"), "", "an empty file stays empty")
end)

T.case(":e! of a file deleted on the host says so; :w does not write it empty", function()
  host.write(ws.path .. "/gone.txt", "soon gone\n")
  local buf = assert(remote_file.open(ws, "gone.txt"))
  host.sh("rm " .. host.quote(ws.path .. "/gone.txt"))
  local notes = #T.notes
  api.nvim_buf_call(buf, function()
    vim.cmd("edit!")
  end)
  T.eq(said_since(notes, "gone.txt was deleted on the host"), 1, "said")
  api.nvim_buf_call(buf, function()
    vim.cmd("write")
  end)
  T.wait_error("was deleted on the host: nothing written")
  T.eq(host.read(ws.path .. "/gone.txt"), nil, "not made again empty")
end)

T.case("A file that is not UTF-8 opens read-only and says it cannot be saved", function()
  host.sh(("printf 'caf\\351\\n' > %s"):format(host.quote(ws.path .. "/latin1.txt")))
  local notes = #T.notes
  local buf = assert(remote_file.open(ws, "latin1.txt"))
  T.eq(vim.bo[buf].readonly, true, "read-only")
  T.eq(vim.bo[buf].modifiable, false, "not modifiable")
  T.eq(
    said_since(notes, "latin1.txt is not UTF-8: shown read-only, it cannot be saved from here"),
    1,
    "said"
  )
  for _, f in ipairs({ "nl.txt", "empty.txt", "gone.txt", "latin1.txt" }) do
    local b = require("conductor.bufs").find(remote_file.name(ws, f))
    if b then
      api.nvim_buf_delete(b, { force = true })
    end
  end
  host.sh(
    ("rm -f %s/nl.txt %s/empty.txt %s/latin1.txt"):format(
      host.quote(ws.path),
      host.quote(ws.path),
      host.quote(ws.path)
    )
  )
end)

T.case("A write that fails says so and keeps the buffer modified", function()
  -- Neither the file nor its directory writable: no way to write it there.
  host.sh(("chmod a-w %s %s"):format(host.quote(app), host.quote(ws.path .. "/src")))
  api.nvim_buf_set_lines(right, 0, 1, false, { "-- not to be written" })
  local notes = #T.notes
  api.nvim_buf_call(right, function()
    vim.cmd("write")
  end)
  local err = T.wait_error("could not write box:rev/src/app.lua")
  T.ok(not err:find("\n"), "one line: " .. err)
  T.ok(#T.notes > notes, "said so")
  T.eq(vim.bo[right].modified, true, "still modified")
  T.eq(host.read(app), app_agent, "the file on the host is unchanged")
  host.sh(("chmod u+w %s %s"):format(host.quote(app), host.quote(ws.path .. "/src")))
  api.nvim_buf_call(right, function()
    vim.cmd("write")
  end)
  T.eq(vim.bo[right].modified, false, "written once it can be")
  app_agent = app_agent:gsub("^[^\n]*\n", "-- not to be written\n")
  T.eq(host.read(app), app_agent, "the second :w reached the host")
end)

T.case("Viewed marks are kept by the host's engine", function()
  panel_key("src/app.lua", "v")
  T.wait(function()
    return review.viewed["src/app.lua"]
  end, "marked viewed")
  T.eq(engine.call("get", { workspace = ws.id }).viewed, { "src/app.lua" }, "in the host's record")
end)

T.case("The commit list comes from the host", function()
  host.git(
    ws.path,
    "-c",
    "user.name=A",
    "-c",
    "user.email=a@example.com",
    "commit",
    "--allow-empty",
    "-qm",
    "made there"
  )
  local offered
  local select = vim.ui.select
  vim.ui.select = function(items, _, on_choice)
    offered = items
    on_choice(nil)
  end
  api.nvim_set_current_win(review.panel_win)
  require("conductor.review.actions").run("pick_commit", review)
  T.wait(function()
    return offered
  end, "the commits offered")
  vim.ui.select = select
  T.eq(#offered, 1, "one commit on the branch")
  T.eq(offered[1].subject, "made there", "the host's commit")
end)

T.case("Reverting a file puts the base back on the host and in the buffer", function()
  local confirm = vim.fn.confirm
  vim.fn.confirm = function()
    return 1
  end
  panel_key("src/app.lua", "X")
  T.wait(function()
    return host.read(app) == app_base
  end, "the file back to its base on the host")
  vim.fn.confirm = confirm
  T.wait(function()
    return text(right) .. "\n" == app_base and not vim.bo[right].modified
  end, "the buffer read again")
  T.wait(function()
    return not review.loading and #review.changes.files == 1
  end, "one change left")
  T.eq(review.changes.files[1].path, "notes.txt", "the new file is left")
end)

T.case("Nothing of the host's paths was looked at here", function()
  T.eq(vim.fn.getcwd(), cwd, "Neovim's directory")
  T.eq(#engine.call("list", {}), 0, "no workspace made by the local engine")
end)

-- (Last: it opens the agent's tab, labelled "box: rev"; like the review's, it has no :tcd,
-- the worktree's path being one on the host.)
T.case("Comments go to the agent running on the host", function()
  local s = require("conductor.agent").start(ws, "fake", "review me")
  T.wait(function()
    return text(s.buf):find("PROMPT: review me", 1, true)
  end, "the agent's banner")
  require("conductor.review.comments").add(ws.id, {
    path = "notes.txt",
    line1 = 1,
    line2 = 1,
    code = { "written on the host" },
    text = "say where it was written",
  })
  vim.cmd("ConductorSendComments box:rev")
  T.wait(function()
    local pasted = host.read(ws.path .. "/paste.txt")
    return pasted and pasted:find("say where it was written", 1, true)
  end, "the comments pasted into the agent there")
  T.contains(host.read(ws.path .. "/paste.txt"), "notes.txt:1", "where")
  local said = T.wait(function()
    for _, n in ipairs(T.notes) do
      if n.msg:find("sent 1 review comment to box:rev/fake", 1, true) then
        return n.msg
      end
    end
  end, "the comments said sent, naming the host")
  T.ok(said, "said")
end)
