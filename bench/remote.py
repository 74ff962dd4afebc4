"""Workspaces on other machines (issue 17): each operation on a workspace of a host reached
over ssh vs the same operation on a workspace of this machine, in the same Neovim, in
the same run.

The host is this machine: a real `sshd -D` on a free loopback port (throwaway host and
user keys, its own config in a temp dir; never the machine's own sshd or port 22),
logging in as the local user `conductor-remote` (created when missing), with the
repository in that user's home, owned by it. The host runs a copy of this run's engine
(the `engine` option of the host; BENCH_INSTALLED_ENGINE=1: the one the plugin copies to
its versioned path, named by a hash of the program). The first connection is not
timed: everything below is warm. So the figures carry ssh's encryption, the stdio relay
(`conductor-engine stdio` on the host between ssh and the host's engine) and the extra
process hops, and no network latency at all; BENCH_RTT_MS / BENCH_MBIT put an emulated
link (a ProxyCommand) between ssh and sshd.

1. create to terminal: from the command (`:ConductorNew --host=box --repo=app` vs
   `:ConductorNew` here; BENCH_CREATE=api, or a checkout whose command has no --host:
   the engine API `create` + the agent's start) to the fake agent's first screen in its
   terminal buffer.
2. flood: the fake agent's `flood 13` (13 MB of numbered lines, then "FLOOD DONE n
   LINES") from the keys to "FLOOD DONE" in the buffer (and to its bytes reaching Lua),
   and completeness: the right count, and every numbered line left in the buffer's
   scrollback in sequence up to the last one.
3. keystroke echo: `cat` as the agent (its terminal echoes each key); a key goes in where
   the terminal's on_input sends keys (agent_write), timed until its echo reaches Lua
   and until it shows in the buffer; also Neovim's own :terminal running cat.
4. review open: a workspace with 50 changed files: `:ConductorReview` to the first diff
   on screen (both sides filled), with the engine calls it made, when this checkout
   reviews remote workspaces; and always the requests under it: `changes`, then the
   first file's base (`blob`) and live side (`file_read`).

Timed inside Neovim (vim.uv.hrtime, vim.wait polling every 1-2 ms); medians.
Needs root and OpenSSH (apt-get install openssh-server); says why and exits otherwise.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from common import OUT, ROOT, Editor, engine_bin, git, p95

USER = "conductor-remote"
CREATE_RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FLOOD_RUNS = int(os.environ.get("BENCH_FLOOD_RUNS", "3"))
FLOOD_MB = int(os.environ.get("BENCH_MB", "13"))
KEYS = int(os.environ.get("BENCH_KEYS", "100"))
CHANGED = int(os.environ.get("BENCH_CHANGED", "50"))
# "command" (:ConductorNew --host), "api" (create + agent start) or "auto": the command
# when this checkout's :ConductorNew takes --host.
CREATE_MODE = os.environ.get("BENCH_CREATE", "auto")
# An emulated link between ssh and sshd, in user space (a ProxyCommand; the machine's
# network is not touched): BENCH_RTT_MS round trip, BENCH_MBIT each way (0: unlimited).
RTT_MS = float(os.environ.get("BENCH_RTT_MS", "0"))
MBIT = float(os.environ.get("BENCH_MBIT", "0"))

# The ProxyCommand of an emulated link: bytes each way are held RTT/2 (and queued at
# MBIT when set) before they go on; buffers are unbounded (the engine's 1 MB window per
# terminal bounds what is in flight).
LINK = r"""
import os, socket, sys, threading, time, collections
port, delay, rate = int(sys.argv[1]), float(sys.argv[2]) / 2000, float(sys.argv[3]) * 125000
sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def pipe(read, write):
    q, cv, free = collections.deque(), threading.Condition(), [0.0]
    def writer():
        while True:
            with cv:
                while not q:
                    cv.wait()
                due, data = q.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if data is None:
                return os._exit(0)
            write(data)
    threading.Thread(target=writer, daemon=True).start()
    while True:
        data = read()
        now = time.monotonic()
        if rate and data:
            free[0] = max(now, free[0]) + len(data) / rate
            now = free[0]
        with cv:
            q.append((now + delay, data or None))
            cv.notify()
        if not data:
            return
