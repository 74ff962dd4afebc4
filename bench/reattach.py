"""A second Neovim showing agents that outlived the first, and the engine's memory.

Ten workspaces, one agent each (what `:ConductorFanout` of ten tasks makes): each agent
prints 10,050 numbered coloured lines of 79 columns (so the engine's 10,000-line
scrollback is full and its 80-column screen is full), then a last line `END-<n>`, then
sleeps. The first Neovim quits (on_editor_exit = "keep": the agents run on in the
engine). Then, each run:

- baseline: a fresh Neovim runs, in ten tabs, `:terminal`s that `cat` the same ten
  files (the same bytes the agents printed) and then sleep, as the agents did: the time
  until every terminal shows its `END-<n>` line;
- ours: a fresh Neovim runs `:ConductorOpen` on each of the ten workspaces (each
  adopts its running agent: `agent_sessions`, `agent_attach`, the engine replays the
  scrollback and the screen into a new terminal): the time until every terminal shows
  its `END-<n>` line, and the same for one workspace alone in another fresh Neovim.

Each Neovim quits after its run (the agents run on). Timed from before the RPC request
that starts the work to the poll (every 5 ms, over RPC) that sees the last screen; those
polls' round trips are the editor's responsiveness meanwhile. Also: bytes fed into each
terminal during the replay (counted in Lua, on their way to nvim_chan_send).

Memory: the engine's VmRSS with no agent, with ten idle agents that printed nothing
(`sleep`), with ten more each holding 10,000 lines of scrollback (the first Neovim still
connected and caught up), and after that Neovim quit.
"""
import json
import os
import shutil
import statistics
import time

from common import OUT, Editor, git, p95, rss_kb, stop_engine, tiny_repo

