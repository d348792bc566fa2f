"""test_mount_events: the change feeds (.dswfs/events and the hidden .events of every query
directory) followed with real `tail -f` while the local server's fleet changes, the overflow line
of a reader that fell out of the retention window, unmount ending every follower, feeds never
listed, polling only while followed (or with -o watch), and .dswfs/metrics checked by promtool
with gauges equal to what instances.json holds."""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MockServer, Mount, eq, read, read_ctl_stats, run, test, wait_until  # noqa: E402

TTL = 1
LATENCIES = []


class Tail:
    """`tail -n +1 -f PATH` with its lines collected by a thread."""

    def __init__(self, path, start="+1"):
        self.proc = subprocess.Popen(["tail", "-s", "0.2", "-n", start, "-f", path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line)

    def events(self):
        with self.lock:
            return [json.loads(l) for l in self.lines if l.strip()]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.thread.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def has(tail, pred):
    return any(pred(e) for e in tail.events())


def wait_event(tail, pred, what, since=None):
    wait_until(lambda: has(tail, pred), timeout=15, interval=0.02, what=what)
    if since is not None:
        LATENCIES.append(time.monotonic() - since)


def pick(srv, status="Running"):
    for inst in srv.fleet()["Instances"]:
        if inst.get("Status") == status and isinstance(inst.get("WorkspaceId"), str):
            return inst
    raise AssertionError("no instance in status " + status)


@test
def status_changes_additions_and_removals_reach_events_and_the_matching_dot_events():
    with MockServer(instances=30, seed=3) as srv, \
            Mount(srv, f"ttl={TTL}", "region=cn-test") as m:
        inst = pick(srv)
        iid, ws = inst["InstanceId"], inst["WorkspaceId"]
        failed = m.path("workspaces", ws, "status", "Failed")
        all_ = Tail(m.path(".dswfs", "events"))
        fail = Tail(os.path.join(failed, ".events"))
        try:
            wait_until(lambda: read_ctl_stats(m)["feeds_followed"] == 2, what="two feeds followed")
            t0 = time.monotonic()
            srv.control("PATCH", "instances/" + iid, {"Status": "Failed"})
            wait_event(all_, lambda e: e["kind"] == "changed" and e["InstanceId"] == iid
                       and e["fields"]["Status"] == {"old": "Running", "new": "Failed"},
                       "changed on events", t0)
            wait_event(fail, lambda e: e["kind"] == "added" and e["InstanceId"] == iid,
                       "added on Failed/.events", t0)
            e = [e for e in all_.events() if e["InstanceId"] == iid][0]
            eq(e["region"], "cn-test")
            eq(e["WorkspaceId"], ws)
            eq(e["InstanceName"], inst["InstanceName"])
            # a new instance, and one going away
            new = dict(inst, InstanceId="dsw-events-new", InstanceName="new-one", Status="Failed")
            t0 = time.monotonic()
            srv.control("POST", "instances", new)
            wait_event(all_, lambda e: e["kind"] == "added" and e["InstanceId"] == "dsw-events-new",
                       "added on events", t0)
            wait_event(fail, lambda e: e["kind"] == "added" and e["InstanceId"] == "dsw-events-new",
                       "added on Failed/.events")
            gone = pick(srv, "Stopped")["InstanceId"]
            t0 = time.monotonic()
            srv.control("DELETE", "instances/" + gone)
            wait_event(all_, lambda e: e["kind"] == "removed" and e["InstanceId"] == gone,
                       "removed on events", t0)
            # leaving Failed is a removal from that query
            srv.control("PATCH", "instances/" + iid, {"Status": "Running"})
            wait_event(fail, lambda e: e["kind"] == "removed" and e["InstanceId"] == iid,
                       "removed on Failed/.events")
            # the Failed feed tells of Failed instances only
            for e in fail.events():
                assert e["InstanceId"] in (iid, "dsw-events-new"), e
            # secrets redacted as everywhere
            for e in all_.events():
                assert "hunter2" not in json.dumps(e)
            # every line is one JSON object; offsets are what tail saw: no line twice
            keys = [(e["kind"], e["InstanceId"], json.dumps(e.get("fields"), sort_keys=True))
                    for e in all_.events()]
            eq(len(keys), len(set(keys)), "no event repeated")
        finally:
            all_.close()
            fail.close()


@test
def feeds_are_never_listed_so_walks_never_read_them():
    with MockServer(instances=10, seed=4) as srv, Mount(srv, f"ttl={TTL}") as m:
        assert ".events" not in os.listdir(m.path("instances"))
        assert "events" not in os.listdir(m.path(".dswfs"))
        assert "metrics" in os.listdir(m.path(".dswfs"))
        out = subprocess.run(["find", m.dir], capture_output=True, text=True, timeout=60).stdout
        assert "events" not in out.replace("metrics", ""), out[-500:]
        p = subprocess.run(["grep", "-r", "-l", "kind", m.path("instances")],
                           capture_output=True, text=True, timeout=60)
        assert ".events" not in p.stdout
        # but they are there by name, as growing files
        st = os.stat(m.path("instances", ".events"))
        eq(st.st_size, 0)
        st = os.stat(m.path(".dswfs", "events"))
        eq(st.st_size, 0)


@test
def two_concurrent_followers_each_get_every_event():
    with MockServer(instances=20, seed=5) as srv, Mount(srv, f"ttl={TTL}") as m:
        a = Tail(m.path(".dswfs", "events"))
        b = Tail(m.path(".dswfs", "events"), start="0")
        try:
            wait_until(lambda: read_ctl_stats(m)["feeds_followed"] == 1, what="followed")
            ids = [i["InstanceId"] for i in srv.fleet()["Instances"][:5]]
            for k, iid in enumerate(ids):
                srv.control("PATCH", "instances/" + iid, {"InstanceName": f"renamed-{k}"})
                wait_event(a, lambda e, iid=iid: e["InstanceId"] == iid, "event on reader a")
            wait_until(lambda: len(b.events()) >= len(ids), what="reader b has them all")
            ka = [(e["kind"], e["InstanceId"]) for e in a.events()]
            kb = [(e["kind"], e["InstanceId"]) for e in b.events()]
            eq(ka, kb, "both readers")
            eq(sorted(set(i for _, i in ka)), sorted(ids))
        finally:
            a.close()
            b.close()


@test
def a_reader_out_of_the_window_gets_one_overflow_line_and_the_daemon_stays_responsive():
    with MockServer(instances=40, seed=6) as srv, \
            Mount(srv, f"ttl={TTL}", "events_max_kb=1", "refresh_min_interval=0") as m:
        t = Tail(m.path(".dswfs", "events"))
        try:
            wait_until(lambda: read_ctl_stats(m)["feeds_followed"] == 1, what="followed")
            insts = srv.fleet()["Instances"]
            srv.control("PATCH", "instances/" + insts[0]["InstanceId"], {"InstanceName": "x0"})
            wait_event(t, lambda e: e["InstanceId"] == insts[0]["InstanceId"], "first event")
            t.proc.send_signal(signal.SIGSTOP)
            # far more than 1 KiB of events while it sleeps; refreshes make the daemon see
            # each change even though nobody reads the feed meanwhile
            for k in range(1, 25):
                srv.control("PATCH", "instances/" + insts[k]["InstanceId"],
                            {"InstanceName": f"x{k}"})
                with open(m.path(".dswfs", "refresh"), "w") as f:
                    f.write("1\n")
            # the daemon never waits for the stopped reader
            t0 = time.monotonic()
            read(m.path(".dswfs", "stats"))
            os.listdir(m.path("instances"))
            assert time.monotonic() - t0 < 5
            t.proc.send_signal(signal.SIGCONT)
            last = insts[24]["InstanceId"]
            wait_event(t, lambda e: e["InstanceId"] == last if "InstanceId" in e else False,
                       "the newest event after the overflow")
            ev = t.events()
            over = [e for e in ev if e["kind"] == "overflow"]
            eq(len(over), 1, "one overflow line")
            assert over[0]["dropped"] > 0, over
            k = ev.index(over[0])
            assert all(e["kind"] == "changed" for e in ev[k + 1:]), ev[k + 1:]
            got = {e["InstanceId"] for e in ev if e["kind"] != "overflow"}
            dropped = 24 - len([e for e in ev[k + 1:]])
            assert dropped > 0 and last in got
        finally:
            t.proc.send_signal(signal.SIGCONT)
            t.close()


@test
def unmount_ends_every_follower():
    with MockServer(instances=10, seed=7) as srv:
        m = Mount(srv, f"ttl={TTL}")
        with m:
            tails = [Tail(m.path(".dswfs", "events")), Tail(m.path("instances", ".events"))]
            try:
                wait_until(lambda: read_ctl_stats(m)["feeds_followed"] == 1, what="followed")
                subprocess.run(["fusermount3", "-u", "-z", m.dir], check=True)
                for t in tails:
                    t.proc.wait(15)     # exits (with an error), never hangs
                m.proc.wait(15)
                eq(m.proc.returncode, 0, "daemon exit status")
            finally:
                for t in tails:
                    t.close()


@test
def nobody_following_means_no_polling_and_watch_polls_anyway():
    with MockServer(instances=10, seed=8) as srv:
        with Mount(srv, "ttl=0.5") as m:
            os.stat(m.path(".dswfs", "events"))     # asked once, then never again
            base = srv.list_requests()
            wait_until(lambda: srv.list_requests() > base, timeout=10,
                       what="followed feed polled")
            wait_until(lambda: read_ctl_stats(m)["feeds_followed"] == 0, timeout=10,
                       what="no longer followed")
            n = srv.list_requests()
            time.sleep(2)   # an observation window: nothing may happen in it
            eq(srv.list_requests(), n, "requests while nobody follows")
        with Mount(srv, "ttl=0.5", "watch") as m:
            n = srv.list_requests()
            wait_until(lambda: srv.list_requests() >= n + 3, timeout=15, what="watch polls")
            eq(read_ctl_stats(m)["feeds_followed"], 0)
            assert read_ctl_stats(m)["feed_polls"] >= 3


def parse_metrics(text):
    """{name: [(labels dict, value)]} of the samples."""
    out = collections.defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        if "{" in head:
            name, rest = head.split("{", 1)
            labels = dict(kv.split("=", 1) for kv in rest.rstrip("}").split('",') if kv)
            labels = {k: v.strip('"') for k, v in labels.items()}
        else:
            name, labels = head, {}
        out[name].append((labels, float(value)))
    return out


def quantity(v, memory):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9,
             "T": 1e12}
    if isinstance(v, bool) or v is None:
        return 0
    if isinstance(v, (int, float)):
        return v * (2**30 if memory else 1)
    if not isinstance(v, str):
        return 0
    for suffix in (["m"] if not memory else sorted(units, key=len, reverse=True)):
        if v.endswith(suffix):
            try:
                x = float(v[:-len(suffix)])
            except ValueError:
                return 0
            return x / 1000 if suffix == "m" else x * units[suffix]
    try:
        return float(v) * (2**30 if memory else 1)
    except ValueError:
        return 0


