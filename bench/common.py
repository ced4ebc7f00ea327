"""Shared helpers of the Python benchmarks (snapshots, rollback, scripts, search, agentless).

The 85,000-file corpus is made once by make-corpus.py into DATA/pristine (about 1 GB, four
minutes on a loaded machine) and never changed there: a benchmark works on `cp -a` copies
(modification times kept, so rsync-style tools see unchanged files as unchanged) and removes
them when it is done. `load()` is printed beside every figure: this machine is shared, and a
ratio is only fair between runs measured in the same minutes, interleaved.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def out(cmd):
    return sh(cmd, capture_output=True, text=True).stdout


def run_timed(cmd, env=None):
    """Seconds taken by a shell command (its output dropped); fails loudly on an error."""
    t = time.perf_counter()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return dt


def load():
    with open("/proc/loadavg") as f:
        return "load average " + " ".join(f.read().split()[:3])


def med(xs):
    return statistics.median(xs)


def runs(xs):
    return " ".join(f"{x:.3f}" for x in xs)


def pristine(data):
    """DATA/pristine: the default corpus (85,000 files), made once."""
    p = os.path.join(data, "pristine")
    done = os.path.join(data, "pristine.done")
    if not os.path.exists(done):
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(data, exist_ok=True)
        print("making the corpus (85,000 files, ~1 GB) ...", file=sys.stderr)
        sh(f"python3 {HERE}/make-corpus.py make {p}")
        open(done, "w").close()
    return p


def copy_of(data, name):
    """A fresh `cp -a` copy of the pristine corpus at DATA/NAME."""
    src = pristine(data)
    dst = os.path.join(data, name)
    shutil.rmtree(dst, ignore_errors=True)
    sh(f"cp -a {src} {dst}")
    # bench/search.py keeps a store in the corpus while it runs: no copy takes it along.
    shutil.rmtree(os.path.join(dst, ".devsky"), ignore_errors=True)
    return dst


def warm(tree):
    """Read every file once so that the page cache holds the tree."""
    sh(f"cd {tree} && find . -path ./.devsky -prune -o -path ./.git -prune -o -type f -print0 | xargs -0 cat > /dev/null")


def listing(tree):
    """An oracle that shares no code with devsky: `path size mode blake3` of every file
    (b3sum), sorted; .devsky, .devsky-state (the state file of agentless targets) and .git
    left out."""
    skip = "\\( -path ./.devsky -o -path ./.devsky-state -o -path ./.git \\) -prune -o"
    lines = out(f"cd {tree} && find . {skip} -type f -printf '%P %s %m\\n' | sort")
    sums = out(f"cd {tree} && find . {skip} -type f -print0 | "
               f"xargs -0 -P2 -n 2000 b3sum | sort -k2")
    h = {l[66:].removeprefix("./"): l[:64] for l in sums.splitlines() if l}
    return [f"{l} {h.get(l.rsplit(' ', 2)[0], '?')}" for l in lines.splitlines() if l]


def differ(got, want):
    """The first few lines on which two listings differ (for a failed check's message)."""
    a, b = set(got), set(want)
    return sorted(["+ " + l for l in a - b] + ["- " + l for l in b - a])[:6]


def syscalls(cmd, top=5):
    """Where a command waits: `strace -f -w -c` (wall time per system call, summed over its
    threads; strace slows the command, so only the shares mean something). Returns the
    command's time under strace and the `top` lines of the summary."""
    path = f"/tmp/devsky-bench-strace-{os.getpid()}.txt"
    t = run_timed(f"strace -f -w -c -o {path} {cmd}")
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if l.strip() and not l.startswith(("%", "-"))]
    os.remove(path)
    return t, lines[:top]
