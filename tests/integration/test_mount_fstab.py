"""test_mount_fstab: dswfs mounted the way Linux mounts things: mount(8) -t fuse.dswfs, mount.fuse3
'dswfs#SOURCE', an fstab line (mount -T), the source as fsname (/proc/mounts, findmnt, df -a),
generic mount options consumed, non-empty and over-dswfs mount points refused, GNU long options,
setuid=, log_file= and syslog when daemonized, and progress on a terminal."""
import contextlib
import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DSWFS, MockServer, Shared, Skip, creds_env, eq,  # noqa: E402
                     in_mount_table, pids_mentioning, run, test, wait_until)

N = 12
S = Shared(N, 21)
server = S.server
BUILD = os.path.dirname(os.path.abspath(DSWFS))
LINK = "/usr/local/bin/dswfs"  # on the PATH mount(8) gives helpers


@contextlib.contextmanager
def mountpoint(files=()):
    """A fresh directory (holding files), unmounted and removed afterwards, even on failure."""
    d = tempfile.mkdtemp(prefix="dswfs-fstab-")
    for f in files:
        open(os.path.join(d, f), "w").close()
    try:
        yield d
    finally:
        for _ in range(3):  # stacked mounts, if a refusal failed
            if not in_mount_table(d):
                break
            subprocess.run(["umount", "-l", d], capture_output=True)
        for pid in pids_mentioning(d):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        for f in files:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(d, f))
        with contextlib.suppress(OSError):
            os.rmdir(d)


@contextlib.contextmanager
def dswfs_on_system_path():
    """build/dswfs linked as /usr/local/bin/dswfs for mount(8), removed afterwards."""
    # An earlier, interrupted run's link is reused (and removed); anything else is not ours.
    if os.path.lexists(LINK) and os.path.realpath(LINK) != os.path.realpath(DSWFS):
        raise Skip(f"{LINK} exists and is not this build's dswfs")
    try:
        if not os.path.lexists(LINK):
            os.symlink(os.path.realpath(DSWFS), LINK)
        yield
    finally:
        if os.path.islink(LINK) and os.path.realpath(LINK) == os.path.realpath(DSWFS):
            os.unlink(LINK)


def mounts_line(d):
    """(source, fstype, options) of d in /proc/self/mounts, or None."""
    with open("/proc/self/mounts") as f:
        for line in f:
            src, mnt, fstype, opts = line.split()[:4]
            if mnt == d:
                return src, fstype, opts
    return None


def check_mounted(d, source, what):
    wait_until(lambda: os.path.ismount(d), timeout=20, what=f"{what}: mount")
    eq(mounts_line(d)[:2], (source, "fuse.dswfs"), f"{what}: /proc/mounts source and type")
    r = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", d], capture_output=True,
                       text=True)
    eq(r.stdout.split(), [source, "fuse.dswfs"], f"{what}: findmnt")
    r = subprocess.run(["df", "-a", d], capture_output=True, text=True)
    assert source in r.stdout, f"{what}: df -a: {r.stdout!r}"
    eq(len([n for n in os.listdir(os.path.join(d, "instances")) if n.startswith("dsw-")]), N,
       f"{what}: instances")


def unmount(d, what):
    r = subprocess.run(["umount", d], capture_output=True, text=True)
    eq(r.returncode, 0, f"{what}: umount: {r.stderr!r}")
    wait_until(lambda: not pids_mentioning(d), timeout=10, what=f"{what}: the daemon to exit")


@test
def mount_t_fuse_dswfs_with_a_source_and_generic_options():
    srv = server()
    with dswfs_on_system_path(), mountpoint() as d:
        # The caller's PATH does not matter: mount(8) runs helpers with its own.
        env = dict(creds_env(), PATH="/usr/bin:/bin")
        r = subprocess.run(["mount", "-t", "fuse.dswfs", srv.url, d, "-o",
                            "ttl=60,relatime,noatime,nodev,nosuid,noexec"],
                           env=env, capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, f"mount -t fuse.dswfs: {r.stderr!r}")
        check_mounted(d, srv.url, "mount -t")
        assert "nodev" in mounts_line(d)[2] and "noexec" in mounts_line(d)[2], mounts_line(d)
        cfg = open(os.path.join(d, ".dswfs", "config")).read()
        assert "ttl 60\n" in cfg and f"source {srv.url}\n" in cfg, cfg
        unmount(d, "mount -t")


