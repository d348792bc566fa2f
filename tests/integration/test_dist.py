"""test_dist: what `make install` puts where (scripts/dist/), and that it stays true: the man
page lints clean and documents every option and filter key, the bash completion knows them and
completes, the example systemd units verify, and plain `make` names missing build packages
instead of installing them."""
import os
import re
import shutil
import subprocess
import tempfile

from harness import DSWFS, ROOT, Mount, MockServer, Skip, eq, run, test

DIST = os.path.join(ROOT, "scripts", "dist")
MAN = os.path.join(DIST, "dswfs.1")
COMPLETION = os.path.join(DIST, "dswfs.bash")
UNITS = ["dswfs@.service", "mnt-dsw.mount", "mnt-dsw.automount"]


def make(*args, env=None):
    return subprocess.run(["make", "-C", ROOT, "--no-print-directory", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def tree(top):
    """{relative path: mode} of every file and link below top (directories left out)."""
    out = {}
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, top)] = os.lstat(p).st_mode & 0o7777
    return out


def installed(prefix="/usr/local"):
    p = prefix.lstrip("/")
    return {
        f"{p}/bin/dswfs": 0o755,
        f"{p}/share/man/man1/dswfs.1": 0o644,
        f"{p}/share/bash-completion/completions/dswfs": 0o644,
        **{f"{p}/share/doc/dswfs/{u}": 0o644 for u in UNITS},
    }


@test
def install_and_uninstall_in_destdir():
    with tempfile.TemporaryDirectory(prefix="dswfs-destdir-") as dest:
        r = make("install", f"DESTDIR={dest}")
        eq(r.returncode, 0, r.stderr)
        # Exactly these files: no mount.fuse.dswfs link (mount(8) finds dswfs on its own PATH).
        eq(tree(dest), installed())
        with open(os.path.join(dest, "usr/local/bin/dswfs"), "rb") as a, \
                open(os.path.join(ROOT, "build", "dswfs"), "rb") as b:
            assert a.read() == b.read(), "installed binary differs from build/dswfs"
        v = subprocess.run([os.path.join(dest, "usr/local/bin/dswfs"), "--version"],
                           capture_output=True, text=True)
        eq(v.returncode, 0, v.stderr)
        assert v.stdout.startswith("dswfs "), v.stdout
        r = make("uninstall", f"DESTDIR={dest}")
        eq(r.returncode, 0, r.stderr)
        eq(tree(dest), {})
        assert not os.path.exists(os.path.join(dest, "usr/local/share/doc/dswfs"))


@test
def install_honours_prefix():
    with tempfile.TemporaryDirectory(prefix="dswfs-destdir-") as dest:
        r = make("install", f"DESTDIR={dest}", "PREFIX=/opt/dswfs")
        eq(r.returncode, 0, r.stderr)
        eq(tree(dest), installed("/opt/dswfs"))
        with open(os.path.join(dest, "opt/dswfs/share/doc/dswfs/dswfs@.service")) as f:
            unit = f.read()
        assert "ExecStart=/opt/dswfs/bin/dswfs -f " in unit, unit
        assert "/usr/local/bin" not in unit, unit
        eq(make("uninstall", f"DESTDIR={dest}", "PREFIX=/opt/dswfs").returncode, 0)
        eq(tree(dest), {})


@test
def plain_make_names_missing_build_packages():
    """`make` checks pkg-config modules and names the Debian packages; it never runs the
    installer (the fake pkg-config lacks libcjson and the build tree stays empty)."""
    with tempfile.TemporaryDirectory(prefix="dswfs-build-") as tmp:
        fake = os.path.join(tmp, "pkg-config")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nfor a; do [ "$a" = libcjson ] && exit 1; done\n'
                    'exec pkg-config "$@"\n')
        os.chmod(fake, 0o755)
        build = os.path.join(tmp, "b")
        r = make(f"PKG_CONFIG={fake}", f"BUILD={build}")
        assert r.returncode != 0, r.stdout
        assert "libcjson-dev" in r.stderr and "make deps" in r.stderr, r.stderr
        for pkg in ("libfuse3-dev", "libcurl4-openssl-dev", "libssl-dev"):
            assert pkg not in r.stderr, r.stderr
        assert not os.path.exists(build), os.listdir(build)
        r = make("PKG_CONFIG=/nonexistent/pkg-config", f"BUILD={build}")
        assert r.returncode != 0 and "pkg-config libfuse3-dev" in r.stderr, r.stderr
    dry = make("-n", "all", f"BUILD={tempfile.gettempdir()}/dswfs-dry-{os.getpid()}")
    eq(dry.returncode, 0, dry.stderr)
    for word in ("install-deps", "apt-get update", "apt-get install -y", "npm", "valgrind"):
        assert word not in dry.stdout, f"plain make would run {word}"


