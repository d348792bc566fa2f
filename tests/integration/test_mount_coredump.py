"""test_mount_coredump: the running daemon keeps its credentials out of core dumps: the access
key secret sits only in MADV_DONTDUMP memory ("dd" in /proc/PID/smaps) as far as dswfs copies it,
and -o allow_core_dumps turns that off (and says so in .dswfs/config).

Whether the process is non-dumpable cannot be seen from outside when the tests run as root
(/proc/PID stays root's either way and root may ptrace anything); test_secmem checks it in a
child that makes the same start-up call as main()."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AK_SECRET, DSWFS, Mount, Shared, eq, read, run, test  # noqa: E402

S = Shared(20, 5)

HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def regions(pid):
    """(start, end, path, flags) of every mapping of pid."""
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = HEADER.match(line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip(), set()]
                out.append(cur)
            elif line.startswith("VmFlags:") and cur:
                cur[3] = set(line.split()[1:])
    return out


def secret_places(pid, secret):
    """(dd, other): how many times secret occurs in anonymous "dd" mappings and elsewhere in
    anonymous or heap memory (read as root through /proc/PID/mem)."""
    dd = other = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end, path, flags in regions(pid):
            if path not in ("", "[heap]") or "rd" not in flags or end - start > 1 << 28:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            n = data.count(secret)
            if "dd" in flags and path == "":
                dd += n
            else:
                other += n
    return dd, other


def anon_dd(pid):
    return [r for r in regions(pid) if r[2] == "" and "dd" in r[3]]


@test
def secrets_sit_in_dontdump_memory():
    with Mount(S.server()) as m:
        os.listdir(m.path("instances"))  # at least one signed request made
        pid = m.proc.pid
        assert anon_dd(pid), "no MADV_DONTDUMP mapping in the daemon"
        dd, other = secret_places(pid, AK_SECRET.encode())
        assert dd >= 1, f"the access key secret is in no dd mapping (elsewhere: {other})"
        eq(read(m.path(".dswfs", "config")).decode().count("allow_core_dumps 0\n"), 1,
           "config says allow_core_dumps 0")


@test
def allow_core_dumps_turns_it_off():
    with Mount(S.server(), "allow_core_dumps") as m:
        os.listdir(m.path("instances"))
        pid = m.proc.pid
        eq(anon_dd(pid), [], "anonymous dd mappings with allow_core_dumps")
        eq(read(m.path(".dswfs", "config")).decode().count("allow_core_dumps 1\n"), 1,
           "config says allow_core_dumps 1")


@test
def help_mentions_allow_core_dumps():
    r = subprocess.run([DSWFS, "--help"], capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "--help exit status")
    assert "allow_core_dumps" in r.stdout, r.stdout


if __name__ == "__main__":
    try:
        run()
    finally:
        S.close()
