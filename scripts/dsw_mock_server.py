#!/usr/bin/env python3
"""dsw_mock_server: a faithful local PAI-DSW API server (ListInstances) with a control API and faults.

Serves GET /api/v2/instances on 127.0.0.1 the way the real service does: every documented query
parameter filters server-side, paging, sorting, the real error shapes and codes, and (with
--access-key-id/--access-key-secret or --sts) ACS3-HMAC-SHA256 signature verification. An unsigned
control API under /_mock/ lets tests inspect and change the fleet, read request counters and inject
faults (see --help).

Decisions where the reference is silent (documented here, kept stable for tests):
- Default workspace (WorkspaceId absent or empty): 40823 (--default-workspace). "ALL" = every one.
- ResourceId absent or empty: only PaymentType == PayAsYouGo; "ALL" = all; else exact ResourceId.
- PageSize default 10; above --max-page-size (1000) -> 400 ValidationError, or clamped with
  --page-size-overflow clamp. PageNumber < 1 or PageSize < 1 -> 400 ValidationError.
- Non-integer PageNumber/PageSize, Labels that is not a JSON object of strings, Tag that is not a JSON
  array of {"Key": string, "Value": string|null} -> 400 InvalidParameter (the gateway checks types:
  error body without Success/HttpStatusCode). Bad enum values, non-numeric or negative Min*/Max*,
  bad CreateTime*, more than 4 labels or 20 tags -> 400 ValidationError (the service checks
  values: body also has "Success": false and "HttpStatusCode": 400).
- Exact, case-sensitive matches: InstanceName, ImageName, GpuType (RequestedResource.GPUType),
  CreateUserId (UserId), WorkspaceId, ResourceId, OversoldInfo, OversoldType, enum values.
- Status and InstanceId: comma lists, items trimmed, empty items ignored; any item matches.
- Labels: every given Key/Value must be in the instance's Labels. Tag: every {"Key","Value"} must be
  in Tags (TagKey/TagValue); a Tag element without Value (or null) matches the key with any value.
- Min/MaxCpu and Min/MaxGpu: thousandths, inclusive, against RequestedResource.CPU/GPU (a decimal
  string of cores, or "500m"). Min/MaxMemory: GB, inclusive, against RequestedResource.Memory
  ("32Gi", "32G", "32", "512Mi"; Gi and G both count as GB). Min/MaxGpuMemory: GB of one GPU from
  dsw_fleet.GPU_MEMORY_GB by GPUType (else a "<n>G" in the type name). An instance whose value is
  missing or unparsable never matches a bound on it. Min > Max simply matches nothing.
- CreateTimeAfter/Before: inclusive, "2024-01-12T14:36:01Z" (fraction and +hh:mm also accepted).
- Order: SortBy default GmtCreateTime, Order default DESC; ties broken by GmtCreateTime DESC then
  InstanceId ASC; instances lacking the sort value come last.
- Query values are decoded as forms are ('+' is a space), then re-encoded RFC 3986 for signing.
- Signature errors: no Authorization -> 400 MissingAuthorization; not "ACS3-HMAC-SHA256 Credential=,
  SignedHeaders=,Signature=" or host / an x-acs-* header left out of SignedHeaders -> 400
  IncompleteSignature; unknown key -> 404 InvalidAccessKeyId.NotFound; STS key without its token ->
  400 InvalidSecurityToken.Malformed, with another token -> 400
  InvalidSecurityToken.MismatchWithAccessKey; no x-acs-date / x-acs-signature-nonce (or, when signing
  is on, x-acs-action / x-acs-version) -> 400 MissingParameter; bad x-acs-date -> 400
  InvalidTimeStamp.Format, more than 15 minutes off -> 400 InvalidTimeStamp.Expired;
  x-acs-content-sha256 not the body's hash -> 400 InvalidParameter.ContentSha256; wrong signature ->
  400 SignatureDoesNotMatch (the message carries the server's StringToSign); a nonce seen in the
  last 30 minutes -> 400 SignatureNonceUsed. x-acs-action other than ListInstances -> 404
  InvalidAction.NotFound, x-acs-version other than 2022-01-01 -> 400 InvalidVersion.
- /_mock/stats: "requests" counts every request outside /_mock/, "list_requests" the ListInstances
  ones (rejected and faulted included), "ok_requests" those answered with a genuine 200 body.
"""
import argparse
import base64
import calendar
import collections
import datetime
import functools
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsw_fleet  # noqa: E402  (sibling module)

API_PATH = "/api/v2/instances"
API_ACTION = "ListInstances"
API_VERSION = "2022-01-01"
ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW = 15 * 60
JSON_CT = "application/json;charset=utf-8"

STATUSES = set(dsw_fleet.STATUSES)
ENUMS = {
    "PaymentType": ("PayAsYouGo", "Subscription"),
    "Accessibility": ("PRIVATE", "PUBLIC"),
    "AcceleratorType": ("CPU", "GPU"),
    "SortBy": ("Priority", "GmtCreateTime", "GmtModifiedTime"),
    "Order": ("ASC", "DESC"),
}
MAX_LABELS = 4
MAX_TAGS = 20

MESSAGES = {
    "ServiceUnavailableTemporary": "The request has failed due to a temporary failure of the server.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error, exception or failure.",
    "InternalFailure": "The request processing has failed due to some unknown error, exception or failure.",
    "Throttling": "Request was denied due to request throttling.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "Forbidden.RAM": "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
    "GatewayTimeout": "The request has timed out at the gateway.",
}
DEFAULT_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailableTemporary",
                 504: "GatewayTimeout", 403: "Forbidden.RAM", 429: "Throttling", 400: "InvalidParameter",
                 404: "InvalidAction.NotFound"}


# ---------------------------------------------------------------------------------------------
# Small parsers


def rfc3986(s):
    """Percent-encodes s (UTF-8; undecodable bytes kept as surrogates) leaving only -_.~ and alnums."""
    return urllib.parse.quote(s, safe="-_.~", errors="surrogateescape")


_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$")


_DAYS = {}


def _day_start(day):
    """UNIX time of 00:00Z on "YYYY-MM-DD" (cached: fleets share few days), None if invalid."""
    t = _DAYS.get(day)
    if t is None:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
            return None
        try:
            datetime.date(int(day[:4]), int(day[5:7]), int(day[8:10]))
        except ValueError:
            return None
        t = calendar.timegm((int(day[:4]), int(day[5:7]), int(day[8:10]), 0, 0, 0, 0, 0, 0))
        if len(_DAYS) < 200000:
            _DAYS[day] = t
    return t


def parse_time(s):
    """UNIX seconds for "2024-01-12T14:36:01Z" (optional fraction, Z or +hh:mm), else None."""
    if not isinstance(s, str):
        return None
    if len(s) == 20 and s[10] == "T" and s[13] == ":" and s[16] == ":" and s[19] == "Z":
        hms = s[11:13] + s[14:16] + s[17:19]
        if hms.isascii() and hms.isdigit():  # the usual shape: no regex
            day = _day_start(s[:10])
            h, mi, sec = int(hms[:2]), int(hms[2:4]), int(hms[4:])
            if day is None or h > 23 or mi > 59 or sec > 59:
                return None
            return day + h * 3600 + mi * 60 + sec
    m = _TIME_RE.match(s)
    if not m:
        return None
    day = _day_start(s[:10])
    h, mi, sec = int(m.group(4)), int(m.group(5)), int(m.group(6))
    if day is None or h > 23 or mi > 59 or sec > 59:
        return None
    t = day + h * 3600 + mi * 60 + sec
    if m.group(7):
        t += float("0." + m.group(7))
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t


_DEC_RE = re.compile(r"^\d+(?:\.\d+)?$")
_QTY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_MEM_UNITS = {"": 1.0, "G": 1.0, "Gi": 1.0, "GB": 1.0, "GiB": 1.0, "M": 1 / 1024, "Mi": 1 / 1024,
              "MB": 1 / 1024, "MiB": 1 / 1024, "K": 1 / 1048576, "Ki": 1 / 1048576, "T": 1024.0,
              "Ti": 1024.0, "TB": 1024.0}


