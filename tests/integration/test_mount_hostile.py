"""test_mount_hostile: what a user sees on a mount whose API server misbehaves (issue 7): a
TotalCount smaller than the pages, a PageSize cap, PageNumber ignored, instances without usable
ids or with a NUL in them, and an error body quoting a secret. Each case asserts the listing (or
the bounded failure), .dswfs/last_error and, for the secret, the daemon's log."""
import errno
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import rss_kb as harness_rss_kb  # noqa: E402
from harness import (MockServer, Mount, eq, escape_name, read, read_ctl_stats, run,  # noqa: E402
                     test)

N = 60
SEED = 7
FAST_FAIL = ["retries=1", "timeout=3000", "connect_timeout=1000"]
# The mock server's secret_body fault quotes this (scripts/dsw_mock_server.py).
SECRET = "mOcKsEcReT0123456789abcdef"


class S:
    srv = None
    fleet = None


def server():
    """One server for the suite (N instances), faults cleared."""
    if S.srv is None:
        S.srv = MockServer(instances=N, seed=SEED).__enter__()
        # In the server's order (the base query's), so pages can be reasoned about.
        S.fleet = S.srv.control("POST", "query", {"params": {"WorkspaceId": "ALL",
                                                             "ResourceId": "ALL"}})["Instances"]
        eq(len(S.fleet), N, "fleet size")
    S.srv.control("DELETE", "faults")
    return S.srv


def set_faults(srv, *rules):
    srv.control("POST", "faults", {"faults": list(rules)})


def last_error(m):
    return read(m.path(".dswfs", "last_error")).decode(errors="replace")


def rss_kb(pid):
    return harness_rss_kb(pid) or 0


def listing_fails(m, timeout, max_rss_kb=None):
    """The errno of listing instances/ (None if it succeeded). A watchdog kills the daemon (and
    fails the test) when the listing outlives timeout or the daemon's RSS passes max_rss_kb, so
    a daemon that hangs or grows without bound cannot take the machine with it."""
    out = {}

    def lister():
        try:
            os.listdir(m.path("instances"))
            out["err"] = None
        except OSError as e:
            out["err"] = e.errno

    t = threading.Thread(target=lister, daemon=True)
    t0 = time.monotonic()
    t.start()
    peak = 0
    while t.is_alive():
        peak = max(peak, rss_kb(m.proc.pid))
        took = time.monotonic() - t0
        if took > timeout or (max_rss_kb and peak > max_rss_kb):
            m.proc.kill()
            t.join(10)
            raise AssertionError(f"listing still running after {took:.1f}s, daemon RSS "
                                 f"{peak} kB: killed")
        t.join(0.05)
    return out["err"]


def no_sanitizer_report(m):
    """With DSWFS_BIN pointing at an ASan or TSan daemon, any report fails the test."""
    out = m.output()
    assert "Sanitizer" not in out, out[out.index("Sanitizer") - 200:][:2000]


def listing(m):
    """The instance directories of instances/ (its instances.json aside)."""
    return sorted(n for n in os.listdir(m.path("instances")) if n != "instances.json")


def all_ids():
    return sorted(i["InstanceId"] for i in S.fleet)


@test
def total_count_smaller_than_the_pages_lists_everything_and_says_so():
    srv = server()
    with Mount(srv, "page_size=20", *FAST_FAIL) as m:
        set_faults(srv, {"kind": "total_lie", "total": 15})
        names = listing(m)
        eq(names, sorted(escape_name(i) for i in all_ids()), "listing with TotalCount 15")
        err = last_error(m)
        assert "TotalCount 15 is smaller than the 60" in err, err
        eq(read_ctl_stats(m)["total_count_lies"], 1, "total_count_lies in stats")
        no_sanitizer_report(m)


@test
def page_size_cap_is_learned():
    srv = server()
    with Mount(srv, "page_size=100", *FAST_FAIL) as m:
        set_faults(srv, {"kind": "page_cap", "size": 10})
        srv.control("POST", "stats/reset")
        names = listing(m)
        eq(names, sorted(escape_name(i) for i in all_ids()), "listing with PageSize capped at 10")
        log = [e for e in srv.stats()["log"] if e["path"] == "/api/v2/instances"]
        eq(len(log), N // 10, "requests: one per capped page")
        eq(sorted(e["query"]["PageSize"] for e in log[1:]), ["10"] * (N // 10 - 1), "PageSize after page 1")
        no_sanitizer_report(m)


@test
def ignored_page_number_fails_fast_with_bounded_memory():
    srv = server()
    with Mount(srv, "page_size=20", "parallel_pages=4", *FAST_FAIL) as m:
        set_faults(srv, {"kind": "ignore_page", "total": 1000000})
        srv.control("POST", "stats/reset")
        before = rss_kb(m.proc.pid)
        eq(listing_fails(m, 20, before + 256 * 1024), errno.EPROTO, "errno of the listing")
        err = last_error(m)
        assert "returned page 1 again" in err, err
        requests = srv.stats()["list_requests"]
        assert requests <= 1 + 4, f"{requests} requests for a server that ignores PageNumber"
        grew = rss_kb(m.proc.pid) - before
        assert grew < 64 * 1024, f"daemon RSS grew by {grew} kB"
        assert m.proc.poll() is None, "daemon died"
        no_sanitizer_report(m)


@test
def instances_without_usable_ids_are_left_out_and_reported():
    srv = server()
    with Mount(srv, "page_size=20", *FAST_FAIL) as m:
        set_faults(srv, {"kind": "bad_ids", "variant": "mixed"})
        names = set(listing(m))
        # Per page of 20: "", null and a missing id are left out; a number and a NUL stay.
        eq(len(names), N - 3 * (N // 20), "instances listed")
        for p in range(N // 20):
            page = S.fleet[p * 20:(p + 1) * 20]
            assert str(900000000 + p * 20 + 1) in names, sorted(names)[:5]
            assert escape_name("dsw-nul\0" + page[4]["InstanceId"]) in names
            for inst in page[5:]:
                assert escape_name(inst["InstanceId"]) in names, inst["InstanceId"]
        err = last_error(m)
        assert "9 instance(s) without a usable InstanceId" in err, err
        eq(read_ctl_stats(m)["instances_skipped"], 9, "instances_skipped in stats")
        no_sanitizer_report(m)


@test
def ids_cut_by_a_nul_would_collide_but_stay_apart():
    srv = server()
    with Mount(srv, "page_size=20", *FAST_FAIL) as m:
        set_faults(srv, {"kind": "bad_ids", "variant": "nul"})
        names = listing(m)
        eq(names, sorted(escape_name("dsw-nul\0" + i) for i in all_ids()), "listing")
        assert all(n.startswith("dsw-nul%00") for n in names)
        no_sanitizer_report(m)


@test
def an_error_body_quoting_a_secret_never_reaches_last_error_or_the_log():
    srv = server()
    with Mount(srv, *FAST_FAIL) as m:
        set_faults(srv, {"kind": "secret_body", "status": 500})
        eq(listing_fails(m, 20), errno.EIO, "errno of the listing")
        err = last_error(m)
        assert "HTTP 500" in err and "text/plain" in err, err
        assert SECRET not in err and "AccessKeySecret" not in err, err
        out = m.output()
        assert SECRET not in out, "the daemon's log quotes the body"
        no_sanitizer_report(m)


if __name__ == "__main__":
    try:
        run()
    finally:
        if S.srv:
            S.srv.__exit__(None, None, None)

