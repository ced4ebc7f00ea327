#!/usr/bin/env python3
"""Benchmark: deploy plans and the agent's map endpoint, against rsync, in one run.

    bench/deploy.py DEVSKY_BINARY DATA_DIR

Makes an 85,000-file corpus (make-corpus.py, ~1 GB) as the project, copies it as the
server's root, mutates the project (1% changed, 0.2% added, 0.2% deleted), starts
`devsky serve` on loopback, then measures (medians of 5, caches warm):
  plan   `devsky deploy plan` (remote map over HTTP + diff) vs `rsync -rn --delete`,
         and checks devsky's paths equal what `rsync -rcn --delete` finds;
  serve  50 concurrent GET /api/v1/map requests: all must succeed; p50 and p99.
"""
import concurrent.futures
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def timed(cmd, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sh(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    local, remote, state = (os.path.join(data, n) for n in ("local", "remote", "state"))
    for d in (local, remote, state):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(data, exist_ok=True)
    print("making the corpus (85,000 files) and the server's copy ...", file=sys.stderr)
    sh(f"python3 {HERE}/make-corpus.py make {local}")
    sh(f"cp -a {local} {remote}")
    sh(f"python3 {HERE}/make-corpus.py mutate {local}", stdout=subprocess.DEVNULL)
    sh(f"{devsky} init {local}", stdout=subprocess.DEVNULL)
    key = sh(f"{devsky} serve key create --root {remote} --state {state}", capture_output=True, text=True).stdout.split()[-1]
    port = free_port()
    agent = subprocess.Popen([devsky, "serve", "--root", remote, "--state", state, "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        sh(f"{devsky} server add bench --url http://127.0.0.1:{port} --key {key} --env staging --project {local}", stdout=subprocess.DEVNULL)
        plan_cmd = f"{devsky} deploy plan bench --project {local} --json"
        for _ in range(2):  # warm both stat caches (entries re-hashed once after a second)
            sh(plan_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.2)
        excl = "--exclude=/.devsky"
        ours = timed(plan_cmd)
        rsync = timed(f"rsync -rn --delete {excl} {local}/ {remote}/")
        plan = json.loads(sh(plan_cmd, capture_output=True, text=True).stdout)
        got = sorted([u["path"] for u in plan["uploads"]] + [d["path"] for d in plan["deletes"]])
        out = sh(f"rsync -rcn --delete {excl} --out-format=%n {local}/ {remote}/", capture_output=True, text=True).stdout
        want = sorted(l[len("deleting "):] if l.startswith("deleting ") else l
                      for l in out.splitlines() if l and not l.endswith("/"))
        same = got == want
        print(f"deploy plan: devsky {ours:.3f} s vs rsync -rn --delete {rsync:.3f} s: ratio {ours / rsync:.2f} (target <= 0.5); "
              f"{len(got)} paths, {'the same set as rsync -rcn' if same else 'DIFFERENT from rsync -rcn'}")

        def fetch(_):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/map", headers={"Authorization": f"Bearer {key}"})
            t = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as r:
                n = len(r.read())
                ok = r.status == 200 and n > 1000
            return ok, time.perf_counter() - t

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
            results = list(ex.map(fetch, range(50)))
        lat = sorted(t for _, t in results)
        oks = sum(1 for ok, _ in results if ok)
        print(f"serve map: 50 concurrent requests on the 85k tree: {oks}/50 succeeded; "
              f"p50 {lat[24] * 1000:.0f} ms, p99 {lat[-1] * 1000:.0f} ms")
        if not same or oks != 50:
            sys.exit("deploy benchmark checks failed")
    finally:
        agent.terminate()
        agent.wait()


if __name__ == "__main__":
    main()
