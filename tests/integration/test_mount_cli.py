"""test_mount_cli: dswfs's command line: --help, --version, one-line errors for bad options,
missing credentials and an unreachable endpoint (never a mount), --query, credentials from a
CLI profile, FUSE's own options, and unmounting (foreground and daemon) leaving no process."""
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AK_ID, AK_SECRET, DSWFS, ROOT, Mount, Shared, creds_env,  # noqa: E402
                     eq, in_mount_table, pids_mentioning, run, test,
                     wait_until)

N = 60


S = Shared(N, 9)
server = S.server


def version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        return re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)


@contextlib.contextmanager
def mountpoint():
    """A fresh directory, unmounted (if dswfs mounted it after all) and removed afterwards."""
    d = tempfile.mkdtemp(prefix="dswfs-cli-")
    try:
        yield d
    finally:
        if in_mount_table(d):
            subprocess.run(["fusermount3", "-u", "-z", d], capture_output=True)
        for pid in pids_mentioning(d):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        with contextlib.suppress(OSError):
            os.rmdir(d)


def dswfs(args, env=None, timeout=30):
    """Runs dswfs to completion (never leaving it behind) and returns the CompletedProcess."""
    return subprocess.run([DSWFS] + args, env=env if env is not None else creds_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line_error(r, what, code=None):
    """The failure contract: non-zero exit, exactly one line on stderr, starting "dswfs: "."""
    assert r.returncode != 0, f"{what}: exit 0 (stdout {r.stdout[-200:]!r})"
    if code is not None:
        eq(r.returncode, code, f"{what}: exit status (stderr {r.stderr!r})")
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dswfs: "), \
        f"{what}: stderr is not one 'dswfs: ' line: {r.stderr!r}"
    assert AK_SECRET not in r.stderr + r.stdout, f"{what}: the secret was printed"


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@test
def help_and_version():
    r = dswfs(["--help"])
    eq(r.returncode, 0, f"--help exit status ({r.stderr!r})")
    text = r.stdout + r.stderr
    for want in ("MOUNTPOINT", "endpoint=", "region=", "profile=", "ttl=", "page_size=",
                 "workspace_id=", "resource_id=", "show_secrets", "--query", "fusermount3 -u",
                 "allow_other"):
        assert want in text, f"--help does not mention {want!r}"
    for flag in ("--version", "-V"):
        r = dswfs([flag])
        eq(r.returncode, 0, f"{flag} exit status ({r.stderr!r})")
        assert r.stdout.startswith(f"dswfs {version()}"), f"{flag}: {r.stdout!r}"


@test
def bad_options_are_one_line_errors_without_mounting():
    srv = server()
    problems = []
    with mountpoint() as d:
        e = f"endpoint={srv.url}"
        cases = [
            ["-o", f"{e},ttl=abc", d], ["-o", f"{e},ttl=-5", d], ["-o", f"{e},page_size=0", d],
            ["-o", f"{e},page_size=many", d], ["-o", f"{e},no_such_option=1", d],
            ["-o", f"{e},endpoint=", d], ["-o", "endpoint=ftp://127.0.0.1:1/", d],
            ["--no-such-flag", "-o", e, d], ["-o", e, d, "extra-argument"], ["-o", e],
        ]
        for argv in cases:
            try:
                r = dswfs(["-f"] + argv, timeout=20)
                one_line_error(r, " ".join(argv))
            except (AssertionError, subprocess.TimeoutExpired) as ex:
                problems.append(str(ex))
            if in_mount_table(d):
                problems.append(f"{' '.join(argv)}: mounted")
                subprocess.run(["fusermount3", "-u", "-z", d], capture_output=True)
    assert not problems, "\n  ".join(problems)


@test
def usage_errors_exit_2_and_start_errors_exit_1():
    srv = server()
    with mountpoint() as d:
        r = dswfs(["-f", "-o", f"endpoint={srv.url},ttl=abc", d])
        one_line_error(r, "ttl=abc", code=2)
        env = {k: v for k, v in creds_env().items() if not k.startswith("ALIBABA_CLOUD_ACCESS")}
        r = dswfs(["-f", "-o", f"endpoint={srv.url}", d], env=env)
        one_line_error(r, "no credentials", code=1)


@test
def missing_credentials_fail_before_mounting():
    srv = server()
    env = {k: v for k, v in creds_env().items() if not k.startswith("ALIBABA_CLOUD_ACCESS")}
    env["ALIBABA_CLOUD_CLI_PROFILE_DISABLED"] = "true"
    with mountpoint() as d:
        t0 = time.monotonic()
        r = dswfs(["-f", "-o", f"endpoint={srv.url}", d], env=env, timeout=20)
        one_line_error(r, "no credentials")
        assert "credential" in r.stderr.lower(), r.stderr
        assert time.monotonic() - t0 < 10, "took too long to give up"
        assert not os.path.ismount(d), "mounted without credentials"
        eq(srv.list_requests(), 0, "requests sent without credentials")
        # Only one of the two environment variables is not credentials either.
        env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = AK_ID
        r = dswfs(["-f", "-o", f"endpoint={srv.url}", d], env=env, timeout=20)
        one_line_error(r, "key id without secret")
        assert not os.path.ismount(d), "mounted with half the credentials"


@test
def wrong_secret_fails_at_start():
    srv = server()
    env = creds_env({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-the-secret"})
    with mountpoint() as d:
        r = dswfs(["-f", "-o", f"endpoint={srv.url}", d], env=env, timeout=30)
        one_line_error(r, "wrong secret", code=1)
        assert "SignatureDoesNotMatch" in r.stderr or "InvalidAccessKey" in r.stderr, r.stderr
        assert "not-the-secret" not in r.stderr, "the secret was printed"
        assert not os.path.ismount(d), "mounted with a wrong secret"


@test
def unreachable_endpoint_fails_at_start():
    url = f"http://127.0.0.1:{closed_port()}"
    with mountpoint() as d:
        t0 = time.monotonic()
        r = dswfs(["-f", "-o", f"endpoint={url}", d], timeout=60)
        one_line_error(r, "closed port", code=1)
        assert url.split("//")[1] in r.stderr or "refused" in r.stderr.lower(), r.stderr
        assert not os.path.ismount(d), "mounted an unreachable endpoint"
        assert time.monotonic() - t0 < 30, f"took {time.monotonic() - t0:.1f}s"
        r = dswfs(["-o", f"endpoint={url}", "--query", "instances"], timeout=60)
        one_line_error(r, "--query against a closed port")
        eq(r.stdout, "", "--query stdout on failure")


@test
def query_prints_what_instances_json_holds():
    srv = server()
    fleet = srv.fleet()["Instances"]
    ws = fleet[0]["WorkspaceId"]
    paths = ["instances", "instances/", "instances/status/Running", f"workspaces/{ws}",
             f"workspaces/{ws}/accelerator-type/CPU/", "instances/instance-name/no-such-name"]
    with Mount(srv) as m:
        for p in paths:
            r = dswfs(["-o", f"endpoint={srv.url}", "--query", p])
            eq(r.returncode, 0, f"--query {p}: {r.stderr!r}")
            eq(r.stderr, "", f"--query {p} stderr")
            with open(m.path(p.rstrip("/"), "instances.json")) as f:
                want = f.read()
            eq(r.stdout, want, f"--query {p} vs {p}/instances.json")
        r = subprocess.run(f"{DSWFS} -o endpoint={srv.url} --query instances | jq length",
                           shell=True, env=creds_env(), capture_output=True, text=True)
        eq(r.stdout.strip(), str(len(fleet)), "--query instances | jq length")
    for bad in ("instances/status/Runing", "by-name", ".dswfs", "instances/instances.json",
                "nosuchdir"):
        r = dswfs(["-o", f"endpoint={srv.url}", "--query", bad])
        one_line_error(r, f"--query {bad}")
        eq(r.stdout, "", f"--query {bad} stdout")


@test
def credentials_from_a_cli_profile():
    srv = server()
    env = {k: v for k, v in creds_env().items() if not k.startswith("ALIBABA_CLOUD_ACCESS")}
    os.makedirs(os.path.join(env["HOME"], ".aliyun"), exist_ok=True)
    with open(os.path.join(env["HOME"], ".aliyun", "config.json"), "w") as f:
        json.dump({"current": "broken", "profiles": [
            {"name": "broken", "mode": "AK", "access_key_id": "LTAIwrong",
             "access_key_secret": "wrong", "region_id": "cn-hangzhou"},
            {"name": "good", "mode": "AK", "access_key_id": AK_ID,
             "access_key_secret": AK_SECRET, "region_id": "cn-shanghai"}]}, f)
    with Mount(srv, "profile=good", env=env) as m:
        eq(len(os.listdir(m.path("by-name"))), N, "by-name/ with profile=good")
        config = open(m.path(".dswfs", "config")).read()
        assert AK_SECRET not in config, "config shows the secret"
        assert "good" in config, f"config does not name the profile: {config!r}"
    shutil.rmtree(env["HOME"], ignore_errors=True)


@test
def fuse_options_pass_through():
    srv = server()
    with Mount(srv, "allow_other", "ttl=5") as m:
        eq(len(os.listdir(m.path("by-name"))), N, "by-name/ with allow_other")
        with open("/proc/mounts") as f:
            line = next(ln for ln in f if f" {m.dir} " in ln)
        assert "allow_other" in line, line
        assert re.search(r"^ttl 5\b", open(m.path(".dswfs", "config")).read(), re.M)


@test
def debug_flag_stays_in_the_foreground():
    srv = server()
    with mountpoint() as d:
        log = tempfile.TemporaryFile()
        p = subprocess.Popen([DSWFS, "-d", "-o", f"endpoint={srv.url}", d], env=creds_env(),
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: os.path.ismount(d) or p.poll() is not None, timeout=20,
                       what="the -d mount")
            assert p.poll() is None, f"dswfs -d exited {p.returncode}"
            eq(len(os.listdir(os.path.join(d, "by-name"))), N, "by-name/ with -d")
            subprocess.run(["fusermount3", "-u", d], capture_output=True)
            eq(p.wait(10), 0, "dswfs -d exit status after unmount")
            log.seek(0)
            out = log.read()
            assert b"unique:" in out or b"opcode" in out.lower(), f"no FUSE debug output: {out[:300]!r}"
            assert AK_SECRET.encode() not in out, "the secret is in the debug output"
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()


@test
def unmount_leaves_no_process_foreground():
    srv = server()
    with Mount(srv) as m:
        pid = m.proc.pid
        os.listdir(m.path("instances"))
        r = subprocess.run(["fusermount3", "-u", m.dir], capture_output=True, text=True)
        eq(r.returncode, 0, f"fusermount3 -u: {r.stderr!r}")
        rc = m.proc.wait(10)
        eq(rc, 0, f"dswfs exit status after unmount; log: {m.output()[-500:]!r}")
        assert not os.path.ismount(m.dir), "still mounted"
        eq(pids_mentioning(m.dir), [], "processes left behind")
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z"


@test
def unmount_leaves_no_process_daemon():
    srv = server()
    with mountpoint() as d:
        r = dswfs(["-o", f"endpoint={srv.url}", d], timeout=30)
        eq(r.returncode, 0, f"dswfs (daemon) exit status: {r.stderr!r}")
        assert os.path.ismount(d), "the daemon did not mount before the parent returned"
        pids = pids_mentioning(d)
        eq(len(pids), 1, f"daemon processes for {d}")
        eq(len(os.listdir(os.path.join(d, "by-name"))), N, "by-name/ in daemon mode")
        r = subprocess.run(["fusermount3", "-u", d], capture_output=True, text=True)
        eq(r.returncode, 0, f"fusermount3 -u: {r.stderr!r}")
        wait_until(lambda: not pids_mentioning(d), timeout=10, what="the daemon to exit")
        assert not os.path.ismount(d), "still mounted"


@test
def refresh_works_in_daemon_mode_too():
    """Background mode (no -f) must behave like the foreground: after .dswfs/refresh an
    instance added to the fleet can be looked up even if it was looked up (absent) before."""
    srv = server()
    fleet = srv.fleet()["Instances"]
    new = dict(fleet[1], InstanceId=fleet[1]["InstanceId"][:-6] + "777777",
               InstanceName="added-to-daemon")
    with mountpoint() as d:
        r = dswfs(["-o", f"endpoint={srv.url}", d], timeout=30)
        eq(r.returncode, 0, f"dswfs (daemon): {r.stderr!r}")
        p = os.path.join(d, "instances", new["InstanceId"])
        try:
            assert not os.path.exists(p), "exists before it is added"
            srv.control("POST", "instances", new)
            with open(os.path.join(d, ".dswfs", "refresh"), "w") as f:
                f.write("1\n")
            assert os.path.isdir(p), "after refresh, an instance looked up (absent) before " \
                "the refresh is still missing in daemon mode"
            eq(open(os.path.join(p, "InstanceName")).read(), "added-to-daemon\n", "InstanceName")
        finally:
            srv.control("DELETE", f"instances/{new['InstanceId']}")


@test
def mounting_on_a_missing_directory_fails_cleanly():
    srv = server()
    d = os.path.join(tempfile.gettempdir(), "dswfs-no-such-dir-%d" % os.getpid())
    r = dswfs(["-f", "-o", f"endpoint={srv.url}", d], timeout=20)
    assert r.returncode != 0, "mounted on a missing directory"
    assert r.stderr.strip(), "no reason printed"
    eq(pids_mentioning(d), [], "processes left behind")


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
