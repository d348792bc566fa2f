"""test_creds_sources: dswfs end to end with STS credentials from the network sources
(ALIBABA_CLOUD_CREDENTIALS_URI, the ECS RAM role with IMDSv2, a CLI profile in CredentialsURI
mode) against the local API server, which checks every signature and the STS token; and the
failures: a wrong token, the ECS source switched off, an unsupported profile mode, a metadata
service that never answers. Everything stays on 127.0.0.1 (fake_metadata.py)."""
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DSWFS, MockServer, Mount, creds_env, eq, run, test  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_metadata.py")
STS_ID = "STS.NTestStsKeyId"
STS_SECRET = "StsSecretMarker9"
STS_TOKEN = "CAISStsTokenMarker7+/="
N = 12


class Fake:
    """fake_metadata.py on a free port; .url is its base URL."""

    def __init__(self, *args, token=STS_TOKEN):
        self.args = ["--id", STS_ID, "--secret", STS_SECRET, "--token", token] + list(args)
        self.proc = None
        self.url = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, FAKE] + self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.__exit__(None, None, None)
            raise AssertionError(f"fake_metadata did not start: {line!r}")
        self.url = "http://" + line.split()[2]
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return False

    def stats(self):
        with urllib.request.urlopen(self.url + "/_fake/stats", timeout=10) as r:
            return json.loads(r.read())


def server():
    """The API server, knowing only the STS key (and so requiring its token)."""
    return MockServer("--sts", f"{STS_ID}:{STS_SECRET}:{STS_TOKEN}", sign=False, instances=N,
                      seed=5)


def env_without_keys(extra=None):
    env = {k: v for k, v in creds_env().items()
           if k not in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                        "ALIBABA_CLOUD_ECS_METADATA_DISABLED")}
    env.update(extra or {})
    return env


def dswfs(args, env, timeout=30):
    return subprocess.run([DSWFS] + args, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def query_ok(srv, env, opts=""):
    o = f"endpoint={srv.url}" + ("," + opts if opts else "")
    r = dswfs(["-o", o, "--query", "instances"], env)
    eq(r.returncode, 0, f"dswfs --query exit status (stderr {r.stderr!r})")
    eq(len(json.loads(r.stdout)), N, "instances listed")
    log = srv.stats()["log"]
    assert log and all(e["auth"] == "ok" for e in log), f"server auth log: {log[-3:]}"
    return r


def one_line_failure(r, what, must_contain=None):
    assert r.returncode == 1, f"{what}: exit {r.returncode}, stderr {r.stderr!r}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dswfs: "), f"{what}: stderr {r.stderr!r}"
    for secret in (STS_SECRET, STS_TOKEN, "CAIS"):
        assert secret not in r.stderr, f"{what}: a secret reached stderr: {r.stderr!r}"
    if must_contain:
        assert must_contain in r.stderr, f"{what}: {must_contain!r} not in {r.stderr!r}"


@test
def credentials_uri_signs_with_sts():
    with server() as srv, Fake() as fake:
        env = env_without_keys({"ALIBABA_CLOUD_CREDENTIALS_URI": fake.url + "/credentials"})
        query_ok(srv, env)
        reqs = [r for r in fake.stats()["requests"] if r[1] == "/credentials"]
        eq(len(reqs), 1, "credentials URI requests")


@test
def ecs_ram_role_with_imdsv2_token():
    with server() as srv, Fake("--role", "dsw-reader") as fake:
        query_ok(srv, env_without_keys(), f"ecs_role,ecs_endpoint={fake.url}")
        st = fake.stats()
        assert st["token_puts"] >= 1, st
        eq(st["ttl_headers"][0], "21600", "X-aliyun-ecs-metadata-token-ttl-seconds")
        eq(st["unauthorized"], 0, "metadata requests without the session token")
        paths = [r[1] for r in st["requests"]]
        assert "/latest/meta-data/ram/security-credentials/" in paths, paths
        assert "/latest/meta-data/ram/security-credentials/dsw-reader" in paths, paths


