"""test_mount_coredump: the running daemon keeps its credentials out of core dumps: it is
non-dumpable, the access key secret sits in MADV_DONTDUMP memory ("dd" in /proc/PID/smaps) as
far as dswfs copies it, and -o allow_core_dumps turns both off (and says so in .dswfs/config).

Dumpability is seen from outside the way the kernel shows it: the /proc/PID files of a
non-dumpable process belong to root. That says nothing when the daemon runs as root, so that
check runs dswfs --query as nobody when the tests run as root; test_secmem also checks the
start-up call in a child."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AK_SECRET, DSWFS, MockServer, Mount, Shared, Skip,  # noqa: E402
                     creds_env, eq, read, run, test, wait_until)

S = Shared(20, 5)

HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def regions(pid):
    """(start, end, path, flags) of every mapping of pid."""
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = HEADER.match(line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip(), set()]
                out.append(cur)
            elif line.startswith("VmFlags:") and cur:
                cur[3] = set(line.split()[1:])
    return out


def secret_places(pid, secret):
    """(dd, other): how many times secret occurs in anonymous "dd" mappings and elsewhere in
    anonymous or heap memory (read as root through /proc/PID/mem)."""
    dd = other = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end, path, flags in regions(pid):
            if path not in ("", "[heap]") or "rd" not in flags or end - start > 1 << 28:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            n = data.count(secret)
            if "dd" in flags and path == "":
                dd += n
            else:
                other += n
    return dd, other


def anon_dd(pid):
    return [r for r in regions(pid) if r[2] == "" and "dd" in r[3]]


@test
def secrets_sit_in_dontdump_memory():
    with Mount(S.server()) as m:
        os.listdir(m.path("instances"))  # at least one signed request made
        pid = m.proc.pid
        assert anon_dd(pid), "no MADV_DONTDUMP mapping in the daemon"
        dd, other = secret_places(pid, AK_SECRET.encode())
        assert dd >= 1, f"the access key secret is in no dd mapping (elsewhere: {other})"
        eq(other, 0, "plain copies of the access key secret in the heap or anonymous memory")
        eq(read(m.path(".dswfs", "config")).decode().count("allow_core_dumps 0\n"), 1,
           "config says allow_core_dumps 0")


@test
def allow_core_dumps_turns_it_off():
    with Mount(S.server(), "allow_core_dumps") as m:
        os.listdir(m.path("instances"))
        pid = m.proc.pid
        eq(anon_dd(pid), [], "anonymous dd mappings with allow_core_dumps")
        eq(read(m.path(".dswfs", "config")).decode().count("allow_core_dumps 1\n"), 1,
           "config says allow_core_dumps 1")


NOBODY = 65534


def run_unprivileged(opts, check):
    """Starts dswfs --query as an unprivileged user (nobody when we are root, else ourselves)
    against a server that answers after 5 s, and calls check(pid, uid, srv) while it waits for
    the answer: past start-up, credentials read. No mount is needed (an unprivileged mount may
    be impossible here: /dev/fuse is often root's only), and nothing global changes."""
    uid = os.getuid()
    prefix = []
    if uid == 0:
        if not shutil.which("setpriv"):
            raise Skip("needs setpriv to run dswfs as nobody")
        uid = NOBODY
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    home = tempfile.mkdtemp(prefix="dswfs-home-")
    os.chown(home, uid, -1)
    with MockServer("--latency-ms", "5000", instances=5) as srv:
        p = subprocess.Popen(prefix + [DSWFS, "-o", ",".join([f"endpoint={srv.url}"] + opts),
                                       "--query", "instances"],
                             env=creds_env({"HOME": home}), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            check(p.pid, uid, srv)
        finally:
            p.kill()
            p.wait()
            p.stderr.close()
            shutil.rmtree(home, ignore_errors=True)


def proc_owner(pid):
    try:
        return os.stat(f"/proc/{pid}/status").st_uid
    except OSError:
        return None


@test
def daemon_is_not_dumpable():
    def check(pid, uid, srv):
        # The kernel gives a non-dumpable process's /proc/PID to root. Looked at once dswfs
        # has sent a request: before, the pid may still be setpriv (root, then nobody).
        wait_until(lambda: srv.stats()["requests"] >= 1, timeout=10, what="a request")
        eq(proc_owner(pid), 0, f"owner of /proc/PID of dswfs run as uid {uid} (root: "
           "non-dumpable)")
        assert anon_dd(pid), "no MADV_DONTDUMP mapping in the daemon"

    run_unprivileged([], check)


@test
def allow_core_dumps_keeps_it_dumpable():
    def check(pid, uid, srv):
        wait_until(lambda: srv.stats()["requests"] >= 1, timeout=10, what="a request")
        eq(proc_owner(pid), uid, f"owner of /proc/PID of dswfs run as uid {uid} with "
           "allow_core_dumps (dumpable)")
        eq(anon_dd(pid), [], "anonymous dd mappings with allow_core_dumps")

    run_unprivileged(["allow_core_dumps"], check)


@test
def help_mentions_allow_core_dumps():
    r = subprocess.run([DSWFS, "--help"], capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "--help exit status")
    assert "allow_core_dumps" in r.stdout, r.stdout


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