@test
def mount_fuse3_with_the_type_hash_source_form():
    srv = server()
    with mountpoint() as d:
        env = dict(creds_env(), PATH=BUILD + ":/usr/bin:/bin:/usr/sbin:/sbin")
        r = subprocess.run(["mount.fuse3", f"dswfs#{srv.url}", d, "-o",
                            "ttl=60,_netdev,nofail,users,x-systemd.automount,defaults"],
                           env=env, capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, f"mount.fuse3: {r.stderr!r}")
        check_mounted(d, srv.url, "mount.fuse3")
        unmount(d, "mount.fuse3")


@test
def an_fstab_line_mounts_with_mount_T():
    srv = server()
    with dswfs_on_system_path(), mountpoint() as d, \
            tempfile.NamedTemporaryFile("w", prefix="dswfs-fstab-", suffix=".fstab") as tab:
        tab.write("# an fstab of its own\n"
                  f"{srv.url} {d} fuse.dswfs noauto,_netdev,x-systemd.automount,nofail,"
                  "comment=dsw,ttl=60,relatime 0 0\n")
        tab.flush()
        r = subprocess.run(["mount", "-T", tab.name, d], env=creds_env(), capture_output=True,
                           text=True, timeout=30)
        eq(r.returncode, 0, f"mount -T fstab: {r.stderr!r}")
        check_mounted(d, srv.url, "fstab")
        unmount(d, "fstab")


@test
def fsname_names_the_source_or_the_effective_settings():
    srv = server()
    with mountpoint() as d:
        # No source: the endpoint given names the mount.
        r = subprocess.run([DSWFS, "-o", f"endpoint={srv.url}", d], env=creds_env(),
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, r.stderr)
        eq(mounts_line(d)[:2], (srv.url, "fuse.dswfs"), "source without SOURCE")
        unmount(d, "no source")
        # The bare word dswfs is the defaults (fstab's first field): same as no source.
        r = subprocess.run([DSWFS, "dswfs", d, "-o", f"endpoint={srv.url},fsname=mine"],
                           env=creds_env(), capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, r.stderr)
        eq(mounts_line(d)[:2], ("mine", "fuse.dswfs"), "an explicit fsname= wins")
        unmount(d, "fsname=")


def one_line_error(r, what, must):
    assert r.returncode != 0, f"{what}: succeeded"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dswfs: "), f"{what}: {r.stderr!r}"
    assert must in lines[0], f"{what}: {lines[0]!r} lacks {must!r}"


@test
def non_empty_mount_points_need_nonempty():
    srv = server()
    with mountpoint(files=["keep.txt"]) as d:
        r = subprocess.run([DSWFS, srv.url, d], env=creds_env(), capture_output=True,
                           text=True, timeout=30)
        one_line_error(r, "non-empty", "not empty")
        assert not in_mount_table(d), "mounted over files"
        eq(srv.list_requests(), 0, "requests sent before refusing")
        r = subprocess.run([DSWFS, srv.url, d, "-o", "nonempty"], env=creds_env(),
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, f"-o nonempty: {r.stderr!r}")
        assert os.path.isdir(os.path.join(d, "instances")), "not mounted with nonempty"
        unmount(d, "nonempty")
        assert os.path.exists(os.path.join(d, "keep.txt")), "the hidden file is gone"


@test
def mounting_over_or_inside_a_dswfs_mount_is_refused():
    srv = server()
    with mountpoint() as d:
        r = subprocess.run([DSWFS, srv.url, d], env=creds_env(), capture_output=True,
                           text=True, timeout=30)
        eq(r.returncode, 0, r.stderr)
        for target, must in ((d, "already a dswfs mount"), (os.path.join(d, "instances"),
                                                           "inside the dswfs mount")):
            r = subprocess.run([DSWFS, srv.url, target, "-o", "nonempty"], env=creds_env(),
                               capture_output=True, text=True, timeout=30)
            one_line_error(r, target, must)
        eq(sum(1 for _ in open("/proc/self/mounts") if f" {d} " in _), 1, "stacked mounts")
        unmount(d, "over dswfs")


