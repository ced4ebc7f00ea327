#!/usr/bin/env python3
"""Benchmark (issue 13): snapshot create against git, in one run.

    bench/snapshots.py DEVSKY_BINARY DATA_DIR [FIRST_ROUNDS [NEXT_ROUNDS]]

On a `cp -a` copy of the 85,000-file corpus (common.pristine), page cache warm,
FIRST_ROUNDS (default 2) interleaved rounds of
  first snapshot   `devsky snapshot create` in a fresh store (`.devsky` removed, `devsky
                   init`)  vs  `git add -A` into a fresh repository of the same tree (git
                   also hashes, compresses and writes every object; its repository outside
                   the tree, .devsky excluded);
each run preceded by an untimed `sync`, so that neither pays for the other's dirty pages.
Both are checked to hold all 85,000 files. Then NEXT_ROUNDS (default 3) rounds of
  next snapshot    `make-corpus.py mutate --seed K` (1% changed, 0.2% added, 0.2% deleted),
                   then `devsky snapshot create`  vs  the warm `devsky map` (stat cache,
                   nothing changed), measured right after it; `git add -A` of the same
                   change is printed beside it for reference.
Target: first <= 1.5x git, next <= 2x the warm map. The copy is removed at the end.
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, copy_of, load, med, out, run_timed, runs, sh, warm  # noqa: E402


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    firsts = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    tree = copy_of(data, "snap-tree")
    gitdir = os.path.join(data, "snap-git")
    try:
        warm(tree)
        files = int(out(f"find {tree} -type f | wc -l"))
        print(f"snapshots: {files} files, {out(f'du -sh --apparent-size {tree}').split()[0]} in {tree}; {load()}")
        git = f"git --git-dir={gitdir}/.git --work-tree={tree}"

        def fresh_git():
            shutil.rmtree(gitdir, ignore_errors=True)
            sh(f"git init -q {gitdir}")
            with open(f"{gitdir}/.git/info/exclude", "a") as f:
                f.write("/.devsky/\n")

        def fresh_store():
            shutil.rmtree(os.path.join(tree, ".devsky"), ignore_errors=True)
            sh(f"{devsky} init {tree}", stdout=subprocess.DEVNULL)

        ours, base = [], []
        for r in range(firsts):
            fresh_git()
            sh("sync")
            base.append(run_timed(f"{git} add -A"))
            fresh_store()
            sh("sync")
            ours.append(run_timed(f"{devsky} snapshot create -C {tree} --name first"))
            print(f"  round {r + 1}: git add -A {base[-1]:.3f} s, devsky snapshot create {ours[-1]:.3f} s; {load()}")
        in_git = int(out(f"{git} ls-files | wc -l"))
        snap = json.loads(out(f"{devsky} snapshot list -C {tree} --json"))[0]
        ok = in_git == files and snap["files"] == files and not snap["partial"]
        o, b = med(ours), med(base)
        print(f"first snapshot: devsky {o:.3f} s vs git add -A {b:.3f} s: ratio {o / b:.2f} (target <= 1.5); "
              f"files: snapshot {snap['files']}, git {in_git} of {files}: {'all' if ok else 'MISSING SOME'}")
        print(f"  runs: devsky {runs(ours)}; git {runs(base)}")
        print(f"  sizes: .devsky {out(f'du -sh {tree}/.devsky').split()[0]}, git {out(f'du -sh {gitdir}/.git').split()[0]}")

        # Next snapshots: the store and the git index of the last round are kept.
        sh(f"{devsky} map {tree} -q", stdout=subprocess.DEVNULL)
        time.sleep(1.2)
        nexts, maps, gits, counts = [], [], [], []
        for r in range(rounds):
            did = json.loads(out(f"python3 {HERE}/make-corpus.py mutate {tree} --seed {100 + r}"))
            counts.append(sum(len(v) for v in did.values()))
            sh("sync")
            nexts.append(run_timed(f"{devsky} snapshot create -C {tree} --name next{r}"))
            time.sleep(0.2)
            maps.append(med([run_timed(f"{devsky} map {tree} -q") for _ in range(3)]))
            sh("sync")
            gits.append(run_timed(f"{git} add -A"))
            print(f"  round {r + 1}: {counts[-1]} paths changed; snapshot {nexts[-1]:.3f} s, warm map {maps[-1]:.3f} s, "
                  f"git add -A {gits[-1]:.3f} s; {load()}")
        diff = json.loads(out(f"{devsky} snapshot diff next{rounds - 2} next{rounds - 1} -C {tree} --json")
                          if rounds > 1 else "{\"changes\": []}")["changes"]
        n, m = med(nexts), med(maps)
        print(f"next snapshot (1% changed, {counts[-1]} paths): devsky {n:.3f} s vs warm map {m:.3f} s: ratio {n / m:.2f} "
              f"(target <= 2.0); git add -A of the same change {med(gits):.3f} s; last two snapshots differ by "
              f"{len(diff)} paths (mutate: {counts[-1]})")
        print(f"  runs: snapshot {runs(nexts)}; map {runs(maps)}; git {runs(gits)}")
        if not ok:
            sys.exit("a snapshot or the git index misses files")
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        shutil.rmtree(gitdir, ignore_errors=True)


if __name__ == "__main__":
    main()
