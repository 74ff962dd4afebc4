"""Neovim startup with the plugin installed vs not installed, in the same run:
`nvim --headless --startuptime FILE -c qa`, the variants alternating run by run so that
machine noise hits them alike. Variants:
  none      the same init file, plugin not on the runtimepath (baseline);
  plugin    the checkout on the runtimepath, plugin/ sourced at startup (any plugin
            manager, or lazy.nvim with `lazy = false`);
  setup     the same, plus `require("conductor").setup({})` in the init file (lazy.nvim's
            `opts = {}` without lazy loading).
Each run has its own XDG dirs, so no user config or plugin takes part."""
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile

from common import ROOT, library, nvim_bin, p95

RUNS = int(os.environ.get("BENCH_RUNS", "100"))
BASE_INIT = os.path.join(ROOT, "bench", "init.lua")


def parse(log):
    """Total startup (the clock at "NVIM STARTED") and the plugin's own sourcing time."""
    total, plugin = None, 0.0
    with open(log) as f:
        for line in f:
            if "--- NVIM STARTED ---" in line:
                total = float(line.split()[0])
            # "clock  self+sourced  self:  sourcing FILE"
            m = re.match(r"\s*[\d.]+\s+([\d.]+)\s+[\d.]+:\s+sourcing (.*)$", line)
            if m and m.group(2).startswith(os.path.join(ROOT, "plugin") + os.sep):
                plugin += float(m.group(1))
    return total, plugin


def main():
    tmp = tempfile.mkdtemp(prefix="conductor-bench-startup-")
    setup_init = os.path.join(tmp, "init-setup.lua")
    with open(setup_init, "w") as f:
        f.write(f"dofile({json.dumps(BASE_INIT)})\nrequire('conductor').setup({{}})\n")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{tmp}/config", XDG_DATA_HOME=f"{tmp}/data",
               XDG_STATE_HOME=f"{tmp}/state", XDG_CACHE_HOME=f"{tmp}/cache", CONDUCTOR_LIB=library())
    rtp = ["--cmd", f"set rtp^={ROOT}"]
    variants = {
        "none": ["-u", BASE_INIT],
        "plugin": rtp + ["-u", BASE_INIT],
        "setup": rtp + ["-u", setup_init],
    }
    total = {k: [] for k in variants}
    sourcing = {k: [] for k in variants}
    log = os.path.join(tmp, "startuptime.log")
    try:
        for _ in range(3):  # warm the file cache; not counted
            for args in variants.values():
                subprocess.run([nvim_bin(), "--headless", "-i", "NONE", *args, "-c", "qa!"], env=env,
                               check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for _ in range(RUNS):
            for name, args in variants.items():
                if os.path.exists(log):
                    os.remove(log)
                subprocess.run([nvim_bin(), "--headless", "-i", "NONE", "--startuptime", log, *args,
                                "-c", "qa!"], env=env, check=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)
                t, p = parse(log)
                total[name].append(t)
                sourcing[name].append(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in total.items()}
    result = {
        "bench": "startup",
        "runs": RUNS,
        "none_median_ms": round(med["none"], 2),
        "none_p95_ms": round(p95(total["none"]), 2),
        "plugin_median_ms": round(med["plugin"], 2),
        "plugin_p95_ms": round(p95(total["plugin"]), 2),
        "setup_median_ms": round(med["setup"], 2),
        "setup_p95_ms": round(p95(total["setup"]), 2),
        "added_plugin_median_ms": round(med["plugin"] - med["none"], 2),
        "added_setup_median_ms": round(med["setup"] - med["none"], 2),
        "plugin_sourcing_median_ms": round(statistics.median(sourcing["plugin"]), 3),
        "plugin_sourcing_p95_ms": round(p95(sourcing["plugin"]), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