AGENTS = int(os.environ.get("BENCH_AGENTS", "10"))
LINES = int(os.environ.get("BENCH_LINES", "10050"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
COLOURS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96]


def make_files():
    """Per agent: its output and the line just before its END line (as shown)."""
    files = []
    for i in range(AGENTS):
        path = os.path.join(OUT, f"reattach-{LINES}-{i}.txt")
        last = f"line {LINES - 1:05d} of agent {i} ".ljust(79, "x")
        if not os.path.exists(path):
            with open(path, "w") as f:
                for n in range(LINES):
                    text = f"line {n:05d} of agent {i} ".ljust(79, "x")
                    # Two colours per line: the number and the rest.
                    f.write(f"\x1b[1;{COLOURS[n % 12]}m{text[:10]}\x1b[0;{COLOURS[(n + i) % 12]}m{text[10:]}\x1b[0m\n")
                f.write(f"END-{i}\n")
        files.append((path, last))
    return files



# Every Neovim: the same agents, and a tabline always shown, so that every workspace's
# window (one per tab) has the same size in all of them: 21 rows x 80 columns.
SETUP = """
local files = ...
local agents = { sleeper = { cmd = { 'sleep', '3600' }, prompt = 'none' } }
for i, f in ipairs(files) do
  agents['printer' .. (i - 1)] = { cmd = { 'sh', '-c', 'cat "$0"; exec sleep 3600', f }, prompt = 'none' }
end
vim.o.showtabline = 2
require('conductor').setup({ agents = agents })
"""

CREATE = """
local name, agent = ...
vim.g.bench_ws = nil
vim.api.nvim_create_autocmd('User', { pattern = 'ConductorWorkspaceCreated', once = true,
  callback = function(ev) vim.g.bench_ws = ev.data.id end })
vim.cmd('ConductorNew --agent=' .. agent .. ' --name=' .. name .. ' bench')
"""

# Buffers of the workspaces' agents (by name), in order.
AGENT_BUFS = """
local out = {}
for _, name in ipairs(...) do
  local ws = require('conductor.workspace').get(name)
  local list = require('conductor.agent').list(ws.id, 'agent')
  out[#out + 1] = list[1] and list[1].buf or -1
end
return out
"""

# Which buffers show their END line yet, and the line above it.
CHECK = """
local bufs = ...
local out = {}
for i, buf in ipairs(bufs) do
  local marker = 'END-' .. (i - 1)
  local shown, prev = false, ''
  if buf > 0 and vim.api.nvim_buf_is_valid(buf) then
    local n = vim.api.nvim_buf_line_count(buf)
    local lines = vim.api.nvim_buf_get_lines(buf, math.max(0, n - 40), n, false)
    for j = #lines, 1, -1 do
      if lines[j] == marker then
        shown, prev = true, lines[j - 1] or ''
        break
      end
    end
  end
  out[i] = { shown, prev }
end
return out
"""

BUILTIN = """
local files = ...
local bufs = {}
for i, f in ipairs(files) do
  vim.cmd('tabnew')
  vim.fn.jobstart({ 'sh', '-c', 'cat "$0"; exec sleep 3600', f }, { term = true })
  bufs[i] = vim.api.nvim_get_current_buf()
end
return bufs
"""

# Counts the bytes each terminal is fed (wrapping the function the engine's output goes
# to before the agents module wires it), then opens the workspaces.
OPEN = """
local names = ...
local sessions = require('conductor.agent.sessions')
if not _G.bench_bytes then
  _G.bench_bytes = {}
  _G.bench_attach_ms = {}
  local engine = require('conductor.engine')
  local call = engine.call
  -- agent_attach returns once the engine has built the replay and sent it (the reply
  -- follows the replay on the socket): how long the engine side takes.
  engine.call = function(method, params)
    local t = vim.uv.hrtime()
    local r = call(method, params)
    if method == 'agent_attach' then
      table.insert(_G.bench_attach_ms, (vim.uv.hrtime() - t) / 1e6)
    end
    return r
  end
  local feed = sessions.output
  sessions.output = function(id, bytes)
    _G.bench_bytes[id] = (_G.bench_bytes[id] or 0) + #bytes
    return feed(id, bytes)
  end
end
local t = vim.uv.hrtime()
for _, name in ipairs(names) do
  vim.cmd('ConductorOpen ' .. name)
end
return (vim.uv.hrtime() - t) / 1e6
"""

BYTES = """
local out = {}
for _, buf in ipairs(...) do
  out[#out + 1] = _G.bench_bytes[vim.b[buf].conductor_session] or 0
end
return out
"""


def wait_all(ed, bufs, expected, t0, timeout=120):
    """Polls until every buffer shows its END line: (time to all, time to the first,
    RPC round trips, whether each showed the right line above END)."""
    n = ed.nvim
    seen = [None] * len(bufs)
    ok = [False] * len(bufs)
    pings = []
    while True:
        t = time.perf_counter()
        res = n.exec_lua(CHECK, bufs)
        now = time.perf_counter()
        pings.append((now - t) * 1000)
        for i, (shown, prev) in enumerate(res):
            if shown and seen[i] is None:
                seen[i] = now - t0
                ok[i] = prev.strip() == expected[i]
        if all(s is not None for s in seen):
            return max(seen), min(seen), pings, ok, seen
        if now - t0 > timeout:
            raise SystemExit(f"screens not shown within {timeout} s: {seen}")
        time.sleep(0.005)


def main():
    files = make_files()
    paths = [f for f, _ in files]
    expected = [last for _, last in files]
    repo = tiny_repo()
    a = Editor(repo)
    result = {"bench": "reattach", "agents": AGENTS, "lines": LINES, "runs": RUNS}
    try:
        n = a.nvim
        n.exec_lua(SETUP, paths)
        # The engine with no agent (started by a cheap call).
        n.exec_lua("require('conductor.engine').call('engine_status', {})")
        epid = a.engine_pid()
        time.sleep(1)
        rss = {"none": rss_kb(epid)}
        # Ten agents that print nothing, in a workspace of their own.
        pid = n.eval("getpid()")
        n.exec_lua(CREATE, f"idle-{pid}", "sleeper")
        for _ in range(6000):
            if n.eval("get(g:, 'bench_ws', v:null)"):
                break
            time.sleep(0.01)
        n.exec_lua("""
          local ws = require('conductor.workspace').get(vim.g.bench_ws)
          for _ = 2, 10 do require('conductor.agent').start(ws, 'sleeper') end
        """)
        time.sleep(2)
        rss["10_empty"] = rss_kb(epid)
        names = [f"r{i}-{pid}" for i in range(AGENTS)]
        t0 = time.perf_counter()
        for i, name in enumerate(names):
            n.exec_lua(CREATE, name, f"printer{i}")
            for _ in range(6000):
                if n.eval("get(g:, 'bench_ws', v:null)"):
                    break
                time.sleep(0.01)
        bufs = n.exec_lua(AGENT_BUFS, names)
        wait_all(a, bufs, expected, t0, timeout=300)
        time.sleep(2)
        rss["10_empty_10_full"] = rss_kb(epid)
        a.quit()
        time.sleep(2)
        rss["10_empty_10_full_no_client"] = rss_kb(epid)

        builtin, ours, one, builtin_one = [], [], [], []
        for _ in range(RUNS):
            # Baseline: :terminal cat of the same bytes, ten tabs.
            b = Editor(repo, share=a)
            b.nvim.exec_lua(SETUP, paths)
            bpid = b.nvim.eval("getpid()")
            nvim_rss0 = rss_kb(bpid)
            t0 = time.perf_counter()
            bufs = b.nvim.exec_lua(BUILTIN, paths)
            builtin.append(wait_all(b, bufs, expected, t0))
            time.sleep(0.5)
            rss.setdefault("nvim_10_terminals_added", []).append(rss_kb(bpid) - nvim_rss0)
            b.quit()
            # Baseline for one workspace: one :terminal cat.
            b = Editor(repo, share=a)
            b.nvim.exec_lua(SETUP, paths)
            t0 = time.perf_counter()
            bufs = b.nvim.exec_lua(BUILTIN, paths[:1])
            builtin_one.append(wait_all(b, bufs, expected[:1], t0))
            b.quit()

            # Ours: :ConductorOpen on each of the ten workspaces.
            c = Editor(repo, share=a)
            c.nvim.exec_lua(SETUP, paths)
            t0 = time.perf_counter()
            open_ms = c.nvim.exec_lua(OPEN, names)
            bufs = c.nvim.exec_lua(AGENT_BUFS, names)
            r = wait_all(c, bufs, expected, t0)
            fed = c.nvim.exec_lua(BYTES, bufs)
            lines = [c.nvim.exec_lua("return vim.api.nvim_buf_line_count(...)", b_) for b_ in bufs]
            first = c.nvim.exec_lua("return vim.api.nvim_buf_get_lines(..., 0, 1, false)[1]", bufs[0])
            attach_ms = c.nvim.exec_lua("return _G.bench_attach_ms")
            ours.append(r + (open_ms, fed, lines, first, attach_ms))
            c.quit()

            # One workspace alone.
            d = Editor(repo, share=a)
            d.nvim.exec_lua(SETUP, paths)
            t0 = time.perf_counter()
            d.nvim.exec_lua(OPEN, names[:1])
            bufs = d.nvim.exec_lua(AGENT_BUFS, names[:1])
            one.append(wait_all(d, bufs, expected[:1], t0))
            d.quit()
            rss.setdefault("after_each_run", []).append(rss_kb(epid))
        rss["after_runs"] = rss_kb(epid)
    finally:
        try:
            a.quit()
        except Exception:
            pass
        stop_engine(f"{a.tmp}/state")
        shutil.rmtree(a.tmp, ignore_errors=True)
        shutil.rmtree(a.data, ignore_errors=True)

    def med(runs, i):
        return statistics.median(r[i] for r in runs)

    file_bytes = os.path.getsize(paths[0])
    result.update({
        "builtin_all_shown_s": round(med(builtin, 0), 3),
        "builtin_first_shown_s": round(med(builtin, 1), 3),
        "ours_all_shown_s": round(med(ours, 0), 3),
        "ours_first_shown_s": round(med(ours, 1), 3),
        "ratio": round(med(ours, 0) / med(builtin, 0), 2),
        "one_workspace_shown_s": round(med(one, 0), 3),
        "builtin_one_shown_s": round(med(builtin_one, 0), 3),
        "ours_shown_in_open_order_last_run_s": [round(x, 3) for x in ours[-1][4]],
        "ours_open_commands_ms": round(med(ours, 5), 1),
        "agent_attach_call_ms_median": round(statistics.median(x for r in ours for x in r[9]), 1),
        "agent_attach_call_ms_max": round(max(x for r in ours for x in r[9]), 1),
        "runs_all_shown_s": {"builtin": [round(r[0], 3) for r in builtin], "ours": [round(r[0], 3) for r in ours],
                             "one": [round(r[0], 3) for r in one],
                             "builtin_one": [round(r[0], 3) for r in builtin_one]},
        "builtin_right_line_above_end": all(all(r[3]) for r in builtin),
        "ours_right_line_above_end": all(all(r[3]) for r in ours),
        "rpc_p95_ms": {"builtin": round(p95([p for r in builtin for p in r[2]]), 2),
                       "ours": round(p95([p for r in ours for p in r[2]]), 2)},
        "bytes_printed_per_agent": file_bytes,
        "bytes_replayed_per_agent": int(statistics.median(b_ for r in ours for b_ in r[6])),
        "buffer_lines": ours[-1][7][0],
        "first_buffer_line": ours[-1][8],
        "engine_rss_kb": rss,
        "engine_rss_per_full_agent_kb": round((rss["10_empty_10_full"] - rss["10_empty"]) / AGENTS),
        "engine_rss_per_full_agent_after_first_attach_kb": round((rss["after_each_run"][0] - rss["10_empty"]) / AGENTS),
        "engine_rss_per_empty_agent_kb": round((rss["10_empty"] - rss["none"]) / 10),
        "load_avg": os.getloadavg()[0],
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
