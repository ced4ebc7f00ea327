#!/usr/bin/env python3
"""Diagnosis (issue 13): what limits `devsky snapshot create` (bench/snapshots.py misses
its targets). Not a benchmark with a target: it says where the time goes.

    bench/snapshot_waits.py DEVSKY_BINARY DATA_DIR

Needs eatmydata (apt-get install eatmydata), which makes fsync a no-op for the command it
runs. On a `cp -a` copy of the corpus:
  1. the first snapshot and `git add -A` into a fresh repository, both under eatmydata
     (one interleaved pair, after an untimed `sync` each): the snapshot without its fsyncs;
  2. after `make-corpus.py mutate` (1%), `strace -f -w -c` of the next snapshot: its system
     calls by wall time (shares; strace slows it), and the count of fsync calls.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, copy_of, load, out, run_timed, sh, syscalls, warm  # noqa: E402


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not shutil.which("eatmydata"):
        sys.exit("eatmydata is needed: apt-get install eatmydata")
    tree = copy_of(data, "sw-tree")
    gitdir = os.path.join(data, "sw-git")
    shutil.rmtree(gitdir, ignore_errors=True)
    try:
        warm(tree)
        sh(f"git init -q {gitdir}")
        with open(f"{gitdir}/.git/info/exclude", "a") as f:
            f.write("/.devsky/\n")
        sh("sync")
        g = run_timed(f"eatmydata git --git-dir={gitdir}/.git --work-tree={tree} add -A")
        sh(f"{devsky} init {tree}", stdout=subprocess.DEVNULL)
        sh("sync")
        d = run_timed(f"eatmydata {devsky} snapshot create -C {tree} --name first")
        print(f"first snapshot with fsync a no-op (eatmydata): devsky {d:.3f} s vs git add -A {g:.3f} s (also under "
              f"eatmydata): ratio {d / g:.2f}; {load()}")
        sh(f"{devsky} map {tree} -q", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        did = json.loads(out(f"python3 {HERE}/make-corpus.py mutate {tree} --seed 200"))
        n = sum(len(v) for v in did.values())
        sh("sync")
        t, top = syscalls(f"{devsky} snapshot create -C {tree} --name next", top=6)
        print(f"next snapshot ({n} paths changed) under strace -f -w -c: {t:.3f} s; system calls by wall time:\n" +
              "\n".join("    " + l for l in top))
        sh(f"python3 {HERE}/make-corpus.py mutate {tree} --seed 201", stdout=subprocess.DEVNULL)
        sh("sync")
        plain = run_timed(f"{devsky} snapshot create -C {tree} --name next2")
        sh(f"python3 {HERE}/make-corpus.py mutate {tree} --seed 202", stdout=subprocess.DEVNULL)
        sh("sync")
        eat = run_timed(f"eatmydata {devsky} snapshot create -C {tree} --name next3")
        print(f"next snapshot of another 1% change: {plain:.3f} s; of a third, under eatmydata: {eat:.3f} s; {load()}")
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        shutil.rmtree(gitdir, ignore_errors=True)


if __name__ == "__main__":
    main()
