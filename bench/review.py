"""Review: the change list with +/- stats for 1,000 changed files vs `git diff --numstat`
on the same worktree in the same run, and the time from :ConductorReview to the first
diff on screen."""
import json
import os
import statistics
import subprocess

from common import Editor, big_repo, git, timed

FILES = int(os.environ.get("BENCH_FILES", "5000"))
CHANGED = int(os.environ.get("BENCH_CHANGED", "1000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

CHANGES = """
local id = ...
local t0, done = vim.uv.hrtime(), nil
require('conductor.engine').request('changes', { workspace = id }, function(err, r) done = r or err end)
vim.wait(60000, function() return done ~= nil end, 1)
return { (vim.uv.hrtime() - t0) / 1e6, type(done) == 'table' and #done.files or -1 }
"""

FIRST_DIFF = """
local id = ...
vim.cmd('tabfirst')
local t0 = vim.uv.hrtime()
vim.cmd('ConductorReview ' .. id)
vim.wait(60000, function()
  local n = 0
  for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.wo[w].diff and vim.api.nvim_buf_line_count(vim.api.nvim_win_get_buf(w)) > 0 then n = n + 1 end
  end
  return n >= 2
end, 1)
local ms = (vim.uv.hrtime() - t0) / 1e6
vim.cmd('tabclose')
return ms
"""


def main():
    repo = big_repo(FILES)
    ed = Editor(repo)
    try:
        n = ed.nvim
        ws = ed.sleeper_workspace("review")
        path = ws["path"]
        files = sorted(subprocess.run(["git", "-C", path, "ls-files"], capture_output=True, text=True).stdout.split())
        files = [f for f in files if f.endswith(".txt")][:CHANGED]
        for i, f in enumerate(files):
            with open(os.path.join(path, f), "a") as fh:
                fh.write(f"changed {i}\n")
            if i == CHANGED // 2:
                git(path, "add", "-A")
                git(path, "commit", "-qm", "half of the changes")
        base = git(path, "merge-base", "HEAD", "main").stdout.decode().strip()
        baseline, ours, listed, first_diff = [], [], None, []
        for _ in range(RUNS):
            baseline.append(timed(lambda: git(path, "diff", "--numstat", base)))
            ms, listed = n.exec_lua(CHANGES, ws["id"])
            ours.append(ms / 1000)
        for _ in range(3):
            first_diff.append(n.exec_lua(FIRST_DIFF, ws["id"]))
    finally:
        ed.close()
    result = {
        "bench": "review_changes",
        "files": FILES,
        "changed": CHANGED,
        "listed": listed,
        "runs": RUNS,
        "git_diff_numstat_s": round(statistics.median(baseline), 3),
        "conductor_changes_s": round(statistics.median(ours), 3),
        "ratio": round(statistics.median(ours) / statistics.median(baseline), 2),
        "review_first_diff_ms": round(statistics.median(first_diff), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
