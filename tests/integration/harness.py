"""harness: test registration, the local DSW API server and dswfs mounts for integration tests.

Every test prints PASS:/FAIL:/SKIP: lines that tests/run.sh counts. Servers and mounts are
context managers that clean up even when a test fails.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MOCK = os.path.join(ROOT, "scripts", "dsw_mock_server.py")
HOSTILE = os.path.join(ROOT, "tests", "hostile_server.py")
DSWFS = os.environ.get("DSWFS_BIN", os.path.join(ROOT, "build", "dswfs"))

AK_ID = "LTAI5tTestAccessKeyId"
AK_SECRET = "TestAccessKeySecret+/="

_tests = []


class Skip(Exception):
    """Raise to mark the running test skipped."""


def test(fn):
    _tests.append(fn)
    return fn


def run(argv=None):
    argv = sys.argv if argv is None else argv
    name = os.path.splitext(os.path.basename(sys.modules["__main__"].__file__))[0]
    only = argv[1] if len(argv) > 1 else None
    passed = failed = skipped = 0
    for fn in _tests:
        if only and only not in fn.__name__:
            continue
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            print(f"SKIP: {name}.{fn.__name__}: {e}", flush=True)
            skipped += 1
        except Exception:  # noqa: BLE001 - a test failure of any kind is reported, not raised
            for line in traceback.format_exc().rstrip().splitlines():
                print("  " + line, flush=True)
            print(f"FAIL: {name}.{fn.__name__}", flush=True)
            failed += 1
        else:
            print(f"PASS: {name}.{fn.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
            passed += 1
    print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.exit(1 if failed else 0)


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or the deadline passes (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg}: {a!r} != {b!r}" if msg else f"{a!r} != {b!r}")


class MockServer:
    """The local DSW API server on 127.0.0.1 with a random port.

    args: extra command-line arguments. With sign=True (default) signatures are required with
    AK_ID/AK_SECRET. .url is the endpoint; .control(method, path, body) talks to /_mock/.
    """

    def __init__(self, *args, sign=True, instances=50, seed=1, hostile=None):
        # hostile: a mode of tests/hostile_server.py, in force from the start
        self.cmd = [MOCK] if hostile is None else [HOSTILE, hostile]
        self.args = ["--port", "0", "--instances", str(instances), "--seed", str(seed)]
        if sign:
            self.args += ["--access-key-id", AK_ID, "--access-key-secret", AK_SECRET]
        self.args += list(args)
        self.proc = None
        self.url = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable] + self.cmd + self.args,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.__exit__(None, None, None)
            raise AssertionError(f"mock server did not start: {line!r} {err}")
        self.url = "http://" + line.split()[2]
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr) if self.proc else ():
            f.close()
        return False

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_mock/" + path.lstrip("/"), data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def stats(self):
        return self.control("GET", "stats")

    def fleet(self):
        return self.control("GET", "fleet")

    def list_requests(self):
        return self.stats()["list_requests"]


def in_mount_table(path):
    """Whether path is in /proc/self/mounts (also true for a dead FUSE server's mount, which
    os.path.ismount cannot stat)."""
    path = os.path.abspath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ").replace("\\011", "\t")
            if mnt == path:
                return True
    return False


def creds_env(extra=None):
    """An environment whose only credentials are the test AK (no files from the real HOME)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    home = tempfile.mkdtemp(prefix="dswfs-home-")
    env.update({"HOME": home, "ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET,
                "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"})
    env.update(extra or {})
    return env


