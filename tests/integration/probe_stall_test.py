#!/usr/bin/env python3
"""A probe process that stalls (SIGSTOP, a paused VM, a starved loop) past its deadlines does not
blame its peers for its own absence.

libuv runs the timers that fell due while the process stood still before it polls the sockets,
so without care every deadline that passed in the stall fires as a timeout even when the peer's
reply has been waiting in the socket. Here `mxcensus probe` waits on slow_banner hosts (greeting
after 2 s) and tarpits (never greet) with a 4 s banner timeout, and is stopped for 6 s from
before the greetings until after the deadlines:
  - every slow_banner host still gets its truth outcome (starttls_ok), not `timeout`;
  - every tarpit still times out at the banner, a whole banner timeout after the stop ended
    (the deadline is extended once, not forever);
  - the summary counts the deadlines it extended.
The same run without the stop is the control: nothing is extended there.
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
from lab_harness import Checks, mix_lab, mxcensus_bin  # noqa: E402

BANNER_MS = 4000
STOP_FOR_S = 6.0


def run_probe(lab, targets, stall):
    inp = "".join("%s,%s\n" % (h["ip"], h["name"]) for h in targets)
    cmd = [mxcensus_bin(), "probe", "-", "--port", "2525", "--allow-private", "--rate", "0",
           "--per-prefix", "0", "--concurrency", "200", "--ehlo", "probe-stall.test",
           "--ca-file", lab.path("ca.pem"), "--banner-timeout", "%dms" % BANNER_MS]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True)
        p.stdin.write(inp)
        p.stdin.close()
        if stall:
            # Stopped once every connection is open: each waits for its greeting (due 2 s after
            # the connection), and each banner deadline falls inside the stop.
            deadline = time.monotonic() + 10
            while sockets(p.pid) < len(targets) and time.monotonic() < deadline:
                time.sleep(0.02)
            p.send_signal(signal.SIGSTOP)
            time.sleep(STOP_FOR_S)
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
    m = re.search(r", (\d+) deadlines fired \d+ ms or more late", summary)
    return int(m.group(1)) if m else 0


def main():
    c = Checks()
    with tempfile.TemporaryDirectory(prefix="mxstall-") as tmp:
        with mix_lab(tmp, {"slow_banner": 2, "tarpit": 1}, 60, 5, "127.48.0.0", 25483) as lab:
            hosts, _ = lab.truth()
            truth = {h["ip"]: h for h in hosts}
            slow = [h for h in hosts if h["profile"] == "slow_banner"]
            tarpits = [h for h in hosts if h["profile"] == "tarpit"]
            print("lab: %d slow_banner, %d tarpits" % (len(slow), len(tarpits)), flush=True)
            c.check(len(slow) >= 20 and len(tarpits) >= 10, "lab mix as asked")

            for stall in (False, True):
                name = "stopped %.0f s" % STOP_FOR_S if stall else "control"
                res, summary = run_probe(lab, hosts, stall)
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
                late = [r for r in t_res if r["stage"] != "banner" or
                        r["timing_ms"]["total"] < BANNER_MS - 50 +
                        (STOP_FOR_S * 1000 if stall else 0)]
                c.check(not late, "%s: tarpits time out at banner after the banner timeout "
                        "plus any stall: %s" % (name, [(r["ip"], r["stage"],
                                                        r["timing_ms"]["total"]) for r in late]))
                longest = max((r["timing_ms"]["total"] for r in t_res), default=0)
                bound = BANNER_MS + (STOP_FOR_S * 1000 + BANNER_MS if stall else 0) + 2000
                c.check(longest < bound, "%s: the longest tarpit wait %.0f ms < %.0f ms "
                        "(extended by one banner timeout at most)" % (name, longest, bound))
                n = extended(summary)
                print("%s: %d deadlines extended; %s" % (name, n, summary.strip()), flush=True)
                if stall:
                    c.check(n >= len(hosts),
                            "the summary counts every stalled deadline (%d of %d hosts)"
                            % (n, len(hosts)))
                else:
                    c.check(n == 0, "control: no deadline extended (%d)" % n)
    c.finish("probe_stall_test")


if __name__ == "__main__":
    main()
