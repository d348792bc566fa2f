"""test_mount_tree: a real dswfs mount over the local server: the tree, every field file against
the JSON, exact sizes and metadata, by-name links for awkward names, workspaces/, secrets and
read-only behaviour. One server and one mount are shared by the tests of this file."""
import calendar
import copy
import errno
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AK_SECRET, ROOT, Mount, REDACTED, Shared, eq, escape_name,  # noqa: E402
                     expected_tree, read, read_ctl_stats, redact, render_scalar, run,
                     secret_values, server_query, test)

N = 60  # generated instances (the first ~30 carry the fleet's own awkward cases); ours on top
SEED = 11
BASE = {"WorkspaceId": "ALL", "ResourceId": "ALL"}

# Names the by-name/ escaping must survive (the generated fleet has some of these too).
AWKWARD_NAMES = ["a/b", "line\nbreak", ".", "..", "ユニコード-名前 ✓", "x" * 300, "é" * 200,
                 "dup", "dup", "dup", "50%", "tab\there", "-dash", " spaced ", "", "with@at"]
# Secrets carried by one awkward instance, so the redaction tests never run on a fleet without.
PLANTED = {"ImageAuth": "cGxhbnRlZDpzM2NyM3QtaW1hZ2UtcGFzcw==",
           "EnvironmentVariables": {"API_TOKEN": "tok-planted-7f3a9c2b1e", "EMPTY": ""},
           "CredentialConfig": {"Enable": True, "AliyunEnvRoleKey": "0", "Configs": [
               {"Key": "0", "Type": "Role", "Roles": [{
                   "RoleArn": "acs:ram::1234567890:role/planted-role",
                   "RoleType": "service", "AssumeRoleFor": "1234567890", "Policy": "{}",
                   "UserInfo": {"Id": "456", "Type": "sub", "AccessKeyId": "LTAIplantedKey42",
                                "SecurityToken": "planted-sts-token-abcdef"}}]}]}}


def add_awkward(srv):
    fleet = srv.fleet()["Instances"]
    tmpl = fleet[0]
    ids = {i["InstanceId"] for i in fleet}
    n = 0

    def new_id():
        nonlocal n
        while True:
            n += 1
            cand = tmpl["InstanceId"][:-6] + "%06d" % (900000 + n)
            if cand not in ids:
                ids.add(cand)
                return cand

    for k, name in enumerate(AWKWARD_NAMES + [None, "missing"]):
        inst = copy.deepcopy(tmpl)
        inst["InstanceId"] = new_id()
        if name == "missing":
            del inst["InstanceName"]
        else:
            inst["InstanceName"] = name
        if k == 0:
            inst.update(copy.deepcopy(PLANTED))
        srv.control("POST", "instances", inst)


S = Shared(N, SEED, mount=True, prepare=add_awkward)
shared = S.mount


def fleet_of(srv):
    return srv.fleet()["Instances"]


def parse_time(s):
    try:
        return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None


def sh(cmd, cwd=None, check=True):
    r = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r


def compare_dir(path, exp, times, errors, counts):
    """Compares the directory at path with expected_tree() output; appends mismatches."""
    try:
        names = set(os.listdir(path))
    except OSError as e:
        errors.append(f"{path}: listdir: {e}")
        return
    want = set(exp)
    if names != want:
        errors.append(f"{path}: unexpected {sorted(names - want)[:5]} "
                      f"missing {sorted(want - names)[:5]}")
    mtime, ctime = times
    for name in sorted(names & want):
        p = os.path.join(path, name)
        kind, value = exp[name]
        st = os.lstat(p)
        if st.st_uid != os.getuid() or st.st_gid != os.getgid():
            errors.append(f"{p}: owner {st.st_uid}:{st.st_gid}")
        if mtime is not None and int(st.st_mtime) != mtime:
            errors.append(f"{p}: mtime {int(st.st_mtime)} != GmtModifiedTime {mtime}")
        if ctime is not None and int(st.st_ctime) != ctime:
            errors.append(f"{p}: ctime {int(st.st_ctime)} != GmtCreateTime {ctime}")
        if kind == "dir":
            if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o555:
                errors.append(f"{p}: mode {oct(st.st_mode)}, want dir 0555")
                continue
            counts["dirs"] += 1
            compare_dir(p, value, times, errors, counts)
            continue
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o444:
            errors.append(f"{p}: mode {oct(st.st_mode)}, want file 0444")
            continue
        data = read(p)
        counts["files"] += 1
        if st.st_size != len(data):
            errors.append(f"{p}: st_size {st.st_size} != {len(data)} bytes read")
        if kind == "scalar":
            want_bytes = render_scalar(value)
            if want_bytes is None or (isinstance(value, int) and abs(value) > 2 ** 53):
                try:
                    ok = data.endswith(b"\n") and float(data) == float(value)
                except ValueError:
                    ok = False
                if not ok:
                    errors.append(f"{p}: {data!r} is not the number {value!r}")
            elif data != want_bytes:
                errors.append(f"{p}: {data[:80]!r} != {want_bytes[:80]!r}")
        else:
            try:
                ok = data.endswith(b"\n") and json.loads(data) == value
            except ValueError:
                ok = False
            if not ok:
                errors.append(f"{p}: JSON differs from the instance: {data[:120]!r}")