def parse_milli(v):
    """Thousandths of a core/GPU for "4", "0.5" or "500m"; None if not such a string."""
    return _parse_milli(v) if isinstance(v, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_milli(v):
    m = _QTY_RE.match(v)
    if not m or m.group(2) not in ("", "m"):
        return None
    x = float(m.group(1))
    return round(x) if m.group(2) == "m" else round(x * 1000)


def parse_mem_gb(v):
    """GB for "32Gi", "32G", "32" (GB), "512Mi"; None if not such a string."""
    return _parse_mem_gb(v) if isinstance(v, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_mem_gb(v):
    m = _QTY_RE.match(v)
    if not m or m.group(2) not in _MEM_UNITS:
        return None
    return float(m.group(1)) * _MEM_UNITS[m.group(2)]


_GPU_MEM_RE = re.compile(r"(\d+)\s*G", re.I)


def gpu_memory_gb(gpu_type):
    """GB of one GPU of gpu_type (the dsw_fleet table, else "<n>G" in the name), None if unknown."""
    return _gpu_memory_gb(gpu_type) if isinstance(gpu_type, str) and gpu_type else None


@functools.lru_cache(maxsize=4096)
def _gpu_memory_gb(gpu_type):
    if gpu_type in dsw_fleet.GPU_MEMORY_GB:
        return float(dsw_fleet.GPU_MEMORY_GB[gpu_type])
    m = _GPU_MEM_RE.search(gpu_type)
    return float(m.group(1)) if m else None


def dumps(obj):
    """Compact UTF-8 JSON; \\u escapes only if obj holds lone surrogates (undecodable input bytes)."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def new_request_id():
    return str(uuid.uuid4()).upper()


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An error answer. service=True adds "Success": false and "HttpStatusCode" (backend errors)."""

    def __init__(self, status, code, message, service=False, detail=None):
        super().__init__(message)
        self.status, self.code, self.message, self.service = status, code, message, service
        self.detail = detail  # AccessDeniedDetail of a permission error


def invalid_param(name, why):
    return ApiError(400, "InvalidParameter", 'The specified parameter "%s" is not valid. %s' % (name, why))


def validation(message):
    return ApiError(400, "ValidationError", message, service=True)


def error_body(err, request_id, host):
    body = {"RequestId": request_id, "HostId": host, "Code": err.code, "Message": err.message,
            "Recommend": "https://api.aliyun.com/troubleshoot?q=%s&product=pai-dsw&requestId=%s"
                         % (err.code, request_id)}
    if err.service:
        body["Success"] = False
        body["HttpStatusCode"] = err.status
    if err.detail:
        body["AccessDeniedDetail"] = err.detail
    return dumps(body)


# ---------------------------------------------------------------------------------------------
# The fleet: each instance is kept as its JSON text (made on first use) plus a small index record.


def _s(v):
    return v if isinstance(v, str) else None


class Rec:
    """Index record of one instance: the fields filters and sorts look at, and its JSON bytes."""
    __slots__ = ("iid", "inst", "raw", "ser", "ws", "name", "status", "pay", "acc", "accel", "rid",
                 "uid", "image", "gtype", "cpu", "gpu", "mem", "gmem", "ctime", "mtime", "prio",
                 "labels", "tags", "osinfo", "ostype")

    def raw_bytes(self):
        inst = self.inst  # read before raw: another thread may serialise and drop inst meanwhile
        raw = self.raw
        if raw is None:
            raw = self.ser(inst)
            self.raw = raw
            self.inst = None
        return raw

    def to_dict(self):
        return json.loads(self.raw_bytes())


def make_rec(inst, ser=dumps, raw=None, pooled=None):
    """Index record for inst; pooled: {id(list): frozenset} of shared Labels/Tags lists (or None)."""
    r = Rec()
    r.inst, r.raw, r.ser = (None if raw is not None else inst), raw, ser
    g = inst.get
    r.iid = _s(g("InstanceId"))
    r.ws, r.name, r.status = _s(g("WorkspaceId")), _s(g("InstanceName")), _s(g("Status"))
    r.pay, r.acc, r.accel = _s(g("PaymentType")), _s(g("Accessibility")), _s(g("AcceleratorType"))
    r.rid, r.uid, r.image = _s(g("ResourceId")), _s(g("UserId")), _s(g("ImageName"))
    r.osinfo, r.ostype = _s(g("OversoldInfo")), _s(g("OversoldType"))
    rr = g("RequestedResource")
    if isinstance(rr, dict):
        r.gtype = _s(rr.get("GPUType"))
        r.cpu, r.gpu, r.mem = parse_milli(rr.get("CPU")), parse_milli(rr.get("GPU")), parse_mem_gb(rr.get("Memory"))
        r.gmem = gpu_memory_gb(r.gtype) if r.gpu else None
    else:
        r.gtype = r.cpu = r.gpu = r.mem = r.gmem = None
    r.ctime, r.mtime = parse_time(g("GmtCreateTime")), parse_time(g("GmtModifiedTime"))
    p = g("Priority")
    r.prio = p if isinstance(p, (int, float)) and not isinstance(p, bool) else None
    lab, tag = g("Labels"), g("Tags")
    if pooled is not None:
        r.labels = pooled.get(id(lab)) if lab else _EMPTY
        r.tags = pooled.get(id(tag)) if tag else _EMPTY
        if r.labels is None:
            r.labels = _pairs(lab, "Key", "Value")
        if r.tags is None:
            r.tags = _pairs(tag, "TagKey", "TagValue")
    else:
        r.labels = _pairs(lab, "Key", "Value")
        r.tags = _pairs(tag, "TagKey", "TagValue")
    return r


_EMPTY = frozenset()


def _pairs(lst, kname, vname):
    if not isinstance(lst, list) or not lst:
        return _EMPTY
    out = set()
    for e in lst:
        if isinstance(e, dict):
            k, v = e.get(kname), e.get(vname)
            if isinstance(k, str) and isinstance(v, str):
                out.add((k, v))
    return frozenset(out)


def pooled_pairs(gen):
    """{id(list): frozenset of pairs} for the generator's shared Labels and Tags lists."""
    out = {id(lst): _pairs(lst, "Key", "Value") for lst in gen.label_sets}
    out.update((id(lst), _pairs(lst, "TagKey", "TagValue")) for lst in gen.tag_sets)
    return out


def sort_recs(recs, sort_by, order):
    """Sorted copy: primary (sort_by, order), then GmtCreateTime DESC, then InstanceId ASC."""
    out = sorted(recs, key=lambda r: r.iid or "")
    out.sort(key=lambda r: (r.ctime is not None, r.ctime or 0), reverse=True)
    if sort_by != "GmtCreateTime" or order != "DESC":
        attr = {"GmtCreateTime": "ctime", "GmtModifiedTime": "mtime", "Priority": "prio"}[sort_by]
        if order == "ASC":
            out.sort(key=lambda r: (getattr(r, attr) is None, getattr(r, attr) or 0))
        else:
            out.sort(key=lambda r: (getattr(r, attr) is not None, getattr(r, attr) or 0), reverse=True)
    return out


class Fleet:
    """The instances, replaced copy-on-write so readers never see a half-made change."""

    def __init__(self, recs, gen):
        self.lock = threading.Lock()
        self.recs = recs
        self.version = 0
        self.gen = gen
        self.pooled = pooled_pairs(gen)
        self._sorted = {}
        self._cache = collections.OrderedDict()

    def _changed(self, recs):
        self.recs = recs
        self.version += 1
        self._sorted.clear()
        self._cache.clear()

    def select(self, q):
        """Instances matching q in q's order (a list shared with the cache: do not modify)."""
        with self.lock:
            ver, recs = self.version, self.recs
            key = (ver, q.fkey, q.sort_by, q.order)
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            base = self._sorted.get((q.sort_by, q.order))
        if base is None:
            base = sort_recs(recs, q.sort_by, q.order)
            with self.lock:
                if self.version == ver:
                    self._sorted[(q.sort_by, q.order)] = base
        res = base
        for pred in q.preds:
            res = [r for r in res if pred(r)]
        with self.lock:
            if self.version == ver:
                self._cache[key] = res
                while len(self._cache) > 64:
                    self._cache.popitem(last=False)
        return res

    def all_json(self):
        recs = self.recs
        return b'{"TotalCount":%d,"Instances":[' % len(recs) + b",".join(r.raw_bytes() for r in recs) + b"]}"

    def replace(self, insts):
        recs = [make_rec(i) for i in insts]
        with self.lock:
            self._changed(recs)
        return len(recs)

    def add(self, inst):
        rec = make_rec(inst)
        with self.lock:
            self._changed(self.recs + [rec])
        return rec

    def delete(self, iid):
        with self.lock:
            keep = [r for r in self.recs if r.iid != iid]
            n = len(self.recs) - len(keep)
            if n:
                self._changed(keep)
        return n

    def patch(self, iid, fields):
        with self.lock:
            recs = list(self.recs)
            done = None
            for k, r in enumerate(recs):
                if r.iid == iid:
                    inst = r.to_dict()
                    inst.update(fields)
                    if "GmtModifiedTime" not in fields:
                        inst["GmtModifiedTime"] = now_iso()
                    recs[k] = make_rec(inst)
                    done = inst
            if done is not None:
                self._changed(recs)
        return done

    def drift(self, add, remove, rng):
        """Removes `remove` random instances and adds `add` new ones created now."""
        with self.lock:
            recs = list(self.recs)
            for _ in range(min(remove, len(recs))):
                recs.pop(rng.randrange(len(recs)))
            ids = {r.iid for r in recs}
            now = int(time.time())
            for k in range(add):
                inst = self.gen.make(len(recs) + k, created=now, awkward=False)
                while inst["InstanceId"] in ids:
                    inst["InstanceId"] = self.gen.new_id()
                ids.add(inst["InstanceId"])
                recs.append(make_rec(inst, self.gen.serialize, pooled=self.pooled))
            self._changed(recs)


# ---------------------------------------------------------------------------------------------
# ListInstances parameters


class Query:
    __slots__ = ("preds", "fkey", "sort_by", "order", "page", "size")


def _opt(params, name):
    v = params.get(name)
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else str(v)


def _int_param(params, name, default):
    v = _opt(params, name)
    if v is None:
        return default
    if not re.match(r"^[+-]?\d{1,18}$", v.strip()):
        raise invalid_param(name, "It must be an integer.")
    return int(v)


def _enum(params, name, allowed):
    v = _opt(params, name)
    if v is not None and v not in allowed:
        raise validation("Invalid parameter %s: '%s' is not one of [%s]." % (name, v, ", ".join(allowed)))
    return v


def _number(params, name):
    v = _opt(params, name)
    if v is None:
        return None
    if not _DEC_RE.match(v.strip()):
        raise validation("Invalid parameter %s: '%s' is not a non-negative number." % (name, v))
    return float(v)


def _exact(attr, value):
    return lambda r: getattr(r, attr) == value


def _range(attr, lo, hi, scale=1.0):
    lo = None if lo is None else lo * scale
    hi = None if hi is None else hi * scale

    def pred(r):
        x = getattr(r, attr)
        return x is not None and (lo is None or x >= lo) and (hi is None or x <= hi)
    return pred


def parse_query(params, default_ws, max_page_size, clamp, paging=True):
    """Validated Query for decoded ListInstances params (name -> str); raises ApiError."""
    q = Query()
    preds, fkey = [], []

    ws = _opt(params, "WorkspaceId")
    if ws is None:
        preds.append(_exact("ws", default_ws))
        fkey.append(("WorkspaceId", None))
    elif ws != "ALL":
        preds.append(_exact("ws", ws))
        fkey.append(("WorkspaceId", ws))
    rid = _opt(params, "ResourceId")
    if rid is None:
        preds.append(_exact("pay", "PayAsYouGo"))
        fkey.append(("ResourceId", None))
    elif rid != "ALL":
        preds.append(_exact("rid", rid))
        fkey.append(("ResourceId", rid))

    st = _opt(params, "Status")
    if st is not None:
        items = [s.strip() for s in st.split(",") if s.strip()]
        for s in items:
            if s not in STATUSES:
                raise validation("Invalid parameter Status: '%s' is not one of [%s]."
                                 % (s, ", ".join(dsw_fleet.STATUSES)))
        if items:
            wanted = frozenset(items)
            preds.append(lambda r: r.status in wanted)
            fkey.append(("Status", tuple(sorted(wanted))))
    for name, attr in (("PaymentType", "pay"), ("Accessibility", "acc"), ("AcceleratorType", "accel")):
        v = _enum(params, name, ENUMS[name])
        if v is not None:
            preds.append(_exact(attr, v))
            fkey.append((name, v))
    ids = _opt(params, "InstanceId")
    if ids is not None:
        wanted_ids = frozenset(s.strip() for s in ids.split(",") if s.strip())
        if wanted_ids:
            preds.append(lambda r: r.iid in wanted_ids)
            fkey.append(("InstanceId", tuple(sorted(wanted_ids))))
    for name, attr in (("InstanceName", "name"), ("ImageName", "image"), ("CreateUserId", "uid"),
                       ("GpuType", "gtype"), ("OversoldInfo", "osinfo"), ("OversoldType", "ostype")):
        v = _opt(params, name)
        if v is not None:
            preds.append(_exact(attr, v))
            fkey.append((name, v))

    lab = _opt(params, "Labels")
    if lab is not None:
        try:
            obj = json.loads(lab)
        except ValueError:
            raise invalid_param("Labels", "It must be a JSON object string.") from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise invalid_param("Labels", "It must be a JSON object whose values are strings.")
        if len(obj) > MAX_LABELS:
            raise validation("Invalid parameter Labels: at most %d labels are allowed, got %d."
                             % (MAX_LABELS, len(obj)))
        if obj:
            want = frozenset(obj.items())
            preds.append(lambda r: want <= r.labels)
            fkey.append(("Labels", tuple(sorted(want))))
    tag = _opt(params, "Tag")
    if tag is not None:
        try:
            arr = json.loads(tag)
        except ValueError:
            raise invalid_param("Tag", "It must be a JSON array string.") from None
        if not isinstance(arr, list):
            raise invalid_param("Tag", "It must be a JSON array of {\"Key\",\"Value\"} objects.")
        tag_pairs = []
        for e in arr:
            if (not isinstance(e, dict) or not isinstance(e.get("Key"), str) or not e.get("Key")
                    or not isinstance(e.get("Value"), (str, type(None)))):
                raise invalid_param("Tag", "Each tag must be an object with a string Key and a string Value.")
            tag_pairs.append((e["Key"], e.get("Value")))
        if len(tag_pairs) > MAX_TAGS:
            raise validation("Invalid parameter Tag: at most %d tags are allowed." % MAX_TAGS)
        if tag_pairs:
            tp = tuple(tag_pairs)

            def tag_pred(r):
                for k, v in tp:
                    if v is None:
                        if not any(tk == k for tk, _ in r.tags):
                            return False
                    elif (k, v) not in r.tags:
                        return False
                return True
            preds.append(tag_pred)
            fkey.append(("Tag", tuple(sorted(tag_pairs, key=lambda p: (p[0], p[1] or "")))))

    for lo_name, hi_name, attr, scale in (("MinCpu", "MaxCpu", "cpu", 1.0), ("MinGpu", "MaxGpu", "gpu", 1.0),
                                          ("MinMemory", "MaxMemory", "mem", 1.0),
                                          ("MinGpuMemory", "MaxGpuMemory", "gmem", 1.0)):
        lo, hi = _number(params, lo_name), _number(params, hi_name)
        if lo is not None or hi is not None:
            preds.append(_range(attr, lo, hi, scale))
            fkey.append((lo_name, lo, hi))

    after_s, before_s = _opt(params, "CreateTimeAfter"), _opt(params, "CreateTimeBefore")
    after = before = None
    for name, v in (("CreateTimeAfter", after_s), ("CreateTimeBefore", before_s)):
        if v is not None and parse_time(v) is None:
            raise validation("Invalid parameter %s: '%s' is not a time like 2024-01-12T14:36:01Z." % (name, v))
    if after_s is not None:
        after = parse_time(after_s)
    if before_s is not None:
        before = parse_time(before_s)
    if after is not None or before is not None:
        preds.append(_range("ctime", after, before))
        fkey.append(("CreateTime", after, before))

    sort_by = _enum(params, "SortBy", ENUMS["SortBy"]) or "GmtCreateTime"
    order = _enum(params, "Order", ENUMS["Order"]) or "DESC"
    page = _int_param(params, "PageNumber", 1)
    size = _int_param(params, "PageSize", 10)
    if paging:
        if page < 1:
            raise validation("Invalid parameter PageNumber: %d, it must be 1 or greater." % page)
        if size < 1:
            raise validation("Invalid parameter PageSize: %d, it must be 1 or greater." % size)
        if size > max_page_size:
            if not clamp:
                raise validation("Invalid parameter PageSize: %d, it must be at most %d." % (size, max_page_size))
            size = max_page_size
    q.preds, q.fkey, q.sort_by, q.order, q.page, q.size = preds, tuple(fkey), sort_by, order, page, size
    return q


# ---------------------------------------------------------------------------------------------
# ACS3-HMAC-SHA256 verification


def parse_query_string(raw):
    """[(name, value)] decoded as a form ('+' is a space), keeping order and duplicates."""
    out = []
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        out.append((urllib.parse.unquote_plus(name, errors="surrogateescape"),
                    urllib.parse.unquote_plus(value, errors="surrogateescape")))
    return out


def _raw_header(v):
    """http.server decodes header bytes as Latin-1; give back the bytes (as UTF-8 + surrogates)."""
    return v.encode("latin-1", "replace").decode("utf-8", "surrogateescape")


def canonical_request(method, raw_path, pairs, headers, signed, payload_hash):
    """The canonical request the server recomputes (headers: name -> [values])."""
    uri = rfc3986(urllib.parse.unquote(raw_path, errors="surrogateescape")).replace("%2F", "/") or "/"
    cq = "&".join("%s=%s" % (rfc3986(n), rfc3986(v)) for n, v in sorted(pairs, key=lambda p: p[0]))
    ch = "".join("%s:%s\n" % (h, ",".join(sorted(_raw_header(v).strip() for v in headers.get(h, []))))
                 for h in signed)
    return "\n".join([method, uri, cq, ch, ";".join(signed), payload_hash])


class Auth:
    """Known keys: id -> (secret, STS token or None). Empty = no signature required."""

    def __init__(self, keys):
        self.keys = keys
        self.expiry = {}  # STS keys the server issued: id -> the second they stop working
        self.lock = threading.Lock()
        self.nonces = {}

    @property
    def enabled(self):
        return bool(self.keys)

    def check(self, method, raw_path, pairs, headers, body):
        """None if the request is properly signed, else the ApiError to answer with."""
        auth = headers.get("authorization")
        if not auth:
            return ApiError(400, "MissingAuthorization",
                            "The Authorization header that is mandatory for processing this request is not supplied.")
        auth = auth[0].strip()
        algo, _, rest = auth.partition(" ")
        fields = {}
        for item in rest.split(","):
            k, eq, v = item.strip().partition("=")
            if eq:
                fields[k.strip()] = v.strip()
        if algo != ALGORITHM or not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
            return ApiError(400, "IncompleteSignature",
                            "The request signature does not conform to Aliyun standards. "
                            "Expected: %s Credential=<AccessKeyId>,SignedHeaders=<headers>,Signature=<hex>"
                            % ALGORITHM)
        key_id = fields["Credential"]
        if key_id not in self.keys:
            return ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        secret, token = self.keys[key_id]
        exp = self.expiry.get(key_id)
        if exp is not None and time.time() >= exp:
            return ApiError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
        if token is not None:
            got = headers.get("x-acs-security-token")
            if not got or not got[0].strip():
                return ApiError(400, "InvalidSecurityToken.Malformed",
                                "Specified SecurityToken is malformed: the x-acs-security-token header is missing.")
            if got[0].strip() != token:
                return ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                                "Specified SecurityToken mismatch with the AccessKey.")
        for h in ("x-acs-date", "x-acs-signature-nonce"):
            if not headers.get(h) or not headers[h][0].strip():
                return ApiError(400, "MissingParameter", 'The input parameter "%s" that is mandatory for '
                                                         "processing this request is not supplied." % h)
        signed = [h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip()]
        must = ["host"] + sorted(h for h in headers if h.startswith("x-acs-"))
        for h in must:
            if h not in signed:
                return ApiError(400, "IncompleteSignature",
                                "The request signature does not conform to Aliyun standards. "
                                "Header %s must be signed (listed in SignedHeaders)." % h)
        date = headers["x-acs-date"][0].strip()
        t = parse_time(date) if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", date) else None
        if t is None:
            return ApiError(400, "InvalidTimeStamp.Format",
                            "Specified time stamp or date value is not well formatted.")
        if abs(time.time() - t) > MAX_SKEW:
            return ApiError(400, "InvalidTimeStamp.Expired",
                            "Specified time stamp or date value is expired. Server time: %s, x-acs-date: %s."
                            % (now_iso(), date))
        payload = hashlib.sha256(body).hexdigest()
        declared = headers.get("x-acs-content-sha256")
        if declared and declared[0].strip().lower() != payload:
            return ApiError(400, "InvalidParameter.ContentSha256",
                            "The x-acs-content-sha256 header does not match the SHA-256 of the request body.")
        creq = canonical_request(method, raw_path, pairs, headers, signed, payload)
        sts = ALGORITHM + "\n" + hashlib.sha256(creq.encode("utf-8", "surrogateescape")).hexdigest()
        want = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, fields["Signature"].lower()):
            return ApiError(400, "SignatureDoesNotMatch",
                            "Specified signature does not match our calculation. server string to sign is:" + sts)
        nonce = headers["x-acs-signature-nonce"][0].strip()
        now = time.time()
        with self.lock:
            if len(self.nonces) > 100000:
                self.nonces = {k: v for k, v in self.nonces.items() if v > now}
            exp = self.nonces.get((key_id, nonce))
            if exp is not None and exp > now:
                return ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self.nonces[(key_id, nonce)] = now + 2 * MAX_SKEW
        return None


