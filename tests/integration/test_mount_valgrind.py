"""test_mount_valgrind: the daemon itself under valgrind memcheck through a mount's whole life."""
import os
import stat
import subprocess
import tempfile

import harness
from harness import MockServer, Mount, test, wait_until


def wrapper(log):
    """A script that runs build/dswfs under memcheck, for Mount(binary=...)."""
    fd, path = tempfile.mkstemp(prefix="dswfs-vg-", suffix=".sh")
    with os.fdopen(fd, "w") as f:
        f.write("#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full "
                "--errors-for-leak-kinds=definite --show-leak-kinds=definite "
                f"--log-file={log} {harness.DSWFS} \"$@\"\n")
    os.chmod(path, stat.S_IRWXU)
    return path


@test
def daemon_is_clean_under_memcheck():
    log = tempfile.mktemp(prefix="dswfs-vg-", suffix=".log")
    script = wrapper(log)
    try:
        with MockServer(instances=40) as srv:
            m = Mount(srv, "ttl=1,grace=0", binary=script)
            m.exit_timeout = 120    # memcheck's leak check runs at exit
            with m:
                # a walk, every file read, filters, by-name and the control files
                subprocess.run(["grep", "-r", "-c", "nothing-matches", m.path("instances")],
                               capture_output=True, timeout=300)
                ids = [n for n in os.listdir(m.path("instances")) if n != "instances.json"]
                os.listdir(m.path("instances", "status", "Running"))
                os.listdir(m.path("by-name"))
                with open(m.path(".dswfs", "stats")) as f:
                    f.read()
                # a change on the server: after the TTL the refresh replaces the snapshot
                srv.control("PATCH", f"instances/{ids[0]}", {"Status": "Stopped"})

                def changed():
                    with open(m.path("instances", ids[0], "Status")) as f:
                        return f.read() == "Stopped\n"
                wait_until(changed, timeout=60, interval=0.2, what="status change")
                with open(m.path(".dswfs", "refresh"), "w") as f:
                    f.write("1\n")
                os.listdir(m.path("instances"))
                proc = m.proc
            rc = proc.wait(120)
        with open(log) as f:
            report = f.read()
        assert rc == 0 and not report.strip(), f"valgrind exit {rc}:\n{report}"
    finally:
        os.unlink(script)
        if os.path.exists(log):
            os.unlink(log)


if __name__ == "__main__":
    harness.run()