class Mount:
    """dswfs mounted in the foreground on a fresh directory; unmounted and reaped on exit."""

    def __init__(self, server, *opts, env=None, binary=None):
        self.server = server
        self.opts = list(opts)
        self.env = env if env is not None else creds_env()
        self.binary = binary or DSWFS
        self.dir = None
        self.proc = None
        self.log = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="dswfs-mnt-")
        self.log = tempfile.NamedTemporaryFile(prefix="dswfs-log-", suffix=".txt", delete=False)
        # server None: the options name every endpoint (several regions, endpoint.<id>=URL).
        o = ",".join(([f"endpoint={self.server.url}"] if self.server else []) + self.opts)
        try:
            self.proc = subprocess.Popen([self.binary, "-f", "-o", o, self.dir], env=self.env,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            wait_until(lambda: os.path.ismount(self.dir) or self.proc.poll() is not None,
                       timeout=20, what="mount")
            if not os.path.ismount(self.dir):
                raise AssertionError(f"dswfs exited {self.proc.returncode}: {self.output()}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def __exit__(self, *exc):
        if self.dir and (os.path.ismount(self.dir) or in_mount_table(self.dir)):
            subprocess.run(["fusermount3", "-u", "-z", self.dir], capture_output=True)
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(getattr(self, "exit_timeout", 10))
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
        if self.dir:
            try:
                os.rmdir(self.dir)
            except OSError:
                pass
        if self.log:
            self.log.close()
            if exc and exc[0] is not None:
                sys.stdout.write("  dswfs log:\n" + "".join(
                    "    " + l for l in self.output().splitlines(True)[-30:]))
            os.unlink(self.log.name)
        return False


class Shared:
    """A server (and, with mount=True, a dswfs mount of it) shared by the tests of one file:
    started on first use, closed by close() at exit. A start-up failure fails every later use
    with the same cause instead of retrying. prepare(server) runs once before the mount."""

    def __init__(self, instances, seed, mount=False, prepare=None):
        self.stack = contextlib.ExitStack()
        self.instances = instances
        self.seed = seed
        self.with_mount = mount
        self.prepare = prepare
        self.srv = None
        self.mnt = None
        self.fleet = None  # the server's fleet as first started (after prepare)
        self.error = None

    def _start(self):
        if self.error:
            what = "shared mount" if self.with_mount else "server"
            raise AssertionError(f"{what} unavailable: {self.error}")
        if self.srv is None:
            try:
                self.srv = self.stack.enter_context(
                    MockServer(instances=self.instances, seed=self.seed))
                if self.prepare:
                    self.prepare(self.srv)
                self.fleet = self.srv.fleet()["Instances"]
                if self.with_mount:
                    self.mnt = self.stack.enter_context(Mount(self.srv))
            except Exception as e:  # noqa: BLE001 - every later test reports the same cause
                self.error = str(e)
                raise

    def server(self):
        """The server, with faults cleared, the original fleet back and stats reset."""
        self._start()
        self.srv.control("DELETE", "faults")
        if self.srv.fleet()["Instances"] != self.fleet:
            self.srv.control("POST", "fleet", {"Instances": self.fleet})
        self.srv.control("POST", "stats/reset")
        return self.srv

    def mount(self):
        """(server, mount) as they are; fails if dswfs has exited."""
        self._start()
        if self.mnt.proc.poll() is not None:
            raise AssertionError(
                f"dswfs died (exit {self.mnt.proc.returncode}): {self.mnt.output()[-2000:]}")
        return self.srv, self.mnt

    def close(self):
        self.stack.close()


def read(path):
    """The bytes of the file at path."""
    with open(path, "rb") as f:
        return f.read()


# ---- What a mount should show (shared by the test_mount_* suites) -------------------------

REDACTED = "<redacted>"

# Directory name of each filter key -> the ListInstances parameter it sets.
FILTER_PARAMS = {
    "workspace-id": "WorkspaceId", "instance-id": "InstanceId", "instance-name": "InstanceName",
    "resource-id": "ResourceId", "status": "Status", "payment-type": "PaymentType",
    "accessibility": "Accessibility", "accelerator-type": "AcceleratorType",
    "gpu-type": "GpuType", "image-name": "ImageName", "create-user-id": "CreateUserId",
    "min-cpu": "MinCpu", "max-cpu": "MaxCpu", "min-gpu": "MinGpu", "max-gpu": "MaxGpu",
    "min-memory": "MinMemory", "max-memory": "MaxMemory", "min-gpu-memory": "MinGpuMemory",
    "max-gpu-memory": "MaxGpuMemory", "create-time-after": "CreateTimeAfter",
    "create-time-before": "CreateTimeBefore", "oversold-info": "OversoldInfo",
    "oversold-type": "OversoldType", "label": "Labels", "tag": "Tag",
}

STATUSES = ["Creating", "SaveFailed", "Stopped", "Failed", "ResourceAllocating", "Stopping",
            "Updating", "Saving", "Queuing", "Recovering", "Starting", "Running", "Saved",
            "Deleting", "EnvPreparing"]


def escape_name(name):
    """render_escape_name (include/render.h) for names that need no shortening: '%', '/' and
    control bytes as %XX, a leading '.' as %2E; None for a name whose escaped form is over 255
    bytes (it ends in "~" and a hash then)."""
    if name == "":
        return "%00"
    if name in (".", ".."):
        return "%2E" * len(name)
    out = bytearray()
    for i, b in enumerate(name.encode()):
        esc = b in (0x25, 0x2F, 0x7F) or b < 0x20 or (i == 0 and b == 0x2E)
        out += b"%%%02X" % b if esc else bytes([b])
    return out.decode() if len(out) <= 255 else None


# Parts of a member name that make it secret at any depth, case-insensitively (render.h).
SECRET_NAME_PARTS = ("password", "secret", "token", "accesskey", "privatekey")


def secret_name(name):
    """Whether render_redact hides a member by its name alone."""
    low = name.lower()
    return any(p in low for p in SECRET_NAME_PARTS)


def redact(inst, show_secrets=False):
    """An instance as the mount shows it (include/render.h): members named ImageAuth,
    CredentialConfig or EnvironmentVariables (any case, any depth) have every scalar below them
    replaced by REDACTED, structure and names kept; an ImageAuth of any type, and any other
    member whose name contains a SECRET_NAME_PARTS entry, is replaced whole; null stays null."""
    inst = json.loads(json.dumps(inst))
    if show_secrets:
        return inst

    def scalars(v):
        if isinstance(v, dict):
            return {k: scalars(x) for k, x in v.items()}
        if isinstance(v, list):
            return [scalars(x) for x in v]
        return v if v is None else REDACTED

    def walk(v):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                low = k.lower()
                if low == "imageauth":
                    out[k] = x if x is None else REDACTED
                elif low in ("credentialconfig", "environmentvariables"):
                    out[k] = scalars(x)
                elif secret_name(k):
                    out[k] = x if x is None else REDACTED
                else:
                    out[k] = walk(x)
            return out
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(inst)


def _secret_subtrees(v):
    """The values of every secret member (any case, any depth) below v."""
    if isinstance(v, dict):
        for k, x in v.items():
            if k.lower() in ("imageauth", "credentialconfig", "environmentvariables") \
                    or secret_name(k):
                yield x
            else:
                yield from _secret_subtrees(x)
    elif isinstance(v, list):
        for x in v:
            yield from _secret_subtrees(x)


def secret_values(fleet):
    """The raw secret strings of a fleet (ImageAuth, strings under CredentialConfig, values of
    EnvironmentVariables, members with a secret name) that are distinctive enough to grep for: at least 6 characters, one
    line, and not also the text of some non-secret member or file name."""
    found = set()

    def strings(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
            yield str(v)

    public = set()

    def names_and_values(v):
        if isinstance(v, dict):
            for k, x in v.items():
                public.add(k)
                names_and_values(x)
        elif isinstance(v, list):
            for x in v:
                names_and_values(x)
        elif v is not None:
            public.add(str(v))

    for inst in fleet:
        for sub in _secret_subtrees(inst):
            found.update(strings(sub))
        names_and_values(redact(inst))
    return sorted(s for s in found if len(s) >= 6 and "\n" not in s and "\r" not in s
                  and not any(s in p for p in public))


def render_scalar(v):
    """The bytes of a scalar member's file, as include/render.h describes them."""
    if isinstance(v, bool):
        return b"true\n" if v else b"false\n"
    if isinstance(v, str):
        return v.encode() + b"\n"
    if isinstance(v, int):
        return str(v).encode() + b"\n"
    return None  # floats are compared by value (see expected_tree users)


def expected_tree(obj, top=True):
    """{file name: ("dir", subtree) | ("scalar", value) | ("array", value)} for an object: the
    files of an instance directory as listed (instance.json is readable by name but not listed,
    so it is not here; top=False for nested objects). Members whose escaped name
    is over 255 bytes are left out (their name carries a hash); the first of two members that
    escape to the same name wins."""
    tree = {}
    for k, v in obj.items():
        if v is None:
            continue
        name = escape_name(k)
        if name is None:
            continue
        if isinstance(v, list):
            name += ".json"
        if name in tree:
            continue
        if isinstance(v, dict):
            tree[name] = ("dir", expected_tree(v, top=False))
        elif isinstance(v, list):
            tree[name] = ("array", v)
        else:
            tree[name] = ("scalar", v)
    return tree


def server_query(server, params):
    """The instances the local server's own filtering returns for these ListInstances params."""
    r = server.control("POST", "query", {"params": params})
    return r["Instances"] if isinstance(r, dict) else r


def read_ctl_stats(mount):
    """.dswfs/stats as {name: int} (non-integer values kept as text)."""
    out = {}
    with open(mount.path(".dswfs", "stats")) as f:
        for line in f.read().splitlines():
            name, _, value = line.partition(" ")
            try:
                out[name] = int(value)
            except ValueError:
                out[name] = value
    return out


def pids_mentioning(text):
    """Pids of live processes whose command line contains text (to find leftovers)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if text.encode() in cmd:
            pids.append(int(p))
    return pids


def rss_kb(pid):
    """VmRSS of pid in KiB, or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def exits_within(proc, seconds):
    """Seconds proc took to exit, polled with a deadline; None when it is still running."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if proc.poll() is not None:
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def stop(proc):
    """Kills proc if it still runs, and reaps it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
def free_port():
    """A loopback TCP port nobody listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """redis-server on 127.0.0.1 with a free port, no persistence; killed on exit.

    .url is the shared_cache= value; .cmd(*args) runs one command through a socket (RESP) and
    returns the reply (bytes, int, list, None; an error reply raises). kill()/start() stop and
    restart it on the same port.
    """

    def __init__(self, *extra):
        self.port = free_port()
        self.extra = list(extra)
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--enable-debug-command", "local"] + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._ping(), timeout=10, what="redis-server")

    def _ping(self):
        try:
            return self.cmd("PING") == b"PONG"
        except OSError:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited {self.proc.returncode}")
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def cmd(self, *args, timeout=5):
        import socket
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(out)
            f = s.makefile("rb")
            return self._reply(f)

    def _reply(self, f):
        line = f.readline()
        if not line:
            raise OSError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            raise AssertionError("redis error: " + rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(f) for _ in range(n)]
        raise OSError(f"bad reply {line!r}")

    def entries(self):
        """Names of the shared entries (locks left out)."""
        return sorted(k.decode() for k in self.cmd("KEYS", "dswfs:v1:*")
                      if not k.endswith(b":lock"))
