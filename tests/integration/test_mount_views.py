"""test_mount_views: the rough edges of a first walk, on a real mount: workspaces-by-name/ and
users/ (users-by-name/) views with hostile names, plain-date filters, ids that cannot exist
(ENOENT), "did you mean" hints at verbose=1, undocumented enumeration values asked of the
server, and mtimes that `find -newer` can trust (GmtModifiedTime null -> GmtCreateTime;
instances.json the newest of its instances)."""
import calendar
import errno
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DSWFS, MockServer, Mount, creds_env, eq, escape_name,  # noqa: E402
                     read, run, server_query, test, wait_until)

T0 = "2024-03-01T08:00:00Z"


def ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


# (WorkspaceId, WorkspaceName or None for none) - hostile names on purpose.
WORKSPACES = [
    ("40823", "a/b"), ("86177", "a/b"),          # shared after escaping: both take @<id>
    ("112376", ".."), ("258103", "line\nbreak"), ("331952", "名前 ✓"),
    ("47720", None),                              # no name: "@47720"
    ("50001", "."), ("50002", "x" * 300),         # dot, too long (cut with a hash)
]
USERS = [("1612285282502324", "alice"), ("203748123456789012", "../etc"),
         ("204938572103948571", None), ("1557702098194136", "张伟\t")]


def instance(i, ws, user, created, modified):
    inst = {
        "InstanceId": f"dsw-v{i:04d}", "InstanceName": f"nb-{i}", "Status": "Running",
        "WorkspaceId": ws[0], "UserId": user[0], "PaymentType": "PayAsYouGo",
        "Accessibility": "PRIVATE", "AcceleratorType": "CPU", "ResourceId": "",
        "GmtCreateTime": created, "GmtModifiedTime": modified,
    }
    if ws[1] is not None:
        inst["WorkspaceName"] = ws[1]
    if user[1] is not None:
        inst["UserName"] = user[1]
    return inst


def fleet():
    out = []
    for i in range(24):
        ws, user = WORKSPACES[i % len(WORKSPACES)], USERS[i % len(USERS)]
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts(T0) + i * 86400 * 7))
        # every third instance was never modified: GmtModifiedTime null
        modified = None if i % 3 == 0 else time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts(created) + 3600))
        out.append(instance(i, ws, user, created, modified))
    return out


class Env:
    """A server holding fleet() and a verbose mount of it, for the tests of this file."""

    def __init__(self):
        self.srv = self.mnt = None

    def start(self):
        if self.mnt is None:
            self.srv = MockServer(instances=1).__enter__()
            self.srv.control("POST", "fleet", {"Instances": fleet()})
            self.mnt = Mount(self.srv, "verbose=1").__enter__()
        return self.srv, self.mnt

    def close(self):
        if self.mnt:
            self.mnt.__exit__(None, None, None)
        if self.srv:
            self.srv.__exit__(None, None, None)


E = Env()


def sh(cmd, cwd):
    return subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, timeout=60)


def want_ws_links():
    """What workspaces-by-name/ must hold: escaped name (suffixed when shared or missing) -> id."""
    escaped = {ws: (escape_name(n) if n is not None else None) for ws, n in WORKSPACES
               if n is None or escape_name(n) is not None}  # too long: checked apart
    count = {}
    for e in escaped.values():
        if e is not None:
            count[e] = count.get(e, 0) + 1
    out = {}
    for ws, e in escaped.items():
        if e is None or count[e] > 1:
            out[f"{(e or '').replace('@', '%40')}@{ws}"] = ws
        else:
            out[e] = ws
    return out


