"""test_mock_server: the local DSW API server answers like ListInstances (filters, paging, sorting,
errors, ACS3-HMAC-SHA256 signatures, faults, control API) and generates realistic, awkward fleets.

Requests are signed by a small signer written here from dsw-api-facts.md (checked against the
published test vectors), and results are checked against a brute-force filter of /_mock/fleet,
both independent of the server's own code.
"""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AK_ID, AK_SECRET, MOCK, ROOT, MockServer, eq, run, test  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import dsw_fleet  # noqa: E402  (only for the documented GPU memory table and direct determinism)

STATUSES = ["Creating", "SaveFailed", "Stopped", "Failed", "ResourceAllocating", "Stopping", "Updating",
            "Saving", "Queuing", "Recovering", "Starting", "Running", "Saved", "Deleting", "EnvPreparing"]
GATEWAY_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}
SERVICE_KEYS = GATEWAY_KEYS | {"Success", "HttpStatusCode"}

# ---------------------------------------------------------------------------------------------
# An ACS3-HMAC-SHA256 signer written from dsw-api-facts.md

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def pct(s):
    return "".join(chr(b) if b in UNRESERVED else "%%%02X" % b for b in s.encode("utf-8"))


def string_to_sign(method, path, pairs, headers, body=b""):
    """(StringToSign, SignedHeaders) for lower-case headers {name: value}."""
    cq = "&".join("%s=%s" % (pct(k), pct(v)) for k, v in sorted(pairs))
    signed = sorted(h for h in headers if h in ("host", "content-type") or h.startswith("x-acs-"))
    ch = "".join("%s:%s\n" % (h, headers[h].strip()) for h in signed)
    creq = "\n".join([method, pct(path).replace("%2F", "/") or "/", cq, ch, ";".join(signed),
                      hashlib.sha256(body).hexdigest()])
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(creq.encode()).hexdigest(), signed


def authorization(key_id, secret, sts, signed):
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    return "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s" % (key_id, ";".join(signed), sig)


def utc(offset=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


class Resp:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw)
        except ValueError:
            self.json = None

    def ids(self):
        return [i.get("InstanceId") for i in self.json["Instances"]]


