#!/usr/bin/env python3
"""test_mount_shutdown: a daemon asked to stop while a fetch hangs on a silent server exits
promptly (its transfers are aborted) instead of when the fetch gives up, and the reader that was
waiting returns; a reader waiting for a stalled fetch gives up at wait_timeout; a failing query
is remembered briefly, so an immediate retry does not ask the server again."""
import errno
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MockServer, Mount, eq, exits_within, run, stop, test, wait_until  # noqa: E402

STALL_MS = 60000


def stall(srv):
    srv.control("POST", "faults", {"faults": [{"kind": "timeout", "ms": STALL_MS}]})


def start_ls(m):
    return subprocess.Popen(["ls", m.path("instances")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@test
def sigterm_with_a_fetch_in_flight_exits_at_once():
    # wait_timeout well above the bound asserted: only aborting the transfer can explain a
    # prompt exit (without it the daemon waits for the 60 s stall or the 30 s wait_timeout).
    with MockServer(instances=20, seed=3) as srv, \
            Mount(srv, "timeout=60000", "retries=0", "wait_timeout=30") as m:
        stall(srv)
        n = srv.list_requests()
        ls = start_ls(m)
        try:
            wait_until(lambda: srv.list_requests() > n, timeout=10, what="the stalled request")
            m.proc.send_signal(signal.SIGTERM)
            took = exits_within(m.proc, 2)
            assert took is not None, "dswfs still running 2 s after SIGTERM"
            print(f"  dswfs exited {took:.2f} s after SIGTERM")
            assert exits_within(ls, 5) is not None, "ls still hangs after the daemon exited"
            assert ls.returncode != 0, "ls succeeded against a stalled server"
        finally:
            stop(ls)


@test
def lazy_unmount_with_a_fetch_in_flight_exits_within_wait_timeout():
    # With -z the kernel keeps the connection while ls is inside it: ls is answered at
    # wait_timeout (ETIMEDOUT), and then the daemon exits without waiting for the stall.
    wait = 2
    with MockServer(instances=20, seed=3) as srv, \
            Mount(srv, "timeout=60000", "retries=0", f"wait_timeout={wait}") as m:
        stall(srv)
        n = srv.list_requests()
        ls = start_ls(m)
        try:
            wait_until(lambda: srv.list_requests() > n, timeout=10, what="the stalled request")
            t0 = time.monotonic()
            subprocess.run(["fusermount3", "-u", "-z", m.dir], capture_output=True, timeout=10)
            assert exits_within(ls, wait + 5) is not None, "ls still hangs"
            assert b"timed out" in ls.stderr.read().lower() or ls.returncode != 0
            took = exits_within(m.proc, wait + 5)
            assert took is not None, f"dswfs still running {wait + 5} s after ls returned"
            print(f"  dswfs exited {time.monotonic() - t0:.2f} s after fusermount3 -u -z")
        finally:
            stop(ls)


@test
def a_reader_gives_up_at_wait_timeout_and_the_answer_lands_later():
    with MockServer(instances=20, seed=3) as srv, \
            Mount(srv, "timeout=60000", "retries=0", "wait_timeout=1") as m:
        srv.control("POST", "faults", {"faults": [{"kind": "latency", "ms": 3000}]})
        t0 = time.monotonic()
        try:
            os.listdir(m.path("instances"))
            raise AssertionError("listing answered before the server did")
        except OSError as e:
            eq(e.errno, errno.ETIMEDOUT, "errno of a reader past wait_timeout")
        took = time.monotonic() - t0
        assert took < 2.5, f"the reader waited {took:.2f} s with wait_timeout=1"
        with open(m.path(".dswfs", "last_error")) as f:
            assert "wait_timeout" in f.read()
        srv.control("DELETE", "faults")
        # The fetch went on; its answer is there without asking again.
        names = wait_until(lambda: _listing(m), timeout=10, what="the answer after the stall")
        eq(len(names), 20, "ls instances | wc -l after the stall")


def _listing(m):
    try:
        return os.listdir(m.path("instances"))
    except OSError:
        return None


@test
def a_failing_query_is_remembered_briefly():
    with MockServer(instances=20, seed=3) as srv, Mount(srv, "retries=0") as m:
        srv.control("POST", "faults", {"faults": [{"kind": "status", "status": 503}]})
        q = m.path("instances", "status", "Stopped")
        n = srv.list_requests()
        for _ in range(5):
            try:
                os.listdir(q)
                raise AssertionError("listing answered during an outage")
            except OSError as e:
                eq(e.errno, errno.EIO, "errno of a failing query")
        eq(srv.list_requests() - n, 1, "requests for 5 immediate retries of a failing query")
        srv.control("DELETE", "faults")
        # After the back-off (1 s) the next reader asks again and gets the answer.
        wait_until(lambda: _listing(m) is not None, timeout=10, what="the retry after back-off")


@test
def readers_waiting_on_a_stall_leave_workers_for_everyone_else():
    # Sixteen readers of distinct, never-fetched queries each hold a FUSE worker while their
    # fetch stalls (wait_timeout 8). With libfuse's default of 10 workers, a read of
    # .dswfs/stats would queue behind them until the deadline, and only ten of their fetches
    # would be under way before it (this test fails with -o max_threads=10).
    readers = []
    with MockServer(instances=20, seed=3) as srv, \
            Mount(srv, "timeout=60000", "retries=0", "wait_timeout=8") as m:
        stall(srv)
        n = srv.list_requests()
        try:
            for k in range(16):
                readers.append(subprocess.Popen(
                    ["ls", m.path("instances", "min-cpu", str(1000 + k))],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            # all sixteen in flight well before the first reader's deadline
            wait_until(lambda: srv.list_requests() >= n + 16, timeout=5,
                       what="sixteen stalled requests at once")
            cat = subprocess.Popen(["cat", m.path(".dswfs", "stats")], stdout=subprocess.PIPE)
            took = exits_within(cat, 5)
            assert took is not None, "cat .dswfs/stats waited behind the stalled readers"
            assert b"api_requests" in cat.stdout.read(), "stats has no api_requests line"
            print(f"  .dswfs/stats answered in {took:.2f} s beside 16 waiting readers")
        finally:
            for r in readers:
                stop(r)


if __name__ == "__main__":
    run()
