#!/bin/bash
# mxcensus probe against a real Postfix (Debian's package), started here as a private instance
# on a loopback address with STARTTLS and a lab-style certificate (ECDSA P-256 leaf from a test
# CA): expect starttls_ok with the right leaf SHA-256, version, chain and name; then the same
# server with TLS off: expect no_starttls. Postfix is stopped at the end, even on failure.
set -euo pipefail

BIN=${MXCENSUS_BIN:?MXCENSUS_BIN not set}
command -v postfix >/dev/null || { echo "FAIL: postfix is not installed (scripts/install-deps)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: this test starts Postfix and must run as root"; exit 1; }

D=$(mktemp -d /tmp/mxc-postfix.XXXXXX)
chmod 755 "$D"
# One address per run so that concurrent build trees never collide.
ADDR=127.30.200.$((1 + $$ % 250))
PORT=25025
pf() { script -qec "postfix -c $D/conf $*" /dev/null; }
cleanup() {
  pf stop >/dev/null 2>&1 || true
  if [ -f "$D/queue/pid/master.pid" ]; then
    pid=$(tr -d ' ' < "$D/queue/pid/master.pid")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  fi
  rm -rf "$D"
}
trap cleanup EXIT

cd "$D"
mkdir conf queue data
chown postfix: data
cp /etc/postfix/master.cf /etc/postfix/dynamicmaps.cf conf/
touch conf/main.cf
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -subj "/CN=mxcensus test CA" -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
  -subj "/CN=mx.postfix.test" 2>/dev/null
printf 'subjectAltName=DNS:mx.postfix.test\nbasicConstraints=CA:FALSE\n' > ext.cnf
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 30 \
  -extfile ext.cnf 2>/dev/null
LEAF_SHA=$(openssl x509 -in leaf.pem -outform DER | sha256sum | cut -d' ' -f1)

postconf -c "$D/conf" -e "queue_directory=$D/queue" "data_directory=$D/data" "mail_owner=postfix" \
  "inet_protocols=ipv4" "inet_interfaces=loopback-only" "myhostname=mx.postfix.test" \
  "mydestination=" "compatibility_level=3.6" "maillog_file=$D/maillog" \
  "maillog_file_prefixes=$D" "smtpd_tls_security_level=may" "smtpd_tls_cert_file=$D/leaf.pem" \
  "smtpd_tls_key_file=$D/leaf.key"
# The smtpd service on our address and port, not chrooted.
sed -i "s/^smtp      inet  n       -       y/$ADDR:$PORT inet  n       -       n/" conf/master.cf
grep -q "^$ADDR:$PORT" conf/master.cf || { echo "FAIL: could not edit master.cf"; exit 1; }

# Read from /proc/net/tcp rather than `ss -ltn`, whose listing came back incomplete on this
# machine while labs held thousands of sockets (the test then failed with Postfix listening).
LISTEN_KEY=$(IFS=. read -r a b c d <<< "$ADDR"; printf '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$PORT")
listening() { awk -v k="$LISTEN_KEY" '$2 == k && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp; }

wait_listening() {
  # Up to 60 s: on a loaded 2-core machine (load 10+) Postfix's master takes over 10 s to bind.
  for _ in $(seq 1 600); do
    listening && return 0
    sleep 0.1
  done
  echo "FAIL: Postfix is not listening on $ADDR:$PORT"; cat "$D/maillog" || true; exit 1
}

probe() {
  echo "$ADDR,mx.postfix.test,postfix" | "$BIN" probe - --port $PORT --allow-private \
    --ehlo probe.mxcensus.test --ca-file "$D/ca.pem" --no-system-trust --banner-timeout 10s \
    --quiet
}

check() {  # check <json> <python expression over r> <message>
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" || { echo "FAIL: $3"; echo "$1"; exit 1; }
}

# A full restart (not reload): idle smtpd processes could otherwise serve one more session with
# the old settings.
restart() {
  pf stop >/dev/null
  for _ in $(seq 1 100); do listening || break; sleep 0.1; done
  pf start >/dev/null
  wait_listening
}

pf start >/dev/null
wait_listening
OUT=$(probe)
check "$OUT" 'r["outcome"]=="starttls_ok" and r["stage"]=="quit"' "expected starttls_ok at quit"
check "$OUT" 'r["tls"]["leaf"]["sha256"]=="'"$LEAF_SHA"'"' "leaf SHA-256 differs from $LEAF_SHA"
check "$OUT" 'r["tls"]["version"]=="TLSv1.3" and r["tls"]["group"]=="x25519"' "expected TLSv1.3/x25519"
check "$OUT" 'r["tls"]["chain_valid"] and r["tls"]["verify_error"] is None' "chain should verify"
check "$OUT" 'r["tls"]["name_match"]' "name should match mx.postfix.test"
check "$OUT" '"STARTTLS" in r["ehlo"] and "STARTTLS" not in r["ehlo_tls"]' "EHLO lists"
check "$OUT" 'r["codes"]=={"banner":220,"ehlo":250,"starttls":220,"ehlo_tls":250,"quit":221}' "codes"
check "$OUT" 'r["banner"].startswith("220 mx.postfix.test ESMTP") and r["tag"]=="postfix"' "banner"
echo "ok: starttls_ok, leaf $LEAF_SHA, TLSv1.3"

# Same server, TLS 1.2 only: the version is observed, not assumed.
postconf -c "$D/conf" -e "smtpd_tls_protocols=>=TLSv1.2,<=TLSv1.2" "smtpd_tls_mandatory_protocols=>=TLSv1.2,<=TLSv1.2"
restart
OUT=$(probe)
check "$OUT" 'r["outcome"]=="starttls_ok" and r["tls"]["version"]=="TLSv1.2"' "expected TLSv1.2 after reload"
echo "ok: starttls_ok, TLSv1.2"

postconf -c "$D/conf" -e "smtpd_tls_security_level=none"
restart
OUT=$(probe)
check "$OUT" 'r["outcome"]=="no_starttls" and r["stage"]=="quit" and r["tls"] is None' "expected no_starttls"
check "$OUT" '"STARTTLS" not in r["ehlo"] and r["codes"].get("quit")==221' "EHLO without STARTTLS"
echo "ok: no_starttls"
echo "PASS"
