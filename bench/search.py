#!/usr/bin/env python3
"""Benchmark (issue 15): search and replace, in one run.

    bench/search.py DEVSKY_BINARY DATA_DIR [ROUNDS] [files]

(`files`: only the search and preview rounds, not the database ones, which need MariaDB
and php-cli; `bench/run search 3 files`.)

Needs ripgrep (`apt-get install ripgrep`; only this benchmark uses it), MariaDB (as
tests/support/mariadb.rs: mariadb-install-db, a private mariadbd on a socket) and php-cli
(the oracle of serialized values). ROUNDS (default 3) interleaved rounds of each:
  search   `devsky search 'item user'` over the 85,000-file corpus (common.pristine, read
           only; a store made in it and removed after)  vs  `rg -c -F 'item user'` in the
           same tree; the match and file counts compared with `rg --count-matches`.
  preview  `devsky replace 'item user' 'item member' --dry-run --json --domain ten`, the
           domain being five folders that hold 10,166 of the matches (rg counts them): time
           to the first file of the preview (it streams one file a line) and to the end
           (the Replace screen's streaming is measured by
           `cargo bench --bench replace_preview`).
  database a `posts` table of 200,000 rows and an `options` table of 20,000 PHP-serialized
           values (nested arrays; 1% of each hold http://old.example.com):
           `devsky replace --no-files --db wp --apply` (rows/s), then `replace undo` (timed,
           reported)  vs  a plain `UPDATE t SET c = REPLACE(c, ...)` of both tables (which
           breaks the serialized lengths: the speed floor), undone by the reverse REPLACE.
           After devsky's apply every changed option must unserialize() in PHP and no old
           URL be left; after each undo both tables' CHECKSUM TABLE equal the original.
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load, med, out, pristine, run_timed, runs, sh, warm  # noqa: E402

PATTERN = "item user"
TEN = ["self120/null596", "self120/user849", "self120/include188", "self120/static624", "self120/self904"]
OLD, NEW = "http://old.example.com", "https://new.example.org"


def rg_counts(tree, paths="."):
    lines = out(f"cd {tree} && rg --count-matches -F '{PATTERN}' {paths} || true").splitlines()
    return sum(int(l.rsplit(":", 1)[1]) for l in lines if l), len(lines)


def files_bench(devsky, tree, rounds):
    sh(f"{devsky} init {tree}", stdout=subprocess.DEVNULL)
    warm(tree)
    ours, base = [], []
    for r in range(rounds):
        base.append(run_timed(f"cd {tree} && rg -c -F '{PATTERN}' ."))
        ours.append(run_timed(f"{devsky} search '{PATTERN}' -C {tree}"))
        print(f"  search round {r + 1}: rg -c -F {base[-1]:.3f} s, devsky search {ours[-1]:.3f} s; {load()}")
    got = json.loads(out(f"{devsky} search '{PATTERN}' -C {tree} --json"))
    want, wfiles = rg_counts(tree)
    same = got["matches"] == want and len(got["files"]) == wfiles
    o, b = med(ours), med(base)
    print(f"literal search '{PATTERN}': devsky {o:.3f} s vs rg -c -F {b:.3f} s: ratio {o / b:.2f} (target <= 1.0); "
          f"devsky {got['matches']} matches in {len(got['files'])} files, rg {want} in {wfiles}: "
          f"{'the same' if same else 'DIFFERENT'}; {got['searched_files']} files searched, "
          f"{got['binary_skipped']} binary skipped")
    print(f"  runs: devsky {runs(ours)}; rg {runs(base)}")

    sh(f"{devsky} domain add ten " + " ".join(f"-i {p}" for p in TEN) + f" -C {tree}", stdout=subprocess.DEVNULL)
    want10, files10 = rg_counts(tree, " ".join(TEN))
    cmd = [devsky, "replace", PATTERN, "item member", "--dry-run", "--json", "--domain", "ten", "-C", tree]
    firsts, ends, rgs = [], [], []
    body = b""
    for r in range(rounds):
        rgs.append(run_timed(f"cd {tree} && rg -c -F '{PATTERN}' {' '.join(TEN)}"))
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # The preview streams one file a line after the document's opening line: time
        # to the first file's line.
        first = p.stdout.readline()
        first += p.stdout.readline()
        firsts.append(time.perf_counter() - t)
        body = first + p.stdout.read()
        p.wait()
        ends.append(time.perf_counter() - t)
        if p.returncode != 0:
            sys.exit(f"replace --dry-run failed ({p.returncode})")
        print(f"  preview round {r + 1}: first file {firsts[-1]:.3f} s, complete {ends[-1]:.3f} s "
              f"(rg -c -F of the same folders {rgs[-1]:.3f} s); {load()}")
    plan = json.loads(body)
    n = sum(f["count"] for f in plan["files"]["files"])
    ok = n == want10 and len(plan["files"]["files"]) == files10
    print(f"replace preview (CLI --dry-run --json) of {n} matches in {len(plan['files']['files'])} files "
          f"(rg: {want10} in {files10}: {'the same' if ok else 'DIFFERENT'}): first output {med(firsts):.3f} s, "
          f"complete {med(ends):.3f} s (targets: first screen < 0.2 s, complete < 1 s); rg {med(rgs):.3f} s")
    print(f"  runs: first {runs(firsts)}; complete {runs(ends)}")
    return same and ok


class MariaDb:
    """A private mariadbd on a socket, as tests/support/mariadb.rs starts one."""

    def __init__(self, data):
        self.dir = os.path.join(data, "mdb")
        shutil.rmtree(self.dir, ignore_errors=True)
        dd, tmp = os.path.join(self.dir, "d"), os.path.join(self.dir, "tmp")
        os.makedirs(tmp)
        sh(f"mariadb-install-db --no-defaults --datadir={dd} --tmpdir={tmp} --auth-root-authentication-method=normal "
           f"--skip-test-db --innodb-log-file-size=8M --innodb-buffer-pool-size=32M", stdout=subprocess.DEVNULL,
           stderr=subprocess.DEVNULL)
        self.sock = os.path.join(dd, "sock")
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={dd}", f"--socket={self.sock}",
             f"--pid-file={dd}/pid", f"--log-error={dd}/error.log", f"--tmpdir={tmp}",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M", "--user=root", "--skip-networking"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("mariadbd did not answer within 60 s")

    def sql(self, text, db="wp"):
        return subprocess.run(["mariadb", "-S", self.sock, "-u", "root", "-N", "-B", db], input=text.encode(),
                              capture_output=True, check=True).stdout.decode()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def php_len(s):
    return len(s.encode())


def fill(db):
    rng = random.Random(15)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
    db.sql("CREATE DATABASE wp", db="")
    db.sql("CREATE TABLE posts (ID BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, post_title TEXT NOT NULL, "
           "post_content LONGTEXT NOT NULL, guid VARCHAR(255) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
           "CREATE TABLE options (option_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, option_name "
           "VARCHAR(191) NOT NULL UNIQUE, option_value LONGTEXT NOT NULL, autoload VARCHAR(20) NOT NULL DEFAULT 'yes') "
           "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        for start in range(1, 200_001, 2000):
            vals = []
            for i in range(start, start + 2000):
                text = " ".join(rng.choice(words) for _ in range(60))
                host = OLD if i % 100 == 0 else "http://example.net"
                vals.append(f"({i},'Post {i}','<p>{text} <a href=\"{host}/p/{i}\">link</a></p>','{host}/?p={i}')")
            f.write("INSERT INTO posts VALUES " + ",".join(vals) + ";\n")
        for start in range(1, 20_001, 2000):
            vals = []
            for i in range(start, start + 2000):
                url = f"{OLD if i % 100 == 0 else 'http://example.net'}/opt/{i}"
                inner = f'a:2:{{s:3:"url";s:{php_len(url)}:"{url}";s:4:"tags";a:2:{{i:0;s:3:"one";i:1;s:3:"two";}}}}'
                value = f'a:3:{{s:4:"home";s:{php_len(url)}:"{url}";s:5:"inner";{inner}s:1:"n";i:{i};}}'
                vals.append(f"({i},'option_{i}','{value}','yes')")
            f.write("INSERT INTO options VALUES " + ",".join(vals) + ";\n")
        path = f.name
    with open(path) as f:
        subprocess.run(["mariadb", "-S", db.sock, "-u", "root", "wp"], stdin=f, check=True)
    os.remove(path)


def checksums(db):
    return db.sql("CHECKSUM TABLE posts, options;")


def db_bench(devsky, data, rounds):
    db = MariaDb(data)
    proj = os.path.join(data, "sr-project")
    shutil.rmtree(proj, ignore_errors=True)
    os.makedirs(proj)
    try:
        fill(db)
        sh(f"{devsky} init {proj}", stdout=subprocess.DEVNULL)
        sh(f"{devsky} db add wp --url 'mysql://root@localhost/wp?socket={db.sock}' -C {proj}", stdout=subprocess.DEVNULL)
        orig = checksums(db)
        nrows = int(db.sql(f"SELECT (SELECT COUNT(*) FROM posts WHERE INSTR(post_content, '{OLD}') OR INSTR(guid, '{OLD}')) "
                           f"+ (SELECT COUNT(*) FROM options WHERE INSTR(option_value, '{OLD}'))"))
        nopts = int(db.sql(f"SELECT COUNT(*) FROM options WHERE INSTR(option_value, '{OLD}')"))
        plain = ("UPDATE posts SET post_content = REPLACE(post_content, '{a}', '{b}'), guid = REPLACE(guid, '{a}', '{b}'); "
                 "UPDATE options SET option_value = REPLACE(option_value, '{a}', '{b}');")
        php = ("$bad = 0; $n = 0; while (($l = fgets(STDIN)) !== false) { $n++; "
               "if (@unserialize(rtrim($l, \"\\n\")) === false) $bad++; } echo \"$n $bad\";")
        applies, undos, floors, ok = [], [], [], True
        for r in range(rounds):
            applies.append(run_timed(f"{devsky} replace '{OLD}' '{NEW}' --no-files --db wp --apply -C {proj}"))
            left = int(db.sql(f"SELECT (SELECT COUNT(*) FROM posts WHERE INSTR(post_content, '{OLD}') OR INSTR(guid, '{OLD}'))"
                              f" + (SELECT COUNT(*) FROM options WHERE INSTR(option_value, '{OLD}'))"))
            vals = db.sql(f"SELECT option_value FROM options WHERE INSTR(option_value, '{NEW}')")
            n, bad = map(int, subprocess.run(["php", "-r", php], input=vals.encode(), capture_output=True,
                                             check=True).stdout.split())
            undos.append(run_timed(f"{devsky} replace undo -C {proj}"))
            back = checksums(db) == orig
            floors.append(run_timed(f"mariadb -S {db.sock} -u root wp -e \"{plain.format(a=OLD, b=NEW)}\""))
            db.sql(plain.format(a=NEW, b=OLD))
            floor_back = checksums(db) == orig
            good = left == 0 and n == nopts and bad == 0 and back and floor_back
            ok = ok and good
            print(f"  database round {r + 1}: devsky apply {applies[-1]:.3f} s ({left} old URLs left, {n} changed options, "
                  f"{bad} not unserializable), undo {undos[-1]:.3f} s ({'= original' if back else 'DIFFERS'}); "
                  f"plain UPDATE REPLACE() {floors[-1]:.3f} s; {load()}")
        a, f = med(applies), med(floors)
        print(f"database replace of a URL in 200,000 posts + 20,000 serialized options ({nrows} rows matching): devsky "
              f"{a:.3f} s = {nrows / a:,.0f} changed rows/s ({220_000 / a:,.0f} rows/s of the tables) vs plain UPDATE ... "
              f"REPLACE() {f:.3f} s ({220_000 / f:,.0f} rows/s): ratio {a / f:.2f}; undo {med(undos):.3f} s; "
              f"checks {'passed' if ok else 'FAILED'}")
        print(f"  runs: devsky {runs(applies)}; undo {runs(undos)}; plain {runs(floors)}")
        return ok
    finally:
        db.stop()
        shutil.rmtree(proj, ignore_errors=True)


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if not shutil.which("rg"):
        sys.exit("ripgrep is needed: apt-get install ripgrep")
    tree = pristine(data)
    print(f"search: {load()}")
    try:
        a = files_bench(devsky, tree, rounds)
    finally:
        shutil.rmtree(os.path.join(tree, ".devsky"), ignore_errors=True)
    files_only = len(sys.argv) > 4 and sys.argv[4] == "files"
    b = True if files_only else db_bench(devsky, data, rounds)
    if not (a and b):
        sys.exit("search benchmark checks failed")


if __name__ == "__main__":
    main()
