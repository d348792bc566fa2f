"""test_mount_cache_bytes: the cache's byte cap (cache_max_mb): shown in config and --help,
rejected when malformed, evicting least recently used answers by size while max_snapshots
still applies, and counted in the cache_bytes gauge."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DSWFS, Mount, Shared, creds_env, eq, read, read_ctl_stats,  # noqa: E402
                     run, test)

N = 200
SEED = 5
MIB = 1 << 20

S = Shared(N, SEED)


def visit(m, rel):
    """Lists a query directory and reads its instances.json (which renders it)."""
    d = m.path(rel)
    names = os.listdir(d)
    assert names and "instances.json" not in names, (rel, names[:5])
    with open(os.path.join(d, "instances.json"), "rb") as f:
        f.read()


# min-cpu/<n> with n below every instance's CPU: the whole fleet, each n a distinct query the
# server answers (min-cpu is never narrowed locally), so each is a full-size answer of its own.
QUERIES = [f"instances/min-cpu/{n}" for n in range(1, 7)]


def config_value(m, name):
    for line in read(m.path(".dswfs", "config")).decode().splitlines():
        k, _, v = line.partition(" ")
        if k == name:
            return v
    raise AssertionError(f"{name} not in .dswfs/config")


@test
def default_and_given_values_are_shown():
    srv = S.server()
    with Mount(srv) as m:
        eq(config_value(m, "cache_max_mb"), "4096", "default cache_max_mb")
    with Mount(srv, "cache_max_mb=7") as m:
        eq(config_value(m, "cache_max_mb"), "7", "given cache_max_mb")
    r = subprocess.run([DSWFS, "--help"], capture_output=True, text=True, timeout=20,
                       env=creds_env())
    assert "cache_max_mb=MIB" in r.stdout + r.stderr, "--help does not mention cache_max_mb"


@test
def malformed_values_are_rejected():
    srv = S.server()
    for bad in ("-1", "lots", "2097152"):
        d = os.path.join("/tmp", f"dswfs-cb-{os.getpid()}")
        os.makedirs(d, exist_ok=True)
        try:
            r = subprocess.run([DSWFS, "-f", "-o", f"endpoint={srv.url},cache_max_mb={bad}", d],
                               capture_output=True, text=True, timeout=20, env=creds_env())
        finally:
            subprocess.run(["fusermount3", "-u", "-z", d], capture_output=True)
            os.rmdir(d)
        eq(r.returncode, 2, f"cache_max_mb={bad} exit status")
        assert f"cache_max_mb={bad}" in r.stderr, r.stderr


@test
def answers_are_evicted_by_size_least_recently_used_first():
    srv = S.server()
    # First learn what one answer weighs, with no byte cap.
    with Mount(srv, "ttl=600", "cache_max_mb=0") as m:
        for q in QUERIES:
            visit(m, q)
        st = read_ctl_stats(m)
        eq(st["cache_entries"], len(QUERIES), "without a byte cap everything is kept")
        eq(st["cache_evictions"], 0, "evictions without a byte cap")
        one = st["cache_bytes"] / len(QUERIES)
    assert 0.5 * MIB < one < 2 * MIB, f"one answer is {one:.0f} bytes: adjust N"
    cap_mb = 3
    # The newest answer is measured before its instances.json is rendered, the others after:
    # floor(cap / size) or one more fit.
    fit = int(cap_mb * MIB // one)
    assert 1 <= fit < len(QUERIES) - 2, (fit, one)
    with Mount(srv, "ttl=600", f"cache_max_mb={cap_mb}") as m:
        for q in QUERIES:
            visit(m, q)
        st = read_ctl_stats(m)
        keep = st["cache_entries"]
        assert fit <= keep <= fit + 1, f"{keep} answers of {one:.0f} bytes kept under {cap_mb} MiB"
        eq(st["cache_evictions"], len(QUERIES) - keep, "evictions")
        assert 0 < st["cache_bytes"] <= cap_mb * MIB, st["cache_bytes"]
        # The most recent answers are the ones kept: asking for them costs no request.
        before = srv.list_requests()
        for q in QUERIES[-keep:]:
            visit(m, q)
        eq(srv.list_requests(), before, "the most recent answers were kept")
        visit(m, QUERIES[0])
        assert srv.list_requests() > before, "the oldest answer was evicted"


@test
def max_snapshots_still_applies_under_a_byte_cap():
    srv = S.server()
    with Mount(srv, "ttl=600", "cache_max_mb=4096", "max_snapshots=2") as m:
        for q in QUERIES:
            visit(m, q)
        st = read_ctl_stats(m)
        eq(st["cache_entries"], 2, "max_snapshots")
        eq(st["cache_evictions"], len(QUERIES) - 2, "evictions")
        assert 0 < st["cache_bytes"] < 3 * MIB, st["cache_bytes"]


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
