#!/usr/bin/env python3
"""hostile_server: the local DSW API server with one hostile behaviour in force from the start.

    python3 tests/hostile_server.py MODE [dsw_mock_server.py options...]
    python3 tests/hostile_server.py --list

Each MODE is a case dswfs must survive without crashing, hanging or lying (issue "Hostile
servers"): the mount tests set the same behaviours at run time through /_mock/faults
(tests/integration/test_mount_hostile.py, test_mount_resilience.py, test_mount_type_drift.py);
this names them so a person can point a mount at one by hand:

    python3 tests/hostile_server.py total-lie --port 8123 &
    dswfs -f -o endpoint=http://127.0.0.1:8123 mnt      # with any ALIBABA_CLOUD_ACCESS_KEY_*

The server is scripts/dsw_mock_server.py itself (one server, one response model); this only
turns a mode name into its --fault rules.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))

import dsw_mock_server  # noqa: E402

# name -> (what it does, fault rules); every rule stays in force (count -1).
MODES = {
    "stall": ("never answers within 60 s (a stalled server)", [{"kind": "timeout", "ms": 60000}]),
    "slow": ("answers after 2 s", [{"kind": "latency", "ms": 2000}]),
    "throttle": ("400 Throttling.User, Retry-After-style back-off in x-acs-retry-after",
                 [{"kind": "throttle", "retry_after_ms": 1000}]),
    "error-5xx": ("503 ServiceUnavailable", [{"kind": "status", "status": 503}]),
    "denied": ("403 Forbidden.RAM with an AccessDeniedDetail",
               [{"kind": "status", "status": 403, "code": "Forbidden.RAM",
                 "detail": {"AuthAction": "pai:ListInstances", "NoPermissionType": "ImplicitDeny"}}]),
    "reset": ("resets the TCP connection", [{"kind": "reset"}]),
    "truncate": ("closes the connection half-way through the body", [{"kind": "truncate"}]),
    "malformed": ("a body cut short with a matching Content-Length", [{"kind": "malformed"}]),
    "html": ("an HTML error page instead of JSON", [{"kind": "malformed", "variant": "html"}]),
    "huge": ("a 64 MiB body", [{"kind": "huge", "bytes": 64 << 20}]),
    "wrong-types": ("members of the wrong JSON types", [{"kind": "wrong_types"}]),
    "numbers": ("ids as numbers, null Status, boolean Accessibility",
                [{"kind": "wrong_types", "variant": "numbers"}]),
    "total-lie": ("TotalCount half the real count", [{"kind": "total_lie"}]),
    "page-cap": ("PageSize silently capped at 10", [{"kind": "page_cap", "size": 10}]),
    "ignore-page": ("every page answered as page 1, TotalCount 1,000,000",
                    [{"kind": "ignore_page"}]),
    "bad-ids": ("empty, numeric, null, missing and NUL InstanceIds", [{"kind": "bad_ids"}]),
    "nul-ids": ("every InstanceId with a \\u0000 inside", [{"kind": "bad_ids", "variant": "nul"}]),
    "secret-body": ("a text/plain 500 body quoting an AccessKeySecret", [{"kind": "secret_body"}]),
    "drift": ("instances added and removed between pages", [{"kind": "drift", "add": 3, "remove": 3}]),
}


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("\nmodes (--list for one per line):", ", ".join(sorted(MODES)))
        return 0 if argv else 2
    if argv[0] == "--list":
        for name in sorted(MODES):
            print("%-12s %s" % (name, MODES[name][0]))
        return 0
    mode = MODES.get(argv[0])
    if mode is None:
        print("hostile_server: unknown mode %r (one of: %s)" % (argv[0], ", ".join(sorted(MODES))),
              file=sys.stderr)
        return 2
    args = []
    for rule in mode[1]:
        args += ["--fault", json.dumps(dict(rule, count=-1))]
    return dsw_mock_server.main(args + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
