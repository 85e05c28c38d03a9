"""Shared helpers of the lab's integration tests: start `mxcensus lab`, read its truth, stop it.

Every test starts its own lab on its own --base range and DNS port so that test files can run
in parallel, and stops it (SIGTERM, then SIGKILL) even when the test fails.
"""
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time


def mxcensus_bin():
    b = os.environ.get("MXCENSUS_BIN")
    if b:
        return b
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "mxcensus")


class Lab:
    """A running `mxcensus lab`; use as a context manager."""

    def __init__(self, hosts, seed, base, dns_port, out=None, extra=(), ready_timeout=60):
        self.tmp = None
        if out is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="mxlab-")
            out = os.path.join(self.tmp.name, "lab")
        self.out = out
        self.dns_port = dns_port
        self.args = [mxcensus_bin(), "lab", "--hosts", str(hosts), "--seed", str(seed),
                     "--out", out, "--base", base, "--dns", "127.0.0.1:%d" % dns_port]
        self.args += list(extra)
        self.ready_timeout = ready_timeout
        self.proc = None
        self.ready_line = None
        self.ready_seconds = None
        self.stderr_path = os.path.join(tempfile.gettempdir(),
                                        "mxlab-stderr-%d-%d.log" % (os.getpid(), dns_port))
        self.stderr_text = None  # what the log held, once removed

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        t0 = time.monotonic()
        self.stderr_file = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                     text=True, bufsize=1)
        atexit.register(self.stop)
        deadline = t0 + self.ready_timeout
        line = ""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line.startswith("ready "):
            self.stop()
            raise AssertionError("lab did not print its ready line (got %r); stderr:\n%s"
                                 % (line, self.stderr()))
        self.ready_line = line.strip()
        self.ready_seconds = time.monotonic() - t0

    def stderr(self):
        if self.stderr_text is not None:
            return self.stderr_text
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ""

    def pids(self):
        """The supervisor and its serving processes."""
        out = [self.proc.pid]
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return out

    def stop(self):
        if self.proc is None:
            return None
        p, self.proc_done = self.proc, True
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.proc = None
        self.exit_code = p.returncode
        if p.stdout:
            p.stdout.close()
        self.stderr_file.close()
        # A lab that came up and stopped on SIGTERM leaves no log behind (tests start hundreds);
        # one that failed keeps it, named on stderr.
        if self.ready_line is not None and p.returncode in (0, -signal.SIGTERM):
            self.stderr_text = self.stderr()
            try:
                os.unlink(self.stderr_path)
            except OSError:
                pass
        else:
            sys.stderr.write("lab exited with %s; its log: %s\n" % (p.returncode, self.stderr_path))
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None
        return p.returncode

    def truth(self):
        hosts, domains = [], []
        with open(os.path.join(self.out, "truth.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                (hosts if j["kind"] == "host" else domains).append(j)
        return hosts, domains

    def path(self, name):
        return os.path.join(self.out, name)


def mix_lab(tmp, mix, hosts, seed, base, dns_port, port=2525):
    """A Lab (not started) of `hosts` drawn from `mix` ({profile: weight}), SMTP on `port`; the
    mix file is written into the directory `tmp`."""
    path = os.path.join(tmp, "mix")
    with open(path, "w") as f:
        f.writelines("%s %d\n" % kv for kv in mix.items())
    return Lab(hosts, seed, base, dns_port, extra=["--mix", path, "--port", str(port)])


def profile_groups(lab, checks, wants):
    """The lab's hosts, them by address, and for each profile of `wants` ({profile: at least
    this many}) a list of its hosts, having checked that the mix gave at least that many."""
    hosts, _ = lab.truth()
    groups = [[h for h in hosts if h["profile"] == p] for p in wants]
    print("lab: " + ", ".join("%d %s" % (len(g), p) for g, p in zip(groups, wants)), flush=True)
    checks.check(all(len(g) >= n for g, n in zip(groups, wants.values())), "lab mix as asked")
    return hosts, {h["ip"]: h for h in hosts}, groups


def probe_command(lab, ehlo, banner_ms, extra=()):
    """`mxcensus probe` of targets on stdin against the lab's SMTP port 2525, trusting its CA,
    unthrottled, with the banner timeout `banner_ms`."""
    return [mxcensus_bin(), "probe", "-", "--port", "2525", "--allow-private", "--rate", "0",
            "--ehlo", ehlo, "--ca-file", lab.path("ca.pem"), "--banner-timeout",
            "%dms" % banner_ms, *extra]


def probe_input(hosts):
    """The `ip,name` lines that `mxcensus probe` reads."""
    return "".join("%s,%s\n" % (h["ip"], h["name"]) for h in hosts)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    """Proportional set size: shared (copy-on-write) pages divided among their sharers."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Checks:
    """Collects failures so that one run reports every broken case, then fails once."""

    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
            print("FAIL:", what, flush=True)

    def finish(self, name):
        print("%s: %d checks passed, %d failed" % (name, self.passed, len(self.failures)))
        if self.failures:
            raise SystemExit(1)