def man_items():
    """Every option name the man page lists as an item (.It), plus the mount(8) options it
    names in its "mount options" subsection: -x and --long flags, bare -o names."""
    names, section = set(), None
    with open(MAN) as f:
        for line in f:
            if line.startswith(".Ss ") or line.startswith(".Sh "):
                section = line[4:].strip()
            toks = line.split()
            if not toks or not (toks[0] == ".It" or (toks[0] == ".Cm" and
                                                     section == "mount options")):
                continue
            for i, t in enumerate(toks[:-1]):
                arg = toks[i + 1].replace("\\&", "").replace("\\-", "-").rstrip(".=")
                if t in ("Fl", ".Fl"):
                    names.add("-" + arg)
                elif t in ("Cm", ".Cm"):
                    names.add(arg)
    return names


def help_options():
    """Every option `dswfs --help` prints, dswfs's and FUSE's."""
    out = subprocess.run([DSWFS, "--help"], capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        if not re.match(r"^ {4}\S", line):
            continue
        # The option column ends where two spaces (or the line) do: a long name runs past the
        # description column and has its description on the next line.
        toks = re.split(r" {2,}", line.strip(), maxsplit=1)[0].split()
        if toks[0][:1].isupper():
            continue  # prose between the options, e.g. about the generic mount options
        for i, t in enumerate(toks):
            t = t.rstrip(",")
            if t == "-o":
                continue
            if t.startswith("-"):
                names.add(t)
            elif i == 0 or toks[i - 1] == "-o":
                names.add(t.split("=")[0])
    return names


def table_options():
    """Every option name in fs/opts.c's fuse_opt tables ("--query", "ttl", ...)."""
    with open(os.path.join(ROOT, "fs", "opts.c")) as f:
        src = f.read()
    names = set()
    for block in re.findall(r"struct fuse_opt \w+\[\] = \{(.*?)\};", src, re.S):
        names.update(re.findall(r'"(-{0,2}[A-Za-z_][\w-]*(?:\.)?)', block))
    return {n.rstrip(".") for n in names}


def query_grammar():
    """(filter keys, {key: enumeration}) from fs/model/query.c."""
    with open(os.path.join(ROOT, "fs", "model", "query.c")) as f:
        src = f.read()
    keys = re.findall(r'\[QK_\w+\] = \{ "([a-z-]+)"', src)
    enums = {}
    for key, arr in (("status", "statuses"), ("payment-type", "payment_types"),
                     ("accessibility", "accessibilities"),
                     ("accelerator-type", "accelerator_types")):
        m = re.search(r"\b%s\[\] = \{(.*?)\};" % arr, src, re.S)
        assert m, f"{arr}[] not found in query.c"
        enums[key] = re.findall(r'"([^"]+)"', m.group(1))
    assert len(keys) >= 20 and len(enums["status"]) >= 10, (keys, enums)
    return keys, enums


@test
def man_page_lints_clean():
    if not shutil.which("mandoc"):
        raise Skip("mandoc not installed (make deps installs it)")
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "style", MAN], capture_output=True,
                       text=True)
    # Whether cross-referenced pages (jq(1), ...) are installed depends on the machine.
    msgs = [m for m in (r.stdout + r.stderr).splitlines()
            if "referenced manual not found" not in m and "outdated mandoc.db" not in m]
    eq(msgs, [], "mandoc -T lint")
    if shutil.which("man"):
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", MAN],
                           capture_output=True, text=True, env={**os.environ, "MANWIDTH": "80"})
        eq(r.returncode, 0, r.stderr)
        eq(r.stderr, "", "man --warnings")
        for heading in ("SYNOPSIS", "DESCRIPTION", "OPTIONS", "THE TREE", "FILTER DIRECTORIES",
                        "CACHING", "CREDENTIALS", "CONTROL FILES", "ENVIRONMENT", "FILES",
                        "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
            assert re.search(r"^%s$" % heading, r.stdout, re.M), f"no {heading} section"


@test
def man_page_documents_every_option():
    items = man_items()
    for source, names in (("dswfs --help", help_options()), ("fs/opts.c", table_options())):
        assert len(names) > 20, (source, names)
        missing = sorted(n for n in names if n not in items)
        eq(missing, [], f"options of {source} missing from the man page")


@test
def man_page_documents_every_filter_key():
    keys, enums = query_grammar()
    items = man_items()
    eq(sorted(k for k in keys if k not in items), [], "filter keys missing from the man page")
    with open(MAN) as f:
        text = f.read()
    for key, values in enums.items():
        for v in values:
            assert re.search(r"\b%s\b" % v, text), f"{key} value {v} not in the man page"


def bash(script, env=None):
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, env=env, timeout=30)
    eq(r.returncode, 0, r.stderr)
    return r.stdout


