"""Agent output throughput and editor responsiveness.

1. `cat` of a 50 MB text file through an agent terminal (PTY in the engine process,
   output over its socket to Neovim's client thread, fed to nvim_open_term) vs Neovim's
   own :terminal running the same command, in the same editor session: time until the
   file's last line is in the buffer, whether every line before it arrived, and the RPC
   round-trip p95 while the flood is shown.
2. CPU time of the editor process plus the engine process with 10 idle agents over 30 s
   (vs the same two with none).
"""
import json
import os
import statistics
import time

from common import Editor, OUT, cpu_seconds, git, p95, tiny_repo

MB = int(os.environ.get("BENCH_MB", "50"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
IDLE_SECONDS = int(os.environ.get("BENCH_IDLE_SECONDS", "30"))


def make_file():
    path = os.path.join(OUT, f"flood-{MB}mb.txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            n, size = 0, 0
            while size < MB * 1024 * 1024:
                line = f"line {n:09d} {'abcdefghij' * 6}\n"
                f.write(line)
                size += len(line)
                n += 1
            f.write(f"THE LAST LINE {n}\n")
    with open(path) as f:
        for line in f:
            pass
    return path, line.strip()



SETUP = """
local file = ...
require('conductor').setup({ agents = {
  catter = { cmd = { 'cat', file }, prompt = 'none' },
  sleeper = { cmd = { 'sleep', '3600' }, prompt = 'none' },
} })
vim.g.bench_ws = nil
vim.api.nvim_create_autocmd('User', { pattern = 'ConductorWorkspaceCreated',
  callback = function(ev) vim.g.bench_ws = ev.data.id end })
vim.cmd('ConductorNew --agent=sleeper --name=bench-' .. vim.fn.getpid() .. ' bench')
"""

CHECK = """
local buf, marker = ...
local n = vim.api.nvim_buf_line_count(buf)
local lines = vim.api.nvim_buf_get_lines(buf, math.max(0, n - 60), n, false)
for i = #lines, 1, -1 do
  if lines[i]:find(marker, 1, true) then return { true, lines[i - 1] or '', true } end
end
-- Has the program ended? (then the marker may never come: a lost tail)
local exited = false
local job = vim.b[buf].terminal_job_id
local session = vim.b[buf].conductor_session
if session then
  for _, a in ipairs(require('conductor.agent').list(nil, 'agent')) do
    if a.id == session then exited = a.state == 'exited' end
  end
elseif job then
  exited = vim.fn.jobwait({ job }, 0)[1] ~= -1
end
return { false, '', exited }
"""


def flood(ed, start_lua, file, marker, last_before):
    n = ed.nvim
    buf = n.exec_lua(start_lua, file)
    t0 = time.perf_counter()
    pings = []
    exited_at = None
    while True:
        t = time.perf_counter()
        done, prev, exited = n.exec_lua(CHECK, buf, marker)
        pings.append((time.perf_counter() - t) * 1000)
        if done:
            break
        if exited and exited_at is None:
            exited_at = time.perf_counter()
        # Exited and still no last line 3 s later: the tail was lost.
        if exited_at and time.perf_counter() - exited_at > 3:
            prev = None
            break
        if time.perf_counter() - t0 > 300:
            raise SystemExit("flood never finished")
        time.sleep(0.005)
    elapsed = (exited_at if prev is None else time.perf_counter()) - t0
    complete = prev is not None and prev.strip() == last_before
    n.command("tabonly | enew!")
    return elapsed, pings, complete


BUILTIN = """
local file = ...
vim.cmd('tabnew')
vim.fn.jobstart({ 'cat', file }, { term = true })
return vim.api.nvim_get_current_buf()
"""

OURS = """
local file = ...
local ws = require('conductor.workspace').get(vim.g.bench_ws)
return require('conductor.agent').start(ws, 'catter').buf
"""


def main():
    file, marker = make_file()
    with open(file) as f:
        last_before = None
        prev = None
        for line in f:
            last_before, prev = prev, line.strip()
    repo = tiny_repo()
    ed = Editor(repo)
    try:
        n = ed.nvim
        n.exec_lua(SETUP, file)
        for _ in range(500):
            if n.eval("get(g:, 'bench_ws', v:null)"):
                break
            time.sleep(0.01)
        idle = [ed.ping_ms() for _ in range(100)]
        ours, builtin = [], []
        for _ in range(RUNS):
            builtin.append(flood(ed, BUILTIN, file, marker, last_before))
            ours.append(flood(ed, OURS, file, marker, last_before))

        # CPU with ten idle agents (sleep) vs none, same editor, same length: Neovim's
        # and the engine's (which holds the PTYs and screens) counted apart and together.
        # "None" still has the workspace's own sleeper agent; the floods have exited.
        pid = n.eval("getpid()")
        epid = ed.engine_pid()

        def cpu_over(seconds):
            c0, e0 = cpu_seconds(pid), cpu_seconds(epid)
            time.sleep(seconds)
            return ((cpu_seconds(pid) - c0) / seconds * 100, (cpu_seconds(epid) - e0) / seconds * 100)

        base_cpu = cpu_over(IDLE_SECONDS)
        n.exec_lua("""
          local ws = require('conductor.workspace').get(vim.g.bench_ws)
          for _ = 1, 10 do require('conductor.agent').start(ws, 'sleeper') end
        """)
        time.sleep(2)
        agents_cpu = cpu_over(IDLE_SECONDS)
    finally:
        ed.close()

    def med(runs, i):
        return statistics.median(r[i] for r in runs)

    result = {
        "bench": "agent_terminal_flood",
        "mb": MB,
        "runs": RUNS,
        "builtin_terminal_s": round(med(builtin, 0), 2),
        "agent_terminal_s": round(med(ours, 0), 2),
        "ratio": round(med(ours, 0) / med(builtin, 0), 2),
        "builtin_complete": all(r[2] for r in builtin),
        "agent_complete": all(r[2] for r in ours),
        "rpc_idle_p95_ms": round(p95(idle), 2),
        "rpc_builtin_flood_p95_ms": round(p95([p for r in builtin for p in r[1]]), 2),
        "rpc_agent_flood_p95_ms": round(p95([p for r in ours for p in r[1]]), 2),
        "cpu_no_agents_pct": round(sum(base_cpu), 2),
        "cpu_10_idle_agents_pct": round(sum(agents_cpu), 2),
        "cpu_10_idle_agents_nvim_pct": round(agents_cpu[0], 2),
        "cpu_10_idle_agents_engine_pct": round(agents_cpu[1], 2),
        "cpu_no_agents_engine_pct": round(base_cpu[1], 2),
        "flood_runs_s": {"builtin": [round(r[0], 2) for r in builtin], "agent": [round(r[0], 2) for r in ours]},
        "load_avg": os.getloadavg()[0],
        "idle_seconds": IDLE_SECONDS,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
