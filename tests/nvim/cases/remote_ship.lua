-- Checks, pull request and merge of a workspace on another machine (a real sshd,
-- tests/e2e/remote.rs): each runs on the host through its engine (its checks in the
-- worktree there, gh there, git there); the messages name the host; a failed check's log
-- stays there and the agent is told where to read it.
local T = require("harness")
local host = require("remote_host")
local api = vim.api

local root = host.root()
local repo = root .. "/repo"
-- The host's gh: records its arguments, prints a pull request URL.
host.write(
  root .. "/gh",
  ("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s\necho https://github.com/me/app/pull/9\n"):format(
    host.quote(root .. "/gh-args.txt")
  )
)
host.sh("chmod +x " .. host.quote(root .. "/gh"))
-- Pushes go to a bare repository there; `origin` keeps its URL (fetch is off).
host.sh(
  ("git init -q --bare %s && git -C %s remote set-url --push origin %s && git -C %s push -q origin main"):format(
    host.quote(root .. "/origin.git"),
    host.quote(repo),
    host.quote(root .. "/origin.git"),
    host.quote(repo)
  )
)
host.setup({
  hosts = {
    box = {
      options = {
        gh = root .. "/gh",
        defaults = { checks = { "echo checking in $PWD", "echo something broke; exit 3" } },
      },
    },
  },
})
for _, e in ipairs({ "ConductorChecksFinished", "ConductorPR", "ConductorMerged" }) do
  T.record(e)
end
local engine = require("conductor.engine")

local function message_buf(name)
  return T.wait(function()
    for _, b in ipairs(api.nvim_list_bufs()) do
      if api.nvim_buf_get_name(b) == name then
        return b
      end
    end
  end, "the buffer " .. name)
end

local ws = host.create("ship")
-- The agent's work: one commit on the branch, made there.
host.write(ws.path .. "/feature.txt", "a feature\n")
host.git(ws.path, "add", "feature.txt")
host.git(
  ws.path,
  "-c",
  "user.name=Agent",
  "-c",
  "user.email=a@example.com",
  "commit",
  "-qm",
  "Add the feature"
)

T.case("Checks run on the host; a failure's log is read from there", function()
  local offered
  local select = vim.ui.select
  vim.ui.select = function(items, _, on_choice)
    offered = items
    on_choice(nil)
  end
  vim.cmd("ConductorCheck box:ship")
  local done = T.wait_event("ConductorChecksFinished")
  T.eq(done.ok, false, "one check fails")
  T.eq(done.results[1].ok, true, "the first passes")
  local err = T.wait_error("box: ship: check `echo something broke; exit 3` failed")
  T.ok(not err:find("\n"), "one line")
  T.wait(function()
    return offered
  end, "what to do about it")
  vim.ui.select = select
  local labels = vim.tbl_map(function(c)
    return c.label
  end, offered)
  T.eq(
    labels,
    { "send the end of its log to box: ship's agent", "show its log" },
    "its log, read through the host's engine"
  )
  local checks = require("conductor.ship.checks")
  local failed = checks.failure(done)
  T.contains(checks.log_tail(failed, ws) or "", "something broke", "the log's end, from the host")
  local prompt = checks.failure_prompt(failed, ws)
  T.contains(prompt, "The end of its output", "the agent gets the output itself")
  T.contains(prompt, "something broke")
  T.contains(host.read(failed.log), "something broke", "the log on the host")
  T.contains(host.read(done.results[1].log), "checking in " .. ws.path, "run in the worktree there")
end)

T.case(":ConductorLog shows the host's script log and follows it", function()
  host.sh(("echo first line >> %s"):format(host.quote(ws.log)))
  local name = ("conductor-log://box/%s/ship"):format(ws.repo_name)
  -- A buffer whose name starts like the log's is not taken for it (bufnr() would).
  local other = vim.api.nvim_create_buf(true, true)
  vim.api.nvim_buf_set_name(other, name .. "-other")
  vim.cmd("ConductorLog box:ship")
  local buf = vim.api.nvim_get_current_buf()
  T.eq(vim.api.nvim_buf_get_name(buf), name, "named for the host and repository")
  T.ok(buf ~= other, "a buffer of its own")
  T.eq(vim.api.nvim_buf_get_lines(other, 0, -1, false), { "" }, "the other buffer untouched")
  T.contains(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"), "first line")
  host.sh(("echo appended there >> %s"):format(host.quote(ws.log)))
  T.wait(function()
    return table
      .concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
      :find("appended there", 1, true)
  end, "the appended line followed", 10000)
  vim.cmd("bwipeout")
end)

T.case("A pull request is pushed and opened from the host", function()
  vim.cmd("ConductorPR box:ship")
  local pr = message_buf("conductor://box:ship/PULL_REQUEST")
  T.eq(api.nvim_buf_get_lines(pr, 0, 1, false)[1], "Add the feature", "drafted on the host")
  api.nvim_buf_set_lines(pr, 0, -1, false, { "The feature", "", "Made on box." })
  api.nvim_buf_call(pr, function()
    vim.cmd("write")
  end)
  local opened = T.wait_event("ConductorPR")
  T.eq(opened.url, "https://github.com/me/app/pull/9", "gh's URL")
  T.eq(vim.split(vim.trim(host.read(root .. "/gh-args.txt")), "\n"), {
    "pr",
    "create",
    "--title",
    "The feature",
    "--body",
    "Made on box.",
    "--base",
    "main",
    "--head",
    ws.branch,
  }, "gh ran on the host")
  T.eq(
    host.git(root .. "/origin.git", "rev-parse", "refs/heads/" .. ws.branch),
    host.git(ws.path, "rev-parse", "HEAD"),
    "pushed from the host"
  )
end)

T.case("Merge runs on the host", function()
  local confirm = vim.fn.confirm
  vim.fn.confirm = function()
    return 1
  end
  vim.cmd("ConductorMerge --ff box:ship")
  local merged = T.wait_event("ConductorMerged")
  vim.fn.confirm = confirm
  T.eq(merged.workspace.id, ws.id, "the event names the workspace")
  T.eq(host.git(repo, "log", "-1", "--format=%s", "main"), "Add the feature", "main moved there")
  T.eq(host.read(repo .. "/feature.txt"), "a feature\n", "its checkout too")
  local said = T.wait(function()
    for _, n in ipairs(T.notes) do
      if n.msg:find("merged " .. ws.branch .. " into main on box", 1, true) then
        return n.msg
      end
    end
  end, "the merge said, naming the host")
  T.ok(said, "said")
  T.eq(#engine.call("list", {}), 0, "nothing in the local engine")
end)
