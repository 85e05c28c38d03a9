"""The compose deployment's coordinator and worker, run directly on this host: their commands and
environment are read from deploy/compose/compose.yaml and used as they are, with only what the
containers would see mapped to the host (service names and listen addresses to loopback ports,
/run/secrets/NAME to secret files in a temp dir, bind mounts to their host paths, the test's
PostgreSQL for the `db` service). The migration job runs first, then a crawl started with the
`crawl` service's command must give exactly the lab's truth; the image's health check must pass
against both metrics endpoints; a worker stopped with SIGTERM (what `docker compose stop` sends)
drains and exits 0; deploy/sql/drop-crawl.sql then removes the crawl (retention)."""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import compose  # noqa: E402
import e2e  # noqa: E402

LAB_BASE, DNS_PORT = "127.59.0.0", 25959
HEALTHCHECK = os.path.join(compose.SRC, "deploy", "docker", "healthcheck")


def host_word(word, mapping):
    """A container path (/run/secrets/x, a mount point) is replaced where a word starts with it,
    an address (service:port) wherever it appears."""
    for old, new in mapping.items():
        if old.startswith("/"):
            if word == old or word.startswith(old + "/"):
                return new + word[len(old):]
        else:
            word = word.replace(old, new)
    return word


def container_args(service, mapping):
    """The service's command with container-side words replaced by their host equivalents."""
    return [host_word(word, mapping) for word in service["command"]]


def container_env(service, mapping, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MXCENSUS_")}
    for k, v in (service.get("environment") or {}).items():
        env[k] = host_word(str(v), mapping)
    env.update(extra)
    return env


def secrets_of(service, secret_dir):
    """/run/secrets/NAME -> temp file, for the secrets the service declares (and only those)."""
    return {f"/run/secrets/{name}": os.path.join(secret_dir, name) for name in service["secrets"]}


def healthcheck(port):
    env = dict(os.environ, MXCENSUS_METRICS_PORT=str(port))
    return subprocess.run(["bash", HEALTHCHECK], env=env, capture_output=True, timeout=10).returncode


def drop_crawl_retention(dsn, crawl_id):
    """deploy/sql/drop-crawl.sql (docs/operations.md) removes the finished crawl entirely."""
    sql = os.path.join(compose.SRC, "deploy", "sql", "drop-crawl.sql")

    def run(cid):
        return subprocess.run(["psql", dsn, "-X", "-q", "-v", f"crawl_id={cid}", "-f", sql],
                              capture_output=True, text=True, timeout=60)
    assert int(e2e.psql(dsn, "SELECT count(*) FROM certificate")) > 0
    r = run(crawl_id)
    assert r.returncode == 0, r.stderr
    for table in ("crawl", "crawl_domain", "mx_host", "target", "shard", "probe", "certificate"):
        n = int(e2e.psql(dsn, f"SELECT count(*) FROM {table}"))
        assert n == 0, f"{n} rows left in {table}"
    assert e2e.psql(dsn, f"SELECT to_regclass('probe_c{crawl_id}')").strip() == ""
    r = run(crawl_id)
    assert r.returncode != 0 and "does not exist" in r.stderr, r.stderr


def test_compose_services_crawl_the_lab():
    doc = compose.load({"MXCENSUS_EHLO": "mx-survey.lab.test"})
    services = doc["services"]
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        e2e.start_lab(procs, 300, 11, LAB_BASE, DNS_PORT, d)
        secret_dir = os.path.join(d, "secrets")
        os.mkdir(secret_dir, 0o700)
        for name in doc["secrets"]:
            with open(os.path.join(secret_dir, name), "w") as f:
                f.write(f"{name}-s3cret-{os.getpid()}\n")
        dsn = e2e.fresh_db()
        grpc_port, coord_metrics, worker_metrics = (e2e.free_port() for _ in range(3))
        names = {"coordinator:7400": f"127.0.0.1:{grpc_port}"}
        # The `db` service is the test's PostgreSQL: the DSN from the YAML names host db.
        db_env = {"MXCENSUS_DB": dsn}

        migrate = services["migrate"]
        r = subprocess.run([e2e.MX, *container_args(migrate, {})], capture_output=True, text=True,
                           env=container_env(migrate, secrets_of(migrate, secret_dir), db_env),
                           timeout=120)
        assert r.returncode == 0, f"migrate: {r.stderr}"

        coord = services["coordinator"]
        mapping = {"0.0.0.0:7400": f"127.0.0.1:{grpc_port}",
                   "0.0.0.0:9464": f"127.0.0.1:{coord_metrics}", **secrets_of(coord, secret_dir)}
        p = procs.start([e2e.MX, *container_args(coord, mapping)], "compose-coordinator",
                        stdout=subprocess.PIPE,
                        env=container_env(coord, secrets_of(coord, secret_dir), db_env))
        line = p.stdout.readline().decode()
        assert line.startswith("ready"), "coordinator did not start:\n" + e2e.tail(p.logname)

        worker = services["worker"]
        assert "MXCENSUS_DB" not in (worker.get("environment") or {}), "workers get no database"
        assert "db_password" not in worker["secrets"]
        mapping = {**names, "0.0.0.0:9464": f"127.0.0.1:{worker_metrics}",
                   **secrets_of(worker, secret_dir),
                   **{dst: src for src, dst in compose.bind_mounts(worker)}}
        args = container_args(worker, mapping)
        # Only what a lab on loopback needs on top (none of these is in the YAML).
        lab = ["--allow-private", "--ca-file", os.path.join(d, "ca.pem"), "--resolver",
               f"127.0.0.1:{DNS_PORT}", "--per-prefix", "0", "--banner-timeout", "4s",
               "--command-timeout", "4s", "--tls-timeout", "4s", "--connect-timeout", "3s"]
        assert not set(a for a in lab if a.startswith("--")) & set(args), args
        w = procs.start([e2e.MX, *args, *lab], "compose-worker",
                        env=container_env(worker, {}, {}))

        crawl = services["crawl"]
        # The operator's list directory (./domains) is the lab's directory here.
        mounts = {dst: d for src, dst in compose.bind_mounts(crawl)}
        r = subprocess.run([e2e.MX, *container_args(crawl, {**names, **secrets_of(crawl, secret_dir),
                                                          **mounts}), "--port", "2525"],
                           capture_output=True, text=True, env=container_env(crawl, {}, {}),
                           timeout=120)
        assert r.returncode == 0, f"crawl start: {r.stderr}"
        crawl_id = int(r.stdout.strip())
        assert e2e.wait_finished(dsn, crawl_id, timeout=120, procs=procs) == "finished"
        problems = e2e.score(dsn, crawl_id, d)
        assert not problems, "\n".join(problems)
        drop_crawl_retention(dsn, crawl_id)

        # The image's HEALTHCHECK against both metrics endpoints, and against nothing.
        assert healthcheck(coord_metrics) == 0, "coordinator health check failed"
        assert healthcheck(worker_metrics) == 0, "worker health check failed"
        assert healthcheck(e2e.free_port()) != 0, "health check passed with nothing listening"

        # `docker compose stop` sends SIGTERM: the worker drains and exits 0 well within the
        # stop_grace_period the YAML gives it.
        grace = int(str(worker["stop_grace_period"]).rstrip("s"))
        w.expected_exit = True
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=min(grace, 30)) == 0, e2e.tail(w.logname)


if __name__ == "__main__":
    e2e.run_tests([test_compose_services_crawl_the_lab])
