#!/usr/bin/env python3
"""Benchmark: deploy plans and the agent's map endpoint, against rsync, in one run.

    bench/deploy.py DEVSKY_BINARY DATA_DIR

Makes an 85,000-file corpus (make-corpus.py, ~1 GB) as the project, copies it as the
server's root, mutates the project (1% changed, 0.2% added, 0.2% deleted), starts
`devsky serve` on loopback, then measures (medians of 5, caches warm):
  plan   `devsky deploy plan` (remote map over HTTP + diff) vs `rsync -rn --delete`,
         and checks devsky's paths equal what `rsync -rcn --delete` finds;
  serve  200 GET /api/v1/map requests, 50 at a time: all must succeed; p50 and p99 (real
         percentiles over 200 samples);
  push   `devsky deploy push` of the change over the ssh stdio transport (a private sshd on
         loopback) vs `rsync -a --delete` over the same ssh, each onto a fresh copy of the
         server's tree (reset untimed with rsync before every run; the agent's stat cache is
         warm, as on a server it serves); medians of 7, every run printed; both results are
         checked equal to the project.
"""
import concurrent.futures
import math
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


def start_sshd(data):
    """A private sshd on a free loopback port; returns (process, port, ssh options)."""
    d = os.path.join(data, "sshd")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for k in ("host_key", "client_key"):
        sh(f"ssh-keygen -q -t ed25519 -N '' -f {d}/{k}")
    shutil.copy(f"{d}/client_key.pub", f"{d}/authorized_keys")
    os.makedirs("/run/sshd", exist_ok=True)
    port = free_port()
    with open(f"{d}/sshd_config", "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
                f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n"
                f"PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                f"SetEnv XDG_DATA_HOME={data}/xdg\nSubsystem sftp /usr/lib/openssh/sftp-server\n")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{d}/sshd.log", "w"))
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    opts = (f"-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile={d}/known_hosts "
            f"-o BatchMode=yes -o LogLevel=ERROR -i {d}/client_key -p {port}")
    return proc, port, opts


def same_tree(a, b):
    out = sh(f"rsync -rcn --delete --exclude=/.devsky --out-format=%n {a}/ {b}/", capture_output=True, text=True).stdout
    return not [l for l in out.splitlines() if l and not l.endswith("/")]


def push_bench(devsky, local, remote, data):
    """Push over ssh: devsky vs rsync -a --delete, each onto a reset copy of the server."""
    user = sh("id -un", capture_output=True, text=True).stdout.strip()
    sshd, port, opts = start_sshd(data)
    mine, theirs = os.path.join(data, "push-devsky"), os.path.join(data, "push-rsync")
    try:
        for t in (mine, theirs):
            shutil.rmtree(t, ignore_errors=True)
            sh(f"cp -a {remote} {t}")
        sh("sync")
        ssh_opt = opts.replace(f" -p {port}", "")
        sh(f"{devsky} server add bench-ssh --ssh {user}@127.0.0.1:{port} --root {mine} --remote-bin {devsky} "
           f"--ssh-opt '{ssh_opt}' --env staging --project {local}", stdout=subprocess.DEVNULL)
        # The reset's writes are flushed before timing: devsky syncs what it stages, and
        # must not pay for the reset's dirty pages (rsync never syncs).
        reset = lambda t: sh(f"rsync -a --delete {remote}/ {t}/ && sync", stdout=subprocess.DEVNULL)
        # Warm the agent's stat cache on its root, as a serving agent's is.
        sh(f"{devsky} deploy plan bench-ssh --project {local}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        push = f"{devsky} deploy push bench-ssh --yes --project {local}"
        rsync = f"rsync -a --delete --exclude=/.devsky -e 'ssh {opts}' {local}/ {user}@127.0.0.1:{theirs}/"
        ours, base = [], []
        for _ in range(7):
            reset(mine)
            t = time.perf_counter()
            sh(push, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ours.append(time.perf_counter() - t)
            reset(theirs)
            t = time.perf_counter()
            sh(rsync, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base.append(time.perf_counter() - t)
        ok = same_tree(local, mine) and same_tree(local, theirs)
        o, b = statistics.median(ours), statistics.median(base)
        print(f"deploy push over ssh: devsky {o:.3f} s vs rsync -a --delete over ssh {b:.3f} s: ratio {o / b:.2f} "
              f"(target <= 1.0); results {'equal the project' if ok else 'DIFFER from the project'}")
        print("  runs: devsky " + " ".join(f"{t:.3f}" for t in ours) + "; rsync " + " ".join(f"{t:.3f}" for t in base))
        return ok
    finally:
        sshd.terminate()
        sshd.wait()


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
    sh("sync")  # the 2 GB just written is flushed now, not while timing
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

        n = 200
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
            results = list(ex.map(fetch, range(n)))
        lat = sorted(t for _, t in results)
        oks = sum(1 for ok, _ in results if ok)

        def pct(p):  # nearest-rank percentile
            return lat[max(0, math.ceil(p * len(lat)) - 1)]
        print(f"serve map: {n} requests on the 85k tree, 50 at a time: {oks}/{n} succeeded; "
              f"p50 {pct(0.50) * 1000:.0f} ms, p99 {pct(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
        pushed = push_bench(devsky, local, remote, data)
        if not same or oks != n or not pushed:
            sys.exit("deploy benchmark checks failed")
    finally:
        agent.terminate()
        agent.wait()


if __name__ == "__main__":
    main()