# ---------------------------------------------------------------------------------------------
# STS (sts.aliyuncs.com, RPC style, version 2015-04-01): AssumeRole and AssumeRoleWithOIDC

STS_VERSION = "2015-04-01"
STS_ACTIONS = ("AssumeRole", "AssumeRoleWithOIDC")
ROLE_ARN_RE = re.compile(r"^acs:ram::\d+:role/[A-Za-z0-9._@-]{1,64}$")
OIDC_PROVIDER_RE = re.compile(r"^acs:ram::\d+:oidc-provider/[A-Za-z0-9._-]{1,128}$")
SESSION_RE = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
STS_MESSAGES = {
    "NoPermission": "You are not authorized to do this action. You should be authorized by RAM.",
}


def sts_error_body(err, request_id, detail=None):
    """The gateway's error shape as STS answers it; a denial carries AccessDeniedDetail."""
    body = {"RequestId": request_id, "HostId": "sts.aliyuncs.com", "Code": err.code, "Message": err.message,
            "Recommend": "https://api.aliyun.com/troubleshoot?q=%s&product=Sts&requestId=%s" % (err.code, request_id)}
    if detail:
        body["AccessDeniedDetail"] = detail
    return dumps(body)


class Sts:
    """What the STS endpoint knows: test settings (changed through /_mock/sts), the sessions it issued
    (their keys join the server's Auth, with their expiry) and a log of calls without secrets."""

    def __init__(self, auth, expiry_s=None, oidc_tokens=None):
        self.lock = threading.Lock()
        self.auth = auth
        self.expiry_s = expiry_s      # None: the session lasts DurationSeconds, as STS does
        self.oidc_tokens = oidc_tokens  # None: any non-empty token is accepted
        self.deny = {}                # RoleArn -> AccessDeniedDetail answered with 403 NoPermission
        self.calls = collections.deque(maxlen=1000)
        self.issued = []
        self.n = 0

    def settings(self, req):
        with self.lock:
            if "expiry_s" in req:
                v = req["expiry_s"]
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0):
                    raise ValueError("expiry_s must be a positive number or null")
                self.expiry_s = v
            if "oidc_tokens" in req:
                v = req["oidc_tokens"]
                if v is not None and not (isinstance(v, list) and all(isinstance(t, str) for t in v)):
                    raise ValueError("oidc_tokens must be a list of strings or null")
                self.oidc_tokens = v
            if "deny" in req:
                if not isinstance(req["deny"], dict):
                    raise ValueError("deny must be an object {RoleArn: AccessDeniedDetail}")
                self.deny = dict(req["deny"])
            if req.get("reset_log"):
                self.calls.clear()

    def to_dict(self):
        with self.lock:
            return {"expiry_s": self.expiry_s, "oidc_tokens": self.oidc_tokens, "deny": self.deny,
                    "calls": list(self.calls), "issued": list(self.issued)}

    def issue(self, role_arn, session, duration):
        with self.lock:
            self.n += 1
            n = self.n
            life = self.expiry_s if self.expiry_s is not None else duration
        key_id = "STS.NMock%04d%s" % (n, uuid.uuid4().hex[:12])
        secret = "MockStsSecret%s" % uuid.uuid4().hex
        token = "CAISMockToken%d/%s+=" % (n, uuid.uuid4().hex)
        exp = time.time() + life
        # Expiration has whole seconds, as STS writes it; the server expires the key at that second.
        exp_s = int(exp)
        with self.auth.lock:
            self.auth.keys[key_id] = (secret, token)
            self.auth.expiry[key_id] = exp_s
        with self.lock:
            self.issued.append({"AccessKeyId": key_id, "Expiration": exp_s, "RoleArn": role_arn,
                                "RoleSessionName": session})
        account = role_arn.split(":")[3]
        role = role_arn.rsplit("/", 1)[1]
        return {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token,
                "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp_s))}, \
            {"Arn": "acs:ram::%s:role/%s/%s" % (account, role, session),
             "AssumedRoleId": "3%017d:%s" % (n, session)}