def label(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(int(v)) if float(v).is_integer() else repr(v)
    return v if isinstance(v, str) else ""


@test
def metrics_pass_promtool_and_the_gauges_equal_instances_json():
    promtool = shutil.which("promtool")
    if not promtool:
        raise AssertionError("promtool missing (scripts/install-deps.sh installs prometheus)")
    with MockServer(instances=60, seed=9) as srv, Mount(srv, "ttl=60", "region=cn-m") as m:
        insts = json.loads(read(m.path("instances", "instances.json")))
        text = read(m.path(".dswfs", "metrics")).decode()
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        eq(p.returncode, 0, f"promtool: {p.stdout} {p.stderr}")
        eq(p.stdout + p.stderr, "", "promtool lint")
        mt = parse_metrics(text)
        want = collections.Counter(
            (label(i.get("WorkspaceId")), label(i.get("Status")),
             label(i.get("AcceleratorType")), label(i.get("PaymentType"))) for i in insts)
        got = {(l["workspace_id"], l["status"], l["accelerator_type"], l["payment_type"]): v
               for l, v in mt["dswfs_instances"]}
        eq(got, {k: float(v) for k, v in want.items()}, "dswfs_instances")
        assert all(l["region"] == "cn-m" for l, _ in mt["dswfs_instances"])
        for metric, member, memory in (("dswfs_requested_cpu_cores", "CPU", False),
                                       ("dswfs_requested_gpus", "GPU", False),
                                       ("dswfs_requested_memory_bytes", "Memory", True)):
            sums = collections.defaultdict(float)
            for i in insts:
                rr = i.get("RequestedResource") if isinstance(i.get("RequestedResource"), dict) \
                    else {}
                sums[(label(i.get("WorkspaceId")), label(i.get("Status")))] += \
                    quantity(rr.get(member), memory)
            got = {(l["workspace_id"], l["status"]): v for l, v in mt[metric]}
            eq(set(got), set(sums), metric)
            for k in sums:
                assert abs(got[k] - sums[k]) <= 1e-6 * max(1, sums[k]), (metric, k, got[k], sums[k])
        eq(mt["dswfs_fleet_up"][0][1], 1.0)
        assert mt["dswfs_api_requests_total"][0][1] >= 1
        assert mt["process_resident_memory_bytes"][0][1] > 0


@test
def report_latency():
    if LATENCIES:
        print(f"  event latency (server change -> line on the feed, ttl={TTL}): "
              f"max {max(LATENCIES):.2f}s, mean {sum(LATENCIES) / len(LATENCIES):.2f}s "
              f"over {len(LATENCIES)}", flush=True)


if __name__ == "__main__":
    run()
