"""test_mount_type_drift: the local-narrowing differential under type drift. The local server
(fault wrong_types "numbers") sends digit-only WorkspaceId/UserId as JSON numbers and, for some
instances, Status as null or Accessibility as a boolean, the same way on every page and query,
while its filters keep seeing the stored values. Every query directory must list what the server
answers for that query (POST /_mock/query), whether dswfs narrows its cached instances/ answer
or asks; narrowing stays in use where the comparison is provably the server's."""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MockServer, Mount, eq, escape_name, read_ctl_stats,  # noqa: E402
                     run, server_query, test)

N = 150
SEED = 23
BASE = {"WorkspaceId": "ALL", "ResourceId": "ALL"}
DRIFT = {"kind": "wrong_types", "variant": "numbers", "count": -1}


def ids_of(instances):
    return sorted(escape_name(i["InstanceId"]) for i in instances)


def want(srv, params):
    return ids_of(server_query(srv, dict(BASE, **params)))


def listing(path):
    return sorted(n for n in os.listdir(path) if n != "instances.json")


def json_ids(path):
    with open(path, "rb") as f:
        return ids_of(json.loads(f.read()))


def plain(v):
    return isinstance(v, str) and v and "/" not in v and "," not in v and v not in (".", "..")


def cases(fleet):
    """(path components, extra ListInstances params, narrowable locally under the drift)."""
    out = []
    ws = [w for w, _ in collections.Counter(i.get("WorkspaceId") for i in fleet).most_common()
          if plain(w)]
    st = [s for s, _ in collections.Counter(i.get("Status") for i in fleet).most_common()
          if plain(s)]
    ids = [i["InstanceId"] for i in fleet if plain(i["InstanceId"])]
    for w in ws:
        out.append((["workspaces", w], {"WorkspaceId": w}, True))
        out.append((["instances", "workspace-id", w, "accelerator-type", "GPU"],
                    {"WorkspaceId": w, "AcceleratorType": "GPU"}, True))
        out.append((["workspaces", w, "status", "Running"], {"WorkspaceId": w, "Status": "Running"},
                    False))
    out.append((["workspaces", "0" + ws[0]], {"WorkspaceId": "0" + ws[0]}, False))
    # ("workspace-id/40823.0" names nothing: a workspace id is decimal digits.)
    for s in st[:4]:
        out.append((["instances", "status", s], {"Status": s}, False))
    out.append((["instances", "status", ",".join(st[:3])], {"Status": ",".join(st[:3])}, False))
    for a in ("PRIVATE", "PUBLIC"):
        out.append((["instances", "accessibility", a], {"Accessibility": a}, False))
    for p in ("PayAsYouGo", "Subscription"):
        out.append((["instances", "payment-type", p], {"PaymentType": p}, True))
    out.append((["instances", "instance-id", f"{ids[2]},{ids[5]}"],
                {"InstanceId": f"{ids[2]},{ids[5]}"}, True))
    users = [u for u, _ in collections.Counter(i.get("UserId") for i in fleet).most_common()
             if plain(u)]
    if users:
        out.append((["instances", "create-user-id", users[0]], {"CreateUserId": users[0]}, False))
    return out


@test
def every_filter_lists_what_the_server_answers_under_type_drift():
    with MockServer(instances=N, seed=SEED) as srv:
        fleet = srv.fleet()["Instances"]
        srv.control("POST", "faults", {"faults": [DRIFT]})
        with Mount(srv, "page_size=50", "ttl=600") as m:
            eq(listing(m.path("instances")), want(srv, {}), "instances/")
            with open(m.path("instances", "instances.json"), "rb") as f:
                sent = json.loads(f.read())
            # The drift is really there, or this test proves nothing.
            assert any(isinstance(i.get("WorkspaceId"), int) for i in sent), "no numeric ids"
            assert any(i.get("Status") is None for i in sent), "no null Status"
            assert any(isinstance(i.get("Accessibility"), bool) for i in sent), "no bool"
            ws = sorted({i["WorkspaceId"] for i in fleet if plain(i.get("WorkspaceId"))})
            eq(sorted(os.listdir(m.path("workspaces"))), ws, "workspaces/")
            problems = []
            narrowed_ok = 0
            for comps, params, narrowable in cases(fleet):
                srv.control("POST", "stats/reset")
                before = read_ctl_stats(m)["queries_narrowed"]
                w = want(srv, params)
                got = listing(m.path(*comps))
                rel = "/".join(comps)
                if got != w:
                    problems.append(f"ls {rel}: {len(got)} instances, the server {len(w)}: "
                                    f"extra {sorted(set(got) - set(w))[:5]}, missing "
                                    f"{sorted(set(w) - set(got))[:5]}")
                if json_ids(m.path(*comps, "instances.json")) != w:
                    problems.append(f"{rel}/instances.json differs from the server")
                asked = srv.list_requests() > 0
                narrowed = read_ctl_stats(m)["queries_narrowed"] - before
                if narrowable and (asked or narrowed != 1):
                    problems.append(f"{rel}: narrowable, but asked={asked} narrowed={narrowed}")
                if not narrowable and (not asked or narrowed):
                    problems.append(f"{rel}: must ask the server, asked={asked} "
                                    f"narrowed={narrowed}")
                narrowed_ok += narrowable and not asked
            assert not problems, f"{len(problems)} differ:\n  " + "\n  ".join(problems)
            assert narrowed_ok >= 5, narrowed_ok


@test
def skipped_instances_show_in_stats_and_last_error():
    with MockServer(instances=20, seed=SEED) as srv:
        fleet = srv.fleet()["Instances"]
        bad = [dict(fleet[0], InstanceId=""), dict(fleet[1], InstanceId=None),
               dict(fleet[2], InstanceId=123456789)]
        srv.control("POST", "fleet", {"Instances": fleet[3:] + bad})
        with Mount(srv) as m:
            names = os.listdir(m.path("instances"))
            eq(sorted(n for n in names if n != "instances.json"),
               sorted([escape_name(i["InstanceId"]) for i in fleet[3:]] + ["123456789"]),
               "instances/ lists the usable ones, the numeric id as its text")
            stats = read_ctl_stats(m)
            eq(stats.get("instances_skipped"), 2, "instances_skipped")
            with open(m.path(".dswfs", "last_error"), errors="replace") as f:
                text = f.read()
            assert "2 instance(s) without a usable InstanceId left out" in text, text


if __name__ == "__main__":
    run()