def completion_lists():
    out = bash(f'source "{COMPLETION}"; for v in _dswfs_opts_value _dswfs_opts_flag '
               '_dswfs_long _dswfs_keys _dswfs_enum_status _dswfs_enum_payment_type '
               '_dswfs_enum_accessibility _dswfs_enum_accelerator_type; do '
               'echo "$v:" ${!v}; done')
    return {k: v.split() for k, v in (line.split(":", 1) for line in out.splitlines())}


@test
def completion_knows_every_option_and_key():
    lists = completion_lists()
    opts = {o.rstrip("=") for o in lists["_dswfs_opts_value"] + lists["_dswfs_opts_flag"]}
    longs = {o.rstrip("=") for o in lists["_dswfs_long"]}
    with open(MAN) as f:
        mount_section = f.read().split(".Ss mount options", 1)[1].split(".Ss ", 1)[0]
    generic = {t.replace("\\&", "").rstrip(".=") for t in re.findall(r"^\.Cm (\S+)",
                                                                       mount_section, re.M)}
    for source, names in (("dswfs --help", help_options()), ("fs/opts.c", table_options())):
        missing = sorted(n for n in names if n not in generic and n not in {"-h", "-V", "-d",
                                                                             "-f", "-s"}
                         and n not in (longs if n.startswith("--") else opts))
        eq(missing, [], f"options of {source} the completion does not offer")
    keys, enums = query_grammar()
    eq(lists["_dswfs_keys"], keys, "filter keys")
    for key, values in enums.items():
        eq(lists["_dswfs_enum_" + key.replace("-", "_")], values, f"{key} values")


def complete(line, func="_dswfs", cwd=None):
    """COMPREPLY of func for the command line `line` with the cursor at its end."""
    script = (f'source "{COMPLETION}"; COMP_LINE=$1; COMP_POINT=${{#COMP_LINE}}; '
              'read -r -a COMP_WORDS <<<"$COMP_LINE"; [[ $COMP_LINE == *" " ]] && '
              'COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
              f'{func} "${{COMP_WORDS[0]}}"; printf "%s\\n" "${{COMPREPLY[@]}}"')
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", line],
                       capture_output=True, text=True, cwd=cwd, timeout=30)
    eq(r.returncode, 0, r.stderr)
    return [w for w in r.stdout.splitlines() if w]


