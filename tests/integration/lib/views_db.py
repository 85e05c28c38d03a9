"""A database holding two real crawls of the same small lab world, the second after a drift
(another share of profiles, some policy records gained or lost), plus what the SQL views must
say about them, computed from the lab's truth.jsonl alone.

Reusable: `build_two_crawl_db(workdir)` returns a TwoCrawls with the DSN, both crawl ids and
both truth directories; tests of anything that reads the views (report, dashboards) can start
from it. Run it under the integration lock: it uses the lab addresses below and a DNS port."""
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter

import e2e

LAB_BASE, DNS_PORT = "127.60.0.0", 25960
HOSTS, SEED = 300, 7
DRIFT_PCT, DRIFT_SEED = 30, 3
# The drifted hosts lean towards what the views must tell apart: no STARTTLS, bad certificates,
# weak DH, failures after STARTTLS.
DRIFT_MIX = """modern_tls13 4
no_starttls 4
self_signed 3
expired 2
wrong_name 2
missing_intermediate 2
dhe_1024 3
dhe_512 2
starttls_454 1
tls_alert 1
tls_garbage 1
starttls_masked 1
starttls_injection 1
"""


class TwoCrawls:
    def __init__(self, dsn, crawl_a, crawl_b, lab_a, lab_b):
        self.dsn = dsn
        self.crawl_a, self.crawl_b = crawl_a, crawl_b
        self.lab_a, self.lab_b = lab_a, lab_b


