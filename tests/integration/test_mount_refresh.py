"""test_mount_refresh: who may write .dswfs/refresh (the mounting user and root; anyone else
gets EACCES even with allow_other), refresh coalescing (a refresh loop during reads costs a
bounded number of API requests; SIGHUP joins the same path), and a refresh that completes
before the write returns (a read right after it sees the server's change, whatever the TTL;
a failed refresh fails the write)."""
import errno
import math
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mount, Shared, eq, escape_name, read, read_ctl_stats,  # noqa: E402
                     run, test, wait_until)

N = 100
PS = 25
PAGES = math.ceil(N / PS)
NOBODY = 65534

S = Shared(N, 5)
server = S.server


def as_user(uid, refresh, stats):
    """Tries every way of writing refresh, and reads stats (allowed by allow_other), in a
    forked child running as uid (no exec: the interpreter may not be readable by uid).
    Returns the outcomes, e.g. ["write:EACCES", ..., "read:ok"]."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            out = []

            def attempt(name, fn):
                try:
                    fn()
                    out.append(name + ":ok")
                except OSError as e:
                    out.append(name + ":" + errno.errorcode.get(e.errno, str(e.errno)))

            def write():
                with open(refresh, "w") as f:
                    f.write("1\n")

            attempt("write", write)
            attempt("open", lambda: os.close(os.open(refresh, os.O_WRONLY)))
            attempt("truncate", lambda: os.truncate(refresh, 0))
            attempt("read", lambda: open(stats).read())
            os.write(wfd, " ".join(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        got = f.read()
    _, status = os.waitpid(pid, 0)
    eq(os.waitstatus_to_exitcode(status), 0, f"probe as uid {uid}")
    return got.split()


def write_refresh(m):
    """echo > .dswfs/refresh, as the shell does it."""
    r = subprocess.run(f"echo > {m.path('.dswfs', 'refresh')}", shell=True,
                       capture_output=True)
    return r.returncode, r.stderr.decode(errors="replace")


@test
def only_the_mounting_user_and_root_may_refresh():
    srv = server()
    with Mount(srv, f"page_size={PS}", "ttl=600", "refresh_min_interval=0",
               "allow_other") as m:
        refresh = m.path(".dswfs", "refresh")
        st = os.stat(refresh)
        eq(oct(st.st_mode & 0o777), oct(0o644), "mode of .dswfs/refresh")
        eq(st.st_uid, os.getuid(), "owner of .dswfs/refresh")
        os.listdir(m.path("instances"))
        before = read_ctl_stats(m)
        srv.control("POST", "stats/reset")
        got = as_user(NOBODY, refresh, m.path(".dswfs", "stats"))
        # A bare open for writing succeeds: the kernel opens files by itself (no-open
        # support, fsops.c) and refuses nothing before the write or truncation, both EACCES.
        eq(got, ["write:EACCES", "open:ok", "truncate:EACCES", "read:ok"],
           f"writing .dswfs/refresh as uid {NOBODY} (not the mounting user)")
        after = read_ctl_stats(m)
        eq(srv.list_requests(), 0, "API requests caused by the refused writes")
        eq(after.get("refresh_requests"), before.get("refresh_requests"),
           "refresh_requests after refused writes")
        # The mounting user (root here) may.
        rc, err = write_refresh(m)
        eq(rc, 0, f"echo > .dswfs/refresh as the mounting user: {err}")
        eq(srv.list_requests(), PAGES, "API requests of the owner's refresh")
        eq(read_ctl_stats(m).get("refreshes"), after.get("refreshes", 0) + 1, "refreshes")


@test
def a_refresh_loop_during_reads_costs_a_bounded_number_of_requests():
    srv = server()
    fleet = S.fleet
    files = [m_rel for m_rel in (("instances", escape_name(i["InstanceId"]), "Status")
                                 for i in fleet)]
    with Mount(srv, f"page_size={PS}", "ttl=600") as m:  # default refresh_min_interval=1
        paths = [m.path(*rel) for rel in files]
        read(paths[0])
        srv.control("POST", "stats/reset")
        before = read_ctl_stats(m)
        stop = threading.Event()
        errors, reads = [], [0, 0]

        def reader(k):
            try:
                while not stop.is_set():
                    for p in paths[k::2]:
                        read(p)
                        reads[k] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"reader {k}: {e!r}")

        grep_done = threading.Event()

        def grepper():
            try:
                r = subprocess.run(["grep", "-rl", "Running", "instances"], cwd=m.dir,
                                   capture_output=True, timeout=300)
                if r.returncode != 0:
                    errors.append(f"grep -r exited {r.returncode}: {r.stderr[-300:]!r}")
            finally:
                grep_done.set()

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(2)]
        threads.append(threading.Thread(target=grepper))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        writes = 0
        try:
            # A refresh loop for as long as one grep -r pass lasts (200 writes at least):
            # reopening the file each time, as `echo >` does, and on one descriptor.
            while (writes < 200 or not grep_done.is_set()) and time.monotonic() - t0 < 60:
                if writes % 2:
                    with open(m.path(".dswfs", "refresh"), "w") as f:
                        f.write("1\n")
                    writes += 1
                else:
                    with open(m.path(".dswfs", "refresh"), "wb", buffering=0) as f:
                        for _ in range(10):
                            f.write(b"1\n")
                            writes += 1
            elapsed = time.monotonic() - t0
        finally:
            stop.set()
            for t in threads:
                t.join(300)
        n = srv.list_requests()
        after = read_ctl_stats(m)
        print(f"  {writes} refresh writes in {elapsed:.2f}s with {sum(reads)} reads: {n} API "
              f"requests, stats {({k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith('refresh')})}",
              flush=True)
        assert not errors, "\n  ".join(errors)
        # One refresh per second at most (each costs the base query's pages); reads are
        # answered by the snapshot each refresh fetched.
        bound = PAGES * (math.ceil(elapsed) + 1)
        assert n <= bound, f"{n} API requests for {writes} refresh writes in {elapsed:.1f}s " \
            f"(at most {bound} expected)"
        d = {k: after.get(k, 0) - before.get(k, 0)
             for k in ("refresh_requests", "refreshes", "refresh_coalesced", "refresh_joined")}
        eq(d["refresh_requests"], writes, "refresh_requests")
        assert 1 <= d["refreshes"] <= math.ceil(elapsed) + 1, f"refreshes {d} in {elapsed:.1f}s"
        eq(d["refresh_coalesced"], writes - d["refreshes"], "refresh_coalesced")
        assert d["refresh_joined"] <= d["refresh_coalesced"], d
        eq(n, PAGES * d["refreshes"], "API requests: the pages of each refresh, nothing more")


@test
def a_read_after_the_refresh_write_sees_the_servers_change():
    srv = server()
    fleet = S.fleet
    victim = next(i for i in fleet if i["Status"] == "Running")
    with Mount(srv, f"page_size={PS}", "ttl=600", "refresh_min_interval=0", "retries=0") as m:
        status = m.path("instances", escape_name(victim["InstanceId"]), "Status")
        eq(read(status), b"Running\n", "Status")
        for new in ("Stopping", "Stopped"):
            srv.control("PATCH", f"instances/{victim['InstanceId']}", {"Status": new})
            srv.control("POST", "stats/reset")
            eq(read(status), b"Running\n" if new == "Stopping" else b"Stopping\n",
               "Status within the TTL")
            rc, err = write_refresh(m)
            eq(rc, 0, f"echo > .dswfs/refresh: {err}")
            # The write returned after the refresh completed: the base query was fetched.
            eq(srv.list_requests(), PAGES, "API requests done when the refresh write returned")
            eq(read(status), new.encode() + b"\n", "Status right after the refresh write")
            eq(srv.list_requests(), PAGES, "API requests after reading")
        # A refresh that fails fails the write, with the cause in last_error.
        srv.control("POST", "faults", {"faults": [
            {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary"}]})
        try:
            with open(m.path(".dswfs", "refresh"), "w") as f:
                f.write("1\n")
        except OSError as e:
            eq(errno.errorcode.get(e.errno), "EIO", "errno of a refresh failing with 503")
        else:
            raise AssertionError("a refresh write succeeded while the server failed with 503")
        text = read(m.path(".dswfs", "last_error")).decode()
        assert "503" in text and "ServiceUnavailableTemporary" in text, text
        srv.control("DELETE", "faults")
        rc, err = write_refresh(m)
        eq(rc, 0, f"echo > .dswfs/refresh after the server recovered: {err}")
        eq(read(status), b"Stopped\n", "Status after the recovery")


@test
def sighup_bursts_coalesce_and_refresh():
    srv = server()
    fleet = S.fleet
    victim = next(i for i in fleet if i["Status"] == "Running")
    with Mount(srv, f"page_size={PS}", "ttl=600", "refresh_min_interval=5") as m:
        status = m.path("instances", escape_name(victim["InstanceId"]), "Status")
        eq(read(status), b"Running\n", "Status")
        srv.control("PATCH", f"instances/{victim['InstanceId']}", {"Status": "Saving"})
        srv.control("POST", "stats/reset")
        before = read_ctl_stats(m)
        for _ in range(20):
            m.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: read(status) == b"Saving\n", timeout=10, what="Status after SIGHUP")
        wait_until(lambda: read_ctl_stats(m).get("refreshes", 0) - before.get("refreshes", 0)
                   >= 1, timeout=10, what="refreshes to count the SIGHUP")
        # A writer within refresh_min_interval is answered by the SIGHUP's refresh.
        rc, err = write_refresh(m)
        eq(rc, 0, f"echo > .dswfs/refresh: {err}")
        after = read_ctl_stats(m)
        eq(after["refreshes"] - before.get("refreshes", 0), 1, "refreshes run")
        assert after["refresh_coalesced"] > before.get("refresh_coalesced", 0), after
        eq(srv.list_requests(), PAGES, "API requests for a SIGHUP burst and a refresh write")
        assert m.proc.poll() is None, "dswfs exited after SIGHUP"


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