@test
def workspaces_by_name_links_to_workspace_dirs():
    srv, m = E.start()
    names = sorted(os.listdir(m.path("workspaces-by-name")))
    want = want_ws_links()
    long_name = [n for n in names if n.startswith("xxx")]
    # the 300-byte name is cut with a hash suffix: check it separately
    eq(len(long_name), 1, "the too-long name")
    eq(sorted(n for n in names if not n.startswith("xxx")),
       sorted(n for n in want if not n.startswith("xxx")), "workspaces-by-name/")
    assert len(long_name[0].encode()) <= 255, long_name
    want[long_name[0]] = "50002"
    for name, ws in want.items():
        if name.startswith("xxx") and name != long_name[0]:
            continue
        p = m.path("workspaces-by-name", name)
        eq(os.readlink(p), f"../workspaces/{ws}", f"readlink {name!r}")
        assert os.path.isdir(p), p
        # through the link: the workspace's query directory, same instances
        got = sorted(e for e in os.listdir(p))
        exp = sorted(i["InstanceId"] for i in fleet() if i["WorkspaceId"] == ws)
        eq(got, exp, f"ls workspaces-by-name/{name!r}")
    # shell tools on the hostile names: ls, readlink, cat through the link
    r = sh("ls workspaces-by-name | wc -l", m.dir)
    eq(int(r.stdout), len(WORKSPACES), "ls workspaces-by-name | wc -l")
    r = sh("readlink 'workspaces-by-name/a%2Fb@40823'", m.dir)
    eq(r.stdout, b"../workspaces/40823\n", "readlink a%2Fb@40823")
    r = sh("cat workspaces-by-name/%2E%2E/dsw-v0002/WorkspaceName", m.dir)
    eq(r.stdout, b"..\n", "cat through the .. workspace's link")
    r = sh("cat 'workspaces-by-name/line%0Abreak/dsw-v0003/WorkspaceName'", m.dir)
    eq(r.stdout, b"line\nbreak\n", "cat through the newline workspace's link")
    r = sh("cat 'workspaces-by-name/名前 ✓/dsw-v0004/WorkspaceId'", m.dir)
    eq(r.stdout, b"331952\n", "cat through the unicode workspace's link")
    r = sh("cat workspaces-by-name/@47720/instances.json | jq -r '.[].WorkspaceId' | sort -u",
           m.dir)
    eq(r.stdout, b"47720\n", "instances.json through the nameless workspace's link")
    for gone in ("a%2Fb", "a/b", "a%2Fb@1", "nosuch"):
        try:
            os.lstat(m.path("workspaces-by-name", gone))
            raise AssertionError(f"workspaces-by-name/{gone} exists")
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            pass


@test
def users_are_query_dirs_with_name_links():
    srv, m = E.start()
    ids = sorted(os.listdir(m.path("users")))
    eq(ids, sorted(u for u, _ in USERS), "users/")
    for uid, _ in USERS:
        got = sorted(os.listdir(m.path("users", uid)))
        exp = sorted(i["InstanceId"] for i in server_query(
            srv, {"WorkspaceId": "ALL", "ResourceId": "ALL", "CreateUserId": uid}))
        eq(got, exp, f"users/{uid}")
        # the same query as the filter key, and it chains like any query directory
        eq(sorted(os.listdir(m.path("instances", "create-user-id", uid))), exp,
           f"instances/create-user-id/{uid}")
        assert os.path.isdir(m.path("users", uid, "status", "Running"))
    names = sorted(os.listdir(m.path("users-by-name")))
    eq(names, sorted(["alice", "%2E.%2Fetc", "@204938572103948571", "张伟%09"]),
       "users-by-name/")
    eq(os.readlink(m.path("users-by-name", "%2E.%2Fetc")), "../users/203748123456789012",
       "readlink %2E.%2Fetc")
    r = sh("cat users-by-name/alice/dsw-v0000/UserName", m.dir)
    eq(r.stdout, b"alice\n", "cat through users-by-name/alice")
    eq(json.loads(read(m.path("users", "1612285282502324", "instances.json")))[0]["UserId"],
       "1612285282502324", "users/<id>/instances.json")


@test
def ids_that_cannot_exist_are_enoent_with_a_hint():
    srv, m = E.start()
    for rel in ("workspaces/abc", "workspaces/abc/instances.json", "users/alice",
                "instances/stauts", "workspaces-by-name/nosuch", "users-by-name/nosuch"):
        try:
            os.stat(m.path(rel))
            raise AssertionError(f"{rel} exists")
        except OSError as e:
            eq(e.errno, errno.ENOENT, rel)
    r = sh("ls workspaces/abc", m.dir)
    assert r.returncode != 0 and b"No such file" in r.stderr, r
    wait_until(lambda: "did you mean \"status\"" in m.output(), timeout=10,
               what="a did-you-mean hint for stauts in the log")
    assert "workspace id is decimal digits" in m.output(), m.output()[-2000:]


@test
def plain_dates_filter_like_the_timestamp():
    srv, m = E.start()
    after = "2024-05-01"
    got = sorted(os.listdir(m.path("instances", "create-time-after", after)))
    exp = sorted(i["InstanceId"] for i in fleet() if ts(i["GmtCreateTime"]) >= ts(after + "T00:00:00Z"))
    assert exp and len(exp) < len(fleet()), exp
    eq(got, exp, "create-time-after/2024-05-01")
    eq(sorted(os.listdir(m.path("instances", "create-time-after", after + "T00:00:00Z"))), exp,
       "create-time-after/2024-05-01T00:00:00Z")
    before = sorted(os.listdir(m.path("instances", "create-time-before", after)))
    eq(before, sorted(set(i["InstanceId"] for i in fleet()) - set(exp)), "create-time-before")
    # one query, however it is spelt
    q1 = read(m.path("instances", "create-time-after", after, ".query")).decode().split("\n")[0]
    q2 = read(m.path("instances", "create-time-after", after + "T00:00:00Z",
                     ".query")).decode().split("\n")[0]
    eq(q1, q2, ".query of both spellings")
    assert "CreateTimeAfter=2024-05-01T00%3A00%3A00Z" in q1, q1


