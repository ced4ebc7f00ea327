#!/usr/bin/env python3
"""Benchmark: file maps and snapshot diff against the standard tools, in one run.

    bench/maps.py DEVSKY_BINARY CORPUS_DIR

Makes the corpus with make-corpus.py (85,000 files, about 1 GB) when missing, warms the
page cache, then times (median of 5):
  cold map    `devsky map` with no stat cache   vs  find | xargs -P2 -n 2000 b3sum
  warm map    `devsky map` with the stat cache  vs  find -printf '%s %T@ %p'
  snapshot diff after `make-corpus.py mutate` (1% changed, 0.2% added, 0.2% deleted):
              checks the paths equal what mutate printed; time vs the warm map
The corpus is mutated by the run; the next run makes it again.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def timed(cmd, runs=5, before=None):
    times = []
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        sh(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    devsky, corpus = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    tree = os.path.join(corpus, "tree")
    if not os.path.exists(os.path.join(corpus, "pristine")):
        shutil.rmtree(tree, ignore_errors=True)
        print("making the corpus (85,000 files, ~1 GB) ...", file=sys.stderr)
        sh(f"python3 {HERE}/make-corpus.py make {tree}")
        open(os.path.join(corpus, "pristine"), "w").close()
    shutil.rmtree(os.path.join(tree, ".devsky"), ignore_errors=True)
    sh(f"{devsky} init {tree}", stdout=subprocess.DEVNULL)
    files = "find . -path ./.devsky -prune -o -type f"
    sh(f"cd {tree} && {files} -print0 | xargs -0 cat > /dev/null")  # warm the page cache
    cache = os.path.join(tree, ".devsky", "cache", "worktree.map")

    def drop_cache():
        if os.path.exists(cache):
            os.remove(cache)

    b3 = timed(f"cd {tree} && {files} -print0 | xargs -0 -P2 -n 2000 b3sum")
    cold = timed(f"{devsky} map {tree} -q", before=drop_cache)
    sh(f"{devsky} map {tree} -q")
    time.sleep(1.2)  # entries hashed within a second of a map are re-checked once
    sh(f"{devsky} map {tree} -q")
    find = timed(f"find {tree} -path {tree}/.devsky -prune -o -type f -printf '%s %T@ %p\\n'")
    warm = timed(f"{devsky} map {tree} -q")
    print(f"map cold:  devsky {cold:.3f} s vs b3sum {b3:.3f} s: ratio {cold / b3:.2f} (target <= 1.0)")
    print(f"map warm:  devsky {warm:.3f} s vs find -printf {find:.3f} s: ratio {warm / find:.2f} (target <= 1.5)")

    sh(f"{devsky} snapshot create -C {tree} --name bench", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.2)
    sh(f"{devsky} map {tree} -q")
    aside = os.path.join(corpus, "devsky-aside")
    os.rename(os.path.join(tree, ".devsky"), aside)
    os.remove(os.path.join(corpus, "pristine"))
    did = json.loads(sh(f"python3 {HERE}/make-corpus.py mutate {tree}", capture_output=True).stdout)
    os.rename(aside, os.path.join(tree, ".devsky"))
    t = time.perf_counter()
    out = sh(f"{devsky} snapshot diff 1 -C {tree} --json", capture_output=True).stdout
    first = time.perf_counter() - t
    again = timed(f"{devsky} snapshot diff 1 -C {tree}")
    changes = json.loads(out)["changes"]
    got = {k: sorted(c["path"] for c in changes if c["kind"] == k) for k in ("modified", "added", "removed")}
    want = {"modified": sorted(did["changed"]), "added": sorted(did["added"]), "removed": sorted(did["deleted"])}
    same = got == want and len(changes) == sum(len(v) for v in want.values())
    print(f"snapshot diff after mutate: {len(changes)} changes ({len(did['changed'])} changed, "
          f"{len(did['added'])} added, {len(did['deleted'])} deleted): {'exactly mutate' if same else 'MISMATCH'}; "
          f"first run {first:.3f} s, then {again:.3f} s; vs warm map {warm:.3f} s: ratio {first / warm:.2f} (target < 1.5)")
    if not same:
        sys.exit("snapshot diff does not match mutate's output")


if __name__ == "__main__":
    main()
