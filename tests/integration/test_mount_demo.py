"""test_mount_demo: scripts/demo.sh (what `make demo` runs) mounts, prints commands that work,
and on Ctrl-C unmounts and leaves no process, mount or directory behind."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DSWFS, ROOT, eq, pids_mentioning, run, test, wait_until  # noqa: E402


@test
def demo_mounts_and_stops_cleanly_on_ctrl_c():
    work = tempfile.mkdtemp(prefix="dswfs-demo-test-")
    mnt = os.path.join(work, "mnt")
    log = os.path.join(work, "demo.out")
    env = dict(os.environ, DSWFS_BIN=DSWFS, DEMO_DIR=mnt, DEMO_INSTANCES="120")
    env = {k: v for k, v in env.items() if not k.startswith("ALIBABA_CLOUD_")}
    with open(log, "w") as out:
        p = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "demo.sh")], cwd=ROOT,
                             env=env, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        def text():
            with open(log) as f:
                return f.read()
        wait_until(lambda: "Press Ctrl-C" in text() or p.poll() is not None, timeout=60,
                   what="the demo to mount")
        assert p.poll() is None, f"demo exited {p.returncode}: {text()}"
        assert os.path.ismount(mnt), f"{mnt} not mounted: {text()}"
        eq(len(os.listdir(os.path.join(mnt, "by-name"))), 120, "by-name/ in the demo")
        # The dswfs process has the demo credentials; this test's environment has none.
        group = [int(x) for x in subprocess.run(["ps", "-o", "pid=", "-g", str(p.pid)],
                                                capture_output=True, text=True).stdout.split()]
        assert len(group) >= 3, f"demo processes (bash, server, dswfs): {group}"
        # Every command the demo suggests runs (watch excepted: it never ends).
        cmds = [ln.strip() for ln in text().split("Try, in another terminal:")[1]
                .split("Press Ctrl-C")[0].splitlines() if ln.strip()]
        assert len(cmds) >= 10, cmds
        for cmd in cmds:
            if cmd.startswith("watch"):
                continue
            r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd + " >/dev/null"],
                               capture_output=True, text=True, timeout=120)
            # head may close its pipe early; anything else must succeed.
            assert r.returncode in (0, 141) or (r.returncode == 1 and cmd.startswith("grep")), \
                f"{cmd!r}: exit {r.returncode} {r.stderr[-300:]!r}"
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(30)
        eq(rc, 0, f"demo exit status after Ctrl-C: {text()[-500:]}")
        assert not os.path.ismount(mnt), "still mounted after Ctrl-C"
        assert not os.path.exists(mnt), "the demo directory was left behind"
        eq(pids_mentioning(mnt), [], "processes left behind")
        eq([pid for pid in group if os.path.exists(f"/proc/{pid}")], [],
           "demo processes (server, dswfs) left behind")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run()
