"""Helpers for the end-to-end crawl tests: a lab world, a database on the test PostgreSQL,
coordinator and worker processes, and scoring of what landed in PostgreSQL against the lab's
truth. Every process is started on loopback and killed at the end, even on failure."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

MX = os.environ.get("MXCENSUS_BIN", "build/mxcensus")
PG = os.environ.get("MXCENSUS_TEST_PG_DSN", "")


class Fail(Exception):
    pass


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Procs:
    """Starts processes and kills every one of them on exit."""

    def __init__(self):
        self.procs = []

    def start(self, args, name, stdout=None, env=None):
        logf = open(os.path.join(tempfile.gettempdir(), f"mxcensus-e2e-{name}-{os.getpid()}.log"), "w")
        p = subprocess.Popen(args, stdout=stdout or logf, stderr=logf, stdin=subprocess.DEVNULL,
                             env=env)
        logf.close()  # the child has its own descriptor
        p.logname = logf.name
        p.name = name
        self.procs.append(p)
        return p

    def __enter__(self):
        return self

    def check(self):
        """Fails at once when a process this test needs has died on its own."""
        for p in self.procs:
            if p.poll() is not None and not getattr(p, "expected_exit", False):
                raise Fail(f"{p.name} exited with {p.returncode}:\n{tail(p.logname)}")

    def kill(self, p):
        p.expected_exit = True
        p.kill()
        p.wait()

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                except ProcessLookupError:
                    pass
                p.wait()
        # The logs are for a failure: kept (and named) then, removed after a pass, so that
        # test runs do not pile them up in the temporary directory.
        for p in self.procs:
            if exc[0] is None:
                try:
                    os.unlink(p.logname)
                except OSError:
                    pass
            else:
                log(f"log of {p.name}: {p.logname}")
        return False


def tail(path, n=30):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def start_lab(procs, hosts, seed, base, dns_port, outdir, port=2525, domains=None):
    args = [MX, "lab", "--hosts", str(hosts), "--seed", str(seed), "--base", base,
            "--port", str(port), "--dns", f"127.0.0.1:{dns_port}", "--out", outdir]
    if domains:
        args += ["--domains", str(domains)]
    p = procs.start(args, "lab", stdout=subprocess.PIPE)
    deadline = time.time() + 90
    while time.time() < deadline:
        line = p.stdout.readline().decode()
        if line.startswith("ready"):
            log("lab:", line.strip())
            return p
        if not line and p.poll() is not None:
            break
    raise Fail("lab did not become ready:\n" + tail(p.logname))


def psql(dsn, sql):
    r = subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Fail(f"psql failed: {r.stderr.strip()} in: {sql[:200]}")
    return r.stdout


def fresh_db():
    """A new empty database on the test server; returns its DSN."""
    name = "e2e_" + uuid.uuid4().hex[:12]
    psql(PG + " dbname=postgres", f"CREATE DATABASE {name}")
    return PG + f" dbname={name}"


def mx(*args, check=True, timeout=600, input=None):
    r = subprocess.run([MX, *args], capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise Fail(f"mxcensus {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def start_coordinator(procs, dsn, port, extra=()):
    p = procs.start([MX, "coordinator", "--db", dsn, "--listen", f"127.0.0.1:{port}",
                     "--lease", "4", *extra], "coordinator", stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith("ready"):
        raise Fail("coordinator did not start:\n" + tail(p.logname))
    return p


def worker_args(port, lab_dir, dns_port, extra=()):
    extra = list(extra)
    if "--concurrency" not in extra:
        extra += ["--concurrency", "400"]
    return [MX, "worker", "--coordinator", f"127.0.0.1:{port}", "--allow-private",
            "--ca-file", os.path.join(lab_dir, "ca.pem"), "--resolver", f"127.0.0.1:{dns_port}",
            "--banner-timeout", "4s", "--command-timeout", "4s", "--tls-timeout", "4s",
            "--connect-timeout", "3s", "--rate", "0", "--per-prefix", "0", *extra]


def start_worker(procs, port, lab_dir, dns_port, name, extra=()):
    return procs.start(worker_args(port, lab_dir, dns_port, extra), name)


def crawl_state(dsn, crawl_id):
    return psql(dsn, f"SELECT state FROM crawl WHERE crawl_id = {crawl_id}").strip()


def wait_finished(dsn, crawl_id, timeout=600, on_tick=None, procs=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = crawl_state(dsn, crawl_id)
        if state in ("finished", "cancelled", "failed"):
            return state
        if on_tick:
            on_tick()
        if procs:
            procs.check()
        time.sleep(0.5)
    raise Fail(f"crawl {crawl_id} not finished after {timeout}s (state {crawl_state(dsn, crawl_id)})")


def probed_count(dsn, crawl_id):
    return int(psql(dsn, f"SELECT count(*) FROM probe WHERE crawl_id = {crawl_id}"))


def load_truth(lab_dir):
    hosts, domains = {}, {}
    with open(os.path.join(lab_dir, "truth.jsonl")) as f:
        for line in f:
            t = json.loads(line)
            if t["kind"] == "host":
                hosts[(t["ip"], t["port"])] = t
            else:
                domains[t["domain"]] = t
    return hosts, domains


def db_domains(dsn, crawl_id):
    """Rebuilds each domain's DomainResult JSON from crawl_domain, domain_mx and mx_host."""
    sql = f"""
      SELECT json_build_object(
        'domain', d.domain, 'status', d.status, 'null_mx', d.null_mx,
        'implicit_mx', d.implicit_mx,
        'policy', json_build_object('mta_sts', d.mta_sts, 'tls_rpt', d.tls_rpt, 'spf', d.spf,
                                    'dmarc', d.dmarc, 'dmarc_policy', d.dmarc_policy),
        'mx', coalesce((SELECT json_agg(json_build_object(
                 'name', m.mx_name, 'preference', m.preference,
                 'ipv4', ARRAY(SELECT host(a) FROM unnest(h.ipv4) a ORDER BY 1),
                 'ipv6', ARRAY(SELECT host(a) FROM unnest(h.ipv6) a ORDER BY 1),
                 'cname', h.cname, 'status', h.status, 'tlsa', h.tlsa, 'tlsa_ad', h.tlsa_ad)
                 ORDER BY m.preference, m.mx_name)
               FROM domain_mx m JOIN mx_host h ON h.crawl_id = m.crawl_id AND h.mx_name = m.mx_name
               WHERE m.crawl_id = d.crawl_id AND m.domain = d.domain), '[]'::json))
      FROM crawl_domain d WHERE d.crawl_id = {crawl_id}"""
    out = {}
    for line in psql(dsn, sql).splitlines():
        d = json.loads(line)
        out[d["domain"]] = d
    return out


