#!/usr/bin/env python3
"""Benchmark: the registry under load, on PostgreSQL (issue 16, Performance).

    bench/registry_load.py DEVSKY_BINARY WORK_DIR [DOWNLOADS] [SUBMITS]

Starts a private PostgreSQL (initdb + pg_ctl on a free loopback port, in WORK_DIR, as
tests/support/postgres.rs does: as root both run as the `postgres` user through setpriv;
durable defaults, fsync on) and `devsky registry serve --database postgres://...` on it.
Publishes 20 packages of 64 KiB, then starts at once, each on its own connection:
  DOWNLOADS (default 200) downloads of those archives (GET, the blake3 checked here)
  SUBMITS   (default 50) submits of new packages by 50 users (reserve + upload)
Every one must succeed; latencies (from the common start) are reported as p50/p99/max,
with the wall time of the whole burst.
"""
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from registry_sync import b3  # noqa: E402


def pg_bin():
    for d in os.environ.get("PATH", "").split(":"):
        if os.path.isfile(os.path.join(d, "initdb")):
            return os.path.dirname(os.path.realpath(os.path.join(d, "initdb")))
    base = "/usr/lib/postgresql"
    found = sorted(os.path.join(base, v, "bin") for v in os.listdir(base)
                   if os.path.isfile(os.path.join(base, v, "bin", "initdb"))) if os.path.isdir(base) else []
    if not found:
        raise SystemExit("PostgreSQL is needed: apt-get install postgresql")
    return found[-1]


