"""test_mount_shared: several dswfs mounts sharing one Redis (-o shared_cache) against the local
server: one walk for the fleet, isolation between principals, rejected tampering, and Redis
failures that cost only a fallback to the API."""
import contextlib
import os
import shutil
import stat
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (AK_ID, AK_SECRET, MockServer, Mount, Redis, Skip, creds_env, eq,  # noqa: E402
                     read_ctl_stats, run, test, wait_until)

N = 250
PAGE = 100
PAGES = -(-N // PAGE)


def need_redis():
    if not shutil.which("redis-server"):
        raise Skip("redis-server is not installed (scripts/install-deps.sh)")


def shared_opts(r, *extra):
    return ["shared_cache=" + r.url, f"page_size={PAGE}", "ttl=60"] + list(extra)


def listing(m):
    return sorted(os.listdir(m.path("instances")))


def shared_stats(m):
    return {k: v for k, v in read_ctl_stats(m).items() if k.startswith("shared_")}


def at_least(m, name, n, what):
    """Fails unless the shared_ counter name of mount m is at least n."""
    st = shared_stats(m)
    if st[name] < n:
        raise AssertionError(f"{what}: {name} {st[name]} < {n} ({st})")


def last_error_says(m, text):
    with open(m.path(".dswfs", "last_error")) as f:
        le = f.read()
    if text not in le:
        raise AssertionError(f"last_error does not say {text!r}: {le}")


def mounts(stack, srv, n, *opts, env=None):
    return [stack.enter_context(Mount(srv, *opts, env=env)) for _ in range(n)]


def key_file(tmp):
    path = os.path.join(tmp, "team.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (os.urandom(32).hex() + "\n").encode())
    os.close(fd)
    return path


@test
def two_mounts_cold_walk_costs_one_walk():
    need_redis()
    with contextlib.ExitStack() as st:
        r = st.enter_context(Redis())
        srv = st.enter_context(MockServer(instances=N))
        a, b = mounts(st, srv, 2, *shared_opts(r))
        srv.control("POST", "stats/reset")
        la = listing(a)
        eq(len(la), N, "instances on the first mount")
        eq(srv.list_requests(), PAGES, "API requests for the first cold walk")
        eq(listing(b), la, "the second mount's listing")
        eq(srv.list_requests(), PAGES, "API requests after the second mount's cold walk")
        eq(shared_stats(b)["shared_hits"], 1, "second mount's shared hits")
        eq(shared_stats(a)["shared_stores"], 1, "first mount's stores")
        # An instance's file reads the same through the shared answer.
        inst = la[0]
        with open(a.path("instances", inst, "instance.json")) as f1, \
                open(b.path("instances", inst, "instance.json")) as f2:
            eq(f2.read(), f1.read(), "instance.json through both mounts")
        eq(len(r.entries()), 1, "entries in Redis")


@test
def eight_concurrent_cold_walks_cost_one_walk():
    need_redis()
    with contextlib.ExitStack() as st:
        r = st.enter_context(Redis())
        # Latency keeps the walk open long enough for every mount to meet the lock.
        srv = st.enter_context(MockServer("--latency-ms", "150", instances=N))
        ms = mounts(st, srv, 8, *shared_opts(r))
        srv.control("POST", "stats/reset")
        results = [None] * len(ms)
        go = threading.Barrier(len(ms))

        def walk(i):
            go.wait()
            results[i] = listing(ms[i])

        ts = [threading.Thread(target=walk, args=(i,)) for i in range(len(ms))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        eq(srv.list_requests(), PAGES, "API requests for 8 concurrent cold walks")
        for res in results:
            eq(res, results[0], "every mount's listing")
        eq(len(results[0]), N, "instances")
        stats = [shared_stats(m) for m in ms]
        eq(sum(s["shared_stores"] for s in stats), 1, "stores")
        if sum(s["shared_lock_waits"] for s in stats) < 1:
            raise AssertionError(f"nobody waited for the lock: {stats}")


@test
def other_principals_share_nothing_and_moved_or_tampered_entries_are_rejected():
    need_redis()
    tmp = tempfile.mkdtemp(prefix="dswfs-shared-")
    try:
        with contextlib.ExitStack() as st:
            r = st.enter_context(Redis())
            # Unsigned: the server takes any key, so two principals can share it.
            srv = st.enter_context(MockServer(sign=False, instances=N))
            kf = key_file(tmp)
            env2 = creds_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tOtherPrincipal",
                              "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "OtherSecret"})
            a = st.enter_context(Mount(srv, *shared_opts(r, "shared_cache_key=" + kf)))
            b = st.enter_context(Mount(srv, *shared_opts(r, "shared_cache_key=" + kf), env=env2))
            srv.control("POST", "stats/reset")
            la = listing(a)
            eq(srv.list_requests(), PAGES, "first principal's walk")
            eq(listing(b), la, "second principal's listing")
            eq(srv.list_requests(), 2 * PAGES, "the other principal walks on its own")
            eq(shared_stats(b)["shared_hits"], 0, "other principal's hits")
            names = r.entries()
            eq(len(names), 2, "one entry per principal")
            # A valid value (same team key) copied under the other principal's name.
            va, vb = (r.cmd("GET", n) for n in names)
            r.cmd("SET", names[1], va, "KEEPTTL")
            r.cmd("SET", names[0], vb, "KEEPTTL")
            c = st.enter_context(Mount(srv, *shared_opts(r, "shared_cache_key=" + kf)))
            srv.control("POST", "stats/reset")
            eq(listing(c), la, "listing with the moved entries")
            eq(srv.list_requests(), PAGES, "a rejected entry costs a walk of its own")
            eq(shared_stats(c)["shared_rejected"], 1, "moved entry rejected")
            last_error_says(c, "rejected")
            # Tampered: one byte of the (now rewritten) entry flipped.
            names = r.entries()
            for n in names:
                v = bytearray(r.cmd("GET", n))
                v[len(v) // 2] ^= 1
                r.cmd("SET", n, bytes(v), "KEEPTTL")
            d = st.enter_context(Mount(srv, *shared_opts(r, "shared_cache_key=" + kf)))
            srv.control("POST", "stats/reset")
            eq(listing(d), la, "listing with a tampered entry")
            eq(srv.list_requests(), PAGES, "a tampered entry costs a walk of its own")
            eq(shared_stats(d)["shared_rejected"], 1, "tampered entry rejected")
            # Without the key file: the entries are sealed with another key, nothing is shared.
            e = st.enter_context(Mount(srv, *shared_opts(r)))
            srv.control("POST", "stats/reset")
            eq(listing(e), la, "listing without the team key")
            eq(srv.list_requests(), PAGES, "a mount without the team key walks on its own")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def key_file_must_be_private():
    need_redis()
    tmp = tempfile.mkdtemp(prefix="dswfs-shared-")
    try:
        kf = key_file(tmp)
        os.chmod(kf, 0o644)
        with Redis() as r, MockServer(instances=10) as srv:
            try:
                with Mount(srv, *shared_opts(r, "shared_cache_key=" + kf)):
                    raise AssertionError("mounted with a world-readable key file")
            except AssertionError as e:
                if "chmod 600" not in str(e):
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def timed_listing(m):
    t0 = time.monotonic()
    names = listing(m)
    return names, time.monotonic() - t0


@test
def redis_killed_mid_walk_restarted_paused_and_full():
    need_redis()
    with contextlib.ExitStack() as st:
        r = st.enter_context(Redis())
        srv = st.enter_context(MockServer("--latency-ms", "100", instances=N))
        opts = shared_opts(r, "shared_cache_timeout=0.3", "parallel_pages=1")
        a, b, c, d = mounts(st, srv, 4, *opts)
        expect = None
        # Killed while the first mount walks (it holds the lock): the walk still completes.
        res = {}
        t = threading.Thread(target=lambda: res.update(names=listing(a)))
        t.start()
        wait_until(lambda: srv.list_requests() >= 1 + 4, what="the walk to start")
        r.kill()
        t.join(30)
        expect = res.get("names")
        eq(len(expect or []), N, "listing while Redis died")
        # Down: a cold mount answers from the API, within the timeouts.
        names, took = timed_listing(b)
        eq(names, expect, "listing with Redis down")
        if took > 5:
            raise AssertionError(f"a walk with Redis down took {took:.1f} s")
        at_least(b, "shared_fallbacks", 1, "fallback with Redis down")
        last_error_says(b, "shared cache")
        # Restarted (empty): a mount takes it up again after its back-off.
        r.start()

        def stored_again():
            with open(b.path(".dswfs", "refresh"), "w") as f:
                f.write("1")
            return shared_stats(b)["shared_stores"] >= 1

        wait_until(stored_again, timeout=20, interval=0.3, what="a store after the restart")
        # Paused: commands block past the timeout; the mount answers from the API.
        r.cmd("CLIENT", "PAUSE", "4000")
        names, took = timed_listing(c)
        eq(names, expect, "listing with Redis paused")
        if took > 3.5:
            raise AssertionError(f"a walk with Redis paused took {took:.1f} s")
        at_least(c, "shared_fallbacks", 1, "fallback with Redis paused")
        wait_until(lambda: r.cmd("PING", timeout=10) == b"PONG", timeout=10, what="unpause")
        # Full: nothing can be written; the mount answers from the API.
        r.cmd("FLUSHALL")
        r.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
        r.cmd("CONFIG", "SET", "maxmemory", "1")
        names, took = timed_listing(d)
        eq(names, expect, "listing with Redis full")
        sd = shared_stats(d)
        if sd["shared_fallbacks"] + sd["shared_store_failures"] < 1:
            raise AssertionError(f"a full Redis went unnoticed: {sd}")
        eq(r.entries(), [], "entries stored in a full Redis")


@test
def stale_on_error_across_hosts():
    need_redis()
    with contextlib.ExitStack() as st:
        r = st.enter_context(Redis())
        srv = st.enter_context(MockServer(instances=N))
        opts = shared_opts(r, "max_stale=600", "grace=0", "retries=0")
        opts = [o for o in opts if not o.startswith("ttl=")] + ["ttl=1"]
        a, b = mounts(st, srv, 2, *opts)
        expect = listing(a)
        srv.control("POST", "faults", {"faults": [
            {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary"}]})
        # The shared entry has to age past the TTL; mounts have real clocks.
        time.sleep(1.2)
        srv.control("POST", "stats/reset")
        eq(listing(b), expect, "a mount that never fetched, with the API down")
        # One failed attempt, then the back-off: not one API request per reader.
        if srv.list_requests() > 3:
            raise AssertionError(f"{srv.list_requests()} API requests for one listing")
        at_least(b, "shared_stale_serves", 1, "stale serve with the API down")
        last_error_says(b, "shared cache")


if __name__ == "__main__":
    run()