def check_rpc_signature(auth, method, params):
    """RPC signature V1 (HMAC-SHA1), as the official credentials providers sign AssumeRole:
    (None, key_id) when good, else (ApiError, key_id)."""
    key_id = params.get("AccessKeyId")
    if not key_id:
        return ApiError(400, "MissingAccessKeyId", "AccessKeyId is mandatory for this action."), None
    if key_id not in auth.keys:
        return ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."), key_id
    secret, token = auth.keys[key_id]
    exp = auth.expiry.get(key_id)
    if exp is not None and time.time() >= exp:
        return ApiError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."), key_id
    if token is not None and params.get("SecurityToken") != token:
        return ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                        "Specified SecurityToken mismatch with the AccessKey."), key_id
    if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
        return ApiError(400, "IncompleteSignature", "SignatureMethod must be HMAC-SHA1, version 1.0."), key_id
    ts = params.get("Timestamp", "")
    t = parse_time(ts) if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", ts) else None
    if t is None:
        return ApiError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."), key_id
    if abs(time.time() - t) > MAX_SKEW:
        return ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."), key_id
    signed = {k: v for k, v in params.items() if k != "Signature"}
    canon = "&".join("%s=%s" % (rfc3986(k), rfc3986(v)) for k, v in sorted(signed.items()))
    sts = method + "&%2F&" + rfc3986(canon)
    want = base64.b64encode(hmac.new((secret + "&").encode(), sts.encode("utf-8", "surrogateescape"),
                                     hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(want, params.get("Signature", "")):
        return ApiError(400, "SignatureDoesNotMatch",
                        "Specified signature is not matched with our calculation. server string to sign is:" + sts), key_id
    nonce = params.get("SignatureNonce")
    if not nonce:
        return ApiError(400, "MissingSignatureNonce", "SignatureNonce is mandatory for this action."), key_id
    now = time.time()
    with auth.lock:
        exp = auth.nonces.get((key_id, nonce))
        if exp is not None and exp > now:
            return ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already."), key_id
        auth.nonces[(key_id, nonce)] = now + 2 * MAX_SKEW
    return None, key_id


# ---------------------------------------------------------------------------------------------
# Faults

PASS_KINDS = ("latency", "drift")
REPLACE_KINDS = ("status", "throttle", "timeout", "truncate", "malformed", "wrong_types", "reset", "huge")
# Hostile servers (issue 7): each bends one rule of the genuine answer.
#   total_lie {"total": N}     TotalCount reported as N (default half the real count): the pages hold more
#   page_cap {"size": N}       PageSize capped at N (default 10) whatever was asked; offsets use the cap
#   ignore_page {"total": N}   PageNumber ignored: every page is page 1, TotalCount N (default 1000000)
#   bad_ids {"variant": V}     the instances of each page lose usable ids: "mixed" (default) spoils the first
#                              five (InstanceId "", a number, null, missing, "dsw-nul\u0000<id>"); "nul"
#                              prefixes every id with "dsw-nul\u0000" (ids a NUL would cut all collide)
#   secret_body {"status": N}  a non-JSON text/plain error body (default 500) quoting SECRET_BODY_SECRET
HOSTILE_KINDS = ("total_lie", "page_cap", "ignore_page", "bad_ids", "secret_body")
REPLACE_KINDS += HOSTILE_KINDS
BAD_ID_VARIANTS = ("mixed", "nul")
SECRET_BODY_SECRET = "LTAI5tMockLeakedKey/AccessKeySecret=mOcKsEcReT0123456789abcdefXYZ"
KINDS = PASS_KINDS + REPLACE_KINDS
WRONG_VARIANTS = ("mixed", "instance_fields", "instances_string", "instances_null", "instances_object",
                  "instance_not_object", "totalcount_string", "top_level_array", "success_string")
MALFORMED_VARIANTS = ("cut", "html", "garbage", "empty", "trailing")
# Type drift a client can be consistent with: wrong_types "numbers" sends digit-only ids as JSON
# numbers and, for instances picked by their InstanceId, Status as null or Accessibility as a
# boolean; the same on every page and query, while filters keep seeing the stored values.
WRONG_VARIANTS += ("numbers",)
_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,15}")


def drift_types(inst):
    for k in ("WorkspaceId", "UserId"):
        v = inst.get(k)
        if isinstance(v, str) and _CANONICAL_INT.fullmatch(v) and int(v) <= 2 ** 53:
            inst[k] = int(v)
    pick = int(hashlib.sha256(str(inst.get("InstanceId")).encode()).hexdigest()[:8], 16) % 9
    if pick == 0 and "Status" in inst:
        inst["Status"] = None
    elif pick == 1 and isinstance(inst.get("Accessibility"), str):
        inst["Accessibility"] = inst["Accessibility"] == "PUBLIC"
    return inst


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def set(self, rules):
        norm = []
        for r in rules:
            if not isinstance(r, dict) or r.get("kind") not in KINDS:
                raise ValueError("each rule needs a kind, one of: " + ", ".join(KINDS))
            r = dict(r)
            for k, d in (("count", -1), ("after", 0)):
                v = r.get(k, d)
                if not isinstance(v, int) or isinstance(v, bool):
                    raise ValueError("%s must be an integer" % k)
                r[k] = v
            if r.get("page") is not None and not isinstance(r["page"], int):
                raise ValueError("page must be an integer")
            if r.get("detail") is not None and not isinstance(r["detail"], dict):
                raise ValueError("detail must be an object (AccessDeniedDetail)")
            for k in ("ms", "add", "remove", "bytes", "status", "total", "size", "retry_after_ms"):
                if k in r and (not isinstance(r[k], (int, float)) or isinstance(r[k], bool) or r[k] < 0):
                    raise ValueError("%s must be a non-negative number" % k)
            if r["kind"] == "wrong_types" and r.get("variant", "mixed") not in WRONG_VARIANTS:
                raise ValueError("wrong_types variant must be one of: " + ", ".join(WRONG_VARIANTS))
            if r["kind"] == "malformed" and r.get("variant", "cut") not in MALFORMED_VARIANTS:
                raise ValueError("malformed variant must be one of: " + ", ".join(MALFORMED_VARIANTS))
            if r["kind"] == "bad_ids" and r.get("variant", "mixed") not in BAD_ID_VARIANTS:
                raise ValueError("bad_ids variant must be one of: " + ", ".join(BAD_ID_VARIANTS))
            if r["kind"] == "page_cap" and int(r.get("size", 10)) < 1:
                raise ValueError("page_cap size must be at least 1")
            r.setdefault("hits", 0)
            norm.append(r)
        with self.lock:
            self.rules = norm

    def snapshot(self):
        with self.lock:
            return [dict(r) for r in self.rules]

    def match(self, page):
        """(pass-through rules, the replacing rule or None) that apply to a request for page."""
        passing, replace = [], None
        with self.lock:
            for r in self.rules:
                if r.get("page") is not None and r["page"] != page:
                    continue
                if r["count"] == 0:
                    continue
                if r["after"] > 0:
                    r["after"] -= 1
                    continue
                if r["kind"] in REPLACE_KINDS:
                    if replace is not None:
                        continue
                    replace = r
                else:
                    passing.append(r)
                if r["count"] > 0:
                    r["count"] -= 1
                r["hits"] += 1
        return passing, replace


WRONG_FIELDS = [
    {"InstanceName": 42, "Status": None, "GmtCreateTime": 1704067200},
    {"Labels": {"team": "nlp"}, "Tags": "env=prod", "Datasets": {"DatasetId": "d-1"}},
    {"RequestedResource": "CPU=4,Memory=16Gi", "Priority": "high", "AccumulatedRunningTimeInMs": "3600000"},
    {"InstanceId": 123456789},
    {"UserVpc": ["vpc-1"], "EnvironmentVariables": ["A=1"], "LatestSnapshot": "none"},
    {"WorkspaceId": 40823, "UserName": {"first": "a"}, "InstanceSnapshotList": {}},
    {"AccumulatedRunningTimeInMs": 1.5e300, "Priority": -1, "GmtModifiedTime": "yesterday"},
    {"InstanceName": ["a", "b"], "IdleInstanceCuller": 5,
     "RequestedResource": {"CPU": 4, "GPU": None, "Memory": True}},
]


def spoil_ids(variant, insts, first_index):
    """bad_ids: the page's instances with unusable or NUL-bearing InstanceIds (see HOSTILE_KINDS)."""
    for k, inst in enumerate(insts):
        iid = inst.get("InstanceId")
        if variant == "nul":
            inst["InstanceId"] = "dsw-nul\u0000%s" % iid
        elif k == 0:
            inst["InstanceId"] = ""
        elif k == 1:
            inst["InstanceId"] = 900000000 + first_index + k
        elif k == 2:
            inst["InstanceId"] = None
        elif k == 3:
            del inst["InstanceId"]
        elif k == 4:
            inst["InstanceId"] = "dsw-nul\u0000%s" % iid
    return insts


def wrong_types_body(variant, insts, total, rid):
    body = collections.OrderedDict([("RequestId", rid), ("Success", True), ("Code", None), ("Message", None),
                                    ("HttpStatusCode", 200), ("TotalCount", total), ("Instances", insts)])
    if variant in ("mixed", "instance_fields"):
        if not insts:
            insts.append({"InstanceId": "dsw-0000000000000000"})
        for k, inst in enumerate(insts):
            inst.update(WRONG_FIELDS[k % len(WRONG_FIELDS)])
        if variant == "mixed":
            body["TotalCount"] = str(total)
    elif variant == "numbers":
        body["Instances"] = [drift_types(i) for i in insts]
    elif variant == "instances_string":
        body["Instances"] = dumps(insts).decode()
    elif variant == "instances_null":
        body["Instances"] = None
    elif variant == "instances_object":
        body["Instances"] = {"Instance": insts}
    elif variant == "instance_not_object":
        body["Instances"] = insts + ["dsw-bogus", 42, None, [], True]
    elif variant == "totalcount_string":
        body["TotalCount"] = str(total)
    elif variant == "top_level_array":
        return dumps(insts)
    elif variant == "success_string":
        body["Success"], body["HttpStatusCode"], body["Code"] = "true", "200", 0
    return dumps(body)


# ---------------------------------------------------------------------------------------------
# Counters and the request log


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = self.list_requests = self.ok_requests = 0
        self.log = collections.deque(maxlen=1000)

    def to_dict(self):
        with self.lock:
            return {"requests": self.requests, "list_requests": self.list_requests,
                    "ok_requests": self.ok_requests, "log": list(self.log)}


# ---------------------------------------------------------------------------------------------
# HTTP


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if self.cfg.verbose:
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed, as real front ends do

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this Nagle holds the body back until
        # the client's delayed ACK (40 ms a request on keep-alive connections).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self):
        return "Tengine"

    def log_message(self, fmt, *args):
        if self.server.cfg.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # --- plumbing ------------------------------------------------------------------------------
    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def commit_log(self):
        """Appends this request's log entry once, before its answer leaves (so a client that has the
        answer always finds the entry in /_mock/stats)."""
        entry, self._entry = getattr(self, "_entry", None), None
        if entry is not None:
            with self.server.stats.lock:
                self.server.stats.log.append(entry)

    def send(self, status, body, ctype=JSON_CT, request_id=None):
        self.commit_log()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if request_id:
            self.send_header("x-acs-request-id", request_id)
        for k, v in getattr(self, "extra_headers", None) or ():
            self.send_header(k, v)
        self.extra_headers = None
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj):
        self.send(status, dumps(obj))

    def host_id(self):
        host = (self.headers.get("Host") or "pai-dsw.%s.aliyuncs.com" % dsw_fleet.REGION).strip()
        return host.rsplit(":", 1)[0] if not host.endswith("]") else host

    def reset_connection(self):
        """Closes the connection with a TCP RST (SO_LINGER 0, no FIN first)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def dispatch(self):
        try:
            body = self.read_body()
            raw_path, _, raw_query = self.path.partition("?")
            if raw_path == "/_mock" or raw_path.startswith("/_mock/"):
                self.control(raw_path[len("/_mock"):].strip("/"), body)
            else:
                self.api(raw_path, raw_query, body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    # --- the API -------------------------------------------------------------------------------
    def api(self, raw_path, raw_query, body):
        srv = self.server
        cfg = srv.cfg
        rid = new_request_id()
        with srv.stats.lock:
            srv.stats.requests += 1
        if cfg.latency_ms > 0:
            time.sleep(cfg.latency_ms / 1000.0)
        pairs = parse_query_string(raw_query)
        params = {}
        for n, v in pairs:
            params.setdefault(n, v)
        auth_fields = dict(x.strip().partition("=")[::2]
                           for x in (self.headers.get("Authorization") or " ").split(" ", 1)[-1].split(","))
        entry = {"time": now_iso(), "t": time.time(), "method": self.command, "path": raw_path, "query": params,
                 "status": None, "code": None, "auth": None, "fault": None, "request_id": rid,
                 "key_id": auth_fields.get("Credential")}
        self._entry = entry
        try:
            action = (self.headers.get("x-acs-action") or params.get("Action") or "").strip()
            if raw_path == "/" and action in STS_ACTIONS:
                entry["sts"] = action
                self.sts_request(action, raw_path, pairs, body, rid, entry)
                return
            if raw_path != API_PATH or self.command != "GET":
                err = ApiError(404, "InvalidAction.NotFound",
                               "Specified api is not found, please check your url and method.")
                entry["auth"] = "unchecked"
                self.send_error_json(err, rid, entry)
                return
            with srv.stats.lock:
                srv.stats.list_requests += 1
            self.list_instances(raw_path, pairs, params, body, rid, entry)
        finally:
            self.commit_log()

    def sts_request(self, action, raw_path, pairs, body, rid, entry):
        """AssumeRole (signed: ACS3-HMAC-SHA256 or the RPC signature V1) and AssumeRoleWithOIDC
        (anonymous), parameters in the query or an x-www-form-urlencoded body."""
        srv = self.server
        sts = srv.sts
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        params = dict(pairs)
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or "") and body:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8", "surrogateescape"), keep_blank_values=True))
        call = {"time": now_iso(), "action": action, "signature": None, "signed_by": None,
                "RoleArn": params.get("RoleArn"), "RoleSessionName": params.get("RoleSessionName"),
                "DurationSeconds": params.get("DurationSeconds"), "Policy": params.get("Policy"),
                "ExternalId": params.get("ExternalId"), "OIDCProviderArn": params.get("OIDCProviderArn"),
                "OIDCToken": (params.get("OIDCToken") or "")[:12] + "...", "status": None, "code": None,
                "AccessKeyId": None}

        def fail(err, detail=None):
            call["status"], call["code"] = err.status, err.code
            entry["status"], entry["code"] = err.status, err.code
            with sts.lock:
                sts.calls.append(call)
            self.send(err.status, sts_error_body(err, rid, detail), request_id=rid)

        err = None
        version = (self.headers.get("x-acs-version") or params.get("Version") or "").strip()
        if version != STS_VERSION:
            return fail(ApiError(400, "InvalidVersion", "Specified parameter Version is not valid."))
        if self.command != "POST" and "authorization" in headers:
            return fail(ApiError(400, "InvalidParameter", "STS takes POST."))
        if "authorization" in headers:
            call["signature"] = "ACS3-HMAC-SHA256"
            err = srv.auth.check(self.command, raw_path, pairs, headers, body)
            fields = dict(x.strip().partition("=")[::2] for x in headers["authorization"][0].split(" ", 1)[-1].split(","))
            call["signed_by"] = fields.get("Credential")
        elif "Signature" in params:
            call["signature"] = "HMAC-SHA1"
            err, call["signed_by"] = check_rpc_signature(srv.auth, self.command, params)
        elif action == "AssumeRole":
            err = ApiError(400, "MissingSignature", "Signature is mandatory for this action.")
        if err is not None:
            return fail(err)
        role_arn = params.get("RoleArn") or ""
        session = params.get("RoleSessionName") or ""
        if not role_arn:
            return fail(ApiError(400, "MissingRoleArn", "RoleArn is mandatory for this action."))
        if not ROLE_ARN_RE.match(role_arn):
            return fail(ApiError(400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed."))
        if not SESSION_RE.match(session):
            return fail(ApiError(400, "InvalidParameter.RoleSessionName",
                                 "The parameter RoleSessionName is wrongly formed."))
        try:
            duration = int(params.get("DurationSeconds") or 3600)
        except ValueError:
            duration = -1
        if not 900 <= duration <= 43200:
            return fail(ApiError(400, "InvalidParameter.DurationSeconds",
                                 "The Min/Max value of DurationSeconds is 15min/12hr."))
        if params.get("Policy"):
            try:
                json.loads(params["Policy"])
            except ValueError:
                return fail(ApiError(400, "InvalidParameter.PolicyGrammar", "The policy has a syntax error."))
        if action == "AssumeRoleWithOIDC":
            tok = params.get("OIDCToken") or ""
            if not OIDC_PROVIDER_RE.match(params.get("OIDCProviderArn") or ""):
                return fail(ApiError(400, "InvalidParameter.OIDCProviderArn",
                                     "The parameter OIDCProviderArn is wrongly formed."))
            with sts.lock:
                accepted = sts.oidc_tokens
            if not tok or (accepted is not None and tok not in accepted):
                return fail(ApiError(400, "InvalidParameter.OIDCToken", "The OIDCToken is invalid or expired."))
        with sts.lock:
            detail = sts.deny.get(role_arn)
        if detail is not None:
            d = {"AuthAction": "sts:" + action, "AuthPrincipalType": "SubUser",
                 "AuthPrincipalDisplayName": call["signed_by"] or "oidc-user", "AuthResource": role_arn,
                 "NoPermissionType": "ImplicitDeny", "PolicyType": "AccountLevelIdentityBasedPolicy",
                 "EncodedDiagnosticMessage": "AQEAAAAAaMockDiagnostic"}
            d.update(detail if isinstance(detail, dict) else {})
            return fail(ApiError(403, "NoPermission", STS_MESSAGES["NoPermission"]), d)
        creds, user = sts.issue(role_arn, session, duration)
        call["status"], call["AccessKeyId"] = 200, creds["AccessKeyId"]
        entry["status"], entry["auth"] = 200, "ok"
        with sts.lock:
            sts.calls.append(call)
        out = {"RequestId": rid, "AssumedRoleUser": user, "Credentials": creds}
        if action == "AssumeRoleWithOIDC":
            out["OIDCTokenInfo"] = {"Subject": "system:serviceaccount:default:dswfs", "Issuer": "https://oidc.mock",
                                    "ClientIds": "sts.aliyuncs.com"}
        self.send(200, dumps(out), request_id=rid)

    def send_error_json(self, err, rid, entry):
        entry["status"], entry["code"] = err.status, err.code
        self.send(err.status, error_body(err, rid, self.host_id()), request_id=rid)

    def precheck(self, raw_path, pairs, body):
        """(ApiError or None, auth label for the log): API routing headers, then the signature."""
        srv = self.server
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        action, version = headers.get("x-acs-action"), headers.get("x-acs-version")
        if srv.auth.enabled:
            for h, got in (("x-acs-action", action), ("x-acs-version", version)):
                if not got:
                    return ApiError(400, "MissingParameter", 'The input parameter "%s" that is mandatory for '
                                                             "processing this request is not supplied." % h), "unchecked"
        if action and action[0].strip() != API_ACTION:
            return ApiError(404, "InvalidAction.NotFound",
                            "Specified api is not found, please check your url and method."), "unchecked"
        if version and version[0].strip() != API_VERSION:
            return ApiError(400, "InvalidVersion", "Specified parameter Version is not valid."), "unchecked"
        if not srv.auth.enabled:
            return None, "none"
        err = srv.auth.check(self.command, raw_path, pairs, headers, body)
        return err, ("ok" if err is None else err.code)

    def list_instances(self, raw_path, pairs, params, body, rid, entry):
        srv = self.server
        cfg = srv.cfg
        err, entry["auth"] = self.precheck(raw_path, pairs, body)
        try:
            page = _int_param(params, "PageNumber", 1)
        except ApiError:
            page = None
        passing, rule = srv.faults.match(page)
        for r in passing:
            entry["fault"] = r["kind"]
            if r["kind"] == "latency":
                time.sleep(float(r.get("ms", 50)) / 1000.0)
            elif r["kind"] == "drift":
                with srv.drift_lock:
                    srv.fleet.drift(int(r.get("add", 0)), int(r.get("remove", 0)), srv.drift_rng)
        kind = rule["kind"] if rule else None
        if kind:
            entry["fault"] = kind
        if kind in ("status", "throttle"):
            status = int(rule.get("status", 503 if kind == "status" else 400))
            code = rule.get("code") or ("Throttling.User" if kind == "throttle" else DEFAULT_CODES.get(status, "InternalError"))
            msg = rule.get("message") or MESSAGES.get(code, "The request has failed: %s." % code)
            if rule.get("retry_after_ms") is not None:
                self.extra_headers = [("x-acs-retry-after", str(int(rule["retry_after_ms"])))]
            self.send_error_json(ApiError(status, code, msg, detail=rule.get("detail")), rid, entry)
            return
        if kind == "timeout":
            self.commit_log()
            time.sleep(float(rule.get("ms", 30000)) / 1000.0)
            self.close_connection = True
            return
        if kind == "reset":
            self.commit_log()
            self.reset_connection()
            return
        if kind == "huge":
            self.send_huge(int(rule.get("bytes", 16 << 20)), rid, entry)
            return
        if kind == "malformed" and rule.get("variant", "cut") != "cut":
            self.send_malformed(rule.get("variant"), rid, entry)
            return
        if kind == "secret_body":
            entry["status"] = int(rule.get("status", 500))
            body = ("Internal error while signing with %s\nstack: at signer.sign()\n" % SECRET_BODY_SECRET).encode()
            self.send(entry["status"], body, ctype="text/plain", request_id=rid)
            return

        # The genuine answer (which truncate, malformed "cut" and wrong_types then spoil).
        status, out, q, total, page_recs = 200, None, None, 0, []
        if err is None:
            try:
                q = parse_query(params, cfg.default_workspace, cfg.max_page_size, cfg.page_size_overflow == "clamp")
            except ApiError as e:
                err = e
        if err is not None:
            status, out = err.status, error_body(err, rid, self.host_id())
            entry["code"] = err.code
        else:
            matches = srv.fleet.select(q)
            total = len(matches)
            pnum, size, shown = q.page, q.size, total
            if kind == "page_cap":
                size = min(size, int(rule.get("size", 10)))
            elif kind == "ignore_page":
                pnum, shown = 1, int(rule.get("total", 1000000))
            elif kind == "total_lie":
                shown = int(rule.get("total", total // 2))
            start = (pnum - 1) * size
            page_recs = matches[start:start + size] if start < total else []
            head = dumps(collections.OrderedDict([("RequestId", rid), ("Success", True), ("Code", None),
                                                  ("Message", None), ("HttpStatusCode", 200),
                                                  ("TotalCount", shown),
                                                  ("MigrationOptions", dsw_fleet.MIGRATION_OPTIONS)]))
            if kind == "bad_ids":
                insts = spoil_ids(rule.get("variant", "mixed"), [r.to_dict() for r in page_recs], start)
                raw = b",".join(dumps(i) for i in insts)
            else:
                raw = b",".join(r.raw_bytes() for r in page_recs)
            out = head[:-1] + b',"Instances":[' + raw + b"]}"
        entry["status"] = status
        if kind == "wrong_types":
            insts = [r.to_dict() for r in page_recs] or [r.to_dict() for r in srv.fleet.recs[:3]]
            if rule.get("variant") == "numbers":  # the genuine page, only retyped
                insts = [r.to_dict() for r in page_recs]
            entry["status"], entry["code"] = 200, None
            self.send(200, wrong_types_body(rule.get("variant", "mixed"), insts, total, rid), request_id=rid)
            return
        if kind == "malformed":  # variant "cut": the genuine body cut short, with a matching length
            entry["status"], entry["code"] = 200, None
            self.send(200, out[:max(1, len(out) * 3 // 5)], request_id=rid)
            return
        if kind == "truncate":
            self.commit_log()
            self.close_connection = True
            self.send_response(status)
            self.send_header("Content-Type", JSON_CT)
            self.send_header("Content-Length", str(len(out)))
            self.send_header("x-acs-request-id", rid)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(out[:len(out) // 2])
            return
        if status == 200:
            with srv.stats.lock:
                srv.stats.ok_requests += 1
        self.send(status, out, request_id=rid)

    def send_huge(self, n, rid, entry):
        entry["status"] = 200
        head = b'{"RequestId":"%s","Success":true,"Code":null,"Message":null,"HttpStatusCode":200,' \
               b'"TotalCount":0,"Instances":[],"Padding":"' % rid.encode()
        tail = b'"}'
        self.commit_log()
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", JSON_CT)
        self.send_header("Content-Length", str(n))
        self.send_header("x-acs-request-id", rid)
        self.send_header("Connection", "close")
        self.end_headers()
        if n < len(head) + len(tail):
            self.wfile.write(b" " * n)
            return
        self.wfile.write(head)
        left = n - len(head) - len(tail)
        chunk = b"x" * (1 << 20)
        while left > 0:
            self.wfile.write(chunk[:min(left, len(chunk))])
            left -= min(left, len(chunk))
        self.wfile.write(tail)

    def send_malformed(self, variant, rid, entry):
        entry["status"] = 200
        if variant == "html":
            body = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
                    b"Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n")
            self.send(200, body, ctype="text/html", request_id=rid)
            return
        if variant == "garbage":
            body = bytes(random.Random(rid).getrandbits(8) for _ in range(512)) + b"\xff\xfe{"
        elif variant == "empty":
            body = b""
        else:  # trailing
            body = b'{"RequestId":"%s","Success":true,"TotalCount":0,"Instances":[]}}]garbage' % rid.encode()
        self.send(200, body, request_id=rid)

    # --- the control API -----------------------------------------------------------------------
    def control(self, path, body):
        srv = self.server
        m = self.command
        try:
            req = json.loads(body) if body.strip() else None
        except ValueError as e:
            self.send_json(400, {"error": "invalid JSON: %s" % e})
            return
        try:
            if path == "health" and m == "GET":
                self.send_json(200, {"ok": True})
            elif path == "stats" and m == "GET":
                self.send_json(200, srv.stats.to_dict())
            elif path == "stats/reset" and m == "POST":
                with srv.stats.lock:
                    srv.stats.reset()
                self.send_json(200, {"ok": True})
            elif path == "fleet" and m == "GET":
                self.send(200, srv.fleet.all_json())
            elif path == "fleet" and m in ("POST", "PUT"):
                insts = req.get("Instances") if isinstance(req, dict) else req
                if not isinstance(insts, list) or not all(isinstance(i, dict) for i in insts):
                    raise ValueError('body must be {"Instances": [object, ...]}')
                self.send_json(200, {"ok": True, "TotalCount": srv.fleet.replace(insts)})
            elif path == "instances" and m == "POST":
                if not isinstance(req, dict):
                    raise ValueError("body must be an instance object")
                if "InstanceId" not in req:
                    req["InstanceId"] = srv.fleet.gen.new_id()
                if any(r.iid == req["InstanceId"] for r in srv.fleet.recs):
                    self.send_json(409, {"error": "instance %s exists" % req["InstanceId"]})
                    return
                srv.fleet.add(req)
                self.send_json(200, req)
            elif path.startswith("instances/") and m in ("DELETE", "PATCH"):
                iid = urllib.parse.unquote(path[len("instances/"):])
                if m == "DELETE":
                    n = srv.fleet.delete(iid)
                    self.send_json(200 if n else 404, {"ok": bool(n), "deleted": n})
                else:
                    if not isinstance(req, dict):
                        raise ValueError("body must be an object of fields")
                    inst = srv.fleet.patch(iid, req)
                    self.send_json(200 if inst is not None else 404,
                                   inst if inst is not None else {"error": "no instance %s" % iid})
            elif path == "query" and m == "POST":
                params = (req or {}).get("params") or {}
                if not isinstance(params, dict):
                    raise ValueError("params must be an object")
                params = {k: (v if isinstance(v, str) else dumps(v).decode()) for k, v in params.items()
                          if v is not None}
                cfg = srv.cfg
                try:
                    q = parse_query(params, cfg.default_workspace, cfg.max_page_size, True, paging=False)
                except ApiError as e:
                    self.send(e.status, error_body(e, new_request_id(), self.host_id()))
                    return
                recs = srv.fleet.select(q)
                self.send(200, b'{"TotalCount":%d,"Instances":[' % len(recs)
                          + b",".join(r.raw_bytes() for r in recs) + b"]}")
            elif path == "sts" and m == "GET":
                self.send_json(200, srv.sts.to_dict())
            elif path == "sts" and m == "POST":
                if not isinstance(req, dict):
                    raise ValueError('body must be {"expiry_s": N, "oidc_tokens": [...], "deny": {...}}')
                srv.sts.settings(req)
                self.send_json(200, {"ok": True})
            elif path == "faults" and m == "POST":
                rules = req.get("faults") if isinstance(req, dict) else req
                if not isinstance(rules, list):
                    raise ValueError('body must be {"faults": [rule, ...]}')
                srv.faults.set(rules)
                self.send_json(200, {"ok": True, "faults": srv.faults.snapshot()})
            elif path == "faults" and m == "DELETE":
                srv.faults.set([])
                self.send_json(200, {"ok": True})
            elif path == "faults" and m == "GET":
                self.send_json(200, {"faults": srv.faults.snapshot()})
            else:
                self.send_json(404, {"error": "no control endpoint %s /_mock/%s" % (m, path)})
        except ValueError as e:
            self.send_json(400, {"error": str(e)})


# ---------------------------------------------------------------------------------------------
# Start-up


def load_fleet_file(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    insts = doc.get("Instances") if isinstance(doc, dict) else doc
    if not isinstance(insts, list) or not all(isinstance(i, dict) for i in insts):
        raise ValueError('%s: expected {"Instances": [object, ...]}' % path)
    return insts


EPILOG = """control API (unsigned, JSON):
  GET /_mock/health | GET /_mock/stats | POST /_mock/stats/reset
  GET /_mock/fleet | POST /_mock/fleet {"Instances": [...]}
  POST /_mock/instances {instance} | PATCH|DELETE /_mock/instances/<InstanceId>
  POST /_mock/query {"params": {...}}      ListInstances' answer for params, without paging
  GET|POST|DELETE /_mock/faults            POST {"faults": [rule, ...]} replaces the rules
  GET /_mock/sts | POST /_mock/sts {"expiry_s": N|null, "oidc_tokens": [...]|null,
                   "deny": {RoleArn: {AccessDeniedDetail members}}, "reset_log": true}

