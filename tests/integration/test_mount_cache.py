"""test_mount_cache: what a real mount costs the API: cold and warm walks with find / grep -r /
ls -lR, one fetch per distinct query however many threads ask, .dswfs/refresh, TTL expiry,
concurrent readers, and .dswfs/last_error for an injected failure."""
import errno
import json
import math
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mount, Shared, eq, escape_name, expected_tree, read,  # noqa: E402
                     read_ctl_stats, redact, render_scalar, run, server_query, test, wait_until)

N = 100
PS = 25
PAGES = math.ceil(N / PS)
SEED = 3
BASE = {"WorkspaceId": "ALL", "ResourceId": "ALL"}


S = Shared(N, SEED)
server = S.server


def sh(cmd, cwd):
    r = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {r.returncode}: {r.stderr[-300:]!r}")
    return r.stdout


def reset(srv):
    srv.control("POST", "stats/reset")


def reqs(srv):
    return srv.list_requests()


def pages(n):
    return max(1, math.ceil(n / PS))


def refresh(m):
    r = subprocess.run(f"echo 1 > {m.path('.dswfs', 'refresh')}", shell=True,
                       capture_output=True)
    eq(r.returncode, 0, f"echo 1 > .dswfs/refresh: {r.stderr!r}")


@test
def walks_cost_the_pages_once_within_the_ttl():
    srv = server()
    with Mount(srv, f"page_size={PS}", "ttl=600") as m:
        reset(srv)
        before = read_ctl_stats(m)
        out = sh("find instances -type f | wc -l", m.dir)
        assert int(out) > 20 * N, f"find saw only {int(out)} files"
        eq(reqs(srv), PAGES, f"cold find over instances/ ({N} instances, page_size={PS})")
        after = read_ctl_stats(m)
        eq(after["api_requests"] - before["api_requests"], PAGES, ".dswfs/stats api_requests")
        eq(after["api_pages"] - before["api_pages"], PAGES, ".dswfs/stats api_pages")
        assert after["api_bytes"] > before["api_bytes"], "api_bytes did not grow"
        for walk in ("grep -r -c Running instances | wc -l", "ls -lR instances | wc -l",
                     "find by-name/ -maxdepth 1 -type l | wc -l"):
            sh(walk, m.dir)
            eq(reqs(srv), PAGES, f"warm {walk!r} within the TTL")
        warm = read_ctl_stats(m)
        assert warm["cache_hits"] > after["cache_hits"], f"cache_hits: {after} -> {warm}"
        eq(warm["api_requests"], after["api_requests"], "api_requests after warm walks")


@test
def each_distinct_query_costs_its_pages_once():
    srv = server()
    fleet = S.fleet
    lab = next((lb["Key"], lb["Value"]) for i in fleet for lb in (i.get("Labels") or [])
               if "/" not in lb["Key"] + lb["Value"] and lb["Key"])
    with Mount(srv, f"page_size={PS}", "ttl=600") as m:
        ws = sorted({i["WorkspaceId"] for i in fleet})
        reset(srv)
        sh("find workspaces -maxdepth 2 | wc -l", m.dir)
        got = reqs(srv)
        want = sum(pages(len(server_query(srv, dict(BASE, WorkspaceId=w)))) for w in ws)
        # workspaces/ itself comes from the base query (instances/); dswfs may also narrow the
        # base answer locally instead of asking for each workspace.
        assert PAGES <= got <= want + PAGES, f"find workspaces/: {got} requests, at most " \
            f"{want} + {PAGES} for the base query"
        reset(srv)
        sh(f"grep -r -l x workspaces/{ws[0]} >/dev/null; ls -l workspaces/* >/dev/null", m.dir)
        eq(reqs(srv), 0, "warm walk of workspaces/")
        # A query that must go to the server costs its pages once, in whichever spelling.
        rel = ["instances", "label", "=".join(lab), "workspace-id", ws[0]]
        n = len(server_query(srv, dict(BASE, WorkspaceId=ws[0], Labels=json.dumps(dict([lab])))))
        reset(srv)
        os.listdir(m.path(*rel))
        eq(reqs(srv), pages(n), "/".join(rel))
        os.listdir(m.path("instances", "workspace-id", ws[0], "label", "=".join(lab)))
        os.listdir(m.path("workspaces", ws[0], "label", "=".join(lab)))
        for _ in range(3):
            read(m.path(*rel, "instances.json"))
        eq(reqs(srv), pages(n), "the same query spelt three ways and read again")
        # Narrowable ones cost at most their pages, and nothing the second time.
        reset(srv)
        k = len(os.listdir(m.path("instances", "status", "Running", "accelerator-type", "GPU")))
        first = reqs(srv)
        assert first <= pages(k - 1), f"status/Running/accelerator-type/GPU cost {first}"
        os.listdir(m.path("instances", "accelerator-type", "GPU", "status", "Running"))
        os.listdir(m.path("instances", "workspace-id", ws[0]))
        eq(reqs(srv), first, "the same queries spelt another way")


