#!/usr/bin/env python3
"""Benchmark (issue 14): change scripts — create and build — in one run.

    bench/scripts.py DEVSKY_BINARY DATA_DIR [ROUNDS]

Setup: the project is a `cp -a` copy of the 85,000-file corpus (common.pristine) with a
SQLite database outside it (`posts`: 100,000 rows, ~600 bytes each, set to 'data' mode so
that its row changes are scripted); `devsky snapshot create --db`. Then the files are
mutated (`make-corpus.py mutate`: 1% changed, 0.2% added, 0.2% deleted) and 1% of the rows
updated. ROUNDS (default 3) interleaved rounds of
  create    `devsky script create --from before`  vs  `devsky snapshot diff before` plus
            the data checksum of that table by sqlite3 (`.sha3sum posts`), both timed;
target: create < 2x the sum. Then ROUNDS rounds on a copy of the old state (the corpus and
the database as snapshotted):
  build     `devsky build apply --target OLD --db old` (timed; journal, backups, SQL,
            verification), checked equal to the project (find + b3sum) and the database
            (`sqlite3 .dump` of posts); then `devsky build rollback --yes` (timed),
            checked equal to the old state; then
  rsync     `rsync -a --delete` of the same file change onto the same copy (timed), then
            reset to the old state with rsync from the corpus (untimed).
Each timed command is preceded by an untimed `sync`. The copies are removed at the end.
"""
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, copy_of, listing, load, med, out, pristine, run_timed, runs, sh, syscalls, warm  # noqa: E402

ROWS = 100_000


def make_db(path):
    if os.path.exists(path):
        os.remove(path)
    rng = random.Random(7)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL, "
              "status TEXT NOT NULL, modified INTEGER NOT NULL)")
    c.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)",
                  ((i, f"Post {i}", " ".join(rng.choice(words) for _ in range(90)), "publish", 1_700_000_000 + i)
                   for i in range(1, ROWS + 1)))
    c.commit()
    c.close()


def change_rows(path):
    c = sqlite3.connect(path)
    n = c.execute("UPDATE posts SET content = content || ' (edited)', modified = modified + 1 WHERE id % 100 = 7").rowcount
    c.commit()
    c.close()
    return n


