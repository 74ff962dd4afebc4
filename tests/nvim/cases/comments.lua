-- Review comments survive a restart of Neovim: phase "write" makes a workspace and
-- comments on it in the review; phase "read", in a new Neovim, finds them, sends them,
-- and finds them marked sent.
local T = require("harness")
local fake = vim.env.CONDUCTOR_FAKE_AGENT
require("conductor").setup({
  default_agent = "fake",
  agents = { fake = { cmd = { fake }, prompt = "arg" } },
})
local comments = require("conductor.review.comments")
if vim.env.CONDUCTOR_PHASE == "write" then
  T.case("write: a workspace with two comments on it", function()
    T.record("ConductorWorkspaceCreated")
    vim.cmd("ConductorNew --name=kept a task")
    local ws = T.wait_event("ConductorWorkspaceCreated")
    T.write(ws.path .. "/README.md", "hello\nchanged\n")
    comments.add(
      ws.id,
      { path = "README.md", line1 = 2, code = { "changed" }, text = "why this line?" }
    )
    comments.add(ws.id, { path = "README.md", text = "and the file as a whole" })
    T.eq(#comments.list(ws.id), 2, "two comments")
  end)
else
  T.case("read: the comments are back after the restart, sent, and marked sent", function()
    local ws = require("conductor.workspace").get("kept")
    local list = comments.list(ws.id)
    T.eq(#list, 2, "both comments are back after the restart")
    T.eq(list[1].text, "why this line?", "their text")
    T.eq(list[1].line1, 2, "their place")
    T.eq(list[1].code, { "changed" }, "their code")
    vim.cmd("ConductorOpen kept")
    local agents = require("conductor.agent")
    T.wait(function()
      return #agents.list(ws.id, "agent") == 1
    end, "the agent")
    local buf = agents.list(ws.id, "agent")[1].buf
    T.wait(function()
      return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"):find("> ", 1, true)
    end, "the agent's prompt")
    vim.cmd("ConductorSendComments kept")
    T.wait(function()
      return T.read(ws.path .. "/paste.txt")
    end, "the comments pasted to the agent")
    T.ok(T.read(ws.path .. "/paste.txt"):find("why this line?", 1, true), "sent")
    local saved = vim.json.decode(T.read(comments.file(ws.id)))
    T.eq(saved[1].sent, true, "marked sent on disk")
  end)
end
