"""test_mount_resilience: a cache that stays fast and honest when the API is slow, throttled or
down, on real mounts against the local server with its fault injection: one fetch per query
however many threads ask, stale-on-error through 503 / timeout / throttling, errnos for queries
never fetched, stale-while-revalidate, kernel caches following a refresh, local narrowing equal
to the server's filtering, .query files, page drift, refresh and SIGHUP, -o prefetch, the
snapshot cap, and a ThreadSanitizer daemon under load."""
import collections
import contextlib
import errno
import glob
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, MockServer, Mount, Skip, creds_env, eq, escape_name,  # noqa: E402
                     read_ctl_stats, run, server_query, test, wait_until)

N = 60
SEED = 11
BASE = {"WorkspaceId": "ALL", "ResourceId": "ALL"}
# Small retry budget so failures surface within seconds (see failure_bound()).
RETRIES = 1
TIMEOUT_MS = 1500
FAST_FAIL = [f"retries={RETRIES}", f"timeout={TIMEOUT_MS}", "connect_timeout=1000"]
PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
PAGING = ("PageNumber", "PageSize")
STATS_NAMES = ("cache_stale_serves", "cache_refreshes", "api_retries", "api_throttled",
               "cache_evictions", "cache_entries", "queries_narrowed",
               "cache_oldest_age_seconds")


class S:
    stack = contextlib.ExitStack()
    srv = None
    error = None
    fleet = None


def server():
    """The shared server, with faults cleared, stats reset and the original fleet."""
    if S.error:
        raise AssertionError(f"server unavailable: {S.error}")
    if S.srv is None:
        try:
            S.srv = S.stack.enter_context(MockServer(instances=N, seed=SEED))
            S.fleet = S.srv.fleet()["Instances"]
        except Exception as e:  # noqa: BLE001
            S.error = str(e)
            raise
    S.srv.control("DELETE", "faults")
    if S.srv.fleet()["Instances"] != S.fleet:
        S.srv.control("POST", "fleet", {"Instances": S.fleet})
    S.srv.control("POST", "stats/reset")
    return S.srv


def read(path):
    with open(path, "rb") as f:
        return f.read()


def reset(srv):
    srv.control("POST", "stats/reset")


def pages(n, ps):
    return max(1, math.ceil(n / ps))


def ids_of(instances):
    return sorted(i["InstanceId"] for i in instances)


def json_ids(path):
    return ids_of(json.loads(read(path)))


def listing_ids(path):
    """The instance directory names of a query directory (instances.json left out)."""
    return sorted(n for n in os.listdir(path) if n != "instances.json")


def want_ids(srv, params):
    return ids_of(server_query(srv, params))


def canonical(params):
    """The canonical query dswfs prints in .query: sorted names, RFC 3986 values."""
    return "&".join(f"{k}={urllib.parse.quote(v, safe='-_.~')}"
                    for k, v in sorted(params.items()))


def filters_of(q):
    """A logged request's query without its paging parameters, hashable."""
    return frozenset((k, v) for k, v in q.items() if k not in PAGING)


def list_log(srv):
    """The ListInstances entries of the server's request log."""
    return [e for e in srv.stats()["log"] if e.get("path", "").endswith("/instances")]


def set_faults(srv, *rules):
    srv.control("POST", "faults", {"faults": list(rules)})


def refresh(m):
    r = subprocess.run(f"echo > {m.path('.dswfs', 'refresh')}", shell=True,
                       capture_output=True)
    eq(r.returncode, 0, f"echo > .dswfs/refresh: {r.stderr!r}")


def last_error(m):
    return read(m.path(".dswfs", "last_error")).decode(errors="replace")


def oldest_age(m):
    return float(read_ctl_stats(m)["cache_oldest_age_seconds"])


def failure_bound():
    """Generous upper bound for a failing fetch: every attempt timing out, backoff, slack."""
    return (RETRIES + 1) * TIMEOUT_MS / 1000.0 + 6.0


def victim(fleet, status="Running"):
    """An instance with that Status whose id needs no escaping and that has a JupyterlabUrl."""
    return next(i for i in fleet if i.get("Status") == status and PLAIN.match(i["InstanceId"])
                and isinstance(i.get("JupyterlabUrl"), str))


def gpu_type(fleet):
    """The most common GPUType usable verbatim as a path component (not exact-match
    narrowable: it always goes to the server)."""
    c = collections.Counter((i.get("RequestedResource") or {}).get("GPUType") for i in fleet)
    return next(g for g, _ in c.most_common()
                if isinstance(g, str) and g and "/" not in g and "," not in g
                and not g.startswith("."))


def workspaces(fleet):
    c = collections.Counter(i.get("WorkspaceId") for i in fleet)
    return [w for w, _ in c.most_common() if isinstance(w, str) and PLAIN.match(w)]


