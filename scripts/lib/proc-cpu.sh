# CPU seconds (user + system) read from /proc, for the bench scripts (sourced, not run).

# proc_cat FILE PID...: the files /proc/PID/FILE (FILE may be a glob, e.g. task/*/status) of the
# processes, concatenated by one cat; a gone process or thread gives nothing. These are read
# inside the stages being measured, so one process for all of them, not one per file.
proc_cat() {
  local f=$1 p files=(/dev/null)  # /dev/null: with no PID, cat must not read stdin
  shift
  for p in "$@"; do files+=(/proc/"$p"/$f); done
  cat "${files[@]}" 2>/dev/null || true
}

# cpu PID...: of the processes and all their threads, two decimals; a gone process counts 0.
cpu() { proc_cat stat "$@" | awk '{ t += $14 + $15 } END { printf "%.2f", t / 100 }'; }

# pg_server_cpu DATADIR: the PostgreSQL server running from DATADIR: its live processes (the
# clients' backends among them) and the ones that ended, which the postmaster reaped
# (autovacuum workers above all: counting only live processes missed them).
pg_server_cpu() {
  local pm reaped
  pm=$(head -1 "$1/postmaster.pid")
  reaped=$(awk '{ print $16 + $17 }' "/proc/$pm/stat")
  awk -v a="$(cpu "$pm" $(pgrep -P "$pm"))" -v r="$reaped" 'BEGIN { printf "%.2f", a + r / 100 }'
}

# voluntary_switches PID...: voluntary context switches (sleeps for want of work) of all the
# threads of the processes, summed; a gone process or thread counts 0.
voluntary_switches() {
  proc_cat 'task/*/status' "$@" | awk '/^voluntary_ctxt_switches/ { t += $2 } END { print t + 0 }'
}

# machine_ticks: the whole machine's CPU time so far, from /proc/stat, in clock ticks (1/100 s):
# busy (user, nice, system, irq, softirq, steal) and idle (idle, iowait), space separated. Over a
# stage, the idle share is time the cores had nothing runnable, and busy time beyond the
# processes measured is spent elsewhere (kernel threads, the bench itself).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat; }