@test
def long_options_are_aliases_of_the_o_forms():
    srv = server()
    env = creds_env()
    want = subprocess.run([DSWFS, "-o", f"endpoint={srv.url}", "--query", "instances"],
                          env=env, capture_output=True, text=True, timeout=30)
    eq(want.returncode, 0, want.stderr)
    eq(len(json.loads(want.stdout)), N, "--query PATH")
    for argv in (["-o", f"endpoint={srv.url}", "--query=instances"],
                 [srv.url, "--query", "instances"],
                 ["--region", "cn-hangzhou", f"--query=instances", "-o", f"endpoint={srv.url}"],
                 ["--region=cn-hangzhou", srv.url, "--query", "instances"]):
        r = subprocess.run([DSWFS] + argv, env=env, capture_output=True, text=True, timeout=30)
        eq((r.returncode, r.stderr), (0, ""), " ".join(argv))
        eq(r.stdout, want.stdout, " ".join(argv))
    # A source and an option that contradict each other: refused, naming both.
    for argv, must in (([f"alice@{srv.url}", "--profile", "bob", "--query", "instances"],
                        "bob"),
                       (["alice@cn-shanghai", "--region=cn-beijing", "--query", "instances"],
                        "cn-beijing"),
                       (["not a source", "--query", "instances"], "[PROFILE@]REGION")):
        r = subprocess.run([DSWFS] + argv, env=env, capture_output=True, text=True, timeout=30)
        one_line_error(r, " ".join(argv), must)
        eq(r.returncode, 2, " ".join(argv))
    h = subprocess.run([DSWFS, "--help"], capture_output=True, text=True, timeout=30).stdout
    for word in ("--query PATH", "--profile NAME", "--region ID", "[SOURCE] MOUNTPOINT",
                 "nonempty", "setuid=USER", "log_file=PATH", "fsname="):
        assert word in h, f"--help lacks {word!r}"


@test
def setuid_runs_the_daemon_as_that_user():
    srv = server()
    with mountpoint() as d:
        r = subprocess.run([DSWFS, srv.url, d, "-o", "setuid=nobody"], env=creds_env(),
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, f"setuid=nobody: {r.stderr!r}")
        pids = pids_mentioning(d)
        eq(len(pids), 1, "daemons")
        uids = [l.split()[1:] for l in open(f"/proc/{pids[0]}/status") if l.startswith("Uid:")]
        eq(uids, [["65534"] * 4], "the daemon's real, effective, saved and fs uids")
        # The mount is nobody's: nobody reads it, and may unmount it.
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "ls", os.path.join(d, "instances")], capture_output=True, text=True)
        eq(r.returncode, 0, f"ls as nobody: {r.stderr!r}")
        eq(len([n for n in r.stdout.split() if n.startswith("dsw-")]), N, "ls as nobody")
        assert "user_id=65534" in mounts_line(d)[2], mounts_line(d)
        cfg = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "cat", os.path.join(d, ".dswfs", "config")],
                             capture_output=True, text=True).stdout
        assert "setuid nobody\n" in cfg, cfg
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "fusermount3", "-u", d], capture_output=True, text=True)
        eq(r.returncode, 0, f"fusermount3 -u as nobody: {r.stderr!r}")
        wait_until(lambda: not pids_mentioning(d), timeout=10, what="the daemon to exit")
    r = subprocess.run([DSWFS, srv.url, "-o", "setuid=nobody", "--query", "instances"],
                       env=creds_env(), capture_output=True, text=True, timeout=30)
    eq((r.returncode, len(json.loads(r.stdout or "[]"))), (0, N), f"--query as nobody: {r.stderr!r}")
    env = dict(creds_env(), PATH="/usr/bin:/bin")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", DSWFS,
                        srv.url, "/tmp", "-o", "setuid=root,nonempty"], env=env, capture_output=True,
                       text=True, timeout=30)
    one_line_error(r, "setuid= as nobody", "only root")
    r = subprocess.run([DSWFS, srv.url, "/tmp", "-o", "setuid=no-such-user-dswfs,nonempty"],
                       env=creds_env(), capture_output=True, text=True, timeout=30)
    one_line_error(r, "setuid=no-such-user", "no such user")


@test
def log_file_keeps_the_daemons_lines():
    srv = server()
    with mountpoint() as d, tempfile.TemporaryDirectory() as t:
        log = os.path.join(t, "dswfs.log")
        r = subprocess.run([DSWFS, srv.url, d, "-o", f"log_file={log},verbose=1"],
                           env=creds_env(), capture_output=True, text=True, timeout=30)
        eq((r.returncode, r.stderr), (0, ""), "daemon with log_file=")
        os.listdir(os.path.join(d, "instances"))
        text = wait_until(lambda: "info: mounted on " + d in open(log).read() and
                          open(log).read(), timeout=10, what="the mounted line")
        first = text.splitlines()[0]
        assert first[:4].isdigit() and first[19:21] == "Z " and " dswfs: " in first, first
        eq(os.stat(log).st_mode & 0o777, 0o600, "log file mode")
        unmount(d, "log_file")
        # verbose=0: warnings only, so the info line is not written.
        os.unlink(log)
        r = subprocess.run([DSWFS, srv.url, d, "-o", f"log_file={log}"], env=creds_env(),
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, r.stderr)
        os.listdir(os.path.join(d, "instances"))
        unmount(d, "log_file verbose=0")
        eq(open(log).read() if os.path.exists(log) else "", "", "lines below verbose=")


