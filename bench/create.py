"""Workspace creation on a ~50k-file repository vs `git worktree add` on the same repository,
in the same run, and the editor's RPC round-trip latency while the workspace is created."""
import json
import os
import shutil
import statistics
import time

from common import Editor, big_repo, git, p95, timed, OUT

FILES = int(os.environ.get("BENCH_FILES", "50000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def main():
    repo = big_repo(FILES)
    baseline, ours, pings, idle = [], [], [], []
    for run in range(RUNS):
        # Baseline: the git CLI creating a worktree and branch for the same commit.
        target = os.path.join(OUT, f"wt-baseline-{run}")
        shutil.rmtree(target, ignore_errors=True)
        baseline.append(timed(lambda: git(repo, "worktree", "add", "-q", "-b", f"bench-baseline-{run}", target)))
        git(repo, "worktree", "remove", "--force", target)
        git(repo, "branch", "-D", f"bench-baseline-{run}")

        # Ours: :ConductorNew in a headless Neovim, timed until the workspace's tab opens.
        ed = Editor(repo)
        try:
            n = ed.nvim
            n.exec_lua("""
              vim.g.bench_done = false
              vim.api.nvim_create_autocmd('User', { pattern = 'ConductorWorkspaceCreated',
                callback = function() vim.g.bench_done = true end })
              require('conductor.engine').load()
            """)
            idle.extend(ed.ping_ms() for _ in range(50))
            start = time.perf_counter()
            n.command(f"ConductorNew --name=bench-{run} benchmark run {run}")
            while True:
                t = time.perf_counter()
                done = n.eval("g:bench_done")
                pings.append((time.perf_counter() - t) * 1000)
                if done:
                    break
                time.sleep(0.005)
            ours.append(time.perf_counter() - start)
        finally:
            ed.close()
        # Clean up with git directly (delete asks for confirmation in the UI).
        ws = [l for l in git(repo, "worktree", "list", "--porcelain").stdout.decode().splitlines()
              if l.startswith("worktree ") and l.endswith(f"/bench-{run}")]
        for l in ws:
            git(repo, "worktree", "remove", "--force", l.split(" ", 1)[1])
        git(repo, "branch", "-D", f"conductor/bench-{run}")

    result = {
        "bench": "create_workspace",
        "files": FILES,
        "runs": RUNS,
        "git_worktree_add_s": round(statistics.median(baseline), 3),
        "conductor_new_s": round(statistics.median(ours), 3),
        "ratio": round(statistics.median(ours) / statistics.median(baseline), 2),
        "rpc_idle_p95_ms": round(p95(idle), 2),
        "rpc_during_create_p95_ms": round(p95(pings), 2),
        "rpc_during_create_max_ms": round(max(pings), 2),
        "rpc_samples": len(pings),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