class Api:
    """A keep-alive client for one server that signs like the official SDK (unless told not to)."""

    def __init__(self, srv, key_id=AK_ID, secret=AK_SECRET, token=None, timeout=10):
        self.host, port = srv.url[len("http://"):].rsplit(":", 1)
        self.port = int(port)
        self.key_id, self.secret, self.token = key_id, secret, token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.last_sts = None

    def close(self):
        self.conn.close()

    def request(self, params=None, sign=True, method="GET", path="/api/v2/instances", date=None, nonce=None,
                extra=None, unsigned_extra=None, drop=(), send_pairs=None, plus_for_space=False, secret=None,
                key_id=None, headers_override=None):
        pairs = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                 for k, v in (params.items() if isinstance(params, dict) else (params or []))]
        h = {"host": "%s:%d" % (self.host, self.port), "x-acs-action": "ListInstances",
             "x-acs-version": "2022-01-01", "x-acs-date": date or utc(),
             "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
             "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()}
        if self.token:
            h["x-acs-security-token"] = self.token
        h.update(extra or {})
        if sign:
            self.last_sts, signed = string_to_sign(method, path, pairs, h)
            h["authorization"] = authorization(key_id or self.key_id, secret or self.secret, self.last_sts, signed)
        h.update(unsigned_extra or {})
        h.update(headers_override or {})
        for d in drop:
            h.pop(d, None)
        sent = pairs if send_pairs is None else send_pairs
        qs = "&".join("%s=%s" % (pct(k), pct(v).replace("%20", "+") if plus_for_space else pct(v)) for k, v in sent)
        self.conn.request(method, path + ("?" + qs if qs else ""), headers=h)
        r = self.conn.getresponse()
        return Resp(r.status, r.headers, r.read())


def api_once(srv, params=None, **kw):
    c = Api(srv)
    try:
        return c.request(params, **kw)
    finally:
        c.close()


def error_check(resp, status, code, service=None):
    """The response is the real error shape with this status and code."""
    eq(resp.status, status, "HTTP status for %s (%r)" % (code, resp.raw[:300]))
    body = resp.json
    assert isinstance(body, dict), resp.raw[:200]
    eq(body.get("Code"), code, "Code (%s)" % body.get("Message"))
    keys = set(body)
    if service is None:
        assert keys in (GATEWAY_KEYS, SERVICE_KEYS), keys
    else:
        eq(keys, SERVICE_KEYS if service else GATEWAY_KEYS, "error keys")
    if "Success" in body:
        eq(body["Success"], False, "Success")
        eq(body["HttpStatusCode"], status, "HttpStatusCode")
    assert re.match(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$", body["RequestId"]), body
    eq(resp.headers.get("x-acs-request-id"), body["RequestId"], "x-acs-request-id header")
    eq(body["HostId"], "127.0.0.1", "HostId")
    assert body["Message"] and code in body["Recommend"], body
    return body


# ---------------------------------------------------------------------------------------------
# A brute-force filter and sort written from the documented semantics


def _qty(v, units):
    if not isinstance(v, str):
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$", v)
    if not m or m.group(2) not in units:
        return None
    return float(m.group(1)) * units[m.group(2)]


CORES = {"": 1000.0, "m": 1.0}
GB = {"": 1.0, "G": 1.0, "Gi": 1.0, "GB": 1.0, "Mi": 1 / 1024, "M": 1 / 1024, "Ti": 1024.0, "T": 1024.0}


def _gpu_mem(rr):
    gpus = _qty(rr.get("GPU"), CORES)
    t = rr.get("GPUType")
    if not gpus or not isinstance(t, str) or not t:
        return None
    if t in dsw_fleet.GPU_MEMORY_GB:
        return float(dsw_fleet.GPU_MEMORY_GB[t])
    m = re.search(r"(\d+)\s*G", t, re.I)
    return float(m.group(1)) if m else None


def _t(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def brute(fleet, q, default_ws="40823"):
    out = []
    for i in fleet:
        rr = i.get("RequestedResource") if isinstance(i.get("RequestedResource"), dict) else {}
        ok = True
        ws = q.get("WorkspaceId", "")
        ok &= (i.get("WorkspaceId") == default_ws) if ws == "" else (ws == "ALL" or i.get("WorkspaceId") == ws)
        rid = q.get("ResourceId", "")
        ok &= (i.get("PaymentType") == "PayAsYouGo") if rid == "" else (rid == "ALL" or i.get("ResourceId") == rid)
        if q.get("Status"):
            ok &= i.get("Status") in [s.strip() for s in q["Status"].split(",")]
        if q.get("InstanceId"):
            ok &= i.get("InstanceId") in [s.strip() for s in q["InstanceId"].split(",")]
        for p, f in (("PaymentType", "PaymentType"), ("Accessibility", "Accessibility"),
                     ("AcceleratorType", "AcceleratorType"), ("InstanceName", "InstanceName"),
                     ("ImageName", "ImageName"), ("CreateUserId", "UserId"), ("OversoldInfo", "OversoldInfo"),
                     ("OversoldType", "OversoldType")):
            if q.get(p):
                ok &= i.get(f) == q[p]
        if q.get("GpuType"):
            ok &= rr.get("GPUType") == q["GpuType"]
        if q.get("Labels"):
            labels = i.get("Labels") if isinstance(i.get("Labels"), list) else []
            for k, v in json.loads(q["Labels"]).items():
                ok &= {"Key": k, "Value": v} in [{"Key": x.get("Key"), "Value": x.get("Value")} for x in labels]
        if q.get("Tag"):
            tags = i.get("Tags") if isinstance(i.get("Tags"), list) else []
            for t in json.loads(q["Tag"]):
                ok &= any(x.get("TagKey") == t["Key"] and (t.get("Value") is None or x.get("TagValue") == t["Value"])
                          for x in tags)
        for lo, hi, val in (("MinCpu", "MaxCpu", _qty(rr.get("CPU"), CORES)),
                            ("MinGpu", "MaxGpu", _qty(rr.get("GPU"), CORES)),
                            ("MinMemory", "MaxMemory", _qty(rr.get("Memory"), GB)),
                            ("MinGpuMemory", "MaxGpuMemory", _gpu_mem(rr))):
            if q.get(lo) or q.get(hi):
                ok &= val is not None
                if val is not None and q.get(lo):
                    ok &= val >= float(q[lo]) - 1e-9
                if val is not None and q.get(hi):
                    ok &= val <= float(q[hi]) + 1e-9
        if q.get("CreateTimeAfter") or q.get("CreateTimeBefore"):
            c = _t(i.get("GmtCreateTime"))
            ok &= c is not None and (not q.get("CreateTimeAfter") or c >= _t(q["CreateTimeAfter"])) \
                and (not q.get("CreateTimeBefore") or c <= _t(q["CreateTimeBefore"]))
        if ok:
            out.append(i)
    return brute_sort(out, q.get("SortBy") or "GmtCreateTime", q.get("Order") or "DESC")


def brute_sort(insts, sort_by, order):
    def key(i):
        if sort_by == "Priority":
            p = i.get("Priority")
            x = p if isinstance(p, int) and not isinstance(p, bool) else None
        else:
            x = _t(i.get(sort_by))
        c = _t(i.get("GmtCreateTime"))
        return (x is None, 0 if x is None else (x if order == "ASC" else -x), c is None, 0 if c is None else -c,
                i.get("InstanceId") if isinstance(i.get("InstanceId"), str) else "")
    return [i.get("InstanceId") for i in sorted(insts, key=key)]


# ---------------------------------------------------------------------------------------------
# Start-up, command line, shutdown


@test
def signer_matches_published_vectors():
    h = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances", "x-acs-version": "2014-05-26",
         "x-acs-date": "2023-10-26T10:22:32Z", "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
         "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()}
    pairs = [("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"), ("RegionId", "cn-shanghai")]
    sts, signed = string_to_sign("POST", "/", pairs, h)
    eq(sts.split("\n")[1], "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259", "canonical hash")
    eq(authorization("YourAccessKeyId", "YourAccessKeySecret", sts, signed).rsplit("=", 1)[1],
       "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0", "signature")
    cq = "&".join("%s=%s" % (pct(k), pct(v)) for k, v in sorted([("test", "ok"), ("empty", "")]))
    creq = "\n".join(["", "/", cq, "x-acs-test:http,https\n", "x-acs-test",
                      "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23"])
    sts2 = "ACS3-HMAC-SHA256\n" + hashlib.sha256(creq.encode()).hexdigest()
    eq(hmac.new(b"secret", sts2.encode(), hashlib.sha256).hexdigest(),
       "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3", "second vector")


@test
def listening_line_and_port_zero():
    p = subprocess.Popen([sys.executable, MOCK, "--port", "0", "--instances", "5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.match(r"^listening on 127\.0\.0\.1:(\d+)\n$", line)
        assert m, repr(line)
        port = int(m.group(1))
        assert 0 < port < 65536
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/_mock/health")
        r = c.getresponse()
        eq((r.status, json.loads(r.read())), (200, {"ok": True}), "health")
        c.close()
    finally:
        p.terminate()
        eq(p.wait(5), 0, "exit status after SIGTERM")
        p.stdout.close()
        p.stderr.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([sys.executable, MOCK, "--port", str(port), "--instances", "5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        eq(p.stdout.readline(), "listening on 127.0.0.1:%d\n" % port, "explicit port")
    finally:
        p.send_signal(signal.SIGINT)
        eq(p.wait(5), 0, "exit status after SIGINT")
        p.stdout.close()
        p.stderr.close()


@test
def help_and_bad_arguments():
    r = subprocess.run([sys.executable, MOCK, "--help"], capture_output=True, text=True, timeout=20)
    eq(r.returncode, 0, "--help exit")
    for flag in ("--port", "--instances", "--seed", "--fleet", "--access-key-id", "--access-key-secret", "--sts",
                 "--latency-ms", "--max-page-size", "--page-size-overflow", "--default-workspace"):
        assert flag in r.stdout, flag
    r = subprocess.run([sys.executable, MOCK, "--access-key-id", "x"], capture_output=True, text=True, timeout=20)
    eq(r.returncode, 2, "key id without secret")
    r = subprocess.run([sys.executable, MOCK, "--fleet", "/nonexistent/fleet.json"], capture_output=True,
                       text=True, timeout=20)
    eq(r.returncode, 2, "missing fleet file")
    assert "nonexistent" in r.stderr, r.stderr


@test
def keep_alive_and_success_shape():
    with MockServer(instances=60) as srv:
        c = Api(srv)
        r = c.request({})
        sock = c.conn.sock
        eq(r.status, 200, "status")
        eq(r.headers.get("Connection"), "keep-alive", "Connection header")
        eq(r.headers.get("Content-Type"), "application/json;charset=utf-8", "content type")
        eq(list(r.json), ["RequestId", "Success", "Code", "Message", "HttpStatusCode", "TotalCount",
                          "MigrationOptions", "Instances"],
           "top-level members in the reference's order, MigrationOptions where the SDK model has it")
        eq(r.json["MigrationOptions"], dsw_fleet.MIGRATION_OPTIONS, "MigrationOptions at the top")
        assert all("MigrationOptions" not in i for i in r.json["Instances"]), "not inside instances"
        eq((r.json["Success"], r.json["Code"], r.json["HttpStatusCode"]), (True, None, 200), "success members")
        eq(r.headers.get("x-acs-request-id"), r.json["RequestId"], "request id header")
        assert len(r.json["Instances"]) == min(10, r.json["TotalCount"]), "default PageSize is 10"
        for _ in range(5):
            eq(c.request({"PageSize": "3"}).status, 200, "reused connection")
            assert c.conn.sock is sock, "the server closed a keep-alive connection"
        c.close()


@test
def sigterm_exits_cleanly_with_open_connections():
    with MockServer(sign=False, instances=5) as srv:
        c = Api(srv)
        eq(c.request({}, sign=False).status, 200, "request")
        t0 = time.monotonic()
        srv.proc.terminate()
        eq(srv.proc.wait(5), 0, "exit status")
        assert time.monotonic() - t0 < 3, "slow shutdown"
        c.close()


# ---------------------------------------------------------------------------------------------
# Filters, paging, sorting


def _filter_cases(fleet):
    def first(pred, field):
        for i in fleet:
            if pred(i):
                return i[field]
        raise AssertionError("fleet has no instance for %s" % field)
    sub_rid = first(lambda i: i.get("PaymentType") == "Subscription" and i.get("ResourceId"), "ResourceId")
    uid = fleet[7]["UserId"]
    image = first(lambda i: isinstance(i.get("ImageName"), str), "ImageName")
    ostype = first(lambda i: i.get("OversoldType"), "OversoldType")
    osinfo = first(lambda i: i.get("OversoldInfo"), "OversoldInfo")
    ids = ",".join(i["InstanceId"] for i in fleet[3:9]) + ", dsw-doesnotexist"
    ALL = {"WorkspaceId": "ALL", "ResourceId": "ALL"}
    return [
        ({}, True), (ALL, True), ({"WorkspaceId": "86177"}, True), ({"WorkspaceId": "258103", "ResourceId": "ALL"}, True),
        ({"ResourceId": sub_rid, "WorkspaceId": "ALL"}, True), ({"ResourceId": "quota-nope", "WorkspaceId": "ALL"}, False),
        (dict(ALL, Status="Running"), True), (dict(ALL, Status="Running,Stopped"), True),
        (dict(ALL, Status=" Failed , Saved,"), True), (dict(ALL, PaymentType="Subscription"), True),
        (dict(ALL, PaymentType="PayAsYouGo"), True), (dict(ALL, Accessibility="PUBLIC"), True),
        (dict(ALL, Accessibility="PRIVATE"), True), (dict(ALL, AcceleratorType="GPU"), True),
        (dict(ALL, AcceleratorType="CPU"), True), (dict(ALL, InstanceId=ids), True),
        (dict(ALL, InstanceName="training_data"), True), (dict(ALL, InstanceName="训练数据-实验一"), True),
        (dict(ALL, InstanceName="a/b/c"), True), (dict(ALL, InstanceName="multi\nline\nname"), True),
        (dict(ALL, InstanceName="实验 *~ draft (v2)+!'"), True), (dict(ALL, InstanceName="🚀 emoji notebook 🔥"), True),
        (dict(ALL, InstanceName=".."), True), (dict(ALL, Labels=json.dumps({"team": "nlp"})), True),
        (dict(ALL, Labels=json.dumps({"团队": "算法"}, ensure_ascii=False)), True),
        (dict(ALL, Labels=json.dumps({"team": "nlp", "env": "prod"})), True),
        (dict(ALL, Labels="{}"), "all"), (dict(ALL, Tag=json.dumps([{"Key": "env", "Value": "prod"}])), True),
        (dict(ALL, Tag=json.dumps([{"Key": "项目", "Value": "大模型"}], ensure_ascii=False)), True),
        (dict(ALL, Tag=json.dumps([{"Key": "env"}])), True),
        (dict(ALL, Tag=json.dumps([{"Key": "env", "Value": "prod"}, {"Key": "CostCenter", "Value": "R&D"}])), True),
        (dict(ALL, CreateUserId=uid), True), (dict(ALL, GpuType="NVIDIA A10"), True),
        (dict(ALL, GpuType="Tesla-V100-16G"), True), (dict(ALL, MinCpu="8000"), True), (dict(ALL, MaxCpu="4000"), True),
        (dict(ALL, MinCpu="500", MaxCpu="500"), True), (dict(ALL, MinGpu="1000"), True),
        (dict(ALL, MaxGpu="0"), True), (dict(ALL, MinGpu="2000", MaxGpu="8000"), True),
        (dict(ALL, MinMemory="64"), True), (dict(ALL, MaxMemory="16"), True),
        (dict(ALL, MinMemory="30", MaxMemory="60"), True), (dict(ALL, MinGpuMemory="24"), True),
        (dict(ALL, MaxGpuMemory="16"), True), (dict(ALL, MinGpuMemory="40", MaxGpuMemory="80"), True),
        (dict(ALL, ImageName=image), True), (dict(ALL, CreateTimeAfter="2024-01-01T00:00:00Z"), True),
        (dict(ALL, CreateTimeBefore="2023-01-01T00:00:00Z"), True),
        (dict(ALL, CreateTimeAfter="2023-01-01T00:00:00Z", CreateTimeBefore="2023-12-31T23:59:59Z"), True),
        (dict(ALL, OversoldType=ostype), True), (dict(ALL, OversoldInfo=osinfo), True),
        (dict(ALL, MinCpu="9000", MaxCpu="1000"), False),
        ({"Status": "Running", "AcceleratorType": "GPU", "MinGpuMemory": "16", "Accessibility": "PRIVATE"}, True),
    ]


@test
def every_filter_matches_brute_force():
    with MockServer(instances=300, seed=3) as srv:
        fleet = srv.fleet()["Instances"]
        c = Api(srv)
        for q, nonempty in _filter_cases(fleet):
            want = brute(fleet, q)
            r = c.request(dict(q, PageSize="1000"))
            eq(r.status, 200, "status for %r: %r" % (q, r.raw[:200]))
            eq(r.ids(), want, "filter %r" % q)
            eq(r.json["TotalCount"], len(want), "TotalCount for %r" % q)
            if nonempty == "all":
                eq(len(want), len(fleet), "case %r matches everything" % q)
            elif nonempty:
                assert want, "case %r matched nothing; it proves nothing" % q
                if q.get("WorkspaceId") == "ALL" and q.get("ResourceId") == "ALL" and len(q) > 2:
                    assert len(want) < len(fleet), "case %r matched everything" % q
            got = srv.control("POST", "query", {"params": q})
            eq([i["InstanceId"] for i in got["Instances"]], want, "/_mock/query %r" % q)
        # exact timestamps are inclusive at both ends
        t = fleet[11]["GmtCreateTime"]
        r = c.request({"WorkspaceId": "ALL", "ResourceId": "ALL", "CreateTimeAfter": t, "CreateTimeBefore": t})
        assert fleet[11]["InstanceId"] in r.ids(), "inclusive CreateTime bounds"
        c.close()


@test
def paging_and_total_count():
    with MockServer(instances=95, seed=4) as srv:
        c = Api(srv)
        q = {"WorkspaceId": "ALL", "ResourceId": "ALL"}
        full = brute(srv.fleet()["Instances"], q)
        seen = []
        for page in range(1, 20):
            r = c.request(dict(q, PageSize="7", PageNumber=str(page)))
            eq(r.json["TotalCount"], 95, "TotalCount counts matches before paging")
            seen += r.ids()
            if len(r.ids()) < 7:
                break
        eq(seen, full, "pages concatenate to the sorted whole")
        eq(page, 14, "page count")
        r = c.request(dict(q, PageSize="7", PageNumber="40"))
        eq((r.status, r.json["Instances"], r.json["TotalCount"]), (200, [], 95), "a page past the end")
        eq(len(c.request(dict(q)).ids()), 10, "default PageSize")
        eq(len(c.request(dict(q, PageSize="1000")).ids()), 95, "PageSize 1000 allowed")
        error_check(c.request(dict(q, PageSize="1001")), 400, "ValidationError", service=True)
        c.close()
    with MockServer("--page-size-overflow", "clamp", "--max-page-size", "20", instances=50) as srv:
        r = api_once(srv, {"WorkspaceId": "ALL", "ResourceId": "ALL", "PageSize": "50"})
        eq((r.status, len(r.ids()), r.json["TotalCount"]), (200, 20, 50), "clamped page size")


@test
def sort_orders():
    with MockServer(instances=150, seed=5) as srv:
        fleet = srv.fleet()["Instances"]
        c = Api(srv)
        for sort_by in (None, "Priority", "GmtCreateTime", "GmtModifiedTime"):
            for order in (None, "ASC", "DESC"):
                q = {"WorkspaceId": "ALL", "ResourceId": "ALL"}
                if sort_by:
                    q["SortBy"] = sort_by
                if order:
                    q["Order"] = order
                eq(c.request(dict(q, PageSize="1000")).ids(), brute(fleet, q), "order %r" % q)
        c.close()


@test
def validation_errors_have_the_real_shape():
    cases = [
        ({"Status": "Bogus"}, "ValidationError"), ({"Status": "Running,running"}, "ValidationError"),
        ({"PaymentType": "Free"}, "ValidationError"), ({"Accessibility": "private"}, "ValidationError"),
        ({"AcceleratorType": "TPU"}, "ValidationError"), ({"SortBy": "InstanceName"}, "ValidationError"),
        ({"Order": "up"}, "ValidationError"), ({"PageNumber": "0"}, "ValidationError"),
        ({"PageSize": "0"}, "ValidationError"), ({"PageNumber": "abc"}, "InvalidParameter"),
        ({"PageSize": "1.5"}, "InvalidParameter"), ({"MinCpu": "abc"}, "ValidationError"),
        ({"MaxCpu": "-1"}, "ValidationError"), ({"MinGpu": "1e3"}, "ValidationError"),
        ({"MaxGpu": "x"}, "ValidationError"), ({"MinMemory": "4GB"}, "ValidationError"),
        ({"MaxMemory": ""}, None), ({"MinGpuMemory": "eight"}, "ValidationError"),
        ({"MaxGpuMemory": "16,5"}, "ValidationError"), ({"Labels": "{bad"}, "InvalidParameter"),
        ({"Labels": '["a"]'}, "InvalidParameter"), ({"Labels": '{"a": 1}'}, "InvalidParameter"),
        ({"Labels": json.dumps({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"})}, "ValidationError"),
        ({"Tag": "nope"}, "InvalidParameter"), ({"Tag": '{"Key": "a", "Value": "b"}'}, "InvalidParameter"),
        ({"Tag": '[{"Value": "x"}]'}, "InvalidParameter"), ({"Tag": '[{"Key": "a", "Value": 3}]'}, "InvalidParameter"),
        ({"CreateTimeAfter": "2024-13-01T00:00:00Z"}, "ValidationError"),
        ({"CreateTimeBefore": "2024-01-01 00:00:00"}, "ValidationError"),
        ({"CreateTimeAfter": "yesterday"}, "ValidationError"),
    ]
    with MockServer(instances=20) as srv:
        c = Api(srv)
        for params, code in cases:
            r = c.request(params)
            if code is None:
                eq(r.status, 200, "empty value is ignored: %r" % params)
                continue
            body = error_check(r, 400, code, service=(code == "ValidationError"))
            name = list(params)[0]
            assert name in body["Message"], "message names the parameter: %r" % body
        stats = srv.stats()
        eq(stats["list_requests"], len(cases), "rejected requests are list requests")
        eq(stats["ok_requests"], 1, "ok requests")
        c.close()


@test
def unknown_paths_and_methods_are_404():
    with MockServer(instances=5) as srv:
        c = Api(srv)
        for method, path in (("GET", "/api/v2/instances/dsw-123"), ("POST", "/api/v2/instances"),
                             ("DELETE", "/api/v2/instances"), ("GET", "/"), ("GET", "/api/v1/instances"),
                             ("HEAD", "/api/v2/instances")):
            c.conn.request(method, path)
            r = c.conn.getresponse()
            raw = r.read()
            eq(r.status, 404, "%s %s" % (method, path))
            if method != "HEAD":
                body = json.loads(raw)
                eq(set(body), GATEWAY_KEYS, "404 body")
                eq(body["Code"], "InvalidAction.NotFound", "404 code")
        eq(srv.stats()["requests"], 6, "all API requests are counted")
        eq(srv.stats()["list_requests"], 0, "none of them is ListInstances")
        c.close()


# ---------------------------------------------------------------------------------------------
# Signatures


@test
def genuine_signatures_are_accepted():
    with MockServer(instances=60) as srv:
        c = Api(srv)
        eq(c.request({"WorkspaceId": "ALL", "ResourceId": "ALL"}).status, 200, "plain")
        r = c.request({"WorkspaceId": "ALL", "ResourceId": "ALL", "InstanceName": "实验 *~ draft (v2)+!'"})
        eq((r.status, len(r.ids())), (200, 1), "unicode and reserved characters: %r" % r.raw[:300])
        r = c.request({"WorkspaceId": "ALL", "ResourceId": "ALL", "InstanceName": "name with  spaces "},
                      plus_for_space=True)
        eq((r.status, len(r.ids())), (200, 1), "spaces sent as '+' decode like a form")
        pairs = [("WorkspaceId", "ALL"), ("ResourceId", "ALL"), ("Status", "Running,Stopped"),
                 ("Labels", json.dumps({"团队": "算法"}, ensure_ascii=False)), ("PageSize", "5")]
        r = c.request(pairs, send_pairs=list(reversed(pairs)))
        eq(r.status, 200, "query order on the wire does not matter")
        r = c.request({"InstanceName": ""})
        eq(r.status, 200, "empty value signs as 'name='")
        r = c.request({}, extra={"x-acs-custom": "  padded  ", "content-type": "application/json"})
        eq(r.status, 200, "extra signed headers, trimmed values")
        log = srv.stats()["log"]
        eq([e["auth"] for e in log], ["ok"] * len(log), "every request authenticated")
        eq(log[1]["query"]["InstanceName"], "实验 *~ draft (v2)+!'", "log holds decoded params")
        c.close()


@test
def bad_signatures_are_rejected():
    with MockServer(instances=20) as srv:
        c = Api(srv)
        r = c.request({"PageSize": "5"}, secret="wrong-secret")
        body = error_check(r, 400, "SignatureDoesNotMatch", service=False)
        eq(body["Message"], "Specified signature does not match our calculation. server string to sign is:"
           + c.last_sts, "the server's StringToSign equals ours")
        error_check(c.request({}, key_id="LTAI5tUnknownKey"), 404, "InvalidAccessKeyId.NotFound")
        error_check(c.request({}, date=utc(-16 * 60)), 400, "InvalidTimeStamp.Expired")
        error_check(c.request({}, date=utc(16 * 60)), 400, "InvalidTimeStamp.Expired")
        eq(c.request({}, date=utc(-14 * 60)).status, 200, "14 minutes of skew is fine")
        error_check(c.request({}, date="2024/01/01 10:00:00"), 400, "InvalidTimeStamp.Format")
        nonce = uuid.uuid4().hex
        eq(c.request({"PageSize": "2"}, nonce=nonce).status, 200, "first use of a nonce")
        error_check(c.request({"PageSize": "3"}, nonce=nonce), 400, "SignatureNonceUsed")
        error_check(c.request({}, sign=False), 400, "MissingAuthorization")
        error_check(c.request({}, headers_override={"authorization": "Bearer abc"}), 400, "IncompleteSignature")
        error_check(c.request({}, unsigned_extra={"x-acs-sneaky": "1"}), 400, "IncompleteSignature")
        r = c.request([("PageSize", "10")], send_pairs=[("PageSize", "11")])
        error_check(r, 400, "SignatureDoesNotMatch")
        r = c.request([("PageSize", "10")], send_pairs=[("PageSize", "10"), ("Status", "Running")])
        error_check(r, 400, "SignatureDoesNotMatch")
        error_check(c.request({}, drop=("x-acs-signature-nonce",)), 400, "MissingParameter")
        error_check(c.request({}, sign=True, extra={"x-acs-signature-nonce": ""}), 400, "MissingParameter")
        error_check(c.request({}, drop=("x-acs-version",)), 400, "MissingParameter")
        error_check(c.request({}, extra={"x-acs-version": "2021-01-01"}), 400, "InvalidVersion")
        error_check(c.request({}, extra={"x-acs-action": "GetInstance"}), 404, "InvalidAction.NotFound")
        error_check(c.request({}, extra={"x-acs-content-sha256": "0" * 64}), 400, "InvalidParameter.ContentSha256")
        r = c.request({}, headers_override={"host": "%s:%d" % (c.host, c.port + 1)})
        error_check(r, 400, "SignatureDoesNotMatch")
        eq(c.request({}).status, 200, "the connection still works after rejections")
        stats = srv.stats()
        codes = [e["auth"] for e in stats["log"]]
        assert "SignatureDoesNotMatch" in codes and "InvalidAccessKeyId.NotFound" in codes, codes
        eq(stats["list_requests"], len(stats["log"]), "rejected requests are counted")
        c.close()
    # a replayed request (same nonce and signature) is refused too
    with MockServer(instances=5) as srv:
        host, port = srv.url[len("http://"):].rsplit(":", 1)
        h = {"host": "%s:%s" % (host, port), "x-acs-action": "ListInstances", "x-acs-version": "2022-01-01",
             "x-acs-date": utc(), "x-acs-signature-nonce": uuid.uuid4().hex,
             "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()}
        sts, signed = string_to_sign("GET", "/api/v2/instances", [], h)
        h["authorization"] = authorization(AK_ID, AK_SECRET, sts, signed)
        codes = []
        for _ in range(2):
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", "/api/v2/instances", headers=h)
            codes.append(json.loads(conn.getresponse().read()).get("Code"))
            conn.close()
        eq(codes, [None, "SignatureNonceUsed"], "replay")


@test
def sts_credentials_need_their_token():
    with MockServer("--sts", "STS.NUtestkey:StsSecret:CAIStoken+/=", sign=False, instances=20) as srv:
        good = Api(srv, key_id="STS.NUtestkey", secret="StsSecret", token="CAIStoken+/=")
        eq(good.request({}).status, 200, "with the token")
        error_check(good.request({}, drop=("x-acs-security-token",)), 400, "InvalidSecurityToken.Malformed")
        error_check(good.request({}, extra={"x-acs-security-token": "CAISother"}), 400,
                    "InvalidSecurityToken.MismatchWithAccessKey")
        error_check(good.request({}, drop=("authorization",)), 400, "MissingAuthorization")
        plain = Api(srv)
        error_check(plain.request({}), 404, "InvalidAccessKeyId.NotFound")
        good.close()
        plain.close()


@test
def unsigned_server_needs_no_signature():
    with MockServer(sign=False, instances=20) as srv:
        r = api_once(srv, {"PageSize": "3"}, sign=False, drop=("x-acs-action", "x-acs-version", "x-acs-date"))
        eq(r.status, 200, "no signature needed")
        eq(srv.stats()["log"][0]["auth"], "none", "auth label")


# ---------------------------------------------------------------------------------------------
# Faults


def set_faults(srv, *rules):
    return srv.control("POST", "faults", {"faults": list(rules)})


@test
def fault_status_with_count_after_and_page():
    with MockServer(instances=40) as srv:
        set_faults(srv, {"kind": "status", "status": 503, "code": "ServiceUnavailableTemporary", "count": 2,
                         "after": 1})
        c = Api(srv)
        got = [c.request({}).status for _ in range(5)]
        eq(got, [200, 503, 503, 200, 200], "after 1, count 2")
        set_faults(srv, {"kind": "status", "status": 500, "page": 2})
        q = {"WorkspaceId": "ALL", "ResourceId": "ALL", "PageSize": "10"}
        eq(c.request(dict(q, PageNumber="1")).status, 200, "page 1")
        r = c.request(dict(q, PageNumber="2"))
        error_check(r, 500, "InternalError")
        eq(c.request(dict(q, PageNumber="3")).status, 200, "page 3")
        eq(c.request(dict(q, PageNumber="2")).status, 500, "page 2 until cleared")
        srv.control("DELETE", "faults")
        eq(c.request(dict(q, PageNumber="2")).status, 200, "cleared")
        log = srv.stats()["log"]
        eq([e["fault"] for e in log[:3]], [None, "status", "status"], "faults are logged")
        eq(log[1]["auth"], "ok", "the faulted request was still authenticated")
        eq(srv.stats()["ok_requests"], len([e for e in log if e["status"] == 200]), "ok_requests")
        c.close()


@test
def fault_throttle():
    with MockServer(instances=10) as srv:
        set_faults(srv, {"kind": "throttle", "count": 1}, {"kind": "throttle", "status": 429, "code": "Throttling",
                                                           "count": 1})
        c = Api(srv)
        body = error_check(c.request({}), 400, "Throttling.User")
        assert "flow control" in body["Message"], body
        error_check(c.request({}), 429, "Throttling")
        eq(c.request({}).status, 200, "used up")
        eq([f["hits"] for f in srv.control("GET", "faults")["faults"]], [1, 1], "hits")
        c.close()


@test
def fault_latency_and_latency_flag():
    with MockServer(instances=10) as srv:
        set_faults(srv, {"kind": "latency", "ms": 800, "count": 1})
        c = Api(srv)
        t0 = time.monotonic()
        eq(c.request({}).status, 200, "delayed but fine")
        assert time.monotonic() - t0 >= 0.8, "latency fault"
        t0 = time.monotonic()
        c.request({})
        assert time.monotonic() - t0 < 0.6, "latency used up"
        c.close()
    with MockServer("--latency-ms", "600", instances=10) as srv:
        t0 = time.monotonic()
        eq(api_once(srv, {}).status, 200, "status")
        assert time.monotonic() - t0 >= 0.6, "--latency-ms"
        t0 = time.monotonic()
        srv.control("GET", "health")
        assert time.monotonic() - t0 < 0.5, "control API is not delayed"


@test
def fault_timeout():
    with MockServer(instances=10) as srv:
        set_faults(srv, {"kind": "timeout", "ms": 3000, "count": 1})
        c = Api(srv, timeout=0.5)
        t0 = time.monotonic()
        try:
            c.request({})
            raise AssertionError("expected a timeout")
        except (socket.timeout, TimeoutError):
            pass
        assert time.monotonic() - t0 < 2.5, "the client gave up, not the server"
        c.close()
        eq(api_once(srv, {}).status, 200, "next request fine")


@test
def fault_truncate():
    with MockServer(sign=False, instances=30) as srv:
        set_faults(srv, {"kind": "truncate", "count": 1})
        host, port = srv.url[len("http://"):].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET /api/v2/instances?WorkspaceId=ALL&ResourceId=ALL HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        assert head.startswith(b"HTTP/1.1 200"), head
        assert 0 < len(body) < length, (len(body), length)
        eq(len(body), length // 2, "half the body")
        eq(api_once(srv, {}, sign=False).status, 200, "next request fine")


@test
def fault_malformed_variants():
    with MockServer(sign=False, instances=20) as srv:
        for variant in (None, "cut", "html", "garbage", "empty", "trailing"):
            rule = {"kind": "malformed", "count": 1}
            if variant:
                rule["variant"] = variant
            set_faults(srv, rule)
            r = api_once(srv, {"WorkspaceId": "ALL", "ResourceId": "ALL"}, sign=False)
            eq(r.status, 200, "malformed is a 200")
            eq(r.json, None, "invalid JSON for %s: %r" % (variant, r.raw[:80]))
            eq(int(r.headers["Content-Length"]), len(r.raw), "length matches")
            if variant == "html":
                eq(r.headers["Content-Type"], "text/html", "html content type")
        raise_on = None
        try:
            set_faults(srv, {"kind": "malformed", "variant": "nope"})
        except Exception as e:  # noqa: BLE001 - urllib raises HTTPError for the 400
            raise_on = e
        assert raise_on is not None and getattr(raise_on, "code", None) == 400, raise_on


@test
def fault_wrong_types_variants():
    with MockServer(sign=False, instances=30) as srv:
        q = {"WorkspaceId": "ALL", "ResourceId": "ALL", "PageSize": "8"}
        checks = {
            None: lambda b: isinstance(b["TotalCount"], str) and not isinstance(b["Instances"][0]["InstanceName"], str),
            "mixed": lambda b: isinstance(b["TotalCount"], str) and isinstance(b["Instances"][1]["Labels"], dict),
            "instance_fields": lambda b: isinstance(b["TotalCount"], int) and isinstance(b["Instances"][3]["InstanceId"], int)
            and isinstance(b["Instances"][2]["RequestedResource"], str),
            "instances_string": lambda b: isinstance(b["Instances"], str),
            "instances_null": lambda b: b["Instances"] is None,
            "instances_object": lambda b: isinstance(b["Instances"], dict),
            "instance_not_object": lambda b: any(not isinstance(i, dict) for i in b["Instances"]),
            "totalcount_string": lambda b: b["TotalCount"] == "30",
            "top_level_array": lambda b: isinstance(b, list),
            "success_string": lambda b: b["Success"] == "true" and b["HttpStatusCode"] == "200",
        }
        for variant, check in checks.items():
            rule = {"kind": "wrong_types", "count": 1}
            if variant:
                rule["variant"] = variant
            set_faults(srv, rule)
            r = api_once(srv, q, sign=False)
            eq(r.status, 200, "status")
            assert r.json is not None and check(r.json), "%s: %r" % (variant, r.raw[:300])
        eq(api_once(srv, q, sign=False).json["TotalCount"], 30, "used up")


@test
def fault_reset_sends_rst():
    with MockServer(sign=False, instances=10) as srv:
        set_faults(srv, {"kind": "reset", "count": 1})
        host, port = srv.url[len("http://"):].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET /api/v2/instances HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(65536)
            raise AssertionError("expected a connection reset, got %r" % data[:100])
        except ConnectionResetError:
            pass
        finally:
            s.close()
        eq(api_once(srv, {}, sign=False).status, 200, "next request fine")
        eq(srv.stats()["log"][0]["fault"], "reset", "logged")


@test
def fault_drift_between_pages():
    with MockServer(instances=40) as srv:
        set_faults(srv, {"kind": "drift", "add": 3, "remove": 2, "page": 2, "count": 1})
        c = Api(srv)
        q = {"WorkspaceId": "ALL", "ResourceId": "ALL", "PageSize": "10"}
        p1 = c.request(dict(q, PageNumber="1"))
        eq(p1.json["TotalCount"], 40, "before")
        p2 = c.request(dict(q, PageNumber="2"))
        eq(p2.json["TotalCount"], 41, "drifted right before answering page 2")
        fleet = srv.fleet()
        eq(fleet["TotalCount"], 41, "fleet changed")
        ids = [i["InstanceId"] for i in fleet["Instances"]]
        eq(len(set(ids)), 41, "ids stay unique")
        new = c.request(dict(q, PageNumber="1", PageSize="3")).ids()
        assert not set(new) & set(p1.ids()), "the new instances are the newest and come first"
        overlap = set(p1.ids()) & set(p2.ids())
        assert overlap, "page 2 repeats instances shifted from page 1"
        eq(c.request(dict(q, PageNumber="2")).json["TotalCount"], 41, "count 1: no more drift")
        c.close()


@test
def fault_huge_body():
    with MockServer(sign=False, instances=10) as srv:
        set_faults(srv, {"kind": "huge", "bytes": 3000000, "count": 1})
        r = api_once(srv, {}, sign=False)
        eq((r.status, len(r.raw)), (200, 3000000), "size")
        assert r.json is not None and r.json["Success"] is True, "valid JSON"
        set_faults(srv, {"kind": "huge", "bytes": 10, "count": 1})
        eq(len(api_once(srv, {}, sign=False).raw), 10, "tiny")
        try:
            set_faults(srv, {"kind": "nope"})
            raise AssertionError("unknown kind accepted")
        except Exception as e:  # noqa: BLE001
            assert getattr(e, "code", None) == 400, e


# ---------------------------------------------------------------------------------------------
# Control API, fleets


@test
def control_api_and_stats():
    with MockServer(instances=20) as srv:
        eq(srv.control("GET", "health"), {"ok": True}, "health")
        inst = {"InstanceId": "dsw-added0000000001", "InstanceName": "added", "WorkspaceId": "40823",
                "PaymentType": "PayAsYouGo", "Status": "Running", "GmtCreateTime": "2030-01-01T00:00:00Z",
                "GmtModifiedTime": "2030-01-01T00:00:00Z"}
        srv.control("POST", "instances", inst)
        c = Api(srv)
        eq(c.request({"PageSize": "1"}).ids(), ["dsw-added0000000001"], "added instance is newest")
        patched = srv.control("PATCH", "instances/dsw-added0000000001", {"Status": "Stopped", "Priority": 9})
        eq((patched["Status"], patched["Priority"], patched["InstanceName"]), ("Stopped", 9, "added"), "merge")
        assert patched["GmtModifiedTime"] != "2030-01-01T00:00:00Z", "GmtModifiedTime set to now"
        assert abs(_t(patched["GmtModifiedTime"]) - time.time()) < 60, patched["GmtModifiedTime"]
        r = c.request({"InstanceId": "dsw-added0000000001", "Status": "Stopped"})
        eq(r.ids(), ["dsw-added0000000001"], "filters see the patch")
        p2 = srv.control("PATCH", "instances/dsw-added0000000001", {"GmtModifiedTime": "2031-01-01T00:00:00Z"})
        eq(p2["GmtModifiedTime"], "2031-01-01T00:00:00Z", "explicit GmtModifiedTime kept")
        eq(srv.control("DELETE", "instances/dsw-added0000000001")["deleted"], 1, "delete")
        eq(srv.fleet()["TotalCount"], 20, "back to 20")
        for method, path, body in (("DELETE", "instances/dsw-nope", None), ("PATCH", "instances/dsw-nope", {"a": 1}),
                                   ("GET", "nothing", None)):
            try:
                srv.control(method, path, body)
                raise AssertionError("%s %s succeeded" % (method, path))
            except Exception as e:  # noqa: BLE001
                eq(getattr(e, "code", None), 404, "%s %s" % (method, path))
        srv.control("POST", "fleet", {"Instances": [dict(inst, InstanceId="dsw-only")]})
        eq(srv.fleet()["Instances"], [dict(inst, InstanceId="dsw-only")], "replaced fleet")
        srv.control("POST", "stats/reset")
        for k in range(1005):
            c.request({"PageSize": str(1 + k % 5)}, sign=(k < 1004))
        st = srv.stats()
        eq((st["requests"], st["list_requests"], st["ok_requests"], len(st["log"])), (1005, 1005, 1004, 1000),
           "counters and the last 1000 log entries")
        eq(st["log"][-1]["code"], "MissingAuthorization", "last entry")
        eq(st["log"][-1]["query"], {"PageSize": "5"}, "decoded query")
        eq(st["log"][0]["query"], {"PageSize": str(1 + 5 % 5)}, "oldest kept entry")
        c.close()


@test
def serves_a_saved_fleet_file():
    insts = [{"InstanceId": "dsw-file%012d" % k, "InstanceName": "file-%d" % k, "WorkspaceId": "40823",
              "PaymentType": "PayAsYouGo", "Status": "Running", "GmtCreateTime": "2024-05-0%dT12:00:00Z" % (k + 1)}
             for k in range(4)]
    insts.append({"InstanceName": "no id, no times", "Odd": {"a/b": None}})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump({"Instances": insts}, f, ensure_ascii=False)
    try:
        with MockServer("--fleet", f.name, instances=999) as srv:
            eq(srv.fleet(), {"TotalCount": 5, "Instances": insts}, "the file's instances, unchanged")
            r = api_once(srv, {"WorkspaceId": "ALL", "ResourceId": "ALL"})
            eq(r.ids(), ["dsw-file%012d" % k for k in (3, 2, 1, 0)] + [None], "sorted, the odd one last")
    finally:
        os.unlink(f.name)


@test
def fleets_are_deterministic_per_seed():
    a = dsw_fleet.generate(200, 11)
    eq(a, dsw_fleet.generate(200, 11), "same seed, same fleet")
    assert a != dsw_fleet.generate(200, 12), "another seed, another fleet"
    with MockServer(sign=False, instances=120, seed=9) as s1, MockServer(sign=False, instances=120, seed=9) as s2:
        f1 = s1.fleet()
        eq(f1, s2.fleet(), "two servers, same seed")
    eq(f1["Instances"], dsw_fleet.generate(120, 9), "the server serves the generator's fleet")


@test
def fleet_has_every_awkward_case():
    with MockServer(sign=False, instances=300, seed=1) as srv:
        fleet = srv.fleet()["Instances"]
    ids = [i["InstanceId"] for i in fleet]
    eq(len(set(ids)), len(ids), "unique ids")
    assert all(re.match(r"^dsw-[0-9a-z]{16}$", i) for i in ids), "id shape"
    eq(set(i["Status"] for i in fleet if isinstance(i.get("Status"), str)), set(STATUSES), "all 15 statuses")
    wss = {i["WorkspaceId"] for i in fleet}
    assert "40823" in wss and len(wss) >= 6, wss
    names = [i.get("InstanceName", KeyError) for i in fleet]
    for want in ("训练数据-实验一", "a/b/c", "multi\nline\nname", ".", "..", "", "实验 *~ draft (v2)+!'"):
        assert want in names, want
    assert any(isinstance(n, str) and re.search("[\U0001F300-\U0001FAFF]", n) for n in names), "emoji name"
    assert any(isinstance(n, str) and " " in n for n in names), "name with spaces"
    assert any(isinstance(n, str) and len(n.encode()) > 300 for n in names), "300+ byte name"
    assert names.count("training_data") >= 2, "duplicate names"
    assert None in names and KeyError in names, "null and missing InstanceName"
    gpu_types = {i["RequestedResource"].get("GPUType") for i in fleet if isinstance(i.get("RequestedResource"), dict)}
    for t in ("NVIDIA A10", "Tesla-V100-16G", "NVIDIA A100-80G"):
        assert t in gpu_types, t
    accel = {i.get("AcceleratorType") for i in fleet}
    assert {"CPU", "GPU"} <= accel, accel
    for i in fleet:
        rr = i.get("RequestedResource")
        if i.get("PaymentType") == "PayAsYouGo" and isinstance(rr, dict) and i.get("EcsSpec") in dsw_fleet.ECS_SPECS:
            spec = dsw_fleet.ECS_SPECS[i["EcsSpec"]]
            eq((rr["CPU"], rr["GPU"]), (str(spec[0]), str(spec[2])), "EcsSpec consistent with resources")
            eq(i["AcceleratorType"], "GPU" if spec[2] else "CPU", "AcceleratorType consistent")
    lens = lambda f: {len(i[f]) for i in fleet if isinstance(i.get(f), list)}  # noqa: E731
    eq(lens("Datasets") >= set(range(6)), True, "Datasets of 0..5")
    eq(lens("InstanceSnapshotList") >= set(range(6)), True, "snapshots of 0..5")
    assert len(lens("Labels")) >= 4 and len(lens("Tags")) >= 3, "labels and tags of varying length"
    keys = set().union(*(set(i) for i in fleet))
    reference = ("WorkspaceId WorkspaceName InstanceId InstanceName EcsSpec Status InstanceUrl JupyterlabUrl WebIDEUrl "
                 "TerminalUrl AccumulatedRunningTimeInMs ImageId ImageUrl ImageName GmtCreateTime GmtModifiedTime "
                 "UserId UserName Datasets UserVpc InstanceShutdownTimer ReasonCode ReasonMessage PaymentType "
                 "LatestSnapshot AcceleratorType Accessibility EnvironmentVariables ResourceId ResourceName Priority "
                 "RequestedResource Labels IdleInstanceCuller InstanceSnapshotList CloudDisks WorkspaceSource Driver "
                 "CredentialConfig Affinity ImageAuth Tags DynamicMount OversoldType OversoldInfo TenantId "
                 "ServiceConfig").split()
    eq([k for k in reference if k not in keys], [], "every reference field appears")
    assert "FutureField" in keys, "a field the reference does not know"
    assert "MigrationOptions" not in keys, "MigrationOptions is the response body's, not an instance's (SDK model)"
    vpcs = [i["UserVpc"] for i in fleet if isinstance(i.get("UserVpc"), dict) and i["UserVpc"]]
    assert vpcs and all("Ip" in v for v in vpcs), "UserVpc.Ip (SDK model)"
    fwd = [f for v in vpcs for f in v.get("ForwardInfos", [])]
    assert fwd and all("NlbGatewayId" in f for f in fwd), "ForwardInfos[].NlbGatewayId (SDK model)"
    assert any(f["NlbGatewayId"] for f in fwd) and any(not f["NlbGatewayId"] for f in fwd), "NLB and NAT forwards"
    for f in ("LatestSnapshot", "OversoldInfo", "ServiceConfig", "ImageAuth", "CredentialConfig"):
        n = sum(1 for i in fleet if i.get(f) is not None)
        assert 0 < n < len(fleet), "%s only sometimes (%d)" % (f, n)
    assert any(i.get("UserVpc", 0) is None for i in fleet) and any("Labels" not in i for i in fleet), "nulls, missing"
    envs = [i["EnvironmentVariables"] for i in fleet if isinstance(i.get("EnvironmentVariables"), dict)]
    assert any("a/b" in e and "" in e for e in envs), "member names that are not file names"
    assert any(any("TOKEN" in k or "KEY" in k for k in e) and all(e.values()) for e in envs if e), "secrets"
    fut = [i["FutureField"] for i in fleet if isinstance(i.get("FutureField"), dict) and "Nested" in i["FutureField"]]
    assert any("a/b" in f["Nested"] and "" in f["Nested"] for f in fut), "odd member names in a future object"
    times = [i.get("GmtCreateTime") for i in fleet]
    assert all(re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", t) for t in times), "timestamp shape"


@test
def large_fleet_is_quick():
    t0 = time.monotonic()
    with MockServer(sign=False, instances=50000, seed=2) as srv:
        startup = time.monotonic() - t0
        with open("/proc/%d/stat" % srv.proc.pid) as f:  # CPU time: fair on a busy machine too
            fields = f.read().rsplit(")", 1)[1].split()
        startup_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        c = Api(srv, timeout=30)
        q = {"WorkspaceId": "ALL", "ResourceId": "ALL", "PageSize": "100"}
        t1 = time.monotonic()
        r = c.request(dict(q, PageNumber="1"), sign=False)
        first = time.monotonic() - t1
        eq((r.status, r.json["TotalCount"], len(r.ids())), (200, 50000, 100), "first page")
        t2 = time.monotonic()
        for page in range(2, 12):
            eq(len(c.request(dict(q, PageNumber=str(page)), sign=False).ids()), 100, "page %d" % page)
        later = (time.monotonic() - t2) / 10
        c.close()
    print("  50,000 instances: start %.2fs (%.2fs CPU), first page %.3fs, next pages %.3fs each"
          % (startup, startup_cpu, first, later))
    assert startup_cpu < 8 and startup < 30, "start-up took %.1fs (%.1fs CPU)" % (startup, startup_cpu)
    assert first < 2 and later < 0.5, (first, later)


@test
def hostile_server_modes_are_in_force_from_the_start():
    """tests/hostile_server.py: each named hostile behaviour holds from the first request on."""
    with MockServer(hostile="total-lie", instances=30) as srv:
        for _ in range(2):
            r = api_once(srv, {"PageSize": 10, "PageNumber": 1, "WorkspaceId": "ALL",
                               "ResourceId": "ALL"})
            eq(r.status, 200, "total-lie status")
            eq(r.json["TotalCount"], 15, "TotalCount from the lying server (half of 30)")
            eq(len(r.json["Instances"]), 10, "instances on the page")
    with MockServer(hostile="throttle") as srv:
        for _ in range(2):
            r = api_once(srv)
            error_check(r, 400, "Throttling.User")
            eq(r.headers.get("x-acs-retry-after"), "1000", "x-acs-retry-after")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "hostile_server.py"), "--list"],
                         capture_output=True, text=True, timeout=30)
    eq(out.returncode, 0, "hostile_server.py --list")
    for mode in ("stall", "throttle", "total-lie", "page-cap", "ignore-page", "bad-ids",
                 "secret-body", "malformed", "reset", "huge"):
        assert re.search(r"^%s " % re.escape(mode), out.stdout, re.M), (mode, out.stdout)
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "hostile_server.py"), "nope"],
                         capture_output=True, text=True, timeout=30)
    eq(bad.returncode, 2, "an unknown mode")
    assert "unknown mode" in bad.stderr, bad.stderr


if __name__ == "__main__":
    run()
