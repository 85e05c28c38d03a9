#!/usr/bin/env python3
"""Tarpits do not starve healthy hosts: the probe engine's slow budget (--slow-after,
--slow-concurrency), against a lab of modern_tls13 hosts and tarpits (accept, never greet).

1. Concurrency 50, the ~100 tarpits first in the input, then the ~200 healthy hosts. Without the
   slow budget the tarpits would hold all 50 slots for two banner timeouts before any healthy host
   starts. With it, every healthy host gets its truth outcome before the first tarpit's banner
   timeout has even elapsed, and every tarpit still gets `timeout` at `banner` after the full
   banner timeout (timeouts unchanged).
2. Politeness still counts slow probes: 8 tarpits and then 2 healthy hosts all in one /24 with
   --per-prefix 4: the healthy hosts wait until the tarpits have timed out (two rounds), even
   though the tarpits left the main budget.
"""
import collections
import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_harness import (Checks, mix_lab, probe_command, probe_input,  # noqa: E402
                         profile_groups)

BANNER_TIMEOUT_MS = 8000


def started_ms(r):
    t = datetime.datetime.strptime(r["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


def run_probe(lab, targets, extra, banner_ms=BANNER_TIMEOUT_MS):
    cmd = probe_command(lab, "probe-tarpit.test", banner_ms, extra)
    p = subprocess.run(cmd, input=probe_input(targets), capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    return [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def main():
    c = Checks()
    with tempfile.TemporaryDirectory(prefix="mxtarpit-") as tmp:
        with mix_lab(tmp, {"modern_tls13": 2, "tarpit": 1}, 300, 11, "127.47.0.0", 25473) as lab:
            hosts, truth, (tarpits, healthy) = profile_groups(
                lab, c, {"tarpit": 80, "modern_tls13": 160})

            # 1. Healthy hosts complete while the tarpits are still waiting.
            res, summary = run_probe(lab, tarpits + healthy,
                                     ["--concurrency", "50", "--slow-after", "500ms",
                                      "--slow-concurrency", "200", "--per-prefix", "0"])
            by_ip = {r["ip"]: r for r in res}
            # Every tarpit moved to the slow budget (it has room for all of them).
            moved = re.search(r", (\d+) waited past --slow-after", summary)
            c.check(moved is not None and int(moved.group(1)) >= len(tarpits),
                    "the summary counts the %d tarpits as moved to the slow budget: %s"
                    % (len(tarpits), summary.strip()))
            c.check(len(res) == len(hosts) and len(by_ip) == len(hosts),
                    "one result per host (%d of %d)" % (len(by_ip), len(hosts)))
            wrong = collections.Counter()
            for ip, r in by_ip.items():
                if r["outcome"] != truth[ip]["outcome"]:
                    wrong[(truth[ip]["profile"], r["outcome"])] += 1
            c.check(not wrong, "every host gets its truth outcome: %s" % dict(wrong))
            t_res = [by_ip[h["ip"]] for h in tarpits if h["ip"] in by_ip]
            h_res = [by_ip[h["ip"]] for h in healthy if h["ip"] in by_ip]
            first_tarpit = min(started_ms(r) for r in t_res)
            healthy_end = max(started_ms(r) + r["timing_ms"]["total"] for r in h_res)
            print("healthy hosts all done %.0f ms after the first tarpit started (banner "
                  "timeout %d ms)" % (healthy_end - first_tarpit, BANNER_TIMEOUT_MS), flush=True)
            c.check(healthy_end - first_tarpit < BANNER_TIMEOUT_MS,
                    "healthy hosts done before the first tarpit's banner timeout (%.0f ms)"
                    % (healthy_end - first_tarpit))
            # libuv arms deadlines from its cached loop time, so one may fire a few ms before the
            # probe's own clock says the timeout has passed: 50 ms of slack below.
            for r in t_res:
                total = r["timing_ms"]["total"]
                if not (r["stage"] == "banner" and
                        BANNER_TIMEOUT_MS - 50 <= total < BANNER_TIMEOUT_MS + 1500):
                    c.check(False, "tarpit %s: %s at %s after %.0f ms (want timeout at banner "
                            "after the banner timeout)" % (r["ip"], r["outcome"], r["stage"],
                                                           total))
                    break
            else:
                c.check(True, "tarpits time out at banner after the full banner timeout")

            # 2. The per-/24 cap still holds the slow probes' connections.
            nets = collections.defaultdict(lambda: ([], []))
            for h in hosts:
                net = ipaddress.ip_network(h["ip"] + "/24", strict=False)
                nets[net][0 if h["profile"] == "tarpit" else 1].append(h)
            net, (tp, hl) = max(nets.items(), key=lambda kv: len(kv[1][0]))
            c.check(len(tp) >= 8 and len(hl) >= 2, "a /24 with 8 tarpits and 2 healthy hosts")
            res, _ = run_probe(lab, tp[:8] + hl[:2],
                               ["--concurrency", "50", "--slow-after", "300ms",
                                "--per-prefix", "4"], banner_ms=2000)
            t_res = [r for r in res if truth[r["ip"]]["profile"] == "tarpit"]
            h_res = [r for r in res if truth[r["ip"]]["profile"] == "modern_tls13"]
            c.check(len(t_res) == 8 and len(h_res) == 2, "10 results")
            c.check(all(r["outcome"] == "starttls_ok" for r in h_res), "healthy ones ok")
            if t_res and h_res:
                t0 = min(started_ms(r) for r in t_res)
                h0 = min(started_ms(r) for r in h_res)
                print("%s: healthy hosts started %.0f ms after the first tarpit" % (net, h0 - t0))
                c.check(h0 - t0 >= 2 * 2000 - 100,  # the same few ms of timer slack
                        "the /24 cap holds: healthy hosts start only after two rounds of "
                        "tarpits timed out (%.0f ms)" % (h0 - t0))
    c.finish("probe_tarpit_test")


if __name__ == "__main__":
    main()