@test
def root_and_control_listing():
    srv, m = shared()
    top = ["instances", "workspaces", "by-name", ".dswfs", "workspaces-by-name", "users",
           "users-by-name"]
    eq(sorted(os.listdir(m.dir)), sorted(top), "root")
    eq(sorted(os.listdir(m.path(".dswfs"))),
       ["config", "last_error", "metrics", "refresh", "stats", "version"], ".dswfs")
    for d in [""] + top:
        st = os.stat(m.path(d))
        assert stat.S_ISDIR(st.st_mode), d
        eq(oct(stat.S_IMODE(st.st_mode)), oct(0o555), f"mode of /{d}")
        eq((st.st_uid, st.st_gid), (os.getuid(), os.getgid()), f"owner of /{d}")
    ls = sh("ls -A", cwd=m.dir).stdout.decode().split()
    eq(sorted(ls), sorted(top), "ls -A /")


@test
def instances_lists_every_instance_and_nothing_else():
    srv, m = shared()
    fleet = fleet_of(srv)
    want = {escape_name(i["InstanceId"]) for i in fleet}
    got = os.listdir(m.path("instances"))
    eq(len(got), len(set(got)), "duplicate entries in instances/")
    eq(set(got), want, "instances/ listing")
    # What ls -A shows is exactly that too: no key dirs, no .query.
    ls = sh("ls -A instances | wc -l", cwd=m.dir).stdout.decode().strip()
    eq(int(ls), len(fleet), "ls -A instances | wc -l")
    ls = sh("ls instances | wc -l", cwd=m.dir).stdout.decode().strip()
    eq(int(ls), len(fleet), "ls instances | wc -l")
    # The views that repeat the data are there by name, not listed.
    assert "instances.json" not in got, "instances.json listed in instances/"
    one = escape_name(fleet[0]["InstanceId"])
    assert "instance.json" not in os.listdir(m.path("instances", one)), "instance.json listed"
    assert os.path.isfile(m.path("instances", "instances.json"))
    assert os.path.isfile(m.path("instances", one, "instance.json"))
    found = sh("find instances -name instance.json -o -name instances.json | wc -l",
               cwd=m.dir).stdout.decode().strip()
    eq(found, "0", "find sees instance.json / instances.json")
    # grep -r finds a value in its own field file only, not again in the two JSON views.
    for inst in fleet[:5]:
        iid = inst["InstanceId"]
        r = sh(f"grep -r -F -l -e {shlex.quote(iid)} instances", cwd=m.dir, check=False)
        hits = r.stdout.decode(errors="replace").split()
        own = os.path.join("instances", escape_name(iid), "InstanceId")
        assert own in hits, (iid, hits[:5])
        eq([h for h in hits if h.endswith(("/instance.json", "/instances.json"))], [],
           f"grep -r for {iid}: JSON views")
        eq(len(set(hits)), len(hits), f"grep -r for {iid}: files seen twice")
    for hidden in (".query", "status", "label", "workspace-id"):
        assert hidden not in got, f"{hidden} listed in instances/"


