"""test_mount_kernel_cache: what reaches the daemon once the kernel caches a walk. A cold grep -r
reads no file through the daemon (the files of each directory the kernel lists are pushed into
its page cache), the walk after it costs only the directories' attributes, the one after that
nothing; what is pushed is what the server holds, also after a refresh and for a file too big
to push; -o noprime reads each file through the daemon once."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MockServer, Mount, eq, read, read_ctl_stats, run, test  # noqa: E402

N = 40
SEED = 11
OPS = ("fs_lookup", "fs_getattr", "fs_read", "fs_readdir", "fs_readdirplus", "fs_open",
       "fs_opendir", "fs_readlink")


def grep(m, pattern="no-such-string-anywhere", *flags):
    r = subprocess.run(["grep", "-r", *flags, "--", pattern, "instances"], cwd=m.dir,
                       capture_output=True, timeout=120)
    assert r.returncode in (0, 1), f"grep exited {r.returncode}: {r.stderr[-300:]!r}"
    return r.stdout.decode()


def overhead(m):
    """What reading .dswfs/stats itself costs per counter (its name is looked up afresh and
    read each time): the least of a few back-to-back differences."""
    reads = [read_ctl_stats(m) for _ in range(4)]
    return {k: min(b.get(k, 0) - a.get(k, 0) for a, b in zip(reads, reads[1:])) for k in OPS}


def moved(before, after, base):
    """The counters that moved by more than reading the stats costs."""
    return {k: after.get(k, 0) - before.get(k, 0) - base[k] for k in OPS
            if after.get(k, 0) - before.get(k, 0) > base[k]}


def tree_counts(root):
    files = dirs = 0
    for _, ds, fs in os.walk(root):
        dirs += len(ds)
        files += len(fs)
    return files, dirs + 1


@test
def cold_grep_reads_no_file_through_the_daemon_and_warm_walks_nothing():
    with MockServer(instances=N, seed=SEED) as srv, Mount(srv, "ttl=600") as m:
        os.listdir(m.path("instances"))
        base = overhead(m)
        a = read_ctl_stats(m)
        grep(m)
        b = read_ctl_stats(m)
        eq(moved(a, b, base).get("fs_read", 0), 0, f"reads in a cold grep -r: {moved(a, b, base)}")
        files, dirs = tree_counts(m.path("instances"))
        assert files > 20 * N, f"only {files} files under instances/"
        # Every file of this fleet is small: each one was pushed, once.
        eq(b["fs_primed"] - a["fs_primed"], files, "files pushed into the page cache")
        eq(b["fs_prime_missed"], 0, "pushes the kernel refused")
        grep(m)
        c = read_ctl_stats(m)
        one = moved(b, c, base)
        # The walk after a cold one asks only for directories' attributes (a listing read from
        # the daemon drops the directory's atime); tree_counts' own walk made none.
        assert set(one) <= {"fs_getattr"} and one.get("fs_getattr", 0) <= dirs, \
            f"first warm grep -r: {one} ({dirs} directories)"
        grep(m)
        d = read_ctl_stats(m)
        eq(moved(c, d, base), {}, "FUSE requests in a warm grep -r")
        # What was pushed is what the server holds: a value grep finds is in its files.
        inst = srv.fleet()["Instances"][0]
        hits = grep(m, inst["InstanceId"], "-l").split()
        assert f"instances/{inst['InstanceId']}/InstanceId" in hits, hits[:5]
        eq(read(m.path("instances", inst["InstanceId"], "InstanceName")),
           inst["InstanceName"].encode() + b"\n", "InstanceName")


@test
def pushed_bytes_follow_a_refresh():
    with MockServer(instances=N, seed=SEED) as srv, Mount(srv, "ttl=600") as m:
        grep(m)
        iid = srv.fleet()["Instances"][3]["InstanceId"]
        srv.control("PATCH", f"instances/{iid}", {"InstanceName": "renamed-after-the-walk"})
        r = subprocess.run(f"echo 1 > {m.path('.dswfs', 'refresh')}", shell=True,
                           capture_output=True)
        eq(r.returncode, 0, f"refresh: {r.stderr!r}")
        hits = grep(m, "renamed-after-the-walk", "-l").split()
        eq(hits, [f"instances/{iid}/InstanceName"], "grep -rl after the refresh")
        eq(read(m.path("instances", iid, "InstanceName")), b"renamed-after-the-walk\n",
           "cat after the refresh")


@test
def a_file_too_big_to_push_is_read_through_the_daemon():
    big = "x" * (200 * 1024) + "-tail"
    with MockServer(instances=N, seed=SEED) as srv, Mount(srv, "ttl=600") as m:
        iid = srv.fleet()["Instances"][1]["InstanceId"]
        srv.control("PATCH", f"instances/{iid}", {"InstanceName": big})
        a = read_ctl_stats(m)
        hits = grep(m, "x-tail", "-l").split()
        b = read_ctl_stats(m)
        eq(hits, [f"instances/{iid}/InstanceName"], "grep -rl for the big value's end")
        assert b["fs_read"] > a["fs_read"], "the big file was not read through the daemon"
        eq(read(m.path("instances", iid, "InstanceName")), big.encode() + b"\n", "cat")


@test
def noprime_reads_each_file_through_the_daemon_once():
    with MockServer(instances=N, seed=SEED) as srv, Mount(srv, "ttl=600", "noprime") as m:
        os.listdir(m.path("instances"))
        a = read_ctl_stats(m)
        grep(m)
        b = read_ctl_stats(m)
        files, _ = tree_counts(m.path("instances"))
        eq(b["fs_primed"], 0, "files pushed with noprime")
        assert b["fs_read"] - a["fs_read"] >= files, \
            f"{b['fs_read'] - a['fs_read']} reads for {files} files"
        assert "prime 0" in read(m.path(".dswfs", "config")).decode().splitlines()


if __name__ == "__main__":
    run()
