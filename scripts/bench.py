#!/usr/bin/env python3
"""bench: measures dswfs against the local DSW API server and prints a table.

For each fleet size: the fetch (a cold `ls instances/`), then API requests and wall time of a
cold and warm `grep -r` over instances/, warm `find` and `ls -lR`, the same three over a tmpfs
copy of the tree (the floor), a warm `ls -l instances/`, a cold walk with 50 ms of server
latency with serial and parallel pages, and the daemon's RSS against the fleet's compact JSON.
It measures; it asserts nothing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402


def timed(cmd, **kw):
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.monotonic() - t0


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_kib(pid):
    return status_kib(pid, "VmHWM")


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


def grep_cmd(root):
    # A pattern that matches nothing makes grep read every byte of every file.
    return ["grep", "-r", "-c", "--", "no-such-string-anywhere", root]


# The per-operation FUSE request counters of .dswfs/stats (gauges and byte counts left out).
FS_REQUESTS = ("fs_lookup", "fs_forget", "fs_getattr", "fs_setattr", "fs_readlink", "fs_open",
               "fs_read", "fs_write", "fs_release", "fs_opendir", "fs_readdir",
               "fs_readdirplus", "fs_releasedir", "fs_statfs", "fs_other")


def meminfo_mib(field):
    """A /proc/meminfo field in MiB: where the kernel's side of a walk goes (page cache,
    dentries and inodes in Slab). Machine-wide, so only indicative on a shared machine."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def fuse_requests(m, per_op=False):
    st = harness.read_ctl_stats(m)
    if per_op:
        return {k: st.get(k, 0) for k in FS_REQUESTS}
    return sum(st.get(k, 0) for k in FS_REQUESTS)


def ops_since(m, before):
    """The per-operation counters that moved since before (fuse_requests(m, True))."""
    now = fuse_requests(m, True)
    return " ".join(f"{k[3:]}={now[k] - before[k]}" for k in FS_REQUESTS if now[k] != before[k])


def warm_fuse_requests(m, cmd):
    """FUSE requests that reached the daemon while cmd ran, less what reading the counters
    costs (.dswfs/stats is looked up and read afresh every time). That cost is taken as the
    least of a few back-to-back reads: a single difference can be off by one either way (a
    batched forget lands in one of them, a dentry of .dswfs expires in another), which once
    made this read -1. Never below 0."""
    readings = [fuse_requests(m) for _ in range(4)]
    overhead = min(b - a for a, b in zip(readings, readings[1:]))
    b = fuse_requests(m)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return max(0, fuse_requests(m) - b - overhead)


