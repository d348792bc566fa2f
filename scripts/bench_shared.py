#!/usr/bin/env python3
"""bench_shared: what a shared cache in Redis saves: 1, 4 and 16 dswfs mounts of one fleet
(local DSW API server, 50 ms latency) walk instances/ at the same moment, with and without
-o shared_cache. Prints API requests and wall time for the cold walk (every mount at once) and
a warm walk. It measures; it asserts nothing. Knobs: --instances, --mounts, --latency-ms.
"""
import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402


def walk_all(mounts):
    """`ls -l instances/` on every mount at once; the wall time until the last finishes."""
    def one(m):
        subprocess.run(["ls", "-l", m.path("instances")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)

    ts = [threading.Thread(target=one, args=(m,)) for m in mounts]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.monotonic() - t0


def row(srv, n, redis_url, page_size):
    # wait_timeout=0: a reader waits for the whole walk, however loaded the machine is.
    opts = [f"page_size={page_size}", "ttl=300", "wait_timeout=0"]
    if redis_url:
        opts.append("shared_cache=" + redis_url)
    with contextlib.ExitStack() as st:
        ms = [st.enter_context(harness.Mount(srv, *opts)) for _ in range(n)]
        srv.control("POST", "stats/reset")
        cold = walk_all(ms)
        cold_req = srv.list_requests()
        srv.control("POST", "stats/reset")
        warm = walk_all(ms)
        warm_req = srv.list_requests()
    return cold_req, cold, warm_req, warm


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--mounts", default="1,4,16")
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--page-size", type=int, default=100)
    a = ap.parse_args()
    # Stopped with SIGTERM: unwind, so every mount, Redis and the server go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    pages = -(-a.instances // a.page_size)
    print(f"{a.instances} instances, {a.latency_ms:g} ms latency, page size {a.page_size} "
          f"({pages} pages a walk); cold = every mount walks at once")
    print(f"{'mounts':>6} {'redis':>5} {'cold API req':>12} {'cold wall s':>11} "
          f"{'warm API req':>12} {'warm wall s':>11}")
    with harness.MockServer("--latency-ms", str(a.latency_ms), instances=a.instances) as srv:
        for n in (int(x) for x in a.mounts.split(",")):
            for use in (True, False):
                with contextlib.ExitStack() as st:
                    url = st.enter_context(harness.Redis()).url if use else None
                    cr, cw, wr, ww = row(srv, n, url, a.page_size)
                print(f"{n:>6} {'yes' if use else 'no':>5} {cr:>12} {cw:>11.2f} {wr:>12} "
                      f"{ww:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