@test
def instances_json_equals_fleet_and_jq_works():
    srv, m = shared()
    fleet = fleet_of(srv)
    p = m.path("instances", "instances.json")
    data = read(p)
    eq(os.stat(p).st_size, len(data), "st_size of instances.json")
    assert data.endswith(b"\n"), "instances.json does not end in a newline"
    arr = json.loads(data)
    assert isinstance(arr, list), "instances.json is not an array"
    eq(len(arr), len(fleet), "instances in instances.json")
    eq({i["InstanceId"]: i for i in arr}, {i["InstanceId"]: redact(i) for i in fleet},
       "instances.json vs the fleet (redacted)")
    r = sh("jq length instances/instances.json", cwd=m.dir)
    eq(int(r.stdout), len(fleet), "jq length")
    r = sh("jq -r '.[] | select(.Status == \"Running\") | .InstanceId' instances/instances.json",
           cwd=m.dir)
    eq(sorted(r.stdout.decode().split()),
       sorted(i["InstanceId"] for i in fleet if i.get("Status") == "Running"), "jq select")
    # The same objects as their instance.json.
    for inst in arr[:10]:
        one = json.loads(read(m.path("instances", escape_name(inst["InstanceId"]),
                                     "instance.json")))
        eq(one, inst, f"instance.json of {inst['InstanceId']}")


@test
def every_field_file_matches_the_json():
    srv, m = shared()
    fleet = fleet_of(srv)
    errors, counts = [], {"files": 0, "dirs": 0}
    for inst in fleet:
        d = m.path("instances", escape_name(inst["InstanceId"]))
        mtime, ctime = parse_time(inst.get("GmtModifiedTime")), parse_time(inst.get("GmtCreateTime"))
        if mtime is None:  # never modified (null or missing): last changed when created
            mtime = ctime
        st = os.stat(d)
        if mtime is not None and int(st.st_mtime) != mtime:
            errors.append(f"{d}: mtime {int(st.st_mtime)} != GmtModifiedTime {mtime}")
        if ctime is not None and int(st.st_ctime) != ctime:
            errors.append(f"{d}: ctime {int(st.st_ctime)} != GmtCreateTime {ctime}")
        compare_dir(d, expected_tree(redact(inst)), (mtime, ctime), errors, counts)
        if len(errors) > 40:
            break
    assert not errors, f"{len(errors)}+ mismatches:\n  " + "\n  ".join(errors[:40])
    assert counts["files"] > 20 * len(fleet), f"only {counts['files']} files compared"
    assert counts["dirs"] >= len(fleet), f"only {counts['dirs']} object dirs compared"


@test
def sizes_are_exact_for_stat_and_cat():
    """stat's size is what cat prints, for a sample of files read with the real tools."""
    srv, m = shared()
    r = sh("find instances -maxdepth 2 -type f | head -400", cwd=m.dir)
    files = r.stdout.decode().splitlines()
    assert len(files) >= 400, f"find found {len(files)} files"
    files += ["instances/instances.json", ".dswfs/version", ".dswfs/config",
              ".dswfs/last_error"]
    sizes = subprocess.run(["stat", "-c", "%s"] + files, cwd=m.dir, capture_output=True,
                           timeout=120)
    eq(sizes.returncode, 0, f"stat: {sizes.stderr[-300:]!r}")
    counts = subprocess.run(["wc", "-c"] + files, cwd=m.dir, capture_output=True, timeout=120)
    eq(counts.returncode, 0, f"wc -c: {counts.stderr[-300:]!r}")
    read_sizes = [line.split()[0] for line in counts.stdout.decode().splitlines()][:len(files)]
    bad = [(f, a, b) for f, a, b in zip(files, sizes.stdout.decode().split(), read_sizes)
           if a != b]
    eq(len(read_sizes), len(files), "files counted by wc -c")
    assert not bad, f"stat size != bytes read by wc -c: {bad[:10]}"


