"""Time to first full screen of each real agent CLI, in an agent terminal vs Neovim's own
:terminal, in the same editor session.

Each CLI (codex, claude, gemini, opencode; from .agents/, which `./dev test --real-agents`
installs, else PATH) is started offline with a fake key in a temporary home, exactly as
tests/e2e/real_agents.rs does, with the first prompt as its argument. "First full
screen" is the moment its screen shows that prompt (it has drawn its input or
transcript around it). Ours: `require("conductor.agent").start` in a workspace;
baseline: `jobstart(argv, { term = true })` in the same worktree, in a window of the same
size. Runs alternate which goes first; the median of BENCH_RUNS runs is reported.
"""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from common import Editor, OUT, ROOT, git, tiny_repo

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
KEY = "sk-ant-api03-conductor-offline-test-key-0000"
PROMPT = "reply with the word pineapple"
BIN = os.path.join(ROOT, ".agents", "node_modules", ".bin")
ARGV = {
    "codex": ["codex", "--no-daemon", PROMPT],
    "claude": ["claude", PROMPT],
    "gemini": ["gemini", "-i", PROMPT],
    "opencode": ["opencode", "--prompt", PROMPT],
}


def find(name):
    local = os.path.join(BIN, name)
    return local if os.path.exists(local) else shutil.which(name)



def offline_home(repo):
    home = tempfile.mkdtemp(prefix="agents-home-", dir=OUT)
    os.makedirs(os.path.join(home, ".codex"))
    os.makedirs(os.path.join(home, ".gemini"))
    with open(os.path.join(home, ".claude.json"), "w") as f:
        json.dump({"hasCompletedOnboarding": True,
                   "customApiKeyResponses": {"approved": [KEY[-20:]], "rejected": []},
                   "projects": {repo: {"hasTrustDialogAccepted": True}}}, f)
    with open(os.path.join(home, ".codex", "config.toml"), "w") as f:
        f.write(f'[projects."{repo}"]\ntrust_level = "trusted"\n')
    with open(os.path.join(home, ".gemini", "settings.json"), "w") as f:
        f.write('{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
    codex = find("codex")
    if codex:
        subprocess.run([codex, "login", "--with-api-key"], input=KEY.encode(), env=dict(os.environ, HOME=home),
                       capture_output=True, check=True)
    return home


SETUP = """
require('conductor').setup({ agents = {
  sleeper = { cmd = { 'sleep', '3600' }, prompt = 'none' },
  codex = { trust_worktrees = true }, claude = { trust_worktrees = true },
} })
vim.o.columns, vim.o.lines = 140, 45
vim.api.nvim_create_autocmd('User', { pattern = 'ConductorWorkspaceCreated',
  callback = function(ev) vim.g.bench_ws = ev.data end })
vim.cmd('ConductorNew --agent=sleeper --name=bench-agents bench')
"""

# Starts `name` (ours) or `argv` in a :terminal, then polls its buffer every 5 ms for the
# prompt; vim.g.bench_ms gets the time from the start call to the first screen showing it.
START = """
local how, name, argv, cwd, marker, prompt = ...
vim.g.bench_ms = vim.NIL
local ws = vim.g.bench_ws
-- Both in the same place: a vertical split beside the workspace's first agent.
require('conductor.layout').open(ws)
local buf
local t0 = vim.uv.hrtime()
if how == 'ours' then
  local s = require('conductor.agent').start(ws, name, prompt)
  buf = s.buf
  vim.g.bench_session = s.id
else
  vim.cmd('rightbelow vsplit | enew')
  buf = vim.api.nvim_get_current_buf()
  vim.g.bench_job = vim.fn.jobstart(argv, { term = true, cwd = cwd })
end
vim.g.bench_buf = buf
local timer = vim.uv.new_timer()
timer:start(5, 5, vim.schedule_wrap(function()
  if not vim.api.nvim_buf_is_valid(buf) then return timer:stop() end
  local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\\n')
  if text:find(marker, 1, true) then
    vim.g.bench_ms = (vim.uv.hrtime() - t0) / 1e6
    timer:stop()
  end
end))
"""

STOP = """
local how = ...
if how == 'ours' then
  require('conductor.agent').kill(vim.g.bench_session)
else
  vim.fn.jobstop(vim.g.bench_job)
end
for _, w in ipairs(vim.fn.win_findbuf(vim.g.bench_buf)) do
  vim.api.nvim_win_close(w, true)
end
"""


def measure(ed, how, name, argv, cwd):
    ed.nvim.exec_lua(START, how, name, argv, cwd, "pineapple", PROMPT)
    deadline = time.time() + 60
    ms = None
    while time.time() < deadline:
        ms = ed.nvim.vars.get("bench_ms")
        if ms is not None:
            break
        time.sleep(0.05)
    ed.nvim.exec_lua(STOP, how)
    time.sleep(1.5)  # let it end before the next start in the same worktree
    return ms


def main():
    repo = tiny_repo()
    home = offline_home(repo)
    os.environ.update(HOME=home, ANTHROPIC_API_KEY=KEY, GEMINI_API_KEY=KEY, DISABLE_AUTOUPDATER="1",
                      GEMINI_CLI_TRUST_WORKSPACE="true", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    ed = Editor(repo)
    try:
        ed.nvim.exec_lua(SETUP)
        for _ in range(500):
            if ed.nvim.vars.get("bench_ws"):
                break
            time.sleep(0.02)
        ws = ed.nvim.vars["bench_ws"]
        for name, argv in ARGV.items():
            if not find(name):
                print(json.dumps({"bench": "agent_first_screen", "agent": name, "skipped": "not installed"}))
                continue
            ours, theirs = [], []
            for i in range(RUNS):
                order = [("ours", ours), ("terminal", theirs)]
                if i % 2:
                    order.reverse()
                for how, out in order:
                    ms = measure(ed, how, name, argv, ws["path"])
                    if ms is not None:
                        out.append(ms)
            print(json.dumps({
                "bench": "agent_first_screen", "agent": name, "runs": RUNS,
                "ours_ms": round(statistics.median(ours)) if ours else None,
                "terminal_ms": round(statistics.median(theirs)) if theirs else None,
                "ours_all": [round(x) for x in ours], "terminal_all": [round(x) for x in theirs],
            }), flush=True)
    finally:
        ed.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
