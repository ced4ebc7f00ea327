#!/usr/bin/env python3
"""Benchmark (issue 17): pushes without an agent (SFTP, FTP) against rsync and lftp.

    bench/agentless.py DEVSKY_BINARY DATA_DIR [ROUNDS]

Must run as root (vsftpd authenticates its virtual user through PAM). The project is a
`cp -a` copy of the 85,000-file corpus (common.pristine); the target folder another copy,
adopted once (`devsky deploy adopt`: the state file written), then the project is mutated
(1% changed, 0.2% added, 0.2% deleted). Servers on loopback: OpenSSH sshd (a private
config, as tests/support/sshd.rs; bench/deploy.py's start_sshd) and vsftpd (a virtual
user in a Berkeley DB read by pam_userdb, as tests/support/vsftpd.rs). ROUNDS (default 3)
interleaved rounds, per transport:
  SFTP  `devsky deploy push --yes` over SFTP with 4 connections (timed), `devsky deploy
        rollback --yes` (timed, reported; it also resets the target)  vs
        `rsync -a --delete` over ssh of the same change (timed);
  FTP   the same over FTP (4 connections)  vs  `lftp -e 'mirror -R --delete'` (timed; and
        with --parallel=4 beside it, since lftp's default is one transfer at a time).
After each standard tool the target is reset untimed: its added files removed and the
changed and deleted files copied back (`cp -a`, times kept) from a copy of them taken after
devsky's first rollback. Every result is checked by find + b3sum to equal the project
(after a push or a standard tool) or the corpus (after a rollback). The copies are
removed at the end.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, copy_of, differ, listing, load, med, out, run_timed, runs, sh, warm  # noqa: E402
from deploy import free_port, start_sshd  # noqa: E402

EXCL = ("/.devsky", "/.devsky-state")


def start_vsftpd(data):
    """vsftpd on a free loopback port with a virtual user; returns (process, port, user,
    password, PAM service file)."""
    d = os.path.join(data, "vsftpd")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "empty"))
    user, password = "deploy", "pw-" + os.urandom(12).hex()
    subprocess.run(["db_load", "-T", "-t", "hash", f"{d}/users.db"], input=f"{user}\n{password}\n".encode(), check=True)
    service = f"devsky-bench-ftp-{os.getpid()}"
    pam = f"/etc/pam.d/{service}"
    with open(pam, "w") as f:
        f.write(f"auth required pam_userdb.so db={d}/users\naccount required pam_userdb.so db={d}/users\n")
    port = free_port()
    with open(f"{d}/vsftpd.conf", "w") as f:
        f.write(f"listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n"
                "anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\n"
                f"chmod_enable=YES\nchroot_local_user=NO\npam_service_name={service}\n"
                "userlist_enable=NO\ncheck_shell=NO\nseccomp_sandbox=NO\nisolate=NO\n"
                f"isolate_network=NO\nsecure_chroot_dir={d}/empty\npasv_enable=YES\n"
                f"pasv_address=127.0.0.1\nxferlog_enable=NO\nuse_localtime=NO\n"
                "max_clients=0\nmax_per_ip=0\nconnect_from_port_20=NO\nguest_enable=YES\n"
                "guest_username=root\nvirtual_use_local_privs=YES\n")
    proc = subprocess.Popen(["/usr/sbin/vsftpd", f"{d}/vsftpd.conf"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(f"{d}/vsftpd.stderr", "w"))
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port, user, password, pam


def main():
    devsky, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if os.getuid() != 0:
        sys.exit("bench/agentless.py runs vsftpd, which authenticates through PAM: run it as root")
    local = copy_of(data, "al-local")
    target = copy_of(data, "al-target")
    pre = os.path.join(data, "al-pre")
    shutil.rmtree(pre, ignore_errors=True)
    sshd = ftpd = None
    pam = None
    try:
        sh(f"{devsky} init {local}", stdout=subprocess.DEVNULL)
        sshd, sport, opts = start_sshd(data)
        ssh_opt = opts.replace(f" -p {sport}", "")
        ftpd, fport, fuser, fpass, pam = start_vsftpd(data)
        env = dict(os.environ, DEVSKY_FTP_PASSWORD=fpass)
        at = f"--project {local}"
        sh(f"{devsky} server add sftp --sftp root@127.0.0.1:{sport} --root {target} --no-password "
           f"--ssh-opt '{ssh_opt}' --connections 4 {at}", stdout=subprocess.DEVNULL)
        sh(f"{devsky} server add ftp --ftp ftp://{fuser}@127.0.0.1:{fport}{target} --connections 4 {at}",
           stdout=subprocess.DEVNULL, env=env)
        t = run_timed(f"{devsky} deploy adopt sftp {at}")
        print(f"agentless: target adopted over SFTP in {t:.3f} s (every file downloaded and hashed once); {load()}")
        did = json.loads(out(f"python3 {HERE}/make-corpus.py mutate {local}"))
        warm(local)
        sh(f"{devsky} map {local} -q", stdout=subprocess.DEVNULL)
        want_new, want_old = listing(local), listing(target)
        print(f"  change: {len(did['changed'])} changed, {len(did['added'])} added, {len(did['deleted'])} deleted")

        def reset():
            for rel in did["added"]:
                p = os.path.join(target, rel)
                if os.path.exists(p):
                    os.remove(p)
            sh(f"cp -a {pre}/. {target}/")

        excl = " ".join(f"--exclude={e}" for e in EXCL)
        rsync = f"rsync -a --delete {excl} -e 'ssh {opts}' {local}/ root@127.0.0.1:{target}/"
        lx = '-x "^[.]devsky"'  # .devsky/ and .devsky-state
        lftp = (f"lftp -u {fuser},{fpass} -p {fport} -e 'set ftp:ssl-allow no; set net:max-retries 1; "
                f"mirror -R --delete {{par}} {lx} {local}/ {target}/; quit' 127.0.0.1")
        ok = True
        results = {}
        for name, base_cmds in (("sftp", {"rsync -a --delete over ssh": rsync}),
                                ("ftp", {"lftp mirror -R --delete": lftp.format(par=""),
                                         "lftp mirror -R --delete --parallel=4": lftp.format(par="--parallel=4")})):
            pushes, backs, base = [], [], {k: [] for k in base_cmds}
            for r in range(rounds):
                sh("sync")
                pushes.append(run_timed(f"{devsky} deploy push {name} --yes {at}", env=env))
                now = listing(target)
                good = now == want_new
                if not good:
                    print(f"  after the {name} push: {differ(now, want_new)}")
                sh("sync")
                backs.append(run_timed(f"{devsky} deploy rollback {name} --yes {at}", env=env))
                back = listing(target) == want_old
                # What the standard tools change, as this rollback left it (times and the
                # state file agree): the reset puts it back.
                shutil.rmtree(pre, ignore_errors=True)
                os.makedirs(pre)
                rels = did["changed"] + did["deleted"] + [".devsky-state"]
                sh(f"cd {target} && printf '%s\\0' {' '.join(rels)} | xargs -0 cp -a --parents -t {pre}/")
                line = f"  {name} round {r + 1}: push {pushes[-1]:.3f} s ({'= project' if good else 'WRONG'}), " \
                       f"rollback {backs[-1]:.3f} s ({'= corpus' if back else 'WRONG'})"
                ok = ok and good and back
                for k, cmd in base_cmds.items():
                    sh("sync")
                    base[k].append(run_timed(cmd))
                    now = listing(target)
                    same = now == want_new
                    if not same:
                        print(f"  after {k}: {differ(now, want_new)}")
                    reset()
                    ok = ok and same and listing(target) == want_old
                    line += f", {k} {base[k][-1]:.3f} s ({'= project' if same else 'WRONG'})"
                print(line + f"; {load()}")
            p = med(pushes)
            for k, v in base.items():
                print(f"{name} push of the 1% change, 4 connections: devsky {p:.3f} s vs {k} {med(v):.3f} s: "
                      f"ratio {p / med(v):.2f}")
            print(f"  runs: push {runs(pushes)}; rollback {runs(backs)}; " +
                  "; ".join(f"{k} {runs(v)}" for k, v in base.items()))
            results[name] = (pushes, backs, base)
        print(f"every result checked by find + b3sum: {'exact' if ok else 'MISMATCH'}")
        if not ok:
            sys.exit("a push, rollback or standard tool left the target wrong")
    finally:
        for p in (sshd, ftpd):
            if p:
                p.terminate()
                p.wait()
        if pam and os.path.exists(pam):
            os.remove(pam)
        for d in (local, target, pre):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