@test
def control_files():
    srv, m = shared()
    version = read(m.path(".dswfs", "version")).decode()
    with open(os.path.join(ROOT, "Makefile")) as f:
        v = re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)
    assert v in version and version.endswith("\n"), f"version: {version!r}"
    config = read(m.path(".dswfs", "config")).decode()
    assert AK_SECRET not in config, "config shows the access key secret"
    assert srv.url in config, f"config does not show the endpoint: {config!r}"
    for name in ("ttl", "page_size", "workspace_id", "resource_id", "show_secrets"):
        assert re.search(rf"^{name}\b", config, re.M), f"config lacks {name}: {config!r}"
    eq(read(m.path(".dswfs", "last_error")), b"", "last_error on a healthy mount")
    text = read(m.path(".dswfs", "stats")).decode()
    assert text.endswith("\n"), f"stats is cut short: {text[-80:]!r}"
    for line in text.splitlines():
        assert re.fullmatch(r"[a-z_]+ -?[0-9][0-9.e+]*", line), f"stats line {line!r}"
    st = read_ctl_stats(m)
    for name in ("api_requests", "api_pages", "cache_hits", "cache_misses", "api_errors",
                 "api_bytes"):
        assert isinstance(st.get(name), int), f"stats lacks {name}: {text!r}"
    assert st["api_requests"] >= 1 and st["api_pages"] >= 1 and st["api_bytes"] > 0, text
    # stats is live: more requests show up in the next cat, complete each time. A read of a
    # cached file reaches no daemon (the kernel answers it), a lookup of a new name does.
    assert not os.path.exists(m.path("instances", "no-such-instance"))
    st2 = read_ctl_stats(m)
    assert st2["cache_hits"] + st2["cache_misses"] > st["cache_hits"] + st["cache_misses"], \
        f"cache counters did not move: {st} -> {st2}"
    assert st2["fs_lookup"] > st["fs_lookup"], f"fs_lookup did not move: {st} -> {st2}"


@test
def by_name_links_for_awkward_names():
    srv, m = shared()
    fleet = fleet_of(srv)
    byname = m.path("by-name")
    entries = os.listdir(byname)
    eq(len(entries), len(fleet), "entries in by-name/")
    r = sh("ls -A by-name | wc -l", cwd=m.dir)
    eq(int(r.stdout), len(fleet), "ls -A by-name | wc -l")
    names = {}
    for inst in fleet:
        n = inst.get("InstanceName")
        names[n] = names.get(n, 0) + 1
    link_of = {}
    errors = []
    for e in entries:
        p = os.path.join(byname, e)
        st = os.lstat(p)
        if not stat.S_ISLNK(st.st_mode):
            errors.append(f"{e!r} is not a symlink")
            continue
        target = os.readlink(p)
        if st.st_size != len(target):
            errors.append(f"{e!r}: lstat size {st.st_size} != len({target!r})")
        if not target.startswith("../instances/"):
            errors.append(f"{e!r} -> {target!r}")
            continue
        iid = read(os.path.join(p, "InstanceId")).decode()[:-1]
        if escape_name(iid) != target[len("../instances/"):]:
            errors.append(f"{e!r} -> {target!r} but resolves to {iid!r}")
        if iid in link_of:
            errors.append(f"{iid} linked twice: {link_of[iid]!r} and {e!r}")
        link_of[iid] = e
    eq(set(link_of), {i["InstanceId"] for i in fleet}, "instances reachable from by-name")
    for inst in fleet:
        iid, n = inst["InstanceId"], inst.get("InstanceName")
        e = link_of.get(iid)
        if e is None:
            continue
        if n is None:
            ok = e == "@" + escape_name(iid)
        elif names[n] > 1:
            full = escape_name(n + "@" + iid)
            ok = e in {f"{escape_name(n)}@{iid}", full} if full else e.endswith("@" + iid) or \
                re.search(r"~[0-9a-fA-F]{8}$", e)
        elif escape_name(n) is None:
            ok = len(e.encode()) <= 255 and re.search(r"~[0-9a-fA-F]{8}$", e) and \
                n.encode().startswith(e.encode()[:100])
        elif n == "":
            ok = e in ("%00", "@" + iid)
        else:
            ok = e == escape_name(n)
        if not ok:
            errors.append(f"instance {iid} named {n!r} has by-name entry {e!r}")
    assert not errors, "\n  ".join(errors[:30])
    # Real tools follow the escaped names too.
    eq(sh("cat 'by-name/a%2Fb/InstanceName'", cwd=m.dir).stdout, b"a/b\n", "cat via by-name")
    eq(sh("cat 'by-name/line%0Abreak/InstanceName'", cwd=m.dir).stdout, b"line\nbreak\n",
       "cat via by-name with newline")
    assert any(e.startswith("dup@") for e in entries), "no dup@<id> entries"
    assert "dup" not in entries, "a shared name is also listed bare"


