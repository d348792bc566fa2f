#!/usr/bin/env bash
# Installs Alibaba Cloud's official npm packages (fails loudly if npm cannot) and runs every
# tests/node/test_*.js, each printing PASS:/FAIL: lines.
set -u
cd "$(dirname "$0")"
if [ ! -d node_modules/@alicloud/openapi-core ] || [ ! -d node_modules/@alicloud/openapi-util ] ||
   [ ! -d node_modules/@alicloud/sts20150401 ]; then
	if ! npm ci --no-audit --no-fund >npm-install.log 2>&1; then
		echo "FAIL: node.npm-install: could not install @alicloud packages from npm:"
		sed 's/^/  /' npm-install.log | tail -20
		exit 1
	fi
fi
rc=0
for t in test_*.js; do
	[ -f "$t" ] || continue
	node "$t" || rc=1
done
exit $rc
