"""test_mount_coherence: the kernel's caches never show a reader something the server did not
say. Concurrent readers (open + fstat + read, stat, cat, grep -r, instances.json) run while the
server's fleet is mutated (fields patched to values of changing length, instances added and
deleted) and refreshes are forced; every read must be as long as fstat on the same descriptor
says, and equal to a value the server held for that field at some point. After the churn, every
file shows the server's latest value within one TTL."""
import errno
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mount, MockServer, escape_name, read_ctl_stats, run, test  # noqa: E402

N = 24
SEED = 11
TTL = 2
FIELD = "StressField"
SECONDS = float(os.environ.get("DSWFS_COHERENCE_SECONDS", "40"))
LENGTHS = [0, 7, 300, 4090, 4096, 5000, 9000, 20000]


class History:
    """Every value the server held for FIELD, per instance (recorded before the server is
    told, so a reader can never see a value not yet recorded)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}     # iid -> set of file bytes
        self.latest = {}     # iid -> file bytes, for instances that exist
        self.n = 0

    def new_value(self, iid):
        with self.lock:
            self.n += 1
            v = f"v{self.n}-{iid}-" + "x" * random.choice(LENGTHS)
            self.values.setdefault(iid, set()).add(v.encode() + b"\n")
            return v

    def held(self, iid, data):
        with self.lock:
            return data in self.values.get(iid, ())

    def sizes(self, iid):
        with self.lock:
            return {len(v) for v in self.values.get(iid, ())}

    def ids(self):
        with self.lock:
            return list(self.values)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.reads = 0
        self.errors = {}
        self.violations = []

    def ok(self):
        with self.lock:
            self.reads += 1

    def error(self, e):
        name = errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) else str(e)
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1

    def violation(self, what):
        with self.lock:
            self.violations.append(what)


def field_path(m, iid):
    return m.path("instances", escape_name(iid), FIELD)


def read_fd(path):
    """(fstat size before, bytes, fstat size after) of one open descriptor, read in small
    pieces so a file spans several read calls."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        parts = []
        while True:
            b = os.read(fd, 3000)
            if not b:
                break
            parts.append(b)
        return size, b"".join(parts), os.fstat(fd).st_size
    finally:
        os.close(fd)


def fd_reader(m, hist, tally, stop):
    while not stop.is_set():
        iid = random.choice(hist.ids())
        try:
            size, data, size2 = read_fd(field_path(m, iid))
        except OSError as e:
            tally.error(e)
            continue
        tally.ok()
        if len(data) != size or size2 != size:
            tally.violation(f"{iid}: fstat said {size} (then {size2}), read {len(data)} bytes")
        elif not hist.held(iid, data):
            tally.violation(f"{iid}: read {data[:40]!r}... ({len(data)} bytes), never held")


def json_reader(m, hist, tally, stop):
    path = m.path("instances", "instances.json")
    while not stop.is_set():
        try:
            size, data, _ = read_fd(path)
        except OSError as e:
            tally.error(e)
            continue
        tally.ok()
        if len(data) != size:
            tally.violation(f"instances.json: fstat said {size}, read {len(data)} bytes")
            continue
        try:
            insts = json.loads(data)
        except ValueError as e:
            tally.violation(f"instances.json does not parse ({e}): one file, two answers?")
            continue
        for inst in insts:
            v = inst.get(FIELD)
            if v is not None and not hist.held(inst["InstanceId"], v.encode() + b"\n"):
                tally.violation(f"instances.json: {inst['InstanceId']} {v[:40]!r} never held")


def stat_reader(m, hist, tally, stop):
    while not stop.is_set():
        try:
            names = os.listdir(m.path("instances"))
        except OSError as e:
            tally.error(e)
            continue
        for name in random.sample(names, min(5, len(names))):
            if name == "instances.json":
                continue
            try:
                st = os.stat(os.path.join(m.path("instances"), name, FIELD))
            except OSError as e:
                tally.error(e)
                continue
            tally.ok()
            if st.st_size not in hist.sizes(name):
                tally.violation(f"{name}: stat size {st.st_size} is no value's size")


def tool_reader(m, hist, tally, stop):
    """cat and grep -r, the tools a user runs."""
    while not stop.is_set():
        r = subprocess.run(["grep", "-r", "--include=" + FIELD, "", "instances"], cwd=m.dir,
                           capture_output=True, timeout=60)
        for line in r.stdout.split(b"\n"):
            if not line:
                continue
            p, _, value = line.partition(b":")
            iid = p.split(b"/")[1].decode()
            tally.ok()
            if not hist.held(iid, value + b"\n"):
                tally.violation(f"grep: {iid}: {value[:40]!r} never held")
        iid = random.choice(hist.ids())
        r = subprocess.run(["cat", field_path(m, iid)], capture_output=True, timeout=60)
        if r.returncode == 0:
            tally.ok()
            if not hist.held(iid, r.stdout):
                tally.violation(f"cat: {iid}: {r.stdout[:40]!r} never held")


