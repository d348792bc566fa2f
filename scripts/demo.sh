#!/usr/bin/env bash
# demo: mounts dswfs over the local DSW API server (300 generated instances) until Ctrl-C.
#
# Environment: DSWFS_BIN (default ./dswfs), DEMO_DIR (where it mounts; default
# $TMPDIR/dswfs-demo), DEMO_INSTANCES (default 300). Nothing here talks to anything but 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${DSWFS_BIN:-./dswfs}
MNT=${DEMO_DIR:-${TMPDIR:-/tmp}/dswfs-demo}
INSTANCES=${DEMO_INSTANCES:-300}

for tool in python3 fusermount3; do
	command -v "$tool" >/dev/null || { echo "demo: $tool is needed" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "demo: $BIN not built (run make)" >&2; exit 1; }

# A throwaway access key for this run only; the server checks signatures made with it.
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
AK_ID="LTAIdemo$(rand_hex 8)"
AK_SECRET="$(rand_hex 15)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dswfs-demo-run.XXXXXX")
SERVER_PID=""
FS_PID=""
MADE_MNT=""

# Polls "$@" every 0.1 s for up to $1 seconds; returns 1 on timeout.
poll() {
	local limit=$(($1 * 10)) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ "$i" -ge "$limit" ] && return 1
		sleep 0.1
	done
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }
is_mounted() { mountpoint -q "$MNT" 2>/dev/null; }

# Called with 0 for Ctrl-C / kill (a normal way to end the demo), without for any other exit.
cleanup() {
	local rc=${1:-$?}
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	if is_mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || {
			echo "demo: $MNT is busy (a shell inside it?); detaching it lazily" >&2
			fusermount3 -u -z "$MNT" 2>/dev/null || true
		}
	fi
	if alive "$FS_PID"; then
		poll 10 gone "$FS_PID" || kill "$FS_PID" 2>/dev/null || true
	fi
	if [ -n "$FS_PID" ]; then
		wait "$FS_PID" 2>/dev/null || true
	fi
	if alive "$SERVER_PID"; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [ -n "$MADE_MNT" ]; then
		rmdir "$MNT" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap 'cleanup 0' INT TERM
trap cleanup EXIT

if is_mounted; then
	echo "demo: $MNT is already mounted (an earlier demo?); unmounting it" >&2
	fusermount3 -u "$MNT"
fi
if [ ! -d "$MNT" ]; then
	mkdir -p "$MNT"
	MADE_MNT=1
fi
if [ -n "$(ls -A "$MNT")" ]; then
	echo "demo: $MNT is not empty; set DEMO_DIR to another directory" >&2
	exit 1
fi

python3 scripts/dsw_mock_server.py --port 0 --instances "$INSTANCES" \
	--access-key-id "$AK_ID" --access-key-secret "$AK_SECRET" \
	>"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
server_ready() { grep -q '^listening on ' "$WORK/server.out" || gone "$SERVER_PID"; }
poll 15 server_ready || true
if ! grep -q '^listening on ' "$WORK/server.out"; then
	echo "demo: the local server did not start:" >&2
	cat "$WORK/server.err" >&2
	exit 1
fi
ENDPOINT="http://$(awk '/^listening on /{print $3; exit}' "$WORK/server.out")"

# The credentials go to dswfs's environment only, never into this shell's.
env ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" ALIBABA_CLOUD_ACCESS_KEY_SECRET="$AK_SECRET" \
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true \
	"$BIN" -f -o "endpoint=$ENDPOINT,ttl=30" "$MNT" >"$WORK/dswfs.log" 2>&1 &
FS_PID=$!
mounted_or_dead() { is_mounted || gone "$FS_PID"; }
poll 20 mounted_or_dead || true
if ! is_mounted; then
	echo "demo: dswfs did not mount:" >&2
	cat "$WORK/dswfs.log" >&2
	exit 1
fi

ID=$(find "$MNT/instances" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' -quit)
WS=$(find "$MNT/workspaces" -mindepth 1 -maxdepth 1 -printf '%f\n' -quit)
WSNAME=$(find "$MNT/workspaces-by-name" -mindepth 1 -maxdepth 1 -printf '%f\n' -quit)
ABS_BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
touch -d 2025-01-01 "$WORK/since"
cat <<EOF

dswfs is mounted on $MNT: $INSTANCES demo instances from the local server at $ENDPOINT.
dswfs log: $WORK/dswfs.log
(The export line at the end carries this run's throwaway key, which only this demo's local
server accepts: paste it to query that server without mounting.)

Try, in another terminal:
  ls $MNT/instances | head
  cat $MNT/instances/$ID/Status
  cat $MNT/instances/$ID/JupyterlabUrl
  ls $MNT/instances/$ID/RequestedResource/
  ls -l $MNT/by-name | head
  ls $MNT/workspaces/ $MNT/workspaces/$WS/status/
  ls -l $MNT/workspaces-by-name/ $MNT/users/
  ls '$MNT/workspaces-by-name/$WSNAME/' | head
  ls $MNT/instances/create-time-after/2025-01-01/ | head
  cat $MNT/instances/.query
  ls $MNT/workspaces/$WS/status/Running/accelerator-type/GPU/
  grep -lx Failed $MNT/instances/dsw-*/Status | head
  grep -rh --include=GPUType . $MNT/instances | sort | uniq -c
  jq -r '.[] | select(.Status == "Running") | "\(.InstanceName)\t\(.JupyterlabUrl)"' $MNT/instances/instances.json | head
  find $MNT/instances -mindepth 1 -maxdepth 1 -newer $WORK/since | head   # modified in 2025
  cat $MNT/.dswfs/stats
  echo 1 > $MNT/.dswfs/refresh
  watch -n 1 cat $MNT/.dswfs/stats
  export ALIBABA_CLOUD_ACCESS_KEY_ID=$AK_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET=$AK_SECRET ALIBABA_CLOUD_ECS_METADATA_DISABLED=true; $ABS_BIN -o endpoint=$ENDPOINT --query workspaces/$WS/status/Running | jq length
Press Ctrl-C here to unmount and stop.
EOF

# Returns when dswfs exits (e.g. someone ran fusermount3 -u) or a signal arrives.
wait "$FS_PID" || true