def out(data):
    v = memoryview(data)
    while v:
        v = v[os.write(1, v):]
threading.Thread(target=pipe, args=(lambda: os.read(0, 65536), sock.sendall), daemon=True).start()
pipe(lambda: sock.recv(65536), out)
"""


def which(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin")


def skip(why):
    print(json.dumps({"bench": "remote", "skipped": why}))
    sys.exit(0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Host:
    """tests/common/sshd.rs in Python: sshd on a loopback port as `conductor-remote`, and
    this run's directory in that user's home."""

    def __init__(self):
        if os.geteuid() != 0:
            skip("not root: cannot create the user or run sshd")
        sshd = which("sshd")
        if not sshd or not which("ssh") or not which("ssh-keygen"):
            skip("no OpenSSH (apt-get install openssh-server)")
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            # Password "*": no password login, but not locked (sshd without PAM refuses
            # even keys to a locked account).
            subprocess.run([which("useradd"), "-m", "-p", "*", "-s", "/bin/sh", USER], check=True)
            pw = pwd.getpwnam(USER)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.dir = tempfile.mkdtemp(prefix="conductor-bench-sshd-")
        os.chmod(self.dir, 0o755)  # sshd reads authorized_keys as the user
        host_key = os.path.join(self.dir, "host_ed25519")
        self.key = os.path.join(self.dir, "user_ed25519")
        for f in (host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "conductor-bench", "-f", f], check=True)
        auth = os.path.join(self.dir, "authorized_keys")
        shutil.copy(self.key + ".pub", auth)
        os.chmod(auth, 0o644)
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation dir
        self.root = os.path.join(self.home, f"bench-{os.getpid()}")
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        self.give(self.root)
        self.proc = None
        for _ in range(5):
            self.port = free_port()
            config = os.path.join(self.dir, "sshd_config")
            with open(config, "w") as f:
                f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {host_key}\n"
                        f"AuthorizedKeysFile {auth}\nPidFile {self.dir}/sshd.pid\n"
                        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                        f"PubkeyAuthentication yes\nAllowUsers {USER}\nStrictModes no\n"
                        "UsePAM no\nPrintMotd no\nLogLevel ERROR\n")
            log = open(os.path.join(self.dir, "sshd.log"), "w")
            self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", config], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.02)
            self.proc.kill()
            self.proc.wait()
            if "Address already in use" not in open(os.path.join(self.dir, "sshd.log")).read():
                raise SystemExit("sshd did not start:\n" + open(os.path.join(self.dir, "sshd.log")).read())
        raise SystemExit("sshd found no free port")

    def ssh(self):
        """The ssh argv, destination last (what the hosts option takes)."""
        link = []
        if RTT_MS or MBIT:
            proxy = os.path.join(self.dir, "link.py")
            with open(proxy, "w") as f:
                f.write(LINK)
            link = ["-o", f"ProxyCommand={sys.executable} {proxy} {self.port} {RTT_MS} {MBIT}"]
        return ["ssh", "-F", "/dev/null", "-i", self.key, "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", *link, f"{USER}@127.0.0.1"]

    def sh(self, script, check=True):
        argv = self.ssh()
        out = subprocess.run(argv[:-1] + ["-o", "BatchMode=yes", argv[-1], script], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=60)
        if check and out.returncode != 0:
            raise SystemExit(f"on the host: {script}: {out.stdout}{out.stderr}")
        return out.stdout

    def give(self, path):
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", path], check=True)

    def processes(self):
        """The user's processes that mention this run's directory (cmdline or cwd)."""
        found = []
        for e in os.listdir("/proc"):
            if not e.isdigit():
                continue
            try:
                if os.stat(f"/proc/{e}").st_uid != self.uid:
                    continue
                cmd = open(f"/proc/{e}/cmdline", "rb").read().decode(errors="replace")
                try:
                    cwd = os.readlink(f"/proc/{e}/cwd")
                except OSError:
                    cwd = ""
            except OSError:
                continue
            if self.root in cmd or cwd.startswith(self.root):
                found.append(int(e))
        return found

    def close(self, engine=None):
        """Stops the host's engine (as the user, over ssh) and anything left of this run,
        then sshd and its connections; removes this run's directories. Returns what the
        stop said and how many of this run's processes were left after it."""
        engines = [engine] if engine else []
        if not engines:  # the run failed before it knew: every build's copy there
            base = os.path.join(self.home, ".local/share/conductor")
            engines = [os.path.join(base, v, "conductor-engine") for v in
                       (os.listdir(base) if os.path.isdir(base) else [])]
        said = []
        for e in engines:
            out = subprocess.run(["runuser", "-u", USER, "--", e, "stop", "--state-dir", f"{self.root}/state"],
                                 capture_output=True, text=True, timeout=60)
            said.append((out.stdout + out.stderr).strip() or f"exit {out.returncode}")
        deadline = time.monotonic() + 5
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.processes()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        if self.proc:
            parent = str(self.proc.pid)
            for e in os.listdir("/proc"):
                try:
                    if e.isdigit() and open(f"/proc/{e}/stat").read().rsplit(")", 1)[1].split()[1] == parent:
                        os.kill(int(e), signal.SIGKILL)
                except (OSError, IndexError):
                    pass
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        return {"stop": said if not engine else said[0], "processes_left_after_stop": len(left)}