STS: POST / with x-acs-action (or Action=) AssumeRole (signed with a known key: ACS3-HMAC-SHA256 or the
RPC signature V1) or AssumeRoleWithOIDC (anonymous), version 2015-04-01, parameters in the query or a
form body. Issued keys (STS.*) are then accepted with their SecurityToken until Expiration (whole
seconds; expired -> 400 InvalidSecurityToken.Expired).

fault rule: {"kind": K, "count": N (-1 = until cleared), "after": M, "page": P, ...}
  status {"status": 503, "code": ..., "message": ..., "detail": {AccessDeniedDetail},
          "retry_after_ms": N (sent as x-acs-retry-after)}   throttle (Throttling.User, 400; same members)
  latency {"ms": 50}   timeout {"ms": 30000}   truncate   reset (TCP RST)
  drift {"add": N, "remove": N}   huge {"bytes": N}
  malformed {"variant": cut|html|garbage|empty|trailing}
  wrong_types {"variant": mixed|instance_fields|instances_string|instances_null|instances_object|
               instance_not_object|totalcount_string|top_level_array|success_string}
  wrong_types {"variant": "numbers"}  digit-only WorkspaceId/UserId as numbers, some Status null
               and Accessibility boolean, consistently; filters still see the stored values
hostile servers:
  total_lie {"total": N}      TotalCount reported as N (default half the real count)
  page_cap {"size": N}        PageSize capped at N (default 10), offsets computed with the cap
  ignore_page {"total": N}    every page answered as page 1, TotalCount N (default 1000000)
  bad_ids {"variant": mixed|nul}  mixed: per page InstanceId "", a number, null, missing and one
                              with a NUL; nul: every id "dsw-nul\\u0000<id>"
  secret_body {"status": 500} a non-JSON text/plain error body quoting an AccessKeySecret
