"""test_mount_creds: every credential mode of the official chain, end to end through a real mount
against the local API server's own STS endpoint (which checks signatures, issues expiring sessions
and accepts them for ListInstances only with their security token): RamRoleArn in the aliyun CLI
config (mode matched case-insensitively), ChainableRamRoleArn, an INI ram_role_arn section, OIDC from
the environment and the CLI's OIDC mode, refresh across a session's expiry (the token file re-read),
a broken source skipped for a working one, the one-line failure naming every source, and the
errors a person can act on (a permission error naming the missing action and principal, the
gateway's x-acs-retry-after). Everything stays on 127.0.0.1."""
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AK_ID, AK_SECRET, DSWFS, MockServer, Mount, creds_env, eq, run, test,  # noqa: E402
                     wait_until)

N = 9
ROLE = "acs:ram::1234567890123456:role/dsw-reader"
OIDC_PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa"
TOKEN_A = "tokA-eyJhbGciOiJSUzI1NiJ9.one.sig"
TOKEN_B = "tokB-eyJhbGciOiJSUzI1NiJ9.two.sig"
POLICY = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"pai:ListInstances","Resource":"*"}]}'


def server(*args):
    """The API server knowing only the source AK: ListInstances works with the sessions its STS
    endpoint issues, or with that AK."""
    return MockServer("--oidc-token", TOKEN_A, "--oidc-token", TOKEN_B, *args, instances=N, seed=4)


