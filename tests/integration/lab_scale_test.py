"""`mxcensus lab` with 20,000 hosts: the ready line within 30 s of a cold start (fresh DIR, every
certificate issued), RSS of every process printed, hosts at both ends of the range answering,
DNS answering, and a clean stop (exit 0, no process left)."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_harness import Checks, Lab, pss_kib, rss_kib  # noqa: E402

BASE = "127.23.0.0"
DNS_PORT = 15383
HOSTS = 20000
C = Checks()


def greeting(ip):
    s = socket.create_connection((ip, 2525), timeout=5)
    line = s.makefile("rb").readline()
    s.close()
    return line


def main():
    with Lab(hosts=HOSTS, seed=1, base=BASE, dns_port=DNS_PORT, ready_timeout=90) as lab:
        print("ready line: %s" % lab.ready_line)
        print("time to ready (cold start, %d hosts): %.2f s" % (HOSTS, lab.ready_seconds))
        print("lab stderr:\n" + lab.stderr())
        C.check(lab.ready_seconds < 30.0, "ready in under 30 s (%.2f s)" % lab.ready_seconds)
        pids = lab.pids()
        total = total_pss = 0
        for pid in pids:
            kib, pss = rss_kib(pid), pss_kib(pid)
            total += kib
            total_pss += pss
            print("RSS pid %d: %.1f MiB (PSS %.1f MiB)" % (pid, kib / 1024.0, pss / 1024.0))
        print("RSS sum of %d processes: %.1f MiB; PSS sum (shared pages counted once): %.1f MiB"
              % (len(pids), total / 1024.0, total_pss / 1024.0))
        C.check(len(pids) == 1 + 4, "a supervisor and 4 serving processes (%d)" % len(pids))
        hosts, domains = lab.truth()
        C.check(len(hosts) == HOSTS and len(domains) == 2 * HOSTS, "20,000 hosts, 40,000 domains")
        shared = {}
        for d in domains:
            for m in d["mx"]:
                shared[m["name"]] = shared.get(m["name"], 0) + 1
        C.check(shared.get("mx1.bigmail.lab.test", 0) >= 1000,
                "≥ 1,000 domains share the big provider (%d)" % shared.get("mx1.bigmail.lab.test", 0))
        listening = [h for h in hosts if h["profile"] in ("modern_tls13", "no_starttls")]
        for h in (listening[0], listening[len(listening) // 2], listening[-1]):
            C.check(greeting(h["ip"]).startswith(b"220 "), "greeting from %s" % h["ip"])
        p = subprocess.run(["dig", "-p", str(DNS_PORT), "@127.0.0.1", "+short", hosts[-1]["name"],
                            "A"], capture_output=True, text=True, timeout=10)
        C.check(p.stdout.strip() == hosts[-1]["ip"], "DNS answers for the last host")
        t0 = time.monotonic()
        code = lab.stop()
        print("stopped in %.2f s, exit code %s" % (time.monotonic() - t0, code))
        C.check(code == 0, "exit 0 after SIGTERM")
        time.sleep(0.5)
        left = [pid for pid in pids if os.path.exists("/proc/%d" % pid)
                and open("/proc/%d/stat" % pid).read().split()[2] != "Z"]
        C.check(not left, "no serving process left (%s)" % left)
    C.finish("lab_scale")


if __name__ == "__main__":
    main()
