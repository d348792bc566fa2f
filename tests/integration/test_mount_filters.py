"""test_mount_filters: query directories of a real mount against the local server's own
filtering (POST /_mock/query): every filter key, chains in any order, labels and tags, comma
lists, ENOENT for invalid values and repeated keys, hidden-but-listable key dirs, .query, and
the workspace_id/resource_id base options."""
import collections
import errno
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FILTER_PARAMS, STATUSES, Mount, Shared, eq, escape_name,  # noqa: E402
                     read, redact, run, server_query, test)

N = 200
SEED = 5
BASE = {"WorkspaceId": "ALL", "ResourceId": "ALL"}
ENUMS = {"status": set(STATUSES), "payment-type": {"PayAsYouGo", "Subscription"},
         "accessibility": {"PRIVATE", "PUBLIC"}, "accelerator-type": {"CPU", "GPU"}}


S = Shared(N, SEED, mount=True)


def shared():
    srv, mnt = S.mount()
    return srv, mnt, S.fleet


def plain(v):
    """Whether v can be typed as one path component (and is not a control-character puzzle)."""
    return isinstance(v, str) and v not in ("", ".", "..") and "/" not in v and \
        len(v.encode()) <= 255 and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in v)


def labels_of(inst):
    out = []
    for lab in inst.get("Labels") or []:
        if isinstance(lab, dict) and isinstance(lab.get("Key"), str) and \
                isinstance(lab.get("Value"), str):
            out.append((lab["Key"], lab["Value"]))
    return out


def tags_of(inst):
    out = []
    for t in inst.get("Tags") or []:
        if isinstance(t, dict) and isinstance(t.get("TagKey"), str) and \
                isinstance(t.get("TagValue"), str):
            out.append((t["TagKey"], t["TagValue"]))
    return out


def kv_ok(k, v):
    return k and "=" not in k and plain(f"{k}={v}")


def labels_param(pairs):
    return json.dumps(dict(sorted(pairs)), separators=(",", ":"), ensure_ascii=False)


def tags_param(pairs):
    return json.dumps([{"Key": k, "Value": v} for k, v in sorted(pairs)],
                      separators=(",", ":"), ensure_ascii=False)


def field_values(fleet, key):
    """Every value the fleet carries for a filter key (as a path would spell it)."""
    vals = collections.Counter()
    for i in fleet:
        if key == "gpu-type":
            v = (i.get("RequestedResource") or {}).get("GPUType")
        elif key == "create-user-id":
            v = i.get("UserId")
        elif key == "label":
            for k, lv in labels_of(i):
                vals[f"{k}={lv}"] += 1
            continue
        elif key == "tag":
            for k, tv in tags_of(i):
                vals[f"{k}={tv}"] += 1
            continue
        else:
            v = i.get(FILTER_PARAMS[key])
        if isinstance(v, str):
            vals[v] += 1
    return vals


def pick(fleet, key, default):
    """A common plain value of key in the fleet, or default."""
    for v, _ in field_values(fleet, key).most_common():
        if plain(v) and (key not in ENUMS or v in ENUMS[key]):
            return v
    return default