def env_no_keys(extra=None):
    env = {k: v for k, v in creds_env().items()
           if k not in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")}
    env.update(extra or {})
    return env


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def cli_config(env, current, *profiles):
    write(os.path.join(env["HOME"], ".aliyun", "config.json"),
          json.dumps({"current": current, "profiles": list(profiles)}))


def list_keys(srv):
    """The key each ListInstances request was signed with, and its outcome, in order."""
    return [(e.get("key_id"), e["auth"], e["status"]) for e in srv.stats()["log"]
            if e["path"] == "/api/v2/instances"]


def sts_calls(srv):
    return srv.control("GET", "sts")["calls"]


def config_line(m, name):
    with open(m.path(".dswfs", "config")) as f:
        for line in f.read().splitlines():
            k, _, v = line.partition(" ")
            if k == name:
                return v
    return None


def listed(m):
    return sorted(os.listdir(m.path("instances")))


def check_mount_uses_sessions(srv, m, source):
    eq(len(listed(m)), N, "instances listed through the mount")
    eq(config_line(m, "credentials"), source, ".dswfs/config credentials")
    keys = list_keys(srv)
    assert keys, "no ListInstances request"
    issued = {i["AccessKeyId"] for i in srv.control("GET", "sts")["issued"]}
    for k, auth, status in keys:
        assert k in issued, f"ListInstances signed with {k}, not an issued session ({issued})"
        eq((auth, status), ("ok", 200), f"request signed with {k}")


@test
def ram_role_arn_cli_profile():
    with server() as srv:
        env = env_no_keys()
        cli_config(env, "r", {"name": "r", "mode": "ramrolearn", "access_key_id": AK_ID,
                              "access_key_secret": AK_SECRET, "ram_role_arn": ROLE,
                              "ram_session_name": "dswfs-test", "expired_seconds": 900,
                              "policy": POLICY, "external_id": "ext-7"})
        with Mount(srv, f"sts_endpoint={srv.url}", env=env) as m:
            check_mount_uses_sessions(srv, m, "cli-profile:r/ram-role-arn")
        calls = sts_calls(srv)
        eq(len(calls), 1, "AssumeRole calls")
        c = calls[0]
        eq((c["action"], c["signature"], c["signed_by"], c["status"]),
           ("AssumeRole", "ACS3-HMAC-SHA256", AK_ID, 200), "AssumeRole signed with the source AK")
        eq((c["RoleArn"], c["RoleSessionName"], c["DurationSeconds"], c["Policy"], c["ExternalId"]),
           (ROLE, "dswfs-test", "900", POLICY, "ext-7"), "AssumeRole parameters")


@test
def chainable_ram_role_arn():
    with server() as srv:
        env = env_no_keys()
        cli_config(env, "chain",
                   {"name": "base", "mode": "AK", "access_key_id": AK_ID, "access_key_secret": AK_SECRET},
                   {"name": "chain", "mode": "ChainableRamRoleArn", "source_profile": "base",
                    "ram_role_arn": ROLE, "sts_endpoint": srv.url})
        with Mount(srv, env=env) as m:
            check_mount_uses_sessions(srv, m, "cli-profile:chain/chainable-ram-role-arn(cli-profile:base)")
        eq([(c["action"], c["signed_by"]) for c in sts_calls(srv)], [("AssumeRole", AK_ID)],
           "one AssumeRole signed with the source profile's key (the profile's own sts_endpoint)")


@test
def ini_ram_role_arn():
    with server() as srv:
        env = env_no_keys()
        write(os.path.join(env["HOME"], ".alibabacloud", "credentials"),
              f"[default]\ntype = ram_role_arn\naccess_key_id = {AK_ID}\naccess_key_secret = {AK_SECRET}\n"
              f"role_arn = {ROLE}\nrole_session_name = ini-session\n")
        with Mount(srv, f"sts_endpoint={srv.url}", env=env) as m:
            check_mount_uses_sessions(srv, m, "ini:default/ram-role-arn")
        eq([(c["RoleSessionName"], c["DurationSeconds"]) for c in sts_calls(srv)], [("ini-session", "3600")],
           "INI session name, default DurationSeconds")


@test
def oidc_env_refreshes_across_expiry_and_rereads_the_token():
    with server() as srv, tempfile.TemporaryDirectory(prefix="dswfs-oidc-") as tmp:
        # Sessions of 4 s: dswfs renews half-way, so this needs no long wait.
        srv.control("POST", "sts", {"expiry_s": 4})
        token_file = os.path.join(tmp, "token")
        write(token_file, TOKEN_A + "\n")
        env = env_no_keys({"ALIBABA_CLOUD_ROLE_ARN": ROLE, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": OIDC_PROVIDER,
                           "ALIBABA_CLOUD_OIDC_TOKEN_FILE": token_file,
                           "ALIBABA_CLOUD_ROLE_SESSION_NAME": "pod-7"})
        # A CLI profile exists too: the OIDC role comes first in the chain.
        cli_config(env, "default", {"name": "default", "mode": "AK", "access_key_id": AK_ID,
                                    "access_key_secret": AK_SECRET})
        with Mount(srv, f"sts_endpoint={srv.url}", "ttl=0", "grace=0", "max_stale=0", env=env) as m:
            eq(len(listed(m)), N, "instances with the first session")
            eq(config_line(m, "credentials"), "oidc-role-arn", "source")
            first = srv.control("GET", "sts")["issued"][0]
            write(token_file, TOKEN_B)  # Kubernetes rotates the projected token

            def renewed_past_expiry():
                try:
                    listed(m)
                except OSError:
                    pass  # a read failing meanwhile is tolerated; the end state is checked
                late = [k for k, auth, st in list_keys(srv)
                        if k != first["AccessKeyId"] and auth == "ok" and st == 200]
                return time.time() > first["Expiration"] + 1 and late
            wait_until(renewed_past_expiry, timeout=60, interval=0.2,
                       what="a session renewed after the first one expired")
            eq(len(listed(m)), N, "instances after the first session expired")
            last = list_keys(srv)[-1]
            assert last[0] != first["AccessKeyId"] and last[1:] == ("ok", 200), last
        calls = sts_calls(srv)
        assert len(calls) >= 2, calls
        eq({(c["action"], c["signature"], c["signed_by"]) for c in calls},
           {("AssumeRoleWithOIDC", None, None)}, "anonymous AssumeRoleWithOIDC only")
        eq(calls[0]["OIDCToken"], TOKEN_A[:12] + "...", "first token")
        eq(calls[-1]["OIDCToken"], TOKEN_B[:12] + "...", "the rotated token read on refresh")
        eq({c["RoleSessionName"] for c in calls}, {"pod-7"}, "ALIBABA_CLOUD_ROLE_SESSION_NAME")


@test
def cli_oidc_mode():
    with server() as srv, tempfile.TemporaryDirectory(prefix="dswfs-oidc-") as tmp:
        token_file = os.path.join(tmp, "token")
        write(token_file, TOKEN_B)
        env = env_no_keys()
        cli_config(env, "k8s", {"name": "k8s", "mode": "OIDC", "oidc_provider_arn": OIDC_PROVIDER,
                                "oidc_token_file": token_file, "ram_role_arn": ROLE,
                                "ram_session_name": "cli-oidc"})
        with Mount(srv, f"sts_endpoint={srv.url}", env=env) as m:
            check_mount_uses_sessions(srv, m, "cli-profile:k8s/oidc")
        eq([(c["action"], c["RoleSessionName"]) for c in sts_calls(srv)],
           [("AssumeRoleWithOIDC", "cli-oidc")], "one AssumeRoleWithOIDC")


@test
def broken_role_profile_skipped_for_a_later_source():
    """A RamRoleArn profile STS refuses, then an INI access key: the mount works with the INI key,
    and the log says why the profile was skipped, naming the missing permission."""
    with server() as srv:
        srv.control("POST", "sts", {"deny": {ROLE: {"AuthPrincipalDisplayName": "alice@corp"}}})
        env = env_no_keys()
        cli_config(env, "r", {"name": "r", "mode": "RamRoleArn", "access_key_id": AK_ID,
                              "access_key_secret": AK_SECRET, "ram_role_arn": ROLE})
        write(os.path.join(env["HOME"], ".alibabacloud", "credentials"),
              f"[default]\ntype = access_key\naccess_key_id = {AK_ID}\naccess_key_secret = {AK_SECRET}\n")
        with Mount(srv, f"sts_endpoint={srv.url}", env=env) as m:
            eq(len(listed(m)), N, "instances with the INI key")
            eq(config_line(m, "credentials"), "ini:default", "source")
            out = m.output()
        assert "skipped cli-profile" in out and "NoPermission" in out, out
        assert "missing permission sts:AssumeRole for alice@corp" in out, out
        assert AK_SECRET not in out, "a secret in the log"


@test
def nothing_works_is_one_line_naming_every_source():
    with server() as srv:
        env = env_no_keys()
        cli_config(env, "r", {"name": "r", "mode": "RamRoleArn", "access_key_id": AK_ID,
                              "access_key_secret": "wrong-secret", "ram_role_arn": ROLE})
        d = tempfile.mkdtemp(prefix="dswfs-creds-")
        try:
            r = subprocess.run([DSWFS, "-f", "-o", f"endpoint={srv.url},sts_endpoint={srv.url}", d], env=env,
                               capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            assert not os.path.ismount(d), "mounted without credentials"
        finally:
            if os.path.ismount(d):
                subprocess.run(["fusermount3", "-u", "-z", d], capture_output=True)
            os.rmdir(d)
        eq(r.returncode, 1, f"exit status ({r.stderr!r})")
        lines = r.stderr.splitlines()
        eq(len(lines), 1, f"one line: {r.stderr!r}")
        for part in ("environment: ", "oidc-role-arn: ", "cli-profile: STS AssumeRole at ",
                     "SignatureDoesNotMatch", "ini-profile: ", "ecs-ram-role: ", "credentials-uri: "):
            assert part in lines[0], f"{part!r} missing from {lines[0]!r}"
        assert "wrong-secret" not in r.stderr and AK_SECRET not in r.stderr


DENIED = {"kind": "status", "status": 403, "code": "Forbidden.RAM", "count": -1,
          "detail": {"AuthAction": "pai:ListInstances", "AuthPrincipalType": "SubUser",
                     "AuthPrincipalDisplayName": "bob@corp", "NoPermissionType": "ImplicitDeny",
                     "PolicyType": "AccountLevelIdentityBasedPolicy"}}


@test
def permission_error_at_mount_time_is_one_line():
    with server() as srv:
        srv.control("POST", "faults", {"faults": [DENIED]})
        r = subprocess.run([DSWFS, "-o", f"endpoint={srv.url}", "--query", "instances"], env=creds_env(),
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        eq(r.returncode, 1, f"exit status ({r.stderr!r})")
        eq(len(r.stderr.splitlines()), 1, f"one line: {r.stderr!r}")
        for want in ("HTTP 403 Forbidden.RAM", "[missing permission pai:ListInstances for bob@corp, ImplicitDeny,",
                     "see https://api.aliyun.com/troubleshoot?q=Forbidden.RAM", "RequestId "):
            assert want in r.stderr, f"{want!r} not in {r.stderr!r}"


@test
def permission_error_names_action_and_principal():
    with server() as srv:
        srv.control("POST", "faults", {"faults": [dict(DENIED, after=1)]})  # the mount's probe passes
        with Mount(srv) as m:
            with contextlib.suppress(OSError):
                listed(m)
            with open(m.path(".dswfs", "last_error")) as f:
                last = f.read()
            for want in ("code: Forbidden.RAM", "auth_action: pai:ListInstances", "auth_principal: bob@corp",
                         "no_permission_type: ImplicitDeny", "policy_type: AccountLevelIdentityBasedPolicy",
                         "host_id: 127.0.0.1", "recommend: https://api.aliyun.com/troubleshoot?q=Forbidden.RAM"):
                assert want in last, f"{want!r} not in last_error:\n{last}"
            assert "missing permission pai:ListInstances for bob@corp" in m.output(), m.output()


@test
def throttling_waits_as_x_acs_retry_after_says():
    with server() as srv:
        srv.control("POST", "faults", {"faults": [{"kind": "throttle", "count": 1, "retry_after_ms": 1500}]})
        with Mount(srv, "retries=3") as m:
            eq(len(listed(m)), N, "instances after one throttled answer")
        reqs = [e for e in srv.stats()["log"] if e["path"] == "/api/v2/instances"]
        eq(reqs[0]["fault"], "throttle", "first request throttled")
        gap = reqs[1]["t"] - reqs[0]["t"]
        # A lower bound only: a slow machine makes the gap longer, never shorter.
        assert gap >= 1.4, f"retried after {gap:.2f} s, x-acs-retry-after asked 1.5 s"


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run()