# Runs inside a private mount namespace (unshare -m): a fresh /dev holding only the devices
# dswfs needs and a /dev/log socket this script listens on, so the daemon's real syslog path is
# used without touching the machine's /dev. Prints one JSON line: what syslog got.
SYSLOG_CHILD = r"""
import json, os, socket, subprocess, sys, time
dswfs, url, mnt, saved = sys.argv[1:5]
subprocess.run(["mount", "--bind", "/dev", saved], check=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "dswfs-test-dev", "/dev"], check=True)
for n in ("null", "zero", "urandom", "random", "fuse"):
    open("/dev/" + n, "w").close()
    subprocess.run(["mount", "--bind", os.path.join(saved, n), "/dev/" + n], check=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(10)
out = {"lines": []}
r = subprocess.run([dswfs, url, mnt, "-o", "verbose=1"], capture_output=True, text=True)
out["rc"], out["stderr"] = r.returncode, r.stderr
try:
    if r.returncode == 0:
        out["listing"] = len([n for n in os.listdir(os.path.join(mnt, "instances"))
                              if n.startswith("dsw-")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("mounted on" in l for l in out["lines"]):
            out["lines"].append(s.recv(4096).decode(errors="replace"))
finally:
    subprocess.run(["umount", mnt])
print(json.dumps(out))
"""


@test
def daemon_lines_go_to_syslog():
    if not shutil.which("unshare"):
        raise Skip("no unshare(1)")
    srv = server()
    with mountpoint() as d, tempfile.TemporaryDirectory() as saved:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                            SYSLOG_CHILD, DSWFS, srv.url, d, saved], env=creds_env(),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 and "unshare" in r.stderr and "Operation not permitted" in r.stderr:
            raise Skip("no mount namespaces here: " + r.stderr.strip())
        eq(r.returncode, 0, f"namespace child: {r.stderr!r}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        eq(out["rc"], 0, f"daemon start: {out['stderr']!r}")
        eq(out.get("listing"), N, "instances/ listing")
        mounted = [l for l in out["lines"] if "mounted on" in l]
        assert mounted, f"no 'mounted on' line in syslog: {out['lines']!r}"
        # <30>: facility daemon, severity info; the tag with the daemon's pid.
        line = mounted[0]
        assert line.startswith("<30>") and " dswfs[" in line and \
            f"]: info: mounted on {d}" in line, line
    eq(pids_mentioning(d), [], "daemon left behind")


def pty_run(argv, env):
    """Runs argv with stderr on a terminal (a pty) and stdout on a pipe: (rc, stdout, tty)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=slave,
                             stdin=subprocess.DEVNULL)
        os.close(slave)
        slave = -1
        tty = b""
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                p.kill()
                raise AssertionError("no output from the pty for 30 s")
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            tty += chunk
        out = p.stdout.read()
        p.stdout.close()
        return p.wait(10), out.decode(), tty.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


@test
def query_shows_progress_on_a_terminal_only():
    pages = 5
    with MockServer("--latency-ms", "300", instances=pages, seed=3) as srv:
        argv = [DSWFS, srv.url, "-o", "page_size=1,parallel_pages=1", "--query", "instances"]
        rc, out, tty = pty_run(argv, creds_env())
        eq(rc, 0, f"--query on a pty: {tty!r}")
        eq(len(json.loads(out)), pages, "--query answer")
        assert f"of {pages}" in tty and "dswfs: listing instances: page " in tty, repr(tty)
        assert tty.endswith("\r\x1b[K"), f"the progress line is not erased: {tty!r}"
        # Not a terminal: not a byte of progress.
        r = subprocess.run(argv, env=creds_env(), capture_output=True, text=True, timeout=60)
        eq((r.returncode, r.stderr), (0, ""), "--query with stderr on a pipe")
        eq(r.stdout, out, "the same answer")


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
