"""harness: test registration, the local DSW API server and dswfs mounts for integration tests.

Every test prints PASS:/FAIL:/SKIP: lines that tests/run.sh counts. Servers and mounts are
context managers that clean up even when a test fails.
"""
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

    def __init__(self, *args, sign=True, instances=50, seed=1):
        self.args = ["--port", "0", "--instances", str(instances), "--seed", str(seed)]
        if sign:
            self.args += ["--access-key-id", AK_ID, "--access-key-secret", AK_SECRET]
        self.args += list(args)
        self.proc = None
        self.url = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, MOCK] + self.args,
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
        o = ",".join([f"endpoint={self.server.url}"] + self.opts)
        self.proc = subprocess.Popen([self.binary, "-f", "-o", o, self.dir], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
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
        if self.dir and os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", "-z", self.dir], capture_output=True)
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(10)
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
