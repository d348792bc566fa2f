#!/bin/sh
# Installs the Debian packages dswfs needs to build, test and demo; a no-op when all are present.
set -eu
PKGS="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libcjson-dev libssl-dev python3 jq valgrind nodejs npm mandoc man-db bash-completion"
# promtool (tests check .dswfs/metrics with `promtool check metrics`). The package also ships a
# Prometheus server: it must not start, see policy-rc.d below.
PKGS="$PKGS prometheus"
# The shared cache level (-o shared_cache): hiredis, zstd, and redis-server for its tests.
PKGS="$PKGS libhiredis-dev libzstd-dev redis-server"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node and npm may come from outside Debian's packages (already on PATH): accept those.
case "$missing" in *nodejs*|*npm*)
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
	fi ;;
esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No service may start while installing (prometheus would start its server through invoke-rc.d
# on a machine without systemd): a policy-rc.d answering 101 forbids it, removed afterwards
# unless one was already there.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
