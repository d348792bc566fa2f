"""test_mount_regions: several regions in one mount (-o regions=), against one local server per
region: the union is the concatenation of the regions' answers, filters on it the union of the
filtered answers, a failing region leaves the others listed and the union visibly partial, and an
InstanceId two regions return stays visible twice."""
import contextlib
import json
import math
import os
import subprocess
import tempfile

from harness import (DSWFS, MockServer, Mount, creds_env, eq, read_ctl_stats, run, server_query,
                     test, wait_until)

REGIONS = ("cn-hangzhou", "cn-shanghai", "ap-southeast-1")
SIZES = (23, 17, 9)
PAGE = 5


@contextlib.contextmanager
def servers(sizes=SIZES, seeds=(1, 2, 3), regions=REGIONS):
    with contextlib.ExitStack() as st:
        yield [st.enter_context(MockServer("--region", r, instances=n, seed=s))
               for r, n, s in zip(regions, sizes, seeds)]


def mount(srvs, *opts, regions=REGIONS):
    ov = [f"endpoint.{r}={s.url}" for r, s in zip(regions, srvs)]
    return Mount(None, "regions=" + ":".join(regions), f"page_size={PAGE}", *ov, *opts)


def ids(srv, params=None):
    return [i["InstanceId"] for i in server_query(srv, dict({"WorkspaceId": "ALL",
                                                                "ResourceId": "ALL"}, **(params or {})))]


def listing(m, *parts):
    return sorted(os.listdir(m.path(*parts)))


def read(m, *parts):
    with open(m.path(*parts)) as f:
        return f.read()


@test
def union_is_the_concatenation():
    with servers() as srvs, mount(srvs) as m:
        for s in srvs:
            s.control("POST", "stats/reset")
        want = [ids(s) for s in srvs]
        eq(sum(len(w) for w in want), sum(SIZES), "fleet sizes")
        eq(listing(m, "instances"), sorted(i for w in want for i in w), "union instances/")
        eq(listing(m), [".dswfs", "by-name", "instances", "regions", "users", "users-by-name",
                        "workspaces", "workspaces-by-name"], "root")
        eq(listing(m, "regions"), sorted(REGIONS), "regions/")
        union = json.loads(read(m, "instances", "instances.json"))
        eq([i["InstanceId"] for i in union], [i for w in want for i in w],
           "instances.json is the regions' answers in order")
        for r, s, w in zip(REGIONS, srvs, want):
            eq(listing(m, "regions", r, "instances"), sorted(w), f"regions/{r}/instances")
            for i in w:
                eq(read(m, "instances", i, ".region"), r + "\n", f"{i}/.region")
                eq(read(m, "regions", r, "instances", i, ".region"), r + "\n", f"{r} {i}/.region")
            eq(listing(m, "regions", r), ["by-name", "instances", "users", "users-by-name",
                                           "workspaces", "workspaces-by-name"],
               f"regions/{r}/")
        # .region is lookup-only: not listed, so find and grep -r do not see it.
        eq(".region" in os.listdir(m.path("instances", want[0][0])), False, ".region listed")
        eq(len(os.listdir(m.path("by-name"))), sum(SIZES), "by-name")
        for e in os.listdir(m.path("by-name"))[:5]:
            assert os.path.isdir(m.path("by-name", e)), e
        ws = sorted({str(i["WorkspaceId"]) for s in srvs for i in server_query(
            s, {"WorkspaceId": "ALL", "ResourceId": "ALL"})})
        eq(listing(m, "workspaces"), ws, "workspaces/")
        q = read(m, "instances", ".query")
        for r, n in zip(REGIONS, SIZES):
            assert f"region {r} ok instances {n} " in q, q
        assert "complete 1\n" in q, q
        # The walk cost each region its pages, once, whichever tree asked.
        st = read_ctl_stats(m)
        for r, s, n in zip(REGIONS, srvs, SIZES):
            eq(st[f"api_requests.{r}"], math.ceil(n / PAGE), f"api_requests.{r}")
            eq(s.list_requests(), math.ceil(n / PAGE), f"{r} server requests")
        # --query over the union and over one region
        env = creds_env()
        ov = [f"endpoint.{r}={s.url}" for r, s in zip(REGIONS, srvs)]
        out = subprocess.run([DSWFS, "-o", ",".join(["regions=" + "+".join(REGIONS)] + ov),
                              "--query", "regions/cn-shanghai/instances"], env=env,
                             capture_output=True, text=True, timeout=60)
        eq(out.returncode, 0, out.stderr)
        eq([i["InstanceId"] for i in json.loads(out.stdout)], want[1], "--query regions/cn-shanghai")


