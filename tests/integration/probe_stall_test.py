#!/usr/bin/env python3
"""A probe process that stalls (SIGSTOP, a paused VM, a starved loop) past its deadlines does not
blame its peers for its own absence.

libuv runs the timers that fell due while the process stood still before it polls the sockets,
so without care every deadline that passed in the stall fires as a timeout even when the peer's
reply has been waiting in the socket. Here `mxcensus probe` waits on slow_banner hosts (greeting
after 2 s) and tarpits (never greet) with a 4 s banner timeout, three times:
  - undisturbed (the control): nothing is extended, tarpits time out after the banner timeout;
  - stopped for 6 s from before the greetings, so that every deadline is 2 s overdue when it
    ends: each is given its whole timeout again, once;
  - stopped until ~0.25 s after the deadlines, too little to tell a stall from a busy turn: a
    deadline that finds the greeting waiting unread reads it first.
In each, every slow_banner host gets its truth outcome (starttls_ok, not `timeout`), every
tarpit times out at the banner within the bounds of that case, and the summary counts the
deadlines given more time.
"""
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_harness import (Checks, mix_lab, probe_command, probe_input,  # noqa: E402
                         profile_groups)

BANNER_MS = 4000
# The stop starts this long after every connection is open (each is then past its connect and
# waiting for its greeting, due 2 s after the connection).
SETTLE_S = 0.3


def run_probe(lab, targets, stop_for):
    cmd = probe_command(lab, "probe-stall.test", BANNER_MS,
                        ["--per-prefix", "0", "--concurrency", "200"])
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True)
        p.stdin.write(probe_input(targets))
        p.stdin.close()
        if stop_for:
            deadline = time.monotonic() + 10
            while sockets(p.pid) < len(targets) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(SETTLE_S)
            p.send_signal(signal.SIGSTOP)
            time.sleep(stop_for)
            p.send_signal(signal.SIGCONT)
        rc = p.wait(timeout=120)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if rc != 0:
        raise AssertionError("%s: exit %d\n%s" % (" ".join(cmd), rc, stderr))
    return [json.loads(line) for line in stdout.splitlines()], stderr


def sockets(pid):
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
            except OSError:
                pass
    except OSError:
        pass
    return n


def extended(summary):
    m = re.search(r", (\d+) deadlines given more time", summary)
    return int(m.group(1)) if m else 0


def main():
    c = Checks()
    with tempfile.TemporaryDirectory(prefix="mxstall-") as tmp:
        with mix_lab(tmp, {"slow_banner": 2, "tarpit": 1}, 60, 5, "127.48.0.0", 25483) as lab:
            hosts, truth, (slow, tarpits) = profile_groups(
                lab, c, {"slow_banner": 20, "tarpit": 10})

            b = BANNER_MS
            short = (b / 1000.0 + 0.25) - SETTLE_S
            # (name, stop, tarpits' total ms at least / below, deadlines given more time at least
            # / at most). A loaded machine may see the short stop 0.5 s or more late: then it is
            # the long case, whose bounds the short case's upper ones allow.
            cases = [
                ("control", 0, b - 50, b + 2000, 0, 0),
                ("stopped 6 s", 6.0, b + 6000 - 50, 2 * b + 6000 + 2000, len(hosts), len(hosts)),
                ("stopped %.2f s" % short, short, b - 50, 2 * b + short * 1000 + 2000, len(slow),
                 len(hosts)),
            ]
            for name, stop_for, t_min, t_max, n_min, n_max in cases:
                res, summary = run_probe(lab, hosts, stop_for)
                by_ip = {r["ip"]: r for r in res}
                c.check(len(by_ip) == len(hosts),
                        "%s: one result per host (%d of %d)" % (name, len(by_ip), len(hosts)))
                wrong = collections.Counter()
                for ip, r in by_ip.items():
                    if r["outcome"] != truth[ip]["outcome"]:
                        wrong[(truth[ip]["profile"], r["outcome"], r["stage"])] += 1
                c.check(not wrong, "%s: every host gets its truth outcome: %s"
                        % (name, dict(wrong)))
                t_res = [by_ip[h["ip"]] for h in tarpits if h["ip"] in by_ip]
                off = [(r["ip"], r["stage"], round(r["timing_ms"]["total"])) for r in t_res
                       if r["stage"] != "banner" or not t_min <= r["timing_ms"]["total"] < t_max]
                c.check(not off, "%s: tarpits time out at banner after %.0f-%.0f ms: %s"
                        % (name, t_min, t_max, off))
                n = extended(summary)
                print("%s: %d deadlines given more time; %s" % (name, n, summary.strip()),
                      flush=True)
                c.check(n_min <= n <= n_max, "%s: the summary counts %d deadlines given more "
                        "time (want %d-%d)" % (name, n, n_min, n_max))
    c.finish("probe_stall_test")


if __name__ == "__main__":
    main()
