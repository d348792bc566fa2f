#!/usr/bin/env python3
"""soak: a bounded memory soak. Lists many distinct query directories of a mounted local fleet,
samples the daemon's RSS and fails unless it plateaus.

The local API server serves a fleet of SOAK_INSTANCES (default 1000) instances; dswfs mounts it
with a small TTL and a small cache_max_mb. One reader walks query directories that are mostly
new (instances/min-cpu/<n>/ holds nearly the whole fleet, workspaces/<ws>/status/<s>/min-cpu/<n>/
a part of it, and a query seen before is refetched once its TTL is over): it lists each one,
reads its instances.json and a few instance files, so every answer is fetched, rendered and
later evicted. Meanwhile the daemon's VmRSS (/proc/PID/status) is sampled every
SOAK_INTERVAL seconds together with cache_entries and cache_bytes from .dswfs/stats.

Plateau rule: the run is cut into thirds; it passes when the highest RSS of the last third is at
most SOAK_TOLERANCE (default 10 %) above the highest RSS of the middle third. The first third
is warm-up (the cache fills to its cap within seconds, the allocator's arenas grow to their
working size). Maxima, not means, are compared because eviction makes RSS a sawtooth: a bounded
daemon keeps hitting the same peak, while anything that grows with the number of distinct
queries (an unbounded cache, a leak, a table that is never pruned) raises each later peak by
what one third of the run added. It also fails when RSS ever exceeds SOAK_RSS_LIMIT_MB (the run
stops there, so an unbounded daemon cannot take the machine down), when the reader saw errors,
when too few queries ran to mean anything, or when the cap was never exercised (no eviction).

Environment: SOAK_SECONDS (180), SOAK_INSTANCES (1000), SOAK_CACHE_MB (64; empty = do not pass
cache_max_mb, for binaries without it), SOAK_TTL (5), SOAK_INTERVAL (3), SOAK_TOLERANCE (0.10),
SOAK_RSS_LIMIT_MB (3072), SOAK_SEED (1), DSWFS_BIN (build/dswfs). Exit status 0 on a plateau.
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

WORKSPACES = ["40823", "86177", "112376", "258103", "331952", "47720"]
STATUSES = ["Running", "Stopped", "Failed", "Saved", "Queuing", "Starting", "EnvPreparing"]


def env(name, default, conv=str):
    v = os.environ.get(name)
    return conv(default) if v is None else conv(v)


def query_dir(rng):
    """A query directory, most of them not seen before (min-cpu in thousandths of a core)."""
    n = rng.randint(1, 499)
    if rng.random() < 0.5:
        return os.path.join("instances", "min-cpu", str(n))
    return os.path.join("workspaces", rng.choice(WORKSPACES), "status", rng.choice(STATUSES),
                        "min-cpu", str(n))


class Reader(threading.Thread):
    def __init__(self, mount, seed, stop):
        super().__init__(daemon=True)
        self.mount = mount
        self.rng = random.Random(seed)
        self.stop = stop
        self.queries = 0
        self.errors = []

    def run(self):
        while not self.stop.is_set():
            d = self.mount.path(query_dir(self.rng))
            try:
                names = [n for n in os.listdir(d) if n.startswith("dsw-")]
                with open(os.path.join(d, "instances.json"), "rb") as f:
                    f.read()
                for n in names[:3]:
                    with open(os.path.join(d, n, "Status"), "rb") as f:
                        f.read()
            except OSError as e:
                if len(self.errors) < 20:
                    self.errors.append(f"{d}: {e}")
                else:
                    self.errors.append("")
            self.queries += 1


def main():
    seconds = env("SOAK_SECONDS", 180, float)
    instances = env("SOAK_INSTANCES", 1000, int)
    cache_mb = env("SOAK_CACHE_MB", "64")
    ttl = env("SOAK_TTL", "5")
    interval = env("SOAK_INTERVAL", 3, float)
    tolerance = env("SOAK_TOLERANCE", 0.10, float)
    limit_kb = env("SOAK_RSS_LIMIT_MB", 3072, int) * 1024
    seed = env("SOAK_SEED", 1, int)
    binary = os.environ.get("DSWFS_BIN", harness.DSWFS)

    opts = [f"ttl={ttl}", "grace=0"]
    if cache_mb:
        opts.append(f"cache_max_mb={cache_mb}")
    print(f"soak: {binary}, {instances} instances, -o {','.join(opts)}, {seconds:g} s, "
          f"sampling every {interval:g} s", flush=True)
    samples = []  # (seconds, rss KiB, queries, cache_entries, cache_bytes)
    over_limit = False
    with harness.MockServer(instances=instances, seed=seed) as srv, \
            harness.Mount(srv, *opts, binary=binary) as m:
        pid = m.proc.pid
        stop = threading.Event()
        reader = Reader(m, seed, stop)
        t0 = time.monotonic()
        reader.start()
        print(f"{'t_s':>6} {'rss_mb':>8} {'queries':>8} {'entries':>8} {'cache_mb':>9}",
              flush=True)
        while True:
            time.sleep(interval)
            t = time.monotonic() - t0
            rss = harness.rss_kb(pid)
            if rss is None:
                stop.set()
                print(f"soak: FAIL: dswfs exited: {m.output()[-2000:]}", flush=True)
                return 1
            try:
                st = harness.read_ctl_stats(m)
            except OSError:
                st = {}
            s = (t, rss, reader.queries, st.get("cache_entries", -1), st.get("cache_bytes", -1))
            samples.append(s)
            print(f"{s[0]:6.0f} {s[1] / 1024:8.1f} {s[2]:8d} {s[3]:8} "
                  f"{(s[4] / 2**20 if s[4] >= 0 else -1):9.1f}", flush=True)
            if rss > limit_kb:
                over_limit = True
                break
            if t >= seconds:
                break
        stop.set()
        reader.join(60)
        final = harness.read_ctl_stats(m)

    failures = []
    if over_limit:
        failures.append(f"RSS {samples[-1][1] / 1024:.0f} MB exceeded SOAK_RSS_LIMIT_MB "
                        f"({limit_kb // 1024}) after {samples[-1][0]:.0f} s")
    k = len(samples) // 3
    if not over_limit:
        if k < 3:
            failures.append(f"only {len(samples)} samples: run longer or sample more often")
        else:
            mid = max(s[1] for s in samples[k:2 * k])
            last = max(s[1] for s in samples[2 * k:])
            verdict = "plateau" if last <= mid * (1 + tolerance) else "still growing"
            print(f"soak: max RSS middle third {mid / 1024:.1f} MB, last third {last / 1024:.1f} MB "
                  f"({(last / mid - 1) * 100:+.1f} %, limit +{tolerance * 100:.0f} %): {verdict}",
                  flush=True)
            if verdict != "plateau":
                failures.append("RSS did not plateau")
    errors = [e for e in reader.errors if e]
    if reader.errors:
        failures.append(f"{len(reader.errors)} reader errors, e.g. {errors[:3]}")
    if reader.queries < 50:
        failures.append(f"only {reader.queries} queries ran")
    if not over_limit and final.get("cache_evictions", 0) == 0:
        failures.append("no eviction: the cache cap was never exercised")
    print(f"soak: {reader.queries} queries, api_requests {final.get('api_requests')}, "
          f"cache_evictions {final.get('cache_evictions')}, peak RSS "
          f"{max(s[1] for s in samples) / 1024:.1f} MB", flush=True)
    for f in failures:
        print(f"soak: FAIL: {f}", flush=True)
    if not failures:
        print("soak: PASS", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