@test
def undocumented_enum_values_are_the_servers_call():
    srv, m = E.start()
    # the local server rejects it as the service does (ValidationError): EINVAL, not ENOENT
    r = sh("ls instances/status/Runing", m.dir)
    assert r.returncode != 0 and b"Invalid argument" in r.stderr, r
    last = read(m.path(".dswfs", "last_error")).decode()
    assert "Runing" in last and "ValidationError" in last, last
    wait_until(lambda: "did you mean Running" in m.output(), timeout=10,
               what="a did-you-mean hint for Runing in the log")


@test
def find_newer_trusts_instance_times():
    srv, m = E.start()
    by_id = {i["InstanceId"]: i for i in fleet()}
    for iid, inst in by_id.items():
        st = os.stat(m.path("instances", iid))
        want = ts(inst["GmtModifiedTime"] or inst["GmtCreateTime"])
        eq(int(st.st_mtime), want, f"mtime of {iid} (GmtModifiedTime {inst['GmtModifiedTime']})")
        eq(int(os.stat(m.path("instances", iid, "Status")).st_mtime), want, f"{iid}/Status")
    newest = max(ts(i["GmtModifiedTime"] or i["GmtCreateTime"]) for i in fleet())
    eq(int(os.stat(m.path("instances", "instances.json")).st_mtime), newest, "instances.json")
    # a refresh changes nothing find -newer sees: no instance changed
    ref = os.path.join(os.path.dirname(m.dir), f"dswfs-ref-{os.getpid()}")
    mid = ts(by_id["dsw-v0012"]["GmtCreateTime"])
    try:
        open(ref, "w").close()
        os.utime(ref, (mid, mid))
        cmd = f"find instances -maxdepth 1 -name 'dsw-*' -newer {ref} | sort"
        before = sh(cmd, m.dir).stdout
        with open(m.path(".dswfs", "refresh"), "w") as f:
            f.write("1\n")
        after = sh(cmd, m.dir).stdout
        eq(after, before, "find -newer across a refresh")
        exp = sorted(f"instances/{iid}" for iid, i in by_id.items()
                     if ts(i["GmtModifiedTime"] or i["GmtCreateTime"]) > mid)
        eq(after.decode().split(), exp, "find -newer")
        # never-modified instances are not 'newer' than a reference after their creation
        never = [iid for iid, i in by_id.items() if i["GmtModifiedTime"] is None]
        assert never and not any(f"instances/{iid}" in after.decode() for iid in never
                                 if ts(by_id[iid]["GmtCreateTime"]) <= mid)
    finally:
        os.unlink(ref)


@test
def readme_counts_hold():
    """The README's `ls mnt/instances | wc -l` is the number of instances (instances.json and
    .query are read by name, not listed), and `ls -a` does not show .query either."""
    srv, m = E.start()
    eq(int(sh("ls instances | wc -l", m.dir).stdout), len(fleet()), "ls instances | wc -l")
    eq(int(sh("ls -A instances | wc -l", m.dir).stdout), len(fleet()), "ls -A instances | wc -l")
    assert sh("cat instances/.query", m.dir).stdout.startswith(b"query "), "cat .query"


@test
def query_command_says_did_you_mean():
    srv, m = E.start()
    for path, says in (("instances/stauts/Running", 'did you mean "status"'),
                       ("workspaces/abc", "a workspace id is decimal digits")):
        r = subprocess.run([DSWFS, "-o", f"endpoint={srv.url}", "--query", path],
                           env=creds_env(), capture_output=True, text=True, timeout=60)
        eq(r.returncode, 1, f"--query {path}")
        eq(r.stdout, "", f"--query {path} stdout")
        assert says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([DSWFS, "-o", f"endpoint={srv.url}", "--query",
                        "instances/create-time-after/2024-05-01"],
                       env=creds_env(), capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, r.stderr)
    eq(sorted(i["InstanceId"] for i in json.loads(r.stdout)),
       sorted(os.listdir(m.path("instances", "create-time-after", "2024-05-01"))),
       "--query with a plain date")


if __name__ == "__main__":
    try:
        run()
    finally:
        E.close()