def mutator(srv, hist, template, stop, counts):
    alive = list(hist.latest)
    n = 0
    while not stop.is_set():
        n += 1
        roll = random.random()
        if roll < 0.08 or len(alive) < N // 2:
            iid = f"dsw-stress{n:06d}"
            inst = dict(template, InstanceId=iid, InstanceName=f"stress-{n}")
            inst[FIELD] = hist.new_value(iid)
            srv.control("POST", "instances", inst)
            alive.append(iid)
            counts["added"] += 1
        elif roll < 0.14:
            iid = alive.pop(random.randrange(len(alive)))
            srv.control("DELETE", f"instances/{iid}")
            counts["deleted"] += 1
            with hist.lock:
                hist.latest.pop(iid, None)
            continue
        else:
            iid = random.choice(alive)
            srv.control("PATCH", f"instances/{iid}", {FIELD: hist.new_value(iid)})
            counts["patched"] += 1
        with hist.lock:
            hist.latest[iid] = max(hist.values[iid], key=lambda b: int(b[1:b.index(b"-")]))
        time.sleep(0.01)


def refresher(m, stop, counts):
    while not stop.is_set():
        try:
            with open(m.path(".dswfs", "refresh"), "w") as f:
                f.write("\n")
            counts["refreshes"] += 1
        except OSError:
            counts["refresh_errors"] += 1
        time.sleep(0.05)


@test
def readers_never_see_a_size_or_value_the_server_did_not_hold():
    random.seed(SEED)
    hist = History()
    tally = Tally()
    counts = {"added": 0, "deleted": 0, "patched": 0, "refreshes": 0, "refresh_errors": 0}
    with MockServer(instances=N, seed=SEED) as srv:
        fleet = srv.fleet()["Instances"]
        template = {k: v for k, v in fleet[0].items() if k not in ("InstanceId", FIELD)}
        for inst in fleet:
            iid = inst["InstanceId"]
            v = hist.new_value(iid)
            srv.control("PATCH", f"instances/{iid}", {FIELD: v})
            hist.latest[iid] = v.encode() + b"\n"
        with Mount(srv, f"ttl={TTL}", "refresh_min_interval=0") as m:
            stop = threading.Event()
            threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in [
                (fd_reader, (m, hist, tally, stop)), (fd_reader, (m, hist, tally, stop)),
                (fd_reader, (m, hist, tally, stop)), (json_reader, (m, hist, tally, stop)),
                (stat_reader, (m, hist, tally, stop)), (tool_reader, (m, hist, tally, stop)),
                (refresher, (m, stop, counts)),
            ]]
            mut_stop = threading.Event()
            mut = threading.Thread(target=mutator, args=(srv, hist, template, mut_stop, counts),
                                   daemon=True)
            for t in threads + [mut]:
                t.start()
            time.sleep(SECONDS)
            mut_stop.set()
            mut.join(30)
            stop.set()
            for t in threads:
                t.join(60)
            # The churn is over: within one TTL every file shows the latest value.
            deadline = time.monotonic() + TTL + 2
            while True:
                with hist.lock:
                    latest = dict(hist.latest)
                stale = []
                for iid, want in latest.items():
                    try:
                        with open(field_path(m, iid), "rb") as f:
                            got = f.read()
                    except OSError as e:
                        got = f"error {e.errno}".encode()
                    if got != want:
                        stale.append(f"{iid}: {got[:30]!r} != latest {want[:30]!r}")
                if not stale or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            listed = set(os.listdir(m.path("instances"))) - {"instances.json"}
            st = read_ctl_stats(m)
    print(f"  {SECONDS:.0f}s: {tally.reads} checked reads, {len(tally.violations)} violations, "
          f"errors {tally.errors}, mutations {counts}, fs_stale {st.get('fs_stale')}, "
          f"fs_notify {st.get('fs_notify')}, fs_inodes {st.get('fs_inodes')}")
    assert not tally.violations, f"{len(tally.violations)} violations, e.g.\n  " + \
        "\n  ".join(tally.violations[:10])
    assert tally.reads > 1000, f"only {tally.reads} reads checked"
    assert counts["refreshes"] > 20 and counts["patched"] > 100, counts
    assert not stale, f"not the latest value {TTL + 2}s after the churn: {stale[:5]}"
    assert listed == {escape_name(i) for i in latest}, \
        f"instances/ lists {sorted(listed ^ {escape_name(i) for i in latest})[:5]} wrongly"


if __name__ == "__main__":
    run()
