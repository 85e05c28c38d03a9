#!/bin/bash
# mxcensus probe's command line: bad input lines are reported with their line number and
# skipped, reserved ranges are blocked without --allow-private (nothing sent), bad flags are
# usage errors (exit 2), a refused loopback port gives connect_refused. Loopback only.
set -euo pipefail
BIN=${MXCENSUS_BIN:?MXCENSUS_BIN not set}
D=$(mktemp -d /tmp/mxc-probe-cli.XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

printf '# comment\n127.31.0.1,mx.one.test,t1\nnot-an-ip,x\n\n127.31.0.2,BAD NAME\n[::1],mx.six.test\n127.31.0.3,a,b,c\n' > "$D/targets"
set +e
"$BIN" probe "$D/targets" --port 1 --ehlo probe.test --allow-private --quiet > "$D/out" 2> "$D/err"
rc=$?
set -e
[ $rc = 0 ] || fail "exit $rc: $(cat "$D/err")"
grep -q "targets:3: invalid IP address" "$D/err" || fail "line 3 not reported: $(cat "$D/err")"
grep -q "targets:5: invalid host name" "$D/err" || fail "line 5 not reported"
grep -q "targets:7: more than 3 fields" "$D/err" || fail "line 7 not reported"
[ "$(wc -l < "$D/out")" = 2 ] || fail "expected 2 results: $(cat "$D/out")"
python3 - "$D/out" <<'PY' || fail "results"
import json, sys
rs = {r["ip"]: r for r in map(json.loads, open(sys.argv[1]))}
assert rs["127.31.0.1"]["outcome"] == "connect_refused", rs
assert rs["127.31.0.1"]["tag"] == "t1" and rs["127.31.0.1"]["port"] == 1
assert rs["::1"]["outcome"] == "connect_refused", rs["::1"]
assert rs["::1"]["name"] == "mx.six.test"
PY

# Without --allow-private, loopback is reserved: blocked, stage connect, never contacted.
echo "127.31.0.1,mx.one.test" | "$BIN" probe - --ehlo probe.test --quiet > "$D/out2"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["outcome"]=="blocked" and r["stage"]=="connect" and "allow-private" in r["error"], r' "$D/out2" || fail "blocked"
# A blocklist wins over --allow-private.
printf '# opt-out\n127.31.0.0/24\n' > "$D/bl"
echo "127.31.0.9" | "$BIN" probe - --ehlo probe.test --allow-private --blocklist "$D/bl" --quiet > "$D/out3"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["outcome"]=="blocked" and "blocklist" in r["error"], r' "$D/out3" || fail "blocklist"

# Usage errors: exit 2 and one line naming the setting. The descriptor limit is set here (4,000:
# 3,500 sockets for probes) so that the socket checks do not depend on the machine's limit.
for args in "--banner-timeout 10x" "--ehlo bad\\r\\nname" "--concurrency 0" "--port 70000" \
    "--slow-after 5x" "--slow-after 45s" "--concurrency 3000 --slow-concurrency 600" \
    "--concurrency 3600" "--slow-concurrency -2"; do
  set +e
  echo "127.31.0.1" | (ulimit -n 4000 && exec "$BIN" probe - --allow-private $args) > /dev/null 2> "$D/err"
  rc=$?
  set -e
  [ $rc = 2 ] || fail "'$args' exited $rc"
  grep -q "^mxcensus: error: " "$D/err" || fail "'$args': $(cat "$D/err")"
done
# The socket ceiling follows the descriptor limit and says how to raise it.
set +e
(ulimit -n 2000 && exec "$BIN" probe - --concurrency 1600) < /dev/null > /dev/null 2> "$D/err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "concurrency must be 1..1500 .*ulimit" "$D/err" || fail "socket ceiling: $rc $(cat "$D/err")"
(ulimit -n 2000 && exec "$BIN" probe - --concurrency 1500 --quiet) < /dev/null || fail "1500 of 1500 sockets refused"
printf '127.31.0.1/40\n' > "$D/badbl"
set +e
echo "127.31.0.1" | "$BIN" probe - --blocklist "$D/badbl" > /dev/null 2> "$D/err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "badbl:1:" "$D/err" || fail "bad blocklist: $rc $(cat "$D/err")"
echo PASS