def run_threads(n, fn, timeout=120):
    """Runs fn(k) in n threads released together; returns (results by k, errors)."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def body(k):
        try:
            barrier.wait()
            results[k] = fn(k)
        except Exception as e:  # noqa: BLE001
            errors.append(f"thread {k}: {e!r}")

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        errors.append(f"threads still running after {timeout}s")
    return results, errors


# ---- 1. single flight --------------------------------------------------------------------


@test
def cold_reads_from_32_threads_cost_one_fetch_per_query():
    srv = server()
    fleet = S.fleet
    ps = 10
    ws = workspaces(fleet)
    gt = gpu_type(fleet)
    with Mount(srv, f"page_size={ps}", "ttl=600") as m:
        # Slow answers keep every fetch in flight while all threads arrive.
        set_faults(srv, {"kind": "latency", "ms": 300})
        reset(srv)
        want = ids_of(fleet)

        want_names = sorted(escape_name(i) for i in want)

        def one_dir(k):
            if k % 2:
                return json_ids(m.path("instances", "instances.json")) == want
            return listing_ids(m.path("instances")) == want_names

        results, errors = run_threads(32, one_dir)
        assert not errors, "\n  ".join(errors)
        bad = [k for k, ok in enumerate(results) if not ok]
        assert not bad, f"threads {bad} saw another fleet than the server's"
        log = list_log(srv)
        nums = sorted(int(e["query"]["PageNumber"]) for e in log)
        eq(nums, list(range(1, pages(N, ps) + 1)),
           "pages requested for 32 simultaneous cold readers of instances/")
        eq({filters_of(e["query"]) for e in log}, {frozenset(BASE.items())}, "queries sent")

        # Four distinct queries at once, 8 threads each, half listing, half reading JSON.
        before = read_ctl_stats(m)
        reset(srv)
        refresh(m)  # refetches instances/ before it returns: that query's one fetch
        queries = [
            (["instances"], dict(BASE), True),
            (["workspaces", ws[0]], dict(BASE, WorkspaceId=ws[0]), False),
            (["instances", "gpu-type", gt], dict(BASE, GpuType=gt), True),
            (["workspaces", ws[1], "min-cpu", "8000"], dict(BASE, WorkspaceId=ws[1],
                                                           MinCpu="8000"), True),
        ]
        expect = [want_ids(srv, p) for _, p, _ in queries]
        assert all(expect), f"a query selects nothing: {[len(e) for e in expect]}"

        def four_dirs(k):
            rel = queries[k % 4][0]
            if (k // 4) % 2:
                return json_ids(m.path(*rel, "instances.json"))
            return listing_ids(m.path(*rel))

        results, errors = run_threads(32, four_dirs)
        assert not errors, "\n  ".join(errors)
        for k, r in enumerate(results):
            ids = expect[k % 4]
            eq(r, ids if (k // 4) % 2 else sorted(escape_name(i) for i in ids),
               f"thread {k} on {'/'.join(queries[k % 4][0])}")
        log = list_log(srv)
        by_query = collections.defaultdict(list)
        for e in log:
            by_query[filters_of(e["query"])].append(int(e["query"]["PageNumber"]))
        unexpected = set(by_query) - {frozenset(p.items()) for _, p, _ in queries}
        assert not unexpected, f"unexpected queries sent: {unexpected}"
        narrowed = 0
        for (rel, params, server_only), ids in zip(queries, expect):
            got = sorted(by_query.get(frozenset(params.items()), []))
            if not got and not server_only:
                narrowed += 1  # answered from the cached instances/ answer: also one "fetch"
                continue
            eq(got, list(range(1, pages(len(ids), ps) + 1)),
               f"pages requested for {'/'.join(rel)} by 8 simultaneous cold readers")
        after = read_ctl_stats(m)
        eq(after["queries_narrowed"] - before["queries_narrowed"], narrowed,
           "queries_narrowed for the queries the server did not see")


# ---- 2. stale-on-error through an outage --------------------------------------------------


@test
def outage_503_timeout_throttle_serves_the_last_snapshot_then_recovers():
    srv = server()
    fleet = S.fleet
    v = victim(fleet)
    vdir = escape_name(v["InstanceId"])
    gt = gpu_type(fleet)
    with Mount(srv, "page_size=20", "ttl=1", "grace=1", "max_stale=600", *FAST_FAIL) as m:
        ij = m.path("instances", "instances.json")
        gj = m.path("instances", "gpu-type", gt, "instances.json")
        status = m.path("instances", vdir, "Status")
        orig, orig_gpu = read(ij), read(gj)
        orig_list = sorted(os.listdir(m.path("instances")))
        eq(read(status), b"Running\n", "Status before the outage")
        eq(ids_of(json.loads(orig)), ids_of(fleet), "instances.json before the outage")
        assert len(orig_list) == N, f"ls instances/: {len(orig_list)} entries"
        before = read_ctl_stats(m)
        seen = {"reads": 0}

        def still_old():
            # Any OSError here fails the test: within max_stale nothing may fail.
            eq(read(ij), orig, "instances/instances.json during the outage")
            eq(read(gj), orig_gpu, f"instances/gpu-type/{gt}/instances.json during the outage")
            eq(sorted(os.listdir(m.path("instances"))), orig_list, "ls instances/ during the outage")
            eq(read(status), b"Running\n", "Status during the outage")
            seen["reads"] += 1
            return True

        phases = [
            ("503", {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary"},
             ["http_status: 503", "ServiceUnavailableTemporary", "EIO"]),
            ("timeout", {"kind": "timeout", "ms": 4000}, ["curl_code: 28", "ETIMEDOUT"]),
            ("throttle", {"kind": "throttle"}, ["http_status: 400", "Throttling.User", "EAGAIN"]),
        ]
        for name, rule, wants in phases:
            set_faults(srv, rule)

            def reported():
                still_old()
                text = last_error(m)
                return all(w in text for w in wants) and text

            text = wait_until(reported, timeout=30, interval=0.1,
                              what=f"last_error to report the {name} failure while the old "
                                   "snapshot is served")
            assert canonical(BASE) in text or canonical(dict(BASE, GpuType=gt)) in text, \
                f"last_error names another query: {text!r}"
            still_old()
        # A change made on the server while it still throttles: not visible yet.
        srv.control("PATCH", f"instances/{v['InstanceId']}", {"Status": "Stopped"})
        still_old()
        mid = read_ctl_stats(m)
        srv.control("DELETE", "faults")
        wait_until(lambda: read(status) == b"Stopped\n", timeout=20, interval=0.05,
                   what="the new Status after recovery")
        wait_until(lambda: {i["InstanceId"]: i["Status"] for i in json.loads(read(ij))}
                   .get(v["InstanceId"]) == "Stopped", timeout=20, interval=0.05,
                   what="instances.json to show the new Status after recovery")
        eq(sorted(os.listdir(m.path("instances"))), orig_list, "ls instances/ after recovery")
        after = read_ctl_stats(m)
        problems = []
        for name in ("cache_stale_serves", "api_retries", "api_throttled", "queries_failed"):
            if not mid[name] > before[name]:
                problems.append(f"{name} did not grow during the outage: {before[name]} -> "
                                f"{mid[name]}")
        if not after["cache_refreshes"] > before["cache_refreshes"]:
            problems.append("cache_refreshes did not grow")
        log = m.output()
        for want in ("503", "Throttling.User"):
            if want not in log:
                problems.append(f"the dswfs log lacks {want!r}")
        if not re.search(r"curl error 28|timed out", log):
            problems.append("the dswfs log lacks the timeout")
        assert not problems, "\n  ".join(problems)
        assert seen["reads"] > 3, seen


# ---- 3. never-fetched queries during an outage -------------------------------------------


def try_json_ids(path):
    try:
        return json_ids(path)
    except OSError:
        return None


def try_listing_ids(path):
    try:
        return listing_ids(path)
    except OSError:
        return None


@test
def never_fetched_query_fails_with_its_errno_while_cached_paths_stay_fast():
    srv = server()
    fleet = S.fleet
    v = victim(fleet)
    cases = [
        ("503", {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary"},
         {errno.EIO}, ["http_status: 503", "ServiceUnavailableTemporary"], "1000"),
        ("403", {"kind": "status", "status": 403, "code": "Forbidden.RAM"},
         {errno.EACCES}, ["http_status: 403", "Forbidden.RAM"], "2000"),
        ("throttle", {"kind": "throttle"},
         {errno.EAGAIN, errno.EIO}, ["Throttling.User"], "3000"),
        ("timeout", {"kind": "timeout", "ms": 4000},
         {errno.ETIMEDOUT, errno.EAGAIN}, ["curl_code: 28"], "5000"),
    ]
    with Mount(srv, "page_size=20", "ttl=600", *FAST_FAIL) as m:
        cached = m.path("instances", escape_name(v["InstanceId"]), "Status")
        eq(read(cached), b"Running\n", "the cached file")
        problems = []
        for name, rule, errnos, wants, mincpu in cases:
            # A filter that is never narrowed locally, so it has to go to the server.
            rel = ["instances", "min-cpu", mincpu]
            params = dict(BASE, MinCpu=mincpu)
            set_faults(srv, rule)
            out = {}

            def failing():
                t0 = time.monotonic()
                try:
                    out["names"] = os.listdir(m.path(*rel))
                except OSError as e:
                    out["errno"] = e.errno
                out["took"] = time.monotonic() - t0

            th = threading.Thread(target=failing)
            th.start()
            try:
                wait_until(lambda: any(filters_of(e["query"]) == frozenset(params.items())
                                       for e in list_log(srv)),
                           timeout=failure_bound(), what=f"the {name} request to arrive")
                t0 = time.monotonic()
                data = read(cached)
                took = time.monotonic() - t0
                in_flight = th.is_alive()
            finally:
                th.join(failure_bound() + 5)
            eq(data, b"Running\n", f"cached Status while a {name} fetch fails")
            assert not th.is_alive(), f"{name}: ls {'/'.join(rel)} still blocked"
            if name == "timeout":
                # Every attempt takes TIMEOUT_MS: the cached read overlapped the failing fetch.
                assert in_flight, "the failing fetch was over before the cached read"
                assert took < 1.0, f"a cached read took {took:.2f}s during a failing fetch"
            if "names" in out:
                problems.append(f"{name}: ls {'/'.join(rel)} succeeded during the outage: "
                                f"{len(out['names'])} entries")
                continue
            got = out.get("errno")
            if got not in errnos:
                problems.append(f"{name}: errno {got} ({errno.errorcode.get(got)}), expected "
                                f"one of {sorted(errno.errorcode[e] for e in errnos)}")
            if out["took"] > failure_bound():
                problems.append(f"{name}: failing took {out['took']:.1f}s, bound "
                                f"{failure_bound():.1f}s")
            text = last_error(m)
            for w in wants + [canonical(params)]:
                if w not in text:
                    problems.append(f"{name}: last_error lacks {w!r}: {text!r}")
            if not re.search(r"^message: \S", text, re.M):
                problems.append(f"{name}: last_error has no message: {text!r}")
            # A file of the same query fails the same way again (at once: the failure is
            # remembered for a back-off).
            if name in ("503", "403"):
                try:
                    read(m.path(*rel, "instances.json"))
                    problems.append(f"{name}: instances.json read during the outage")
                except OSError as e:
                    if e.errno not in errnos:
                        problems.append(f"{name}: instances.json errno {e.errno}")
            srv.control("DELETE", "faults")
        assert not problems, "\n  ".join(problems)
        # And after the outage the same queries work, once the remembered failure's back-off
        # (1 s: ttl=600) is over.
        for _, _, _, _, mincpu in cases:
            want = want_ids(srv, dict(BASE, MinCpu=mincpu))
            wait_until(lambda mc=mincpu, w=want:
                       try_listing_ids(m.path("instances", "min-cpu", mc)) == w,
                       timeout=10, what=f"min-cpu/{mincpu} after the outage")


@test
def outage_answers_a_narrowable_query_from_the_stale_base():
    """A filter directory never listed before, asked during an outage once the base answer is
    stale (but within max_stale), is narrowed from that base rather than failing; its .query
    shows the base's age and last_error the failure."""
    srv = server()
    fleet = S.fleet
    ws = workspaces(fleet)[0]
    rel = ["workspaces", ws, "status", "Running"]
    params = dict(BASE, WorkspaceId=ws, Status="Running")
    want = sorted(escape_name(i["InstanceId"]) for i in fleet
                  if i.get("WorkspaceId") == ws and i.get("Status") == "Running")
    assert want, "the fleet has no Running instance in its first workspace"
    with Mount(srv, "page_size=20", "ttl=1", "max_stale=600", *FAST_FAIL) as m:
        eq(len(os.listdir(m.path("instances"))), N, "ls instances/ before the outage")
        # Past its TTL the base can no longer answer narrowings as fresh.
        wait_until(lambda: oldest_age(m) >= 1.5, timeout=20, interval=0.1,
                   what="the base answer to pass its TTL")
        set_faults(srv, {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary"})
        got = sorted(n for n in os.listdir(m.path(*rel)) if n != "instances.json")
        eq(got, want, f"ls {'/'.join(rel)} during the outage")
        assert any(filters_of(e["query"]) == frozenset(params.items()) for e in list_log(srv)), \
            "the server was not asked first"
        info = read(m.path(*rel, ".query")).decode()
        age = re.search(r"^age_seconds (\S+)$", info, re.M)
        assert age and float(age.group(1)) >= 1.5, f".query does not show the base's age: {info!r}"
        v = want[0]
        eq(read(m.path(*rel, v, "Status")), b"Running\n", "a file of the narrowed answer")
        text = last_error(m)
        for w in ("http_status: 503", "ServiceUnavailableTemporary", canonical(params)):
            assert w in text, f"last_error lacks {w!r}: {text!r}"
        srv.control("DELETE", "faults")


# ---- 4. a status change after the TTL ----------------------------------------------------


@test
def status_change_after_ttl_updates_files_sizes_listings_and_mtime():
    srv = server()
    fleet = S.fleet
    v = victim(fleet)
    vid = v["InstanceId"]
    vdir = escape_name(vid)
    ttl = 5
    with Mount(srv, "page_size=20", f"ttl={ttl}") as m:
        idir = m.path("instances", vdir)
        st = m.path("instances", vdir, "Status")
        url = m.path("instances", vdir, "JupyterlabUrl")
        eq(read(st), b"Running\n", "Status")
        assert vdir in os.listdir(m.path("instances", "status", "Running"))
        assert vdir not in os.listdir(m.path("instances", "status", "Stopped"))
        old_mtime = os.stat(idir).st_mtime
        old_url = read(url)
        eq(os.stat(url).st_size, len(old_url), "st_size of JupyterlabUrl")
        new_url = v["JupyterlabUrl"] + "?after-the-change=1"
        srv.control("PATCH", f"instances/{vid}", {"Status": "Stopped", "JupyterlabUrl": new_url})
        server_inst = next(i for i in srv.fleet()["Instances"] if i["InstanceId"] == vid)
        # Let the cached answer (and the kernel's cached attributes) expire without touching
        # it; then one stat gets the old size (stale) and starts the refresh. The kernel keeps
        # attributes for ttl seconds, so the new size showing well before that means the
        # refresh invalidated them.
        wait_until(lambda: oldest_age(m) >= ttl + 0.2, timeout=ttl + 10, interval=0.05,
                   what="the cached answer to expire")
        first = os.stat(url).st_size
        t0 = time.monotonic()
        wait_until(lambda: os.stat(url).st_size == len(new_url) + 1, timeout=ttl - 2,
                   interval=0.02,
                   what=f"st_size of JupyterlabUrl to follow the refresh (was {first}; the "
                        f"kernel would keep the old one {ttl}s without an invalidation)")
        took = time.monotonic() - t0
        eq(read(url), new_url.encode() + b"\n", "JupyterlabUrl after the refresh")
        wait_until(lambda: read(st) == b"Stopped\n", timeout=10, what="Status after the TTL")
        data = read(st)
        eq(os.stat(st).st_size, len(data), "st_size of Status equals what it reads")
        eq(os.stat(url).st_size, len(read(url)), "st_size of JupyterlabUrl equals what it reads")
        wait_until(lambda: vdir not in os.listdir(m.path("instances", "status", "Running")),
                   timeout=15, what="instances/status/Running to drop the instance")
        wait_until(lambda: vdir in os.listdir(m.path("instances", "status", "Stopped")),
                   timeout=15, what="instances/status/Stopped to list the instance")
        wait_until(lambda: {i["InstanceId"]: i["Status"] for i in
                            json.loads(read(m.path("instances", "instances.json")))}
                   .get(vid) == "Stopped", timeout=15, what="instances.json to agree")
        for q in ("Running", "Stopped"):
            eq(listing_ids(m.path("instances", "status", q)),
               sorted(escape_name(i) for i in want_ids(srv, dict(BASE, Status=q))),
               f"instances/status/{q} against the server")
        want_mtime = time.mktime(time.strptime(server_inst["GmtModifiedTime"],
                                               "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        wait_until(lambda: os.stat(idir).st_mtime != old_mtime, timeout=ttl + 5,
                   what="the instance directory's mtime to change")
        eq(int(os.stat(idir).st_mtime), int(want_mtime), "mtime = the new GmtModifiedTime")
        assert took < ttl - 2, took


# ---- 5. local narrowing equals the server -------------------------------------------------


@test
def local_narrowing_matches_the_server_for_random_filters():
    srv = server()
    fleet = S.fleet
    rnd = random.Random(20240601)
    ws = workspaces(fleet)
    ids = [i["InstanceId"] for i in fleet if PLAIN.match(i["InstanceId"])]
    statuses = sorted({i["Status"] for i in fleet if isinstance(i.get("Status"), str)})
    statuses += ["Deleting", "Saving", "EnvPreparing"]  # maybe absent: empty answers count too
    values = {
        "status": lambda: ",".join(rnd.sample(statuses, rnd.choice([1, 1, 2, 3]))),
        "accelerator-type": lambda: rnd.choice(["CPU", "GPU"]),
        "payment-type": lambda: rnd.choice(["PayAsYouGo", "Subscription"]),
        "accessibility": lambda: rnd.choice(["PRIVATE", "PUBLIC"]),
        "instance-id": lambda: ",".join(rnd.sample(ids, 2)),
        "workspace-id": lambda: rnd.choice(ws),
    }
    param = {"status": "Status", "accelerator-type": "AcceleratorType",
             "payment-type": "PaymentType", "accessibility": "Accessibility",
             "instance-id": "InstanceId", "workspace-id": "WorkspaceId"}
    with Mount(srv, "page_size=20", "ttl=600") as m:
        eq(listing_ids(m.path("instances")), sorted(escape_name(i["InstanceId"]) for i in fleet),
           "instances/")
        reset(srv)
        before = read_ctl_stats(m)
        distinct = set()
        problems = []
        nonempty = 0
        for k in range(60):
            under_ws = rnd.random() < 0.4
            keys = [x for x in values if not (under_ws and x == "workspace-id")]
            chosen = rnd.sample(keys, rnd.choice([1, 1, 2, 2, 3]))
            params = dict(BASE)
            rel = ["workspaces", (w := rnd.choice(ws))] if under_ws else ["instances"]
            if under_ws:
                params["WorkspaceId"] = w
            for key in chosen:
                val = values[key]()
                params[param[key]] = val
                rel += [key, val]
            want = want_ids(srv, params)
            nonempty += bool(want)
            got = json_ids(m.path(*rel, "instances.json"))
            listed = listing_ids(m.path(*rel))
            if got != want:
                problems.append(f"{'/'.join(rel)}/instances.json: {len(got)} instances, server "
                                f"{len(want)}: extra {sorted(set(got) - set(want))}, missing "
                                f"{sorted(set(want) - set(got))}")
            if listed != sorted(escape_name(i) for i in want):
                problems.append(f"ls {'/'.join(rel)}: {listed} != {want}")
            distinct.add(frozenset(params.items()))
        assert not problems, f"{len(problems)} of 60 differ:\n  " + "\n  ".join(problems[:20])
        assert nonempty >= 20, f"only {nonempty} of 60 combinations select anything"
        eq(srv.list_requests(), 0, "ListInstances requests for 60 narrowable queries")
        after = read_ctl_stats(m)
        eq(after["queries_narrowed"] - before["queries_narrowed"], len(distinct),
           "queries_narrowed for the distinct narrowable queries")
        # Filters without exact-match semantics always go to the server.
        gt = gpu_type(fleet)
        for rel, params in ((["instances", "gpu-type", gt], dict(BASE, GpuType=gt)),
                            (["instances", "min-cpu", "4000"], dict(BASE, MinCpu="4000")),
                            (["workspaces", ws[0], "status", "Running", "min-memory", "16"],
                             dict(BASE, WorkspaceId=ws[0], Status="Running", MinMemory="16"))):
            reset(srv)
            want = want_ids(srv, params)
            eq(json_ids(m.path(*rel, "instances.json")), want, "/".join(rel))
            eq(srv.list_requests(), pages(len(want), 20), f"requests for {'/'.join(rel)}")
            eq({filters_of(e["query"]) for e in list_log(srv)}, {frozenset(params.items())},
               f"query sent for {'/'.join(rel)}")
        eq(read_ctl_stats(m)["queries_narrowed"], after["queries_narrowed"],
           "queries_narrowed after non-exact filters")


# ---- 6. stale-while-revalidate ------------------------------------------------------------


@test
def stale_while_revalidate_answers_at_once_and_refreshes_in_the_background():
    srv = server()
    fleet = S.fleet
    v = victim(fleet)
    latency = 3000
    with Mount(srv, "ttl=1", "grace=60") as m:
        st = m.path("instances", escape_name(v["InstanceId"]), "Status")
        eq(read(st), b"Running\n", "Status")
        srv.control("PATCH", f"instances/{v['InstanceId']}", {"Status": "Stopped"})
        set_faults(srv, {"kind": "latency", "ms": latency})
        wait_until(lambda: oldest_age(m) >= 1.3, timeout=15, interval=0.05,
                   what="the cached answer to pass its TTL")
        before = read_ctl_stats(m)
        reset(srv)
        t0 = time.monotonic()
        data = read(st)
        took = time.monotonic() - t0
        eq(data, b"Running\n", "Status right after the TTL (the stale snapshot)")
        assert took < latency / 2000.0, \
            f"a read within the grace window took {took:.2f}s (server latency {latency} ms)"
        mid = read_ctl_stats(m)
        assert mid["cache_stale_serves"] > before["cache_stale_serves"], (before, mid)
        assert mid["cache_refreshes"] > before["cache_refreshes"], (before, mid)
        state = {"reads": 0}

        def refreshed():
            n = srv.list_requests()
            t = time.monotonic()
            d = read(st)
            state["slowest"] = max(state.get("slowest", 0), time.monotonic() - t)
            state["reads"] += 1
            if d == b"Stopped\n":
                state["requests"] = n
                return True
            eq(d, b"Running\n", "Status while the refresh runs")
            return False

        wait_until(refreshed, timeout=latency / 1000.0 + 15, interval=0.05,
                   what="the background refresh to land")
        assert state["requests"] <= 1, \
            f"{state['requests']} requests before the refresh landed ({state['reads']} reads)"
        assert state["slowest"] < latency / 2000.0, \
            f"a read took {state['slowest']:.2f}s while the refresh ran"


# ---- 7. .query and stats -------------------------------------------------------------------


@test
def query_files_describe_each_query_and_stay_hidden():
    srv = server()
    fleet = S.fleet
    ws = workspaces(fleet)
    gt = gpu_type(fleet)
    cases = [
        (["instances"], dict(BASE)),
        (["workspaces", ws[0]], dict(BASE, WorkspaceId=ws[0])),
        (["instances", "status", "Running,Stopped", "accelerator-type", "GPU"],
         dict(BASE, Status="Running,Stopped", AcceleratorType="GPU")),
        (["workspaces", ws[1], "gpu-type", gt], dict(BASE, WorkspaceId=ws[1], GpuType=gt)),
        (["instances", "status", "Deleting", "payment-type", "Subscription"],
         dict(BASE, Status="Deleting", PaymentType="Subscription")),
    ]
    with Mount(srv, "page_size=20", "ttl=600") as m:
        problems = []
        for rel, params in cases:
            where = "/".join(rel)
            names = os.listdir(m.path(*rel))
            if ".query" in names:
                problems.append(f"ls {where} shows .query")
            qf = m.path(*rel, ".query")
            raw = read(qf)
            text = raw.decode()
            if os.stat(qf).st_size != len(raw):
                problems.append(f"{where}/.query: st_size {os.stat(qf).st_size} != {len(raw)}")
            fields = dict(line.split(" ", 1) for line in text.splitlines())
            if list(fields) != ["query", "fetched_at", "age_seconds", "instances"]:
                problems.append(f"{where}/.query lines: {text!r}")
                continue
            if fields["query"] != canonical(params):
                problems.append(f"{where}/.query: query {fields['query']!r} != "
                                f"{canonical(params)!r}")
            n = len(json.loads(read(m.path(*rel, "instances.json"))))
            if int(fields["instances"]) != n or n != len(names):
                problems.append(f"{where}/.query: instances {fields['instances']}, "
                                f"instances.json {n}, ls {len(names)}")
            if n != len(want_ids(srv, params)):
                problems.append(f"{where}: {n} instances, the server has "
                                f"{len(want_ids(srv, params))}")
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["fetched_at"]):
                problems.append(f"{where}/.query: fetched_at {fields['fetched_at']!r}")
            else:
                when = time.mktime(time.strptime(fields["fetched_at"], "%Y-%m-%dT%H:%M:%SZ")) \
                    - time.timezone
                if not time.time() - 120 <= when <= time.time() + 5:
                    problems.append(f"{where}/.query: fetched_at {fields['fetched_at']} is not "
                                    "now")
            if not 0 <= float(fields["age_seconds"]) < 60:
                problems.append(f"{where}/.query: age_seconds {fields['age_seconds']}")
        assert not problems, "\n  ".join(problems)
        qf = m.path("instances", ".query")
        wait_until(lambda: float(dict(line.split(" ", 1) for line in
                                      read(qf).decode().splitlines())["age_seconds"]) >= 1.0,
                   timeout=10, interval=0.1, what="age_seconds to grow")
        stats = read_ctl_stats(m)
        missing = [n for n in STATS_NAMES if n not in stats]
        assert not missing, f".dswfs/stats lacks {missing}"
        eq(stats["cache_entries"], len(cases), "cache_entries")
        assert stats["queries_narrowed"] >= 1, stats
        assert 1.0 <= float(stats["cache_oldest_age_seconds"]) < 120, stats
        for name in STATS_NAMES:
            if name != "cache_oldest_age_seconds":
                assert isinstance(stats[name], int) and stats[name] >= 0, (name, stats[name])


# ---- 8. page drift -----------------------------------------------------------------------


@test
def page_drift_never_gives_a_partial_or_duplicated_fleet():
    srv = server()
    ps = 10
    drifts = [
        {"kind": "drift", "add": 3, "page": 2, "count": 1},
        {"kind": "drift", "remove": 3, "page": 2, "count": 1},
        {"kind": "drift", "add": 2, "remove": 2, "page": 2, "count": 1},
        {"kind": "drift", "add": 1, "remove": 1, "page": 4, "count": 1},
        {"kind": "drift", "add": 4, "remove": 1, "page": 3, "count": 1},
    ]
    # refresh_min_interval=0: one refresh per drift, each within a second of the last.
    with Mount(srv, f"page_size={ps}", "ttl=600", "refresh_min_interval=0") as m:
        problems = []
        for rule in drifts:
            before = srv.fleet()["Instances"]
            set_faults(srv, rule)
            reset(srv)
            refresh(m)  # fetches instances/ again before it returns: that walk meets the drift
            got = json.loads(read(m.path("instances", "instances.json")))
            after = srv.fleet()["Instances"]
            srv.control("DELETE", "faults")
            ids = [i["InstanceId"] for i in got]
            tag = json.dumps({k: rule[k] for k in ("add", "remove", "page") if k in rule})
            if ids_of(before) == ids_of(after):
                problems.append(f"{tag}: the fleet did not drift")
                continue
            dups = sorted(x for x, c in collections.Counter(ids).items() if c > 1)
            if dups:
                problems.append(f"{tag}: duplicated {dups}")
            if sorted(set(ids)) not in (ids_of(before), ids_of(after)):
                problems.append(f"{tag}: {len(set(ids))} instances, neither the fleet before "
                                f"({len(before)}) nor after ({len(after)}); missing from after "
                                f"{sorted(set(ids_of(after)) - set(ids))}, extra "
                                f"{sorted(set(ids) - set(ids_of(after)))}")
            listed = listing_ids(m.path("instances"))
            if listed != sorted(escape_name(i) for i in ids):
                problems.append(f"{tag}: ls instances/ ({len(listed)}) disagrees with "
                                f"instances.json ({len(ids)})")
            if not any(e.get("fault") == "drift" for e in list_log(srv)):
                problems.append(f"{tag}: no request met the drift")
        assert not problems, "\n  ".join(problems)


# ---- 9. refresh and SIGHUP ----------------------------------------------------------------


@test
def refresh_file_and_sighup_drop_the_cache():
    srv = server()
    fleet = S.fleet
    v = victim(fleet)
    vid = v["InstanceId"]
    vdir = escape_name(vid)
    # refresh_min_interval=0: the SIGHUP comes within a second of the file's refresh.
    with Mount(srv, "page_size=20", "ttl=600", "refresh_min_interval=0") as m:
        st = m.path("instances", vdir, "Status")
        url = m.path("instances", vdir, "JupyterlabUrl")
        ij = m.path("instances", "instances.json")
        for new_status, suffix, how in (("Stopping", "?refreshed=by-file", "refresh"),
                                        ("Saving", "?refreshed=by-sighup-signal", "sighup")):
            old = read(st)
            # read, then stat: a read marks atime stale and makes the next stat ask the daemon;
            # this stat leaves the kernel holding the current attributes for the TTL.
            data = read(url)
            eq(os.stat(url).st_size, len(data), "st_size of JupyterlabUrl")
            new_url = v["JupyterlabUrl"] + suffix
            srv.control("PATCH", f"instances/{vid}",
                        {"Status": new_status, "JupyterlabUrl": new_url})
            reset(srv)
            eq(read(st), old, f"Status within the TTL before {how}")
            eq(srv.list_requests(), 0, f"requests within the TTL before {how}")
            if how == "refresh":
                refresh(m)
                eq(read(st), new_status.encode() + b"\n", "Status right after .dswfs/refresh")
            else:
                m.proc.send_signal(signal.SIGHUP)
                wait_until(lambda: read(st) == new_status.encode() + b"\n", timeout=10,
                           what="Status after SIGHUP")
            assert srv.list_requests() >= 1, f"no request after {how}"
            # ttl=600 keeps kernel attributes for 10 minutes: only an invalidation updates them.
            wait_until(lambda: os.stat(url).st_size == len(new_url) + 1, timeout=3,
                       what=f"st_size of JupyterlabUrl after {how}")
            eq(read(url), new_url.encode() + b"\n", f"JupyterlabUrl after {how}")
            got = {i["InstanceId"]: i["Status"] for i in json.loads(read(ij))}
            eq(got.get(vid), new_status, f"instances.json after {how}")
            eq(sorted(got), ids_of(fleet), f"instances.json ids after {how}")
            assert vdir in os.listdir(m.path("instances", "status", new_status)), how
            assert m.proc.poll() is None, f"dswfs exited after {how}"


# ---- 10. -o prefetch ---------------------------------------------------------------------


@test
def prefetch_warms_instances_at_mount():
    srv = server()
    ps = 10
    want = pages(N, ps)
    with Mount(srv, f"page_size={ps}", "ttl=600", "prefetch") as m:
        def prefetched():
            got = sorted(int(e["query"]["PageNumber"]) for e in list_log(srv)
                         if e["query"].get("PageSize") == str(ps) and e.get("status") == 200)
            return got if len(got) >= want else None

        got = wait_until(prefetched, timeout=20, interval=0.05,
                         what="the server to see the prefetch of instances/")
        eq(got, list(range(1, want + 1)), "pages prefetched")
        for e in list_log(srv):
            if e["query"].get("PageSize") == str(ps):
                eq(filters_of(e["query"]), frozenset(BASE.items()), "the prefetched query")
        n = srv.list_requests()
        names = listing_ids(m.path("instances"))
        eq(names, sorted(escape_name(i["InstanceId"]) for i in S.fleet), "ls instances/")
        json_ids(m.path("instances", "instances.json"))
        eq(srv.list_requests(), n, "requests for the first ls instances/ after a prefetch")


# ---- 11. the snapshot cap ----------------------------------------------------------------


@test
def max_snapshots_evicts_least_recently_used():
    srv = server()
    fleet = S.fleet
    ws = workspaces(fleet)
    gt = gpu_type(fleet)
    dirs = [
        (["instances"], dict(BASE)),
        (["instances", "gpu-type", gt], dict(BASE, GpuType=gt)),
        (["workspaces", ws[0], "min-cpu", "4000"], dict(BASE, WorkspaceId=ws[0], MinCpu="4000")),
        (["instances", "min-memory", "32"], dict(BASE, MinMemory="32")),
    ]
    with Mount(srv, "page_size=20", "ttl=600", "max_snapshots=2") as m:
        for rel, params in dirs:
            eq(json_ids(m.path(*rel, "instances.json")), want_ids(srv, params), "/".join(rel))
        stats = read_ctl_stats(m)
        assert stats["cache_evictions"] > 0, f"cache_evictions {stats['cache_evictions']}"
        assert stats["cache_entries"] <= 2, f"cache_entries {stats['cache_entries']}"
        # The most recent two are still cached; the first was evicted and costs its pages.
        reset(srv)
        for rel, params in dirs[2:]:
            eq(json_ids(m.path(*rel, "instances.json")), want_ids(srv, params), "/".join(rel))
        eq(srv.list_requests(), 0, "requests for the two most recently used queries")
        eq(json_ids(m.path("instances", "instances.json")), ids_of(fleet), "instances/ again")
        eq(srv.list_requests(), pages(N, 20), "requests for the evicted instances/")
        stats = read_ctl_stats(m)
        assert stats["cache_entries"] <= 2, f"cache_entries {stats['cache_entries']}"


# ---- 12. ThreadSanitizer -----------------------------------------------------------------


@test
def tsan_daemon_under_concurrent_reads_refreshes_and_changes():
    tsan = os.environ.get("DSWFS_TSAN_BIN") or os.path.join(ROOT, "build-tsan", "dswfs")
    if not os.access(tsan, os.X_OK):
        raise Skip(f"no ThreadSanitizer build of dswfs at {tsan} (make tsan builds "
                   "build-tsan/dswfs; DSWFS_TSAN_BIN overrides)")
    srv = server()
    fleet = S.fleet
    v = victim(fleet)
    vid = v["InstanceId"]
    ws = workspaces(fleet)
    gt = gpu_type(fleet)
    logdir = tempfile.mkdtemp(prefix="dswfs-tsan-")
    env = creds_env({"TSAN_OPTIONS": f"halt_on_error=0 exitcode=66 log_path={logdir}/tsan"})
    rels = [
        ["instances"], ["workspaces", ws[0]], ["instances", "status", "Running"],
        ["instances", "gpu-type", gt], ["workspaces", ws[1], "accelerator-type", "GPU"],
    ]
    errors, counts = [], collections.Counter()
    # ESTALE: a file looked up just before a refresh changed it is read after it; its old
    # bytes are gone with their snapshot (content-addressed inodes, README).
    tolerated = {errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ESTALE}
    with Mount(srv, "page_size=20", "ttl=1", "grace=1", "max_stale=600", "max_snapshots=4",
               *FAST_FAIL, binary=tsan, env=env) as m:
        stop = threading.Event()

        def reader(k):
            rnd = random.Random(k)
            while not stop.is_set():
                rel = rnd.choice(rels)
                try:
                    what = rnd.randrange(6)
                    if what == 5:
                        # A full listing of an instance directory: its files are pushed
                        # into the page cache by the priming thread while refreshes race.
                        os.listdir(m.path("instances", escape_name(vid)))
                        read(m.path("instances", escape_name(vid), "Status"))
                    elif what == 0:
                        os.listdir(m.path(*rel))
                    elif what == 1:
                        json.loads(read(m.path(*rel, "instances.json")))
                    elif what == 2:
                        read(m.path(*rel, ".query"))
                    elif what == 3:
                        read(m.path("instances", escape_name(vid), "Status"))
                        os.stat(m.path("instances", escape_name(vid), "JupyterlabUrl"))
                    else:
                        read(m.path(".dswfs", "stats"))
                        read(m.path(".dswfs", "last_error"))
                    counts["ok"] += 1
                except OSError as e:
                    # A dropped cache meeting an injected 503 may fail a query: allowed.
                    if e.errno in tolerated:
                        counts["failed"] += 1
                    else:
                        errors.append(f"reader {k}: {'/'.join(rel)}: {e!r}")

        def changer():
            statuses = ["Stopped", "Running", "Saving", "Running"]
            k = 0
            # Pacing only (Event.wait), nothing waits on these for synchronisation.
            while not stop.wait(0.4):
                try:
                    srv.control("PATCH", f"instances/{vid}", {"Status": statuses[k % 4]})
                    if k % 3 == 0:
                        # A refresh whose refetch meets an injected 503 fails with EIO, as
                        # it should; any other failure is an error.
                        r = subprocess.run(f"echo > {m.path('.dswfs', 'refresh')}",
                                           shell=True, capture_output=True)
                        if r.returncode != 0 and b"I/O error" not in r.stderr:
                            errors.append(f"changer: refresh: {r.stderr!r}")
                    elif k % 3 == 1:
                        m.proc.send_signal(signal.SIGHUP)
                    if k % 5 == 2:
                        set_faults(srv, {"kind": "status", "status": 503, "count": 3})
                    elif k % 5 == 4:
                        set_faults(srv, {"kind": "latency", "ms": 200, "count": 4})
                except Exception as e:  # noqa: BLE001
                    errors.append(f"changer: {e!r}")
                k += 1
                counts["changes"] = k

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
        threads.append(threading.Thread(target=changer))
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 6
            # Long enough for many refreshes; TSan and a loaded machine make reads slow.
            wait_until(lambda: errors or (time.monotonic() > deadline and counts["ok"] >= 100
                                          and counts["changes"] >= 5),
                       timeout=90, interval=0.1, what="100 reads and 5 changes in at least 6 s")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        srv.control("DELETE", "faults")
        # Background refreshes settle (a failure met last is remembered for its back-off);
        # the mount still answers correctly.
        wait_until(lambda: try_json_ids(m.path("instances", "instances.json")) == ids_of(fleet),
                   timeout=20, what="instances.json after the load")
        # The priming thread took part (it runs under TSan too).
        assert read_ctl_stats(m)["fs_primed"] > 0, "no file was primed"
    reports = sorted(glob.glob(os.path.join(logdir, "tsan*")))
    text = ""
    for p in reports:
        with open(p, errors="replace") as f:
            text += f"==== {p}\n" + f.read()
    if text:
        print(text[:20000], flush=True)
    assert not errors, "\n  ".join(errors[:20])
    assert not reports, f"ThreadSanitizer wrote {len(reports)} report file(s) (printed above)"
    eq(m.proc.returncode, 0, "exit status of the TSan daemon (66 = TSan reported)")
    assert counts["changes"] >= 5, counts


if __name__ == "__main__":
    try:
        run()
    finally:
        S.stack.close()