@test
def filters_on_the_union():
    with servers() as srvs, mount(srvs) as m:
        cases = [
            (("status", "Running"), {"Status": "Running"}),
            (("accelerator-type", "GPU", "status", "Running,Stopped"),
             {"AcceleratorType": "GPU", "Status": "Running,Stopped"}),
            (("payment-type", "PayAsYouGo"), {"PaymentType": "PayAsYouGo"}),
            (("min-cpu", "4000"), {"MinCpu": "4000"}),
        ]
        for path, params in cases:
            want = sorted(i for s in srvs for i in ids(s, params))
            eq(listing(m, "instances", *path), want, "/".join(path))
            for r, s in zip(REGIONS, srvs):
                eq(listing(m, "regions", r, "instances", *path), sorted(ids(s, params)),
                   f"{r}: " + "/".join(path))
        ws = listing(m, "workspaces")[0]
        want = sorted(i for s in srvs for i in ids(s, {"WorkspaceId": ws}))
        eq(listing(m, "workspaces", ws), want, "workspaces/" + ws)
        eq(listing(m, "workspaces", ws, "status", "Running"),
           sorted(i for s in srvs for i in ids(s, {"WorkspaceId": ws, "Status": "Running"})),
           f"workspaces/{ws}/status/Running")


@test
def one_region_down_keeps_the_others():
    with servers() as srvs:
        srvs[1].control("POST", "faults", {"faults": [{"kind": "status", "status": 503,
                                                       "count": -1}]})
        with mount(srvs, "retries=0") as m:
            out = m.output()
            assert "warning: region cn-shanghai" in out, out
            want = sorted(i for k in (0, 2) for i in ids(srvs[k]))
            eq(listing(m, "instances"), want, "union without cn-shanghai")
            q = read(m, "instances", ".query")
            assert "region cn-shanghai missing: " in q and "complete 0\n" in q, q
            assert "missing cn-shanghai\n" in q, q
            assert "region cn-hangzhou ok" in q, q
            # Its age is its regions' (not the shortened cache age that gets it merged again).
            age = float(q.split("age_seconds ", 1)[1].split()[0])
            assert age < 20, q
            err = read(m, ".dswfs", "last_error")
            assert "[cn-shanghai]" in err, err
            try:
                os.listdir(m.path("regions", "cn-shanghai", "instances"))
                raise AssertionError("regions/cn-shanghai/instances listed while it fails")
            except OSError as e:
                eq(e.errno, 5, "EIO as a one-region mount gives")
            eq(listing(m, "regions", "cn-hangzhou", "instances"), sorted(ids(srvs[0])), "healthy")
            eq(read_ctl_stats(m)["region_up.cn-shanghai"], 0, "region_up")
            # It comes back: the partial union is merged again within seconds.
            srvs[1].control("DELETE", "faults")
            full = sorted(i for s in srvs for i in ids(s))
            wait_until(lambda: listing(m, "instances") == full, timeout=15,
                       what="cn-shanghai back in the union")
            wait_until(lambda: "complete 1\n" in read(m, "instances", ".query"), timeout=15,
                       what="complete union")


@test
def throttled_region_is_served_stale_and_said_so():
    with servers() as srvs, mount(srvs, "retries=0", "ttl=1", "grace=0") as m:
        full = sorted(i for s in srvs for i in ids(s))
        eq(listing(m, "instances"), full, "union")
        srvs[2].control("POST", "faults", {"faults": [{"kind": "throttle", "count": -1}]})
        # Past the TTL the throttled region is served stale (max_stale) and said so.
        wait_until(lambda: "stale ap-southeast-1\n" in read(m, "instances", ".query"),
                   timeout=15, what="stale region in .query")
        eq(listing(m, "instances"), full, "stale region still listed")
        wait_until(lambda: "Throttl" in read(m, ".dswfs", "last_error"), timeout=10,
                   what="throttling in last_error")
        assert "[ap-southeast-1]" in read(m, ".dswfs", "last_error")


