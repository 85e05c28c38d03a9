"""Metrics and the Prometheus dashboards, end to end: a real Prometheus (Debian's `prometheus`,
configured from deploy/prometheus/prometheus.yml with the targets pointed here and a 1 s scrape
interval) scrapes a coordinator and a worker while they crawl a lab world. Afterwards every
PromQL expression of every dashboard in dashboards/ (Grafana macros and variables substituted)
is checked offline by `promtool check rules` and evaluated by that server, and must return data;
and every metric name a dashboard uses must be one the binaries actually export (their /metrics
pages, scraped here). A dashboard with a misspelt metric is caught: the test proves it on a
mutated copy of the expressions."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402

SRC = os.environ.get("MXCENSUS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARDS = os.environ.get("MXCENSUS_DASHBOARDS_DIR", os.path.join(SRC, "dashboards"))
LAB_BASE, DNS_PORT, HOSTS = "127.56.0.0", 26153, 300

# What Grafana would put in for its macros and for the dashboards' variables.
MACROS = [("$__rate_interval", "1m"), ("${__rate_interval}", "1m"), ("$__interval", "15s"),
          ("${__interval}", "15s"), ("$__range", "5m"), ("${__range}", "5m")]
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
METRIC_RE = re.compile(r"\bmxcensus_[a-zA-Z0-9_]+\b")


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def exported_names(text):
    """Sample names of a Prometheus text page (histograms as _bucket/_sum/_count)."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def substitute(expr):
    for macro, value in MACROS:
        expr = expr.replace(macro, value)
    return VAR_RE.sub(".*", expr)


def panels(items):
    """Every panel, rows' children included (collapsed rows nest them)."""
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def is_prometheus(ds, default):
    if isinstance(ds, dict):
        return ds.get("type") == "prometheus"
    return default


def dashboard_queries():
    """(where, PromQL) of every Prometheus target and variable of every dashboard."""
    out = []
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
        name = os.path.basename(path)
        with open(path) as f:
            dash = json.load(f)
        for p in panels(dash.get("panels", [])):
            for t in p.get("targets", []):
                if "expr" in t and is_prometheus(t.get("datasource"),
                                                 is_prometheus(p.get("datasource"), True)):
                    out.append((f"{name} panel {p.get('id')} '{p.get('title')}' {t.get('refId')}",
                                substitute(t["expr"])))
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") != "query" or not is_prometheus(v.get("datasource"), False):
                continue
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
            if m:  # Grafana's helper, not PromQL: the series it reads must exist
                q = f"count by ({m.group(2)}) ({m.group(1)})"
            out.append((f"{name} variable {v.get('name')}", substitute(q)))
    return out


def problems_of(queries, exported, prom_url):
    """What is wrong with `queries`: unknown metric names, and queries without data."""
    problems = []
    for where, expr in queries:
        unknown = sorted(set(METRIC_RE.findall(expr)) - exported)
        if unknown:
            problems.append(f"{where}: not exported by coordinator or worker: {unknown}")
        url = prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = json.loads(http_get(url))
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode() or "{}")
        if body.get("status") != "success":
            problems.append(f"{where}: Prometheus refused {expr!r}: {body.get('error')}")
        elif not body["data"]["result"]:
            problems.append(f"{where}: no data for {expr!r}")
    return problems


def scalar(prom_url, expr):
    body = json.loads(http_get(prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    res = body["data"]["result"]
    assert len(res) == 1, f"{expr}: {len(res)} series"
    return float(res[0]["value"][1])


def promtool_check(queries, d):
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]}]}
    path = os.path.join(d, "dashboard-rules.yml")
    with open(path, "w") as f:
        yaml.safe_dump(rules, f)
    r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    assert r.returncode == 0, f"promtool check rules:\n{r.stdout}{r.stderr}"