def scan(dsn, lab_dir, name):
    args = [e2e.MX, "scan", os.path.join(lab_dir, "domains.txt"), "--db", dsn, "--name", name,
            "--psl-extra", os.path.join(lab_dir, "public_suffix_list.dat"), "--port", "2525",
            "--allow-private", "--ca-file", os.path.join(lab_dir, "ca.pem"),
            # The slow_banner profile greets after 2 s: generous timeouts keep a loaded
            # machine from turning it into a timeout (the truth says starttls_ok).
            "--resolver", f"127.0.0.1:{DNS_PORT}", "--banner-timeout", "8s",
            "--command-timeout", "8s", "--tls-timeout", "8s", "--connect-timeout", "3s",
            "--rate", "0", "--per-prefix", "0", "--concurrency", "400", "--quiet"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise e2e.Fail(f"scan {name} failed ({r.returncode}): {r.stderr[-2000:]}")
    crawl_id = int(e2e.psql(dsn, f"SELECT max(crawl_id) FROM crawl WHERE name = '{name}'"))
    state = e2e.crawl_state(dsn, crawl_id)
    if state != "finished":
        raise e2e.Fail(f"crawl {name} ended {state}")
    mismatches = e2e.score(dsn, crawl_id, lab_dir)
    if mismatches:
        raise e2e.Fail(f"crawl {name} differs from the lab truth:\n" + "\n".join(mismatches))
    return crawl_id


def build_two_crawl_db(workdir, dsn=None):
    """Crawls the world, then the drifted world, into `dsn` (default: a fresh database on the
    test server). Each crawl is checked against its truth (e2e.score) before returning."""
    dsn = dsn or e2e.fresh_db()
    lab_a, lab_b = os.path.join(workdir, "lab-a"), os.path.join(workdir, "lab-b")
    mix = os.path.join(workdir, "drift.mix")
    with open(mix, "w") as f:
        f.write(DRIFT_MIX)
    crawls = []
    for lab_dir, name, extra in ((lab_a, "views-a", []),
                                 (lab_b, "views-b", ["--drift", str(DRIFT_PCT), "--drift-seed",
                                                     str(DRIFT_SEED), "--drift-mix", mix])):
        os.makedirs(lab_dir, exist_ok=True)
        os.chmod(lab_dir, 0o755)
        with e2e.Procs() as procs:
            start_lab(procs, lab_dir, extra)
            crawls.append(scan(dsn, lab_dir, name))
    # The coordinator analyzes a finished crawl's tables; this makes sure of it (a test must not
    # depend on autovacuum's timing for its query plans).
    e2e.psql(dsn, "ANALYZE")
    return TwoCrawls(dsn, crawls[0], crawls[1], lab_a, lab_b)


def start_lab(procs, lab_dir, extra):
    args = [e2e.MX, "lab", "--hosts", str(HOSTS), "--seed", str(SEED), "--base", LAB_BASE,
            "--port", "2525", "--dns", f"127.0.0.1:{DNS_PORT}", "--out", lab_dir, *extra]
    p = procs.start(args, "lab", stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith("ready"):
        raise e2e.Fail("lab did not become ready:\n" + e2e.tail(p.logname))
    return p


def reader_query(dsn, sql, read_only=True, before="", timeout="10s"):
    """Runs `sql` as the read-only role mxcensus_reader, in a read-only transaction that is
    rolled back; returns the rows as lists of strings. Raises e2e.Fail with PostgreSQL's error."""
    script = (f"BEGIN{' READ ONLY' if read_only else ''};\n"
              f"SET LOCAL ROLE mxcensus_reader;\nSET LOCAL statement_timeout = '{timeout}';\n"
              f"{before}\n{sql};\nROLLBACK;\n")
    r = subprocess.run(["psql", dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t"],
                       input=script, capture_output=True, text=True)
    if r.returncode != 0:
        raise e2e.Fail(f"{r.stderr.strip()} in: {sql[:300]}")
    return [line.split("\t") for line in r.stdout.splitlines()]


# ---- What the views must say, from truth.jsonl only -------------------------------------------

VERDICTS = ["valid", "valid_name_mismatch", "self_signed", "untrusted_chain", "expired",
            "not_yet_valid", "weak_key_or_signature", "other_invalid"]
STEPS = ["input", "has_mx", "mx_resolves", "tcp_open", "greeting_220", "ehlo_ok",
         "starttls_offered", "starttls_220", "handshake_ok"]
DH_BUCKETS = [("<=512", 0, 512), ("768", 513, 768), ("1024", 769, 1024), ("1536", 1025, 1536),
              ("2048", 1537, 2048), (">=3072", 2049, 1 << 31)]


def host_flags(t):
    """The funnel stages one lab host reaches, from its truth outcome and stage."""
    hs = t["outcome"] == "starttls_ok"
    s220 = hs or t["outcome"] == "tls_failed"
    offered = s220 or t["outcome"] == "starttls_refused"
    ehlo = offered or t["outcome"] in ("no_starttls", "starttls_stripped")
    greeting = ehlo or t["stage"] in ("ehlo", "helo")
    tcp = greeting or t["stage"] != "connect"
    return {"tcp_open": tcp, "greeting_220": greeting, "ehlo_ok": ehlo, "starttls_offered": offered,
            "starttls_220": s220, "handshake_ok": hs}


def verdict(t):
    tls = t.get("tls") or {}
    if t["outcome"] != "starttls_ok" or tls.get("chain_valid") is None:
        return None
    if tls["chain_valid"]:
        return "valid" if tls["name_match"] else "valid_name_mismatch"
    err = tls["verify_error"] or ""
    if err == "self-signed certificate":
        return "self_signed"
    if err.startswith("unable to get") or err.endswith("in certificate chain"):
        return "untrusted_chain"
    if "expired" in err:
        return "expired"
    if "not yet valid" in err:
        return "not_yet_valid"
    return "other_invalid"


def best(verdicts):
    vs = [v for v in verdicts if v]
    return min(vs, key=VERDICTS.index) if vs else None


def registrable(name):
    """The lab's names under the extra public suffix lab.test."""
    labels = name.split(".")
    return ".".join(labels[-3:]) if name.endswith(".lab.test") and len(labels) > 3 else name


class Expected:
    """Everything the views are compared with, for one crawl of one lab world."""

    def __init__(self, lab_dir):
        hosts, domains = e2e.load_truth(lab_dir)
        self.hosts = {ip: t for (ip, _), t in hosts.items()}
        self.domains = domains
        # MX names of the crawl, their addresses and whether any has an address.
        self.mx = {}
        for d in domains.values():
            for m in d["mx"]:
                self.mx[m["name"]] = m
        self.ips = {ip for m in self.mx.values() for ip in m["ipv4"]}
        self.ip_flags = {ip: host_flags(self.hosts[ip]) for ip in self.ips}
        self.ip_verdict = {ip: verdict(self.hosts[ip]) for ip in self.ips}

    def mx_flags(self, name):
        m = self.mx[name]
        return {k: any(self.ip_flags[ip][k] for ip in m["ipv4"]) for k in STEPS[3:]}

    def mx_verdict(self, name):
        return best(self.ip_verdict[ip] for ip in self.mx[name]["ipv4"])

    def domain_flags(self, d):
        f = {"input": True, "has_mx": d["status"] in ("ok", "no_address") or bool(d["mx"]),
             "mx_resolves": any(m["ipv4"] or m["ipv6"] for m in d["mx"])}
        for k in STEPS[3:]:
            f[k] = any(self.mx_flags(m["name"])[k] for m in d["mx"])
        return f

    def domain_verdict(self, d):
        return best(self.mx_verdict(m["name"]) for m in d["mx"])

    def provider(self, d):
        if not d["mx"]:
            return None
        m = sorted(d["mx"], key=lambda m: (not (m["ipv4"] or m["ipv6"]), m["preference"],
                                           m["name"]))[0]
        return registrable(m["name"])

    def funnel(self):
        """{(unit, step): count}"""
        out = Counter()
        for d in self.domains.values():
            for k, v in self.domain_flags(d).items():
                out[("domain", k)] += v
        for name, m in self.mx.items():
            out[("mx_host", "input")] += 1
            out[("mx_host", "mx_resolves")] += bool(m["ipv4"] or m["ipv6"])
            for k, v in self.mx_flags(name).items():
                out[("mx_host", k)] += v
        for ip in self.ips:
            out[("ip", "input")] += 1
            for k, v in self.ip_flags[ip].items():
                out[("ip", k)] += v
        return out

    def verdicts(self):
        """{(unit, verdict): count}, zero counts included."""
        out = Counter({(u, v): 0 for u in ("domain", "mx_host", "ip") for v in VERDICTS})
        for d in self.domains.values():
            v = self.domain_verdict(d)
            if v:
                out[("domain", v)] += 1
        for name in self.mx:
            v = self.mx_verdict(name)
            if v:
                out[("mx_host", v)] += 1
        for ip in self.ips:
            v = self.ip_verdict[ip]
            if v:
                out[("ip", v)] += 1
        return out

    def dh_histogram(self):
        """{bucket: count} over probed addresses that completed a DHE handshake."""
        out = Counter({b: 0 for b, _, _ in DH_BUCKETS})
        for ip in self.ips:
            t = self.hosts[ip]
            bits = (t.get("tls") or {}).get("dh_bits")
            if t["outcome"] == "starttls_ok" and bits is not None:
                out[next(b for b, lo, hi in DH_BUCKETS if lo <= bits <= hi)] += 1
        return out

    def providers(self):
        """{provider: domains} over domains with an MX."""
        return Counter(p for p in map(self.provider, self.domains.values()) if p)

    def change_attributes(self):
        """{(unit, name, attribute): bool}, the attributes mxcensus_changes compares."""
        out = {}
        for name, d in self.domains.items():
            pol = d["policy"]
            f = self.domain_flags(d)
            out[("domain", name, "starttls")] = f["handshake_ok"]
            out[("domain", name, "valid_cert")] = self.domain_verdict(d) == "valid"
            out[("domain", name, "mta_sts")] = pol["mta_sts"] is not None
            out[("domain", name, "tls_rpt")] = pol["tls_rpt"] is not None
            out[("domain", name, "spf")] = pol["spf"] is not None
            out[("domain", name, "dmarc")] = pol["dmarc"] is not None
            out[("domain", name, "dane_tlsa")] = any(m["tlsa"] for m in d["mx"])
        for name, m in self.mx.items():
            out[("mx_host", name, "starttls")] = self.mx_flags(name)["handshake_ok"]
            out[("mx_host", name, "valid_cert")] = self.mx_verdict(name) == "valid"
            out[("mx_host", name, "dane_tlsa")] = bool(m["tlsa"])
        return out


def expected_changes(before, after):
    """{(unit, name, attribute, 'gained'|'lost')} between two Expected worlds."""
    a, b = before.change_attributes(), after.change_attributes()
    return {(k[0], k[1], k[2], "gained" if b[k] else "lost") for k in a.keys() & b.keys()
            if a[k] != b[k]}


# ---- The ctest fixture: one two-crawl database shared by the tests that read the views ---------

def fixture_file():
    return os.path.join(os.environ.get("MXCENSUS_BUILD_DIR", "build"), "tests", "views_db.json")


def load_or_build(workdir):
    """The database of the `views_db` ctest fixture when it exists, else a new one (a test run
    on its own). Returns a TwoCrawls."""
    try:
        with open(fixture_file()) as f:
            j = json.load(f)
        if e2e.psql(j["dsn"], "SELECT count(*) FROM crawl").strip() == "2":
            return TwoCrawls(j["dsn"], j["crawl_a"], j["crawl_b"], j["lab_a"], j["lab_b"])
    except (OSError, ValueError, KeyError, e2e.Fail):
        pass
    return build_two_crawl_db(workdir)


def main(argv):
    """views_db.py setup|cleanup: builds the fixture database (truth files kept next to the
    fixture file) or drops it."""
    path = fixture_file()
    workdir = os.path.join(os.path.dirname(path), "views_db")
    if argv[1] == "setup":
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        os.chmod(workdir, 0o755)
        start = time.time()
        db = build_two_crawl_db(workdir)
        with open(path, "w") as f:
            json.dump({"dsn": db.dsn, "crawl_a": db.crawl_a, "crawl_b": db.crawl_b,
                       "lab_a": db.lab_a, "lab_b": db.lab_b}, f)
        e2e.log(f"views_db: crawls {db.crawl_a} and {db.crawl_b} in {time.time() - start:.1f}s: "
                f"{db.dsn}")
        print("1 passed, 0 failed")
        return 0
    if argv[1] == "cleanup":
        try:
            with open(path) as f:
                dsn = json.load(f)["dsn"]
            name = dsn.rsplit("dbname=", 1)[1]
            e2e.psql(e2e.PG + " dbname=postgres", f"DROP DATABASE IF EXISTS {name}")
        except (OSError, ValueError, KeyError, IndexError) as e:
            e2e.log(f"views_db: nothing to clean up ({e})")
        if os.path.exists(path):
            os.remove(path)
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    e2e.log("usage: views_db.py setup|cleanup")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