def dump(path):
    return out(f"sqlite3 {path} '.dump posts'")


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    base = pristine(data)
    local = copy_of(data, "sc-local")
    target = os.path.join(data, "sc-target")
    site, old = os.path.join(data, "sc-site.db"), os.path.join(data, "sc-old.db")
    try:
        sh(f"{devsky} init {local}", stdout=subprocess.DEVNULL)
        make_db(site)
        shutil.copy(site, old)
        at = f"-C {local}"
        sh(f"{devsky} db add site --url sqlite://{site} {at}", stdout=subprocess.DEVNULL)
        sh(f"{devsky} db add old --url sqlite://{old} {at}", stdout=subprocess.DEVNULL)
        sh(f"{devsky} db table site posts --rows {at}", stdout=subprocess.DEVNULL)
        warm(local)
        t = run_timed(f"{devsky} snapshot create --name before --db site {at}")
        did = json.loads(out(f"python3 {HERE}/make-corpus.py mutate {local}"))
        nfiles = sum(len(v) for v in did.values())
        nrows = change_rows(site)
        sh(f"{devsky} map {local} -q", stdout=subprocess.DEVNULL)
        print(f"scripts: {ROWS:,} rows in posts (SQLite), snapshot 'before' with its database took {t:.3f} s; "
              f"then {nfiles} paths and {nrows} rows changed; {load()}")

        creates, diffs, sums = [], [], []
        for r in range(rounds):
            sh("sync")
            diffs.append(run_timed(f"{devsky} snapshot diff before {at}"))
            sums.append(run_timed(f"sqlite3 {site} '.sha3sum posts'"))
            sh("sync")
            creates.append(run_timed(f"{devsky} script create --from before --name s{r} {at}"))
            print(f"  round {r + 1}: snapshot diff {diffs[-1]:.3f} s + .sha3sum {sums[-1]:.3f} s; "
                  f"script create {creates[-1]:.3f} s; {load()}")
        show = json.loads(out(f"{devsky} script show s0 {at} --json"))
        files_in = len(show.get("files", [])) if isinstance(show.get("files"), list) else show.get("files")
        c, bsum = med(creates), med(diffs) + med(sums)
        print(f"script create: {c:.3f} s (first {creates[0]:.3f} s) vs snapshot diff {med(diffs):.3f} s + data checksum "
              f"{med(sums):.3f} s = {bsum:.3f} s: ratio {c / bsum:.2f}, first run {creates[0] / bsum:.2f} (target < 2)")
        print(f"  runs: create {runs(creates)}; diff {runs(diffs)}; sha3sum {runs(sums)}; script s0 files: {files_in}")

        t, top = syscalls(f"{devsky} script create --from before --name traced {at}")
        print(f"  where script create waits (strace -f -w -c; {t:.3f} s under strace; system calls by wall time, "
              f"summed over threads):\n" + "\n".join("    " + l for l in top))

        # Builds on a copy of the old state.
        shutil.rmtree(target, ignore_errors=True)
        sh(f"rsync -a --exclude=/.devsky {base}/ {target}/")
        warm(target)
        want_new, want_old = listing(local), listing(target)
        rows_new, rows_old = dump(site), dump(old)
        builds, backs, rsyncs, ok = [], [], [], True
        for r in range(rounds):
            sh("sync")
            builds.append(run_timed(f"{devsky} build apply s0 --target {target} --db old {at}"))
            good = listing(target) == want_new and dump(old) == rows_new
            bid = json.loads(out(f"{devsky} build list {at} --json"))[0]["id"]
            sh("sync")
            backs.append(run_timed(f"{devsky} build rollback {bid} --yes {at}"))
            back = listing(target) == want_old and dump(old) == rows_old
            sh("sync")
            rsyncs.append(run_timed(f"rsync -a --delete --exclude=/.devsky {local}/ {target}/"))
            synced = listing(target) == want_new
            sh(f"rsync -a --delete --exclude=/.devsky {base}/ {target}/")
            ok = ok and good and back and synced
            print(f"  round {r + 1}: build {builds[-1]:.3f} s ({'= project' if good else 'WRONG'}), rollback "
                  f"{backs[-1]:.3f} s ({'= old' if back else 'WRONG'}), rsync -a --delete {rsyncs[-1]:.3f} s "
                  f"({'= project' if synced else 'WRONG'}); {load()}")
        t, top = syscalls(f"{devsky} build apply s0 --target {target} --db old {at}")
        bid_traced = json.loads(out(f"{devsky} build list {at} --json"))[0]["id"]
        print(f"  where build apply waits (strace -f -w -c; {t:.3f} s under strace):\n" + "\n".join("    " + l for l in top))
        sh(f"{devsky} build rollback {bid_traced} --yes {at}", stdout=subprocess.DEVNULL)
        b, rs = med(builds), med(rsyncs)
        print(f"build apply (files + {nrows} rows, journal, backups, verification) {b:.3f} s vs rsync -a --delete of the "
              f"files {rs:.3f} s: ratio {b / rs:.2f}; rollback {med(backs):.3f} s; results checked by find + b3sum and "
              f"sqlite3 .dump: {'exact' if ok else 'MISMATCH'}")
        print(f"  runs: build {runs(builds)}; rollback {runs(backs)}; rsync {runs(rsyncs)}")
        if not ok:
            sys.exit("a build, rollback or rsync left the target wrong")
    finally:
        for d in (local, target):
            shutil.rmtree(d, ignore_errors=True)
        for f in (site, old):
            if os.path.exists(f):
                os.remove(f)


if __name__ == "__main__":
    main()
