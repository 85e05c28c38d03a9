"""Fault tests of the distributed crawl. Each ends with the same exact result as an undisturbed
crawl: every domain and target matches the lab truth, one probe row per target.
  - kill -9 of one worker in the middle of probing;
  - kill -9 and restart of the coordinator in the middle;
  - PostgreSQL restarted (pg_ctl restart -m fast) in the middle (a server of this test's own);
  - a worker stopped (SIGSTOP) for longer than its lease, then continued;
  - a worker drained by SIGTERM in the middle of probing: it finishes or hands back its shards,
    has every result acked, exits 0 in time, and another worker completes the crawl."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402

LAB_BASE, DNS_PORT, HOSTS = "127.51.0.0", 25653, 1500
SRC = os.environ.get("MXCENSUS_SOURCE_DIR", ".")


def wait_probing_fraction(dsn, crawl_id, fraction, procs, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        procs.check()
        row = e2e.psql(dsn, f"SELECT state, targets_total FROM crawl WHERE crawl_id = {crawl_id}")
        state, total = row.strip().split("|")
        if state == "probing" and int(total) > 0 and \
                e2e.probed_count(dsn, crawl_id) >= fraction * int(total):
            return
        if state in ("finished", "failed", "cancelled"):
            raise e2e.Fail(f"crawl ended ({state}) before the fault could be injected")
        time.sleep(0.2)
    raise e2e.Fail("crawl never reached the probing stage")


class World:
    def __init__(self, procs, lab_dir, dsn):
        self.procs, self.lab_dir, self.dsn = procs, lab_dir, dsn
        self.port = e2e.free_port()

    def coordinator(self):
        return e2e.start_coordinator(self.procs, self.dsn, self.port)

    def worker(self, name, slow=False, extra=()):
        # A slow worker (few probes in flight) keeps the crawl running long enough for a fault.
        extra = (("--concurrency", "60") if slow else ()) + tuple(extra)
        return e2e.start_worker(self.procs, self.port, self.lab_dir, DNS_PORT, name, extra)

    def start_crawl(self, name):
        r = e2e.mx("crawl", "start", "--coordinator", f"127.0.0.1:{self.port}", "--name", name,
                   "--port", "2525", os.path.join(self.lab_dir, "domains.txt"))
        return int(r.stdout.strip())

    def check(self, crawl_id):
        state = e2e.wait_finished(self.dsn, crawl_id, timeout=600, procs=self.procs)
        assert state == "finished", state
        problems = e2e.score(self.dsn, crawl_id, self.lab_dir)
        assert not problems, "\n".join(problems)


def with_world(fn, own_pg=None):
    with tempfile.TemporaryDirectory() as lab_dir, e2e.Procs() as procs:
        e2e.start_lab(procs, HOSTS, 5, LAB_BASE, DNS_PORT, lab_dir)
        dsn = own_pg or e2e.fresh_db()
        fn(World(procs, lab_dir, dsn))


def test_worker_killed_mid_probing():
    def run(w):
        w.coordinator()
        victim = w.worker("victim", slow=True)
        w.worker("survivor", slow=True)
        crawl_id = w.start_crawl("kill-worker")
        wait_probing_fraction(w.dsn, crawl_id, 0.2, w.procs)
        w.procs.kill(victim)
        w.check(crawl_id)
    with_world(run)


def test_coordinator_killed_and_restarted():
    def run(w):
        coord = w.coordinator()
        w.worker("w1", slow=True)
        w.worker("w2", slow=True)
        crawl_id = w.start_crawl("kill-coordinator")
        wait_probing_fraction(w.dsn, crawl_id, 0.2, w.procs)
        w.procs.kill(coord)
        time.sleep(1)
        w.coordinator()
        w.check(crawl_id)
    with_world(run)


def test_postgres_restarted_mid_crawl():
    pgdir = tempfile.mkdtemp(prefix="mxcensus-faultpg-")
    os.rmdir(pgdir)
    pgport = str(e2e.free_port())
    harness = os.path.join(SRC, "tests", "harness", "pg.sh")
    subprocess.run(["bash", harness, "start", pgdir, pgport], check=True, capture_output=True)
    try:
        dsn = f"host={pgdir} port={pgport} user=mx dbname=postgres"

        def run(w):
            w.coordinator()
            w.worker("w1", slow=True)
            w.worker("w2", slow=True)
            crawl_id = w.start_crawl("restart-pg")
            wait_probing_fraction(w.dsn, crawl_id, 0.2, w.procs)
            bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
            pg_ctl = f"/usr/lib/postgresql/{bindir}/bin/pg_ctl"
            # -l: the restarted server must not inherit our pipes (we would wait for their EOF).
            cmd = [pg_ctl, "-D", f"{pgdir}/data", "-l", f"{pgdir}/server.log", "-m", "fast", "-w",
                   "restart"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--"] + cmd
            subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            w.check(crawl_id)
        with_world(run, own_pg=dsn)
    finally:
        subprocess.run(["bash", harness, "stop", pgdir, pgport], capture_output=True)


def test_stalled_worker_past_its_lease():
    def run(w):
        w.coordinator()
        stalled = w.worker("stalled", slow=True)
        w.worker("healthy", slow=True)
        crawl_id = w.start_crawl("stall-worker")
        wait_probing_fraction(w.dsn, crawl_id, 0.2, w.procs)
        stalled.send_signal(signal.SIGSTOP)
        time.sleep(10)  # longer than the 4 s lease: its shards go to the healthy worker
        stalled.send_signal(signal.SIGCONT)
        w.check(crawl_id)
        # Its late results were merged without duplicates and resurrected nothing.
        dup = e2e.psql(w.dsn, f"SELECT count(*) - count(DISTINCT (ip, port, mx_name)) FROM probe "
                              f"WHERE crawl_id = {crawl_id}").strip()
        assert dup == "0", dup
    with_world(run)


def test_worker_drained_by_sigterm():
    drain_bound = 30  # seconds: the worker's --drain-timeout, plus its exit
    def run(w):
        w.coordinator()
        victim = w.worker("victim", slow=True,
                          extra=("--id", "victim", "--drain-timeout", str(drain_bound - 5)))
        w.worker("survivor", slow=True)
        crawl_id = w.start_crawl("drain-worker")
        wait_probing_fraction(w.dsn, crawl_id, 0.2, w.procs)
        held = e2e.psql(w.dsn, "SELECT count(*) FROM shard WHERE lease_owner = 'victim' "
                               "AND state = 'leased'").strip()
        victim.expected_exit = True
        start = time.time()
        victim.send_signal(signal.SIGTERM)
        try:
            rc = victim.wait(timeout=drain_bound)
        except subprocess.TimeoutExpired:
            raise e2e.Fail(f"the worker did not exit within {drain_bound}s of SIGTERM:\n"
                           + e2e.tail(victim.logname))
        took = time.time() - start
        e2e.log(f"victim held {held} leased shards at SIGTERM, exited {rc} after {took:.1f}s")
        assert rc == 0, f"drained worker exited {rc}:\n{e2e.tail(victim.logname)}"
        # Exit 0 means every result batch was acked (else it exits 1 naming the unacked ones),
        # and nothing of it is left leased: no shard waits for a lease to expire.
        left = e2e.psql(w.dsn, "SELECT count(*) FROM shard WHERE lease_owner = 'victim' "
                               "AND state = 'leased'").strip()
        assert left == "0", f"{left} shards still leased by the drained worker"
        stored = int(e2e.psql(w.dsn, f"SELECT count(*) FROM probe WHERE crawl_id = {crawl_id} "
                                     "AND worker = 'victim'").strip())
        assert stored > 0, "the drained worker stored nothing"
        w.check(crawl_id)
        survivor = int(e2e.psql(w.dsn, f"SELECT count(*) FROM probe WHERE crawl_id = {crawl_id} "
                                       "AND worker <> 'victim'").strip())
        assert survivor > 0, "no other worker completed the crawl"
    with_world(run)


if __name__ == "__main__":
    e2e.run_tests([test_worker_killed_mid_probing, test_coordinator_killed_and_restarted,
                   test_postgres_restarted_mid_crawl, test_stalled_worker_past_its_lease,
                   test_worker_drained_by_sigterm])