@test
def ecs_role_shows_in_dswfs_config():
    with server() as srv, Fake("--role", "dsw-reader") as fake:
        env = env_without_keys({"ALIBABA_CLOUD_ECS_METADATA": "dsw-reader"})
        with Mount(srv, f"ecs_role,ecs_endpoint={fake.url}", env=env) as m:
            with open(m.path(".dswfs", "config")) as f:
                config = f.read()
            assert "ecs-ram-role:dsw-reader" in config, config
            assert STS_SECRET not in config and STS_TOKEN not in config, config
            eq(len([d for d in os.listdir(m.path("instances")) if d != "instances.json"]), N,
               "instances")
        # the role came from ALIBABA_CLOUD_ECS_METADATA: no listing request
        paths = [r[1] for r in fake.stats()["requests"]]
        assert "/latest/meta-data/ram/security-credentials/" not in paths, paths


@test
def cli_profile_in_credentials_uri_mode():
    with server() as srv, Fake() as fake:
        env = env_without_keys()
        os.makedirs(os.path.join(env["HOME"], ".aliyun"))
        with open(os.path.join(env["HOME"], ".aliyun", "config.json"), "w") as f:
            json.dump({"current": "uri", "profiles": [
                {"name": "uri", "mode": "CredentialsURI",
                 "credentials_uri": fake.url + "/credentials"}]}, f)
        query_ok(srv, env)


@test
def wrong_sts_token_fails_at_start():
    with server() as srv, Fake(token="CAISsomeOtherToken") as fake:
        env = env_without_keys({"ALIBABA_CLOUD_CREDENTIALS_URI": fake.url + "/credentials"})
        d = tempfile.mkdtemp(prefix="dswfs-creds-")
        try:
            r = dswfs(["-f", "-o", f"endpoint={srv.url}", d], env)
            assert not os.path.ismount(d), "mounted with a wrong STS token"
        finally:
            if os.path.ismount(d):
                subprocess.run(["fusermount3", "-u", "-z", d], capture_output=True)
            os.rmdir(d)
        one_line_failure(r, "wrong STS token")
        assert "SecurityToken" in r.stderr, r.stderr


@test
def ecs_source_needs_the_option_and_respects_the_switch():
    with server() as srv, Fake() as fake:
        r = dswfs(["-o", f"endpoint={srv.url},ecs_endpoint={fake.url}", "--query",
                   "instances"], env_without_keys())
        one_line_failure(r, "no ecs_role option", "no credentials")
        env = env_without_keys({"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"})
        r = dswfs(["-o", f"endpoint={srv.url},ecs_role,ecs_endpoint={fake.url}", "--query",
                   "instances"], env)
        one_line_failure(r, "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "no credentials")
        eq(fake.stats()["requests"], [], "metadata requests")
        eq(srv.stats()["list_requests"], 0, "API requests without credentials")


@test
def unsupported_profile_mode_is_one_line():
    with server() as srv:
        env = env_without_keys()
        os.makedirs(os.path.join(env["HOME"], ".aliyun"))
        with open(os.path.join(env["HOME"], ".aliyun", "config.json"), "w") as f:
            json.dump({"current": "r", "profiles": [
                {"name": "r", "mode": "CloudSSO", "access_key_id": "LTAIx",
                 "access_key_secret": STS_SECRET, "ram_role_arn": "acs:ram::1:role/x"}]}, f)
        r = dswfs(["-o", f"endpoint={srv.url}", "--query", "instances"], env)
        one_line_failure(r, "CloudSSO profile",
                         "profile r uses mode CloudSSO, which dswfs does not support")


@test
def silent_metadata_service_is_bounded():
    with server() as srv, Fake("--delay-ms", "20000") as fake:
        t0 = time.monotonic()
        r = dswfs(["-o", f"endpoint={srv.url},ecs_role,ecs_endpoint={fake.url}", "--query",
                   "instances"], env_without_keys(), timeout=30)
        took = time.monotonic() - t0
        one_line_failure(r, "silent metadata service", "ECS metadata service")
        assert took < 5, f"gave up after {took:.1f}s (1 s timeouts)"


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run()