def db_probes(dsn, crawl_id):
    sql = f"""
      SELECT json_build_object('ip', host(ip), 'port', port, 'name', mx_name, 'outcome', outcome,
        'stage', stage, 'helo_fallback', helo_fallback,
        'pipelined_after_starttls', pipelined_after_starttls,
        'tls', CASE WHEN tls_handshake_complete IS NULL THEN NULL ELSE json_build_object(
          'handshake_complete', tls_handshake_complete, 'version', tls_version,
          'group', tls_group, 'dh_bits', dh_bits, 'chain_valid', chain_valid,
          'verify_error', verify_error, 'name_match', name_match,
          'leaf_sha256', encode(leaf_sha256, 'hex')) END)
      FROM probe WHERE crawl_id = {crawl_id}"""
    return [json.loads(line) for line in psql(dsn, sql).splitlines()]


def canon_domain(d):
    d = {k: v for k, v in d.items() if k not in ("resolved_at", "rank", "error", "kind")}
    for m in d.get("mx", []):
        m["ipv4"] = sorted(m.get("ipv4") or [])
        m["ipv6"] = sorted(m.get("ipv6") or [])
        m["tlsa"] = sorted((m.get("tlsa") or []),
                           key=lambda t: (t["usage"], t["selector"], t["matching_type"], t["data"]))
    return d


def score(dsn, crawl_id, lab_dir, max_report=25):
    """Every domain and every probed target against the truth. Returns a list of mismatch
    classes, largest first, each with its count and one example (an empty list when exact)."""
    from collections import Counter
    hosts, domains = load_truth(lab_dir)
    classes, examples = Counter(), {}

    def miss(cls, example):
        classes[cls] += 1
        examples.setdefault(cls, example)

    got_domains = db_domains(dsn, crawl_id)
    for name in set(domains) ^ set(got_domains):
        miss("domain only in " + ("truth" if name in domains else "db"), name)
    for name, truth in domains.items():
        got = got_domains.get(name)
        if got is None:
            continue
        g, t = canon_domain(got), canon_domain(truth)
        for k in sorted(set(g) | set(t)):
            if g.get(k) != t.get(k):
                miss(f"domain {k} (truth status {t.get('status')})",
                     f"{name}: got {json.dumps(g.get(k))} want {json.dumps(t.get(k))}")
    probes = db_probes(dsn, crawl_id)
    seen = set()
    for p in probes:
        key = (p["ip"], p["port"])
        if (key, p["name"]) in seen:
            miss("duplicate probe row", str(key))
        seen.add((key, p["name"]))
        t = hosts.get(key)
        if t is None:
            miss("probe of a host not in truth", str(key))
            continue
        prof = t.get("profile")
        for field in ("outcome", "stage", "helo_fallback", "pipelined_after_starttls"):
            if field in t and t[field] != p[field]:
                miss(f"{prof}: {field} {p[field]!r} want {t[field]!r}", str(key))
        for k, v in (t.get("tls") or {}).items():
            g = (p["tls"] or {}).get(k)
            if g != v:
                miss(f"{prof}: tls.{k} want {v!r}", f"{key}: got {g!r}")
    expected = set()
    for d in domains.values():
        for m in d.get("mx", []):
            for ip in m.get("ipv4") or []:
                expected.add((ip, m["name"]))
    for target in expected - {(p["ip"], p["name"]) for p in probes}:
        miss("MX target never probed", str(target))
    if len(probes) != len(expected):
        miss("probe rows != unique targets", f"{len(probes)} rows, {len(expected)} targets")
    return [f"{n:6d} x {cls}   e.g. {examples[cls]}" for cls, n in classes.most_common(max_report)]


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_tests(tests):
    """Runs test functions, prints 'N passed, N failed', exits non-zero on any failure."""
    passed = failed = 0
    for t in tests:
        start = time.time()
        try:
            t()
            passed += 1
            log(f"PASS {t.__name__} ({time.time() - start:.1f}s)")
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            failed += 1
            log(f"FAIL {t.__name__} ({time.time() - start:.1f}s): {e}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