@test
def many_threads_asking_one_cold_query_cost_one_fetch():
    srv = server()
    with Mount(srv, f"page_size={PS}", "ttl=600") as m:
        # Slow answers keep the fetch in flight while every thread arrives.
        srv.control("POST", "faults", {"faults": [{"kind": "latency", "ms": 300}]})
        reset(srv)
        # A label filter always goes to the server (no local narrowing of a cached answer).
        lab = next((lb["Key"], lb["Value"]) for i in S.fleet for lb in (i.get("Labels") or [])
                   if "/" not in lb["Key"] + lb["Value"] and lb["Key"])
        want = server_query(srv, dict(BASE, Labels=json.dumps(dict([lab]))))
        assert want, "the label selects nothing"
        barrier = threading.Barrier(16)
        results, errors = [], []

        def reader(k):
            try:
                barrier.wait()
                rel = ["instances", "label", "=".join(lab)]
                if k % 2:
                    results.append(json.loads(read(m.path(*rel, "instances.json"))))
                else:
                    results.append(sorted(os.listdir(m.path(*rel))))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        eq(len(results), 16, "readers finished")
        eq(reqs(srv), pages(len(want)), "requests for 16 simultaneous readers of one query")
        ids = sorted(escape_name(i["InstanceId"]) for i in want)
        for r in results:
            if r and isinstance(r[0], dict):
                eq(sorted(escape_name(i["InstanceId"]) for i in r), ids, "instances.json")
            else:
                eq(r, ids, "listing")


@test
def refresh_drops_the_cache():
    srv = server()
    fleet = S.fleet
    victim = next(i for i in fleet if i["Status"] == "Running")
    vdir = escape_name(victim["InstanceId"])
    new = dict(fleet[1], InstanceId=victim["InstanceId"][:-6] + "999999",
               InstanceName="added-after-mount")
    # refresh_min_interval=0: the second refresh below comes within a second of the first.
    with Mount(srv, f"page_size={PS}", "ttl=600", "refresh_min_interval=0") as m:
        status = m.path("instances", vdir, "Status")
        eq(read(status), b"Running\n", "Status")
        added = m.path("instances", escape_name(new["InstanceId"]))
        assert not os.path.exists(added), "instance exists before it is added"
        sh("ls -l instances >/dev/null", m.dir)
        srv.control("PATCH", f"instances/{victim['InstanceId']}", {"Status": "EnvPreparing"})
        srv.control("POST", "instances", new)
        reset(srv)
        # Within the TTL the cached answer stands.
        eq(read(status), b"Running\n", "Status within the TTL")
        eq(reqs(srv), 0, "requests within the TTL")
        refresh(m)
        problems = []
        data = read(status)
        if data != b"EnvPreparing\n":
            problems.append(f"Status after writing .dswfs/refresh: {data!r}")
        if os.stat(status).st_size != len(data):
            problems.append(f"st_size of Status after refresh: {os.stat(status).st_size}")
        if new["InstanceId"] not in [json.loads(read(m.path("instances", "instances.json")))[k]
                                     ["InstanceId"] for k in range(N + 1)]:
            problems.append("instances/instances.json lacks the added instance")
        if escape_name(new["InstanceId"]) not in os.listdir(m.path("instances")):
            problems.append("ls instances/ lacks the added instance")
        if not os.path.isdir(added):
            problems.append(f"stat instances/{new['InstanceId']} (looked up, absent, before "
                            "the refresh) still fails after it")
        if "added-after-mount" not in os.listdir(m.path("by-name")):
            problems.append("by-name/ not refreshed")
        if vdir not in os.listdir(m.path("instances", "status", "EnvPreparing")):
            problems.append("instances/status/EnvPreparing/ lacks the changed instance")
        assert not problems, "\n  ".join(problems)
        reset(srv)
        sh("find instances -maxdepth 2 | wc -l", m.dir)
        eq(reqs(srv), 0, "warm walk right after the refresh")
        refresh(m)
        sh("find instances -maxdepth 2 -name Status | xargs grep -l EnvPreparing", m.dir)
        eq(reqs(srv), pages(N + 1), "walk after a second refresh")