def filter_cases(fleet):
    """(path components below instances/, ListInstances params) for every filter key."""
    cases = []
    simple = {"workspace-id": None, "instance-name": "no-such-name", "resource-id": None,
              "payment-type": "PayAsYouGo", "accessibility": "PRIVATE",
              "accelerator-type": "GPU", "gpu-type": "NVIDIA A10", "image-name": "no-image",
              "create-user-id": "1612285282502324", "oversold-info": "ForceQuotaOverSold",
              "oversold-type": "AcceptQuotaOverSold"}
    for key, default in simple.items():
        v = pick(fleet, key, default)
        if v is None:
            raise AssertionError(f"fleet has no plain {key} value")
        cases.append(([key, v], {FILTER_PARAMS[key]: v}))
    ids = [i["InstanceId"] for i in fleet]
    cases.append((["instance-id", ids[3]], {"InstanceId": ids[3]}))
    cases.append((["instance-id", f"{ids[1]},{ids[7]}"], {"InstanceId": f"{ids[1]},{ids[7]}"}))
    statuses = [s for s, _ in field_values(fleet, "status").most_common() if s in STATUSES]
    for s in statuses:
        cases.append((["status", s], {"Status": s}))
    cases.append((["status", ",".join(statuses[:2])], {"Status": ",".join(statuses[:2])}))
    cases.append((["status", ",".join(statuses[:3])], {"Status": ",".join(statuses[:3])}))
    for key, val in (("min-cpu", "4000"), ("max-cpu", "8000"), ("min-gpu", "1000"),
                     ("max-gpu", "1000"), ("min-memory", "32"), ("max-memory", "32"),
                     ("min-gpu-memory", "24"), ("max-gpu-memory", "24")):
        cases.append(([key, val], {FILTER_PARAMS[key]: val}))
    times = sorted(i["GmtCreateTime"] for i in fleet if isinstance(i.get("GmtCreateTime"), str))
    mid = times[len(times) // 2]
    cases.append((["create-time-after", mid], {"CreateTimeAfter": mid}))
    cases.append((["create-time-before", mid], {"CreateTimeBefore": mid}))
    with_labels = [i for i in fleet if len([p for p in labels_of(i) if kv_ok(*p)]) >= 2]
    if not with_labels:
        raise AssertionError("fleet has no instance with two labels")
    l1, l2 = [p for p in labels_of(with_labels[0]) if kv_ok(*p)][:2]
    cases.append((["label", "=".join(l1)], {"Labels": labels_param([l1])}))
    cases.append((["label", "=".join(l1), "label", "=".join(l2)],
                  {"Labels": labels_param([l1, l2])}))
    cases.append((["label", "=".join(l2), "label", "=".join(l1)],
                  {"Labels": labels_param([l1, l2])}))
    tagged = [i for i in fleet if [p for p in tags_of(i) if kv_ok(*p)]]
    if not tagged:
        raise AssertionError("fleet has no tagged instance")
    t1 = [p for p in tags_of(tagged[0]) if kv_ok(*p)][0]
    cases.append((["tag", "=".join(t1)], {"Tag": tags_param([t1])}))
    t2s = [p for p in tags_of(tagged[0]) if kv_ok(*p) and p[0] != t1[0]]
    if t2s:
        cases.append((["tag", "=".join(t1), "tag", "=".join(t2s[0])],
                      {"Tag": tags_param([t1, t2s[0]])}))
    # Awkward but typeable values: unicode, spaces, '%', '@', a leading dot or dash.
    names = [n for n in field_values(fleet, "instance-name") if plain(n) and
             (not n.isascii() or " " in n or "%" in n or "@" in n or "\\" in n or
              n[0] in ".-") and not re.fullmatch(r".+-.+-[0-9]{1,3}", n)]
    for n in sorted(set(names))[:14]:
        cases.append((["instance-name", n], {"InstanceName": n}))
    odd_labels = sorted({p for i in fleet for p in labels_of(i) if kv_ok(*p) and
                         (not "=".join(p).isascii() or " " in "=".join(p))})
    for p in odd_labels[:3]:
        cases.append((["label", "=".join(p)], {"Labels": labels_param([p])}))
    odd_tags = sorted({p for i in fleet for p in tags_of(i) if kv_ok(*p) and
                       (not "=".join(p).isascii() or "&" in "=".join(p))})
    for p in odd_tags[:3]:
        cases.append((["tag", "=".join(p)], {"Tag": tags_param([p])}))
    return cases


def check_query_dir(srv, m, rel, params, errors, want=None):
    """Compares a query dir (listing and instances.json) with the server's filtering (want:
    its answer, when already asked). Returns the number of instances expected."""
    if want is None:
        want = server_query(srv, dict(BASE, **params))
    want_names = {escape_name(i["InstanceId"]) for i in want}
    path = m.path(*rel)
    try:
        got = set(os.listdir(path))
        data = read(os.path.join(path, "instances.json"))
        size = os.stat(os.path.join(path, "instances.json")).st_size
    except OSError as e:
        errors.append(f"{'/'.join(rel)}: {e}")
        return len(want)
    if got != want_names:
        errors.append(f"{'/'.join(rel)}: listing has {len(got)} entries, the server "
                      f"{len(want)}; extra {sorted(got - want_names)[:3]} "
                      f"missing {sorted(want_names - got)[:3]}")
    if size != len(data):
        errors.append(f"{'/'.join(rel)}/instances.json: st_size {size} != {len(data)}")
    try:
        arr = json.loads(data)
    except ValueError as e:
        errors.append(f"{'/'.join(rel)}/instances.json: {e}")
        return len(want)
    if {i["InstanceId"]: i for i in arr} != {i["InstanceId"]: redact(i) for i in want}:
        errors.append(f"{'/'.join(rel)}/instances.json differs from the server's answer")
    return len(want)


@test
def every_filter_key_matches_the_servers_filtering():
    srv, m, fleet = shared()
    cases = filter_cases(fleet)
    keys_covered = {c[0][0] for c in cases}
    eq(keys_covered, set(FILTER_PARAMS), "filter keys covered")
    errors, sizes = [], []
    for comps, params in cases:
        sizes.append(check_query_dir(srv, m, ["instances"] + comps, params, errors))
    assert not errors, f"{len(errors)} of {len(cases)} filters differ:\n  " + "\n  ".join(errors)
    # The comparisons mean something: some filters select a strict, non-empty subset.
    partial = [s for s in sizes if 0 < s < len(fleet)]
    assert len(partial) >= len(cases) // 2, f"result sizes {sizes}"


@test
def filters_answered_while_the_base_is_cached_match_the_server():
    """dswfs may narrow a cached instances/ answer locally for some keys: same results."""
    srv, m, fleet = shared()
    r = subprocess.run("echo 1 > .dswfs/refresh", shell=True, cwd=m.dir, capture_output=True)
    eq(r.returncode, 0, f"echo 1 > .dswfs/refresh: {r.stderr!r}")
    os.listdir(m.path("instances"))
    cases = [c for c in filter_cases(fleet) if c[0][0] in
             ("workspace-id", "status", "accelerator-type", "payment-type", "accessibility",
              "instance-id")]
    ws = fleet[0]["WorkspaceId"]
    cases += [(["status", "Running", "accelerator-type", "GPU", "workspace-id", ws],
               {"Status": "Running", "AcceleratorType": "GPU", "WorkspaceId": ws}),
              (["payment-type", "Subscription", "accessibility", "PUBLIC"],
               {"PaymentType": "Subscription", "Accessibility": "PUBLIC"}),
              (["status", "Running,Stopped", "workspace-id", ws],
               {"Status": "Running,Stopped", "WorkspaceId": ws})]
    errors = []
    for comps, params in cases:
        check_query_dir(srv, m, ["instances"] + comps, params, errors)
    for w in sorted({i["WorkspaceId"] for i in fleet}):
        check_query_dir(srv, m, ["workspaces", w, "status", "Running"],
                        {"WorkspaceId": w, "Status": "Running"}, errors)
    assert not errors, f"{len(errors)} of {len(cases)} filters differ:\n  " + "\n  ".join(errors)


@test
def chained_filters_in_any_order_are_one_query():
    srv, m, fleet = shared()
    i0 = next(i for i in fleet if any(kv_ok(*p) for p in labels_of(i)))
    ws, st, acc, pay = i0["WorkspaceId"], i0["Status"], i0["AcceleratorType"], i0["PaymentType"]
    lab = next(p for p in labels_of(i0) if kv_ok(*p))
    errors = []
    L = "=".join(lab)
    lp = labels_param([lab])
    # Each chain has a label, so the server must be asked (no local narrowing).
    chains = [
        (["instances", "status", st, "label", L, "accelerator-type", acc],
         {"Status": st, "AcceleratorType": acc, "Labels": lp}),
        (["instances", "accelerator-type", acc, "label", L, "status", st],
         {"Status": st, "AcceleratorType": acc, "Labels": lp}),
        (["workspaces", ws, "status", st, "label", L, "payment-type", pay],
         {"WorkspaceId": ws, "Status": st, "PaymentType": pay, "Labels": lp}),
        (["workspaces", ws, "payment-type", pay, "status", st, "label", L],
         {"WorkspaceId": ws, "Status": st, "PaymentType": pay, "Labels": lp}),
        (["instances", "workspace-id", ws, "label", L, "accelerator-type", acc],
         {"WorkspaceId": ws, "Labels": lp, "AcceleratorType": acc}),
        (["instances", "label", L, "accelerator-type", acc, "workspace-id", ws],
         {"WorkspaceId": ws, "Labels": lp, "AcceleratorType": acc}),
    ]
    for rel, params in ((["instances", "status", st, "accelerator-type", acc],
                         {"Status": st, "AcceleratorType": acc}),
                        (["instances", "accelerator-type", acc, "status", st],
                         {"Status": st, "AcceleratorType": acc}),
                        (["workspaces", ws, "payment-type", pay, "status", st],
                         {"WorkspaceId": ws, "Status": st, "PaymentType": pay})):
        check_query_dir(srv, m, rel, params, errors)
    for k, (rel, params) in enumerate(chains):
        want = server_query(srv, dict(BASE, **params))
        if not want:
            errors.append(f"{'/'.join(rel)}: the server finds nothing (test data problem)")
        srv.control("POST", "stats/reset")
        check_query_dir(srv, m, rel, params, errors, want=want)
        log = srv.stats()["log"]
        if k % 2 == 0 and not log:  # the first spelling of each query is fetched now
            errors.append(f"{'/'.join(rel)}: no request reached the server")
        for e in log:
            q = e["query"]
            for p, v in params.items():
                got = q.get(p)
                if p == "Labels" and isinstance(got, str):
                    try:
                        got = labels_param(json.loads(got).items())
                    except (ValueError, AttributeError):
                        pass
                if got != v:
                    errors.append(f"{'/'.join(rel)}: a request had {p}={got!r}, not {v!r} "
                                  f"(filters must go out as one query): {q}")
                    break
        if k % 2 == 1 and log:
            errors.append(f"{'/'.join(rel)}: the same query spelt in another order cost "
                          f"{len(log)} more requests")
    assert not errors, "\n  ".join(errors)


@test
def invalid_values_and_repeated_keys_are_enoent():
    srv, m, fleet = shared()
    ws = fleet[0]["WorkspaceId"]
    bad = [
        "instances/status/Run ning", "instances/status/Running,Run-ing",
        "instances/status/Running,", "instances/payment-type/Pay As You Go",
        "instances/accessibility/Sec.ret", "instances/accelerator-type/T.PU",
        "workspaces/abc", "workspaces/abc/status/Running", "instances/workspace-id/abc",
        "users/alice", "instances/create-user-id/alice", "instances/create-time-after/2024-1-1",
        "instances/status/Running/status/Stopped", "instances/status/Running/status/Running",
        "instances/workspace-id/1/workspace-id/2", f"workspaces/{ws}/workspace-id/{ws}",
        "instances/label/a=1/label/a=2",
        "instances/label/a=1/label/b=2/label/c=3/label/d=4/label/e=5",
        "instances/tag/a=1/tag/b=2/tag/c=3/tag/d=4/tag/e=5",
        "instances/min-cpu/abc", "instances/min-cpu/-1", "instances/max-memory/1.5",
        "instances/create-time-after/2024-02-30", "instances/create-time-before/yesterday",
        "instances/label/novalue", "instances/label/=v", "instances/tag/=v",
        "instances/colour/red", "instances/status/Running/colour", "instances/Status",
        "instances/status/Running/dsw-nonexistent0000", "nosuchdir",
    ]
    wrong = []
    for rel in bad:
        try:
            os.stat(m.path(rel))
        except OSError as e:
            if e.errno != errno.ENOENT:
                wrong.append(f"{rel}: {errno.errorcode.get(e.errno, e.errno)}")
        else:
            wrong.append(f"{rel}: exists")
    r = subprocess.run(["ls", "workspaces/abc"], cwd=m.dir, capture_output=True)
    if r.returncode == 0 or b"No such file" not in r.stderr:
        wrong.append(f"ls workspaces/abc: {r.returncode} {r.stderr!r}")
    # An instance outside a filter's result is not there either.
    running = [i for i in fleet if i["Status"] == "Running"]
    other = next(s for s in STATUSES if s != "Running")
    if running:
        p = m.path("instances", "status", other, escape_name(running[0]["InstanceId"]))
        if os.path.exists(p):
            wrong.append(f"{p} exists")
    # Four labels (the limit) are fine.
    four = "instances/label/a=1/label/b=2/label/c=3/label/d=4"
    if not os.path.isdir(m.path(four)):
        wrong.append(f"{four}: not a directory")
    assert not wrong, "\n  ".join(wrong)


@test
def well_formed_values_matching_nothing_are_empty_dirs():
    srv, m, fleet = shared()
    present = {i["Status"] for i in fleet}
    absent = [s for s in STATUSES if s not in present]
    rels = ["instances/instance-name/no-such-instance-zz9", "workspaces/999999999",
            "instances/min-cpu/999999999", "instances/create-time-before/1990-01-01T00:00:00Z",
            "instances/label/no-such-label=x", "instances/tag/no-such-tag=x"]
    rels += [f"instances/status/{absent[0]}"] if absent else []
    for rel in rels:
        eq(os.listdir(m.path(rel)), [], rel)
        eq(json.loads(read(m.path(rel, "instances.json"))), [], rel + "/instances.json")
        r = subprocess.run(["jq", "length", f"{rel}/instances.json"], cwd=m.dir,
                           capture_output=True)
        eq(r.stdout.strip(), b"0", f"jq length {rel}/instances.json")


@test
def key_dirs_are_hidden_but_list_their_values():
    srv, m, fleet = shared()
    listing = os.listdir(m.path("instances"))
    for key in FILTER_PARAMS:
        assert key not in listing, f"key dir {key} listed in instances/"
        assert os.path.isdir(m.path("instances", key)), f"instances/{key} does not resolve"
    errors = []
    for key in ("status", "workspace-id", "accelerator-type", "payment-type", "accessibility",
                "label", "tag", "gpu-type", "image-name", "resource-id"):
        allv = set(field_values(fleet, key))
        clean = {v for v in allv if plain(v) and (key not in ENUMS or v in ENUMS[key])}
        if key in ("label", "tag"):
            clean = {v for v in clean if kv_ok(*v.split("=", 1))}
        got = set(os.listdir(m.path("instances", key)))
        if not clean <= got <= allv:
            errors.append(f"ls instances/{key}: missing {sorted(clean - got)[:5]}, "
                          f"unexpected {sorted(got - allv)[:5]}")
        for v in sorted(got)[:3]:
            if len(os.listdir(m.path("instances", key, v))) < 1:
                errors.append(f"instances/{key}/{v} lists no instance")
    # Below another query: the values among that query's instances.
    ws = collections.Counter(i["WorkspaceId"] for i in fleet).most_common(1)[0][0]
    in_ws = {i["Status"] for i in fleet if i["WorkspaceId"] == ws}
    r = subprocess.run(["ls", f"workspaces/{ws}/status/"], cwd=m.dir, capture_output=True)
    eq(set(r.stdout.decode().split()), in_ws, f"ls workspaces/{ws}/status/")
    eq(set(os.listdir(m.path("instances", "status", "Running", "payment-type"))),
       {i["PaymentType"] for i in fleet if i["Status"] == "Running"},
       "instances/status/Running/payment-type")
    # A key already used by the path is not there again.
    assert not os.path.exists(m.path("instances", "status", "Running", "status")), \
        "instances/status/Running/status exists"
    acc = {i["AcceleratorType"] for i in fleet if i["Status"] == "Running"} & ENUMS["accelerator-type"]
    eq(set(os.listdir(m.path("instances", "status", "Running", "accelerator-type"))), acc,
       "instances/status/Running/accelerator-type")
    assert not errors, "\n  ".join(errors)


@test
def dot_query_is_hidden_and_describes_the_query():
    srv, m, fleet = shared()
    for rel, want in (("instances", ["WorkspaceId=ALL"]),
                      ("instances/status/Running", ["Status=Running"]),
                      (f"workspaces/{fleet[0]['WorkspaceId']}",
                       [f"WorkspaceId={fleet[0]['WorkspaceId']}"])):
        assert ".query" not in os.listdir(m.path(rel)), f".query listed in {rel}"
        r = subprocess.run(["ls", "-a", rel], cwd=m.dir, capture_output=True)
        assert b".query" not in r.stdout, f"ls -a {rel} shows .query"
        data = read(m.path(rel, ".query"))
        eq(os.stat(m.path(rel, ".query")).st_size, len(data), f"{rel}/.query size")
        for w in want:
            assert w in data.decode(), f"{rel}/.query lacks {w}: {data!r}"


@test
def instance_dirs_below_filters():
    srv, m, fleet = shared()
    for inst in fleet[:20]:
        iid = escape_name(inst["InstanceId"])
        d = m.path("instances", "status", inst["Status"], iid)
        eq(read(os.path.join(d, "Status")), (inst["Status"] + "\n").encode(), d)
        d = m.path("workspaces", inst["WorkspaceId"], iid)
        eq(read(os.path.join(d, "InstanceId")), (inst["InstanceId"] + "\n").encode(), d)
        eq(json.loads(read(os.path.join(d, "instance.json"))), redact(inst), d)


@test
def base_options_workspace_id_and_resource_id():
    srv, _, fleet = shared()
    ws = collections.Counter(i["WorkspaceId"] for i in fleet).most_common(2)[1][0]
    want = server_query(srv, {"WorkspaceId": ws, "ResourceId": "ALL"})
    assert 0 < len(want) < len(fleet), (ws, len(want))
    with Mount(srv, f"workspace_id={ws}") as m:
        eq(set(os.listdir(m.path("instances"))),
           {escape_name(i["InstanceId"]) for i in want}, "instances/")
        eq(len(os.listdir(m.path("by-name"))), len(want), "by-name/ entries")
        eq(os.listdir(m.path("workspaces")), [ws], "workspaces/")
    rid = next((v for v, _ in field_values(fleet, "resource-id").most_common() if plain(v)),
               None)
    if rid is None:
        return
    want = server_query(srv, {"WorkspaceId": "ALL", "ResourceId": rid})
    with Mount(srv, f"resource_id={rid}") as m:
        eq(set(os.listdir(m.path("instances"))),
           {escape_name(i["InstanceId"]) for i in want},
           f"instances/ with resource_id={rid}")


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