def as_pg(cmd):
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--"] + cmd
    return cmd


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    exe, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    downloads = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    submits = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    pg_dir, data = os.path.join(work, "pg"), os.path.join(work, "data")
    os.makedirs(pg_dir)
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres:postgres", pg_dir], check=True)
    bin_ = pg_bin()
    subprocess.run(as_pg([os.path.join(bin_, "initdb"), "-D", os.path.join(pg_dir, "data"),
                          "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    port = free_port()
    subprocess.run(as_pg([os.path.join(bin_, "pg_ctl"), "-D", os.path.join(pg_dir, "data"),
                          "-l", os.path.join(pg_dir, "log"), "-o",
                          f"-p {port} -k {pg_dir} -c listen_addresses=127.0.0.1",
                          "-w", "-t", "60", "start"]), check=True, capture_output=True)
    db = f"postgres://postgres@127.0.0.1:{port}/postgres"
    server = None
    try:
        def user(login):
            return subprocess.run([exe, "registry", "user", "add", login, "--data", data,
                                   "--database", db],
                                  capture_output=True, check=True).stdout.decode().strip()
        owner = user("owner")
        tokens = [user(f"u{i:03d}") for i in range(submits)]
        server = subprocess.Popen([exe, "registry", "serve", "--data", data, "--database", db,
                                   "--listen", "127.0.0.1:0"],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        while True:
            line = server.stderr.readline().decode()
            if not line:
                raise SystemExit("the registry did not start")
            if "http://" in line:
                url = line[line.index("http://"):].strip()
                break
        threading.Thread(target=lambda: server.stderr.read(), daemon=True).start()
        host, rport = url[len("http://"):].split(":")
        rport = int(rport)

        def publish(conn, token, name, body):
            auth = {"Authorization": f"Bearer {token}"}
            conn.request("POST", "/api/v1/reserve", json.dumps({"name": name, "version": "1.0.0"}),
                         {**auth, "Content-Type": "application/json"})
            r = conn.getresponse(); r.read()
            if r.status != 201:
                return f"reserve {name}: {r.status}"
            conn.request("PUT", f"/api/v1/packages/{name}/1.0.0", body,
                         {**auth, "X-Checksum-Blake3": b3(body)})
            r = conn.getresponse(); r.read()
            return None if r.status == 201 else f"upload {name}: {r.status}"

        seed = http.client.HTTPConnection(host, rport)
        blobs = {}
        for i in range(20):
            body = (f"archive {i} ".encode() * 8192)[:65536]
            err = publish(seed, owner, f"seed{i:02d}", body)
            assert err is None, err
            blobs[f"seed{i:02d}"] = b3(body)
        seed.close()
        # Checksums of the submitted bodies are computed before the start, not in the burst.
        sub_bodies = []
        for i in range(submits):
            body = (f"submit {i} ".encode() * 4096)[:32768]
            sub_bodies.append((body, b3(body)))

        start = threading.Barrier(downloads + submits + 1)
        lat_dl, lat_sub, errors = [], [], []
        lock = threading.Lock()
        t0 = [0.0]

        def download(i):
            name = f"seed{i % 20:02d}"
            conn = http.client.HTTPConnection(host, rport, timeout=120)
            start.wait()
            try:
                conn.request("GET", f"/api/v1/packages/{name}/1.0.0",
                             headers={"Authorization": f"Bearer {owner}"})
                r = conn.getresponse()
                body = r.read()
                ok = r.status == 200 and b3(body) == blobs[name]
                err = None if ok else f"download {name}: {r.status}, {len(body)} bytes"
            except Exception as e:  # noqa: BLE001
                err = f"download {name}: {e}"
            dt = time.perf_counter() - t0[0]
            with lock:
                (errors.append(err) if err else lat_dl.append(dt))

        def submit(i):
            body, sum_ = sub_bodies[i]
            auth = {"Authorization": f"Bearer {tokens[i]}"}
            conn = http.client.HTTPConnection(host, rport, timeout=120)
            start.wait()
            try:
                name = f"load{i:03d}"
                conn.request("POST", "/api/v1/reserve",
                             json.dumps({"name": name, "version": "1.0.0"}),
                             {**auth, "Content-Type": "application/json"})
                r = conn.getresponse(); r.read()
                err = None if r.status == 201 else f"reserve {name}: {r.status}"
                if err is None:
                    conn.request("PUT", f"/api/v1/packages/{name}/1.0.0", body,
                                 {**auth, "X-Checksum-Blake3": sum_})
                    r = conn.getresponse(); r.read()
                    err = None if r.status == 201 else f"upload {name}: {r.status}"
            except Exception as e:  # noqa: BLE001
                err = f"submit {i}: {e}"
            dt = time.perf_counter() - t0[0]
            with lock:
                (errors.append(err) if err else lat_sub.append(dt))

        threads = [threading.Thread(target=download, args=(i,)) for i in range(downloads)]
        threads += [threading.Thread(target=submit, args=(i,)) for i in range(submits)]
        for t in threads:
            t.start()
        t0[0] = time.perf_counter()
        start.wait()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0[0]
        ms = lambda x: f"{x * 1000:.0f} ms"  # noqa: E731
        print(f"registry on PostgreSQL, {downloads} downloads (64 KiB) + {submits} submits "
              f"(reserve + upload, 32 KiB) at once; wall {ms(wall)}")
        if lat_dl:
            print(f"downloads: {len(lat_dl)}/{downloads} ok, p50 {ms(statistics.median(lat_dl))}, "
                  f"p99 {ms(pct(lat_dl, 99))}, max {ms(max(lat_dl))}")
        if lat_sub:
            print(f"submits:   {len(lat_sub)}/{submits} ok, p50 {ms(statistics.median(lat_sub))}, "
                  f"p99 {ms(pct(lat_sub, 99))}, max {ms(max(lat_sub))}")
        if errors:
            print(f"FAILED: {len(errors)} of {downloads + submits}: " + "; ".join(errors[:10]))
            sys.exit(1)
        print("all succeeded")
    finally:
        if server:
            server.terminate()
            server.wait()
        subprocess.run(as_pg([os.path.join(bin_, "pg_ctl"), "-D", os.path.join(pg_dir, "data"),
                              "-m", "fast", "-w", "stop"]), capture_output=True)


if __name__ == "__main__":
    main()
