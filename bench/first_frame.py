#!/usr/bin/env python3
"""Benchmark: time from process start to the first frame, on a store of 100,000 records.

Runs `devsky PROJECT --exit-after-first-frame` on a pseudo-terminal (so the TUI really
starts: raw mode, alternate screen, first draw, restore) and times the whole process.
Target: under 100 ms. For scale it also times `true` started the same way.

    bench/first_frame.py DEVSKY_BINARY PROJECT_DIR
"""
import os
import pty
import statistics
import subprocess
import sys
import time


def run_on_pty(argv):
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                         env={**os.environ, "TERM": "xterm-256color", "DEVSKY_CONFIG_DIR": "/nonexistent"})
    while p.poll() is None:
        try:
            os.read(master, 65536)
        except BlockingIOError:
            time.sleep(0.0005)
    elapsed = time.perf_counter() - start
    os.close(slave)
    os.close(master)
    if p.returncode != 0:
        sys.exit(f"{argv} exited with {p.returncode}")
    return elapsed


def main():
    binary, project = sys.argv[1], sys.argv[2]
    runs = 20
    for _ in range(3):
        run_on_pty([binary, project, "--exit-after-first-frame"])
    ours = [run_on_pty([binary, project, "--exit-after-first-frame"]) for _ in range(runs)]
    base = [run_on_pty(["true"]) for _ in range(runs)]
    med, worst = statistics.median(ours) * 1000, max(ours) * 1000
    print(f"first_frame: median {med:.1f} ms, max {worst:.1f} ms over {runs} runs "
          f"(process start of `true`: {statistics.median(base) * 1000:.1f} ms) (target: < 100 ms)")


if __name__ == "__main__":
    main()
