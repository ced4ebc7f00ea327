#!/usr/bin/env python3
"""Benchmark: the registry's incremental index sync (issue 16, Performance).

    bench/registry_sync.py DEVSKY_BINARY WORK_DIR [N]

Starts `devsky registry serve` (SQLite) on a free loopback port in WORK_DIR (made afresh),
publishes N packages (default 10,000; reserve + upload each, over one keep-alive
connection), then in a project logged in to it:
  first sync    `devsky update --json`: entries and bytes received
  second sync   after 10 more packages: must receive exactly 10 entries; its bytes and
                time (median of 5 rounds of 10 new packages each; target < 50 ms)
  no change     a sync with nothing new: a 304, 0 bytes
Times are of the whole `devsky update` process (start, store, HTTP, local index write).
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

try:
    from blake3 import blake3  # optional; b3sum is used otherwise
except ImportError:
    blake3 = None


def b3(data):
    if blake3:
        return blake3(data).hexdigest()
    out = subprocess.run(["b3sum", "--no-names"], input=data, capture_output=True, check=True)
    return out.stdout.decode().strip()


def main():
    exe, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data, proj = os.path.join(work, "data"), os.path.join(work, "project")
    os.makedirs(proj)
    token = subprocess.run([exe, "registry", "user", "add", "bench", "--data", data],
                           capture_output=True, check=True).stdout.decode().strip()
    server = subprocess.Popen([exe, "registry", "serve", "--data", data, "--listen", "127.0.0.1:0"],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        while True:
            line = server.stderr.readline().decode()
            if not line:
                raise SystemExit("the registry did not start")
            if "http://" in line:
                url = line[line.index("http://"):].strip()
                break
        # Keep reading what the server logs: a full pipe would stop it mid-request.
        threading.Thread(target=lambda: server.stderr.read(), daemon=True).start()
        host, port = url[len("http://"):].split(":")
        conn = http.client.HTTPConnection(host, int(port))
        auth = {"Authorization": f"Bearer {token}"}

        def publish(i):
            name, body = f"pkg{i:06d}", f"archive {i}\n".encode() * 20
            conn.request("POST", "/api/v1/reserve",
                         json.dumps({"name": name, "version": "1.0.0"}),
                         {**auth, "Content-Type": "application/json"})
            r = conn.getresponse(); r.read()
            assert r.status == 201, r.status
            conn.request("PUT", f"/api/v1/packages/{name}/1.0.0", body,
                         {**auth, "X-Checksum-Blake3": b3(body)})
            r = conn.getresponse(); r.read()
            assert r.status == 201, r.status

        t = time.perf_counter()
        for i in range(n):
            publish(i)
        print(f"published {n} packages in {time.perf_counter() - t:.1f} s")
        subprocess.run([exe, "init", proj], check=True, capture_output=True)
        subprocess.run([exe, "registry", "login", url, "--token", token, "--project", proj],
                       check=True, capture_output=True)

        def update():
            t = time.perf_counter()
            out = subprocess.run([exe, "update", "--json", "--project", proj],
                                 check=True, capture_output=True).stdout
            return time.perf_counter() - t, json.loads(out)

        dt, first = update()
        assert first["changed"] == n, first["changed"]
        print(f"first sync: {first['changed']} entries, {first['index_bytes']:,} bytes, {dt * 1000:.0f} ms")
        times, sizes = [], []
        for round_ in range(5):
            for i in range(n + round_ * 10, n + round_ * 10 + 10):
                publish(i)
            dt, second = update()
            assert second["changed"] == 10, second["changed"]
            times.append(dt)
            sizes.append(second["index_bytes"])
        print(f"second sync (10 new): 10 entries, {statistics.median(sizes):,.0f} bytes, "
              f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
              f"(target < 50 ms)")
        dt, none = update()
        assert none["changed"] == 0 and none["index_bytes"] == 0, none
        print(f"no change: 304, 0 bytes, {dt * 1000:.1f} ms")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