@test
def completion_completes():
    out = bash(f'source "{COMPLETION}"; complete -p dswfs')
    assert "-F _dswfs" in out and out.rstrip().endswith(" dswfs"), out
    eq(complete("dswfs -o tt"), ["ttl="])
    eq(complete("dswfs -o ttl=5,pre"), ["5,prefetch"])       # readline replaces after '='
    eq(sorted(complete("dswfs -o show_secrets,ca")), ["show_secrets,ca_file=",
                                                      "show_secrets,cache_max_mb="])
    eq(complete("dswfs --que"), ["--query="])
    eq(complete("dswfs --query="), ["instances/", "workspaces/"])
    eq(complete("dswfs --query=instances/sta"), ["instances/status/"])
    eq(complete("dswfs --query workspaces/40823/status/Run"),
       ["workspaces/40823/status/Running/"])
    eq(complete("dswfs --query=instances/payment-type/"),
       ["instances/payment-type/PayAsYouGo/", "instances/payment-type/Subscription/"])
    after = complete("dswfs --query workspaces/40823/status/Running/")
    assert "workspaces/40823/status/Running/gpu-type/" in after, after
    for used in ("status", "workspace-id"):                 # each key once
        assert f"workspaces/40823/status/Running/{used}/" not in after, after
    eq(complete("dswfs --query instances/status/Running/status/"), [])
    eq(complete("dswfs --query instances/bogus/"), [])
    assert "--region" in complete("dswfs -")


@test
def completion_of_paths_in_a_mount():
    """_dswfs_path offers the filter keys a mount does not list, and its real entries."""
    with MockServer(instances=5) as srv, Mount(srv) as m:
        got = complete(f"ls {m.dir}/instances/st", func="_dswfs_path")
        eq(got, [f"{m.dir}/instances/status/"])
        got = complete(f"ls {m.dir}/workspaces/", func="_dswfs_path")
        ws = sorted(os.listdir(m.path("workspaces")))
        assert ws and all(f"{m.dir}/workspaces/{w}/" in got for w in ws), (ws, got)
        got = complete(f"cat {m.dir}/instances/status/Sav", func="_dswfs_path")
        eq(sorted(got), [f"{m.dir}/instances/status/SaveFailed/",
                         f"{m.dir}/instances/status/Saved/", f"{m.dir}/instances/status/Saving/"])


@test
def completion_found_where_installed():
    """bash-completion's loader finds the installed file by the command's name."""
    loader = "/usr/share/bash-completion/bash_completion"
    if not os.path.exists(loader):
        raise Skip("bash-completion not installed (make deps installs it)")
    with tempfile.TemporaryDirectory(prefix="dswfs-destdir-") as dest:
        eq(make("install", f"DESTDIR={dest}").returncode, 0)
        env = {**os.environ, "XDG_DATA_DIRS": f"{dest}/usr/local/share"}
        out = bash(f'source {loader}; __load_completion dswfs; complete -p dswfs', env=env)
        assert "-F _dswfs" in out, out


@test
def systemd_units_verify():
    sa = shutil.which("systemd-analyze")
    if not sa:
        raise Skip("systemd-analyze not installed")
    with tempfile.TemporaryDirectory(prefix="dswfs-prefix-") as prefix:
        eq(make("install", f"PREFIX={prefix}").returncode, 0)
        doc = os.path.join(prefix, "share", "doc", "dswfs")
        rt = os.path.join(prefix, "run")
        os.mkdir(rt, 0o700)
        # MANPATH lets systemd check Documentation=man:dswfs(1) against the installed page.
        env = {**os.environ, "XDG_RUNTIME_DIR": rt,
               "MANPATH": os.path.join(prefix, "share", "man")}

        def verify(*args):
            return subprocess.run([sa, "verify", *args], capture_output=True, text=True,
                                  env=env, cwd=doc, timeout=60)
        r = verify("--user", "./dswfs@cn-shanghai.service")
        if r.returncode and ("Failed to initialize manager" in r.stderr
                             or "Failed to lookup RuntimeDirectory" in r.stderr):
            raise Skip(f"systemd-analyze verify cannot run here: {r.stderr.strip()[:200]}")
        eq((r.returncode, r.stderr), (0, ""), "dswfs@.service")
        r = verify("./mnt-dsw.mount", "./mnt-dsw.automount")
        eq((r.returncode, r.stderr), (0, ""), "mnt-dsw.mount/.automount")
        # The check is real: a unit whose binary is missing fails it.
        os.unlink(os.path.join(prefix, "bin", "dswfs"))
        r = verify("--user", "./dswfs@cn-shanghai.service")
        assert r.returncode != 0 and "not executable" in r.stderr, r.stderr


if __name__ == "__main__":
    run()