@test
def ls_by_name_wc_l_counts_every_instance():
    """The issue's own words: `ls by-name | wc -l` equals the number of instances (plain ls,
    which hides names starting with '.', such as an instance called ".hidden")."""
    srv, m = shared()
    fleet = fleet_of(srv)
    r = sh("ls by-name | wc -l", cwd=m.dir)
    dot = sorted(e for e in os.listdir(m.path("by-name")) if e.startswith("."))
    eq(int(r.stdout), len(fleet), f"ls by-name | wc -l (entries ls hides: {dot})")


@test
def workspaces_lists_exactly_the_fleets_workspaces():
    srv, m = shared()
    fleet = fleet_of(srv)
    ws = {i["WorkspaceId"] for i in fleet if isinstance(i.get("WorkspaceId"), str)}
    ws = {w for w in ws if w and "/" not in w and w not in (".", "..")}
    eq(set(os.listdir(m.path("workspaces"))), ws, "workspaces/")
    assert len(ws) >= 2, f"fleet has only workspaces {ws}"
    for w in sorted(ws)[:3]:
        want = server_query(srv, {"WorkspaceId": w, "ResourceId": "ALL"})
        got = set(os.listdir(m.path("workspaces", w)))
        eq(got, {escape_name(i["InstanceId"]) for i in want},
           f"workspaces/{w}/")
        arr = json.loads(read(m.path("workspaces", w, "instances.json")))
        eq({i["InstanceId"]: i for i in arr}, {i["InstanceId"]: redact(i) for i in want},
           f"workspaces/{w}/instances.json")
        one = sorted(got)[0]
        eq(read(m.path("workspaces", w, one, "WorkspaceId")), (w + "\n").encode(),
           f"workspaces/{w}/{one}/WorkspaceId")


@test
def secrets_are_absent_from_the_whole_mount():
    srv, m = shared()
    fleet = fleet_of(srv)
    secrets = secret_values(fleet)
    planted = [PLANTED["ImageAuth"], PLANTED["EnvironmentVariables"]["API_TOKEN"],
               "planted-sts-token-abcdef", "LTAIplantedKey42"]
    for s in planted:
        assert s in secrets, f"planted secret {s!r} missing from the fleet"
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(secrets) + "\n")
    try:
        r = subprocess.run(["grep", "-r", "-F", "-l", "-f", f.name, "."], cwd=m.dir,
                           capture_output=True, timeout=120)
    finally:
        os.unlink(f.name)
    eq(r.returncode, 1, f"grep -r for {len(secrets)} secrets: matched {r.stdout[:400]!r} "
       f"errors {r.stderr[-400:]!r}")
    # The places that held them say so instead.
    planted_id = next(i["InstanceId"] for i in fleet
                      if i.get("ImageAuth") == PLANTED["ImageAuth"])
    d = m.path("instances", escape_name(planted_id))
    eq(read(os.path.join(d, "ImageAuth")), REDACTED.encode() + b"\n", "ImageAuth")
    eq(read(os.path.join(d, "EnvironmentVariables", "API_TOKEN")), REDACTED.encode() + b"\n",
       "EnvironmentVariables/API_TOKEN")
    eq(read(os.path.join(d, "CredentialConfig", "Enable")), REDACTED.encode() + b"\n",
       "CredentialConfig/Enable")
    roles = json.loads(read(os.path.join(d, "CredentialConfig", "Configs.json")))
    eq(roles[0]["Roles"][0]["UserInfo"]["SecurityToken"], REDACTED, "nested SecurityToken")
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            assert not any(s in n for s in secrets), f"secret in a file name: {root}/{n}"


