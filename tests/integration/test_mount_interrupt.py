#!/usr/bin/env python3
"""test_mount_interrupt: a reader blocked on a slow or stalled fetch that gets Ctrl-C (SIGINT)
returns at once (EINTR for a reader that survives the signal) instead of waiting for the fetch
or for wait_timeout; the fetch goes on, so the next reader of the same query gets its answer
without another API request; the interrupt is counted in .dswfs/stats (fs_interrupted); and a
lazily unmounted mount whose reader is interrupted lets the daemon exit at once."""
import errno
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, MockServer, Mount, Skip, creds_env, eq, exits_within,  # noqa: E402
                     read_ctl_stats, run, stop, test, wait_until)

# Well above every bound asserted below, so only an honoured interrupt explains a prompt return.
SLOW_MS = 6000
STALL_MS = 60000
WAIT_TIMEOUT = 30
PROMPT = 3.0   # seconds within which an interrupted reader must be gone

# A reader that survives SIGINT (its handler does nothing) and reports open(2)'s errno; ctypes
# calls libc directly, so Python does not retry the call after EINTR (PEP 475).
EINTR_READER = r"""
import ctypes, os, signal, sys
signal.signal(signal.SIGINT, lambda *a: None)
libc = ctypes.CDLL(None, use_errno=True)
print("ready", flush=True)
fd = libc.open(sys.argv[1].encode(), os.O_RDONLY)
print(fd, ctypes.get_errno(), flush=True)
"""


def slow_first_request(srv, ms=SLOW_MS):
    srv.control("POST", "faults", {"faults": [{"kind": "latency", "ms": ms, "count": 1}]})


def interrupt_and_time(srv, n, proc):
    """Waits until proc's fetch reached the server, sends SIGINT, returns how long it took to
    exit (asserting it did within PROMPT)."""
    wait_until(lambda: srv.list_requests() > n, timeout=10, what="the slow request")
    proc.send_signal(signal.SIGINT)
    took = exits_within(proc, PROMPT)
    assert took is not None, f"the reader still waits {PROMPT} s after SIGINT"
    return took