def prometheus_config(targets, d):
    """deploy/prometheus/prometheus.yml with a 1 s interval and each job's targets replaced."""
    with open(os.path.join(SRC, "deploy", "prometheus", "prometheus.yml")) as f:
        cfg = yaml.safe_load(f)
    cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert jobs == set(targets), f"deploy/prometheus jobs {jobs} != {set(targets)}"
    for job in cfg["scrape_configs"]:
        for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
            del job[key]
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = os.path.join(d, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise e2e.Fail(f"timed out waiting for {what}")


def test_dashboards_have_data_from_a_lab_crawl():
    queries = dashboard_queries()
    assert len(queries) >= 10, f"only {len(queries)} Prometheus queries in {DASHBOARDS}"
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        promtool_check(queries, d)
        e2e.start_lab(procs, HOSTS, 21, LAB_BASE, DNS_PORT, d)
        dsn = e2e.fresh_db()
        port, cm, wm, pp = (e2e.free_port() for _ in range(4))
        e2e.start_coordinator(procs, dsn, port, ("--metrics", f"127.0.0.1:{cm}"))
        e2e.start_worker(procs, port, d, DNS_PORT, "worker", ("--metrics", f"127.0.0.1:{wm}"))
        cfg = prometheus_config({"mxcensus-coordinator": f"127.0.0.1:{cm}",
                                 "mxcensus-worker": f"127.0.0.1:{wm}"}, d)
        prom_url = f"http://127.0.0.1:{pp}"
        procs.start(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={d}/tsdb",
                     f"--web.listen-address=127.0.0.1:{pp}", "--log.level=warn"], "prometheus")
        wait_for("prometheus ready", lambda: "Ready" in http_get(prom_url + "/-/ready"))
        r = e2e.mx("crawl", "start", "--coordinator", f"127.0.0.1:{port}", "--name", "metrics",
                   "--port", "2525", os.path.join(d, "domains.txt"))
        crawl_id = int(r.stdout.strip())
        assert e2e.wait_finished(dsn, crawl_id, timeout=120, procs=procs) == "finished"
        probed = e2e.probed_count(dsn, crawl_id)

        # The binaries' own pages: what they export, and counters that match the database.
        pages = {n: http_get(f"http://127.0.0.1:{p}/metrics") for n, p in (("c", cm), ("w", wm))}
        exported = exported_names(pages["c"]) | exported_names(pages["w"])

        def scraped_total():
            body = json.loads(http_get(prom_url + "/api/v1/query?query=" + urllib.parse.quote(
                'sum(mxcensus_probes_total{job="mxcensus-worker"})')))
            res = body["data"]["result"]
            return res and float(res[0]["value"][1]) == probed
        # Prometheus has every probe once its last scrape is after the crawl's end.
        wait_for("Prometheus to scrape the finished crawl", scraped_total, timeout=15)
        time.sleep(2)  # a couple more samples for rate() windows ending now

        # The figures agree with what PostgreSQL holds.
        ok = int(e2e.psql(dsn, f"SELECT count(*) FROM probe WHERE crawl_id = {crawl_id} "
                               "AND outcome = 'starttls_ok'"))
        domains = int(e2e.psql(dsn, f"SELECT count(*) FROM crawl_domain WHERE crawl_id = {crawl_id}"))
        checks = [
            ('sum(mxcensus_storage_copy_rows_total{table="probe"})', lambda v: v == probed),
            ('sum(mxcensus_storage_copy_rows_total{table="crawl_domain"})', lambda v: v == domains),
            ("sum(mxcensus_results_acked_total)", lambda v: v == probed + domains),
            ('sum(mxcensus_tls_handshakes_total{result="ok"})', lambda v: v >= ok > 0),
            ('sum(mxcensus_dns_queries_total{type="MX"})', lambda v: v >= domains),
            ('sum(mxcensus_dns_domains_total)', lambda v: v == domains),
            ("max_over_time(sum(mxcensus_probes_in_flight)[5m:1s])", lambda v: v > 0),
            ("sum(mxcensus_probes_in_flight) + sum(mxcensus_probes_queued)", lambda v: v == 0),
            ('mxcensus_crawl_progress_ratio{stage="probe"}', lambda v: v == 1),
            ("mxcensus_workers_connected", lambda v: v == 1),
            ("sum(mxcensus_internal_bugs_total)", lambda v: v == 0),
        ]
        wrong = [f"{expr} = {scalar(prom_url, expr)}" for expr, good in checks
                 if not good(scalar(prom_url, expr))]
        assert not wrong, f"figures disagree with the database ({probed} probes, {domains} " \
                          f"domains, {ok} starttls_ok):\n" + "\n".join(wrong)

        problems = problems_of(queries, exported, prom_url)
        assert not problems, "\n".join(problems)
        e2e.log(f"{len(queries)} dashboard queries returned data; {probed} probes scraped")

        # The same check must fail on a dashboard with a misspelt metric.
        where, expr = next(q for q in queries if "mxcensus_probes_total" in q[1])
        typo = [(where + " (typo)", expr.replace("mxcensus_probes_total", "mxcensus_probe_total"))]
        caught = problems_of(typo, exported, prom_url)
        assert len(caught) == 2, f"a misspelt metric was not caught twice: {caught}"


def test_scan_serves_both_sides_on_one_endpoint():
    """`scan --metrics`: coordinator and worker metrics from one registry, a valid page."""
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        os.chmod(d, 0o755)
        e2e.start_lab(procs, HOSTS, 21, LAB_BASE, DNS_PORT, d)
        env = dict(os.environ, MXCENSUS_HOME=os.path.join(d, "home"), MXCENSUS_DB="")
        mp = e2e.free_port()
        p = procs.start([e2e.MX, "scan", os.path.join(d, "domains.txt"), "--port", "2525",
                         "--allow-private", "--ca-file", os.path.join(d, "ca.pem"),
                         "--resolver", f"127.0.0.1:{DNS_PORT}", "--banner-timeout", "4s",
                         "--command-timeout", "4s", "--tls-timeout", "4s", "--connect-timeout",
                         "3s", "--rate", "0", "--per-prefix", "0", "--quiet", "--metrics",
                         f"127.0.0.1:{mp}"], "scan", env=env)
        p.expected_exit = True
        page = ""
        try:
            deadline = time.time() + 120
            while p.poll() is None and time.time() < deadline:
                try:
                    page = http_get(f"http://127.0.0.1:{mp}/metrics", timeout=2)
                except OSError:
                    pass
                time.sleep(0.2)
            p.wait(timeout=30)
        finally:
            subprocess.run([e2e.MX, "db", "stop"], env=env, capture_output=True)
        assert p.returncode == 0, e2e.tail(p.logname)
        assert page, "scan never served /metrics"
        r = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True,
                           text=True)
        assert r.returncode == 0, f"promtool check metrics:\n{r.stdout}{r.stderr}"
        for component in ("coordinator", "worker"):
            assert f'component="{component}"' in page, f"no {component} build_info:\n{page}"
        probes = sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
                     if line.startswith("mxcensus_probes_total{"))
        rows = sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
                   if line.startswith("mxcensus_storage_copy_rows_total{"))
        assert probes > 0 and rows > 0, f"nothing counted by the last scrape: {probes} {rows}"


if __name__ == "__main__":
    e2e.run_tests([test_dashboards_have_data_from_a_lab_crawl,
                   test_scan_serves_both_sides_on_one_endpoint])