def make_repo(path, files=CHANGED + 10):
    """The same small repository here and on the host: `files` files in a few folders."""
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        d = os.path.join(path, f"src{i // 20}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"file{i:03d}.txt"), "w") as f:
            f.write("".join(f"line {n} of file {i}\n" for n in range(40)))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


SETUP = """
local root, ssh, fake, python, host_engine = ...
require('conductor').setup({
  fetch = false,
  agents = {
    -- The same interpreter on both sides (a PATH with a pyenv shim here would cost the
    -- local agent 200 ms of start).
    fake = { cmd = { python, fake }, prompt = 'arg' },
    hostfake = { cmd = { python, root .. '/fake-agent' }, prompt = 'arg' },
    cat = { cmd = { 'cat' }, prompt = 'none' },
  },
  hosts = {
    box = {
      ssh = ssh,
      engine = host_engine,
      repos = { app = root .. '/repo' },
      state_dir = root .. '/state',
      options = { workspaces_root = root .. '/ws', fetch = false },
    },
  },
})
-- Is there a :ConductorNew --host on this checkout?
return vim.tbl_contains(vim.fn.getcompletion('ConductorNew --h', 'cmdline'), '--host=')
"""

# The text of a terminal buffer's last `n` lines.
HELPERS = """
_G.bench_tail = function(buf, n)
  local count = vim.api.nvim_buf_line_count(buf)
  return vim.api.nvim_buf_get_lines(buf, math.max(0, count - n), count, false)
end
_G.bench_shows = function(buf, needle, n)
  for _, l in ipairs(_G.bench_tail(buf, n or 60)) do
    if l:find(needle, 1, true) then return true end
  end
  return false
end
_G.bench_agent = function(id)
  local list = require('conductor.agent').list(id, 'agent')
  return list[#list]
end
-- When the terminal output a test waits for reached Lua (before the terminal shows it):
-- _G.bench_watch = { id = session, text = "..." } gets .t (hrtime) when it came.
-- (conductor.agent first: loading it sets the handler this one replaces.)
require('conductor.agent')
local sessions = require('conductor.agent.sessions')
local tails = {}
require('conductor.engine').on_output(function(id, bytes)
  local w = _G.bench_watch
  if w and w.id == id and not w.t then
    if ((tails[id] or '') .. bytes):find(w.text, 1, true) then w.t = vim.uv.hrtime() end
  end
  tails[id] = bytes:sub(-32)
  return sessions.output(id, bytes)
end)
-- The engine methods called while _G.bench_calls is a table (what a review asked).
local engine = require('conductor.engine')
for _, fn in ipairs({ 'call', 'request' }) do
  local real = engine[fn]
  engine[fn] = function(method, ...)
    if _G.bench_calls then _G.bench_calls[method] = (_G.bench_calls[method] or 0) + 1 end
    return real(method, ...)
  end
end
"""

# Create to terminal, by the command: from :ConductorNew to the agent's first screen.
CREATE_COMMAND = """
local name, remote = ...
vim.cmd('silent! tabonly | enew!')
local ws
vim.api.nvim_create_autocmd('User', { pattern = 'ConductorWorkspaceCreated', once = true,
  callback = function(ev) ws = ev.data end })
_G.bench_calls = {}
local t0 = vim.uv.hrtime()
if remote then
  vim.cmd('ConductorNew --host=box --repo=app --agent=hostfake --name=' .. name .. ' bench task')
else
  vim.cmd('ConductorNew --agent=fake --name=' .. name .. ' bench task')
end
local created
local ok = vim.wait(120000, function()
  if ws and not created then created = (vim.uv.hrtime() - t0) / 1e6 end
  local a = ws and _G.bench_agent(ws.id)
  return a ~= nil and _G.bench_shows(a.buf, 'PROMPT: bench task')
end, 1)
local ms = (vim.uv.hrtime() - t0) / 1e6
if not ok then error('no first screen within 120 s: ' .. name) end
local calls = _G.bench_calls
_G.bench_calls = nil
return { ms, created, ws.id, ws.path, calls }
"""

# The same by the engine API: `create` (on the host: host = "box"), then the agent.
CREATE_API = """
local name, remote, path = ...
vim.cmd('silent! tabonly | enew!')
local engine = require('conductor.engine')
local ws, err
local t0 = vim.uv.hrtime()
local created
engine.request('create', { host = remote and 'box' or nil, path = path, name = name }, function(e, r)
  if e then err = e return end
  created = (vim.uv.hrtime() - t0) / 1e6
  local ok, e2 = pcall(require('conductor.agent').start, r, remote and 'hostfake' or 'fake', 'bench task')
  if not ok then err = e2 return end
  ws = r
end)
local ok = vim.wait(120000, function()
  if err then return true end
  local a = ws and _G.bench_agent(ws.id)
  return a ~= nil and _G.bench_shows(a.buf, 'PROMPT: bench task')
end, 1)
if err then error(tostring(err)) end
if not ok then error('no first screen within 120 s: ' .. name) end
return { (vim.uv.hrtime() - t0) / 1e6, created, ws.id, ws.path }
"""

# A new agent `name` in workspace `id`, alone in its tab, once it shows `ready`.
START = """
local id, name, ready = ...
vim.cmd('silent! tabonly | enew!')
local ws = require('conductor.engine').call('get', { workspace = id })
local s = require('conductor.agent').start(ws, name)
if not vim.wait(60000, function() return _G.bench_shows(s.buf, ready) end, 5) then
  error(name .. ' never showed ' .. ready)
end
return { s.buf, s.id, s.size }
"""

# The flood: keys in (as the terminal's on_input sends them), until FLOOD DONE shows;
# then what the buffer holds: the count the agent printed, the line above it, and the
# numbered lines left in the scrollback checked for gaps.
FLOOD = """
local buf, session, mb = ...
local core = require('conductor.engine').load()
_G.bench_watch = { id = session, text = 'FLOOD DONE' }
local t0 = vim.uv.hrtime()
core.agent_write(session, 'flood ' .. mb .. '\\r')
local ok = vim.wait(300000, function() return _G.bench_shows(buf, 'FLOOD DONE', 10) end, 2)
local ms = (vim.uv.hrtime() - t0) / 1e6
if not ok then error('no FLOOD DONE within 300 s') end
local arrived = _G.bench_watch.t and (_G.bench_watch.t - t0) / 1e6 or -1
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local done_at, count
for i = #lines, 1, -1 do
  count = lines[i]:match('^FLOOD DONE (%d+) LINES')
  if count then done_at = i break end
end
local prev, gaps, numbered, first = nil, 0, 0, nil
for i = 1, done_at - 1 do
  local n = lines[i]:match('^flood line (%d+) ')
  if n then
    n = tonumber(n)
    numbered = numbered + 1
    first = first or n
    if prev and n ~= prev + 1 then gaps = gaps + 1 end
    prev = n
  end
end
return { ms, tonumber(count), lines[done_at - 1], prev, numbered, gaps, first, arrived }
"""

# Keystroke echo: `cat` in a PTY (line mode: the terminal echoes each key). Each key goes
# in through agent_write (what the terminal's on_input calls) and is timed until its echo
# reached Lua (on its way to the terminal) and until the buffer's last non-empty line is
# what was typed (shown); a line of `per` keys per round, Enter (not timed) between.
ECHO = """
local buf, session, rounds, per = ...
local core = require('conductor.engine').load()
-- session 0: Neovim's own :terminal (its job's channel is `buf`'s terminal_job_id).
local write = session == 0 and function(_, data) vim.fn.chansend(vim.b[buf].terminal_job_id, data) end
  or core.agent_write
local function last()
  local tail = _G.bench_tail(buf, 40)
  for i = #tail, 1, -1 do
    if tail[i] ~= '' then return tail[i] end
  end
  return ''
end
local shown, arrived = {}, {}
for r = 1, rounds do
  write(session, '\\r')
  vim.wait(100)
  local typed = ''
  for k = 1, per do
    local ch = string.char(97 + (r * 7 + k) % 26)
    typed = typed .. ch
    _G.bench_watch = { id = session, text = ch }
    local t0 = vim.uv.hrtime()
    write(session, ch)
    if not vim.wait(10000, function() return last() == typed end, 1) then
      error(('no echo of key %d of round %d: %q'):format(k, r, last()))
    end
    shown[#shown + 1] = (vim.uv.hrtime() - t0) / 1e6
    arrived[#arrived + 1] = _G.bench_watch.t and (_G.bench_watch.t - t0) / 1e6 or nil
    vim.wait(5)
  end
end
return { shown, arrived }
"""

# The requests under a review: the change list (a request, as review/init.lua asks it),
# then the first file's base and live side.
REVIEW_API = """
local id = ...
local engine = require('conductor.engine')
local function req(method, params)
  local done, err, res = false, nil, nil
  engine.request(method, params, function(e, r) done, err, res = true, e, r end)
  vim.wait(60000, function() return done end, 1)
  if err then error(method .. ': ' .. tostring(err)) end
  return res
end
local t0 = vim.uv.hrtime()
local changes = req('changes', { workspace = id })
local t1 = vim.uv.hrtime()
local file = changes.files[1]
-- As the review reads them (review/diff.lua): engine.call, which waits for the reply.
local base = engine.call('blob', { workspace = id, rev = changes.base, path = file.path })
local live = engine.call('file_read', { workspace = id, path = file.path })
local t2 = vim.uv.hrtime()
return { (t1 - t0) / 1e6, (t2 - t0) / 1e6, #changes.files, base and #base.text or -1, live and #live.text or -1 }
"""

# :ConductorReview to the first diff on screen (bench/review.py's measure).
REVIEW_COMMAND = """
local id = ...
vim.cmd('silent! tabonly | enew!')
_G.bench_calls = {}
local t0 = vim.uv.hrtime()
vim.cmd('ConductorReview ' .. id)
local ok = vim.wait(60000, function()
  local n = 0
  for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local b = vim.api.nvim_win_get_buf(w)
    if vim.wo[w].diff and vim.api.nvim_buf_line_count(b) > 1 then n = n + 1 end
  end
  return n >= 2
end, 1)
local ms = (vim.uv.hrtime() - t0) / 1e6
if not ok then error('no diff within 60 s') end
local calls = _G.bench_calls
_G.bench_calls = nil
vim.cmd('silent! tabonly | enew!')
return { ms, calls }
"""


def change_files(path, uid=None, gid=None):
    """Appends a line to CHANGED tracked files of the worktree at `path`."""
    files = sorted(subprocess.run(["git", "-c", "safe.directory=*", "-C", path, "ls-files"], capture_output=True, text=True,
                                  check=True).stdout.split())[:CHANGED]
    for i, f in enumerate(files):
        p = os.path.join(path, f)
        with open(p, "a") as fh:
            fh.write(f"changed {i}\n")
        if uid is not None:
            os.chown(p, uid, gid)


def stats(samples):
    return {"p50": round(statistics.median(samples), 2), "p95": round(p95(samples), 2)}


def med(xs, nd=1):
    return round(statistics.median(xs), nd)


def main():
    os.makedirs(OUT, exist_ok=True)
    local_tmp = tempfile.mkdtemp(prefix="bench-remote-", dir=OUT)
    try:
        host = Host()
    except BaseException:
        shutil.rmtree(local_tmp, ignore_errors=True)
        raise
    ed = None
    host_engine = None
    result = {"bench": "remote", "ssh": "loopback (127.0.0.1), sshd as " + USER}
    if RTT_MS or MBIT:
        result["emulated_link"] = {"rtt_ms": RTT_MS, "mbit": MBIT or "unlimited"}
    try:
        # The host: its repository (owned by the user) and the fake agent.
        make_repo(os.path.join(host.root, "repo"))
        shutil.copy(os.path.join(ROOT, "tests/agents/fake-agent"), os.path.join(host.root, "fake-agent"))
        os.chmod(os.path.join(host.root, "fake-agent"), 0o755)
        host.give(host.root)
        local_repo = make_repo(os.path.join(local_tmp, "repo"))

        ed = Editor(local_repo)
        n = ed.nvim
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else which("python3")
        # The host runs the engine this run runs here, byte for byte: a copy in this run's
        # directory there, named by the `engine` option, so the figures never depend on
        # what the plugin's versioned copy holds (BENCHMARKS.md says why this mattered).
        host_engine = os.path.join(host.root, "conductor-engine")
        if not os.environ.get("BENCH_INSTALLED_ENGINE"):
            shutil.copy(engine_bin(), host_engine)
            os.chmod(host_engine, 0o755)
            host.give(host_engine)
        has_command = n.exec_lua(SETUP, host.root, host.ssh(), os.path.join(ROOT, "tests/agents/fake-agent"), python,
                                 None if os.environ.get("BENCH_INSTALLED_ENGINE") else host_engine)
        n.exec_lua(HELPERS)
        mode = CREATE_MODE if CREATE_MODE != "auto" else ("command" if has_command else "api")
        if mode == "command" and not has_command:
            raise SystemExit("BENCH_CREATE=command: this checkout's :ConductorNew has no --host")
        result["create_by"] = ":ConductorNew --host=box --repo=app" if mode == "command" else \
            "engine API create + agent start"

        # Warm: the first connection copies the engine to the host when this build's is
        # not there yet (not part of the figures).
        installed = os.path.join(host.home, ".local/share/conductor")

        def copies():
            return {v: os.stat(os.path.join(installed, v, "conductor-engine")).st_mtime_ns
                    for v in (os.listdir(installed) if os.path.isdir(installed) else [])
                    if os.path.exists(os.path.join(installed, v, "conductor-engine"))}
        before = copies()
        t = time.perf_counter()
        n.exec_lua("require('conductor.engine').call('resolve_repo', { host = 'box', path = ... })",
                   host.root + "/repo")
        result["first_connection_s"] = round(time.perf_counter() - t, 2)
        if os.environ.get("BENCH_INSTALLED_ENGINE"):
            result["engine_copied_then"] = copies() != before
        n.exec_lua("require('conductor.engine').call('engine_status', {})")
        host_engine = os.readlink("/proc/%d/exe" % n.exec_lua(
            "return require('conductor.engine').call('engine_status', { host = 'box' }).pid"))
        result["engine_on_host"] = host_engine.replace(host.home, "~" + USER)
        with open(host_engine, "rb") as a, open(engine_bin(), "rb") as b:
            result["engine_on_host_same_as_here"] = a.read() == b.read()

        def create(name, remote):
            if mode == "command":
                return n.exec_lua(CREATE_COMMAND, name, remote)
            return n.exec_lua(CREATE_API, name, remote, host.root + "/repo" if remote else local_repo) + [None]

        # 1. Create to terminal (one of each first, untimed: caches, the first tab).
        create("warm-here", False)
        create("warm-there", True)
        created = {"local": [], "remote": []}
        to_terminal = {"local": [], "remote": []}
        spaces = {}
        for i in range(CREATE_RUNS):
            for side, remote in (("local", False), ("remote", True)):
                ms, made_ms, wid, path, calls = create(f"c{i}-{side}", remote)
                if calls is not None and i == 0:
                    # What :ConductorNew asked the engine through engine.call/request (the
                    # agent's start goes to the library directly: one more).
                    result.setdefault("create_engine_calls", {})[side] = calls
                to_terminal[side].append(ms)
                created[side].append(made_ms)
                spaces.setdefault(side, (wid, path))
        result["create_to_terminal_ms"] = {s: med(v) for s, v in to_terminal.items()}
        result["create_to_terminal_ratio"] = round(med(to_terminal["remote"], 3) / med(to_terminal["local"], 3), 2)
        if all(x is not None for v in created.values() for x in v):
            result["create_reply_ms"] = {s: med(v) for s, v in created.items()}
        result["create_runs_ms"] = {s: [round(x) for x in v] for s, v in to_terminal.items()}

        # 2. The flood, through a fresh fake agent each run, alternating sides.
        floods = {"local": [], "remote": []}
        sizes = {}
        for _ in range(FLOOD_RUNS):
            for side, agent in (("local", "fake"), ("remote", "hostfake")):
                buf, session, size = n.exec_lua(START, spaces[side][0], agent, "> ")
                sizes[side] = size
                floods[side].append(n.exec_lua(FLOOD, buf, session, FLOOD_MB))
                n.exec_lua("require('conductor.engine').load().agent_write(..., 'exit 0\\r')", session)
        line_len = len(f"flood line {0:08d} {'x' * 40}\r\n")
        expected = -(-FLOOD_MB * 1024 * 1024 // line_len)
        last = f"flood line {expected - 1:08d} {'x' * 40}"

        def complete(r):
            return r[1] == expected and r[2] == last and r[3] == expected - 1 and r[5] == 0

        result["flood"] = {
            "mb": FLOOD_MB,
            "lines": expected,
            "terminal": sizes,
            "local_s": round(statistics.median(r[0] for r in floods["local"]) / 1000, 2),
            "local_bytes_in_s": round(statistics.median(r[7] for r in floods["local"]) / 1000, 2),
            "remote_bytes_in_s": round(statistics.median(r[7] for r in floods["remote"]) / 1000, 2),
            "remote_s": round(statistics.median(r[0] for r in floods["remote"]) / 1000, 2),
            "local_complete": all(complete(r) for r in floods["local"]),
            "remote_complete": all(complete(r) for r in floods["remote"]),
            "numbered_lines_in_scrollback_checked": min(r[4] for v in floods.values() for r in v),
            "runs_s": {s: [round(r[0] / 1000, 2) for r in v] for s, v in floods.items()},
        }
        result["flood"]["ratio"] = round(result["flood"]["remote_s"] / result["flood"]["local_s"], 2)
        bad = [r[1:] for v in floods.values() for r in v if not complete(r)]
        if bad:
            result["flood"]["incomplete"] = [[r[0], r[1], r[2], r[4], r[5]] for r in bad]

        # 3. Keystroke echo through `cat`.
        echo = {}
        rounds = max(1, KEYS // 25)
        # Neovim's own :terminal running cat: the floor of any terminal in Neovim.
        buf = n.exec_lua("vim.cmd('silent! tabonly | enew!') vim.fn.jobstart({ 'cat' }, { term = true }) "
                         "return vim.api.nvim_get_current_buf()")
        time.sleep(0.3)
        echo["builtin"] = n.exec_lua(ECHO, buf, 0, rounds, KEYS // rounds)
        n.exec_lua("vim.fn.jobstop(vim.b[...].terminal_job_id)", buf)
        for side in ("local", "remote"):
            buf, session, _ = n.exec_lua(START, spaces[side][0], "cat", "")
            echo[side] = n.exec_lua(ECHO, buf, session, rounds, KEYS // rounds)
            n.exec_lua("require('conductor.engine').load().agent_write(..., '\\4')", session)
        result["echo_shown_ms"] = {s: stats(v[0]) for s, v in echo.items()}
        result["echo_bytes_in_ms"] = {s: stats(v[1]) for s, v in echo.items() if v[1]}
        result["echo_keys"] = len(echo["local"][0])

        # 4. Review open: CHANGED files changed in the first timed workspace of each side.
        change_files(spaces["local"][1])
        change_files(spaces["remote"][1], host.uid, host.gid)
        api = {"local": [], "remote": []}
        for _ in range(CREATE_RUNS):
            for side in ("local", "remote"):
                api[side].append(n.exec_lua(REVIEW_API, spaces[side][0]))
        result["review_requests"] = {
            "changed_files_listed": {s: v[0][2] for s, v in api.items()},
            "changes_ms": {s: med([r[0] for r in v]) for s, v in api.items()},
            "changes_blob_file_read_ms": {s: med([r[1] for r in v]) for s, v in api.items()},
        }
        has_remote_review = os.path.exists(os.path.join(ROOT, "lua/conductor/review/remote_file.lua"))
        if has_remote_review or os.environ.get("BENCH_REVIEW_COMMAND"):
            cmd = {"local": [], "remote": []}
            for _ in range(CREATE_RUNS):
                for side in ("local", "remote"):
                    cmd[side].append(n.exec_lua(REVIEW_COMMAND, spaces[side][0]))
            result["review_first_diff_ms"] = {s: med([r[0] for r in v]) for s, v in cmd.items()}
            result["review_first_diff_runs_ms"] = {s: [round(r[0]) for r in v] for s, v in cmd.items()}
            # What the first review of each side asked the engine (the remote live side
            # must come through file_read: its path is readable here only on loopback).
            result["review_engine_calls"] = {s: v[0][1] for s, v in cmd.items()}
        else:
            result["review_first_diff_ms"] = "not measured: no review of a remote workspace in this checkout"
        result["load_avg"] = os.getloadavg()[0]
    finally:
        if ed:
            try:
                ed.nvim.exec_lua("pcall(require('conductor.engine').call, 'agent_stop_all', { host = 'box' })")
            except Exception:
                pass
            ed.close()
        result["host_cleanup"] = host.close(host_engine)
        shutil.rmtree(local_tmp, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
