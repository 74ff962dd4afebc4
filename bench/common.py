"""Shared pieces of the benchmarks: a headless Neovim with the plugin loaded as a user
loads it (runtimepath + release library), driven over msgpack-RPC with pynvim."""
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import pynvim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_OUT puts the generated repositories elsewhere, e.g. on tmpfs to take the disk out.
OUT = os.environ.get("BENCH_OUT") or os.path.join(ROOT, "bench", "out")


def nvim_bin():
    return os.environ.get("CONDUCTOR_NVIM") or shutil.which("nvim") or os.path.join(ROOT, ".venv/bin/nvim")


def library():
    """The release library: $CONDUCTOR_LIB, else target/release (the engine program,
    conductor-engine, is found next to it, or at $CONDUCTOR_ENGINE)."""
    if os.environ.get("CONDUCTOR_LIB"):
        return os.environ["CONDUCTOR_LIB"]
    ext = "dylib" if os.uname().sysname == "Darwin" else "so"
    return os.path.join(ROOT, "target", "release", f"libconductor_core.{ext}")


def engine_bin():
    return os.environ.get("CONDUCTOR_ENGINE") or os.path.join(os.path.dirname(library()), "conductor-engine")


def stop_engine(state_home):
    """Stops the engine of an editor whose XDG_STATE_HOME was `state_home` (agents keep
    running in it after Neovim quits), and what it runs."""
    state_dir = os.path.join(state_home, "nvim", "conductor")
    if os.path.isdir(state_dir):
        subprocess.run([engine_bin(), "stop", "--state-dir", state_dir], capture_output=True, timeout=30)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """utime + stime of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def git(cwd, *args, **kw):
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@b", GIT_CONFIG_GLOBAL="/dev/null")
    return subprocess.run(["git", "-C", cwd, *args], check=True, capture_output=True, env=env, **kw)


def big_repo(files):
    """A repository of `files` small files in nested folders, cached under bench/out."""
    path = os.path.join(OUT, f"repo-{files}")
    if os.path.isdir(os.path.join(path, ".git")):
        return path
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        d = os.path.join(path, f"pkg{i // 1000:03d}", f"mod{(i // 50) % 20:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"file{i:06d}.txt"), "w") as f:
            f.write(f"line one of file {i}\nline two\n")
    with open(os.path.join(path, ".gitignore"), "w") as f:
        f.write(".env\n")
    with open(os.path.join(path, ".env"), "w") as f:
        f.write("BENCH=1\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "big")
    return path


class Editor:
    """A headless Neovim listening on a socket, with its own XDG dirs."""

    def __init__(self, cwd, plugin=True, share=None):
        """`share`: another (closed) Editor whose state and data dirs this one uses: a
        second Neovim of the same user, which finds the first one's engine running."""
        self.tmp = share.tmp if share else tempfile.mkdtemp(prefix="conductor-bench-")
        self.sock = os.path.join(self.tmp, f"nvim-{time.monotonic_ns()}.sock")
        # Workspaces land under XDG_DATA_HOME: keep it on the same filesystem as the
        # baselines' checkouts (OUT), or a comparison measures two disks.
        self.data = share.data if share else tempfile.mkdtemp(prefix="editor-data-", dir=OUT)
        env = dict(os.environ, XDG_STATE_HOME=f"{self.tmp}/state", XDG_DATA_HOME=self.data,
                   XDG_CONFIG_HOME=f"{self.tmp}/config", CONDUCTOR_LIB=library())
        args = [nvim_bin(), "--headless", "--listen", self.sock, "-i", "NONE"]
        if plugin:
            args += ["--cmd", f"set rtp^={ROOT}"]
        self.proc = subprocess.Popen(args + ["-u", "NONE" if not plugin else os.path.join(ROOT, "bench", "init.lua")],
                                     cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(self.sock):
                break
            time.sleep(0.01)
        self.nvim = pynvim.attach("socket", path=self.sock)

    def sleeper_workspace(self, name):
        """Creates workspace `name` (made unique by Neovim's pid) with an agent that only
        sleeps, and returns it once `User ConductorWorkspaceCreated` fired."""
        self.nvim.exec_lua(
            """
vim.g.bench_ws = nil
vim.api.nvim_create_autocmd('User', { pattern = 'ConductorWorkspaceCreated',
  callback = function(ev) vim.g.bench_ws = ev.data end })
require('conductor').setup({ agents = { sleeper = { cmd = { 'sleep', '3600' }, prompt = 'none' } } })
vim.cmd('ConductorNew --agent=sleeper --name=' .. ... .. '-' .. vim.fn.getpid() .. ' bench')
""",
            name,
        )
        for _ in range(6000):
            ws = self.nvim.eval("get(g:, 'bench_ws', v:null)")
            if ws:
                return ws
            time.sleep(0.01)
        raise RuntimeError("the workspace was not created within 60 s")

    def ping_ms(self):
        t = time.perf_counter()
        self.nvim.eval("1")
        return (time.perf_counter() - t) * 1000

    def engine_pid(self):
        """The pid of the engine process this Neovim talks to (None before it started)."""
        return self.nvim.exec_lua("return require('conductor.engine').load().connected().pid")

    def quit(self):
        """Quits Neovim only: its agents keep running in the engine (on_editor_exit =
        "keep", the default) for the next Neovim with the same dirs."""
        try:
            self.nvim.command("qall!")
        except Exception:
            pass
        self.proc.wait(timeout=10)

    def close(self):
        """Quits Neovim, stops its engine (and the agents in it), removes its dirs."""
        self.quit()
        stop_engine(f"{self.tmp}/state")
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)


def p95(samples):
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=20)[18]


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# A repository with one commit, for benchmarks where its size does not matter.
def tiny_repo():
    path = os.path.join(OUT, "tiny-repo")
    if not os.path.isdir(os.path.join(path, ".git")):
        os.makedirs(path, exist_ok=True)
        git(path, "init", "-q", "-b", "main")
        with open(os.path.join(path, "a.txt"), "w") as f:
            f.write("a\n")
        git(path, "add", "-A")
        git(path, "commit", "-qm", "tiny")
    return path
