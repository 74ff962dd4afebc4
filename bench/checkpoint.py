"""Checkpoints: recording one agent turn in a 20k-file worktree (50 files changed, a few
untracked) vs the same work done by git (`git add -A` into a scratch index + `git
write-tree`) in the same run, and Neovim's RPC round trip while a turn is recorded."""
import json
import os
import shutil
import statistics
import subprocess
import tempfile

from common import Editor, big_repo, git, p95, timed

FILES = int(os.environ.get("BENCH_FILES", "20000"))
CHANGED = int(os.environ.get("BENCH_CHANGED", "50"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

CHECKPOINT = """
local id = ...
local t0, done = vim.uv.hrtime(), nil
require('conductor.engine').request('checkpoint', { workspace = id, agent = 'bench' },
  function(err, r) done = err or r or false end)
vim.wait(60000, function() return done ~= nil end, 1)
return { (vim.uv.hrtime() - t0) / 1e6, done }
"""


def baseline(path):
    scratch = tempfile.mkdtemp()
    try:
        env = dict(os.environ, GIT_INDEX_FILE=os.path.join(scratch, "index"))
        shutil.copy(os.path.join(git(path, "rev-parse", "--git-dir").stdout.decode().strip(), "index"), env["GIT_INDEX_FILE"])
        subprocess.run(["git", "-C", path, "add", "-A"], env=env, check=True)
        subprocess.run(["git", "-C", path, "write-tree"], env=env, check=True, capture_output=True)
    finally:
        shutil.rmtree(scratch)


def main():
    repo = big_repo(FILES)
    ed = Editor(repo)
    try:
        n = ed.nvim
        ws = ed.sleeper_workspace("turns")
        path = ws["path"]
        files = [f for f in git(path, "ls-files").stdout.decode().split() if f.endswith(".txt")]
        git_s, ours_s, pings = [], [], []
        for run in range(RUNS):
            for i, f in enumerate(files[run * CHANGED:(run + 1) * CHANGED]):
                with open(os.path.join(path, f), "a") as fh:
                    fh.write(f"turn {run} change {i}\n")
            with open(os.path.join(path, f"new-{run}.txt"), "w") as fh:
                fh.write("untracked\n")
            git_s.append(timed(lambda: baseline(path)))
            ms, turn = n.exec_lua(CHECKPOINT, ws["id"])
            assert isinstance(turn, int), turn
            ours_s.append(ms / 1000)
        # The UI stays responsive while a turn is recorded: round trips from a second
        # client of the same Neovim while the first waits on the recording.
        for f in files[RUNS * CHANGED:(RUNS + 1) * CHANGED]:
            with open(os.path.join(path, f), "a") as fh:
                fh.write("last turn\n")
        n.exec_lua("_G.bench_done = nil; require('conductor.engine').request('checkpoint', { workspace = ..., agent = 'bench' }, function() _G.bench_done = true end)", ws["id"])
        while not n.exec_lua("return _G.bench_done"):
            pings.append(ed.ping_ms())
    finally:
        ed.close()
    result = {
        "bench": "checkpoint",
        "files": FILES,
        "changed_per_turn": CHANGED,
        "runs": RUNS,
        "git_add_write_tree_s": round(statistics.median(git_s), 3),
        "conductor_checkpoint_s": round(statistics.median(ours_s), 3),
        "ratio": round(statistics.median(ours_s) / statistics.median(git_s), 2),
        "rpc_ms_p95_while_recording": round(p95(pings), 2) if pings else None,
        "rpc_samples": len(pings),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