def tmpfs_floor(tree, tmp_root):
    """Copies tree to tmpfs and greps the copy there: what the same walk costs without FUSE."""
    copy = tempfile.mkdtemp(prefix="dswfs-bench-", dir=tmp_root)
    try:
        t0 = time.monotonic()
        r = subprocess.run(["cp", "-r", tree, copy],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        copy_s = time.monotonic() - t0
        if r.returncode:
            # The floor is still meaningful for what was copied; say what was not.
            print(f"bench: cp -r reported: {r.stderr.strip()[:2000]}", file=sys.stderr)
        return {"copy_s": copy_s, "tmpfs_grep_s": timed(grep_cmd(copy)),
                "tmpfs_find_s": timed(["find", copy]), "tmpfs_ls_lR_s": timed(["ls", "-lR", copy])}
    finally:
        shutil.rmtree(copy, ignore_errors=True)


# wait_timeout=0: a reader waits for the fetch however long it takes. With the default (15 s) a
# large fleet's first listing on a loaded machine fails with ETIMEDOUT, and the "cold" walk
# then measures nothing.
MOUNT_OPTS = ("ttl=3600", "wait_timeout=0")


def fetch_fleet(srv):
    """The server's fleet. Generating it is linear but takes a while at large sizes (13 s for
    20,000 instances on a loaded 2-core machine), past harness.control's 10 s timeout."""
    with urllib.request.urlopen(srv.url + "/_mock/fleet", timeout=3600) as r:
        return json.loads(r.read())["Instances"]


def bench_size(n, latency_ms, tmp_root, copy_floor=True):
    row = {"instances": n}
    with harness.MockServer(instances=n, seed=7) as srv:
        fleet = fetch_fleet(srv)
        # Measured one instance at a time: at 100,000 instances the whole fleet is ~500 MB.
        row["raw_json_mib"] = row["compact_mib"] = 0
        for inst in fleet:
            row["raw_json_mib"] += len(json.dumps(inst).encode()) / 2**20
            row["compact_mib"] += len(json.dumps(inst, separators=(",", ":"),
                                                 ensure_ascii=False).encode()) / 2**20
        del fleet
        cached0, slab0 = meminfo_mib("Cached"), meminfo_mib("Slab")
        with harness.Mount(srv, *MOUNT_OPTS) as m:
            srv.control("POST", "stats/reset")
            rss0 = rss_kib(m.proc.pid)
            ops = fuse_requests(m, True)
            # The fetch alone (the listing of instances/), then the walk: the target
            # is fetch + at most 1.5x the warm walk.
            row["fetch_s"] = timed(["ls", m.path("instances")])
            row["cold_grep_s"] = timed(grep_cmd(m.path("instances")))
            row["cold_grep_req"] = srv.list_requests()
            row["cold_ops"] = ops_since(m, ops)
            row["rss_cold_mib"] = rss_kib(m.proc.pid) / 1024
            srv.control("POST", "stats/reset")
            # The first walk after a cold one still asks for the attributes of every directory
            # (the kernel drops a directory's atime after listing it from the daemon; files are
            # primed, not read); the next is served by the kernel alone.
            ops = fuse_requests(m, True)
            row["warm1_grep_s"] = timed(grep_cmd(m.path("instances")))
            row["warm1_ops"] = ops_since(m, ops)
            ops = fuse_requests(m, True)
            row["warm_grep_s"] = timed(grep_cmd(m.path("instances")))
            row["warm_ops"] = ops_since(m, ops)
            row["warm_grep_req"] = srv.list_requests()
            row["warm_grep_fuse_req"] = warm_fuse_requests(m, grep_cmd(m.path("instances")))
            row["cold_vs_warm"] = row["cold_grep_s"] / row["warm_grep_s"]
            row["warm_find_s"] = timed(["find", m.path("instances")])
            row["warm_ls_lR_s"] = timed(["ls", "-lR", m.path("instances")])
            # Growth over the whole fetch and walks, against the compact JSON (the target is 2x).
            row["rss_growth_mib"] = (rss_kib(m.proc.pid) - rss0) / 1024
            row["growth_vs_compact"] = row["rss_growth_mib"] / row["compact_mib"]
            st = harness.read_ctl_stats(m)
            row["fs_inodes"] = st.get("fs_inodes", 0)
            # The bench walks instances/ alone: one query. More means another process walked
            # this mount too (on a shared machine, a `find /tmp` reaches it), and its requests
            # are in the counts above.
            row["queries"] = st.get("queries_fetched", 0)
            row["kernel_cached_mib"] = meminfo_mib("Cached") - cached0
            row["kernel_slab_mib"] = meminfo_mib("Slab") - slab0
            row["warm_ls_l_s"] = timed(["ls", "-l", m.path("instances")])
            for k in ("copy_s", "tmpfs_grep_s", "tmpfs_find_s", "tmpfs_ls_lR_s"):
                row[k] = float("nan")
            if copy_floor:
                row.update(tmpfs_floor(m.path("instances"), tmp_root))
            row["warm_vs_tmpfs"] = row["warm_grep_s"] / row["tmpfs_grep_s"]
            row["find_vs_tmpfs"] = row["warm_find_s"] / row["tmpfs_find_s"]
            row["ls_lR_vs_tmpfs"] = row["warm_ls_lR_s"] / row["tmpfs_ls_lR_s"]
            row["peak_rss_mib"] = peak_rss_kib(m.proc.pid) / 1024
        for label, par in (("serial", 1), ("parallel", 4)):
            srv.control("POST", "faults", {"faults": [{"kind": "latency", "ms": latency_ms}]})
            with harness.Mount(srv, *MOUNT_OPTS, f"parallel_pages={par}") as m:
                srv.control("POST", "stats/reset")
                row[f"walk_{label}_s"] = timed(["ls", m.path("instances")])
                row[f"walk_{label}_req"] = srv.list_requests()
            srv.control("DELETE", "faults")
    return row


REGIONS = ("cn-wulanchabu", "cn-shanghai", "ap-southeast-1")


def bench_union(n, latency_ms):
    """Three local servers as three regions of n instances each, mounted with -o regions=: a
    cold walk of the union (every region asked at once) against one region's alone, the API
    requests each costs, and what walking regions/<id>/ after the union adds (nothing)."""
    row = {"regions": len(REGIONS), "per_region": n}
    with harness.MockServer("--region", REGIONS[0], instances=n, seed=7) as a, \
            harness.MockServer("--region", REGIONS[1], instances=n, seed=8) as b, \
            harness.MockServer("--region", REGIONS[2], instances=n, seed=9) as c:
        srvs = (a, b, c)
        opts = ["regions=" + ":".join(REGIONS), "ttl=3600"] + [
            f"endpoint.{r}={s.url}" for r, s in zip(REGIONS, srvs)]
        for s in srvs:
            s.control("POST", "faults", {"faults": [{"kind": "latency", "ms": latency_ms}]})
        with harness.Mount(None, *opts) as m:
            for s in srvs:
                s.control("POST", "stats/reset")
            row["one_region_walk_s"] = timed(["ls", m.path("regions", REGIONS[0], "instances")])
            row["one_region_req"] = a.list_requests()
        with harness.Mount(None, *opts) as m:
            for s in srvs:
                s.control("POST", "stats/reset")
            row["union_walk_s"] = timed(["ls", m.path("instances")])
            row["union_req"] = sum(s.list_requests() for s in srvs)
            row["union_instances"] = len(os.listdir(m.path("instances")))
            row["cold_grep_s"] = timed(grep_cmd(m.path("instances")))
            row["cold_grep_req"] = sum(s.list_requests() for s in srvs) - row["union_req"]
            for r in REGIONS:
                subprocess.run(grep_cmd(m.path("regions", r, "instances")),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            row["regions_after_union_req"] = (sum(s.list_requests() for s in srvs)
                                              - row["union_req"] - row["cold_grep_req"])
            row["peak_rss_mib"] = peak_rss_kib(m.proc.pid) / 1024
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--tmpfs", default="/dev/shm")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip copying the tree to tmpfs (the floor), which doubles the run")
    ap.add_argument("--union-size", type=int, default=1000,
                    help="instances per region of the 3-region union row (0: skip it)")
    ap.add_argument("--only-union", action="store_true", help="run only the 3-region union row")
    a = ap.parse_args()
    if a.only_union:
        a.sizes = ""
    rows = []
    for n in [int(x) for x in a.sizes.split(",") if x]:
        print(f"bench: {n} instances ...", file=sys.stderr, flush=True)
        rows.append(bench_size(n, a.latency_ms, a.tmpfs, not a.no_floor))
        print(f"bench: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    cols = [("instances", "%d"), ("raw_json_mib", "%.1f"), ("cold_grep_req", "%d"),
            ("fetch_s", "%.2f"), ("cold_grep_s", "%.2f"), ("cold_vs_warm", "%.2fx"),
            ("warm_grep_req", "%d"), ("warm1_grep_s", "%.2f"),
            ("warm_grep_s", "%.2f"),
            ("tmpfs_grep_s", "%.2f"), ("warm_vs_tmpfs", "%.2fx"), ("warm_grep_fuse_req", "%d"),
            ("warm_find_s", "%.2f"), ("tmpfs_find_s", "%.2f"), ("find_vs_tmpfs", "%.2fx"),
            ("warm_ls_lR_s", "%.2f"), ("tmpfs_ls_lR_s", "%.2f"), ("ls_lR_vs_tmpfs", "%.2fx"),
            ("warm_ls_l_s", "%.3f"), ("walk_serial_req", "%d"),
            ("walk_serial_s", "%.2f"), ("walk_parallel_s", "%.2f"), ("compact_mib", "%.1f"),
            ("rss_cold_mib", "%.1f"), ("rss_growth_mib", "%.1f"), ("growth_vs_compact", "%.2fx"),
            ("peak_rss_mib", "%.1f"), ("fs_inodes", "%d"), ("queries", "%d"),
            ("kernel_cached_mib", "%.0f"), ("kernel_slab_mib", "%.0f")]
    print(" | ".join(c for c, _ in cols))
    print(" | ".join("---" for _ in cols))
    for r in rows:
        print(" | ".join(f % r[c] for c, f in cols))
    for r in rows:
        print(f"{r['instances']}: FUSE requests per walk: cold {r['cold_ops'] or 0}; "
              f"first warm {r['warm1_ops'] or 0}; warm {r['warm_ops'] or 0}")
    print(f"(fetch_s = the cold `ls instances/` that fetches the answer; cold_grep_s = the "
          "grep -r right after it, cold_vs_warm its ratio to the warm one; walk_* = a cold "
          f"`ls instances/` with {a.latency_ms} ms added per request; "
          "tmpfs = the same tree copied to tmpfs, the floor; warm_grep_fuse_req = FUSE "
          "requests reaching the daemon during a warm grep -r, from .dswfs/stats)")
    if a.union_size:
        print(f"bench: 3 regions of {a.union_size} instances ...", file=sys.stderr, flush=True)
        r = bench_union(a.union_size, a.latency_ms)
        cols = [("regions", "%d"), ("per_region", "%d"), ("union_instances", "%d"),
                ("one_region_req", "%d"), ("one_region_walk_s", "%.2f"), ("union_req", "%d"),
                ("union_walk_s", "%.2f"), ("cold_grep_req", "%d"), ("cold_grep_s", "%.2f"),
                ("regions_after_union_req", "%d"), ("peak_rss_mib", "%.1f")]
        print()
        print(" | ".join(c for c, _ in cols))
        print(" | ".join("---" for _ in cols))
        print(" | ".join(f % r[c] for c, f in cols))
        print(f"(walk = cold `ls` with {a.latency_ms} ms added per request: one region's "
              "regions/<id>/instances on a fresh mount, then the union's instances/ on another; "
              "cold_grep = grep -r over the union after that listing; regions_after_union_req = "
              "requests of grep -r over every regions/<id>/instances after it)")


if __name__ == "__main__":
    main()
