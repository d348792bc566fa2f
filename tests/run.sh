#!/usr/bin/env bash
# Runs every test suite (unit, ASan+UBSan, fuzz, valgrind, integration, conformance) and prints
# one closing line "N passed, N failed, N skipped" counted from the suites' PASS/FAIL/SKIP lines.
set -u
cd "$(dirname "$0")/.."
LOGS=build/test-logs
rm -rf "$LOGS"; mkdir -p "$LOGS"
passed=0 failed=0 skipped=0
failures=()
ONLY="${TESTS:-}"   # e.g. TESTS=mount make check runs only suites whose name contains "mount"

run_suite() { # name, command...
	local name=$1; shift
	[ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]] && return 0
	local log="$LOGS/${name//\//_}.log" start rc p f s
	start=$(date +%s.%N)
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL: $name exited with status $rc" >>"$log"
		f=1
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	printf '%-40s %4d passed %3d failed %3d skipped  %5.1fs\n' "$name" "$p" "$f" "$s" \
		"$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')"
	if [ "$f" != 0 ]; then
		failures+=("$name")
		grep -E '^FAIL: |^  ' "$log" | head -40 | sed 's/^/    /'
		echo "    (log: $log)"
	fi
}

for t in build/tests/test_*; do
	[ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build-asan/tests/test_*; do
	[ -x "$t" ] && run_suite "asan/$(basename "$t")" "$t"
done
for t in build-asan/fuzz/fuzz_*; do
	[ -x "$t" ] && run_suite "fuzz/$(basename "$t")" "$t" "${FUZZ_RUNS:-20000}"
done
for t in build/tests/test_*; do
	[ -x "$t" ] && run_suite "valgrind/$(basename "$t")" \
		valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--track-fds=no "$t"
done
for t in tests/integration/test_*.py; do
	[ -f "$t" ] && run_suite "integration/$(basename "$t" .py)" python3 "$t"
done
[ -f tests/node/run.sh ] && run_suite "node/conformance" bash tests/node/run.sh

echo
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