@test
def stalled_region_leaves_the_union_partial_not_timed_out():
    with servers() as srvs:
        # The mount-time check passes; then every listing of cn-shanghai takes 10 s, longer
        # than the union waits (0.6 x wait_timeout) and than a reader waits (wait_timeout).
        srvs[1].control("POST", "faults", {"faults": [{"kind": "latency", "ms": 10000,
                                                       "after": 1}]})
        with mount(srvs, "wait_timeout=5") as m:
            want = sorted(i for k in (0, 2) for i in ids(srvs[k]))
            eq(listing(m, "instances"), want, "union without the stalled region")
            q = read(m, "instances", ".query")
            assert "region cn-shanghai missing: no answer within 3 s" in q, q
            assert "complete 0\n" in q, q
            # Its answer lands in its own cache and the next merge has it.
            full = sorted(i for s in srvs for i in ids(s))
            wait_until(lambda: listing(m, "instances") == full, timeout=30,
                       what="the stalled region's answer in the union")


@test
def every_region_down_fails_the_mount():
    with servers(sizes=(3, 3), regions=REGIONS[:2]) as srvs:
        for s in srvs:
            s.control("POST", "faults", {"faults": [{"kind": "status", "status": 503,
                                                     "count": -1}]})
        ov = [f"endpoint.{r}={s.url}" for r, s in zip(REGIONS, srvs)]
        d = tempfile.mkdtemp(prefix="dswfs-mnt-")
        try:
            out = subprocess.run([DSWFS, "-f", "-o", ",".join(
                ["regions=" + ":".join(REGIONS[:2]), "retries=0"] + ov), d],
                env=creds_env(), capture_output=True, text=True, timeout=60)
        finally:
            if os.path.ismount(d):
                subprocess.run(["fusermount3", "-u", "-z", d], capture_output=True)
            os.rmdir(d)
        eq(out.returncode, 1, out.stderr)
        assert "error: region cn-hangzhou" in out.stderr and "cn-shanghai" in out.stderr, out.stderr


@test
def duplicate_instance_ids_stay_visible():
    # Two regions serving the same fleet: every InstanceId is returned twice.
    with servers(sizes=(6, 6), seeds=(7, 7), regions=REGIONS[:2]) as srvs, \
            mount(srvs, regions=REGIONS[:2]) as m:
        base = sorted(ids(srvs[0]))
        eq(sorted(ids(srvs[1])), base, "same fleet")
        want = sorted(f"{i}@{r}" for i in base for r in REGIONS[:2])
        eq(listing(m, "instances"), want, "both copies, suffixed")
        for i in base:
            for r in REGIONS[:2]:
                eq(read(m, "instances", f"{i}@{r}", ".region"), r + "\n", f"{i}@{r}/.region")
                eq(read(m, "instances", f"{i}@{r}", "InstanceId"), i + "\n", "API field kept")
        eq(len(json.loads(read(m, "instances", "instances.json"))), 12, "instances.json")
        eq(len(os.listdir(m.path("by-name"))), 12, "by-name")
        for e in os.listdir(m.path("by-name")):
            assert os.path.isdir(m.path("by-name", e)), e
        eq(listing(m, "regions", REGIONS[0], "instances"), base, "one region: bare ids")


@test
def bad_region_options_are_usage_errors():
    for opts, why in ((["regions=cn-hangzhou:cn-hangzhou"], "twice"),
                      (["regions=cn_hangzhou"], "not a region id"),
                      (["regions=a:b", "endpoint=http://127.0.0.1:1"], "endpoint.<region>"),
                      (["regions=a:b", "region=a"], "endpoint.<region>"),
                      (["regions=a:b", "endpoint.c=http://127.0.0.1:1"], "endpoint.c"),
                      (["endpoint.a=http://127.0.0.1:1", "region=a"], "needs regions=")):
        out = subprocess.run([DSWFS, "-o", ",".join(opts), "--query", "instances"],
                             env=creds_env(), capture_output=True, text=True, timeout=30)
        eq(out.returncode, 2, f"{opts}: {out.stderr}")
        assert why in out.stderr, (opts, out.stderr)
        eq(len(out.stderr.strip().splitlines()), 1, out.stderr)


if __name__ == "__main__":
    run()
