"""fake_metadata: a loopback stand-in for the ECS instance metadata service (IMDSv2) and for an
ALIBABA_CLOUD_CREDENTIALS_URI endpoint, for the credentials tests. Standard library only.

    python3 fake_metadata.py --role ROLE --id ID --secret SECRET --token TOKEN
        [--port 0] [--expires-in 3600] [--imdsv2 required|optional|off] [--delay-ms N]

Prints "listening on 127.0.0.1:PORT" once ready. Routes:
  PUT /latest/api/token                            a session token (needs the TTL header)
  GET /latest/meta-data/ram/security-credentials/  the role name
  GET /latest/meta-data/ram/security-credentials/<role>, GET /credentials
                                                   {"Code", "AccessKeyId", "AccessKeySecret",
                                                    "SecurityToken", "Expiration", "LastUpdated"}
  GET /_fake/stats   {"requests": [[method, path, token_state]], "token_puts": N,
                      "ttl_headers": [...], "unauthorized": N}
With --imdsv2 required, metadata GETs without an issued token get 401; with off, the token
request gets 404 (an old metadata service).
"""
import argparse
import datetime
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE_PREFIX = "/latest/meta-data/ram/security-credentials/"


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tokens = set()
        self.requests = []
        self.token_puts = 0
        self.ttl_headers = []
        self.unauthorized = 0

    def creds(self):
        a = self.args
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        exp = now + datetime.timedelta(seconds=a.expires_in)
        return {"Code": "Success", "AccessKeyId": a.id, "AccessKeySecret": a.secret,
                "SecurityToken": a.token, "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read /_fake/stats instead
        pass

    def send(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, token_state):
        st = self.server.state
        with st.lock:
            st.requests.append([self.command, self.path, token_state])

    def token_state(self):
        tok = self.headers.get("x-aliyun-ecs-metadata-token")
        if tok is None:
            return "none"
        with self.server.state.lock:
            return "ok" if tok in self.server.state.tokens else "bad"

    def do_PUT(self):
        st = self.server.state
        if self.server.state.args.delay_ms:
            time.sleep(st.args.delay_ms / 1000.0)
        self.record("-")
        if self.path != "/latest/api/token" or st.args.imdsv2 == "off":
            return self.send(404, "")
        ttl = self.headers.get("X-aliyun-ecs-metadata-token-ttl-seconds")
        with st.lock:
            st.ttl_headers.append(ttl)
        if not ttl:
            return self.send(400, "missing X-aliyun-ecs-metadata-token-ttl-seconds")
        tok = secrets.token_hex(16)
        with st.lock:
            st.tokens.add(tok)
            st.token_puts += 1
        return self.send(200, tok, "text/plain")

    def do_GET(self):
        st = self.server.state
        if self.path == "/_fake/stats":
            with st.lock:
                return self.send(200, json.dumps({
                    "requests": st.requests, "token_puts": st.token_puts,
                    "ttl_headers": st.ttl_headers, "unauthorized": st.unauthorized}))
        if st.args.delay_ms:
            time.sleep(st.args.delay_ms / 1000.0)
        state = self.token_state()
        self.record(state)
        if self.path == "/credentials":
            return self.send(200, json.dumps(st.creds()))
        if not self.path.startswith(ROLE_PREFIX):
            return self.send(404, "")
        if st.args.imdsv2 == "required" and state != "ok":
            with st.lock:
                st.unauthorized += 1
            return self.send(401, "")
        rest = self.path[len(ROLE_PREFIX):]
        if rest == "":
            return self.send(200, st.args.role + "\n", "text/plain")
        if rest == st.args.role:
            return self.send(200, json.dumps(st.creds()))
        return self.send(404, "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--role", default="dswfs-role")
    ap.add_argument("--id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--expires-in", type=int, default=3600)
    ap.add_argument("--imdsv2", choices=("required", "optional", "off"), default="required")
    ap.add_argument("--delay-ms", type=int, default=0, help="delay before every answer")
    args = ap.parse_args(argv)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
