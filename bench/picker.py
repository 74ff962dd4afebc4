"""Picker open time with 100 workspaces (four repositories, 25 each) in the shared state
file: from the `:Conductor` call to `vim.ui.select` receiving the items with their rows
formatted, timed inside Neovim with vim.uv.hrtime (no RPC in the measure).
  cold   the first `:Conductor` of a fresh Neovim: loads the Lua modules and the engine
         library, starts the engine, then lists;
  warm   every later `:Conductor`.
Baseline, same run: plain Lua reading and decoding the same state file (vim.json), the
least any picker showing the shared state can cost."""
import json
import os
import statistics
import tempfile

from common import Editor, p95

COUNT = int(os.environ.get("BENCH_WORKSPACES", "100"))
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "10"))
WARM_RUNS = int(os.environ.get("BENCH_RUNS", "200"))

MEASURE = """
local rows
vim.ui.select = function(items, opts)
  _G.bench_t1 = vim.uv.hrtime()
  rows = #items
  _G.bench_first = opts.format_item(items[1])
end
local t0 = vim.uv.hrtime()
vim.cmd("Conductor")
return { (_G.bench_t1 - t0) / 1e6, rows, _G.bench_first }
"""

BASELINE = """
local path = ...
local t0 = vim.uv.hrtime()
local f = io.open(path, "rb")
local state = vim.json.decode(f:read("*a"))
f:close()
local n = #state.workspaces
return { (vim.uv.hrtime() - t0) / 1e6, n }
"""


def fake_state(root):
    """COUNT active workspaces in four repositories, as the engine writes them."""
    workspaces = []
    for i in range(COUNT):
        repo = f"repo{i % 4}"
        name = f"task-{i:03d}"
        workspaces.append({
            "id": f"{i:08x}", "name": name, "repo_root": f"{root}/{repo}", "repo_name": repo,
            "path": f"{root}/ws/{repo}/{name}", "branch": f"conductor/{name}", "base_branch": "main",
            "base_commit": "0" * 40, "task": f"benchmark task number {i}", "agent": None,
            "port": 55000 + 10 * i, "state": "active", "created_at": 1700000000 + i,
            "archived_at": None, "snapshot_ref": None, "log": f"{root}/logs/{i:08x}.log",
            "setup": "ok", "worktree": name,
        })
    return {"version": 1, "workspaces": workspaces}


def main():
    cold, warm, base = [], [], []
    rows = first = None
    for run in range(COLD_RUNS):
        cwd = tempfile.mkdtemp(prefix="conductor-bench-picker-")
        ed = Editor(cwd)
        try:
            state_dir = os.path.join(ed.tmp, "state", "nvim", "conductor")
            os.makedirs(state_dir, exist_ok=True)
            state_file = os.path.join(state_dir, "state.json")
            with open(state_file, "w") as f:
                json.dump(fake_state(cwd), f, indent=2)
            ms, rows, first = ed.nvim.exec_lua(MEASURE)
            cold.append(ms)
            if run == 0:
                for _ in range(WARM_RUNS):
                    warm.append(ed.nvim.exec_lua(MEASURE)[0])
                    base.append(ed.nvim.exec_lua(BASELINE, state_file)[0])
        finally:
            ed.close()
            os.rmdir(cwd)
    assert rows == COUNT, f"the picker listed {rows} rows, expected {COUNT}"
    result = {
        "bench": "picker_open",
        "workspaces": COUNT,
        "first_row": first,
        "cold_runs": COLD_RUNS,
        "cold_median_ms": round(statistics.median(cold), 2),
        "cold_max_ms": round(max(cold), 2),
        "warm_runs": WARM_RUNS,
        "warm_median_ms": round(statistics.median(warm), 2),
        "warm_p95_ms": round(p95(warm), 2),
        "baseline_json_decode_median_ms": round(statistics.median(base), 2),
        "baseline_json_decode_p95_ms": round(p95(base), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
