"""Fanout: time to have 5 workspaces with running agents on a 3k-file repository (one
:ConductorFanout buffer written) vs five sequential `git worktree add` runs on the same
repository, in the same run."""
import json
import os
import shutil
import statistics

from common import Editor, OUT, big_repo, git, timed

FILES = int(os.environ.get("BENCH_FILES", "3000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))

FANOUT = """
local concurrency, run = ...
require('conductor').setup({
  default_agent = 'sleeper',
  agents = { sleeper = { cmd = { 'sleep', '3600' }, prompt = 'none' } },
  fanout = { concurrency = concurrency },
})
local agents = require('conductor.agent')
vim.cmd('ConductorFanout')
local lines = {}
for i = 1, 5 do
  vim.list_extend(lines, { ('#r%d-t%d task number %d'):format(run, i, i), '' })
end
vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)
local t0 = vim.uv.hrtime()
vim.cmd('write')
local ok = vim.wait(120000, function()
  local live = 0
  for _, a in ipairs(agents.list(nil, 'agent')) do
    if a.state ~= 'exited' then live = live + 1 end
  end
  return live >= 5
end, 2)
return { ok, (vim.uv.hrtime() - t0) / 1e9 }
"""


def main():
    repo = big_repo(FILES)
    baseline, ours = [], []
    for run in range(RUNS):
        targets = [os.path.join(OUT, f"fanout-baseline-{run}-{i}") for i in range(5)]

        def five():
            for i, t in enumerate(targets):
                git(repo, "worktree", "add", "-q", "-b", f"fanout-baseline-{run}-{i}", t)

        baseline.append(timed(five))
        for i, t in enumerate(targets):
            git(repo, "worktree", "remove", "--force", t)
            git(repo, "branch", "-D", f"fanout-baseline-{run}-{i}")

        ed = Editor(repo)
        try:
            ok, seconds = ed.nvim.exec_lua(FANOUT, CONCURRENCY, run)
            if not ok:
                raise SystemExit("the five agents never ran")
            ours.append(seconds)
        finally:
            ed.close()
        for line in git(repo, "worktree", "list", "--porcelain").stdout.decode().splitlines():
            if line.startswith("worktree ") and f"/r{run}-t" in line:
                git(repo, "worktree", "remove", "--force", line.split(" ", 1)[1])
        for i in range(1, 6):
            git(repo, "branch", "-D", f"conductor/r{run}-t{i}")
    print(json.dumps({
        "bench": "fanout_five",
        "files": FILES,
        "runs": RUNS,
        "concurrency": CONCURRENCY,
        "five_git_worktree_add_s": round(statistics.median(baseline), 3),
        "fanout_five_agents_running_s": round(statistics.median(ours), 3),
        "ratio": round(statistics.median(ours) / statistics.median(baseline), 2),
    }))


if __name__ == "__main__":
    main()
