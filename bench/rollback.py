#!/usr/bin/env python3
"""Benchmark (issue 13): `deploy rollback` against the push it undoes, in one run.

    bench/rollback.py DEVSKY_BINARY DATA_DIR [ROUNDS]

The project is a `cp -a` copy of the 85,000-file corpus (common.pristine) mutated by
`make-corpus.py mutate --change 15` (15% of the files changed, 0.2% added, 0.2% deleted);
the server's root is another copy of the unchanged corpus, served by `devsky serve` on
loopback (HTTP). ROUNDS (default 3) rounds of
  push      `devsky deploy push --yes` of the change (timed), then
  rollback  `devsky deploy rollback --yes` of that push (timed),
each preceded by an untimed `sync`. After every rollback the root is checked, by a
listing that shares no code with devsky (find + b3sum: path, size, mode, blake3), to be
exactly the corpus again; after every push, to equal the project. Target: rollback <= 1.5x
the push it undoes. Both copies are removed at the end.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, copy_of, listing, load, med, out, run_timed, runs, sh, warm  # noqa: E402
from deploy import free_port  # noqa: E402


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    local = copy_of(data, "rb-local")
    remote = copy_of(data, "rb-remote")
    state = os.path.join(data, "rb-state")
    shutil.rmtree(state, ignore_errors=True)
    agent = None
    try:
        did = json.loads(out(f"python3 {HERE}/make-corpus.py mutate {local} --change 15"))
        counts = {k: len(v) for k, v in did.items()}
        sh(f"{devsky} init {local}", stdout=subprocess.DEVNULL)
        warm(local)
        warm(remote)
        before = listing(remote)
        after = listing(local)
        sh("sync")
        key = out(f"{devsky} serve key create --root {remote} --state {state}").split()[-1]
        port = free_port()
        agent = subprocess.Popen([devsky, "serve", "--root", remote, "--state", state, "--listen", f"127.0.0.1:{port}"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "rb-serve.log"), "w"))
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        sh(f"{devsky} server add bench --url http://127.0.0.1:{port} --key {key} --env staging --project {local}",
           stdout=subprocess.DEVNULL)
        # Warm both stat caches, as on a project and a server in use.
        for _ in range(2):
            sh(f"{devsky} deploy plan bench --project {local}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.2)
        print(f"rollback: project = corpus with {counts['changed']} changed, {counts['added']} added, "
              f"{counts['deleted']} deleted; server = devsky serve on 127.0.0.1:{port}; {load()}")
        pushes, backs, ok = [], [], True
        for r in range(rounds):
            sh("sync")
            pushes.append(run_timed(f"{devsky} deploy push bench --yes --project {local}"))
            pushed = listing(remote) == after
            sh("sync")
            backs.append(run_timed(f"{devsky} deploy rollback bench --yes --project {local}"))
            back = listing(remote) == before
            ok = ok and pushed and back
            print(f"  round {r + 1}: push {pushes[-1]:.3f} s ({'= project' if pushed else 'DIFFERS from the project'}), "
                  f"rollback {backs[-1]:.3f} s ({'= the corpus' if back else 'DIFFERS from the corpus'}); {load()}")
        p, b = med(pushes), med(backs)
        print(f"deploy rollback of a 15% change: rollback {b:.3f} s vs the push {p:.3f} s: ratio {b / p:.2f} "
              f"(target <= 1.5); every result checked by find + b3sum: {'exact' if ok else 'MISMATCH'}")
        print(f"  runs: push {runs(pushes)}; rollback {runs(backs)}")
        hist = out(f"{devsky} deploy history bench --project {local}")
        print("  history:\n" + "\n".join("    " + l for l in hist.splitlines()[:4]))
        if not ok:
            sys.exit("a push or a rollback left the server's root wrong")
    finally:
        if agent:
            agent.terminate()
            agent.wait()
        for d in (local, remote, state):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
