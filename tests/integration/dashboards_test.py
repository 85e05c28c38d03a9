"""Every dashboards/*.json, checked the way Grafana would load it (INTEGRATION.md §8) without
Grafana: structure (bare model, uid, schemaVersion, unique panel ids also inside rows, gridPos),
every datasource uid provisioned in deploy/grafana, and every PostgreSQL query (panels and
template variables), with Grafana's macros expanded, run as the read-only role mxcensus_reader in
a read-only transaction against the two-crawl database: it must succeed and return rows, and
time_series queries must return a `time` column. PromQL is checked by the metrics tests.
A mutated dashboard must be caught, so the checker itself is tested too."""
import copy
import glob
import json
import os
import re
import sys
import tempfile
from datetime import datetime, timedelta, timezone

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402
import views_db  # noqa: E402

SRC = os.environ.get("MXCENSUS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PG_TYPES = ("grafana-postgresql-datasource", "postgres")
DB = None
# The dashboard time range the queries are expanded for: the crawls of the fixture ran just now.
TO = datetime.now(timezone.utc) + timedelta(hours=1)
FROM = TO - timedelta(days=365)


def provisioned_datasources():
    """{uid: type} of every datasource provisioned for Grafana."""
    out = {}
    files = glob.glob(os.path.join(SRC, "deploy/grafana/provisioning/datasources/*.yaml"))
    assert files, "no datasource provisioning in deploy/grafana/provisioning/datasources"
    for path in files:
        with open(path) as f:
            for ds in (yaml.safe_load(f) or {}).get("datasources", []):
                out[ds["uid"]] = ds["type"]
    return out


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def same_type(a, b):
    return a == b or (a in PG_TYPES and b in PG_TYPES)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def interval_seconds(text):
    m = re.fullmatch(r"'?(\d+)([smhd])'?", text.strip())
    assert m, f"bad interval {text!r}"
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def expand_macros(sql):
    """Grafana's PostgreSQL macros, as its macros.go expands them."""
    f, t = rfc3339(FROM), rfc3339(TO)
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", lambda m: f"{m.group(1)} BETWEEN '{f}' AND '{t}'",
                 sql)
    sql = re.sub(r"\$__timeGroupAlias\(([^,]*),([^)]*)\)",
                 lambda m: f"floor(extract(epoch from {m.group(1)})/{interval_seconds(m.group(2))})"
                           f"*{interval_seconds(m.group(2))} AS \"time\"", sql)
    sql = re.sub(r"\$__timeGroup\(([^,]*),([^)]*)\)",
                 lambda m: f"floor(extract(epoch from {m.group(1)})/{interval_seconds(m.group(2))})"
                           f"*{interval_seconds(m.group(2))}", sql)
    sql = re.sub(r"\$__time\(([^)]*)\)", lambda m: f"{m.group(1)} AS \"time\"", sql)
    sql = sql.replace("$__timeFrom()", f"'{f}'").replace("$__timeTo()", f"'{t}'")
    sql = re.sub(r"\$__unixEpochFilter\(([^)]*)\)",
                 lambda m: f"{m.group(1)} >= {int(FROM.timestamp())} AND "
                           f"{m.group(1)} <= {int(TO.timestamp())}", sql)
    return sql.replace("$__interval_ms", "60000").replace("$__interval", "'1m'")


def substitute(sql, variables):
    for name, value in variables.items():
        sql = re.sub(r"\$\{" + name + r"(:[a-z]+)?\}|\[\[" + name + r"\]\]|\$" + name + r"\b",
                     lambda _: value, sql)
    return sql


def run(sql):
    """(header, rows) of `sql` as mxcensus_reader; raises e2e.Fail with PostgreSQL's error."""
    out = views_db.reader_query(DB.dsn, sql, before="\\pset footer off\n\\pset tuples_only off")
    return (out[0], out[1:]) if out else ([], [])