"""


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="dsw_mock_server.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Local PAI-DSW API server: GET /api/v2/instances (ListInstances) on 127.0.0.1, with an "
                    "unsigned control API under /_mock/ (health, stats, stats/reset, fleet, instances, query, "
                    "faults). Prints 'listening on 127.0.0.1:PORT' once ready.")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--instances", type=int, default=300, help="size of the generated fleet (default 300)")
    ap.add_argument("--seed", default="1", help="seed of the generated fleet (default 1)")
    ap.add_argument("--fleet", metavar="FILE", help='serve the instances of a saved {"Instances": [...]} file')
    ap.add_argument("--access-key-id", metavar="ID", help="require ACS3-HMAC-SHA256 signatures with this key")
    ap.add_argument("--access-key-secret", metavar="SECRET")
    ap.add_argument("--sts", metavar="ID:SECRET:TOKEN", action="append", default=[],
                    help="an STS key: requests signed with ID must carry x-acs-security-token: TOKEN")
    ap.add_argument("--sts-expiry", type=float, metavar="SECONDS",
                    help="sessions the STS endpoint issues expire after this (default: DurationSeconds)")
    ap.add_argument("--oidc-token", action="append", default=[], metavar="TOKEN",
                    help="an OIDC token AssumeRoleWithOIDC accepts (default: any non-empty token)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API request")
    ap.add_argument("--default-workspace", default=dsw_fleet.DEFAULT_WORKSPACE,
                    help="workspace used when WorkspaceId is absent (default %(default)s)")
    ap.add_argument("--max-page-size", type=int, default=1000, help="largest PageSize (default 1000)")
    ap.add_argument("--page-size-overflow", choices=("reject", "clamp"), default="reject",
                    help="a larger PageSize is rejected (400 ValidationError, default) or clamped")
    ap.add_argument("--fault", action="append", default=[], metavar="JSON",
                    help="a fault rule (see below) in force from the start, as POST /_mock/faults "
                         "would set it; repeatable (tests/hostile_server.py names the hostile ones)")
    ap.add_argument("--verbose", action="store_true", help="log requests and errors on stderr")
    ap.add_argument("--region", default=dsw_fleet.REGION,
                    help="the region this server plays: its HostId and the generated instances' URLs "
                         "(default %(default)s)")
    args = ap.parse_args(argv)
    if bool(args.access_key_id) != bool(args.access_key_secret):
        ap.error("--access-key-id and --access-key-secret go together")
    keys = {}
    if args.access_key_id:
        keys[args.access_key_id] = (args.access_key_secret, None)
    for s in args.sts:
        parts = s.split(":", 2)
        if len(parts) != 3 or not all(parts):
            ap.error("--sts wants ID:SECRET:TOKEN")
        keys[parts[0]] = (parts[1], parts[2])
    args.keys = keys
    rules = []
    for f in args.fault:
        try:
            rules.append(json.loads(f))
        except ValueError as e:
            ap.error("--fault %r: not JSON: %s" % (f, e))
    try:
        Faults().set(rules)
    except ValueError as e:
        ap.error("--fault: %s" % e)
    args.fault_rules = rules
    if args.instances < 0:
        ap.error("--instances must be 0 or more")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seed = int(args.seed) if re.match(r"^-?\d+$", args.seed) else args.seed
    dsw_fleet.REGION = args.region
    gen = dsw_fleet.Generator(seed)
    if args.fleet:
        try:
            recs = [make_rec(i) for i in load_fleet_file(args.fleet)]
        except (OSError, ValueError) as e:
            print("dsw_mock_server: %s" % e, file=sys.stderr)
            return 2
    else:
        pooled = pooled_pairs(gen)
        recs = [make_rec(gen.make(i), gen.serialize, pooled=pooled) for i in range(args.instances)]
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.cfg = args
    srv.fleet = Fleet(recs, gen)
    srv.auth = Auth(args.keys)
    srv.sts = Sts(srv.auth, args.sts_expiry, args.oidc_token or None)
    srv.faults = Faults()
    srv.faults.set(args.fault_rules)
    srv.stats = Stats()
    srv.drift_lock = threading.Lock()
    srv.drift_rng = random.Random("drift-%s" % args.seed)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