@test
def show_secrets_shows_them():
    srv, _ = shared()
    fleet = fleet_of(srv)
    with Mount(srv, "show_secrets") as m:
        arr = json.loads(read(m.path("instances", "instances.json")))
        eq({i["InstanceId"]: i for i in arr}, {i["InstanceId"]: i for i in fleet},
           "instances.json with show_secrets")
        planted_id = next(i["InstanceId"] for i in fleet
                          if i.get("ImageAuth") == PLANTED["ImageAuth"])
        d = m.path("instances", escape_name(planted_id))
        eq(read(os.path.join(d, "ImageAuth")), PLANTED["ImageAuth"].encode() + b"\n",
           "ImageAuth")
        eq(read(os.path.join(d, "EnvironmentVariables", "API_TOKEN")),
           b"tok-planted-7f3a9c2b1e\n", "EnvironmentVariables/API_TOKEN")
        eq(read(os.path.join(d, "CredentialConfig", "Enable")), b"true\n",
           "CredentialConfig/Enable")
        r = sh(f"grep -r -F -l planted-sts-token-abcdef instances/{escape_name(planted_id)}",
               cwd=m.dir)
        assert b"Configs.json" in r.stdout, r.stdout
        config = read(m.path(".dswfs", "config")).decode()
        assert AK_SECRET not in config, "config shows the access key secret"


def service_passwords(fleet):
    """{InstanceId: {member: password}} of the fleet's SDK-shaped ServiceConfig passwords."""
    out = {}
    for i in fleet:
        sc = i.get("ServiceConfig")
        if isinstance(sc, dict):
            pw = {k: v for k, v in sc.items() if k.endswith("Password") and isinstance(v, str) and v}
            if pw:
                out[i["InstanceId"]] = pw
    return out


def grep_mount(mdir, values, ids=()):
    """The files below mdir holding any of values, plus instances.json and the instance.json of
    each of ids (readable by name, not listed, so grep -r alone does not see them)."""
    named = ["instances/instances.json"] + [f"instances/{escape_name(i)}/instance.json"
                                            for i in ids]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(values) + "\n")
    try:
        r = subprocess.run(["grep", "-r", "-F", "-l", "-f", f.name] + named + ["."],
                           cwd=mdir, capture_output=True, timeout=120)
    finally:
        os.unlink(f.name)
    assert r.returncode in (0, 1), f"grep failed: {r.stderr[-400:]!r}"
    return r.stdout.decode(errors="replace").split()


@test
def service_config_passwords_are_redacted():
    """The SDK's ServiceConfig: CodeServerPassword/JupyterServerPassword never appear in any
    file, instance.json or instances.json; the *Auth modes do; show_secrets shows them."""
    srv, m = shared()
    fleet = fleet_of(srv)
    pws = service_passwords(fleet)
    assert len(pws) >= 3, f"the fleet should carry ServiceConfig passwords: {pws}"
    assert any("ServiceConfig" not in i for i in fleet), "some instances without ServiceConfig"
    values = sorted({v for p in pws.values() for v in p.values()})
    hits = grep_mount(m.dir, values, pws)
    eq(len(hits), 0, f"grep -r for {len(values)} ServiceConfig passwords: in {hits[:8]}")
    for iid, pw in pws.items():
        d = m.path("instances", escape_name(iid))
        sc = next(i for i in fleet if i["InstanceId"] == iid)["ServiceConfig"]
        for k in pw:
            eq(read(os.path.join(d, "ServiceConfig", k)), REDACTED.encode() + b"\n",
               f"{iid}/ServiceConfig/{k}")
        for k in ("CodeServerAuth", "JupyterServerAuth"):
            eq(read(os.path.join(d, "ServiceConfig", k)), sc[k].encode() + b"\n",
               f"{iid}/ServiceConfig/{k} stays visible")
        whole = json.loads(read(os.path.join(d, "instance.json")))
        eq(whole["ServiceConfig"], {k: REDACTED if k.endswith("Password") else v for k, v in sc.items()},
           f"{iid}/instance.json ServiceConfig")
    with Mount(srv, "show_secrets") as m2:
        hits = grep_mount(m2.dir, values, pws)
        assert "instances/instances.json" in hits, hits
        iid, pw = sorted(pws.items())[0]
        k, v = sorted(pw.items())[0]
        d = os.path.join("instances", escape_name(iid))
        eq(read(m2.path(d, "ServiceConfig", k)), v.encode() + b"\n", f"{iid}/ServiceConfig/{k}")
        assert os.path.join(d, "instance.json") in hits, hits
        assert os.path.join(".", d, "instance.json") not in hits, "grep -r saw instance.json"
        assert os.path.join(".", d, "ServiceConfig", k) in hits, hits