def check_query(where, sql, variables, fmt="table"):
    problems = []
    expanded = substitute(expand_macros(sql), variables)
    left = re.findall(r"\$__\w+|\$\{?\w+|\[\[\w+\]\]", expanded)
    if left:
        return [f"{where}: unexpanded {left} in: {expanded[:200]}"]
    try:
        header, rows = run(expanded)
    except e2e.Fail as e:
        return [f"{where}: {e}"]
    if not rows:
        problems.append(f"{where}: no rows")
    if fmt == "time_series" and "time" not in header:
        problems.append(f"{where}: time_series query without a 'time' column: {header}")
    return problems


def check_dashboard(name, dash, sources, uids_seen):
    """Every problem of one dashboard model, as text (empty: fine)."""
    problems = []
    if "dashboard" in dash or isinstance(dash.get("id"), int):
        problems.append(f"{name}: not a bare model (a 'dashboard' wrapper or a numeric id)")
    uid = dash.get("uid")
    if not uid:
        problems.append(f"{name}: no uid")
    elif uid in uids_seen:
        problems.append(f"{name}: uid {uid} also in {uids_seen[uid]}")
    else:
        uids_seen[uid] = name
    if not isinstance(dash.get("schemaVersion"), int):
        problems.append(f"{name}: schemaVersion is not an integer")
    for key in ("time", "templating", "panels"):
        if key not in dash:
            problems.append(f"{name}: no '{key}'")

    def check_ds(where, ds):
        if not isinstance(ds, dict) or "uid" not in ds:
            problems.append(f"{where}: datasource {ds!r} is not {{type, uid}}")
            return None
        if ds["uid"] not in sources:
            problems.append(f"{where}: datasource uid {ds['uid']} is not provisioned")
            return None
        if not same_type(ds.get("type"), sources[ds["uid"]]):
            problems.append(f"{where}: datasource type {ds.get('type')} but {ds['uid']} is "
                            f"{sources[ds['uid']]}")
        return sources[ds["uid"]]

    # Template variables first: PostgreSQL ones take their first value (the default).
    variables = {}
    for v in dash.get("templating", {}).get("list", []):
        where = f"{name}: variable {v.get('name')}"
        if v.get("type") == "query":
            ds_type = check_ds(where, v.get("datasource"))
            query = v.get("query")
            query = query.get("rawSql", query.get("query")) if isinstance(query, dict) else query
            if ds_type in PG_TYPES:
                problems += check_query(where, query, variables)
                try:
                    header, rows = run(substitute(expand_macros(query), variables))
                    col = header.index("__value") if "__value" in header else 0
                    variables[v["name"]] = rows[0][col] if rows else ""
                except e2e.Fail:
                    variables[v["name"]] = ""
        elif v.get("type") in ("custom", "constant", "textbox"):
            variables[v["name"]] = str(v.get("query", "")).split(",")[0]

    ids = set()
    for p in all_panels(dash.get("panels", [])):
        where = f"{name}: panel {p.get('id')} '{p.get('title')}'"
        if not isinstance(p.get("id"), int):
            problems.append(f"{where}: no integer id")
        elif p["id"] in ids:
            problems.append(f"{where}: duplicate panel id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"{where}: gridPos {g} needs integer h, w, x, y")
        elif g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            problems.append(f"{where}: gridPos {g} outside the 24-column grid")
        if p.get("type") == "row":
            continue
        panel_type = check_ds(where, p.get("datasource")) if "datasource" in p else None
        for t in p.get("targets", []):
            twhere = f"{where} target {t.get('refId')}"
            ds_type = check_ds(twhere, t["datasource"]) if "datasource" in t else panel_type
            if ds_type in PG_TYPES:
                if not t.get("rawSql"):
                    problems.append(f"{twhere}: PostgreSQL target without rawSql")
                    continue
                problems += check_query(twhere, t["rawSql"], variables, t.get("format", "table"))
    return problems


def dashboards():
    files = sorted(glob.glob(os.path.join(SRC, "dashboards", "*.json")))
    assert files, "no dashboards/*.json"
    out = []
    for path in files:
        with open(path) as f:
            out.append((os.path.basename(path), json.load(f)))
    return out


def test_every_dashboard_loads_and_its_queries_return_rows():
    sources = provisioned_datasources()
    assert "mxcensus-pg" in sources and "mxcensus-prom" in sources, sources
    uids, problems, checked = {}, [], 0
    for name, dash in dashboards():
        problems += check_dashboard(name, dash, sources, uids)
        checked += 1
    assert not problems, "\n".join(problems)
    names = [n for n, _ in dashboards()]
    assert "adoption.json" in names, names


def test_adoption_dashboard_covers_the_issue():
    dash = dict(dashboards())["adoption.json"]
    sql = " ".join(t.get("rawSql", "") for p in all_panels(dash["panels"])
                   for t in p.get("targets", []))
    for view in ("v_crawl_series", "v_funnel", "v_cert_verdicts", "v_tls_negotiated",
                 "v_dh_sizes", "v_providers", "v_policy", "v_changes"):
        assert view in sql, f"adoption.json has no panel on {view}"
    assert [v["name"] for v in dash["templating"]["list"]] == ["crawl"]
    assert dash["schemaVersion"] == 39 and dash["uid"] == "mxcensus-adoption"


def test_mutated_dashboards_are_caught():
    """The checker must fail on each kind of mistake it exists for."""
    sources = provisioned_datasources()
    good = copy.deepcopy(dict(dashboards())["adoption.json"])
    good["panels"] = good["panels"][:3]  # a row and two time series: enough, and quick

    def first_pg_target(d):
        return next(t for p in all_panels(d["panels"]) for t in p.get("targets", [])
                    if t.get("rawSql"))

    mutations = {}
    d = copy.deepcopy(good)
    first_pg_target(d)["rawSql"] = first_pg_target(d)["rawSql"].replace("pct_tls13", "pct_tls14")
    mutations["a column that does not exist"] = (d, "pct_tls14")
    d = copy.deepcopy(good)
    d["panels"][2]["id"] = d["panels"][1]["id"]
    mutations["duplicate panel id"] = (d, "duplicate panel id")
    d = copy.deepcopy(good)
    d["panels"][1]["targets"][0]["datasource"] = {"type": "grafana-postgresql-datasource",
                                                  "uid": "nope"}
    mutations["unprovisioned uid"] = (d, "not provisioned")
    d = copy.deepcopy(good)
    first_pg_target(d)["rawSql"] = "SELECT 1 AS x FROM crawl"
    first_pg_target(d)["format"] = "time_series"
    mutations["time_series without time"] = (d, "without a 'time' column")
    d = copy.deepcopy(good)
    first_pg_target(d)["rawSql"] = "DELETE FROM crawl RETURNING crawl_id"
    mutations["a write"] = (d, "read-only transaction")
    d = copy.deepcopy(good)
    first_pg_target(d)["rawSql"] = "SELECT crawl_id FROM crawl WHERE crawl_id = -1"
    mutations["no rows"] = (d, "no rows")
    d = copy.deepcopy(good)
    d["panels"][1]["gridPos"] = {"h": 8, "w": 30, "x": 0, "y": 1}
    mutations["off the grid"] = (d, "24-column grid")
    d = {"dashboard": copy.deepcopy(good)}
    mutations["API wrapper"] = (d, "bare model")
    for what, (dash, needle) in mutations.items():
        problems = check_dashboard("mutant.json", dash, sources, {})
        assert any(needle in p for p in problems), f"{what} not caught: {problems}"


def main():
    global DB
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        DB = views_db.load_or_build(d)
        e2e.run_tests([test_every_dashboard_loads_and_its_queries_return_rows,
                       test_adoption_dashboard_covers_the_issue,
                       test_mutated_dashboards_are_caught])


if __name__ == "__main__":
    main()