@test
def ctrl_c_on_a_cold_cat_returns_at_once_and_the_fetch_lands():
    with MockServer(instances=20, seed=5) as srv, \
            Mount(srv, "retries=0", f"wait_timeout={WAIT_TIMEOUT}") as m:
        before = read_ctl_stats(m).get("fs_interrupted")
        eq(before, 0, "fs_interrupted before any interrupt")
        slow_first_request(srv)
        n = srv.list_requests()
        cat = subprocess.Popen(["cat", m.path("instances", "instances.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            took = interrupt_and_time(srv, n, cat)
            print(f"  cat exited {took:.2f} s after SIGINT (fetch {SLOW_MS / 1000:g} s, "
                  f"wait_timeout {WAIT_TIMEOUT} s)")
            eq(cat.returncode, -signal.SIGINT, "cat's exit status")
        finally:
            stop(cat)
        eq(read_ctl_stats(m).get("fs_interrupted"), 1, "fs_interrupted after one Ctrl-C")
        # The mount still answers, and a second reader of the same query gets the answer the
        # interrupted reader's fetch brings: no second request reaches the server.
        with open(m.path("instances", "instances.json")) as f:
            eq(len(json.load(f)), 20, "instances in instances.json after the fetch")
        eq(srv.list_requests() - n, 1, "API requests for the interrupted and the second reader")
        eq(len(os.listdir(m.path("instances"))), 20, "ls instances | wc -l afterwards")
        with open(m.path(".dswfs", "last_error")) as f:
            assert "interrupt" not in f.read(), "an interrupt recorded as an error"


@test
def an_interrupted_reader_that_survives_the_signal_gets_eintr():
    with MockServer(instances=20, seed=5) as srv, \
            Mount(srv, "retries=0", f"wait_timeout={WAIT_TIMEOUT}") as m:
        slow_first_request(srv)
        n = srv.list_requests()
        p = subprocess.Popen([sys.executable, "-c", EINTR_READER,
                              m.path("instances", "instances.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            eq(p.stdout.readline().strip(), "ready", "the reader's start")
            interrupt_and_time(srv, n, p)
            fd, err = p.stdout.read().split()
            eq(int(fd), -1, "open's result")
            eq(int(err), errno.EINTR, "open's errno")
        finally:
            stop(p)
        wait_until(lambda: os.path.getsize(m.path("instances", "instances.json")) > 2,
                   timeout=SLOW_MS / 1000 + 10, what="the answer after the interrupt")


@test
def ctrl_c_on_ls_of_a_stall_with_no_wait_timeout():
    # wait_timeout=0 waits as long as the fetch takes (60 s here): only the interrupt ends it.
    with MockServer(instances=20, seed=5) as srv, \
            Mount(srv, "retries=0", "timeout=60000", "wait_timeout=0") as m:
        srv.control("POST", "faults", {"faults": [{"kind": "timeout", "ms": STALL_MS,
                                                   "count": 1}]})
        n = srv.list_requests()
        ls = subprocess.Popen(["ls", m.path("instances")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        try:
            interrupt_and_time(srv, n, ls)
        finally:
            stop(ls)
        assert read_ctl_stats(m).get("fs_interrupted", 0) >= 1, "fs_interrupted not counted"
        # Other queries are not held up by the stalled one.
        eq(len(os.listdir(m.path("instances", "status", "Running"))) > 0, True,
           "a listing of another query during the stall")


@test
def lazy_unmount_then_ctrl_c_lets_the_daemon_exit_at_once():
    # fusermount3 -u -z detaches the mount but the kernel keeps the connection while cat is
    # inside it; the interrupt answers cat, the last user goes, and the daemon exits without
    # waiting for the stalled fetch (60 s) or for wait_timeout (30 s).
    with MockServer(instances=20, seed=5) as srv, \
            Mount(srv, "retries=0", "timeout=60000", f"wait_timeout={WAIT_TIMEOUT}") as m:
        srv.control("POST", "faults", {"faults": [{"kind": "timeout", "ms": STALL_MS}]})
        n = srv.list_requests()
        cat = subprocess.Popen(["cat", m.path("instances", "instances.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: srv.list_requests() > n, timeout=10, what="the stalled request")
            subprocess.run(["fusermount3", "-u", "-z", m.dir], capture_output=True, timeout=10)
            t0 = time.monotonic()
            interrupt_and_time(srv, n, cat)
            took = exits_within(m.proc, PROMPT)
            assert took is not None, f"dswfs still running {PROMPT} s after its last reader left"
            print(f"  dswfs exited {time.monotonic() - t0:.2f} s after cat's SIGINT")
        finally:
            stop(cat)


@test
def tsan_daemon_with_interrupts_racing_fetches():
    # Interrupts arriving before the wait starts, during it and as the answer lands, with a
    # second reader of the same query each time: ThreadSanitizer reports nothing, and the
    # second reader always gets the answer.
    tsan = os.environ.get("DSWFS_TSAN_BIN") or os.path.join(ROOT, "build-tsan", "dswfs")
    if not os.access(tsan, os.X_OK):
        raise Skip(f"no ThreadSanitizer build of dswfs at {tsan} (make tsan)")
    logdir = tempfile.mkdtemp(prefix="dswfs-tsan-")
    env = creds_env({"TSAN_OPTIONS": f"halt_on_error=0 exitcode=66 log_path={logdir}/tsan"})
    with MockServer(instances=20, seed=5) as srv, \
            Mount(srv, "retries=0", f"wait_timeout={WAIT_TIMEOUT}", binary=tsan, env=env) as m:
        srv.control("POST", "faults", {"faults": [{"kind": "latency", "ms": 1000}]})
        for k in range(12):
            q = m.path("instances", "min-cpu", str(2000 + k), "instances.json")
            n = srv.list_requests()
            a, b = (subprocess.Popen(["cat", q], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE) for _ in range(2))
            try:
                if k % 2:
                    wait_until(lambda: srv.list_requests() > n, timeout=30,
                               what="the query's request")
                a.send_signal(signal.SIGINT)
                assert exits_within(a, 20) is not None, f"reader {k} still waits after SIGINT"
                out, err = b.communicate(timeout=60)
                eq(b.returncode, 0, f"second reader {k}: {err!r}")
                assert isinstance(json.loads(out), list)
            finally:
                stop(a)
                stop(b)
        print(f"  fs_interrupted {read_ctl_stats(m).get('fs_interrupted')} of 12 readers")
    reports = sorted(glob.glob(os.path.join(logdir, "tsan*")))
    for p in reports:
        with open(p, errors="replace") as f:
            print(f"==== {p}\n" + f.read()[:20000], flush=True)
    assert not reports, f"ThreadSanitizer wrote {len(reports)} report file(s) (printed above)"
    eq(m.proc.returncode, 0, "exit status of the TSan daemon (66 = TSan reported)")


if __name__ == "__main__":
    run()