@test
def ttl_expiry_refetches():
    srv = server()
    fleet = S.fleet
    victim = next(i for i in fleet if i["Status"] == "Running")
    status_path = ["instances", escape_name(victim["InstanceId"]), "Status"]
    with Mount(srv, f"page_size={PS}", "ttl=1") as m:
        p = m.path(*status_path)
        eq(read(p), b"Running\n", "Status")
        reset(srv)
        srv.control("PATCH", f"instances/{victim['InstanceId']}", {"Status": "ResourceAllocating"})
        t0 = time.monotonic()
        wait_until(lambda: read(p) == b"ResourceAllocating\n", timeout=15, interval=0.1,
                   what="the new Status to show after the TTL")
        took = time.monotonic() - t0
        assert took < 8, f"a change took {took:.1f}s to show with ttl=1"
        data = read(p)
        wait_until(lambda: os.stat(p).st_size == len(data), timeout=5,
                   what="st_size to follow the content")
        assert reqs(srv) >= 1, "no request after the TTL"
        # Walks keep refetching, but at most once per TTL window per query.
        reset(srv)
        t0 = time.monotonic()
        wait_until(lambda: sh("ls -l instances | wc -l", m.dir) and reqs(srv) > 0,
                   timeout=15, interval=0.1, what="a refetch after the TTL")
        elapsed = time.monotonic() - t0
        assert reqs(srv) <= PAGES * (math.ceil(elapsed) + 2), \
            f"{reqs(srv)} requests in {elapsed:.1f}s with ttl=1"


@test
def concurrent_readers_see_consistent_files():
    srv = server()
    fleet = S.fleet
    expected = {}
    for inst in fleet:
        for name, (kind, value) in expected_tree(redact(inst)).items():
            if kind == "scalar" and render_scalar(value) is not None:
                expected[("instances", escape_name(inst["InstanceId"]), name)] = \
                    render_scalar(value)
    keys = sorted(expected)
    with Mount(srv, f"page_size={PS}", "ttl=600") as m:
        reset(srv)
        stop = threading.Event()
        errors, counts = [], [0] * 16
        refreshes = 3

        def reader(k):
            rnd = random.Random(k)
            try:
                for j in range(100):
                    rel = rnd.choice(keys)
                    if j % 25 == 0:
                        got = subprocess.run(["cat", m.path(*rel)], capture_output=True).stdout
                    else:
                        got = read(m.path(*rel))
                    if got != expected[rel]:
                        errors.append(f"{'/'.join(rel)}: {got!r} != {expected[rel]!r}")
                    counts[k] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"reader {k}: {e!r}")

        def walker():
            try:
                while not stop.is_set():
                    n = sum(len(files) for _, _, files in os.walk(m.path("instances")))
                    if n < 20 * N:
                        errors.append(f"walk saw {n} files")
            except Exception as e:  # noqa: BLE001
                errors.append(f"walker: {e!r}")

        def refresher():
            for _ in range(refreshes):
                time.sleep(0.2)  # spacing only, not synchronisation
                try:
                    refresh(m)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"refresh: {e!r}")

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(16)]
        extra = [threading.Thread(target=walker), threading.Thread(target=refresher)]
        for t in threads + extra:
            t.start()
        for t in threads:
            t.join(120)
        extra[1].join(30)
        stop.set()
        extra[0].join(120)
        assert not errors, f"{len(errors)} errors: " + "\n  ".join(errors[:20])
        eq(sum(counts), 16 * 100, "reads done")
        assert reqs(srv) <= PAGES * (refreshes + 1), \
            f"{reqs(srv)} requests for one query and {refreshes} refreshes"


@test
def last_error_reports_an_injected_failure():
    srv = server()
    with Mount(srv, f"page_size={PS}", "ttl=600") as m:
        le = m.path(".dswfs", "last_error")
        eq(read(le), b"", "last_error before any failure")
        os.stat(le)
        before = read_ctl_stats(m)
        srv.control("POST", "faults", {"faults": [
            {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary"}]})
        try:
            read(m.path("instances", "status", "Saving", "instances.json"))
        except OSError as e:
            eq(errno.errorcode.get(e.errno), "EIO", "errno for HTTP 503")
        else:
            raise AssertionError("reading a query that fails with HTTP 503 succeeded")
        r = subprocess.run(["ls", "instances/status/Saving/"], cwd=m.dir, capture_output=True)
        assert r.returncode != 0 and b"Input/output error" in r.stderr, (r.returncode, r.stderr)
        text = read(le).decode()
        for want in ("ServiceUnavailableTemporary", "503", "Status=Saving"):
            assert want in text, f"last_error lacks {want!r}: {text!r}"
        for word in ("request", "message"):
            assert word in text.lower(), f"last_error lacks {word}: {text!r}"
        eq(os.stat(le).st_size, len(text.encode()), "st_size of last_error")
        after = read_ctl_stats(m)
        assert after["api_errors"] > before["api_errors"], f"api_errors: {before} -> {after}"
        # The failure is remembered for a back-off of 1 s (ttl=600), then, the server having
        # recovered, the same path works.
        srv.control("DELETE", "faults")
        want = server_query(srv, dict(BASE, Status="Saving"))

        def answer():
            try:
                return read(m.path("instances", "status", "Saving", "instances.json"))
            except OSError:
                return None
        got = json.loads(wait_until(answer, timeout=10, what="the query after the fault cleared"))
        eq(sorted(i["InstanceId"] for i in got), sorted(i["InstanceId"] for i in want),
           "the query after the fault cleared")


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
