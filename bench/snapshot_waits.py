#!/usr/bin/env python3
"""Diagnosis (issue 13): what limits `devsky snapshot create` (bench/snapshots.py misses
its targets). Not a benchmark with a target: it says where the time goes.

    bench/snapshot_waits.py DEVSKY_BINARY DATA_DIR [FILES]

Needs eatmydata (apt-get install eatmydata), which makes fsync a no-op for the command it
runs. On a corpus of its own (`make-corpus.py make --files FILES`, default 20,000 files,
about 190 MiB: small enough for a shared disk; removed at the end):
  1. the first snapshot (fresh store) and `git add -A` into a fresh repository, as they
     are and both under eatmydata (after an untimed `sync` each): the snapshot without its
     fsyncs;
  2. after `make-corpus.py mutate` (1%), `strace -f -w -c` of the next snapshot: its system
     calls by wall time (shares; strace slows it), and the count of fsync calls.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, load, out, run_timed, sh, syscalls, warm  # noqa: E402


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not shutil.which("eatmydata"):
        sys.exit("eatmydata is needed: apt-get install eatmydata")
    files = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
    tree = os.path.join(data, "sw-tree")
    shutil.rmtree(tree, ignore_errors=True)
    sh(f"python3 {HERE}/make-corpus.py make {tree} --files {files}")
    gitdir = os.path.join(data, "sw-git")
    shutil.rmtree(gitdir, ignore_errors=True)
    try:
        warm(tree)
        times = {}
        for how in ("", "eatmydata "):
            shutil.rmtree(gitdir, ignore_errors=True)
            sh(f"git init -q {gitdir}")
            with open(f"{gitdir}/.git/info/exclude", "a") as f:
                f.write("/.devsky/\n")
            sh("sync")
            times["git", how] = run_timed(f"{how}git --git-dir={gitdir}/.git --work-tree={tree} add -A")
            shutil.rmtree(os.path.join(tree, ".devsky"), ignore_errors=True)
            sh(f"{devsky} init {tree}", stdout=subprocess.DEVNULL)
            sh("sync")
            times["devsky", how] = run_timed(f"{how}{devsky} snapshot create -C {tree} --name first")
        for how, label in (("", "as it is"), ("eatmydata ", "fsync a no-op (eatmydata)")):
            d, g = times["devsky", how], times["git", how]
            print(f"{files} files, first snapshot, {label}: devsky {d:.3f} s vs git add -A {g:.3f} s: ratio {d / g:.2f}")
        print(f"  {load()}")
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
