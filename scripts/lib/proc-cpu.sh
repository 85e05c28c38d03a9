# CPU seconds (user + system) read from /proc, for the bench scripts (sourced, not run).

# cpu PID...: of the processes and all their threads, two decimals; a gone process counts 0.
cpu() {
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  awk "BEGIN { printf \"%.2f\", $t / 100 }"
}

# pg_server_cpu DATADIR: the PostgreSQL server running from DATADIR: its live processes (the
# clients' backends among them) and the ones that ended, which the postmaster reaped
# (autovacuum workers above all: counting only live processes missed them).
pg_server_cpu() {
  local pm reaped
  pm=$(head -1 "$1/postmaster.pid")
  reaped=$(awk '{ print $16 + $17 }' "/proc/$pm/stat")
  awk -v a="$(cpu "$pm" $(pgrep -P "$pm"))" -v r="$reaped" 'BEGIN { printf "%.2f", a + r / 100 }'
}
