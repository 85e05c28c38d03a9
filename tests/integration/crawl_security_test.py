"""Security of the coordinator: a worker or admin client with a wrong token is refused and
nothing it sends is stored; the mutual-TLS path works with the certificates `mxcensus certs init`
makes, and a client without a certificate, or with one of another CA, is refused."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402

LAB_BASE, DNS_PORT = "127.52.0.0", 25753


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_wrong_token_is_refused_and_stores_nothing():
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        e2e.start_lab(procs, 300, 9, LAB_BASE, DNS_PORT, d)
        good = write(os.path.join(d, "good.token"), "s3cret-token\n")
        bad = write(os.path.join(d, "bad.token"), "guess\n")
        dsn = e2e.fresh_db()
        port = e2e.free_port()
        e2e.start_coordinator(procs, dsn, port, ("--token-file", good))
        addr = f"127.0.0.1:{port}"
        r = e2e.mx("crawl", "start", "--coordinator", addr, "--token-file", bad, "--name", "x",
                   os.path.join(d, "domains.txt"), check=False)
        assert r.returncode == 2 and "UNAUTHENTICATED" in r.stderr, (r.returncode, r.stderr)
        r = e2e.mx("crawl", "start", "--coordinator", addr, "--token-file", good, "--name", "sec",
                   "--port", "2525", os.path.join(d, "domains.txt"))
        crawl_id = int(r.stdout.strip())
        intruder = e2e.start_worker(procs, port, d, DNS_PORT, "intruder", ("--token-file", bad))
        time.sleep(6)
        resolved = e2e.psql(dsn, f"SELECT count(*) FROM crawl_domain WHERE crawl_id = {crawl_id} "
                                 "AND status IS NOT NULL").strip()
        leased = e2e.psql(dsn, "SELECT count(*) FROM shard WHERE state <> 'pending'").strip()
        assert resolved == "0" and leased == "0", (resolved, leased)
        procs.kill(intruder)
        e2e.start_worker(procs, port, d, DNS_PORT, "honest", ("--token-file", good))
        assert e2e.wait_finished(dsn, crawl_id, timeout=300, procs=procs) == "finished"
        problems = e2e.score(dsn, crawl_id, d)
        assert not problems, "\n".join(problems)
        r = e2e.mx("crawl", "list", "--coordinator", addr, check=False)
        assert r.returncode == 2 and "UNAUTHENTICATED" in r.stderr, r.stderr


def certs_init(d, *extra):
    """The mTLS set made by `mxcensus certs init` (what an operator runs)."""
    r = e2e.mx("certs", "init", d, "--workers", "1", *extra)
    listed = set(os.path.basename(line) for line in r.stdout.split())
    want = {f"{n}.{ext}" for n in ("ca", "coordinator", "admin", "worker-1") for ext in ("pem", "key")}
    assert listed == want, listed
    for name in want:
        mode = os.stat(os.path.join(d, name)).st_mode & 0o777
        assert mode == (0o600 if name.endswith(".key") else 0o644), (name, oct(mode))
    # A second run must not overwrite the CA (the workers' certificates depend on it).
    before = open(os.path.join(d, "ca.pem")).read()
    r = e2e.mx("certs", "init", d, check=False)
    assert r.returncode == 2 and "exists" in r.stderr and "--force" in r.stderr, r.stderr
    assert open(os.path.join(d, "ca.pem")).read() == before


def test_mutual_tls_crawl():
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        e2e.start_lab(procs, 300, 9, LAB_BASE, DNS_PORT, d)
        # Not in the lab's directory: its ca.pem is the lab CA the workers verify chains with.
        certs = os.path.join(d, "mtls")
        certs_init(certs)
        p = lambda n: os.path.join(certs, n)  # noqa: E731
        dsn = e2e.fresh_db()
        port = e2e.free_port()
        e2e.start_coordinator(procs, dsn, port, ("--tls-cert", p("coordinator.pem"), "--tls-key",
                                                 p("coordinator.key"), "--tls-client-ca",
                                                 p("ca.pem")))
        addr = f"127.0.0.1:{port}"
        admin = ("--tls-ca", p("ca.pem"), "--tls-cert", p("admin.pem"), "--tls-key", p("admin.key"))
        tls = ("--tls-ca", p("ca.pem"), "--tls-cert", p("worker-1.pem"), "--tls-key",
               p("worker-1.key"))
        r = e2e.mx("crawl", "start", "--coordinator", addr, *admin, "--name", "mtls", "--port",
                   "2525", os.path.join(d, "domains.txt"))
        crawl_id = int(r.stdout.strip())
        # Without a client certificate the handshake fails: nothing is leased.
        r = e2e.mx("crawl", "list", "--coordinator", addr, "--tls-ca", p("ca.pem"), check=False)
        assert r.returncode == 2, r.stderr
        # A client certificate from another `certs init` (another CA) is refused too.
        other = os.path.join(d, "other")
        e2e.mx("certs", "init", other, "--workers", "1")
        r = e2e.mx("crawl", "list", "--coordinator", addr, "--tls-ca", p("ca.pem"), "--tls-cert",
                   os.path.join(other, "admin.pem"), "--tls-key", os.path.join(other, "admin.key"),
                   check=False)
        assert r.returncode == 2, r.stderr
        e2e.start_worker(procs, port, d, DNS_PORT, "mtls-worker", tls)
        assert e2e.wait_finished(dsn, crawl_id, timeout=300, procs=procs) == "finished"
        problems = e2e.score(dsn, crawl_id, d)
        assert not problems, "\n".join(problems)


if __name__ == "__main__":
    e2e.run_tests([test_wrong_token_is_refused_and_stores_nothing, test_mutual_tls_crawl])
