"""End to end: a lab world of 5,000 hosts / ~10,000 domains crawled by a coordinator and two
worker processes over gRPC into a real PostgreSQL. Every domain and every target must match the
lab's truth, with exactly one probe row per unique target; a second crawl of the same world is
stored beside the first."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402

LAB_BASE, DNS_PORT = "127.50.0.0", 25553


def test_two_crawls_of_a_5000_host_world_are_exact():
    with tempfile.TemporaryDirectory() as lab_dir, e2e.Procs() as procs:
        e2e.start_lab(procs, 5000, 3, LAB_BASE, DNS_PORT, lab_dir)
        dsn = e2e.fresh_db()
        port = e2e.free_port()
        e2e.start_coordinator(procs, dsn, port)
        e2e.start_worker(procs, port, lab_dir, DNS_PORT, "w1")
        e2e.start_worker(procs, port, lab_dir, DNS_PORT, "w2")
        domains = os.path.join(lab_dir, "domains.txt")
        ids = []
        for name in ("first", "second"):
            r = e2e.mx("crawl", "start", "--coordinator", f"127.0.0.1:{port}", "--name", name,
                       "--port", "2525", domains)
            ids.append(int(r.stdout.strip()))
        assert ids[0] != ids[1], ids
        for crawl_id in ids:
            state = e2e.wait_finished(dsn, crawl_id, timeout=600, procs=procs)
            assert state == "finished", state
            problems = e2e.score(dsn, crawl_id, lab_dir)
            assert not problems, "\n".join(problems)
        # Both crawls were spread over both workers.
        workers = e2e.psql(dsn, "SELECT count(DISTINCT worker) FROM probe").strip()
        assert workers == "2", workers
        status = e2e.mx("crawl", "status", str(ids[0]), "--coordinator", f"127.0.0.1:{port}")
        assert "finished" in status.stdout, status.stdout
        listing = e2e.mx("crawl", "list", "--coordinator", f"127.0.0.1:{port}")
        assert "first" in listing.stdout and "second" in listing.stdout, listing.stdout


if __name__ == "__main__":
    e2e.run_tests([test_two_crawls_of_a_5000_host_world_are_exact])