@test
def everything_is_read_only():
    srv, m = shared()
    fleet = fleet_of(srv)
    iid = escape_name(fleet[0]["InstanceId"])
    idir = m.path("instances", iid)
    f = os.path.join(idir, "InstanceId")
    link = m.path("by-name", os.listdir(m.path("by-name"))[0])
    before = read(f)

    def write_open(path, flags):
        fd = os.open(path, flags)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)

    ops = {
        "open O_WRONLY": lambda: write_open(f, os.O_WRONLY),
        "open O_RDWR": lambda: write_open(f, os.O_RDWR),
        "open O_TRUNC": lambda: write_open(f, os.O_WRONLY | os.O_TRUNC),
        "open O_APPEND": lambda: write_open(f, os.O_WRONLY | os.O_APPEND),
        "write instances.json": lambda: write_open(m.path("instances", "instances.json"),
                                                   os.O_WRONLY),
        "write .dswfs/stats": lambda: write_open(m.path(".dswfs", "stats"), os.O_WRONLY),
        "create in instances/": lambda: write_open(m.path("instances", "newfile"),
                                                   os.O_WRONLY | os.O_CREAT),
        "create in an instance": lambda: write_open(os.path.join(idir, "NewField"),
                                                    os.O_WRONLY | os.O_CREAT),
        "create in root": lambda: write_open(m.path("newfile"), os.O_WRONLY | os.O_CREAT),
        "mkdir instances/x": lambda: os.mkdir(m.path("instances", "newdir")),
        "mkdir in an instance": lambda: os.mkdir(os.path.join(idir, "NewDir")),
        "mkdir by-name/x": lambda: os.mkdir(m.path("by-name", "newdir")),
        "mkdir /x": lambda: os.mkdir(m.path("newdir")),
        "rename a file": lambda: os.rename(f, os.path.join(idir, "Renamed")),
        "rename an instance": lambda: os.rename(idir, m.path("instances", "renamed")),
        "rename a link": lambda: os.rename(link, m.path("by-name", "renamed")),
        "unlink a file": lambda: os.unlink(f),
        "unlink a link": lambda: os.unlink(link),
        "unlink instances.json": lambda: os.unlink(m.path("instances", "instances.json")),
        "rmdir an instance": lambda: os.rmdir(idir),
        "rmdir instances": lambda: os.rmdir(m.path("instances")),
        "chmod a file": lambda: os.chmod(f, 0o644),
        "chmod a dir": lambda: os.chmod(idir, 0o755),
        "chown a file": lambda: os.chown(f, os.getuid(), os.getgid()),
        "truncate": lambda: os.truncate(f, 0),
        "utime": lambda: os.utime(f, (0, 0)),
        "symlink": lambda: os.symlink("../instances/x", m.path("by-name", "newlink")),
        "hard link": lambda: os.link(f, os.path.join(idir, "HardLink")),
    }
    bad = []
    for name, op in ops.items():
        try:
            op()
        except OSError as e:
            if e.errno != errno.EROFS:
                bad.append(f"{name}: {errno.errorcode.get(e.errno, e.errno)} ({e.strerror})")
        else:
            bad.append(f"{name}: succeeded")
    for cmd in (f"echo x > instances/{iid}/InstanceId", "touch instances/newfile",
                "mkdir instances/newdir", f"rm -f instances/{iid}/Status",
                f"mv instances/{iid}/Status instances/{iid}/S2", f"chmod 600 instances/{iid}"):
        r = sh(cmd, cwd=m.dir, check=False)
        if r.returncode == 0 or b"Read-only file system" not in r.stderr:
            bad.append(f"{cmd!r}: exit {r.returncode} {r.stderr.decode(errors='replace')!r}")
    assert not bad, "not EROFS:\n  " + "\n  ".join(bad)
    eq(read(f), before, "content after the failed writes")
    assert os.path.isdir(idir) and os.path.islink(link), "something was removed"


@test
def statfs_answers():
    srv, m = shared()
    sv = os.statvfs(m.dir)
    assert sv.f_bsize > 0 and sv.f_namemax >= 255, sv
    r = sh(f"df -P {m.dir}")
    assert m.dir in r.stdout.decode(), r.stdout
    r = sh(f"stat -f -c '%T' {m.dir}")
    assert r.stdout.strip(), r.stdout


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
